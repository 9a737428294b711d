"""One link of the LocalCogMap chain: the triplet record, its local frame and its grid.

A triplet (A, B -> C) places a target C relative to two anchors A and B that are already
in the chain. All positions are bird's-eye (map x, y) in metres.

Local frame of a triplet: origin at A, +x toward B, +y to the left (counter-clockwise of
+x). When A and B are closer than :data:`DEGENERATE_BASELINE_M` the direction A -> B is
meaningless, so the frame keeps the map's axes instead (``axis == "map"``); the choice is
stored with the triplet so that a reconstruction never re-decides it.

Grid: a square window of 10 x 10 cells around A, B and C, axis-aligned with the local
frame. The cell size is the smallest multiple of 1 cm that is strictly larger than the
window's span / 9, and the window is placed so that A sits exactly at the centre of its
cell. Hence C's cell alone, read relative to A's cell, gives C's local position within
half a cell diagonal (``cell_size_m * sqrt(2) / 2``), and the cell size prints exactly
with two decimals. ``cell = (col, row)``: col counts along local +x, row along local +y,
(0, 0) is the cell with the smallest local x and y.

Special links: the root (first object) has ``anchor_a == anchor_b == target`` and its
"local" frame is the map frame itself, so ``local_xy_m`` is its map position and it has
no grid (``cell_size_m == 0``). The second object has ``anchor_b == anchor_a == root``
and uses the map's axes at the root.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GRID_CELLS = 10
"""Cells per side of a triplet's window."""

DEGENERATE_BASELINE_M = 1e-3
"""Anchors closer than this [m] do not define a direction; the map's axes are used."""

AXIS_ANCHORS = "ab"
AXIS_MAP = "map"

Cell = tuple[int, int]


@dataclass(frozen=True)
class Triplet:
    """Target ``target`` placed relative to anchors ``anchor_a`` (origin) and ``anchor_b``
    (direction of +x).

    ``local_xy_m``: the target in the triplet's local frame [m] (the root: map frame).
    ``cell``/``cell_a``/``cell_b``: grid cells (col, row) of C, A and B in the window,
    ``cell_size_m`` the cell edge [m] (0 for the root). ``axis``: ``"ab"`` (x toward B)
    or ``"map"`` (map axes; root, second object, coincident anchors). ``exact``: whether
    ``local_xy_m`` is measured (True) or only known from the grid (a parsed text
    without coordinates).
    """

    target: int
    anchor_a: int
    anchor_b: int
    local_xy_m: tuple[float, float]
    cell: Cell
    cell_size_m: float
    cell_a: Cell
    cell_b: Cell
    axis: str = AXIS_ANCHORS
    exact: bool = True

    @property
    def is_root(self) -> bool:
        return self.anchor_a == self.target

    @property
    def is_second(self) -> bool:
        return self.anchor_b == self.anchor_a and self.anchor_a != self.target

    @property
    def anchors(self) -> tuple[int, ...]:
        """Distinct anchor ids (empty for the root)."""
        if self.is_root:
            return ()
        if self.is_second:
            return (self.anchor_a,)
        return (self.anchor_a, self.anchor_b)

    def grid_local_xy_m(self) -> np.ndarray:
        """C's local position [m] as the grid alone tells it: the centre of C's cell
        relative to A (which sits at its cell's centre). Shape (2,)."""
        if self.is_root:
            return np.asarray(self.local_xy_m, dtype=np.float64)
        return np.array([(self.cell[0] - self.cell_a[0]) * self.cell_size_m,
                         (self.cell[1] - self.cell_a[1]) * self.cell_size_m])

    def to_dict(self) -> dict:
        return {"target": self.target, "anchor_a": self.anchor_a, "anchor_b": self.anchor_b,
                "local_xy_m": [float(v) for v in self.local_xy_m],
                "cell": list(self.cell), "cell_size_m": self.cell_size_m,
                "cell_a": list(self.cell_a), "cell_b": list(self.cell_b),
                "axis": self.axis, "exact": self.exact}

    @classmethod
    def from_dict(cls, data: dict) -> "Triplet":
        """Inverse of :meth:`to_dict`; raises KeyError/TypeError/ValueError on bad data."""
        return cls(target=int(data["target"]), anchor_a=int(data["anchor_a"]),
                   anchor_b=int(data["anchor_b"]),
                   local_xy_m=(float(data["local_xy_m"][0]), float(data["local_xy_m"][1])),
                   cell=_cell(data["cell"]), cell_size_m=float(data["cell_size_m"]),
                   cell_a=_cell(data["cell_a"]), cell_b=_cell(data["cell_b"]),
                   axis=str(data["axis"]), exact=bool(data.get("exact", True)))


def _cell(value) -> Cell:
    col, row = value
    return int(col), int(row)


