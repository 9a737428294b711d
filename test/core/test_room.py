"""RoomEstimator: floor area and outline from floor/wall evidence."""

import numpy as np
import pytest

from ssr_ros.core.room import RoomEstimator, RoomEstimatorConfig


def room_points(rng, w=4.0, d=3.0, n=20000, furniture=((1.0, 1.0, 1.0),)):
    floor = np.column_stack([rng.uniform(0, w, n), rng.uniform(0, d, n), np.zeros(n)])
    # Furniture hides the floor under it.
    for fx, fy, fs in furniture:
        floor = floor[~((np.abs(floor[:, 0] - fx) < fs / 2) & (np.abs(floor[:, 1] - fy) < fs / 2))]
    walls = []
    for t in np.linspace(0, 1, 400):
        for z in (0.5, 1.5, 2.2):
            walls += [[t * w, 0, z], [t * w, d, z], [0, t * d, z], [w, t * d, z]]
    return np.vstack([floor, np.asarray(walls)])


def test_rectangular_room_area_and_outline():
    rng = np.random.default_rng(0)
    est = RoomEstimator()
    pts = room_points(rng)
    for chunk in np.array_split(pts, 4):
        est.update(chunk, camera_position_m=np.array([2.0, 1.5, 1.5]))
    room = est.room()
    assert room.floor_area_m2 == pytest.approx(12.0, rel=0.06)
    assert abs(est.floor_z_m) < 0.03
    lo, hi = room.polygon_xy.min(0), room.polygon_xy.max(0)
    assert np.allclose(lo, [0, 0], atol=0.15) and np.allclose(hi, [4, 3], atol=0.15)


def test_no_evidence_gives_empty_room_and_bad_config_rejected():
    assert RoomEstimator().room().floor_area_m2 == 0.0
    with pytest.raises(ValueError):
        RoomEstimatorConfig(cell_size_m=0.0)
    with pytest.raises(ValueError):
        RoomEstimatorConfig(cell_size_m=0.001, extent_m=100.0)


def test_distance_to_wall_along_a_ray():
    rng = np.random.default_rng(1)
    est = RoomEstimator()
    est.update(room_points(rng), camera_position_m=np.array([2.0, 1.5, 1.5]))
    # From (1, 1.5) toward +x the wall at x = 4 is 3 m away; toward -x it is 1 m.
    assert est.distance_to_wall(np.array([1.0, 1.5]), np.array([1.0, 0.0]), 5.0) == \
        pytest.approx(3.0, abs=0.03)
    assert est.distance_to_wall(np.array([1.0, 1.5]), np.array([-2.0, 0.0]), 5.0) == \
        pytest.approx(1.0, abs=0.03)
    assert est.distance_to_wall(np.array([1.0, 1.5]), np.array([1.0, 0.0]), 2.0) is None
