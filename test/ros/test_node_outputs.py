"""A real ssr_node (in this process) publishes cogmap/camera_path and
cogmap/detections_3d as the map changes, and they agree with its scene graph and its
map keeper: the path's poses are the keyframes' (position and orientation), the
detections are the graph's objects."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")

from nav_msgs.msg import Path  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosutil import HEIGHT, NAMESPACE, WIDTH, camera_pose, valid_set  # noqa: E402

from ssr_ros.msg import SceneGraph  # noqa: E402
from ssr_ros.ros import topics  # noqa: E402
from ssr_ros.ros.inputs import LATCHED_QOS, FrameSet  # noqa: E402
from ssr_ros.ros.messages import vision_msgs_available  # noqa: E402
from ssr_ros.ros.node import SsrNode  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS
# a 2 s gap between frames: every frame is a keyframe (keyframe_max_interval_s 2.0)
STAMPS_S = (50.0, 52.5, 55.0)


@pytest.fixture
def node():
    import rclpy

    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = SsrNode(context=context, namespace=NAMESPACE + "_outputs",
                   parameter_overrides=[Parameter("pose_source", value="camera_pose"),
                                        Parameter("map_path", value=""),
                                        Parameter("pose_timeout_s", value=0.0),
                                        Parameter("label_names", value=["1:cabinet"])])
    assert node.trigger_configure() == SUCCESS
    assert node.trigger_activate() == SUCCESS
    assert node.worker.stop(20.0)  # frames are mapped by the test (work_once)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


def _map_frames(node: SsrNode) -> None:
    ids = np.zeros((HEIGHT, WIDTH), np.uint16)
    ids[60:180, 100:220] = 1
    for k, stamp_s in enumerate(STAMPS_S):
        for dt in (-0.05, 0.0, 0.05):
            node.parts.pose_source.add_camera_pose(camera_pose(stamp_s + dt, 100.0 + 0.1 * k))
        node.slot.put(FrameSet(time.monotonic(), *valid_set(stamp_s, ids)))
        node.work_once()
    assert node.stats.keyframes == len(STAMPS_S)


def test_camera_path_and_detections_agree_with_the_map(node) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    _map_frames(node)
    assert node.parts.publisher.wait_idle()
    snap = node.parts.keeper.snapshot
    listener = rclpy.create_node("outputs_listener", namespace=NAMESPACE + "_outputs",
                                 context=node.context)
    got: dict[str, list] = {"graph": [], "path": [], "detections": []}
    listener.create_subscription(SceneGraph, topics.SCENE_GRAPH, got["graph"].append,
                                 LATCHED_QOS)
    listener.create_subscription(Path, topics.CAMERA_PATH, got["path"].append, LATCHED_QOS)
    if vision_msgs_available():
        from vision_msgs.msg import Detection3DArray

        listener.create_subscription(Detection3DArray, topics.DETECTIONS_3D,
                                     got["detections"].append, LATCHED_QOS)
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(listener)
    deadline = time.monotonic() + 15.0
    want = ("graph", "path", "detections") if vision_msgs_available() else ("graph", "path")
    try:
        while time.monotonic() < deadline and not all(got[k] for k in want):
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.shutdown()
    assert all(got[k] for k in want), {k: len(v) for k, v in got.items()}
    path = got["path"][-1]
    assert path.header.frame_id == "map"
    positions = [[p.pose.position.x, p.pose.position.y, p.pose.position.z]
                 for p in path.poses]
    np.testing.assert_allclose(positions, snap.path_m)
    assert len(path.poses) == len(STAMPS_S)
    expected_q = camera_pose(0.0).pose.orientation
    for pose, stamp_s in zip(path.poses, STAMPS_S):
        q = pose.pose.orientation
        assert abs(q.x * expected_q.x + q.y * expected_q.y + q.z * expected_q.z
                   + q.w * expected_q.w) == pytest.approx(1.0, abs=1e-6)
        assert pose.header.stamp.sec + 1e-9 * pose.header.stamp.nanosec == \
            pytest.approx(stamp_s)
    graph = got["graph"][-1]
    assert graph.revision == snap.revision
    if not vision_msgs_available():
        pytest.skip("vision_msgs is not importable: cogmap/detections_3d is not published")
    detections = got["detections"][-1]
    assert graph.objects, "the crafted cabinet was not mapped"
    assert [d.id for d in detections.detections] == [str(o.id) for o in graph.objects]
    assert [d.results[0].hypothesis.class_id for d in detections.detections] == \
        [o.label for o in graph.objects]
    listener.destroy_node()
