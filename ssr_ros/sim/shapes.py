"""Triangle meshes of the catalogue's shapes, built from a few cheap parts.

Every mesh is given in the object's own frame: origin at the centre of its ground-truth
box, x along the object's heading, y toward its front (+y), z up, metres. All parts lie
inside ``[-size/2, size/2]``, so the ground-truth box is the object's bounding box while
the object still looks like what it is (a table is a top on four legs, a chair has a
backrest, a sofa has arms). Each triangle carries an albedo (r, g, b) in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

_BOX_TRIANGLES = np.array([
    [0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
    [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7],
], dtype=np.int64)


class UnknownShapeError(ValueError):
    """A shape name with no mesh builder."""


@dataclass
class MeshBuilder:
    """Accumulates parts; ``vertices`` (N, 3) [m], ``triangles`` (M, 3), ``albedo`` (M, 3)."""

    vertices: list[np.ndarray] = field(default_factory=list)
    triangles: list[np.ndarray] = field(default_factory=list)
    albedo: list[np.ndarray] = field(default_factory=list)
    _count: int = 0

    def add(self, vertices: np.ndarray, triangles: np.ndarray,
            color: "tuple[float, float, float] | np.ndarray") -> None:
        self.vertices.append(vertices)
        self.triangles.append(triangles + self._count)
        self.albedo.append(np.tile(np.asarray(color, dtype=np.float64), (len(triangles), 1)))
        self._count += len(vertices)

    def box(self, lo: "tuple[float, float, float]", hi: "tuple[float, float, float]",
            color: "tuple[float, float, float] | np.ndarray",
            tilt_x_rad: float = 0.0, pivot: "tuple[float, float, float] | None" = None) -> None:
        """Axis-aligned box from corner ``lo`` to ``hi``, optionally rotated about the
        x axis through ``pivot`` by ``tilt_x_rad``."""
        x0, y0, z0 = lo
        x1, y1, z1 = hi
        v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                      [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]])
        if tilt_x_rad != 0.0:
            c, s = math.cos(tilt_x_rad), math.sin(tilt_x_rad)
            rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
            origin = np.asarray(pivot if pivot is not None else (0.0, 0.0, 0.0))
            v = (v - origin) @ rot.T + origin
        self.add(v, _BOX_TRIANGLES, color)

    def frustum(self, center_xy: "tuple[float, float]", z0: float, z1: float, r0: float,
                r1: float, color: "tuple[float, float, float] | np.ndarray",
                segments: int = 16) -> None:
        """Closed vertical frustum (cylinder when r0 == r1) from z0 (radius r0) to z1."""
        ang = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
        ring = np.stack([np.cos(ang), np.sin(ang)], axis=1)
        cx, cy = center_xy
        bottom = np.column_stack([cx + r0 * ring[:, 0], cy + r0 * ring[:, 1],
                                  np.full(segments, z0)])
        top = np.column_stack([cx + r1 * ring[:, 0], cy + r1 * ring[:, 1],
                               np.full(segments, z1)])
        centers = np.array([[cx, cy, z0], [cx, cy, z1]])
        v = np.vstack([bottom, top, centers])
        i = np.arange(segments)
        j = (i + 1) % segments
        side = np.vstack([np.column_stack([i, j, segments + j]),
                          np.column_stack([i, segments + j, segments + i])])
        caps = np.vstack([np.column_stack([np.full(segments, 2 * segments), j, i]),
                          np.column_stack([np.full(segments, 2 * segments + 1),
                                           segments + i, segments + j])])
        self.add(v, np.vstack([side, caps]), color)

    def ellipsoid(self, center: "tuple[float, float, float]",
                  radii: "tuple[float, float, float]",
                  color: "tuple[float, float, float] | np.ndarray",
                  rings: int = 8, segments: int = 12) -> None:
        """Closed UV ellipsoid."""
        theta = np.linspace(0.0, math.pi, rings + 1)
        phi = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
        st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
        x = center[0] + radii[0] * st * np.cos(phi)[None, :]
        y = center[1] + radii[1] * st * np.sin(phi)[None, :]
        z = center[2] + radii[2] * ct * np.ones_like(phi)[None, :]
        v = np.stack([x, y, z], axis=-1).reshape(-1, 3)
        tris = []
        for r in range(rings):
            for s in range(segments):
                a = r * segments + s
                b = r * segments + (s + 1) % segments
                c = (r + 1) * segments + s
                d = (r + 1) * segments + (s + 1) % segments
                tris.append((a, c, b))
                tris.append((b, c, d))
        self.add(v, np.array(tris, dtype=np.int64), color)

    def build(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.vstack(self.vertices), np.vstack(self.triangles), np.vstack(self.albedo))


def _shade(albedo: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(albedo * factor, 0.0, 1.0)


def object_mesh(shape: str, size_m: np.ndarray, albedo: "tuple[float, float, float]"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mesh of ``shape`` filling a box of ``size_m`` (3,) [m] centred at the origin.

    Returns vertices (N, 3) [m], triangles (M, 3) int64, per-triangle albedo (M, 3).
    """
    hx, hy, hz = (0.5 * float(v) for v in size_m)
    base = np.asarray(albedo, dtype=np.float64)
    dark, light = _shade(base, 0.6), _shade(base, 1.25)
    mb = MeshBuilder()
    if shape in ("box", "cabinet"):
        door = shape == "cabinet" and hz > 0.3
        # Parts touch but never share a visible face: coplanar overlapping faces flicker
        # (either may win a pixel), so the body stops where the door panel begins.
        front = hy - 0.005 if door else hy
        mb.box((-hx, -hy, -hz), (hx, front, hz), base)
        if door:
            mb.box((-hx * 0.96, front, -hz + 0.08), (hx * 0.96, hy, hz - 0.04), light)
    elif shape == "table":
        top = min(0.05, 0.15 * 2 * hz)
        mb.box((-hx, -hy, hz - top), (hx, hy, hz), base)
        leg = min(0.06, 0.2 * min(hx, hy))
        inset_x, inset_y = hx - 0.03, hy - 0.03
        for sx in (-1, 1):
            for sy in (-1, 1):
                cx, cy = sx * (inset_x - leg / 2), sy * (inset_y - leg / 2)
                mb.box((cx - leg / 2, cy - leg / 2, -hz), (cx + leg / 2, cy + leg / 2,
                                                           hz - top), dark)
    elif shape == "desk":
        top = 0.04
        mb.box((-hx, -hy, hz - top), (hx, hy, hz), base)
        for sx in (-1, 1):
            x_in = sx * (hx - 0.03)
            mb.box((min(sx * hx, x_in), -hy, -hz), (max(sx * hx, x_in), hy, hz - top), dark)
        mb.box((-hx + 0.03, -hy, -hz + 0.3 * hz), (hx - 0.03, -hy + 0.02, hz - top), dark)
    elif shape == "chair" or shape == "stool":
        seat_top = -hz + (min(0.47, 2 * hz * 0.55) if shape == "chair" else 2 * hz)
        seat = 0.05
        mb.box((-hx, -hy, seat_top - seat), (hx, hy, seat_top), base)
        leg = 0.04
        for sx in (-1, 1):
            for sy in (-1, 1):
                x0 = -hx if sx < 0 else hx - leg
                y0 = -hy if sy < 0 else hy - leg
                mb.box((x0, y0, -hz), (x0 + leg, y0 + leg, seat_top - seat), dark)
        if shape == "chair":
            mb.box((-hx, -hy, seat_top), (hx, -hy + 0.05, hz), base)
    elif shape in ("sofa", "armchair"):
        seat_top = -hz + min(0.45, 2 * hz * 0.5)
        arm_w = 0.18 if shape == "sofa" else 0.12
        arm_top = -hz + min(0.65, 2 * hz * 0.75)
        back_d = 0.2
        mb.box((-hx + arm_w, -hy + back_d, -hz), (hx - arm_w, hy, seat_top), base)
        mb.box((-hx, -hy, -hz), (hx, -hy + back_d, hz), dark)
        mb.box((-hx, -hy + back_d, -hz), (-hx + arm_w, hy, arm_top), base)
        mb.box((hx - arm_w, -hy + back_d, -hz), (hx, hy, arm_top), base)
        if shape == "sofa":
            n_cushions = 3 if hx > 1.0 else 2
            span = (2 * (hx - arm_w)) / n_cushions
            for k in range(n_cushions):
                x0 = -hx + arm_w + k * span + 0.02
                mb.box((x0, -hy + back_d, seat_top), (x0 + span - 0.04, -hy + back_d + 0.12,
                                                      min(hz, seat_top + 0.35)), light)
    elif shape == "bed":
        mattress_top = -hz + min(0.55, 2 * hz * 0.55)
        mb.box((-hx, -hy + 0.08, -hz), (hx, hy, mattress_top - 0.2), dark)
        mb.box((-hx + 0.02, -hy + 0.08, mattress_top - 0.2), (hx - 0.02, hy - 0.02,
                                                               mattress_top), base)
        mb.box((-hx, -hy, -hz), (hx, -hy + 0.08, hz), dark)
        pillow_w = (2 * hx - 0.2) / 2
        for k in range(2):
            x0 = -hx + 0.08 + k * (pillow_w + 0.04)
            mb.box((x0, -hy + 0.12, mattress_top), (x0 + pillow_w - 0.04, -hy + 0.45,
                                                    mattress_top + 0.12), (0.95, 0.95, 0.93))
    elif shape == "shelf":
        side, back = 0.03, 0.015
        # Sides and boards stand in front of the back panel (no shared visible faces).
        mb.box((-hx, -hy + back, -hz), (-hx + side, hy, hz), base)
        mb.box((hx - side, -hy + back, -hz), (hx, hy, hz), base)
        mb.box((-hx, -hy, -hz), (hx, -hy + back, hz), dark)
        n_levels = max(3, int(2 * hz / 0.38))
        for k in range(n_levels + 1):
            z = -hz + k * (2 * hz - side) / n_levels
            mb.box((-hx + side, -hy + back, z), (hx - side, hy, z + side), base)
            if k < n_levels:
                gap = (2 * hz - side) / n_levels - side
                book_h = 0.7 * gap
                x = -hx + side + 0.02
                b = 0
                while x + 0.05 < hx - side - 0.1:
                    width = 0.03 + 0.02 * ((k * 7 + b * 3) % 3)
                    color = (0.25 + 0.2 * (b % 3), 0.2 + 0.15 * ((b + k) % 4), 0.3)
                    mb.box((x, -hy + 0.03, z + side), (x + width, hy - 0.05,
                                                        z + side + book_h), color)
                    x += width + 0.005
                    b += 1
                    if b > 12:
                        break
    elif shape == "tv":
        panel = 0.05
        mb.box((-hx, -panel / 2, -hz + 0.06), (hx, panel / 2, hz), base)
        mb.box((-hx * 0.96, panel / 2, -hz + 0.09), (hx * 0.96, panel / 2 + 0.003, hz - 0.03),
               (0.03, 0.04, 0.06))
        mb.box((-0.15, -hy, -hz), (0.15, hy, -hz + 0.02), base)
        mb.box((-0.03, -0.03, -hz + 0.02), (0.03, 0.03, -hz + 0.06), base)
    elif shape == "monitor":
        panel = 0.03
        mb.box((-hx, -panel / 2, -hz + 0.12), (hx, panel / 2, hz), base)
        mb.box((-hx * 0.95, panel / 2, -hz + 0.14), (hx * 0.95, panel / 2 + 0.003, hz - 0.02),
               (0.05, 0.07, 0.12))
        mb.box((-0.02, -0.05, -hz + 0.015), (0.02, -0.01, -hz + 0.12), base)
        mb.box((-0.1, -hy, -hz), (0.1, hy, -hz + 0.015), base)
    elif shape == "laptop":
        tilt = math.radians(15.0)
        base_t = 0.02
        screen_t = 0.008
        screen_len = (2 * hz - base_t - screen_t * math.sin(tilt)) / math.cos(tilt)
        back = screen_len * math.sin(tilt)
        hinge_y = -hy + back
        mb.box((-hx, hinge_y, -hz), (hx, hy, -hz + base_t), base)
        mb.box((-hx, hinge_y, -hz + base_t), (hx, hinge_y + screen_t, -hz + base_t + screen_len),
               dark, tilt_x_rad=tilt, pivot=(0.0, hinge_y, -hz + base_t))
    elif shape == "lamp":
        r = min(hx, hy)
        mb.frustum((0.0, 0.0), -hz, -hz + 0.03, 0.6 * r, 0.6 * r, dark)
        mb.frustum((0.0, 0.0), -hz + 0.03, hz - 0.3, 0.015, 0.015, dark)
        mb.frustum((0.0, 0.0), hz - 0.3, hz, r, 0.6 * r, base)
    elif shape == "plant":
        r = min(hx, hy)
        pot_h = min(0.35, 0.4 * 2 * hz)
        mb.frustum((0.0, 0.0), -hz, -hz + pot_h, 0.55 * r, 0.7 * r, (0.55, 0.35, 0.25))
        foliage = 2 * hz - pot_h
        mb.ellipsoid((0.0, 0.0, -hz + pot_h + foliage / 2), (r, r, foliage / 2), base)
    elif shape == "cylinder":
        mb.frustum((0.0, 0.0), -hz, hz, 0.85 * min(hx, hy), min(hx, hy), base)
    elif shape == "bottle":
        r = min(hx, hy)
        body = 0.62 * 2 * hz
        mb.frustum((0.0, 0.0), -hz, -hz + body, r, r, base)
        mb.frustum((0.0, 0.0), -hz + body, -hz + body + 0.15 * 2 * hz, r, 0.35 * r, base)
        mb.frustum((0.0, 0.0), -hz + body + 0.15 * 2 * hz, hz, 0.35 * r, 0.35 * r, dark)
    elif shape == "fridge":
        split = hz - 0.35 * 2 * hz
        mb.box((-hx, -hy, -hz), (hx, hy - 0.03, hz), base)
        mb.box((-hx, hy - 0.03, -hz + 0.05), (hx, hy, split - 0.01), light)
        mb.box((-hx, hy - 0.03, split + 0.01), (hx, hy, hz), light)
    elif shape == "sink":
        counter = hz - 0.12
        mb.box((-hx, -hy, -hz), (hx, hy, counter), base)
        mb.box((-hx, -hy, counter), (hx, -hy + 0.08, counter + 0.05), dark)
        mb.box((-0.02, -hy + 0.02, counter + 0.05), (0.02, -hy + 0.15, hz), (0.6, 0.6, 0.62))
    elif shape == "toilet":
        tank_d = 0.2
        mb.box((-hx, -hy, -hz + 0.4), (hx, -hy + tank_d, hz), base)
        bowl_r = min(hx, (2 * hy - tank_d) / 2)
        mb.frustum((0.0, -hy + tank_d + bowl_r), -hz, -hz + 0.4, 0.6 * bowl_r, bowl_r, base)
    else:
        raise UnknownShapeError(f"no mesh builder for shape {shape!r}")
    return mb.build()


def room_box_mesh(lo: "tuple[float, float, float]", hi: "tuple[float, float, float]"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A plain box (vertices (8, 3) [m], triangles (12, 3)) for walls and door lintels."""
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    v = np.array([[x0, y0, z0], [x1, y0, z0], [x1, y1, z0], [x0, y1, z0],
                  [x0, y0, z1], [x1, y0, z1], [x1, y1, z1], [x0, y1, z1]])
    return v, _BOX_TRIANGLES.copy()
