"""A uniform bird's-eye grid over disks, for neighbour searches that stay local.

Each item is a disk in the map's ground plane: a centre (x, y) [m] and its own radius
[m] (for the object map, how far from its centre an item can still interact with
something: its association gate or the reach of its evidence). :meth:`SpatialHash.query`
returns every item whose disk meets a query disk, without looking at items far away: an
item lives in the grid cell of its centre, and a query visits only the cells within its
radius plus one cell size. Items wider than a cell (rare: a huge object or a huge gate)
are kept apart and checked on every query, so one of them does not widen every search.

Insert, move and remove cost O(1); a query costs the number of items in the visited
cells plus the wide items, independent of the map's size at a constant density.
"""

from __future__ import annotations

import math

import numpy as np


class SpatialHash:
    """Disks (centre (2,) [m], radius [m]) keyed by integers, on a grid of ``cell_m`` [m]."""

    def __init__(self, cell_m: float = 2.0) -> None:
        if not (math.isfinite(cell_m) and cell_m > 0):
            raise ValueError(f"cell_m must be finite and > 0, got {cell_m!r}")
        self.cell_m = float(cell_m)
        self._cells: dict[tuple[int, int], set[int]] = {}
        self._where: dict[int, tuple[int, int] | None] = {}   # None: a wide item
        self._wide: set[int] = set()
        self._xy: dict[int, tuple[float, float]] = {}
        self._radius: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def clear(self) -> None:
        self._cells.clear()
        self._where.clear()
        self._wide.clear()
        self._xy.clear()
        self._radius.clear()

    def _cell(self, x: float, y: float) -> tuple[int, int]:
        return (math.floor(x / self.cell_m), math.floor(y / self.cell_m))

    def set(self, key: int, xy_m, radius_m: float) -> None:
        """Insert ``key`` or move it to centre ``xy_m`` (2,) [m] with ``radius_m`` [m].
        Raises ValueError for a non-finite centre or a negative or non-finite radius."""
        x, y = float(xy_m[0]), float(xy_m[1])
        r = float(radius_m)
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(r) and r >= 0):
            raise ValueError(f"item {key}: need a finite centre and radius >= 0, got "
                             f"({x}, {y}), {r}")
        self._unlink(key)
        if r > self.cell_m:
            self._wide.add(key)
            self._where[key] = None
        else:
            cell = self._cell(x, y)
            self._cells.setdefault(cell, set()).add(key)
            self._where[key] = cell
        self._xy[key] = (x, y)
        self._radius[key] = r

    def remove(self, key: int) -> None:
        """Forget ``key`` (nothing happens when it is unknown)."""
        self._unlink(key)
        self._xy.pop(key, None)
        self._radius.pop(key, None)

    def _unlink(self, key: int) -> None:
        if key not in self._where:
            return
        cell = self._where.pop(key)
        if cell is None:
            self._wide.discard(key)
            return
        members = self._cells[cell]
        members.discard(key)
        if not members:
            del self._cells[cell]

    def query(self, xy_m, radius_m: float = 0.0) -> list[int]:
        """Keys of the items whose disk meets the disk at ``xy_m`` (2,) [m] of
        ``radius_m`` [m] (centre distance <= both radii together), sorted."""
        qx, qy = float(xy_m[0]), float(xy_m[1])
        reach = float(radius_m) + self.cell_m     # a cell's items have radius <= cell_m
        lo = self._cell(qx - reach, qy - reach)
        hi = self._cell(qx + reach, qy + reach)
        keys: list[int] = list(self._wide)
        cells = self._cells
        if (hi[0] - lo[0] + 1) * (hi[1] - lo[1] + 1) > 4 * len(cells):
            # A query wider than the occupied grid: walk the occupied cells instead.
            for (cx, cy), members in cells.items():
                if lo[0] <= cx <= hi[0] and lo[1] <= cy <= hi[1]:
                    keys.extend(members)
        else:
            for cx in range(lo[0], hi[0] + 1):
                for cy in range(lo[1], hi[1] + 1):
                    members = cells.get((cx, cy))
                    if members:
                        keys.extend(members)
        if not keys:
            return []
        xy = np.array([self._xy[k] for k in keys])
        r = np.array([self._radius[k] for k in keys])
        d = np.hypot(xy[:, 0] - qx, xy[:, 1] - qy)
        hit = d <= r + float(radius_m) + 1e-9      # a superset: callers gate exactly
        return sorted(k for k, h in zip(keys, hit.tolist()) if h)
