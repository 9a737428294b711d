"""Keyframe selection and the coverage-keeping keyframe buffer."""

import math

import numpy as np
import pytest

from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.geometry import make_pose, rotation_about_z
from ssr_ros.core.keyframes import (
    Keyframe,
    KeyframeBuffer,
    KeyframeSelector,
    KeyframeSelectorConfig,
)

K = np.array([[80.0, 0, 39.5], [0, 80.0, 29.5], [0, 0, 1]])
CAM = PinholeCamera.from_K(K, 80, 60)
# Camera optical frame looking along map +x (z forward -> map x, x right -> map -y).
R_LOOK_X = np.column_stack([[0, -1, 0], [0, 0, -1], [1, 0, 0]]).astype(float)
DEPTH = np.full((60, 80), 3.0, dtype=np.float32)


def pose(x=0.0, y=0.0, yaw=0.0):
    return make_pose(rotation_about_z(yaw) @ R_LOOK_X, [x, y, 1.2])


def test_first_frame_then_still_camera():
    sel = KeyframeSelector()
    assert sel.decide(DEPTH, CAM, pose(), 0.0).reason == "first"
    d = sel.decide(DEPTH, CAM, pose(0.01), 0.1)
    assert not d.is_keyframe and d.new_content < 0.1


def test_motion_rotation_and_time_trigger():
    sel = KeyframeSelector(KeyframeSelectorConfig(max_interval_s=5.0))
    sel.decide(DEPTH, CAM, pose(), 0.0)
    assert sel.decide(DEPTH, CAM, pose(0.5), 0.1).reason == "moved"
    assert sel.decide(DEPTH, CAM, pose(0.5, yaw=math.radians(20)), 0.2).reason == "turned"
    assert sel.decide(DEPTH, CAM, pose(0.5, yaw=math.radians(20)), 6.0).reason == "time"


def test_evaluate_leaves_the_reference_until_accept():
    sel = KeyframeSelector()
    assert sel.evaluate(DEPTH, CAM, pose(), 0.0).reason == "first"
    assert sel.reference_stamp_s is None  # judged, not taken
    assert sel.evaluate(DEPTH, CAM, pose(), 0.0).reason == "first"
    sel.accept(DEPTH, CAM, pose(), 0.0)
    moved = sel.evaluate(DEPTH, CAM, pose(0.5), 0.1)
    assert moved.reason == "moved" and sel.reference_stamp_s == 0.0
    # the reference did not move: the same frame is judged the same way again
    assert sel.evaluate(DEPTH, CAM, pose(0.5), 0.1) == moved
    assert sel.decide(DEPTH, CAM, pose(0.5), 0.1) == moved
    assert sel.reference_stamp_s == 0.1
    assert not sel.evaluate(DEPTH, CAM, pose(0.5), 0.2).is_keyframe


def test_new_content_triggers_before_motion_threshold():
    # A small turn (under the rotation threshold) toward unseen space when the camera is
    # close to a wall reveals new content.
    cfg = KeyframeSelectorConfig(min_rotation_rad=math.radians(40), min_new_content=0.2)
    sel = KeyframeSelector(cfg)
    near = np.full((60, 80), 0.5, dtype=np.float32)
    sel.decide(near, CAM, pose(), 0.0)
    d = sel.decide(near, CAM, pose(yaw=math.radians(25)), 0.1)
    assert d.is_keyframe and d.reason == "new_content" and d.new_content >= 0.2


def test_selector_config_validation():
    with pytest.raises(ValueError):
        KeyframeSelectorConfig(min_new_content=0.0)
    with pytest.raises(ValueError):
        KeyframeSelectorConfig(min_translation_m=-1.0)


def _kf(i, x, y=0.0):
    return Keyframe(rgb=np.zeros((2, 2, 3), np.uint8), depth_m=np.ones((2, 2), np.float32),
                    K=K, T_map_cam=pose(x, y), stamp_s=float(i), index=i)


def test_buffer_is_bounded_and_keeps_coverage():
    buf = KeyframeBuffer(capacity=4)
    # Far-apart keyframes, then many near the last place.
    evicted = []
    for i, x in enumerate([0.0, 5.0, 10.0, 10.05, 10.1, 10.15, 10.2]):
        out = buf.add(_kf(i, x))
        if out is not None:
            evicted.append(out.index)
    assert len(buf) == 4
    xs = sorted(kf.T_map_cam[0, 3] for kf in buf.frames())
    # The distant views survive; the redundant ones near x = 10 are dropped.
    assert xs[0] == 0.0 and xs[1] == 5.0
    assert buf.latest().index == 6
    assert set(evicted) <= {2, 3, 4, 5}


def test_buffer_capacity_validation():
    with pytest.raises(ValueError):
        KeyframeBuffer(capacity=1)
