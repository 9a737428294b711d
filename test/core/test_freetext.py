"""Rule-based reader of the robot's phrasings."""

import pytest

from ssr_ros.core.freetext import QuestionNotUnderstoodError, read_question
from ssr_ros.core.query_types import QueryKind

def test_the_vsi_bench_templates_are_not_the_robots_business():
    # they live in ssr_ros.eval.vsi_reader (test/eval/test_vsi_reader.py)
    with pytest.raises(QuestionNotUnderstoodError):
        read_question("Measuring from the closest point of each object, what is the direct "
                      "distance between the coffee table and the tv (in meters)?")
    assert read_question("How many chair(s) are in this room?").target == "chairs"


@pytest.mark.parametrize("question, kind, target, reference", [
    ("Where is the lamp?", QueryKind.LOCATE, "lamp", ""),
    ("where's the red chair", QueryKind.LOCATE, "red chair", ""),
    ("How far am I from the lamp?", QueryKind.LOCATE, "lamp", ""),
    ("how far is the lamp from me", QueryKind.LOCATE, "lamp", ""),
    ("how far is the lamp", QueryKind.LOCATE, "lamp", ""),
    ("how far is the sofa from the tv", QueryKind.DISTANCE, "sofa", "tv"),
    ("What is the distance between the sofa and the fridge?", QueryKind.DISTANCE, "sofa",
     "fridge"),
    ("Which way should I turn to face the fridge?", QueryKind.TURN, "fridge", ""),
    ("which way do I turn to face the fridge", QueryKind.TURN, "fridge", ""),
    ("how many chairs are there", QueryKind.COUNT, "chairs", ""),
    ("How big is the room?", QueryKind.ROOM_SIZE, "", ""),
    ("how big is the sofa", QueryKind.SIZE, "sofa", ""),
    ("which is closest to the sofa: the lamp, the chair or the tv", QueryKind.NEAREST, "",
     "sofa"),
])
def test_robot_phrasings(question, kind, target, reference):
    r = read_question(question)
    assert r.kind == kind
    assert r.target == target
    assert r.reference == reference
    assert r.question == question


def test_nearest_robot_phrasing_splits_candidates():
    r = read_question("which is closest to the sofa: the lamp, the chair or the tv")
    assert r.candidates == ["lamp", "chair", "tv"]


@pytest.mark.parametrize("question", ["", "   ", "what is the meaning of life",
                                      "sofa sofa sofa"])
def test_unreadable_questions_raise_a_specific_error(question):
    with pytest.raises(QuestionNotUnderstoodError):
        read_question(question)


@pytest.mark.parametrize("question, dimension", [
    ("How tall is the sofa?", "height"), ("How high is the lamp?", "height"),
    ("How wide is the tv?", "width"), ("What is the width of the tv in cm?", "width"),
    ("How long is the sofa?", "length"), ("What is the height of the fridge?", "height"),
    ("How big is the sofa?", "longest"),
])
def test_size_questions_name_the_dimension_they_ask_for(question, dimension):
    r = read_question(question)
    assert r.kind == QueryKind.SIZE and r.size_dimension == dimension
