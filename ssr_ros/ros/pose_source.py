"""The camera's pose in the map at a frame's stamp.

Two sources, chosen by the ``pose_source`` parameter:

* ``tf``: a ``tf2_ros`` lookup ``map <- camera optical frame`` at the frame stamp with a
  timeout (never "latest": the map is built over time and a late pose smears it).
  Used when tf2_ros is importable (every ROS install). Without tf2_ros (the PyPI route)
  but with the ``tf2_msgs`` interfaces, :class:`BufferTfPoseSource` does the same with
  the in-package :class:`~ssr_ros.runtime.tf_buffer.TfBuffer` fed by /tf and
  /tf_static (transient local, as tf2's static listener), with tf2's semantics; its
  failures are counted by kind (``tf_extrapolation``, ``tf_unknown_frame``,
  ``tf_connectivity``). Transforms on /tf stamped zero or more than ``max_future_s``
  ahead never enter the buffer (``invalid.tf_stamp_zero``, ``invalid.tf_stamp_future``;
  :func:`add_tf_message`).
* ``odom`` / ``camera_pose``: poses received on a topic (nav_msgs/Odometry of the robot
  base, or geometry_msgs/PoseStamped of the camera optical frame), kept in a bounded
  :class:`PoseHistory` and interpolated between stamps (slerp + lerp); the odometry pose
  is composed with a static ``T_base_cam`` extrinsic. This is what runs where tf2_ros is
  not installable (PyPI-only machines) and what a robot without a TF tree can use.

``auto`` means ``tf`` when tf2_ros imports, else both topics (camera_pose preferred).
Poses in ``odom`` (REP-105: map -> odom -> base_link): a topic pose whose frame is
``odom_frame`` is composed with ``map <- odom`` at its stamp when the TF buffer has that
link (a localisation publishes it); without it, odom is taken as the map (no
localisation: the map drifts with the odometry).

No pose for a stamp raises :class:`~ssr_ros.runtime.errors.PoseUnavailable` with a
reason the node counts (``no_pose``, ``pose_too_old``, ``pose_not_yet``, ``pose_gap``,
``tf_lookup``).

Stamps that jump (topic sources): a pose is never extrapolated and never interpolated
across a gap longer than ``max_gap_s`` (``pose_max_gap_s``, 0.5 s by default), so after
a forward jump of the pose stamps the frames inside the gap are dropped (``pose_gap``),
and frames ahead of the newest pose wait ``pose_timeout_s`` and are dropped
(``pose_not_yet``); a jump longer than ``max_age_s`` evicts the poses before it (frames
from before the jump are then ``pose_too_old``). A pose more than ``reset_back_s`` (5 s)
older than the newest one means the sender's clock restarted: the history is cleared
and the reset counted (``pose.resets``), so a single pose with a bogus future stamp
costs only the frames until the real clock's next poses arrive.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ssr_ros.core.geometry import check_pose
from ssr_ros.ros.conversions import (odometry_to_matrix, pose_stamped_to_matrix,
                                     stamp_to_s, transform_to_matrix)
from ssr_ros.runtime.errors import InvalidMessage, PoseUnavailable
from ssr_ros.runtime.pose_history import PoseHistory
from ssr_ros.runtime.stamp_guard import StampGuard
from ssr_ros.runtime.tf_buffer import TfBuffer, TfError

POSE_SOURCES = ("auto", "tf", "odom", "camera_pose")


def tf2_available() -> bool:
    """True when ``tf2_ros`` can be imported (a ROS install, not the PyPI wheels)."""
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


def tf_messages_available() -> bool:
    """True when ``tf2_msgs`` imports, so /tf can be read without tf2_ros."""
    try:
        import tf2_msgs.msg  # noqa: F401
    except ImportError:
        return False
    return True


def tf_source_available() -> bool:
    """``pose_source: tf`` can run: tf2_ros, or the in-package buffer with tf2_msgs."""
    return tf2_available() or tf_messages_available()


def add_tf_message(buffer: TfBuffer, msg: Any, static: bool,
                   stamp_guard: StampGuard | None = None,
                   on_refused: Callable[[InvalidMessage], None] | None = None) -> int:
    """Store every transform of a ``tf2_msgs/TFMessage`` in ``buffer``; returns how many
    were refused, each passed to ``on_refused`` as an :class:`InvalidMessage` (reason
    ``tf``: empty or equal frame names, non-finite or non-rigid values; with a
    ``stamp_guard``, transforms on /tf (``static`` False) stamped zero or too far ahead:
    ``tf_stamp_zero``, ``tf_stamp_future``). A refused transform never reaches the
    buffer and does not stop the others.

    Why /tf is checked and /tf_static is not: a static link holds at every stamp
    (publishers often stamp it zero), but a dynamic sample at stamp zero, or far in the
    future, would restart its link's history or prune every real sample as older than
    the cache, and each later lookup at a real stamp would fail."""
    refused = 0
    for tf in msg.transforms:
        try:
            T = transform_to_matrix(tf.transform)
            stamp_s = stamp_to_s(tf.header.stamp)
            if stamp_guard is not None and not static:
                stamp_guard.check(stamp_s, prefix="tf_")
            buffer.set_transform(str(tf.header.frame_id), str(tf.child_frame_id),
                                 stamp_s, T, static)
        except (InvalidMessage, ValueError) as exc:
            refused += 1
            if on_refused is not None:
                on_refused(exc if isinstance(exc, InvalidMessage) and
                           exc.reason.startswith("tf_stamp") else InvalidMessage(
                               "tf", f"transform {tf.header.frame_id!r} <- "
                               f"{tf.child_frame_id!r} refused: {exc}"))
    return refused


class TfSubscriptions:
    """/tf and /tf_static into a :class:`TfBuffer`, with tf2's listener QoS (reliable,
    depth 100; /tf_static transient local so a late subscriber gets the static tree).
    Each refused transform goes to ``on_refused`` (the node's problem log counts it as
    ``invalid.<reason>``: ``tf``, ``tf_stamp_zero``, ``tf_stamp_future``); /tf stamps
    pass ``stamp_guard`` when one is given (see :func:`add_tf_message`)."""

    def __init__(self, node: Any, buffer: TfBuffer, group: Any = None,
                 on_refused: Callable[[InvalidMessage], None] | None = None,
                 stamp_guard: StampGuard | None = None) -> None:
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from tf2_msgs.msg import TFMessage

        self._node = node
        self.buffer = buffer
        self._on_refused = on_refused
        self.stamp_guard = stamp_guard
        dynamic = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE,
                             history=HistoryPolicy.KEEP_LAST)
        static = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL,
                            history=HistoryPolicy.KEEP_LAST)
        self._subscriptions = [
            node.create_subscription(TFMessage, "/tf", lambda m: self._on(m, False), dynamic,
                                     callback_group=group),
            node.create_subscription(TFMessage, "/tf_static", lambda m: self._on(m, True),
                                     static, callback_group=group)]

    def _on(self, msg: Any, static: bool) -> None:
        add_tf_message(self.buffer, msg, static, self.stamp_guard, self._on_refused)

    def close(self) -> None:
        """Destroy the two subscriptions (idempotent)."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions.clear()


