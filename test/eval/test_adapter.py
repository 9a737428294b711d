"""Benchmark adapter: options checked and picked, route fill-ins, never-seen categories,
the repeated-instance policy, and the srv's auto/free multiple-choice path."""

import math

import numpy as np
import pytest

from ssr_ros.core.queries import ErrorCode, QueryEngine, QueryKind, QueryRequest
from ssr_ros.core.types import ObjectState, Room, RobotPose2D
from ssr_ros.eval.adapter import (MAX_OPTION_CHARS, MAX_OPTIONS, answer_request,
                                  benchmark_engine, check_options, most_observed)

OBJECTS = [
    ObjectState(1, "sofa", [0, 0, 0.4], [2.0, 0.9, 0.8], first_seen_order=0,
                observation_count=9),
    ObjectState(2, "tv", [4, 0, 0.8], [1.2, 0.2, 0.7], first_seen_order=3),
    ObjectState(3, "lamp", [2, 2, 0.8], [0.4, 0.4, 1.6], first_seen_order=5),
    ObjectState(4, "chair", [1, -2, 0.45], [0.5, 0.5, 0.9], first_seen_order=1,
                observation_count=2),
    ObjectState(5, "chair", [6, -2, 0.45], [0.5, 0.5, 0.9], first_seen_order=2,
                observation_count=7),
    ObjectState(6, "refrigerator", [-3, 3, 0.9], [0.7, 0.7, 1.8], first_seen_order=7),
]
ROUTE = ("You are a robot beginning at the sofa and facing the tv. You want to navigate to "
         "the refrigerator. You will perform the following actions (Note: for each [please "
         "fill in], choose either 'turn back,' 'turn left,' or 'turn right.'): 1. [please fill "
         "in] 2. Go forward until the lamp 3. [please fill in] 4. Go forward until the "
         "refrigerator. You have reached the final destination.")


def _engine(**kwargs):
    kwargs.setdefault("room", Room(np.zeros((0, 2)), 24.5))
    return QueryEngine(OBJECTS, **kwargs)


def _ask(engine, kind, options, **fields):
    return answer_request(engine, QueryRequest(kind, **fields), options)


def test_direction_and_turn_words_become_the_option_that_says_them():
    engine = _engine(robot_pose=RobotPose2D(0.0, 0.0, -0.1))
    a = _ask(engine, QueryKind.RELATIVE_DIRECTION, ["Left", "Right"], reference="sofa",
             facing="tv", target="lamp")
    assert a.choice == "Left"
    # the options' words set the mode: left/right/back, then quadrants
    b = _ask(engine, QueryKind.RELATIVE_DIRECTION, ["left", "right", "back"],
             reference="sofa", facing="tv", target="refrigerator")
    assert b.choice == "back"
    c = _ask(engine, QueryKind.RELATIVE_DIRECTION,
             ["front-left", "front-right", "back-left", "back-right"], reference="sofa",
             facing="tv", target="refrigerator")
    assert c.choice == "back-left"
    d = _ask(engine, QueryKind.TURN, ["left", "right", "behind"], target="refrigerator")
    assert d.choice == "behind"


def test_nearest_takes_the_option_naming_the_same_category():
    a = _ask(_engine(), QueryKind.NEAREST, ["the couch", "the TV"], reference="sofa",
             candidates=["couch", "television"])
    assert a.choice == "the TV"


def test_route_plan_fill_ins_are_answered_turn_by_turn():
    options = ["Turn Right, Turn Left", "Turn Left, Turn Left", "Turn Back, Turn Right"]
    a = answer_request(_engine(), QueryRequest(QueryKind.AUTO, question=ROUTE), options)
    assert a.success and a.choice == "Turn Left, Turn Left"
    assert a.request.kind == QueryKind.ROUTE and a.request.candidates == ["lamp"]


def test_numeric_answers_take_the_nearest_numeric_option():
    a = answer_request(_engine(), QueryRequest(QueryKind.AUTO,
                                               question="How many chairs are there?"),
                       ["1", "2", "3 chairs", "4"])
    assert a.value == 2 and a.choice == "2"
    b = answer_request(_engine(), QueryRequest(QueryKind.AUTO, question="how big is the room"),
                       ["10.5", "25 m^2", "40"])
    assert b.choice == "25 m^2"
    bad = _ask(_engine(), QueryKind.COUNT, ["two", "three"], target="chair")
    assert bad.error_code == ErrorCode.INVALID_REQUEST and "numbers" in bad.message


