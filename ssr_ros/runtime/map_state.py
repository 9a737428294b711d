"""The node's map: one writer that runs the mapping pipeline, immutable snapshots for
readers, queries over them, and the map file. No rclpy here, so all of it is tested
in-process.

Ownership: the :class:`~ssr_ros.perception.pipeline.MappingPipeline` owns the mapping
state (objects, chain, room evidence, trajectory) and its
``state_dict()``/``load_state_dict()``; the keeper only decides when it runs and what
readers see. Threads: the frame worker calls :meth:`MapKeeper.process`; services call
:meth:`answer`, :meth:`save`, :meth:`load` and :meth:`clear`. Writers take ``_write_lock``
(one at a time, held only while the pipeline's state changes or is copied); readers never
wait for a keyframe: they use the immutable :class:`MapSnapshot` published after each
change (swapping a reference is atomic). A save copies the state under the lock and
encodes and writes the file outside it; a load reads and checks the file outside it and
swaps in the new pipeline under it.

Map file (``ssr_ros.core.store``, atomic write): the pipeline's state dict plus metadata
(``kind``, ``map_frame``, ``revision``, ``saved_at``); compact JSON for a ``.json`` path
(one record per object), else the binary file with the object map and the chain as
columns (``MappingPipeline.state_dict(layout="columns")``, the fast form for large maps:
docs/scale.md). A restarted node that loads either answers every question the same way
and maps on with the same rules.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter, is_not
from typing import Callable

import numpy as np

from ssr_ros.core import store
from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.frames import PosedFrame
from ssr_ros.core.queries import QueryEngine
from ssr_ros.core.query_types import ErrorCode, QueryAnswer, QueryRequest
from ssr_ros.core.triplets import Triplet
from ssr_ros.core.types import ObjectState, RobotPose2D, Room
from ssr_ros.eval.adapter import answer_request
from ssr_ros.perception.pipeline import MappingPipeline, PipelineResult

MAP_KIND = "ssr_ros.map"
# Keys of the map file's payload that are metadata, not pipeline state.
_META_KEYS = ("kind", "map_frame", "revision", "saved_at")


@dataclass(frozen=True)
class MapSnapshot:
    """What readers see: confirmed objects (ordered by id), the chain's triplets, a private
    copy of the cogmap, the room, the keyframe path ``(N, 3)`` [m], and the map revision
    (increases on every change) with the stamp [s] of the change."""

    revision: int
    stamp_s: float
    objects: tuple[ObjectState, ...]
    triplets: tuple[Triplet, ...]
    cogmap: LocalCogMap
    room: Room | None
    path_m: np.ndarray
    objects_by_id: dict[int, ObjectState] = field(default_factory=dict)


def _empty_snapshot() -> MapSnapshot:
    return MapSnapshot(revision=0, stamp_s=0.0, objects=(), triplets=(),
                       cogmap=LocalCogMap(), room=None, path_m=np.zeros((0, 3)))


class MapKeeper:
    """Runs a :class:`MappingPipeline` as the map's one writer (see the module docstring).

    Args:
        pipeline_factory: builds a fresh, empty pipeline (configure, clear_map, load).
        map_frame: frame id recorded in the map file.
        embedder: optional sentence embedder for the query engine's name matcher
            (texts -> (N, D) unit vectors); None keeps exact, plural and synonym matching.
        clock_s: returns "now" [s] for the snapshot stamp of a clear or a load (changes
            that come with no frame stamp). A node passes its ROS clock, so the stamp
            follows /clock under ``use_sim_time``; wall time by default (tools, tests).
        vocabulary: categories the perception can report; a count, nearest or appearance
            question about one of them that the map lacks is answered (0, left out,
            never seen) instead of ``UNKNOWN_OBJECT`` (``ssr_ros.core.queries``).
    """

    def __init__(self, pipeline_factory: Callable[[], MappingPipeline], map_frame: str = "map",
                 embedder: object = None, clock_s: Callable[[], float] = time.time,
                 vocabulary: tuple[str, ...] = ()) -> None:
        self._factory = pipeline_factory
        self.vocabulary = tuple(vocabulary)
        self._clock_s = clock_s
        self.map_frame = map_frame
        self.embedder = embedder
        self._write_lock = threading.Lock()
        self._pipeline = pipeline_factory()
        self._saved_revision = 0
        self._robot_pose: RobotPose2D | None = None
        self._snapshot = _empty_snapshot()
        self._engine: tuple[MapSnapshot, QueryEngine] | None = None
        self._query_lock = threading.Lock()

    # ----------------------------------------------------------------- reading
    @property
    def snapshot(self) -> MapSnapshot:
        return self._snapshot

    @property
    def dirty(self) -> bool:
        """True when the map changed since it was last saved or loaded."""
        return self._snapshot.revision != self._saved_revision

    @property
    def camera(self) -> PinholeCamera | None:
        """The camera model the pipeline used for the last frame (None before one)."""
        return self._pipeline.camera

    def set_robot_pose(self, pose: RobotPose2D) -> None:
        """Latest robot pose for robot-centric queries (updated on every frame)."""
        self._robot_pose = pose

    @property
    def robot_pose(self) -> RobotPose2D | None:
        return self._robot_pose

    # ----------------------------------------------------------------- writing
    def process(self, frame: PosedFrame) -> PipelineResult | None:
        """Run one posed frame through the pipeline; returns its result (None when the
        frame is not a keyframe). Publishes a new snapshot when the map changed.

        Raises whatever the pipeline raises for bad input (ValueError subclasses); the map
        is then unchanged.
        """
        with self._write_lock:
            result = self._pipeline.process(frame)
            if result is not None:
                self._refresh_locked(frame.stamp_s, force=False)
            return result

    def clear(self) -> None:
        """Forget every object, the chain, the room and the path (a fresh pipeline)."""
        pipeline = self._factory()
        with self._write_lock:
            self._pipeline = pipeline
            self._refresh_locked(self._clock_s(), force=True)

    def _refresh_locked(self, stamp_s: float, force: bool) -> None:
        """Publish the pipeline's view as the snapshot; bump the revision when objects,
        chain or room differ from the current snapshot (or when ``force``). The view is
        copy on write (``MappingPipeline.view``): unchanged objects are the same states
        and an unchanged chain the same copy, so comparing them costs what changed."""
        view = self._pipeline.view()
        old = self._snapshot
        triplets = old.triplets if view.cogmap is old.cogmap else tuple(view.cogmap.triplets())
        changed = force or _objects_differ(view.objects, old.objects) \
            or triplets != old.triplets or _room_key(view.room) != _room_key(old.room)
        self._snapshot = MapSnapshot(
            revision=old.revision + 1 if changed else old.revision,
            stamp_s=float(stamp_s) if changed else old.stamp_s,
            objects=view.objects, triplets=triplets, cogmap=view.cogmap, room=view.room,
            path_m=view.path_m,
            objects_by_id=dict(zip(map(attrgetter("id"), view.objects), view.objects)))

    # ----------------------------------------------------------------- queries
    def answer(self, request: QueryRequest) -> QueryAnswer:
        """Answer a core query over the current snapshot and robot pose.

        The engine (name index included) is rebuilt only when the map changed; answers
        are serialised (they take microseconds to a few milliseconds)."""
        with self._query_lock:
            snap = self._snapshot
            cached = self._engine
            if cached is None or cached[0] is not snap:
                engine = QueryEngine(list(snap.objects), cogmap=snap.cogmap,
                                     robot_pose=self._robot_pose, room=snap.room,
                                     embedder=self.embedder, vocabulary=self.vocabulary)
                self._engine = (snap, engine)
            else:
                engine = cached[1]
                engine.robot_pose = self._robot_pose
            return answer_request(engine, request)

    # ----------------------------------------------------------------- persistence
    def to_payload(self, layout: str = "records") -> dict:
        """The map as a dict for ``store.save_map`` (see the module docstring); a copy
        taken under the writer lock. ``layout``: "records" (JSON-ready) or "columns"
        (numpy columns, for the binary file)."""
        with self._write_lock:
            state = self._pipeline.state_dict(layout)
            revision = self._snapshot.revision
        # A file record for people and tools: when it was written, in wall time.
        return {"kind": MAP_KIND, "map_frame": self.map_frame, "revision": revision,
                "saved_at": time.time(), **state}

    def save(self, path: str) -> int:
        """Write the map atomically to ``path``; returns the saved revision. The state is
        copied under the writer lock; encoding and writing happen outside it, so frames
        keep being mapped meanwhile.

        Raises ``store.MapFileError`` (or OSError) when it cannot be written; the previous
        file is then intact.
        """
        binary = store.encoding_for(path) == "binary"
        payload = self.to_payload("columns" if binary else "records")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        store.save_map(path, payload)
        self._saved_revision = payload["revision"]
        return payload["revision"]

    def load(self, path: str) -> int:
        """Replace the map with the file at ``path``; returns the number of objects.

        Raises ``store.MapFileError`` (missing, unreadable, corrupt, wrong version, foreign
        file); the current map is then unchanged.
        """
        data = store.load_map(path)
        if not isinstance(data, dict) or data.get("kind") != MAP_KIND:
            raise store.MapFileForeignError(path, "not an ssr_ros node map (kind differs)")
        pipeline = self._factory()
        try:
            pipeline.load_state_dict({k: v for k, v in data.items() if k not in _META_KEYS})
        except ValueError as exc:
            raise store.MapFileCorruptError(path, f"malformed map content ({exc})") from exc
        with self._write_lock:
            self._pipeline = pipeline
            self._refresh_locked(self._clock_s(), force=True)
            self._saved_revision = self._snapshot.revision
            return len(self._snapshot.objects)


def _object_key(o: ObjectState) -> tuple:
    return (o.id, o.label, tuple(np.round(o.center_m, 4)), tuple(np.round(o.size_m, 4)),
            round(float(o.yaw_rad), 4), o.observation_count)


def _objects_differ(new: tuple[ObjectState, ...], old: tuple[ObjectState, ...]) -> bool:
    """True when the two object lists differ beyond rounding (0.1 mm, 1e-4 rad). States
    the object map did not touch are the same objects, so only changed ones are keyed."""
    if len(new) != len(old):
        return True
    # Which states were replaced, found in C (a map of thousands, a few changed).
    replaced = compress(zip(new, old), map(is_not, new, old))
    return any(_object_key(a) != _object_key(b) for a, b in replaced)


def _room_key(room: Room | None) -> tuple:
    if room is None:
        return ()
    return (round(float(room.floor_area_m2), 4),)


def error_answer(code: ErrorCode, message: str) -> QueryAnswer:
    """A core QueryAnswer that reports ``code`` (for failures outside the engine)."""
    return QueryAnswer(success=False, error_code=ErrorCode(code), message=message)
