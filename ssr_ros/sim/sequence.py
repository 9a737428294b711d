"""Rendered RGB-D sequences: :func:`render_sequence` and its lazily rendered frames.

Frames and units: poses ``T_map_cam`` (4, 4) map the camera optical frame (REP-103:
x right, y down, z forward) into the map frame (REP-105, z up) [m]; ``K`` (3, 3) [px]
with pixel centres at integer coordinates; ``stamp_s`` = index / rate_hz [s].

An object is *visible* in a frame when at least :func:`visible_pixel_threshold` pixels
of the instance-id image carry its id (200 px at 640x480, scaled with the image area so
the notion does not depend on the resolution; occlusion counts). ``first_seen`` maps
each object id that is ever visible to the first such frame index; objects never
visible are absent from it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from ssr_ros.core.frames import PosedFrame
from ssr_ros.core.types import ObjectState, RobotPose2D
from ssr_ros.sim.catalog import CATEGORY_NAMES
from ssr_ros.sim.render import Renderer, default_intrinsics
from ssr_ros.sim.scene import Scene
from ssr_ros.sim.trajectory import TRAJECTORY_KINDS, lap_duration_s, make_trajectory

MIN_VISIBLE_PIXELS_VGA = 200
MAX_IMAGE_SIDE = 4096


class SequenceError(ValueError):
    """Invalid sequence parameters (frame count, image size, rate, trajectory)."""


def visible_pixel_threshold(width: int, height: int) -> int:
    """Pixels an object needs in a frame to count as visible at this resolution."""
    return max(4, int(round(MIN_VISIBLE_PIXELS_VGA * width * height / (640.0 * 480.0))))


@dataclass(frozen=True)
class SimFrame(PosedFrame):
    """One rendered frame: a :class:`~ssr_ros.core.frames.PosedFrame` whose ``labels`` are
    the instance ids (H, W) uint16 (0 = no object: walls, floor, ceiling) with the scene's
    ``id_to_category``, plus its ``index`` in the sequence and the depth as the sensor's
    ``depth_mm`` (H, W) uint16 [mm], 0 = invalid."""

    index: int
    depth_mm: np.ndarray

    @property
    def instance_ids(self) -> np.ndarray:
        """The instance-id image (H, W) uint16 (the frame's ``labels``)."""
        return self.labels


class SimSequence:
    """A camera path through a scene, rendered frame by frame on demand.

    ``len(seq)`` frames; ``seq.frame(i)`` renders frame i (deterministic: the same
    sequence parameters give the same bytes, in any order of access); iterating yields
    every frame in order. Rendering holds a lock, so threads may share a sequence.
    """

    def __init__(self, scene: Scene, poses: np.ndarray, K: np.ndarray, width: int,
                 height: int, rate_hz: float, noise: bool, seed: int, trajectory: str,
                 backend: str = "auto") -> None:
        self.scene = scene
        self.K = K
        self.width = width
        self.height = height
        self.rate_hz = rate_hz
        self.noise = noise
        self.seed = seed
        self.trajectory = trajectory
        self.poses: list[np.ndarray] = [p for p in poses]
        self.stamps_s: list[float] = [i / rate_hz for i in range(len(poses))]
        self.id_to_category: dict[int, str] = {o.id: o.category for o in scene.objects}
        self.category_names: tuple[str, ...] = CATEGORY_NAMES
        self.min_visible_pixels = visible_pixel_threshold(width, height)
        self._renderer = Renderer(scene, backend)
        self._lock = threading.Lock()
        self._counts: dict[int, dict[int, int]] = {}
        self._first_seen: Optional[dict[int, int]] = None
        index = {name: k + 1 for k, name in enumerate(CATEGORY_NAMES)}
        lut = np.zeros(max(self.id_to_category, default=0) + 1, dtype=np.uint16)
        for object_id, name in self.id_to_category.items():
            lut[object_id] = index[name]
        self._category_lut = lut

    def __len__(self) -> int:
        return len(self.poses)

    def __iter__(self) -> Iterator[SimFrame]:
        for i in range(len(self)):
            yield self.frame(i)

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"frame {index} out of range for {len(self)} frames")
        return index % len(self)

    def frame(self, index: int) -> SimFrame:
        """Render frame ``index`` (negative indices count from the end)."""
        i = self._check_index(index)
        rng = np.random.default_rng([self.seed, i, 3]) if self.noise else None
        with self._lock:
            out = self._renderer.render(self.poses[i], self.K, self.width, self.height, rng)
            self._counts.setdefault(i, self._count_ids(out["instance_ids"]))
        return SimFrame(out["rgb"], out["depth_m"], self.K.copy(), self.poses[i].copy(),
                        self.stamps_s[i], index=i, depth_mm=out["depth_mm"],
                        labels=out["instance_ids"], id_to_category=self.id_to_category)

    def category_ids(self, instance_ids: np.ndarray) -> np.ndarray:
        """Category-label image (H, W) uint16 from an instance-id image: 1 +
        the category's index in ``category_names``, 0 = no object."""
        return self._category_lut[instance_ids]

    @staticmethod
    def _count_ids(instance_ids: np.ndarray) -> dict[int, int]:
        counts = np.bincount(instance_ids.ravel())
        return {int(k): int(c) for k, c in enumerate(counts) if k and c}

    def visible_ids(self, index: int) -> dict[int, int]:
        """Pixel counts {object id: pixels} of the objects visible in frame ``index``."""
        i = self._check_index(index)
        with self._lock:
            counts = self._counts.get(i)
            if counts is None:
                ids = self._renderer.instance_ids(self.poses[i], self.K, self.width,
                                                  self.height)
                counts = self._counts[i] = self._count_ids(ids)
        return {k: c for k, c in counts.items() if c >= self.min_visible_pixels}

    @property
    def first_seen(self) -> dict[int, int]:
        """{object id: first frame index in which it is visible}; computed once (a
        label-only ray cast of the frames up to the last first sighting)."""
        if self._first_seen is None:
            first: dict[int, int] = {}
            for i in range(len(self)):
                for object_id in self.visible_ids(i):
                    first.setdefault(object_id, i)
                if len(first) == len(self.id_to_category):
                    break
            self._first_seen = first
        return dict(self._first_seen)

    def object_states(self, visible_only: bool = True) -> list[ObjectState]:
        """Ground-truth objects as :class:`ObjectState` records with the sequence's
        sightings: ``first_seen_order`` = first visible frame index, ``first_seen_s`` its
        stamp, ``last_seen_s`` the last frame's stamp. With ``visible_only`` (default),
        objects never visible in the sequence are left out."""
        first = self.first_seen
        states = []
        for obj in self.scene.objects:
            if obj.id not in first and visible_only:
                continue
            index = first.get(obj.id, len(self) - 1)
            states.append(obj.to_object_state(first_seen_order=index,
                                              first_seen_s=self.stamps_s[index],
                                              last_seen_s=self.stamps_s[-1]))
        return states

    def robot_pose(self, index: int) -> RobotPose2D:
        """The camera's ground-plane pose at frame ``index``: position [m] and heading
        of the optical axis projected on the floor [rad, counter-clockwise from +x]."""
        i = self._check_index(index)
        T = self.poses[i]
        return RobotPose2D(x=float(T[0, 3]), y=float(T[1, 3]),
                           yaw_rad=float(np.arctan2(T[1, 2], T[0, 2])),
                           stamp_s=self.stamps_s[i])


