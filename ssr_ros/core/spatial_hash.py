"""A bird's-eye grid of grids over disks, for neighbour searches that stay local.

Each item is a disk in the map's ground plane: a centre (x, y) [m] and its own radius
[m] (for the object map, how far from its centre an item can still interact with
something: its association gate or the reach of its evidence). :meth:`SpatialHash.query`
returns every item whose disk meets a query disk, without looking at items far away.

The grid has levels: level k has cells of ``cell_m * 2**k`` [m], and an item lives in the
cell of its centre on the finest level whose cell is at least its radius. A query visits,
on each level that holds items, the cells within its radius plus that level's cell size,
so an item is found wherever its disk reaches from. Items bigger than the coarsest cell
(a disk of kilometres) are kept apart and checked on every query.

Why levels: on a building floor most objects' association gates are wider than a 2 m
cell (a bookshelf 1.8 m tall gates at 3.95 m), and a one-level grid had to check all of
them on every query, which made each query cost the whole map. With levels, insert, move
and remove cost O(1) and a query costs the items in the visited cells, independent of
the map's size at a constant density.
"""

from __future__ import annotations

import math

LEVELS = 12
"""Grid levels by default: cells of ``cell_m`` up to ``cell_m * 2**11`` (4 km at 2 m)."""


class SpatialHash:
    """Disks (centre (2,) [m], radius [m]) keyed by integers, on grids of ``cell_m`` [m],
    ``2 * cell_m``, ... (``levels`` of them; see the module docstring)."""

    def __init__(self, cell_m: float = 2.0, levels: int = LEVELS) -> None:
        if not (math.isfinite(cell_m) and cell_m > 0):
            raise ValueError(f"cell_m must be finite and > 0, got {cell_m!r}")
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be an int >= 1, got {levels!r}")
        self.cell_m = float(cell_m)
        self._sizes = [self.cell_m * 2.0 ** k for k in range(levels)]
        # Per level: cell (ix, iy) -> keys whose centre lies in it.
        self._levels: list[dict[tuple[int, int], set[int]]] = [{} for _ in range(levels)]
        self._where: dict[int, tuple[int, tuple[int, int]] | None] = {}  # None: wide
        self._wide: set[int] = set()
        self._xy: dict[int, tuple[float, float]] = {}
        self._radius: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def clear(self) -> None:
        for cells in self._levels:
            cells.clear()
        self._where.clear()
        self._wide.clear()
        self._xy.clear()
        self._radius.clear()

    def level_of(self, radius_m: float) -> int | None:
        """The level an item of ``radius_m`` [m] lives on (None: kept apart, too wide)."""
        for k, size in enumerate(self._sizes):
            if radius_m <= size:
                return k
        return None

    def set(self, key: int, xy_m, radius_m: float) -> None:
        """Insert ``key`` or move it to centre ``xy_m`` (2,) [m] with ``radius_m`` [m].
        Raises ValueError for a non-finite centre or a negative or non-finite radius."""
        x, y = float(xy_m[0]), float(xy_m[1])
        r = float(radius_m)
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(r) and r >= 0):
            raise ValueError(f"item {key}: need a finite centre and radius >= 0, got "
                             f"({x}, {y}), {r}")
        self._unlink(key)
        level = self.level_of(r)
        if level is None:
            self._wide.add(key)
            self._where[key] = None
        else:
            size = self._sizes[level]
            cell = (math.floor(x / size), math.floor(y / size))
            self._levels[level].setdefault(cell, set()).add(key)
            self._where[key] = (level, cell)
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
        where = self._where.pop(key)
        if where is None:
            self._wide.discard(key)
            return
        level, cell = where
        cells = self._levels[level]
        members = cells[cell]
        members.discard(key)
        if not members:
            del cells[cell]

    def query(self, xy_m, radius_m: float = 0.0) -> list[int]:
        """Keys of the items whose disk meets the disk at ``xy_m`` (2,) [m] of
        ``radius_m`` [m] (centre distance <= both radii together, with 1e-9 m to spare:
        a superset that callers gate exactly), sorted."""
        qx, qy = float(xy_m[0]), float(xy_m[1])
        radius = float(radius_m)
        keys: list[int] = list(self._wide)
        for size, cells in zip(self._sizes, self._levels):
            if not cells:
                continue
            reach = radius + size            # this level's items have radius <= size
            lo_x, lo_y = math.floor((qx - reach) / size), math.floor((qy - reach) / size)
            hi_x, hi_y = math.floor((qx + reach) / size), math.floor((qy + reach) / size)
            if (hi_x - lo_x + 1) * (hi_y - lo_y + 1) > 4 * len(cells):
                # A query wider than the occupied part of this level: walk its cells.
                for (cx, cy), members in cells.items():
                    if lo_x <= cx <= hi_x and lo_y <= cy <= hi_y:
                        keys.extend(members)
            else:
                for cx in range(lo_x, hi_x + 1):
                    for cy in range(lo_y, hi_y + 1):
                        members = cells.get((cx, cy))
                        if members:
                            keys.extend(members)
        xy, r = self._xy, self._radius
        hypot = math.hypot
        return sorted(k for k in keys
                      if hypot(xy[k][0] - qx, xy[k][1] - qy) <= r[k] + radius + 1e-9)
