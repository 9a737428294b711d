"""Question answering evaluation: VSI-Bench-style questions answered from their text.

Each question's ``text`` (and multiple-choice ``options``) goes through the rule-based
reader and the query engine, exactly as a plain question to the robot would; the
structured fields of a question are not used for answering. Scores per question:

- numeric tasks (object_count, abs_distance, object_size [cm], room_size): mean relative
  accuracy (MRA, VSI-Bench: the share of confidence thresholds 0.50, 0.55, ..., 0.95
  with ``|pred - gt| / gt < 1 - threshold``);
- multiple choice (rel_distance, rel_direction, route_plan, appearance_order, the
  robot's turn question): exact match with the answer option;
- robot "where is" questions (answer: map-frame xy [m]): the share of distance
  thresholds 0.1, 0.2, ..., 1.0 m that the position error stays under;
- a question the engine cannot answer scores 0.

Benchmark questions only name objects that are unique in the scene, so while answering
them the engine resolves a repeated instance (a mapping artefact) to the most observed
one instead of answering "ambiguous"; its setting is restored afterwards.

``evaluate`` returns the mean score per task present and ``overall``, the mean over
tasks (as VSI-Bench averages its task scores), all in [0, 1].
:mod:`ssr_ros.eval.metrics` supplies MRA, exact match and the locate score when
importable (the fallbacks here implement the same definitions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from ssr_ros.core.queries import QueryAnswer, QueryEngine, QueryKind

NUMERIC_TASKS = ("object_count", "abs_distance", "object_size", "room_size")
CHOICE_TASKS = ("rel_distance", "rel_direction", "route_plan", "appearance_order")
TASKS = NUMERIC_TASKS + CHOICE_TASKS + ("robot",)
LOCATE_THRESHOLDS_M = tuple(round(0.1 * k, 1) for k in range(1, 11))


def _mra_fallback(pred: float, gt: float) -> float:
    if not (math.isfinite(pred) and math.isfinite(gt)) or gt == 0.0:
        return float(pred == gt)
    rel = abs(pred - gt) / abs(gt)
    thresholds = np.arange(0.50, 0.951, 0.05)
    return float(np.mean(rel < 1.0 - thresholds))


def _exact_fallback(pred: str, gt: str) -> float:
    return float(str(pred).strip().lower() == str(gt).strip().lower())


def locate_score(pred_xy: Sequence[float] | None, gt_xy: Sequence[float]) -> float:
    """Share of :data:`LOCATE_THRESHOLDS_M` that the xy error [m] stays under."""
    if pred_xy is None:
        return 0.0
    err = float(np.hypot(*(np.asarray(pred_xy, float)[:2] - np.asarray(gt_xy, float)[:2])))
    return float(np.mean([err < t for t in LOCATE_THRESHOLDS_M]))


def _metrics():
    try:
        from ssr_ros.eval import metrics
    except ImportError:
        return _mra_fallback, _exact_fallback, locate_score
    return (getattr(metrics, "mean_relative_accuracy", _mra_fallback),
            getattr(metrics, "exact_match", _exact_fallback),
            getattr(metrics, "locate_accuracy", locate_score))


@dataclass
class QARecord:
    """One answered question: task, text, ground truth, prediction, score, and the
    engine's answer."""

    task: str
    text: str
    answer: Any
    prediction: Any
    score: float
    result: QueryAnswer


def answer_question(question, engine: QueryEngine) -> QARecord:
    """Answer one question from its text and score it (see module docstring)."""
    mra, exact, locate = _metrics()
    pose = getattr(question, "robot_pose", None)
    saved = engine.robot_pose, engine.ambiguity
    if pose is not None:
        engine.robot_pose = pose
    # Benchmark questions name only unique objects, so a repeated instance in the map
    # is a mapping artefact: answer with the most observed one instead of asking back.
    engine.ambiguity = "most_observed"
    try:
        result = engine.ask(question.text, list(question.options or []))
    finally:
        engine.robot_pose, engine.ambiguity = saved
    task = question.task
    prediction: Any = None
    score = 0.0
    if result.success:
        request = result.request
        if request is not None and request.kind == QueryKind.LOCATE:
            prediction = None if result.position_m is None else result.position_m[:2].tolist()
            score = float(locate(prediction, question.answer)) if prediction is not None \
                else 0.0
        elif question.options:
            prediction = result.choice
            score = float(exact(prediction, question.answer))
        else:
            prediction = float(result.value)
            score = float(mra(prediction, float(question.answer))) \
                if math.isfinite(prediction) else 0.0
    return QARecord(task, question.text, question.answer, prediction,
                    min(max(score, 0.0), 1.0), result)


def evaluate_records(questions: Iterable, engine: QueryEngine) -> list[QARecord]:
    """Every question answered and scored, in input order."""
    return [answer_question(q, engine) for q in questions]


def summarize(records: Iterable[QARecord]) -> dict[str, float]:
    """Mean score per task present and ``overall`` (mean of the task means)."""
    per_task: dict[str, list[float]] = {}
    for record in records:
        per_task.setdefault(record.task, []).append(record.score)
    scores = {task: float(np.mean(values)) for task, values in per_task.items()}
    ordered = {t: scores[t] for t in TASKS if t in scores}
    ordered.update({t: s for t, s in scores.items() if t not in ordered})
    ordered["overall"] = float(np.mean(list(scores.values()))) if scores else 0.0
    return ordered


def evaluate(questions: Iterable, engine: QueryEngine) -> dict[str, float]:
    """Scores in [0, 1] per task and ``overall`` for ``questions`` (objects with
    ``task``, ``text``, ``options``, ``answer`` and optionally ``robot_pose``)."""
    return summarize(evaluate_records(questions, engine))
