"""Health of the node's inputs, without ROS: rates, staleness, silence, depth units.

The node's /diagnostics level follows diagnostic_updater's rules (OK < WARN < ERROR, the
worst check wins, the message is the worst checks' messages) with checks computed here
over a recent window, so a WARN clears once its cause stops:

* :class:`InputMonitor`: arrival times of one subscribed input; rate [Hz] over the window,
  staleness [s]; ERROR when nothing arrived for ``timeout_s`` (since subscribing, or since
  the last message), WARN when the rate is below the expected minimum.
* :class:`HealthBoard`: the monitors of the open inputs plus event checks that other code
  reports (:meth:`HealthBoard.report`: a depth-unit problem, a dropped frame) and that
  expire after the window; :meth:`HealthBoard.evaluate` returns the level, the message,
  the per-input values and which checks started or cleared since the last call (the
  node logs each once).
* :func:`depth_unit_problem`: the median depth of a frame out of a room's range for the
  declared encoding and ``depth_scale_m``, with the likely cause ("looks like millimetres
  in 32FC1", "looks like metres in 16UC1").

Times are seconds of one monotonic clock passed in by the caller (tests pass their own).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

OK, WARN, ERROR = 0, 1, 2
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}
#: Median depth of a plausible indoor view [m]: nearer than this or further is suspect.
ROOM_DEPTH_RANGE_M = (0.25, 12.0)
#: Fewest valid pixels for a median worth judging.
MIN_DEPTH_SAMPLES = 100


@dataclass(frozen=True)
class Check:
    """One failing check: a stable ``key`` (``input.depth``, ``depth_units``), its level
    and the operator's message (what is wrong and the likely fix)."""

    key: str
    level: int
    message: str


@dataclass
class InputMonitor:
    """Arrivals of one subscribed input (see the module docstring).

    Args:
        name: the input's short name (``color``, ``depth``, ``camera_info``, ...).
        topic: its resolved topic name (namespace and remaps applied).
        opened_s: when the subscription was made.
        window_s: the rate window [s].
        min_rate_hz: below this rate (over a full window) the input is WARN.
        timeout_s: this long without a message is ERROR.
        hint: appended to the no-data message (what this input is needed for).
        remap_from: the node's own (relative) name of the input, for the remap hint.
    """

    name: str
    topic: str
    opened_s: float
    window_s: float
    min_rate_hz: float
    timeout_s: float
    hint: str = ""
    remap_from: str = ""
    _stamps: deque = field(default_factory=deque)
    last_s: float | None = None
    count: int = 0

    def arrived(self, now_s: float) -> None:
        self.count += 1
        self.last_s = now_s
        self._stamps.append(now_s)
        self._trim(now_s)

    def _trim(self, now_s: float) -> None:
        while self._stamps and self._stamps[0] < now_s - self.window_s:
            self._stamps.popleft()

    def rate_hz(self, now_s: float) -> float:
        """Arrivals per second over the window (or since opening, when shorter)."""
        self._trim(now_s)
        span = min(self.window_s, max(now_s - self.opened_s, 1e-3))
        return len(self._stamps) / span

    def staleness_s(self, now_s: float) -> float | None:
        """Seconds since the last message; None before the first."""
        return None if self.last_s is None else now_s - self.last_s

    def check(self, now_s: float, publishers: int | None = None,
              similar: list[str] | None = None) -> Check | None:
        """ERROR for silence, WARN for a low rate, None when healthy. ``publishers``
        (the graph's publisher count on the topic) and ``similar`` (topics of the graph
        with the same last two name parts) make the no-data message name the fix."""
        key = f"input.{self.name}"
        if self.last_s is None:
            waited = now_s - self.opened_s
            if waited < self.timeout_s:
                return None
            return Check(key, ERROR, f"no message on {self.topic} in {waited:.0f} s "
                         f"({self.name}): {self._fix(publishers, similar)}{self.hint}")
        age = now_s - self.last_s
        if age >= self.timeout_s:
            return Check(key, ERROR, f"{self.topic} ({self.name}) went silent: last message "
                         f"{age:.0f} s ago")
        if now_s - self.opened_s >= self.window_s and self.min_rate_hz > 0.0:
            rate = self.rate_hz(now_s)
            if rate < self.min_rate_hz:
                return Check(key, WARN, f"{self.topic} ({self.name}) at {rate:.2f} Hz, below "
                             f"the expected {self.min_rate_hz:g} Hz")
        return None

    def _fix(self, publishers: int | None, similar: list[str] | None) -> str:
        if publishers:
            return (f"{publishers} publisher(s) but nothing received: a QoS mismatch "
                    "(sensor_qos_reliability best_effort receives from every publisher; "
                    "reliable only from reliable ones) or the publisher sends nothing")
        fix = "no publisher on it"
        if similar:
            fix += (f"; the graph has {', '.join(similar[:3])}: remap "
                    f"(-r {self.remap_from or self.topic}:={similar[0]}) or set the namespace "
                    "(-r __ns:=...)")
        else:
            fix += (f": remap it to your camera's topic (-r {self.remap_from or self.topic}:="
                    "<topic>), start the node in the camera's namespace (-r __ns:=/camera), "
                    "or start the camera")
        return fix


