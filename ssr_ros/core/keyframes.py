"""Keyframe selection and the bounded keyframe buffer.

A frame becomes a keyframe when the camera moved or turned enough since the last one,
when enough time passed, or when the view shows enough new content: the share of the
current view's cells that the last keyframe's sparse points, re-projected into the
current camera, do not cover. That test uses a small grid of points (cached per keyframe),
so a decision costs tens of microseconds, not a full-image warp.

The buffer keeps at most ``capacity`` keyframes. When full it drops the keyframe that is
most redundant in pose space (nearest to another keyframe in position and viewing
direction), so the kept set still covers the whole scene rather than the last seconds.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.frames import PosedFrame
from ssr_ros.core.geometry import invert, rotation_angle_between, transform_points


@dataclass(frozen=True)
class Keyframe(PosedFrame):
    """A frame the selector kept (see :class:`~ssr_ros.core.frames.PosedFrame` for the
    fields), with its running keyframe ``index`` (0, 1, ...). The pipeline copies the
    images into a keyframe, so it owns them."""

    index: int


@dataclass
class KeyframeDecision:
    """Outcome of one selector call: whether the frame is a keyframe, why
    ("first", "moved", "turned", "time", "new_content", "time_reset", a reason given to
    :meth:`KeyframeSelector.force`, or "" when not), and the measured motion and
    new-content share."""

    is_keyframe: bool
    reason: str
    translation_m: float = 0.0
    rotation_rad: float = 0.0
    new_content: float = 0.0


@dataclass
class KeyframeSelectorConfig:
    """Thresholds of the keyframe selector (any one triggers a keyframe)."""

    min_translation_m: float = 0.25
    min_rotation_rad: float = math.radians(15.0)
    max_interval_s: float = 2.0
    min_new_content: float = 0.2
    grid_cols: int = 32
    grid_rows: int = 24
    cover_cols: int = 16
    cover_rows: int = 12

    def __post_init__(self) -> None:
        if self.min_translation_m <= 0 or self.min_rotation_rad <= 0:
            raise ValueError("keyframe motion thresholds must be positive")
        if self.max_interval_s <= 0:
            raise ValueError("max_interval_s must be positive")
        if not 0.0 < self.min_new_content <= 1.0:
            raise ValueError("min_new_content must be in (0, 1]")
        if min(self.grid_cols, self.grid_rows, self.cover_cols, self.cover_rows) < 1:
            raise ValueError("grid sizes must be >= 1")


class KeyframeSelector:
    """Decides per frame whether it is a keyframe; remembers the last keyframe's pose,
    stamp and sparse map points (the reference the next decisions compare against)."""

    def __init__(self, config: KeyframeSelectorConfig | None = None) -> None:
        self.config = config or KeyframeSelectorConfig()
        self._ref_T: np.ndarray | None = None
        self._ref_stamp_s = 0.0
        self._ref_points_map: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the reference: the next frame is a keyframe."""
        self._ref_T = None
        self._ref_points_map = None

    def sample_points(self, depth_m: np.ndarray, camera: PinholeCamera,
                      T_map_cam: np.ndarray) -> np.ndarray:
        """Sparse map-frame points ``(M, 3)`` [m] of a frame on a regular pixel grid."""
        h, w = depth_m.shape
        cfg = self.config
        rows = np.linspace(0, h - 1, cfg.grid_rows).round().astype(np.intp)
        cols = np.linspace(0, w - 1, cfg.grid_cols).round().astype(np.intp)
        vv, uu = np.meshgrid(rows, cols, indexing="ij")
        z = depth_m[vv, uu]
        ok = z > 0
        pts_cam = camera.backproject_pixels(uu[ok], vv[ok], z[ok])
        return transform_points(T_map_cam, pts_cam)

    def new_content(self, depth_m: np.ndarray, camera: PinholeCamera,
                    T_map_cam: np.ndarray) -> float:
        """Share in [0, 1] of the current view's coarse cells that hold valid depth but
        receive none of the last keyframe's re-projected points (1 without reference)."""
        if self._ref_points_map is None:
            return 1.0
        cfg = self.config
        h, w = depth_m.shape
        rows = np.linspace(0, h - 1, cfg.cover_rows * 2).round().astype(np.intp)
        cols = np.linspace(0, w - 1, cfg.cover_cols * 2).round().astype(np.intp)
        valid = (depth_m[np.ix_(rows, cols)] > 0)
        valid = valid.reshape(cfg.cover_rows, 2, cfg.cover_cols, 2).any(axis=(1, 3))
        n_valid = int(valid.sum())
        if n_valid == 0:
            return 0.0
        pts_cam = transform_points(invert(T_map_cam), self._ref_points_map)
        uv, front = camera.project(pts_cam)
        inside = front & camera.in_image(uv)
        covered = np.zeros((cfg.cover_rows, cfg.cover_cols), dtype=bool)
        if inside.any():
            cu = np.clip((uv[inside, 0] + 0.5) * cfg.cover_cols / w, 0, cfg.cover_cols - 1)
            cv = np.clip((uv[inside, 1] + 0.5) * cfg.cover_rows / h, 0, cfg.cover_rows - 1)
            covered[cv.astype(np.intp), cu.astype(np.intp)] = True
        return float((valid & ~covered).sum()) / n_valid

    def decide(self, depth_m: np.ndarray, camera: PinholeCamera, T_map_cam: np.ndarray,
               stamp_s: float) -> KeyframeDecision:
        """Decide for one (validated) frame; on a keyframe the frame becomes the new
        reference. ``depth_m`` (H, W) [m], ``T_map_cam`` (4, 4), ``stamp_s`` [s]."""
        cfg = self.config
        if self._ref_T is None:
            decision = KeyframeDecision(True, "first", new_content=1.0)
        elif stamp_s < self._ref_stamp_s:
            decision = KeyframeDecision(True, "time_reset", new_content=1.0)
        else:
            trans = float(np.linalg.norm(T_map_cam[:3, 3] - self._ref_T[:3, 3]))
            rot = rotation_angle_between(self._ref_T[:3, :3], T_map_cam[:3, :3])
            reason = ""
            content = 0.0
            if trans >= cfg.min_translation_m:
                reason = "moved"
            elif rot >= cfg.min_rotation_rad:
                reason = "turned"
            elif stamp_s - self._ref_stamp_s >= cfg.max_interval_s:
                reason = "time"
            else:
                content = self.new_content(depth_m, camera, T_map_cam)
                if content >= cfg.min_new_content:
                    reason = "new_content"
            decision = KeyframeDecision(bool(reason), reason, trans, rot, content)
        if decision.is_keyframe:
            self._take_reference(depth_m, camera, T_map_cam, stamp_s)
        return decision

    @property
    def reference_stamp_s(self) -> float | None:
        """Stamp [s] of the last keyframe (None before the first)."""
        return None if self._ref_T is None else self._ref_stamp_s

    def force(self, depth_m: np.ndarray, camera: PinholeCamera, T_map_cam: np.ndarray,
              stamp_s: float, reason: str) -> KeyframeDecision:
        """Make this frame a keyframe for ``reason`` (the caller's own trigger, e.g. a
        second look at an object seen once); it becomes the new reference."""
        self._take_reference(depth_m, camera, T_map_cam, stamp_s)
        return KeyframeDecision(True, reason)

    def _take_reference(self, depth_m: np.ndarray, camera: PinholeCamera,
                        T_map_cam: np.ndarray, stamp_s: float) -> None:
        self._ref_T = np.array(T_map_cam, dtype=np.float64)
        self._ref_stamp_s = float(stamp_s)
        self._ref_points_map = self.sample_points(depth_m, camera, T_map_cam)


