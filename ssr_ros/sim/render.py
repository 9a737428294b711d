"""Rendering of a scene on the CPU (no GL): which triangle each pixel sees and its
depth come from the compiled z-buffer rasteriser (:mod:`ssr_ros.sim.raster`) where numba
is installed, else from Open3D's ``RaycastingScene``; both give the same images to within
pixels on shared edges (tested), the rest of a frame is the same code.

Camera model: pinhole with intrinsics K (3, 3) [px]; pixel (u, v) (column, row, integer
coordinates at pixel centres, OpenCV convention) looks along the optical-frame ray
``((u - cx) / fx, (v - cy) / fy, 1)`` (REP-103 optical frame: x right, y down,
z forward). Rays are cast in the map frame through ``T_map_cam``. Since each ray has
unit z in the optical frame, the hit parameter is the depth z [m] directly, so
back-projecting ``depth_m[v, u] * K^-1 [u, v, 1]`` and applying ``T_map_cam`` lands on
the surface seen at that pixel.

Outputs per frame:
- ``rgb`` (H, W, 3) uint8, RGB order: per-triangle albedo (category colour with a small
  per-instance variation), Lambertian shading of the side facing the camera from two
  directional lights plus ambient, a mild distance falloff, a procedural texture fixed
  to the surfaces (:mod:`ssr_ros.sim.textures`: wooden planks on the floor, plaster on
  walls, fine grain on objects), and with ``noise`` Gaussian pixel noise (sigma 2).
- ``depth_m`` (H, W) float32 metres, 0 = invalid; ``depth_mm`` (H, W) uint16 millimetres
  (rounded), 0 = invalid.
- ``instance_ids`` (H, W) uint16: object id, 0 for walls, floor, ceiling and misses.

Depth noise model (``noise=True``, Kinect-like): z + e with e ~ N(0, sigma(z)^2),
sigma(z) = 0.0012 + 0.0019 (z - 0.4)^2 [m], truncated at 3 sigma; pixels beyond
``MAX_RANGE_M`` = 8 m and pixels at depth discontinuities (a 4-neighbour differs by more
than 5 % of the depth) are invalid (0). Labels and RGB geometry are unaffected by it.
All noise comes from the generator passed in, so a seeded generator gives the same bytes
(it picks windows of fixed noise banks, see :func:`ssr_ros.sim.textures.noise_window`).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ssr_ros.sim import raster
from ssr_ros.sim.catalog import category
from ssr_ros.sim.layout import DOOR_HEIGHT_M, WALL_THICKNESS_M
from ssr_ros.sim.scene import Scene
from ssr_ros.sim.shapes import object_mesh, room_box_mesh
from ssr_ros.sim.textures import (TEXEL_M, TEXTURE_BITS, TEXTURE_KINDS, TEXTURE_SIZE,
                                  noise_window, texture_tables)

MAX_RANGE_M = 8.0
EDGE_JUMP_FRACTION = 0.05
RGB_NOISE_SIGMA = 2.0
_FLOOR_ALBEDO = (0.55, 0.42, 0.30)
_WALL_ALBEDO = (0.82, 0.80, 0.74)
_CEILING_ALBEDO = (0.92, 0.92, 0.92)
_LIGHT_MAIN = np.array([0.35, 0.25, 0.90], dtype=np.float32)
_LIGHT_FILL = np.array([-0.60, -0.70, 0.30], dtype=np.float32)


class RenderError(ValueError):
    """Invalid camera or image parameters."""


def depth_sigma_m(depth_m: np.ndarray) -> np.ndarray:
    """Standard deviation [m] of the simulated depth noise at depth ``depth_m`` [m]."""
    return 0.0012 + 0.0019 * (np.asarray(depth_m) - 0.4) ** 2


def default_intrinsics(width: int, height: int) -> np.ndarray:
    """K (3, 3) float64 of a Kinect/Xtion-like camera (fx = fy = 525 px at 640 px width,
    about 63 x 49 degrees at 4:3), principal point at the image centre."""
    if width <= 0 or height <= 0:
        raise RenderError(f"image size must be positive, got {width}x{height}")
    f = 525.0 * width / 640.0
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0],
                     [0.0, 0.0, 1.0]])


def _import_open3d():
    try:
        import open3d
    except ImportError as exc:
        raise RenderError("the raycast backend needs Open3D (requirements/reference.in: "
                          f"`SSR_GROUPS=reference make setup`): {exc}") from exc
    return open3d


#: Visibility backends of :class:`Renderer`.
BACKENDS = ("auto", "raster", "raycast")


class Renderer:
    """Renderer of one scene. Geometry id 0 is the floor, 1 the ceiling, 2 the walls;
    the others are objects, one geometry per object. ``backend``: ``"raster"`` (numba
    z-buffer), ``"raycast"`` (Open3D), ``"auto"`` (raster where numba is installed).
    Not thread-safe: use one renderer per thread (or a lock, as
    :class:`ssr_ros.sim.sequence.SimSequence` does)."""

    def __init__(self, scene: Scene, backend: str = "auto") -> None:
        if backend not in BACKENDS:
            raise RenderError(f"unknown render backend {backend!r}; use one of {BACKENDS}")
        if backend == "raster" and not raster.available():
            raise RenderError("the raster backend needs numba (requirements/base.txt)")
        if backend == "auto":
            backend = "raster" if raster.available() else "raycast"
        self.backend = backend
        self.scene = scene
        # Open3D only for the ray-cast reference backend (requirements/reference.in): the
        # default install renders with the rasteriser and has no Open3D.
        self._o3d = _import_open3d() if backend == "raycast" else None
        self._raycast = (self._o3d.t.geometry.RaycastingScene() if self._o3d is not None
                         else None)
        object_of_geometry: list[int] = []
        kind_of_geometry: list[int] = []
        albedo_chunks: list[np.ndarray] = []
        normal_chunks: list[np.ndarray] = []
        point_chunks: list[np.ndarray] = []
        triangle_chunks: list[np.ndarray] = []
        offsets: list[int] = []
        count = 0

        def add(vertices: np.ndarray, triangles: np.ndarray, albedo: np.ndarray,
                object_id: int, kind: str) -> None:
            nonlocal count
            if self._raycast is not None:
                gid = self._raycast.add_triangles(vertices.astype(np.float32),
                                                  triangles.astype(np.uint32))
                if gid != len(object_of_geometry):
                    raise RenderError("Open3D assigned an unexpected geometry id")
            a, b, c = (vertices[triangles[:, k]] for k in range(3))
            normal = np.cross(b - a, c - a)
            length = np.linalg.norm(normal, axis=1, keepdims=True)
            object_of_geometry.append(object_id)
            kind_of_geometry.append(TEXTURE_KINDS[kind])
            offsets.append(count)
            albedo_chunks.append(albedo)
            normal_chunks.append(normal / np.maximum(length, 1e-12))
            point_chunks.append(a)
            triangle_chunks.append(vertices[triangles])
            count += len(triangles)

        layout = scene.layout
        h = scene.height_m
        floor_v, floor_t, ceil_v, ceil_t = [], [], [], []
        for k, zone in enumerate(layout.zones):
            v = np.array([[zone.x0, zone.y0, 0.0], [zone.x1, zone.y0, 0.0],
                          [zone.x1, zone.y1, 0.0], [zone.x0, zone.y1, 0.0]])
            floor_v.append(v)
            ceil_v.append(v + np.array([0.0, 0.0, h]))
            floor_t.append(np.array([[0, 1, 2], [0, 2, 3]]) + 4 * k)
            ceil_t.append(np.array([[0, 2, 1], [0, 3, 2]]) + 4 * k)
        n_floor = 2 * len(layout.zones)
        add(np.vstack(floor_v), np.vstack(floor_t), np.tile(_FLOOR_ALBEDO, (n_floor, 1)), 0,
            "floor")
        add(np.vstack(ceil_v), np.vstack(ceil_t), np.tile(_CEILING_ALBEDO, (n_floor, 1)), 0,
            "plain")
        wall_v, wall_t = [], []
        poly = layout.polygon_xy
        for k in range(len(poly)):
            p, q = poly[k], poly[(k + 1) % len(poly)]
            wall_v.append(np.array([[p[0], p[1], 0.0], [q[0], q[1], 0.0],
                                    [q[0], q[1], h], [p[0], p[1], h]]))
            wall_t.append(np.array([[0, 1, 2], [0, 2, 3]]) + 4 * k)
        base = 4 * len(poly)
        half = 0.5 * WALL_THICKNESS_M
        for partition in layout.partitions:
            pieces = [((partition.x_m - half, p[1], 0.0), (partition.x_m + half, q[1], h))
                      for p, q in partition.solid_segments()]
            pieces.append(((partition.x_m - half, partition.door_y0_m, DOOR_HEIGHT_M),
                           (partition.x_m + half, partition.door_y1_m, h)))
            for lo, hi in pieces:
                v, t = room_box_mesh(lo, hi)
                wall_v.append(v)
                wall_t.append(t + base)
                base += len(v)
        n_wall = sum(len(t) for t in wall_t)
        add(np.vstack(wall_v), np.vstack(wall_t), np.tile(_WALL_ALBEDO, (n_wall, 1)), 0,
            "wall")
        tint_rng = np.random.default_rng([scene.seed, 11])
        for obj in scene.objects:
            cat = category(obj.category)
            tint = tint_rng.uniform(0.85, 1.15, size=3)
            verts, tris, albedo = object_mesh(cat.shape, obj.size_m, cat.albedo)
            c, s = math.cos(obj.yaw_rad), math.sin(obj.yaw_rad)
            rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
            add(verts @ rot.T + obj.center_m, tris, np.clip(albedo * tint, 0.0, 1.0),
                obj.id, "object")
        # One extra "triangle" and "geometry" stand for rays that hit nothing.
        self._miss_geometry = len(object_of_geometry)
        self._albedo = np.vstack(albedo_chunks + [np.zeros((1, 3))]).astype(np.float32)
        self._normals = np.vstack(normal_chunks + [np.zeros((1, 3))])
        self._points = np.vstack(point_chunks + [np.zeros((1, 3))])
        self._offsets = np.array(offsets + [count], dtype=np.int64)
        # Geometry of each triangle (and of the extra "miss" triangle at index count).
        sizes = np.diff(self._offsets)
        self._geometry_of_triangle = np.append(
            np.repeat(np.arange(len(sizes), dtype=np.int64), sizes), self._miss_geometry)
        self._rasterizer = (raster.Rasterizer(np.vstack(triangle_chunks))
                            if backend == "raster" else None)
        self._object_lut = np.array(object_of_geometry + [0], dtype=np.uint16)
        self._texel_base = (np.array(kind_of_geometry + [0], dtype=np.int32)
                            << (2 * TEXTURE_BITS))
        self._texture_flat = texture_tables().reshape(-1)
        self._pixel_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._lights = np.stack([_LIGHT_MAIN / np.linalg.norm(_LIGHT_MAIN),
                                 _LIGHT_FILL / np.linalg.norm(_LIGHT_FILL)]).astype(np.float64)

    @property
    def triangle_count(self) -> int:
        return len(self._albedo) - 1

    def _pixel_rays(self, K: np.ndarray, width: int, height: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        key = (width, height, np.asarray(K, dtype=np.float64).tobytes())
        cached = self._pixel_cache.get(key)
        if cached is None:
            u = np.tile(np.arange(width, dtype=np.float64), height)
            v = np.repeat(np.arange(height, dtype=np.float64), width)
            cached = (((u - K[0, 2]) / K[0, 0]).astype(np.float32),
                      ((v - K[1, 2]) / K[1, 1]).astype(np.float32))
            self._pixel_cache = {key: cached}
        return cached

    def _visible(self, T_map_cam: np.ndarray, K: np.ndarray, width: int, height: int,
                 directions: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
        """Per pixel (row-major): depth (N,) float32 [m] (0 = nothing seen), the global
        index (N,) of the triangle seen (``triangle_count`` = nothing), and with
        ``directions`` the map-frame ray directions (N, 3) float32 (optical z = 1)."""
        T = np.asarray(T_map_cam, dtype=np.float64)
        if T.shape != (4, 4) or not np.isfinite(T).all():
            raise RenderError("T_map_cam must be a finite 4x4 matrix")
        K = np.asarray(K, dtype=np.float64)
        if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise RenderError("K must be a finite 3x3 matrix with positive focal lengths")
        if self._rasterizer is not None:
            depth, tri = self._rasterizer.draw(T, K, width, height)
            dirs = self._directions(T, K, width, height) if directions else None
            return depth, tri, dirs
        rays = np.empty((width * height, 6), dtype=np.float32)
        rays[:, :3] = T[:3, 3]
        dirs = self._directions(T, K, width, height, out=rays[:, 3:])
        hits = self._raycast.cast_rays(self._o3d.core.Tensor.from_numpy(rays))
        depth = hits["t_hit"].numpy()
        gid = np.minimum(hits["geometry_ids"].numpy(), self._miss_geometry)
        missed = gid == self._miss_geometry
        tri = np.take(self._offsets, gid)
        tri += np.where(missed, 0, hits["primitive_ids"].numpy())
        if missed.any():
            depth = np.where(missed, np.float32(0.0), depth)
        return depth, tri, dirs if directions else None

    def _directions(self, T: np.ndarray, K: np.ndarray, width: int, height: int,
                    out: Optional[np.ndarray] = None) -> np.ndarray:
        """Map-frame direction (N, 3) float32 of each pixel's optical ray (x, y, 1)."""
        x, y = self._pixel_rays(K, width, height)
        if out is None:
            out = np.empty((len(x), 3), dtype=np.float32)
        R = T[:3, :3].astype(np.float32)
        # World direction of optical ray (x, y, 1): x * R[:, 0] + y * R[:, 1] + R[:, 2].
        for k in range(3):
            np.multiply(x, R[k, 0], out=out[:, k])
            out[:, k] += y * R[k, 1]
            out[:, k] += R[k, 2]
        return out

    def depth(self, T_map_cam: np.ndarray, K: np.ndarray, width: int, height: int
              ) -> np.ndarray:
        """Only the noiseless depth image (H, W) float32 [m] (0 where nothing is hit)."""
        depth, _, _ = self._visible(T_map_cam, K, width, height)
        return depth.reshape(height, width)

    def instance_ids(self, T_map_cam: np.ndarray, K: np.ndarray, width: int,
                     height: int) -> np.ndarray:
        """Only the instance-id image (H, W) uint16 (the same as :meth:`render`'s)."""
        _, tri, _ = self._visible(T_map_cam, K, width, height)
        gid = np.take(self._geometry_of_triangle, tri)
        return self._object_lut[gid].reshape(height, width)

    def _triangle_colors(self, camera_m: np.ndarray) -> np.ndarray:
        """Shaded colour (T + 1, 3) float32 of every triangle's camera-facing side: a
        planar triangle shows one side to the whole view, so shading is per triangle."""
        away = np.einsum("ij,ij->i", self._points - camera_m, self._normals) > 0.0
        normals = np.where(away[:, None], -self._normals, self._normals)
        lambert = np.maximum(normals @ self._lights.T, 0.0)
        shade = 0.50 + 0.50 * lambert[:, 0] + 0.20 * lambert[:, 1]
        return (self._albedo * shade[:, None].astype(np.float32)).astype(np.float32)

    def render(self, T_map_cam: np.ndarray, K: np.ndarray, width: int, height: int,
               noise_rng: Optional[np.random.Generator] = None) -> dict[str, np.ndarray]:
        """Render one view; returns ``rgb``, ``depth_m``, ``depth_mm``, ``instance_ids``
        (see the module docstring). ``noise_rng`` switches the sensor noise on."""
        depth, tri, dirs = self._visible(T_map_cam, K, width, height, directions=True)
        gid = np.take(self._geometry_of_triangle, tri)
        instance = np.take(self._object_lut, gid)
        camera = np.asarray(T_map_cam, dtype=np.float64)[:3, 3]
        color = np.take(self._triangle_colors(camera), tri, axis=0)

        # Texture coordinates (x + z, y + z) [texels]: (x, y) on the floor, and a 2D
        # pattern on vertical faces whichever way they face; no per-kind branching.
        texel = np.take(self._texel_base, gid)
        for axis, shift in ((0, TEXTURE_BITS), (1, 0)):
            coord = dirs[:, axis] + dirs[:, 2]
            coord *= depth
            coord += np.float32(camera[axis] + camera[2])
            coord *= np.float32(1.0 / TEXEL_M)
            index = coord.astype(np.int32)
            index &= TEXTURE_SIZE - 1
            if shift:
                index <<= shift
            texel += index
        factor = np.take(self._texture_flat, texel)
        factor *= np.float32(255.0) / (np.float32(1.0) + np.float32(0.04) * depth)
        color *= factor[:, None]
        depth_out = depth
        if noise_rng is not None:
            color += RGB_NOISE_SIGMA * noise_window(noise_rng, "normal", color.shape)
            depth_out = self._noisy_depth(depth.reshape(height, width), noise_rng).ravel()
        np.clip(color, 0.0, 255.0, out=color)
        color += np.float32(0.5)
        rgb = color.astype(np.uint8).reshape(height, width, 3)
        depth_m = depth_out.reshape(height, width).astype(np.float32, copy=False)
        depth_mm = (depth_m * np.float32(1000.0) + np.float32(0.5))
        np.clip(depth_mm, 0.0, 65535.0, out=depth_mm)
        return {"rgb": rgb, "depth_m": depth_m, "depth_mm": depth_mm.astype(np.uint16),
                "instance_ids": instance.reshape(height, width)}

    @staticmethod
    def _noisy_depth(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = noise_window(rng, "truncated_normal_3", depth.shape)
        noisy = depth + noise * depth_sigma_m(depth).astype(np.float32)
        jump = np.zeros(depth.shape, dtype=bool)
        limit = EDGE_JUMP_FRACTION * depth
        dv = np.abs(np.diff(depth, axis=0)) > np.minimum(limit[1:], limit[:-1])
        dh = np.abs(np.diff(depth, axis=1)) > np.minimum(limit[:, 1:], limit[:, :-1])
        jump[1:] |= dv
        jump[:-1] |= dv
        jump[:, 1:] |= dh
        jump[:, :-1] |= dh
        invalid = jump | (depth > MAX_RANGE_M) | (depth <= 0.0) | (noisy <= 0.0)
        noisy[invalid] = 0.0
        return noisy
