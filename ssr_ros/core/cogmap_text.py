"""Text form of the LocalCogMap chain and its strict parser (never ``eval``).

One line per link, in chain order (anchors always on earlier lines)::

    [1] sofa @ root | xy 1.25 -0.5
    [2] table @ (7,4) | anchors [1] sofa (2,4) | cell 0.40 m | xy 2.0 0.1
    [3] lamp @ (7,2) | anchors [1] sofa (0,4), [2] table (9,4) | cell 0.40 m | xy 2.3 -0.7
    [5] chair @ (3,3) | anchors [1] sofa (4,4), [4] rug (4,4) | axis map | cell 0.10 m

Grammar (EBNF; ``" | "`` separates fields, which appear in the order shown)::

    line     = ref " " label " @ " place { " | " field } ;
    ref      = "[" id "]" ;                     id = 1 to 18 decimal digits, >= 1
    place    = "root" | cell ;
    cell     = "(" col "," row ")" ;            col, row = 0..9 (spaces inside allowed)
    anchors  = "anchors " ref " " label " " cell [ ", " ref " " label " " cell ] ;
    axis     = "axis map" ;
    cellsize = "cell " decimal " m" ;           cell edge [m], > 0 and finite
    xy       = "xy " float " " float ;          exact coordinates [m]
    label    = text without "[]|@()," and without leading/trailing blanks ;

- ``root`` is the first line, with no anchors; its ``xy`` is its map-frame position.
- The second line has one anchor (the root); its local frame is the map's axes at the
  root. Every later line has two distinct anchors A, B placed on earlier lines; its local
  frame has its origin at A and +x toward B (+y to the left) unless ``axis map`` says the
  anchors coincide and the map's axes are used.
- The cell after ``@`` is the target's, the cells after the anchors are A's and B's, all
  on the 10 x 10 grid of the link's window (see :mod:`ssr_ros.core.triplets`).
- ``xy`` (optional) carries the exact local coordinates as Python's shortest repr of the
  float, so text -> chain -> text is exact; without it the position is known only to the
  grid (within half a cell diagonal).
- Blank lines are ignored. Everything else that does not fit is an error of its line.
- Output is canonical: cells without spaces, cell sizes with two decimals (the map's cell
  sizes are whole centimetres), ``xy`` as Python's shortest float repr. Canonical text
  round-trips exactly (text -> chain -> text); a text written otherwise (``(7, 2)``,
  ``cell 0.4 m``) parses to the same chain and comes back canonical.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ssr_ros.core.triplets import (AXIS_ANCHORS, AXIS_MAP, GRID_CELLS, Cell, Triplet, local_axes,
                                   to_map)

_LABEL = r"[^\s\[\]|@(),](?:[^\[\]|@(),\n]*[^\s\[\]|@(),])?"
_CELL = r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)"
_FLOAT = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_HEAD_RE = re.compile(rf"^\[(\d+)\] ({_LABEL}) @ (?:(root)|{_CELL})((?: \| [^|]*)*)$")
_ANCHORS_RE = re.compile(
    rf"^anchors \[(\d+)\] ({_LABEL}) {_CELL}(?:, \[(\d+)\] ({_LABEL}) {_CELL})?$")
_CELLSIZE_RE = re.compile(r"^cell (\d+(?:\.\d+)?) m$")
_XY_RE = re.compile(rf"^xy ({_FLOAT}) ({_FLOAT})$")
_FIELD_ORDER = ("anchors", "axis", "cell", "xy")
_FORBIDDEN_RE = re.compile(r"[\[\]|@(),\s]+")


def sanitize_label(label: str) -> str:
    """The label as the text form writes it: forbidden characters and runs of blanks
    become one space (or ``_`` when only forbidden characters are left)."""
    cleaned = " ".join(part for part in _FORBIDDEN_RE.split(str(label)) if part)
    return cleaned if cleaned else "_"


def _fmt_cell(cell: Cell) -> str:
    return f"({cell[0]},{cell[1]})"


def format_link(link: Triplet, labels: dict[int, str], exact: bool = True) -> str:
    """One text line for ``link``; ``labels`` maps ids to labels. ``exact`` adds ``xy``
    when the link's coordinates are measured."""
    name = sanitize_label(labels[link.target])
    parts = []
    if link.is_root:
        parts.append(f"[{link.target}] {name} @ root")
    else:
        parts.append(f"[{link.target}] {name} @ {_fmt_cell(link.cell)}")
        anchors = f"anchors [{link.anchor_a}] {sanitize_label(labels[link.anchor_a])} " \
                  f"{_fmt_cell(link.cell_a)}"
        if not link.is_second:
            anchors += f", [{link.anchor_b}] {sanitize_label(labels[link.anchor_b])} " \
                       f"{_fmt_cell(link.cell_b)}"
        parts.append(anchors)
        if link.axis == AXIS_MAP and not link.is_second:
            parts.append("axis map")
        parts.append(f"cell {link.cell_size_m:.2f} m")
    if exact and link.exact:
        parts.append(f"xy {link.local_xy_m[0]!r} {link.local_xy_m[1]!r}")
    return " | ".join(parts)


