"""Room layouts: one rectangle, an L-shape, or two rooms joined by a door.

Map frame (REP-105 "map"): z up, metres, the layout's bounding box starts at (0, 0).
A layout is a union of axis-aligned rectangles (*zones*, each with a theme), the
counter-clockwise outline polygon of that union (the outer walls), and, for two rooms,
a partition wall with a door opening. Overall extent is 3-9 m in x and in y; the
ceiling height is 2.4-3.0 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssr_ros.core.geometry import polygon_area
from ssr_ros.sim.planar import rect_union_outline

WALL_THICKNESS_M = 0.10
DOOR_WIDTH_M = 1.0
DOOR_HEIGHT_M = 2.05


@dataclass(frozen=True)
class Zone:
    """An axis-aligned part of the floor ``(x0, y0, x1, y1)`` [m] with its room theme."""

    x0: float
    y0: float
    x1: float
    y1: float
    theme: str

    @property
    def area_m2(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    @property
    def center_xy(self) -> np.ndarray:
        return np.array([0.5 * (self.x0 + self.x1), 0.5 * (self.y0 + self.y1)])

    def contains(self, xy: np.ndarray) -> bool:
        return bool(self.x0 <= xy[0] <= self.x1 and self.y0 <= xy[1] <= self.y1)


@dataclass(frozen=True)
class PartitionWall:
    """A straight interior wall at ``x = x_m`` from ``y0_m`` to ``y1_m`` with a door
    opening ``[door_y0_m, door_y1_m]`` (full wall thickness ``WALL_THICKNESS_M``)."""

    x_m: float
    y0_m: float
    y1_m: float
    door_y0_m: float
    door_y1_m: float

    def solid_segments(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The wall's centre line minus the door, as segments (p, q) [m]."""
        return [(np.array([self.x_m, self.y0_m]), np.array([self.x_m, self.door_y0_m])),
                (np.array([self.x_m, self.door_y1_m]), np.array([self.x_m, self.y1_m]))]


@dataclass(frozen=True)
class Layout:
    """The room's floor plan: ``kind`` is "rectangle", "l_shape" or "two_rooms"."""

    kind: str
    zones: tuple[Zone, ...]
    polygon_xy: np.ndarray
    partitions: tuple[PartitionWall, ...]
    height_m: float

    @property
    def floor_area_m2(self) -> float:
        return abs(polygon_area(self.polygon_xy))

    def zone_of(self, xy: np.ndarray) -> Zone:
        """The zone containing ``xy``, or the nearest one."""
        for zone in self.zones:
            if zone.contains(xy):
                return zone
        return min(self.zones, key=lambda z: float(np.linalg.norm(z.center_xy - xy)))


def _themes_for(rng: np.random.Generator, areas: list[float]) -> list[str]:
    big = ["living", "bedroom", "office", "kitchen"]
    themes = []
    for area in areas:
        pool = big + (["bathroom"] if area < 12.0 else [])
        choice = str(rng.choice([t for t in pool if t not in themes]))
        themes.append(choice)
    return themes


def make_layout(rng: np.random.Generator) -> Layout:
    """Draw a floor plan: 50 % one rectangle (two themed zones when over 30 m^2),
    25 % L-shape, 25 % two rooms."""
    height_m = float(rng.uniform(2.4, 3.0))
    kind = str(rng.choice(["rectangle", "rectangle", "l_shape", "two_rooms"]))
    partitions: tuple[PartitionWall, ...] = ()
    if kind == "rectangle":
        w, d = (float(v) for v in rng.uniform(3.0, 9.0, size=2))
        if w * d > 30.0:
            # A large open space gets two functional areas (e.g. living + dining).
            if w >= d:
                cut = float(rng.uniform(0.45, 0.55)) * w
                rects = [(0.0, 0.0, cut, d), (cut, 0.0, w, d)]
            else:
                cut = float(rng.uniform(0.45, 0.55)) * d
                rects = [(0.0, 0.0, w, cut), (0.0, cut, w, d)]
        else:
            rects = [(0.0, 0.0, w, d)]
    elif kind == "l_shape":
        w, d = rng.uniform(4.5, 9.0, size=2)
        depth_a = float(rng.uniform(2.5, d - 2.0))
        width_b = float(rng.uniform(2.5, w - 1.5))
        x0_b = 0.0 if rng.random() < 0.5 else float(w) - width_b
        rects = [(0.0, 0.0, float(w), depth_a), (x0_b, depth_a, x0_b + width_b, float(d))]
    else:
        w1 = float(rng.uniform(2.8, 5.0))
        w2 = float(rng.uniform(2.8, min(5.0, 9.0 - w1)))
        d1 = float(rng.uniform(3.0, 7.0))
        b0 = float(rng.uniform(0.0, d1 - 2.0))
        d2 = float(rng.uniform(2.5, 9.0 - b0))
        rects = [(0.0, 0.0, w1, d1), (w1, b0, w1 + w2, b0 + d2)]
        lo, hi = max(0.0, b0), min(d1, b0 + d2)
        door_mid = float(rng.uniform(lo + 0.4 + DOOR_WIDTH_M / 2, hi - 0.4 - DOOR_WIDTH_M / 2))
        partitions = (PartitionWall(w1, lo, hi, door_mid - DOOR_WIDTH_M / 2,
                                    door_mid + DOOR_WIDTH_M / 2),)
    areas = [(r[2] - r[0]) * (r[3] - r[1]) for r in rects]
    themes = _themes_for(rng, areas)
    zones = tuple(Zone(*r, theme=t) for r, t in zip(rects, themes))
    return Layout(kind, zones, rect_union_outline(rects), partitions, height_m)
