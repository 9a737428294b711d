"""ssr_node's inputs: the synchronised camera streams and the pose topics.

:class:`CameraInputs` is a mixin of :class:`~ssr_ros.ros.node.SsrNode`. Activate calls
:meth:`CameraInputs._create_inputs`; the subscriptions it makes are kept in the node's
``_entities["activate"]`` and destroyed at deactivate. Callbacks only count and store:
a synchronised colour, depth, camera_info (and labels) set goes to the node's one-slot
mailbox ``_slot`` (newest wins), which wakes the frame worker thread; poses go
to the node's ``_pose_source``; malformed messages are counted by reason and logged with
a throttle.
"""

from __future__ import annotations

import time
from typing import Any

from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String

from ssr_ros.ros import topics
from ssr_ros.runtime.errors import InvalidMessage
from ssr_ros.ros.frames import parse_label_names_json
from ssr_ros.ros.pose_source import TopicPoseSource
from ssr_ros.runtime.sync import ApproximateTimeSync, message_filters_available

LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
# Best effort matches both best-effort and reliable publishers (a reliable subscriber
# never connects to a best-effort odometry source). A lost pose costs little: lookups
# interpolate between neighbours up to ``pose_max_gap_s``; the depth covers ~1 s of a
# 100 Hz source waiting for the input callback group.
POSE_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)


class CameraInputs:
    """Subscriptions and their callbacks (see the module docstring)."""

    def _create_inputs(self) -> None:
        config = self.config
        keep = self._entities["activate"].append
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
            keep(self.create_subscription(String, topics.LABEL_NAMES, self._on_label_names,
                                          LATCHED_QOS, callback_group=self._input_group))
        if message_filters_available():
            self._create_message_filters_inputs(inputs, sensor_qos)
        else:
            self._sync = ApproximateTimeSync(len(inputs), config.sync_queue_size,
                                             config.sync_slop_s, self._on_synced)
            for index, (msg_type, topic, name) in enumerate(inputs):
                keep(self.create_subscription(
                    msg_type, topic, self._input_callback(index, name), sensor_qos,
                    callback_group=self._input_group))
        if isinstance(self._pose_source, TopicPoseSource):
            keep(self.create_subscription(PoseStamped, topics.CAMERA_POSE,
                                          self._on_camera_pose, POSE_QOS,
                                          callback_group=self._input_group))
            keep(self.create_subscription(Odometry, topics.ODOM, self._on_odometry,
                                          POSE_QOS, callback_group=self._input_group))

    def _create_message_filters_inputs(self, inputs: list, qos: QoSProfile) -> None:
        """The same inputs through message_filters' ApproximateTimeSynchronizer (a ROS
        install has it); its drop count is not observable, so sync.* stays absent."""
        import message_filters

        subscribers = []
        for msg_type, topic, name in inputs:
            sub = message_filters.Subscriber(self, msg_type, topic, qos_profile=qos,
                                             callback_group=self._input_group)
            sub.registerCallback(lambda msg, name=name: self.stats.count_received(name))
            self._entities["activate"].append(sub.sub)
            subscribers.append(sub)
        synchronizer = message_filters.ApproximateTimeSynchronizer(
            subscribers, self.config.sync_queue_size, self.config.sync_slop_s)
        synchronizer.registerCallback(self._on_synced)
        self._message_filters = (subscribers, synchronizer)

    def _input_callback(self, index: int, name: str):
        def callback(msg: Any) -> None:
            self.stats.count_received(name)
            sync = self._sync
            if sync is None:  # torn down while this message was in flight
                return
            try:
                sync.add(index, msg)
            except InvalidMessage as exc:
                self._reject(exc)
        return callback

    def _on_synced(self, *msgs: Any) -> None:
        """Synchroniser callback: O(1), newest complete set wins the worker's slot."""
        self._slot.put((time.monotonic(), msgs))

    def _on_label_names(self, msg: String) -> None:
        try:
            self._label_names = parse_label_names_json(msg.data)
        except InvalidMessage as exc:
            self._reject(exc)

    def _on_camera_pose(self, msg: PoseStamped) -> None:
        self.stats.count_received("camera_pose")
        source = self._pose_source
        if source is None:
            return
        try:
            source.add_camera_pose(msg)
        except InvalidMessage as exc:
            self._reject(exc)

    def _on_odometry(self, msg: Odometry) -> None:
        self.stats.count_received("odom")
        source = self._pose_source
        if source is None:
            return
        try:
            source.add_odometry(msg)
        except InvalidMessage as exc:
            self._reject(exc)

    def _reject(self, exc: InvalidMessage) -> None:
        self.stats.count_invalid(exc.reason)
        if self._throttle.ready(f"invalid.{exc.reason}"):
            self.get_logger().warning(f"dropped input ({exc.reason}): {exc.detail}")
