"""Camera trajectories through a scene: a person walking and a planar robot.

Both follow one closed loop through the scene's free space, a 0.1 m grid of floor cells
in two tiers: *open* cells at least 0.45 m from walls and 0.35 m from every object
footprint, and *passage* cells at least 0.3 m from walls and 0.22 m from objects, where a
person still walks (between a bed and a wardrobe, past a desk) but not by choice. The
loop stays in the largest connected part of the passage tier (so a cluttered room is not
cut into patches the camera never leaves), its waypoints are open cells spread by
farthest-point sampling, visited in the shortest tour, joined by grid shortest paths on
which a passage cell costs ``PASSAGE_COST`` times an open one (the path squeezes through
a gap only where there is no way round), then straightened (line of sight through open
cells) and rounded (Chaikin). The camera is never inside an object, nor through a wall.

Poses are ``T_map_cam`` (4, 4) float64: the camera optical frame (REP-103: x right,
y down, z forward) into the map frame (REP-105, z up). The camera never rolls.
- ``walk``: eye height 1.4-1.6 m with a 2 cm step bob (so always within 1.2-1.7 m); the
  view turns toward the objects of the current room part (their mean weighted toward
  those 1.5-4 m away, blended with the part's centre), smoothed along the path, with
  yaw sweeps of +-60 degrees and pitch sweeping -24..-4 degrees, so most objects enter
  the view.
- ``robot``: planar, height 1.0 m, looking along the direction of travel, pitch -8 deg.

Speeds are limited (``SPEED_LIMITS``: walking 1.0 m/s and 90 deg/s, robot 0.6 m/s and
60 deg/s); the camera slows where its view turns fast. A sequence longer than one lap
at those limits makes exactly one (slower) lap; a shorter one covers the first part of
the lap, so short sequences see fewer objects (``lap_duration_s`` gives one lap's time;
``ssr_ros.sim.lap_frames`` the frame count). The path itself is the same for every
frame count and rate.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from ssr_ros.sim.planar import (distance_points_to_rect, distance_points_to_segment,
                                points_in_polygon)
from ssr_ros.sim.scene import Scene

GRID_CELL_M = 0.1
# (walls, partitions, objects) clearances [m] of the open and the passage tier
OPEN_CLEARANCE_M = (0.45, 0.3, 0.35)
PASSAGE_CLEARANCE_M = (0.3, 0.25, 0.22)
PASSAGE_COST = 4.0
# Amplitude of the walker's side-to-side look [deg]: +-60 saw 94 % of the objects of
# seeds 40-59 in one lap (+-35: 92 %), mostly what stands beside the path.
YAW_SWEEP_DEG = 60.0
ROBOT_HEIGHT_M = 1.0
_DENSE_SAMPLES = 2000
TRAJECTORY_KINDS = ("walk", "robot")
# Top speed [m/s], yaw rate [deg/s], pitch rate [deg/s] of each kind of camera carrier.
SPEED_LIMITS = {"walk": (1.0, 90.0, 60.0), "robot": (0.6, 60.0, 60.0)}


class TrajectoryError(ValueError):
    """No trajectory can be built (unknown kind, or no free space in the scene)."""


@dataclass
class FreeGrid:
    """Boolean grid of floor cells where the camera may be; cell (i, j) has its centre
    at ``origin_xy + (i + 0.5, j + 0.5) * cell_m`` [m]."""

    free: np.ndarray
    origin_xy: np.ndarray
    cell_m: float

    def center(self, ij: tuple[int, int]) -> np.ndarray:
        return self.origin_xy + (np.asarray(ij, dtype=np.float64) + 0.5) * self.cell_m

    def is_free_xy(self, xy: np.ndarray) -> np.ndarray:
        ij = np.floor((np.atleast_2d(xy) - self.origin_xy) / self.cell_m).astype(int)
        ok = ((ij >= 0) & (ij < np.array(self.free.shape))).all(axis=1)
        out = np.zeros(len(ij), dtype=bool)
        out[ok] = self.free[ij[ok, 0], ij[ok, 1]]
        return out


def free_space(scene: Scene, cell_m: float = GRID_CELL_M,
               clearance_m: tuple[float, float, float] = OPEN_CLEARANCE_M) -> FreeGrid:
    """Cells where a camera keeps ``clearance_m`` = (walls, partitions, objects) [m]."""
    wall_m, partition_m, object_m = clearance_m
    poly = scene.room.polygon_xy
    origin = poly.min(axis=0)
    shape = np.ceil((poly.max(axis=0) - origin) / cell_m).astype(int)
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    centers = origin + (np.stack([ii, jj], axis=-1).reshape(-1, 2) + 0.5) * cell_m
    free = points_in_polygon(centers, poly)
    for k in range(len(poly)):
        free &= distance_points_to_segment(centers, poly[k],
                                           poly[(k + 1) % len(poly)]) >= wall_m
    for partition in scene.layout.partitions:
        for p, q in partition.solid_segments():
            free &= distance_points_to_segment(centers, p, q) >= partition_m
    for obj in scene.objects:
        free &= distance_points_to_rect(centers, obj.center_m[:2], obj.size_m[:2],
                                        obj.yaw_rad) >= object_m
    return FreeGrid(free.reshape(shape), origin, cell_m)


_NEIGHBOURS = [(di, dj, math.hypot(di, dj)) for di in (-1, 0, 1) for dj in (-1, 0, 1)
               if di or dj]


def _geodesic(free: np.ndarray, start: tuple[int, int],
              cost: np.ndarray | None = None) -> np.ndarray:
    """Dijkstra distances [cells] over 8-connected free cells (inf where unreachable);
    ``cost`` (same shape) multiplies the length of each step into a cell."""
    dist = np.full(free.shape, np.inf)
    dist[start] = 0.0
    heap = [(0.0, start)]
    nx, ny = free.shape
    while heap:
        d, (i, j) = heapq.heappop(heap)
        if d > dist[i, j]:
            continue
        for di, dj, step in _NEIGHBOURS:
            a, b = i + di, j + dj
            if 0 <= a < nx and 0 <= b < ny and free[a, b]:
                # No corner cutting: a diagonal needs both side cells free.
                if di and dj and not (free[i + di, j] and free[i, j + dj]):
                    continue
                nd = d + (step if cost is None else step * cost[a, b])
                if nd < dist[a, b]:
                    dist[a, b] = nd
                    heapq.heappush(heap, (nd, (a, b)))
    return dist


def _descend(dist: np.ndarray, start: tuple[int, int]) -> list[tuple[int, int]]:
    path = [start]
    cell = start
    nx, ny = dist.shape
    while dist[cell] > 0.0:
        best = min(((cell[0] + di, cell[1] + dj) for di, dj, _ in _NEIGHBOURS
                    if 0 <= cell[0] + di < nx and 0 <= cell[1] + dj < ny),
                   key=lambda c: dist[c])
        cell = best
        path.append(cell)
    return path


def _line_free(grid: FreeGrid, a: np.ndarray, b: np.ndarray) -> bool:
    n = max(2, int(math.ceil(np.linalg.norm(b - a) / (0.25 * grid.cell_m))) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    return bool(grid.is_free_xy(a + t * (b - a)).all())


def _shortcut(grid: FreeGrid, points: np.ndarray) -> np.ndarray:
    out = [points[0]]
    i = 0
    while i < len(points) - 1:
        j = len(points) - 1
        while j > i + 1 and not _line_free(grid, points[i], points[j]):
            j -= 1
        out.append(points[j])
        i = j
    return np.array(out)


def _chaikin_closed(grid: FreeGrid, loop: np.ndarray, iterations: int = 3) -> np.ndarray:
    for _ in range(iterations):
        nxt = np.roll(loop, -1, axis=0)
        cut = np.empty((2 * len(loop), 2))
        cut[0::2] = 0.75 * loop + 0.25 * nxt
        cut[1::2] = 0.25 * loop + 0.75 * nxt
        closed = np.vstack([cut, cut[:1]])
        if not all(_line_free(grid, closed[k], closed[k + 1]) for k in range(len(cut))):
            break
        loop = cut
    return loop


def plan_loop(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """A closed loop (M, 2) [m] through the scene's free space (first point not repeated).
    """
    passage = free_space(scene, clearance_m=PASSAGE_CLEARANCE_M)
    open_ = free_space(scene, clearance_m=OPEN_CLEARANCE_M)
    if not passage.free.any():
        raise TrajectoryError(f"scene {scene.seed}: no free floor for a camera")
    cost = np.where(open_.free, 1.0, PASSAGE_COST)
    cells = np.argwhere(passage.free)
    # Keep the largest connected part so every waypoint is reachable; start on an open
    # cell when there is one (the loop's first waypoint).
    preferred = np.argwhere(open_.free & passage.free)
    pool = preferred if len(preferred) else cells
    start = tuple(pool[int(rng.integers(len(pool)))])
    best_dist = _geodesic(passage.free, start, cost)
    reach = np.isfinite(best_dist)
    if reach.sum() < 0.5 * len(cells):
        for _ in range(6):
            cand = tuple(cells[int(rng.integers(len(cells)))])
            d = _geodesic(passage.free, cand, cost)
            if np.isfinite(d).sum() > reach.sum():
                start, best_dist, reach = cand, d, np.isfinite(d)
    passage.free &= reach
    open_.free &= reach
    # waypoints on open cells (passage cells where the reachable part has none)
    targets = open_.free if open_.free.any() else passage.free
    area_m2 = int(passage.free.sum()) * passage.cell_m ** 2
    n_way = int(np.clip(round(area_m2 / 4.0) + 2, 3, 7))
    chosen = [start]
    dists = [best_dist]
    min_d = best_dist.copy()
    while len(chosen) < n_way:
        masked = np.where(targets, min_d, -np.inf)
        far = tuple(int(v) for v in np.unravel_index(int(np.argmax(masked)), masked.shape))
        if masked[far] * passage.cell_m < 1.0:
            break
        chosen.append(far)
        dists.append(_geodesic(passage.free, far, cost))
        min_d = np.minimum(min_d, dists[-1])
    if len(chosen) == 1:
        centre = passage.center(chosen[0])
        ang = np.linspace(0.0, 2.0 * math.pi, 16, endpoint=False)
        return centre + 0.05 * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    order = _best_tour([[float(dists[b][chosen[a]]) for b in range(len(chosen))]
                        for a in range(len(chosen))])
    legs = []
    for k in range(len(order)):
        a, b = order[k], order[(k + 1) % len(order)]
        cells_ab = _descend(dists[b], chosen[a])
        # straight lines only through open cells; a squeeze keeps its grid path
        legs.append(_shortcut(open_, np.array([passage.center(c) for c in cells_ab]))[:-1])
    return _chaikin_closed(passage, np.vstack(legs))


def _best_tour(dist: list[list[float]]) -> list[int]:
    """Shortest closed tour from node 0 (exact by Held-Karp; at most 7 nodes)."""
    n = len(dist)
    best: dict[tuple[int, int], tuple[float, int]] = {(1, 0): (0.0, -1)}
    for mask in range(1, 1 << n):
        if not mask & 1:
            continue
        for last in range(n):
            if (mask, last) not in best:
                continue
            cost = best[(mask, last)][0]
            for nxt in range(n):
                if mask & (1 << nxt):
                    continue
                key = (mask | (1 << nxt), nxt)
                value = cost + dist[last][nxt]
                if key not in best or value < best[key][0]:
                    best[key] = (value, last)
    full = (1 << n) - 1
    last = min(range(1, n), key=lambda k: best[(full, k)][0] + dist[k][0])
    order = []
    mask = full
    while last != -1:
        order.append(last)
        prev = best[(mask, last)][1]
        mask &= ~(1 << last)
        last = prev
    return order[::-1]


def _resample_closed(loop: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    closed = np.vstack([loop, loop[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    length = float(cum[-1])
    s = np.linspace(0.0, length, n, endpoint=False)
    xy = np.column_stack([np.interp(s, cum, closed[:, 0]), np.interp(s, cum, closed[:, 1])])
    return xy, length


def _smooth_closed(values: np.ndarray, sigma_samples: float) -> np.ndarray:
    if sigma_samples < 0.5:
        return values
    half = int(min(len(values) // 2 - 1, math.ceil(3 * sigma_samples)))
    k = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (k / sigma_samples) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([values[-half:], values, values[:half]])
    return np.convolve(padded, kernel, mode="valid")


def _look_points(scene: Scene, xy: np.ndarray) -> np.ndarray:
    """Where a person at each position (N, 2) looks: the mean of the object centres of
    the current room part, weighted toward objects 1.5-4 m away (continuous in the
    position, so the view turns smoothly); the part's centre when it has no objects."""
    out = np.empty_like(xy)
    objects = np.array([o.center_m[:2] for o in scene.objects]).reshape(-1, 2)
    zone_of_object = [scene.layout.zone_of(o) for o in objects]
    for k, p in enumerate(xy):
        zone = scene.layout.zone_of(p)
        mine = [i for i, z in enumerate(zone_of_object) if z is zone]
        if not mine:
            out[k] = zone.center_xy
            continue
        pts = objects[mine]
        d = np.linalg.norm(pts - p, axis=1)
        w = np.exp(-0.5 * ((d - 2.75) / 1.25) ** 2) + 1e-3
        out[k] = 0.5 * (w @ pts / w.sum()) + 0.5 * zone.center_xy
    return out


