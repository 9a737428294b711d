"""Inputs of the model tests. A module of its own, not conftest.py: test/train has a
conftest too, and `from conftest import ...` would get whichever was loaded last."""

from __future__ import annotations

import numpy as np

K_PINHOLE = np.array([[110.0, 0.0, 63.5], [0.0, 110.0, 47.5], [0.0, 0.0, 1.0]])


def make_frame(rng: np.random.Generator, i: int, height: int = 96, width: int = 128):
    """A random RGB-D keyframe with a pose moving along map x and turning slowly."""
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 4.0, (height, width)).astype(np.float32)
    depth[: height // 4, : width // 4] = 0.0  # an invalid corner
    yaw = 0.2 * i
    # Camera optical frame (x right, y down, z forward) looking along map +x rotated by yaw.
    forward = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.array([0.0, 0.0, -1.0])
    T = np.eye(4)
    T[:3, :3] = np.stack([right, down, forward], axis=1)
    T[:3, 3] = [0.3 * i, 0.1 * i, 1.2]
    return dict(rgb=rgb, depth_m=depth, K=K_PINHOLE.copy(), T_map_cam=T, stamp_s=0.5 * i)
