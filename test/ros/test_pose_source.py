"""Pose history interpolation and the topic pose source (odometry + extrinsic)."""

from __future__ import annotations

import math
import sys
import threading
import types

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, TransformStamped
from nav_msgs.msg import Odometry

from ssr_ros.core.geometry import make_pose, rotation_about_z
from ssr_ros.ros.conversions import matrix_to_pose, s_to_stamp, xyz_rpy_to_matrix
from ssr_ros.ros.pose_source import TfPoseSource, TopicPoseSource
from ssr_ros.runtime.errors import InvalidMessage, PoseUnavailable
from ssr_ros.runtime.pose_history import PoseHistory, robot_pose_from_camera


def _pose(x: float, yaw: float) -> np.ndarray:
    return make_pose(rotation_about_z(yaw), [x, 0.0, 1.0])


def test_interpolates_translation_and_rotation_between_stamps() -> None:
    history = PoseHistory()
    history.add(10.0, _pose(0.0, 0.0))
    history.add(10.2, _pose(2.0, math.pi / 2))
    T = history.lookup(10.05)
    np.testing.assert_allclose(T[:3, 3], [0.5, 0.0, 1.0], atol=1e-9)
    assert math.atan2(T[1, 0], T[0, 0]) == pytest.approx(math.pi / 8)


def test_out_of_range_and_gaps_have_reasons() -> None:
    history = PoseHistory()
    with pytest.raises(PoseUnavailable) as info:
        history.lookup(1.0)
    assert info.value.reason == "no_pose"
    history.add(10.0, _pose(0.0, 0.0))
    history.add(12.0, _pose(1.0, 0.0))
    for stamp, reason in [(9.0, "pose_too_old"), (13.0, "pose_not_yet"), (11.0, "pose_gap")]:
        with pytest.raises(PoseUnavailable) as info:
            history.lookup(stamp, max_gap_s=0.5)
        assert info.value.reason == reason
    np.testing.assert_allclose(history.lookup(12.01)[:3, 3], [1.0, 0.0, 1.0])


def test_history_is_bounded_by_age_and_resets_on_clock_jump_back() -> None:
    history = PoseHistory(max_age_s=1.0, reset_back_s=5.0)
    for i in range(100):
        history.add(i * 0.1, _pose(i, 0.0))
    assert 10 <= len(history) <= 11
    history.add(0.0, _pose(0.0, 0.0))
    assert len(history) == 1 and history.resets == 1


def test_out_of_order_poses_are_inserted_in_time_order() -> None:
    history = PoseHistory()
    history.add(1.0, _pose(0.0, 0.0))
    history.add(1.2, _pose(2.0, 0.0))
    history.add(1.1, _pose(5.0, 0.0))
    assert history.lookup(1.1)[0, 3] == pytest.approx(5.0)


def test_bad_poses_leave_history_unchanged() -> None:
    history = PoseHistory()
    bad = _pose(0.0, 0.0)
    bad[0, 3] = np.nan
    with pytest.raises(InvalidMessage, match="pose_nan"):
        history.add(1.0, bad)
    skewed = _pose(0.0, 0.0)
    skewed[0, 1] = 0.5
    with pytest.raises(InvalidMessage):
        history.add(1.0, skewed)
    assert len(history) == 0


def test_wait_lookup_returns_when_the_pose_arrives() -> None:
    history = PoseHistory()
    history.add(1.0, _pose(0.0, 0.0))
    timer = threading.Timer(0.05, lambda: history.add(1.1, _pose(1.0, 0.0)))
    timer.start()
    T = history.wait_lookup(1.05, timeout_s=2.0)
    timer.join()
    assert T[0, 3] == pytest.approx(0.5)
    with pytest.raises(PoseUnavailable):
        history.wait_lookup(5.0, timeout_s=0.01)


def test_odometry_is_composed_with_the_camera_extrinsic() -> None:
    T_base_cam = xyz_rpy_to_matrix([0.2, 0.0, 1.0, -math.pi / 2, 0.0, -math.pi / 2])
    source = TopicPoseSource(T_base_cam, accepted_frames=("map", "odom"))
    for stamp, x in [(5.0, 0.0), (5.1, 1.0)]:
        odom = Odometry()
        odom.header.frame_id = "odom"
        odom.header.stamp = s_to_stamp(stamp)
        odom.pose.pose = matrix_to_pose(make_pose(np.eye(3), [x, 0.0, 0.0]))
        source.add_odometry(odom)
    T_map_cam = source.lookup(5.05, "camera", timeout_s=0.0)
    np.testing.assert_allclose(T_map_cam[:3, 3], [0.7, 0.0, 1.0], atol=1e-9)
    # the optical axis (camera z) looks along the base's x axis
    np.testing.assert_allclose(T_map_cam[:3, 2], [1.0, 0.0, 0.0], atol=1e-9)
    robot = robot_pose_from_camera(T_map_cam)
    assert robot.yaw_rad == pytest.approx(0.0, abs=1e-9)


