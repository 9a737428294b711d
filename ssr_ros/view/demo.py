"""The demo's view (``make demo``): start ``ssr-view`` beside the demo's ssr_node, print
its address, and write ``demo_out/view.png`` with headless chromium once the room is
mapped, the same way the browser test does.
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

URL_LINE = re.compile(r"ssr-view: open (http://\S+)")


class DemoView:
    """``ssr-view`` as a child process (log in ``log_path``), watching the ssr_node of
    the same ROS environment ``env``."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int = 8080,
                 timeout_s: float = 60.0) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "ssr_ros.view.cli",
                                      "--port", str(port)], env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.url = ""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            match = URL_LINE.search(log_path.read_text())
            if match:
                self.url = match.group(1)
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ssr-view did not start (see {log_path})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def start_demo_view(env: dict[str, str], log_path: Path) -> DemoView | None:
    """Start the view and print its address; None (with the reason printed) when it
    cannot start, so the rest of the demo still runs."""
    try:
        view = DemoView(env, log_path)
    except (OSError, RuntimeError) as exc:
        print(f"[demo] live view not started: {exc}")
        return None
    print(f"[demo] live view: {view.url} (ssr-view; open it in a browser while the demo "
          "runs)")
    return view


def screenshot_question(graph: Any) -> str | None:
    """A question whose answer draws something: the distance between the first two
    objects with unique labels ("how far is the bed from the wardrobe?"), or where the
    only unique one is; None when no label is unique."""
    counts = collections.Counter(o.label for o in graph.objects)
    unique = [o.label for o in sorted(graph.objects, key=lambda o: o.id)
              if counts[o.label] == 1]
    if len(unique) >= 2:
        return f"how far is the {unique[0]} from the {unique[1]}?"
    return f"where is the {unique[0]}?" if unique else None


def write_view_png(url: str, png: Path, graph: Any) -> str:
    """Screenshot the view of ``graph`` (a SceneGraph) into ``png``; returns the line the
    demo prints (what was written, or why not)."""
    from ssr_ros.view import headless

    if headless.find_chromium() is None:
        return f"no chromium: {png.name} not written (apt-get install chromium)"
    question = screenshot_question(graph)
    try:
        result = headless.snapshot_view(url, png, expected_objects=len(graph.objects),
                                        question=question)
    except headless.BrowserError as exc:
        return f"{png.name} not written: {exc}"
    errors = f"; page console errors: {result['console_errors']}" \
        if result["console_errors"] else ""
    answer = result["answer"].split(" value:")[0].split(" objects:")[0]
    asked = f"; asked {question!r} -> {answer}" if question else ""
    return (f"{png} ({result['objects']} boxes in the page, {result['seconds']:.0f} s in "
            f"headless chromium{asked}{errors})")
