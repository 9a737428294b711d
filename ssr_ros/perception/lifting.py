"""Lifting: object pixels + depth -> robust 3D observations in the map frame, and the box
fit of an object's accumulated evidence (with category priors for unseen sides).

Per proposal: pixels with valid depth that are not on a depth discontinuity are
back-projected and moved into the map frame; box-based proposals also lose the points of
the floor band (their box includes floor). The points are voxel-averaged, and outliers
(flying pixels, background bleeding through a mask) are removed by keeping the dominant
connected clusters on a coarse occupancy grid (numpy + scipy), or optionally Open3D's
statistical outlier removal. Observations that are too small, too far, have too little
valid depth or are a thin horizontal sheet at floor level (the floor) are rejected, and
every rejection is counted by reason (``Lifter.rejection_counts``). Valid depth is judged
on what the proposal claims: its mask, or for a box-based proposal the whole box
(``Proposal.box_valid_fraction``), never on the pixels a box refinement kept for having
depth, so a box with almost no depth cannot become an object.

:class:`EvidenceBoxFitter` fits the whole-object box to the points the object map
accumulated over views: heading from the bird's-eye minimum-area rectangle, trimmed
extents, a bottom snapped to the floor when it nearly touches it, and, when a horizontal
side was never measured (extent under half the category's prior), the prior extent
grown away from the cameras that saw the object, marked ``from_prior``: an object
implausibly thin for its category (seen from one side: a wardrobe's front, a table's
edge) takes the category's depth behind its seen face, up to a wall the room estimate
knows behind it.
"""

from __future__ import annotations

import collections
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.geometry import fit_box_to_points, transform_points
from ssr_ros.core.keyframes import Keyframe
from ssr_ros.core.objects import BoxFit, Observation
from ssr_ros.perception.completion import SeenVoxels, complete_unseen
from ssr_ros.perception.evidence_core import plausible_core
from ssr_ros.perception.priors import (against_wall, is_round, max_plausible_length,
                                      size_prior, stands_on_floor)
from ssr_ros.perception.proposals import Proposal


@dataclass
class LiftingConfig:
    """Thresholds of the lifting stage (metres, fractions, counts)."""

    min_points: int = 30
    max_depth_m: float = 8.0
    min_valid_fraction: float = 0.2
    min_extent_m: float = 0.04
    voxel_size_m: float = 0.025
    min_voxel_size_m: float = 0.004
    cluster_cell_m: float = 0.06
    keep_component_fraction: float = 0.3
    depth_edge_fraction: float = 0.03
    depth_edge_min_m: float = 0.03
    floor_tolerance_m: float = 0.05
    smooth_spacing_px: int = 2
    smooth_tolerance_fraction: float = 0.015
    smooth_tolerance_min_m: float = 0.015
    remove_floor: str = "boxes"
    outlier_method: str = "numpy"
    max_points_per_observation: int = 1500

    def __post_init__(self) -> None:
        if self.remove_floor not in ("boxes", "always", "never"):
            raise ValueError("remove_floor must be 'boxes', 'always' or 'never'")
        if self.outlier_method not in ("numpy", "open3d", "none"):
            raise ValueError("outlier_method must be 'numpy', 'open3d' or 'none'")
        if self.voxel_size_m <= 0 or self.cluster_cell_m <= 0:
            raise ValueError("voxel_size_m and cluster_cell_m must be positive")


@dataclass
class Rejection:
    """A proposal that did not become an observation, and why (``reason`` is one of
    :data:`REJECTION_REASONS`)."""

    label: str
    reason: str


# Every reason a proposal can be rejected for (the keys of ``Lifter.rejection_counts``).
REJECTION_REASONS = ("empty", "too little valid depth", "no object cluster", "too far",
                     "too few points", "floor only", "too small", "floor")


