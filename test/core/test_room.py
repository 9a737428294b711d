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


def noisy_room_points(rng, w=6.0, d=4.0, height=2.6, sigma_m=0.05, notch=None):
    """Floor, ceiling and wall points of a ``w`` x ``d`` room; wall points scattered
    ``sigma_m`` across the wall (depth noise). ``notch`` (x0, x1, depth) leaves a
    triangle of floor and ceiling by the wall y = d, and that wall, unobserved."""
    n = 30000
    floor = np.column_stack([rng.uniform(0, w, n), rng.uniform(0, d, n), np.zeros(n)])
    ceiling = np.column_stack([rng.uniform(0, w, n), rng.uniform(0, d, n),
                               np.full(n, height)])
    if notch is not None:
        x0, x1, depth = notch
        for pts in (floor, ceiling):
            half = 0.5 * (x1 - x0) * (pts[:, 1] - (d - depth)) / depth
            hidden = np.abs(pts[:, 0] - 0.5 * (x0 + x1)) < half
            pts[hidden] = np.nan
    walls = []
    m = 4000
    t = rng.uniform(0, 1, m)
    z = rng.uniform(0.3, height - 0.3, m)
    e = rng.normal(0.0, sigma_m, m)
    far = np.column_stack([t * w, d + e, z])
    if notch is not None:
        # Nor did it look at the wall behind the wedge.
        far = far[(far[:, 0] < notch[0]) | (far[:, 0] > notch[1])]
    walls += [np.column_stack([t * w, e, z]), far,
              np.column_stack([e, t * d, z]), np.column_stack([w + e, t * d, z])]
    return np.vstack([floor, ceiling] + walls)


def feed(est, pts, camera_xy, camera_z=1.4):
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    for chunk in np.array_split(pts, 8):
        est.update(chunk, camera_position_m=np.array([camera_xy[0], camera_xy[1], camera_z]))


def test_noisy_walls_do_not_inflate_the_area():
    # Wall points scattered 5 cm to both sides of the wall: the area follows the wall
    # surface, not the outer edge of the scatter.
    rng = np.random.default_rng(3)
    est = RoomEstimator()
    feed(est, noisy_room_points(rng), (3.0, 2.0))
    assert est.room().floor_area_m2 == pytest.approx(24.0, rel=0.03)
    assert est.ceiling_z_m == pytest.approx(2.6, abs=0.03)


def test_ceiling_points_are_not_walls():
    rng = np.random.default_rng(4)
    est = RoomEstimator()
    feed(est, noisy_room_points(rng, sigma_m=0.01), (3.0, 2.0))
    # Straight up the ceiling is everywhere; along the floor the first wall is at x = 6.
    assert est.distance_to_wall(np.array([1.0, 2.0]), np.array([1.0, 0.0]), 8.0) == \
        pytest.approx(5.0, abs=0.05)


def test_unseen_corner_by_a_wall_is_completed():
    # The camera never looked at a 2 m wide, 1.5 m deep wedge by the far wall; the room
    # is rectilinear, so the wedge between seen floor on both sides belongs to it.
    rng = np.random.default_rng(5)
    est = RoomEstimator()
    feed(est, noisy_room_points(rng, notch=(2.0, 4.0, 1.5)), (3.0, 1.0))
    assert est.room().floor_area_m2 == pytest.approx(24.0, rel=0.03)
    plain = RoomEstimator(RoomEstimatorConfig(orthogonal_fill=False))
    feed(plain, noisy_room_points(np.random.default_rng(5), notch=(2.0, 4.0, 1.5)),
         (3.0, 1.0))
    assert plain.room().floor_area_m2 < 23.0


@pytest.mark.parametrize("angle_deg", [0.0, 30.0])
def test_area_does_not_depend_on_the_room_heading(angle_deg):
    rng = np.random.default_rng(6)
    pts = noisy_room_points(rng, notch=(2.0, 4.0, 1.5))
    a = np.deg2rad(angle_deg)
    R = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0, 0, 1]])
    est = RoomEstimator()
    feed(est, pts @ R.T, R[:2, :2] @ np.array([3.0, 1.0]))
    assert est.room().floor_area_m2 == pytest.approx(24.0, rel=0.04)


def _wall_band_below_camera(rng, n=6000):
    """Wall points of a view that misses the floor: heights 0.5-1.15 m, denser towards
    the camera height (1.45 m), as perspective makes them; the densest level is ~1.1 m."""
    z = np.sort(1.15 - (1.15 - 0.5) * (1.0 - np.sqrt(rng.uniform(0, 1, n))))
    x = rng.uniform(0.0, 4.0, n)
    return np.column_stack([x, np.full(n, 3.0), z])


def test_floor_is_not_guessed_from_walls_and_found_once_in_view():
    # A walk that first only sees walls (camera looking ahead, floor out of view): the
    # densest low level is a wall height, not the floor.
    rng = np.random.default_rng(3)
    est = RoomEstimator()
    cam = np.array([2.0, 0.5, 1.45])
    walls = _wall_band_below_camera(rng)
    est.update(walls, camera_position_m=cam)
    assert not est.floor_observed
    # Then a little floor comes into view (far fewer points than the walls gave): that
    # thin layer is the floor.
    floor = np.column_stack([rng.uniform(0, 4, 400), rng.uniform(0, 3, 400),
                             rng.normal(0.0, 0.01, 400)])
    est.update(np.vstack([walls, floor]), camera_position_m=cam)
    assert est.floor_observed
    assert abs(est.floor_z_m) < 0.03
    # A configured floor counts as observed from the start.
    assert RoomEstimator(RoomEstimatorConfig(floor_z_m=0.2)).floor_observed