def format_chain(links: list[Triplet], labels: dict[int, str], exact: bool = True) -> str:
    """The whole chain, one line per link in chain order, newline-terminated."""
    return "".join(format_link(t, labels, exact) + "\n" for t in links)


@dataclass(frozen=True)
class ParseIssue:
    """One error of a text line: 1-based ``line_no``, the ``line`` and what is wrong."""

    line_no: int
    line: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.message}: {self.line!r}"


@dataclass
class ParseResult:
    """Outcome of :func:`parse_cogmap_text`: the accepted links in chain order, the labels
    of their targets, and every error (lines with errors are not accepted)."""

    links: list[Triplet] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)
    errors: list[ParseIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def triplets(self) -> list[Triplet]:
        return list(self.links)


def _in_grid(cell: Cell) -> bool:
    return 0 <= cell[0] < GRID_CELLS and 0 <= cell[1] < GRID_CELLS


class _LineError(ValueError):
    pass


def _split_fields(rest: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    if not rest:
        return fields
    last = -1
    for item in rest[3:].split(" | "):
        key = item.split(" ", 1)[0]
        if key not in _FIELD_ORDER:
            raise _LineError(f"unknown field {item!r}")
        if key in fields:
            raise _LineError(f"field {key!r} appears twice")
        pos = _FIELD_ORDER.index(key)
        if pos < last:
            raise _LineError(f"field {key!r} out of order (order: {', '.join(_FIELD_ORDER)})")
        last = pos
        fields[key] = item
    return fields


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _LineError(f"coordinate {text[:40]!r} is not finite")
    return value


_MAX_DIGITS = 18
"""Longest id or cell index accepted [decimal digits]: keeps ids within int64 (the ROS
messages' id type) and keeps ``int()`` away from its digit limit."""


def _parse_int(text: str, what: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise _LineError(f"{what} {text[:24]}... has more than {_MAX_DIGITS} digits")
    return int(text)


def _head_id(m: re.Match | None) -> int | None:
    """The id of a head match, None without a match or for an over-long id."""
    if m is None or len(m.group(1)) > _MAX_DIGITS:
        return None
    return int(m.group(1))


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.result = ParseResult()
        self.defined_on: dict[int, int] = {}
        self.rejected: set[int] = set()
        self.cell_size: dict[int, float] = {}
        for no, line in enumerate(self.lines, start=1):
            ident = _head_id(_HEAD_RE.match(line))
            if ident is not None and ident not in self.defined_on:
                self.defined_on[ident] = no

    def run(self) -> ParseResult:
        seen_rows = False
        for no, line in enumerate(self.lines, start=1):
            if not line.strip():
                continue
            try:
                link, label = self._line(no, line, first=not seen_rows)
            except _LineError as err:
                self.result.errors.append(ParseIssue(no, line, str(err)))
                m = _HEAD_RE.match(line)
                ident = _head_id(m)
                if ident is not None and ident not in self.result.labels:
                    self.rejected.add(ident)
                seen_rows = seen_rows or bool(m)
                continue
            seen_rows = True
            self.result.links.append(link)
            self.result.labels[link.target] = label
        return self.result

    def _anchor(self, no: int, ident: int, label: str) -> None:
        if ident in self.result.labels:
            if self.result.labels[ident] != label:
                raise _LineError(f"anchor [{ident}] is labelled {self.result.labels[ident]!r}, "
                                 f"not {label!r}")
            return
        if ident in self.rejected:
            raise _LineError(f"anchor [{ident}] was rejected on line {self.defined_on[ident]}")
        if ident in self.defined_on and self.defined_on[ident] >= no:
            raise _LineError(f"anchor [{ident}] is not placed yet (defined on line "
                             f"{self.defined_on[ident]})")
        raise _LineError(f"unknown id [{ident}]")

    def _line(self, no: int, line: str, first: bool) -> tuple[Triplet, str]:
        m = _HEAD_RE.match(line)
        if not m:
            raise _LineError("garbage line (expected '[id] label @ root|(col,row) | ...')")
        ident, label = _parse_int(m.group(1), "id"), m.group(2)
        if ident < 1:
            raise _LineError("ids start at 1")
        if ident in self.result.labels or ident in self.rejected:
            raise _LineError(f"duplicate id [{ident}]")
        fields = _split_fields(m.group(6))
        xy = None
        if "xy" in fields:
            mxy = _XY_RE.match(fields["xy"])
            if not mxy:
                raise _LineError(f"bad field {fields['xy']!r} (expected 'xy <x> <y>')")
            xy = (_parse_float(mxy.group(1)), _parse_float(mxy.group(2)))
        if m.group(3):
            if not first:
                raise _LineError("only the first line may be the root")
            if set(fields) - {"xy"}:
                raise _LineError("the root line has no anchors, axis or cell")
            local = xy if xy is not None else (0.0, 0.0)
            return Triplet(ident, ident, ident, local, (0, 0), 0.0, (0, 0), (0, 0), AXIS_MAP,
                           xy is not None), label
        if first:
            raise _LineError("the first line must be the root ('[id] label @ root')")
        cell = (_parse_int(m.group(4), "cell index"), _parse_int(m.group(5), "cell index"))
        if "anchors" not in fields or "cell" not in fields:
            raise _LineError("a placed object needs 'anchors ...' and 'cell ... m'")
        ma = _ANCHORS_RE.match(fields["anchors"])
        if not ma:
            raise _LineError(f"bad field {fields['anchors']!r}")
        mc = _CELLSIZE_RE.match(fields["cell"])
        if not mc or not 0.0 < float(mc.group(1)) < math.inf:
            raise _LineError(f"bad field {fields['cell'][:40]!r} (expected 'cell <size > 0> "
                             "m')")
        cell_size_m = float(mc.group(1))
        id_a = _parse_int(ma.group(1), "anchor id")
        cell_a = (_parse_int(ma.group(3), "cell index"), _parse_int(ma.group(4), "cell index"))
        two = ma.group(5) is not None
        id_b = _parse_int(ma.group(5), "anchor id") if two else id_a
        cell_b = ((_parse_int(ma.group(7), "cell index"), _parse_int(ma.group(8), "cell index"))
                  if two else cell_a)
        for c in (cell, cell_a, cell_b):
            if not _in_grid(c):
                raise _LineError(f"cell {_fmt_cell(c)} out of range 0..{GRID_CELLS - 1}")
        self._anchor(no, id_a, ma.group(2))
        if two:
            self._anchor(no, id_b, ma.group(6))
        if ident in (id_a, id_b):
            raise _LineError(f"[{ident}] cannot anchor itself")
        second = len(self.result.links) == 1
        if second:
            if two or id_a != self.result.links[0].target:
                raise _LineError("the second line has exactly one anchor: the root")
            if "axis" in fields:
                raise _LineError("the second line always uses the map axes; no 'axis'")
            axis = AXIS_MAP
        else:
            if not two or id_a == id_b:
                raise _LineError("a triplet needs two distinct anchors")
            if "axis" in fields and fields["axis"] != "axis map":
                raise _LineError(f"bad field {fields['axis']!r} (expected 'axis map')")
            axis = AXIS_MAP if "axis" in fields else AXIS_ANCHORS
            if axis == AXIS_ANCHORS and (cell_b[1] != cell_a[1] or cell_b[0] < cell_a[0]):
                raise _LineError("anchor B must lie on anchor A's row, at or right of it "
                                 "(+x points from A to B)")
        link = Triplet(ident, id_a, id_b, (0.0, 0.0), cell, cell_size_m, cell_a, cell_b, axis,
                       False)
        if xy is None:
            g = link.grid_local_xy_m()
            return Triplet(ident, id_a, id_b, (float(g[0]), float(g[1])), cell, cell_size_m,
                           cell_a, cell_b, axis, False), label
        self._check_cell(xy, cell, cell_a, cell_size_m)
        return Triplet(ident, id_a, id_b, xy, cell, cell_size_m, cell_a, cell_b, axis,
                       True), label

    @staticmethod
    def _check_cell(xy: tuple[float, float], cell: Cell, cell_a: Cell, size_m: float) -> None:
        # A sits at its cell's centre, so xy fixes C's cell up to float rounding at edges.
        for k in range(2):
            v = xy[k] / size_m + cell_a[k] + 0.5
            if not math.isfinite(v):
                raise _LineError(f"xy {xy[0]!r} {xy[1]!r} is too far for cell size {size_m} m")
            allowed = {math.floor(v - 1e-6), math.floor(v + 1e-6)}
            if cell[k] not in allowed:
                raise _LineError(f"xy {xy[0]!r} {xy[1]!r} lies outside cell {_fmt_cell(cell)}")


def parse_cogmap_text(text: str) -> ParseResult:
    """Parse the text form (grammar in the module docstring) strictly.

    Every line is checked; lines with errors are reported in ``errors`` (with the line
    number and the reason) and left out of ``links``, and later lines that anchor on them
    are errors too. Never evaluates the text.
    """
    if not isinstance(text, str):
        raise TypeError(f"cogmap text must be str, got {type(text).__name__}")
    return _Parser(text).run()


def reconstruct_links(links: list[Triplet], mode: str = "exact") -> dict[int, np.ndarray]:
    """Global BEV positions (2,) [m] by walking ``links`` in order.

    ``mode``: ``"exact"`` uses the local coordinates; ``"grid"`` places each target at
    its cell centre in the frame of the exactly reconstructed anchors (error <= half a
    cell diagonal per object, no accumulation); ``"grid_walk"`` uses only grid cells all
    along the chain (the layout a reader of the cells alone gets; errors accumulate).
    The root sits at its ``local_xy_m`` (0, 0 when the text gave no coordinates).
    Raises KeyError when an anchor is not on an earlier link.
    """
    if mode not in ("exact", "grid", "grid_walk"):
        raise ValueError(f"unknown reconstruction mode {mode!r}")
    exact: dict[int, np.ndarray] = {}
    out: dict[int, np.ndarray] = {}
    for link in links:
        if link.is_root:
            exact[link.target] = np.asarray(link.local_xy_m, dtype=np.float64)
            out[link.target] = exact[link.target]
            continue
        a = exact[link.anchor_a]
        ex, ey = local_axes(a, exact[link.anchor_b], link.axis)
        exact[link.target] = to_map(np.asarray(link.local_xy_m), a, ex, ey)
        if mode == "grid":
            out[link.target] = to_map(link.grid_local_xy_m(), a, ex, ey)
        elif mode == "grid_walk":
            a = out[link.anchor_a]
            ex, ey = local_axes(a, out[link.anchor_b], link.axis)
            out[link.target] = to_map(link.grid_local_xy_m(), a, ex, ey)
    return exact if mode == "exact" else out