def _smooth_angle_closed(angle_rad: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian smoothing of an angle sampled around a closed loop: the loop's winding
    (a whole number of turns) is removed first so the series wraps continuously."""
    unwrapped = np.unwrap(np.angle(np.exp(1j * angle_rad)))
    step = np.angle(np.exp(1j * (unwrapped[0] - unwrapped[-1])))
    winding = unwrapped[-1] + step - unwrapped[0]
    ramp = winding * np.arange(len(angle_rad)) / len(angle_rad)
    return _smooth_closed(unwrapped - ramp, sigma_samples) + ramp


def _pose(position: np.ndarray, yaw: float, pitch: float) -> np.ndarray:
    forward = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw),
                        math.sin(pitch)])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    down = np.cross(forward, right)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = right, down, forward, position
    return T


def _lap(scene: Scene, kind: str, seed: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The closed lap sampled densely: positions xy (N+1, 2) [m], yaw, pitch [rad] and
    height [m] (N+1,), and the time at the speed limits to reach each sample [s] (N+1,);
    sample N repeats sample 0 (yaw keeps its winding)."""
    if kind not in TRAJECTORY_KINDS:
        raise TrajectoryError(f"unknown trajectory {kind!r}; use one of {TRAJECTORY_KINDS}")
    rng = np.random.default_rng([int(scene.seed), int(seed), 7])
    loop = plan_loop(scene, rng)
    if rng.random() < 0.5:
        loop = loop[::-1]
    xy, length = _resample_closed(loop, _DENSE_SAMPLES)
    per_m = _DENSE_SAMPLES / max(length, 1e-6)
    tangent = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    heading = np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))
    s = np.arange(_DENSE_SAMPLES) / _DENSE_SAMPLES
    if kind == "walk":
        to_centre = _look_points(scene, xy) - xy
        look = np.arctan2(to_centre[:, 1], to_centre[:, 0])
        weight = np.clip(np.linalg.norm(to_centre, axis=1) / 1.0, 0.0, 1.0)
        delta = np.angle(np.exp(1j * (look - heading)))
        yaw = heading + weight * delta
        yaw = _smooth_angle_closed(yaw, 0.8 * per_m)
        n_sweeps = max(2, int(round(length / 4.0)))
        phase = rng.uniform(0.0, 2.0 * math.pi, size=2)
        yaw = yaw + math.radians(YAW_SWEEP_DEG) * np.sin(2 * np.pi * n_sweeps * s + phase[0])
        pitch = math.radians(-14.0) + math.radians(10.0) * np.sin(
            2 * np.pi * (n_sweeps + 1) * s + phase[1])
        eye = rng.uniform(1.4, 1.6)
        height = eye + 0.02 * np.sin(2 * np.pi * s * length / 0.7)
    else:
        yaw = _smooth_angle_closed(heading, 0.3 * per_m)
        pitch = np.full(_DENSE_SAMPLES, math.radians(-8.0))
        height = np.full(_DENSE_SAMPLES, ROBOT_HEIGHT_M)
    # Close the lap: sample N continues sample 0 (yaw keeps its winding).
    winding = yaw[-1] + np.angle(np.exp(1j * (yaw[0] - yaw[-1]))) - yaw[0]
    xy_c = np.vstack([xy, xy[:1]])
    yaw_c = np.append(yaw, yaw[0] + winding)
    pitch_c = np.append(pitch, pitch[0])
    height_c = np.append(height, height[0])
    speed_mps, yaw_dps, pitch_dps = SPEED_LIMITS[kind]
    dt = np.maximum.reduce([
        np.linalg.norm(np.diff(xy_c, axis=0), axis=1) / speed_mps,
        np.abs(np.diff(yaw_c)) / math.radians(yaw_dps),
        np.abs(np.diff(pitch_c)) / math.radians(pitch_dps)])
    t_lap = np.concatenate([[0.0], np.cumsum(dt)])
    return xy_c, yaw_c, pitch_c, height_c, t_lap