class TopicPoseSource:
    """Camera poses from ``odom`` (robot base) or ``camera_pose`` (camera optical frame)
    messages, interpolated at frame stamps.

    Args:
        T_base_cam: static extrinsic (camera optical frame -> base), composed with odometry.
        accepted_frames: header frame ids taken as the map frame (e.g. ``("map", "odom")``);
            a message in another frame is rejected (reason ``pose_frame``).
        max_age_s, max_gap_s, tolerance_s: see :class:`PoseHistory`.
        mode: ``odom`` or ``camera_pose`` use only that topic; ``auto`` the camera poses
            when any arrived, else odometry.
        tf_buffer, map_frame, odom_frame: poses in ``odom_frame`` are composed with
            ``map_frame <- odom_frame`` from ``tf_buffer`` when it has that link (see the
            module docstring); None: odom is taken as the map.
    """

    def __init__(self, T_base_cam: np.ndarray, accepted_frames: tuple[str, ...],
                 max_age_s: float = 30.0, max_gap_s: float = 0.5,
                 tolerance_s: float = 0.02, mode: str = "auto",
                 tf_buffer: TfBuffer | None = None, map_frame: str = "map",
                 odom_frame: str = "odom") -> None:
        if mode not in ("auto", "odom", "camera_pose"):
            raise ValueError(f"mode must be auto, odom or camera_pose, got {mode!r}")
        self.mode = mode
        self.T_base_cam = check_pose(T_base_cam, "T_base_cam")
        self.accepted_frames = tuple(accepted_frames)
        self.max_gap_s = float(max_gap_s)
        self.tolerance_s = float(tolerance_s)
        self.camera_history = PoseHistory(max_age_s)
        self.odom_history = PoseHistory(max_age_s)
        self.tf_buffer = tf_buffer
        self.map_frame, self.odom_frame = map_frame, odom_frame
        # frame of the newest pose of each history (a sender keeps one frame)
        self._frames = {"camera": map_frame, "odom": map_frame}

    def _check_frame(self, frame_id: str) -> None:
        if self.accepted_frames and frame_id not in self.accepted_frames:
            raise InvalidMessage("pose_frame", f"pose in frame {frame_id!r}, expected one "
                                 f"of {list(self.accepted_frames)}")

    def add_camera_pose(self, msg: Any) -> None:
        """Store a ``geometry_msgs/PoseStamped`` of the camera optical frame."""
        T_map_cam, stamp_s, frame_id = pose_stamped_to_matrix(msg)
        self._check_frame(frame_id)
        self.camera_history.add(stamp_s, T_map_cam)
        self._frames["camera"] = frame_id

    def add_odometry(self, msg: Any) -> None:
        """Store a ``nav_msgs/Odometry`` of the robot base."""
        T_map_base, stamp_s, frame_id = odometry_to_matrix(msg)
        self._check_frame(frame_id)
        self.odom_history.add(stamp_s, T_map_base)
        self._frames["odom"] = frame_id

    def lookup(self, stamp_s: float, frame_id: str, timeout_s: float) -> np.ndarray:
        """``T_map_cam`` at ``stamp_s`` [s]; ``frame_id`` is unused (topics name no child
        frame). Mode ``auto`` prefers camera poses when any were received."""
        use_camera = self.mode == "camera_pose" or (
            self.mode == "auto" and (len(self.camera_history) or not len(self.odom_history)))
        if use_camera:
            T = self.camera_history.wait_lookup(stamp_s, timeout_s, self.max_gap_s,
                                                self.tolerance_s)
            return self._in_map(T, self._frames["camera"], stamp_s, timeout_s)
        T_map_base = self.odom_history.wait_lookup(stamp_s, timeout_s, self.max_gap_s,
                                                   self.tolerance_s)
        return self._in_map(T_map_base, self._frames["odom"], stamp_s,
                            timeout_s) @ self.T_base_cam

    def _in_map(self, T_frame_x: np.ndarray, frame_id: str, stamp_s: float,
                timeout_s: float) -> np.ndarray:
        """A pose in ``frame_id`` expressed in the map: composed with ``map <- odom``
        when the pose is in odom and the TF buffer has that link."""
        buffer = self.tf_buffer
        if (frame_id != self.odom_frame or frame_id == self.map_frame or buffer is None
                or not {self.map_frame, self.odom_frame} <= set(buffer.frames())):
            return T_frame_x
        try:
            T_map_odom = buffer.wait_lookup(self.map_frame, self.odom_frame, stamp_s,
                                            timeout_s)
        except TfError as exc:
            raise PoseUnavailable(exc.reason, f"{self.map_frame} <- {self.odom_frame}: "
                                  f"{exc}") from exc
        return T_map_odom @ T_frame_x

    @property
    def resets(self) -> int:
        """Times a pose history was cleared because its stamps jumped backwards (a sender
        clock restart); reported as ``pose.resets`` in /diagnostics."""
        return self.camera_history.resets + self.odom_history.resets

    def clear(self) -> None:
        self.camera_history.clear()
        self.odom_history.clear()


