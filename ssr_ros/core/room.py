"""RoomEstimator: the extent of the mapped space from bird's-eye floor and wall evidence.

Background points (not part of any object) are binned into a bounded ground-plane grid
around the map origin: points near the floor height are floor evidence, points higher up
(walls, other structure) are boundary evidence, and the ground between the camera and
each point was seen through, so it is interior too. The room is the largest connected
region of observed cells after closing small gaps and filling holes (the floor under
furniture is not seen but is enclosed). Its floor area counts region cells, with cells on the
region's border counted half (a wall or the last floor cell straddles the true border).
The floor height is the densest low level of the background points unless configured.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ssr_ros.core.geometry import convex_hull_xy, polygon_area
from ssr_ros.core.types import Room


@dataclass
class RoomEstimatorConfig:
    """Grid and classification parameters [m]."""

    cell_size_m: float = 0.1
    extent_m: float = 40.0
    floor_z_m: float | None = None
    floor_tolerance_m: float = 0.06
    wall_min_height_m: float = 0.25
    min_hits: int = 2
    close_iterations: int = 2
    max_rays: int = 300

    def __post_init__(self) -> None:
        if self.cell_size_m <= 0 or self.extent_m <= self.cell_size_m:
            raise ValueError("cell_size_m must be > 0 and extent_m larger than one cell")
        if int(round(self.extent_m / self.cell_size_m)) > 2000:
            raise ValueError("room grid would exceed 2000 x 2000 cells; grow cell_size_m")
        if self.floor_tolerance_m <= 0 or self.min_hits < 1:
            raise ValueError("floor_tolerance_m must be > 0 and min_hits >= 1")


class RoomEstimator:
    """Accumulates floor/wall evidence and answers :meth:`room` (a core ``Room``).
    Memory is bounded by the grid (``(extent_m / cell_size_m)^2`` cells, 14 bytes each).
    Thread-safe for one writer and many readers."""

    _Z_BIN_M = 0.02
    _Z_RANGE_M = 10.0

    def __init__(self, config: RoomEstimatorConfig | None = None) -> None:
        self.config = config or RoomEstimatorConfig()
        n = int(round(self.config.extent_m / self.config.cell_size_m))
        self._n = n
        self._floor = np.zeros((n, n), dtype=np.uint16)
        self._wall = np.zeros((n, n), dtype=np.uint16)
        # Sum of wall-point x and y per cell: the wall's position within its cell.
        self._wall_xy = np.zeros((n, n, 2), dtype=np.float32)
        self._seen = np.zeros((n, n), dtype=np.uint16)
        self._z_hist = np.zeros(int(2 * self._Z_RANGE_M / self._Z_BIN_M), dtype=np.int64)
        self._cache: Room | None = None
        self._lock = threading.Lock()

    @property
    def floor_z_m(self) -> float:
        """Floor height [m]: configured, or the densest level of the lower background
        points seen so far (0 before any evidence)."""
        if self.config.floor_z_m is not None:
            return float(self.config.floor_z_m)
        if self._z_hist.sum() == 0:
            return 0.0
        # Smooth over 3 bins so a noisy floor still forms one peak.
        smooth = np.convolve(self._z_hist, np.ones(3), mode="same")
        return float((int(np.argmax(smooth)) + 0.5) * self._Z_BIN_M - self._Z_RANGE_M)

    def _cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.floor(xy / self.config.cell_size_m).astype(np.int64) + self._n // 2
        ok = (idx >= 0).all(axis=1) & (idx < self._n).all(axis=1)
        return idx[ok], ok

    def update(self, background_points_m: np.ndarray,
               camera_position_m: np.ndarray | None = None) -> None:
        """Add background points ``(N, 3)`` [m, map frame] of one keyframe seen from
        ``camera_position_m`` (3,). With the camera position, points less than 0.3 m
        below the camera do not vote for the floor level, and the ground cells between
        the camera and up to ``max_rays`` of the points are marked as seen through
        (room interior, even where furniture hides the floor)."""
        pts = np.asarray(background_points_m, dtype=np.float64).reshape(-1, 3)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if len(pts) == 0:
            return
        cam = None if camera_position_m is None else \
            np.asarray(camera_position_m, dtype=np.float64).reshape(3)
        with self._lock:
            low = pts[:, 2] if cam is None else pts[pts[:, 2] < cam[2] - 0.3, 2]
            if cam is not None:
                self._mark_rays(cam[:2], pts[:, :2])
            zb = np.floor((low + self._Z_RANGE_M) / self._Z_BIN_M).astype(np.int64)
            zb = zb[(zb >= 0) & (zb < len(self._z_hist))]
            self._z_hist += np.bincount(zb, minlength=len(self._z_hist))
            floor_z = self.floor_z_m
            dz = pts[:, 2] - floor_z
            floor_pts = pts[np.abs(dz) <= self.config.floor_tolerance_m]
            wall_pts = pts[dz >= self.config.wall_min_height_m]
            for grid, sel in ((self._floor, floor_pts), (self._wall, wall_pts)):
                idx, ok = self._cells(sel[:, :2])
                if len(idx) == 0:
                    continue
                flat = idx[:, 1] * self._n + idx[:, 0]
                hits = np.bincount(flat, minlength=self._n * self._n).reshape(self._n, self._n)
                if grid is self._wall:
                    saturated = grid.astype(np.int64) + hits > 65535
                    for k in range(2):
                        add = np.bincount(flat, weights=sel[ok, k],
                                          minlength=self._n * self._n).reshape(self._n, self._n)
                        self._wall_xy[..., k] += np.where(saturated, 0.0, add).astype(np.float32)
                    hits[saturated] = 0
                np.minimum(grid.astype(np.int64) + hits, 65535, out=hits)
                grid[...] = hits.astype(np.uint16)
            self._cache = None

    def _mark_rays(self, origin_xy: np.ndarray, ends_xy: np.ndarray) -> None:
        """Count the cells on the ground segments origin -> end (sampled every half cell)
        as seen through; at most ``max_rays`` evenly strided segments per call."""
        ends = ends_xy[:: max(1, int(np.ceil(len(ends_xy) / self.config.max_rays)))]
        vec = ends - origin_xy
        length = np.hypot(vec[:, 0], vec[:, 1])
        step = 0.5 * self.config.cell_size_m
        n_max = int(np.ceil(length.max() / step)) + 1 if len(length) else 0
        if n_max <= 1:
            return
        t = np.linspace(0.0, 1.0, n_max)
        samples = origin_xy + t[None, :, None] * vec[:, None, :]
        # Keep the samples within each ray's length only once (shorter rays repeat cells).
        idx, _ = self._cells(samples.reshape(-1, 2))
        flat = np.unique(idx[:, 1] * self._n + idx[:, 0])
        seen = self._seen.reshape(-1)
        seen[flat] = np.minimum(seen[flat].astype(np.int64) + 1, 65535).astype(np.uint16)

    def clear(self) -> None:
        with self._lock:
            self._floor[:] = 0
            self._wall[:] = 0
            self._wall_xy[:] = 0.0
            self._seen[:] = 0
            self._z_hist[:] = 0
            self._cache = None

    def distance_to_wall(self, origin_xy: np.ndarray, direction_xy: np.ndarray,
                         max_distance_m: float) -> float | None:
        """Distance [m] from ``origin_xy`` along ``direction_xy`` (map frame) to the first
        wall cell (at least ``min_hits`` wall points) within ``max_distance_m``, measured
        to the mean position of that cell's wall points; None when there is none."""
        d = np.asarray(direction_xy, dtype=np.float64)
        norm = float(np.hypot(*d))
        if norm <= 0 or max_distance_m <= 0:
            return None
        d = d / norm
        o = np.asarray(origin_xy, dtype=np.float64)
        step = 0.5 * self.config.cell_size_m
        ts = np.arange(0.0, max_distance_m + step, step)
        idx, _ = self._cells(o[None, :] + ts[:, None] * d[None, :])
        with self._lock:
            hits = self._wall[idx[:, 1], idx[:, 0]]
            wall = np.nonzero(hits >= self.config.min_hits)[0]
            if len(wall) == 0:
                return None
            i, j = idx[wall[0], 1], idx[wall[0], 0]
            centroid = self._wall_xy[i, j].astype(np.float64) / float(self._wall[i, j])
        dist = float(np.dot(centroid - o, d))
        return dist if 0.0 <= dist <= max_distance_m else None

    def region(self) -> np.ndarray:
        """Boolean grid (rows = y, cols = x) of the room's cells."""
        cfg = self.config
        observed = ((self._floor >= cfg.min_hits) | (self._wall >= cfg.min_hits)
                    | (self._seen >= cfg.min_hits))
        if not observed.any():
            return observed
        closed = ndimage.binary_closing(observed, iterations=cfg.close_iterations) \
            if cfg.close_iterations > 0 else observed
        closed |= observed
        filled = ndimage.binary_fill_holes(closed)
        labels, n = ndimage.label(filled)
        if n > 1:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            filled = labels == int(np.argmax(sizes))
        return filled

    def room(self) -> Room:
        """The room: convex ground outline (counter-clockwise, map frame [m]) and floor
        area [m^2] of the observed region (not of the outline)."""
        with self._lock:
            if self._cache is not None:
                return self._cache
            region = self.region()
            if not region.any():
                self._cache = Room()
                return self._cache
            border = region & ~ndimage.binary_erosion(region)
            cell = self.config.cell_size_m
            area = (float(region.sum()) - 0.5 * float(border.sum())) * cell * cell
            rows, cols = np.nonzero(border)
            centres = (np.stack([cols, rows], axis=1) - self._n // 2 + 0.5) * cell
            hull = convex_hull_xy(centres)
            if polygon_area(hull) < 0:
                hull = hull[::-1]
            self._cache = Room(polygon_xy=hull, floor_area_m2=area)
            return self._cache
