"""The camera's pose in the map at a frame's stamp.

Two sources, chosen by the ``pose_source`` parameter:

* ``tf``: a ``tf2_ros`` lookup ``map <- camera optical frame`` at the frame stamp with a
  timeout (never "latest": the map is built over time and a late pose smears it).
  Used when tf2_ros is importable (every ROS install).
* ``odom`` / ``camera_pose``: poses received on a topic (nav_msgs/Odometry of the robot
  base, or geometry_msgs/PoseStamped of the camera optical frame), kept in a bounded
  :class:`PoseHistory` and interpolated between stamps (slerp + lerp); the odometry pose
  is composed with a static ``T_base_cam`` extrinsic. This is what runs where tf2_ros is
  not installable (PyPI-only machines) and what a robot without a TF tree can use.

``auto`` means ``tf`` when tf2_ros imports, else both topics (camera_pose preferred).
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

from typing import Any

import numpy as np

from ssr_ros.core.geometry import check_pose
from ssr_ros.ros.conversions import (odometry_to_matrix, pose_stamped_to_matrix,
                                     transform_to_matrix)
from ssr_ros.runtime.errors import InvalidMessage, PoseUnavailable
from ssr_ros.runtime.pose_history import PoseHistory

POSE_SOURCES = ("auto", "tf", "odom", "camera_pose")


def tf2_available() -> bool:
    """True when ``tf2_ros`` can be imported (a ROS install, not the PyPI wheels)."""
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


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
    """

    def __init__(self, T_base_cam: np.ndarray, accepted_frames: tuple[str, ...],
                 max_age_s: float = 30.0, max_gap_s: float = 0.5,
                 tolerance_s: float = 0.02, mode: str = "auto") -> None:
        if mode not in ("auto", "odom", "camera_pose"):
            raise ValueError(f"mode must be auto, odom or camera_pose, got {mode!r}")
        self.mode = mode
        self.T_base_cam = check_pose(T_base_cam, "T_base_cam")
        self.accepted_frames = tuple(accepted_frames)
        self.max_gap_s = float(max_gap_s)
        self.tolerance_s = float(tolerance_s)
        self.camera_history = PoseHistory(max_age_s)
        self.odom_history = PoseHistory(max_age_s)

    def _check_frame(self, frame_id: str) -> None:
        if self.accepted_frames and frame_id not in self.accepted_frames:
            raise InvalidMessage("pose_frame", f"pose in frame {frame_id!r}, expected one "
                                 f"of {list(self.accepted_frames)}")

    def add_camera_pose(self, msg: Any) -> None:
        """Store a ``geometry_msgs/PoseStamped`` of the camera optical frame."""
        T_map_cam, stamp_s, frame_id = pose_stamped_to_matrix(msg)
        self._check_frame(frame_id)
        self.camera_history.add(stamp_s, T_map_cam)

    def add_odometry(self, msg: Any) -> None:
        """Store a ``nav_msgs/Odometry`` of the robot base."""
        T_map_base, stamp_s, frame_id = odometry_to_matrix(msg)
        self._check_frame(frame_id)
        self.odom_history.add(stamp_s, T_map_base)

    def lookup(self, stamp_s: float, frame_id: str, timeout_s: float) -> np.ndarray:
        """``T_map_cam`` at ``stamp_s`` [s]; ``frame_id`` is unused (topics name no child
        frame). Mode ``auto`` prefers camera poses when any were received."""
        use_camera = self.mode == "camera_pose" or (
            self.mode == "auto" and (len(self.camera_history) or not len(self.odom_history)))
        if use_camera:
            return self.camera_history.wait_lookup(stamp_s, timeout_s, self.max_gap_s,
                                                   self.tolerance_s)
        T_map_base = self.odom_history.wait_lookup(stamp_s, timeout_s, self.max_gap_s,
                                                   self.tolerance_s)
        return T_map_base @ self.T_base_cam

    @property
    def resets(self) -> int:
        """Times a pose history was cleared because its stamps jumped backwards (a sender
        clock restart); reported as ``pose.resets`` in /diagnostics."""
        return self.camera_history.resets + self.odom_history.resets

    def clear(self) -> None:
        self.camera_history.clear()
        self.odom_history.clear()


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
