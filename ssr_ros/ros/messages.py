"""Core records <-> ssr_ros interface messages.

``ObjectState`` <-> ``ssr_ros/SceneObject``, cogmap ``Triplet`` -> ``SceneTriplet``, the
whole map -> ``SceneGraph``, ``SpatialQuery`` request -> core ``QueryRequest`` and core
``QueryAnswer`` -> response. Pure functions over message objects (no ``rclpy.init()``).

Strings and arrays from the network are capped here, with the core's limits
(``ssr_ros.core.query_types``, documented in ``srv/SpatialQuery.srv``: names <= 128
characters, question <= 1024, <= 16 candidates):
an over-long request raises :class:`~ssr_ros.runtime.errors.InvalidMessage` (reason
``request_too_long``) which the service answers with ERROR_INVALID_REQUEST.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

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


def scene_graph_msg(objects: Iterable[ObjectState], triplets: Iterable[Any], revision: int,
                    stamp_s: float, frame_id: str) -> SceneGraph:
    """The whole map as a ``SceneGraph``: objects ordered by id, triplets in chain order."""
    msg = SceneGraph()
    msg.header.frame_id = frame_id
    msg.header.stamp = _stamp(stamp_s)
    msg.revision = int(revision)
    msg.objects = [object_to_msg(o) for o in sorted(objects, key=lambda o: o.id)]
    msg.triplets = [triplet_to_msg(t) for t in triplets]
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


def fill_response(response: Any, answer: Any, objects_by_id: dict[int, ObjectState]) -> Any:
    """Copy a core ``QueryAnswer`` into a ``SpatialQuery.Response``; ``objects`` lists the
    answer's ``object_ids`` that are in the map, in the answer's order."""
    response.success = bool(answer.success)
    response.error_code = int(answer.error_code)
    response.message = str(answer.message)
    value = answer.value
    response.value = float(value) if value is not None else math.nan
    response.unit = str(answer.unit or "")
    response.choice = str(answer.choice or "")
    response.answered_by = str(answer.answered_by or "geometry")
    response.objects = [object_to_msg(objects_by_id[i]) for i in answer.object_ids
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
