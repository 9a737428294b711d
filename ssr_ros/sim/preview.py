"""A contact sheet of a sequence for people: RGB, depth and label frames plus a top-down
map of the ground truth (room outline, partition walls, object footprints with ids,
the camera path and the viewpoints of the frames shown). Drawn with numpy and Pillow.

The map is drawn with map +x to the right and map +y up (a bird's-eye view).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ssr_ros.sim.sequence import SimFrame, SimSequence

THUMB_W = 320

_WALL = (60, 60, 60)
_FLOOR = (236, 228, 214)
_OUTLINE = (30, 30, 30)
_PATH = (200, 40, 40)
_VIEW = (0, 0, 200)


def _font(size_px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size_px`` (its bitmap font where FreeType is missing)."""
    return ImageFont.load_default(size=size_px)


def _hsv_to_rgb(h: np.ndarray, s: float, v: float) -> np.ndarray:
    """RGB (..., 3) uint8 of hues ``h`` in [0, 1) at saturation ``s`` and value ``v``
    in [0, 1] (the standard six-sector HSV model)."""
    h6 = (np.asarray(h, dtype=np.float64) % 1.0) * 6.0
    sector = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    p = np.full_like(h6, v * (1.0 - s))
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    vv = np.full_like(h6, v)
    r = np.choose(sector, [vv, q, p, p, t, vv])
    g = np.choose(sector, [t, vv, vv, q, p, p])
    b = np.choose(sector, [p, p, t, vv, vv, q])
    return np.round(np.stack([r, g, b], axis=-1) * 255.0).astype(np.uint8)


def _id_colors(n: int) -> np.ndarray:
    """Distinct RGB colours (n, 3) uint8 per instance id; id 0 is black."""
    # golden-ratio hue steps keep neighbouring ids far apart on the colour wheel
    hue = (np.arange(n) * 0.618033988749895) % 1.0
    rgb = _hsv_to_rgb(hue, 200.0 / 255.0, 235.0 / 255.0)
    rgb[0] = 0
    return rgb


def depth_to_rgb(depth_m: np.ndarray, max_m: float = 8.0) -> np.ndarray:
    """Colour-mapped depth (H, W, 3) uint8, RGB: blue near through green and yellow to
    red at ``max_m`` [m] and beyond; invalid (0) pixels black."""
    fraction = np.clip(np.asarray(depth_m, dtype=np.float64) / max_m, 0.0, 1.0)
    # hue 2/3 (blue) at 0 m down to 0 (red) at max_m
    rgb = _hsv_to_rgb((1.0 - fraction) * (2.0 / 3.0), 1.0, 1.0)
    rgb[~(depth_m > 0.0)] = 0
    return rgb


def labels_to_rgb(instance_ids: np.ndarray) -> np.ndarray:
    """Instance ids (H, W) as colours (H, W, 3) uint8, RGB."""
    return _id_colors(int(instance_ids.max()) + 1)[instance_ids]


def _thumb(image: np.ndarray, width: int) -> Image.Image:
    height = int(round(image.shape[0] * width / image.shape[1]))
    return Image.fromarray(np.ascontiguousarray(image)).resize((width, height),
                                                               Image.Resampling.NEAREST)


def _points(xy: np.ndarray) -> list[tuple[int, int]]:
    return [(int(u), int(v)) for u, v in xy]


