"""Question answering evaluation: VSI-Bench-style questions answered from their text.

Each question's ``text`` (and multiple-choice ``options``) goes through the benchmark
adapter (:func:`ssr_ros.eval.adapter.answer_request`: VSI-Bench phrasings, option
picking) and the robot's query engine, as a question to the node's ``spatial_query``
service would; the structured fields of a question are not used for answering. Scores per question:

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
one instead of answering "ambiguous" (:func:`ssr_ros.eval.adapter.most_observed`); its
own policy is restored afterwards. Build the engine with
:func:`ssr_ros.eval.adapter.benchmark_engine` so that a category the map never saw is
counted 0 and ordered as never seen rather than unknown.

``evaluate`` returns the mean score per task present and ``overall``, the mean over
tasks (as VSI-Bench averages its task scores), all in [0, 1].
The scores themselves are :mod:`ssr_ros.eval.metrics`' (``mean_relative_accuracy``,
``exact_match``, ``locate_accuracy``), so the QA numbers and ``score_answers`` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ssr_ros.core.queries import QueryAnswer, QueryEngine, QueryKind, QueryRequest
from ssr_ros.eval.adapter import answer_request, most_observed
from ssr_ros.eval.metrics import exact_match, locate_accuracy, mean_relative_accuracy

NUMERIC_TASKS = ("object_count", "abs_distance", "object_size", "room_size")
CHOICE_TASKS = ("rel_distance", "rel_direction", "route_plan", "appearance_order")
TASKS = NUMERIC_TASKS + CHOICE_TASKS + ("robot",)


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
    pose = getattr(question, "robot_pose", None)
    saved = engine.robot_pose, engine.choose_instance
    if pose is not None:
        engine.robot_pose = pose
    engine.choose_instance = most_observed
    try:
        result = answer_request(engine, QueryRequest(QueryKind.AUTO, question=question.text),
                                list(question.options or []))
    finally:
        engine.robot_pose, engine.choose_instance = saved
    task = question.task
    prediction: Any = None
    score = 0.0
    if result.success:
        request = result.request
        if request is not None and request.kind == QueryKind.LOCATE:
            prediction = None if result.position_m is None else result.position_m[:2].tolist()
            score = locate_accuracy(prediction, question.answer) \
                if prediction is not None else 0.0
        elif question.options:
            prediction = result.choice
            score = exact_match(prediction, question.answer)
        else:
            prediction = float(result.value)
            score = mean_relative_accuracy(prediction, float(question.answer))
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
