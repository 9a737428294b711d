"""Procedural indoor scenes from a seed: a floor plan and 8-30 placed objects.

Map frame (REP-105 "map"): z up, metres, floor at z = 0, the room's bounding box starts
at (0, 0). Every object is a *yawed box*: ``center_m`` (3,) is the centre of its
ground-truth box, ``size_m`` (3,) its extent along its own x (heading ``yaw_rad``,
counter-clockwise from map +x, in (-pi, pi]), y and z (up), exactly as
:class:`ssr_ros.core.types.ObjectState` defines them. An object's front faces its local
+y; objects standing at a wall have their back (-y) to it.

Guarantees (tested): the same seed gives the same scene; objects do not interpenetrate
(their boxes are disjoint, small items rest exactly on their support's top); every object
lies inside the room polygon and clear of walls; small objects stand on a support whose
id is their ``support_id``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np

from ssr_ros.core.geometry import box_corners_xy, wrap_angle
from ssr_ros.core.types import ObjectState, Room
from ssr_ros.sim import catalog
from ssr_ros.sim.layout import WALL_THICKNESS_M, Layout, Zone, make_layout
from ssr_ros.sim.planar import convex_overlap, points_in_polygon, segment_hits_convex

MIN_OBJECTS = 8
MAX_OBJECTS = 30
_FLOOR_MARGIN_M = 0.05
_SURFACE_MARGIN_M = 0.02
_WALL_GAP_M = 0.02
_TRIES = 60


class SceneGenerationError(ValueError):
    """The scene could not be built with the requested seed and category set."""


@dataclass
class GTObject:
    """A ground-truth object (see the module docstring for frames and units)."""

    id: int
    category: str
    center_m: np.ndarray
    size_m: np.ndarray
    yaw_rad: float
    support_id: Optional[int] = None

    def __post_init__(self) -> None:
        self.center_m = np.asarray(self.center_m, dtype=np.float64).reshape(3)
        self.size_m = np.asarray(self.size_m, dtype=np.float64).reshape(3)
        self.yaw_rad = wrap_angle(self.yaw_rad)

    def footprint_xy(self) -> np.ndarray:
        """Corners (4, 2) [m] of the box's ground footprint, counter-clockwise."""
        return box_corners_xy(self.center_m[:2], self.size_m[:2], self.yaw_rad)

    @property
    def z_range_m(self) -> tuple[float, float]:
        return (float(self.center_m[2] - 0.5 * self.size_m[2]),
                float(self.center_m[2] + 0.5 * self.size_m[2]))

    def to_object_state(self, **kwargs: object) -> ObjectState:
        """This object as the core's :class:`ObjectState` (label = category)."""
        return ObjectState(id=self.id, label=self.category, center_m=self.center_m.copy(),
                           size_m=self.size_m.copy(), yaw_rad=self.yaw_rad, **kwargs)

    def to_dict(self) -> dict:
        return {"id": self.id, "category": self.category,
                "center_m": [float(v) for v in self.center_m],
                "size_m": [float(v) for v in self.size_m],
                "yaw_rad": float(self.yaw_rad), "support_id": self.support_id}


@dataclass
class Scene:
    """A generated scene: ``objects`` (ids 1..N), the ``room`` (outline polygon and
    floor area), the ceiling ``height_m`` and the ``layout`` it was built on."""

    seed: int
    layout: Layout
    objects: list[GTObject]
    room: Room
    height_m: float
    categories: tuple[str, ...] = field(default_factory=tuple)

    def object(self, object_id: int) -> GTObject:
        for obj in self.objects:
            if obj.id == object_id:
                return obj
        raise KeyError(f"no object with id {object_id}")

    def of_category(self, name: str) -> list[GTObject]:
        return [o for o in self.objects if o.category == name]

    def object_states(self) -> list[ObjectState]:
        """All objects as the core's :class:`ObjectState` records (an oracle map)."""
        return [o.to_object_state() for o in self.objects]

    def category_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for obj in self.objects:
            counts[obj.category] = counts.get(obj.category, 0) + 1
        return counts

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "layout": self.layout.kind,
            "zones": [{"x0": z.x0, "y0": z.y0, "x1": z.x1, "y1": z.y1, "theme": z.theme}
                      for z in self.layout.zones],
            "partitions": [{"x_m": p.x_m, "y0_m": p.y0_m, "y1_m": p.y1_m,
                            "door_y0_m": p.door_y0_m, "door_y1_m": p.door_y1_m}
                           for p in self.layout.partitions],
            "room": {"polygon_xy": self.room.polygon_xy.tolist(),
                     "floor_area_m2": float(self.room.floor_area_m2),
                     "height_m": float(self.height_m)},
            "objects": [o.to_dict() for o in self.objects],
        }