class BufferTfPoseSource:
    """``T_map_cam`` at the frame stamp from the in-package :class:`TfBuffer` fed by /tf
    and /tf_static (``pose_source: tf`` without tf2_ros; see the module docstring).

    Args:
        node: the node that owns the two subscriptions.
        map_frame: the lookup's target frame.
        cache_time_s: dynamic transforms kept [s] (tf2's default 10 s).
        group: callback group of the subscriptions.
        on_refused: called with each refused transform (:class:`InvalidMessage`).
        stamp_guard: checks the stamps of /tf transforms (zero, far future), or None.
    """

    def __init__(self, node: Any, map_frame: str, cache_time_s: float = 10.0,
                 group: Any = None,
                 on_refused: Callable[[InvalidMessage], None] | None = None,
                 stamp_guard: StampGuard | None = None) -> None:
        self.map_frame = map_frame
        self.buffer = TfBuffer(cache_time_s)
        self._subscriptions = TfSubscriptions(node, self.buffer, group, on_refused,
                                              stamp_guard)

    def lookup(self, stamp_s: float, frame_id: str, timeout_s: float) -> np.ndarray:
        """``T_map_<frame_id>`` (4x4) at ``stamp_s`` [s], waiting up to ``timeout_s`` [s]
        for transforms still to come. Raises :class:`PoseUnavailable` with the buffer's
        reason (``tf_extrapolation``, ``tf_unknown_frame``, ``tf_connectivity``)."""
        try:
            return self.buffer.wait_lookup(self.map_frame, frame_id, stamp_s, timeout_s)
        except TfError as exc:
            raise PoseUnavailable(exc.reason, f"{self.map_frame} <- {frame_id}: {exc}") \
                from exc

    def clear(self) -> None:
        self.buffer.clear()

    def close(self) -> None:
        """Destroy the /tf and /tf_static subscriptions (idempotent)."""
        self._subscriptions.close()


