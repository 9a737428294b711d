"""SeenSpace: the parts of space that some depth ray observed.

An object seen only in part (a bed whose foot stayed below the image border, a cabinet
whose far end its near end hid) can continue only where no sensor looked: space a ray
passed through is empty, and a surface a ray ended on belongs to whatever was measured
there. :class:`SeenSpace` remembers which voxels any ray of any keyframe reached (passed
through or ended in), so that the box fitter can grow a partly seen object into space
nobody observed and never into space that was seen (see
``ssr_ros.perception.completion``).

Voxels are ``cell_m`` (0.1 m) wide and ``layer_m`` (0.05 m) high. Each ground cell keeps
three bits per height layer, whether a ray observed the voxel (passed through it or ended
in it), whether one ended in it (a measured surface) and whether it lay in a view behind
a measured surface (hidden: within ``hidden_m``), 128 layers (6.4 m at 0.05 m) in 64-bit
words, starting ``below_m`` under the first camera position the space saw
(the camera is usually 0.3-1.8 m above the floor, so the floor, furniture and the lower
walls fall inside). Cells are grouped in square tiles of ``tile_cells`` created on first
use, so memory follows the area observed (48 kB per 3.2 x 3.2 m tile, about 0.7 MB for
a 10 x 10 m room with the walls' surroundings), not a fixed grid.

A voxel a ray only grazed counts as observed; the ray's free part is sampled every
``step_m`` along it and its end (the measured surface) is marked too. Nothing is ever
unmarked: observations only accumulate (a moved object leaves its old place observed,
which only ever stops a completion)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from ssr_ros.core.arrays import decode_array, encode_array

LAYERS = 128
"""Height layers per ground cell (two 64-bit words)."""
_WORDS = LAYERS // 64
_PLANES = 3
"""Bit planes per voxel: observed (a ray passed or ended there), surface (one ended),
hidden (in a view, behind the surface a ray ended on)."""
_KEY_OFFSET = 1 << 21
"""Cells within 2^21 of the origin (about 200 km at 0.1 m) have a voxel key."""


@dataclass(frozen=True)
class SeenSpaceConfig:
    """``cell_m``/``layer_m``: voxel width and height [m]; ``tile_cells``: tile edge
    [cells] (a power of two); ``step_m``: ray sampling step [m]; ``min_range_m``: rays'
    free part starts this far from the camera [m]; ``max_range_m``: depth beyond this is
    not trusted: the ray counts as free only up to it and its end is not marked [m];
    ``below_m``: the lowest layer lies this far under the first camera position [m];
    ``hidden_m``: how far behind a measured surface its ray marks space hidden [m]."""

    cell_m: float = 0.1
    layer_m: float = 0.05
    tile_cells: int = 32
    step_m: float = 0.1
    min_range_m: float = 0.1
    max_range_m: float = 8.0
    below_m: float = 3.2
    hidden_m: float = 1.0

    def __post_init__(self) -> None:
        for name in ("cell_m", "layer_m", "step_m", "max_range_m"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("min_range_m", "below_m", "hidden_m"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        t = self.tile_cells
        if not (isinstance(t, int) and 4 <= t <= 256 and t & (t - 1) == 0):
            raise ValueError(f"tile_cells must be a power of two in [4, 256], got {t!r}")
        if self.min_range_m >= self.max_range_m:
            raise ValueError("min_range_m must be smaller than max_range_m")


class SeenSpace:
    """Observed voxels of the map frame (see the module docstring). Thread-safe: the
    node's worker updates it while a save reads :meth:`state_dict`."""

    def __init__(self, config: SeenSpaceConfig | None = None) -> None:
        self.config = config or SeenSpaceConfig()
        self._shift = int(self.config.tile_cells).bit_length() - 1
        self._tiles: dict[tuple[int, int], np.ndarray] = {}
        self._z0: float | None = None
        self.frames = 0
        # True when the objects mapped so far were seen by rays it never got (a map
        # saved before it existed): it then knows nothing (observed() is None).
        self.incomplete = False
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Tiles in use."""
        return len(self._tiles)

    @property
    def z0_m(self) -> float | None:
        """Bottom of the lowest layer [m, map frame], or None before the first frame."""
        return self._z0

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._z0 = None
            self.frames = 0
            self.incomplete = False

    def mark_incomplete(self) -> None:
        """Say that the map holds objects whose rays this space never got (until
        :meth:`clear`): :meth:`observed` answers None, as space it never heard of would
        look unobserved."""
        with self._lock:
            self.incomplete = True

    # ------------------------------------------------------------------ writing

    def add_rays(self, origin_m: np.ndarray, ends_m: np.ndarray) -> None:
        """Mark what the rays from ``origin_m`` (3,) to the measured points ``ends_m``
        (N, 3) [m, map frame] observed: the voxels along each ray and the one it ends in
        (not for rays longer than ``max_range_m``, cut there). Non-finite points are
        skipped; raises ValueError for an origin or an array of the wrong shape."""
        cfg = self.config
        origin = np.asarray(origin_m, dtype=np.float64).reshape(-1)
        ends = np.asarray(ends_m, dtype=np.float64)
        if origin.shape != (3,) or not np.all(np.isfinite(origin)):
            raise ValueError(f"origin_m must be 3 finite numbers, got shape {origin.shape}")
        if ends.ndim != 2 or ends.shape[1] != 3:
            raise ValueError(f"ends_m must be (N, 3), got {ends.shape}")
        d = ends - origin
        length = np.sqrt(np.einsum("ij,ij->i", d, d))
        keep = np.isfinite(length) & (length > cfg.min_range_m)
        d, length = d[keep], length[keep]
        with self._lock:
            if self._z0 is None:
                self._z0 = math.floor((origin[2] - cfg.below_m) / cfg.layer_m) * cfg.layer_m
            self.frames += 1
            if len(d) == 0:
                return
            unit = d / length[:, None]
            reach = np.minimum(length, cfg.max_range_m)
            # Samples every step_m from min_range_m up to the reach (exclusive), then the
            # end itself for rays within range.
            n = np.ceil((reach - cfg.min_range_m) / cfg.step_m).astype(np.int64)
            n = np.maximum(n, 0)
            total = int(n.sum())
            ray = np.repeat(np.arange(len(d)), n)
            first = np.cumsum(n) - n
            t = cfg.min_range_m + cfg.step_m * (np.arange(total) - np.repeat(first, n))
            inside = np.flatnonzero(length <= cfg.max_range_m)
            # Behind each surface within range: hidden, up to hidden_m (and the range).
            behind = np.ceil((np.minimum(length[inside] + cfg.hidden_m, cfg.max_range_m)
                              - length[inside]) / cfg.step_m).astype(np.int64)
            behind = np.maximum(behind, 0)
            h_ray = np.repeat(inside, behind)
            h_first = np.cumsum(behind) - behind
            h_t = length[h_ray] + cfg.step_m * (
                1 + np.arange(int(behind.sum())) - np.repeat(h_first, behind))
            ray = np.concatenate([ray, inside, h_ray])
            t = np.concatenate([t, length[inside], h_t])
            kind = np.zeros(len(t), dtype=np.int8)
            kind[total:total + len(inside)] = 1
            kind[total + len(inside):] = 2
            # Voxel indices axis by axis (no (N, 3) array of points).
            cells = []
            for axis, (shift, size) in enumerate(((0.0, cfg.cell_m), (0.0, cfg.cell_m),
                                                  (self._z0, cfg.layer_m))):
                coord = unit[ray, axis] * t
                coord += origin[axis]
                coord -= shift
                coord /= size
                cells.append(np.floor(coord).astype(np.int64))
            self._mark(*cells, kind)

    def _mark(self, ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, kind: np.ndarray) -> None:
        """Mark voxels (cell indices (N,) each) by ``kind`` (N,): 0 observed (a ray
        passed), 1 a surface (a ray ended: observed too), 2 hidden (behind a surface)."""
        ok = (iz >= 0) & (iz < LAYERS)
        ix, iy, iz, kind = ix[ok], iy[ok], iz[ok], kind[ok]
        if len(ix) == 0:
            return
        # One dense window over the frame's cells (a bool per voxel, packed into the
        # words: assignment and packbits, no per-sample read-modify-write), OR-ed into
        # the tiles it overlaps.
        x0, y0 = int(ix.min()), int(iy.min())
        nx, ny = int(ix.max()) - x0 + 1, int(iy.max()) - y0 + 1
        voxels = np.zeros(nx * ny * _PLANES * LAYERS, dtype=bool)
        flat = ((ix - x0) * ny + (iy - y0)) * (_PLANES * LAYERS) + iz
        voxels[flat[kind < 2]] = True                          # plane 0: observed
        voxels[flat[kind == 1] + LAYERS] = True                # plane 1: a surface
        voxels[flat[kind == 2] + 2 * LAYERS] = True            # plane 2: hidden
        window = np.packbits(voxels.reshape(nx, ny, _PLANES, LAYERS), axis=3,
                             bitorder="little")
        window = window.view("<u8").astype(np.uint64, copy=False)
        t, s = self.config.tile_cells, self._shift
        for tx in range(x0 >> s, ((x0 + nx - 1) >> s) + 1):
            for ty in range(y0 >> s, ((y0 + ny - 1) >> s) + 1):
                ax0, ay0 = max(tx * t, x0), max(ty * t, y0)
                ax1, ay1 = min((tx + 1) * t, x0 + nx), min((ty + 1) * t, y0 + ny)
                part = window[ax0 - x0:ax1 - x0, ay0 - y0:ay1 - y0]
                if not part.any():
                    continue
                tile = self._tiles.get((tx, ty))
                if tile is None:
                    tile = self._tiles[(tx, ty)] = np.zeros((t, t, _PLANES, _WORDS),
                                                            dtype=np.uint64)
                tile[ax0 - tx * t:ax1 - tx * t, ay0 - ty * t:ay1 - ty * t] |= part

    # ------------------------------------------------------------------ reading

    def observed(self, points_m: np.ndarray) -> np.ndarray | None:
        """Whether some ray observed the voxel of each point (N, 3) [m, map frame]
        (passed through it or ended in it): bool (N,), False outside the layers; None
        while no frame was added (nothing is known, which is not the same as nothing
        seen) or while it is ``incomplete``."""
        out = self.read(points_m)
        return None if out is None else out[:, 0]

    def surface(self, points_m: np.ndarray) -> np.ndarray | None:
        """Whether some ray ended in the voxel of each point (a measured surface), as
        :meth:`observed`."""
        out = self.read(points_m)
        return None if out is None else out[:, 1]

    def hidden(self, points_m: np.ndarray) -> np.ndarray | None:
        """Whether the voxel of each point lay in some view within ``hidden_m`` behind a
        surface a ray ended on (whatever other rays observed there), as
        :meth:`observed`. Space neither observed nor hidden was out of every view."""
        out = self.read(points_m)
        return None if out is None else out[:, 2]

    def read(self, points_m: np.ndarray) -> np.ndarray | None:
        """:meth:`observed`, :meth:`surface` and :meth:`hidden` of each point (N, 3) in
        one pass: bool (N, 3), or None as they are."""
        cfg = self.config
        pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
        with self._lock:
            if self._z0 is None or self.frames == 0 or self.incomplete:
                return None
            out = np.zeros((len(pts), _PLANES), dtype=bool)
            if not self._tiles or len(pts) == 0:
                return out
            ix, iy, iz, ok = self._indices(pts)
            s, mask = self._shift, cfg.tile_cells - 1
            tx, ty = ix >> s, iy >> s
            idx = np.flatnonzero(ok)
            # the tiles the points fall in (few): one packed key per point
            packed = (tx[idx] << 32) + (ty[idx] - np.int64(-(1 << 31)))
            keys, which = np.unique(packed, return_inverse=True)
            for i, key in enumerate(keys.tolist()):
                tile = self._tiles.get((key >> 32, (key & 0xFFFFFFFF) - (1 << 31)))
                if tile is None:
                    continue
                sel = idx[which.reshape(-1) == i]
                z = iz[sel]
                words = tile[ix[sel] & mask, iy[sel] & mask, :, z >> 6]      # (n, planes)
                bit = (z & 63).astype(np.uint64)[:, None]
                out[sel] = (words >> bit) & np.uint64(1) != 0
            return out

    def voxel_keys(self, points_m: np.ndarray) -> np.ndarray | None:
        """One int64 per point (N, 3) [m] naming its voxel (equal keys: same voxel), -1
        for points outside the layers or not finite; None before the first frame."""
        pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
        with self._lock:
            if self._z0 is None:
                return None
            ix, iy, iz, ok = self._indices(pts)
        ix, iy = ix + _KEY_OFFSET, iy + _KEY_OFFSET
        ok &= (ix >= 0) & (ix < 2 * _KEY_OFFSET) & (iy >= 0) & (iy < 2 * _KEY_OFFSET)
        return np.where(ok, (ix << 29) | (iy << 7) | iz, -1)

    def _indices(self, pts: np.ndarray) -> tuple[np.ndarray, ...]:
        """Voxel indices ``ix, iy, iz`` (N,) of points (N, 3) and whether each is finite
        and inside the layers (lock held, ``_z0`` set)."""
        cfg = self.config
        finite = np.isfinite(pts).all(axis=1)
        pts = np.where(finite[:, None], pts, 0.0)
        ix = np.floor(pts[:, 0] / cfg.cell_m).astype(np.int64)
        iy = np.floor(pts[:, 1] / cfg.cell_m).astype(np.int64)
        iz = np.floor((pts[:, 2] - self._z0) / cfg.layer_m).astype(np.int64)
        return ix, iy, iz, finite & (iz >= 0) & (iz < LAYERS)

    def take(self, other: "SeenSpace") -> None:
        """Replace this space's contents with ``other``'s (same geometry; ``other`` is
        left empty): a state checked on a scratch space is moved in, not decoded twice."""
        if other.config != self.config:
            raise ValueError("seen spaces of different geometry")
        with other._lock:
            tiles, z0, frames, incomplete = (other._tiles, other._z0, other.frames,
                                             other.incomplete)
            other._tiles, other._z0, other.frames, other.incomplete = {}, None, 0, False
        with self._lock:
            self._tiles, self._z0, self.frames, self.incomplete = tiles, z0, frames, incomplete

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """The observed voxels, JSON-ready (:func:`~ssr_ros.core.arrays.encode_array`):
        the grid's geometry, ``z0_m``, ``frames``, ``incomplete``, the tile keys (T, 2)
        and bits (T, tile, tile, 3 planes, 2 words). :meth:`load_state_dict` of a space
        with the same geometry restores it."""
        cfg = self.config
        with self._lock:
            keys = sorted(self._tiles)
            t = cfg.tile_cells
            bits = (np.stack([self._tiles[k] for k in keys]) if keys
                    else np.zeros((0, t, t, _PLANES, _WORDS), dtype=np.uint64))
            return {"cell_m": cfg.cell_m, "layer_m": cfg.layer_m, "tile_cells": t,
                    "layers": LAYERS, "z0_m": self._z0, "frames": self.frames,
                    "incomplete": self.incomplete,
                    "keys": encode_array(np.asarray(keys, dtype=np.int64).reshape(-1, 2)),
                    "bits": encode_array(bits)}

    def load_state_dict(self, state: dict) -> None:
        """Replace the observed voxels with :meth:`state_dict` output. Raises ValueError
        when it is malformed or of another geometry; the space is then unchanged."""
        cfg = self.config
        try:
            geometry = (float(state["cell_m"]), float(state["layer_m"]),
                        int(state["tile_cells"]), int(state["layers"]))
            if geometry != (cfg.cell_m, cfg.layer_m, cfg.tile_cells, LAYERS):
                raise ValueError(f"seen space of geometry {geometry}, this one has "
                                 f"{(cfg.cell_m, cfg.layer_m, cfg.tile_cells, LAYERS)}")
            z0 = None if state["z0_m"] is None else float(state["z0_m"])
            if z0 is not None and not math.isfinite(z0):
                raise ValueError("seen space z0_m is not finite")
            frames = int(state["frames"])
            incomplete = state.get("incomplete", False)
            if not isinstance(incomplete, bool):
                raise ValueError("seen space 'incomplete' is not a boolean")
            if frames < 0:
                raise ValueError("seen space frame count is negative")
            keys = decode_array(state["keys"], np.int64, 2)
            t = cfg.tile_cells
            bits = decode_array(state["bits"], np.uint64, 5)
            if keys.shape[1:] != (2,) or bits.shape != (len(keys), t, t, _PLANES, _WORDS):
                raise ValueError(f"seen space tiles of shapes {keys.shape}, {bits.shape}")
            if len({(int(a), int(b)) for a, b in keys}) != len(keys):
                raise ValueError("seen space has a tile twice")
            if len(keys) and z0 is None:
                raise ValueError("seen space has tiles but no z0_m")
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed seen space: {exc}") from exc
        with self._lock:
            self._tiles = {(int(a), int(b)): bits[i].copy() for i, (a, b) in enumerate(keys)}
            self._z0 = z0
            self.frames = frames
            self.incomplete = incomplete