class _Placer:
    """Rejection sampler that places boxes without overlap inside the layout."""

    def __init__(self, layout: Layout, rng: np.random.Generator) -> None:
        self.layout = layout
        self.rng = rng
        self.objects: list[GTObject] = []
        poly = layout.polygon_xy
        self.walls = [(poly[i], poly[(i + 1) % len(poly)]) for i in range(len(poly))]
        self.partition_segments = [seg for p in layout.partitions
                                   for seg in p.solid_segments()]
        # Keep the doorway walkable: nothing stands within 0.9 m of a door opening.
        self.keep_out = [box_corners_xy(np.array([p.x_m, 0.5 * (p.door_y0_m + p.door_y1_m)]),
                                        np.array([1.8, p.door_y1_m - p.door_y0_m + 0.2]), 0.0)
                         for p in layout.partitions]

    def fits(self, center: np.ndarray, size: np.ndarray, yaw: float, on_floor: bool) -> bool:
        corners = box_corners_xy(center[:2], size[:2], yaw)
        if not points_in_polygon(corners, self.layout.polygon_xy).all():
            return False
        if any(segment_hits_convex(p, q, corners, 0.01) for p, q in self.walls):
            return False
        half_wall = 0.5 * WALL_THICKNESS_M + _WALL_GAP_M
        if any(segment_hits_convex(p, q, corners, half_wall)
               for p, q in self.partition_segments):
            return False
        if on_floor and any(convex_overlap(corners, k) for k in self.keep_out):
            return False
        z0, z1 = center[2] - 0.5 * size[2], center[2] + 0.5 * size[2]
        if z1 > self.layout.height_m - 0.05:
            return False
        margin = _FLOOR_MARGIN_M if on_floor else _SURFACE_MARGIN_M
        for other in self.objects:
            o0, o1 = other.z_range_m
            if z1 <= o0 + 1e-6 or o1 <= z0 + 1e-6:
                continue
            if convex_overlap(corners, other.footprint_xy(), margin):
                return False
        return True

    def add(self, cat: catalog.Category, center: np.ndarray, size: np.ndarray, yaw: float,
            support_id: Optional[int] = None) -> GTObject:
        obj = GTObject(len(self.objects) + 1, cat.name, center, size, yaw, support_id)
        self.objects.append(obj)
        return obj

    def wall_edges(self, zone: Zone) -> list[tuple[np.ndarray, np.ndarray]]:
        """Outer-wall pieces on this zone's boundary, directed with the room on the left."""
        pieces = []
        for p, q in self.walls:
            if abs(p[1] - q[1]) < 1e-9 and any(abs(p[1] - v) < 1e-9 for v in (zone.y0,
                                                                              zone.y1)):
                lo, hi = max(min(p[0], q[0]), zone.x0), min(max(p[0], q[0]), zone.x1)
                if hi - lo > 1e-6:
                    a, b = (lo, hi) if q[0] > p[0] else (hi, lo)
                    pieces.append((np.array([a, p[1]]), np.array([b, p[1]])))
            elif abs(p[0] - q[0]) < 1e-9 and any(abs(p[0] - v) < 1e-9 for v in (zone.x0,
                                                                                zone.x1)):
                lo, hi = max(min(p[1], q[1]), zone.y0), min(max(p[1], q[1]), zone.y1)
                if hi - lo > 1e-6:
                    a, b = (lo, hi) if q[1] > p[1] else (hi, lo)
                    pieces.append((np.array([p[0], a]), np.array([p[0], b])))
        return pieces


def _sample_size(cat: catalog.Category, rng: np.random.Generator) -> np.ndarray:
    x = rng.uniform(*cat.size_x_m)
    y = x if cat.square else rng.uniform(*cat.size_y_m)
    z = rng.uniform(*cat.size_z_m)
    return np.round(np.array([x, y, z]), 3)


