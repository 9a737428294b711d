"""Camera poses over time, interpolated at frame stamps, and the robot's ground-plane
pose seen from its camera. No ROS here: :mod:`ssr_ros.ros.pose_source` fills a
:class:`PoseHistory` from pose messages."""

from __future__ import annotations

import bisect
import threading
import time

import numpy as np

from ssr_ros.core.geometry import (InvalidTransformError, camera_heading_rad, check_pose,
                                   interpolate_pose)
from ssr_ros.core.types import RobotPose2D
from ssr_ros.runtime.errors import InvalidMessage, PoseUnavailable


class PoseHistory:
    """Time-ordered poses ``T_map_x`` (4x4) with interpolation at arbitrary stamps.

    Bounded by ``max_entries`` and by ``max_age_s`` behind the newest stamp. A stamp more
    than ``reset_back_s`` older than the newest one means the sender's clock restarted
    (a replayed bag, a simulator reset): the history is cleared, as tf2 does on a time
    jump backwards.
    """

    def __init__(self, max_age_s: float = 30.0, max_entries: int = 4096,
                 reset_back_s: float = 5.0) -> None:
        if max_entries < 2 or not max_age_s > 0.0:
            raise ValueError("PoseHistory needs max_entries >= 2 and max_age_s > 0")
        self._stamps: list[float] = []
        self._poses: list[np.ndarray] = []
        self._max_age_s = float(max_age_s)
        self._max_entries = int(max_entries)
        self._reset_back_s = float(reset_back_s)
        self._cond = threading.Condition()
        #: Times the history was cleared because stamps jumped backwards.
        self.resets = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._stamps)

    def add(self, stamp_s: float, T_map_x: np.ndarray) -> None:
        """Insert a pose [4x4, child -> map] at ``stamp_s`` [s]; a repeated stamp replaces.

        Raises :class:`InvalidMessage` ``pose_nan`` for a non-rigid or non-finite pose and
        ``stamp`` for a non-finite stamp; the history is then unchanged.
        """
        if not np.isfinite(stamp_s):
            raise InvalidMessage("stamp", f"pose stamp {stamp_s!r} is not finite")
        try:
            T = check_pose(T_map_x, "pose")
        except InvalidTransformError as exc:
            raise InvalidMessage("pose_nan", str(exc)) from exc
        with self._cond:
            if self._stamps and stamp_s < self._stamps[-1] - self._reset_back_s:
                self._stamps.clear()
                self._poses.clear()
                self.resets += 1
            i = bisect.bisect_left(self._stamps, stamp_s)
            if i < len(self._stamps) and self._stamps[i] == stamp_s:
                self._poses[i] = T
            else:
                self._stamps.insert(i, stamp_s)
                self._poses.insert(i, T)
            horizon = self._stamps[-1] - self._max_age_s
            drop = max(len(self._stamps) - self._max_entries,
                       bisect.bisect_left(self._stamps, horizon))
            if drop > 0:
                del self._stamps[:drop]
                del self._poses[:drop]
            self._cond.notify_all()

    def latest(self) -> tuple[float, np.ndarray] | None:
        """Newest (stamp [s], pose) or None when empty."""
        with self._cond:
            if not self._stamps:
                return None
            return self._stamps[-1], self._poses[-1].copy()

    def clear(self) -> None:
        with self._cond:
            self._stamps.clear()
            self._poses.clear()

    def lookup(self, stamp_s: float, max_gap_s: float = 0.5,
               tolerance_s: float = 0.02) -> np.ndarray:
        """Pose at ``stamp_s``: interpolated between the two poses around it.

        Stamps within ``tolerance_s`` outside the covered span take the nearest pose (no
        extrapolation). Raises :class:`PoseUnavailable`: ``no_pose`` (empty),
        ``pose_too_old`` (before the span), ``pose_not_yet`` (after it), ``pose_gap``
        (the bracketing poses are more than ``max_gap_s`` apart).
        """
        with self._cond:
            return self._lookup_locked(stamp_s, max_gap_s, tolerance_s)

    def wait_lookup(self, stamp_s: float, timeout_s: float, max_gap_s: float = 0.5,
                    tolerance_s: float = 0.02) -> np.ndarray:
        """Like :meth:`lookup`, but waits up to ``timeout_s`` [s] for a pose at or after
        the stamp to arrive (poses often trail the images by a few milliseconds)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while True:
                try:
                    return self._lookup_locked(stamp_s, max_gap_s, tolerance_s)
                except PoseUnavailable as exc:
                    remaining = deadline - time.monotonic()
                    if exc.reason not in ("no_pose", "pose_not_yet") or remaining <= 0.0:
                        raise
                    self._cond.wait(remaining)

    def _lookup_locked(self, stamp_s: float, max_gap_s: float,
                       tolerance_s: float) -> np.ndarray:
        stamps = self._stamps
        if not stamps:
            raise PoseUnavailable("no_pose", "no pose received yet")
        if stamp_s <= stamps[0]:
            if stamps[0] - stamp_s <= tolerance_s:
                return self._poses[0].copy()
            raise PoseUnavailable("pose_too_old", f"stamp {stamp_s:.3f} s is before the "
                                  f"oldest pose {stamps[0]:.3f} s")
        if stamp_s >= stamps[-1]:
            if stamp_s - stamps[-1] <= tolerance_s:
                return self._poses[-1].copy()
            raise PoseUnavailable("pose_not_yet", f"stamp {stamp_s:.3f} s is after the "
                                  f"newest pose {stamps[-1]:.3f} s")
        i = bisect.bisect_right(stamps, stamp_s)
        t0, t1 = stamps[i - 1], stamps[i]
        if t1 - t0 > max_gap_s:
            raise PoseUnavailable("pose_gap", f"poses around {stamp_s:.3f} s are "
                                  f"{t1 - t0:.3f} s apart")
        alpha = (stamp_s - t0) / (t1 - t0)
        return interpolate_pose(self._poses[i - 1], self._poses[i], alpha)


def robot_pose_from_camera(T_map_cam: np.ndarray, stamp_s: float = 0.0) -> RobotPose2D:
    """The robot's ground-plane pose as seen from its camera: position of the optical
    centre, heading of the optical axis (robot-centric queries face where the camera
    looks)."""
    return RobotPose2D(x=float(T_map_cam[0, 3]), y=float(T_map_cam[1, 3]),
                       yaw_rad=camera_heading_rad(T_map_cam), stamp_s=float(stamp_s))
