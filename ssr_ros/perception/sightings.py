"""When was an object first seen? Back-dating first sightings to non-keyframes.

Objects are detected only on keyframes (a few per second), but people ask about the
order in which things *appeared* in the stream, frame by frame. Two objects that come
into view between the same two keyframes would otherwise share one first-seen time, and
an object that was visible for a while before the keyframe that finally detected it
would be dated too late.

:class:`SightingHistory` keeps a short ring of recent frames in a light form (the
camera, its pose, the stamp and a strided depth image of about 80 x 60 samples, 19 KB).
When the map creates an object at a keyframe, :meth:`SightingHistory.earliest`
looks back through that ring for the first frame in which the object's box was already
visible: pixels whose depth back-projects into the box (grown by a small margin
sideways and above, not below, so the floor under a piece of furniture does not count)
make up its visible area, and the object counts as seen once that area reaches
``min_visible_fraction`` of the image (default 200 pixels at 640x480, about 0.065 %).
The check is geometric, so it works with any proposal source (label images, boxes, a
detector) and needs no per-frame detection.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

import numpy as np

from ssr_ros.core.camera import PinholeCamera


@dataclass(frozen=True)
class SightingConfig:
    """``capacity``: frames kept (10 s at 30 Hz: an object glimpsed early may be
    detected only when the walk comes back to it); ``stride``: depth sampling [px]
    (0 = about 80 samples across the image);
    ``min_visible_fraction``: share of the image an object must cover to count as seen;
    ``margin_m``: box growth sideways and above [m]; ``floor_gap_m``: points lower than
    this above the box bottom do not count [m]."""

    capacity: int = 300
    stride: int = 0
    min_visible_fraction: float = 200.0 / (640 * 480)
    margin_m: float = 0.02
    floor_gap_m: float = 0.02

    def __post_init__(self) -> None:
        if not (isinstance(self.capacity, int) and 0 <= self.capacity <= 10_000):
            raise ValueError(f"capacity must be an int in [0, 10000], got {self.capacity!r}")
        if not (isinstance(self.stride, int) and 0 <= self.stride <= 64):
            raise ValueError(f"stride must be an int in [0, 64], got {self.stride!r}")
        for name in ("min_visible_fraction", "margin_m", "floor_gap_m"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass
class _Glimpse:
    stamp_s: float
    camera: PinholeCamera
    T_map_cam: np.ndarray
    depth: np.ndarray  # strided depth [m] (h, w) float32, 0 = invalid
    stride: int


class SightingHistory:
    """The last ``capacity`` frames, and when an object box first became visible in
    them (see the module docstring). One writer (the pipeline's thread)."""

    def __init__(self, config: SightingConfig | None = None) -> None:
        self.config = config or SightingConfig()
        self._frames: collections.deque[_Glimpse] = collections.deque(
            maxlen=max(self.config.capacity, 1))

    def __len__(self) -> int:
        return len(self._frames) if self.config.capacity else 0

    def add(self, depth_m: np.ndarray, camera: PinholeCamera, T_map_cam: np.ndarray,
            stamp_s: float) -> None:
        """Remember a validated frame (depth (H, W) [m] matching ``camera``)."""
        if not self.config.capacity:
            return
        s = self.config.stride or max(1, int(depth_m.shape[1]) // 80)
        self._frames.append(_Glimpse(float(stamp_s), camera, T_map_cam,
                                     np.array(depth_m[::s, ::s], dtype=np.float32), s))

    def clear(self) -> None:
        self._frames.clear()

    def earliest(self, boxes: list[tuple[np.ndarray, np.ndarray, float]],
                 before_s: float | list[float]) -> list[float | None]:
        """For each box (centre (3,), size (3,) [m], yaw about +z [rad]), the stamp [s]
        of the first remembered frame earlier than ``before_s`` (one for all, or one per
        box) in which it covers enough of the image; None when there is none. Each
        frame's points are computed once for all boxes, and not kept."""
        before = ([float(before_s)] * len(boxes) if isinstance(before_s, (int, float))
                  else [float(b) for b in before_s])
        if len(before) != len(boxes):
            raise ValueError(f"{len(before)} before_s values for {len(boxes)} boxes")
        found: list[float | None] = [None] * len(boxes)
        todo = set(range(len(boxes)))
        for glimpse in list(self._frames):
            todo = {i for i in todo if glimpse.stamp_s < before[i]}
            if not todo:
                break
            points = self._points(glimpse)
            need = self._needed_area(glimpse)
            for i in sorted(todo):
                if self._visible_area(points, glimpse.stride, *boxes[i]) >= need:
                    found[i] = glimpse.stamp_s
                    todo.discard(i)
        return found

    def visible_now(self, boxes: list[tuple[np.ndarray, np.ndarray, float]]) -> bool:
        """True when one of the boxes covers enough of the newest remembered frame."""
        if not self._frames or not boxes or not self.config.capacity:
            return False
        glimpse = self._frames[-1]
        points = self._points(glimpse)
        need = self._needed_area(glimpse)
        return any(self._visible_area(points, glimpse.stride, *box) >= need
                   for box in boxes)

    def _needed_area(self, glimpse: _Glimpse) -> float:
        """Image area [px] an object must cover in this frame to count as seen."""
        h, w = glimpse.camera.shape
        return self.config.min_visible_fraction * h * w

    def _visible_area(self, points: np.ndarray, stride: int, center_m: np.ndarray,
                      size_m: np.ndarray, yaw_rad: float) -> int:
        """Image area [px] of the frame's points inside the grown box."""
        c = np.asarray(center_m, dtype=np.float32)
        half = 0.5 * np.asarray(size_m, dtype=np.float32)
        m = self.config.margin_m
        d = points - c
        near = np.abs(d).max(axis=1) <= float(np.linalg.norm(half)) + m
        if not near.any():
            return 0
        d = d[near]
        cos_y, sin_y = math.cos(yaw_rad), math.sin(yaw_rad)
        x = cos_y * d[:, 0] + sin_y * d[:, 1]
        y = -sin_y * d[:, 0] + cos_y * d[:, 1]
        inside = ((np.abs(x) <= half[0] + m) & (np.abs(y) <= half[1] + m)
                  & (d[:, 2] >= -half[2] + self.config.floor_gap_m)
                  & (d[:, 2] <= half[2] + m))
        return int(inside.sum()) * stride ** 2

    def _points(self, glimpse: _Glimpse) -> np.ndarray:
        """The frame's valid pixels in the map frame (N, 3) float32 [m]."""
        s = glimpse.stride
        rays = glimpse.camera.rays[::s, ::s]
        valid = glimpse.depth > 0.0
        z = glimpse.depth[valid]
        r = rays[valid]
        cam = np.stack([r[:, 0] * z, r[:, 1] * z, z], axis=1)
        T = glimpse.T_map_cam.astype(np.float32)
        return cam @ T[:3, :3].T + T[:3, 3]
