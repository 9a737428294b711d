"""A tiny numpy ray caster for perception tests: a floor (z = 0), walls of a rectangular
room and axis-aligned boxes, seen by a pinhole camera. Gives depth [m], instance ids and
a flat-shaded RGB image, independent of the project's simulator."""

import math

import numpy as np

from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.geometry import make_pose, rotation_about_z

# Camera optical frame looking along map +x: z forward -> map x, x right -> map -y,
# y down -> map -z.
R_LOOK_X = np.column_stack([[0, -1, 0], [0, 0, -1], [1, 0, 0]]).astype(float)


def camera_pose(x, y, z, yaw_rad, pitch_rad=0.0):
    """T_map_cam of a camera at (x, y, z) looking along yaw, pitched down by pitch_rad."""
    c, s = math.cos(pitch_rad), math.sin(pitch_rad)
    # Pitch about the camera x axis (positive = look down).
    R_pitch = np.array([[1, 0, 0], [0, c, s], [0, -s, c]])
    return make_pose(rotation_about_z(yaw_rad) @ R_LOOK_X @ R_pitch, [x, y, z])


def render(camera: PinholeCamera, T_map_cam, boxes, room=(0.0, 0.0, 6.0, 5.0), height=2.5):
    """Return depth_m (H, W) float32, ids (H, W) uint16 (box i -> i + 1) and rgb."""
    rays_cam = np.concatenate([camera.rays, np.ones(camera.rays.shape[:2] + (1,),
                                                    np.float32)], axis=2)
    d = rays_cam.reshape(-1, 3).astype(np.float64) @ T_map_cam[:3, :3].T
    o = T_map_cam[:3, 3]
    n = len(d)
    best_t = np.full(n, np.inf)
    ids = np.zeros(n, np.uint16)
    shade = np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Room as an inverted box: the exit distance of the ray.
        lo = np.array([room[0], room[1], 0.0])
        hi = np.array([room[2], room[3], height])
        t1 = (lo - o) / d
        t2 = (hi - o) / d
        t_exit = np.nanmin(np.maximum(t1, t2), axis=1)
        best_t = np.where(np.isfinite(t_exit) & (t_exit > 0), t_exit, np.inf)
        axis = np.nanargmin(np.maximum(t1, t2), axis=1)
        shade = 0.3 + 0.2 * axis
        for i, (c, s) in enumerate(boxes):
            blo = np.asarray(c) - np.asarray(s) / 2
            bhi = np.asarray(c) + np.asarray(s) / 2
            a1 = (blo - o) / d
            a2 = (bhi - o) / d
            t_near = np.nanmax(np.minimum(a1, a2), axis=1)
            t_far = np.nanmin(np.maximum(a1, a2), axis=1)
            hit = (t_near <= t_far) & (t_near > 0) & (t_near < best_t)
            best_t[hit] = t_near[hit]
            ids[hit] = i + 1
            shade[hit] = 0.6 + 0.05 * i
    z_cam = best_t * rays_cam.reshape(-1, 3)[:, 2]
    depth = np.where(np.isfinite(z_cam), z_cam, 0).astype(np.float32).reshape(camera.shape)
    rgb = np.repeat((np.clip(shade, 0, 1) * 255).astype(np.uint8)[:, None], 3, axis=1)
    return depth, ids.reshape(camera.shape), rgb.reshape(camera.shape + (3,))
