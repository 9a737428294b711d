"""ssr_node's inputs: the synchronised camera streams and the pose topics.

:class:`CameraInputs` is built at configure and opened at activate: it subscribes then,
and :meth:`CameraInputs.close` (deactivate) destroys exactly the subscriptions it made.
Callbacks only count and store: a synchronised colour, depth, camera_info (and labels)
set goes to the one-slot mailbox as a :class:`FrameSet` (newest wins), which wakes the
frame worker thread. The camera and pose streams are read by an input thread
(:class:`~ssr_ros.ros.input_reader.InputReader`), not by the executor: it takes a whole
camera set per wake-up, and the executor is left with services, timers and the rare
latched topics; poses go to the topic pose source; malformed messages are counted by
reason and logged with a throttle (:class:`~ssr_ros.ros.diagnostics.ProblemLog`).

With ``proposal_source: detections`` a ``vision_msgs/Detection2DArray`` on ``detections``
is one more synchronised input (a detector stamps its array with its image's stamp, so it
matches within the slop), and the class names of numeric ids come from a
``vision_msgs/LabelInfo`` on ``detections/label_info`` (transient local, as vision_msgs
recommends for it). With ``detection_masks: true`` the detections' instance mask image
on ``detections/masks`` is synchronised too (:mod:`~ssr_ros.ros.detection_masks`).

Stamps are checked before a set reaches the mailbox and before a pose reaches the pose
history (:class:`~ssr_ros.runtime.stamp_guard.StampGuard`, ``max_future_s``): zero or far
future stamps are counted (``invalid.stamp_zero``, ``invalid.stamp_future``,
``invalid.pose_stamp_zero``, ``invalid.pose_stamp_future``) and never mapped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String

from ssr_ros.ros import topics
from ssr_ros.ros.diagnostics import NodeStats, ProblemLog
from ssr_ros.ros.conversions import stamp_to_s
from ssr_ros.ros.frames import label_info_names, parse_label_names_json
from ssr_ros.ros.input_reader import InputReader
from ssr_ros.ros.params import NodeConfig
from ssr_ros.ros.pose_source import TfSubscriptions, TopicPoseSource
from ssr_ros.runtime.errors import ConfigError, InvalidMessage
from ssr_ros.runtime.stamp_guard import StampGuard
from ssr_ros.runtime.sync import ApproximateTimeSync, message_filters_available
from ssr_ros.runtime.worker import LatestSlot

LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
# Best effort matches both best-effort and reliable publishers (a reliable subscriber
# never connects to a best-effort odometry source). A lost pose costs little: lookups
# interpolate between neighbours up to ``pose_max_gap_s``; the depth covers ~1 s of a
# 100 Hz source waiting for the input callback group.
POSE_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)


@dataclass(frozen=True)
class FrameSet:
    """One synchronised set of camera messages, as the worker receives it:
    ``received_s`` (``time.monotonic()`` when it was matched), the colour image (Image or
    CompressedImage), depth image, camera_info, the label image or None, the
    vision_msgs/Detection2DArray or None, the class names of numeric detection ids
    known when the set was matched (from ``detections/label_info``), and the
    detections' instance mask image or None."""

    received_s: float
    color: Any
    depth: Any
    info: Any
    labels: Any = None
    detections: Any = None
    detection_names: dict[int, str] | None = None
    detection_masks: Any = None


