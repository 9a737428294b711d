"""The camera's path: one bounded record of every mapped frame's position, with the
keyframes marked. Evaluation reads every frame; the published map draws the keyframes.
"""

from __future__ import annotations

import numpy as np


class CameraTrajectory:
    """Rows ``(stamp [s], x, y, z [m, map frame], keyframe 0/1)`` of the last
    ``capacity`` frames, oldest first. Appending is amortised O(1): when full, the oldest
    tenth is dropped at once. Not thread-safe (its owner, the mapping pipeline, has one
    writer)."""

    def __init__(self, capacity: int = 20000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._rows = np.zeros((min(self.capacity, 1024), 5))
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, stamp_s: float, position_m: np.ndarray, keyframe: bool = False) -> None:
        """Add a frame at ``position_m`` (3,) [m]."""
        if self._n == self.capacity:
            drop = max(1, self.capacity // 10)
            self._rows[:self._n - drop] = self._rows[drop:self._n]
            self._n -= drop
        if self._n == len(self._rows):
            grown = np.zeros((min(2 * len(self._rows), self.capacity), 5))
            grown[:self._n] = self._rows[:self._n]
            self._rows = grown
        self._rows[self._n] = (stamp_s, *np.asarray(position_m, dtype=np.float64)[:3],
                               float(keyframe))
        self._n += 1

    def mark_keyframe(self) -> None:
        """Mark the last frame as a keyframe."""
        if self._n:
            self._rows[self._n - 1, 4] = 1.0

    def frames(self) -> np.ndarray:
        """Every frame, ``(N, 4)``: stamp [s] and x, y, z [m] (a copy)."""
        return self._rows[:self._n, :4].copy()

    def keyframe_positions(self) -> np.ndarray:
        """Positions of the keyframes, ``(K, 3)`` [m] (a copy)."""
        rows = self._rows[:self._n]
        return rows[rows[:, 4] > 0.0, 1:4].copy()

    def clear(self) -> None:
        self._n = 0

    def to_list(self, decimals: int = 4) -> list[list[float]]:
        """The rows as lists (JSON), positions and stamps rounded to ``decimals``."""
        return np.round(self._rows[:self._n], decimals).tolist()

    def load(self, rows: np.ndarray) -> None:
        """Replace the rows with ``rows`` (N, 5) of :meth:`to_list` (the newest
        ``capacity`` are kept). Raises ValueError for a wrong shape or non-finite values."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        if not np.all(np.isfinite(rows)):
            raise ValueError("trajectory rows must be finite")
        rows = rows[-self.capacity:]
        self._rows = np.zeros((max(len(rows), min(self.capacity, 1024)), 5))
        self._rows[:len(rows)] = rows
        self._rows[:len(rows), 4] = rows[:, 4] > 0.0
        self._n = len(rows)
