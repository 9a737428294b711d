"""``ssr_node``: the lifecycle node that maps objects from RGB-D and answers spatial
queries. This file is the lifecycle and the wiring; the parts live in their modules
(docs/architecture.md describes the parts, the state and the threads).

* configure: read parameters, load the model and the name embedder (one that cannot load
  FAILS the transition with the reason), build the parts (:class:`NodeParts`), load the
  saved map, start the frame worker. Queries are answered from here on.
* activate: subscribe to the camera streams and pose topics; start publishing.
* deactivate: unsubscribe; the map and the services stay.
* cleanup / shutdown: save, then stop the worker and destroy every part.

Threads: ``main`` spins a single-threaded executor of short callbacks; the frame worker
maps frames under ``_frame_lock``, which a teardown also takes, so it waits for the
frame in flight. The process edge (``--help``, SIGINT/SIGTERM from any state, failed
transitions logged with their reason) is :mod:`ssr_ros.ros.node_cli`.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.lifecycle import Node, State, TransitionCallbackReturn
from rcl_interfaces.msg import SetParametersResult

from ssr_ros.core.frames import PosedFrame
from ssr_ros.model.errors import ModelError
from ssr_ros.ros.diagnostics import (DepthUnitCheck, NodeStats,
                                     ProblemLog, start_input_checks, watch_inputs)
from ssr_ros.ros.inputs import FrameSet
from ssr_ros.ros.node_cli import logs_its_failure, run_node
from ssr_ros.ros.params import (NodeConfig, configure_time_problem, declare_parameters,
                                read_config, validate_parameter)
from ssr_ros.ros.parts import NodeHooks, NodeParts, build_parts, load_models, pose_mode
from ssr_ros.ros.pipeline_factory import build_pipeline_factory, query_vocabulary
from ssr_ros.ros.pose_source import tf_source_available
from ssr_ros.ros.publishing import clock_s
from ssr_ros.runtime.errors import ConfigError
from ssr_ros.runtime.map_state import MapKeeper
from ssr_ros.runtime.worker import FrameWorker, LatestSlot


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
            elif parts is not None:
                parts.apply_runtime_parameter(param.name, param.value)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ lifecycle
    @logs_its_failure("configure")
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

    @logs_its_failure("activate")
    def on_activate(self, state: State) -> TransitionCallbackReturn:
        try:
            self.parts.inputs.open()
            watch_inputs(self.stats.health, self, self.parts.config,
                         pose_mode(self.parts.config))
        except Exception as exc:  # a bad remap or QoS: say so, stay inactive
            self.parts.inputs.close()
            return self._failed("activate", exc)
        result = super().on_activate(state)
        self.parts.publisher.active = True
        self.parts.publisher.publish(force=True)
        self.get_logger().info("active: listening to the camera")
        return result

    @logs_its_failure("deactivate")
    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self.parts.publisher.active = False
        self.parts.inputs.close()
        if self.stats.health is not None:
            self.stats.health.close_inputs()
        self.slot.clear()
        self.get_logger().info("inactive: camera inputs closed, services still answer")
        return super().on_deactivate(state)

    @logs_its_failure("cleanup")
    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.save_map_now("cleanup")
        self._teardown()
        return super().on_cleanup(state)

    @logs_its_failure("shutdown")
    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.save_map_now("shutdown")
        self._teardown()
        return super().on_shutdown(state)

    @logs_its_failure("error")
    def on_error(self, state: State) -> TransitionCallbackReturn:
        self.get_logger().error(
            f"error transition from '{state.label}' (last failure: "
            f"{self.last_failure or 'an exception in a transition callback'}): saving the "
            "map and releasing resources")
        self.save_map_now("error")
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop the frame worker and the input thread first: their threads hold the node
        (and the input thread its subscriptions), and a node still referenced at exit
        keeps rclpy from finalising its DDS participant, so peers would see this node's
        services for a lease time after the process is gone."""
        self._stop_worker()
        parts = self.parts
        if parts is not None:
            parts.inputs.close()
        super().destroy_node()

    def save_map_now(self, reason: str) -> tuple[bool, str]:
        """Save a changed map to ``map_path`` (never raises; see MapFileService)."""
        parts = self.parts
        if parts is None:
            return False, "node is not configured"
        return parts.map_files.save_now(reason, only_dirty=True)

    def _start_health(self, config: NodeConfig) -> None:
        """The input checks of /diagnostics and the pose topics named in pose warnings."""
        self.stats.health, self.problems.pose_topics = start_input_checks(
            self, pose_mode(config), config.input_timeout_s, config.input_min_rate_hz)
        self.stats.graph = (self.count_publishers, lambda: [
            name for name, _types in self.get_topic_names_and_types()])

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

    def state_label(self) -> str:
        """The lifecycle state's label, for log lines ("unconfigured", "active", ...)."""
        # rclpy's lifecycle Node has no public getter (its trigger_shutdown reads the same)
        return self._state_machine.current_state[1]

    def _on_worker_error(self, exc: BaseException) -> None:
        self.problems.failure("internal_error", f"frame worker failed on a frame: {exc!r}")

    def _node_values(self) -> dict:
        parts = self.parts
        return {"state": "active" if parts and parts.publisher.active else "inactive",
                "queue.dropped": self.slot.replaced, "queue.waiting": self.slot.waiting}


def main(args: list[str] | None = None) -> int:
    """Run ssr_node until SIGINT or SIGTERM, then save a dirty map and tear down
    (:func:`ssr_ros.ros.node_cli.run_node`: ``--help``, signals, the bounded teardown)."""
    return run_node(SsrNode, sys.argv[1:] if args is None else list(args))


if __name__ == "__main__":
    sys.exit(main())
