"""When was an object first seen? Back-dating first sightings to non-keyframes.

Objects are detected only on keyframes (a few per second), but people ask about the
order in which things *appeared* in the stream, frame by frame. Two objects that come
into view between the same two keyframes would otherwise share one first-seen time, and
an object that was visible for a while before the keyframe that finally detected it
would be dated too late.

:class:`SightingHistory` keeps a short ring of recent frames in a light form (the
camera, its pose, the stamp and a strided depth image of about 80 x 60 samples, 19 KB).
When the map creates an object at a keyframe, :meth:`SightingHistory.earliest`
looks back through that ring for the first frame in which the object's box was already
visible: pixels whose depth back-projects into the box (grown by a small margin
sideways and above, not below, so the floor under a piece of furniture does not count)
make up its visible area, and the object counts as seen once that area reaches
``min_visible_fraction`` of the image (default 200 pixels at 640x480, about 0.065 %).
The check is geometric, so it works with any proposal source (label images, boxes, a
detector) and needs no per-frame detection.

An index keeps the look-back from scanning every remembered frame for every new object:
each frame's points are counted per 0.25 m voxel of the map frame (hashed into buckets)
when the frame is added, and an inverted table lists, per bucket, the frames with points
in it and how many.
For a box, the counts of the voxels its grown box overlaps bound, per frame, the area it
can cover; only frames whose bound reaches the needed area are checked exactly, oldest
first, so the answer is the same as a scan of every frame (:func:`earliest_by_scan`,
kept as the reference the tests compare with).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import numpy as np

from ssr_ros.core.camera import PinholeCamera


@dataclass(frozen=True)
class SightingConfig:
    """``capacity``: frames kept (10 s at 30 Hz: an object glimpsed early may be
    detected only when the walk comes back to it); ``stride``: depth sampling [px]
    (0 = about 80 samples across the image);
    ``min_visible_fraction``: share of the image an object must cover to count as seen;
    ``margin_m``: box growth sideways and above [m]; ``floor_gap_m``: points lower than
    this above the box bottom do not count [m]."""

    capacity: int = 300
    stride: int = 0
    min_visible_fraction: float = 200.0 / (640 * 480)
    margin_m: float = 0.02
    floor_gap_m: float = 0.02

    def __post_init__(self) -> None:
        if not (isinstance(self.capacity, int) and 0 <= self.capacity <= 10_000):
            raise ValueError(f"capacity must be an int in [0, 10000], got {self.capacity!r}")
        if not (isinstance(self.stride, int) and 0 <= self.stride <= 64):
            raise ValueError(f"stride must be an int in [0, 64], got {self.stride!r}")
        for name in ("min_visible_fraction", "margin_m", "floor_gap_m"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass
class _Glimpse:
    stamp_s: float
    camera: PinholeCamera
    T_map_cam: np.ndarray
    depth: np.ndarray  # strided depth [m] (h, w) float32, 0 = invalid
    stride: int
    seq: int = 0                       # running number of the frame in the history
    voxels: tuple[int, ...] = ()       # voxel buckets of its points (index entries)


VOXEL_M = 0.5
"""Edge of the index voxels [m]: small enough that a frame looking elsewhere has no
points in a box's voxels, large enough that a frame fills a few hundred of them (each
costs a table entry) and a box overlaps tens, not thousands."""
_COUNT_BITS = 26
"""A table entry is one int: frame number << _COUNT_BITS | point count (a frame has
at most 2^24 pixels, the largest image the node accepts)."""
BUCKETS = 1 << 16
"""Voxels are hashed into this many buckets, so a frame's voxels are one small integer
array. Voxels sharing a bucket only add to a frame's bound, which stays an upper
bound."""


def _buckets(ijk: np.ndarray) -> np.ndarray:
    """Bucket of each voxel index triple (..., 3) (a spatial hash, in [0, BUCKETS))."""
    v = ijk.astype(np.int64)
    return ((v[..., 0] * 73856093) ^ (v[..., 1] * 19349663) ^ (v[..., 2] * 83492791)) \
        & (BUCKETS - 1)


def _bucket_counts(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The buckets of the voxels of map-frame points ``(N, 3)`` [m], ascending, and how
    many points fall in each: ``np.unique(buckets, return_counts=True)`` of the points'
    buckets.

    A frame's few thousand points fill a few hundred voxels: they are counted per voxel
    on the grid of their bounding box (one bincount), and only the occupied voxels are
    hashed and sorted, unless that grid is much larger than the sample (then the points'
    buckets are sorted)."""
    # VOXEL_M is a power of two: p * (1 / VOXEL_M) is exactly p / VOXEL_M, as the
    # look-up has it. Coordinates apart (3, N): reductions along a length-3 axis are slow.
    ijk = np.floor(np.ascontiguousarray(points.T) * np.float32(1.0 / VOXEL_M)).astype(
        np.int64)
    lo = ijk.min(axis=1)
    span = ijk.max(axis=1) - lo + 1
    size = int(span[0]) * int(span[1]) * int(span[2])
    if size > max(8 * ijk.shape[1], 1 << 12):
        return np.unique(_buckets(ijk.T), return_counts=True)
    ijk -= lo[:, None]
    cell = (ijk[0] * span[1] + ijk[1]) * span[2] + ijk[2]
    per_cell = np.bincount(cell, minlength=size)
    occupied = np.flatnonzero(per_cell)
    rest, k = np.divmod(occupied, span[2])
    i, j = np.divmod(rest, span[1])
    voxels = np.stack([i + lo[0], j + lo[1], k + lo[2]], axis=1)
    keys, inverse = np.unique(_buckets(voxels), return_inverse=True)
    # voxels sharing a bucket add up (integer counts: exact in float64)
    counts = np.bincount(inverse, weights=per_cell[occupied], minlength=len(keys))
    return keys, counts.astype(np.int64)


