"""VSI-Bench templates read into core requests, route plans with their fill-ins."""

import pytest

from ssr_ros.core.freetext import QuestionNotUnderstoodError
from ssr_ros.core.query_types import QueryKind
from ssr_ros.eval.vsi_reader import read_route_plan, read_vsi_question

ROUTE = ("You are a robot beginning at the sofa and facing the tv. You want to navigate to "
         "the trash can. You will perform the following actions (Note: for each [please fill "
         "in], choose either 'turn back,' 'turn left,' or 'turn right.'): 1. [please fill in] "
         "2. Go forward until the dining table 3. Go forward until the lamp 4. [please fill "
         "in] 5. Go forward until the trash can. You have reached the final destination.")


def test_vsi_count_distance_size_room():
    r = read_vsi_question("How many chair(s) are in this room?")
    assert (r.kind, r.target) == (QueryKind.COUNT, "chairs")
    r = read_vsi_question("Measuring from the closest point of each object, what is the "
                          "direct distance between the coffee table and the tv (in meters)?")
    assert (r.kind, r.target, r.reference, r.use_centers, r.length_unit) == \
        (QueryKind.DISTANCE, "coffee table", "tv", False, "m")
    r = read_vsi_question("What is the length of the longest dimension (length, width, or "
                          "height) of the trash can, measured in centimeters?")
    assert (r.kind, r.target, r.length_unit) == (QueryKind.SIZE, "trash can", "cm")
    r = read_vsi_question("What is the size of this room (in square meters)? If multiple "
                          "rooms are shown, estimate the size of the combined space.")
    assert r.kind == QueryKind.ROOM_SIZE


def test_vsi_relative_distance_and_appearance_order_keep_candidates():
    r = read_vsi_question("Measuring from the closest point of each object, which of these "
                          "objects (lamp, tv stand, plant, trash can) is the closest to the "
                          "sofa?")
    assert (r.kind, r.reference, r.candidates) == \
        (QueryKind.NEAREST, "sofa", ["lamp", "tv stand", "plant", "trash can"])
    r = read_vsi_question("What will be the first-time appearance order of the following "
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
    r = read_vsi_question("If I am standing by the dining table and facing the tv stand, is "
                          f"the washing machine to my {tail}")
    assert (r.kind, r.reference, r.facing, r.target, r.direction_mode) == \
        (QueryKind.RELATIVE_DIRECTION, "dining table", "tv stand", "washing machine", mode)


def test_vsi_route_plan_reads_waypoints_and_fill_ins():
    r = read_vsi_question(ROUTE)
    assert r.kind == QueryKind.ROUTE
    assert (r.reference, r.facing, r.target) == ("sofa", "tv", "trash can")
    assert r.candidates == ["dining table", "lamp"]
    plan = read_route_plan(ROUTE)
    assert plan.waypoints == ["dining table", "lamp", "trash can"]
    assert plan.fill_in == [True, False, True]
    assert read_route_plan("where is the lamp") is None
    with pytest.raises(QuestionNotUnderstoodError):
        read_route_plan(ROUTE.replace("2. Go forward", "2. Jump"))


def test_the_longest_dimension_template_asks_for_the_longest_side():
    r = read_vsi_question("What is the length of the longest dimension (length, width, or "
                          "height) of the sofa, measured in centimeters?")
    assert (r.kind, r.size_dimension, r.length_unit) == (QueryKind.SIZE, "longest", "cm")


def test_robot_phrasings_are_read_too():
    r = read_vsi_question("where is the lamp")
    assert (r.kind, r.target) == (QueryKind.LOCATE, "lamp")
