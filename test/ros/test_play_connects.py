"""ssr_node and ssr-play connect as written, with no remaps (issue 15): in the root
namespace, with both in the ``camera`` namespace, and with the node in ``camera`` and the
player's ``--prefix camera``; each maps the sim room. A player with nobody listening says
so, naming the topics, within a few seconds.

Separate processes over DDS on loopback, in this run's domain. The node gets the demo
parameters (``pose_source: camera_pose``, ``proposal_source: labels``) and autostart, and
no ``-r`` remap of any topic.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")

from rosutil import DEMO_PARAMS, RosClient, _env, namespace  # noqa: E402

from ssr_ros.sim import make_scene  # noqa: E402

SEED = 4
PLAY_ARGS = ["--seed", str(SEED), "--frames", "40", "--width", "320", "--height", "240",
             "--sim-rate-hz", "5", "--wait", "60"]
MATCH_M = 0.5


def _node(ns: str | None, workdir: pathlib.Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ssr_ros.ros.node", "--ros-args", "--params-file",
           str(DEMO_PARAMS), "-p", f"map_path:={workdir / 'map.json'}",
           "-p", "autostart:=true", "-p", "autosave_period_s:=0.0"]
    if ns:
        cmd += ["-r", f"__ns:={ns}"]
    log = open(workdir / "node.log", "w")
    return subprocess.Popen(cmd, env=_env(), stdout=log, stderr=subprocess.STDOUT,
                            cwd=str(workdir))


def _play(extra: list[str], ros_args: list[str], log_path: pathlib.Path,
          timeout_s: float = 180.0) -> int:
    with open(log_path, "w") as log:
        cmd = [sys.executable, "-m", "ssr_ros.ros.player", *extra]
        if ros_args:
            cmd += ["--ros-args", *ros_args]
        return subprocess.run(cmd, env=_env(), stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout_s).returncode


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _settled_graph(client: RosClient, timeout_s: float = 60.0):
    """The scene graph once its object count has stopped changing for 2 s."""
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        graph = client.late_scene_graph(timeout_s=2.0, predicate=lambda g: len(g.objects))
        count = None if graph is None else len(graph.objects)
        if count != last:
            last, since = count, time.monotonic()
        elif count and time.monotonic() - since >= 2.0:
            return graph
    return None


CASES = {
    # node ns, player options, player ROS arguments, client ns
    "root": (None, [], [], "/"),
    "both_in_camera": ("/camera", [], ["-r", "__ns:=/camera"], "/camera"),
    "node_in_camera_player_prefix": ("/camera", ["--prefix", "camera"], [], "/camera"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_node_and_player_connect_without_remaps(case, tmp_path):
    node_ns, extra, ros_args, client_ns = CASES[case]
    node = _node(node_ns, tmp_path)
    client = RosClient(name=f"ssr_connect_client_{case}", ns=client_ns)
    try:
        rc = _play(PLAY_ARGS + extra, ros_args, tmp_path / "player.log")
        player_log = (tmp_path / "player.log").read_text()
        assert rc == 0, player_log
        assert "WARN" not in player_log, player_log
        graph = _settled_graph(client)
        assert graph is not None, (tmp_path / "node.log").read_text()
    finally:
        client.close()
        _stop(node)
    scene = make_scene(SEED)
    truth = [(o.category, np.asarray(o.center_m[:2])) for o in scene.objects]
    matched = 0
    for obj in graph.objects:
        xy = np.array([obj.position.x, obj.position.y])
        if any(cat == obj.label and np.linalg.norm(xy - c) <= MATCH_M for cat, c in truth):
            matched += 1
    assert len(graph.objects) >= 3
    assert matched >= 0.8 * len(graph.objects), [(o.label, o.position) for o in graph.objects]


def test_player_with_no_listener_names_the_topics_and_the_fix(tmp_path):
    ns = namespace("nobody")
    start = time.monotonic()
    rc = _play(["--seed", "1", "--frames", "40", "--width", "160", "--height", "120",
                "--sim-rate-hz", "5", "--wait", "0.5"], ["-r", f"__ns:={ns}"],
               tmp_path / "player.log")
    log = (tmp_path / "player.log").read_text()
    assert rc == 0, log
    warning = next((line for line in log.splitlines()
                    if "WARN" in line and "no subscriber on" in line), None)
    assert warning is not None, log
    for topic in ("color/image_raw", "depth/image_raw", "color/camera_info", "camera_pose"):
        assert f"{ns}/{topic}" in warning
    assert "__ns:=" in warning and "--prefix" in warning
    assert "had no subscriber" in log.splitlines()[-1]
    assert time.monotonic() - start < 60


TUM = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / \
    "tum_fr3_cabinet"


@pytest.mark.skipif(not TUM.is_dir(), reason=f"TUM fr3/cabinet key frames not found at {TUM}")
def test_tum_player_says_the_node_needs_the_boxes_source(tmp_path):
    """With the labels source (the demo parameters) the player names the node, its source
    and the parameter to set; with no node at all it still says what the node needs."""
    ns = namespace("tum_labels")
    node = _node(ns, tmp_path)
    try:
        rc = _play(["--tum", str(TUM), "--box-label", "cabinet", "--rate", "20",
                    "--wait", "60"], ["-r", f"__ns:={ns}"], tmp_path / "player.log")
    finally:
        _stop(node)
    log = (tmp_path / "player.log").read_text()
    assert rc == 0, log
    assert f"{ns}/ssr_node has proposal_source 'labels'" in log, log
    assert "proposal_source:=boxes" in log
    rc = _play(["--tum", str(TUM), "--box-label", "cabinet", "--rate", "20", "--wait", "0.5"],
               ["-r", f"__ns:={namespace('tum_nobody')}"], tmp_path / "alone.log")
    log = (tmp_path / "alone.log").read_text()
    assert rc == 0, log
    assert "start ssr_node with proposal_source:=boxes" in log, log