class _FrameIndex:
    """Inverted table over the remembered frames: voxel bucket -> entries (frame number
    and point count in one int), in the order frames were added (so the oldest entries
    of a bucket are at its front and leave first)."""

    def __init__(self) -> None:
        self._table: dict[int, collections.deque] = {}

    def clear(self) -> None:
        self._table.clear()

    def add(self, seq: int, points: np.ndarray) -> tuple[int, ...]:
        """Enter frame ``seq`` with its map-frame points (N, 3) [m]; returns its
        buckets."""
        if not len(points):
            return ()
        keys, counts = _bucket_counts(points)
        keys_list = keys.tolist()
        entries = ((seq << _COUNT_BITS) | np.minimum(counts, (1 << _COUNT_BITS) - 1)
                   ).tolist()
        table = self._table
        for key, entry in zip(keys_list, entries):
            bucket = table.get(key)
            if bucket is None:
                table[key] = collections.deque((entry,))
            else:
                bucket.append(entry)
        return tuple(keys_list)

    def remove_oldest(self, glimpse: "_Glimpse") -> None:
        """Drop the entries of ``glimpse``, the oldest frame still entered."""
        table = self._table
        for key in glimpse.voxels:
            bucket = table[key]
            bucket.popleft()
            if not bucket:
                del table[key]

    def bounds(self, lo_m: np.ndarray, hi_m: np.ndarray) -> dict[int, int] | None:
        """Frame number -> number of its points in the voxels that overlap the box
        ``lo_m``..``hi_m`` (3,) [m] (an upper bound of its points inside the box); frames
        without any are left out. None for a box too large to look up voxel by voxel
        (then every frame is a candidate)."""
        lo = np.floor(lo_m / VOXEL_M).astype(np.int64)
        hi = np.floor(hi_m / VOXEL_M).astype(np.int64)
        if np.prod(hi - lo + 1) > 20_000:
            return None
        grid = np.stack(np.meshgrid(*(np.arange(a, b + 1) for a, b in zip(lo, hi)),
                                    indexing="ij"), axis=-1).reshape(-1, 3)
        entries: list[int] = []
        table = self._table
        for key in np.unique(_buckets(grid)).tolist():
            bucket = table.get(key)
            if bucket is not None:
                entries.extend(bucket)
        if not entries:
            return {}
        packed = np.array(entries, dtype=np.int64)
        seq_arr = packed >> _COUNT_BITS
        base = int(seq_arr.min())
        totals = np.bincount(seq_arr - base,
                             weights=(packed & ((1 << _COUNT_BITS) - 1)).astype(np.float64))
        hit = np.flatnonzero(totals)
        return dict(zip((hit + base).tolist(), totals[hit].astype(np.int64).tolist()))


