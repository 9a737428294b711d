"""QA evaluation on a hand-made map: questions answered from their text and scored."""

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from ssr_ros.core.queries import QueryEngine
from ssr_ros.core.types import ObjectState, Room, RobotPose2D
from ssr_ros.eval import metrics, qa
from ssr_ros.eval.adapter import benchmark_engine
from ssr_ros.eval.qa import evaluate, evaluate_records

OBJECTS = [
    ObjectState(1, "sofa", [0, 0, 0.4], [2.0, 0.9, 0.8], first_seen_order=0),
    ObjectState(2, "tv", [4, 0, 0.8], [1.2, 0.2, 0.7], first_seen_order=3),
    ObjectState(3, "lamp", [2, 2, 0.8], [0.4, 0.4, 1.6], first_seen_order=5),
    ObjectState(4, "chair", [1, -2, 0.45], [0.5, 0.5, 0.9], first_seen_order=1),
    ObjectState(5, "chair", [6, -2, 0.45], [0.5, 0.5, 0.9], first_seen_order=2),
    ObjectState(6, "refrigerator", [-3, 3, 0.9], [0.7, 0.7, 1.8], first_seen_order=7),
]


@dataclass
class Q:
    """Stand-in with the fields of ssr_ros.sim.questions.Question that qa reads."""

    task: str
    text: str
    answer: object
    options: list = field(default_factory=list)
    robot_pose: RobotPose2D | None = None


ROUTE = ("You are a robot beginning at the sofa and facing the tv. You want to navigate to "
         "the refrigerator. You will perform the following actions (Note: for each [please "
         "fill in], choose either 'turn back,' 'turn left,' or 'turn right.'): 1. [please fill "
         "in] 2. Go forward until the lamp 3. [please fill in] 4. Go forward until the "
         "refrigerator. You have reached the final destination.")

QUESTIONS = [
    Q("object_count", "How many chair(s) are in this room?", 2.0),
    Q("abs_distance", "Measuring from the closest point of each object, what is the direct "
      "distance between the sofa and the tv (in meters)?", 2.4),
    Q("object_size", "What is the length of the longest dimension (length, width, or height) "
      "of the lamp, measured in centimeters?", 160.0),
    Q("room_size", "What is the size of this room (in square meters)? If multiple rooms are "
      "shown, estimate the size of the combined space.", 24.5),
    Q("rel_distance", "Measuring from the closest point of each object, which of these objects "
      "(lamp, tv, refrigerator, chair) is the closest to the sofa?", "chair",
      ["lamp", "tv", "refrigerator", "chair"]),
    Q("rel_direction", "If I am standing by the sofa and facing the tv, is the lamp to my left "
      "or right?", "left", ["left", "right"]),
    Q("rel_direction", "If I am standing by the sofa and facing the tv, is the refrigerator to "
      "my front-left, front-right, back-left, or back-right? The directions refer to the "
      "quadrants of a Cartesian plane (if I am standing at the origin and facing along the "
      "positive y-axis).", "back-left",
      ["front-left", "front-right", "back-left", "back-right"]),
    Q("route_plan", ROUTE, "Turn Left, Turn Left",
      ["Turn Right, Turn Left", "Turn Left, Turn Left", "Turn Back, Turn Right",
       "Turn Left, Turn Right"]),
    Q("appearance_order", "What will be the first-time appearance order of the following "
      "categories in the video: lamp, tv, sofa, refrigerator?", "sofa, tv, lamp, refrigerator",
      ["lamp, tv, sofa, refrigerator", "sofa, tv, lamp, refrigerator",
       "tv, sofa, lamp, refrigerator", "refrigerator, lamp, tv, sofa"]),
    Q("robot", "Where is the lamp?", [2.0, 2.0]),
    Q("robot", "Which way should I turn to face the lamp?", "right", ["left", "right", "behind"],
      RobotPose2D(0.0, 0.0, math.pi / 2)),
]


def _engine():
    return benchmark_engine(OBJECTS, room=Room(np.zeros((0, 2)), 24.5))


