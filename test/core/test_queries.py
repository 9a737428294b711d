"""Query engine on a hand-made map with known answers."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from ssr_ros.core import query_types
from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.queries import ErrorCode, QueryEngine, QueryKind, QueryRequest
from ssr_ros.core.types import ObjectState, Room, RobotPose2D

# Sofa footprint x in [-1, 1], y in [-0.45, 0.45]; tv x in [3.4, 4.6].
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


def _engine(**kwargs):
    cogmap = LocalCogMap()
    cogmap.sync(OBJECTS)
    kwargs.setdefault("room", Room(np.zeros((0, 2)), 24.5))
    return QueryEngine(OBJECTS, cogmap=cogmap, **kwargs)


def _ask(engine, kind, **fields):
    return engine.answer(QueryRequest(kind, **fields))


def test_kind_and_error_numbers_mirror_the_srv():
    assert [k.value for k in QueryKind] == list(range(12))
    assert QueryKind.ROOM_SIZE == 10 and QueryKind.FREE == 11
    assert [e.value for e in ErrorCode] == list(range(10))
    assert ErrorCode.AMBIGUOUS_NAME == 3 and ErrorCode.INTERNAL == 9


def test_distance_between_closest_points_or_centres_says_which():
    engine = _engine()
    a = _ask(engine, QueryKind.DISTANCE, target="sofa", reference="tv")
    assert a.success and a.value == pytest.approx(2.4) and a.unit == "m"
    assert "closest points" in a.message and a.object_ids == [1, 2]
    c = _ask(engine, QueryKind.DISTANCE, target="sofa", reference="tv", use_centers=True)
    assert c.value == pytest.approx(math.hypot(4.0, 0.4)) and "centres" in c.message
    cm = _ask(engine, QueryKind.DISTANCE, target="sofa", reference="tv", length_unit="cm")
    assert cm.value == pytest.approx(240.0) and cm.unit == "cm"


def test_locate_gives_map_position_and_robot_relative_distance_and_bearing():
    engine = _engine(robot_pose=RobotPose2D(0.0, 0.0, math.pi / 2))
    a = _ask(engine, QueryKind.LOCATE, target="lamp")
    assert a.success and a.position_m == pytest.approx([2, 2, 0.8])
    assert a.value == pytest.approx(math.hypot(2, 2)) and a.unit == "m"
    assert "45 deg to your right" in a.message
    no_pose = _ask(_engine(), QueryKind.LOCATE, target="lamp")
    assert no_pose.success and math.isnan(no_pose.value)


@pytest.mark.parametrize("target, mode, word", [
    ("lamp", "left_right", "left"), ("chair #4", "left_right", "right"),
    ("refrigerator", "left_right_back", "back"), ("lamp", "left_right_back", "left"),
    ("lamp", "quadrant", "front-left"), ("refrigerator", "quadrant", "back-left"),
])
def test_relative_direction_standing_by_sofa_facing_tv(target, mode, word):
    engine = _engine()
    name = "chair" if target.startswith("chair") else target
    if target == "chair #4":
        engine.update(objects=[o for o in OBJECTS if o.id != 5])
    a = _ask(engine, QueryKind.RELATIVE_DIRECTION, reference="sofa", facing="tv", target=name,
             direction_mode=mode)
    assert a.success and a.choice == word


def test_turn_needs_a_pose_and_reports_side_and_angle():
    assert _ask(_engine(), QueryKind.TURN, target="lamp").error_code == ErrorCode.NO_POSE
    engine = _engine(robot_pose=RobotPose2D(0.0, 0.0, math.pi / 2))
    a = _ask(engine, QueryKind.TURN, target="lamp")
    assert a.choice == "right" and a.value == pytest.approx(-45.0) and a.unit == "deg"
    assert _ask(engine, QueryKind.TURN, target="tv").choice == "right"
    engine.update(robot_pose=RobotPose2D(0.0, 0.0, 0.0))
    c = _ask(engine, QueryKind.TURN, target="refrigerator")
    assert c.choice == "left" and c.value == pytest.approx(135.0)   # behind only beyond 135
    engine.update(robot_pose=RobotPose2D(0.0, 0.0, -0.1))
    assert _ask(engine, QueryKind.TURN, target="refrigerator").choice == "behind"


def test_count_size_and_room():
    engine = _engine()
    count = _ask(engine, QueryKind.COUNT, target="chairs")
    assert count.value == 2 and count.unit == "count" and count.object_ids == [4, 5]
    size = _ask(engine, QueryKind.SIZE, target="lamp", length_unit="cm")
    assert size.value == pytest.approx(160.0) and size.unit == "cm"
    room = _ask(engine, QueryKind.ROOM_SIZE)
    assert room.value == 24.5 and room.unit == "m^2"
    unknown = _ask(_engine(room=Room()), QueryKind.ROOM_SIZE)
    assert unknown.error_code == ErrorCode.EMPTY_MAP and "floor area" in unknown.message


def test_size_measures_the_dimension_asked_for_and_says_which():
    engine = _engine()   # sofa box 2.0 (along yaw) x 0.9 x 0.8 (up)
    tall = engine.answer(QueryRequest(QueryKind.AUTO, question="How tall is the sofa?"))
    assert tall.value == pytest.approx(0.8) and "height" in tall.message
    wide = engine.answer(QueryRequest(QueryKind.AUTO, question="How wide is the tv?"))
    assert wide.value == pytest.approx(0.2) and "width" in wide.message
    long_ = _ask(engine, QueryKind.SIZE, target="sofa", size_dimension="length",
                 length_unit="cm")
    assert long_.value == pytest.approx(200.0) and long_.unit == "cm"
    longest = _ask(engine, QueryKind.SIZE, target="lamp")
    assert longest.value == pytest.approx(1.6) and "longest dimension" in longest.message
    bad = _ask(engine, QueryKind.SIZE, target="sofa", size_dimension="girth")
    assert bad.error_code == ErrorCode.INVALID_REQUEST and "size_dimension" in bad.message


def test_nearest_uses_closest_points_and_the_nearest_instance_of_a_repeated_category():
    engine = _engine()
    a = _ask(engine, QueryKind.NEAREST, reference="tv", candidates=["lamp", "chair", "sofa"])
    # chair #5 (6,-2) is 1.3 m from the tv box; chair #4 is farther, the lamp 1.6 m.
    assert a.choice == "chair" and a.object_ids[0] == 5
    c = _ask(engine, QueryKind.NEAREST, reference="sofa", candidates=["couch", "television"])
    assert c.choice == "television" and c.object_ids == [2, 1]


def test_route_turns_between_waypoints():
    engine = _engine()
    a = _ask(engine, QueryKind.ROUTE, reference="sofa", facing="tv", candidates=["lamp"],
             target="refrigerator")
    assert a.choice == ("turn left, go forward until the lamp, turn left, "
                        "go forward until the refrigerator")
    # facing +x at the sofa: the lamp at (2, 2) is 45 deg left; from there the
    # refrigerator at (-3, 3) is 180 - 11.3 - 45 deg further left
    assert a.leg_turns_deg == pytest.approx(
        [45.0, math.degrees(math.atan2(1, -5)) - 45.0])
    c = _ask(engine, QueryKind.ROUTE, reference="refrigerator", facing="sofa", target="tv")
    assert c.choice == "go forward until the tv"   # 22 deg off: under 45, no turn


def test_appearance_order_by_first_keyframe():
    engine = _engine()
    a = _ask(engine, QueryKind.APPEARANCE_ORDER,
             candidates=["lamp", "tv", "sofa", "refrigerator"])
    assert a.choice == "sofa, tv, lamp, refrigerator"


def test_appearance_order_follows_first_sightings_between_keyframes():
    # the lamp and the tv were detected at the same keyframe, the refrigerator later,
    # but their back-dated first sightings (stamps) say lamp, refrigerator, tv
    objects = [
        ObjectState(1, "sofa", [0, 0, 0.4], [2.0, 0.9, 0.8], first_seen_order=0,
                    first_seen_s=10.0),
        ObjectState(2, "tv", [4, 0, 0.8], [1.2, 0.2, 0.7], first_seen_order=3,
                    first_seen_s=10.9),
        ObjectState(3, "lamp", [2, 2, 0.8], [0.4, 0.4, 1.6], first_seen_order=3,
                    first_seen_s=10.5),
        ObjectState(6, "refrigerator", [-3, 3, 0.9], [0.7, 0.7, 1.8], first_seen_order=4,
                    first_seen_s=10.7),
    ]
    engine = QueryEngine(objects)
    a = _ask(engine, QueryKind.APPEARANCE_ORDER,
             candidates=["tv", "refrigerator", "lamp", "sofa"])
    assert a.choice == "sofa, lamp, refrigerator, tv"


VOCABULARY = ["sofa", "tv", "tv stand", "lamp", "chair", "refrigerator", "bicycle"]


def test_a_category_the_map_never_saw_is_an_answer_only_inside_the_vocabulary():
    engine = _engine(vocabulary=VOCABULARY)
    count = _ask(engine, QueryKind.COUNT, target="bicycles")
    assert count.success and count.value == 0 and count.object_ids == []
    order = _ask(engine, QueryKind.APPEARANCE_ORDER, candidates=["lamp", "tv stand", "sofa"])
    assert order.choice == "sofa, lamp, tv stand" and "Never seen: tv stand" in order.message
    near = _ask(engine, QueryKind.NEAREST, reference="sofa", candidates=["bicycle", "tv"])
    assert near.choice == "tv" and "Not in the map: bicycle" in near.message
    # one rule for every kind: outside the vocabulary (a typo, a thing the perception
    # cannot report) an absent name is unknown, for counts too
    for kind, fields in ((QueryKind.COUNT, {"target": "unicorn"}),
                         (QueryKind.LOCATE, {"target": "unicorn"}),
                         (QueryKind.SIZE, {"target": "unicorn"}),
                         (QueryKind.DISTANCE, {"target": "unicorn", "reference": "sofa"}),
                         (QueryKind.NEAREST, {"reference": "sofa",
                                              "candidates": ["tv", "unicorn"]}),
                         (QueryKind.APPEARANCE_ORDER, {"candidates": ["tv", "unicorn"]})):
        a = _ask(engine, kind, **fields)
        assert not a.success and a.error_code == ErrorCode.UNKNOWN_OBJECT, kind
        assert "unicorn" in a.message
    # a kind that needs the object cannot answer about an absent one, vocabulary or not
    assert _ask(engine, QueryKind.LOCATE, target="bicycle").error_code == \
        ErrorCode.UNKNOWN_OBJECT


def test_without_a_vocabulary_every_absent_name_is_unknown():
    engine = _engine()
    count = _ask(engine, QueryKind.COUNT, target="bicycle")
    assert count.error_code == ErrorCode.UNKNOWN_OBJECT and math.isnan(count.value)
    order = _ask(engine, QueryKind.APPEARANCE_ORDER, candidates=["lamp", "tv stand"])
    assert order.error_code == ErrorCode.UNKNOWN_OBJECT and "tv stand" in order.message


def test_ambiguous_names_are_answered_with_the_candidates_not_guessed():
    a = _ask(_engine(), QueryKind.LOCATE, target="chair")
    assert not a.success and a.error_code == ErrorCode.AMBIGUOUS_NAME
    assert a.object_ids == [4, 5]
    assert "there are 2" in a.message and "chair #4 at (1.00, -2.00)" in a.message
    assert "did you mean" in a.message
    b = _ask(_engine(choose_instance=lambda name, found: found[-1]), QueryKind.LOCATE,
             target="chair")
    assert b.success and b.object_ids == [5] and "took #5" in b.matches[-1]


def test_synonym_matches_are_reported():
    a = _ask(_engine(), QueryKind.DISTANCE, target="couch", reference="television")
    assert a.success and a.value == pytest.approx(2.4)
    assert any("synonym" in m for m in a.matches)


@pytest.mark.parametrize("request_, code", [
    (QueryRequest(QueryKind.LOCATE, target=""), ErrorCode.INVALID_REQUEST),
    (QueryRequest(QueryKind.LOCATE, target="   "), ErrorCode.INVALID_REQUEST),
    (QueryRequest(QueryKind.LOCATE, target="x" * 129), ErrorCode.INVALID_REQUEST),
    (QueryRequest(QueryKind.NEAREST, reference="sofa", candidates=["tv"] * 17),
     ErrorCode.INVALID_REQUEST),
    (QueryRequest(QueryKind.NEAREST, reference="sofa", candidates=[]),
     ErrorCode.INVALID_REQUEST),
    (QueryRequest(QueryKind.AUTO, question="where is the lamp " + "x" * 1010),
     ErrorCode.INVALID_REQUEST),
    (QueryRequest(QueryKind.AUTO, question=""), ErrorCode.INVALID_REQUEST),
    (QueryRequest(42, target="sofa"), ErrorCode.INVALID_REQUEST),
    (QueryRequest(QueryKind.DISTANCE, target="sofa", reference="sofa"),
     ErrorCode.INVALID_REQUEST),
    (QueryRequest(QueryKind.LOCATE, target="unicorn"), ErrorCode.UNKNOWN_OBJECT),
    (QueryRequest(QueryKind.FREE, question="what is the meaning of life"),
     ErrorCode.NOT_UNDERSTOOD),
])
def test_bad_requests_get_specific_codes_and_messages(request_, code):
    a = _engine().answer(request_)
    assert not a.success and a.error_code == code and a.message


def test_empty_map_is_reported_for_object_questions():
    engine = QueryEngine([], robot_pose=RobotPose2D(0, 0, 0))
    for kind, fields in ((QueryKind.LOCATE, {"target": "sofa"}),
                         (QueryKind.COUNT, {"target": "sofa"}),
                         (QueryKind.TURN, {"target": "sofa"})):
        assert _ask(engine, kind, **fields).error_code == ErrorCode.EMPTY_MAP


def test_free_text_goes_through_the_reader():
    engine = _engine(robot_pose=RobotPose2D(0.0, 0.0, 0.0))
    a = engine.ask("How far is the couch from the TV?")
    assert a.success and a.value == pytest.approx(2.4)
    assert a.request.kind == QueryKind.DISTANCE and a.answered_by == "geometry"
    assert engine.ask("which way do I turn to face the fridge").choice == "left"


def test_the_documented_limits_are_the_srv_limits():
    srv = (Path(__file__).resolve().parents[2] / "srv" / "SpatialQuery.srv").read_text()
    line = next(t for t in srv.splitlines() if t.startswith("# Limits:"))
    assert [int(n) for n in re.findall(r"\d+", line)] == [
        query_types.MAX_NAME_CHARS, query_types.MAX_QUESTION_CHARS,
        query_types.MAX_CANDIDATES]


def _limit_cases():
    n, q, c = (query_types.MAX_NAME_CHARS, query_types.MAX_QUESTION_CHARS,
               query_types.MAX_CANDIDATES)
    # (field, value at the limit, value just over it)
    return [("target", "x" * n, "x" * (n + 1)), ("reference", "x" * n, "x" * (n + 1)),
            ("facing", "x" * n, "x" * (n + 1)), ("candidates", ["x"] * c, ["x"] * (c + 1)),
            ("candidates", ["x" * n], ["x" * (n + 1)]), ("question", "x" * q, "x" * (q + 1))]


@pytest.mark.parametrize("field_name, at_limit, over_limit", _limit_cases())
def test_every_limit_is_enforced_exactly_at_its_value(field_name, at_limit, over_limit):
    fields = {"target": "chair", field_name: at_limit}
    assert query_types.check_request(QueryRequest(QueryKind.COUNT, **fields)) == \
        QueryKind.COUNT
    bad = QueryRequest(QueryKind.COUNT, **{**fields, field_name: over_limit})
    with pytest.raises(query_types.QueryRequestError) as info:
        query_types.check_request(bad)
    assert info.value.field.startswith(field_name)
    answer = _engine().answer(bad)
    assert answer.error_code == ErrorCode.INVALID_REQUEST and "limit" in answer.message


@pytest.mark.parametrize("field_name, value", [
    ("kind", None), ("kind", 2.0), ("kind", True), ("kind", "5"), ("kind", float("inf")),
    ("target", None), ("target", b"sofa"), ("candidates", "sofa"), ("candidates", None),
    ("candidates", [1]), ("question", 3), ("use_centers", "yes"),
    ("direction_mode", "sideways"), ("length_unit", "ft"),
])
def test_fields_of_the_wrong_type_are_invalid_requests_naming_the_field(field_name, value):
    request = QueryRequest(QueryKind.COUNT, target="chair")
    setattr(request, field_name, value)
    answer = _engine().answer(request)
    assert answer.error_code == ErrorCode.INVALID_REQUEST
    assert field_name in answer.message
