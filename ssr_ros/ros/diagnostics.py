"""Counters, rates and latencies of ssr_node, reported on /diagnostics.

:class:`NodeStats` is a thread-safe record the subscription callbacks, the worker and the
services update; :meth:`NodeStats.to_status` renders it as one
``diagnostic_msgs/DiagnosticStatus`` whose keys are stable (tests and dashboards read
them): ``received.<input>`` and ``rate_hz.<input>``, ``invalid.<reason>``,
``pose_drop.<reason>``, ``pose.resets`` (pose histories cleared on a clock restart;
topic pose sources only), ``sync.matched``, ``sync.dropped``, ``sync.pending`` (messages
waiting for partners), ``queue.dropped``, ``queue.waiting`` (0 or 1),
``frames.processed``, ``keyframes``, ``proposals.rejected.<reason>`` (object proposals
of keyframes that lifting turned down, every reason of
:data:`~ssr_ros.perception.lifting.REJECTION_REASONS` from the start, spaces as
underscores: ``too_little_valid_depth``, ``too_far``, ...; normal operation, so they do
not raise the level), ``latency_ms.<stage>.p50/p95``, ``map.objects``,
``map.triplets``, ``map.revision``, ``queries``, ``query_errors.<code>``, and the model
bridge's ``model.*`` keys (``model.state``, ``model.reason``, ...; see
:meth:`ssr_ros.model.bridge.ModelBridge.status`).

Level and message follow diagnostic_updater's rules (no ROS 2 wheel of it exists on PyPI,
so the in-package :class:`~ssr_ros.runtime.input_health.HealthBoard` computes them): per
subscribed input ``input.<name>.topic`` (resolved), ``input.<name>.rate_hz`` and
``input.<name>.stale_s``; ERROR for a silent input or an unmatched synchronised set,
WARN for a low rate, a depth-unit mix-up (:class:`DepthUnitCheck`) or inputs dropped
within the last ``input_timeout_s`` (so the level clears); the message is the failing
checks', worst first, each logged once when it starts and once when it clears.

:class:`Throttle` limits repeated logs of the same key; :class:`ProblemLog` counts and
logs (throttled) what the node drops.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Any, Callable, Iterable

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from ssr_ros.perception.lifting import REJECTION_REASONS
from ssr_ros.ros import topics
from ssr_ros.runtime.errors import InvalidMessage, PoseUnavailable
from ssr_ros.runtime.input_health import ERROR, OK, WARN, Check, HealthBoard, \
    depth_unit_problem

LATENCY_WINDOW = 512
#: Seconds between two depth-unit checks (a median of a subsampled frame).
DEPTH_CHECK_PERIOD_S = 1.0


class Throttle:
    """True at most once per ``period_s`` per key (for throttled logging)."""

    def __init__(self, period_s: float) -> None:
        self.period_s = float(period_s)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def ready(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                return False
            self._last[key] = now
            return True


class ProblemLog:
    """Counts dropped inputs and failures in :class:`NodeStats` and logs each reason at
    most once per throttle period (the node's ``log_throttle_s``). ``logger`` is an rclpy
    logger (``warning``/``error`` methods)."""

    def __init__(self, stats: "NodeStats", logger: Any, period_s: float) -> None:
        self.stats = stats
        self.logger = logger
        self.throttle = Throttle(period_s)
        #: the resolved pose topics frames wait on ("" with tf), named in pose warnings
        self.pose_topics = ""

    def reject(self, exc: InvalidMessage) -> None:
        """An input message or frame that cannot be used: ``invalid.<reason>``."""
        self.stats.count_invalid(exc.reason)
        self.stats.report(f"invalid.{exc.reason}", WARN,
                          f"inputs dropped ({exc.reason}): {exc.detail}")
        if self.throttle.ready(f"invalid.{exc.reason}"):
            self.logger.warning(f"dropped input ({exc.reason}): {exc.detail}")

    def pose_drop(self, exc: PoseUnavailable) -> None:
        """A frame without a pose at its stamp: ``pose_drop.<reason>``."""
        self.stats.count_pose_drop(exc.reason)
        waits = f" waiting on {self.pose_topics}" if self.pose_topics else ""
        self.stats.report(f"pose_drop.{exc.reason}", WARN,
                          f"frames skipped, no pose ({exc.reason}){waits}: {exc.detail}")
        if self.throttle.ready(f"pose.{exc.reason}"):
            self.logger.warning(f"frame skipped, no pose ({exc.reason}){waits}: {exc.detail}")

    def failure(self, reason: str, message: str) -> None:
        """Something that should not happen but must not stop the node:
        ``invalid.<reason>`` and an error log."""
        self.stats.count_invalid(reason)
        self.stats.report(f"invalid.{reason}", WARN, message)
        if self.throttle.ready(reason):
            self.logger.error(message)

    def warn(self, reason: str, message: str) -> None:
        """A refused step that is counted as ``invalid.<reason>`` with a warning."""
        self.stats.count_invalid(reason)
        self.stats.report(f"invalid.{reason}", WARN, message)
        if self.throttle.ready(reason):
            self.logger.warning(message)


class NodeStats:
    """Thread-safe counters and latency windows of the node."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: dict[str, int] = defaultdict(int)
        self._rate_mark: tuple[float, dict[str, int]] = (time.monotonic(), {})
        self._rates_hz: dict[str, float] = {}
        self.invalid: dict[str, int] = defaultdict(int)
        self.pose_drops: dict[str, int] = defaultdict(int)
        self.query_errors: dict[int, int] = defaultdict(int)
        #: proposals lifting rejected, by reason (all known reasons listed from the start)
        self.rejected: dict[str, int] = {reason: 0 for reason in REJECTION_REASONS}
        self._latency_ms: dict[str, deque] = defaultdict(lambda: deque(maxlen=LATENCY_WINDOW))
        self.frames_processed = 0
        self.keyframes = 0
        self.queries = 0
        self.saves = 0
        self.save_failures = 0
        #: the input checks (set by the node at configure; None before)
        self.health: HealthBoard | None = None
        #: ``(publishers(topic), topic_names())`` of the ROS graph, for the checks' hints
        self.graph: tuple[Callable[[str], int], Callable[[], list[str]]] | None = None

    def count_received(self, name: str) -> None:
        with self._lock:
            self._received[name] += 1
        health = self.health
        if health is not None:
            health.arrived(name, time.monotonic())

    def report(self, key: str, level: int, message: str) -> None:
        """An event check that fails until the health window passes without a repeat."""
        health = self.health
        if health is not None:
            health.report(Check(key, level, message), time.monotonic())

    def count_invalid(self, reason: str) -> None:
        with self._lock:
            self.invalid[reason] += 1

    def count_pose_drop(self, reason: str) -> None:
        with self._lock:
            self.pose_drops[reason] += 1

    def count_rejections(self, reasons: Iterable[str]) -> None:
        """Proposals of one keyframe that lifting rejected, one reason each."""
        with self._lock:
            for reason in reasons:
                self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def count_query(self, error_code: int) -> None:
        with self._lock:
            self.queries += 1
            if error_code:
                self.query_errors[int(error_code)] += 1

    def count_frame(self, keyframe: bool) -> None:
        with self._lock:
            self.frames_processed += 1
            if keyframe:
                self.keyframes += 1

    def add_latency(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._latency_ms[stage].append(1000.0 * seconds)

    def received(self, name: str) -> int:
        with self._lock:
            return self._received.get(name, 0)

    def latency_percentiles(self, stage: str) -> tuple[float, float] | None:
        """(p50, p95) [ms] of the recent window of ``stage``, or None without samples."""
        with self._lock:
            window = list(self._latency_ms.get(stage, ()))
        if not window:
            return None
        p50, p95 = np.percentile(window, [50, 95])
        return float(p50), float(p95)

    def update_rates(self) -> dict[str, float]:
        """Input rates [Hz] since the previous call."""
        now = time.monotonic()
        with self._lock:
            then, previous = self._rate_mark
            elapsed = max(now - then, 1e-6)
            self._rates_hz = {k: (v - previous.get(k, 0)) / elapsed
                              for k, v in self._received.items()}
            self._rate_mark = (now, dict(self._received))
            return dict(self._rates_hz)

    def to_status(self, name: str, extra: dict[str, Any]) -> DiagnosticStatus:
        """One DiagnosticStatus: WARN when inputs were dropped as invalid or for lack of a
        pose since start, else OK. ``extra`` adds keys (sync, queue, map size)."""
        rates = self.update_rates()
        values: dict[str, Any] = {}
        with self._lock:
            for key, count in sorted(self._received.items()):
                values[f"received.{key}"] = count
                values[f"rate_hz.{key}"] = f"{rates.get(key, 0.0):.2f}"
            for reason, count in sorted(self.invalid.items()):
                values[f"invalid.{reason}"] = count
            for reason, count in sorted(self.pose_drops.items()):
                values[f"pose_drop.{reason}"] = count
            for code, count in sorted(self.query_errors.items()):
                values[f"query_errors.{code}"] = count
            values["frames.processed"] = self.frames_processed
            values["keyframes"] = self.keyframes
            for reason, count in self.rejected.items():
                values[f"proposals.rejected.{reason.replace(' ', '_')}"] = count
            values["queries"] = self.queries
            values["map.saves"] = self.saves
            values["map.save_failures"] = self.save_failures
            stages = list(self._latency_ms)
            any_invalid = bool(self.invalid) or bool(self.pose_drops)
        for stage in sorted(stages):
            pct = self.latency_percentiles(stage)
            if pct is not None:
                values[f"latency_ms.{stage}.p50"] = f"{pct[0]:.2f}"
                values[f"latency_ms.{stage}.p95"] = f"{pct[1]:.2f}"
        values.update(extra)
        level, message = self._health_level(values, any_invalid)
        status = DiagnosticStatus()
        status.name = name
        status.hardware_id = "ssr_node"
        status.level = {OK: DiagnosticStatus.OK, WARN: DiagnosticStatus.WARN,
                        ERROR: DiagnosticStatus.ERROR}[level]
        status.message = message
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        return status


    def _health_level(self, values: dict[str, Any], any_invalid: bool) -> tuple[int, str]:
        """Level and message from the input checks (adding their values), or, before
        configure, from the counters since start."""
        health = self.health
        if health is None:
            return (WARN, "inputs dropped (see invalid.* / pose_drop.*)") if any_invalid \
                else (OK, "running")
        publishers = topic_names = None
        if self.graph is not None:
            publishers, list_topics = self.graph
            topic_names = list_topics()
        level, message, input_values = health.evaluate(time.monotonic(), publishers,
                                                       topic_names)
        values.update(input_values)
        return level, message or "running"


def board_logger(logger: Any) -> Callable[[bool, Check], None]:
    """``HealthBoard``'s log callback: each check once when it starts (warning or error)
    and once when it clears (info)."""
    def log(started: bool, check: Check) -> None:
        if not started:
            logger.info(f"cleared: {check.message}")
        elif check.level >= ERROR:
            logger.error(check.message)
        else:
            logger.warning(check.message)
    return log


def start_input_checks(node: Any, pose_mode: str, timeout_s: float, min_rate_hz: float
                       ) -> tuple[HealthBoard, str]:
    """A :class:`HealthBoard` logging through ``node``'s logger (window and timeout
    ``timeout_s`` [s]), and the resolved pose topics frames wait on for ``pose_mode``
    (``tf``, ``odom``, ``camera_pose`` or ``topics``; "" with tf)."""
    board = HealthBoard(window_s=timeout_s, min_rate_hz=min_rate_hz, timeout_s=timeout_s,
                        log=board_logger(node.get_logger()))
    names = {"camera_pose": [topics.CAMERA_POSE], "odom": [topics.ODOM],
             "topics": [topics.CAMERA_POSE, topics.ODOM]}.get(pose_mode, [])
    return board, " or ".join(node.resolve_topic_name(t) for t in names)


def watch_inputs(board: HealthBoard, node: Any, config: Any, pose_mode: str) -> None:
    """Watch the inputs :class:`~ssr_ros.ros.inputs.CameraInputs` subscribed to for
    ``config`` (a ``NodeConfig``), by their resolved names, from now on."""
    now = time.monotonic()
    color = topics.COLOR_COMPRESSED if config.use_compressed else topics.COLOR
    synced = [("color", color, ""), ("depth", topics.DEPTH, ""),
              ("camera_info", topics.CAMERA_INFO, "")]
    if config.uses_label_image:
        synced.append(("labels", topics.LABELS, (
            f"; proposal_source {config.proposal_source} needs an instance label image"
            " (without one set proposal_source:=detector, or none)")))
    if config.uses_detections:
        synced.append(("detections", topics.DETECTIONS, (
            "; proposal_source detections needs vision_msgs/Detection2DArray from a "
            "detector node")))
    if config.uses_detection_masks:
        synced.append(("detection_masks", topics.DETECTION_MASKS, (
            "; detection_masks needs the segmentation node's instance mask image with "
            "each detection array (without one set detection_masks:=false)")))
    for name, topic, hint in synced:
        board.open_input(name, node.resolve_topic_name(topic), now, hint, synced=True,
                         remap_from=topic)
    if pose_mode in ("camera_pose", "odom"):
        topic = topics.CAMERA_POSE if pose_mode == "camera_pose" else topics.ODOM
        board.open_input(pose_mode, node.resolve_topic_name(topic), now,
                         f"; frames wait for this pose (pose_source {pose_mode})",
                         remap_from=topic)
    elif pose_mode == "topics":
        for name, topic in (("camera_pose", topics.CAMERA_POSE), ("odom", topics.ODOM)):
            board.open_input(name, node.resolve_topic_name(topic), now, required=False,
                             remap_from=topic)
        board.require_one_of("pose", ("camera_pose", "odom"))


def depth_array(msg: Any, step: int = 4) -> np.ndarray | None:
    """Every ``step``-th row and column of a depth ``sensor_msgs/Image`` (32FC1 metres,
    16UC1/mono16 units) as an array, without copying the full image; None for other
    encodings or a malformed message (the decoder reports those)."""
    dtype = {"32FC1": np.float32, "16UC1": np.uint16, "mono16": np.uint16}.get(msg.encoding)
    if dtype is None or msg.height == 0 or msg.width == 0:
        return None
    item = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    if msg.step < msg.width * item.itemsize or len(msg.data) < msg.step * msg.height:
        return None
    rows = np.frombuffer(msg.data, dtype=np.uint8)[:msg.step * msg.height]
    rows = rows.reshape(msg.height, msg.step)
    rows = rows[::step, :msg.width * item.itemsize]
    return np.ascontiguousarray(rows).view(item)[:, ::step].astype(dtype)


class DepthUnitCheck:
    """At most once per :data:`DEPTH_CHECK_PERIOD_S`, the depth-unit plausibility check
    (:func:`~ssr_ros.runtime.input_health.depth_unit_problem`) of a frame set's depth
    image, reported to ``stats`` as the ``depth_units`` WARN (it clears when good frames
    follow for the health window)."""

    def __init__(self, stats: NodeStats) -> None:
        self._stats = stats
        self._next_s = 0.0

    def maybe_check(self, depth_msg: Any, depth_scale_m: float) -> None:
        now = time.monotonic()
        if now < self._next_s:
            return
        self._next_s = now + DEPTH_CHECK_PERIOD_S
        depth = depth_array(depth_msg)
        if depth is None:
            return
        problem = depth_unit_problem(depth, depth_msg.encoding, depth_scale_m)
        if problem is not None:
            self._stats.report("depth_units", WARN, problem)


def status_values(status: DiagnosticStatus) -> dict[str, str]:
    """A DiagnosticStatus's key/values as a dict (for clients and tests)."""
    return {kv.key: kv.value for kv in status.values}