class SightingHistory:
    """The last ``capacity`` frames, and when an object box first became visible in
    them (see the module docstring). One writer (the pipeline's thread)."""

    def __init__(self, config: SightingConfig | None = None) -> None:
        self.config = config or SightingConfig()
        self._frames: collections.deque[_Glimpse] = collections.deque()
        self._index = _FrameIndex()
        self._next_seq = 0

    def __len__(self) -> int:
        return len(self._frames) if self.config.capacity else 0

    def add(self, depth_m: np.ndarray, camera: PinholeCamera, T_map_cam: np.ndarray,
            stamp_s: float) -> None:
        """Remember a validated frame (depth (H, W) [m] matching ``camera``) and enter
        its points in the index (about 5,000 points: a fraction of a millisecond)."""
        if not self.config.capacity:
            return
        s = self.config.stride or max(1, int(depth_m.shape[1]) // 80)
        glimpse = _Glimpse(float(stamp_s), camera, T_map_cam,
                           np.array(depth_m[::s, ::s], dtype=np.float32), s, self._next_seq)
        self._next_seq += 1
        while len(self._frames) >= self.config.capacity:
            self._index.remove_oldest(self._frames.popleft())
        glimpse.voxels = self._index.add(glimpse.seq, self._points(glimpse))
        self._frames.append(glimpse)

    def clear(self) -> None:
        self._frames.clear()
        self._index.clear()

    def earliest(self, boxes: list[tuple[np.ndarray, np.ndarray, float]],
                 before_s: float | list[float]) -> list[float | None]:
        """For each box (centre (3,), size (3,) [m], yaw about +z [rad]), the stamp [s]
        of the first remembered frame earlier than ``before_s`` (one for all, or one per
        box) in which it covers enough of the image; None when there is none. Frames are
        looked at in the order they were added, up to the first one not earlier than
        ``before_s``; only those the index cannot rule out are checked point by point
        (their points are computed once per call, and not kept)."""
        before = ([float(before_s)] * len(boxes) if isinstance(before_s, (int, float))
                  else [float(b) for b in before_s])
        if len(before) != len(boxes):
            raise ValueError(f"{len(before)} before_s values for {len(boxes)} boxes")
        frames = list(self._frames)
        if not frames:
            return [None] * len(boxes)
        first_seq = frames[0].seq
        stamps = np.array([g.stamp_s for g in frames])
        points: dict[int, np.ndarray] = {}
        found: list[float | None] = [None] * len(boxes)
        for i, box in enumerate(boxes):
            # As a scan does: stop at the first frame that is not earlier.
            late = np.flatnonzero(stamps >= before[i])
            end = int(late[0]) if len(late) else len(frames)
            if not end:
                continue
            if self.config.min_visible_fraction <= 0:
                found[i] = frames[0].stamp_s      # nothing to cover: any frame sees it
                continue
            bounds = self._index.bounds(*self._grown_bounds(*box))
            order = range(end) if bounds is None else \
                [k for k in (seq - first_seq for seq in sorted(bounds)) if 0 <= k < end]
            for k in order:
                glimpse = frames[k]
                need = self._needed_area(glimpse)
                if bounds is not None and \
                        bounds[glimpse.seq] * glimpse.stride ** 2 < need:
                    continue
                if k not in points:
                    points[k] = self._points(glimpse)
                if self._visible_area(points[k], glimpse.stride, *box) >= need:
                    found[i] = glimpse.stamp_s
                    break
        return found

    def _strided_rays(self, camera: PinholeCamera, stride: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """x/z and y/z of ``camera.rays[::stride, ::stride]``, each flattened and
        contiguous (float32), kept for the last camera (frames of one stream share it)."""
        cached = getattr(self, "_rays_cache", None)
        if cached is None or cached[0] is not camera or cached[1] != stride:
            rays = camera.rays[::stride, ::stride]
            cached = (camera, stride, (np.ascontiguousarray(rays[..., 0]).ravel(),
                                       np.ascontiguousarray(rays[..., 1]).ravel()))
            self._rays_cache = cached
        return cached[2]

    def _grown_bounds(self, center_m: np.ndarray, size_m: np.ndarray,
                      yaw_rad: float) -> tuple[np.ndarray, np.ndarray]:
        """Map-frame corners (3,) [m] of an axis-aligned box around everything
        :meth:`_visible_area` may count for this box (with 1 mm for rounding)."""
        c = np.asarray(center_m, dtype=np.float64)
        half = 0.5 * np.asarray(size_m, dtype=np.float64)
        m = self.config.margin_m
        cos_y, sin_y = abs(math.cos(yaw_rad)), abs(math.sin(yaw_rad))
        hx, hy = half[0] + m, half[1] + m
        ext = np.array([cos_y * hx + sin_y * hy, sin_y * hx + cos_y * hy, 0.0]) + 1e-3
        lo = c - ext
        hi = c + ext
        lo[2] = c[2] - half[2] + self.config.floor_gap_m - 1e-3
        hi[2] = c[2] + half[2] + m + 1e-3
        return lo, hi

    def visible_now(self, boxes: list[tuple[np.ndarray, np.ndarray, float]]) -> bool:
        """True when one of the boxes covers enough of the newest remembered frame."""
        if not self._frames or not boxes or not self.config.capacity:
            return False
        glimpse = self._frames[-1]
        points = self._points(glimpse)
        need = self._needed_area(glimpse)
        return any(self._visible_area(points, glimpse.stride, *box) >= need
                   for box in boxes)

    def _needed_area(self, glimpse: _Glimpse) -> float:
        """Image area [px] an object must cover in this frame to count as seen."""
        h, w = glimpse.camera.shape
        return self.config.min_visible_fraction * h * w

    def _visible_area(self, points: np.ndarray, stride: int, center_m: np.ndarray,
                      size_m: np.ndarray, yaw_rad: float) -> int:
        """Image area [px] of the frame's points inside the grown box."""
        c = np.asarray(center_m, dtype=np.float32)
        half = 0.5 * np.asarray(size_m, dtype=np.float32)
        m = self.config.margin_m
        d = points - c
        near = np.abs(d).max(axis=1) <= float(np.linalg.norm(half)) + m
        if not near.any():
            return 0
        d = d[near]
        cos_y, sin_y = math.cos(yaw_rad), math.sin(yaw_rad)
        x = cos_y * d[:, 0] + sin_y * d[:, 1]
        y = -sin_y * d[:, 0] + cos_y * d[:, 1]
        inside = ((np.abs(x) <= half[0] + m) & (np.abs(y) <= half[1] + m)
                  & (d[:, 2] >= -half[2] + self.config.floor_gap_m)
                  & (d[:, 2] <= half[2] + m))
        return int(inside.sum()) * stride ** 2

    def _points(self, glimpse: _Glimpse) -> np.ndarray:
        """The frame's valid pixels in the map frame (N, 3) float32 [m]."""
        ray_x, ray_y = self._strided_rays(glimpse.camera, glimpse.stride)
        depth = glimpse.depth.ravel()
        valid = depth > 0.0
        z = depth[valid]
        # the camera-frame points (N, 3) float32, filled column by column
        cam = np.empty((len(z), 3), dtype=np.float32)
        np.multiply(ray_x[valid], z, out=cam[:, 0])
        np.multiply(ray_y[valid], z, out=cam[:, 1])
        cam[:, 2] = z
        T = glimpse.T_map_cam.astype(np.float32)
        return cam @ T[:3, :3].T + T[:3, 3]


def earliest_by_scan(history: SightingHistory,
                     boxes: list[tuple[np.ndarray, np.ndarray, float]],
                     before_s: float | list[float]) -> list[float | None]:
    """:meth:`SightingHistory.earliest` without the index: every remembered frame's
    points against every box still open, oldest frame first. The reference the indexed
    search must agree with (tests, ``benchmarks/scale.py``)."""
    before = ([float(before_s)] * len(boxes) if isinstance(before_s, (int, float))
              else [float(b) for b in before_s])
    if len(before) != len(boxes):
        raise ValueError(f"{len(before)} before_s values for {len(boxes)} boxes")
    found: list[float | None] = [None] * len(boxes)
    todo = set(range(len(boxes)))
    for glimpse in list(history._frames):
        todo = {i for i in todo if glimpse.stamp_s < before[i]}
        if not todo:
            break
        points = history._points(glimpse)
        need = history._needed_area(glimpse)
        for i in sorted(todo):
            if history._visible_area(points, glimpse.stride, *boxes[i]) >= need:
                found[i] = glimpse.stamp_s
                todo.discard(i)
    return found
