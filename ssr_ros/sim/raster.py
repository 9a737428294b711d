"""Z-buffer rasteriser of the scene's triangles: which triangle each pixel sees and at
what depth, the same answer as casting one ray per pixel centre, in a fraction of the
time.

Why it exists: Open3D's ``RaycastingScene`` (the reference, still used where numba is
absent and checked against this in the tests) spends 60-75 % of a 640 x 480 frame on
the 2-core machines here; the scenes have only 1-3k triangles, for which projecting each
triangle and filling its pixels is far cheaper than traversing a BVH per pixel.

Conventions as in :mod:`ssr_ros.sim.render`: pixel (u, v) looks along the optical ray
``((u - cx) / fx, (v - cy) / fy, 1)``, and the depth of a pixel is the z of the point
where that ray meets the triangle's plane, so it equals the ray caster's hit parameter.
Triangles are clipped against the plane z = ``NEAR_M`` before projection (walls and
floor reach behind the camera); nothing is culled (both sides are visible). A pixel
centre exactly on an edge shared by two triangles goes to the one drawn first.

Per triangle, inverse depth 1/z is linear in (u, v), so the inner loop is one
multiply-add and one compare per covered pixel; the depth is 1 / (1/z) at the end.
"""

from __future__ import annotations

import math

import numpy as np

try:  # numba is a dependency (requirements/base.txt); without it the ray caster is used.
    from numba import njit
except ImportError:  # pragma: no cover - exercised only where numba is missing
    njit = None

#: Near clipping plane [m]: the camera paths keep >= 0.2 m from every surface.
NEAR_M = 0.01


def available() -> bool:
    """Whether the compiled rasteriser can run (numba importable)."""
    return njit is not None


def _span(a: float, b: float, lo: float, hi: float) -> tuple[float, float]:
    """Narrow [lo, hi] to the u where a * u + b >= 0."""
    if a > 0.0:
        lo = max(lo, -b / a)
    elif a < 0.0:
        hi = min(hi, -b / a)
    elif b < 0.0:
        hi = lo - 1.0
    return lo, hi


def _fill(inv_depth, index, t, sx, sy, inv_u, inv_v, inv_0, width, height):
    """Fill the screen triangle (sx, sy) into the inverse-depth buffer where it is nearer
    (1/z = inv_u * u + inv_v * v + inv_0)."""
    area = (sx[1] - sx[0]) * (sy[2] - sy[0]) - (sy[1] - sy[0]) * (sx[2] - sx[0])
    if area == 0.0:
        return
    sign = 1.0 if area > 0.0 else -1.0
    v_lo = max(0, int(math.ceil(min(sy[0], sy[1], sy[2]))))
    v_hi = min(height - 1, int(math.floor(max(sy[0], sy[1], sy[2]))))
    u_min = max(0.0, math.ceil(min(sx[0], sx[1], sx[2])))
    u_max = min(width - 1.0, math.floor(max(sx[0], sx[1], sx[2])))
    if u_min > u_max:
        return
    for v in range(v_lo, v_hi + 1):
        lo, hi = u_min, u_max
        for k in range(3):
            j = (k + 1) % 3
            # Edge k -> j; inside where sign * cross(edge, pixel - start) >= 0.
            a = -sign * (sy[j] - sy[k])
            b = sign * ((sx[j] - sx[k]) * (v - sy[k]) + (sy[j] - sy[k]) * sx[k])
            lo, hi = _span(a, b, lo, hi)
        if lo > hi:
            continue
        row_inv = inv_v * v + inv_0
        for u in range(int(math.ceil(lo)), int(math.floor(hi)) + 1):
            inv = inv_u * u + row_inv
            if inv > inv_depth[v, u]:
                inv_depth[v, u] = inv
                index[v, u] = t


