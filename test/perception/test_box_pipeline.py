"""The box source through the whole pipeline: tight boxes map the objects in place, and a
box whose depth is mostly missing never becomes an object (its rejection is counted)."""

import math

import numpy as np
import pytest

from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.frames import PosedFrame
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
from ssr_ros.perception.proposals import Box2D

from synthetic_rgbd import camera_pose, render

K = np.array([[120.0, 0, 79.5], [0, 120.0, 59.5], [0, 0, 1]])
CAM = PinholeCamera.from_K(K, 160, 120)
BOXES = [((3.0, 1.5, 0.4), (1.2, 0.8, 0.8)),     # a table-sized box
         ((4.0, 3.0, 0.45), (0.5, 0.5, 0.9))]    # a chair-sized box
LABELS = {1: "table", 2: "chair"}


def _tight_boxes(ids):
    out = []
    for k, label in LABELS.items():
        rows, cols = np.nonzero(ids == k)
        if len(rows) >= 30:
            out.append(Box2D(float(cols.min()), float(rows.min()),
                             float(cols.max() + 1 - cols.min()),
                             float(rows.max() + 1 - rows.min()), label=label))
    return out


def _run(n=24, phantom=False):
    pipe = MappingPipeline(PipelineConfig(source="boxes"))
    for i in range(n):
        a = 2 * math.pi * i / n
        x, y = 3.0 + 2.2 * math.cos(a), 2.5 + 1.8 * math.sin(a)
        T = camera_pose(x, y, 1.4, math.atan2(2.5 - y, 3.0 - x), math.radians(25))
        depth, ids, rgb = render(CAM, T, BOXES)
        boxes = _tight_boxes(ids)
        if phantom:
            # A "sofa" box over a patch the sensor did not measure: 3 % of it keeps depth
            # (a dense corner, plenty of pixels for a refinement to keep).
            depth = depth.copy()
            hole = np.zeros_like(depth, dtype=bool)
            hole[20:100, 10:70] = True
            hole[20:29, 10:26] = False                 # 144 of 4800 px keep depth
            depth[hole] = 0.0
            boxes.append(Box2D(10, 20, 60, 80, label="sofa"))
        pipe.process(PosedFrame(rgb, depth, K, T, 0.5 * i, boxes=boxes))
    return pipe


def test_tight_boxes_map_the_objects_in_place():
    pipe = _run()
    objs = {o.label: o for o in pipe.object_map.objects()}
    assert sorted(objs) == ["chair", "table"]
    for (c, s), label in zip(BOXES, ["table", "chair"]):
        assert np.linalg.norm(objs[label].center_m - c) < 0.05, label
        assert objs[label].size_m[2] == pytest.approx(s[2], rel=0.1, abs=0.03)


def test_box_with_little_depth_never_becomes_an_object():
    pipe = _run(phantom=True)
    labels = [o.label for o in pipe.object_map.objects()] + \
        [o.label for o in pipe.object_map.tentative()]
    assert "sofa" not in labels
    assert pipe.lifter.rejection_counts["too little valid depth"] >= 3
