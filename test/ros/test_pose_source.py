"""Pose history interpolation and the topic pose source (odometry + extrinsic)."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry

from ssr_ros.core.geometry import make_pose, rotation_about_z
from ssr_ros.ros.conversions import matrix_to_pose, s_to_stamp, xyz_rpy_to_matrix
from ssr_ros.ros.errors import InvalidMessage, PoseUnavailable
from ssr_ros.ros.pose_source import PoseHistory, TopicPoseSource, robot_pose_from_camera


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