def local_axes(a_xy: np.ndarray, b_xy: np.ndarray, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (ex, ey) of a triplet frame in the map frame, each shape (2,)."""
    if axis == AXIS_MAP:
        return np.array([1.0, 0.0]), np.array([0.0, 1.0])
    d = np.asarray(b_xy, dtype=np.float64) - np.asarray(a_xy, dtype=np.float64)
    norm = math.hypot(d[0], d[1])
    if norm == 0.0:
        # Only a grid-only walk can collapse anchors that were apart; keep it finite.
        return np.array([1.0, 0.0]), np.array([0.0, 1.0])
    ex = d / norm
    return ex, np.array([-ex[1], ex[0]])


def choose_axis(a_xy: np.ndarray, b_xy: np.ndarray) -> str:
    """``"ab"`` unless A and B are closer than :data:`DEGENERATE_BASELINE_M`."""
    d = np.asarray(b_xy, dtype=np.float64) - np.asarray(a_xy, dtype=np.float64)
    return AXIS_ANCHORS if math.hypot(d[0], d[1]) >= DEGENERATE_BASELINE_M else AXIS_MAP


def to_local(p_xy: np.ndarray, a_xy: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
    """Map-frame point(s) (..., 2) [m] -> local coordinates (..., 2) [m]."""
    d = np.asarray(p_xy, dtype=np.float64) - a_xy
    return np.stack([d @ ex, d @ ey], axis=-1)


def to_map(local_xy: np.ndarray, a_xy: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> np.ndarray:
    """Local coordinates (2,) [m] -> map-frame point (2,) [m]."""
    return a_xy + local_xy[0] * ex + local_xy[1] * ey


def grid_window(points_local: np.ndarray) -> tuple[float, list[Cell]]:
    """Cell size [m] and cells of local points (k, 2), the first of which is A = (0, 0).

    See the module docstring for the window rule; the cell size is ``n / 100`` for an
    integer n >= 1, so it survives a two-decimal text form unchanged.
    """
    pts = np.asarray(points_local, dtype=np.float64)
    lo = pts.min(axis=0)
    hi = pts.max(axis=0)
    span_m = float(max(hi[0] - lo[0], hi[1] - lo[1]))
    cell_size_m = (math.floor(span_m * 100.0 / (GRID_CELLS - 1)) + 1) / 100.0
    origin_cell = []
    for k in range(2):
        first = math.ceil(-lo[k] / cell_size_m - 0.5)
        last = math.floor(GRID_CELLS - 0.5 - hi[k] / cell_size_m)
        centred = round(((-lo[k] / cell_size_m - 0.5) + (GRID_CELLS - 0.5 - hi[k] / cell_size_m))
                        / 2.0)
        origin_cell.append(min(max(centred, first), last, GRID_CELLS - 1))
        origin_cell[k] = max(origin_cell[k], 0)
    idx = np.floor(pts / cell_size_m + np.asarray(origin_cell, dtype=np.float64) + 0.5)
    idx = np.clip(idx, 0, GRID_CELLS - 1).astype(int)
    return cell_size_m, [(int(c), int(r)) for c, r in idx]


def make_triplet(target: int, target_xy: np.ndarray, anchor_a: int | None = None,
                 a_xy: np.ndarray | None = None, anchor_b: int | None = None,
                 b_xy: np.ndarray | None = None) -> Triplet:
    """Build the link of ``target`` at map position ``target_xy`` (2,) [m].

    No anchors: the root. Only A: the second object (map axes at A). A and B: a triplet.
    """
    c = np.asarray(target_xy, dtype=np.float64)
    if anchor_a is None:
        return Triplet(target, target, target, (float(c[0]), float(c[1])), (0, 0), 0.0,
                       (0, 0), (0, 0), AXIS_MAP, True)
    a = np.asarray(a_xy, dtype=np.float64)
    if anchor_b is None:
        ex, ey = local_axes(a, a, AXIS_MAP)
        local = to_local(c, a, ex, ey)
        cell_size_m, (cell_a, cell_c) = grid_window(np.stack([np.zeros(2), local]))
        return Triplet(target, anchor_a, anchor_a, (float(local[0]), float(local[1])), cell_c,
                       cell_size_m, cell_a, cell_a, AXIS_MAP, True)
    b = np.asarray(b_xy, dtype=np.float64)
    axis = choose_axis(a, b)
    ex, ey = local_axes(a, b, axis)
    local = to_local(np.stack([b, c]), a, ex, ey)
    cell_size_m, (cell_a, cell_b, cell_c) = grid_window(
        np.stack([np.zeros(2), local[0], local[1]]))
    return Triplet(target, anchor_a, anchor_b, (float(local[1, 0]), float(local[1, 1])),
                   cell_c, cell_size_m, cell_a, cell_b, axis, True)