@dataclass
class _Event:
    check: Check
    last_s: float


class HealthBoard:
    """The node's input checks (see the module docstring). Thread-safe: the input
    callbacks, the frame worker and the diagnostics timer call it.

    Args:
        window_s: the recent window of rates and of reported events [s].
        min_rate_hz, timeout_s: defaults of :meth:`open_input`.
        log: called as ``log(started, check)`` once when a check starts failing
            (``started`` True) and once when it clears (False).
    """

    def __init__(self, window_s: float, min_rate_hz: float, timeout_s: float,
                 log: Callable[[bool, Check], None] | None = None) -> None:
        self.window_s = float(window_s)
        self.min_rate_hz = float(min_rate_hz)
        self.timeout_s = float(timeout_s)
        self._log = log
        self._lock = threading.Lock()
        self._monitors: dict[str, InputMonitor] = {}
        self._groups: list[tuple[str, tuple[str, ...]]] = []
        self._synced: list[str] = []
        self._events: dict[str, _Event] = {}
        self._failing: dict[str, Check] = {}

    def open_input(self, name: str, topic: str, now_s: float, hint: str = "",
                   required: bool = True, synced: bool = False, remap_from: str = "") -> None:
        """Watch ``name`` on ``topic`` from ``now_s``. A non-required input (one of a
        group, see :meth:`require_one_of`) has a rate and staleness but no ERROR alone;
        ``synced`` inputs form the synchronised set (a missing one is named)."""
        with self._lock:
            if synced:
                self._synced.append(name)
            self._monitors[name] = InputMonitor(
                name, topic, now_s, self.window_s, self.min_rate_hz if required else 0.0,
                self.timeout_s if required else float("inf"), hint, remap_from)

    def require_one_of(self, label: str, names: tuple[str, ...]) -> None:
        """ERROR when none of the inputs ``names`` has data (alternatives, such as the
        ``camera_pose`` and ``odom`` topics)."""
        with self._lock:
            self._groups.append((label, tuple(names)))

    def close_inputs(self) -> None:
        """The subscriptions are gone (deactivate): no input checks until reopened."""
        with self._lock:
            self._monitors.clear()
            self._groups.clear()
            self._synced.clear()

    def arrived(self, name: str, now_s: float) -> None:
        with self._lock:
            monitor = self._monitors.get(name)
            if monitor is not None:
                monitor.arrived(now_s)

    def report(self, check: Check, now_s: float) -> None:
        """An event check (it fails until ``window_s`` after its last report)."""
        with self._lock:
            self._events[check.key] = _Event(check, now_s)

    def topic_of(self, name: str) -> str | None:
        with self._lock:
            monitor = self._monitors.get(name)
            return None if monitor is None else monitor.topic

    def evaluate(self, now_s: float, publishers: Callable[[str], int] | None = None,
                 topics: list[str] | None = None) -> tuple[int, str, dict[str, str]]:
        """(level, message, values) now, logging checks that started or cleared.

        ``publishers(topic)`` counts the graph's publishers and ``topics`` lists the
        graph's topic names; both only sharpen the no-data messages."""
        with self._lock:
            checks: list[Check] = []
            values: dict[str, str] = {}
            for name, mon in self._monitors.items():
                values[f"input.{name}.topic"] = mon.topic
                values[f"input.{name}.rate_hz"] = f"{mon.rate_hz(now_s):.2f}"
                stale = mon.staleness_s(now_s)
                values[f"input.{name}.stale_s"] = "never" if stale is None else f"{stale:.2f}"
                pubs = similar = None
                if mon.last_s is None and now_s - mon.opened_s >= mon.timeout_s:
                    pubs = publishers(mon.topic) if publishers else None
                    similar = _similar_topics(mon.topic, topics or [])
                check = mon.check(now_s, pubs, similar)
                if check is not None:
                    checks.append(check)
            synced = [self._monitors[n] for n in self._synced if n in self._monitors]
            missing = [m for m in synced if m.last_s is None]
            if missing and len(missing) < len(synced) and \
                    now_s - min(m.opened_s for m in missing) >= self.timeout_s:
                present = ", ".join(m.name for m in synced if m.last_s is not None)
                checks.append(Check("sync", ERROR, "sync: no set can be matched, "
                                    f"{', '.join(f'{m.name} ({m.topic})' for m in missing)} "
                                    f"missing while {present} arrive"))
            for label, names in self._groups:
                group = [self._monitors[n] for n in names if n in self._monitors]
                if group and all(m.last_s is None for m in group) and \
                        now_s - min(m.opened_s for m in group) >= self.timeout_s:
                    listed = " or ".join(m.topic for m in group)
                    checks.append(Check(f"input.{label}", ERROR, f"no {label} on {listed} in "
                                        f"{self.timeout_s:.0f} s: frames wait for a pose; "
                                        "remap or namespace the pose topic, or use tf"))
            for key in [k for k, e in self._events.items()
                        if now_s - e.last_s > self.window_s]:
                del self._events[key]
            checks += [e.check for e in self._events.values()]
            transitions = self._transitions(checks)
        if self._log is not None:
            for started, check in transitions:
                self._log(started, check)
        if not checks:
            return OK, "", values
        level = max(c.level for c in checks)
        worst = [c.message for c in sorted(checks, key=lambda c: (-c.level, c.key))]
        return level, "; ".join(worst), values

    def _transitions(self, checks: list[Check]) -> list[tuple[bool, Check]]:
        now = {c.key: c for c in checks}
        out = [(True, c) for k, c in now.items()
               if k not in self._failing or self._failing[k].level != c.level]
        out += [(False, c) for k, c in self._failing.items() if k not in now]
        self._failing = now
        return out


