"""RoomEstimator: the extent of the mapped space from bird's-eye floor and wall evidence.

Background points (not part of any object) are binned into a bounded ground-plane grid
around the map origin: points near the floor height are floor evidence, points near the
ceiling are interior evidence, points in between (walls, other structure) are boundary
evidence, and the ground between the camera and each point was seen through, so it is
interior too. The room is the largest connected
region of observed cells after closing small gaps and filling holes (the floor under
furniture is not seen but is enclosed). Its floor area counts region cells, with cells on the
region's border weighted by the part of the cell on the inner side of the wall: the wall
runs through the local centroid of the wall points (depth noise scatters them to both
sides of the true surface), facing away from the unobserved outside. Interior walls (no
outside next to them) count whole, as the combined space includes them. Rooms are
assumed rectilinear: the observed region is completed to its orthogonally convex hull in
the frame of the dominant wall direction, which fills corners the camera never looked at
(a rectangle, L-shape or two joined rooms is orthogonally convex, so the completion of a
part of it stays inside it). The floor height is the lowest level where the low background
points form a thin horizontal layer (walls spread theirs over height) unless configured;
the ceiling height is the top (99th percentile) of the
points well above the camera (the ceiling itself, or the tops of the walls that reach
it when the camera seldom looks up), and only points between the two count as walls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ssr_ros.core.arrays import decode_array, encode_array
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
    ray_margin_m: float = 0.15
    ceiling_margin_m: float = 0.15
    orthogonal_fill: bool = True

    def __post_init__(self) -> None:
        if self.cell_size_m <= 0 or self.extent_m <= self.cell_size_m:
            raise ValueError("cell_size_m must be > 0 and extent_m larger than one cell")
        if int(round(self.extent_m / self.cell_size_m)) > 2000:
            raise ValueError("room grid would exceed 2000 x 2000 cells; grow cell_size_m")
        if self.floor_tolerance_m <= 0 or self.min_hits < 1:
            raise ValueError("floor_tolerance_m must be > 0 and min_hits >= 1")
        if self.ray_margin_m < 0 or self.ceiling_margin_m < 0:
            raise ValueError("ray_margin_m and ceiling_margin_m must be >= 0")


@dataclass(frozen=True)
class _RegionShape:
    """What :meth:`RoomEstimator.room` derives from the room region of a window alone:
    the ``region`` (rows = y, cols = x); its cells within two of the outside
    (``near_rows``, ``near_cols`` (K,)) with the outward normal there (``normal`` (K, 2),
    the gradient of the smoothed outside, not normalised) and whether a 4-neighbour is
    outside (``edge`` (K,)); the convex outline of its border cells (``hull`` (M, 2) [m],
    counter-clockwise, map frame)."""

    region: np.ndarray
    near_rows: np.ndarray
    near_cols: np.ndarray
    normal: np.ndarray
    edge: np.ndarray
    hull: np.ndarray


class RoomEstimator:
    """Accumulates floor/wall evidence and answers :meth:`room` (a core ``Room``).
    Memory is bounded by the grid (``(extent_m / cell_size_m)^2`` cells, 16 bytes each).
    Thread-safe for one writer and many readers."""

    _Z_BIN_M = 0.02
    _Z_RANGE_M = 10.0
    # Points this far above the camera may be ceiling; closer ones may be wall tops.
    _CEILING_ABOVE_CAMERA_M = 0.3
    _MIN_CEILING_POINTS = 50
    # A floor layer: at least this many points in 4 cm, this many times its surroundings.
    _FLOOR_MIN_POINTS = 20
    _FLOOR_PROMINENCE = 2.0
    # The evidence grids (rows = y, cols = x) that state_dict saves.
    _GRIDS = ("_floor", "_ceiling", "_wall", "_wall_xy", "_seen")

    def __init__(self, config: RoomEstimatorConfig | None = None) -> None:
        self.config = config or RoomEstimatorConfig()
        n = int(round(self.config.extent_m / self.config.cell_size_m))
        self._n = n
        self._floor = np.zeros((n, n), dtype=np.uint16)
        self._ceiling = np.zeros((n, n), dtype=np.uint16)
        self._wall = np.zeros((n, n), dtype=np.uint16)
        # Sum of wall-point x and y per cell: the wall's position within its cell.
        self._wall_xy = np.zeros((n, n, 2), dtype=np.float32)
        self._seen = np.zeros((n, n), dtype=np.uint16)
        n_z = int(2 * self._Z_RANGE_M / self._Z_BIN_M)
        self._z_hist = np.zeros(n_z, dtype=np.int64)
        self._z_hist_high = np.zeros(n_z, dtype=np.int64)
        # Bounding box (row0, row1, col0, col1) of all marked cells, to keep room() small.
        self._bbox: tuple[int, int, int, int] | None = None
        self._cache: Room | None = None
        # (height histogram, floor level) of the last _current_floor_level: see there.
        self._floor_cache: tuple[np.ndarray, float | None] | None = None
        # (window, wall mask, angle) of the last _dominant_angle: see there.
        self._angle_cache: tuple[tuple, np.ndarray, float] | None = None
        # (window, observed mask, _RegionShape) of the last room(): see _region_shape.
        self._shape_cache: tuple[tuple, np.ndarray, _RegionShape] | None = None
        # (window, core mask, angle, cells added) of the last _completion.
        self._completion_cache: tuple[tuple, np.ndarray, float, int] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _peak_level(hist: np.ndarray) -> float | None:
        if hist.sum() == 0:
            return None
        # Smooth over 3 bins so a noisy surface still forms one peak.
        smooth = np.convolve(hist, np.ones(3), mode="same")
        return float((int(np.argmax(smooth)) + 0.5) * RoomEstimator._Z_BIN_M
                     - RoomEstimator._Z_RANGE_M)

    @staticmethod
    def _floor_level(hist: np.ndarray) -> float | None:
        """The lowest level [m] where the points form a horizontal surface, or None.

        A wall spreads its points evenly over height (denser towards the horizon, so its
        densest level is wherever the view happens to end); a horizontal surface puts them
        all in one thin layer. A level counts when its 4 cm layer holds at least
        ``_FLOOR_MIN_POINTS`` and ``_FLOOR_PROMINENCE`` times the typical 4 cm of either
        neighbourhood (0.1-0.3 m below and above it). Nothing background is below the
        floor, so the lowest such level is taken (table tops, when they are background,
        are higher)."""
        pair = hist[:-1] + hist[1:]
        n = len(pair)
        for k in np.nonzero(pair >= RoomEstimator._FLOOR_MIN_POINTS)[0]:
            if pair[k] < pair[max(k - 1, 0)] or pair[k] < pair[min(k + 1, n - 1)]:
                continue
            below = hist[max(0, k - 15):max(0, k - 4)]
            above = hist[k + 6:k + 17]
            background = max(float(np.median(below)) if len(below) else 0.0,
                             float(np.median(above)) if len(above) else 0.0)
            if pair[k] >= RoomEstimator._FLOOR_PROMINENCE * 2.0 * background:
                return float((k + 1) * RoomEstimator._Z_BIN_M - RoomEstimator._Z_RANGE_M)
        return None

    def _current_floor_level(self) -> float | None:
        """:meth:`_floor_level` of the height histogram so far. Kept with a copy of the
        histogram it was computed from: the box fitter asks for the floor at every refit
        of a keyframe, and the level's scan (medians per candidate level) would be
        repeated for each while the histogram changes only once per keyframe."""
        cached = self._floor_cache
        if cached is not None and np.array_equal(cached[0], self._z_hist):
            return cached[1]
        level = self._floor_level(self._z_hist)
        self._floor_cache = (self._z_hist.copy(), level)
        return level

    @property
    def floor_observed(self) -> bool:
        """True when the floor height is configured or a horizontal floor layer has been
        seen (see :attr:`floor_z_m`); until then the floor height is only a guess."""
        if self.config.floor_z_m is not None:
            return True
        with self._lock:
            return self._current_floor_level() is not None

    @property
    def floor_z_m(self) -> float:
        """Floor height [m]: configured, else the lowest horizontal layer of the lower
        background points seen so far, else (floor not in view yet, see
        :attr:`floor_observed`) their densest level, 0 before any evidence."""
        if self.config.floor_z_m is not None:
            return float(self.config.floor_z_m)
        level = self._current_floor_level()
        if level is None:
            level = self._peak_level(self._z_hist)
        return 0.0 if level is None else level

    @property
    def ceiling_z_m(self) -> float | None:
        """Ceiling height [m]: the 99th percentile of the background points more than
        0.3 m above the camera, or None before ``_MIN_CEILING_POINTS`` of them (an open
        space may have none)."""
        total = int(self._z_hist_high.sum())
        if total < self._MIN_CEILING_POINTS:
            return None
        k = int(np.searchsorted(np.cumsum(self._z_hist_high), 0.99 * total))
        return float((k + 0.5) * self._Z_BIN_M - self._Z_RANGE_M)

    def _cells(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.floor(xy / self.config.cell_size_m).astype(np.int64) + self._n // 2
        # per column: numpy's reductions along a length-2 axis are slow
        col, row = idx[:, 0], idx[:, 1]
        ok = (col >= 0) & (col < self._n) & (row >= 0) & (row < self._n)
        return idx[ok], ok

    def _grow_bbox_flat(self, flat: np.ndarray) -> None:
        """Grow the bounding box of marked cells by cells given as flat indices
        (row * n + col)."""
        if len(flat) == 0:
            return
        rows, cols = np.divmod(flat, self._n)
        r0, r1 = int(rows.min()), int(rows.max()) + 1
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        if self._bbox is not None:
            b = self._bbox
            r0, r1, c0, c1 = min(r0, b[0]), max(r1, b[1]), min(c0, b[2]), max(c1, b[3])
        self._bbox = (r0, r1, c0, c1)

    def _add_counts(self, grid: np.ndarray, flat: np.ndarray,
                    xy: np.ndarray | None = None) -> None:
        """Add one hit per entry of ``flat`` (cells as row * n + col) to ``grid``
        (saturating); with ``xy`` ((N, 2) [m]) also add the points' coordinates to the
        wall sums."""
        if len(flat) == 0:
            return
        cells, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        g = grid.reshape(-1)
        total = g[cells].astype(np.int64) + counts
        if xy is not None:
            # A saturated cell keeps its centroid: stop adding coordinates with its count.
            fits = total <= 65535
            w = self._wall_xy.reshape(-1, 2)
            for k in range(2):
                sums = np.bincount(inverse, weights=xy[:, k], minlength=len(cells))
                w[cells[fits], k] += sums[fits].astype(np.float32)
            total = np.where(fits, total, g[cells])
        g[cells] = np.minimum(total, 65535).astype(np.uint16)
        self._grow_bbox_flat(cells)

    def update(self, background_points_m: np.ndarray,
               camera_position_m: np.ndarray | None = None) -> None:
        """Add background points ``(N, 3)`` [m, map frame] of one keyframe seen from
        ``camera_position_m`` (3,). With the camera position, points less than 0.3 m
        below the camera do not vote for the floor level, points more than 0.3 m above it
        set the ceiling level, and the ground cells between the camera and up to
        ``max_rays`` of the points (stopping ``ray_margin_m`` short of each, as depth noise
        scatters wall points behind the wall) are marked as seen through (room interior,
        even where furniture hides the floor)."""
        pts = np.asarray(background_points_m, dtype=np.float64).reshape(-1, 3)
        finite = np.isfinite(pts)
        if not finite.all():
            pts = pts[finite.all(axis=1)]
        if len(pts) == 0:
            return
        cam = None if camera_position_m is None else \
            np.asarray(camera_position_m, dtype=np.float64).reshape(3)
        n_z = len(self._z_hist)
        with self._lock:
            low = pts[:, 2] if cam is None else pts[pts[:, 2] < cam[2] - 0.3, 2]
            if cam is not None:
                self._mark_rays(cam[:2], pts[:, :2])
                high = pts[pts[:, 2] > cam[2] + self._CEILING_ABOVE_CAMERA_M, 2]
                zb = np.floor((high + self._Z_RANGE_M) / self._Z_BIN_M).astype(np.int64)
                self._z_hist_high += np.bincount(zb[(zb >= 0) & (zb < n_z)], minlength=n_z)
            zb = np.floor((low + self._Z_RANGE_M) / self._Z_BIN_M).astype(np.int64)
            self._z_hist += np.bincount(zb[(zb >= 0) & (zb < n_z)], minlength=n_z)
            floor_z = self.floor_z_m
            ceiling_z = self.ceiling_z_m
            dz = pts[:, 2] - floor_z
            is_floor = np.abs(dz) <= self.config.floor_tolerance_m
            is_wall = dz >= self.config.wall_min_height_m
            is_ceiling = np.zeros(len(pts), dtype=bool)
            if ceiling_z is not None and ceiling_z - floor_z > 2 * self.config.wall_min_height_m:
                is_ceiling = pts[:, 2] >= ceiling_z - self.config.ceiling_margin_m
                is_wall &= ~is_ceiling
            # Every point's cell once (x and y apart: numpy's reductions and fancy
            # indexing along the length-2 axis are slow), then each class's cells.
            n = self._n
            col = np.floor(pts[:, 0] / self.config.cell_size_m).astype(np.int64) + n // 2
            row = np.floor(pts[:, 1] / self.config.cell_size_m).astype(np.int64) + n // 2
            flat = row * n + col
            inside = (col >= 0) & (col < n) & (row >= 0) & (row < n)
            for grid, sel in ((self._floor, is_floor), (self._ceiling, is_ceiling),
                              (self._wall, is_wall)):
                sel = sel & inside
                self._add_counts(grid, flat[sel], pts[sel, :2] if grid is self._wall else None)
            self._cache = None

    def _mark_rays(self, origin_xy: np.ndarray, ends_xy: np.ndarray) -> None:
        """Count the cells on the ground segments origin -> end (sampled every half cell,
        ending ``ray_margin_m`` short) as seen through; at most ``max_rays`` evenly
        strided segments per call."""
        ends = ends_xy[:: max(1, int(np.ceil(len(ends_xy) / self.config.max_rays)))]
        vec = ends - origin_xy
        length = np.hypot(vec[:, 0], vec[:, 1])
        keep = np.maximum(length - self.config.ray_margin_m, 0.0) / np.maximum(length, 1e-9)
        vec = vec * keep[:, None]
        length = length * keep
        step = 0.5 * self.config.cell_size_m
        n_max = int(np.ceil(length.max() / step)) + 1 if len(length) else 0
        if n_max <= 1:
            return
        t = np.linspace(0.0, 1.0, n_max)
        # The samples origin + t * vec, x and y apart (rays x steps, contiguous): the same
        # products and sums as with the (ray, step, 2) array, while the grid cells, their
        # bounds check and the flat indices avoid numpy's slow length-2 axis.
        n = self._n
        cell = self.config.cell_size_m
        index = []
        for k in (0, 1):
            along = np.multiply.outer(vec[:, k], t)
            along += origin_xy[k]
            along /= cell
            np.floor(along, out=along)
            index.append(along.astype(np.int64) + n // 2)
        col, row = index
        flat = row * n + col
        if min(int(col.min()), int(row.min())) < 0 or max(int(col.max()), int(row.max())) >= n:
            flat = flat[(col >= 0) & (col < n) & (row >= 0) & (row < n)]
            if flat.size == 0:
                return
        # Each cell once, in cell order: marked on a scratch grid (a pass over the grid is
        # cheaper than np.unique's sort of the ~30,000 samples).
        marked = np.zeros(n * n, dtype=bool)
        marked[flat.ravel()] = True
        flat = np.flatnonzero(marked)
        seen = self._seen.reshape(-1)
        seen[flat] = np.minimum(seen[flat].astype(np.int64) + 1, 65535).astype(np.uint16)
        self._grow_bbox_flat(flat)

    def clear(self) -> None:
        with self._lock:
            for grid in (self._floor, self._ceiling, self._wall, self._seen):
                grid[:] = 0
            self._wall_xy[:] = 0.0
            self._z_hist[:] = 0
            self._z_hist_high[:] = 0
            self._bbox = None
            self._cache = None

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """Everything :meth:`room` and the floor height are computed from: the evidence
        grids inside the marked window and the height histograms (JSON-ready, a few kB
        for a room). :meth:`load_state_dict` of an estimator with the same grid restores
        it, so a restarted node estimates the same room."""
        with self._lock:
            state: dict = {"cell_size_m": self.config.cell_size_m, "cells": self._n,
                           "bbox": None if self._bbox is None else list(self._bbox),
                           "z_hist": encode_array(self._z_hist),
                           "z_hist_high": encode_array(self._z_hist_high)}
            if self._bbox is not None:
                r0, r1, c0, c1 = self._bbox
                for name in self._GRIDS:
                    state[name] = encode_array(getattr(self, name)[r0:r1, c0:c1])
            return state

    def load_state_dict(self, state: dict) -> None:
        """Replace the evidence with :meth:`state_dict` output. Raises ValueError
        (:class:`~ssr_ros.core.arrays.ArrayFormatError` among them) when it is malformed
        or from a grid of another cell size or extent; the evidence is then unchanged."""
        try:
            if float(state["cell_size_m"]) != self.config.cell_size_m \
                    or int(state["cells"]) != self._n:
                raise ValueError(f"room evidence of a {state['cells']}-cell grid at "
                                 f"{state['cell_size_m']} m, this estimator has {self._n} "
                                 f"cells at {self.config.cell_size_m} m")
            n_z = len(self._z_hist)
            z_hist = decode_array(state["z_hist"], np.int64, 1)
            z_high = decode_array(state["z_hist_high"], np.int64, 1)
            if len(z_hist) != n_z or len(z_high) != n_z:
                raise ValueError("room height histograms have the wrong length")
            bbox = None if state["bbox"] is None else tuple(int(v) for v in state["bbox"])
            grids = {}
            if bbox is not None:
                r0, r1, c0, c1 = bbox
                if not (0 <= r0 < r1 <= self._n and 0 <= c0 < c1 <= self._n):
                    raise ValueError(f"room evidence window {bbox} is outside the grid")
                for name in self._GRIDS:
                    template = getattr(self, name)
                    grid = decode_array(state[name], template.dtype, template.ndim)
                    if grid.shape[:2] != (r1 - r0, c1 - c0) \
                            or grid.shape[2:] != template.shape[2:]:
                        raise ValueError(f"room evidence {name} has shape {grid.shape}")
                    grids[name] = grid
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed room evidence: {exc}") from exc
        with self._lock:
            for name in self._GRIDS:
                getattr(self, name)[...] = 0
            for name, grid in grids.items():
                r0, r1, c0, c1 = bbox
                getattr(self, name)[r0:r1, c0:c1] = grid
            self._z_hist[:] = z_hist
            self._z_hist_high[:] = z_high
            self._bbox = bbox
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

    def _window(self) -> tuple[slice, slice] | None:
        """Rows and columns of the marked cells plus a margin for closing and borders."""
        if self._bbox is None:
            return None
        pad = self.config.close_iterations + 3
        r0, r1, c0, c1 = self._bbox
        return (slice(max(r0 - pad, 0), min(r1 + pad, self._n)),
                slice(max(c0 - pad, 0), min(c1 + pad, self._n)))

    def _observed(self, win: tuple[slice, slice]) -> np.ndarray:
        """Cells of the window with at least ``min_hits`` of any evidence."""
        cfg = self.config
        return ((self._floor[win] >= cfg.min_hits) | (self._wall[win] >= cfg.min_hits)
                | (self._ceiling[win] >= cfg.min_hits) | (self._seen[win] >= cfg.min_hits))

    def _observed_region(self, win: tuple[slice, slice]) -> np.ndarray:
        return self._region_of(self._observed(win))

    def _region_of(self, observed: np.ndarray) -> np.ndarray:
        """The room region of the observed cells: gaps closed, holes filled, the largest
        connected part."""
        cfg = self.config
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

    def _region_shape(self, win: tuple[slice, slice]) -> _RegionShape:
        """The region of the window's observed cells and what depends on it alone (its
        border cells, their outward normals, its outline). Kept with the observed mask it
        came from: once a room is mapped, keyframes add counts to cells that are already
        observed, and the region, its closing, hole filling, labelling, normals and
        outline are the same as at the last estimate."""
        observed = self._observed(win)
        key = (win[0].start, win[0].stop, win[1].start, win[1].stop)
        cached = self._shape_cache
        if cached is not None and cached[0] == key and np.array_equal(cached[1], observed):
            return cached[2]
        shape = self._shape_of(win, self._region_of(observed))
        self._shape_cache = (key, observed, shape)
        return shape

    def _shape_of(self, win: tuple[slice, slice], region: np.ndarray) -> _RegionShape:
        """:class:`_RegionShape` of ``region`` (a window's room cells)."""
        if not region.any():
            none = np.zeros(0, dtype=np.intp)
            return _RegionShape(region, none, none, np.zeros((0, 2)), np.zeros(0, dtype=bool),
                                np.zeros((0, 2)))
        outside = ~region
        near = region & ndimage.binary_dilation(outside, iterations=2)
        rows, cols = np.nonzero(near)
        if len(rows):
            # Outward normal: the gradient of the smoothed outside indicator.
            smooth = ndimage.uniform_filter(outside.astype(np.float64), size=3)
            gy = ndimage.sobel(smooth, axis=0)
            gx = ndimage.sobel(smooth, axis=1)
            normal = np.stack([gx[rows, cols], gy[rows, cols]], axis=1)
            edge = (outside[np.clip(rows + 1, 0, len(region) - 1), cols]
                    | outside[np.clip(rows - 1, 0, len(region) - 1), cols]
                    | outside[rows, np.clip(cols + 1, 0, region.shape[1] - 1)]
                    | outside[rows, np.clip(cols - 1, 0, region.shape[1] - 1)])
        else:
            normal, edge = np.zeros((0, 2)), np.zeros(0, dtype=bool)
        cell = self.config.cell_size_m
        border = region & ~ndimage.binary_erosion(region)
        b_rows, b_cols = np.nonzero(border)
        centres = (np.stack([b_cols + win[1].start, b_rows + win[0].start], axis=1)
                   - self._n // 2 + 0.5) * cell
        hull = convex_hull_xy(centres)
        if polygon_area(hull) < 0:
            hull = hull[::-1]
        return _RegionShape(region, rows, cols, normal, edge, hull)

    def region(self) -> np.ndarray:
        """Boolean grid (rows = y, cols = x) of the observed room cells (before the
        border weighting and the orthogonal completion of :meth:`room`)."""
        with self._lock:
            out = np.zeros((self._n, self._n), dtype=bool)
            win = self._window()
            if win is not None:
                out[win] = self._observed_region(win)
            return out

    def _cell_weights(self, win: tuple[slice, slice], shape: _RegionShape) -> np.ndarray:
        """Part [0, 1] of each region cell on the inner side of the wall (see the module
        docstring); cells away from the outside weigh 1, border cells without wall
        points nearby 0.5."""
        cell = self.config.cell_size_m
        weights = shape.region.astype(np.float64)
        rows, cols = shape.near_rows, shape.near_cols
        if not len(rows):
            return weights
        count = ndimage.uniform_filter(self._wall[win].astype(np.float64), size=3)
        sx = ndimage.uniform_filter(self._wall_xy[win][..., 0].astype(np.float64), size=3)
        sy = ndimage.uniform_filter(self._wall_xy[win][..., 1].astype(np.float64), size=3)
        g = shape.normal
        g_norm = np.hypot(g[:, 0], g[:, 1])
        has_wall = (count[rows, cols] * 9.0 >= self.config.min_hits) & (g_norm > 1e-9)
        w = np.where(shape.edge, 0.5, 1.0)
        if has_wall.any():
            r, c = rows[has_wall], cols[has_wall]
            n_out = g[has_wall] / g_norm[has_wall, None]
            centroid = np.stack([sx[r, c], sy[r, c]], axis=1) / count[r, c][:, None]
            centre = (np.stack([c + win[1].start, r + win[0].start], axis=1)
                      - self._n // 2 + 0.5) * cell
            signed = np.sum((centre - centroid) * n_out, axis=1)
            # Width of the cell across the wall, for a wall at any angle.
            across = cell * (np.abs(n_out[:, 0]) + np.abs(n_out[:, 1]))
            w[has_wall] = np.clip(0.5 - signed / across, 0.0, 1.0)
        weights[rows, cols] = w
        return weights

    def _dominant_angle(self, win: tuple[slice, slice]) -> float:
        """Wall direction [rad, in [0, pi/2)] that makes the wall points' projections
        on both axes sharpest (rectilinear walls pile up in few bins)."""
        walls = self._wall[win] >= self.config.min_hits
        # The answer depends only on this mask (positions relative to the window): a
        # keyframe that added wall points to known wall cells reuses the last angle.
        key = (win[0].start, win[1].start, walls.shape)
        cached = self._angle_cache
        if cached is not None and cached[0] == key and np.array_equal(cached[1], walls):
            return cached[2]
        angle = self._dominant_angle_of(walls)
        self._angle_cache = (key, walls, angle)
        return angle

    def _dominant_angle_of(self, walls: np.ndarray) -> float:
        """:meth:`_dominant_angle` of the wall cells ``walls`` (rows = y, cols = x)."""
        rows, cols = np.nonzero(walls)
        if len(rows) < 10:
            return 0.0
        xy = np.stack([cols, rows], axis=1).astype(np.float64)
        xy -= xy.mean(axis=0)
        angles = np.deg2rad(np.arange(0.0, 90.0, 1.0))
        c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
        u = np.round(xy[:, 0] * c + xy[:, 1] * s).astype(np.int64)
        v = np.round(-xy[:, 0] * s + xy[:, 1] * c).astype(np.int64)
        # Score per angle: the sum of squared bin counts of both projections. All angles
        # in one bincount (angle k's bins at k * width + bin), not one call per angle.
        score = np.zeros(len(angles), dtype=np.int64)
        for proj in (u, v):
            bins = proj - proj.min(axis=1, keepdims=True)
            width = int(bins.max()) + 1
            flat = (bins + width * np.arange(len(angles))[:, None]).ravel()
            counts = np.bincount(flat, minlength=width * len(angles))
            score += (counts.reshape(len(angles), width) ** 2).sum(axis=1)
        # the first angle of the highest score, as a scan in angle order keeps it
        return float(angles[int(np.argmax(score))])

    @staticmethod
    def _orthogonal_hull(mask: np.ndarray) -> np.ndarray:
        """Smallest superset of ``mask`` whose rows and columns are each one run."""
        out = mask.copy()
        for _ in range(8):
            before = int(out.sum())
            for axis in (0, 1):
                any_ = out.any(axis=axis)
                if not any_.any():
                    return out
                first = np.argmax(out, axis=axis)
                last = out.shape[axis] - 1 - np.argmax(np.flip(out, axis=axis), axis=axis)
                idx = np.arange(out.shape[axis])
                if axis == 0:
                    run = (idx[:, None] >= first[None, :]) & (idx[:, None] <= last[None, :])
                    out |= run & any_[None, :]
                else:
                    run = (idx[None, :] >= first[:, None]) & (idx[None, :] <= last[:, None])
                    out |= run & any_[:, None]
            if int(out.sum()) == before:
                break
        return out

    def _completion(self, win: tuple[slice, slice], core: np.ndarray) -> int:
        """Cells the orthogonally convex hull of ``core`` adds, in the dominant wall
        frame (rotated with nearest-neighbour sampling, which keeps the cell count)."""
        angle = self._dominant_angle(win)
        # The count depends only on the core mask and the angle: while the wall cells and
        # the cells weighing half or more stay, it is the last one.
        key = (win[0].start, win[1].start, core.shape)
        cached = self._completion_cache
        if cached is not None and cached[0] == key and cached[2] == angle \
                and np.array_equal(cached[1], core):
            return cached[3]
        added = self._completion_of(core, angle)
        self._completion_cache = (key, core, angle, added)
        return added

    def _completion_of(self, core: np.ndarray, angle: float) -> int:
        """:meth:`_completion` of ``core`` in the wall frame at ``angle`` [rad]."""
        if abs(angle) >= np.deg2rad(0.5):
            core = ndimage.rotate(core.astype(np.uint8), -np.rad2deg(angle), order=0,
                                  reshape=True) > 0
        return int((self._orthogonal_hull(core) & ~core).sum())

    def room(self) -> Room:
        """The room: convex ground outline (counter-clockwise, map frame [m]) and floor
        area [m^2] of the observed region with its border weighting and orthogonal
        completion (not the area of the outline)."""
        with self._lock:
            if self._cache is not None:
                return self._cache
            win = self._window()
            shape = None if win is None else self._region_shape(win)
            if shape is None or not shape.region.any():
                self._cache = Room()
                return self._cache
            cell = self.config.cell_size_m
            weights = self._cell_weights(win, shape)
            n_cells = float(weights.sum())
            if self.config.orthogonal_fill:
                n_cells += self._completion(win, weights >= 0.5)
            hull = shape.hull
            self._cache = Room(polygon_xy=hull.copy(), floor_area_m2=n_cells * cell * cell)
            return self._cache
