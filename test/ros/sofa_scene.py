"""One sofa in front of the camera of ``rosutil.camera_pose(x=97.5)``, rendered by the
perception tests' ray caster as the synchronised messages an in-process node maps
(test_node_detector_params, test_map_file_param)."""

from __future__ import annotations

import pathlib
import sys
import time

import numpy as np
from rosutil import FRAME_ID, HEIGHT, K_TEST, WIDTH, camera_pose

from ssr_ros.core.camera import PinholeCamera
from ssr_ros.ros import conversions as cv

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "perception"))
from synthetic_rgbd import render  # noqa: E402

CAMERA_X_M = 97.5
# centre and size [m, map frame]: 2.05 m in front of the camera, in a room far from
# anything else
SOFA = ((100.0, 100.0, 0.425), (0.9, 2.0, 0.85))
ROOM = (90.0, 90.0, 110.0, 110.0)


def sofa_frame(stamp_s: float, hole: tuple[slice, slice] | None = None
               ) -> tuple[list, tuple[float, float, float, float]]:
    """Colour (white), depth (16UC1 mm; zero in ``hole`` [rows, cols]: the depth camera
    reads nothing there), camera_info and the instance label image (sofa = 1) at
    ``stamp_s``, and the sofa's tight box (x0, y0, x1, y1) [px]."""
    camera = PinholeCamera(K_TEST, WIDTH, HEIGHT)
    T_map_cam, _, _ = cv.pose_stamped_to_matrix(camera_pose(stamp_s, CAMERA_X_M))
    depth, ids, _rgb = render(camera, T_map_cam, [SOFA], room=ROOM)
    if hole is not None:
        depth[hole] = 0.0
    rows, cols = np.nonzero(ids == 1)
    box = (float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1))
    stamp = cv.s_to_stamp(stamp_s)
    white = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    msgs = [cv.array_to_image(white, "rgb8", stamp, FRAME_ID),
            cv.array_to_image(np.round(depth * 1000.0).astype(np.uint16), "16UC1", stamp,
                              FRAME_ID),
            cv.intrinsics_to_camera_info(K_TEST, WIDTH, HEIGHT, stamp, FRAME_ID),
            cv.array_to_image(ids.astype(np.uint16), "16UC1", stamp, FRAME_ID)]
    return msgs, box


def map_sofa_frames(node, count: int, hole: tuple[slice, slice] | None = None,
                    labels: bool = False) -> None:
    """Stop ``node``'s frame worker and map ``count`` frames 0.3 s apart on this thread
    (each a keyframe with ``keyframe_max_interval_s`` below 0.3 s); with ``labels`` the
    label image goes with them."""
    from ssr_ros.ros.inputs import FrameSet

    if node.worker is not None:
        assert node.worker.stop(20.0)
    for i in range(count):
        stamp_s = 50.0 + 0.3 * i
        for dt in (-0.05, 0.0, 0.05):
            node.parts.pose_source.add_camera_pose(camera_pose(stamp_s + dt, CAMERA_X_M))
        msgs, _box = sofa_frame(stamp_s, hole)
        node.slot.put(FrameSet(time.monotonic(), *msgs[:3], msgs[3] if labels else None))
        node.work_once()