def _arrow(draw: ImageDraw.ImageDraw, a: np.ndarray, b: np.ndarray,
           color: tuple[int, int, int], width: int, tip_fraction: float = 0.3) -> None:
    """A line from pixel ``a`` to ``b`` with a filled head ``tip_fraction`` of its length."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    draw.line(_points([a, b]), fill=color, width=width)
    along = b - a
    length = float(np.linalg.norm(along))
    if length < 1.0:
        return
    back = -along / length * max(4.0, tip_fraction * length)
    side = np.array([-back[1], back[0]]) * 0.5
    draw.polygon(_points(np.round([b, b + back + side, b + back - side])), fill=color)


def top_down_map(seq: SimSequence, size_px: int, shown: Sequence[int]) -> np.ndarray:
    """Bird's-eye map (size_px, size_px, 3) uint8 RGB of the scene and camera path."""
    scene = seq.scene
    poly = scene.room.polygon_xy
    lo, hi = poly.min(axis=0) - 0.3, poly.max(axis=0) + 0.3
    scale = (size_px - 20) / float(max(hi - lo))
    image = Image.new("RGB", (size_px, size_px), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    small, medium = _font(10), _font(12)

    def px(xy: np.ndarray) -> np.ndarray:
        xy = np.atleast_2d(xy)
        u = 10 + (xy[:, 0] - lo[0]) * scale
        v = size_px - 10 - (xy[:, 1] - lo[1]) * scale
        return np.stack([u, v], axis=1).round().astype(np.int32)

    outline = _points(px(poly))
    draw.polygon(outline, fill=_FLOOR)
    draw.line(outline + outline[:1], fill=_WALL, width=3, joint="curve")
    for partition in scene.layout.partitions:
        for p, q in partition.solid_segments():
            draw.line(_points(px(np.array([p, q]))), fill=_WALL, width=3)
    colors = _id_colors(max(o.id for o in scene.objects) + 1)
    for obj in sorted(scene.objects, key=lambda o: o.center_m[2]):
        color = tuple(int(c) for c in colors[obj.id])
        draw.polygon(_points(px(obj.footprint_xy())), fill=color, outline=_OUTLINE)
        front = obj.center_m[:2] + 0.5 * obj.size_m[1] * np.array(
            [-math.sin(obj.yaw_rad), math.cos(obj.yaw_rad)])
        draw.line(_points(px(np.array([obj.center_m[:2], front]))), fill=_OUTLINE, width=1)
    for obj in scene.objects:
        u, v = px(obj.center_m[:2])[0]
        draw.text((int(u) - 12, int(v) - 6), f"{obj.id} {obj.category}", fill=(0, 0, 0),
                  font=small)
    path = _points(px(np.array([p[:2, 3] for p in seq.poses])))
    if len(path) > 1:
        draw.line(path, fill=_PATH, width=1)
    for i in shown:
        T = seq.poses[i]
        forward = T[:2, 2] / max(1e-9, float(np.linalg.norm(T[:2, 2])))
        a = px(T[:2, 3])[0]
        _arrow(draw, a, px(T[:2, 3] + 0.5 * forward)[0], _VIEW, width=2)
        draw.text((int(a[0]) + 4, int(a[1]) + 2), str(i), fill=_VIEW, font=small)
    title = (f"seed {scene.seed}  {scene.layout.kind}  {scene.room.floor_area_m2:.1f} m^2  "
             f"{len(scene.objects)} objects")
    draw.text((10, 6), title, fill=(0, 0, 0), font=medium)
    return np.asarray(image, dtype=np.uint8).copy()


def contact_sheet(seq: SimSequence, n_columns: int = 4,
                  frames: Optional[Sequence[SimFrame]] = None) -> np.ndarray:
    """The sheet (H, W, 3) uint8 RGB: rows of RGB, depth and labels for ``n_columns``
    evenly spaced frames (or the ``frames`` given), and the top-down map at the right."""
    if frames is None:
        n = min(n_columns, len(seq))
        indices = [int(round(k * (len(seq) - 1) / max(1, n - 1))) for k in range(n)]
        frames = [seq.frame(i) for i in indices]
    font = _font(11)
    rows = []
    for convert in (lambda f: f.rgb, lambda f: depth_to_rgb(f.depth_m),
                    lambda f: labels_to_rgb(f.instance_ids)):
        tiles = []
        for f in frames:
            tile = _thumb(convert(f), THUMB_W)
            ImageDraw.Draw(tile).text((4, 3), f"#{f.index} {f.stamp_s:.2f}s",
                                      fill=(255, 255, 255), font=font)
            tiles.append(np.asarray(tile, dtype=np.uint8))
        rows.append(np.hstack(tiles))
    grid = np.vstack(rows)
    side = grid.shape[0]
    panel = top_down_map(seq, side, [f.index for f in frames])
    return np.hstack([grid, panel])


def write_contact_sheet(path: "str | Path", seq: SimSequence,
                        frames: Optional[Sequence[SimFrame]] = None) -> None:
    """Write :func:`contact_sheet` as a PNG file (raises ``OSError`` when it cannot)."""
    sheet = contact_sheet(seq, frames=frames)
    Image.fromarray(sheet).save(str(path), format="PNG")
