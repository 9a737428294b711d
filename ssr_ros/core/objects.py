"""ObjectMap: association and fusion of per-keyframe 3D observations into persistent objects.

Each observation (one object seen in one keyframe, in the map frame) is associated with
an existing object of a compatible category when enough of its points fall inside that
object's box (or their centres are close); otherwise it starts a tentative object.
Objects keep bounded evidence: a voxel-averaged point set (coarsened when it outgrows its
cap), a capped list of the camera positions that saw them and label votes. Their box is
re-fitted to the accumulated evidence after every update, so centre and size converge to
the whole object rather than the surface one view shows.

Tentative objects become confirmed (visible in :meth:`ObjectMap.objects`) after
``confirm_observations`` keyframes; tentative objects not seen again within
``drop_tentative_after_keyframes`` keyframes are removed as one-off false positives.
Duplicates (compatible labels, overlapping boxes) are merged into the older object.
Ids are positive integers, stable, never reused.

Scale: association and duplicate search look only at objects near an observation (a
bird's-eye :class:`~ssr_ros.core.spatial_hash.SpatialHash`), and the bookkeeping of one
keyframe touches only the objects it changes, so a keyframe costs about the same in a
room and on a building floor of thousands of objects.

The map holds at most ``ObjectMapConfig.max_objects`` objects (confirmed and tentative).
When a keyframe brings more new objects than there is room for, objects are evicted
before any new one is created (:meth:`ObjectMap.eviction_order`):

1. never evicted: objects observed at this keyframe (they are in view now) and confirmed
   objects within ``eviction_keep_radius_m`` of the camera (in view or about to be);
2. tentative objects go before confirmed ones;
3. then the least observed: observation counts compared in powers of two
   (1, 2-3, 4-7, 8-15, ...), so a few views more do not outweigh distance;
4. then the farthest from the camera (bird's-eye), then the least recently seen, then
   the oldest id.

New observations that find no room (every object protected) are rejected and counted
in ``MapChanges.rejected``; evicted ids are listed in ``MapChanges.evicted`` (and in
``removed`` or ``tentative_removed``), so a LocalCogMap synced from the map re-anchors
the triplets that used them.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ssr_ros.core.evidence import VoxelEvidence
from ssr_ros.core.geometry import box_iou_3d, fit_box_to_points, points_in_box, wrap_angle
from ssr_ros.core.spatial_hash import SpatialHash
from ssr_ros.core.types import ObjectState


UNION_GROWTH = 0.15
"""Two overlapping objects whose evidence together is longer than one object of their
category stay two unless the union is at most this share of that plausible
length longer than the longer of them (:meth:`ObjectMap._one_object`)."""


class InvalidObservationError(ValueError):
    """An observation has a non-finite or negative geometry, bad points or an empty label."""


class ObjectMapFormatError(ValueError):
    """A dictionary given to :meth:`ObjectMap.from_dict` is not a valid object map."""


@dataclass
class Observation:
    """One object seen in one keyframe, in the map frame.

    ``center_m`` (3,) and ``size_m`` (3,) [m] with ``yaw_rad`` describe the box of the
    visible part; ``points_m`` (N, 3) are the object's filtered surface points [m] (the
    evidence the map accumulates; may be None) with optional positive ``point_weights``
    (N,) (measurement confidence, e.g. inverse depth variance; 1 each when None);
    ``camera_position_m`` (3,) is where the camera was; ``score`` in [0, 1] the proposal
    confidence times the lifting quality."""

    label: str
    center_m: np.ndarray
    size_m: np.ndarray
    yaw_rad: float = 0.0
    score: float = 1.0
    points_m: np.ndarray | None = None
    camera_position_m: np.ndarray | None = None
    point_weights: np.ndarray | None = None

    def validate(self) -> None:
        """Raise :class:`InvalidObservationError` unless the observation is usable."""
        if not isinstance(self.label, str) or not self.label.strip():
            raise InvalidObservationError(f"observation label must be a non-empty string, "
                                          f"got {self.label!r}")
        c = _float_array(self.center_m, "center_m")
        s = _float_array(self.size_m, "size_m")
        if c.shape != (3,) or s.shape != (3,):
            raise InvalidObservationError("center_m and size_m must have shape (3,)")
        yaw = _float_scalar(self.yaw_rad, "yaw_rad")
        score = _float_scalar(self.score, "score")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(s)) and math.isfinite(yaw)):
            raise InvalidObservationError(f"non-finite geometry for {self.label!r}")
        if np.any(s < 0):
            raise InvalidObservationError(f"negative size for {self.label!r}: {s}")
        # not (0 <= x <= 1) also rejects NaN.
        if not 0.0 <= score <= 1.0:
            raise InvalidObservationError(f"score must be in [0, 1], got {self.score!r}")
        if self.camera_position_m is not None:
            cam = _float_array(self.camera_position_m, "camera_position_m")
            if cam.shape != (3,) or not np.all(np.isfinite(cam)):
                raise InvalidObservationError(
                    f"camera_position_m must be finite with shape (3,), got {cam!r}")
        if self.points_m is not None:
            p = _float_array(self.points_m, "points_m")
            if p.ndim != 2 or p.shape[1] != 3 or not np.all(np.isfinite(p)):
                raise InvalidObservationError("points_m must be finite (N, 3)")
            if self.point_weights is not None:
                w = _float_array(self.point_weights, "point_weights")
                if w.shape != (len(p),) or not np.all(np.isfinite(w)) or np.any(w <= 0):
                    raise InvalidObservationError("point_weights must be positive, one "
                                                  "per point")


def _float_array(value: object, name: str) -> np.ndarray:
    """``value`` as a float64 array, or :class:`InvalidObservationError` if not numeric."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidObservationError(f"{name} must be numeric: {exc}") from exc


def _float_scalar(value: object, name: str) -> float:
    """``value`` as a float, or :class:`InvalidObservationError` if it is not a number."""
    if isinstance(value, (bool, np.bool_)):
        raise InvalidObservationError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidObservationError(f"{name} must be a number, got {value!r}") from exc


@dataclass
class BoxFit:
    """A fitted box: centre, size [m] (along yaw, across, up), yaw [rad], whether some
    extent comes from a category prior rather than from observed points, and whether the
    fit could still improve without new evidence of the object (``pending``: e.g. it
    waits for the wall behind it to be seen)."""

    center_m: np.ndarray
    size_m: np.ndarray
    yaw_rad: float
    from_prior: bool = False
    pending: bool = False
    # The box of what was measured (centre, size, yaw) when the fit reaches beyond it
    # into space nobody saw (a completion of an object seen in part); None: the box is
    # what was measured. Association and duplicate merging use it, so a guess about
    # unseen space never joins a neighbour to the object.
    measured: "tuple[np.ndarray, np.ndarray, float] | None" = None