def _facing_yaw(direction_xy: np.ndarray) -> float:
    """Yaw whose local +y (the object's front) points along ``direction_xy``."""
    return math.atan2(-direction_xy[0], direction_xy[1])


def _place_wall(pl: _Placer, cat: catalog.Category, zone: Zone, size: np.ndarray) -> bool:
    edges = [e for e in pl.wall_edges(zone) if np.linalg.norm(e[1] - e[0]) > size[0] + 0.1]
    if not edges:
        return False
    lengths = np.array([np.linalg.norm(q - p) for p, q in edges])
    for _ in range(_TRIES):
        p, q = edges[int(pl.rng.choice(len(edges), p=lengths / lengths.sum()))]
        length = float(np.linalg.norm(q - p))
        direction = (q - p) / length
        inward = np.array([-direction[1], direction[0]])
        along = pl.rng.uniform(0.5 * size[0] + 0.05, length - 0.5 * size[0] - 0.05)
        xy = p + direction * along + inward * (0.5 * size[1] + _WALL_GAP_M)
        center = np.array([xy[0], xy[1], 0.5 * size[2]])
        yaw = math.atan2(direction[1], direction[0])
        if pl.fits(center, size, yaw, on_floor=True):
            pl.add(cat, center, size, yaw)
            return True
    return False


def _place_free(pl: _Placer, cat: catalog.Category, zone: Zone, size: np.ndarray) -> bool:
    sofas = [o for o in pl.objects if o.category == "sofa" and zone.contains(o.center_m)]
    for attempt in range(_TRIES):
        if cat.name == "coffee table" and sofas and attempt < _TRIES // 2:
            sofa = sofas[0]
            front = np.array([-math.sin(sofa.yaw_rad), math.cos(sofa.yaw_rad)])
            gap = pl.rng.uniform(0.35, 0.6)
            xy = sofa.center_m[:2] + front * (0.5 * sofa.size_m[1] + gap + 0.5 * size[1])
            yaw = sofa.yaw_rad
        else:
            reach = 0.5 * math.hypot(size[0], size[1]) + 0.05
            if zone.x1 - zone.x0 <= 2 * reach or zone.y1 - zone.y0 <= 2 * reach:
                return False
            xy = np.array([pl.rng.uniform(zone.x0 + reach, zone.x1 - reach),
                           pl.rng.uniform(zone.y0 + reach, zone.y1 - reach)])
            if cat.name in ("armchair", "chair"):
                yaw = _facing_yaw(zone.center_xy - xy) + pl.rng.uniform(-0.3, 0.3)
            elif pl.rng.random() < 0.7:
                yaw = 0.5 * math.pi * int(pl.rng.integers(4)) + pl.rng.uniform(-0.05, 0.05)
            else:
                yaw = pl.rng.uniform(-math.pi, math.pi)
        center = np.array([xy[0], xy[1], 0.5 * size[2]])
        if pl.fits(center, size, yaw, on_floor=True):
            pl.add(cat, center, size, yaw)
            return True
    return False


