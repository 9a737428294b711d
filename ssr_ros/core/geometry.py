"""Rigid transforms (SE3 as 4x4 float64 matrices), quaternions, yaw and bird's-eye helpers.

Conventions: ``T_a_b`` maps points from frame ``b`` into frame ``a``; points are ``(N, 3)``
arrays in metres; quaternions are ``(x, y, z, w)`` as in ROS messages; yaw is the heading
in the map's ground plane (x, y), counter-clockwise from +x, wrapped to (-pi, pi].
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError


class InvalidTransformError(ValueError):
    """A pose or rotation is not finite, not 4x4, or its rotation is not orthonormal."""


def wrap_angle(angle_rad: float | np.ndarray) -> float | np.ndarray:
    """Wrap an angle [rad] (scalar or array) to (-pi, pi]; NaN for a non-finite one.

    The one home of this helper (the simulator, the object map and the query engine use
    it). A Python or numpy float takes a plain-float path with the same arithmetic as the
    array path (Python's ``%`` and ``np.mod`` round alike), because the query engine calls
    it per object and numpy's per-call overhead would dominate there."""
    if isinstance(angle_rad, float):
        return math.pi - (math.pi - angle_rad) % (2.0 * math.pi)
    wrapped = np.pi - np.mod(np.pi - np.asarray(angle_rad, dtype=np.float64), 2.0 * np.pi)
    return float(wrapped) if np.ndim(wrapped) == 0 else wrapped


_EYE3 = np.eye(3)
_LAST_ROW = np.array([0.0, 0.0, 0.0, 1.0])


def is_finite_pose(T: np.ndarray, tol: float = 1e-4) -> bool:
    """True when ``T`` is a finite 4x4 rigid transform (orthonormal rotation, det +1,
    last row 0 0 0 1) within ``tol``."""
    T = np.asarray(T)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        return False
    R = T[:3, :3]
    # np.allclose(a, b, atol=tol) spelled out (|a - b| <= tol + 1e-5 |b|): the frame
    # worker checks two poses per frame, and allclose's generic path cost most of it.
    if not np.all(np.abs(R @ R.T - _EYE3) <= tol + 1e-5 * _EYE3):
        return False
    if abs(np.linalg.det(R) - 1.0) > tol:
        return False
    return bool(np.all(np.abs(T[3] - _LAST_ROW) <= tol + 1e-5 * _LAST_ROW))


def check_pose(T: np.ndarray, name: str = "pose", tol: float = 1e-4) -> np.ndarray:
    """Return ``T`` as a float64 (4, 4) copy or raise :class:`InvalidTransformError`."""
    arr = np.asarray(T, dtype=np.float64)
    if arr.shape != (4, 4):
        raise InvalidTransformError(f"{name} must have shape (4, 4), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidTransformError(f"{name} contains NaN or inf")
    if not is_finite_pose(arr, tol):
        raise InvalidTransformError(f"{name} is not a rigid transform (rotation not "
                                    "orthonormal or last row not 0 0 0 1)")
    return arr.copy()


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Build a 4x4 transform from a (3, 3) rotation and a (3,) translation [m]."""
    T = np.eye(4)
    T[:3, :3] = np.asarray(R, dtype=np.float64)
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform, using the transpose of the rotation."""
    R = T[:3, :3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ T[:3, 3]
    return out


def compose(*transforms: np.ndarray) -> np.ndarray:
    """Product ``T1 @ T2 @ ...`` of 4x4 transforms (``compose(T_a_b, T_b_c) = T_a_c``)."""
    out = np.eye(4)
    for T in transforms:
        out = out @ T
    return out


def transform_points(T_a_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Map ``(N, 3)`` points from frame b into frame a; keeps the input dtype."""
    pts = np.asarray(points_b)
    R = T_a_b[:3, :3].astype(pts.dtype if pts.dtype == np.float32 else np.float64)
    t = T_a_b[:3, 3].astype(R.dtype)
    return pts @ R.T + t


def rotation_from_quaternion(q_xyzw: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix from a quaternion ``(x, y, z, w)`` (normalised first).

    Raises InvalidTransformError for a non-finite or zero quaternion."""
    q = np.asarray(q_xyzw, dtype=np.float64).reshape(4)
    norm = np.linalg.norm(q)
    if not np.all(np.isfinite(q)) or norm < 1e-12:
        raise InvalidTransformError(f"quaternion {q} is not finite or has zero norm")
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def quaternion_from_rotation(R: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` with ``w >= 0`` of a (3, 3) rotation matrix."""
    R = np.asarray(R, dtype=np.float64)
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s,
             0.25 * s]
    elif R[0, 0] > R[1, 1] and R[0, 0] > R[2, 2]:
        s = 2.0 * math.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s,
             (R[2, 1] - R[1, 2]) / s]
    elif R[1, 1] > R[2, 2]:
        s = 2.0 * math.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s,
             (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s,
             (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def pose_from_translation_quaternion(t: np.ndarray, q_xyzw: np.ndarray) -> np.ndarray:
    """4x4 transform from a translation [m] and a quaternion ``(x, y, z, w)``."""
    return make_pose(rotation_from_quaternion(q_xyzw), t)


def rotation_about_z(yaw_rad: float) -> np.ndarray:
    """(3, 3) rotation by ``yaw_rad`` about +z (counter-clockwise seen from above)."""
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def yaw_of_rotation(R: np.ndarray) -> float:
    """Ground-plane heading [rad] of a frame's x axis (body convention, REP-103 x forward)."""
    return float(math.atan2(R[1, 0], R[0, 0]))


def camera_heading_rad(T_map_cam: np.ndarray) -> float:
    """Ground-plane heading [rad] of a camera's optical axis (its z axis) in the map."""
    return float(math.atan2(T_map_cam[1, 2], T_map_cam[0, 2]))


def rotation_angle_between(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Angle [rad] of the relative rotation ``R_a^T R_b``, in [0, pi]."""
    cos = (np.trace(R_a.T @ R_b) - 1.0) * 0.5
    return float(math.acos(min(1.0, max(-1.0, cos))))


def slerp_quaternion(q0: np.ndarray, q1: np.ndarray, alpha: float) -> np.ndarray:
    """Spherical interpolation between unit quaternions ``(x, y, z, w)``; alpha in [0, 1]."""
    q0 = np.asarray(q0, dtype=np.float64) / np.linalg.norm(q0)
    q1 = np.asarray(q1, dtype=np.float64) / np.linalg.norm(q1)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + alpha * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = math.acos(dot)
    s = math.sin(theta)
    return (math.sin((1.0 - alpha) * theta) * q0 + math.sin(alpha * theta) * q1) / s


def interpolate_pose(T0: np.ndarray, T1: np.ndarray, alpha: float) -> np.ndarray:
    """Pose between ``T0`` (alpha=0) and ``T1`` (alpha=1): slerp of the rotation, linear
    interpolation of the translation. ``alpha`` outside [0, 1] is clamped (no extrapolation
    of rotations, which amplifies noise)."""
    a = min(1.0, max(0.0, float(alpha)))
    q = slerp_quaternion(quaternion_from_rotation(T0[:3, :3]),
                         quaternion_from_rotation(T1[:3, :3]), a)
    t = (1.0 - a) * T0[:3, 3] + a * T1[:3, 3]
    return make_pose(rotation_from_quaternion(q), t)


# ---------------------------------------------------------------- bird's-eye helpers


def convex_hull_xy(points_xy: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull vertices ``(M, 2)`` of ``(N, 2)`` points.

    Degenerate inputs (fewer than 3 distinct or collinear points) return the extreme
    points of the set so callers still get a (possibly flat) outline."""
    pts = np.asarray(points_xy, dtype=np.float64)
    if len(pts) >= 3:
        try:
            return pts[ConvexHull(pts).vertices]
        except QhullError:
            return _flat_outline(pts)
    return _flat_outline(pts)


def _flat_outline(pts: np.ndarray) -> np.ndarray:
    """The two extreme points of a (near) collinear set along its main direction."""
    if len(pts) == 0:
        return np.zeros((0, 2))
    centre = pts.mean(axis=0)
    centred = pts - centre
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[0]
    return pts[[int(np.argmin(proj)), int(np.argmax(proj))]]


def polygon_area(polygon_xy: np.ndarray) -> float:
    """Signed area [m^2] of a polygon (positive when counter-clockwise)."""
    p = np.asarray(polygon_xy, dtype=np.float64)
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return float(0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def min_area_rect(points_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimum-area enclosing rectangle of ``(N, 2)`` points (rotating calipers on the
    hull's edge directions).

    Returns ``(center_xy (2,), size (2,) [length along yaw, width], yaw_rad)`` with the
    longer side along yaw and yaw wrapped to (-pi/2, pi/2]."""
    hull = convex_hull_xy(points_xy)
    if len(hull) == 0:
        raise ValueError("min_area_rect needs at least one point")
    if len(hull) < 3:
        d = hull[-1] - hull[0]
        length = float(np.hypot(*d))
        yaw = math.atan2(d[1], d[0]) if length > 0 else 0.0
        return _canonical_rect(hull.mean(axis=0), np.array([length, 0.0]), yaw)
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2.0))
    c, s = np.cos(angles), np.sin(angles)
    # Project every hull vertex on each candidate frame (rows: angle).
    u = hull[:, 0][None, :] * c[:, None] + hull[:, 1][None, :] * s[:, None]
    v = -hull[:, 0][None, :] * s[:, None] + hull[:, 1][None, :] * c[:, None]
    areas = (u.max(1) - u.min(1)) * (v.max(1) - v.min(1))
    k = int(np.argmin(areas))
    uc = 0.5 * (u[k].max() + u[k].min())
    vc = 0.5 * (v[k].max() + v[k].min())
    centre = np.array([uc * c[k] - vc * s[k], uc * s[k] + vc * c[k]])
    size = np.array([u[k].max() - u[k].min(), v[k].max() - v[k].min()])
    return _canonical_rect(centre, size, float(angles[k]))


def _canonical_rect(centre: np.ndarray, size: np.ndarray,
                    yaw: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Put the longer side along yaw and wrap yaw to (-pi/2, pi/2] (a box is symmetric)."""
    size = np.asarray(size, dtype=np.float64).copy()
    if size[1] > size[0]:
        size = size[::-1].copy()
        yaw += math.pi / 2.0
    yaw = float(wrap_angle(yaw))
    if yaw <= -math.pi / 2.0:
        yaw += math.pi
    elif yaw > math.pi / 2.0:
        yaw -= math.pi
    return np.asarray(centre, dtype=np.float64), size, yaw


def box_corners_xy(center_xy: np.ndarray, size_xy: np.ndarray, yaw_rad: float) -> np.ndarray:
    """Counter-clockwise corners ``(4, 2)`` [m] of a bird's-eye box: centre ``(2,)`` (or
    ``(3,)``, z ignored) [m], size ``(2,)`` = length along yaw and width [m], yaw [rad]
    counter-clockwise from +x. The first corner is the (-length/2, -width/2) one."""
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    hx, hy = 0.5 * size_xy[0], 0.5 * size_xy[1]
    local = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
    R = np.array([[c, -s], [s, c]])
    return local @ R.T + np.asarray(center_xy, dtype=np.float64)[:2]


def _clip_polygon(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman clipping of a polygon by a convex counter-clockwise polygon."""
    out = subject
    for i in range(len(clip)):
        if len(out) == 0:
            break
        a, b = clip[i], clip[(i + 1) % len(clip)]
        edge = b - a
        inp, out = out, []
        side = edge[0] * (inp[:, 1] - a[1]) - edge[1] * (inp[:, 0] - a[0])
        for j in range(len(inp)):
            p, q = inp[j], inp[(j + 1) % len(inp)]
            sp, sq = side[j], side[(j + 1) % len(inp)]
            if sp >= 0:
                out.append(p)
            if (sp >= 0) != (sq >= 0):
                t = sp / (sp - sq)
                out.append(p + t * (q - p))
        out = np.asarray(out).reshape(-1, 2)
    return np.asarray(out).reshape(-1, 2)


def bev_box_intersection_area(box_a: tuple, box_b: tuple) -> float:
    """Intersection area [m^2] of two BEV boxes ``(center_xy, size_xy, yaw_rad)``."""
    pa = box_corners_xy(*box_a)
    pb = box_corners_xy(*box_b)
    return max(0.0, polygon_area(_clip_polygon(pa, pb)))


def box_iou_3d(center_a: np.ndarray, size_a: np.ndarray, yaw_a: float,
               center_b: np.ndarray, size_b: np.ndarray, yaw_b: float) -> float:
    """3D IoU of two yaw-oriented boxes (z up); centres and sizes [m] as in ObjectState."""
    za0, za1 = center_a[2] - size_a[2] / 2, center_a[2] + size_a[2] / 2
    zb0, zb1 = center_b[2] - size_b[2] / 2, center_b[2] + size_b[2] / 2
    dz = max(0.0, min(za1, zb1) - max(za0, zb0))
    if dz <= 0.0:
        return 0.0
    inter = bev_box_intersection_area((center_a[:2], size_a[:2], yaw_a),
                                      (center_b[:2], size_b[:2], yaw_b)) * dz
    union = float(np.prod(size_a)) + float(np.prod(size_b)) - inter
    return float(inter / union) if union > 0 else 0.0


def points_in_box(points_m: np.ndarray, center_m: np.ndarray, size_m: np.ndarray,
                  yaw_rad: float, margin_m: float = 0.0) -> np.ndarray:
    """Boolean mask ``(N,)`` of points inside a yaw-oriented 3D box grown by ``margin_m``."""
    d = np.asarray(points_m, dtype=np.float64) - center_m
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    u = d[:, 0] * c + d[:, 1] * s
    v = -d[:, 0] * s + d[:, 1] * c
    h = 0.5 * np.asarray(size_m) + margin_m
    return (np.abs(u) <= h[0]) & (np.abs(v) <= h[1]) & (np.abs(d[:, 2]) <= h[2])


def weighted_quantiles(values: np.ndarray, weights: np.ndarray | None,
                       quantiles: np.ndarray) -> np.ndarray:
    """Quantiles of a 1-D sample with non-negative weights (plain quantiles when None)."""
    if weights is None:
        return np.quantile(values, quantiles)
    order = np.argsort(values)
    v = values[order]
    cw = np.cumsum(weights[order])
    total = cw[-1]
    if total <= 0:
        return np.quantile(values, quantiles)
    idx = np.searchsorted(cw, np.asarray(quantiles) * total, side="left")
    return v[np.clip(idx, 0, len(v) - 1)]


def fit_box_to_points(points_m: np.ndarray, weights: np.ndarray | None = None,
                      trim_fraction: float = 0.01,
                      yaw_rad: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit a yaw-oriented 3D box (z up) to a point set ``(N, 3)`` [m].

    The heading is :func:`robust_yaw` of the points' bird's-eye projection (unless
    ``yaw_rad`` is given); the extents along the box axes are the weighted
    ``trim_fraction`` .. ``1 - trim_fraction`` quantiles, so a few stray points do not
    inflate the box. Returns ``(center_m (3,), size_m (3,) [along yaw, across, up],
    yaw_rad)`` with the longer horizontal side along yaw."""
    pts = np.asarray(points_m, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"fit_box_to_points needs (N, 3) points with N >= 1, got {pts.shape}")
    if yaw_rad is None:
        yaw_rad = robust_yaw(pts[:, :2])
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    u = pts[:, 0] * c + pts[:, 1] * s
    v = -pts[:, 0] * s + pts[:, 1] * c
    q = np.array([trim_fraction, 1.0 - trim_fraction])
    rows = np.stack([u, v, pts[:, 2]]) if weights is None else None
    if rows is not None and trim_fraction == 0.0 and len(pts) > 1 \
            and np.isfinite(rows).all():
        # The 0 and 1 quantiles of two or more finite values are the minimum and the
        # maximum: np.quantile's interpolation gives x + 0.0 for them (which turns a -0.0
        # into +0.0, hence the + 0.0 here). The per-view box of every lifted proposal
        # takes this way; np.quantile costs several times as much.
        (u0, v0, z0), (u1, v1, z1) = rows.min(axis=1) + 0.0, rows.max(axis=1) + 0.0
    elif rows is not None:
        # One np.quantile over the three rows: the same values as three calls (each row
        # is partitioned and interpolated on its own), a third of the per-call overhead,
        # which dominates for the few hundred points of an object.
        (u0, v0, z0), (u1, v1, z1) = np.quantile(rows, q, axis=1)
    else:
        u0, u1 = weighted_quantiles(u, weights, q)
        v0, v1 = weighted_quantiles(v, weights, q)
        z0, z1 = weighted_quantiles(pts[:, 2], weights, q)
    uc, vc = 0.5 * (u0 + u1), 0.5 * (v0 + v1)
    centre = np.array([uc * c - vc * s, uc * s + vc * c, 0.5 * (z0 + z1)])
    centre_xy, size_xy, yaw = _canonical_rect(centre[:2], np.array([u1 - u0, v1 - v0]),
                                              float(yaw_rad))
    return np.array([centre_xy[0], centre_xy[1], centre[2]]), \
        np.array([size_xy[0], size_xy[1], z1 - z0]), yaw


def robust_yaw(points_xy: np.ndarray, cells_across: int = 40, blur_cells: float = 1.5,
               max_cells: int = 160) -> float:
    """Heading [rad] in [0, pi/2) of the dominant pair of perpendicular edge directions
    of ``(N, 2)`` bird's-eye points.

    The points are rasterised into an occupancy image (about ``cells_across`` cells over
    their extent), lightly blurred, and the orientations of its intensity gradients are
    folded modulo 90 degrees into a magnitude-weighted histogram; the peak, refined by a
    4-fold circular mean around it, is the heading. Faces seen edge-on (lines), two faces
    meeting at a corner (an L, whose hull would mislead a minimum-area rectangle), and a
    partly occluded top (a diagonal occlusion cut is one edge against three) all give the
    object's axes."""
    pts = np.asarray(points_xy, dtype=np.float64)
    if len(pts) < 3:
        return 0.0
    # x and y apart: numpy's reductions along a length-2 axis are slow.
    x, y = pts[:, 0], pts[:, 1]
    lo_x, lo_y = x.min(), y.min()
    extent = float(np.maximum(x.max() - lo_x, y.max() - lo_y))
    if extent <= 0.0:
        return 0.0
    cell = extent / cells_across
    pad = int(math.ceil(3 * blur_cells)) + 1
    col = np.floor((x - lo_x) / cell).astype(np.intp) + pad
    row = np.floor((y - lo_y) / cell).astype(np.intp) + pad
    width = min(int(col.max()) + pad + 1, max_cells)
    height = min(int(row.max()) + pad + 1, max_cells)
    # Occupancy (True where any point falls): an assignment, not np.add.at's slow count.
    occupied = np.zeros((height, width), dtype=bool)
    occupied[np.minimum(row, height - 1), np.minimum(col, width - 1)] = True
    return _occupancy_yaw(occupied.shape, np.packbits(occupied).tobytes(), float(blur_cells))


@functools.lru_cache(maxsize=256)
def _occupancy_yaw(shape: tuple[int, int], packed: bytes, blur_cells: float) -> float:
    """:func:`robust_yaw` of an occupancy image ``shape`` (rows = y, cols = x) given as
    ``np.packbits`` bytes. The heading depends on nothing else, and an object's evidence
    often rasterises to the image of its last fit (a view that adds points where there
    were points): remembered for the last images seen, as the blur, the gradients and
    the orientation histogram are most of a box fit."""
    occupied = np.unpackbits(np.frombuffer(packed, dtype=np.uint8),
                             count=shape[0] * shape[1]).reshape(shape)
    img = occupied.astype(np.float64)
    # A Gaussian blur (sigma ~ blur_cells) turns the staircase of a rasterised slanted
    # edge into a smooth ramp whose gradient points across the true edge.
    img = ndimage.gaussian_filter(img, blur_cells, mode="constant")
    gy, gx = np.gradient(img)
    mag = np.hypot(gx, gy).ravel()
    keep = mag > 1e-6
    if not keep.any():
        return 0.0
    theta = np.mod(np.arctan2(gy.ravel()[keep], gx.ravel()[keep]), np.pi / 2)
    w = mag[keep]
    hist = np.bincount((theta / np.deg2rad(2.0)).astype(np.intp) % 45, weights=w,
                       minlength=45)
    hist = hist + 0.5 * (np.roll(hist, 1) + np.roll(hist, -1))
    peak = (int(np.argmax(hist)) + 0.5) * np.deg2rad(2.0)
    near = np.abs(wrap_angle(4.0 * (theta - peak))) < np.deg2rad(40.0)
    z = np.sum(w[near] * np.exp(4j * theta[near]))
    yaw = float(np.angle(z)) / 4.0 if abs(z) > 0 else peak
    return float(np.mod(yaw, np.pi / 2))
