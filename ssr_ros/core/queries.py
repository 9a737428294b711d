"""Spatial query engine over the object map, the LocalCogMap, the robot pose and the room.

Answers the ``SpatialQuery`` kinds for a robot, with plain geometry (map frame, metres,
angles counter-clockwise positive): a metric ``value`` with its unit where the answer is
a quantity, a categorical ``choice`` where it is a word or a name.

- locate: the object's box centre in the map frame and, with a pose, its distance and
  bearing from the robot;
- distance: between the closest points of the two yaw-oriented 3D boxes, or between the
  box centres with ``use_centers``; the message says which;
- relative direction: standing at A's centre facing B's centre, where C's centre is
  (left/right, left/right/back, or quadrants);
- turn: the robot's turn to face the target (left/right, behind beyond 135 deg);
- count, size (longest box dimension by default; or the box's length = longer horizontal
  side, width = shorter horizontal side, or height, the message naming which), nearest
  among candidates (closest points; a repeated category counts by its nearest instance),
  route (the turn before each leg, and the route in words), appearance order (by each
  category's earliest first sighting, ``first_seen_s``), room size (floor area);
- auto/free: the question is read by :mod:`ssr_ros.core.freetext` first.

Unknown names, one rule for every kind. A name is looked up among the map's objects
(:mod:`ssr_ros.core.names`). A name that matches none is *absent*:

- a kind that needs the object (locate, distance, relative direction, turn, size, route,
  and the reference of nearest) answers ``UNKNOWN_OBJECT``;
- a kind that asks about a category (count, the candidates of nearest, appearance order)
  treats an absent name as a category with no instance, but only if the name is in the
  engine's ``vocabulary``: the categories the robot's perception can report. So a count
  of a category the map does not know is a valid answer 0 only if the robot could have
  mapped that category had it seen one; nearest leaves such a candidate out and
  appearance order lists it after the seen ones as never seen. An absent name outside
  the vocabulary (a typo, a thing the perception cannot report) is ``UNKNOWN_OBJECT``
  there too, since 0 or "never seen" would claim knowledge the robot does not have.
  With no vocabulary given, every absent name is ``UNKNOWN_OBJECT``.

A name that matches several objects where one is needed is answered with
``AMBIGUOUS_NAME`` and the candidates ("there are 3 objects matching 'chair'; did you
mean ..."), unless the engine was given a ``choose_instance`` policy (a benchmark that
promises unique objects uses one; see :mod:`ssr_ros.eval.adapter`), which picks one and is
noted in the answer's ``matches``.

Many matches (a building floor has hundreds of chairs): an ambiguous name's candidates
and a count's instances are listed, in ``object_ids`` and in the message, at most
``MAX_LISTED_OBJECTS`` at a time, nearest to the robot first (bird's-eye distance from
its pose; by id, i.e. in the order the map found them, without a pose); the message says
how many match and how many are listed, and a count's ``value`` is always the total. A
name may carry an object id, ``"<name> #<id>"`` (``"chair #12"``, as answers print
objects) or ``"#<id>"``: it then means that one object, and matches nothing when the id
is not in the map or its label does not fit the name. So a robot disambiguates by asking
again with the id of the candidate it means.

Multiple-choice options, route fill-ins and the benchmark's phrasings are not the
robot's business: :mod:`ssr_ros.eval.adapter` maps these answers onto them.
"""

from __future__ import annotations

import math
import re
from operator import attrgetter
from typing import Callable, Iterable, Sequence

import numpy as np

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.freetext import QuestionNotUnderstoodError, read_question
from ssr_ros.core.names import Embedder, NameMatcher, normalize_name
from ssr_ros.core.query_types import (MAX_LISTED_OBJECTS, MAX_QUESTION_CHARS, ErrorCode,
                                      QueryAnswer, QueryKind, QueryRequest,
                                      QueryRequestError, check_request)
from ssr_ros.core.geometry import wrap_angle
from ssr_ros.core.relations import (QUADRANT, bearing_rad, box_distance, center_distance,
                                    direction_word, turn_word)
from ssr_ros.core.types import ObjectState, Room, RobotPose2D

__all__ = ["ErrorCode", "QueryAnswer", "QueryEngine", "QueryError", "QueryKind",
           "QueryRequest"]

# The sort key of a category that was never seen: after every seen one.
_NEVER_SEEN = (math.inf, math.inf)

# "chair #12", "#12": a name that carries an object id (module docstring).
_ID_REFERENCE = re.compile(r"^(?P<name>.*?)\s*#\s*(?P<id>[0-9]{1,12})\s*$")