def _rasterize(tri_cam, fx, fy, cx, cy, width, height, near, inv_depth, index):
    """Draw every triangle (T, 3, 3) given in the camera's optical frame."""
    poly = np.empty((4, 3))
    sx = np.empty(3)
    sy = np.empty(3)
    px = np.empty(4)
    py = np.empty(4)
    for t in range(tri_cam.shape[0]):
        a, b, c = tri_cam[t, 0], tri_cam[t, 1], tri_cam[t, 2]
        e1x, e1y, e1z = b[0] - a[0], b[1] - a[1], b[2] - a[2]
        e2x, e2y, e2z = c[0] - a[0], c[1] - a[1], c[2] - a[2]
        nx = e1y * e2z - e1z * e2y
        ny = e1z * e2x - e1x * e2z
        nz = e1x * e2y - e1y * e2x
        d = nx * a[0] + ny * a[1] + nz * a[2]
        if d == 0.0 or nx * nx + ny * ny + nz * nz < 1e-30:
            continue  # degenerate, or seen exactly edge-on through its plane
        # Plane n . X = d; on the ray (x, y, 1) * z: 1/z = (n . (x, y, 1)) / d, and with
        # x = (u - cx) / fx, y = (v - cy) / fy that is linear in (u, v).
        inv_u = nx / (fx * d)
        inv_v = ny / (fy * d)
        inv_0 = (nz - nx * cx / fx - ny * cy / fy) / d
        count = 0
        for k in range(3):
            p = tri_cam[t, k]
            q = tri_cam[t, (k + 1) % 3]
            p_in = p[2] >= near
            if p_in:
                poly[count] = p
                count += 1
            if p_in != (q[2] >= near):
                s = (near - p[2]) / (q[2] - p[2])
                for m in range(3):
                    poly[count, m] = p[m] + s * (q[m] - p[m])
                poly[count, 2] = near
                count += 1
        if count < 3:
            continue
        for k in range(count):
            px[k] = fx * poly[k, 0] / poly[k, 2] + cx
            py[k] = fy * poly[k, 1] / poly[k, 2] + cy
        for f in range(1, count - 1):
            sx[0], sy[0] = px[0], py[0]
            sx[1], sy[1] = px[f], py[f]
            sx[2], sy[2] = px[f + 1], py[f + 1]
            _fill(inv_depth, index, t, sx, sy, inv_u, inv_v, inv_0, width, height)


def _compiled(fn, **options):
    """``fn`` compiled by numba, its machine code cached on disk (compiling takes seconds);
    where no cache folder is writable (a read-only install and home), numba refuses
    caching when the function is declared, so compile afresh in each process instead."""
    try:
        return njit(cache=True, nogil=True, **options)(fn)
    except RuntimeError:
        return njit(cache=False, nogil=True, **options)(fn)


if njit is not None:
    _span = _compiled(_span, inline="always")
    _fill = _compiled(_fill)
    _rasterize = _compiled(_rasterize)


class Rasterizer:
    """The triangles (T, 3, 3) of a scene in the map frame, drawn per view."""

    def __init__(self, triangles_map: np.ndarray) -> None:
        if not available():
            raise RuntimeError("numba is not installed: the rasteriser cannot run")
        tris = np.ascontiguousarray(triangles_map, dtype=np.float64)
        if tris.ndim != 3 or tris.shape[1:] != (3, 3):
            raise ValueError(f"triangles must be (T, 3, 3), got {tris.shape}")
        self._points = tris.reshape(-1, 3)
        self.triangle_count = len(tris)

    def draw(self, T_map_cam: np.ndarray, K: np.ndarray, width: int, height: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """Depth (H * W,) float32 [m] (0 where nothing is seen) and triangle index
        (H * W,) int64 (``triangle_count`` where nothing is seen), row-major."""
        R = T_map_cam[:3, :3]
        cam = (self._points - T_map_cam[:3, 3]) @ R  # R^T (p - t), row vectors
        inv_depth = np.zeros((height, width))
        index = np.full((height, width), self.triangle_count, dtype=np.int64)
        _rasterize(cam.reshape(-1, 3, 3), float(K[0, 0]), float(K[1, 1]), float(K[0, 2]),
                   float(K[1, 2]), int(width), int(height), NEAR_M, inv_depth, index)
        seen = inv_depth > 0.0
        depth = np.zeros((height, width), dtype=np.float32)
        np.divide(1.0, inv_depth, out=depth, where=seen, casting="same_kind")
        return depth.ravel(), index.ravel()
