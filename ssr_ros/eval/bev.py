"""Bird's-eye pictures of a map (map frame, x right, y up, metres): object footprints with
labels placed so they do not overlap, LocalCogMap triplet edges, the 10 x 10 grid of one
chosen triplet and the camera path, inside axes in metres with a scale bar and a legend.

:func:`render_bev` draws one map (``demo_out/cogmap.png``); :func:`render_comparison`
draws the map beside the ground truth at the same scale, missed and false objects marked
(``ssr-eval --plot``). Both return the image and its :class:`Layout` (pixel boxes of the
labels, legend, scale bar and plot areas), which the tests check. Drawn with Pillow only;
nothing here is needed to answer queries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.geometry import box_corners_xy
from ssr_ros.core.triplets import GRID_CELLS, local_axes
from ssr_ros.core.types import ObjectState

_BACKGROUND = (255, 255, 255)
_BOX = (40, 90, 160)
_TRUTH = (90, 90, 90)
_MISSED = (200, 30, 30)
_FALSE = (200, 0, 160)
_EDGE_A = (220, 120, 30)
_EDGE_B = (240, 190, 120)
_GRID = (60, 170, 90)
_PATH = (150, 150, 150)
_TEXT = (20, 20, 20)
_AXIS = (60, 60, 60)
_GRIDLINE = (236, 236, 236)
_FONT_PX = 14
_AXIS_MARGIN_PX = (58, 18, 20, 46)  # left, top, right, bottom: room for ticks and titles
_LEGEND_WIDTH_PX = 300
_SMALL_PX = 24  # a marked box smaller than this gets a ring of this diameter
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 [px], exclusive of x1/y1


def _font(size: int = _FONT_PX) -> Any:
    """Pillow's bundled scalable font (readable at 100 %), or its bitmap font without
    FreeType."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


@dataclass
class Layout:
    """Where things were drawn [px]: each label box keyed by ``(panel, object id)``,
    the plot area of each panel, the legend and each panel's scale bar (with its text)."""

    labels: dict[tuple[str, int], Box] = field(default_factory=dict)
    plots: dict[str, Box] = field(default_factory=dict)
    scale_bars: dict[str, Box] = field(default_factory=dict)
    legend: Box | None = None
    legend_entries: list[str] = field(default_factory=list)


@dataclass
class _Footprint:
    """One box to draw: id, label, centre (x, y) [m], corners (4, 2) [m], colour, tag."""

    id: int
    label: str
    centre: np.ndarray
    corners: np.ndarray
    colour: tuple[int, int, int]
    tag: str = ""
    show_id: bool = True

    @property
    def text(self) -> str:
        name = f"{self.id} {self.label}" if self.show_id else self.label
        return name + (f" ({self.tag})" if self.tag else "")


def _footprints(objects: Iterable[Any], colour: tuple[int, int, int],
                marked: set[int] = frozenset(), mark_colour=None, tag: str = "",
                show_id: bool = True) -> list[_Footprint]:
    """Footprints of map objects (``label``) or ground truth (``category``)."""
    out = []
    for o in objects:
        label = getattr(o, "label", None) or getattr(o, "category", "?")
        hit = o.id in marked
        out.append(_Footprint(int(o.id), str(label), np.asarray(o.center_m, float)[:2],
                              box_corners_xy(o.center_m, o.size_m, o.yaw_rad),
                              mark_colour if hit else colour, tag if hit else "", show_id))
    return out


def triplet_grid_corners(cogmap: LocalCogMap, target: int) -> np.ndarray | None:
    """The window of ``target``'s triplet as its (GRID_CELLS + 1)^2 grid-line crossings in
    the map frame, shape (11, 11, 2) [m] indexed [col line, row line]; None for the root."""
    link = cogmap.link(target)
    if link.is_root:
        return None
    a_xy = cogmap.position_xy(link.anchor_a)
    ex, ey = local_axes(a_xy, cogmap.position_xy(link.anchor_b), link.axis)
    size_m = link.cell_size_m
    lines = np.arange(GRID_CELLS + 1, dtype=np.float64)
    xs = (lines - link.cell_a[0] - 0.5) * size_m
    ys = (lines - link.cell_a[1] - 0.5) * size_m
    return a_xy + xs[:, None, None] * ex + ys[None, :, None] * ey


