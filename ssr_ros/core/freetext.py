"""Rule-based reader: a plain question -> a structured :class:`QueryRequest`.

Reads the VSI-Bench phrasings (object count, absolute distance, object size, room size,
relative distance, relative direction in its three variants, route plan, appearance
order) and everyday robot phrasings ("where is the lamp", "how far is the sofa from the
tv", "which way do I turn to face the fridge", "how many chairs are there", "how big is
the room"). Matching is case-insensitive on the question with blanks collapsed; names
are returned as written (lower case) and resolved later by :mod:`ssr_ros.core.names`.
Multiple-choice ``options`` are passed through so the engine answers with one of them.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ssr_ros.core.query_types import MAX_QUESTION_CHARS, QueryKind, QueryRequest
from ssr_ros.core.relations import LEFT_RIGHT, LEFT_RIGHT_BACK, QUADRANT


class QuestionNotUnderstoodError(ValueError):
    """The reader found no phrasing it knows in the question."""


_NAME = r"(?:the |a |an |my )?(?P<{}>[a-z0-9][a-z0-9 '\-]*?)"
_ROOM = r"(?:room|house|home|space|apartment|flat|place|area|map|scene)"


def _n(group: str) -> str:
    return _NAME.format(group)


def _split_list(text: str) -> list[str]:
    parts = re.split(r"\s*,\s*(?:or\s+|and\s+)?|\s+or\s+|\s+and\s+", text.strip())
    return [re.sub(r"^(?:the|a|an)\s+", "", p).strip() for p in parts if p.strip()]


def _unit(low: str) -> str:
    return "cm" if re.search(r"\b(?:centimet(?:er|re)s?|cm)\b", low) else "m"


def _count(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    return QueryRequest(QueryKind.COUNT, target=m["t"], options=options)


_SELF = frozenset({"me", "here", "myself", "us", "you", "the robot", "robot"})


def _distance(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    if m["b"] in _SELF:
        return QueryRequest(QueryKind.LOCATE, target=m["a"], options=options)
    centers = bool(re.search(r"\bcent(?:er|re)s?\b", low))
    return QueryRequest(QueryKind.DISTANCE, target=m["a"], reference=m["b"],
                        use_centers=centers, length_unit=_unit(low), options=options)


_DIMENSION_OF = {"tall": "height", "high": "height", "height": "height", "wide": "width",
                 "width": "width", "deep": "width", "depth": "width", "long": "length",
                 "length": "length"}


def _size(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    # "How tall is X" asks for the box height, "how wide" for its shorter horizontal
    # side; VSI-Bench's "longest dimension (length, width, or height)" stays "longest".
    word = m.groupdict().get("dim")
    dimension = _DIMENSION_OF[word] if word else "longest"
    return QueryRequest(QueryKind.SIZE, target=m["t"], length_unit=_unit(low),
                        size_dimension=dimension, options=options)


def _room(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    return QueryRequest(QueryKind.ROOM_SIZE, options=options)


def _nearest(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    candidates = _split_list(m["c"])
    if len(candidates) < 2:
        raise QuestionNotUnderstoodError("a 'which is closest' question needs at least two "
                                         "candidates")
    return QueryRequest(QueryKind.NEAREST, reference=m["r"], candidates=candidates,
                        use_centers=bool(re.search(r"\bcent(?:er|re)s?\b", low)),
                        options=options)


def _direction(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    rest = m.groupdict().get("rest") or ""
    if "front-left" in rest or "quadrant" in rest:
        mode = QUADRANT
    elif "back" in rest:
        mode = LEFT_RIGHT_BACK
    elif "left" in rest and "right" in rest:
        mode = LEFT_RIGHT
    else:
        mode = ""
    return QueryRequest(QueryKind.RELATIVE_DIRECTION, target=m["c"], reference=m["a"],
                        facing=m["b"], direction_mode=mode, options=options)


def _locate(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    return QueryRequest(QueryKind.LOCATE, target=m["t"], options=options)


def _turn(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    return QueryRequest(QueryKind.TURN, target=m["t"], options=options)


def _order(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    return QueryRequest(QueryKind.APPEARANCE_ORDER, candidates=_split_list(m["c"]),
                        options=options)


_ACTION_RE = re.compile(r"(?:^|\s)\d+\.\s+")
_GO_RE = re.compile(r"^go forward until (?:you reach )?(?:the |a |an )?(?P<w>.+?)\.?$")


def _route(m: re.Match, low: str, options: list[str]) -> QueryRequest:
    tail = low[m.end():]
    split_at = tail.rfind("):")
    actions_text = tail[split_at + 2:] if split_at >= 0 else tail
    actions_text = re.sub(r"\s*you have reached the final destination\.?\s*$", "",
                          actions_text)
    actions = [a.strip() for a in _ACTION_RE.split(" " + actions_text.strip()) if a.strip()]
    waypoints: list[str] = []
    fill_in: list[bool] = []
    pending = False
    for action in actions:
        if action.startswith("[please fill in]"):
            pending = True
            continue
        go = _GO_RE.match(action)
        if go:
            waypoints.append(go["w"].strip())
            fill_in.append(pending)
            pending = False
        elif action.startswith("turn "):
            pending = False
        else:
            raise QuestionNotUnderstoodError(f"route action not understood: {action!r}")
    if not waypoints:
        waypoints = [m["c"]]
        fill_in = [pending]
    return QueryRequest(QueryKind.ROUTE, target=waypoints[-1], reference=m["a"],
                        facing=m["b"], candidates=waypoints[:-1], route_fill_in=fill_in,
                        options=options)


Builder = Callable[[re.Match, str, list[str]], QueryRequest]

_RULES: tuple[tuple[re.Pattern, Builder], ...] = tuple(
    (re.compile(pattern), builder) for pattern, builder in (
        # VSI-Bench phrasings first: they are the most specific.
        (rf"^how many {_n('t')}(?: are| is)?(?: there)?(?: in (?:this|the|my) {_ROOM})?"
         rf"(?: (?:do you see|can you see|are there))?$", _count),
        (rf"^measuring from the closest point of each object, what is the direct distance "
         rf"between {_n('a')} and {_n('b')}(?: \(in (?:meters|metres|centimeters)\))?$",
         _distance),
        (rf"^what is the length of the longest dimension \(length, width, or height\) of "
         rf"{_n('t')}, measured in (?:centimeters|centimetres|meters|metres)$", _size),
        (rf"^what is the (?:size|floor area|area) of (?:this|the) {_ROOM}(?: \(in square "
         rf"(?:meters|metres)\))?(?:\? if multiple rooms are shown.*)?$", _room),
        (rf"^measuring from the closest point of each object, which of these objects "
         rf"\((?P<c>[^)]+)\) is (?:the )?closest to {_n('r')}$", _nearest),
        (rf"^if i am standing by {_n('a')} and facing {_n('b')}, is {_n('c')} to my "
         rf"(?P<rest>.+)$", _direction),
        (rf"^you are a robot beginning at {_n('a')} and facing {_n('b')}\. you want to "
         rf"navigate to {_n('c')}\.", _route),
        (r"^what will be the first-time appearance order of the following categories in "
         r"the video: (?P<c>.+)$", _order),
        # Robot phrasings.
        (rf"^(?:which way|which direction|how|where) (?:should|do|must|shall|would|can) i "
         rf"turn to (?:face|look at|see) {_n('t')}$", _turn),
        (rf"^(?:turn|face) (?:to|toward|towards)? ?{_n('t')}$", _turn),
        (rf"^(?:how far am i from|what is the distance to|how far away is) {_n('t')}$",
         _locate),
        (rf"^(?:how far|what is the distance|what's the distance|how far apart)(?: is| are)?"
         rf"(?: it)? (?:from |between )?{_n('a')} (?:from|to|and) {_n('b')}"
         rf"(?: in (?:meters|metres|centimeters|centimetres|cm))?$", _distance),
        (rf"^how far is {_n('t')}(?: from me| away)?$", _locate),
        (rf"^(?:how big|how large|what size|how much space|what is the size|"
         rf"what is the area|what is the floor area)(?: is| of)? (?:this|the|my) {_ROOM}"
         rf"(?: in square (?:meters|metres))?$", _room),
        (rf"^(?:how big|how large|how (?P<dim>long|tall|high|wide|deep)|what size|"
         rf"what is the size)(?: is| are| of)? {_n('t')}"
         rf"(?: in (?:meters|metres|centimeters|centimetres|cm))?$", _size),
        (rf"^what is the (?P<dim>height|width|depth|length) of {_n('t')}"
         rf"(?: in (?:meters|metres|centimeters|centimetres|cm))?$", _size),
        (rf"^(?:where is|where's|where are|where can i find|find|locate|show me) {_n('t')}$",
         _locate),
        (rf"^if i (?:stand|am standing|were standing) (?:by|at|next to|near) {_n('a')} "
         rf"(?:and )?facing {_n('b')},? (?:where is|is) {_n('c')}(?P<rest> to my .+)?$",
         _direction),
        (rf"^which (?:object |one )?(?:of these |of )?(?:is )?(?:closest|nearest|nearer|"
         rf"closer) to {_n('r')}[:,]? (?P<c>.+)$", _nearest),
        (r"^(?:in )?(?:what|which) order (?:did|were) (?:you see |i see )?(?:the )?"
         r"(?P<c>.+?)(?: seen| appear(?:ed)?)?$", _order),
    ))


def read_question(question: str, options: Sequence[str] = ()) -> QueryRequest:
    """The structured request for ``question`` (at most ``MAX_QUESTION_CHARS``);
    ``options`` are the multiple-choice answers (the engine will pick one of them).
    Raises :class:`QuestionNotUnderstoodError` naming what could not be read."""
    if not isinstance(question, str):
        raise QuestionNotUnderstoodError(f"question must be text, got {type(question).__name__}")
    if len(question) > MAX_QUESTION_CHARS:
        # Also bounds the regular expressions' work (their lazy names backtrack).
        raise QuestionNotUnderstoodError(f"the question is {len(question)} characters long; "
                                         f"the limit is {MAX_QUESTION_CHARS}")
    text = " ".join(question.split())
    low = text.lower().strip()
    opts = [str(o) for o in options]
    full = re.sub(r"\((e?s)\)", r"\1", low).rstrip(" ?!")
    for pattern, builder in _RULES:
        m = pattern.match(full) or pattern.match(full.rstrip("."))
        if m:
            request = builder(m, full, opts)
            request.question = text
            return request
    if not low:
        raise QuestionNotUnderstoodError("the question is empty")
    raise QuestionNotUnderstoodError(
        f"could not read {text[:80]!r}; try e.g. 'where is the lamp', 'how far is the sofa "
        "from the tv', 'which way do I turn to face the fridge', 'how many chairs are there'")
