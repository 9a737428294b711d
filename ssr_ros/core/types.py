"""Plain records shared by the core modules, the perception stage and the ROS glue.

Frames: "map" is the fixed world frame (REP-105), z up. Camera poses are
``T_map_cam`` (4x4, maps points from the camera optical frame, REP-103: x right,
y down, z forward, into the map frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ObjectState:
    """One object of the metric map, as the query engine, the cogmap and the ROS
    messages see it.

    ``center_m`` is the centre of the object's 3D box in the map frame [m];
    ``size_m`` its extent [m] along the box's own x (heading ``yaw_rad``), y and z (up);
    ``yaw_rad`` is the heading of the box's x axis in the ground plane, counter-clockwise
    from map +x, in (-pi, pi]. ``first_seen_s`` is the stamp [s] of the first frame in
    which it was visible (the keyframe that first detected it, or an earlier frame it
    was already visible in: see :mod:`ssr_ros.perception.sightings`), ``last_seen_s``
    that of the latest keyframe that observed it, and ``first_seen_order`` the index of
    the first keyframe that detected it; appearance order sorts by ``first_seen_s``, then
    ``first_seen_order``.
    """

    id: int
    label: str
    center_m: np.ndarray
    size_m: np.ndarray
    yaw_rad: float = 0.0
    score: float = 1.0
    observation_count: int = 1
    first_seen_s: float = 0.0
    last_seen_s: float = 0.0
    first_seen_order: int = 0
    size_from_prior: bool = False

    def __post_init__(self) -> None:
        self.center_m = np.asarray(self.center_m, dtype=np.float64).reshape(3)
        self.size_m = np.asarray(self.size_m, dtype=np.float64).reshape(3)

    @property
    def xy(self) -> np.ndarray:
        """Bird's-eye position (map x, y) [m]."""
        return self.center_m[:2]


@dataclass
class RobotPose2D:
    """The robot's pose in the map's ground plane: position [m] and heading [rad]
    (counter-clockwise from map +x), as robot-centric queries use it."""

    x: float
    y: float
    yaw_rad: float
    stamp_s: float = 0.0

    def as_array(self) -> np.ndarray:
        return np.array([self.x, self.y, self.yaw_rad], dtype=np.float64)


@dataclass
class Room:
    """Extent of the mapped space: a ground polygon in the map frame [m] (counter-clockwise
    vertices) and its floor area [m^2]."""

    polygon_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    floor_area_m2: float = 0.0
