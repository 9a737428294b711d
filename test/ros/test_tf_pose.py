"""Issue 14, TF without tf2_ros: odom poses composed with map <- odom from the TF buffer,
the in-package tf pose source's lookups and reasons, /tf messages into the buffer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")

from geometry_msgs.msg import PoseStamped, TransformStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402

from ssr_ros.ros.conversions import matrix_to_pose, s_to_stamp  # noqa: E402
from ssr_ros.ros.pose_source import TopicPoseSource, add_tf_message  # noqa: E402
from ssr_ros.runtime.errors import PoseUnavailable  # noqa: E402
from ssr_ros.runtime.tf_buffer import TfBuffer  # noqa: E402


def _T(x=0.0, y=0.0, yaw=0.0) -> np.ndarray:
    T = np.eye(4)
    c, s = math.cos(yaw), math.sin(yaw)
    T[:2, :2] = [[c, -s], [s, c]]
    T[:2, 3] = (x, y)
    return T


def _odom(stamp_s: float, T: np.ndarray, frame: str = "odom") -> Odometry:
    msg = Odometry()
    msg.header.frame_id, msg.child_frame_id = frame, "base_link"
    msg.header.stamp = s_to_stamp(stamp_s)
    msg.pose.pose = matrix_to_pose(T)
    return msg


def _pose(stamp_s: float, T: np.ndarray, frame: str) -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id, msg.header.stamp = frame, s_to_stamp(stamp_s)
    msg.pose = matrix_to_pose(T)
    return msg


def _tf(parent: str, child: str, stamp_s: float, T: np.ndarray) -> TransformStamped:
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = parent, child
    msg.header.stamp = s_to_stamp(stamp_s)
    pose = matrix_to_pose(T)
    msg.transform.translation.x = pose.position.x
    msg.transform.translation.y = pose.position.y
    msg.transform.translation.z = pose.position.z
    msg.transform.rotation = pose.orientation
    return msg


def _source(buffer: TfBuffer | None) -> TopicPoseSource:
    return TopicPoseSource(np.eye(4), ("map", "odom"), mode="auto", tf_buffer=buffer)


def test_odom_poses_are_composed_with_map_to_odom() -> None:
    buffer = TfBuffer()
    add_tf_message(buffer, SimpleNamespace(transforms=[
        _tf("map", "odom", 10.0, _T(1.0, 0.0, math.pi / 2)),
        _tf("map", "odom", 11.0, _T(1.0, 0.0, math.pi / 2))]), static=False)
    source = _source(buffer)
    for t in (10.0, 10.5, 11.0):
        source.add_odometry(_odom(t, _T(2.0, 0.0)))
    T = source.lookup(10.5, "", 0.0)
    np.testing.assert_allclose(T[:3, 3], (1.0, 2.0, 0.0), atol=1e-9)  # map <- odom <- base
    # a frame outside the buffered map <- odom span has no pose in the map
    for t in (11.4, 11.5, 11.6):
        source.add_odometry(_odom(t, _T(2.0, 0.0)))
    with pytest.raises(PoseUnavailable) as exc:
        source.lookup(11.5, "", 0.0)
    assert exc.value.reason == "tf_extrapolation"


def test_without_localisation_odom_is_the_map() -> None:
    for buffer in (None, TfBuffer()):
        source = _source(buffer)
        source.add_odometry(_odom(1.0, _T(2.0, 0.0)))
        np.testing.assert_allclose(source.lookup(1.0, "", 0.0)[:3, 3], (2.0, 0.0, 0.0))


def test_camera_poses_in_map_are_not_composed() -> None:
    buffer = TfBuffer()
    add_tf_message(buffer, SimpleNamespace(transforms=[
        _tf("map", "odom", 1.0, _T(5.0))]), static=True)
    source = _source(buffer)
    source.add_camera_pose(_pose(1.0, _T(2.0), "map"))
    np.testing.assert_allclose(source.lookup(1.0, "", 0.0)[0, 3], 2.0)
    source.add_camera_pose(_pose(2.0, _T(2.0), "odom"))
    np.testing.assert_allclose(source.lookup(2.0, "", 0.0)[0, 3], 7.0)


def test_bad_transforms_in_a_message_are_refused_one_by_one() -> None:
    buffer = TfBuffer()
    nan = _tf("map", "odom", 1.0, np.eye(4))
    nan.transform.translation.x = float("nan")
    refused = add_tf_message(buffer, SimpleNamespace(transforms=[
        nan, _tf("", "a", 1.0, np.eye(4)), _tf("map", "base", 1.0, _T(1.0))]), static=False)
    assert refused == 2
    assert buffer.frames() == ["base", "map"]


def test_real_tf_messages() -> None:
    tf2_msgs = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs interfaces not built")
    buffer = TfBuffer()
    msg = tf2_msgs.TFMessage(transforms=[_tf("map", "cam", 3.0, _T(1.0))])
    assert add_tf_message(buffer, msg, static=True) == 0
    np.testing.assert_allclose(buffer.lookup("map", "cam", 99.0)[0, 3], 1.0)
