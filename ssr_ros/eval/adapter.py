"""Benchmark adapter: VSI-Bench-style questions answered by the robot's query engine.

The query engine (:mod:`ssr_ros.core.queries`) answers a robot: metres, degrees, a count,
a direction word, a name, a route. A benchmark asks differently, and this module bridges
the two without teaching the engine the benchmark's habits:

- phrasing: VSI-Bench's templates (:mod:`ssr_ros.eval.vsi_reader`) are read before the
  robot's phrasings;
- multiple choice: the options are checked (:func:`check_options`: at most
  ``MAX_OPTIONS`` texts of at most ``MAX_OPTION_CHARS`` characters, none blank), and the
  engine's answer is mapped onto one of them, so a multiple-choice answer's ``choice`` is
  always one of its options. Direction and turn words, the nearest candidate's name, the
  turns a route plan asks to fill in, and an appearance order are matched to the option
  that says the same; a numeric answer (count, distance, size, room size) takes the
  option whose number is nearest. Options of a question without such an answer (locate),
  or numeric options none of which is a number, are ``INVALID_REQUEST``;
- route fill-ins: a route plan names its waypoints and marks the turns it asks for with
  ``[please fill in]``; those turns are answered left/right/back, never "straight";
- never-seen categories in an appearance-order question: such a category was at most
  glimpsed, most likely late in the walk, so among options equally right about the seen
  categories the one that puts it late wins (:func:`order_agreement`);
- ambiguity: benchmark questions only name objects that are unique in the scene, so a
  name matching several map objects is a mapping artefact; :func:`most_observed` takes
  the instance seen most often instead of asking back;
- vocabulary: the simulator's label images report exactly its catalogue's categories,
  so :func:`benchmark_engine` gives the engine that vocabulary (a category of the
  catalogue the map never saw counts 0 and is "never seen").

``ssr-eval`` (through :mod:`ssr_ros.eval.qa`) and the node's ``spatial_query`` service use
:func:`answer_request`; for an auto/free request the srv's ``candidates`` are the options
of a multiple-choice question, as ``srv/SpatialQuery.srv`` documents.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Iterable, Sequence

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.names import canonical, normalize_name
from ssr_ros.core.queries import QueryEngine
from ssr_ros.core.query_types import (ErrorCode, QueryAnswer, QueryKind, QueryRequest,
                                      QueryRequestError, check_request, check_text_list)
from ssr_ros.core.relations import LEFT_RIGHT, LEFT_RIGHT_BACK, QUADRANT, turn_word
from ssr_ros.core.types import ObjectState, Room, RobotPose2D
from ssr_ros.eval.vsi_reader import RoutePlan, read_route_plan, read_vsi_question

MAX_OPTIONS = 16
"""Most multiple-choice options in one request."""
MAX_OPTION_CHARS = 256
"""Longest multiple-choice option [characters]."""

_MODE_WORDS = {LEFT_RIGHT: ("left", "right"), LEFT_RIGHT_BACK: ("left", "right", "back"),
               QUADRANT: ("front-left", "front-right", "back-left", "back-right")}
_WORD_KINDS = (QueryKind.RELATIVE_DIRECTION, QueryKind.TURN)
_NUMERIC_KINDS = (QueryKind.COUNT, QueryKind.DISTANCE, QueryKind.SIZE, QueryKind.ROOM_SIZE)
_NUMBER_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)", re.IGNORECASE)
# The appearance key of a category the map never saw: after every seen one.
_NEVER_SEEN = (math.inf, math.inf)


def check_options(options: object) -> list[str]:
    """``options`` as a list of texts, or :class:`QueryRequestError` (field "options")
    for a non-list, more than ``MAX_OPTIONS``, one over ``MAX_OPTION_CHARS`` characters,
    or a blank one (an answer could not be told apart from no answer)."""
    check_text_list(options, "options", MAX_OPTIONS, MAX_OPTION_CHARS)
    listed = list(options)  # type: ignore[arg-type]
    for k, option in enumerate(listed):
        if not option.strip():
            raise QueryRequestError("options", f"option {k} is empty; a multiple-choice "
                                    "question needs a text in every option")
    return listed


def most_observed(name: str, found: list[ObjectState]) -> ObjectState:
    """The instance seen most often (then highest score, then lowest id): the
    benchmark's policy for a name that matches several objects."""
    return max(found, key=lambda o: (o.observation_count, o.score, -o.id))


