"""Core records <-> ssr_ros interface messages.

``ObjectState`` <-> ``ssr_ros/SceneObject``, cogmap ``Triplet`` -> ``SceneTriplet``, the
whole map -> ``SceneGraph``, the objects -> ``vision_msgs/Detection3DArray``, the keyframe
path -> ``nav_msgs/Path``, ``SpatialQuery`` request -> core ``QueryRequest`` and core
``QueryAnswer`` -> response. Pure functions over message objects (no ``rclpy.init()``),
plus :class:`ObjectMessageCache`, which rebuilds an object's message only when the
object changed (a 5,000-object graph is then mostly reused messages).

vision_msgs is the ROS distribution's package or, on the PyPI route, the one built from
``interfaces/vision_msgs``; :func:`vision_msgs_available` says whether it can be imported
(the node then publishes ``cogmap/detections_3d``).

Strings and arrays from the network are capped here, with the core's limits
(``ssr_ros.core.query_types``, documented in ``srv/SpatialQuery.srv``: names <= 128
characters, question <= 1024, <= 16 candidates):
an over-long request raises :class:`~ssr_ros.runtime.errors.InvalidMessage` (reason
``request_too_long``) which the service answers with ERROR_INVALID_REQUEST.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path

from ssr_ros.core.query_types import MAX_CANDIDATES, MAX_NAME_CHARS, MAX_QUESTION_CHARS
from ssr_ros.core.types import ObjectState
from ssr_ros.ros.conversions import s_to_stamp, stamp_to_s
from ssr_ros.runtime.errors import InvalidMessage
from ssr_ros.msg import SceneGraph, SceneObject, SceneTriplet


def _stamp(t_s: float):
    return s_to_stamp(t_s if math.isfinite(t_s) and t_s >= 0.0 else 0.0)


def object_to_msg(obj: ObjectState) -> SceneObject:
    """``ObjectState`` (map frame, m, rad, s) -> ``SceneObject``."""
    msg = SceneObject()
    msg.id = int(obj.id)
    msg.label = str(obj.label)
    msg.score = float(obj.score)
    msg.position.x, msg.position.y, msg.position.z = (float(v) for v in obj.center_m)
    msg.size.x, msg.size.y, msg.size.z = (float(v) for v in obj.size_m)
    msg.yaw = float(obj.yaw_rad)
    msg.size_from_prior = bool(obj.size_from_prior)
    msg.observation_count = int(obj.observation_count)
    msg.first_seen = _stamp(obj.first_seen_s)
    msg.last_seen = _stamp(obj.last_seen_s)
    return msg


def msg_to_object(msg: SceneObject, first_seen_order: int = 0) -> ObjectState:
    """``SceneObject`` -> ``ObjectState`` (``first_seen_order`` is not carried on the wire)."""
    return ObjectState(
        id=int(msg.id), label=str(msg.label),
        center_m=np.array([msg.position.x, msg.position.y, msg.position.z]),
        size_m=np.array([msg.size.x, msg.size.y, msg.size.z]),
        yaw_rad=float(msg.yaw), score=float(msg.score),
        observation_count=int(msg.observation_count),
        first_seen_s=stamp_to_s(msg.first_seen), last_seen_s=stamp_to_s(msg.last_seen),
        first_seen_order=int(first_seen_order), size_from_prior=bool(msg.size_from_prior))


def triplet_to_msg(triplet: Any) -> SceneTriplet:
    """cogmap ``Triplet`` (anchor ids, target id, local xy [m], grid cell, cell size [m])
    -> ``SceneTriplet``."""
    msg = SceneTriplet()
    msg.anchor_a = int(triplet.anchor_a)
    msg.anchor_b = int(triplet.anchor_b)
    msg.target = int(triplet.target)
    msg.local_x, msg.local_y = (float(v) for v in triplet.local_xy_m)
    msg.cell_col, msg.cell_row = (int(v) for v in triplet.cell)
    msg.cell_size = float(triplet.cell_size_m)
    return msg


class ObjectMessageCache:
    """Per-object messages made by ``build`` (an ``ObjectState`` -> message function),
    rebuilt only for objects whose state changed since the previous :meth:`messages`
    call. The object map shares an ``ObjectState`` until its object changes, so "the same
    state object with the same observation count and last sighting" means unchanged.
    Thread-safe; messages handed out are shared and must not be modified."""

    def __init__(self, build: Callable[[ObjectState], Any], max_entries: int = 20000) -> None:
        self._build = build
        self._cache: dict[int, tuple[ObjectState, Any]] = {}
        self._lock = threading.Lock()
        self.max_entries = int(max_entries)
        self.built = 0  # messages built in the last call (tests, benchmarks)

    def _hit(self, obj: ObjectState) -> tuple[ObjectState, Any] | None:
        hit = self._cache.get(obj.id)
        if hit is None or hit[0] is not obj \
                or hit[0].observation_count != obj.observation_count \
                or hit[0].last_seen_s != obj.last_seen_s:
            return None
        return hit

    def messages(self, objects: Iterable[ObjectState]) -> list[Any]:
        """One message per object, in the given order; forgets objects not given."""
        with self._lock:
            cache: dict[int, tuple[ObjectState, Any]] = {}
            out = []
            self.built = 0
            for obj in objects:
                hit = self._hit(obj)
                if hit is None:
                    hit = (obj, self._build(obj))
                    self.built += 1
                cache[obj.id] = hit
                out.append(hit[1])
            self._cache = cache
            return out

    def message(self, obj: ObjectState) -> Any:
        """The message of one object, built once per state; keeps the others (at most
        ``max_entries``: beyond, the cache starts over)."""
        with self._lock:
            hit = self._hit(obj)
            if hit is None:
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()
                hit = (obj, self._build(obj))
                self._cache[obj.id] = hit
            return hit[1]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def scene_graph_msg(objects: Iterable[ObjectState], triplets: Iterable[Any], revision: int,
                    stamp_s: float, frame_id: str,
                    cache: ObjectMessageCache | None = None) -> SceneGraph:
    """The whole map as a ``SceneGraph``: objects ordered by id, triplets in chain order.
    ``cache`` (of :func:`object_to_msg`) reuses the messages of unchanged objects."""
    msg = SceneGraph()
    msg.header.frame_id = frame_id
    msg.header.stamp = _stamp(stamp_s)
    msg.revision = int(revision)
    ordered = sorted(objects, key=lambda o: o.id)
    msg.objects = cache.messages(ordered) if cache is not None else \
        [object_to_msg(o) for o in ordered]
    msg.triplets = [triplet_to_msg(t) for t in triplets]
    return msg


def vision_msgs_available() -> bool:
    """True when ``vision_msgs.msg`` can be imported (a ROS distribution's package or the
    one built from ``interfaces/vision_msgs``)."""
    try:
        return importlib.util.find_spec("vision_msgs.msg") is not None
    except ImportError:
        return False


def _yaw_quaternion(pose: Any, yaw_rad: float) -> None:
    half = 0.5 * float(yaw_rad)
    pose.orientation.x = pose.orientation.y = 0.0
    pose.orientation.z, pose.orientation.w = math.sin(half), math.cos(half)


def detection_3d_msg(obj: ObjectState, frame_id: str) -> Any:
    """``ObjectState`` (map frame) -> ``vision_msgs/Detection3D``: ``id`` the object id as
    a decimal string, one result with ``class_id`` the label and ``score`` the object's
    score, its pose and ``bbox.center`` the box centre [m] turned by ``yaw_rad`` about z,
    ``bbox.size`` the extent along the box's axes [m]. The header is stamped with the
    object's last sighting [s]. Pose covariance is all zeros (not estimated)."""
    from vision_msgs.msg import Detection3D, ObjectHypothesisWithPose

    msg = Detection3D()
    msg.header.frame_id = frame_id
    msg.header.stamp = _stamp(obj.last_seen_s)
    msg.id = str(int(obj.id))
    center = msg.bbox.center
    center.position.x, center.position.y, center.position.z = (float(v) for v in obj.center_m)
    _yaw_quaternion(center, obj.yaw_rad)
    msg.bbox.size.x, msg.bbox.size.y, msg.bbox.size.z = (float(v) for v in obj.size_m)
    result = ObjectHypothesisWithPose()
    result.hypothesis.class_id = str(obj.label)
    result.hypothesis.score = float(obj.score)
    result.pose.pose = center
    msg.results = [result]
    return msg


