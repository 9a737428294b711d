"""The map publisher sends only what changed: no message while the map stands still,
late joiners still get the latest graph (transient local), marker updates carry only the
changed objects, and cogmap/detections_3d and cogmap/camera_path round-trip the map."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros.msg is not built (run `make build`)")

from nav_msgs.msg import Path  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from rosutil import NAMESPACE  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from ssr_ros.core.cogmap import LocalCogMap  # noqa: E402
from ssr_ros.core.frames import PosedFrame  # noqa: E402
from ssr_ros.core.geometry import make_pose, rotation_about_z  # noqa: E402
from ssr_ros.core.types import ObjectState  # noqa: E402
from ssr_ros.msg import SceneGraph  # noqa: E402
from ssr_ros.perception.pipeline import PipelineView  # noqa: E402
from ssr_ros.ros import messages, topics  # noqa: E402
from ssr_ros.ros.inputs import LATCHED_QOS  # noqa: E402
from ssr_ros.ros.markers import NS_LABELS, NS_OBJECTS, NS_PATH  # noqa: E402
from ssr_ros.ros.publishing import MapPublisher  # noqa: E402
from ssr_ros.runtime.map_state import MapKeeper  # noqa: E402

PERIOD_S = 0.05  # the timer that asks for a complete marker array after increments


class _Pipeline:
    """Stands in for MappingPipeline: every frame is a keyframe, the view is what the
    test set."""

    def __init__(self) -> None:
        self.objects: list[ObjectState] = []
        self.path_m = np.zeros((0, 3))

    def process(self, frame) -> object:
        return object()

    def view(self) -> PipelineView:
        return PipelineView(objects=tuple(sorted(self.objects, key=lambda o: o.id)),
                            cogmap=LocalCogMap(), room=None, path_m=self.path_m.copy())


def _obj(obj_id: int, x: float, label: str = "chair", yaw: float = 0.0,
         count: int = 3) -> ObjectState:
    return ObjectState(id=obj_id, label=label, center_m=[x, 1.0, 0.45],
                       size_m=[0.5, 0.6, 0.9], yaw_rad=yaw, score=0.75,
                       observation_count=count, first_seen_s=1.0, last_seen_s=2.5)


def _frame(stamp_s: float) -> SimpleNamespace:
    return SimpleNamespace(stamp_s=stamp_s)


@pytest.fixture
def node():
    import rclpy
    from rclpy.lifecycle import Node

    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = Node("publish_on_change", namespace=NAMESPACE + "_poc", context=context)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


class _Rig:
    """A MapKeeper over a :class:`_Pipeline`, its MapPublisher (active) on ``node``, and
    recorders of what arrives on each topic."""

    def __init__(self, node) -> None:
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
        from rclpy.executors import SingleThreadedExecutor

        self.node = node
        self.pipe = _Pipeline()
        self.keeper = MapKeeper(lambda: self.pipe)
        self.publisher = MapPublisher(node, self.keeper, "map", PERIOD_S,
                                      MutuallyExclusiveCallbackGroup())
        node.trigger_configure()
        node.trigger_activate()
        self.publisher.active = True
        self.got: dict[str, list] = {"graph": [], "markers": [], "path": []}
        self.subscribe(self.got)
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)

    def subscribe(self, into: dict[str, list], qos: QoSProfile | None = None) -> None:
        qos = qos or QoSProfile(depth=100)
        self.node.create_subscription(SceneGraph, topics.SCENE_GRAPH, into["graph"].append,
                                      qos)
        self.node.create_subscription(MarkerArray, topics.MARKERS, into["markers"].append,
                                      qos)
        self.node.create_subscription(Path, topics.CAMERA_PATH, into["path"].append, qos)

    def map_keyframe(self, stamp_s: float) -> None:
        """What the frame worker does for a keyframe: process, then ask to publish."""
        self.keeper.process(_frame(stamp_s))
        self.publisher.publish(force=False)
        assert self.publisher.wait_idle()

    def spin_until(self, predicate, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)
            if predicate():
                return True
        return False

    def spin_for(self, duration_s: float) -> None:
        """Spin the executor (timers included) for ``duration_s``: for asserting that
        nothing is sent, where there is no event to wait for."""
        self.spin_until(lambda: False, duration_s)

    def close(self) -> None:
        self.publisher.destroy()
        self.executor.shutdown()


@pytest.fixture
def rig(node):
    rig = _Rig(node)
    yield rig
    rig.close()


def _object_ids(array: MarkerArray, action: int = Marker.ADD) -> set[tuple[str, int]]:
    return {(m.ns, m.id) for m in array.markers
            if m.action == action and m.ns in (NS_OBJECTS, NS_LABELS)}


def test_no_message_when_nothing_changed(rig) -> None:
    rig.pipe.objects = [_obj(1, 0.0), _obj(2, 1.0)]
    rig.map_keyframe(1.0)
    assert rig.spin_until(lambda: rig.got["graph"] and rig.got["markers"])
    assert rig.publisher.sent["graph"] == 1
    # the timer's one complete marker array for late joiners, then silence
    assert rig.spin_until(lambda: rig.publisher.sent["markers"] == 2)
    before = dict(rig.publisher.sent)
    for stamp in (2.0, 3.0, 4.0):  # keyframes that change nothing
        rig.map_keyframe(stamp)
    rig.spin_for(10 * PERIOD_S)
    assert rig.publisher.wait_idle()
    assert rig.publisher.sent == before
    assert len(rig.got["graph"]) == 1 and len(rig.got["markers"]) == 2
    # a change is published again
    rig.pipe.objects = [_obj(1, 0.0), _obj(2, 1.5)]
    rig.map_keyframe(5.0)
    assert rig.spin_until(lambda: len(rig.got["graph"]) == 2)
    assert rig.got["graph"][-1].objects[1].position.x == pytest.approx(1.5)


def test_late_joiner_gets_the_latest_graph(rig) -> None:
    rig.pipe.objects = [_obj(1, 0.0)]
    rig.map_keyframe(1.0)
    rig.pipe.objects = [_obj(1, 0.0), _obj(2, 2.0)]
    rig.map_keyframe(2.0)
    revision = rig.keeper.snapshot.revision
    assert rig.spin_until(lambda: rig.got["graph"]
                          and rig.got["graph"][-1].revision == revision)
    # the complete marker array replaced the increments as the latched one
    assert rig.spin_until(lambda: rig.publisher.sent["markers"] == 3)
    late: dict[str, list] = {"graph": [], "markers": [], "path": []}
    rig.subscribe(late, LATCHED_QOS)
    assert rig.spin_until(lambda: late["graph"] and late["markers"])
    assert len(late["graph"]) == 1 and late["graph"][0].revision == revision
    assert [o.id for o in late["graph"][0].objects] == [1, 2]
    assert _object_ids(late["markers"][-1]) == {(ns, i) for ns in (NS_OBJECTS, NS_LABELS)
                                                for i in (1, 2)}


def test_marker_updates_carry_only_changed_objects(rig) -> None:
    rig.pipe.objects = [_obj(i, float(i)) for i in range(1, 6)]
    rig.map_keyframe(1.0)
    assert rig.spin_until(lambda: rig.got["markers"])
    assert _object_ids(rig.got["markers"][0]) == {(ns, i) for ns in (NS_OBJECTS, NS_LABELS)
                                                  for i in range(1, 6)}
    n = len(rig.got["markers"])
    # object 3 moves, object 5 leaves, 1, 2 and 4 are the same state objects
    objects = list(rig.pipe.objects)
    objects[2] = _obj(3, 3.25, count=4)
    rig.pipe.objects = objects[:4]
    rig.map_keyframe(2.0)
    assert rig.spin_until(lambda: any(
        _object_ids(a, Marker.DELETE) for a in rig.got["markers"][n:]))
    update = next(a for a in rig.got["markers"][n:] if _object_ids(a, Marker.DELETE))
    assert _object_ids(update) == {(NS_OBJECTS, 3), (NS_LABELS, 3)}
    assert _object_ids(update, Marker.DELETE) == {(NS_OBJECTS, 5), (NS_LABELS, 5)}
    box = next(m for m in update.markers if (m.ns, m.id) == (NS_OBJECTS, 3))
    assert box.pose.position.x == pytest.approx(3.25)
    # then the complete state, from the cache
    assert rig.spin_until(lambda: len(rig.got["markers"]) >= n + 2)
    full = rig.got["markers"][n + 1]
    assert _object_ids(full) == {(ns, i) for ns in (NS_OBJECTS, NS_LABELS)
                                 for i in (1, 2, 3, 4)}


def test_camera_path_round_trips_the_keyframe_poses(rig) -> None:
    poses = [make_pose(rotation_about_z(0.3 * k), np.array([0.5 * k, 0.1, 1.2]))
             for k in range(3)]
    rig.pipe.objects = [_obj(1, 0.0)]
    for k, T in enumerate(poses):
        rig.publisher.note_keyframe(PosedFrame(np.zeros((2, 2, 3), np.uint8),
                                               np.zeros((2, 2), np.float32), np.eye(3), T,
                                               10.0 + k))
        rig.pipe.path_m = np.array([P[:3, 3] for P in poses[:k + 1]])
        rig.map_keyframe(10.0 + k)
    assert rig.spin_until(lambda: rig.got["path"] and len(rig.got["path"][-1].poses) == 3)
    path = rig.got["path"][-1]
    assert path.header.frame_id == "map"
    np.testing.assert_allclose(
        [[p.pose.position.x, p.pose.position.y, p.pose.position.z] for p in path.poses],
        rig.keeper.snapshot.path_m)
    for pose, T, k in zip(path.poses, poses, range(3)):
        q = pose.pose.orientation
        yaw = 2.0 * math.atan2(q.z, q.w)
        assert yaw == pytest.approx(0.3 * k) and q.x == q.y == 0.0
        assert pose.header.stamp.sec == 10 + k
    # the path marker follows; a keyframe that does not move the path sends no path
    sent = rig.publisher.sent["path"]
    rig.map_keyframe(20.0)
    assert rig.publisher.sent["path"] == sent
    assert any(m.ns == NS_PATH for a in rig.got["markers"] for m in a.markers)


def test_detections_3d_round_trip_the_scene_graph(rig) -> None:
    if not rig.publisher.publishes_detections:
        pytest.skip("vision_msgs is not importable (built by issue 14's interfaces/"
                    "vision_msgs; install it or source a ROS distribution)")
    from vision_msgs.msg import Detection3DArray

    got: list = []
    rig.node.create_subscription(Detection3DArray, topics.DETECTIONS_3D, got.append,
                                 LATCHED_QOS)
    rig.pipe.objects = [_obj(4, 1.0, "table", yaw=0.5), _obj(9, -2.0, "lamp", yaw=-1.0)]
    rig.map_keyframe(3.0)
    assert rig.spin_until(lambda: got and rig.got["graph"])
    graph, detections = rig.got["graph"][-1], got[-1]
    assert detections.header.frame_id == "map"
    assert len(detections.detections) == len(graph.objects) == 2
    for det, obj in zip(detections.detections, graph.objects):
        assert det.id == str(obj.id)
        assert det.results[0].hypothesis.class_id == obj.label
        assert det.results[0].hypothesis.score == pytest.approx(obj.score)
        c = det.bbox.center
        assert (c.position.x, c.position.y, c.position.z) == pytest.approx(
            (obj.position.x, obj.position.y, obj.position.z))
        assert 2.0 * math.atan2(c.orientation.z, c.orientation.w) == pytest.approx(obj.yaw)
        assert (det.bbox.size.x, det.bbox.size.y, det.bbox.size.z) == pytest.approx(
            (obj.size.x, obj.size.y, obj.size.z))
        assert det.results[0].pose.pose.position.x == pytest.approx(obj.position.x)


def test_message_cache_rebuilds_only_changed_objects() -> None:
    cache = messages.ObjectMessageCache(messages.object_to_msg)
    objects = [_obj(i, float(i)) for i in range(100)]
    first = cache.messages(objects)
    assert cache.built == 100
    objects[7] = _obj(7, 7.5)
    second = cache.messages(objects)
    assert cache.built == 1
    assert second[7].position.x == pytest.approx(7.5)
    assert all(a is b for i, (a, b) in enumerate(zip(first, second)) if i != 7)
    assert cache.messages(objects[:50]) and cache.built == 0


def test_path_message_checks_its_lengths() -> None:
    with pytest.raises(ValueError, match="2 positions, 1 orientations"):
        messages.path_msg(np.zeros((2, 3)), np.zeros((1, 4)), np.zeros(2), 0.0, "map")


def test_answers_share_object_messages_until_the_object_changes() -> None:
    from ssr_ros.core.query_types import ErrorCode, QueryAnswer
    from ssr_ros.srv import SpatialQuery

    objects = {i: _obj(i, float(i)) for i in (1, 2, 3)}
    answer = QueryAnswer(True, ErrorCode.NONE, "three chairs", object_ids=[3, 1, 2])
    first = messages.fill_response(SpatialQuery.Response(), answer, objects)
    second = messages.fill_response(SpatialQuery.Response(), answer, objects)
    assert [o.id for o in second.objects] == [3, 1, 2]
    assert all(a is b for a, b in zip(first.objects, second.objects))
    objects[1] = _obj(1, 4.5, count=5)
    third = messages.fill_response(SpatialQuery.Response(), answer, objects)
    assert third.objects[1].position.x == pytest.approx(4.5)
    assert third.objects[1].observation_count == 5 and third.objects[0] is first.objects[0]


def test_a_large_first_publish_freezes_its_messages_for_the_collector(rig) -> None:
    import gc

    from ssr_ros.ros.publishing import FREEZE_AFTER_BUILT

    gc.unfreeze()
    try:
        rig.pipe.objects = [_obj(i, 0.01 * i) for i in range(1, FREEZE_AFTER_BUILT + 1)]
        rig.map_keyframe(1.0)
        assert gc.get_freeze_count() > FREEZE_AFTER_BUILT
        gc.unfreeze()
        # a keyframe that changes one object builds one message: nothing is frozen
        objects = list(rig.pipe.objects)
        objects[0] = _obj(1, 9.0, count=7)
        rig.pipe.objects = objects
        rig.map_keyframe(2.0)
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
