"""Rule-based reader of VSI-Bench and robot phrasings."""

import pytest

from ssr_ros.core.freetext import QuestionNotUnderstoodError, read_question
from ssr_ros.core.query_types import QueryKind

ROUTE = ("You are a robot beginning at the sofa and facing the tv. You want to navigate to "
         "the trash can. You will perform the following actions (Note: for each [please fill "
         "in], choose either 'turn back,' 'turn left,' or 'turn right.'): 1. [please fill in] "
         "2. Go forward until the dining table 3. Go forward until the lamp 4. [please fill "
         "in] 5. Go forward until the trash can. You have reached the final destination.")


def test_vsi_count_distance_size_room():
    r = read_question("How many chair(s) are in this room?")
    assert (r.kind, r.target) == (QueryKind.COUNT, "chairs")
    r = read_question("Measuring from the closest point of each object, what is the direct "
                      "distance between the coffee table and the tv (in meters)?")
    assert (r.kind, r.target, r.reference, r.use_centers, r.length_unit) == \
        (QueryKind.DISTANCE, "coffee table", "tv", False, "m")
    r = read_question("What is the length of the longest dimension (length, width, or height) "
                      "of the trash can, measured in centimeters?")
    assert (r.kind, r.target, r.length_unit) == (QueryKind.SIZE, "trash can", "cm")
    r = read_question("What is the size of this room (in square meters)? If multiple rooms "
                      "are shown, estimate the size of the combined space.")
    assert r.kind == QueryKind.ROOM_SIZE


def test_vsi_relative_distance_and_appearance_order_keep_candidates_and_options():
    options = ["lamp", "tv stand", "plant", "trash can"]
    r = read_question("Measuring from the closest point of each object, which of these objects "
                      "(lamp, tv stand, plant, trash can) is the closest to the sofa?", options)
    assert (r.kind, r.reference, r.candidates, r.options) == \
        (QueryKind.NEAREST, "sofa", options, options)
    r = read_question("What will be the first-time appearance order of the following "
                      "categories in the video: bed, lamp, desk, trash can?")
    assert r.kind == QueryKind.APPEARANCE_ORDER
    assert r.candidates == ["bed", "lamp", "desk", "trash can"]


@pytest.mark.parametrize("tail, mode", [
    ("left or right?", "left_right"),
    ("left, right, or back? An object is to my back if I would have to turn at least 135 "
     "degrees in order to face it.", "left_right_back"),
    ("front-left, front-right, back-left, or back-right? The directions refer to the "
     "quadrants of a Cartesian plane (if I am standing at the origin and facing along the "
     "positive y-axis).", "quadrant"),
])
def test_vsi_relative_direction_variants(tail, mode):
    r = read_question("If I am standing by the dining table and facing the tv stand, is the "
                      f"washing machine to my {tail}")
    assert (r.kind, r.reference, r.facing, r.target, r.direction_mode) == \
        (QueryKind.RELATIVE_DIRECTION, "dining table", "tv stand", "washing machine", mode)


def test_vsi_route_plan_reads_waypoints_and_fill_ins():
    r = read_question(ROUTE, ["Turn Left, Turn Right"] * 4)
    assert r.kind == QueryKind.ROUTE
    assert (r.reference, r.facing, r.target) == ("sofa", "tv", "trash can")
    assert r.candidates == ["dining table", "lamp"]
    assert r.route_fill_in == [True, False, True]


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
    ("What is the length of the longest dimension (length, width, or height) of the sofa, "
     "measured in centimeters?", "longest"),
])
def test_size_questions_name_the_dimension_they_ask_for(question, dimension):
    r = read_question(question)
    assert r.kind == QueryKind.SIZE and r.size_dimension == dimension
