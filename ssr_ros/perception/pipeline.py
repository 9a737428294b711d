"""MappingPipeline: posed RGB-D frames, one at a time, to the metric object map, without
ROS. It is the one owner of the mapping state.

Per frame: validate it (a bad frame raises and changes nothing) -> keyframe selection
(non-keyframes stop here, after the trajectory is updated; a frame whose images are
decoded on demand, :class:`~ssr_ros.core.frames.DeferredFrame`, is decoded only when it
may become a keyframe) -> proposals -> lifting ->
``ObjectMap.integrate`` and the pending box re-fits -> room evidence -> ``LocalCogMap.sync``
of the confirmed objects. Per-stage timings are recorded on every result.

State: the object map (objects, their evidence and pending fits), the LocalCogMap chain,
the room evidence and the camera trajectory (keyframes marked). :meth:`state_dict` /
:meth:`load_state_dict` round-trip all of it (a restarted node maps on exactly where it
stopped: the same objects, the same merge rule, the same room); :meth:`view` is an
immutable copy for readers. Recent depth frames kept for back-dating first sightings and
the keyframe images are not part of the state (a restart starts with fresh keyframes).
Which box fits are pending is not recorded by ``ObjectMap.to_dict`` yet, so after a load
an object's box is re-fitted when the object is next seen rather than at the next
keyframe.

Thread model: one writer. The pipeline takes no locks of its own; the caller serialises
:meth:`process`, :meth:`clear`, :meth:`load_state_dict` and :meth:`state_dict` (the node's
:class:`~ssr_ros.runtime.map_state.MapKeeper` holds its writer lock for them) and readers
use :meth:`view` results, which never change.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ssr_ros.core.camera import (
    ImageSizeMismatchError,
    PinholeCamera,
    validate_K,
    validate_depth,
)
from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.frames import DeferredFrame, PosedFrame
from ssr_ros.core.geometry import check_pose, transform_points
from ssr_ros.core.keyframes import (
    Keyframe,
    KeyframeBuffer,
    KeyframeDecision,
    KeyframeSelector,
    KeyframeSelectorConfig,
)
from ssr_ros.core.objects import (MapChanges, ObjectMap, ObjectMapConfig, ObjectMapFormatError,
                                 Observation)
from ssr_ros.core.room import RoomEstimator, RoomEstimatorConfig
from ssr_ros.core.seen_space import SeenSpace, SeenSpaceConfig
from ssr_ros.core.trajectory import CameraTrajectory
from ssr_ros.core.types import ObjectState, Room
from ssr_ros.perception.lifting import EvidenceBoxFitter, Lifter, LiftingConfig, Rejection
from ssr_ros.perception.priors import COMPATIBLE, max_plausible_length
from ssr_ros.perception.sightings import SightingConfig, SightingHistory
from ssr_ros.perception.proposals import (
    BoxesSource,
    DetectorConfig,
    DetectorSource,
    LabelImageSource,
    NoneSource,
    Proposal,
    ProposalSource,
)

SOURCES = ("labels", "detector", "boxes", "none")


SEEN_SAME_VIEW = (0.1, math.cos(math.radians(5.0)))
"""A keyframe within this distance [m] and angle (cosine) of a view the seen space took
(among the last 64) sees what that one saw: its rays are not marked again."""


class InvalidFrameError(ValueError):
    """An RGB image, a stamp or another frame input is malformed (shape, dtype, value)."""


def _same_distortion(cam: PinholeCamera, dist: np.ndarray | None) -> bool:
    """True when ``cam`` already models ``dist`` (None and all-zero mean none)."""
    d = None if dist is None else np.asarray(dist, dtype=np.float64).ravel()
    if d is None or d.size == 0 or not np.any(d):
        return cam.distortion is None
    if cam.distortion is None or d.size > cam.distortion.size:
        return False
    return bool(np.array_equal(cam.distortion[:d.size], d)
                and not np.any(cam.distortion[d.size:]))


@dataclass
class PipelineConfig:
    """Everything the pipeline needs; each part validates itself."""

    source: str = "labels"
    selector: KeyframeSelectorConfig = field(default_factory=KeyframeSelectorConfig)
    # Keyframe images kept by the pipeline (0: none). Nothing in the pipeline reads them
    # once a keyframe is mapped; a node keeps them only for a model (its window).
    keyframe_capacity: int = 0
    lifting: LiftingConfig = field(default_factory=LiftingConfig)
    object_map: ObjectMapConfig = field(
        default_factory=lambda: ObjectMapConfig(compatible_labels=dict(COMPATIBLE)))
    room: RoomEstimatorConfig = field(default_factory=RoomEstimatorConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    sightings: SightingConfig = field(default_factory=SightingConfig)
    # What the keyframes' depth rays observed (objects seen in part grow only into
    # space no ray saw: perception.completion); rays per image row (a strided sample).
    seen_space: SeenSpaceConfig = field(default_factory=SeenSpaceConfig)
    seen_rays_across: int = 40
    default_box_label: str = "object"
    label_stride: int = 2
    room_stride: int = 8
    refit_per_keyframe: int = 4
    # A frame this long [s] after a keyframe that saw an object for the first time
    # becomes a keyframe too while that object is still in view: a second look
    # confirms it (an object needs ``object_map.confirm_observations`` keyframes), where
    # a glance between two keyframes would leave it tentative for good. 0 = off.
    recheck_after_s: float = 0.2
    trajectory_capacity: int = 20000

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.room_stride < 1 or self.label_stride < 1 or self.trajectory_capacity < 1:
            raise ValueError("strides and trajectory_capacity must be >= 1")
        if not (isinstance(self.seen_rays_across, int) and 1 <= self.seen_rays_across <= 4096):
            raise ValueError(f"seen_rays_across must be an int in [1, 4096], got "
                             f"{self.seen_rays_across!r}")
        if not (isinstance(self.recheck_after_s, (int, float))
                and math.isfinite(self.recheck_after_s) and self.recheck_after_s >= 0.0):
            raise ValueError(f"recheck_after_s must be a finite number >= 0, got "
                             f"{self.recheck_after_s!r}")


@dataclass
class PipelineResult:
    """Outcome of one keyframe: the keyframe, why it was taken, its observations and
    rejected proposals, the object-map and cogmap changes, and per-stage times [ms]."""

    keyframe: Keyframe
    decision: KeyframeDecision
    proposals: list[Proposal]
    observations: list[Observation]
    rejections: list[Rejection]
    changes: MapChanges
    cogmap_changes: Any
    timings_ms: dict[str, float]


@dataclass(frozen=True)
class PipelineView:
    """An immutable copy of the mapped state for readers: confirmed ``objects`` (ordered
    by id), a private ``cogmap`` copy, the ``room`` estimate (None before any floor area)
    and the keyframe path ``path_m`` (N, 3) [m, map frame]."""

    objects: tuple[ObjectState, ...]
    cogmap: LocalCogMap
    room: Room | None
    path_m: np.ndarray


class PipelineStateError(ValueError):
    """A state dict that :meth:`MappingPipeline.load_state_dict` cannot use."""


class MappingPipeline:
    """Keyframes -> proposals -> lifting -> object map -> room -> cogmap."""

    def __init__(self, config: PipelineConfig | None = None,
                 source: ProposalSource | None = None) -> None:
        self.config = config or PipelineConfig()
        cfg = self.config
        self.room = RoomEstimator(cfg.room)
        self.seen = SeenSpace(cfg.seen_space)
        # (position, optical axis) of the last views the seen space took
        self._seen_views: collections.deque = collections.deque(maxlen=64)
        self.fitter = EvidenceBoxFitter(floor_z=self._floor_z,
                                        wall_distance=self.room.distance_to_wall,
                                        seen_space=self.seen)
        self.object_map = self._object_map()
        self.selector = KeyframeSelector(cfg.selector)
        self.keyframes = KeyframeBuffer(cfg.keyframe_capacity)
        self.lifter = Lifter(cfg.lifting)
        self.sightings = SightingHistory(cfg.sightings)
        self.source = source if source is not None else self._make_source()
        self.cogmap = LocalCogMap()
        # The chain and its version that the last view's private copy shows (view()).
        self._view_chain: tuple[LocalCogMap, int, LocalCogMap] | None = None
        self.trajectory = CameraTrajectory(cfg.trajectory_capacity)
        self.keyframe_count = 0
        self.frame_count = 0
        self.cogmap_errors = 0
        self.last_cogmap_error = ""
        self._camera: PinholeCamera | None = None
        # (K as given, K checked) of the last _checked_K
        self._last_K: tuple[np.ndarray, np.ndarray] | None = None
        self._floor_seen = False

    def _object_map(self, data: dict | None = None) -> ObjectMap:
        """An object map with this pipeline's config, box fitter and merge rule (the
        longest plausible length of a category: touching pieces of one object merge
        within it); ``data`` restores one from ``ObjectMap.to_dict`` output."""
        if data is None:
            return ObjectMap(self.config.object_map, box_fitter=self.fitter,
                             max_extent=max_plausible_length)
        omap = ObjectMap.from_dict(data, config=self.config.object_map,
                                   box_fitter=self.fitter)
        omap.max_extent = max_plausible_length
        return omap

    # ------------------------------------------------------------------ reading

    def camera_path(self) -> np.ndarray:
        """Camera positions of every frame so far, ``(N, 4)``: stamp [s] and x, y, z [m]
        in the map frame (a copy)."""
        return self.trajectory.frames()

    @property
    def camera(self) -> PinholeCamera | None:
        """The camera model of the last frame (intrinsics, size, lens distortion)."""
        return self._camera

    def room_estimate(self) -> Room | None:
        """The room from the evidence so far, or None while it has no floor area."""
        room = self.room.room()
        return room if room.floor_area_m2 > 0.0 else None

    def view(self) -> PipelineView:
        """An immutable copy of the objects, the cogmap, the room and the keyframe path.

        Copy on write: the objects are the object map's shared read-only states, and the
        cogmap copy (:meth:`LocalCogMap.copy`) is taken again only when the chain's
        ``version`` moved since the last view (readers never write to it)."""
        chain = self.cogmap
        if self._view_chain is None or self._view_chain[0] is not chain \
                or self._view_chain[1] != chain.version:
            self._view_chain = (chain, chain.version, chain.copy())
        return PipelineView(objects=tuple(self.object_map.objects()),
                            cogmap=self._view_chain[2],
                            room=self.room_estimate(),
                            path_m=self.trajectory.keyframe_positions())

    def _make_source(self) -> ProposalSource:
        cfg = self.config
        if cfg.source == "labels":
            return LabelImageSource(stride=cfg.label_stride)
        if cfg.source == "detector":
            return DetectorSource(cfg.detector, stride=cfg.label_stride)
        if cfg.source == "boxes":
            return BoxesSource(cfg.default_box_label, stride=cfg.label_stride)
        return NoneSource()

    def _floor_z(self) -> float | None:
        # Until the floor itself was in view its height is a guess (often the lowest wall
        # level the camera saw); snapping boxes to it would cut objects off.
        if not (self._floor_seen and self.room.floor_observed):
            return None
        return self.room.floor_z_m

    # ------------------------------------------------------------------ validation

    def _camera_for(self, K: np.ndarray, width: int, height: int,
                    dist: np.ndarray | None = None) -> PinholeCamera:
        """The cached camera for these intrinsics, or a new one when K, size or ``dist``
        changed (cached by :meth:`process` once the frame is taken). Raises
        InvalidIntrinsicsError for unusable distortion coefficients."""
        cam = self._camera
        if cam is None or cam.width != width or cam.height != height or \
                not np.array_equal(cam.K, K) or not _same_distortion(cam, dist):
            cam = PinholeCamera(K, width, height, dist)
        return cam

    def _validate(self, frame: PosedFrame) -> PosedFrame:
        """The frame with checked, normalised arrays (float64 K and pose, float stamp)."""
        return self._validate_images(frame, self._validate_geometry(frame))

    def _validate_geometry(self, frame: PosedFrame) -> PosedFrame:
        """What the keyframe selector reads, checked: depth, K, pose and stamp (float64 K
        and pose, float stamp); ``rgb``, ``labels`` and ``boxes`` are not looked at (the
        returned frame has none)."""
        if not isinstance(frame, PosedFrame):
            raise InvalidFrameError(f"expected a PosedFrame, got {type(frame).__name__}")
        depth = frame.depth_m
        if not (isinstance(frame, DeferredFrame) and frame.depth_checked
                and isinstance(depth, np.ndarray) and depth.ndim == 2
                and depth.dtype == np.float32):
            depth = validate_depth(depth)
        K = self._checked_K(frame.K)
        T = check_pose(frame.T_map_cam, "T_map_cam")
        stamp_s = frame.stamp_s
        if isinstance(stamp_s, bool) or not isinstance(stamp_s, (int, float, np.integer,
                                                                 np.floating)) \
                or not math.isfinite(stamp_s):
            raise InvalidFrameError(f"stamp_s must be a finite number, got {stamp_s!r}")
        return PosedFrame(None, depth, K, T, float(stamp_s), dist=frame.dist,
                          frame_id=frame.frame_id)

    def _checked_K(self, K: np.ndarray) -> np.ndarray:
        """:func:`validate_K` of ``K`` (a float64 (3, 3) copy), remembered for the last
        K: a stream's intrinsics are the same on every frame."""
        arr = np.asarray(K)
        last = self._last_K
        if last is not None and arr.dtype == last[0].dtype and arr.shape == last[0].shape \
                and np.array_equal(arr, last[0]):
            return last[1].copy()
        checked = validate_K(arr)
        self._last_K = (arr.copy(), checked.copy())
        return checked

    def _validate_images(self, frame: PosedFrame, geometry: PosedFrame) -> PosedFrame:
        """``geometry`` (checked by :meth:`_validate_geometry`) with ``frame``'s colour
        image, labels (with the label source's check of their ids) and boxes, checked
        against its size."""
        if not isinstance(frame, PosedFrame):
            raise InvalidFrameError(f"expected a PosedFrame, got {type(frame).__name__}")
        depth = geometry.depth_m
        rgb = np.asarray(frame.rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InvalidFrameError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if depth.shape != rgb.shape[:2]:
            raise ImageSizeMismatchError(f"rgb is {rgb.shape[:2]} but depth is {depth.shape}")
        labels = frame.labels
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != depth.shape:
                raise ImageSizeMismatchError(
                    f"labels are {labels.shape} but depth is {depth.shape}")
            if not np.issubdtype(labels.dtype, np.integer):
                raise InvalidFrameError(f"labels must be integer ids, got {labels.dtype}")
            if isinstance(self.source, LabelImageSource):
                self.source.check(labels, frame.id_to_category)
        if frame.boxes is not None:
            for b in frame.boxes:
                b.validate(depth.shape[1], depth.shape[0])
        return PosedFrame(rgb, depth, geometry.K, geometry.T_map_cam, geometry.stamp_s,
                          labels=labels, id_to_category=frame.id_to_category,
                          boxes=frame.boxes, dist=geometry.dist, frame_id=geometry.frame_id)

    # ------------------------------------------------------------------ processing

    def process(self, frame: PosedFrame) -> PipelineResult | None:
        """Process one posed frame; returns None when it is not a keyframe.

        ``frame`` (see :class:`~ssr_ros.core.frames.PosedFrame`): images, ``K``, the pose
        ``T_map_cam`` (camera optical frame -> map), the stamp, and what the proposal
        source reads: instance ``labels`` with ``id_to_category``, or 2D ``boxes``; its
        ``dist`` (plumb-bob coefficients of unrectified images, None = rectified) is used
        by every back-projection. Raises a ValueError subclass (InvalidDepthError,
        ImageSizeMismatchError, InvalidIntrinsicsError, InvalidTransformError,
        UnknownLabelError, InvalidBoxError, InvalidFrameError) before changing anything
        when an input is bad.

        A :class:`~ssr_ros.core.frames.DeferredFrame` (the node's frames) is checked and
        judged by the selector on its depth, ``K``, pose and stamp first; its ``decode()``
        is called, and the colour image, labels (with the label source's id check) and
        boxes checked, only when the frame may become a keyframe (the selector takes it,
        or a second look is due, see ``recheck_after_s``), still before anything changes:
        whatever ``decode()`` raises propagates with the pipeline unchanged. So on the
        frames the selector drops, colour, labels and boxes are neither decoded nor
        checked."""
        t0 = time.perf_counter()
        deferred = frame if isinstance(frame, DeferredFrame) else None
        geometry = self._validate_geometry(frame)
        frame = geometry if deferred is not None else self._validate_images(frame, geometry)
        depth, T, stamp_s = frame.depth_m, frame.T_map_cam, frame.stamp_s
        cam = self._camera_for(frame.K, depth.shape[1], depth.shape[0], frame.dist)
        t_select = time.perf_counter()
        decision = self.selector.evaluate(depth, cam, T, stamp_s)
        select_s = time.perf_counter() - t_select
        if deferred is not None and (decision.is_keyframe or self._recheck_possible(stamp_s)):
            frame = self._validate_images(deferred.decode(), frame)
            deferred = None
        t1 = time.perf_counter()
        # Nothing has changed up to here: the frame is taken.
        self._camera = cam
        self.frame_count += 1
        self.trajectory.append(stamp_s, T[:3, 3])
        self.sightings.add(depth, cam, T, stamp_s)
        if decision.is_keyframe:
            self.selector.accept(depth, cam, T, stamp_s)
        elif deferred is None and self._recheck_due(stamp_s):
            decision = self.selector.force(depth, cam, T, stamp_s, "recheck")
        t2 = time.perf_counter()
        if not decision.is_keyframe:
            return None
        # The keyframe reads the caller's arrays while this call runs; the buffer copies
        # what it keeps (nothing at capacity 0), so callers may reuse their buffers.
        kf = Keyframe(frame.rgb, depth, frame.K, T, stamp_s,
                      index=self.keyframe_count, labels=frame.labels,
                      id_to_category=frame.id_to_category, boxes=frame.boxes,
                      dist=frame.dist, frame_id=frame.frame_id)
        self.keyframe_count += 1
        self.keyframes.add(kf)
        self.trajectory.mark_keyframe()
        proposals = self.source.propose(kf)
        t3 = time.perf_counter()
        # Room first: this keyframe's background fixes the floor height the lifting
        # uses to cut the floor out of box-based proposals.
        self._update_room(kf, cam, proposals)
        self._update_seen(kf, cam)
        t4 = time.perf_counter()
        observations, rejections = self.lifter.lift_all(proposals, kf, cam, self._floor_z())
        t5 = time.perf_counter()
        changes = self.object_map.integrate(observations, stamp_s, kf.index)
        self._backdate_new_objects(changes.tentative_added + changes.added, stamp_s)
        refit = self.object_map.refit_pending(self.config.refit_per_keyframe)
        changes.updated = sorted(set(changes.updated) | set(refit.updated))
        t6 = time.perf_counter()
        cog_changes = self._sync_cogmap() if changes.changed else None
        t7 = time.perf_counter()
        # validate: checks and, for a deferred frame, the decode; select: the selector
        # and the frame's bookkeeping (trajectory, sighting history)
        timings = {"validate": t1 - t0 - select_s, "select": t2 - t1 + select_s,
                   "proposals": t3 - t2,
                   "room": t4 - t3, "lifting": t5 - t4, "fusion": t6 - t5,
                   "cogmap": t7 - t6, "total": t7 - t0}
        return PipelineResult(kf, decision, proposals, observations, rejections, changes,
                              cog_changes, {k: v * 1e3 for k, v in timings.items()})

    def _recheck_candidates(self, stamp_s: float) -> list:
        """Objects first seen at the last keyframe and still tentative, when a frame at
        ``stamp_s`` is ``recheck_after_s`` or more after it (see :class:`PipelineConfig`);
        else none."""
        after = self.config.recheck_after_s
        last = self.selector.reference_stamp_s
        if after <= 0.0 or last is None or stamp_s - last < after:
            return []
        return [t for t in self.object_map.tentative()
                if t.last_seen_s == last and t.observation_count == 1]

    def _recheck_possible(self, stamp_s: float) -> bool:
        """True when :meth:`_recheck_due` may hold for a frame at ``stamp_s`` (all but
        the view test, which needs the frame in the sighting history)."""
        return bool(self._recheck_candidates(stamp_s))

    def _recheck_due(self, stamp_s: float) -> bool:
        """True when objects first seen at the last keyframe, still tentative, are in
        view ``recheck_after_s`` after it (see :class:`PipelineConfig`); the newest frame
        of the sighting history is the one at ``stamp_s``."""
        fresh = self._recheck_candidates(stamp_s)
        return bool(fresh) and self.sightings.visible_now(
            [(t.center_m, t.size_m, t.yaw_rad) for t in fresh])

    def _backdate_new_objects(self, ids: list[int], stamp_s: float) -> None:
        """First sightings of objects new at this keyframe, and again of objects
        confirmed at it (their box is now fitted to two views, where the first view may
        have shown a sliver), from the remembered frames before them (see
        :mod:`ssr_ros.perception.sightings`)."""
        states = [s for s in (self.object_map.get(i) for i in dict.fromkeys(ids))
                  if s is not None]
        if not states:
            return
        stamps = self.sightings.earliest(
            [(s.center_m, s.size_m, s.yaw_rad) for s in states],
            before_s=[min(s.first_seen_s, stamp_s) for s in states])
        for state, seen_s in zip(states, stamps):
            if seen_s is not None:
                self.object_map.backdate_first_seen(state.id, seen_s)

    def _sync_cogmap(self) -> Any:
        """Sync the cogmap with the confirmed objects. A failing incremental sync must not
        stop mapping: the cogmap is rebuilt from scratch and the error is counted and kept
        (``cogmap_errors``, ``last_cogmap_error``) for diagnostics."""
        objects = self.object_map.objects()
        try:
            return self.cogmap.sync(objects)
        except (KeyError, ValueError, IndexError, RuntimeError) as exc:
            self.cogmap_errors += 1
            self.last_cogmap_error = f"{type(exc).__name__}: {exc}"
            self.cogmap = LocalCogMap()
            return self.cogmap.sync(objects)

    def _update_seen(self, kf: Keyframe, cam: PinholeCamera) -> None:
        """Mark the space this keyframe's depth rays observed (a strided sample of about
        ``seen_rays_across`` rays per row; pixels without depth observed nothing). A view
        from within ``SEEN_SAME_VIEW`` of one of the last views marked adds nothing new
        (a robot standing still, a loop revisited) and is skipped."""
        position, forward = kf.T_map_cam[:3, 3], kf.T_map_cam[:3, 2]
        near_m, cos_angle = SEEN_SAME_VIEW
        for p, f in self._seen_views:
            if np.linalg.norm(position - p) <= near_m and float(forward @ f) >= cos_angle:
                return
        self._seen_views.append((position.copy(), forward.copy()))
        s = max(1, int(round(kf.depth_m.shape[1] / self.config.seen_rays_across)))
        pts = cam.backproject(kf.depth_m, stride=s)
        valid = kf.depth_m[::s, ::s] > 0
        ends = transform_points(kf.T_map_cam, pts[valid].astype(np.float64))
        self.seen.add_rays(kf.T_map_cam[:3, 3], ends)

    def _update_room(self, kf: Keyframe, cam: PinholeCamera, proposals: list[Proposal]) -> None:
        s = self.config.room_stride
        h, w = kf.depth_m.shape
        objects = np.zeros((h, w), dtype=bool)
        for p in proposals:
            objects[p.rows, p.cols] = True
        if kf.labels is not None:
            objects |= kf.labels != 0
        if s > 1:
            # A sampled pixel counts as object when any pixel of its cell is (proposal
            # pixels are themselves sampled).
            hh, ww = (h // s) * s, (w // s) * s
            # OR over the s rows of each band (whole rows at a time), then over the s
            # columns of each cell: the cells of a 4-D any(axis=(1, 3)), without its
            # reduction along short strided axes (about ten times slower at VGA).
            bands = objects[:hh].reshape(hh // s, s, w).any(axis=1)
            objects = bands[:, 0:ww:s].copy()
            for k in range(1, s):
                objects |= bands[:, k:ww:s]
            depth = kf.depth_m[:hh:s, :ww:s]
            pts = cam.backproject(kf.depth_m, stride=s)[:hh // s, :ww // s]
        else:
            depth = kf.depth_m
            pts = cam.backproject(kf.depth_m)
        sel = (depth > 0) & ~objects
        if not sel.any():
            return
        pts_map = transform_points(kf.T_map_cam, pts[sel].astype(np.float64))
        self.room.update(pts_map, camera_position_m=kf.T_map_cam[:3, 3])
        self._floor_seen = True

    # ------------------------------------------------------------------ state

    def clear(self) -> MapChanges:
        """Forget objects, room, keyframes and trajectory (object ids keep counting)."""
        changes = self.object_map.clear()
        self.room.clear()
        self.seen.clear()
        self._seen_views.clear()
        self.fitter.forget_completions()
        self.keyframes.clear()
        self.sightings.clear()
        self.selector.reset()
        self.trajectory.clear()
        self._floor_seen = False
        self.cogmap.sync([])
        return changes

    def state_dict(self, layout: str = "records") -> dict:
        """The mapping state: ``object_map`` (objects with their evidence), ``cogmap``
        (the chain), ``room_evidence`` (see :meth:`RoomEstimator.state_dict`), ``room``
        (the estimate, for people and tools), ``trajectory`` (every frame: stamp [s],
        position [m], keyframe 0/1; (N, 5)), ``floor_seen``, ``keyframe_count`` and
        ``frame_count``. A copy: the caller may encode it while mapping goes on.

        ``layout``: "records" (JSON-ready: one record per object and link, as
        ``to_dict`` writes them) or "columns" (the object map and the chain as numpy
        columns, ``to_columns``: what a binary map file packs without a per-number
        encoding). :meth:`load_state_dict` reads either."""
        if layout not in ("records", "columns"):
            raise ValueError(f"layout must be 'records' or 'columns', got {layout!r}")
        columns = layout == "columns"
        room = self.room_estimate()
        return {
            "object_map": self.object_map.to_columns() if columns else
            self.object_map.to_dict(),
            "cogmap": self.cogmap.to_columns() if columns else self.cogmap.to_dict(),
            "room_evidence": self.room.state_dict(),
            "seen_space": self.seen.state_dict(),
            "room": None if room is None else {
                "polygon_xy": np.asarray(room.polygon_xy, dtype=float).tolist(),
                "floor_area_m2": float(room.floor_area_m2)},
            "trajectory": self.trajectory.to_list(),
            "floor_seen": self._floor_seen,
            "keyframe_count": self.keyframe_count,
            "frame_count": self.frame_count,
        }

    def load_state_dict(self, state: dict) -> None:
        """Replace the mapping state with :meth:`state_dict` output (of a pipeline with the
        same configuration). Keyframes, the selector and recent sightings start fresh.

        A map file written before the room evidence and the trajectory were saved loads
        with an empty room evidence and its keyframe positions (``path_m``) as the
        trajectory. Raises
        :class:`PipelineStateError` (or the object map's ``ObjectMapFormatError``, both
        ValueErrors) when the state is malformed; the pipeline is then unchanged."""
        try:
            object_map = self._object_map(state["object_map"])
            cogmap = LocalCogMap.from_dict(state["cogmap"])
            room = RoomEstimator(self.config.room)
            if state.get("room_evidence") is not None:
                room.load_state_dict(state["room_evidence"])
            seen = SeenSpace(self.config.seen_space)
            if state.get("seen_space") is not None:
                seen.load_state_dict(state["seen_space"])
            elif object_map.track_count:
                # A map saved before the seen space was: its objects' surroundings would
                # look unobserved, and partly seen ones would grow into them.
                seen.mark_incomplete()
            trajectory = CameraTrajectory(self.config.trajectory_capacity)
            if "trajectory" in state:
                trajectory.load(state["trajectory"])
            else:
                path = np.asarray(state.get("path_m", []), dtype=np.float64).reshape(-1, 3)
                trajectory.load(np.column_stack([np.zeros(len(path)), path,
                                                 np.ones(len(path))]))
            counts = (int(state.get("keyframe_count", 0)), int(state.get("frame_count", 0)))
            floor_seen = bool(state.get("floor_seen", False))
        except ObjectMapFormatError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise PipelineStateError(f"malformed mapping state ({exc})") from exc
        if min(counts) < 0:
            raise PipelineStateError("mapping state has a negative frame count")
        self.clear()
        # The box fitter reads the room through the estimator it was given: that one
        # takes the evidence (checked above on a scratch estimator, so this cannot fail).
        if state.get("room_evidence") is not None:
            self.room.load_state_dict(state["room_evidence"])
        # The box fitter reads the seen space it was given: it takes the checked one.
        self.seen.take(seen)
        self.object_map = object_map
        self.cogmap = cogmap
        self.cogmap.sync(object_map.objects())
        self.trajectory = trajectory
        self.keyframe_count, self.frame_count = counts
        self._floor_seen = floor_seen