class CameraInputs:
    """Subscriptions and their callbacks (see the module docstring).

    Args:
        node: the node that owns the subscriptions.
        config: the configured parameters (QoS, topics in use, sync queue and slop).
        stats, problems: counters and the throttled problem log.
        slot: the worker's mailbox; every matched set is put there.
        pose_source: a :class:`TopicPoseSource` to feed from ``camera_pose``/``odom``, or
            None when poses come from TF.
        group: the callback group of every input callback.
        clock_s: the node's clock [s] for the stamp check (None: the newest input only).

    Raises :class:`ConfigError` when ``proposal_source`` is ``detections`` and
    ``vision_msgs`` cannot be imported.
    """

    def __init__(self, node: Node, config: NodeConfig, stats: NodeStats, problems: ProblemLog,
                 slot: LatestSlot[FrameSet], pose_source: TopicPoseSource | None,
                 group: CallbackGroup, clock_s: Callable[[], float] | None = None) -> None:
        if config.uses_detections:
            try:
                import vision_msgs.msg  # noqa: F401
            except ImportError as exc:
                raise ConfigError("proposal_source detections needs the vision_msgs "
                                  "interfaces, which cannot be imported") from exc
        self._node = node
        self._config = config
        self._stats = stats
        self._problems = problems
        self._slot = slot
        self._pose_source = pose_source
        self._group = group
        self._subscriptions: list[Subscription] = []
        self._sync: ApproximateTimeSync | None = None
        # message_filters objects hold the subscriptions' callbacks: kept while open
        self._message_filters: tuple | None = None
        self.label_names: dict[int, str] = dict(config.label_names)
        #: Class id -> name of numeric detection class ids (vision_msgs/LabelInfo).
        self.detection_names: dict[int, str] = {}
        #: The stamp check shared by frames and poses (``max_future_s``).
        self.stamp_guard = StampGuard(config.max_future_s, clock_s)
        # /tf (map <- odom) has its own: transforms must not move the frames' reference
        self._tf_stamp_guard = StampGuard(config.max_future_s, clock_s)
        self._input_names: list[str] = []
        self._tf: TfSubscriptions | None = None
        self._reader: InputReader | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Subscribe to the camera streams (and label and pose topics when used). The
        camera and pose streams are read by an :class:`InputReader` thread, not by the
        executor (one wake-up per camera set; see :mod:`ssr_ros.ros.input_reader`)."""
        config = self._config
        reader = self._reader = InputReader(self._node, on_error=self._on_reader_error)
        sensor_qos = QoSProfile(
            depth=config.sensor_qos_depth, history=HistoryPolicy.KEEP_LAST,
            reliability=(ReliabilityPolicy.BEST_EFFORT
                         if config.sensor_qos_reliability == "best_effort"
                         else ReliabilityPolicy.RELIABLE),
            durability=qos_profile_sensor_data.durability)
        inputs: list[tuple[type, str, str]] = [
            (CompressedImage, topics.COLOR_COMPRESSED, "color") if config.use_compressed
            else (Image, topics.COLOR, "color"),
            (Image, topics.DEPTH, "depth"),
            (CameraInfo, topics.CAMERA_INFO, "camera_info"),
        ]
        if config.uses_label_image:
            inputs.append((Image, topics.LABELS, "labels"))
            self._subscribe(String, topics.LABEL_NAMES, self._on_label_names, LATCHED_QOS)
        if config.uses_detections:
            from vision_msgs.msg import Detection2DArray, LabelInfo

            inputs.append((Detection2DArray, topics.DETECTIONS, "detections"))
            if config.uses_detection_masks:
                inputs.append((Image, topics.DETECTION_MASKS, "detection_masks"))
            self._subscribe(LabelInfo, topics.DETECTIONS_LABEL_INFO, self._on_label_info,
                            LATCHED_QOS)
        self._input_names = [name for _, _, name in inputs]
        if message_filters_available():
            self._open_message_filters(inputs, sensor_qos, reader)
        else:
            self._sync = ApproximateTimeSync(len(inputs), config.sync_queue_size,
                                             config.sync_slop_s, self._on_synced)
            for index, (msg_type, topic, name) in enumerate(inputs):
                self._subscribe(msg_type, topic, self._input_callback(index, name),
                                sensor_qos, reader)
        if self._pose_source is not None:
            self._subscribe(PoseStamped, topics.CAMERA_POSE, self._on_camera_pose, POSE_QOS,
                            reader)
            self._subscribe(Odometry, topics.ODOM, self._on_odometry, POSE_QOS, reader)
            if self._pose_source.tf_buffer is not None:  # map <- odom for odom poses
                self._tf = TfSubscriptions(self._node, self._pose_source.tf_buffer,
                                           self._group, self._problems.reject,
                                           self._tf_stamp_guard)
        reader.start()

    def close(self) -> None:
        """Destroy the subscriptions and forget unmatched messages (idempotent)."""
        reader, self._reader = self._reader, None
        if reader is not None:  # stopped first: it holds the subscriptions it reads
            reader.destroy()
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions.clear()
        if self._tf is not None:
            self._tf.close()
            self._tf = None
        self._message_filters = None
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.clear()

    def destroy(self) -> None:
        """Cleanup: the same as :meth:`close` (the inputs own nothing else)."""
        self.close()

    def sync_counts(self) -> dict[str, int]:
        """``sync.matched``, ``sync.dropped``, ``sync.pending`` of the in-package
        synchroniser while open (absent with message_filters, whose drops are not
        observable), and ``stamp.rebases`` (forward clock jumps the stamp check accepted,
        see :mod:`~ssr_ros.runtime.stamp_guard`)."""
        counts = {"stamp.rebases": self.stamp_guard.rebases}
        reader = self._reader
        if reader is not None:  # messages per wake-up of the input thread
            counts.update({"input.wakeups": reader.wakeups, "input.messages": reader.taken})
        sync = self._sync
        if sync is None:
            return counts
        counts.update({"sync.matched": sync.matched, "sync.dropped": sync.dropped,
                       "sync.pending": sum(sync.pending())})
        return counts

    # ------------------------------------------------------------------ subscriptions
    def _subscribe(self, msg_type: type, topic: str, callback: Callable[[Any], None],
                   qos: QoSProfile, reader: InputReader | None = None) -> None:
        """Subscribe in the input callback group, or read by ``reader`` when given."""
        subscription = self._node.create_subscription(
            msg_type, topic, callback, qos,
            callback_group=self._group if reader is None else reader.group)
        self._subscriptions.append(subscription)
        if reader is not None:
            reader.add(subscription)

    def _on_reader_error(self, exc: BaseException) -> None:
        self._problems.failure("internal_error", f"an input callback failed: {exc!r}")

    def _open_message_filters(self, inputs: list, qos: QoSProfile,
                              reader: InputReader) -> None:
        """The same inputs through message_filters' ApproximateTimeSynchronizer (a ROS
        install has it); its drop count is not observable, so sync.* stays absent."""
        import message_filters

        subscribers = []
        for msg_type, topic, name in inputs:
            sub = message_filters.Subscriber(self._node, msg_type, topic, qos_profile=qos,
                                             callback_group=reader.group)
            sub.registerCallback(lambda msg, name=name: self._stats.count_received(name))
            self._subscriptions.append(sub.sub)
            reader.add(sub.sub)
            subscribers.append(sub)
        synchronizer = message_filters.ApproximateTimeSynchronizer(
            subscribers, self._config.sync_queue_size, self._config.sync_slop_s)
        synchronizer.registerCallback(self._on_synced)
        self._message_filters = (subscribers, synchronizer)

    def _input_callback(self, index: int, name: str) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            self._stats.count_received(name)
            sync = self._sync
            if sync is None:  # closed while this message was in flight
                return
            try:
                sync.add(index, msg)
            except InvalidMessage as exc:
                self._problems.reject(exc)
        return callback

    def _on_synced(self, *msgs: Any) -> None:
        """Synchroniser callback: O(1), newest complete set wins the worker's slot; a set
        whose colour stamp the stamp guard refuses is counted and dropped here."""
        by_name = dict(zip(self._input_names, msgs))
        try:
            self.stamp_guard.check(stamp_to_s(by_name["color"].header.stamp))
        except InvalidMessage as exc:
            self._problems.reject(exc)
            return
        self._slot.put(FrameSet(
            time.monotonic(), by_name["color"], by_name["depth"], by_name["camera_info"],
            labels=by_name.get("labels"), detections=by_name.get("detections"),
            # each LabelInfo replaces the dict, so the set keeps the names it was matched with
            detection_names=self.detection_names if "detections" in by_name else None,
            detection_masks=by_name.get("detection_masks")))

    def _on_label_info(self, msg: Any) -> None:
        self._stats.count_received("label_info")
        try:
            self.detection_names = label_info_names(msg)
        except InvalidMessage as exc:
            self._problems.reject(exc)

    def _on_label_names(self, msg: String) -> None:
        try:
            self.label_names = parse_label_names_json(msg.data)
        except InvalidMessage as exc:
            self._problems.reject(exc)

    def _on_camera_pose(self, msg: PoseStamped) -> None:
        self._stats.count_received("camera_pose")
        try:
            self.stamp_guard.check(stamp_to_s(msg.header.stamp), prefix="pose_")
            self._pose_source.add_camera_pose(msg)
        except InvalidMessage as exc:
            self._problems.reject(exc)

    def _on_odometry(self, msg: Odometry) -> None:
        self._stats.count_received("odom")
        try:
            self.stamp_guard.check(stamp_to_s(msg.header.stamp), prefix="pose_")
            self._pose_source.add_odometry(msg)
        except InvalidMessage as exc:
            self._problems.reject(exc)