def benchmark_engine(objects: Iterable[ObjectState], cogmap: LocalCogMap | None = None,
                     robot_pose: RobotPose2D | None = None, room: Room | None = None,
                     vocabulary: Iterable[str] | None = None) -> QueryEngine:
    """A query engine as the benchmark uses it: :func:`most_observed` for repeated
    names and ``vocabulary`` (default: the simulator catalogue's categories)."""
    if vocabulary is None:
        from ssr_ros.sim.catalog import CATEGORY_NAMES

        vocabulary = CATEGORY_NAMES
    return QueryEngine(objects, cogmap=cogmap, robot_pose=robot_pose, room=room,
                       vocabulary=vocabulary, choose_instance=most_observed)


def mode_from_options(options: Sequence[str]) -> str:
    """The direction mode whose words the options are (back/behind alike); quadrant
    when they are not exactly one mode's words."""
    words = {o.strip().lower() for o in options}
    for mode in (LEFT_RIGHT, LEFT_RIGHT_BACK, QUADRANT):
        if words and words <= set(_MODE_WORDS[mode]) | {"behind"} \
                and len(words) == len(_MODE_WORDS[mode]):
            return mode
    return QUADRANT


def choose_word(word: str, options: Sequence[str]) -> str:
    """The option that says ``word`` (case-blind, back/behind alike), else the first
    option containing it, else the first option: the answer is always an option."""
    same = {word, {"back": "behind", "behind": "back"}.get(word, word)}
    for option in options:
        if option.strip().lower() in same:
            return option
    for option in options:
        if word in option.lower():
            return option
    return options[0]


def _option_parts(option: str) -> list[str]:
    return [t.strip().lower() for t in option.split(",") if t.strip()]


def _turn_keyword(text: str) -> str:
    for word in ("back", "left", "right"):
        if word in text:
            return word
    return text


def choose_sequence(predicted: Sequence[str], options: Sequence[str]) -> str:
    """The option whose comma-separated turns agree with ``predicted`` at most
    positions, less half a point per missing or extra part; first option on ties."""
    best, best_score = options[0], -math.inf
    for option in options:
        parts = [_turn_keyword(t) for t in _option_parts(option)]
        score = sum(1.0 for a, b in zip(parts, predicted) if a == b)
        score -= 0.5 * abs(len(parts) - len(predicted))
        if score > best_score:
            best, best_score = option, score
    return best


def order_agreement(option: str, first_seen: dict[str, tuple[float, float]]) -> float:
    """How well ``option`` ("a, b, c") agrees with the first sightings: ``first_seen``
    maps a normalised category name to its appearance key (never seen: infinite).

    A pair of seen categories in the order they were seen counts 1. A category the map
    never saw was at most glimpsed, most likely late in the walk: a seen one before it
    counts 1/2, so among options equal on the seen pairs the one that puts it late wins.
    """
    rank = [first_seen.get(normalize_name(p), _NEVER_SEEN) for p in _option_parts(option)]
    score = 0.0
    for i in range(len(rank)):
        for j in range(i + 1, len(rank)):
            if rank[j] == _NEVER_SEEN:
                score += 0.5 if rank[i] != _NEVER_SEEN else 0.0
            elif rank[i] <= rank[j]:
                score += 1.0
    return score


def _number(option: str) -> float | None:
    m = _NUMBER_RE.match(option)
    return float(m.group(1)) if m else None


