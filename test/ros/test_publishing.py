"""The map publisher stamps headers with the node's clock (sim time under use_sim_time),
not wall time, and a map stamp wins over the clock."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros.msg is not built (run `make build`)")

from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from rclpy.time import Time  # noqa: E402
from rosutil import NAMESPACE  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from ssr_ros.core.cogmap import LocalCogMap  # noqa: E402
from ssr_ros.msg import SceneGraph  # noqa: E402
from ssr_ros.perception.pipeline import PipelineView  # noqa: E402
from ssr_ros.ros import topics  # noqa: E402
from ssr_ros.ros.publishing import MapPublisher  # noqa: E402
from ssr_ros.runtime.map_state import MapKeeper  # noqa: E402

SIM_NOW_NS = 42_250_000_000   # a /clock reading 42.25 s after the sim started


class _EmptyPipeline:
    """Stands in for MappingPipeline: an empty map."""

    def view(self) -> PipelineView:
        return PipelineView(objects=(), cogmap=LocalCogMap(), room=None,
                            path_m=np.zeros((0, 3)))


@pytest.fixture
def node():
    """A lifecycle node on sim time at 42.25 s, with a recorder of what it publishes."""
    import rclpy
    from rclpy.lifecycle import Node

    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = Node("publishing_test", namespace=NAMESPACE + "_pub", context=context,
                parameter_overrides=[Parameter("use_sim_time", value=True)])
    node.get_clock().set_ros_time_override(Time(nanoseconds=SIM_NOW_NS))
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


def _publisher(node, keeper: MapKeeper) -> tuple[MapPublisher, dict[str, list]]:
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

    sent: dict[str, list] = {"graph": [], "markers": []}
    publisher = MapPublisher(node, keeper, "map", 60.0, MutuallyExclusiveCallbackGroup())
    node.trigger_configure()
    node.trigger_activate()
    publisher.active = True
    # what a subscriber in this process receives is what was published: record it at
    # the publishers' topics without a DDS round trip
    node.create_subscription(SceneGraph, topics.SCENE_GRAPH, sent["graph"].append,
                             QoSProfile(depth=10))
    node.create_subscription(MarkerArray, topics.MARKERS, sent["markers"].append,
                             QoSProfile(depth=10))
    return publisher, sent


def _stamp_ns(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def _spin_until(node, predicate) -> bool:
    import time

    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + 10.0
    try:
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
            if predicate():
                return True
        return False
    finally:
        executor.remove_node(node)
        executor.shutdown()


def test_empty_map_is_stamped_with_the_node_clock(node) -> None:
    keeper = MapKeeper(_EmptyPipeline)
    publisher, sent = _publisher(node, keeper)
    publisher.publish(force=True)
    assert _spin_until(node, lambda: sent["graph"] and sent["markers"])
    assert _stamp_ns(sent["graph"][0].header) == SIM_NOW_NS
    assert {_stamp_ns(m.header) for m in sent["markers"][0].markers} == {SIM_NOW_NS}
    publisher.destroy()


def test_marker_reset_is_stamped_with_the_node_clock(node) -> None:
    publisher, sent = _publisher(node, MapKeeper(_EmptyPipeline))
    publisher.reset()
    assert _spin_until(node, lambda: sent["markers"])
    reset = sent["markers"][0]
    assert reset.markers[0].action == reset.markers[0].DELETEALL
    assert _stamp_ns(reset.markers[0].header) == SIM_NOW_NS
    publisher.destroy()


def test_a_map_stamp_wins_over_the_clock(node) -> None:
    keeper = MapKeeper(_EmptyPipeline, clock_s=lambda: 7.5)
    keeper.clear()  # a change of the map at 7.5 s (the keeper's clock)
    publisher, sent = _publisher(node, keeper)
    publisher.publish(force=True)
    assert _spin_until(node, lambda: sent["graph"])
    assert _stamp_ns(sent["graph"][0].header) == 7_500_000_000
    publisher.destroy()


def _path_poses(msg):
    return [(tuple(np.round([p.pose.position.x, p.pose.position.y, p.pose.position.z], 9)),
             (p.pose.orientation.x, p.pose.orientation.y, p.pose.orientation.z,
              p.pose.orientation.w), p.header.stamp.sec, p.header.stamp.nanosec,
             p.header.frame_id) for p in msg.poses]


def test_camera_path_that_grows_equals_one_built_afresh() -> None:
    from ssr_ros.ros.publishing import CameraPathBuilder

    rng = np.random.default_rng(2)
    positions = rng.uniform(-3.0, 3.0, (40, 3))
    positions[30] = positions[4]          # a keyframe back where an earlier one was
    growing = CameraPathBuilder("map")
    for n in range(1, len(positions) + 1):
        T = np.eye(4)
        T[:3, :3] = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        T[:3, :3] *= np.sign(np.linalg.det(T[:3, :3]))
        T[:3, 3] = positions[n - 1]
        growing.note(T, float(n))
        if n % 7 and n != len(positions):
            continue
        fresh = CameraPathBuilder("map")
        fresh._noted = growing._noted.copy()
        got = growing.message(positions[:n], float(n))
        if n > 30:
            # the revisited pose keeps what was built for it first, as before
            assert _path_poses(got)[30][1:] == _path_poses(got)[4][1:]
        else:
            assert _path_poses(got) == _path_poses(fresh.message(positions[:n], float(n)))
        assert len(got.poses) == n
    # a path that is not the last one grown (a loaded or cleared map) is built again
    other = positions[::-1].copy()
    assert _path_poses(growing.message(other, 1.0))[::-1][:30] == \
        _path_poses(growing.message(positions, 1.0))[:30]