def _angle_by_scan(walls):
    """The dominant wall angle as a scan of every candidate angle (the reference)."""
    rows, cols = np.nonzero(walls)
    xy = np.stack([cols, rows], axis=1).astype(np.float64)
    xy -= xy.mean(axis=0)
    best, best_score = 0.0, -1.0
    for a in np.deg2rad(np.arange(0.0, 90.0, 1.0)):
        c, s = np.cos(a), np.sin(a)
        u = np.round(xy[:, 0] * c + xy[:, 1] * s).astype(np.int64)
        v = np.round(-xy[:, 0] * s + xy[:, 1] * c).astype(np.int64)
        score = float(np.sum(np.bincount(u - u.min()) ** 2)
                      + np.sum(np.bincount(v - v.min()) ** 2))
        if score > best_score:
            best, best_score = float(a), score
    return best


@pytest.mark.parametrize("angle_deg", [0.0, 17.0, 33.0, 71.0])
def test_dominant_angle_equals_a_scan_and_follows_new_walls(angle_deg):
    rng = np.random.default_rng(int(angle_deg))
    est = RoomEstimator()
    a = np.deg2rad(angle_deg)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    pts = rng.permutation(noisy_room_points(rng, sigma_m=0.01))
    pts[:, :2] = pts[:, :2] @ R.T
    half = len(pts) // 20
    feed(est, pts[:half], R @ [3.0, 2.0])
    win = est._window()
    walls = est._wall[win] >= est.config.min_hits
    assert est._dominant_angle(win) == _angle_by_scan(walls)
    # unchanged wall cells: the cached angle; new wall cells: computed again
    assert est._dominant_angle(win) == _angle_by_scan(walls)
    feed(est, pts[half:], R @ [3.0, 2.0])
    win = est._window()
    walls_now = est._wall[win] >= est.config.min_hits
    assert walls_now.shape != walls.shape or not np.array_equal(walls_now, walls)
    assert est._dominant_angle(win) == _angle_by_scan(walls_now)


def test_dominant_angle_is_computed_again_when_the_wall_cells_change():
    est = RoomEstimator()
    feed(est, noisy_room_points(np.random.default_rng(5), sigma_m=0.01), [3.0, 2.0])
    win = est._window()
    first = est._dominant_angle(win)
    # the same window's wall cells replaced by a line at 30 degrees
    h, w = est._wall[win].shape
    est._wall[win] = 0
    t = np.linspace(0.0, 1.0, 200)
    rows = (h // 2 + t * 0.4 * h * np.sin(np.deg2rad(30))).astype(int)
    cols = (w // 4 + t * 0.4 * h * np.cos(np.deg2rad(30))).astype(int)
    est._wall[win][rows, cols] = est.config.min_hits
    walls = est._wall[win] >= est.config.min_hits
    assert est._dominant_angle(win) == _angle_by_scan(walls) != first


def test_floor_level_follows_the_height_histogram():
    # the level is kept with the histogram it came from: asked again, the same; after
    # evidence at another height, computed again
    rng = np.random.default_rng(3)
    est = RoomEstimator()
    assert not est.floor_observed
    pts = noisy_room_points(rng, sigma_m=0.01)
    feed(est, pts, [3.0, 2.0])
    assert est.floor_observed
    level = RoomEstimator._floor_level(est._z_hist)
    assert est.floor_z_m == level == est.floor_z_m
    lower = pts[pts[:, 2] < 0.05] - [0.0, 0.0, 0.5]  # a floor half a metre lower
    for _ in range(3):
        feed(est, lower, [3.0, 2.0])
    assert est.floor_z_m == RoomEstimator._floor_level(est._z_hist) < level - 0.4
    est.clear()
    assert not est.floor_observed and est.floor_z_m == 0.0


def _fresh_room(est):
    """The room an estimator with ``est``'s evidence and no kept results gives."""
    other = RoomEstimator(est.config)
    other.load_state_dict(est.state_dict())
    return other.room()


def test_room_kept_parts_equal_a_fresh_estimate_as_evidence_grows():
    # room() keeps the region's shape while the observed cells stay and the completion
    # while its core and angle stay; the wall counts and sums change with every update,
    # so the border weights are computed again. At every step: what a fresh estimator
    # with the same evidence gives, to the bit.
    rng = np.random.default_rng(6)
    est = RoomEstimator()
    pts = noisy_room_points(rng, notch=(1.0, 3.0, 1.0))
    feed(est, pts, [3.0, 2.0])
    rooms = []
    for step in range(4):
        if step == 2:
            # cells not observed before: the region grows
            feed(est, noisy_room_points(rng, w=8.0), [3.0, 2.0])
        else:
            feed(est, pts[rng.random(len(pts)) < 0.3], [3.0, 2.0])
        room, fresh = est.room(), _fresh_room(est)
        assert room.floor_area_m2 == fresh.floor_area_m2
        assert np.array_equal(room.polygon_xy, fresh.polygon_xy)
        rooms.append(room)
    assert rooms[0].floor_area_m2 != rooms[1].floor_area_m2  # the weights did move
    assert rooms[3].floor_area_m2 > rooms[1].floor_area_m2 + 4.0
    assert est._shape_cache is not None and est._completion_cache is not None
