"""Rule-based reader: a plain question -> a structured :class:`QueryRequest`.

Reads everyday robot phrasings ("where is the lamp", "how far is the sofa from the tv",
"which way do I turn to face the fridge", "how many chairs are there", "how big is the
room", "if I stand by the sofa facing the tv, where is the lamp"). Matching is
case-insensitive on the question with blanks collapsed; names are returned as written
(lower case) and resolved later by :mod:`ssr_ros.core.names`.

A rule is a regular expression over the normalised question and a builder of the
request; :func:`read_question` tries a list of rules in order, :data:`ROBOT_RULES` by
default. The benchmark's phrasings (VSI-Bench) are rules of their own in
:mod:`ssr_ros.eval.vsi_reader`, tried before these by the benchmark adapter.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from ssr_ros.core.query_types import MAX_QUESTION_CHARS, QueryKind, QueryRequest
from ssr_ros.core.relations import LEFT_RIGHT, LEFT_RIGHT_BACK, QUADRANT


class QuestionNotUnderstoodError(ValueError):
    """The reader found no phrasing it knows in the question."""


_NAME = r"(?:the |a |an |my )?(?P<{}>[a-z0-9][a-z0-9 '\-]*?)"
ROOM_PATTERN = r"(?:room|house|home|space|apartment|flat|place|area|map|scene)"
"""Words for the mapped space in a room-size question."""


def name_pattern(group: str) -> str:
    """Pattern of an object name captured as ``group`` (a leading article left out);
    lazy, so the words after it in the rule end it."""
    return _NAME.format(group)


def split_list(text: str) -> list[str]:
    """Names of a list written "a, b, and c" / "a or b", articles dropped."""
    parts = re.split(r"\s*,\s*(?:or\s+|and\s+)?|\s+or\s+|\s+and\s+", text.strip())
    return [re.sub(r"^(?:the|a|an)\s+", "", p).strip() for p in parts if p.strip()]


def _unit(low: str) -> str:
    return "cm" if re.search(r"\b(?:centimet(?:er|re)s?|cm)\b", low) else "m"


def count_request(m: re.Match, low: str) -> QueryRequest:
    return QueryRequest(QueryKind.COUNT, target=m["t"])


_SELF = frozenset({"me", "here", "myself", "us", "you", "the robot", "robot"})


def distance_request(m: re.Match, low: str) -> QueryRequest:
    if m["b"] in _SELF:
        return QueryRequest(QueryKind.LOCATE, target=m["a"])
    centers = bool(re.search(r"\bcent(?:er|re)s?\b", low))
    return QueryRequest(QueryKind.DISTANCE, target=m["a"], reference=m["b"],
                        use_centers=centers, length_unit=_unit(low))


_DIMENSION_OF = {"tall": "height", "high": "height", "height": "height", "wide": "width",
                 "width": "width", "deep": "width", "depth": "width", "long": "length",
                 "length": "length"}


def size_request(m: re.Match, low: str) -> QueryRequest:
    # "How tall is X" asks for the box height, "how wide" for its shorter horizontal
    # side; VSI-Bench's "longest dimension (length, width, or height)" stays "longest".
    word = m.groupdict().get("dim")
    dimension = _DIMENSION_OF[word] if word else "longest"
    return QueryRequest(QueryKind.SIZE, target=m["t"], length_unit=_unit(low),
                        size_dimension=dimension)


def room_request(m: re.Match, low: str) -> QueryRequest:
    return QueryRequest(QueryKind.ROOM_SIZE)


def nearest_request(m: re.Match, low: str) -> QueryRequest:
    candidates = split_list(m["c"])
    if len(candidates) < 2:
        raise QuestionNotUnderstoodError("a 'which is closest' question needs at least two "
                                         "candidates")
    return QueryRequest(QueryKind.NEAREST, reference=m["r"], candidates=candidates,
                        use_centers=bool(re.search(r"\bcent(?:er|re)s?\b", low)))


def direction_request(m: re.Match, low: str) -> QueryRequest:
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
                        facing=m["b"], direction_mode=mode)


def locate_request(m: re.Match, low: str) -> QueryRequest:
    return QueryRequest(QueryKind.LOCATE, target=m["t"])


def turn_request(m: re.Match, low: str) -> QueryRequest:
    return QueryRequest(QueryKind.TURN, target=m["t"])


def order_request(m: re.Match, low: str) -> QueryRequest:
    return QueryRequest(QueryKind.APPEARANCE_ORDER, candidates=split_list(m["c"]))


# A builder turns a rule's match into a request; the benchmark's own rules
# (ssr_ros.eval.vsi_reader) reuse the ones above.
Builder = Callable[[re.Match, str], QueryRequest]
"""Builds the request from a rule's match and the whole normalised question."""
Rule = tuple[re.Pattern, Builder]

