"""Bounded point evidence of one object: map-frame points averaged per voxel, with
summed weights, coarsened when it outgrows its cap (pure numpy)."""

from __future__ import annotations

import math

import numpy as np


class EvidenceFormatError(ValueError):
    """A stored evidence dictionary is malformed (points and weights disagree, or the voxel
    size or point cap is not a finite positive number)."""


class VoxelEvidence:
    """Bounded point evidence: points averaged per voxel, with summed weights (hit counts
    when points are unweighted) in ``counts``. When the number
    of voxels exceeds ``max_points`` the voxel size grows by 1.5x and the set is rebuilt
    from the current voxel centroids, so the extent is preserved while memory stays
    bounded."""

    _OFFSET = 1 << 20

    def __init__(self, voxel_size_m: float, max_points: int) -> None:
        self.voxel_size_m = float(voxel_size_m)
        self.max_points = int(max_points)
        self.keys = np.zeros(0, dtype=np.int64)
        self.sums = np.zeros((0, 3), dtype=np.float64)
        self.counts = np.zeros(0, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.keys)

    def _keys(self, points: np.ndarray) -> np.ndarray:
        idx = np.floor(points / self.voxel_size_m).astype(np.int64) + self._OFFSET
        idx = np.clip(idx, 0, (1 << 21) - 1)
        return (idx[:, 0] << 42) | (idx[:, 1] << 21) | idx[:, 2]

    def add(self, points_m: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Add points ``(N, 3)`` [m]; ``weights`` (N,) counts each point stands for."""
        pts = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
        if len(pts) == 0:
            return
        w = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=np.float64)
        self._merge(np.concatenate([self.centroids(), pts]),
                    np.concatenate([self.counts, w]))
        while len(self.keys) > self.max_points:
            self.voxel_size_m *= 1.5
            self._merge(self.centroids(), self.counts.copy())

    def _merge(self, pts: np.ndarray, w: np.ndarray) -> None:
        keys = self._keys(pts)
        uniq, inv = np.unique(keys, return_inverse=True)
        counts = np.bincount(inv, weights=w, minlength=len(uniq))
        sums = np.stack([np.bincount(inv, weights=pts[:, k] * w, minlength=len(uniq))
                         for k in range(3)], axis=1)
        self.keys, self.sums, self.counts = uniq, sums, counts

    def centroids(self) -> np.ndarray:
        """Voxel centroids ``(M, 3)`` [m]."""
        if len(self.keys) == 0:
            return np.zeros((0, 3))
        return self.sums / self.counts[:, None]

    def to_dict(self) -> dict:
        return {"voxel_size_m": self.voxel_size_m,
                "points": np.round(self.centroids(), 4).tolist(),
                "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, data: dict, max_points: int) -> "VoxelEvidence":
        """Rebuild evidence from :meth:`to_dict` output; raises :class:`EvidenceFormatError`
        unless ``voxel_size_m`` [m] is finite and > 0, ``max_points`` >= 1, and every point
        is finite with a finite positive count."""
        try:
            voxel_size_m = float(data["voxel_size_m"])
            pts = np.asarray(data.get("points", []), dtype=np.float64).reshape(-1, 3)
            counts = np.asarray(data.get("counts", []), dtype=np.float64).reshape(-1)
        except (KeyError, TypeError, ValueError) as exc:
            raise EvidenceFormatError(f"malformed evidence: {exc!r}") from exc
        # A zero, negative or NaN voxel loads but breaks every later fusion.
        if not (math.isfinite(voxel_size_m) and voxel_size_m > 0):
            raise EvidenceFormatError(f"voxel_size_m must be finite and > 0, "
                                      f"got {data['voxel_size_m']!r}")
        if isinstance(max_points, bool) or int(max_points) != max_points or max_points < 1:
            raise EvidenceFormatError(f"max_points must be an integer >= 1, got {max_points!r}")
        ev = cls(voxel_size_m, max_points)
        if len(pts) != len(counts) or not np.all(np.isfinite(pts)) \
                or not np.all(np.isfinite(counts)) or not np.all(counts > 0):
            raise EvidenceFormatError("evidence points and counts disagree or are invalid")
        if len(pts):
            ev._merge(pts, counts)
        return ev