class TfPoseSource:
    """``T_map_cam`` from tf2 at the frame stamp (only built where tf2_ros imports).

    The buffer and listener live on the node. The listener is made with
    ``spin_thread=False``: its /tf and /tf_static subscriptions are served by the node's
    own (multi-threaded) executor, in the reentrant callback group tf2_ros creates for
    them, so they keep filling the buffer on another executor thread while a lookup
    blocks the worker up to its timeout. (``spin_thread=True`` would add the node to a
    private tf2 executor and take it out of the node's executor.)

    Call :meth:`close` when the source is dropped (cleanup/shutdown): it removes the
    listener's subscriptions and the buffer's ``tf2_frames`` service from the node, so a
    later configure starts from a clean node.
    """

    def __init__(self, node: Any, map_frame: str) -> None:
        import tf2_ros

        self._tf2_ros = tf2_ros
        self._node = node
        self.map_frame = map_frame
        self.buffer = tf2_ros.Buffer(node=node)
        self.listener = tf2_ros.TransformListener(self.buffer, node, spin_thread=False)
        self._closed = False

    def lookup(self, stamp_s: float, frame_id: str, timeout_s: float) -> np.ndarray:
        """``T_map_<frame_id>`` (4x4) at ``stamp_s`` [s], waiting up to ``timeout_s`` [s].

        Raises :class:`PoseUnavailable` (reason ``tf_lookup``) for any tf2 failure
        (unknown frame, no connection, extrapolation, timeout, invalid argument).
        """
        from rclpy.duration import Duration
        from rclpy.time import Time

        when = Time(nanoseconds=int(round(stamp_s * 1e9)))
        try:
            msg = self.buffer.lookup_transform(self.map_frame, frame_id, when,
                                               timeout=Duration(seconds=timeout_s))
        except self._tf2_ros.TransformException as exc:
            raise PoseUnavailable("tf_lookup", f"{self.map_frame} <- {frame_id}: {exc}") from exc
        return transform_to_matrix(msg.transform)

    def clear(self) -> None:
        self.buffer.clear()

    def close(self) -> None:
        """Detach from the node: unregister the listener's subscriptions, destroy the
        buffer's ``tf2_frames`` service and its clock-jump callback. Idempotent; lookups
        after it fail with ``tf_lookup`` once the buffered transforms are too old."""
        if self._closed:
            return
        self._closed = True
        self.listener.unregister()
        service = getattr(self.buffer, "srv", None)
        if service is not None:
            self._node.destroy_service(service)
        jump_handle = getattr(self.buffer, "jump_handle", None)
        if jump_handle is not None:
            jump_handle.unregister()