def test_correct_map_scores_one_on_every_task():
    scores = evaluate(QUESTIONS, _engine())
    assert set(scores) == {"object_count", "abs_distance", "object_size", "room_size",
                           "rel_distance", "rel_direction", "route_plan", "appearance_order",
                           "robot", "overall"}
    assert scores == pytest.approx({k: 1.0 for k in scores})


def test_wrong_answers_lower_the_scores_of_their_tasks_only():
    shifted = [ObjectState(o.id, o.label, o.center_m + ([0.4, 0, 0] if o.label == "tv" else 0.0),
                           o.size_m, first_seen_order=o.first_seen_order) for o in OBJECTS]
    engine = benchmark_engine(shifted, room=Room(np.zeros((0, 2)), 12.0))
    scores = evaluate(QUESTIONS, engine)
    assert scores["room_size"] == 0.0          # 12 vs 24.5: off by more than 50 %
    assert scores["abs_distance"] == pytest.approx(0.7)  # 2.8 m vs 2.4 m: 17 % off
    assert scores["object_count"] == 1.0 and scores["object_size"] == 1.0
    assert 0.0 <= scores["overall"] < 1.0


def test_unanswerable_questions_score_zero_and_keep_the_reason():
    records = evaluate_records([Q("robot", "Which way should I turn to face the unicorn?",
                                  "left", ["left", "right", "behind"],
                                  RobotPose2D(0, 0, 0)),
                                Q("object_count", "Why is the sky blue?", 1.0)], _engine())
    assert [r.score for r in records] == [0.0, 0.0]
    assert records[0].result.error_code.name == "UNKNOWN_OBJECT"
    assert records[1].result.error_code.name == "NOT_UNDERSTOOD"


def test_engine_settings_are_restored_after_evaluation():
    engine = QueryEngine(OBJECTS, room=Room(np.zeros((0, 2)), 24.5))
    evaluate(QUESTIONS[-1:], engine)
    assert engine.robot_pose is None and engine.choose_instance is None


def test_a_split_object_in_the_map_does_not_make_benchmark_questions_ambiguous():
    split = OBJECTS + [ObjectState(9, "lamp", [2.1, 2.0, 0.8], [0.3, 0.3, 1.5],
                                   observation_count=0, first_seen_order=9)]
    engine = QueryEngine(split, room=Room(np.zeros((0, 2)), 24.5))
    scores = evaluate(QUESTIONS, engine)
    assert scores["object_size"] == 1.0 and scores["rel_direction"] == 1.0
    assert engine.ask("where is the lamp").error_code.name == "AMBIGUOUS_NAME"


@pytest.mark.parametrize("answer_xy, score", [
    ([2.0, 2.0], 1.0),      # exact
    ([2.35, 2.0], 0.7),     # 0.35 m off: under 0.4, 0.5, ..., 1.0 m
    ([2.0, 2.95], 0.1),     # 0.95 m off: only under 1.0 m
    ([9.0, 2.0], 0.0),      # beyond 1 m
])
def test_where_is_questions_score_by_position_error_through_evaluate(answer_xy, score):
    records = evaluate_records([Q("robot", "Where is the lamp?", answer_xy)], _engine())
    assert records[0].prediction == pytest.approx([2.0, 2.0])
    assert evaluate([Q("robot", "Where is the lamp?", answer_xy)], _engine())["robot"] == \
        pytest.approx(score)


def test_where_is_an_unknown_object_scores_zero():
    scores = evaluate([Q("robot", "Where is the unicorn?", [2.0, 2.0])], _engine())
    assert scores == {"robot": 0.0, "overall": 0.0}


def test_scores_come_from_the_metrics_module_without_private_copies():
    # One definition of each score: qa uses ssr_ros.eval.metrics, so the QA numbers
    # and metrics.score_answers cannot drift apart.
    assert qa.locate_accuracy is metrics.locate_accuracy
    assert qa.exact_match is metrics.exact_match
    assert qa.mean_relative_accuracy is metrics.mean_relative_accuracy
    assert not [name for name in vars(qa) if "fallback" in name or name == "locate_score"]
