"""VSI-Bench phrasings for the rule-based reader.

VSI-Bench asks its questions in fixed templates (absolute distance, object size, room
size, relative distance, relative direction in three variants, route plan, appearance
order; its object-count template "how many X are in this room" is a robot phrasing
too). These rules read them into core :class:`QueryRequest` s with the builders of
:mod:`ssr_ros.core.freetext`; :data:`RULES` tries them before the robot's phrasings,
which stay in core, so a benchmark question and a robot's question reach the same query
engine.

A route plan is a fill-in question: its steps list the waypoints, with
``[please fill in]`` where a turn is asked. :func:`read_route_plan` gives the waypoints
and one flag per leg, True where the turn before that leg is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ssr_ros.core.freetext import (ROBOT_RULES, ROOM_PATTERN, QuestionNotUnderstoodError, Rule,
                                   compile_rules, direction_request,
                                   distance_request, name_pattern, nearest_request,
                                   order_request, read_question, room_request, size_request)
from ssr_ros.core.query_types import QueryKind, QueryRequest

_n = name_pattern

_ROUTE_HEAD = re.compile(rf"^you are a robot beginning at {_n('a')} and facing {_n('b')}\. "
                         rf"you want to navigate to {_n('c')}\.")
_ACTION_RE = re.compile(r"(?:^|\s)\d+\.\s+")
_GO_RE = re.compile(r"^go forward until (?:you reach )?(?:the |a |an )?(?P<w>.+?)\.?$")


@dataclass
class RoutePlan:
    """A route plan question read: start ``reference``, initial ``facing``, the
    ``waypoints`` in order (the last is the destination) and ``fill_in`` (one flag per
    leg, True where the turn before it is asked)."""

    reference: str
    facing: str
    waypoints: list[str] = field(default_factory=list)
    fill_in: list[bool] = field(default_factory=list)


def _route_plan(m: re.Match, low: str) -> RoutePlan:
    tail = low[m.end():]
    split_at = tail.rfind("):")
    actions_text = tail[split_at + 2:] if split_at >= 0 else tail
    actions_text = re.sub(r"\s*you have reached the final destination\.?\s*$", "",
                          actions_text)
    actions = [a.strip() for a in _ACTION_RE.split(" " + actions_text.strip()) if a.strip()]
    plan = RoutePlan(m["a"], m["b"])
    pending = False
    for action in actions:
        if action.startswith("[please fill in]"):
            pending = True
            continue
        go = _GO_RE.match(action)
        if go:
            plan.waypoints.append(go["w"].strip())
            plan.fill_in.append(pending)
            pending = False
        elif action.startswith("turn "):
            pending = False
        else:
            raise QuestionNotUnderstoodError(f"route action not understood: {action!r}")
    if not plan.waypoints:
        plan.waypoints = [m["c"]]
        plan.fill_in = [pending]
    return plan


def _route_request(m: re.Match, low: str) -> QueryRequest:
    plan = _route_plan(m, low)
    return QueryRequest(QueryKind.ROUTE, target=plan.waypoints[-1], reference=plan.reference,
                        facing=plan.facing, candidates=plan.waypoints[:-1])


def read_route_plan(question: str) -> RoutePlan | None:
    """The route plan of a VSI-Bench route question, None for any other question.
    Raises :class:`QuestionNotUnderstoodError` for a step it cannot read."""
    low = " ".join(question.split()).lower().strip()
    m = _ROUTE_HEAD.match(low)
    return _route_plan(m, low) if m else None


VSI_RULES: tuple[Rule, ...] = compile_rules((
    (rf"^measuring from the closest point of each object, what is the direct distance "
     rf"between {_n('a')} and {_n('b')}(?: \(in (?:meters|metres|centimeters)\))?$",
     distance_request),
    (rf"^what is the length of the longest dimension \(length, width, or height\) of "
     rf"{_n('t')}, measured in (?:centimeters|centimetres|meters|metres)$", size_request),
    (rf"^what is the (?:size|floor area|area) of (?:this|the) {ROOM_PATTERN}(?: \(in square "
     rf"(?:meters|metres)\))?(?:\? if multiple rooms are shown.*)?$", room_request),
    (rf"^measuring from the closest point of each object, which of these objects "
     rf"\((?P<c>[^)]+)\) is (?:the )?closest to {_n('r')}$", nearest_request),
    (rf"^if i am standing by {_n('a')} and facing {_n('b')}, is {_n('c')} to my "
     rf"(?P<rest>.+)$", direction_request),
    (_ROUTE_HEAD.pattern, _route_request),
    (r"^what will be the first-time appearance order of the following categories in "
     r"the video: (?P<c>.+)$", order_request),
))
"""VSI-Bench's templates, most specific first."""

RULES: tuple[Rule, ...] = VSI_RULES + ROBOT_RULES
"""What the benchmark adapter reads: VSI-Bench's templates, then the robot's phrasings."""


def read_vsi_question(question: str) -> QueryRequest:
    """``question`` (VSI-Bench or robot phrasing) as a core request.
    Raises :class:`QuestionNotUnderstoodError` naming what could not be read."""
    return read_question(question, RULES)