def nice_step_m(span_m: float, target_count: int = 6) -> float:
    """A 1-2-5 step [m] giving about ``target_count`` intervals over ``span_m`` [m]."""
    raw = max(span_m, 1e-6) / max(target_count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)


class _Panel:
    """One map drawing: world bounds [m] -> a plot area [px] at ``scale`` px/m."""

    def __init__(self, draw: ImageDraw.ImageDraw, name: str, origin: tuple[int, int],
                 lo: np.ndarray, hi: np.ndarray, scale: float, font: Any) -> None:
        self.draw, self.name, self.lo, self.hi, self.scale, self.font = (
            draw, name, lo, hi, scale, font)
        self.x0 = origin[0] + _AXIS_MARGIN_PX[0]
        self.y0 = origin[1] + _AXIS_MARGIN_PX[1]
        self.x1 = self.x0 + int(math.ceil((hi[0] - lo[0]) * scale))
        self.y1 = self.y0 + int(math.ceil((hi[1] - lo[1]) * scale))

    @property
    def box(self) -> Box:
        return (self.x0, self.y0, self.x1, self.y1)

    def px(self, xy: np.ndarray) -> list[tuple[float, float]]:
        xy = np.atleast_2d(xy)
        return [(self.x0 + float((x - self.lo[0]) * self.scale),
                 self.y0 + float((self.hi[1] - y) * self.scale)) for x, y in xy]

    def axes(self, title: str) -> Box:
        """Frame, metre ticks with gridlines, axis titles, the panel title and a scale
        bar in the lower right corner; returns the scale bar's box (bar and text)."""
        d, f = self.draw, self.font
        step = nice_step_m(float(np.max(self.hi - self.lo)))
        for axis in (0, 1):
            first = math.ceil(self.lo[axis] / step) * step
            for value in np.arange(first, self.hi[axis] + 1e-9, step):
                text = f"{value:g}"
                if axis == 0:
                    x = self.px([value, self.lo[1]])[0][0]
                    d.line([(x, self.y0), (x, self.y1)], fill=_GRIDLINE)
                    d.line([(x, self.y1), (x, self.y1 + 5)], fill=_AXIS)
                    d.text((x, self.y1 + 7), text, fill=_AXIS, font=f, anchor="mt")
                else:
                    y = self.px([self.lo[0], value])[0][1]
                    d.line([(self.x0, y), (self.x1, y)], fill=_GRIDLINE)
                    d.line([(self.x0 - 5, y), (self.x0, y)], fill=_AXIS)
                    d.text((self.x0 - 7, y), text, fill=_AXIS, font=f, anchor="rm")
        d.rectangle(self.box, outline=_AXIS, width=1)
        d.text(((self.x0 + self.x1) / 2, self.y1 + 26), "x [m] (map frame)", fill=_AXIS,
               font=f, anchor="mt")
        d.text((self.x0 - 44, self.y0 - 2), "y [m]", fill=_AXIS, font=f, anchor="lb")
        d.text((self.x0 + 4, self.y0 + 4), title, fill=_TEXT, font=f, anchor="lt")
        bar_m = nice_step_m(float(np.max(self.hi - self.lo)), 5)
        bar_px = bar_m * self.scale
        right, base = self.x1 - 12, self.y1 - 12
        d.rectangle((right - bar_px, base - 5, right, base), fill=_TEXT)
        label = f"{bar_m:g} m"
        d.text((right - bar_px / 2, base - 8), label, fill=_TEXT, font=f, anchor="mb")
        tw = d.textlength(label, font=f)
        return (min(right - bar_px, right - bar_px / 2 - tw / 2), base - 8 - _FONT_PX - 4,
                right + 1, base + 1)


