"""Issue 14, /tf stamps in the in-package TF path: a transform on /tf stamped zero or more
than ``max_future_s`` ahead is refused with its own reason and never reaches the buffer,
so lookups at real stamps keep working (without the check such a transform restarts or
prunes the link's history); /tf_static is not checked. Unit tests on
``add_tf_message`` and, in this process, the node's ``pose_source: tf`` over DDS."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")

from geometry_msgs.msg import TransformStamped  # noqa: E402
from rosutil import FRAME_ID, NAMESPACE, valid_set  # noqa: E402

from ssr_ros.ros.conversions import matrix_to_pose, s_to_stamp  # noqa: E402
from ssr_ros.ros.inputs import FrameSet  # noqa: E402
from ssr_ros.ros.pose_source import add_tf_message, tf_messages_available  # noqa: E402
from ssr_ros.runtime.errors import InvalidMessage  # noqa: E402
from ssr_ros.runtime.stamp_guard import StampGuard  # noqa: E402
from ssr_ros.runtime.tf_buffer import TfBuffer, TfError  # noqa: E402

T0_S = 1_700_000_000.0  # a wall-clock stamp: far from zero


def _tf(parent: str, child: str, stamp_s: float, x_m: float) -> TransformStamped:
    """``parent <- child`` at ``stamp_s``: a translation of ``x_m`` along x."""
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = parent, child
    msg.header.stamp = s_to_stamp(stamp_s)
    T = np.eye(4)
    T[0, 3] = x_m
    pose = matrix_to_pose(T)
    msg.transform.translation.x = pose.position.x
    msg.transform.rotation = pose.orientation
    return msg


def _message(*transforms: TransformStamped) -> SimpleNamespace:
    return SimpleNamespace(transforms=list(transforms))


def _feed(buffer: TfBuffer, guard: StampGuard | None, refused: list) -> None:
    """Real samples of map <- odom 0.1 s apart, a bad one between them (stamp zero, then
    an hour ahead), then real samples again."""
    for i, stamp_s in enumerate([T0_S, T0_S + 0.1, 0.0, T0_S + 0.2, T0_S + 3600.0,
                                 T0_S + 0.3]):
        add_tf_message(buffer, _message(_tf("map", "odom", stamp_s, 1.0 + 0.1 * i)),
                       static=False, stamp_guard=guard, on_refused=refused.append)


def test_zero_and_far_future_tf_stamps_are_refused_and_do_not_poison_lookups() -> None:
    buffer, refused = TfBuffer(), []
    _feed(buffer, StampGuard(max_future_s=10.0), refused)
    assert [r.reason for r in refused] == ["tf_stamp_zero", "tf_stamp_future"]
    assert all(isinstance(r, InvalidMessage) for r in refused)
    assert buffer.resets == 0
    # every real sample is there: lookups between the first and the last
    for stamp_s, x_m in ((T0_S + 0.05, 1.05), (T0_S + 0.15, 1.2), (T0_S + 0.25, 1.4)):
        assert buffer.lookup("map", "odom", stamp_s)[0, 3] == pytest.approx(x_m)


def test_without_the_check_the_same_stream_breaks_lookups() -> None:
    """What the check prevents (and that the stream above really is poisonous)."""
    buffer, refused = TfBuffer(), []
    _feed(buffer, None, refused)
    assert refused == []
    with pytest.raises(TfError):
        buffer.lookup("map", "odom", T0_S + 0.05)


def test_static_transforms_are_not_stamp_checked() -> None:
    buffer, refused = TfBuffer(), []
    guard = StampGuard(max_future_s=10.0)
    add_tf_message(buffer, _message(_tf("base_link", "camera", 0.0, 0.2)), static=True,
                   stamp_guard=guard, on_refused=refused.append)
    assert refused == []
    assert buffer.lookup("base_link", "camera", T0_S)[0, 3] == pytest.approx(0.2)


def test_a_malformed_transform_keeps_its_reason() -> None:
    buffer, refused = TfBuffer(), []
    bad = _tf("map", "map", T0_S, 0.0)  # a frame cannot be its own parent
    count = add_tf_message(buffer, _message(bad, _tf("map", "odom", T0_S, 1.0)),
                           static=False, stamp_guard=StampGuard(10.0),
                           on_refused=refused.append)
    assert count == 1 and [r.reason for r in refused] == ["tf"]
    assert buffer.frames() == ["map", "odom"]


def test_the_node_counts_bad_tf_stamps_and_maps_later_frames(context) -> None:
    pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built")
    if not tf_messages_available():
        pytest.skip("tf2_msgs interfaces are not built")
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    from ssr_ros.ros.node import SsrNode
    from ssr_ros.ros.pose_source import BufferTfPoseSource

    ns = NAMESPACE + "_tf_stamps"
    node = SsrNode(context=context, namespace=ns, parameter_overrides=[
        Parameter("pose_source", value="tf"), Parameter("map_path", value=""),
        Parameter("max_future_s", value=10.0)])
    sender = rclpy.create_node("tf_sender", namespace=ns, context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, \
            node.last_failure
        source = node.parts.pose_source
        if not isinstance(source, BufferTfPoseSource):
            pytest.skip("tf2_ros is installed: the node uses it, not the in-package buffer")
        executor.add_node(node)
        executor.add_node(sender)
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        pub = sender.create_publisher(TFMessage, "/tf", qos)
        deadline = time.monotonic() + 10.0
        while pub.get_subscription_count() < 1 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        now_s = sender.get_clock().now().nanoseconds * 1e-9
        for stamp_s, x_m in ((now_s, 1.0), (0.0, 9.0), (now_s + 0.1, 1.1),
                             (now_s + 3600.0, 9.0), (now_s + 0.2, 1.2)):
            pub.publish(TFMessage(transforms=[_tf("map", FRAME_ID, stamp_s, x_m)]))
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not source.buffer.can_transform(
                "map", FRAME_ID, now_s + 0.2):
            executor.spin_once(timeout_sec=0.05)
        assert node.stats.invalid.get("tf_stamp_zero") == 1
        assert node.stats.invalid.get("tf_stamp_future") == 1
        T = source.lookup(now_s + 0.15, FRAME_ID, 0.0)
        assert T[0, 3] == pytest.approx(1.15)
        # a frame at a stamp between the good transforms is mapped with that pose
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert node.worker.stop(20.0)
        node.slot.put(FrameSet(time.monotonic(), *valid_set(now_s + 0.15)))
        node.work_once()
        assert node.stats.frames_processed == 1 and not node.stats.pose_drops
        assert node.parts.keeper.robot_pose is not None
    finally:
        if node.parts is not None and node.parts.publisher.active:
            node.trigger_deactivate()
        executor.shutdown()
        sender.destroy_node()
        if node.parts is not None:
            node.trigger_cleanup()
        node.destroy_node()