def lap_duration_s(scene: Scene, kind: str = "walk", seed: int = 0) -> float:
    """Time [s] one full lap of the scene's loop takes at ``SPEED_LIMITS[kind]``, for the
    trajectory ``make_trajectory`` builds with the same ``seed``."""
    return float(_lap(scene, kind, seed)[4][-1])


def make_trajectory(scene: Scene, n_frames: int, kind: str = "walk", seed: int = 0,
                    rate_hz: float = 15.0) -> np.ndarray:
    """Camera poses ``T_map_cam`` (n_frames, 4, 4) at ``rate_hz`` along the scene's loop.

    The camera moves at most ``SPEED_LIMITS[kind]`` (m/s, deg/s for yaw and pitch):
    where the view turns fast it slows down. When the sequence lasts longer than one lap
    at those limits (see :func:`lap_duration_s`), it slows down evenly so frame i of n is
    at lap fraction i / n; when shorter, it covers the first part of the lap.
    """
    xy_c, yaw_c, pitch_c, height_c, t_lap = _lap(scene, kind, seed)
    duration_s = n_frames / rate_hz
    if duration_s >= t_lap[-1]:
        t_frames = np.arange(n_frames) / n_frames * t_lap[-1]
    else:
        t_frames = np.arange(n_frames) / rate_hz
    u = np.interp(t_frames, t_lap, np.arange(_DENSE_SAMPLES + 1))
    poses = np.empty((n_frames, 4, 4))
    dense = np.arange(_DENSE_SAMPLES + 1)
    for k, ui in enumerate(u):
        position = np.array([np.interp(ui, dense, xy_c[:, 0]), np.interp(ui, dense, xy_c[:, 1]),
                             np.interp(ui, dense, height_c)])
        poses[k] = _pose(position, float(np.interp(ui, dense, yaw_c)),
                         float(np.interp(ui, dense, pitch_c)))
    return poses