def test_camera_pose_in_a_foreign_frame_is_rejected() -> None:
    source = TopicPoseSource(np.eye(4), accepted_frames=("map",))
    msg = PoseStamped()
    msg.header.frame_id = "world"
    msg.pose.orientation.w = 1.0
    with pytest.raises(InvalidMessage, match="pose_frame"):
        source.add_camera_pose(msg)
    assert len(source.camera_history) == 0


# ---------------------------------------------------------------- tf source (fake tf2_ros)
# tf2_ros is not on PyPI, so these tests stand in a small module with its API (Buffer,
# TransformListener and the TransformException hierarchy) that records what the source
# does with it.

class _FakeNode:
    def __init__(self) -> None:
        self.services: list = []
        self.destroyed: list = []

    def create_service(self, *args):
        handle = ("service", args[1] if len(args) > 1 else None)
        self.services.append(handle)
        return handle

    def destroy_service(self, handle) -> bool:
        self.destroyed.append(handle)
        return True


def _fake_tf2_ros():
    tf2 = types.ModuleType("tf2_ros")

    class TransformException(Exception):
        pass

    for name in ("LookupException", "ConnectivityException", "ExtrapolationException",
                 "InvalidArgumentException", "TimeoutException"):
        setattr(tf2, name, type(name, (TransformException,), {}))
    tf2.TransformException = TransformException

    class JumpHandle:
        def __init__(self) -> None:
            self.unregistered = 0

        def unregister(self) -> None:
            self.unregistered += 1

    class Buffer:
        def __init__(self, cache_time=None, node=None) -> None:
            self.node = node
            self.srv = node.create_service("FrameGraph", "tf2_frames") if node else None
            self.jump_handle = JumpHandle()
            self.outcome: object = None
            self.calls: list = []

        def lookup_transform(self, target, source, time, timeout=None):
            self.calls.append((target, source, time.nanoseconds, timeout.nanoseconds))
            if isinstance(self.outcome, BaseException):
                raise self.outcome
            return self.outcome

        def clear(self) -> None:
            self.calls.clear()

    class TransformListener:
        instances: list = []

        def __init__(self, buffer, node, *, spin_thread=False, **kwargs) -> None:
            self.buffer, self.node = buffer, node
            self.spin_thread = spin_thread
            self.kwargs = kwargs
            self.unregistered = 0
            TransformListener.instances.append(self)

        def unregister(self) -> None:
            self.unregistered += 1

    tf2.Buffer = Buffer
    tf2.TransformListener = TransformListener
    return tf2


@pytest.fixture
def fake_tf2(monkeypatch):
    module = _fake_tf2_ros()
    monkeypatch.setitem(sys.modules, "tf2_ros", module)
    return module


def test_tf_listener_runs_on_the_node_executor(fake_tf2) -> None:
    node = _FakeNode()
    source = TfPoseSource(node, "map")
    (listener,) = fake_tf2.TransformListener.instances
    # spin_thread=True would move the node into a private tf2 executor.
    assert listener.spin_thread is False and listener.node is node
    assert listener.buffer is source.buffer and source.buffer.node is node


def test_tf_lookup_returns_the_transform_at_the_frame_stamp(fake_tf2) -> None:
    source = TfPoseSource(_FakeNode(), "map")
    msg = TransformStamped()
    msg.transform.translation.x, msg.transform.translation.z = 1.5, 0.8
    msg.transform.rotation.w = 1.0
    source.buffer.outcome = msg
    T = source.lookup(12.25, "camera_optical", timeout_s=0.1)
    np.testing.assert_allclose(T[:3, 3], [1.5, 0.0, 0.8])
    assert source.buffer.calls == [("map", "camera_optical", 12_250_000_000, 100_000_000)]


@pytest.mark.parametrize("name", ["TransformException", "LookupException",
                                  "TimeoutException", "InvalidArgumentException",
                                  "ExtrapolationException"])
def test_every_tf_failure_is_a_counted_pose_drop(fake_tf2, name) -> None:
    source = TfPoseSource(_FakeNode(), "map")
    source.buffer.outcome = getattr(fake_tf2, name)("frame does not exist")
    with pytest.raises(PoseUnavailable) as info:
        source.lookup(1.0, "camera_optical", timeout_s=0.0)
    assert info.value.reason == "tf_lookup" and "map <- camera_optical" in str(info.value)


def test_other_errors_are_not_mistaken_for_tf_failures(fake_tf2) -> None:
    source = TfPoseSource(_FakeNode(), "map")
    source.buffer.outcome = RuntimeError("a bug, not a missing transform")
    with pytest.raises(RuntimeError):
        source.lookup(1.0, "camera_optical", timeout_s=0.0)


def test_tf_close_detaches_listener_and_buffer_from_the_node(fake_tf2) -> None:
    node = _FakeNode()
    source = TfPoseSource(node, "map")
    (listener,) = fake_tf2.TransformListener.instances
    source.close()
    source.close()
    assert listener.unregistered == 1
    assert node.destroyed == [source.buffer.srv] and node.services == [source.buffer.srv]
    assert source.buffer.jump_handle.unregistered == 1
