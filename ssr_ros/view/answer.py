"""The question box's two halves, without ROS: what a typed question becomes, and what
an answer shows.

:func:`parse_question` turns the text typed into the page into ``spatial_query`` request
fields or raises :class:`QuestionError` with a sentence for the page. :func:`answer_view`
turns a response (as the plain dict of :func:`ssr_ros.view.ros_client.response_to_dict`)
into the Markdown shown under the box and the highlight drawn in the scene: the boxes
of the objects the answer used, a line with its length for a distance, an arrow from the
camera to the target for a turn.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ssr_ros.core.query_types import MAX_CANDIDATES, MAX_NAME_CHARS, MAX_QUESTION_CHARS
from ssr_ros.view.geometry import closest_points
from ssr_ros.view.state import Snapshot

#: ``spatial_query`` kind for a plain question (``SpatialQuery.Request.KIND_AUTO``).
KIND_AUTO = 0
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# "which is closer to the bed: lamp, plant or tv?" -> options after the last colon
_OPTIONS = re.compile(r"^(?P<question>.+?):\s*(?P<options>[^:]+?)\??\s*$")


class QuestionError(ValueError):
    """A question the page refuses before asking the node; ``str()`` is the sentence
    shown in the page."""


def parse_question(text: str) -> dict[str, Any]:
    """Request fields (``kind``, ``question``, ``candidates``) for the typed ``text``.

    Whitespace and line breaks collapse to single spaces. A multiple-choice question
    names its options after a final colon, separated by commas or "or"
    (``which is nearest to the bed: lamp, plant or tv``); they travel in ``candidates``.

    Raises:
        QuestionError: empty text, text over the service's limit (1024 characters),
            control characters, or more options than the service takes.
    """
    if not isinstance(text, str):
        raise QuestionError("The question must be text.")
    if _CONTROL.search(text.replace("\n", " ").replace("\t", " ")):
        raise QuestionError("The question contains control characters; type plain text.")
    question = " ".join(text.split())
    if not question:
        raise QuestionError("Type a question first, for example: where is the sofa?")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"The question has {len(question)} characters; ssr_node takes "
                            f"at most {MAX_QUESTION_CHARS}.")
    candidates: list[str] = []
    match = _OPTIONS.match(question)
    if match:
        parts = [p.strip(" ?.") for p in re.split(r",|\bor\b", match.group("options"))]
        parts = [p for p in parts if p]
        if len(parts) >= 2:
            if len(parts) > MAX_CANDIDATES:
                raise QuestionError(f"{len(parts)} options; ssr_node takes at most "
                                    f"{MAX_CANDIDATES}.")
            if any(len(p) > MAX_NAME_CHARS for p in parts):
                raise QuestionError(f"An option is longer than {MAX_NAME_CHARS} "
                                    "characters.")
            candidates = parts
    return {"kind": KIND_AUTO, "question": question, "candidates": candidates}


@dataclass(frozen=True)
class HighlightBox:
    """A box to outline: ``center_m`` (3,), ``size_m`` (3,) [m], ``yaw_rad``, map frame."""

    object_id: int
    title: str
    center_m: tuple[float, float, float]
    size_m: tuple[float, float, float]
    yaw_rad: float


@dataclass(frozen=True)
class AnswerView:
    """What the page shows for one answer: ``markdown`` under the question box, and
    the scene highlight (``boxes``; ``segment`` ``(2, 3)`` [m] with ``segment_label``
    for a distance; ``arrow`` ``(2, 3)`` [m], tail then head, for a turn)."""

    ok: bool
    markdown: str
    boxes: tuple[HighlightBox, ...] = ()
    segment: np.ndarray | None = None
    segment_label: str = ""
    arrow: np.ndarray | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def message_view(markdown: str) -> AnswerView:
    """A page message with nothing to highlight (a refused question, a node that is
    down)."""
    return AnswerView(ok=False, markdown=markdown)


def _escape(text: str) -> str:
    """Markdown-inert text: the node's messages may contain *, _, [ or <."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>])", r"\\\1", str(text))


def answer_view(response: dict[str, Any], snapshot: Snapshot,
                error_names: dict[int, str] | None = None) -> AnswerView:
    """The page's view of a ``spatial_query`` response (see :func:`response_to_dict`).

    ``snapshot`` supplies the camera position (the tail of a turn arrow);
    ``error_names`` maps error codes to their names (``UNKNOWN_OBJECT``...).
    """
    if not response.get("success"):
        code = int(response.get("error_code", 0))
        name = (error_names or {}).get(code, str(code))
        return AnswerView(ok=False, markdown=(
            f"**ssr_node could not answer** ({_escape(name)}): "
            f"{_escape(response.get('message', ''))}"))
    boxes = tuple(
        HighlightBox(int(o["id"]), f"[{int(o['id'])}] {o['label']}",
                     tuple(float(v) for v in o["position"]),
                     tuple(float(v) for v in o["size"]), float(o["yaw"]))
        for o in response.get("objects", []))
    lines = [f"**Answer:** {_escape(response.get('message', ''))}"]
    value, unit = response.get("value"), response.get("unit", "")
    if value is not None and math.isfinite(value):
        lines.append(f"value: {value:.2f} {_escape(unit)}".rstrip())
    if response.get("choice"):
        lines.append(f"choice: {_escape(response['choice'])}")
    if boxes:
        lines.append("objects: " + ", ".join(_escape(b.title) for b in boxes))
    lines.append(f"answered by: {_escape(response.get('answered_by', ''))}")
    segment = arrow = None
    segment_label = ""
    notes: list[str] = []
    if unit == "m" and len(boxes) == 2 and value is not None and math.isfinite(value):
        a, b = boxes
        p, q = closest_points(a.center_m, a.size_m, a.yaw_rad,
                              b.center_m, b.size_m, b.yaw_rad)
        segment, segment_label = np.stack([p, q]), f"{value:.2f} m"
    if unit == "deg" and boxes:
        if snapshot.camera is None:
            notes.append("no camera position yet: the turn arrow is not drawn")
        else:
            tail = np.asarray(snapshot.camera.position_m, dtype=np.float64)
            head = np.asarray(boxes[0].center_m, dtype=np.float64)
            if float(np.linalg.norm(head - tail)) > 1e-6:
                arrow = np.stack([tail, head])
    lines += [f"_{_escape(n)}_" for n in notes]
    return AnswerView(ok=True, markdown="  \n".join(lines), boxes=boxes, segment=segment,
                      segment_label=segment_label, arrow=arrow, notes=tuple(notes))
