"""The page's side panel: the node's status, the question box with its answer, and
ssr_node's diagnostics.

Text shown here is Markdown built from message fields; diagnostics values are escaped
so a key or value cannot inject markup. The question box is a viser form: pressing
Enter in it or clicking *Ask* submits it.
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from ssr_ros.view.state import Snapshot

#: Diagnostics keys shown first (the rest follow, sorted), with their meaning.
SUMMARY_KEYS = (
    ("state", "lifecycle state"),
    ("map.objects", "objects"),
    ("map.triplets", "triplets"),
    ("map.revision", "map revision"),
    ("keyframes", "keyframes"),
    ("frames.processed", "frames processed"),
    ("pose.source", "pose source"),
    ("queries", "queries answered"),
    ("model.state", "model"),
)
#: Diagnostics older than this [s] are reported as stale (ssr_node publishes every
#: ``diagnostics_period_s``, 1 s by default).
STALE_AFTER_S = 5.0
LEVEL_NAMES = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}


def _md(text: Any) -> str:
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>])", r"\\\1", str(text))


def status_markdown(snap: Snapshot, reachable: bool, now_s: float) -> str:
    """One paragraph: is ssr_node reachable, what map the page shows, where the camera
    path comes from."""
    if reachable:
        node = "**ssr_node**: connected"
    elif snap.graph_wall_s:
        node = ("**ssr_node**: not reachable (the page keeps the last map; it updates "
                "again when the node is back)")
    else:
        node = "**ssr_node**: not reachable yet (waiting for it to start)"
    lines = [node]
    if snap.graph_wall_s:
        lines.append(f"map: {len(snap.objects)} objects, {len(snap.triplets)} triplets, "
                     f"revision {snap.revision}, frame `{_md(snap.frame_id)}`")
    else:
        lines.append("map: no scene graph received yet")
    if snap.camera is None:
        lines.append("camera: no path yet")
    elif snap.camera.wxyz is None:
        lines.append("camera: position from the markers' path (no orientation: no "
                     "`cogmap/camera_path` publisher)")
    else:
        lines.append("camera: pose from `cogmap/camera_path`")
    return "  \n".join(lines)


def diagnostics_markdown(snap: Snapshot, now_s: float) -> str:
    """ssr_node's latest diagnostics as a two-column table (summary keys first)."""
    if not snap.diagnostics_wall_s:
        return "_no diagnostics from ssr_node yet_"
    age = now_s - snap.diagnostics_wall_s
    level = LEVEL_NAMES.get(snap.diagnostics_level, str(snap.diagnostics_level))
    head = f"**{level}** {_md(snap.diagnostics_message)} ({age:.0f} s ago)"
    if age > STALE_AFTER_S:
        head += "  \n**stale**: no diagnostics for a while"
    values = dict(snap.diagnostics)
    rows = [(title, values.pop(key)) for key, title in SUMMARY_KEYS if key in values]
    rows += sorted(values.items())
    table = "\n".join(f"| {_md(k)} | {_md(v)} |" for k, v in rows)
    return f"{head}\n\n| key | value |\n|---|---|\n{table}"


class Panel:
    """Builds the panel on a ``viser.GuiApi`` and keeps it current.

    ``on_question(text)`` is called (on a viser worker thread) with the typed text when
    the form is submitted; it returns the Markdown to show as the answer.
    """

    def __init__(self, gui: Any, on_question: Callable[[str], str]) -> None:
        self._on_question = on_question
        # a fixed sidebar: a floating panel would hide part of the map
        gui.configure_theme(control_layout="fixed", control_width="large",
                            show_share_button=False)
        self.status = gui.add_markdown("_starting..._")
        with gui.add_form("Ask the map") as form:
            self.question = gui.add_text(
                "Question", initial_value="",
                hint="A spatial question, e.g. 'where is the sofa?' or 'how far is the tv "
                     "from the bed?'. Options of a multiple-choice question go after a "
                     "colon: 'which is nearest to the bed: lamp, plant or tv?'")
            self.ask_button = gui.add_button("Ask")
            self.answer = gui.add_markdown("")
        self.form = form
        self.ask_button.on_click(lambda _: form.submit())
        form.on_submit(lambda _: self._submit())
        with gui.add_folder("ssr_node diagnostics", expand_by_default=False):
            self.diagnostics = gui.add_markdown("_no diagnostics from ssr_node yet_")
        self._last_status = ""
        self._last_diag = ""

    def _submit(self) -> None:
        text = self.question.value
        self.answer.content = "_asking ssr_node..._"
        self.ask_button.disabled = True
        try:
            self.answer.content = self._on_question(text)
        finally:
            self.ask_button.disabled = False

    def refresh(self, snap: Snapshot, reachable: bool, now_s: float | None = None) -> None:
        """Update the status and diagnostics (only sends what changed)."""
        now_s = time.time() if now_s is None else now_s
        status = status_markdown(snap, reachable, now_s)
        if status != self._last_status:
            self.status.content = self._last_status = status
        diag = diagnostics_markdown(snap, now_s)
        if diag != self._last_diag:
            self.diagnostics.content = self._last_diag = diag
