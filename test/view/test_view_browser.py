"""ssr-view in a real headless chromium, against a real ssr_node that mapped a sim room.

Processes: ssr_node (demo parameters, autostart) and ssr-play map a sim room; ssr-view
serves it; Debian's chromium (headless, driven over the DevTools protocol) loads the page.
The tests run in file order and build on each other: the page's scene holds the map's
boxes -> a typed question shows the node's answer within 2 s -> malformed questions get
a sentence -> with the node stopped the page says so -> a restarted node is shown again.
A screenshot of the mapped room is written to the test's output folder.
"""

from __future__ import annotations

import collections
import time

import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
pytest.importorskip("viser", reason="viser is not installed (make setup)")
pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")

from ssr_ros.view import headless  # noqa: E402

if headless.find_chromium() is None:
    pytest.skip("no chromium to drive (apt-get install chromium; or set SSR_CHROMIUM)",
                allow_module_level=True)
if not headless.websockets_available():
    pytest.skip("the websockets package (a viser dependency) is missing",
                allow_module_level=True)

from viewutil import (Client, listening_addresses, run_player, start_node,  # noqa: E402
                      start_view)

SEED, FRAMES, WIDTH, HEIGHT, SIM_RATE_HZ = 3, 40, 320, 240, 5.0
ANSWER_BUDGET_S = 2.0


def _text(browser) -> str:
    return " ".join(str(browser.evaluate(headless.JS_BODY_TEXT)).split())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("ssr_view")


@pytest.fixture(scope="module")
def client():
    c = Client()
    yield c
    c.close()


@pytest.fixture(scope="module")
def world(workdir, client):
    """ssr_node that mapped a sim room; yields a dict with the node process (replaced by
    the restart test) and the scene graph a late subscriber gets."""
    node = start_node(workdir / "map.json", workdir / "node.log")
    rc = run_player(["--seed", str(SEED), "--frames", str(FRAMES), "--width", str(WIDTH),
                     "--height", str(HEIGHT), "--sim-rate-hz", str(SIM_RATE_HZ)],
                    workdir / "player.log")
    assert rc == 0, (workdir / "player.log").read_text()
    graph = client.scene_graph(lambda g: len(g.objects) > 0)
    assert graph is not None, node.log()
    # the worker may still finish the last keyframe: take the graph once it is stable
    for _ in range(10):
        newer = client.scene_graph(lambda g: g.revision > graph.revision, timeout_s=1.5)
        if newer is None:
            break
        graph = newer
    state = {"node": node, "graph": graph}
    yield state
    state["node"].stop()


@pytest.fixture(scope="module")
def view(workdir, world):
    proc, url = start_view(workdir / "view.log")
    yield url
    proc.stop()
    assert "Traceback" not in proc.log(), proc.log()


@pytest.fixture(scope="module")
def browser(view):
    started = time.monotonic()
    with headless.HeadlessChromium() as b:
        b.open(view)
        b.started_s = time.monotonic() - started
        yield b


def test_page_holds_one_box_per_map_object(browser, world, workdir) -> None:
    graph = world["graph"]
    expected = sorted(f"/objects/o{o.id}" for o in graph.objects)
    assert browser.wait_until(lambda: sorted(headless.object_nodes(browser)) == expected,
                              30.0), (headless.object_nodes(browser), expected)
    text = _text(browser)
    assert f"{len(graph.objects)} objects" in text, text
    assert "ssr_node: connected" in text, text
    browser.evaluate(headless.JS_CLOSE_NOTIFICATIONS)  # "software WebGL" notice
    browser.pump(1.0)  # let the renderer draw the boxes before the picture
    png = browser.screenshot(workdir / "view.png")
    print(f"screenshot: {png}")
    assert png.stat().st_size > 20_000
    assert browser.console_errors() == []


def test_typed_question_shows_the_nodes_answer_within_two_seconds(browser, world,
                                                                   client) -> None:
    labels = collections.Counter(o.label for o in world["graph"].objects)
    label = sorted(lbl for lbl, n in labels.items() if n == 1)[0]
    question = f"where is the {label}?"
    expected = client.ask(question)
    assert expected.success, expected.message
    started = time.monotonic()
    headless.ask_in_page(browser, question)
    wanted = " ".join(expected.message.split())
    assert browser.wait_until(lambda: wanted in _text(browser), 10.0), _text(browser)
    elapsed = time.monotonic() - started
    print(f"answer shown {elapsed:.2f} s after Enter")
    assert elapsed <= ANSWER_BUDGET_S
    assert f"objects: [{expected.objects[0].id}] {label}" in _text(browser)
    assert browser.console_errors() == []


@pytest.mark.parametrize("question, says", [
    ("   ", "Not asked: Type a question first"),
    ("where is " + "x" * 1100, "ssr_node takes at most 1024"),
    ("where is the unicorn?", "ssr_node could not answer"),
])
def test_malformed_questions_get_a_sentence(browser, question, says) -> None:
    headless.ask_in_page(browser, question)
    assert browser.wait_until(lambda: says in _text(browser), 10.0), _text(browser)
    assert "Traceback" not in _text(browser)


def test_node_down_then_restarted(browser, world, workdir, client) -> None:
    assert world["node"].stop() == 0, world["node"].log()
    headless.ask_in_page(browser, "where is the sofa?")
    assert browser.wait_until(lambda: "No answer: ssr_node is not reachable" in
                              _text(browser), 15.0), _text(browser)
    assert browser.wait_until(lambda: "ssr_node: not reachable" in _text(browser), 10.0)
    # the page keeps the last map while the node is down
    assert len(headless.object_nodes(browser)) == len(world["graph"].objects)

    world["node"] = start_node(workdir / "map.json", workdir / "node_restart.log")
    graph = client.scene_graph(lambda g: len(g.objects) > 0, timeout_s=60.0)
    assert graph is not None, world["node"].log()
    expected = sorted(f"/objects/o{o.id}" for o in graph.objects)
    assert browser.wait_until(lambda: sorted(headless.object_nodes(browser)) == expected
                              and "ssr_node: connected" in _text(browser), 30.0)
    label = graph.objects[0].label
    headless.ask_in_page(browser, f"how many {label}s are there?")
    assert browser.wait_until(lambda: "Answer:" in _text(browser).split("Ask")[-1], 10.0)
    assert browser.console_errors() == []
    print(f"browser start {browser.started_s:.1f} s; scene {len(expected)} boxes")


def test_view_listens_on_loopback_only(view) -> None:
    port = int(view.rsplit(":", 1)[1])
    listening = listening_addresses(port)
    if listening is None:
        pytest.skip("no /proc/net/tcp to read listening sockets from")
    assert listening == {"127.0.0.1"}, listening
