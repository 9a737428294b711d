"""Geometric relations between oriented object boxes and bird's-eye directions.

Boxes are ObjectState boxes: centre [m] in the map frame, size [m] along the box's own
x (heading ``yaw_rad``, counter-clockwise from map +x), y and z (up). Angles are
counter-clockwise positive, in radians unless a name says ``_deg``.
"""

from __future__ import annotations

import math

import numpy as np

from ssr_ros.core.geometry import wrap_angle
from ssr_ros.core.types import ObjectState

LEFT_RIGHT = "left_right"
LEFT_RIGHT_BACK = "left_right_back"
QUADRANT = "quadrant"
BACK_THRESHOLD_DEG = 135.0
"""An object is "back"/"behind" when facing it needs a turn of at least this angle."""
TURN_THRESHOLD_DEG = 45.0
"""Route legs that turn less than this go straight on (VSI-Bench route plans)."""


def _corners(obj: ObjectState) -> list[tuple[float, float]]:
    # geometry.box_corners_xy in plain floats, for the separating-axis test below: for
    # four corners, Python arithmetic beats numpy's per-call overhead.
    c, s = math.cos(obj.yaw_rad), math.sin(obj.yaw_rad)
    hx, hy = 0.5 * float(obj.size_m[0]), 0.5 * float(obj.size_m[1])
    x0, y0 = float(obj.center_m[0]), float(obj.center_m[1])
    return [(x0 + c * lx - s * ly, y0 + s * lx + c * ly)
            for lx, ly in ((hx, hy), (-hx, hy), (-hx, -hy), (hx, -hy))]


def _separated(a: list, b: list) -> bool:
    # Separating-axis test for two convex quads: the edge normals of both are the axes.
    for quad in (a, b):
        for k in range(2):
            nx = -(quad[k + 1][1] - quad[k][1])
            ny = quad[k + 1][0] - quad[k][0]
            pa = [p[0] * nx + p[1] * ny for p in a]
            pb = [p[0] * nx + p[1] * ny for p in b]
            if max(pa) < min(pb) or max(pb) < min(pa):
                return True
    return False


def _points_to_edges(points: list, quad: list) -> float:
    best = math.inf
    for k in range(4):
        ax, ay = quad[k]
        bx, by = quad[(k + 1) % 4]
        ex, ey = bx - ax, by - ay
        length2 = ex * ex + ey * ey
        for px, py in points:
            t = ((px - ax) * ex + (py - ay) * ey) / length2 if length2 > 0.0 else 0.0
            t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
            dx, dy = px - ax - t * ex, py - ay - t * ey
            d2 = dx * dx + dy * dy
            if d2 < best:
                best = d2
    return math.sqrt(best)


def footprint_distance(a: ObjectState, b: ObjectState) -> float:
    """Distance [m] between the two boxes' ground footprints (0 when they overlap)."""
    ca, cb = _corners(a), _corners(b)
    if not _separated(ca, cb):
        return 0.0
    return min(_points_to_edges(ca, cb), _points_to_edges(cb, ca))


def box_distance(a: ObjectState, b: ObjectState) -> float:
    """Distance [m] between the closest points of two yaw-oriented 3D boxes.

    A box is its footprint times its height interval, so the squared distance splits
    exactly into the footprint distance squared plus the vertical gap squared.
    """
    gap_z = max(0.0, abs(float(a.center_m[2]) - float(b.center_m[2]))
                - 0.5 * (float(a.size_m[2]) + float(b.size_m[2])))
    d_xy = footprint_distance(a, b)
    return math.hypot(d_xy, gap_z)


def center_distance(a: ObjectState, b: ObjectState) -> float:
    """Distance [m] between the box centres (3D)."""
    return float(np.linalg.norm(a.center_m - b.center_m))


def bearing_rad(origin_xy: np.ndarray, facing_xy: np.ndarray, target_xy: np.ndarray) -> float:
    """Angle [rad] of ``target_xy`` seen from ``origin_xy`` while facing ``facing_xy``:
    0 straight ahead, positive to the left. Raises ValueError when origin and facing
    coincide (no facing direction)."""
    f = np.asarray(facing_xy, dtype=np.float64) - origin_xy
    t = np.asarray(target_xy, dtype=np.float64) - origin_xy
    if math.hypot(f[0], f[1]) < 1e-9:
        raise ValueError("the facing point coincides with the standing point")
    return wrap_angle(math.atan2(t[1], t[0]) - math.atan2(f[1], f[0]))


def direction_word(angle_rad: float, mode: str) -> str:
    """VSI-Bench direction of an object at ``angle_rad`` (0 ahead, positive left).

    ``left_right``: left / right; ``left_right_back``: back when at least 135 deg off,
    else left / right; ``quadrant``: front-left, front-right, back-left, back-right
    (facing +y of a Cartesian plane, so front = ahead, left = counter-clockwise).
    """
    left = angle_rad > 0.0
    if mode == LEFT_RIGHT:
        return "left" if left else "right"
    if mode == LEFT_RIGHT_BACK:
        if abs(math.degrees(angle_rad)) >= BACK_THRESHOLD_DEG:
            return "back"
        return "left" if left else "right"
    if mode == QUADRANT:
        front = abs(angle_rad) < 0.5 * math.pi
        return f"{'front' if front else 'back'}-{'left' if left else 'right'}"
    raise ValueError(f"unknown direction mode {mode!r}")


def turn_word(angle_rad: float, forced: bool = False) -> str:
    """Turn needed to face a direction ``angle_rad`` off the heading: ``"back"`` beyond
    135 deg, ``"left"``/``"right"`` from 45 deg, else ``"straight"`` (or, when
    ``forced``, the nearer of left/right)."""
    deg = math.degrees(angle_rad)
    if abs(deg) > BACK_THRESHOLD_DEG:
        return "back"
    if abs(deg) < TURN_THRESHOLD_DEG and not forced:
        return "straight"
    return "left" if deg > 0.0 else "right"