BoxFitter = Callable[[str, np.ndarray, np.ndarray, np.ndarray], BoxFit]
"""``fit(label, points_m (N, 3), weights (N,), camera_positions_m (V, 3)) -> BoxFit``."""


def default_box_fitter(label: str, points_m: np.ndarray, weights: np.ndarray,
                       camera_positions_m: np.ndarray) -> BoxFit:
    """Box of the accumulated points without category knowledge."""
    centre, size, yaw = fit_box_to_points(points_m)
    return BoxFit(centre, size, yaw, False)


@dataclass
class ObjectMapConfig:
    """Association, fusion and bounds of the object map (metres, keyframe counts).

    ``max_objects``: most objects kept, confirmed and tentative together (see the module
    docstring for what is evicted beyond it); ``eviction_keep_radius_m``: confirmed
    objects this close to the camera [m, bird's-eye] are never evicted;
    ``index_cell_m``: cell of the bird's-eye grid that finds nearby objects [m] (a speed
    setting: results do not depend on it)."""

    voxel_size_m: float = 0.03
    min_voxel_size_m: float = 0.004
    max_points_per_object: int = 3000
    max_views_per_object: int = 32
    max_objects: int = 5000
    eviction_keep_radius_m: float = 5.0
    index_cell_m: float = 2.0
    max_labels_per_object: int = 8
    association_margin_m: float = 0.1
    min_association_overlap: float = 0.4
    max_center_distance_m: float = 0.35
    merge_iou: float = 0.25
    touch_distance_m: float = 0.05
    confirm_observations: int = 2
    drop_tentative_after_keyframes: int = 8
    compatible_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Written as not (x > 0) so that NaN is rejected too.
        if not (self.voxel_size_m > 0 and math.isfinite(self.voxel_size_m)
                and 0 < self.min_voxel_size_m <= self.voxel_size_m) \
                or self.max_points_per_object < 16:
            raise ValueError("need finite 0 < min_voxel_size_m <= voxel_size_m and "
                             "max_points_per_object >= 16")
        if isinstance(self.max_objects, bool) \
                or not isinstance(self.max_objects, (int, np.integer)) \
                or self.max_objects < 1 or self.max_views_per_object < 1:
            raise ValueError(f"max_objects (an int) and max_views_per_object must be >= 1, "
                             f"got {self.max_objects!r}, {self.max_views_per_object!r}")
        if not (math.isfinite(self.eviction_keep_radius_m)
                and self.eviction_keep_radius_m >= 0):
            raise ValueError(f"eviction_keep_radius_m must be finite and >= 0, got "
                             f"{self.eviction_keep_radius_m!r}")
        if not (math.isfinite(self.index_cell_m) and self.index_cell_m > 0):
            raise ValueError(f"index_cell_m must be finite and > 0, got {self.index_cell_m!r}")
        if self.confirm_observations < 1 or self.drop_tentative_after_keyframes < 1:
            raise ValueError("confirm_observations and drop_tentative_after_keyframes "
                             "must be >= 1")


