"""The curriculum's questions and answers as text: what each task asks, how its answer is
written, and how a model's answer is read back (numpy only; no torch, no files).

Stage 1 (2D basics, one keyframe):

- ``ground2d``: every visible object's box in Qwen2.5-VL's own grounding format, a JSON
  list of ``{"bbox_2d": [x1, y1, x2, y2], "label": "sofa"}`` in absolute pixels of the
  image the model sees (``x1, y1`` the top-left pixel, ``x2, y2`` one past the
  bottom-right pixel), sorted by ``x1`` then ``y1``.
- ``count2d``: how many instances of a category are visible in the view -> ``"2"``.
- ``relation2d``: left/right (or above/below) between two visible objects, judged by the
  centres of their boxes, asked only when the centres differ by more than
  ``RELATION_MARGIN`` of the image side along that axis and more than along the other.

Stage 2 (3D, K keyframes with depth and poses):

- ``cogmap``: the LocalCogMap of the objects visible in the keyframes (in first-seen
  order) in the project's text form without exact coordinates (grid cells only), asked
  with the runner's own instruction, so ``ModelRunner.generate_cogmap`` asks a trained
  model exactly what it was trained on.
- ``ground3d``: "where is the lamp" -> its box centre in the map frame,
  ``(x, y, z) m`` with two decimals [m].
- ``vsi``: a VSI-Bench-style question (:mod:`ssr_ros.sim.questions`) answered after the
  cogmap as a chain of thought: ``<cogmap lines>\\nAnswer: <answer>``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: Instruction of the ``cogmap`` task; the same text as ``ssr_ros.model.runner``'s
#: ``COGMAP_INSTRUCTION`` (a test holds them equal; this module must not import torch).
COGMAP_INSTRUCTION = (
    "List the objects of this scene as LocalCogMap lines, one per line, in exactly the "
    "format of the scene map (for example: [3] lamp @ (7,2) | anchors [1] sofa (0,4), "
    "[2] table (9,4) | cell 0.40 m). Write only the lines.")
GROUND2D_PROMPT = ("Outline the position of each object in this keyframe and output all "
                   "the coordinates in JSON format.")
COUNT2D_PROMPT = "How many {label}(s) are visible in this keyframe?"
LEFT_RIGHT_PROMPT = "In this keyframe, is the {a} to the left or to the right of the {b}?"
ABOVE_BELOW_PROMPT = "In this keyframe, is the {a} above or below the {b}?"
GROUND3D_PROMPT = "Where is the {label}? Give its centre in the map frame in metres."
ANSWER_PREFIX = "Answer: "
#: Centre offset (fraction of the image side) below which a 2D relation is not asked.
RELATION_MARGIN = 0.1

STAGE1_TASKS = ("ground2d", "count2d", "relation2d")
STAGE2_TASKS = ("cogmap", "ground3d", "vsi")

_FLOAT_RE = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_XYZ_RE = re.compile(rf"\(\s*({_FLOAT_RE.pattern})\s*,\s*({_FLOAT_RE.pattern})\s*,"
                     rf"\s*({_FLOAT_RE.pattern})\s*\)")


@dataclass(frozen=True)
class VisibleBox:
    """One visible object in a keyframe: its label and pixel box ``(x1, y1, x2, y2)``
    (``x2, y2`` exclusive) in the stored image."""

    label: str
    box: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        return 0.5 * (x1 + x2), 0.5 * (y1 + y2)


def boxes_from_instances(instance_ids: np.ndarray, labels: dict[int, str],
                         min_pixels: int) -> list[VisibleBox]:
    """Boxes of the instances with at least ``min_pixels`` pixels in ``instance_ids``
    (H, W) ints (0 = background), labelled through ``labels`` {id: category}."""
    out = []
    for object_id in np.unique(instance_ids):
        if object_id == 0 or int(object_id) not in labels:
            continue
        rows, cols = np.nonzero(instance_ids == object_id)
        if rows.size < min_pixels:
            continue
        out.append(VisibleBox(labels[int(object_id)], (int(cols.min()), int(rows.min()),
                                                       int(cols.max()) + 1,
                                                       int(rows.max()) + 1)))
    return sorted(out, key=lambda b: (b.box[0], b.box[1], b.label))


def ground2d_answer(boxes: Sequence[VisibleBox]) -> str:
    """Qwen2.5-VL's grounding JSON for ``boxes`` (already in answer order)."""
    return json.dumps([{"bbox_2d": list(b.box), "label": b.label} for b in boxes])


