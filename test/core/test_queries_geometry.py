"""Box distances and direction words behind the query engine."""

import math

import numpy as np
import pytest

from ssr_ros.core.geometry import wrap_angle
from ssr_ros.core.relations import (bearing_rad, box_distance, center_distance, direction_word,
                                    footprint_distance, turn_word)
from ssr_ros.core.types import ObjectState


def _box(x, y, z, sx, sy, sz, yaw=0.0):
    return ObjectState(0, "box", [x, y, z], [sx, sy, sz], yaw)


def test_axis_aligned_and_rotated_box_distances():
    a = _box(0, 0, 0.5, 1, 1, 1)
    assert box_distance(a, _box(3, 0, 0.5, 1, 1, 1)) == pytest.approx(2.0)
    # A unit square turned 45 deg reaches sqrt(0.5) along x.
    diamond = _box(0, 0, 0.5, 1, 1, 1, math.pi / 4)
    assert box_distance(diamond, _box(3, 0, 0.5, 1, 1, 1)) == pytest.approx(2.5 - math.sqrt(0.5))
    # Corner to corner across the diagonal.
    assert box_distance(a, _box(2, 2, 0.5, 1, 1, 1)) == pytest.approx(math.sqrt(2.0))


def test_overlap_contact_and_vertical_gap():
    table = _box(0, 0, 0.375, 1.2, 0.8, 0.75)
    cup_on_table = _box(0.2, 0.1, 0.8, 0.08, 0.08, 0.1)
    assert box_distance(table, cup_on_table) == pytest.approx(0.0, abs=1e-12)
    lamp_above = _box(0, 0, 2.0, 0.3, 0.3, 0.2)
    assert box_distance(table, lamp_above) == pytest.approx(2.0 - 0.1 - 0.75)
    inside = _box(0, 0, 0.3, 0.1, 0.1, 0.1)
    assert footprint_distance(table, inside) == 0.0
    offset = _box(3, 4, 2.0, 1.0, 1.0, 0.2)
    expected = math.hypot(math.hypot(3 - 0.5 - 0.6, 4 - 0.5 - 0.4), 2.0 - 0.1 - 0.75)
    assert box_distance(table, offset) == pytest.approx(expected)


def test_box_distance_never_exceeds_centre_distance_on_random_boxes():
    rng = np.random.default_rng(7)
    for _ in range(200):
        a = _box(*rng.uniform(-3, 3, 3), *rng.uniform(0.1, 2, 3), rng.uniform(-3, 3))
        b = _box(*rng.uniform(-3, 3, 3), *rng.uniform(0.1, 2, 3), rng.uniform(-3, 3))
        d = box_distance(a, b)
        assert 0.0 <= d <= center_distance(a, b) + 1e-12
        assert d == pytest.approx(box_distance(b, a))


def test_directions_and_turns():
    origin, ahead = np.zeros(2), np.array([0.0, 1.0])
    assert math.degrees(bearing_rad(origin, ahead, [-1.0, 1.0])) == pytest.approx(45.0)
    assert direction_word(math.radians(30), "left_right") == "left"
    assert direction_word(math.radians(-170), "left_right") == "right"
    assert direction_word(math.radians(135), "left_right_back") == "back"
    assert direction_word(math.radians(134), "left_right_back") == "left"
    assert direction_word(math.radians(100), "quadrant") == "back-left"
    assert direction_word(math.radians(-10), "quadrant") == "front-right"
    assert turn_word(math.radians(30)) == "straight"
    assert turn_word(math.radians(30), forced=True) == "left"
    assert turn_word(math.radians(-90)) == "right"
    assert turn_word(math.radians(136)) == "back"
    assert wrap_angle(3 * math.pi) == pytest.approx(math.pi)
    with pytest.raises(ValueError):
        bearing_rad(origin, origin, ahead)
    with pytest.raises(ValueError):
        direction_word(0.1, "sideways")
