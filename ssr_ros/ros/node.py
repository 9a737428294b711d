"""``ssr_node``: the lifecycle node that maps objects from RGB-D and answers spatial
queries. This file is the lifecycle and the wiring; the parts live in their modules.

* configure: read parameters, load the model (``model.path``; one that cannot load FAILS
  the transition with the reason, and configure can be tried again once the parameter
  is fixed) and the name embedder (``names.embeddings``, same rule), then build the parts
  (:class:`NodeParts`), load the saved map and start the frame worker. Queries are
  answered from here on (inactive included).
* activate: subscribe to the camera streams and the pose topics; start publishing.
* deactivate: unsubscribe; the map and the services stay.
* cleanup: save, then stop the worker and destroy every part; shutdown: save and stop.

Threads: ``main`` spins a single-threaded executor that runs only short callbacks
(store a message, answer a geometric query, publish on a timer, lifecycle transitions).
The frame worker (:mod:`ssr_ros.runtime.worker` says why it is a thread) maps frames
with :class:`~ssr_ros.ros.frame_mapper.FrameMapper` under ``_frame_lock``; a teardown
stops the worker and takes the same lock, so it waits for the frame in flight instead
of freeing the parts under it. docs/architecture.md describes the parts and the state.

Process edge (:mod:`ssr_ros.ros.node_cli`): ``--help`` answers without rclpy; SIGINT and
SIGTERM stop the node from any state, saving a changed map (docs/reliability-and-security.md).
Every failed transition logs the exception's type and message.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
from typing import Any, Callable

import rclpy
import rclpy.logging
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node, State, TransitionCallbackReturn
from rclpy.signals import SignalHandlerOptions
from rcl_interfaces.msg import SetParametersResult

from ssr_ros.core.frames import PosedFrame
from ssr_ros.model.errors import ModelError
from ssr_ros.ros.diagnostics import (DepthUnitCheck, NodeStats,
                                     ProblemLog, start_input_checks, watch_inputs)
from ssr_ros.ros.inputs import FrameSet
from ssr_ros.ros.node_cli import StopRequested, StopSignals, usage, wants_help
from ssr_ros.ros.params import (NodeConfig, configure_time_problem, declare_parameters,
                                read_config, validate_parameter)
from ssr_ros.ros.parts import NodeHooks, NodeParts, build_parts, load_models, pose_mode
from ssr_ros.ros.pipeline_factory import build_pipeline_factory, query_vocabulary
from ssr_ros.ros.pose_source import TopicPoseSource, tf_source_available
from ssr_ros.ros.publishing import clock_s
from ssr_ros.runtime.errors import ConfigError
from ssr_ros.runtime.map_state import MapKeeper
from ssr_ros.runtime.worker import FrameWorker, LatestSlot

RUNTIME_PARAMETERS = ("pose_timeout_s", "depth_scale_m", "max_depth_m")
#: Longest teardown after SIGINT/SIGTERM before the process exits regardless [s].
STOP_GRACE_S = 3.0
#: Longest executor wait: a signal is acted on within this [s].
SPIN_PERIOD_S = 0.1


def _logs_its_failure(transition: str) -> Callable:
    """Wrap a transition callback so that an exception is logged with its type and
    message (rclpy turns it into the error transition silently), then returns ERROR as
    rclpy would (on_error tears the parts down)."""
    def wrap(callback: Callable) -> Callable:
        @functools.wraps(callback)
        def run(self: "SsrNode", state: State) -> TransitionCallbackReturn:
            try:
                return callback(self, state)
            except Exception as exc:
                self._failed(transition, exc)
                return TransitionCallbackReturn.ERROR
        return run
    return wrap


class SsrNode(Node):
    """The ssr_ros lifecycle node (see the module docstring)."""

    def __init__(self, node_name: str = "ssr_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = NodeStats()
        self._depth_check = DepthUnitCheck(self.stats)
        self.problems = ProblemLog(self.stats, self.get_logger(),
                                   float(self.get_parameter("log_throttle_s").value))
        self.slot: LatestSlot[FrameSet] = LatestSlot()
        self.parts: NodeParts | None = None
        self.worker: FrameWorker | None = None
        # a model question may take seconds: queries must not queue behind it
        self._groups = {"query": ReentrantCallbackGroup(),
                        "service": MutuallyExclusiveCallbackGroup(),
                        "timer": MutuallyExclusiveCallbackGroup(),
                        "input": MutuallyExclusiveCallbackGroup()}
        # held by the worker for a whole frame and by the teardown (see the docstring)
        self._frame_lock = threading.Lock()
        #: "ExceptionType: message" of the last failed transition ("" when none failed)
        self.last_failure = ""

    def _on_set_parameters(self, params: list) -> SetParametersResult:
        parts = self.parts
        for param in params:
            problem = (validate_parameter(param.name, param.value)
                       or configure_time_problem(param.name, parts is not None))
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        for param in params:
            if param.name == "log_throttle_s":
                self.problems.throttle.period_s = float(param.value)
            elif parts is not None and param.name in RUNTIME_PARAMETERS:
                parts.mapper.config = dataclasses.replace(
                    parts.mapper.config, **{param.name: float(param.value)})
            elif parts is not None and param.name == "pose_max_gap_s" \
                    and isinstance(parts.pose_source, TopicPoseSource):
                parts.pose_source.max_gap_s = float(param.value)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ lifecycle
    @_logs_its_failure("configure")
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            config = read_config(self)
            if config.pose_source == "tf" and not tf_source_available():
                raise ConfigError("pose_source tf needs tf2_ros or the tf2_msgs interfaces, "
                                  "neither imports; use odom or camera_pose")
            factory = build_pipeline_factory(config)
            model, embedder = load_models(config)
            keeper = MapKeeper(factory, config.map_frame, embedder=embedder,
                               clock_s=clock_s(self), vocabulary=query_vocabulary(config))
            hooks = NodeHooks(self.stats, self.problems, self.slot, self._groups,
                              self._on_keyframe, self._node_values)
            self.parts = build_parts(self, config, model, keeper, hooks)
            self.parts.map_files.load_at_start()
            self._start_health(config)
        except Exception as exc:  # every failed configure says why (issue 15)
            self._teardown()
            return self._failed("configure", exc)
        self.worker = FrameWorker(self.slot, self.map_item, self._on_worker_error)
        self.worker.start()
        self.get_logger().info(
            f"configured: pose_source={pose_mode(config)}, proposals={config.proposal_source}"
            f", model={config.model.path or '(none: geometric answers)'}, "
            f"name embeddings={'on' if embedder is not None else 'off'}, "
            f"map={config.map_path or '(not persisted)'} with "
            f"{len(keeper.snapshot.objects)} objects")
        return super().on_configure(state)

    def _failed(self, transition: str, exc: BaseException) -> TransitionCallbackReturn:
        """Log why ``transition`` failed (exception type and message), keep it for
        ``main``'s autostart line, and return FAILURE (the state stays as it was)."""
        self.last_failure = f"{type(exc).__name__}: {exc}"
        self.get_logger().error(f"{transition} failed: {self.last_failure}")
        return TransitionCallbackReturn.FAILURE

    @_logs_its_failure("activate")
    def on_activate(self, state: State) -> TransitionCallbackReturn:
        try:
            self.parts.inputs.open()
            self._watch_inputs(self.parts.config)
        except Exception as exc:  # a bad remap or QoS: say so, stay inactive
            self.parts.inputs.close()
            return self._failed("activate", exc)
        result = super().on_activate(state)
        self.parts.publisher.active = True
        self.parts.publisher.publish(force=True)
        self.get_logger().info("active: listening to the camera")
        return result

    @_logs_its_failure("deactivate")
    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self.parts.publisher.active = False
        self.parts.inputs.close()
        if self.stats.health is not None:
            self.stats.health.close_inputs()
        self.slot.clear()
        self.get_logger().info("inactive: camera inputs closed, services still answer")
        return super().on_deactivate(state)

    @_logs_its_failure("cleanup")
    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.save_map_now("cleanup")
        self._teardown()
        return super().on_cleanup(state)

    @_logs_its_failure("shutdown")
    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.save_map_now("shutdown")
        self._teardown()
        return super().on_shutdown(state)

    @_logs_its_failure("error")
    def on_error(self, state: State) -> TransitionCallbackReturn:
        self.get_logger().error(
            f"error transition from '{state.label}' (last failure: "
            f"{self.last_failure or 'an exception in a transition callback'}): saving the "
            "map and releasing resources")
        self.save_map_now("error")
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop the frame worker first: its thread holds the node, and a node still
        referenced at exit keeps rclpy from finalising its DDS participant, so peers
        would see this node's services for a lease time after the process is gone."""
        self._stop_worker()
        super().destroy_node()

    def save_map_now(self, reason: str) -> tuple[bool, str]:
        """Save a changed map to ``map_path`` (never raises; see MapFileService)."""
        parts = self.parts
        if parts is None:
            return False, "node is not configured"
        return parts.map_files.save_now(reason, only_dirty=True)

    # ------------------------------------------------------------------ input checks
    def _start_health(self, config: NodeConfig) -> None:
        """The input checks of /diagnostics and the pose topics named in pose warnings."""
        self.stats.health, self.problems.pose_topics = start_input_checks(
            self, pose_mode(config), config.input_timeout_s, config.input_min_rate_hz)
        self.stats.graph = (self.count_publishers, lambda: [
            name for name, _types in self.get_topic_names_and_types()])

    def _watch_inputs(self, config: NodeConfig) -> None:
        watch_inputs(self.stats.health, self, config, pose_mode(config))

    def _stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None and not worker.stop():
            self.get_logger().error("the frame worker did not stop within its timeout")

    def _teardown(self) -> None:
        self._stop_worker()
        with self._frame_lock:
            parts, self.parts = self.parts, None
            self.slot.clear()
            self.stats.health = None
            if parts is not None:
                parts.destroy(self)

    # ------------------------------------------------------------------ frames
    def work_once(self) -> None:
        """Map the waiting frame, if any, on the calling thread (tests drive the node
        this way with the worker stopped)."""
        item = self.slot.take()
        if item is not None:
            self.map_item(item)

    def map_item(self, item: FrameSet) -> None:
        """Map one synchronised set (the frame worker's job) under the frame lock."""
        with self._frame_lock:
            parts = self.parts
            if parts is not None and parts.publisher.active:
                self._depth_check.maybe_check(item.depth, parts.mapper.config.depth_scale_m)
                parts.mapper.map(item)

    def _on_keyframe(self, frame: PosedFrame) -> None:
        parts = self.parts
        parts.publisher.publish(force=False)
        if not parts.model.ready:
            return
        try:
            parts.model.on_keyframe(frame)
        except (ModelError, ValueError) as exc:
            self.problems.warn("model_keyframe", f"keyframe refused by the model: {exc}")

    def _on_worker_error(self, exc: BaseException) -> None:
        self.problems.failure("internal_error", f"frame worker failed on a frame: {exc!r}")

    def _node_values(self) -> dict:
        parts = self.parts
        return {"state": "active" if parts and parts.publisher.active else "inactive",
                "queue.dropped": self.slot.replaced, "queue.waiting": self.slot.waiting}


