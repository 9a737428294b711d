"""Request and answer records of the spatial query engine, mirroring
``srv/SpatialQuery.srv`` (same kind and error numbers, same limits).

Limits on a request (enforced by :func:`check_request`, which the engine runs on every
request, and by the free-text reader on its input; lengths are in characters, i.e.
Unicode code points, as Python's ``len`` counts them):

==================  ================================================================
field               limit
==================  ================================================================
``kind``            an integer with a :class:`QueryKind` value
``target``,         text of at most ``MAX_NAME_CHARS`` (128) each
``reference``,
``facing``
``candidates``      a list of at most ``MAX_CANDIDATES`` (16) texts, each a name
``question``        text of at most ``MAX_QUESTION_CHARS`` (1024)
``direction_mode``  "", "left_right", "left_right_back" or "quadrant"
``length_unit``     "m" or "cm"
``size_dimension``  "longest", "length", "width" or "height"
``use_centers``     a boolean
==================  ================================================================

The first four rows are the srv's limits; the rest bound what the free-text reader and
callers in Python may add. Multiple-choice options and route fill-ins are benchmark
matters: :mod:`ssr_ros.eval.adapter` adds them on top of these records.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

MAX_NAME_CHARS = 128
"""Longest object name (target, reference, facing, each candidate) [characters]."""
MAX_QUESTION_CHARS = 1024
"""Longest free-text question [characters]."""
MAX_CANDIDATES = 16
"""Most candidate names in one request."""
MAX_LISTED_OBJECTS = 8
"""Most objects an answer lists when a name matches many (an ambiguous name's candidates,
a count's instances): the nearest to the robot first (by id without a robot pose); the
message gives the total. A robot picks one by naming it with its id ("chair #12")."""
DIRECTION_MODES = ("", "left_right", "left_right_back", "quadrant")
LENGTH_UNITS = ("m", "cm")
SIZE_DIMENSIONS = ("longest", "length", "width", "height")
"""What a size question measures on the box ``size_m`` [x along yaw, y, z up]: the longest
side of the three, the longer horizontal side, the shorter horizontal side, or z."""


class QueryRequestError(ValueError):
    """A request breaks a documented limit or has a field of the wrong type; ``field``
    names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


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
    Reader extras: ``direction_mode`` (relative direction: the categorical answer's
    words, "left_right", "left_right_back" or "quadrant"; empty = quadrant),
    ``length_unit`` ("m" or "cm", for distance and size values), ``size_dimension``
    (size: one of :data:`SIZE_DIMENSIONS`; the srv's size kind is "longest").
    Route legs go reference -> candidates... -> target, starting while facing ``facing``.
    """

    kind: QueryKind = QueryKind.AUTO
    target: str = ""
    reference: str = ""
    facing: str = ""
    candidates: list[str] = field(default_factory=list)
    question: str = ""
    use_centers: bool = False
    direction_mode: str = ""
    length_unit: str = "m"
    size_dimension: str = "longest"


@dataclass
class QueryAnswer:
    """The engine's answer (the srv response, with objects as ids).

    ``value``: numeric answer in ``unit`` ("m", "cm", "m^2", "deg" counter-clockwise
    positive, "count"), NaN when not numeric. ``choice``: categorical answer (a direction
    or turn word, the nearest candidate's name, the route, the appearance order).
    ``object_ids``: objects used, in the order of the request's names.
    ``position_m``: for locate, the object's box centre (3,) in the map frame [m].
    ``leg_turns_deg``: for a route, the turn before each leg [deg, counter-clockwise
    positive], NaN for a leg of no length. ``matches``: how each name was matched to map
    labels. ``request``: the structured request actually answered (the reader's output
    for free text).
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
    leg_turns_deg: list[float] = field(default_factory=list)
    matches: list[str] = field(default_factory=list)
    request: QueryRequest | None = None


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise QueryRequestError(name, f"{name} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise QueryRequestError(name, f"{name} is {len(value)} characters long; the limit "
                                f"is {limit}")
    return value


def check_text_list(value: object, name: str, count: int, chars: int) -> None:
    """Raise :class:`QueryRequestError` unless ``value`` is a list (or tuple) of at most
    ``count`` texts of at most ``chars`` characters each."""
    if not isinstance(value, (list, tuple)):
        raise QueryRequestError(name, f"{name} must be a list of texts, got "
                                f"{type(value).__name__}")
    if len(value) > count:
        raise QueryRequestError(name, f"{len(value)} {name}; the limit is {count}")
    for k, item in enumerate(value):
        _text(item, f"{name}[{k}]", chars)


def check_request(request: object) -> QueryKind:
    """Check every field of ``request`` against the limits in the module docstring;
    returns its kind. Raises :class:`QueryRequestError` naming the first bad field.

    Emptiness of names is not checked here: which names a kind needs is the engine's
    business."""
    if not isinstance(request, QueryRequest):
        raise QueryRequestError("request", "request must be a QueryRequest, got "
                                f"{type(request).__name__}")
    kind = request.kind
    if isinstance(kind, (bool, np.bool_)) or not isinstance(kind, numbers.Integral):
        raise QueryRequestError("kind", f"kind must be an integer, got {kind!r:.40}")
    try:
        kind = QueryKind(int(kind))
    except ValueError:
        raise QueryRequestError("kind", f"unknown query kind {int(kind)}") from None
    for name in ("target", "reference", "facing"):
        _text(getattr(request, name), name, MAX_NAME_CHARS)
    check_text_list(request.candidates, "candidates", MAX_CANDIDATES, MAX_NAME_CHARS)
    _text(request.question, "question", MAX_QUESTION_CHARS)
    if not isinstance(request.use_centers, (bool, np.bool_)):
        raise QueryRequestError("use_centers", "use_centers must be a boolean")
    if not isinstance(request.direction_mode, str) or \
            request.direction_mode not in DIRECTION_MODES:
        raise QueryRequestError("direction_mode", "direction_mode must be one of "
                                f"{DIRECTION_MODES}, got {request.direction_mode!r:.40}")
    if not isinstance(request.length_unit, str) or request.length_unit not in LENGTH_UNITS:
        raise QueryRequestError("length_unit", "length_unit must be 'm' or 'cm', got "
                                f"{request.length_unit!r:.40}")
    if not isinstance(request.size_dimension, str) or \
            request.size_dimension not in SIZE_DIMENSIONS:
        raise QueryRequestError("size_dimension", "size_dimension must be one of "
                                f"{SIZE_DIMENSIONS}, got {request.size_dimension!r:.40}")
    return kind