_n = name_pattern


def compile_rules(rules: Sequence[tuple[str, Builder]]) -> tuple[Rule, ...]:
    """``(pattern, builder)`` pairs with their patterns compiled, in order."""
    return tuple((re.compile(pattern), builder) for pattern, builder in rules)


ROBOT_RULES: tuple[Rule, ...] = compile_rules((
    (rf"^how many {_n('t')}(?: are| is)?(?: there)?(?: in (?:this|the|my) {ROOM_PATTERN})?"
     rf"(?: (?:do you see|can you see|are there))?$", count_request),
    (rf"^(?:which way|which direction|how|where) (?:should|do|must|shall|would|can) i "
     rf"turn to (?:face|look at|see) {_n('t')}$", turn_request),
    (rf"^(?:turn|face) (?:to|toward|towards)? ?{_n('t')}$", turn_request),
    (rf"^(?:how far am i from|what is the distance to|how far away is) {_n('t')}$",
     locate_request),
    (rf"^(?:how far|what is the distance|what's the distance|how far apart)(?: is| are)?"
     rf"(?: it)? (?:from |between )?{_n('a')} (?:from|to|and) {_n('b')}"
     rf"(?: in (?:meters|metres|centimeters|centimetres|cm))?$", distance_request),
    (rf"^how far is {_n('t')}(?: from me| away)?$", locate_request),
    (rf"^(?:how big|how large|what size|how much space|what is the size|"
     rf"what is the area|what is the floor area)(?: is| of)? (?:this|the|my) {ROOM_PATTERN}"
     rf"(?: in square (?:meters|metres))?$", room_request),
    (rf"^(?:how big|how large|how (?P<dim>long|tall|high|wide|deep)|what size|"
     rf"what is the size)(?: is| are| of)? {_n('t')}"
     rf"(?: in (?:meters|metres|centimeters|centimetres|cm))?$", size_request),
    (rf"^what is the (?P<dim>height|width|depth|length) of {_n('t')}"
     rf"(?: in (?:meters|metres|centimeters|centimetres|cm))?$", size_request),
    (rf"^(?:where is|where's|where are|where can i find|find|locate|show me) {_n('t')}$",
     locate_request),
    (rf"^if i (?:stand|am standing|were standing) (?:by|at|next to|near) {_n('a')} "
     rf"(?:and )?facing {_n('b')},? (?:where is|is) {_n('c')}(?P<rest> to my .+)?$",
     direction_request),
    (rf"^which (?:object |one )?(?:of these |of )?(?:is )?(?:closest|nearest|nearer|"
     rf"closer) to {_n('r')}[:,]? (?P<c>.+)$", nearest_request),
    (r"^(?:in )?(?:what|which) order (?:did|were) (?:you see |i see )?(?:the )?"
     r"(?P<c>.+?)(?: seen| appear(?:ed)?)?$", order_request),
))
"""The robot's phrasings, tried in this order."""


def read_question(question: str, rules: Sequence[Rule] = ROBOT_RULES) -> QueryRequest:
    """The structured request for ``question`` (at most ``MAX_QUESTION_CHARS``), read by
    the first of ``rules`` that matches it.
    Raises :class:`QuestionNotUnderstoodError` naming what could not be read."""
    if not isinstance(question, str):
        raise QuestionNotUnderstoodError(f"question must be text, got {type(question).__name__}")
    if len(question) > MAX_QUESTION_CHARS:
        # Also bounds the regular expressions' work (their lazy names backtrack).
        raise QuestionNotUnderstoodError(f"the question is {len(question)} characters long; "
                                         f"the limit is {MAX_QUESTION_CHARS}")
    text = " ".join(question.split())
    low = text.lower().strip()
    full = re.sub(r"\((e?s)\)", r"\1", low).rstrip(" ?!")
    for pattern, builder in rules:
        m = pattern.match(full) or pattern.match(full.rstrip("."))
        if m:
            request = builder(m, full)
            request.question = text
            return request
    if not low:
        raise QuestionNotUnderstoodError("the question is empty")
    raise QuestionNotUnderstoodError(
        f"could not read {text[:80]!r}; try e.g. 'where is the lamp', 'how far is the sofa "
        "from the tv', 'which way do I turn to face the fridge', 'how many chairs are there'")
