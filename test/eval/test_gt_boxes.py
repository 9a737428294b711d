"""Detector-like boxes from an instance image: tight boxes, jitter, false positives,
reproducible with a seeded generator."""

import numpy as np
import pytest

from ssr_ros.eval.gt_boxes import BoxNoise, boxes_from_instances

IDS = np.zeros((120, 160), np.uint16)
IDS[10:50, 20:80] = 1                       # a sofa, 2400 px
IDS[60:110, 100:130] = 2                    # a chair, 1500 px
IDS[0:5, 0:5] = 3                           # a cup of 25 px: too small to be detected
NAMES = {1: "sofa", 2: "chair", 3: "cup"}


def test_exact_boxes_without_noise():
    noise = BoxNoise(jitter_fraction=0.0, false_positives_per_frame=0.0, min_pixels=100,
                     score_range=(1.0, 1.0))
    boxes = boxes_from_instances(IDS, NAMES, np.random.default_rng(0), noise)
    got = {b.label: (b.x, b.y, b.w, b.h, b.score) for b in boxes}
    assert got == {"sofa": (20, 10, 60, 40, 1.0), "chair": (100, 60, 30, 50, 1.0)}


def test_jitter_moves_edges_by_a_few_percent_and_is_reproducible():
    noise = BoxNoise(jitter_fraction=0.03, false_positives_per_frame=0.0, min_pixels=100)
    shifts = []
    for seed in range(200):
        boxes = boxes_from_instances(IDS, NAMES, np.random.default_rng(seed), noise)
        sofa = next(b for b in boxes if b.label == "sofa")
        shifts.append((sofa.x - 20) / 60)
        assert 0.5 <= sofa.score <= 1.0
    assert 0.02 < np.std(shifts) < 0.04
    a = boxes_from_instances(IDS, NAMES, np.random.default_rng(7), noise)
    b = boxes_from_instances(IDS, NAMES, np.random.default_rng(7), noise)
    assert a == b


def test_false_positives_come_at_the_asked_rate_with_scene_categories():
    noise = BoxNoise(false_positives_per_frame=0.5, min_pixels=100)
    extra = []
    for seed in range(400):
        boxes = boxes_from_instances(IDS, NAMES, np.random.default_rng(seed), noise)
        extra.extend(boxes[2:])
    assert 0.4 < len(extra) / 400 < 0.6
    assert {b.label for b in extra} <= set(NAMES.values())
    assert all(0 <= b.x and b.x + b.w <= 160 and 0 <= b.y and b.y + b.h <= 120 for b in extra)


def test_bad_settings_and_inputs_are_refused():
    for kwargs in ({"jitter_fraction": -0.1}, {"false_positives_per_frame": -1},
                   {"min_pixels": 0}, {"score_range": (0.8, 0.2)}):
        with pytest.raises(ValueError):
            BoxNoise(**kwargs)
    with pytest.raises(ValueError):
        boxes_from_instances(IDS[None], NAMES, np.random.default_rng(0))
    with pytest.raises(KeyError):
        boxes_from_instances(IDS, {1: "sofa"}, np.random.default_rng(0), BoxNoise(min_pixels=1))
