"""Names that match many objects (a building floor): capped, nearest-first listings with
the total, and choosing one object by its id."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from ssr_ros.core.query_types import MAX_LISTED_OBJECTS
from ssr_ros.core.queries import ErrorCode, QueryEngine, QueryKind, QueryRequest
from ssr_ros.core.types import ObjectState, RobotPose2D

N_CHAIRS = 30


def _floor() -> list[ObjectState]:
    """30 chairs scattered over 40 m x 40 m, a sofa and a lamp; ids in a shuffled order
    of position, so id order and distance order differ."""
    rng = np.random.default_rng(7)
    xy = rng.uniform(0.0, 40.0, (N_CHAIRS, 2))
    ids = rng.permutation(np.arange(10, 10 + N_CHAIRS)).tolist()
    chairs = [ObjectState(i, "chair", [x, y, 0.45], [0.5, 0.5, 0.9])
              for i, (x, y) in zip(ids, xy)]
    return sorted(chairs + [ObjectState(1, "sofa", [5.0, 5.0, 0.4], [2.0, 0.9, 0.8]),
                            ObjectState(2, "lamp", [8.0, 5.0, 0.8], [0.4, 0.4, 1.6])],
                  key=lambda o: o.id)


POSE = RobotPose2D(12.0, 30.0, 0.5)


def _by_distance(objects, pose) -> list[int]:
    chairs = [o for o in objects if o.label == "chair"]
    return [o.id for o in sorted(chairs, key=lambda o: (math.hypot(o.center_m[0] - pose.x,
                                                                 o.center_m[1] - pose.y),
                                                      o.id))]


def _ask(engine, kind, **fields):
    return engine.answer(QueryRequest(kind, **fields))


def test_an_ambiguous_name_lists_the_nearest_candidates_with_the_total_and_a_hint():
    objects = _floor()
    answer = _ask(QueryEngine(objects, robot_pose=POSE), QueryKind.LOCATE, target="chairs")
    assert answer.error_code == ErrorCode.AMBIGUOUS_NAME and not answer.success
    nearest = _by_distance(objects, POSE)[:MAX_LISTED_OBJECTS]
    assert answer.object_ids == nearest
    assert f"there are {N_CHAIRS} objects matching 'chairs'" in answer.message
    assert f"({MAX_LISTED_OBJECTS} of {N_CHAIRS} listed, nearest to you first)" in \
        answer.message
    assert f"'chairs #{nearest[0]}'" in answer.message
    listed = [int(i) for i in re.findall(r"chair #(\d+) at", answer.message)]
    assert listed == nearest
    assert "m from you)" in answer.message


def test_without_a_pose_the_first_candidates_by_id_are_listed():
    objects = _floor()
    answer = _ask(QueryEngine(objects), QueryKind.DISTANCE, target="chair", reference="sofa")
    chairs = [o.id for o in objects if o.label == "chair"]
    assert answer.error_code == ErrorCode.AMBIGUOUS_NAME
    assert answer.object_ids == chairs[:MAX_LISTED_OBJECTS]
    assert "by id" in answer.message and "from you" not in answer.message


def test_a_count_gives_the_total_and_lists_the_nearest():
    objects = _floor()
    answer = _ask(QueryEngine(objects, robot_pose=POSE), QueryKind.COUNT, target="chair")
    assert answer.success and answer.value == N_CHAIRS and answer.unit == "count"
    assert answer.object_ids == _by_distance(objects, POSE)[:MAX_LISTED_OBJECTS]
    assert f"I see {N_CHAIRS} objects" in answer.message and "Listed: 8 of them" in \
        answer.message
    few = _ask(QueryEngine(objects), QueryKind.COUNT, target="lamp")
    assert few.object_ids == [2] and "Listed" not in few.message
    none = _ask(QueryEngine(objects, robot_pose=POSE, vocabulary=["bed"]), QueryKind.COUNT,
                target="bed")
    assert none.success and none.value == 0 and none.object_ids == []


def test_asking_again_with_a_listed_id_answers_for_that_object():
    engine = QueryEngine(_floor(), robot_pose=POSE)
    ambiguous = _ask(engine, QueryKind.LOCATE, target="chair")
    for chosen in ambiguous.object_ids[:3]:
        located = _ask(engine, QueryKind.LOCATE, target=f"the chair #{chosen}")
        assert located.success and located.object_ids == [chosen]
        assert f"#{chosen}" in located.message
    bare = _ask(engine, QueryKind.DISTANCE, target=f"#{ambiguous.object_ids[0]}",
                reference="sofa")
    assert bare.success and bare.object_ids == [ambiguous.object_ids[0], 1]
    # a synonym with the id fits the object's label
    couch = _ask(engine, QueryKind.SIZE, target="couch # 1")
    assert couch.success and couch.object_ids == [1]


@pytest.mark.parametrize("target, detail", [
    ("sofa #2", "#2 is a lamp"),        # the id exists, the name does not fit it
    ("chair #9999", "in the map"),      # no such id
    ("#0", "in the map"),
])
def test_an_id_that_does_not_fit_is_an_unknown_object(target, detail):
    answer = _ask(QueryEngine(_floor()), QueryKind.LOCATE, target=target)
    assert answer.error_code == ErrorCode.UNKNOWN_OBJECT and detail in answer.message


def test_an_id_reference_counts_one_and_a_hash_inside_a_name_is_just_a_name():
    engine = QueryEngine(_floor())
    assert _ask(engine, QueryKind.COUNT, target="chair #10").value == 1
    odd = _ask(engine, QueryKind.LOCATE, target="chair #1 please")
    assert odd.error_code in (ErrorCode.UNKNOWN_OBJECT, ErrorCode.AMBIGUOUS_NAME)


def test_the_srv_documents_the_same_listing_limit():
    srv = (Path(__file__).resolve().parents[2] / "srv" / "SpatialQuery.srv").read_text()
    assert [int(n) for n in re.findall(r"at most (\d+)(?: are listed| candidates)", srv)] == \
        [MAX_LISTED_OBJECTS] * 2