def _check_motion(scene: Scene, rate_hz: float, trajectory: str, seed: Optional[int]
                  ) -> int:
    """Validate the rate, trajectory kind and seed; return the seed in use."""
    if isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, float, np.number)) \
            or not np.isfinite(rate_hz) or not 0.0 < rate_hz <= 1000.0:
        raise SequenceError(f"rate_hz must be in (0, 1000] Hz, got {rate_hz!r}")
    if trajectory not in TRAJECTORY_KINDS:
        raise SequenceError(f"unknown trajectory {trajectory!r}; use one of "
                            f"{', '.join(TRAJECTORY_KINDS)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise SequenceError(f"seed must be an integer >= 0 or None, got {seed!r}")
    return int(scene.seed if seed is None else seed)


def lap_frames(scene: Scene, rate_hz: float = 15.0, trajectory: str = "walk",
               seed: Optional[int] = None) -> int:
    """Frames at ``rate_hz`` [Hz] that one full lap of the scene's loop needs at the
    trajectory's speed limits (``trajectory.SPEED_LIMITS``), for the same ``seed`` as
    :func:`render_sequence` (default: the scene's seed). ``render_sequence`` with this
    many frames (or more) walks the whole loop once and ends next to where it began;
    with fewer it covers only the start of the loop. At least 1."""
    used_seed = _check_motion(scene, rate_hz, trajectory, seed)
    return max(1, int(math.ceil(lap_duration_s(scene, trajectory, used_seed)
                                * float(rate_hz))))


def render_sequence(scene: Scene, n_frames: int = 300, width: int = 640, height: int = 480,
                    rate_hz: float = 15.0, trajectory: str = "walk", noise: bool = False,
                    seed: Optional[int] = None, backend: str = "auto") -> SimSequence:
    """A sequence of ``n_frames`` frames of ``width`` x ``height`` px at ``rate_hz`` along
    a ``"walk"`` or ``"robot"`` trajectory; ``noise`` adds the sensor noise model;
    ``seed`` (default: the scene's seed) seeds the noise and the trajectory's sweeps;
    ``backend`` picks the renderer's visibility (see :class:`ssr_ros.sim.render.Renderer`).
    Frames are rendered when asked for."""
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) \
            or n_frames < 1:
        raise SequenceError(f"n_frames must be a positive integer, got {n_frames!r}")
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not 8 <= value <= MAX_IMAGE_SIDE:
            raise SequenceError(f"{name} must be an integer in [8, {MAX_IMAGE_SIDE}] px, "
                                f"got {value!r}")
    used_seed = _check_motion(scene, rate_hz, trajectory, seed)
    poses = make_trajectory(scene, int(n_frames), trajectory, used_seed, float(rate_hz))
    K = default_intrinsics(int(width), int(height))
    return SimSequence(scene, poses, K, int(width), int(height), float(rate_hz), bool(noise),
                       used_seed, trajectory, backend)