def detections_3d_msg(objects: Iterable[ObjectState], stamp_s: float, frame_id: str,
                      cache: ObjectMessageCache | None = None) -> Any:
    """Every confirmed object as one ``vision_msgs/Detection3DArray`` in ``frame_id`` (the
    map frame), ordered by id; ``cache`` (of :func:`detection_3d_msg`) reuses the
    messages of unchanged objects."""
    from vision_msgs.msg import Detection3DArray

    msg = Detection3DArray()
    msg.header.frame_id = frame_id
    msg.header.stamp = _stamp(stamp_s)
    ordered = sorted(objects, key=lambda o: o.id)
    msg.detections = cache.messages(ordered) if cache is not None else \
        [detection_3d_msg(o, frame_id) for o in ordered]
    return msg


def pose_stamped_msg(position_m: Sequence[float], orientation_xyzw: Sequence[float],
                     stamp_s: float, frame_id: str) -> PoseStamped:
    """One camera pose: ``position_m`` (3,) [m], ``orientation_xyzw`` (4,), stamp [s]."""
    pose = PoseStamped()
    pose.header.frame_id = frame_id
    pose.header.stamp = _stamp(stamp_s)
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = \
        (float(v) for v in position_m)
    o = pose.pose.orientation
    o.x, o.y, o.z, o.w = (float(v) for v in orientation_xyzw)
    return pose