class KeyframeBuffer:
    """At most ``capacity`` keyframes; eviction keeps coverage of the scene.

    The redundancy of a keyframe is the pose-space distance to its nearest other
    keyframe: ``|dt| [m] + rotation_weight_m_per_rad * angle between optical axes``.
    The newest keyframe is never evicted. Thread-safe for one writer and many readers."""

    def __init__(self, capacity: int = 32, rotation_weight_m_per_rad: float = 1.0) -> None:
        if capacity < 2:
            raise ValueError(f"keyframe buffer capacity must be >= 2, got {capacity}")
        self.capacity = int(capacity)
        self.rotation_weight_m_per_rad = float(rotation_weight_m_per_rad)
        self._frames: list[Keyframe] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self):
        return iter(self.frames())

    def frames(self) -> list[Keyframe]:
        """Kept keyframes, oldest first (a copy of the list)."""
        with self._lock:
            return list(self._frames)

    def latest(self) -> Keyframe | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def add(self, keyframe: Keyframe) -> Keyframe | None:
        """Append a keyframe; returns the evicted one when the buffer was full."""
        with self._lock:
            self._frames.append(keyframe)
            if len(self._frames) <= self.capacity:
                return None
            victim = self._most_redundant()
            return self._frames.pop(victim)

    def _most_redundant(self) -> int:
        positions = np.array([kf.T_map_cam[:3, 3] for kf in self._frames])
        axes = np.array([kf.T_map_cam[:3, 2] for kf in self._frames])
        dist = np.linalg.norm(positions[:, None] - positions[None], axis=2)
        angle = np.arccos(np.clip(axes @ axes.T, -1.0, 1.0))
        cost = dist + self.rotation_weight_m_per_rad * angle
        np.fill_diagonal(cost, np.inf)
        nearest = cost.min(axis=1)
        nearest[-1] = np.inf  # the newest keyframe is the current view: always keep it
        return int(np.argmin(nearest))
