"""Request and answer records of the spatial query engine, mirroring
``srv/SpatialQuery.srv`` (same kind and error numbers, same limits)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

MAX_NAME_CHARS = 128
MAX_QUESTION_CHARS = 1024
MAX_CANDIDATES = 16


class QueryKind(IntEnum):
    """``SpatialQuery.Request.KIND_*``."""

    AUTO = 0
    LOCATE = 1
    DISTANCE = 2
    RELATIVE_DIRECTION = 3
    TURN = 4
    COUNT = 5
    SIZE = 6
    NEAREST = 7
    ROUTE = 8
    APPEARANCE_ORDER = 9
    ROOM_SIZE = 10
    FREE = 11


class ErrorCode(IntEnum):
    """``SpatialQuery.Response.ERROR_*``."""

    NONE = 0
    INVALID_REQUEST = 1
    UNKNOWN_OBJECT = 2
    AMBIGUOUS_NAME = 3
    NO_POSE = 4
    EMPTY_MAP = 5
    NOT_UNDERSTOOD = 6
    MODEL_UNAVAILABLE = 7
    TIMEOUT = 8
    INTERNAL = 9


@dataclass
class QueryRequest:
    """A structured spatial question (the srv request plus what the free-text reader
    adds).

    Names: ``target``, ``reference``, ``facing``, ``candidates`` as people say them.
    ``use_centers``: distances between box centres instead of closest box points.
    Reader extras: ``options`` (multiple choice: the answer's ``choice`` is one of them),
    ``direction_mode`` (relative direction: "left_right", "left_right_back",
    "quadrant"; empty = infer from options, else quadrant), ``route_fill_in`` (route:
    one flag per leg, True where the turn before that leg is asked), ``length_unit``
    ("m" or "cm", for distance and size values).
    Route legs go reference -> candidates... -> target, starting while facing ``facing``.
    """

    kind: QueryKind = QueryKind.AUTO
    target: str = ""
    reference: str = ""
    facing: str = ""
    candidates: list[str] = field(default_factory=list)
    question: str = ""
    use_centers: bool = False
    options: list[str] = field(default_factory=list)
    direction_mode: str = ""
    route_fill_in: list[bool] = field(default_factory=list)
    length_unit: str = "m"


@dataclass
class QueryAnswer:
    """The engine's answer (the srv response, with objects as ids).

    ``value``: numeric answer in ``unit`` ("m", "cm", "m^2", "deg" counter-clockwise
    positive, "count"), NaN when not numeric. ``choice``: categorical answer.
    ``object_ids``: objects used, in the order of the request's names.
    ``position_m``: for locate, the object's box centre (3,) in the map frame [m].
    ``matches``: how each name was matched to map labels. ``request``: the structured
    request actually answered (the reader's output for free text).
    """

    success: bool
    error_code: ErrorCode = ErrorCode.NONE
    message: str = ""
    value: float = math.nan
    unit: str = ""
    choice: str = ""
    object_ids: list[int] = field(default_factory=list)
    answered_by: str = "geometry"
    position_m: np.ndarray | None = None
    matches: list[str] = field(default_factory=list)
    request: QueryRequest | None = None