def parse_ground2d(text: str) -> list[VisibleBox] | None:
    """Boxes from a grounding answer, or None when it is not such JSON."""
    try:
        items = json.loads(text)
        return [VisibleBox(str(it["label"]), tuple(int(v) for v in it["bbox_2d"]))
                for it in items]
    except (ValueError, TypeError, KeyError):
        return None


def stage1_questions(boxes: Sequence[VisibleBox], width: int, height: int,
                     rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """(task, prompt, answer) of one keyframe: the grounding list, one count (a visible
    category picked by ``rng``) and at most one unambiguous relation between two objects
    whose categories appear once in the view. Empty when nothing is visible."""
    if not boxes:
        return []
    out = [("ground2d", GROUND2D_PROMPT, ground2d_answer(boxes))]
    counts: dict[str, int] = {}
    for b in boxes:
        counts[b.label] = counts.get(b.label, 0) + 1
    label = sorted(counts)[int(rng.integers(len(counts)))]
    out.append(("count2d", COUNT2D_PROMPT.format(label=label), str(counts[label])))
    single = [b for b in boxes if counts[b.label] == 1]
    pairs = [(a, b) for a in single for b in single if a.label < b.label]
    order = rng.permutation(len(pairs)) if pairs else []
    for k in order:
        a, b = pairs[int(k)]
        if rng.random() < 0.5:
            a, b = b, a
        relation = relation2d_answer(a, b, width, height)
        if relation is not None:
            prompt, answer = relation
            out.append(("relation2d", prompt, answer))
            break
    return out


def relation2d_answer(a: VisibleBox, b: VisibleBox, width: int, height: int
                      ) -> tuple[str, str] | None:
    """(prompt, answer) for the relation of ``a`` to ``b`` or None when it is too close
    to call (see the module docstring)."""
    (ax, ay), (bx, by) = a.centre, b.centre
    dx, dy = (ax - bx) / width, (ay - by) / height
    if abs(dx) > RELATION_MARGIN and abs(dx) > abs(dy):
        return LEFT_RIGHT_PROMPT.format(a=a.label, b=b.label), "left" if dx < 0 else "right"
    if abs(dy) > RELATION_MARGIN and abs(dy) > abs(dx):
        return ABOVE_BELOW_PROMPT.format(a=a.label, b=b.label), "above" if dy < 0 else "below"
    return None


def xyz_answer(center_m: Sequence[float]) -> str:
    """A map-frame position [m] as the ``ground3d`` answer, ``(x, y, z) m``."""
    x, y, z = (float(v) for v in center_m)
    return f"({x:.2f}, {y:.2f}, {z:.2f}) m"


def parse_xyz(text: str) -> np.ndarray | None:
    """The first ``(x, y, z)`` triple of ``text`` [m], or None."""
    m = _XYZ_RE.search(text)
    if m is None:
        return None
    values = np.array([float(g) for g in m.groups()])
    return values if np.all(np.isfinite(values)) else None


def vsi_answer_text(answer: Any, task: str) -> str:
    """A VSI question's ground-truth answer as text: counts as integers, other numbers
    with two decimals, choices verbatim, robot ``locate`` as ``(x, y) m``."""
    if isinstance(answer, (list, tuple)) and len(answer) == 2:
        return f"({float(answer[0]):.2f}, {float(answer[1]):.2f}) m"
    if isinstance(answer, str):
        return answer
    if task == "object_count":
        return str(int(round(float(answer))))
    return f"{float(answer):.2f}"


def vsi_target(cogmap_text: str, answer_text: str) -> str:
    """Chain-of-thought target: the cogmap lines, then the answer line."""
    return f"{cogmap_text}\n{ANSWER_PREFIX}{answer_text}"


def parse_vsi_answer(text: str, options: Sequence[str], locate: bool) -> Any:
    """A model's VSI reply -> the prediction :func:`ssr_ros.eval.metrics.score_question`
    expects: the text after the last ``Answer:`` (the whole reply without one); a choice
    string for multiple choice, ``[x, y]`` for locate, else the first number (None when
    there is none)."""
    tail = text.rsplit(ANSWER_PREFIX.strip(), 1)[-1].strip()
    if options:
        return tail
    numbers = [float(v) for v in _FLOAT_RE.findall(tail)]
    numbers = [v for v in numbers if math.isfinite(v)]
    if locate:
        return numbers[:2] if len(numbers) >= 2 else None
    return numbers[0] if numbers else None


def cogmap_part(text: str) -> str:
    """The cogmap lines of a chain-of-thought reply (everything before ``Answer:``)."""
    return text.split(ANSWER_PREFIX.strip(), 1)[0].strip()