@dataclass
class MapChanges:
    """What one integrate/merge call changed in the confirmed map (ids) plus bookkeeping
    of tentative objects, rejected observations (no room under the cap) and objects
    evicted to make room (``evicted``; each also in ``removed`` or
    ``tentative_removed``)."""

    added: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    merged: list[tuple[int, int]] = field(default_factory=list)
    tentative_added: list[int] = field(default_factory=list)
    tentative_removed: list[int] = field(default_factory=list)
    rejected: int = 0
    evicted: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the confirmed objects changed (what the cogmap must sync)."""
        return bool(self.added or self.updated or self.removed)


@dataclass
class _Track:
    """Internal state of one object (confirmed or tentative)."""

    id: int
    label_votes: dict[str, float]
    center_m: np.ndarray
    size_m: np.ndarray
    yaw_rad: float
    score: float
    observation_count: int
    first_seen_s: float
    last_seen_s: float
    first_seen_order: int
    last_seen_order: int
    evidence: VoxelEvidence
    views_m: np.ndarray
    size_from_prior: bool = False
    confirmed: bool = False
    pending: bool = False
    measured: "tuple[np.ndarray, np.ndarray, float] | None" = None  # BoxFit.measured

    @property
    def label(self) -> str:
        return max(self.label_votes.items(), key=lambda kv: (kv[1], kv[0]))[0]

    def state(self) -> ObjectState:
        return ObjectState(id=self.id, label=self.label, center_m=self.center_m.copy(),
                           size_m=self.size_m.copy(), yaw_rad=float(self.yaw_rad),
                           score=float(self.score),
                           observation_count=int(self.observation_count),
                           first_seen_s=float(self.first_seen_s),
                           last_seen_s=float(self.last_seen_s),
                           first_seen_order=int(self.first_seen_order),
                           size_from_prior=bool(self.size_from_prior))


class ObjectMap:
    """The persistent metric object map. Thread-safe (one lock around every call).

    ``box_fitter`` fits an object's box to its evidence (default: plain trimmed box);
    ``max_extent(label)`` is the longest plausible side [m] of one object of a category:
    touching pieces of one category are merged when their union stays within it."""

    def __init__(self, config: ObjectMapConfig | None = None,
                 box_fitter: BoxFitter | None = None,
                 max_extent: Callable[[str], float | None] | None = None) -> None:
        self.config = config or ObjectMapConfig()
        self.box_fitter = box_fitter or default_box_fitter
        self.max_extent = max_extent
        self._tracks: dict[int, _Track] = {}
        self._next_id = 1
        self._lock = threading.RLock()
        self._reset_index()

    def _reset_index(self, reach: dict[int, float] | None = None) -> None:
        """Rebuild the derived state from ``self._tracks``: the neighbour grid, the set of
        tentative ids, the reach of each object (computed unless given) and the cached
        confirmed states."""
        self._index = SpatialHash(self.config.index_cell_m)
        self._tentative: set[int] = set()
        self._pending: set[int] = {t.id for t in self._tracks.values() if t.pending}
        self._reach: dict[int, float] = {}
        self._max_reach_m = 0.0
        self._states: dict[int, ObjectState] = {}
        # objects(): the confirmed ids (sorted) and their states, rebuilt in full only
        # when None; else patched for the ids _changed() collected since the last call.
        self._objects_cache: list[ObjectState] | None = None
        self._objects_ids: list[int] = []
        self._objects_dirty: set[int] = set()
        self._camera_xy: np.ndarray | None = None
        for t in self._tracks.values():
            self._index_track(t, None if reach is None else reach[t.id])
            if not t.confirmed:
                self._tentative.add(t.id)

    # ------------------------------------------------------------------ reading

    def objects(self) -> list[ObjectState]:
        """Confirmed objects, ordered by id. The states are shared between calls until
        their object changes and their arrays are read-only: copy before modifying."""
        with self._lock:
            if self._objects_cache is None:
                confirmed = [t for _, t in sorted(self._tracks.items()) if t.confirmed]
                self._objects_ids = [t.id for t in confirmed]
                self._objects_cache = [self._state(t) for t in confirmed]
                self._objects_dirty.clear()
            elif self._objects_dirty:
                self._patch_objects()
            return list(self._objects_cache)

    def _patch_objects(self) -> None:
        """Bring the confirmed list up to date for the ids changed since it was built,
        each found by bisection: a keyframe costs what it changed, not the map's size."""
        ids, states = self._objects_ids, self._objects_cache
        for tid in sorted(self._objects_dirty):
            t = self._tracks.get(tid)
            k = bisect.bisect_left(ids, tid)
            listed = k < len(ids) and ids[k] == tid
            if t is not None and t.confirmed:
                if listed:
                    states[k] = self._state(t)
                else:
                    ids.insert(k, tid)
                    states.insert(k, self._state(t))
            elif listed:
                del ids[k], states[k]
        self._objects_dirty.clear()

    def _state(self, t: _Track) -> ObjectState:
        state = self._states.get(t.id)
        if state is None:
            state = t.state()
            state.center_m.flags.writeable = False
            state.size_m.flags.writeable = False
            self._states[t.id] = state
        return state

    def _changed(self, tid: int) -> None:
        """Forget the cached state of ``tid`` (call after any change of its fields)."""
        self._states.pop(tid, None)
        if self._objects_cache is not None:
            self._objects_dirty.add(tid)

    def tentative(self) -> list[ObjectState]:
        """Objects seen but not yet confirmed, ordered by id (copies)."""
        with self._lock:
            return [self._tracks[i].state() for i in sorted(self._tentative)]

    def get(self, object_id: int) -> ObjectState | None:
        with self._lock:
            t = self._tracks.get(int(object_id))
            return t.state() if t is not None else None

    def evidence_points(self, object_id: int) -> np.ndarray:
        """Accumulated evidence points ``(M, 3)`` [m] of an object (empty when unknown)."""
        with self._lock:
            t = self._tracks.get(int(object_id))
            return t.evidence.centroids() if t is not None else np.zeros((0, 3))

    def __len__(self) -> int:
        with self._lock:
            return len(self._tracks) - len(self._tentative)

    @property
    def track_count(self) -> int:
        """Objects held, confirmed and tentative (what ``max_objects`` bounds)."""
        with self._lock:
            return len(self._tracks)

    def backdate_first_seen(self, object_id: int, stamp_s: float) -> bool:
        """Move an object's first-seen time back to ``stamp_s`` [s] (a frame between
        keyframes in which it was already visible); later times are ignored. True when
        it moved. The first-seen keyframe index stays: it counts detections."""
        stamp_s = float(stamp_s)
        if not math.isfinite(stamp_s):
            raise ValueError(f"stamp_s must be finite, got {stamp_s!r}")
        with self._lock:
            t = self._tracks.get(int(object_id))
            if t is None or stamp_s >= t.first_seen_s:
                return False
            t.first_seen_s = stamp_s
            self._changed(t.id)
            return True

    def clear(self) -> MapChanges:
        """Remove every object (ids keep counting up)."""
        with self._lock:
            changes = MapChanges(removed=sorted(i for i, t in self._tracks.items()
                                                if t.confirmed),
                                 tentative_removed=sorted(self._tentative))
            self._tracks.clear()
            self._reset_index()
            return changes

    # ------------------------------------------------------------------ neighbour index

    def _gate_m(self, t: _Track) -> float:
        """Largest centre distance [m] at which an observation can still match ``t``
        (the first gate of :meth:`_match_score`)."""
        return 2.0 * max(float(np.max(t.size_m)), 0.5) + self.config.max_center_distance_m

    def _index_track(self, t: _Track, reach: float | None = None) -> None:
        """(Re)place ``t`` in the neighbour grid after its box or evidence changed.

        Its reach is how far from its centre (bird's-eye) its box or any evidence point
        lies: two objects farther apart than their reaches plus the touch margin cannot
        be duplicates. Its radius in the grid also covers its association gate."""
        xy = t.center_m[:2]
        if reach is None:
            reach = 0.5 * float(np.hypot(t.size_m[0], t.size_m[1]))
            if len(t.evidence):
                d = t.evidence.centroids()[:, :2] - xy
                reach = max(reach, float(np.sqrt((d * d).sum(axis=1).max())))
        self._reach[t.id] = reach
        self._max_reach_m = max(self._max_reach_m, reach)
        self._index.set(t.id, xy, max(self._gate_m(t), reach))

    def _delete(self, tid: int) -> _Track:
        t = self._tracks.pop(tid)
        self._index.remove(tid)
        self._tentative.discard(tid)
        self._pending.discard(tid)
        self._reach.pop(tid, None)
        self._changed(tid)
        return t

    # ------------------------------------------------------------------ association

    def _compatible(self, a: str, b: str) -> bool:
        if a == b:
            return True
        compat = self.config.compatible_labels
        return b in compat.get(a, ()) or a in compat.get(b, ())

    @staticmethod
    def _measured_box(t: _Track) -> tuple[np.ndarray, np.ndarray, float]:
        """The box of what was measured of ``t`` (see ``BoxFit.measured``)."""
        return t.measured if t.measured is not None else (t.center_m, t.size_m, t.yaw_rad)

    def _match_score(self, obs: Observation, pts: np.ndarray | None, track: _Track) -> float:
        """Association score in [0, 1+] (higher is better), or -1 when gated out. Judged
        on the measured box of the track (``BoxFit.measured``)."""
        if not self._compatible(obs.label, track.label):
            return -1.0
        center, size, yaw = self._measured_box(track)
        dist = float(np.linalg.norm(np.asarray(obs.center_m) - center))
        if dist > self._gate_m(track):
            return -1.0
        # Gates scale with the object: two bottles 15 cm apart are two objects, two views
        # of a bed 30 cm apart in centre are one.
        scale = float(np.max(size))
        margin = float(np.clip(0.2 * scale, 0.02, self.config.association_margin_m))
        if pts is not None and len(pts):
            overlap = float(points_in_box(pts, center, size, yaw, margin).mean())
        else:
            overlap = box_iou_3d(np.asarray(obs.center_m), np.asarray(obs.size_m),
                                 obs.yaw_rad, center, size, yaw)
        close = dist <= min(self.config.max_center_distance_m, max(0.5 * scale, 0.05))
        if overlap < self.config.min_association_overlap and not close:
            return -1.0
        return overlap + (0.5 if close else 0.0) - 0.1 * dist

    # ------------------------------------------------------------------ integration

    def integrate(self, observations: Iterable[Observation], stamp_s: float,
                  keyframe_index: int) -> MapChanges:
        """Fuse one keyframe's observations (map frame) taken at ``stamp_s`` [s] in the
        keyframe with running index ``keyframe_index``. All observations are validated
        first; on any invalid one :class:`InvalidObservationError` is raised and the map
        is unchanged. Never raises at the object cap: see the module docstring."""
        obs_list = list(observations)
        for obs in obs_list:
            if not isinstance(obs, Observation):
                raise InvalidObservationError(f"expected an Observation, got {type(obs)!r}")
            obs.validate()
        if not math.isfinite(_float_scalar(stamp_s, "stamp_s")):
            raise InvalidObservationError(f"stamp_s must be finite, got {stamp_s}")
        if isinstance(keyframe_index, (bool, np.bool_)) \
                or not isinstance(keyframe_index, (int, np.integer)) or keyframe_index < 0:
            raise InvalidObservationError(
                f"keyframe_index must be an integer >= 0, got {keyframe_index!r}")
        with self._lock:
            # Confirmed flag, before this call, of every object the call may change.
            before: dict[int, bool] = {}
            changes = MapChanges()
            touched: set[int] = set()
            pts_list = [None if o.points_m is None else np.asarray(o.points_m, np.float64)
                        for o in obs_list]
            cams = [np.asarray(o.camera_position_m, np.float64)[:2] for o in obs_list
                    if o.camera_position_m is not None]
            if cams:
                self._camera_xy = np.mean(cams, axis=0)
            pairs = []
            for oi, obs in enumerate(obs_list):
                # Candidates in id order, as a scan of every object would visit them, so
                # ties in the score resolve as they always did.
                for tid in self._index.query(np.asarray(obs.center_m, np.float64)[:2]):
                    s = self._match_score(obs, pts_list[oi], self._tracks[tid])
                    if s >= 0:
                        pairs.append((s, oi, tid))
            pairs.sort(key=lambda p: -p[0])
            assigned: dict[int, int] = {}
            used_tracks: set[int] = set()
            for s, oi, tid in pairs:
                if oi in assigned:
                    continue
                # A second piece of the same object in one keyframe (split mask, double
                # detection) may join an already used track only when clearly inside it.
                if tid in used_tracks and s < 0.8:
                    continue
                assigned[oi] = tid
                used_tracks.add(tid)
            fresh = [oi for oi in range(len(obs_list)) if oi not in assigned]
            room = self._make_room(len(fresh), used_tracks, before, changes)
            for oi in fresh[room:]:
                changes.rejected += 1
            for oi in fresh[:room]:
                assigned[oi] = self._new_track(obs_list[oi], stamp_s, keyframe_index, changes)
            for oi, obs in enumerate(obs_list):
                tid = assigned.get(oi)
                if tid is None:
                    continue
                t = self._tracks[tid]
                before.setdefault(tid, t.confirmed)
                self._fuse(t, obs, pts_list[oi], stamp_s, keyframe_index)
                touched.add(tid)
            for tid in touched:
                if tid in self._tracks:
                    self._refit(self._tracks[tid])
            kept = self._merge_duplicates(touched, changes, before)
            self._drop_stale(keyframe_index, changes, before)
            for tid in touched:
                t = self._tracks.get(tid)
                if t is not None and not t.confirmed and \
                        t.observation_count >= self.config.confirm_observations:
                    t.confirmed = True
                    self._tentative.discard(tid)
                    self._changed(tid)
            self._collect(before, touched | kept, changes)
            return changes

    # ------------------------------------------------------------------ the cap

    def eviction_order(self, protected: Iterable[int] = ()) -> list[int]:
        """Ids in the order they would be evicted (first = first to go), without the
        ``protected`` ones and the confirmed objects within ``eviction_keep_radius_m``
        of the last camera position; the policy is in the module docstring."""
        with self._lock:
            keep = set(protected)
            return self._eviction_order([i for i in self._tracks if i not in keep])

    def _eviction_order(self, ids: list[int]) -> list[int]:
        """``ids`` in eviction order, without the confirmed ones near the camera (what
        :meth:`eviction_order` does with every unprotected id)."""
        if not ids:
            return []
        ts = [self._tracks[i] for i in ids]
        confirmed = np.array([t.confirmed for t in ts])
        counts = np.array([t.observation_count for t in ts], dtype=np.float64)
        xy = np.array([t.center_m[:2] for t in ts])
        last = np.array([t.last_seen_order for t in ts])
        if self._camera_xy is None:
            dist = np.zeros(len(ts))
        else:
            dist = np.hypot(*(xy - self._camera_xy).T)
            keep_mask = confirmed & (dist < self.config.eviction_keep_radius_m)
            ids = [i for i, k in zip(ids, keep_mask.tolist()) if not k]
            sel = ~keep_mask
            confirmed, counts, dist, last = confirmed[sel], counts[sel], dist[sel], \
                last[sel]
        bucket = np.floor(np.log2(np.maximum(counts, 1.0)))
        order = np.lexsort((np.array(ids), last, -dist, bucket, confirmed))
        return [ids[k] for k in order.tolist()]

    def _victims(self, protected: set[int], count: int) -> list[int]:
        """The first ``count`` ids of ``eviction_order(protected)``. Tentative objects go
        before every confirmed one, so when at least ``count`` of them may go, ordering
        them alone gives the same ids without a pass over the whole map (a full map
        evicts at every keyframe that brings a new object)."""
        tentative = [i for i in self._tentative if i not in protected]
        if len(tentative) >= count:
            return self._eviction_order(tentative)[:count]
        return self._eviction_order([i for i in self._tracks if i not in protected])[:count]

    def _make_room(self, wanted: int, in_view: set[int], before: dict[int, bool],
                   changes: MapChanges) -> int:
        """Evict objects (module docstring) until ``wanted`` new ones fit under the cap,
        or as many as the policy allows; returns how many new objects may be created.
        Eviction happens before any new object exists and never touches an object that
        an observation of this keyframe was matched to."""
        free = self.config.max_objects - len(self._tracks)
        if wanted <= free:
            return wanted
        victims = self._victims(in_view, wanted - max(free, 0))
        for tid in victims:
            t = self._delete(tid)
            before.setdefault(tid, t.confirmed)
            changes.evicted.append(tid)
            if not t.confirmed:
                changes.tentative_removed.append(tid)
        return max(0, min(wanted, self.config.max_objects - len(self._tracks)))

    def _new_track(self, obs: Observation, stamp_s: float, kf: int,
                   changes: MapChanges) -> int:
        tid = self._next_id
        self._next_id += 1
        t = _Track(
            id=tid, label_votes={}, center_m=np.asarray(obs.center_m, np.float64).copy(),
            size_m=np.asarray(obs.size_m, np.float64).copy(), yaw_rad=float(obs.yaw_rad),
            score=0.0, observation_count=0, first_seen_s=float(stamp_s),
            last_seen_s=float(stamp_s), first_seen_order=int(kf), last_seen_order=int(kf),
            evidence=VoxelEvidence(self._voxel_for(obs), self.config.max_points_per_object),
            views_m=np.zeros((0, 3)))
        self._tracks[tid] = t
        self._tentative.add(tid)
        self._index_track(t)
        changes.tentative_added.append(tid)
        return tid

    def _voxel_for(self, obs: Observation) -> float:
        """Evidence voxel [m] scaled to the object (about 30 across its first seen extent),
        so small objects keep their shape; the point cap coarsens it if needed."""
        extent = float(np.max(obs.size_m))
        return float(np.clip(extent / 30.0, self.config.min_voxel_size_m,
                             self.config.voxel_size_m))

    def _fuse(self, t: _Track, obs: Observation, pts: np.ndarray | None, stamp_s: float,
              kf: int) -> None:
        new_view = t.last_seen_order != kf or t.observation_count == 0
        if new_view:
            t.observation_count += 1
        n = t.observation_count
        t.score += (float(obs.score) - t.score) / max(n, 1)
        t.label_votes[obs.label] = t.label_votes.get(obs.label, 0.0) + float(obs.score)
        if len(t.label_votes) > self.config.max_labels_per_object:
            weakest = min(t.label_votes.items(), key=lambda kv: kv[1])[0]
            del t.label_votes[weakest]
        t.first_seen_s = min(t.first_seen_s, float(stamp_s))
        t.last_seen_s = max(t.last_seen_s, float(stamp_s))
        t.first_seen_order = min(t.first_seen_order, int(kf))
        t.last_seen_order = max(t.last_seen_order, int(kf))
        if obs.camera_position_m is not None:
            t.views_m = np.vstack([t.views_m, np.asarray(obs.camera_position_m,
                                                         np.float64).reshape(1, 3)])
            if len(t.views_m) > self.config.max_views_per_object:
                # Keep the first view and every other later one: spread over time.
                t.views_m = np.vstack([t.views_m[:1], t.views_m[2::2]])
        if pts is not None and len(pts):
            t.evidence.add(pts, obs.point_weights)
        elif len(t.evidence) == 0:
            # No point evidence at all: running average of the observed boxes.
            a = 1.0 / max(n, 1)
            t.center_m = (1 - a) * t.center_m + a * np.asarray(obs.center_m, np.float64)
            t.size_m = (1 - a) * t.size_m + a * np.asarray(obs.size_m, np.float64)
            t.yaw_rad = float(wrap_angle(t.yaw_rad + a * wrap_angle(obs.yaw_rad - t.yaw_rad)))

    def _refit(self, t: _Track) -> None:
        if len(t.evidence) >= 4:
            fit = self.box_fitter(t.label, t.evidence.centroids(), t.evidence.counts,
                                  t.views_m)
            if np.all(np.isfinite(fit.center_m)) and np.all(np.isfinite(fit.size_m)):
                t.center_m = np.asarray(fit.center_m, np.float64)
                t.size_m = np.asarray(fit.size_m, np.float64)
                t.yaw_rad = float(fit.yaw_rad)
                t.size_from_prior = bool(fit.from_prior)
                t.pending = bool(fit.pending)
                t.measured = fit.measured
        if t.pending:
            self._pending.add(t.id)
        else:
            self._pending.discard(t.id)
        # Every caller refits after the object's evidence, votes or times changed.
        self._index_track(t)
        self._changed(t.id)

    def _duplicate_candidates(self, a: _Track, after: int = 0) -> list[int]:
        """Ids above ``after`` that could be duplicates of ``a``, sorted: objects whose
        reach meets ``a``'s (see :meth:`_index_track`), with margin for the touch test."""
        # Boxes are grown per axis (0.02 m, or the touch distance): sqrt(2) in the plane.
        margin = math.sqrt(2.0) * max(self.config.touch_distance_m, 0.02) + 1e-6
        radius = self._reach[a.id] + margin
        near = self._index.query(a.center_m[:2], radius + self._max_reach_m)
        xy = a.center_m[:2]
        out = []
        for oid in near:
            if oid <= after or oid == a.id:
                continue
            b = self._tracks[oid]
            if math.hypot(*(b.center_m[:2] - xy)) <= radius + self._reach[oid] + 1e-9:
                out.append(oid)
        return out

    def _merge_duplicates(self, touched: set[int], changes: MapChanges,
                          before: dict[int, bool]) -> set[int]:
        """Merge each touched object with its duplicates, in id order (as a scan of every
        object would); returns the ids that absorbed another."""
        kept: set[int] = set()
        for tid in sorted(touched):
            a = self._tracks.get(tid)
            if a is None:
                continue
            queue = self._duplicate_candidates(a)
            while queue:
                oid = queue.pop(0)
                b = self._tracks.get(oid)
                if b is None or not self._compatible(a.label, b.label):
                    continue
                if not self._duplicates(a, b):
                    continue
                keep, drop = (a, b) if a.id < b.id else (b, a)
                before.setdefault(keep.id, keep.confirmed)
                before.setdefault(drop.id, drop.confirmed)
                self._absorb(keep, drop)
                if keep.confirmed:
                    self._tentative.discard(keep.id)
                changes.merged.append((drop.id, keep.id))
                kept.add(keep.id)
                self._delete(drop.id)
                if drop is a:
                    break
                # ``a`` grew: objects beyond ``oid`` that now reach it are candidates too.
                a = keep
                queue = self._duplicate_candidates(a, after=oid)
        return kept

    def _duplicates(self, a: _Track, b: _Track) -> bool:
        """Whether two tracks are one object, judged on their measured boxes
        (``BoxFit.measured``)."""
        box_a, box_b = self._measured_box(a), self._measured_box(b)
        iou = box_iou_3d(*box_a, *box_b)
        if iou >= self.config.merge_iou:
            return self._one_object(a, b)
        small, big, big_box = (a, b, box_b) if np.prod(box_a[1]) < np.prod(box_b[1]) \
            else (b, a, box_a)
        pts = small.evidence.centroids()
        if len(pts) < 4:
            return False
        inside = points_in_box(pts, *big_box, 0.02).mean()
        if inside >= 0.8:
            return self._one_object(a, b)
        # Pieces of one object seen apart (its middle occluded): they touch, and together
        # they are no longer than one object of the category can be.
        limit = self.max_extent(a.label) if self.max_extent is not None else None
        if limit is None or a.label != b.label or len(big.evidence) < 4:
            return False
        touching = points_in_box(pts, *big_box, self.config.touch_distance_m).mean()
        if touching < 0.05:
            return False
        return self._union_length(a, b) <= limit

    def _union_length(self, a: _Track, b: _Track) -> float:
        """Longest horizontal side [m] of the box of both objects' evidence together."""
        union = np.vstack([a.evidence.centroids(), b.evidence.centroids()])
        _, size, _ = fit_box_to_points(union, trim_fraction=0.005)
        return float(size[0])

    def _one_object(self, a: _Track, b: _Track) -> bool:
        """Whether two overlapping objects may be one: not when both together are longer
        than one object of the category can be (``max_extent``) and clearly longer
        (by ``UNION_GROWTH`` of that limit) than either alone. Two chairs side by side
        whose boxes each took a little of the other overlap, but as one object they
        would be a 1.1 m chair centred between them; a second track inside an object
        (a split view) adds little length and still merges, even into an object that
        its evidence already made too long. Objects of an unknown category, or with too
        little evidence to tell, merge as before."""
        if self.max_extent is None or len(a.evidence) < 4 or len(b.evidence) < 4:
            return True
        limits = [self.max_extent(a.label), self.max_extent(b.label)]
        if any(lim is None for lim in limits):
            return True
        limit = max(limits)
        union = self._union_length(a, b)
        longest = max(float(self._measured_box(a)[1][0]), float(self._measured_box(b)[1][0]))
        return union <= limit or union <= longest + UNION_GROWTH * limit

    def _absorb(self, keep: _Track, drop: _Track) -> None:
        if len(drop.evidence):
            keep.evidence.add(drop.evidence.centroids(), drop.evidence.counts)
        for label, votes in drop.label_votes.items():
            keep.label_votes[label] = keep.label_votes.get(label, 0.0) + votes
        total = keep.observation_count + drop.observation_count
        keep.score = (keep.score * keep.observation_count
                      + drop.score * drop.observation_count) / max(total, 1)
        keep.observation_count = total
        keep.first_seen_s = min(keep.first_seen_s, drop.first_seen_s)
        keep.last_seen_s = max(keep.last_seen_s, drop.last_seen_s)
        keep.first_seen_order = min(keep.first_seen_order, drop.first_seen_order)
        keep.last_seen_order = max(keep.last_seen_order, drop.last_seen_order)
        keep.views_m = np.vstack([keep.views_m, drop.views_m])[
            -self.config.max_views_per_object:]
        keep.confirmed = keep.confirmed or drop.confirmed
        self._refit(keep)

    def _drop_stale(self, kf: int, changes: MapChanges, before: dict[int, bool]) -> None:
        horizon = self.config.drop_tentative_after_keyframes
        for tid in sorted(self._tentative):
            if kf - self._tracks[tid].last_seen_order >= horizon:
                before.setdefault(tid, False)
                self._delete(tid)
                changes.tentative_removed.append(tid)

    def _collect(self, before: dict[int, bool], touched: set[int],
                 changes: MapChanges) -> None:
        """Fill ``changes`` from the objects this call may have changed: ``before`` (their
        confirmed flags before it), ``touched`` (fused or grown by a merge) and the ids
        it created."""
        candidates = set(before) | touched | set(changes.tentative_added)
        for tid in candidates:
            t = self._tracks.get(tid)
            if t is None or not t.confirmed:
                continue
            if not before.get(tid, False):
                changes.added.append(tid)
            elif tid in touched:
                changes.updated.append(tid)
        changes.removed = sorted(tid for tid, was in before.items()
                                 if was and tid not in self._tracks)
        changes.added.sort()
        changes.updated.sort()
        changes.tentative_removed = sorted(
            i for i in set(changes.tentative_removed) if not before.get(i, False))

    def refit_pending(self, max_objects: int = 4) -> MapChanges:
        """Refit up to ``max_objects`` objects whose last fit was waiting for context
        (``BoxFit.pending``), least recently seen first; call it once per keyframe after
        the context (e.g. the room) was updated. Returns the confirmed objects changed."""
        with self._lock:
            todo = sorted((self._tracks[i] for i in sorted(self._pending)),
                          key=lambda t: t.last_seen_order)[:max(0, int(max_objects))]
            changes = MapChanges()
            for t in todo:
                before = (t.center_m.copy(), t.size_m.copy(), t.yaw_rad)
                self._refit(t)
                moved = not (np.allclose(before[0], t.center_m) and
                             np.allclose(before[1], t.size_m) and before[2] == t.yaw_rad)
                if moved and t.confirmed:
                    changes.updated.append(t.id)
            changes.updated.sort()
            return changes

    def remove(self, object_id: int) -> MapChanges:
        """Remove one object by id (its id is not reused)."""
        with self._lock:
            if int(object_id) not in self._tracks:
                return MapChanges()
            t = self._delete(int(object_id))
            return MapChanges(removed=[t.id]) if t.confirmed else \
                MapChanges(tentative_removed=[t.id])

    # ------------------------------------------------------------------ persistence

    def to_dict(self, include_evidence: bool = True) -> dict:
        """JSON-ready dictionary of the whole map (confirmed and tentative objects)."""
        with self._lock:
            tracks = []
            for tid, t in sorted(self._tracks.items()):
                d = {"id": tid, "label_votes": dict(t.label_votes),
                     "center_m": t.center_m.tolist(), "size_m": t.size_m.tolist(),
                     "yaw_rad": t.yaw_rad, "score": t.score,
                     "observation_count": t.observation_count,
                     "first_seen_s": t.first_seen_s, "last_seen_s": t.last_seen_s,
                     "first_seen_order": t.first_seen_order,
                     "last_seen_order": t.last_seen_order,
                     "size_from_prior": t.size_from_prior, "confirmed": t.confirmed,
                     "views_m": np.round(t.views_m, 4).tolist()}
                if include_evidence:
                    d["evidence"] = t.evidence.to_dict()
                tracks.append(d)
            return {"next_id": self._next_id, "objects": tracks}

    def to_columns(self) -> dict:
        """The whole map as columns of numpy arrays, one row per object in id order (the
        fast form to save: :mod:`ssr_ros.core.store` packs the arrays; :meth:`from_dict`
        reads it). Evidence points, counts and camera views are float32 (sub-millimetre
        within a few kilometres of the origin; each keeps its voxel key, so loading
        neither re-voxelises nor merges); everything else is exact.

        Keys: ``layout`` ("columns"), ``columns_version``, ``next_id``, ``id`` (n,),
        ``label_votes`` (list of n dicts), ``center_m`` / ``size_m`` (n, 3) [m],
        ``yaw_rad``, ``score``, ``first_seen_s``, ``last_seen_s`` (n,) float64,
        ``observation_count``, ``first_seen_order``, ``last_seen_order`` (n,) int64,
        ``size_from_prior``, ``confirmed`` (n,) bool, ``views_count`` (n,) with
        ``views_m`` (sum, 3) [m], ``evidence_voxel_m`` (n,) [m], ``evidence_count`` (n,)
        with ``evidence_points_m`` (sum, 3) [m], ``evidence_weights`` (sum,) and
        ``evidence_keys`` (sum,) int64 (each point's voxel, increasing per object)."""
        with self._lock:
            ts = [t for _, t in sorted(self._tracks.items())]
            f64 = np.float64

            def column(name, dtype):
                return np.array([getattr(t, name) for t in ts], dtype=dtype)

            evidence = [(t.evidence.centroids(), t.evidence.counts) for t in ts]
            return {
                "layout": "columns", "columns_version": COLUMNS_VERSION,
                "next_id": self._next_id,
                "id": column("id", np.int64),
                "label_votes": [dict(t.label_votes) for t in ts],
                "center_m": np.array([t.center_m for t in ts], f64).reshape(-1, 3),
                "size_m": np.array([t.size_m for t in ts], f64).reshape(-1, 3),
                "yaw_rad": column("yaw_rad", f64), "score": column("score", f64),
                "observation_count": column("observation_count", np.int64),
                "first_seen_s": column("first_seen_s", f64),
                "last_seen_s": column("last_seen_s", f64),
                "first_seen_order": column("first_seen_order", np.int64),
                "last_seen_order": column("last_seen_order", np.int64),
                "size_from_prior": column("size_from_prior", bool),
                "confirmed": column("confirmed", bool),
                "views_count": np.array([len(t.views_m) for t in ts], np.int64),
                "views_m": _stack([t.views_m for t in ts], 3),
                "evidence_voxel_m": np.array([t.evidence.voxel_size_m for t in ts], f64),
                "evidence_count": np.array([len(p) for p, _ in evidence], np.int64),
                "evidence_points_m": _stack([p for p, _ in evidence], 3),
                "evidence_weights": _stack([w for _, w in evidence], 0),
                "evidence_keys": (np.concatenate([t.evidence.keys for t in ts]) if ts
                                  else np.zeros(0, np.int64)).astype(np.int64),
            }

    @classmethod
    def _tracks_from_columns(cls, data: dict, config: ObjectMapConfig
                             ) -> tuple[dict[int, _Track], dict[int, float]]:
        """Tracks from :meth:`to_columns` output (validated; raises
        :class:`ObjectMapFormatError`, KeyError, TypeError or ValueError) and the reach
        of each (see :meth:`_index_track`; computed for all objects at once)."""
        if data.get("columns_version") != COLUMNS_VERSION:
            raise ObjectMapFormatError(f"unsupported object-map columns version "
                                       f"{data.get('columns_version')!r}")
        ids = _column(data, "id", np.int64, (-1,))
        n = len(ids)
        col = {name: _column(data, name, np.float64, shape)
               for name, shape in (("center_m", (n, 3)), ("size_m", (n, 3)),
                                   ("yaw_rad", (n,)), ("score", (n,)),
                                   ("first_seen_s", (n,)), ("last_seen_s", (n,)),
                                   ("evidence_voxel_m", (n,)))}
        col.update({name: _column(data, name, np.int64, (n,))
                    for name in ("observation_count", "first_seen_order", "last_seen_order",
                                 "views_count", "evidence_count")})
        col.update({name: _column(data, name, bool, (n,))
                    for name in ("size_from_prior", "confirmed")})
        votes = data["label_votes"]
        if not isinstance(votes, list) or len(votes) != n:
            raise ObjectMapFormatError(f"label_votes must be a list of {n} dicts")
        views = _column(data, "views_m", np.float64, (-1, 3))
        points = _column(data, "evidence_points_m", np.float64, (-1, 3))
        weights = _column(data, "evidence_weights", np.float64, (-1,))
        if np.any(col["views_count"] < 0) or np.any(col["evidence_count"] < 0) \
                or col["views_count"].sum() != len(views) \
                or col["evidence_count"].sum() != len(points) or len(weights) != len(points):
            raise ObjectMapFormatError("views or evidence counts do not match their arrays")
        voxel = col["evidence_voxel_m"]
        if not (np.all(voxel > 0) and np.all(weights > 0) and np.all(col["size_m"] >= 0)
                and np.all((col["score"] >= 0) & (col["score"] <= 1))
                and np.all(col["observation_count"] >= 1)):
            raise ObjectMapFormatError("a voxel size, evidence weight, box size, score or "
                                       "observation count is out of range")
        view_end = np.cumsum(col["views_count"]).tolist()
        point_end = np.cumsum(col["evidence_count"]).tolist()
        # One copy: views of the loaded file's buffer would keep all of it alive.
        keys = np.array(_column(data, "evidence_keys", np.int64, (len(points),)))
        starts = np.r_[0, np.cumsum(col["evidence_count"])[:-1]]
        step_ok = np.ones(len(keys), dtype=bool)
        step_ok[1:] = keys[1:] > keys[:-1]
        step_ok[starts[col["evidence_count"] > 0]] = True
        if not np.all(step_ok):
            raise ObjectMapFormatError("evidence keys are not increasing within an object")
        sums = points * weights[:, None]
        cols = {name: col[name].tolist() for name in col if name not in
                ("center_m", "size_m")}
        max_points = config.max_points_per_object
        tracks: dict[int, _Track] = {}
        v0 = p0 = 0
        for k, tid in enumerate(ids.tolist()):
            v1, p1 = view_end[k], point_end[k]
            if tid < 1 or tid in tracks:
                raise ObjectMapFormatError(f"invalid or duplicate object id {tid}")
            if not isinstance(votes[k], dict) or not votes[k]:
                raise ObjectMapFormatError(f"object {tid} has no label votes")
            label_votes = {str(a): float(b) for a, b in votes[k].items()}
            if not all(math.isfinite(v) and v >= 0 for v in label_votes.values()):
                raise ObjectMapFormatError(f"object {tid} has an invalid label vote")
            tracks[tid] = _Track(
                id=tid, label_votes=label_votes,
                center_m=col["center_m"][k].copy(), size_m=col["size_m"][k].copy(),
                yaw_rad=cols["yaw_rad"][k], score=cols["score"][k],
                observation_count=cols["observation_count"][k],
                first_seen_s=cols["first_seen_s"][k], last_seen_s=cols["last_seen_s"][k],
                first_seen_order=cols["first_seen_order"][k],
                last_seen_order=cols["last_seen_order"][k],
                evidence=_evidence(cols["evidence_voxel_m"][k], sums[p0:p1],
                                   weights[p0:p1], keys[p0:p1], max_points),
                views_m=views[v0:v1].copy(),
                size_from_prior=cols["size_from_prior"][k], confirmed=cols["confirmed"][k])
            v0, p0 = v1, p1
        reach = 0.5 * np.hypot(col["size_m"][:, 0], col["size_m"][:, 1])
        has = col["evidence_count"] > 0
        if np.any(has):
            d = points[:, :2] - np.repeat(col["center_m"][:, :2], col["evidence_count"],
                                          axis=0)
            starts = np.r_[0, np.cumsum(col["evidence_count"])[:-1]][has]
            far = np.maximum.reduceat(np.hypot(d[:, 0], d[:, 1]), starts)
            # The centroids the map computes may differ from the stored points by an ulp.
            reach[has] = np.maximum(reach[has], far + 1e-6)
        return tracks, dict(zip(ids.tolist(), reach.tolist()))

    @classmethod
    def _tracks_from_records(cls, data: dict, config: ObjectMapConfig) -> dict[int, _Track]:
        """Tracks from :meth:`to_dict` output (one record per object)."""
        tracks: dict[int, _Track] = {}
        for d in data["objects"]:
            tid = int(d["id"])
            if tid < 1 or tid in tracks:
                raise ObjectMapFormatError(f"invalid or duplicate object id {tid}")
            votes = {str(k): float(v) for k, v in d["label_votes"].items()}
            ev_data = d.get("evidence")
            evidence = (VoxelEvidence.from_dict(ev_data, config.max_points_per_object)
                        if ev_data else VoxelEvidence(config.voxel_size_m,
                                                      config.max_points_per_object))
            tracks[tid] = _Track(
                id=tid, label_votes=votes,
                center_m=np.asarray(d["center_m"], np.float64).reshape(3),
                size_m=np.asarray(d["size_m"], np.float64).reshape(3),
                yaw_rad=float(d["yaw_rad"]), score=float(d["score"]),
                observation_count=int(d["observation_count"]),
                first_seen_s=float(d["first_seen_s"]),
                last_seen_s=float(d["last_seen_s"]),
                first_seen_order=int(d["first_seen_order"]),
                last_seen_order=int(d["last_seen_order"]),
                evidence=evidence,
                views_m=np.asarray(d.get("views_m", []), np.float64).reshape(-1, 3),
                size_from_prior=bool(d["size_from_prior"]),
                confirmed=bool(d["confirmed"]))
        return tracks

    @classmethod
    def from_dict(cls, data: dict, config: ObjectMapConfig | None = None,
                  box_fitter: BoxFitter | None = None) -> "ObjectMap":
        """Rebuild a map from :meth:`to_dict` or :meth:`to_columns` output (told apart by
        ``layout``); raises :class:`ObjectMapFormatError`. A map with more objects than
        ``config.max_objects`` loads whole; the next keyframe that brings new objects
        evicts down to the cap."""
        omap = cls(config, box_fitter)
        try:
            if not isinstance(data, dict):
                raise ObjectMapFormatError(f"an object map must be a dict, got "
                                           f"{type(data).__name__}")
            if data.get("layout") == "columns":
                # Validated column by column (vectorised) as they were read.
                tracks, reach = cls._tracks_from_columns(data, omap.config)
            else:
                reach = None
                tracks = cls._tracks_from_records(data, omap.config)
                for t in tracks.values():
                    _check_track(t)
            next_id = int(data["next_id"])
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, ObjectMapFormatError):
                raise
            raise ObjectMapFormatError(f"malformed object map: {exc}") from exc
        if tracks and next_id <= max(tracks):
            raise ObjectMapFormatError("next_id must exceed every stored id")
        omap._tracks = tracks
        omap._next_id = next_id
        omap._reset_index(reach)
        return omap