def path_msg(positions_m: np.ndarray, orientations_xyzw: np.ndarray, stamps_s: np.ndarray,
             stamp_s: float, frame_id: str) -> Path:
    """The keyframe path as a ``nav_msgs/Path`` in ``frame_id`` (the map frame), oldest
    first: ``positions_m`` (N, 3) [m] of the camera optical frame, ``orientations_xyzw``
    (N, 4) its orientation, ``stamps_s`` (N,) each keyframe's stamp [s]; the path's
    header carries ``stamp_s``."""
    pos = np.asarray(positions_m, dtype=np.float64).reshape(-1, 3)
    quat = np.asarray(orientations_xyzw, dtype=np.float64).reshape(-1, 4)
    stamps = np.asarray(stamps_s, dtype=np.float64).reshape(-1)
    if not len(pos) == len(quat) == len(stamps):
        raise ValueError(f"path of {len(pos)} positions, {len(quat)} orientations and "
                         f"{len(stamps)} stamps")
    msg = Path()
    msg.header.frame_id = frame_id
    msg.header.stamp = _stamp(stamp_s)
    poses = [pose_stamped_msg(p, q, t, frame_id)
             for p, q, t in zip(pos.tolist(), quat.tolist(), stamps.tolist())]
    msg.poses = poses
    return msg


def _capped(value: str, field: str, limit: int) -> str:
    text = str(value)
    if len(text) > limit:
        raise InvalidMessage("request_too_long",
                             f"{field} has {len(text)} characters, the limit is {limit}")
    return text.strip()


def request_fields(request: Any) -> dict[str, Any]:
    """``SpatialQuery.Request`` -> plain, size-checked fields (kind, target, reference,
    facing, candidates, question, use_centers).

    Raises :class:`InvalidMessage` ``request_too_long`` past the srv's documented limits.
    """
    candidates: Sequence[str] = list(request.candidates)
    if len(candidates) > MAX_CANDIDATES:
        raise InvalidMessage("request_too_long", f"{len(candidates)} candidates, the limit "
                             f"is {MAX_CANDIDATES}")
    return {
        "kind": int(request.kind),
        "target": _capped(request.target, "target", MAX_NAME_CHARS),
        "reference": _capped(request.reference, "reference", MAX_NAME_CHARS),
        "facing": _capped(request.facing, "facing", MAX_NAME_CHARS),
        "candidates": [_capped(c, "candidate", MAX_NAME_CHARS) for c in candidates],
        "question": _capped(request.question, "question", MAX_QUESTION_CHARS),
        "use_centers": bool(request.use_centers),
    }


#: The ``SceneObject`` of each object named in answers, built once per object state: an
#: answer about "the chair" in a 5,000-object floor lists hundreds of candidates, and
#: building their messages was most of a query's time in the node (issue 18).
_ANSWER_OBJECTS = ObjectMessageCache(object_to_msg)


def fill_response(response: Any, answer: Any, objects_by_id: dict[int, ObjectState]) -> Any:
    """Copy a core ``QueryAnswer`` into a ``SpatialQuery.Response``; ``objects`` lists the
    answer's ``object_ids`` that are in the map, in the answer's order (messages shared
    between responses while their object is unchanged)."""
    response.success = bool(answer.success)
    response.error_code = int(answer.error_code)
    response.message = str(answer.message)
    value = answer.value
    response.value = float(value) if value is not None else math.nan
    response.unit = str(answer.unit or "")
    response.choice = str(answer.choice or "")
    response.answered_by = str(answer.answered_by or "geometry")
    response.objects = [_ANSWER_OBJECTS.message(objects_by_id[i]) for i in answer.object_ids
                        if i in objects_by_id]
    return response


def error_response(response: Any, error_code: int, message: str) -> Any:
    """Fill a ``SpatialQuery.Response`` that reports an error (no value, no objects)."""
    response.success = False
    response.error_code = int(error_code)
    response.message = message
    response.value = math.nan
    response.unit = ""
    response.choice = ""
    response.answered_by = "geometry"
    response.objects = []
    return response
