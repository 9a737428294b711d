"""Scores for VSI-Bench-style answers: Mean Relative Accuracy and exact match.

- Numeric answers (counts, distances, sizes, areas) are scored by **Mean Relative
  Accuracy** (VSI-Bench): the mean over the confidence thresholds
  theta in {0.50, 0.55, ..., 0.95} of ``[|pred - gt| / |gt| < 1 - theta]``. An exact
  answer scores 1; an answer 4 % off scores 1 (it passes every tolerance, the tightest
  being 5 %); 5 % off scores 0.9 (the comparison is strict); 50 % or more off scores 0.
  Edge case ``gt == 0``: the relative error is taken as 0 when ``pred == 0`` and as
  infinite otherwise, so only an exact 0 scores (1.0). Signs count: the error uses the
  signed values and ``|gt|``. A missing, non-numeric, NaN or infinite prediction
  scores 0.
- Multiple-choice answers score 1 on an exact match after normalisation (case,
  surrounding spaces, a trailing full stop, runs of white space, and the spacing
  after commas are ignored), else 0.
- Robot "locate" answers (map-frame xy [m]) use MRA's ladder on the position error
  against a fixed reference of ``LOCATE_REFERENCE_M`` = 2 m: full marks under 0.1 m,
  nothing from 1 m on.
- ``score_answers`` averages per task, and "overall" is the mean of the task averages
  (as VSI-Bench reports it).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping, Sequence

# theta = k / 20 for k = 10 ... 19, i.e. 0.50, 0.55, ..., 0.95. The tolerances 1 - theta are
# taken as (20 - k) / 20 so that they are the exact binary doubles of 0.50 ... 0.05
# (1 - 0.95 in floating point is not 0.05); both come from the same k.
_MRA_TWENTIETHS: tuple[int, ...] = tuple(range(10, 20))
MRA_THRESHOLDS: tuple[float, ...] = tuple(k / 20 for k in _MRA_TWENTIETHS)
MRA_TOLERANCES: tuple[float, ...] = tuple((20 - k) / 20 for k in _MRA_TWENTIETHS)
LOCATE_REFERENCE_M = 2.0


class ScoringError(ValueError):
    """Answers and questions that cannot be scored together."""


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def mean_relative_accuracy(pred: Any, gt: float) -> float:
    """MRA of a numeric prediction against the ground truth ``gt`` (see the module
    docstring); a value in [0, 1]."""
    p, g = _as_float(pred), _as_float(gt)
    if not math.isfinite(g):
        raise ScoringError(f"ground truth must be a finite number, got {gt!r}")
    if not math.isfinite(p):
        return 0.0
    if g == 0.0:
        relative = 0.0 if p == 0.0 else math.inf
    else:
        relative = abs(p - g) / abs(g)
    return sum(relative < tol for tol in MRA_TOLERANCES) / len(MRA_TOLERANCES)


def normalize_choice(text: Any) -> str:
    """The normalised form of a multiple-choice answer (see the module docstring)."""
    s = str(text).strip().casefold()
    s = s.rstrip(".").strip()
    s = re.sub(r"\s+", " ", s)
    return re.sub(r"\s*,\s*", ", ", s)


def exact_match(pred: Any, gt: str) -> float:
    """1.0 when ``pred`` equals ``gt`` after normalisation, else 0.0."""
    if pred is None:
        return 0.0
    return 1.0 if normalize_choice(pred) == normalize_choice(gt) else 0.0


def locate_accuracy(pred_xy: Any, gt_xy: Sequence[float]) -> float:
    """Score of a predicted map-frame position (x, y) [m] (see the module docstring)."""
    try:
        px, py = (float(v) for v in pred_xy)
    except (TypeError, ValueError):
        return 0.0
    if not (math.isfinite(px) and math.isfinite(py)):
        return 0.0
    error = math.hypot(px - float(gt_xy[0]), py - float(gt_xy[1]))
    return sum(error < tol * LOCATE_REFERENCE_M for tol in MRA_TOLERANCES) / len(
        MRA_TOLERANCES)


def score_question(question: Any, pred: Any) -> float:
    """Score of one prediction for a question (an object with ``task``, ``subtype``,
    ``options`` and ``answer``, e.g. :class:`ssr_ros.sim.questions.Question`)."""
    if question.task == "robot" and getattr(question, "subtype", "") == "locate":
        return locate_accuracy(pred, question.answer)
    if question.options:
        return exact_match(pred, question.answer)
    return mean_relative_accuracy(pred, question.answer)


def score_answers(questions: Sequence[Any],
                  predictions: "Sequence[Any] | Mapping[int, Any]") -> dict[str, float]:
    """Per-task mean scores and "overall" (mean of the task means).

    ``predictions`` is a sequence aligned with ``questions`` or a mapping from question
    index to prediction; a missing prediction (None or absent) scores 0. Tasks without
    questions are left out; with no questions at all, "overall" is 0.0.
    """
    if isinstance(predictions, Mapping):
        preds = [predictions.get(i) for i in range(len(questions))]
    else:
        preds = list(predictions)
        if len(preds) != len(questions):
            raise ScoringError(f"{len(preds)} predictions for {len(questions)} questions")
    per_task: dict[str, list[float]] = {}
    for question, pred in zip(questions, preds):
        per_task.setdefault(question.task, []).append(score_question(question, pred))
    scores = {task: sum(v) / len(v) for task, v in per_task.items()}
    scores["overall"] = sum(scores.values()) / len(scores) if scores else 0.0
    return scores


def task_counts(questions: Iterable[Any]) -> dict[str, int]:
    """Number of questions per task."""
    counts: dict[str, int] = {}
    for question in questions:
        counts[question.task] = counts.get(question.task, 0) + 1
    return counts


# Map matching (``ssr-eval``). A ground-truth object and a map object of its category
# match when their centres are within MATCH_RADIUS_M; the radius is wide on purpose: an
# object mapped 0.4 m off must count as a match with a 0.4 m error, not hide inside a
# radius that only just admits it, or drop out as a miss plus a false positive at a
# tighter one. Errors above FAR_ERROR_M (a quarter metre: every distance to the object is
# visibly wrong) are reported as a share of the matches, with the largest error.
MATCH_RADIUS_M = 1.0
FAR_ERROR_M = 0.25


def centre_error_tail(errors_m: Sequence[float],
                      far_m: float = FAR_ERROR_M) -> dict[str, float]:
    """The tail of the centre errors [m] of matched objects: ``share_above`` = the share
    of errors strictly above ``far_m`` and ``max_m`` the largest error; both NaN when
    there are no matches (nothing was matched, so nothing can be said)."""
    if not (math.isfinite(far_m) and far_m >= 0.0):
        raise ScoringError(f"far_m must be a finite distance >= 0, got {far_m!r}")
    values = [float(e) for e in errors_m]
    if any(not math.isfinite(e) or e < 0.0 for e in values):
        raise ScoringError("centre errors must be finite distances >= 0")
    if not values:
        return {"share_above": math.nan, "max_m": math.nan}
    return {"share_above": sum(e > far_m for e in values) / len(values),
            "max_m": max(values)}