def _route_words(answer: QueryAnswer, plan: RoutePlan | None) -> list[str]:
    """The asked turns of a route: the fill-in legs of ``plan`` (every leg without one),
    each left/right/back ("straight" only for a leg of no length)."""
    turns = answer.leg_turns_deg
    asked = plan.fill_in if plan is not None else [True] * len(turns)
    if len(asked) != len(turns):
        raise QueryRequestError("options", f"the route plan asks {len(asked)} legs; the "
                                f"route has {len(turns)}")
    return [("straight" if math.isnan(t) else turn_word(math.radians(t), forced=True))
            for t, wanted in zip(turns, asked) if wanted]


def pick_option(engine: QueryEngine, answer: QueryAnswer, options: Sequence[str],
                plan: RoutePlan | None = None) -> str:
    """The option that says what the successful ``answer`` says (see the module
    docstring); raises :class:`QueryRequestError` when the question's kind cannot
    choose among options."""
    request = answer.request
    kind = request.kind if request is not None else QueryKind.AUTO
    if kind in _WORD_KINDS:
        return choose_word(answer.choice, options)
    if kind == QueryKind.NEAREST:
        wanted = canonical(normalize_name(answer.choice))
        same = [o for o in options if canonical(normalize_name(o)) == wanted]
        return same[0] if same else choose_word(answer.choice.strip().lower(), options)
    if kind == QueryKind.ROUTE:
        return choose_sequence(_route_words(answer, plan), options)
    if kind == QueryKind.APPEARANCE_ORDER:
        keys: dict[str, tuple[float, float]] = {}
        for name in request.candidates:
            seen = engine.first_seen(name)
            keys[normalize_name(name)] = _NEVER_SEEN if seen is None else seen[1]
        return max(options, key=lambda o: order_agreement(o, keys))
    if kind in _NUMERIC_KINDS:
        numbered = [(abs(n - answer.value), k) for k, o in enumerate(options)
                    if (n := _number(o)) is not None]
        if not numbered:
            raise QueryRequestError("options", f"a {kind.name.lower()} question's options "
                                    "must be numbers")
        return options[min(numbered)[1]]
    raise QueryRequestError("options", f"a {kind.name.lower()} question has no options")


def answer_request(engine: QueryEngine, request: QueryRequest,
                   options: Sequence[str] | None = None) -> QueryAnswer:
    """Answer ``request`` with ``engine`` as a benchmark (or the srv) asks it: VSI-Bench
    phrasings read, ``options`` checked and the answer's ``choice`` one of them. With
    ``options`` None, an auto/free request's ``candidates`` are its options. Never
    raises: a bad option is an ``INVALID_REQUEST`` answer naming it."""
    try:
        kind = check_request(request)
        if options is None and kind in (QueryKind.AUTO, QueryKind.FREE):
            options = request.candidates
            request = dataclasses.replace(request, candidates=[])
        opts = check_options([] if options is None else options)
    except QueryRequestError as err:
        known = request if isinstance(request, QueryRequest) else None
        return QueryAnswer(False, ErrorCode.INVALID_REQUEST, str(err), request=known)
    plan: list[RoutePlan | None] = [None]

    def read(question: str) -> QueryRequest:
        structured = read_vsi_question(question)
        if structured.kind == QueryKind.ROUTE:
            plan[0] = read_route_plan(question)
        if opts and structured.kind == QueryKind.RELATIVE_DIRECTION \
                and not structured.direction_mode:
            structured.direction_mode = mode_from_options(opts)
        return structured

    if opts and kind == QueryKind.RELATIVE_DIRECTION and not request.direction_mode:
        request = dataclasses.replace(request, direction_mode=mode_from_options(opts))
    answer = engine.answer(request, read=read)
    if not answer.success or not opts:
        return answer
    try:
        answer.choice = pick_option(engine, answer, opts, plan[0])
    except QueryRequestError as err:
        return QueryAnswer(False, ErrorCode.INVALID_REQUEST, str(err),
                           matches=answer.matches, request=answer.request)
    return answer