def _place_labels(panel: _Panel, items: list[_Footprint], taken: list[Box]
                  ) -> dict[int, Box]:
    """Label boxes [px] that overlap neither each other nor ``taken`` (the scale bar,
    the title) and stay inside the plot. Candidates lie on rings of growing distance
    around the object's centre; the nearest one that crosses no box outline wins, else
    the one crossing the fewest. A label away from its object gets a leader line.
    Objects are placed from left to right so that neighbours alternate sides."""
    d, f = panel.draw, panel.font
    outlines = [_bbox(panel.px(it.corners)) for it in items]
    placed: dict[int, Box] = {}
    occupied = list(taken)
    order = sorted(items, key=lambda it: (panel.px(it.centre)[0][0], it.id))
    for it in order:
        w = d.textlength(it.text, font=f) + 4
        h = _FONT_PX + 4
        cx, cy = panel.px(it.centre)[0]
        best: tuple[float, Box, int] | None = None
        for radius in (4, 14, 28, 44, 64, 90, 120, 160, 210):
            for ang in range(0, 360, 30):
                dx = radius * math.cos(math.radians(ang))
                dy = radius * math.sin(math.radians(ang))
                x = cx + dx - (w if dx < -1 else 0 if dx > 1 else w / 2)
                y = cy + dy - (h if dy < -1 else 0 if dy > 1 else h / 2)
                box = (x, y, x + w, y + h)
                if box[0] < panel.x0 + 1 or box[1] < panel.y0 + 1 or \
                        box[2] > panel.x1 - 1 or box[3] > panel.y1 - 1:
                    continue
                if any(_overlap(box, other) for other in occupied):
                    continue
                crossings = sum(_crosses(box, o) for o in outlines)
                cost = 1000.0 * crossings + radius
                if best is None or cost < best[0]:
                    best = (cost, box, radius)
            if best is not None and best[0] < 1000.0:
                break
        if best is None:  # a crowded map: below the lowest label, still no overlap
            y = max([panel.y0] + [b[3] for b in occupied]) + 2
            best = (0.0, (panel.x0 + 2, y, panel.x0 + 2 + w, y + h), 999)
        _, box, radius = best
        if radius > 14:
            lx = min(max(cx, box[0]), box[2])
            ly = min(max(cy, box[1]), box[3])
            d.line([(cx, cy), (lx, ly)], fill=it.colour, width=1)
        d.rectangle(box, fill=_BACKGROUND)
        d.text((box[0] + 2, box[1] + 2), it.text, fill=it.colour if it.tag else _TEXT,
               font=f)
        placed[it.id] = box
        occupied.append(box)
    return placed


def _bbox(points: list[tuple[float, float]]) -> Box:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _crosses(label: Box, outline: Box) -> bool:
    """The label covers part of a box's outline: it overlaps the box without lying
    wholly inside it (a label inside a large box hides none of its edges)."""
    inside = (label[0] > outline[0] and label[1] > outline[1] and label[2] < outline[2]
              and label[3] < outline[3])
    return _overlap(label, outline) and not inside


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw_map(panel: _Panel, boxes: list[_Footprint], cogmap: LocalCogMap | None,
              grid: np.ndarray | None, path: np.ndarray | None, dashed: bool = False) -> None:
    d = panel.draw
    if grid is not None:
        for k in range(GRID_CELLS + 1):
            d.line(panel.px(grid[k, :, :]), fill=_GRID, width=1)
            d.line(panel.px(grid[:, k, :]), fill=_GRID, width=1)
    if path is not None and len(path) > 1:
        d.line(panel.px(path), fill=_PATH, width=2)
    centres = {b.id: b.centre for b in boxes}
    if cogmap is not None:
        for link in cogmap.triplets():
            for anchor, colour in ((link.anchor_b, _EDGE_B), (link.anchor_a, _EDGE_A)):
                if anchor != link.target and anchor in centres and link.target in centres:
                    d.line(panel.px(np.stack([centres[anchor], centres[link.target]])),
                           fill=colour, width=2)
    for b in boxes:
        corners = panel.px(b.corners)
        if dashed and not b.tag:
            for i in range(4):
                _dashed(d, corners[i], corners[(i + 1) % 4], b.colour)
        else:
            d.polygon(corners, outline=b.colour, width=3 if b.tag else 2)
        if b.tag:  # a cross through the box, and a ring around a small one (a cup)
            d.line([corners[0], corners[2]], fill=b.colour, width=2)
            d.line([corners[1], corners[3]], fill=b.colour, width=2)
            x0, y0, x1, y1 = _bbox(corners)
            if max(x1 - x0, y1 - y0) < _SMALL_PX:
                cx, cy = panel.px(b.centre)[0]
                r = _SMALL_PX / 2
                d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=b.colour, width=2)