def _place_table_side(pl: _Placer, cat: catalog.Category, zone: Zone,
                      size: np.ndarray) -> bool:
    tables = [o for o in pl.objects if o.category in ("dining table", "desk")]
    tables.sort(key=lambda o: (not zone.contains(o.center_m), o.id))
    for table in tables[:2]:
        c, s = math.cos(table.yaw_rad), math.sin(table.yaw_rad)
        axis_x, axis_y = np.array([c, s]), np.array([-s, c])
        sides = [(axis_y, axis_x, table.size_m[1], table.size_m[0])]
        if table.category == "dining table":
            sides += [(-axis_y, axis_x, table.size_m[1], table.size_m[0]),
                      (axis_x, axis_y, table.size_m[0], table.size_m[1]),
                      (-axis_x, axis_y, table.size_m[0], table.size_m[1])]
        for _ in range(_TRIES // 2):
            out, along_axis, depth, span = sides[int(pl.rng.integers(len(sides)))]
            slack = max(0.0, 0.5 * span - 0.5 * size[0])
            along = pl.rng.uniform(-slack, slack)
            dist = 0.5 * depth + pl.rng.uniform(0.06, 0.2) + 0.5 * size[1]
            xy = table.center_m[:2] + out * dist + along_axis * along
            center = np.array([xy[0], xy[1], 0.5 * size[2]])
            yaw = _facing_yaw(-out)
            if pl.fits(center, size, yaw, on_floor=True):
                pl.add(cat, center, size, yaw)
                return True
    return False


def _place_surface(pl: _Placer, cat: catalog.Category, zone: Zone, size: np.ndarray) -> bool:
    supports = [o for o in pl.objects if o.category in cat.supports and o.support_id is None]
    supports.sort(key=lambda o: (not zone.contains(o.center_m), o.id))
    aligned = cat.name in ("tv", "monitor", "microwave", "laptop")
    for support in supports[:3]:
        top = support.footprint_xy()
        for _ in range(_TRIES // 2):
            yaw = support.yaw_rad if aligned else pl.rng.uniform(-math.pi, math.pi)
            c, s = math.cos(support.yaw_rad), math.sin(support.yaw_rad)
            hx, hy = 0.5 * support.size_m[0], 0.5 * support.size_m[1]
            local = np.array([pl.rng.uniform(-hx, hx), pl.rng.uniform(-hy, hy)])
            if cat.name in ("tv", "monitor"):
                local[1] = -hy + 0.5 * size[1] + pl.rng.uniform(0.02, 0.08)
            xy = support.center_m[:2] + np.array([c * local[0] - s * local[1],
                                                  s * local[0] + c * local[1]])
            center = np.array([xy[0], xy[1], support.z_range_m[1] + 0.5 * size[2]])
            corners = box_corners_xy(center[:2], size[:2], yaw)
            if not points_in_polygon(corners, top).all():
                continue
            if pl.fits(center, size, yaw, on_floor=False):
                pl.add(cat, center, size, yaw, support_id=support.id)
                return True
    return False


_PLACERS = {"wall": _place_wall, "free": _place_free, "table_side": _place_table_side,
            "surface": _place_surface}


def _place(pl: _Placer, name: str, zone: Zone) -> bool:
    cat = catalog.category(name)
    size = _sample_size(cat, pl.rng)
    return _PLACERS[cat.placement](pl, cat, zone, size)


def make_scene(seed: int, categories: Optional[Iterable[str]] = None) -> Scene:
    """Build the scene of ``seed`` (an int >= 0); the same seed gives the same scene.

    ``categories`` restricts the catalogue (names from :data:`catalog.CATEGORY_NAMES`);
    unknown names raise :class:`catalog.UnknownCategoryError`, and a set from which
    fewer than 8 objects can be placed raises :class:`SceneGenerationError`.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SceneGenerationError(f"seed must be an integer >= 0, got {seed!r}")
    allowed = (catalog.CATEGORY_NAMES if categories is None
               else catalog.validate_categories(list(categories)))
    rng = np.random.default_rng(int(seed))
    layout = make_layout(rng)
    pl = _Placer(layout, rng)
    requests: list[tuple[str, Zone]] = []
    for zone in layout.zones:
        for name, lo, hi in catalog.THEMES[zone.theme]:
            if name in allowed:
                requests += [(name, zone)] * int(rng.integers(lo, hi + 1))
    for name, zone in requests:
        if len(pl.objects) >= MAX_OBJECTS:
            break
        _place(pl, name, zone)
    fillers = [n for n in catalog.FILLERS if n in allowed] or list(allowed)
    attempts = 0
    while len(pl.objects) < MIN_OBJECTS and attempts < 200:
        zone = layout.zones[int(rng.integers(len(layout.zones)))]
        _place(pl, str(rng.choice(fillers)), zone)
        attempts += 1
    if len(pl.objects) < MIN_OBJECTS:
        raise SceneGenerationError(
            f"seed {seed}: only {len(pl.objects)} objects fit from the categories "
            f"{', '.join(allowed)} (at least {MIN_OBJECTS} needed)")
    room = Room(polygon_xy=layout.polygon_xy.copy(), floor_area_m2=layout.floor_area_m2)
    return Scene(int(seed), layout, pl.objects, room, layout.height_m, tuple(allowed))
