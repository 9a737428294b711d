"""The node's map: the mapping pipeline, a consistent snapshot for readers, queries and
persistence. No rclpy here, so all of it is tested in-process.

Threads: the worker calls :meth:`MapKeeper.process`; services call :meth:`answer`,
:meth:`save`, :meth:`load` and :meth:`clear`. Writers hold ``_write_lock`` (one at a
time); readers never wait for a keyframe to finish: they use the immutable
:class:`MapSnapshot` published after each change (swapping a reference is atomic).

Map file (versioned JSON through ``ssr_ros.core.store``, atomic write): the object map,
the LocalCogMap chain, the room estimate and the camera path, plus metadata
(``map_frame``, ``revision``, ``saved_at``). A restarted node that loads it answers
every question the same way, because queries read only those records.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ssr_ros.core import store
from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.queries import QueryEngine
from ssr_ros.core.query_types import ErrorCode, QueryAnswer, QueryRequest
from ssr_ros.core.types import ObjectState, RobotPose2D, Room

MAP_KIND = "ssr_ros.map"
MAX_PATH_POINTS = 10000


@dataclass(frozen=True)
class MapSnapshot:
    """What readers see: confirmed objects (ordered by id), the chain's triplets, a private
    copy of the cogmap, the room, the camera path ``(N, 3)`` [m], the robot pose, and the
    map revision (increases on every change)."""

    revision: int
    stamp_s: float
    objects: tuple[ObjectState, ...]
    triplets: tuple[Any, ...]
    cogmap: LocalCogMap
    room: Room | None
    path_m: np.ndarray
    robot_pose: RobotPose2D | None = None
    objects_by_id: dict[int, ObjectState] = field(default_factory=dict)


def _empty_snapshot(revision: int = 0) -> MapSnapshot:
    return MapSnapshot(revision=revision, stamp_s=0.0, objects=(), triplets=(),
                       cogmap=LocalCogMap(), room=None, path_m=np.zeros((0, 3)))


def _room_to_dict(room: Room | None) -> dict | None:
    if room is None:
        return None
    return {"polygon_xy": np.asarray(room.polygon_xy, dtype=float).tolist(),
            "floor_area_m2": float(room.floor_area_m2)}


def _room_from_dict(data: dict | None) -> Room | None:
    if not data:
        return None
    polygon = np.asarray(data["polygon_xy"], dtype=np.float64).reshape(-1, 2)
    area = float(data["floor_area_m2"])
    if not (np.all(np.isfinite(polygon)) and np.isfinite(area) and area >= 0.0):
        raise ValueError("room in map file is not finite")
    return Room(polygon_xy=polygon, floor_area_m2=area)


class MapKeeper:
    """Owns the :class:`MappingPipeline` and everything derived from it.

    Args:
        pipeline_factory: builds a fresh, empty pipeline (configure, clear_map).
        map_frame: frame id recorded in the map file.
        embedder: optional sentence embedder for the query engine's name matcher
            (texts -> (N, D) unit vectors); None keeps exact, plural and synonym matching.
        clock_s: returns "now" [s] for the snapshot stamp of a clear or a load (changes
            that come with no frame stamp). A node passes its ROS clock, so the stamp
            follows /clock under ``use_sim_time``; wall time by default (tools, tests).
    """

    def __init__(self, pipeline_factory: Callable[[], Any], map_frame: str = "map",
                 embedder: Any = None, clock_s: Callable[[], float] = time.time) -> None:
        self._factory = pipeline_factory
        self._clock_s = clock_s
        self.map_frame = map_frame
        self.embedder = embedder
        self._write_lock = threading.RLock()
        self.pipeline = pipeline_factory()
        self._revision = 0
        self._saved_revision = 0
        self._room: Room | None = None
        self._path: list[np.ndarray] = []
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

    def set_robot_pose(self, pose: RobotPose2D) -> None:
        """Latest robot pose for robot-centric queries (updated on every frame)."""
        self._robot_pose = pose

    @property
    def robot_pose(self) -> RobotPose2D | None:
        return self._robot_pose

    # ----------------------------------------------------------------- writing
    def process(self, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray,
                T_map_cam: np.ndarray, stamp_s: float, dist: np.ndarray | None = None,
                **proposal_inputs: Any) -> Any:
        """Run one frame through the pipeline; returns its result (None when the frame is
        not a keyframe). Publishes a new snapshot when the map changed. ``dist``: plumb-bob
        coefficients (k1, k2, p1, p2, k3) of the unrectified images, or None.

        Raises whatever the pipeline raises for bad input (ValueError subclasses); the map
        is then unchanged.
        """
        with self._write_lock:
            result = self.pipeline.process(rgb, depth_m, K, T_map_cam, stamp_s, dist=dist,
                                           **proposal_inputs)
            if result is None:
                return None
            self._path.append(np.asarray(T_map_cam[:3, 3], dtype=np.float64).copy())
            del self._path[:-MAX_PATH_POINTS]
            room = self._pipeline_room()
            if room is not None:
                self._room = room
            self._refresh(stamp_s, force=False)
            return result

    def _pipeline_room(self) -> Room | None:
        estimator = getattr(self.pipeline, "room", None)
        if estimator is None:
            return None
        room = estimator.room()
        if room is None or room.floor_area_m2 <= 0.0:
            return None
        return room

    def _refresh(self, stamp_s: float, force: bool) -> None:
        """Rebuild the snapshot from the pipeline; bump the revision when objects, chain or
        room differ from the current snapshot (or when ``force``)."""
        objects = tuple(self.pipeline.object_map.objects())
        cogmap = LocalCogMap.from_dict(self.pipeline.cogmap.to_dict())
        triplets = tuple(cogmap.triplets())
        old = self._snapshot
        changed = force or _objects_key(objects) != _objects_key(old.objects) \
            or triplets != old.triplets or _room_key(self._room) != _room_key(old.room)
        revision = old.revision + 1 if changed else old.revision
        path = np.array(self._path).reshape(-1, 3)
        self._snapshot = MapSnapshot(
            revision=revision, stamp_s=float(stamp_s) if changed else old.stamp_s,
            objects=objects, triplets=triplets, cogmap=cogmap, room=self._room, path_m=path,
            objects_by_id={o.id: o for o in objects})

    def clear(self) -> None:
        """Forget every object, the chain, the room and the path (a fresh pipeline)."""
        with self._write_lock:
            self.pipeline = self._factory()
            self._room = None
            self._path = []
            self._refresh(self._clock_s(), force=True)

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
                                     embedder=self.embedder)
                self._engine = (snap, engine)
            else:
                engine = cached[1]
                engine.robot_pose = self._robot_pose
            return engine.answer(request)

    # ----------------------------------------------------------------- persistence
    def to_payload(self) -> dict:
        """The map as a JSON-ready dict (see the module docstring)."""
        with self._write_lock:
            return {
                "kind": MAP_KIND,
                "map_frame": self.map_frame,
                "revision": self._snapshot.revision,
                # A file record for people and tools: when it was written, in wall time.
                "saved_at": time.time(),
                "object_map": self.pipeline.object_map.to_dict(),
                "cogmap": self.pipeline.cogmap.to_dict(),
                "room": _room_to_dict(self._room),
                "path_m": np.round(np.array(self._path).reshape(-1, 3), 4).tolist(),
            }

    def save(self, path: str) -> int:
        """Write the map atomically to ``path``; returns the saved revision.

        Raises ``store.MapFileError`` (or OSError) when it cannot be written; the previous
        file is then intact.
        """
        with self._write_lock:
            payload = self.to_payload()
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
            object_map = type(pipeline.object_map).from_dict(
                data["object_map"], config=pipeline.object_map.config,
                box_fitter=pipeline.object_map.box_fitter)
            cogmap = LocalCogMap.from_dict(data["cogmap"])
            room = _room_from_dict(data.get("room"))
            path_m = np.asarray(data.get("path_m", []), dtype=np.float64).reshape(-1, 3)
        except (KeyError, TypeError, ValueError) as exc:
            raise store.MapFileCorruptError(path, f"malformed map content ({exc})") from exc
        pipeline.object_map = object_map
        pipeline.cogmap = cogmap
        pipeline.cogmap.sync(object_map.objects())
        with self._write_lock:
            self.pipeline = pipeline
            self._room = room
            self._path = [p for p in path_m]
            self._refresh(self._clock_s(), force=True)
            self._saved_revision = self._snapshot.revision
        return len(self._snapshot.objects)


def _objects_key(objects: tuple[ObjectState, ...]) -> tuple:
    return tuple((o.id, o.label, tuple(np.round(o.center_m, 4)), tuple(np.round(o.size_m, 4)),
                  round(float(o.yaw_rad), 4), o.observation_count) for o in objects)


def _room_key(room: Room | None) -> tuple:
    if room is None:
        return ()
    return (round(float(room.floor_area_m2), 4),)


def error_answer(code: ErrorCode, message: str) -> QueryAnswer:
    """A core QueryAnswer that reports ``code`` (for failures outside the engine)."""
    return QueryAnswer(success=False, error_code=ErrorCode(code), message=message)
