"""MappingPipeline on a small ray-cast room: objects come out whole and in place, bad
input raises a specific error and changes nothing."""

import math

import numpy as np
import pytest

from ssr_ros.core.camera import ImageSizeMismatchError, InvalidDepthError, InvalidIntrinsicsError
from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.frames import PosedFrame
from ssr_ros.core.geometry import InvalidTransformError
from ssr_ros.perception.pipeline import InvalidFrameError, MappingPipeline, PipelineConfig
from ssr_ros.perception.proposals import UnknownLabelError

from synthetic_rgbd import camera_pose, render

K = np.array([[120.0, 0, 79.5], [0, 120.0, 59.5], [0, 0, 1]])
CAM = PinholeCamera.from_K(K, 160, 120)
BOXES = [((3.0, 1.5, 0.4), (1.2, 0.8, 0.8)),     # table-sized box
         ((4.0, 3.0, 0.45), (0.5, 0.5, 0.9)),    # chair-sized box
         ((2.0, 3.6, 0.25), (0.4, 0.4, 0.5))]    # trash-can-sized box
LABELS = {1: "table", 2: "chair", 3: "trash can"}


def frames(n=24):
    """A walk around the room centre, looking at it."""
    for i in range(n):
        a = 2 * math.pi * i / n
        x, y = 3.0 + 2.2 * math.cos(a), 2.5 + 1.8 * math.sin(a)
        yaw = math.atan2(2.5 - y, 3.0 - x)
        T = camera_pose(x, y, 1.4, yaw, math.radians(25))
        depth, ids, rgb = render(CAM, T, BOXES)
        yield rgb, depth, T, float(i) * 0.5, ids


@pytest.fixture(scope="module")
def mapped():
    pipe = MappingPipeline(PipelineConfig(source="labels"))
    results = [pipe.process(PosedFrame(rgb, d, K, T, t, labels=ids, id_to_category=LABELS))
               for rgb, d, T, t, ids in frames()]
    return pipe, results


def test_objects_whole_and_in_place(mapped):
    pipe, results = mapped
    objs = {o.label: o for o in pipe.object_map.objects()}
    assert sorted(objs) == ["chair", "table", "trash can"]
    for (c, s), label in zip(BOXES, ["table", "chair", "trash can"]):
        o = objs[label]
        assert np.linalg.norm(o.center_m - c) < 0.05, label
        assert np.allclose(np.sort(o.size_m[:2]), np.sort(s[:2]), rtol=0.1, atol=0.03), label
        assert o.size_m[2] == pytest.approx(s[2], rel=0.1, abs=0.03)
    assert any(r is not None for r in results)
    assert pipe.room.room().floor_area_m2 == pytest.approx(30.0, rel=0.15)
    assert len(pipe.trajectory) == 24
    r = next(r for r in results if r is not None)
    assert {"proposals", "lifting", "fusion", "total"} <= set(r.timings_ms)


def test_bad_inputs_raise_and_change_nothing(mapped):
    pipe, _ = mapped
    rgb, depth, T, _, ids = next(frames(7))
    before = pipe.object_map.to_dict()
    n_traj, n_kf = len(pipe.trajectory), pipe.keyframe_count
    bad_depths = []
    for value in (np.nan, np.inf, -1.0):
        d = depth.copy()
        d[5, 5] = value
        bad_depths.append(d)
    cases = [(InvalidDepthError, dict(depth_m=d)) for d in bad_depths]
    cases += [
        (InvalidDepthError, dict(depth_m=np.zeros_like(depth))),
        (ImageSizeMismatchError, dict(rgb=rgb[:-1])),
        (InvalidIntrinsicsError, dict(K=np.diag([0.0, 120.0, 1.0]))),
        (InvalidIntrinsicsError, dict(K=np.diag([-120.0, 120.0, 1.0]))),
        (InvalidTransformError, dict(T_map_cam=np.full((4, 4), np.nan))),
        (UnknownLabelError, dict(labels=np.where(ids == 1, 99, ids).astype(np.uint16))),
        (InvalidFrameError, dict(stamp_s=float("nan"))),
    ]
    for exc, override in cases:
        args = dict(rgb=rgb, depth_m=depth, K=K, T_map_cam=T, stamp_s=100.0, labels=ids,
                    id_to_category=LABELS)
        args.update(override)
        with pytest.raises(exc):
            pipe.process(PosedFrame(**args))
    assert pipe.object_map.to_dict() == before
    assert len(pipe.trajectory) == n_traj and pipe.keyframe_count == n_kf


def test_clear_keeps_ids_counting(mapped):
    pipe = MappingPipeline(PipelineConfig(source="labels"))
    for rgb, d, T, t, ids in frames(8):
        pipe.process(PosedFrame(rgb, d, K, T, t, labels=ids, id_to_category=LABELS))
    top = max(o.id for o in pipe.object_map.objects())
    pipe.clear()
    assert pipe.object_map.objects() == [] and len(pipe.keyframes) == 0
    for rgb, d, T, t, ids in frames(8):
        pipe.process(PosedFrame(rgb, d, K, T, 100 + t, labels=ids, id_to_category=LABELS))
    assert min(o.id for o in pipe.object_map.objects()) > top