InstancePolicy = Callable[[str, list[ObjectState]], ObjectState]
"""Picks one of several objects (two or more, ordered by id) that a name matches."""


class QueryError(ValueError):
    """A question that cannot be answered; carries the srv error code and the objects
    involved (the candidates of an ambiguous name)."""

    def __init__(self, code: ErrorCode, message: str, object_ids: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.object_ids = list(object_ids)


_ID = attrgetter("id")


def _centres_m(objects: Sequence[ObjectState]) -> np.ndarray:
    """Box centres ``(n, 3)`` [m, map frame] of ``objects``."""
    return np.array([o.center_m for o in objects]).reshape(-1, 3)


def _radii_m(objects: Sequence[ObjectState]) -> np.ndarray:
    """Half box diagonals ``(n,)`` [m] of ``objects`` (row by row, so an object's value
    does not depend on the others given with it)."""
    return 0.5 * np.linalg.norm(np.array([o.size_m for o in objects]).reshape(-1, 3), axis=1)


def _fmt_xy(p: np.ndarray) -> str:
    return f"({p[0]:.2f}, {p[1]:.2f})"


class QueryEngine:
    """Answers :class:`QueryRequest` s over a snapshot of the map.

    ``objects``: the object map's confirmed objects; ``cogmap``: the LocalCogMap (its
    links are quoted when locating); ``robot_pose``: the robot's current pose (needed by
    turn, optional for locate); ``room``: the room estimate (room size).
    ``embedder``/``name_threshold``: optional embedding tier of the name matcher.
    ``vocabulary``: category names the robot's perception can report (see the module
    docstring's rule for unknown names). ``choose_instance``: policy for a name that
    matches several objects where one is needed; None answers ``AMBIGUOUS_NAME``.
    """

    def __init__(self, objects: Iterable[ObjectState], cogmap: LocalCogMap | None = None,
                 robot_pose: RobotPose2D | None = None, room: Room | None = None,
                 embedder: Embedder | None = None, name_threshold: float = 0.6,
                 vocabulary: Iterable[str] = (),
                 choose_instance: InstancePolicy | None = None) -> None:
        self.embedder = embedder
        self.name_threshold = float(name_threshold)
        words = [str(v) for v in vocabulary]
        # Rule tiers only: an embedding would call anything "similar" to some category.
        self._vocabulary = NameMatcher(words) if words else None
        self.choose_instance = choose_instance
        self.update(objects, cogmap, robot_pose, room)

    def update(self, objects: Iterable[ObjectState] | None = None,
               cogmap: LocalCogMap | None = None, robot_pose: RobotPose2D | None = None,
               room: Room | None = None) -> None:
        """Replace the parts of the snapshot that are given (None keeps the old one)."""
        if objects is not None:
            # The node builds an engine after every map change, on the thread that
            # answers queries: only what every answer needs is built here (the dicts in
            # C where possible); centres and radii are read from the few objects an
            # answer compares (_centres_m, _radii_m).
            self.objects: list[ObjectState] = list(objects)
            self._by_id = dict(zip(map(_ID, self.objects), self.objects))
            self._by_label: dict[str, list[ObjectState]] = {}
            for obj in self.objects:
                self._by_label.setdefault(obj.label, []).append(obj)
            self.matcher = NameMatcher(self._by_label, self.embedder, self.name_threshold)
        if cogmap is not None:
            self.cogmap = cogmap
        elif not hasattr(self, "cogmap"):
            self.cogmap = None
        if robot_pose is not None or not hasattr(self, "robot_pose"):
            self.robot_pose = robot_pose
        if room is not None or not hasattr(self, "room"):
            self.room = room

    # ---- entry point ---------------------------------------------------------------------
    def answer(self, request: QueryRequest,
               read: Callable[[str], QueryRequest] = read_question) -> QueryAnswer:
        """Answer ``request``; never raises (the answer carries the error code and
        message: ``INVALID_REQUEST`` for a field of the wrong type or over a limit of
        :func:`~ssr_ros.core.query_types.check_request`, ``INTERNAL`` for a bug).

        ``read`` turns the question of an auto/free request into a structured one (the
        robot's phrasings by default); it raises ``QuestionNotUnderstoodError``."""
        notes: list[str] = []
        try:
            kind = self._validate(request)
            if kind in (QueryKind.AUTO, QueryKind.FREE):
                try:
                    request = read(request.question)
                except QuestionNotUnderstoodError as err:
                    raise QueryError(ErrorCode.NOT_UNDERSTOOD, str(err)) from err
                kind = self._validate(request)
            answer = self._dispatch(kind, request, notes)
        except QueryError as err:
            return QueryAnswer(False, err.code, str(err), object_ids=err.object_ids,
                               matches=notes, request=request)
        except Exception as err:  # the contract is an answer, never a raise
            # A bug must not take the caller (the node's service) down; the fuzz tests
            # assert this branch is never reached.
            return QueryAnswer(False, ErrorCode.INTERNAL, f"internal error: "
                               f"{type(err).__name__}: {err}"[:MAX_QUESTION_CHARS],
                               matches=notes, request=request)
        answer.matches = notes
        answer.request = request
        return answer

    def ask(self, question: str) -> QueryAnswer:
        """Shortcut: answer a plain question (KIND_AUTO)."""
        return self.answer(QueryRequest(QueryKind.AUTO, question=question))

    def _validate(self, request: QueryRequest) -> QueryKind:
        try:
            kind = check_request(request)
        except QueryRequestError as err:
            raise QueryError(ErrorCode.INVALID_REQUEST, str(err)) from None
        needs = {QueryKind.LOCATE: ("target",), QueryKind.DISTANCE: ("target", "reference"),
                 QueryKind.RELATIVE_DIRECTION: ("target", "reference", "facing"),
                 QueryKind.TURN: ("target",), QueryKind.COUNT: ("target",),
                 QueryKind.SIZE: ("target",), QueryKind.NEAREST: ("reference",),
                 QueryKind.ROUTE: ("target", "reference", "facing"),
                 QueryKind.AUTO: ("question",), QueryKind.FREE: ("question",)}
        for field_name in needs.get(kind, ()):
            if not getattr(request, field_name).strip():
                raise QueryError(ErrorCode.INVALID_REQUEST,
                                 f"{kind.name.lower()} needs a non-empty {field_name}")
        if kind in (QueryKind.NEAREST, QueryKind.APPEARANCE_ORDER):
            if len(request.candidates) < 1 or not all(c.strip() for c in request.candidates):
                raise QueryError(ErrorCode.INVALID_REQUEST,
                                 f"{kind.name.lower()} needs non-empty candidates")
        return kind

    def _dispatch(self, kind: QueryKind, request: QueryRequest,
                  notes: list[str]) -> QueryAnswer:
        if kind == QueryKind.ROOM_SIZE:
            return self._room_size()
        if not self.objects:
            raise QueryError(ErrorCode.EMPTY_MAP, "the map has no objects yet")
        handler = {QueryKind.LOCATE: self._locate, QueryKind.DISTANCE: self._distance,
                   QueryKind.RELATIVE_DIRECTION: self._direction, QueryKind.TURN: self._turn,
                   QueryKind.COUNT: self._count, QueryKind.SIZE: self._size,
                   QueryKind.NEAREST: self._nearest, QueryKind.ROUTE: self._route,
                   QueryKind.APPEARANCE_ORDER: self._order}[kind]
        return handler(request, notes)

    # ---- names ---------------------------------------------------------------------------
    def instances(self, name: str, notes: list[str] | None = None) -> list[ObjectState]:
        """All objects ``name`` may refer to, by id (empty when it matches no label; a
        name with an id, ``"chair #12"``, gives that object or nothing)."""
        reference = _ID_REFERENCE.match(name)
        if reference is not None:
            return self._by_reference(reference["name"], int(reference["id"]), notes)
        match = self.matcher.match(name)
        if match is None:
            return []
        if notes is not None and match.method != "exact":
            notes.append(match.describe())
        found = [o for label in match.labels for o in self._by_label[label]]
        return sorted(found, key=lambda o: o.id)

    def _by_reference(self, name: str, object_id: int,
                      notes: list[str] | None) -> list[ObjectState]:
        """The object ``object_id`` when it is in the map and ``name`` (may be blank) fits
        its label, else nothing."""
        obj = self._by_id.get(object_id)
        if obj is None:
            return []
        if name.strip():
            match = self.matcher.match(name)
            if match is None or obj.label not in match.labels:
                return []
            if notes is not None and match.method != "exact":
                notes.append(match.describe())
        return [obj]

    def listed(self, found: list[ObjectState]) -> tuple[list[ObjectState], str]:
        """The at most ``MAX_LISTED_OBJECTS`` of ``found`` an answer lists, nearest to the
        robot first (bird's-eye; ties and no pose: by id), and how they were chosen."""
        if self.robot_pose is None or len(found) <= 1:
            return found[:MAX_LISTED_OBJECTS], "by id"
        d = _centres_m(found)[:, :2] - np.array([self.robot_pose.x, self.robot_pose.y])
        order = np.lexsort(([o.id for o in found], np.hypot(d[:, 0], d[:, 1])))
        return [found[k] for k in order[:MAX_LISTED_OBJECTS]], "nearest to you first"

    def _describe(self, obj: ObjectState) -> str:
        text = f"{obj.label} #{obj.id} at {_fmt_xy(obj.center_m)}"
        if self.robot_pose is not None:
            d_m = math.hypot(obj.center_m[0] - self.robot_pose.x,
                             obj.center_m[1] - self.robot_pose.y)
            text += f" ({d_m:.1f} m from you)"
        return text

    def in_vocabulary(self, name: str) -> bool:
        """Whether ``name`` is a category the robot's perception can report (the
        ``vocabulary``: exact, plural, synonym, modifier and head-noun tiers)."""
        return self._vocabulary is not None and self._vocabulary.match(name) is not None

    def _absent(self, name: str) -> None:
        """Accept ``name``, which matches no object, as a category with no instance, or
        raise ``UNKNOWN_OBJECT`` when it is outside the vocabulary (module docstring)."""
        if not self.in_vocabulary(name):
            raise QueryError(ErrorCode.UNKNOWN_OBJECT, f"I know no {name.strip()!r}: it "
                             "matches no object in the map and no category I can perceive")

    def _one(self, name: str, notes: list[str]) -> ObjectState:
        found = self.instances(name, notes)
        if not found:
            reference = _ID_REFERENCE.match(name)
            known = None if reference is None else self._by_id.get(int(reference["id"]))
            detail = f"; #{known.id} is a {known.label}" if known is not None else ""
            raise QueryError(ErrorCode.UNKNOWN_OBJECT,
                             f"I know no {name.strip()!r} in the map{detail}")
        if len(found) == 1:
            return found[0]
        if self.choose_instance is not None:
            chosen = self.choose_instance(name, found)
            notes.append(f"{name!r} is ambiguous ({len(found)} objects); took #{chosen.id}")
            return chosen
        shown, order = self.listed(found)
        noun = normalize_name(name) or name
        listing = "" if len(shown) == len(found) else \
            f" ({len(shown)} of {len(found)} listed, {order})"
        raise QueryError(ErrorCode.AMBIGUOUS_NAME,
                         f"there are {len(found)} objects matching {noun!r}; did you mean "
                         f"{', '.join(self._describe(o) for o in shown)}?{listing} Ask "
                         f"again naming one with its id, e.g. '{noun} #{shown[0].id}'.",
                         [o.id for o in shown])

    def _length(self, value_m: float, request: QueryRequest) -> tuple[float, str]:
        return (value_m * 100.0, "cm") if request.length_unit == "cm" else (value_m, "m")

    # ---- kinds ---------------------------------------------------------------------------
    def _room_size(self) -> QueryAnswer:
        area = None if self.room is None else float(self.room.floor_area_m2)
        if area is None or not math.isfinite(area) or area <= 0.0:
            raise QueryError(ErrorCode.EMPTY_MAP, "the room's floor area is not known yet")
        return QueryAnswer(True, message=f"The mapped floor area is {area:.1f} m^2.",
                           value=area, unit="m^2")

    def _locate(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        obj = self._one(request.target, notes)
        p = obj.center_m
        message = (f"The {obj.label} (#{obj.id}) is at ({p[0]:.2f}, {p[1]:.2f}, {p[2]:.2f}) m "
                   "in the map frame")
        value, unit = math.nan, ""
        if self.robot_pose is not None:
            d = p[:2] - np.array([self.robot_pose.x, self.robot_pose.y])
            value, unit = float(math.hypot(d[0], d[1])), "m"
            bearing = math.degrees(wrap_angle(math.atan2(d[1], d[0])
                                              - self.robot_pose.yaw_rad))
            side = "left" if bearing > 0 else "right"
            message += f", {value:.2f} m from you, {abs(bearing):.0f} deg to your {side}"
        if self.cogmap is not None and obj.id in self.cogmap:
            link = self.cogmap.link(obj.id)
            if len(link.anchors) == 2:
                message += (f"; between the {self.cogmap.label(link.anchor_a)} and the "
                            f"{self.cogmap.label(link.anchor_b)} in the scene graph")
        return QueryAnswer(True, message=message + ".", value=value, unit=unit,
                           object_ids=[obj.id], position_m=p.copy())

    def _pair_distance(self, a: ObjectState, b: ObjectState, centers: bool) -> float:
        return center_distance(a, b) if centers else box_distance(a, b)

    def _closest_instance(self, ref: ObjectState, found: list[ObjectState],
                          centers: bool) -> tuple[ObjectState, float]:
        """The instance nearest to ``ref`` and its distance [m]. Centre distance bounds
        the box distance from above, and minus both half diagonals from below, so only
        instances that may win get the exact (slower) box test."""
        centre_m = np.linalg.norm(_centres_m(found) - ref.center_m, axis=1)
        if centers:
            k = int(np.lexsort(([o.id for o in found], centre_m))[0])
            return found[k], float(centre_m[k])
        lower_m = centre_m - _radii_m(found) - _radii_m([ref])[0]
        best, best_m = found[0], math.inf
        for k in np.lexsort(([o.id for o in found], lower_m)):
            if lower_m[k] > best_m:
                break
            d = box_distance(ref, found[k])
            if d < best_m or (d == best_m and found[k].id < best.id):
                best, best_m = found[k], d
        return best, best_m

    def _distance(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        a = self._one(request.target, notes)
        b = self._one(request.reference, notes)
        if a.id == b.id:
            raise QueryError(ErrorCode.INVALID_REQUEST, "both names refer to the same object",
                             [a.id])
        dist_m = self._pair_distance(a, b, request.use_centers)
        value, unit = self._length(dist_m, request)
        how = "between the box centres" if request.use_centers else \
            "between the closest points of the boxes"
        return QueryAnswer(True, message=f"The {a.label} and the {b.label} are {value:.2f} "
                           f"{unit} apart ({how}).", value=value, unit=unit,
                           object_ids=[a.id, b.id])

    def _direction(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        stand = self._one(request.reference, notes)
        facing = self._one(request.facing, notes)
        target = self._one(request.target, notes)
        if len({stand.id, facing.id, target.id}) < 3:
            raise QueryError(ErrorCode.INVALID_REQUEST, "standing, facing and target must "
                             "be three different objects", [stand.id, facing.id, target.id])
        try:
            angle = bearing_rad(stand.xy, facing.xy, target.xy)
        except ValueError as err:
            raise QueryError(ErrorCode.INVALID_REQUEST, f"cannot face the {facing.label} from "
                             f"the {stand.label}: {err}") from err
        word = direction_word(angle, request.direction_mode or QUADRANT)
        deg = math.degrees(angle)
        return QueryAnswer(True, message=f"Standing by the {stand.label} facing the "
                           f"{facing.label}, the {target.label} is {word} ({deg:.0f} deg, "
                           "counter-clockwise positive).", value=deg, unit="deg",
                           choice=word, object_ids=[target.id, stand.id, facing.id])

    def _turn(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        if self.robot_pose is None:
            raise QueryError(ErrorCode.NO_POSE, "turning needs the robot's pose, and none is "
                             "known yet")
        target = self._one(request.target, notes)
        d = target.xy - np.array([self.robot_pose.x, self.robot_pose.y])
        angle = wrap_angle(math.atan2(d[1], d[0]) - self.robot_pose.yaw_rad)
        word = turn_word(angle, forced=True)
        word = "behind" if word == "back" else word
        deg = math.degrees(angle)
        text = (f"The {target.label} is behind you; turn around ({deg:.0f} deg)."
                if word == "behind" else f"Turn {word} by {abs(deg):.0f} deg to face the "
                f"{target.label}.")
        return QueryAnswer(True, message=text, value=deg, unit="deg",
                           choice=word, object_ids=[target.id])

    def _count(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        found = self.instances(request.target, notes)
        if not found:
            self._absent(request.target)
        n = len(found)
        noun = normalize_name(request.target)
        message = f"I see {n} object{'s' if n != 1 else ''} matching {noun!r}."
        shown, order = self.listed(found)
        if len(shown) < n:
            message += f" Listed: {len(shown)} of them, {order}."
        return QueryAnswer(True, message=message, value=float(n), unit="count",
                           object_ids=[o.id for o in shown])

    def _size(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        obj = self._one(request.target, notes)
        size_m = np.asarray(obj.size_m, dtype=float)
        horizontal_m = size_m[:2]
        measured_m = {"longest": np.max(size_m), "length": np.max(horizontal_m),
                      "width": np.min(horizontal_m), "height": size_m[2]}
        dimension = request.size_dimension
        value, unit = self._length(float(measured_m[dimension]), request)
        what = "longest dimension" if dimension == "longest" else dimension
        dims = " x ".join(f"{v:.2f}" for v in size_m)
        prior = " (partly from the category's size prior)" if obj.size_from_prior else ""
        return QueryAnswer(True, message=f"The {obj.label}'s {what} is {value:.2f} "
                           f"{unit}; its box is {dims} m (length x width x height along its "
                           f"yaw){prior}.", value=value, unit=unit, object_ids=[obj.id])

    def _nearest(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        ref = self._one(request.reference, notes)
        scored: list[tuple[float, str, ObjectState]] = []
        missing = []
        for name in request.candidates:
            found = [o for o in self.instances(name, notes) if o.id != ref.id]
            if not found:
                if not self.instances(name):
                    self._absent(name)
                missing.append(name)
                continue
            best, dist_m = self._closest_instance(ref, found, request.use_centers)
            scored.append((dist_m, name, best))
        if not scored:
            raise QueryError(ErrorCode.UNKNOWN_OBJECT, "none of the candidates "
                             f"({', '.join(request.candidates)}) is in the map", [ref.id])
        dist_m, name, best = min(scored, key=lambda s: s[0])
        value, unit = self._length(dist_m, request)
        how = "centres" if request.use_centers else "closest points"
        message = f"The {best.label} (#{best.id}) is nearest to the {ref.label}: " \
                  f"{value:.2f} {unit} ({how})."
        if missing:
            message += f" Not in the map: {', '.join(missing)}."
        return QueryAnswer(True, message=message, value=value, unit=unit, choice=name,
                           object_ids=[best.id, ref.id])

    def _route(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        start = self._one(request.reference, notes)
        facing = self._one(request.facing, notes)
        stops = [self._one(name, notes) for name in [*request.candidates, request.target]]
        heading = facing.xy - start.xy
        if math.hypot(*heading) < 1e-9:
            raise QueryError(ErrorCode.INVALID_REQUEST, "start and facing objects coincide",
                             [start.id, facing.id])
        here = start.xy
        steps: list[str] = []
        turns_deg: list[float] = []
        for stop in stops:
            leg = stop.xy - here
            if math.hypot(*leg) < 1e-9:
                turns_deg.append(math.nan)
            else:
                angle = wrap_angle(math.atan2(leg[1], leg[0]) - math.atan2(heading[1],
                                                                           heading[0]))
                turns_deg.append(math.degrees(angle))
                word = turn_word(angle)
                if word != "straight":
                    steps.append(f"turn {word}")
                heading = leg
            steps.append(f"go forward until the {stop.label}")
            here = stop.xy
        route = ", ".join(steps)
        return QueryAnswer(True, message=f"From the {start.label} facing the {facing.label}: "
                           f"{route}.", choice=route, leg_turns_deg=turns_deg,
                           object_ids=[start.id, facing.id, *[s.id for s in stops]])

    def first_seen(self, name: str) -> tuple[ObjectState, tuple[float, float]] | None:
        """The earliest seen object ``name`` matches and its appearance key
        (``first_seen_s`` [s], first keyframe index); None when it matches none."""
        found = self.instances(name)
        if not found:
            return None
        # Stamps order sightings frame by frame (backdated between keyframes); the
        # keyframe index breaks exact ties.
        first = min(found, key=lambda o: (o.first_seen_s, o.first_seen_order, o.id))
        return first, (float(first.first_seen_s), float(first.first_seen_order))

    def _order(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        firsts: dict[str, tuple[float, float]] = {}
        ids: list[int] = []
        missing = []
        for name in request.candidates:
            self.instances(name, notes)
            seen = self.first_seen(name)
            if seen is None:
                self._absent(name)
                missing.append(name)
                firsts[name] = _NEVER_SEEN
                continue
            firsts[name] = seen[1]
            ids.append(seen[0].id)
        if len(missing) == len(request.candidates):
            raise QueryError(ErrorCode.UNKNOWN_OBJECT, "none of "
                             f"{', '.join(request.candidates)} is in the map")
        ordered = sorted(request.candidates, key=lambda n: firsts[n])
        message = f"First seen in this order: {', '.join(ordered)}."
        if missing:
            message += f" Never seen: {', '.join(missing)}."
        return QueryAnswer(True, message=message, choice=", ".join(ordered), object_ids=ids)
