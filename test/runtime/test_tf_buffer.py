"""The in-package transform buffer against tf2's semantics, case by case.

Each case is a recorded scenario: transforms given (static or dynamic, stamps), one
lookup, and the outcome tf2's ``BufferCore::lookupTransform`` gives for it (the
transform, or which exception). The expected outcomes follow tf2's documented
behaviour; tf2_ros is not installable on this machine (PyPI route), so they were not
re-recorded from a tf2 run here. Where ``tf2_ros`` imports, the same cases run against
``tf2_ros.Buffer`` side by side (``test_tf2_ros_agrees``), so a ROS install checks them.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from ssr_ros.runtime.tf_buffer import (TfBuffer, TfConnectivityError, TfExtrapolationError,
                                       TfLookupError)


def _T(x=0.0, y=0.0, z=0.0, yaw=0.0) -> np.ndarray:
    T = np.eye(4)
    c, s = math.cos(yaw), math.sin(yaw)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = (x, y, z)
    return T


# The robot's tree: map -> odom (dynamic, localisation), odom -> base_link (dynamic,
# odometry), base_link -> camera_link -> camera_color_optical_frame (static).
OPTICAL = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], float)
TREE = [
    ("map", "odom", 10.0, _T(1.0), False),
    ("map", "odom", 11.0, _T(1.2), False),
    ("odom", "base_link", 10.0, _T(0.0, 0.0, 0.0, 0.0), False),
    ("odom", "base_link", 10.5, _T(0.5, 0.0, 0.0, math.pi / 2), False),
    ("odom", "base_link", 11.0, _T(1.0, 0.0, 0.0, math.pi / 2), False),
    ("base_link", "camera_link", 0.0, _T(0.1, 0.0, 0.3), True),
    ("camera_link", "camera_color_optical_frame", 0.0, OPTICAL, True),
    ("world", "other_root_child", 10.0, _T(), False),
]


def _expected_camera(t: float) -> np.ndarray:
    """map <- optical at t in [10, 11] by hand: odom lerp, base slerp over [10, 10.5]."""
    T_map_odom = _T(1.0 + 0.2 * (t - 10.0))
    if t <= 10.5:
        a = (t - 10.0) / 0.5
        T_odom_base = _T(0.5 * a, 0.0, 0.0, a * math.pi / 2)
    else:
        T_odom_base = _T(0.5 + (t - 10.5), 0.0, 0.0, math.pi / 2)
    return T_map_odom @ T_odom_base @ _T(0.1, 0.0, 0.3) @ OPTICAL


# (name, target, source, stamp, expected 4x4 or exception class)
CASES = [
    ("chain at a sample", "map", "camera_color_optical_frame", 10.5, _expected_camera(10.5)),
    ("chain interpolated", "map", "camera_color_optical_frame", 10.25,
     _expected_camera(10.25)),
    ("chain at the newest sample", "map", "camera_color_optical_frame", 11.0,
     _expected_camera(11.0)),
    ("latest common time (stamp 0)", "map", "camera_color_optical_frame", 0.0,
     _expected_camera(11.0)),
    ("static links hold at any stamp", "base_link", "camera_color_optical_frame", 1.0e6,
     _T(0.1, 0.0, 0.3) @ OPTICAL),
    ("inverse direction", "camera_color_optical_frame", "map", 10.25,
     np.linalg.inv(_expected_camera(10.25))),
    ("down and up through a common parent", "base_link", "map", 10.0,
     np.linalg.inv(_T(1.0))),
    ("same frame", "odom", "odom", 123.0, np.eye(4)),
    ("extrapolation into the future", "map", "camera_color_optical_frame", 11.01,
     TfExtrapolationError),
    ("extrapolation into the past", "map", "camera_color_optical_frame", 9.99,
     TfExtrapolationError),
    ("unknown frame", "map", "no_such_frame", 10.5, TfLookupError),
    ("two trees", "map", "other_root_child", 10.0, TfConnectivityError),
]


def _ours() -> TfBuffer:
    buf = TfBuffer(cache_time_s=10.0)
    for parent, child, stamp, T, static in TREE:
        buf.set_transform(parent, child, stamp, T, static)
    return buf


@pytest.mark.parametrize("name,target,source,stamp,expected", CASES, ids=[c[0] for c in CASES])
def test_recorded_case(name, target, source, stamp, expected) -> None:
    buf = _ours()
    if isinstance(expected, type):
        with pytest.raises(expected):
            buf.lookup(target, source, stamp)
        assert not buf.can_transform(target, source, stamp)
    else:
        np.testing.assert_allclose(buf.lookup(target, source, stamp), expected, atol=1e-9)


def test_tf2_ros_agrees() -> None:
    """The same cases through tf2_ros.Buffer (a ROS install)."""
    tf2_ros = pytest.importorskip("tf2_ros", reason="tf2_ros is not installed (PyPI route)")
    from geometry_msgs.msg import TransformStamped
    from rclpy.time import Time

    from ssr_ros.ros.conversions import s_to_stamp, transform_to_matrix
    from ssr_ros.core.geometry import quaternion_from_rotation

    buf = tf2_ros.Buffer()
    for parent, child, stamp, T, static in TREE:
        msg = TransformStamped()
        msg.header.frame_id, msg.child_frame_id = parent, child
        msg.header.stamp = s_to_stamp(stamp)
        msg.transform.translation.x, msg.transform.translation.y, \
            msg.transform.translation.z = T[:3, 3]
        x, y, z, w = quaternion_from_rotation(T[:3, :3])
        msg.transform.rotation.x, msg.transform.rotation.y = x, y
        msg.transform.rotation.z, msg.transform.rotation.w = z, w
        (buf.set_transform_static if static else buf.set_transform)(msg, "test")
    errors = {TfExtrapolationError: tf2_ros.ExtrapolationException,
              TfLookupError: tf2_ros.LookupException,
              TfConnectivityError: tf2_ros.ConnectivityException}
    for name, target, source, stamp, expected in CASES:
        when = Time(nanoseconds=int(round(stamp * 1e9)))
        if isinstance(expected, type):
            with pytest.raises(errors[expected]):
                buf.lookup_transform(target, source, when)
        else:
            got = transform_to_matrix(buf.lookup_transform(target, source, when).transform)
            np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=name)


def test_cache_prunes_dynamic_links_and_keeps_static_ones() -> None:
    buf = TfBuffer(cache_time_s=2.0)
    buf.set_transform("map", "base", 0.5, _T(), False)
    buf.set_transform("base", "cam", 0.5, _T(z=1.0), True)
    for i in range(1, 41):
        buf.set_transform("map", "base", 0.5 + i * 0.1, _T(x=i * 0.1), False)
    with pytest.raises(TfExtrapolationError, match="past"):
        buf.lookup("map", "cam", 1.0)       # pruned: older than 2 s behind 4.5 s
    np.testing.assert_allclose(buf.lookup("map", "cam", 4.5)[:3, 3], (4.0, 0.0, 1.0))


def test_a_sender_clock_restart_restarts_the_link() -> None:
    buf = TfBuffer(cache_time_s=2.0)
    for t in (100.0, 100.1):
        buf.set_transform("map", "base", t, _T(x=1.0), False)
    buf.set_transform("map", "base", 5.0, _T(x=2.0), False)  # a replayed bag restarts
    assert buf.resets == 1
    np.testing.assert_allclose(buf.lookup("map", "base", 5.0)[0, 3], 2.0)
    with pytest.raises(TfExtrapolationError):
        buf.lookup("map", "base", 100.0)


def test_a_static_transform_replaces_a_dynamic_link_and_vice_versa() -> None:
    buf = TfBuffer()
    buf.set_transform("base", "cam", 1.0, _T(x=1.0), False)
    buf.set_transform("base", "cam", 0.0, _T(x=2.0), True)
    np.testing.assert_allclose(buf.lookup("base", "cam", 50.0)[0, 3], 2.0)
    buf.set_transform("base", "cam", 3.0, _T(x=3.0), False)
    with pytest.raises(TfExtrapolationError):
        buf.lookup("base", "cam", 50.0)


@pytest.mark.parametrize("parent,child,stamp,T", [
    ("", "a", 1.0, np.eye(4)), ("a", "a", 1.0, np.eye(4)), ("a", "b", math.nan, np.eye(4)),
    ("a", "b", 1.0, np.full((4, 4), np.nan)), ("a", "b", 1.0, 2.0 * np.eye(4))])
def test_bad_transforms_are_refused(parent, child, stamp, T) -> None:
    buf = TfBuffer()
    with pytest.raises(ValueError):
        buf.set_transform(parent, child, stamp, T, False)
    assert buf.frames() == []


def test_wait_lookup_waits_for_a_late_transform_but_not_for_the_past() -> None:
    buf = TfBuffer()
    buf.set_transform("map", "cam", 1.0, _T(), False)

    def late() -> None:
        time.sleep(0.05)
        buf.set_transform("map", "cam", 2.0, _T(x=1.0), False)

    thread = threading.Thread(target=late)
    thread.start()
    T = buf.wait_lookup("map", "cam", 1.5, timeout_s=5.0)
    thread.join()
    np.testing.assert_allclose(T[0, 3], 0.5)
    t0 = time.monotonic()
    with pytest.raises(TfExtrapolationError):
        buf.wait_lookup("map", "cam", 0.5, timeout_s=5.0)
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(TfExtrapolationError, match="future"):
        buf.wait_lookup("map", "cam", 3.0, timeout_s=0.05)


def test_rotation_is_slerped() -> None:
    buf = TfBuffer()
    buf.set_transform("map", "b", 1.0, _T(yaw=0.0), False)
    buf.set_transform("map", "b", 2.0, _T(yaw=math.pi / 2), False)
    R = buf.lookup("map", "b", 1.5)[:3, :3]
    np.testing.assert_allclose(R, _T(yaw=math.pi / 4)[:3, :3], atol=1e-9)