COLUMNS_VERSION = 1
"""Version of the :meth:`ObjectMap.to_columns` layout."""


def _evidence(voxel_size_m: float, sums: np.ndarray, weights: np.ndarray,
              keys: np.ndarray, max_points: int) -> VoxelEvidence:
    """Evidence of one loaded object from its stored voxel centroids times weights
    (``sums``), weights and voxel keys (checked by the caller: finite, positive, keys
    increasing), as :class:`VoxelEvidence` holds them after merging points that are one
    per voxel. The arrays are kept as given (slices of the loaded columns)."""
    evidence = VoxelEvidence(voxel_size_m, max_points)
    if len(sums):
        evidence.keys, evidence.sums, evidence.counts = keys, sums, weights
    return evidence


def _stack(arrays: list[np.ndarray], width: int) -> np.ndarray:
    """Rows of ``arrays`` one after the other as float32 ((sum, width), or (sum,) when
    ``width`` is 0)."""
    shape = (0, width) if width else (0,)
    if not arrays:
        return np.zeros(shape, np.float32)
    return np.concatenate([np.asarray(a, np.float32).reshape((-1,) + shape[1:])
                           for a in arrays])


def _column(data: dict, name: str, dtype, shape: tuple[int, ...]) -> np.ndarray:
    """``data[name]`` as an array of ``dtype`` reshaped to ``shape``; numbers must be
    finite (raises :class:`ObjectMapFormatError`)."""
    value = data[name]
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise ObjectMapFormatError(f"column {name} is not numeric ({value.dtype})")
    arr = np.asarray(value, dtype=dtype)
    try:
        arr = arr.reshape(shape)
    except ValueError as exc:
        raise ObjectMapFormatError(f"column {name} has shape {arr.shape}, expected "
                                   f"{shape}") from exc
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ObjectMapFormatError(f"column {name} holds a non-finite number")
    return arr


def _check_track(t: _Track) -> None:
    """Raise :class:`ObjectMapFormatError` unless a loaded object is usable."""
    tid = t.id
    if not t.label_votes:
        raise ObjectMapFormatError(f"object {tid} has no label")
    if not (np.all(np.isfinite(t.center_m)) and np.all(np.isfinite(t.size_m))
            and np.all(t.size_m >= 0) and math.isfinite(t.yaw_rad)
            and np.all(np.isfinite(t.views_m))):
        raise ObjectMapFormatError(f"object {tid} has non-finite or negative geometry")
    if not (0.0 <= t.score <= 1.0 and t.observation_count >= 1
            and all(math.isfinite(v) and v >= 0 for v in t.label_votes.values())
            and math.isfinite(t.first_seen_s) and math.isfinite(t.last_seen_s)):
        raise ObjectMapFormatError(f"object {tid} has an invalid score, observation "
                                   "count, label vote or stamp")
