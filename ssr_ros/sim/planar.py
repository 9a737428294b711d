"""Ground-plane geometry for the simulator: yawed rectangles, polygons and segments.

Everything lives in the map frame's ground plane (x, y) [m], z up. A *yawed box* is the
simulator's object shape: centre (3,), size (3,) = extent along the box's own x (heading
``yaw_rad``, counter-clockwise from map +x), y and z (up). Its footprint is a rectangle
rotated by ``yaw_rad``; its vertical extent is ``[cz - sz/2, cz + sz/2]``.
"""

from __future__ import annotations

import math

import numpy as np

from ssr_ros.core.geometry import box_corners_xy


def _project(points: np.ndarray, axis: np.ndarray) -> tuple[float, float]:
    values = points @ axis
    return float(values.min()), float(values.max())


def _edge_axes(points: np.ndarray) -> list[np.ndarray]:
    axes = []
    for i in range(len(points)):
        edge = points[(i + 1) % len(points)] - points[i]
        length = math.hypot(edge[0], edge[1])
        if length > 1e-12:
            axes.append(np.array([-edge[1], edge[0]]) / length)
    return axes


def convex_overlap(a: np.ndarray, b: np.ndarray, margin_m: float = 0.0) -> bool:
    """Whether two convex polygons (N, 2) come closer than ``margin_m`` on some separating
    axis test (separating axis theorem; a margin of 0 means touching does not count)."""
    for axis in _edge_axes(a) + _edge_axes(b):
        a_min, a_max = _project(a, axis)
        b_min, b_max = _project(b, axis)
        if a_max + margin_m <= b_min or b_max + margin_m <= a_min:
            return False
    return True


def segment_hits_convex(p: np.ndarray, q: np.ndarray, poly: np.ndarray,
                        margin_m: float = 0.0) -> bool:
    """Whether segment p-q comes within ``margin_m`` of convex polygon ``poly`` (N, 2)."""
    segment = np.array([p, q], dtype=np.float64)
    axes = _edge_axes(poly) + _edge_axes(np.array([p, q, p + (q - p)]))
    for axis in axes:
        s_min, s_max = _project(segment, axis)
        c_min, c_max = _project(poly, axis)
        if s_max + margin_m <= c_min or c_max + margin_m <= s_min:
            return False
    return True


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of points (N, 2) against a simple polygon (M, 2); boolean (N,)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    inside = np.zeros(len(pts), dtype=bool)
    x, y = pts[:, 0], pts[:, 1]
    for i in range(len(polygon)):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % len(polygon)]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_at)
    return inside


def distance_points_to_segment(points: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Euclidean distance (N,) [m] from points (N, 2) to segment p-q."""
    d = q - p
    denom = float(d @ d)
    t = np.zeros(len(points)) if denom == 0.0 else np.clip((points - p) @ d / denom, 0.0, 1.0)
    closest = p + t[:, None] * d
    return np.linalg.norm(points - closest, axis=1)


def distance_points_to_rect(points: np.ndarray, center_xy: np.ndarray, size_xy: np.ndarray,
                            yaw_rad: float) -> np.ndarray:
    """Distance (N,) [m] from points (N, 2) to a filled yawed rectangle (0 inside)."""
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    rel = np.asarray(points, dtype=np.float64) - np.asarray(center_xy, dtype=np.float64)[:2]
    local_x = rel[:, 0] * c + rel[:, 1] * s
    local_y = -rel[:, 0] * s + rel[:, 1] * c
    dx = np.maximum(np.abs(local_x) - 0.5 * size_xy[0], 0.0)
    dy = np.maximum(np.abs(local_y) - 0.5 * size_xy[1], 0.0)
    return np.hypot(dx, dy)


def rect_union_outline(rects: list[tuple[float, float, float, float]]) -> np.ndarray:
    """Counter-clockwise outline (M, 2) of a union of axis-aligned rectangles
    ``(x0, y0, x1, y1)`` that forms one simple polygon (rooms joined along an edge).

    The plane is cut on every rectangle coordinate; boundary edges of covered cells are
    chained with the interior on their left, and collinear runs are merged.
    """
    xs = sorted({v for r in rects for v in (r[0], r[2])})
    ys = sorted({v for r in rects for v in (r[1], r[3])})
    nx, ny = len(xs) - 1, len(ys) - 1
    covered = np.zeros((nx, ny), dtype=bool)
    for i in range(nx):
        for j in range(ny):
            cx, cy = 0.5 * (xs[i] + xs[i + 1]), 0.5 * (ys[j] + ys[j + 1])
            covered[i, j] = any(r[0] < cx < r[2] and r[1] < cy < r[3] for r in rects)

    def filled(i: int, j: int) -> bool:
        return 0 <= i < nx and 0 <= j < ny and bool(covered[i, j])

    next_of: dict[tuple[float, float], tuple[float, float]] = {}
    for i in range(nx):
        for j in range(ny):
            if not covered[i, j]:
                continue
            x0, x1, y0, y1 = xs[i], xs[i + 1], ys[j], ys[j + 1]
            if not filled(i, j - 1):
                next_of[(x0, y0)] = (x1, y0)
            if not filled(i + 1, j):
                next_of[(x1, y0)] = (x1, y1)
            if not filled(i, j + 1):
                next_of[(x1, y1)] = (x0, y1)
            if not filled(i - 1, j):
                next_of[(x0, y1)] = (x0, y0)
    start = min(next_of)
    chain = [start]
    point = next_of[start]
    while point != start:
        chain.append(point)
        point = next_of[point]
    outline = []
    n = len(chain)
    for k in range(n):
        prev_pt, pt, next_pt = chain[k - 1], chain[k], chain[(k + 1) % n]
        cross = ((pt[0] - prev_pt[0]) * (next_pt[1] - pt[1])
                 - (pt[1] - prev_pt[1]) * (next_pt[0] - pt[0]))
        if abs(cross) > 1e-12:
            outline.append(pt)
    return np.array(outline, dtype=np.float64)


def box_distance(center_a: np.ndarray, size_a: np.ndarray, yaw_a: float,
                 center_b: np.ndarray, size_b: np.ndarray, yaw_b: float) -> float:
    """Distance [m] between the closest points of two yawed boxes (0 when they touch or
    overlap). A yawed box is a vertical prism (footprint x height interval), so the
    squared distance is the ground-plane distance squared plus the vertical gap squared.
    """
    ra = box_corners_xy(center_a[:2], size_a[:2], yaw_a)
    rb = box_corners_xy(center_b[:2], size_b[:2], yaw_b)
    if convex_overlap(ra, rb, margin_m=0.0):
        d_xy = 0.0
    else:
        d_xy = min(
            min(float(distance_points_to_segment(ra, rb[i], rb[(i + 1) % 4]).min())
                for i in range(4)),
            min(float(distance_points_to_segment(rb, ra[i], ra[(i + 1) % 4]).min())
                for i in range(4)),
        )
    za = (center_a[2] - 0.5 * size_a[2], center_a[2] + 0.5 * size_a[2])
    zb = (center_b[2] - 0.5 * size_b[2], center_b[2] + 0.5 * size_b[2])
    d_z = max(0.0, zb[0] - za[1], za[0] - zb[1])
    return math.hypot(d_xy, d_z)

