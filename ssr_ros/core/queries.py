"""Spatial query engine over the object map, the LocalCogMap, the robot pose and the room.

Answers the ``SpatialQuery`` kinds with plain geometry (map frame, metres, angles
counter-clockwise positive):

- locate: the object's box centre in the map frame and, with a pose, its distance and
  bearing from the robot;
- distance: between the closest points of the two yaw-oriented 3D boxes (VSI-Bench), or
  between the box centres with ``use_centers``; the message says which;
- relative direction: standing at A's centre facing B's centre, where C's centre is
  (left/right, left/right/back, or quadrants);
- turn: the robot's turn to face the target (left/right, behind beyond 135 deg);
- count, size (longest box dimension by default; or the box's length = longer horizontal
  side, width = shorter horizontal side, or height, the message naming which), nearest
  among candidates (closest points; a repeated category counts by its nearest instance),
  route (turns between waypoints), appearance order (first keyframe index), room size
  (floor area);
- auto/free: the question is read by :mod:`ssr_ros.core.freetext` first.

A name that matches several objects where one is needed is answered with
``AMBIGUOUS_NAME`` and the candidates ("there are 3 chairs; did you mean ..."), unless
the engine was built with ``ambiguity="most_observed"`` (benchmark questions that
promise a unique object), which takes the most observed instance and says so.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.freetext import QuestionNotUnderstoodError, read_question
from ssr_ros.core.names import Embedder, NameMatcher, canonical, normalize_name
from ssr_ros.core.query_types import (MAX_QUESTION_CHARS, ErrorCode, QueryAnswer, QueryKind,
                                      QueryRequest, QueryRequestError, check_request)
from ssr_ros.core.relations import (LEFT_RIGHT, LEFT_RIGHT_BACK, QUADRANT, bearing_rad,
                                    box_distance, center_distance, direction_word, turn_word,
                                    wrap_angle)
from ssr_ros.core.types import ObjectState, Room, RobotPose2D

__all__ = ["ErrorCode", "QueryAnswer", "QueryEngine", "QueryError", "QueryKind",
           "QueryRequest"]

_MODE_OPTIONS = {LEFT_RIGHT: ("left", "right"), LEFT_RIGHT_BACK: ("left", "right", "back"),
                 QUADRANT: ("front-left", "front-right", "back-left", "back-right")}


# the appearance key of a category the map never saw: after every seen one
NEVER_SEEN = (math.inf, math.inf)

class QueryError(ValueError):
    """A question that cannot be answered; carries the srv error code and the objects
    involved (the candidates of an ambiguous name)."""

    def __init__(self, code: ErrorCode, message: str, object_ids: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.object_ids = list(object_ids)


def _fmt_xy(p: np.ndarray) -> str:
    return f"({p[0]:.2f}, {p[1]:.2f})"


def _option_tokens(option: str) -> list[str]:
    return [t.strip().lower() for t in option.split(",") if t.strip()]


def _pick_option(predicted: Sequence[str], options: Sequence[str], word_of) -> str:
    """The option whose comma-separated parts agree with ``predicted`` at most positions
    (parts reduced to a keyword by ``word_of``); first option on ties."""
    best, best_score = options[0], -1.0
    for option in options:
        parts = [word_of(t) for t in _option_tokens(option)]
        score = sum(1.0 for a, b in zip(parts, predicted) if a == b)
        score -= 0.5 * abs(len(parts) - len(predicted))
        if score > best_score:
            best, best_score = option, score
    return best


def _turn_keyword(text: str) -> str:
    for word in ("back", "left", "right"):
        if word in text:
            return word
    return text


class QueryEngine:
    """Answers :class:`QueryRequest` s over a snapshot of the map.

    ``objects``: the object map's confirmed objects; ``cogmap``: the LocalCogMap (its
    links are quoted when locating); ``robot_pose``: the robot's current pose (needed by
    turn, optional for locate); ``room``: the room estimate (room size).
    ``embedder``/``name_threshold``: optional embedding tier of the name matcher.
    ``ambiguity``: ``"ask"`` (default) or ``"most_observed"`` (see module docstring).
    """

    def __init__(self, objects: Iterable[ObjectState], cogmap: LocalCogMap | None = None,
                 robot_pose: RobotPose2D | None = None, room: Room | None = None,
                 embedder: Embedder | None = None, name_threshold: float = 0.6,
                 ambiguity: str = "ask") -> None:
        if ambiguity not in ("ask", "most_observed"):
            raise ValueError(f"ambiguity must be 'ask' or 'most_observed', got {ambiguity!r}")
        self.ambiguity = ambiguity
        self.embedder = embedder
        self.name_threshold = float(name_threshold)
        self.update(objects, cogmap, robot_pose, room)

    def update(self, objects: Iterable[ObjectState] | None = None,
               cogmap: LocalCogMap | None = None, robot_pose: RobotPose2D | None = None,
               room: Room | None = None) -> None:
        """Replace the parts of the snapshot that are given (None keeps the old one)."""
        if objects is not None:
            self.objects: list[ObjectState] = list(objects)
            self._by_id = {o.id: o for o in self.objects}
            self._row = {o.id: k for k, o in enumerate(self.objects)}
            self._centres_m = np.array([o.center_m for o in self.objects]).reshape(-1, 3)
            sizes = np.array([o.size_m for o in self.objects]).reshape(-1, 3)
            self._radius_m = 0.5 * np.linalg.norm(sizes, axis=1)
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
    def answer(self, request: QueryRequest) -> QueryAnswer:
        """Answer ``request``; never raises (the answer carries the error code and
        message: ``INVALID_REQUEST`` for a field of the wrong type or over a limit of
        :func:`~ssr_ros.core.query_types.check_request`, ``INTERNAL`` for a bug)."""
        notes: list[str] = []
        try:
            kind = self._validate(request)
            if kind in (QueryKind.AUTO, QueryKind.FREE):
                try:
                    request = read_question(request.question, request.options)
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

    def ask(self, question: str, options: Sequence[str] = ()) -> QueryAnswer:
        """Shortcut: answer a plain question (KIND_AUTO)."""
        listed = list(options) if isinstance(options, (list, tuple)) else options
        return self.answer(QueryRequest(QueryKind.AUTO, question=question, options=listed))

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
        """All objects ``name`` may refer to (empty when it matches no label)."""
        match = self.matcher.match(name)
        if match is None:
            return []
        if notes is not None and match.method != "exact":
            notes.append(match.describe())
        found = [o for label in match.labels for o in self._by_label[label]]
        return sorted(found, key=lambda o: o.id)

    def _one(self, name: str, notes: list[str]) -> ObjectState:
        found = self.instances(name, notes)
        if not found:
            raise QueryError(ErrorCode.UNKNOWN_OBJECT, f"I know no {name.strip()!r} in the map")
        if len(found) == 1:
            return found[0]
        if self.ambiguity == "most_observed":
            chosen = max(found, key=lambda o: (o.observation_count, o.score, -o.id))
            notes.append(f"{name!r} is ambiguous ({len(found)} objects); took the most "
                         f"observed, #{chosen.id}")
            return chosen
        shown = ", ".join(f"{o.label} #{o.id} at {_fmt_xy(o.center_m)}" for o in found)
        noun = normalize_name(name) or name
        raise QueryError(ErrorCode.AMBIGUOUS_NAME,
                         f"there are {len(found)} objects matching {noun!r}; did you mean "
                         f"{shown}?", [o.id for o in found])

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
        rows = np.array([self._row[o.id] for o in found])
        centre_m = np.linalg.norm(self._centres_m[rows] - ref.center_m, axis=1)
        if centers:
            k = int(np.lexsort(([o.id for o in found], centre_m))[0])
            return found[k], float(centre_m[k])
        lower_m = centre_m - self._radius_m[rows] - self._radius_m[self._row[ref.id]]
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
        mode = request.direction_mode or self._mode_from_options(request.options)
        word = direction_word(angle, mode)
        choice = self._choose(word, request.options)
        deg = math.degrees(angle)
        return QueryAnswer(True, message=f"Standing by the {stand.label} facing the "
                           f"{facing.label}, the {target.label} is {word} ({deg:.0f} deg, "
                           "counter-clockwise positive).", value=deg, unit="deg",
                           choice=choice, object_ids=[target.id, stand.id, facing.id])

    @staticmethod
    def _mode_from_options(options: Sequence[str]) -> str:
        words = {o.strip().lower() for o in options}
        for mode in (LEFT_RIGHT, LEFT_RIGHT_BACK, QUADRANT):
            if words and words <= set(_MODE_OPTIONS[mode]) | {"behind"} \
                    and len(words) == len(_MODE_OPTIONS[mode]):
                return mode
        return QUADRANT

    @staticmethod
    def _choose(word: str, options: Sequence[str]) -> str:
        """``word`` itself without options; else the option that says it (case-blind,
        back/behind alike), else the first option containing it, else the first option:
        a multiple-choice answer is always one of the options."""
        if not options:
            return word
        same = {word, {"back": "behind", "behind": "back"}.get(word, word)}
        for option in options:
            if option.strip().lower() in same:
                return option
        for option in options:
            if word in option.lower():
                return option
        return options[0]

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
                           choice=self._choose(word, request.options), object_ids=[target.id])

    def _count(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        found = self.instances(request.target, notes)
        n = len(found)
        noun = normalize_name(request.target)
        message = f"I see {n} object{'s' if n != 1 else ''} matching {noun!r}."
        return QueryAnswer(True, message=message, value=float(n), unit="count",
                           object_ids=[o.id for o in found])

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
                missing.append(name)
                continue
            best, dist_m = self._closest_instance(ref, found, request.use_centers)
            scored.append((dist_m, name, best))
        if not scored:
            raise QueryError(ErrorCode.UNKNOWN_OBJECT, "none of the candidates "
                             f"({', '.join(request.candidates)}) is in the map", [ref.id])
        dist_m, name, best = min(scored, key=lambda s: s[0])
        choice = name
        if request.options:
            wanted = canonical(normalize_name(name))
            same = [o for o in request.options if canonical(normalize_name(o)) == wanted]
            choice = same[0] if same else self._choose(name.strip().lower(), request.options)
        value, unit = self._length(dist_m, request)
        how = "centres" if request.use_centers else "closest points"
        message = f"The {best.label} (#{best.id}) is nearest to the {ref.label}: " \
                  f"{value:.2f} {unit} ({how})."
        if missing:
            message += f" Not in the map: {', '.join(missing)}."
        return QueryAnswer(True, message=message, value=value, unit=unit, choice=choice,
                           object_ids=[best.id, ref.id])

    def _route(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        start = self._one(request.reference, notes)
        facing = self._one(request.facing, notes)
        stops = [self._one(name, notes) for name in [*request.candidates, request.target]]
        heading = facing.xy - start.xy
        if math.hypot(*heading) < 1e-9:
            raise QueryError(ErrorCode.INVALID_REQUEST, "start and facing objects coincide",
                             [start.id, facing.id])
        fill_in = list(request.route_fill_in)
        if fill_in and len(fill_in) != len(stops):
            raise QueryError(ErrorCode.INVALID_REQUEST, f"route_fill_in has {len(fill_in)} "
                             f"flags for {len(stops)} legs")
        here = start.xy
        steps, asked = [], []
        for k, stop in enumerate(stops):
            leg = stop.xy - here
            if math.hypot(*leg) < 1e-9:
                word = "straight"
            else:
                angle = wrap_angle(math.atan2(leg[1], leg[0]) - math.atan2(heading[1],
                                                                           heading[0]))
                word = turn_word(angle, forced=bool(fill_in and fill_in[k]))
                heading = leg
            if fill_in and fill_in[k]:
                asked.append(word)
            if word != "straight":
                steps.append(f"turn {word}")
            steps.append(f"go forward until the {stop.label}")
            here = stop.xy
        route = ", ".join(steps)
        if request.options:
            choice = _pick_option(asked, request.options, _turn_keyword)
        else:
            choice = route
        return QueryAnswer(True, message=f"From the {start.label} facing the {facing.label}: "
                           f"{route}.", choice=choice,
                           object_ids=[start.id, facing.id, *[s.id for s in stops]])

    def _order(self, request: QueryRequest, notes: list[str]) -> QueryAnswer:
        # (first-seen stamp, first keyframe): stamps order sightings frame by frame
        # (backdated between keyframes); the keyframe index breaks exact ties
        firsts: dict[str, tuple[float, float]] = {}
        ids: list[int] = []
        missing = []
        for name in request.candidates:
            found = self.instances(name, notes)
            if not found:
                missing.append(name)
                firsts[name] = NEVER_SEEN
                continue
            first = min(found, key=lambda o: (o.first_seen_s, o.first_seen_order, o.id))
            firsts[name] = (float(first.first_seen_s), float(first.first_seen_order))
            ids.append(first.id)
        if len(missing) == len(request.candidates):
            raise QueryError(ErrorCode.UNKNOWN_OBJECT, "none of "
                             f"{', '.join(request.candidates)} is in the map")
        ordered = sorted(request.candidates, key=lambda n: firsts[n])
        if request.options:
            key = {normalize_name(n): firsts[n] for n in request.candidates}

            def agreement(option: str) -> float:
                parts = [normalize_name(t) for t in _option_tokens(option)]
                rank = [key.get(p, NEVER_SEEN) for p in parts]
                # A pair of seen categories in the order they were seen counts 1. A
                # category the map never saw was at most glimpsed, most likely late in
                # the walk: a seen one before it counts 1/2, so among options equal on
                # the seen pairs the one that puts it late wins.
                score = 0.0
                for i in range(len(rank)):
                    for j in range(i + 1, len(rank)):
                        if rank[j] == NEVER_SEEN:
                            score += 0.5 if rank[i] != NEVER_SEEN else 0.0
                        elif rank[i] <= rank[j]:
                            score += 1.0
                return score

            choice = max(request.options, key=agreement)
        else:
            choice = ", ".join(ordered)
        message = f"First seen in this order: {', '.join(ordered)}."
        if missing:
            message += f" Never seen: {', '.join(missing)}."
        return QueryAnswer(True, message=message, choice=choice, object_ids=ids)