def main(args: list[str] | None = None) -> int:
    """Run ssr_node until SIGINT or SIGTERM, then save a dirty map and tear down.

    ``--help``/``-h`` prints the usage and returns 0 before rclpy is initialised (no node,
    no DDS). Signals are handled by :class:`StopSignals` in every lifecycle state; the
    teardown is bounded by ``STOP_GRACE_S`` (:mod:`ssr_ros.ros.node_cli`)."""
    argv = sys.argv[1:] if args is None else list(args)
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
        node = SsrNode()
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
        _teardown_process(node, executor, log)
        signals.finished()
    return code


def _state_label(node: "SsrNode | None") -> str:
    if node is None:
        return "starting"
    # rclpy's lifecycle Node has no public getter of its state (its trigger_shutdown
    # reads the same attribute)
    try:
        return node._state_machine.current_state[1]
    except Exception:  # a label for a log line only
        return "unknown"


def _teardown_process(node: "SsrNode | None", executor: Any, log: Any) -> None:
    """Save a dirty map, log what was done, destroy the node, shut rclpy down. A second
    signal during this is logged and ignored (StopSignals), never raised here."""
    if node is not None:
        saved, message = node.save_map_now("shutdown")
        log.info(f"map {'saved' if saved else 'not saved'} at stop: {message}")
    if executor is not None:
        executor.shutdown(timeout_sec=0.5)
    if node is not None:
        node.destroy_node()
    rclpy.try_shutdown()
    log.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
