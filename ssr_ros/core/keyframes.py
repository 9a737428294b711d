"""Keyframe selection and the bounded keyframe buffer.

A frame becomes a keyframe when the camera moved or turned enough since the last one,
when enough time passed, or when the view shows enough new content: the share of the
current view's cells that the last keyframe's sparse points, re-projected into the
current camera, do not cover. That test uses a small grid of points (cached per keyframe),
so a decision costs tens of microseconds, not a full-image warp.

The buffer keeps at most ``capacity`` keyframes (0: none, for a pipeline whose keyframe
images nothing reads). When full it drops the keyframe that is most redundant in pose
space (nearest to another keyframe in position and viewing direction), so the kept set
still covers the whole scene rather than the last seconds. It copies the images it keeps
and stores depth as uint16 when that is exact (depth decoded from millimetre or TUM
integer images): half the memory of float32 metres, given back as float32 on reading.
"""

from __future__ import annotations

import dataclasses
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
        self._cover_cache: tuple[tuple[int, int], tuple[np.ndarray, np.ndarray]] | None = None

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

    def _cover_samples(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """``np.ix_`` index of the pixel grid :meth:`new_content` samples in an (h, w)
        image (2 x 2 per coverage cell), kept for the last image size."""
        cached = self._cover_cache
        if cached is None or cached[0] != (h, w):
            cfg = self.config
            rows = np.linspace(0, h - 1, cfg.cover_rows * 2).round().astype(np.intp)
            cols = np.linspace(0, w - 1, cfg.cover_cols * 2).round().astype(np.intp)
            cached = ((h, w), np.ix_(rows, cols))
            self._cover_cache = cached
        return cached[1]

    def new_content(self, depth_m: np.ndarray, camera: PinholeCamera,
                    T_map_cam: np.ndarray) -> float:
        """Share in [0, 1] of the current view's coarse cells that hold valid depth but
        receive none of the last keyframe's re-projected points (1 without reference)."""
        if self._ref_points_map is None:
            return 1.0
        cfg = self.config
        h, w = depth_m.shape
        valid = (depth_m[self._cover_samples(h, w)] > 0)
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

    def evaluate(self, depth_m: np.ndarray, camera: PinholeCamera, T_map_cam: np.ndarray,
                 stamp_s: float) -> KeyframeDecision:
        """Whether one (validated) frame is a keyframe, without changing the selector:
        the reference stays until :meth:`accept`. ``depth_m`` (H, W) [m], ``T_map_cam``
        (4, 4), ``stamp_s`` [s]. Lets a caller decide before it decodes the rest of the
        frame and drop a frame whose rest turns out bad with nothing changed."""
        cfg = self.config
        if self._ref_T is None:
            return KeyframeDecision(True, "first", new_content=1.0)
        if stamp_s < self._ref_stamp_s:
            return KeyframeDecision(True, "time_reset", new_content=1.0)
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
        return KeyframeDecision(bool(reason), reason, trans, rot, content)

    def accept(self, depth_m: np.ndarray, camera: PinholeCamera, T_map_cam: np.ndarray,
               stamp_s: float) -> None:
        """Make this frame (a keyframe) the reference the next decisions compare against."""
        self._ref_T = np.array(T_map_cam, dtype=np.float64)
        self._ref_stamp_s = float(stamp_s)
        self._ref_points_map = self.sample_points(depth_m, camera, T_map_cam)

    def decide(self, depth_m: np.ndarray, camera: PinholeCamera, T_map_cam: np.ndarray,
               stamp_s: float) -> KeyframeDecision:
        """:meth:`evaluate`, then :meth:`accept` a keyframe: on a keyframe the frame
        becomes the new reference."""
        decision = self.evaluate(depth_m, camera, T_map_cam, stamp_s)
        if decision.is_keyframe:
            self.accept(depth_m, camera, T_map_cam, stamp_s)
        return decision

    @property
    def reference_stamp_s(self) -> float | None:
        """Stamp [s] of the last keyframe (None before the first)."""
        return None if self._ref_T is None else self._ref_stamp_s

    def force(self, depth_m: np.ndarray, camera: PinholeCamera, T_map_cam: np.ndarray,
              stamp_s: float, reason: str) -> KeyframeDecision:
        """Make this frame a keyframe for ``reason`` (the caller's own trigger, e.g. a
        second look at an object seen once); it becomes the new reference."""
        self.accept(depth_m, camera, T_map_cam, stamp_s)
        return KeyframeDecision(True, reason)


#: Depth units [m] tried for exact uint16 storage: millimetres, TUM's 1/5000 m.
COMPACT_DEPTH_SCALES_M = (0.001, 0.0002)


def compact_depth(depth_m: np.ndarray) -> tuple[np.ndarray, float] | None:
    """``depth_m`` (H, W) float32 [m] as ``(uint16 units, unit [m])`` when that gives back
    exactly the same float32 values (``units.astype(float32) * float32(unit)``, how the
    node decodes integer depth), else None."""
    depth = np.asarray(depth_m)
    if depth.dtype != np.float32:
        return None
    for scale in COMPACT_DEPTH_SCALES_M:
        unit = np.float32(scale)
        units = np.rint(depth / unit)
        if units.min(initial=0.0) < 0.0 or units.max(initial=0.0) > 65535.0:
            continue
        units = units.astype(np.uint16)
        if np.array_equal(units.astype(np.float32) * unit, depth):
            return units, scale
    return None


@dataclass(frozen=True)
class _Stored:
    """A kept keyframe: the keyframe (its depth replaced by ``depth_units`` when compact)
    and the unit [m] of its uint16 depth (0 = depth kept as given)."""

    keyframe: Keyframe
    depth_unit_m: float

    @staticmethod
    def of(kf: Keyframe) -> "_Stored":
        compact = compact_depth(kf.depth_m)
        depth, unit = compact if compact is not None else (np.array(kf.depth_m), 0.0)
        return _Stored(dataclasses.replace(
            kf, rgb=np.array(kf.rgb), depth_m=depth,
            labels=None if kf.labels is None else np.array(kf.labels)), unit)

    def get(self) -> Keyframe:
        if not self.depth_unit_m:
            return self.keyframe
        depth = self.keyframe.depth_m.astype(np.float32) * np.float32(self.depth_unit_m)
        return dataclasses.replace(self.keyframe, depth_m=depth)

    @property
    def nbytes(self) -> int:
        kf = self.keyframe
        return int(kf.rgb.nbytes + kf.depth_m.nbytes
                   + (0 if kf.labels is None else kf.labels.nbytes))


class KeyframeBuffer:
    """At most ``capacity`` keyframes (0 keeps none); eviction keeps coverage of the scene.

    The redundancy of a keyframe is the pose-space distance to its nearest other
    keyframe: ``|dt| [m] + rotation_weight_m_per_rad * angle between optical axes``.
    The newest keyframe is never evicted. Kept keyframes own copies of their images
    (callers may reuse their buffers); depth is stored as uint16 when exact (see
    :func:`compact_depth`). Thread-safe for one writer and many readers."""

    def __init__(self, capacity: int = 32, rotation_weight_m_per_rad: float = 1.0) -> None:
        if capacity != 0 and capacity < 2:
            raise ValueError(f"keyframe buffer capacity must be 0 or >= 2, got {capacity}")
        self.capacity = int(capacity)
        self.rotation_weight_m_per_rad = float(rotation_weight_m_per_rad)
        self._frames: list[_Stored] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._frames)

    def __iter__(self):
        return iter(self.frames())

    @property
    def nbytes(self) -> int:
        """Bytes of the kept images (colour, depth, labels)."""
        with self._lock:
            return sum(f.nbytes for f in self._frames)

    def frames(self) -> list[Keyframe]:
        """Kept keyframes, oldest first (float32 depth [m], as added)."""
        with self._lock:
            stored = list(self._frames)
        return [f.get() for f in stored]

    def latest(self) -> Keyframe | None:
        with self._lock:
            return self._frames[-1].get() if self._frames else None

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def add(self, keyframe: Keyframe) -> Keyframe | None:
        """Keep a copy of ``keyframe``; returns the evicted one when the buffer was full
        (None with capacity 0: nothing is kept)."""
        if self.capacity == 0:
            return None
        stored = _Stored.of(keyframe)
        with self._lock:
            self._frames.append(stored)
            if len(self._frames) <= self.capacity:
                return None
            victim = self._most_redundant()
            return self._frames.pop(victim).get()

    def _most_redundant(self) -> int:
        poses = [f.keyframe.T_map_cam for f in self._frames]
        positions = np.array([T[:3, 3] for T in poses])
        axes = np.array([T[:3, 2] for T in poses])
        dist = np.linalg.norm(positions[:, None] - positions[None], axis=2)
        angle = np.arccos(np.clip(axes @ axes.T, -1.0, 1.0))
        cost = dist + self.rotation_weight_m_per_rad * angle
        np.fill_diagonal(cost, np.inf)
        nearest = cost.min(axis=1)
        nearest[-1] = np.inf  # the newest keyframe is the current view: always keep it
        return int(np.argmin(nearest))
