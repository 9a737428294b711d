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
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from typing import Any

import rclpy
import rclpy.logging
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node, State, TransitionCallbackReturn
from rcl_interfaces.msg import SetParametersResult

from ssr_ros.core.frames import PosedFrame
from ssr_ros.model.errors import ModelError
from ssr_ros.ros.diagnostics import NodeStats, ProblemLog
from ssr_ros.ros.inputs import FrameSet
from ssr_ros.ros.params import (configure_time_problem, declare_parameters, read_config,
                                validate_parameter)
from ssr_ros.ros.parts import NodeHooks, NodeParts, build_parts, load_models, pose_mode
from ssr_ros.ros.pipeline_factory import build_pipeline_factory, query_vocabulary
from ssr_ros.ros.pose_source import TopicPoseSource, tf2_available
from ssr_ros.ros.publishing import clock_s
from ssr_ros.runtime.errors import ConfigError
from ssr_ros.runtime.map_state import MapKeeper
from ssr_ros.runtime.worker import FrameWorker, LatestSlot

RUNTIME_PARAMETERS = ("pose_timeout_s", "depth_scale_m", "max_depth_m")


class SsrNode(Node):
    """The ssr_ros lifecycle node (see the module docstring)."""

    def __init__(self, node_name: str = "ssr_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = NodeStats()
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
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            config = read_config(self)
            if config.pose_source == "tf" and not tf2_available():
                raise ConfigError("pose_source tf needs tf2_ros, which is not installed; use "
                                  "odom or camera_pose")
            factory = build_pipeline_factory(config)
            model, embedder = load_models(config)
        except (ConfigError, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        keeper = MapKeeper(factory, config.map_frame, embedder=embedder, clock_s=clock_s(self),
                           vocabulary=query_vocabulary(config))
        hooks = NodeHooks(self.stats, self.problems, self.slot, self._groups,
                          self._on_keyframe, self._node_values)
        self.parts = build_parts(self, config, model, keeper, hooks)
        self.parts.map_files.load_at_start()
        self.worker = FrameWorker(self.slot, self.map_item, self._on_worker_error)
        self.worker.start()
        self.get_logger().info(
            f"configured: pose_source={pose_mode(config)}, proposals={config.proposal_source}"
            f", model={config.model.path or '(none: geometric answers)'}, "
            f"name embeddings={'on' if embedder is not None else 'off'}, "
            f"map={config.map_path or '(not persisted)'} with "
            f"{len(keeper.snapshot.objects)} objects")
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self.parts.inputs.open()
        result = super().on_activate(state)
        self.parts.publisher.active = True
        self.parts.publisher.publish(force=True)
        self.get_logger().info("active: listening to the camera")
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self.parts.publisher.active = False
        self.parts.inputs.close()
        self.slot.clear()
        self.get_logger().info("inactive: camera inputs closed, services still answer")
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.save_map_now("cleanup")
        self._teardown()
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.save_map_now("shutdown")
        self._teardown()
        return super().on_shutdown(state)

    def on_error(self, state: State) -> TransitionCallbackReturn:
        self.get_logger().error("error transition: saving the map and releasing resources")
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

    def _stop_worker(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None and not worker.stop():
            self.get_logger().error("the frame worker did not stop within its timeout")

    def _teardown(self) -> None:
        self._stop_worker()
        with self._frame_lock:
            parts, self.parts = self.parts, None
            self.slot.clear()
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
    """Run ssr_node until interrupted (SIGINT/SIGTERM), then save and tear down."""
    rclpy.init(args=args)
    node = SsrNode()
    # One thread: every executor callback is short; the frame worker and model questions
    # have threads of their own (docs/architecture.md, "Executor").
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    code = 0
    try:
        if node.get_parameter("autostart").value:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().error("autostart: configure failed")
                code = 1
            elif node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().error("autostart: activate failed")
                code = 1
        if code == 0:
            executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        rclpy.logging.get_logger("ssr_node.persistence").info(
            "interrupted: saving the map and shutting down")
    finally:
        node.save_map_now("shutdown")
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
