"""Rigid transforms, quaternions, interpolation and bird's-eye helpers."""

import math

import numpy as np
import pytest

from ssr_ros.core import geometry as g


def _random_pose(rng):
    q = rng.normal(size=4)
    return g.pose_from_translation_quaternion(rng.normal(size=3), q)


def test_invert_and_compose_round_trip():
    rng = np.random.default_rng(0)
    T_a_b, T_b_c = _random_pose(rng), _random_pose(rng)
    pts_c = rng.normal(size=(5, 3))
    T_a_c = g.compose(T_a_b, T_b_c)
    assert np.allclose(g.transform_points(T_a_c, pts_c),
                       g.transform_points(T_a_b, g.transform_points(T_b_c, pts_c)))
    assert np.allclose(g.compose(T_a_c, g.invert(T_a_c)), np.eye(4))


def test_quaternion_round_trip_and_ros_order():
    # 90 degrees about z in ROS (x, y, z, w) order.
    q = np.array([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    R = g.rotation_from_quaternion(q)
    assert np.allclose(R @ [1, 0, 0], [0, 1, 0])
    assert math.isclose(g.yaw_of_rotation(R), math.pi / 2)
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q2 = g.quaternion_from_rotation(g.rotation_from_quaternion(q))
        assert np.allclose(q2, q if q[3] >= 0 else -q, atol=1e-9)


def test_zero_quaternion_rejected():
    with pytest.raises(g.InvalidTransformError):
        g.rotation_from_quaternion([0, 0, 0, 0])


def test_check_pose_rejects_nan_and_non_rigid():
    T = np.eye(4)
    T[0, 3] = np.nan
    with pytest.raises(g.InvalidTransformError):
        g.check_pose(T)
    S = np.eye(4)
    S[0, 0] = 2.0
    with pytest.raises(g.InvalidTransformError):
        g.check_pose(S)
    assert np.array_equal(g.check_pose(np.eye(4)), np.eye(4))


def test_interpolate_pose_midpoint():
    T0 = g.make_pose(np.eye(3), [0, 0, 0])
    T1 = g.make_pose(g.rotation_about_z(math.pi / 2), [2, 0, 0])
    mid = g.interpolate_pose(T0, T1, 0.5)
    assert np.allclose(mid[:3, 3], [1, 0, 0])
    assert math.isclose(g.yaw_of_rotation(mid[:3, :3]), math.pi / 4, abs_tol=1e-9)
    assert np.allclose(g.interpolate_pose(T0, T1, 2.0), T1)


def test_camera_heading_uses_optical_axis():
    # Optical axis (camera z) pointing along map +y.
    R = np.column_stack([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    T = g.make_pose(R, [0, 0, 1])
    assert math.isclose(g.camera_heading_rad(T), math.pi / 2)


def test_wrap_angle_range():
    a = g.wrap_angle(np.array([-3 * math.pi, -math.pi, 0.0, math.pi, 3.5 * math.pi]))
    assert np.all(a > -math.pi) and np.all(a <= math.pi)
    assert math.isclose(g.wrap_angle(-math.pi), math.pi)


def test_min_area_rect_recovers_rotated_rectangle():
    rng = np.random.default_rng(2)
    local = rng.uniform([-1.0, -0.3], [1.0, 0.3], size=(500, 2))
    local = np.vstack([local, [[1, .3], [-1, .3], [1, -.3], [-1, -.3]]])
    yaw = 0.6
    R = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
    pts = local @ R.T + [3.0, -1.0]
    centre, size, got_yaw = g.min_area_rect(pts)
    assert np.allclose(centre, [3.0, -1.0], atol=1e-6)
    assert np.allclose(size, [2.0, 0.6], atol=1e-6)
    assert math.isclose(got_yaw, yaw, abs_tol=1e-6)


def test_fit_box_to_points_whole_box():
    rng = np.random.default_rng(3)
    pts = rng.uniform([-0.5, -0.2, 0.0], [0.5, 0.2, 0.8], size=(4000, 3))
    pts[:, :2] += [1.0, 2.0]
    centre, size, yaw = g.fit_box_to_points(pts, trim_fraction=0.0)
    assert np.allclose(centre, [1.0, 2.0, 0.4], atol=0.02)
    assert np.allclose(size, [1.0, 0.4, 0.8], atol=0.03)
    assert abs(math.sin(yaw)) < 0.05


def test_box_iou_and_points_in_box():
    c = np.array([0.0, 0.0, 0.5])
    s = np.array([1.0, 1.0, 1.0])
    assert math.isclose(g.box_iou_3d(c, s, 0.0, c, s, 0.0), 1.0)
    assert math.isclose(g.box_iou_3d(c, s, 0.0, c + [0.5, 0, 0], s, 0.0), 1 / 3, rel_tol=1e-6)
    assert g.box_iou_3d(c, s, 0.0, c + [2, 0, 0], s, 0.0) == 0.0
    # A square rotated by 45 degrees: intersection is the regular octagon.
    oct_area = 2 * (math.sqrt(2) - 1)
    inter = g.bev_box_intersection_area((c[:2], s[:2], 0.0), (c[:2], s[:2], math.pi / 4))
    assert math.isclose(inter, oct_area, rel_tol=1e-6)
    inside = g.points_in_box(np.array([[0.4, 0, 0.5], [0.6, 0, 0.5]]), c, s, 0.0)
    assert inside.tolist() == [True, False]


def test_polygon_area_sign():
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    assert g.polygon_area(sq) == 1.0
    assert g.polygon_area(sq[::-1]) == -1.0


def test_untrimmed_box_equals_the_quantile_box_to_the_bit():
    # trim_fraction=0 takes a min/max shortcut; it must give np.quantile's numbers,
    # signed zeros included (one point keeps -0.0, two or more give +0.0).
    rng = np.random.default_rng(3)
    cases = [np.full((1, 3), -0.0), np.full((2, 3), -0.0), np.round(rng.normal(size=(9, 3)), 1)]
    cases += [rng.normal(size=(n, 3)) * 2.0 for n in (1, 2, 5, 300)]
    for pts in cases:
        for yaw in (0.0, 0.7):
            centre, size, _ = g.fit_box_to_points(pts, trim_fraction=0.0, yaw_rad=yaw)
            lo, hi = np.quantile(pts[:, 2], [0.0, 1.0])
            assert size[2].tobytes() == (hi - lo).tobytes()
            assert centre[2].tobytes() == (0.5 * (lo + hi)).tobytes()


def _rectangle_outline(yaw, length=2.0, width=1.0, n=400, centre=(1.0, -2.0)):
    """Points on the outline of a length x width rectangle turned by ``yaw`` [rad]."""
    t = np.linspace(0.0, 1.0, n // 4, endpoint=False)
    u = np.concatenate([t * length, np.full_like(t, length), (1 - t) * length,
                        np.zeros_like(t)]) - 0.5 * length
    v = np.concatenate([np.zeros_like(t), t * width, np.full_like(t, width),
                        (1 - t) * width]) - 0.5 * width
    c, s = math.cos(yaw), math.sin(yaw)
    return np.column_stack([u * c - v * s, u * s + v * c]) + centre


def test_robust_yaw_follows_the_points_and_is_remembered_per_image():
    # The heading depends only on the occupancy image: remembered per image, so point
    # sets with another image (another heading, the same image size) are computed anew.
    g._occupancy_yaw.cache_clear()
    yaws = {}
    for yaw in (0.1, 0.4, 0.7, 1.2):
        pts = _rectangle_outline(yaw)
        yaws[yaw] = g.robust_yaw(pts)
        assert abs(g.wrap_angle(4.0 * (yaws[yaw] - yaw))) / 4.0 < math.radians(4.0)
    assert g._occupancy_yaw.cache_info().hits == 0
    for yaw, first in yaws.items():
        assert g.robust_yaw(_rectangle_outline(yaw)) == first
    assert g._occupancy_yaw.cache_info().hits == len(yaws)
    assert g.robust_yaw(np.zeros((2, 2))) == 0.0