def _dashed(d: ImageDraw.ImageDraw, p: tuple[float, float], q: tuple[float, float],
            colour: tuple[int, int, int], dash_px: float = 6.0) -> None:
    length = math.hypot(q[0] - p[0], q[1] - p[1])
    n = max(int(length // dash_px), 1)
    for i in range(0, n, 2):
        t0, t1 = i / n, min((i + 1) / n, 1.0)
        d.line([(p[0] + (q[0] - p[0]) * t0, p[1] + (q[1] - p[1]) * t0),
                (p[0] + (q[0] - p[0]) * t1, p[1] + (q[1] - p[1]) * t1)], fill=colour, width=2)


def _legend(d: ImageDraw.ImageDraw, x: int, y: int, entries: list[tuple[str, str, Any]],
            font: Any, title: str) -> Box:
    """Legend entries (kind, text, colour) drawn from (x, y) down; returns its box."""
    d.text((x + 8, y + 6), title, fill=_TEXT, font=font)
    row = y + 30
    for kind, text, colour in entries:
        sx = x + 10
        if kind == "box":
            d.rectangle((sx, row + 2, sx + 26, row + 14), outline=colour, width=2)
        elif kind == "dashed":
            for i in range(4):
                corners = [(sx, row + 2), (sx + 26, row + 2), (sx + 26, row + 14),
                           (sx, row + 14)]
                _dashed(d, corners[i], corners[(i + 1) % 4], colour, 4.0)
        elif kind == "cross":
            d.rectangle((sx, row + 2, sx + 26, row + 14), outline=colour, width=3)
            d.line([(sx, row + 2), (sx + 26, row + 14)], fill=colour, width=2)
            d.line([(sx, row + 14), (sx + 26, row + 2)], fill=colour, width=2)
        elif kind == "grid":
            for k in range(4):
                d.line([(sx + 9 * k, row), (sx + 9 * k, row + 16)], fill=colour)
            for k in range(3):
                d.line([(sx, row + 8 * k), (sx + 27, row + 8 * k)], fill=colour)
        else:
            d.line([(sx, row + 8), (sx + 26, row + 8)], fill=colour, width=2)
        lines = text.split("\n")
        for i, line in enumerate(lines):
            d.text((sx + 36, row + 1 + i * (_FONT_PX + 3)), line, fill=_TEXT, font=font)
        row += max(len(lines), 1) * (_FONT_PX + 3) + 8
    box = (x, y, x + _LEGEND_WIDTH_PX - 10, row + 4)
    d.rectangle(box, outline=_AXIS, width=1)
    return box


def _map_entries(cogmap: LocalCogMap | None, grid_target: int | None,
                 path: np.ndarray | None) -> list[tuple[str, str, Any]]:
    entries = [("box", "object box, labelled\n'id category'", _BOX)]
    if cogmap is not None and len(cogmap):
        entries += [("line", "triplet edge: anchor A\n(origin) to target", _EDGE_A),
                    ("line", "triplet edge: anchor B\n(x axis) to target", _EDGE_B)]
        if grid_target is not None:
            entries.append(("grid", f"10 x 10 grid of the\ntriplet of object {grid_target}",
                            _GRID))
    if path is not None and len(path) > 1:
        entries.append(("line", "camera path", _PATH))
    return entries


def _bounds(points: list[np.ndarray], margin_m: float) -> tuple[np.ndarray, np.ndarray]:
    allpts = np.vstack(points) if points else np.zeros((1, 2))
    return allpts.min(axis=0) - margin_m, allpts.max(axis=0) + margin_m


def _grid_of(cogmap: LocalCogMap | None, grid_target: int | None
             ) -> tuple[np.ndarray | None, int | None]:
    if cogmap is None or not len(cogmap):
        return None, None
    if grid_target is None:
        grid_target = next((t.target for t in reversed(cogmap.triplets()) if not t.is_root),
                           None)
    grid = None if grid_target is None else triplet_grid_corners(cogmap, grid_target)
    return grid, (grid_target if grid is not None else None)


def _canvas(plot_px: tuple[int, int], count: int, vertical: bool, legend_h: int
            ) -> tuple[Image.Image, list[tuple[int, int]], int]:
    """A white canvas for ``count`` panels with plot areas of ``plot_px`` (w, h) [px], in
    a row or a column, and the legend on the right; returns it, the panel origins and the
    legend's x."""
    panel_w = plot_px[0] + _AXIS_MARGIN_PX[0] + _AXIS_MARGIN_PX[2]
    panel_h = plot_px[1] + _AXIS_MARGIN_PX[1] + _AXIS_MARGIN_PX[3]
    origins = [(0, k * panel_h) if vertical else (k * panel_w, 0) for k in range(count)]
    width = panel_w * (1 if vertical else count)
    height = max(panel_h * (count if vertical else 1), legend_h + _AXIS_MARGIN_PX[1])
    return (Image.new("RGB", (width + _LEGEND_WIDTH_PX, height), _BACKGROUND), origins,
            width)


def render_bev_layout(objects: Sequence[ObjectState], cogmap: LocalCogMap | None = None,
                      path_m: np.ndarray | None = None, grid_target: int | None = None,
                      size_px: int = 900, margin_m: float = 0.5
                      ) -> tuple[Image.Image, Layout]:
    """The map picture and its :class:`Layout`. ``path_m``: camera positions (N, 2 or 3)
    [m]; ``grid_target``: id whose triplet grid is drawn (default: the last object of the
    chain that has a grid); ``size_px``: the plot area's longer side [px]."""
    boxes = _footprints(objects, _BOX)
    path = None if path_m is None or len(path_m) == 0 else np.asarray(path_m)[:, :2]
    grid, grid_target = _grid_of(cogmap, grid_target)
    points = [b.corners for b in boxes] + ([path] if path is not None else []) + (
        [grid.reshape(-1, 2)] if grid is not None else [])
    lo, hi = _bounds(points, margin_m)
    scale = (size_px - 1) / max(float(np.max(hi - lo)), 1e-6)
    plot_w, plot_h = (int(math.ceil(v * scale)) + 1 for v in hi - lo)
    entries = _map_entries(cogmap, grid_target, path)
    image, _, legend_x = _canvas((plot_w, plot_h), 1, False, 60 + 42 * len(entries))
    draw = ImageDraw.Draw(image)
    font = _font()
    panel = _Panel(draw, "map", (0, 0), lo, hi, scale, font)
    layout = Layout(plots={"map": panel.box})
    title = f"map: {len(boxes)} objects"
    layout.scale_bars["map"] = panel.axes(title)
    _draw_map(panel, boxes, cogmap, grid, path)
    taken = [layout.scale_bars["map"], _title_box(panel, title)]
    layout.labels = {("map", i): b for i, b in _place_labels(panel, boxes, taken).items()}
    layout.legend = _legend(draw, legend_x, _AXIS_MARGIN_PX[1], entries, font, "legend")
    layout.legend_entries = [text for _, text, _ in entries]
    return image, layout


def _title_box(panel: _Panel, title: str) -> Box:
    w = panel.draw.textlength(title, font=panel.font)
    return (panel.x0, panel.y0, panel.x0 + 8 + w, panel.y0 + 8 + _FONT_PX)


def render_bev(objects: Sequence[ObjectState], cogmap: LocalCogMap | None = None,
               path_m: np.ndarray | None = None, grid_target: int | None = None,
               size_px: int = 900, margin_m: float = 0.5) -> Image.Image:
    """The map picture of :func:`render_bev_layout`, without its layout."""
    return render_bev_layout(objects, cogmap, path_m, grid_target, size_px, margin_m)[0]


def render_comparison(predicted: Sequence[ObjectState], truth: Sequence[Any],
                      false_ids: Iterable[int] = (), missed_ids: Iterable[int] = (),
                      cogmap: LocalCogMap | None = None, path_m: np.ndarray | None = None,
                      size_px: int = 700, margin_m: float = 0.5, title: str = ""
                      ) -> tuple[Image.Image, Layout]:
    """The map beside the ground truth at one scale and extent: side by side, or the map
    above the truth when the room is wider than deep.

    ``truth``: objects with ``id``, ``category``, ``center_m``, ``size_m``, ``yaw_rad``
    (the sim's ground truth, labelled by category only: its ids are not the map's);
    ``false_ids``: map objects that match no ground truth, drawn crossed in magenta;
    ``missed_ids``: ground-truth ids that no map object matches, drawn crossed in red
    (small ones ringed). Matched map objects are blue, matched truth dashed grey.
    """
    false_ids, missed_ids = set(false_ids), set(missed_ids)
    mapped = _footprints(predicted, _BOX, false_ids, _FALSE, "false")
    gt = _footprints(truth, _TRUTH, missed_ids, _MISSED, "missed", show_id=False)
    path = None if path_m is None or len(path_m) == 0 else np.asarray(path_m)[:, :2]
    points = [b.corners for b in mapped + gt] + ([path] if path is not None else [])
    lo, hi = _bounds(points, margin_m)
    scale = (size_px - 1) / max(float(np.max(hi - lo)), 1e-6)
    plot_w, plot_h = (int(math.ceil(v * scale)) + 1 for v in hi - lo)
    entries = _map_entries(cogmap, None, path) + [
        ("cross", "false: a map object\nwith no ground truth", _FALSE),
        ("dashed", "ground-truth box\n(matched)", _TRUTH),
        ("cross", "missed: ground truth\nwith no map object", _MISSED)]
    # a wide room is stacked (map above truth), a deep one side by side: near-square
    image, origins, legend_x = _canvas((plot_w, plot_h), 2, plot_w > 1.2 * plot_h,
                                       60 + 42 * len(entries))
    draw = ImageDraw.Draw(image)
    font = _font()
    layout = Layout()
    titles = {"map": f"map: {len(mapped)} objects, {len(false_ids)} false",
              "truth": f"ground truth: {len(gt)} objects, {len(missed_ids)} missed"}
    for k, (name, boxes) in enumerate((("map", mapped), ("truth", gt))):
        panel = _Panel(draw, name, origins[k], lo, hi, scale, font)
        layout.plots[name] = panel.box
        layout.scale_bars[name] = panel.axes(titles[name])
        _draw_map(panel, boxes, cogmap if name == "map" else None, None, path,
                  dashed=name == "truth")
        taken = [layout.scale_bars[name], _title_box(panel, titles[name])]
        for i, b in _place_labels(panel, boxes, taken).items():
            layout.labels[(name, i)] = b
    layout.legend = _legend(draw, legend_x, _AXIS_MARGIN_PX[1], entries, font,
                            title or "legend")
    layout.legend_entries = [text for _, text, _ in entries]
    return image, layout


def save_bev(path: str | Path, objects: Iterable[ObjectState],
             cogmap: LocalCogMap | None = None, path_m: np.ndarray | None = None,
             grid_target: int | None = None, size_px: int = 900) -> Path:
    """Render with :func:`render_bev` and write a PNG to ``path``; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    render_bev(list(objects), cogmap, path_m, grid_target, size_px).save(out, format="PNG")
    return out


def save_comparison(path: str | Path, predicted: Sequence[ObjectState],
                    truth: Sequence[Any], **kwargs: Any) -> Path:
    """Render with :func:`render_comparison` and write a PNG to ``path``; returns it."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    render_comparison(predicted, truth, **kwargs)[0].save(out, format="PNG")
    return out