def voxel_downsample(points: np.ndarray, voxel_m: float,
                     weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Average points ``(N, 3)`` per ``voxel_m`` voxel, weighted by ``weights`` (N,)
    (1 each when None): ``(centroids (M, 3), summed weights (M,))``."""
    # Coordinates apart (3, N): numpy's reductions along a length-3 axis are slow.
    xyz = np.ascontiguousarray(np.asarray(points).T)
    keys = np.floor(xyz / voxel_m).astype(np.int64)
    keys -= keys.min(axis=1)[:, None]
    dims = keys.max(axis=1) + 1
    flat = (keys[0] * dims[1] + keys[1]) * dims[2] + keys[2]
    uniq, inv = _unique_inverse(flat, int(np.prod(dims)))
    w = np.ones(len(flat)) if weights is None else np.asarray(weights, dtype=np.float64)
    wsum = np.bincount(inv, weights=w, minlength=len(uniq))
    cents = np.empty((len(uniq), 3))
    for k in range(3):
        cents[:, k] = np.bincount(inv, weights=xyz[k] * w, minlength=len(uniq)) / wsum
    return cents, wsum


def _unique_inverse(flat: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(flat, return_inverse=True)`` of keys ``0 <= flat < size``: the sorted
    distinct keys and each key's position among them. On a grid not much larger than
    the sample (an object's voxels), a table of the present keys and their ranks give
    the same two arrays without np.unique's sort."""
    if size > max(4 * len(flat), 1 << 16):
        return np.unique(flat, return_inverse=True)
    present = np.zeros(size, dtype=bool)
    present[flat] = True
    uniq = np.flatnonzero(present)
    rank = np.empty(size, dtype=np.intp)  # read only at present keys
    rank[uniq] = np.arange(len(uniq))
    return uniq, rank[flat]


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the cumulative weight reaches half the total."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def depth_weight(z_m: np.ndarray) -> np.ndarray:
    """Evidence weight of a depth measurement: inverse variance of a sensor whose noise
    grows with the square of depth (structured light, stereo, ToF alike), normalised to
    1 at 1 m: ``(1 m / z)^4``, with z clamped at 0.3 m."""
    return 1.0 / np.maximum(np.asarray(z_m, dtype=np.float64), 0.3) ** 4


def dominant_clusters(points: np.ndarray, cell_m: float, keep_fraction: float) -> np.ndarray:
    """Boolean mask of points in the connected clusters (26-connected cells of ``cell_m``)
    holding at least ``keep_fraction`` of the largest cluster's points."""
    # Coordinates apart (3, N): numpy's reductions along a length-3 axis are slow.
    xyz = np.ascontiguousarray(np.asarray(points).T)
    offset = xyz - xyz.min(axis=1)[:, None]
    idx = np.floor(offset / cell_m).astype(np.int64)
    dims = idx.max(axis=1) + 1
    # Bound the grid: very large extents only happen with outliers; coarsen instead.
    while int(np.prod(dims)) > 2_000_000:
        cell_m *= 1.5
        idx = np.floor(offset / cell_m).astype(np.int64)
        dims = idx.max(axis=1) + 1
    flat = (idx[0] * dims[1] + idx[1]) * dims[2] + idx[2]
    occ = np.zeros(tuple(dims), dtype=bool)
    occ.ravel()[flat] = True
    labels, n = ndimage.label(occ, structure=np.ones((3, 3, 3), dtype=bool))
    point_labels = labels.ravel()[flat]
    if n <= 1:
        return np.ones(len(points), dtype=bool)
    sizes = np.bincount(point_labels, minlength=n + 1)
    sizes[0] = 0
    keep = sizes >= keep_fraction * sizes.max()
    return keep[point_labels]


def statistical_outliers_open3d(points: np.ndarray, neighbours: int = 16,
                                std_ratio: float = 2.0) -> np.ndarray:
    """Inlier mask from Open3D's statistical outlier removal (optional dependency)."""
    import open3d as o3d  # optional: only when configured

    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    _, kept = pcd.remove_statistical_outlier(nb_neighbors=neighbours, std_ratio=std_ratio)
    mask = np.zeros(len(points), dtype=bool)
    mask[np.asarray(kept, dtype=np.intp)] = True
    return mask


class PaddedDepth:
    """A depth image [m] ``(H, W)`` padded by ``pad`` px on every side with copies of its
    border pixels and flattened (``flat``, row stride ``stride``): the neighbour at
    ``(dr, dc)`` of the pixel with flat index ``i`` (:meth:`index`) is
    ``flat[i + dr * stride + dc]`` for ``|dr|, |dc| <= pad``, the value a look-up with
    the row and column clamped to the image gives. Built once per keyframe, so each
    proposal's neighbour look-ups are one add and one ``take`` instead of clamping rows
    and columns and indexing in 2-D."""

    def __init__(self, depth_m: np.ndarray, pad: int) -> None:
        if depth_m.ndim != 2 or pad < 1:
            raise ValueError(f"need a 2-D depth image and pad >= 1, got {depth_m.shape}, "
                             f"{pad}")
        self.pad = int(pad)
        self.shape = depth_m.shape
        self.stride = depth_m.shape[1] + 2 * self.pad
        self.flat = np.pad(depth_m, self.pad, mode="edge").ravel()

    def index(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Flat indices ``(N,)`` int64 of image pixels ``rows``/``cols`` ``(N,)``; a pixel
        outside the image raises ValueError (padding would otherwise hide it)."""
        rows = np.asarray(rows, np.int64)
        cols = np.asarray(cols, np.int64)
        if len(rows) and (rows.min() < 0 or cols.min() < 0 or rows.max() >= self.shape[0]
                          or cols.max() >= self.shape[1]):
            raise ValueError(f"pixels outside the {self.shape} depth image")
        return (rows + self.pad) * self.stride + (cols + self.pad)

    def offsets(self, steps: Iterable[tuple[int, int]]) -> list[int]:
        """Flat offsets of neighbour steps ``[(dr, dc), ...]`` [px], each within ``pad``."""
        out = []
        for dr, dc in steps:
            if abs(dr) > self.pad or abs(dc) > self.pad:
                raise ValueError(f"step ({dr}, {dc}) beyond the padding {self.pad}")
            out.append(dr * self.stride + dc)
        return out


class Lifter:
    """Turns proposals of one keyframe into :class:`~ssr_ros.core.objects.Observation`."""

    def __init__(self, config: LiftingConfig | None = None) -> None:
        self.config = config or LiftingConfig()
        # Rejected proposals by reason since construction (for diagnostics).
        self.rejection_counts: Counter[str] = Counter()

    def _not_edge(self, padded: PaddedDepth, idx: np.ndarray, z: np.ndarray) -> np.ndarray:
        """True for pixels (flat indices ``idx`` into ``padded``, depth ``z`` [m]) whose 4
        neighbours (at 1 px) agree with their depth."""
        tol = np.maximum(self.config.depth_edge_fraction * z, self.config.depth_edge_min_m)
        ok = np.ones(len(idx), dtype=bool)
        for offset in padded.offsets(((-1, 0), (1, 0), (0, -1), (0, 1))):
            nz = padded.flat.take(idx + offset)
            ok &= (nz == 0) | (np.abs(nz - z) <= tol)
        return ok

    def _smoothed(self, padded: PaddedDepth, idx: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Depth [m] at the pixels (flat indices ``idx`` into ``padded``) averaged with the
        neighbours of a 3x3 block spaced ``smooth_spacing_px`` apart that lie on the same
        surface (within the edge tolerance): per-pixel sensor noise drops about threefold,
        edges stay sharp."""
        k = self.config.smooth_spacing_px
        if k <= 0:
            return z
        tol = np.maximum(self.config.smooth_tolerance_fraction * z,
                         self.config.smooth_tolerance_min_m)
        total = np.zeros_like(z, dtype=np.float64)
        count = np.zeros_like(z, dtype=np.float64)
        # The pixel itself (depth > 0, no difference to itself) is always on the surface
        # when the tolerance is not negative: added without a look-up or a test.
        itself = self.config.smooth_tolerance_fraction >= 0 \
            and self.config.smooth_tolerance_min_m >= 0
        # Summed in the same order as ever (rows -k, 0, k; in each, columns -k, 0, k), so
        # the float64 totals are the same to the bit.
        for offset in padded.offsets([(dr, dc) for dr in (-k, 0, k) for dc in (-k, 0, k)]):
            if offset == 0 and itself:
                total += z
                count += 1.0
                continue
            nz = padded.flat.take(idx + offset)
            ok = (nz > 0) & (np.abs(nz - z) <= tol)
            # Adding nothing where a neighbour is off the surface is adding 0.0 to a
            # total that is never -0.0: the same sum as adding np.where(ok, nz, 0.0).
            np.add(total, nz, out=total, where=ok)
            count += ok
        return (total / np.maximum(count, 1.0)).astype(z.dtype)

    def lift(self, proposal: Proposal, keyframe: Keyframe, camera: PinholeCamera,
             floor_z_m: float | None = None) -> Observation | Rejection:
        """Lift one proposal of a (validated) keyframe; a rejection is counted in
        ``rejection_counts``."""
        return self._lift_counted(proposal, keyframe, camera, floor_z_m,
                                  self._padded(keyframe))

    def _padded(self, keyframe: Keyframe) -> PaddedDepth:
        """The keyframe's depth padded for the edge test (1 px) and the smoothing."""
        return PaddedDepth(keyframe.depth_m, max(1, self.config.smooth_spacing_px))

    def _lift_counted(self, proposal: Proposal, keyframe: Keyframe, camera: PinholeCamera,
                      floor_z_m: float | None, padded: PaddedDepth) -> Observation | Rejection:
        out = self._lift(proposal, keyframe, camera, floor_z_m, padded)
        if isinstance(out, Rejection):
            self.rejection_counts[out.reason] += 1
        return out

    def _lift(self, proposal: Proposal, keyframe: Keyframe, camera: PinholeCamera,
              floor_z_m: float | None, padded: PaddedDepth) -> Observation | Rejection:
        cfg = self.config
        rows, cols = proposal.rows, proposal.cols
        box_fraction = proposal.box_valid_fraction
        if box_fraction is not None and box_fraction < cfg.min_valid_fraction:
            return Rejection(proposal.label, "too little valid depth")
        if len(rows) == 0:
            return Rejection(proposal.label, "empty" if box_fraction is None
                             else "no object cluster")
        idx = padded.index(rows, cols)
        z = padded.flat.take(idx)
        valid = z > 0
        valid_fraction = float(valid.mean()) if box_fraction is None else box_fraction
        if valid_fraction < cfg.min_valid_fraction:
            return Rejection(proposal.label, "too little valid depth")
        rows, cols, idx, z = rows[valid], cols[valid], idx[valid], z[valid]
        # The median is above max_depth_m only when at least half the depths are (the
        # two middle values of an even count included): count first, sort only then.
        # (np.float64: compared as float64, as the median is.)
        if 2 * np.count_nonzero(z > np.float64(cfg.max_depth_m)) >= len(z) \
                and float(np.median(z)) > cfg.max_depth_m:
            return Rejection(proposal.label, "too far")
        keep = self._not_edge(padded, idx, z) & (z <= cfg.max_depth_m)
        rows, cols, idx, z = rows[keep], cols[keep], idx[keep], z[keep]
        if len(z) < cfg.min_points:
            return Rejection(proposal.label, "too few points")
        z = self._smoothed(padded, idx, z)
        pts = transform_points(keyframe.T_map_cam,
                               camera.backproject_pixels(cols, rows, z))
        z_kept = z
        remove_floor = cfg.remove_floor == "always" or \
            (cfg.remove_floor == "boxes" and proposal.box is not None)
        if remove_floor and floor_z_m is not None:
            above = pts[:, 2] > floor_z_m + cfg.floor_tolerance_m
            pts, z_kept = pts[above], z[above]
            if len(pts) < cfg.min_points:
                return Rejection(proposal.label, "floor only")
        # Voxels scale with the object (a cup keeps its shape; a bed stays cheap): about
        # 30 voxels across its extent, never coarser than voxel_size_m.
        # (along the rows of the transposed view: the same quantiles, cheaper)
        lo, hi = np.percentile(pts.T, [2, 98], axis=1)
        voxel_m = float(np.clip((hi - lo).max() / 30.0, cfg.min_voxel_size_m, cfg.voxel_size_m))
        cents, counts = voxel_downsample(pts, voxel_m, depth_weight(z_kept))
        if cfg.outlier_method == "numpy" and len(cents) > 8:
            inl = dominant_clusters(cents, cfg.cluster_cell_m, cfg.keep_component_fraction)
            cents, counts = cents[inl], counts[inl]
        elif cfg.outlier_method == "open3d" and len(cents) > 20:
            inl = statistical_outliers_open3d(cents)
            cents, counts = cents[inl], counts[inl]
        if proposal.box is not None:
            cents, counts = self._plausible_core(cents, counts, proposal.label)
        if len(cents) < 4:
            return Rejection(proposal.label, "too few points")
        # The per-view box only gates association and the size checks; the object's
        # heading comes from its accumulated evidence, so axis-aligned is enough here.
        centre, size, yaw = fit_box_to_points(cents, trim_fraction=0.0, yaw_rad=0.0)
        if float(size.max()) < cfg.min_extent_m:
            return Rejection(proposal.label, "too small")
        if self._is_floor(centre, size, floor_z_m, keyframe):
            return Rejection(proposal.label, "floor")
        if len(cents) > cfg.max_points_per_observation:
            sel = np.argsort(-counts, kind="stable")[:cfg.max_points_per_observation]
            cents, counts = cents[sel], counts[sel]
        quality = min(1.0, valid_fraction) * min(1.0, len(z) / 200.0)
        return Observation(label=proposal.label, center_m=centre, size_m=size, yaw_rad=yaw,
                           score=float(np.clip(proposal.score * (0.5 + 0.5 * quality), 0, 1)),
                           points_m=cents.astype(np.float64), point_weights=counts,
                           camera_position_m=keyframe.T_map_cam[:3, 3].copy())

    def _plausible_core(self, cents: np.ndarray, counts: np.ndarray, label: str
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Points of a box-based observation near its weighted median (horizontally),
        when they spread wider than one object of the category can (the box's depth layer
        also held a neighbour at the same depth: chairs at a table). The core radius is
        0.6 x the category's diagonal footprint; within the plausible length
        (``priors.max_plausible_length``) nothing is cut."""
        prior = size_prior(label)
        if prior is None or len(cents) < 8:
            return cents, counts
        lo, hi = np.percentile(cents[:, :2], [2, 98], axis=0)
        if float(np.max(hi - lo)) <= max_plausible_length(label):
            return cents, counts
        w = np.asarray(counts, dtype=np.float64)
        median = np.array([_weighted_median(cents[:, k], w) for k in range(2)])
        radius = 0.6 * math.hypot(float(prior[0]), float(prior[1]))
        near = np.linalg.norm(cents[:, :2] - median, axis=1) <= radius
        return cents[near], counts[near]

    def _is_floor(self, centre: np.ndarray, size: np.ndarray, floor_z_m: float | None,
                  keyframe: Keyframe) -> bool:
        """A thin horizontal sheet of large area at floor level is the floor, not an object."""
        thin = size[2] < max(0.05, 0.05 * float(size[:2].max()))
        large = float(size[0] * size[1]) > 0.5
        if not (thin and large):
            return False
        if floor_z_m is not None:
            return abs(centre[2] - floor_z_m) < 0.15
        return keyframe.T_map_cam[2, 3] - centre[2] > 0.8

    def lift_all(self, proposals: list[Proposal], keyframe: Keyframe, camera: PinholeCamera,
                 floor_z_m: float | None = None,
                 ) -> tuple[list[Observation], list[Rejection]]:
        """Lift every proposal; returns (observations, rejections). The depth is padded
        once for all of them."""
        obs, rejected = [], []
        padded = self._padded(keyframe) if proposals else None
        for p in proposals:
            r = self._lift_counted(p, keyframe, camera, floor_z_m, padded)
            (obs if isinstance(r, Observation) else rejected).append(r)
        return obs, rejected


class EvidenceBoxFitter:
    """Whole-object box from accumulated evidence points (a ``core.objects.BoxFitter``).

    ``prior`` gives a category's typical (length, width, height) [m] or None;
    ``floor_z`` returns the current floor height [m] or None; ``wall_distance(origin_xy,
    direction_xy, max_m)`` the distance [m] to the nearest wall along a ground ray or None
    (``RoomEstimator.distance_to_wall``); ``on_floor``/``is_round`` category facts;
    ``seen_space`` what depth rays observed (``SeenSpace``): objects seen in part are
    completed into space no ray observed (:mod:`ssr_ros.perception.completion`)."""

    def __init__(self, prior: Callable[[str], np.ndarray | None] = size_prior,
                 floor_z: Callable[[], float | None] | None = None,
                 on_floor: Callable[[str], bool] = stands_on_floor,
                 trim_fraction: float = 0.005, unseen_fraction: float = 0.5,
                 snap_to_floor_m: float = 0.1, max_floor_extension: float = 1.5,
                 weight_scale: float = 0.125, min_confidence: float = 0.05,
                 face_noise_m: float = 0.03,
                 is_round: Callable[[str], bool] = is_round,
                 against_wall: Callable[[str], bool] = against_wall,
                 min_side_vote: float = 0.3, min_long_fraction: float = 0.6,
                 wall_distance: Callable[[np.ndarray, np.ndarray, float], float | None]
                 | None = None, seen_space: SeenVoxels | None = None) -> None:
        self.wall_distance = wall_distance
        self.seen_space = seen_space
        # completions by (box, evidence size, views, seen-space frame count): a refit
        # that changes none of these (the seen space took no new view) reuses it
        self._completions: collections.OrderedDict = collections.OrderedDict()
        self.against_wall = against_wall
        self.min_side_vote = float(min_side_vote)
        self.min_long_fraction = float(min_long_fraction)
        self.face_noise_m = float(face_noise_m)
        self.is_round = is_round
        self.weight_scale = float(weight_scale)
        self.min_confidence = float(min_confidence)
        self.prior = prior
        self.floor_z = floor_z
        self.on_floor = on_floor
        self.trim_fraction = float(trim_fraction)
        self.unseen_fraction = float(unseen_fraction)
        self.snap_to_floor_m = float(snap_to_floor_m)
        self.max_floor_extension = float(max_floor_extension)

    def __call__(self, label: str, points_m: np.ndarray, weights: np.ndarray,
                 camera_positions_m: np.ndarray) -> BoxFit:
        # Voxels seen only by a few far (noisy) pixels are left out when enough better
        # ones exist: depth noise grows with z^2, and at 5 m it blurs a face by +-10 cm.
        weights = np.asarray(weights, dtype=np.float64)
        conf = 1.0 - np.exp(-weights / self.weight_scale)
        good = conf >= self.min_confidence
        if good.sum() >= max(8, 0.3 * len(points_m)):
            points_m, weights = points_m[good], weights[good]
        centre, size, yaw = fit_box_to_points(points_m, trim_fraction=self.trim_fraction)
        prior = self.prior(label)
        # Scraps of touching neighbours that views added can make the box too deep or
        # long for its category; the object is where most of the weight is.
        core = plausible_core(points_m, weights, prior, size, yaw)
        if core is not None:
            points_m = points_m[core]
            centre, size, yaw = fit_box_to_points(points_m, trim_fraction=self.trim_fraction)
        floor = self.floor_z() if self.floor_z is not None else None
        from_prior = False
        if floor is not None:
            bottom = centre[2] - 0.5 * size[2]
            top = centre[2] + 0.5 * size[2]
            # Near the floor: it stands on it. Higher up, a floor-standing category whose
            # height would stay plausible has its (occluded) lower part filled in.
            # (A top at or under the floor means the floor height is wrong: never
            # flatten a box onto it.)
            above = top - floor > self.snap_to_floor_m
            near = above and bottom - floor < self.snap_to_floor_m
            fill = (above and not near and prior is not None and self.on_floor(label)
                    and top - floor <= self.max_floor_extension * prior[2])
            if near or fill:
                size[2] = max(top - floor, 0.0)
                centre[2] = 0.5 * (top + floor)
                from_prior = fill
        fit = self._fit_depth(label, centre, size, yaw, from_prior, prior, camera_positions_m,
                              hidden_below=from_prior)
        if self.seen_space is not None and prior is not None and self.on_floor(label) \
                and not self.is_round(label) and len(camera_positions_m) >= 2:
            # Seen in part: the rest may lie only where no ray looked (completion.py).
            # Not from one view: a first glimpse leaves nearly everything unobserved,
            # and the next view shows more of the object.
            grown = self._completion(label, fit, prior, points_m, camera_positions_m)
            if grown is not None:
                fit = BoxFit(grown[0], grown[1], grown[2], True, True,
                             measured=(fit.center_m, fit.size_m, fit.yaw_rad))
        if floor is None and self.on_floor(label):
            # Its bottom is snapped or filled in once the floor is known: refit then.
            fit.pending = True
        return fit

    def forget_completions(self) -> None:
        """Drop the remembered completions (the seen space was cleared or replaced)."""
        self._completions.clear()

    def _completion(self, label: str, fit: BoxFit, prior: np.ndarray, points_m: np.ndarray,
                    camera_positions_m: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """:func:`complete_unseen` of the fitted box, remembered for the last 256 boxes
        while the seen space's frame count stands still."""
        key = (label, fit.center_m.round(4).tobytes(), fit.size_m.round(4).tobytes(),
               round(float(fit.yaw_rad), 4), len(points_m), len(camera_positions_m),
               self.seen_space.frames)
        if key in self._completions:
            self._completions.move_to_end(key)
            return self._completions[key]
        grown = complete_unseen(fit.center_m, fit.size_m, fit.yaw_rad, prior, points_m,
                                self.seen_space, camera_positions_m, self.wall_distance)
        self._completions[key] = grown
        if len(self._completions) > 256:
            self._completions.popitem(last=False)
        return grown

    def _fit_depth(self, label: str, centre: np.ndarray, size: np.ndarray, yaw: float,
                   from_prior: bool, prior: np.ndarray | None,
                   camera_positions_m: np.ndarray, hidden_below: bool = False) -> BoxFit:
        """The box with its unseen depth (the side across the seen face) filled in from
        the prior, the walls and the camera positions where that is justified.
        ``hidden_below``: the object's lower part was never seen (something in front hid
        it), so the seen part may be its far edge (a chair's back seen over a table):
        the missing depth of a box-shaped object is then spread evenly about the seen
        face, as it is for objects that do not stand on the floor (their flat lower part
        lies on the support, in front of the seen face as often as behind)."""
        if prior is None or len(camera_positions_m) == 0:
            return BoxFit(centre, size, yaw, from_prior)
        # The side across the box (its depth as the cameras saw it) is the one a view
        # from one side misses; the long side is what the views showed, whole or not.
        # The fill is recomputed from the evidence at every refit, so once other views
        # measure the depth, the measurement replaces the prior.
        across = np.array([-math.sin(yaw), math.cos(yaw)])
        # Which side of the seen face the cameras were on: each view votes with the
        # cosine between its line of sight and the across axis; views that looked along
        # the face (cosine near 0) say little, and a split vote extends nothing.
        rays = centre[:2] - np.asarray(camera_positions_m, dtype=np.float64)[:, :2]
        cosines = rays @ across / np.maximum(np.linalg.norm(rays, axis=1), 1e-6)
        vote = float(np.mean(cosines))
        if abs(vote) < self.min_side_vote:
            return BoxFit(centre, size, yaw, from_prior, pending=True)
        away = 1.0 if vote > 0 else -1.0
        # The band of points is the seen face(s) blurred by depth noise: its near side,
        # less the noise, is the front; missing depth extends from there away from the
        # cameras.
        front = max(0.0, 0.5 * float(size[1]) - self.face_noise_m)
        pending = False
        if self.is_round(label):
            # Round things (pots, bins, cups) are as deep as they are wide; the back half
            # is the unseen one.
            target = float(size[0])
        elif size[1] < self.unseen_fraction * prior[1]:
            # Implausibly thin for its category: only the face towards the cameras was
            # seen. The object goes on behind it by the category's depth, up to a wall
            # behind when the room estimate has one there (furniture stands against
            # walls; nothing stands in them).
            front_xy = centre[:2] - away * front * across
            dist = None
            if self.wall_distance is not None:
                dist = self.wall_distance(front_xy, away * across,
                                          1.5 * float(prior[1]) + 0.2)
            whole_face = size[0] >= self.min_long_fraction * prior[0]
            if dist is not None and whole_face and self.against_wall(label):
                # Wall furniture showing a whole long side: the wall gives its depth, the
                # prior caps it.
                target = float(np.clip(dist, size[1], 1.5 * float(prior[1])))
            elif dist is not None:
                target = float(min(prior[1], max(dist, size[1])))
            else:
                # No wall known behind it yet: the category's depth, refined when the
                # wall behind or the object's other sides are seen.
                target, pending = float(prior[1]), True
        else:
            return BoxFit(centre, size, yaw, from_prior)
        if target <= size[1]:
            return BoxFit(centre, size, yaw, from_prior, pending)
        # (A round object's seen surface is its near half whatever hid its bottom.) An
        # object standing on furniture may show its upright part only, with its lower
        # part flat on the support and lost in it (a laptop's base, a monitor's foot): in
        # front of the seen face as often as behind it, so the missing depth is spread
        # about the face as for a hidden bottom.
        on_furniture = not self.on_floor(label)
        if self.is_round(label) or not (hidden_below or on_furniture):
            centre[:2] = centre[:2] + away * (0.5 * target - front) * across
        size[1] = target
        if size[1] > size[0]:
            size[[0, 1]] = size[[1, 0]]
            yaw = yaw + math.pi / 2 if yaw <= 0 else yaw - math.pi / 2
        return BoxFit(centre, size, yaw, True, pending)
