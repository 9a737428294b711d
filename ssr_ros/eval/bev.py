"""Bird's-eye picture of a map: object footprints and labels, LocalCogMap triplet edges,
the 10 x 10 grid of one chosen triplet, and the camera path (map frame, x right, y up).

Drawn with Pillow so the evaluation can write a PNG next to its JSON (``ssr-eval
--plot``); nothing here is needed to answer queries.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.geometry import box_corners_xy
from ssr_ros.core.triplets import GRID_CELLS, local_axes
from ssr_ros.core.types import ObjectState

_BACKGROUND = (255, 255, 255)
_BOX = (40, 90, 160)
_EDGE_A = (220, 120, 30)
_EDGE_B = (240, 190, 120)
_GRID = (60, 170, 90)
_PATH = (150, 150, 150)
_TEXT = (20, 20, 20)


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


def render_bev(objects: Sequence[ObjectState], cogmap: LocalCogMap | None = None,
               path_m: np.ndarray | None = None, grid_target: int | None = None,
               size_px: int = 900, margin_m: float = 0.5) -> Image.Image:
    """An RGB image of the map (see the module docstring). ``path_m``: camera positions
    (N, 2 or 3) [m]; ``grid_target``: id whose triplet grid is drawn (default: the last
    object of the chain that has a grid)."""
    footprints = {o.id: box_corners_xy(o.center_m, o.size_m, o.yaw_rad) for o in objects}
    points = [c for c in footprints.values()]
    path = None if path_m is None or len(path_m) == 0 else np.asarray(path_m)[:, :2]
    if path is not None:
        points.append(path)
    grid = None
    if cogmap is not None and len(cogmap):
        if grid_target is None:
            grid_target = next((t.target for t in reversed(cogmap.triplets())
                                if not t.is_root), None)
        if grid_target is not None:
            grid = triplet_grid_corners(cogmap, grid_target)
            if grid is not None:
                points.append(grid.reshape(-1, 2))
    allpts = np.vstack(points) if points else np.zeros((1, 2))
    lo = allpts.min(axis=0) - margin_m
    hi = allpts.max(axis=0) + margin_m
    scale = (size_px - 1) / max(float(np.max(hi - lo)), 1e-6)

    def px(xy: np.ndarray) -> list[tuple[float, float]]:
        xy = np.atleast_2d(xy)
        return [(float((x - lo[0]) * scale), float((hi[1] - y) * scale)) for x, y in xy]

    width = int(math.ceil((hi[0] - lo[0]) * scale)) + 1
    height = int(math.ceil((hi[1] - lo[1]) * scale)) + 1
    image = Image.new("RGB", (max(width, 1), max(height, 1)), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    if grid is not None:
        for k in range(GRID_CELLS + 1):
            draw.line(px(grid[k, :, :]), fill=_GRID, width=1)
            draw.line(px(grid[:, k, :]), fill=_GRID, width=1)
    if path is not None and len(path) > 1:
        draw.line(px(path), fill=_PATH, width=2)
    centres = {o.id: o.center_m[:2] for o in objects}
    if cogmap is not None:
        for link in cogmap.triplets():
            for anchor, colour in ((link.anchor_b, _EDGE_B), (link.anchor_a, _EDGE_A)):
                if anchor != link.target and anchor in centres and link.target in centres:
                    draw.line(px(np.stack([centres[anchor], centres[link.target]])),
                              fill=colour, width=2)
    for obj in objects:
        draw.polygon(px(footprints[obj.id]), outline=_BOX, width=2)
        x, y = px(obj.center_m[:2])[0]
        draw.text((x + 3, y + 3), f"{obj.id} {obj.label}", fill=_TEXT)
    return image


def save_bev(path: str | Path, objects: Iterable[ObjectState],
             cogmap: LocalCogMap | None = None, path_m: np.ndarray | None = None,
             grid_target: int | None = None, size_px: int = 900) -> Path:
    """Render with :func:`render_bev` and write a PNG to ``path``; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    render_bev(list(objects), cogmap, path_m, grid_target, size_px).save(out, format="PNG")
    return out
