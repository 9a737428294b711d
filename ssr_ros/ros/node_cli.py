"""ssr_node's process edge: ``--help`` and stopping on SIGINT/SIGTERM.

``--help``/``-h`` is answered from the parameter declarations (:data:`PARAMETERS`) and the
topic names (:mod:`ssr_ros.ros.topics`) before ``rclpy.init``: no node, no DDS participant.

Signals: :class:`StopSignals` installs Python handlers for SIGINT and SIGTERM (rclpy's own
are not installed, so one path stops the node). The first signal raises
:class:`StopRequested` in the main thread, which unwinds whatever it is doing (spinning or
a transition) into ``main``'s teardown: save a dirty map, destroy the node, shut rclpy
down. A later signal is only logged. A watchdog thread ends the process with
``os._exit`` when that teardown has not finished ``grace_s`` after the first signal, so a
blocked teardown can never keep the process alive.

SIGINT inherited as ignored (a node started with ``&`` by a non-interactive shell) is
handled anyway: a node is a long-running service whose only clean stop is a signal, and
launch systems stop their processes with SIGINT first (docs/reliability-and-security.md).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import textwrap
import threading
import time
from typing import Any, Callable

import rclpy
import rclpy.logging
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions

from ssr_ros.ros import topics
from ssr_ros.ros.params import PARAMETERS

HELP_FLAGS = ("-h", "--help")
#: The environment launch/ssr.launch.py gives the node (its ``additional_env``), listed by
#: ``--help`` for nodes started by hand (a test keeps the two equal).
LAUNCH_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
#: Parameters listed first in ``--help`` (the ones a first run sets); the rest follow.
MAIN_PARAMETERS = ("autostart", "pose_source", "proposal_source", "depth_scale_m", "map_path",
                   "map_frame", "camera_frame", "model.path", "input_timeout_s")


class StopRequested(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM (a BaseException, like
    KeyboardInterrupt, so ``except Exception`` blocks do not swallow it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def wants_help(argv: list[str]) -> bool:
    """True when ``argv`` (without the program name) asks for help before any
    ``--ros-args`` section (after it, ``-h`` would be a ROS argument)."""
    for arg in argv:
        if arg == "--ros-args":
            return False
        if arg in HELP_FLAGS:
            return True
    return False


def _format_default(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else repr(v)
                               for v in value) + "]"
    return str(value)


def usage() -> str:
    """The ``ssr_node --help`` text: how to run it, the parameters (default and the
    description of each declaration), the topics and services."""
    wrap = dict(width=99, initial_indent="      ", subsequent_indent="      ")
    lines = [
        "usage: ssr_node [-h] [--ros-args [--params-file FILE] [-p NAME:=VALUE]... "
        "[-r FROM:=TO]...]",
        "",
        "ssr_node: a lifecycle node that maps objects from a synchronised RGB-D stream and",
        "answers spatial queries. Without autostart:=true it waits, unconfigured, for a",
        "lifecycle manager (configure, then activate).",
        "",
        "parameters file: --ros-args --params-file config/ssr.yaml (the defaults below;",
        "  installed under share/ssr_ros/config/ssr.yaml)",
        "",
        "parameters (name = default: description):",
    ]
    names = [n for n in MAIN_PARAMETERS if n in PARAMETERS]
    names += [n for n in PARAMETERS if n not in names]
    for name in names:
        spec = PARAMETERS[name]
        lines.append(f"  {name} = {_format_default(spec.default)}")
        lines += textwrap.wrap(spec.description, **wrap)
    lines += [
        "",
        "subscribed topics (relative: a namespace or -r remaps place them):",
        f"  {topics.COLOR}, {topics.DEPTH}, {topics.CAMERA_INFO} (synchronised);",
        f"  {topics.COLOR_COMPRESSED} with use_compressed; {topics.LABELS} and "
        f"{topics.LABEL_NAMES}",
        f"  with proposal_source labels/boxes; {topics.CAMERA_POSE} or {topics.ODOM} "
        "without tf",
        "published: "
        f"{topics.SCENE_GRAPH}, {topics.MARKERS}, {topics.DIAGNOSTICS}",
        f"services: {topics.SPATIAL_QUERY}, {topics.SAVE_MAP}, {topics.LOAD_MAP}, "
        f"{topics.CLEAR_MAP}",
        "",
        "environment (read when the process starts; launch/ssr.launch.py sets these, a",
        "node started by hand gets them from its shell):",
        *(f"  {name}={value}" for name, value in LAUNCH_ENV.items()),
        "  one BLAS/OpenMP thread: the node's matrices are small, and a helper thread only",
        "  spins (raise them for a model run on the CPU)",
        "",
        "examples:",
        "  ssr_node --ros-args -p autostart:=true -p pose_source:=camera_pose",
        "  " + " ".join(f"{k}={v}" for k, v in LAUNCH_ENV.items())
        + " ssr_node --ros-args -p autostart:=true",
        "  ssr_node --ros-args -r __ns:=/camera --params-file config/ssr.yaml "
        "-p autostart:=true",
    ]
    return "\n".join(lines) + "\n"


class StopSignals:
    """SIGINT/SIGTERM handling of ``main`` (see the module docstring).

    Args:
        log: called with one line when a signal arrives (from the main thread).
        grace_s: the teardown's time limit after the first signal [s].
        on_timeout: called by the watchdog before ``os._exit(1)`` (a last log line).
    """

    def __init__(self, log: Callable[[str], None], grace_s: float,
                 on_timeout: Callable[[], None]) -> None:
        self._log = log
        self.grace_s = float(grace_s)
        self._on_timeout = on_timeout
        self._done = threading.Event()
        self.received: int | None = None
        self.received_at: float | None = None   # time.monotonic() of the first signal
        self.inherited_ignored_sigint = False

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on (main thread only)."""
        self.inherited_ignored_sigint = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._handle)

    def stopping(self) -> None:
        """The teardown begins (after a signal or not): a signal from now on only logs and
        arms the watchdog, so it cannot cut the teardown short."""
        if self.received is None:
            self.received = 0

    def finished(self) -> None:
        """The teardown is complete: the watchdog stands down."""
        self._done.set()

    def _handle(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            self._log(f"{name} received: already stopping")
            if self.received == 0:  # the teardown began without a signal: bound it too
                self.received = signum
                threading.Thread(target=self._watchdog, name="ssr-stop-watchdog",
                                 daemon=True).start()
            return
        self.received = signum
        self.received_at = time.monotonic()
        threading.Thread(target=self._watchdog, name="ssr-stop-watchdog", daemon=True).start()
        raise StopRequested(signum)

    def _watchdog(self) -> None:
        if self._done.wait(self.grace_s):
            return
        self._on_timeout()
        os._exit(1)


def logs_its_failure(transition: str) -> Callable:
    """Wrap a lifecycle transition callback so that an exception is logged with its type
    and message through the node's ``_failed(transition, exc)`` (rclpy turns it into the
    error transition silently), then return ERROR as rclpy would (on_error tears down)."""
    def wrap(callback: Callable) -> Callable:
        @functools.wraps(callback)
        def run(self: Any, state: Any) -> TransitionCallbackReturn:
            try:
                return callback(self, state)
            except Exception as exc:
                self._failed(transition, exc)
                return TransitionCallbackReturn.ERROR
        return run
    return wrap


#: Longest teardown after SIGINT/SIGTERM before the process exits regardless [s].
STOP_GRACE_S = 3.0
#: After a signal, the DDS part of the teardown (executor, node, rclpy) gets until this
#: long after the signal [s]; past it the map is already saved, so the process logs that
#: and exits without waiting (peers then drop its endpoints at their lease timeout).
#: Leaves the interpreter's own exit within the promised second.
DDS_TEARDOWN_BUDGET_S = 0.6
#: Longest executor wait: a signal is acted on within this [s].
SPIN_PERIOD_S = 0.1


def run_node(make_node: Callable[[], Any], argv: list[str]) -> int:
    """Run the node ``make_node()`` builds until SIGINT or SIGTERM, then save a dirty map
    and tear down (``ssr_node``'s main).

    ``--help``/``-h`` prints the usage and returns 0 before rclpy is initialised (no node,
    no DDS). Signals are handled by :class:`StopSignals` in every lifecycle state; the
    teardown is bounded by ``STOP_GRACE_S`` (:mod:`ssr_ros.ros.node_cli`)."""
    if wants_help(argv):
        sys.stdout.write(usage())
        return 0
    log = rclpy.logging.get_logger("ssr_node.lifecycle")
    signals = StopSignals(lambda line: log.info(line), STOP_GRACE_S, lambda: log.error(
        f"teardown did not finish within {STOP_GRACE_S:.1f} s of the signal: exiting now"))
    signals.install()
    node = executor = None
    code = 0
    try:
        # rclpy's own handlers stay off: StopSignals is the one stop path (raising in the
        # main thread reaches a transition in progress too, a guard condition does not).
        rclpy.init(args=[sys.argv[0]] + argv,
                   signal_handler_options=SignalHandlerOptions.NO)
        if signals.inherited_ignored_sigint:
            log.info("SIGINT was ignored by the parent process; ssr_node handles it anyway")
        node = make_node()
        # One thread: every executor callback is short; the frame worker and model
        # questions have threads of their own (docs/architecture.md, "Threads").
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        if node.get_parameter("autostart").value:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                log.error(f"autostart: configure failed: {node.last_failure}")
                code = 1
            elif node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                log.error(f"autostart: activate failed: {node.last_failure}")
                code = 1
        else:
            log.info("unconfigured: waiting for a lifecycle manager (or set autostart:=true)")
        while code == 0 and rclpy.ok():
            # a bounded wait: the Python signal handler runs between two waits
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except StopRequested as stop:
        log.info(f"{stop}: stopping in state '{_state_label(node)}'")
    except ExternalShutdownException:
        log.info("rclpy was shut down: stopping")
    finally:
        signals.stopping()
        _teardown_process(node, executor, log, signals.received_at)
        signals.finished()
    return code


def _state_label(node: Any) -> str:
    if node is None:
        return "starting"
    try:
        return node.state_label()
    except Exception:  # a label for a log line only
        return "unknown"


def _teardown_process(node: Any, executor: Any, log: Any,
                      signalled_at: float | None = None) -> None:
    """Save a dirty map, log what was done, destroy the node, shut rclpy down. A second
    signal during this is logged and ignored (StopSignals), never raised here.

    After a signal (``signalled_at``, ``time.monotonic()``) the DDS part runs in a thread
    of its own and gets until ``DDS_TEARDOWN_BUDGET_S`` after the signal: on a loaded
    machine destroying the node's entities and the participant has taken over a second
    (test_signals), and the stop is promised within one. Past the budget the map is
    saved already: the process logs it and exits at once (``os._exit(0)``)."""
    if node is not None:
        saved, message = node.save_map_now("shutdown")
        log.info(f"map {'saved' if saved else 'not saved'} at stop: {message}")

    def dds_teardown() -> None:
        if executor is not None:
            executor.shutdown(timeout_sec=0.5)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()

    if signalled_at is None:
        dds_teardown()
        log.info("stopped")
        return
    worker = threading.Thread(target=dds_teardown, name="ssr-dds-teardown", daemon=True)
    worker.start()
    worker.join(max(0.0, signalled_at + DDS_TEARDOWN_BUDGET_S - time.monotonic()))
    if not worker.is_alive():
        log.info("stopped")
        return
    log.warning(f"stopped: the DDS teardown was not done {DDS_TEARDOWN_BUDGET_S:.1f} s "
                "after the signal; exiting without it (the map is saved)")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