def test_a_never_seen_category_goes_late_among_equally_good_orders():
    question = ("What will be the first-time appearance order of the following categories "
                "in the video: lamp, tv stand, sofa, tv?")
    options = ["sofa, tv stand, tv, lamp", "sofa, tv, lamp, tv stand"]
    a = answer_request(benchmark_engine(OBJECTS), QueryRequest(question=question), options)
    assert a.success and a.choice == options[1] and "Never seen: tv stand" in a.message
    # without the catalogue as vocabulary the tv stand is an unknown name
    b = answer_request(_engine(), QueryRequest(question=question), options)
    assert b.error_code == ErrorCode.UNKNOWN_OBJECT


@pytest.mark.parametrize("options, fragment", [
    ([""], "option 0 is empty"), (["left", "  "], "option 1 is empty"),
    (["x"] * (MAX_OPTIONS + 1), "limit"), (["x" * (MAX_OPTION_CHARS + 1)], "limit"),
    ("left", "options"), ([3], "options"),
])
def test_bad_options_are_a_named_error_never_an_empty_choice(options, fragment):
    with pytest.raises(ValueError):
        check_options(options)
    a = answer_request(_engine(), QueryRequest(
        question="If I am standing by the sofa and facing the tv, is the lamp to my left or "
        "right?"), options)
    assert not a.success and a.error_code == ErrorCode.INVALID_REQUEST and a.choice == ""
    assert fragment in a.message


def test_options_of_a_question_without_a_categorical_answer_are_refused():
    a = answer_request(_engine(), QueryRequest(question="where is the lamp"), ["here", "there"])
    assert a.error_code == ErrorCode.INVALID_REQUEST and "locate" in a.message


def test_the_srv_auto_path_takes_candidates_as_options():
    # srv/SpatialQuery.srv: for KIND_AUTO / KIND_FREE, candidates are the answer options
    request = QueryRequest(QueryKind.AUTO, question="If I am standing by the sofa and facing "
                           "the tv, is the refrigerator to my left, right, or back?",
                           candidates=["Left", "Right", "Back"])
    a = answer_request(_engine(), request)
    assert a.success and a.choice == "Back"
    # a structured kind keeps its candidates as candidates
    b = answer_request(_engine(), QueryRequest(QueryKind.NEAREST, reference="tv",
                                               candidates=["lamp", "chair"]))
    assert b.success and b.choice == "chair" and b.object_ids[0] == 5


def test_every_answer_with_options_is_one_of_them():
    engine = _engine(robot_pose=RobotPose2D(0.0, 0.0, 0.0))
    cases = [
        ("If I am standing by the sofa and facing the tv, is the lamp to my left or right?",
         ["left", "right"]),
        ("Which way should I turn to face the lamp?", ["left", "right", "behind"]),
        ("Measuring from the closest point of each object, which of these objects (lamp, tv, "
         "refrigerator) is the closest to the sofa?", ["lamp", "tv", "refrigerator"]),
        (ROUTE, ["Turn Back, Turn Back", "Turn Right, Turn Right"]),
        ("How many chairs are in this room?", ["0", "5"]),
    ]
    for question, options in cases:
        a = answer_request(engine, QueryRequest(question=question), options)
        assert a.success and a.choice in options, (question, a.message)


def test_repeated_instances_resolve_to_the_most_observed_in_the_benchmark_only():
    chairs = [o for o in OBJECTS if o.label == "chair"]
    assert most_observed("chair", chairs).id == 5
    located = answer_request(benchmark_engine(OBJECTS), QueryRequest(question="where is the "
                                                                     "chair"))
    assert located.success and located.object_ids == [5]
    robot = answer_request(_engine(), QueryRequest(question="where is the chair"))
    assert robot.error_code == ErrorCode.AMBIGUOUS_NAME


def test_open_questions_pass_through_unchanged():
    a = answer_request(_engine(), QueryRequest(question="how far is the sofa from the tv"))
    assert a.success and a.value == pytest.approx(2.4) and a.choice == ""
    b = answer_request(_engine(), QueryRequest(question="why is the sky blue"))
    assert b.error_code == ErrorCode.NOT_UNDERSTOOD
    c = answer_request(_engine(), QueryRequest(QueryKind.LOCATE, target="x" * 129))
    assert c.error_code == ErrorCode.INVALID_REQUEST
    assert math.isnan(c.value)
