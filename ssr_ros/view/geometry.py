"""Small geometry for drawing: yaw quaternions, box footprints, the closest points of
two boxes (the line drawn for a distance answer), the floor extent of a map.

Boxes are yaw-oriented 3D boxes in the map frame (z up): ``center_m`` (3,), ``size_m``
(3,) with x along the yaw axis, ``yaw_rad`` counter-clockwise from map +x. numpy only.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def yaw_wxyz(yaw_rad: float) -> tuple[float, float, float, float]:
    """Quaternion (w, x, y, z) of a rotation by ``yaw_rad`` about map +z."""
    half = 0.5 * float(yaw_rad)
    return (math.cos(half), 0.0, 0.0, math.sin(half))


def footprint(center_m: Sequence[float], size_m: Sequence[float],
              yaw_rad: float) -> np.ndarray:
    """The box's ground footprint: corners ``(4, 2)`` [m], counter-clockwise."""
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    hx, hy = 0.5 * float(size_m[0]), 0.5 * float(size_m[1])
    local = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy]])
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + np.asarray(center_m[:2], dtype=np.float64)


def _closest_on_segment(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    e = b - a
    length2 = float(e @ e)
    t = 0.0 if length2 <= 0.0 else min(1.0, max(0.0, float((p - a) @ e) / length2))
    return a + t * e


def _inside(p: np.ndarray, quad: np.ndarray) -> bool:
    """True when ``p`` lies in the convex counter-clockwise ``quad`` (edges included)."""
    for k in range(4):
        a, b = quad[k], quad[(k + 1) % 4]
        if (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) < -1e-12:
            return False
    return True


def closest_points(center_a: Sequence[float], size_a: Sequence[float], yaw_a: float,
                   center_b: Sequence[float], size_b: Sequence[float],
                   yaw_b: float) -> tuple[np.ndarray, np.ndarray]:
    """A pair of closest points (3,) + (3,) [m] of two yaw-oriented boxes, one on each.

    The footprints give the ground-plane pair (a vertex of one against an edge of the
    other, both ways); when the footprints overlap, both points share the middle of the
    two centres' ground positions. Heights: each point is clamped into its own box's
    height interval toward the other box's, so a shelf above a table gets a vertical
    line. The length equals ssr_node's box-to-box distance (closest points).
    """
    ca, cb = np.asarray(center_a, float), np.asarray(center_b, float)
    qa, qb = footprint(ca, size_a, yaw_a), footprint(cb, size_b, yaw_b)
    overlap = (any(_inside(p, qb) for p in qa) or any(_inside(p, qa) for p in qb)
               or _inside(ca[:2], qb) or _inside(cb[:2], qa))
    if overlap:
        xy_a = xy_b = 0.5 * (ca[:2] + cb[:2])
    else:
        pairs = []
        for points, quad, points_on_a in ((qa, qb, True), (qb, qa, False)):
            for p in points:
                for k in range(4):
                    q = _closest_on_segment(p, quad[k], quad[(k + 1) % 4])
                    pairs.append((float(np.hypot(*(p - q))), *((p, q) if points_on_a
                                                              else (q, p))))
        best = min(d for d, _, _ in pairs)
        # Parallel faces tie along a whole span: the mean of the tied pairs is a closest
        # pair too (the closest pairs of two convex sets form a convex set), and it sits
        # in the middle of the span instead of at a corner.
        tied = [(p, q) for d, p, q in pairs if d <= best + 1e-9]
        xy_a = np.mean([p for p, _ in tied], axis=0)
        xy_b = np.mean([q for _, q in tied], axis=0)
    za_lo, za_hi = ca[2] - 0.5 * float(size_a[2]), ca[2] + 0.5 * float(size_a[2])
    zb_lo, zb_hi = cb[2] - 0.5 * float(size_b[2]), cb[2] + 0.5 * float(size_b[2])
    if za_hi < zb_lo:
        z_a, z_b = za_hi, zb_lo
    elif zb_hi < za_lo:
        z_a, z_b = za_lo, zb_hi
    else:
        z_a = z_b = 0.5 * (max(za_lo, zb_lo) + min(za_hi, zb_hi))
    return np.array([*xy_a, z_a]), np.array([*xy_b, z_b])


def floor_extent(points_xy: np.ndarray, margin_m: float = 1.0,
                 cell_m: float = 0.5) -> tuple[np.ndarray, float, float]:
    """Centre (2,) and width, height [m] of a floor grid that covers ``points_xy``
    ``(N, 2)`` with ``margin_m`` around them, rounded out to whole ``cell_m`` cells
    (a 10 x 10 m grid at the origin when there are no points)."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if not len(pts):
        return np.zeros(2), 10.0, 10.0
    lo = np.floor((pts.min(axis=0) - margin_m) / cell_m) * cell_m
    hi = np.ceil((pts.max(axis=0) + margin_m) / cell_m) * cell_m
    return 0.5 * (lo + hi), float(hi[0] - lo[0]), float(hi[1] - lo[1])
