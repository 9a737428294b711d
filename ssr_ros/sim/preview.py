"""A contact sheet of a sequence for people: RGB, depth and label frames plus a top-down
map of the ground truth (room outline, partition walls, object footprints with ids,
the camera path and the viewpoints of the frames shown). Drawn with OpenCV.

The map is drawn with map +x to the right and map +y up (a bird's-eye view).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from ssr_ros.sim.sequence import SimFrame, SimSequence

THUMB_W = 320


def _id_colors(n: int) -> np.ndarray:
    """Distinct RGB colours (n, 3) uint8 per instance id; id 0 is black."""
    golden = 0.618033988749895
    hue = (np.arange(n) * golden) % 1.0
    hsv = np.stack([hue * 179, np.full(n, 200), np.full(n, 235)], axis=1).astype(np.uint8)
    rgb = cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0]
    rgb[0] = 0
    return rgb


def depth_to_rgb(depth_m: np.ndarray, max_m: float = 8.0) -> np.ndarray:
    """Colour-mapped depth (H, W, 3) uint8, RGB; invalid (0) pixels black."""
    scaled = np.clip(depth_m / max_m * 255.0, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO)
    bgr[depth_m <= 0.0] = 0
    return bgr[:, :, ::-1]


def labels_to_rgb(instance_ids: np.ndarray) -> np.ndarray:
    """Instance ids (H, W) as colours (H, W, 3) uint8, RGB."""
    return _id_colors(int(instance_ids.max()) + 1)[instance_ids]


def _thumb(image: np.ndarray, width: int) -> np.ndarray:
    height = int(round(image.shape[0] * width / image.shape[1]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_NEAREST)


def top_down_map(seq: SimSequence, size_px: int, shown: Sequence[int]) -> np.ndarray:
    """Bird's-eye map (size_px, size_px, 3) uint8 RGB of the scene and camera path."""
    scene = seq.scene
    poly = scene.room.polygon_xy
    lo, hi = poly.min(axis=0) - 0.3, poly.max(axis=0) + 0.3
    scale = (size_px - 20) / float(max(hi - lo))
    canvas = np.full((size_px, size_px, 3), 255, dtype=np.uint8)

    def px(xy: np.ndarray) -> np.ndarray:
        xy = np.atleast_2d(xy)
        u = 10 + (xy[:, 0] - lo[0]) * scale
        v = size_px - 10 - (xy[:, 1] - lo[1]) * scale
        return np.stack([u, v], axis=1).round().astype(np.int32)

    cv2.fillPoly(canvas, [px(poly)], (236, 228, 214))
    cv2.polylines(canvas, [px(poly)], True, (60, 60, 60), 3)
    for partition in scene.layout.partitions:
        for p, q in partition.solid_segments():
            cv2.line(canvas, tuple(px(p)[0]), tuple(px(q)[0]), (60, 60, 60), 3)
    colors = _id_colors(max(o.id for o in scene.objects) + 1)
    for obj in sorted(scene.objects, key=lambda o: o.center_m[2]):
        color = tuple(int(c) for c in colors[obj.id])
        corners = px(obj.footprint_xy())
        cv2.fillPoly(canvas, [corners], color)
        cv2.polylines(canvas, [corners], True, (30, 30, 30), 1)
        front = obj.center_m[:2] + 0.5 * obj.size_m[1] * np.array(
            [-math.sin(obj.yaw_rad), math.cos(obj.yaw_rad)])
        cv2.line(canvas, tuple(px(obj.center_m[:2])[0]), tuple(px(front)[0]), (30, 30, 30), 1)
    for obj in scene.objects:
        label = f"{obj.id} {obj.category}"
        org = px(obj.center_m[:2])[0] + np.array([-12, 4])
        cv2.putText(canvas, label, tuple(int(v) for v in org), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (0, 0, 0), 1, cv2.LINE_AA)
    path = px(np.array([p[:2, 3] for p in seq.poses]))
    cv2.polylines(canvas, [path], False, (200, 40, 40), 1, cv2.LINE_AA)
    for i in shown:
        T = seq.poses[i]
        forward = T[:2, 2] / max(1e-9, float(np.linalg.norm(T[:2, 2])))
        a = px(T[:2, 3])[0]
        b = px(T[:2, 3] + 0.5 * forward)[0]
        cv2.arrowedLine(canvas, tuple(a), tuple(b), (0, 0, 200), 2, tipLength=0.3)
        cv2.putText(canvas, str(i), tuple(int(v) for v in a + 4), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (0, 0, 200), 1, cv2.LINE_AA)
    title = (f"seed {scene.seed}  {scene.layout.kind}  {scene.room.floor_area_m2:.1f} m^2  "
             f"{len(scene.objects)} objects")
    cv2.putText(canvas, title, (10, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    return canvas


def contact_sheet(seq: SimSequence, n_columns: int = 4,
                  frames: Optional[Sequence[SimFrame]] = None) -> np.ndarray:
    """The sheet (H, W, 3) uint8 RGB: rows of RGB, depth and labels for ``n_columns``
    evenly spaced frames (or the ``frames`` given), and the top-down map at the right."""
    if frames is None:
        n = min(n_columns, len(seq))
        indices = [int(round(k * (len(seq) - 1) / max(1, n - 1))) for k in range(n)]
        frames = [seq.frame(i) for i in indices]
    rows = []
    for convert in (lambda f: f.rgb, lambda f: depth_to_rgb(f.depth_m),
                    lambda f: labels_to_rgb(f.instance_ids)):
        tiles = []
        for f in frames:
            tile = _thumb(convert(f), THUMB_W).copy()
            cv2.putText(tile, f"#{f.index} {f.stamp_s:.2f}s", (4, 14),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    grid = np.vstack(rows)
    side = grid.shape[0]
    panel = top_down_map(seq, side, [f.index for f in frames])
    return np.hstack([grid, panel])


def write_contact_sheet(path: "str | Path", seq: SimSequence,
                        frames: Optional[Sequence[SimFrame]] = None) -> None:
    """Write :func:`contact_sheet` as a PNG file."""
    sheet = contact_sheet(seq, frames=frames)
    if not cv2.imwrite(str(path), sheet[:, :, ::-1]):
        raise OSError(f"could not write {path}")