def _similar_topics(topic: str, graph_topics: list[str]) -> list[str]:
    """Topics of the graph ending in the same last two name parts as ``topic`` (for
    ``/color/image_raw``: ``/camera/color/image_raw``), other than ``topic`` itself."""
    tail = "/" + "/".join(topic.strip("/").split("/")[-2:])
    return sorted(t for t in graph_topics if t != topic and t.endswith(tail))


def depth_unit_problem(depth: np.ndarray, encoding: str, depth_scale_m: float) -> str | None:
    """A message when the median valid depth of ``depth`` (H, W) is out of a room's range
    (:data:`ROOM_DEPTH_RANGE_M`) for its ``encoding`` (``32FC1``: metres; ``16UC1`` or
    ``mono16``: units of ``depth_scale_m`` metres), naming the likely unit mix-up; None
    when plausible or when too few pixels are valid to judge."""
    values = np.asarray(depth)
    valid = values[np.isfinite(values) & (values > 0)] if values.dtype.kind == "f" \
        else values[values > 0]
    if valid.size < MIN_DEPTH_SAMPLES:
        return None
    median_raw = float(np.median(valid))
    lo, hi = ROOM_DEPTH_RANGE_M
    if encoding == "32FC1":
        median_m = median_raw
        if lo <= median_m <= hi:
            return None
        if lo <= median_m * 1e-3 <= hi:
            return (f"depth looks like millimetres in 32FC1 (median {median_raw:.0f}): 32FC1 "
                    "depth must be metres; publish metres, or 16UC1 millimetres with "
                    "depth_scale_m 0.001")
        return f"median depth {median_m:.3g} m (32FC1) is outside a room's range"
    if encoding in ("16UC1", "mono16"):
        median_m = median_raw * depth_scale_m
        if lo <= median_m <= hi:
            return None
        if lo <= median_raw <= hi:
            return (f"depth looks like metres in {encoding} (median {median_raw:.0f} units = "
                    f"{median_m:.3g} m at depth_scale_m {depth_scale_m:g}): 16-bit depth "
                    "holds integer millimetres; publish millimetres or 32FC1 metres")
        for scale in (0.001, 0.0002, 0.0001):
            if scale != depth_scale_m and lo <= median_raw * scale <= hi:
                return (f"median depth {median_m:.3g} m at depth_scale_m {depth_scale_m:g} "
                        f"is outside a room's range; depth_scale_m {scale:g} gives "
                        f"{median_raw * scale:.2f} m")
        return f"median depth {median_m:.3g} m ({encoding}) is outside a room's range"
    return None
