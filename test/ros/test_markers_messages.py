"""Markers (stable ids, DELETE of removed objects) and core <-> message conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from visualization_msgs.msg import Marker

from ssr_ros.core.triplets import Triplet
from ssr_ros.core.types import ObjectState
from ssr_ros.runtime.errors import InvalidMessage
from ssr_ros.ros.markers import NS_LABELS, NS_OBJECTS, NS_PATH, NS_TRIPLETS, MarkerBuilder

messages = pytest.importorskip("ssr_ros.ros.messages",
                               reason="ssr_ros.msg is not built (run `make build`)")
from ssr_ros.srv import SpatialQuery  # noqa: E402


def _obj(obj_id: int, label: str, x: float, yaw: float = 0.0) -> ObjectState:
    return ObjectState(id=obj_id, label=label, center_m=[x, 1.0, 0.4], size_m=[2.0, 0.9, 0.8],
                       yaw_rad=yaw, score=0.9, observation_count=4, first_seen_s=10.5,
                       last_seen_s=12.25, first_seen_order=2)


def _triplet(target: int, a: int, b: int) -> Triplet:
    return Triplet(target=target, anchor_a=a, anchor_b=b, local_xy_m=(0.5, -0.25),
                   cell=(6, 3), cell_size_m=0.4, cell_a=(2, 2), cell_b=(8, 2))


def _by_key(array) -> dict:
    return {(m.ns, m.id): m for m in array.markers}


def test_boxes_are_sized_oriented_and_labelled() -> None:
    builder = MarkerBuilder("map")
    out = _by_key(builder.build([_obj(3, "sofa", 2.0, yaw=math.pi / 2)], [], None, 5.0))
    box = out[(NS_OBJECTS, 3)]
    assert box.type == Marker.CUBE and box.header.frame_id == "map"
    assert (box.scale.x, box.scale.y, box.scale.z) == pytest.approx((2.0, 0.9, 0.8))
    assert box.pose.orientation.z == pytest.approx(math.sin(math.pi / 4))
    assert box.pose.position.x == pytest.approx(2.0)
    label = out[(NS_LABELS, 3)]
    assert label.text == "[3] sofa" and label.pose.position.z > 0.8


def test_triplet_edges_and_path() -> None:
    objs = [_obj(1, "sofa", 0.0), _obj(2, "tv", 3.0), _obj(3, "lamp", 1.5)]
    path = np.array([[0.0, 0.0, 1.0], [0.5, 0.0, 1.0], [1.0, 0.2, 1.0]])
    out = _by_key(MarkerBuilder().build(objs, [_triplet(3, 1, 2)], path, 1.0))
    edges = out[(NS_TRIPLETS, 0)]
    assert edges.type == Marker.LINE_LIST
    pairs = [(edges.points[i].x, edges.points[i + 1].x) for i in range(0, len(edges.points), 2)]
    assert sorted(pairs) == [(0.0, 1.5), (3.0, 1.5)]
    assert len(out[(NS_PATH, 0)].points) == 3


def test_removed_objects_get_delete_and_ids_stay_stable() -> None:
    builder = MarkerBuilder()
    builder.build([_obj(1, "sofa", 0.0), _obj(2, "tv", 3.0)], [], None, 1.0)
    second = builder.build([_obj(2, "tv", 3.1)], [], None, 2.0)
    deletes = {(m.ns, m.id) for m in second.markers if m.action == Marker.DELETE}
    assert deletes == {(NS_OBJECTS, 1), (NS_LABELS, 1)}
    kept = _by_key(second)[(NS_OBJECTS, 2)]
    assert kept.action == Marker.ADD and kept.pose.position.x == pytest.approx(3.1)
    third = builder.build([_obj(2, "tv", 3.1)], [], None, 3.0)
    assert not [m for m in third.markers if m.action == Marker.DELETE]


def test_object_message_round_trip() -> None:
    obj = _obj(7, "dining table", 1.25, yaw=-0.5)
    msg = messages.object_to_msg(obj)
    assert msg.first_seen.sec == 10 and msg.first_seen.nanosec == 500_000_000
    back = messages.msg_to_object(msg, first_seen_order=2)
    assert back.label == "dining table" and back.id == 7
    np.testing.assert_allclose(back.center_m, obj.center_m)
    assert back.yaw_rad == pytest.approx(-0.5, abs=1e-6)
    assert back.last_seen_s == pytest.approx(12.25)


def test_scene_graph_orders_objects_and_keeps_chain_order() -> None:
    graph = messages.scene_graph_msg([_obj(2, "tv", 3.0), _obj(1, "sofa", 0.0)],
                                     [_triplet(3, 1, 2)], revision=4, stamp_s=8.0,
                                     frame_id="map")
    assert [o.id for o in graph.objects] == [1, 2]
    t = graph.triplets[0]
    assert (t.anchor_a, t.anchor_b, t.target, t.cell_col, t.cell_row) == (1, 2, 3, 6, 3)
    assert graph.revision == 4 and graph.header.frame_id == "map"


def test_request_limits_are_enforced() -> None:
    ok = messages.request_fields(SpatialQuery.Request(kind=2, target=" sofa ", reference="tv"))
    assert ok["target"] == "sofa" and ok["kind"] == 2
    for request in (SpatialQuery.Request(target="x" * 129),
                    SpatialQuery.Request(question="q" * 1025),
                    SpatialQuery.Request(candidates=["a"] * 17)):
        with pytest.raises(InvalidMessage, match="request_too_long"):
            messages.request_fields(request)


def test_path_marker_of_a_growing_path_equals_one_built_afresh(monkeypatch) -> None:
    # past the cap the oldest rows leave; a revisited position is in the path twice
    from ssr_ros.ros import markers

    monkeypatch.setattr(markers, "MAX_PATH_POINTS", 12)
    rng = np.random.default_rng(4)
    rows = rng.uniform(-3.0, 3.0, (40, 3))
    rows[20] = rows[14]
    rows[21] = rows[15]
    growing = markers.MarkerBuilder("map")
    for n in range(1, len(rows) + 1):
        path = rows[:n]
        got = [m for m in growing.update([], [], path, float(n)).markers
               if m.ns == markers.NS_PATH]
        fresh = [m for m in markers.MarkerBuilder("map").update([], [], path, float(n)).markers
                 if m.ns == markers.NS_PATH]
        assert len(got) == 1 and got[0].points == fresh[0].points
        assert len(got[0].points) == min(n, 12)
    shuffled = rows[rng.permutation(len(rows))]
    got = [m for m in growing.update([], [], shuffled, 99.0).markers if m.ns == markers.NS_PATH]
    assert [(p.x, p.y, p.z) for p in got[0].points] == [tuple(r) for r in shuffled[-12:]]
