"""Rendered sequences: determinism, geometric consistency of depth/labels/poses with the
ground truth, the noise model, camera paths and visibility."""

import math

import numpy as np
import pytest

from ssr_ros.sim import SequenceError, make_scene, render_sequence
from ssr_ros.sim.render import MAX_RANGE_M, depth_sigma_m
from ssr_ros.sim.trajectory import SPEED_LIMITS

W, H = 160, 120


@pytest.fixture(scope="module")
def scene3():
    return make_scene(3)


def _backproject(frame):
    """Map-frame points (N, 3), pixel ids (N,), depths (N,), ray norms (N,) of every
    pixel with valid depth, by the pinhole model with pixel centres at integers."""
    v, u = np.nonzero(frame.depth_m > 0)
    z = frame.depth_m[v, u].astype(np.float64)
    K = frame.K
    x = (u - K[0, 2]) / K[0, 0]
    y = (v - K[1, 2]) / K[1, 1]
    cam = np.column_stack([x * z, y * z, z])
    world = cam @ frame.T_map_cam[:3, :3].T + frame.T_map_cam[:3, 3]
    return world, frame.instance_ids[v, u], z, np.sqrt(1.0 + x ** 2 + y ** 2)


def _segment_distance(p, a, b):
    t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
    return float(np.linalg.norm(p - (a + t * (b - a))))


def _outside_distance(obj, points):
    """Distance (N,) [m] from points to the object's box (0 inside)."""
    c, s = math.cos(obj.yaw_rad), math.sin(obj.yaw_rad)
    rel = points - obj.center_m
    local = np.column_stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1],
                             rel[:, 2]])
    excess = np.maximum(np.abs(local) - 0.5 * obj.size_m, 0.0)
    return np.linalg.norm(excess, axis=1)


def test_same_seed_same_bytes_in_any_order():
    a = render_sequence(make_scene(5), n_frames=12, width=W, height=H, noise=True)
    b = render_sequence(make_scene(5), n_frames=12, width=W, height=H, noise=True)
    b.frame(9)
    for i in (2, 9):
        fa, fb = a.frame(i), b.frame(i)
        for name in ("rgb", "depth_m", "depth_mm", "instance_ids", "T_map_cam"):
            assert getattr(fa, name).tobytes() == getattr(fb, name).tobytes(), name
    c = render_sequence(make_scene(6), n_frames=12, width=W, height=H, noise=True)
    assert c.frame(2).rgb.tobytes() != a.frame(2).rgb.tobytes()


def test_frame_formats(scene3):
    seq = render_sequence(scene3, n_frames=5, width=W, height=H, rate_hz=20.0)
    assert len(seq) == 5 and len(list(seq)) == 5
    f = seq.frame(-1)
    assert f.index == 4 and f.stamp_s == pytest.approx(4 / 20.0)
    assert f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8
    assert f.depth_m.shape == (H, W) and f.depth_m.dtype == np.float32
    assert f.depth_mm.dtype == np.uint16 and f.instance_ids.dtype == np.uint16
    assert seq.K[0, 2] == pytest.approx((W - 1) / 2) and seq.K[1, 2] == pytest.approx((H - 1) / 2)
    assert np.abs(f.depth_mm.astype(np.float64) - f.depth_m * 1000.0).max() <= 0.5 + 1e-3
    assert set(np.unique(f.instance_ids)) <= {0} | set(seq.id_to_category)
    cats = seq.category_ids(f.instance_ids)
    for object_id in set(np.unique(f.instance_ids)) - {0}:
        names = {seq.category_names[c - 1] for c in np.unique(cats[f.instance_ids == object_id])}
        assert names == {seq.id_to_category[int(object_id)]}
    with pytest.raises(IndexError):
        seq.frame(5)


@pytest.mark.parametrize("seed", [0, 3, 8])
@pytest.mark.parametrize("noise", [False, True])
def test_labelled_pixels_backproject_into_their_boxes(seed, noise):
    scene = make_scene(seed)
    seq = render_sequence(scene, n_frames=60, width=W, height=H, noise=noise)
    objects = {o.id: o for o in scene.objects}
    checked = set()
    for i in range(0, 60, 10):
        frame = seq.frame(i)
        points, ids, z, ray = _backproject(frame)
        # Without noise only float32 depth rounding; with it the truncated (3 sigma)
        # noise moves a point along its ray.
        tol = 2e-3 + (3.0 * depth_sigma_m(z) * ray * 1.05 if noise else 0.0)
        for object_id in np.unique(ids):
            mask = ids == object_id
            if object_id == 0:
                # Walls, floor and ceiling: inside the room's bounding volume.
                lo = scene.room.polygon_xy.min(axis=0)
                hi = scene.room.polygon_xy.max(axis=0)
                p = points[mask]
                t = tol[mask] if noise else tol
                assert np.all(p[:, 0] >= lo[0] - 0.06 - t) and np.all(p[:, 0] <= hi[0] + t)
                assert np.all(p[:, 2] >= -t) and np.all(p[:, 2] <= scene.height_m + t)
                continue
            dist = _outside_distance(objects[int(object_id)], points[mask])
            limit = tol[mask] if noise else tol
            assert np.all(dist <= limit), (seed, i, object_id, dist.max())
            checked.add(int(object_id))
    assert len(checked) >= 3


def test_noise_model(scene3):
    clean = render_sequence(scene3, n_frames=20, width=W, height=H)
    noisy = render_sequence(scene3, n_frames=20, width=W, height=H, noise=True)
    ratios = []
    for i in (0, 7, 14):
        c, n = clean.frame(i), noisy.frame(i)
        assert np.array_equal(c.instance_ids, n.instance_ids)
        valid = n.depth_m > 0
        assert valid.mean() > 0.8
        assert not np.any(valid & (c.depth_m > MAX_RANGE_M))
        diff = (n.depth_m - c.depth_m)[valid]
        sigma = depth_sigma_m(c.depth_m[valid])
        assert np.all(np.abs(diff) <= 3.0 * sigma + 1e-5)
        ratios.append(np.abs(diff) / sigma)
        # Invalid pixels sit at depth discontinuities (or beyond range).
        invalid = (~valid) & (c.depth_m > 0) & (c.depth_m <= MAX_RANGE_M)
        if invalid.any():
            gy, gx = np.gradient(c.depth_m)
            jump = np.maximum(np.abs(gy), np.abs(gx)) / c.depth_m
            assert np.median(jump[invalid]) > 0.02
        assert np.abs(n.rgb.astype(int) - c.rgb.astype(int)).mean() > 0.5
    r = np.concatenate(ratios)
    # E|X| of a standard normal truncated at 3 sigma is about 0.79.
    assert 0.70 < r.mean() < 0.88


@pytest.mark.parametrize("trajectory", ["walk", "robot"])
def test_camera_stays_in_the_room_and_out_of_objects(trajectory):
    for seed in (1, 2, 9):
        scene = make_scene(seed)
        seq = render_sequence(scene, n_frames=150, width=W, height=H, trajectory=trajectory)
        heights = []
        for T in seq.poses:
            R = T[:3, :3]
            assert np.allclose(R.T @ R, np.eye(3), atol=1e-9)
            assert np.linalg.det(R) == pytest.approx(1.0)
            assert abs(R[2, 0]) < 1e-9  # optical x (right) stays level: no roll
            assert R[2, 1] < 0.0  # optical y points down
            p = T[:3, 3]
            heights.append(p[2])
            assert any(z.x0 <= p[0] <= z.x1 and z.y0 <= p[1] <= z.y1
                       for z in scene.layout.zones)
            poly = scene.room.polygon_xy
            walls = [(poly[k], poly[(k + 1) % len(poly)]) for k in range(len(poly))]
            walls += [seg for part in scene.layout.partitions for seg in part.solid_segments()]
            assert min(_segment_distance(p[:2], a, b) for a, b in walls) > 0.25
            # the passage tier lets the walk squeeze past furniture, never closer than this
            for obj in scene.objects:
                assert _outside_distance(obj, np.array([[p[0], p[1], obj.center_m[2]]]))[0] > 0.2
        if trajectory == "walk":
            assert 1.2 <= min(heights) and max(heights) <= 1.7
        else:
            assert np.ptp(heights) == 0.0
        speed, turn = SPEED_LIMITS[trajectory][:2]
        for a, b in zip(seq.poses, seq.poses[1:]):
            assert np.linalg.norm(b[:2, 3] - a[:2, 3]) * seq.rate_hz <= speed * 1.02
            yaw_a, yaw_b = (math.atan2(T[1, 2], T[0, 2]) for T in (a, b))
            step_deg = abs(math.degrees(math.remainder(yaw_b - yaw_a, 2 * math.pi)))
            assert step_deg * seq.rate_hz <= turn * 1.02


def test_first_seen_matches_the_label_images(scene3):
    seq = render_sequence(scene3, n_frames=24, width=W, height=H)
    counts = [np.bincount(seq.frame(i).instance_ids.ravel(),
                          minlength=len(scene3.objects) + 1) for i in range(len(seq))]
    expected = {}
    for i, c in enumerate(counts):
        for object_id in range(1, len(c)):
            if c[object_id] >= seq.min_visible_pixels:
                expected.setdefault(object_id, i)
    assert seq.first_seen == expected
    assert len(expected) >= 3
    assert seq.min_visible_pixels == round(200 * W * H / (640 * 480))


def test_most_objects_are_seen_along_the_walk():
    seen = total = 0
    for seed in (0, 4, 10):
        scene = make_scene(seed)
        # 20 s of walking (the default 300 frames at 15 Hz), sampled at 5 Hz.
        seq = render_sequence(scene, n_frames=100, width=128, height=96, rate_hz=5.0)
        seen += len(seq.first_seen)
        total += len(scene.objects)
    assert seen >= 0.8 * total


@pytest.mark.parametrize("kwargs", [
    {"n_frames": 0}, {"n_frames": -3}, {"n_frames": 2.5}, {"width": 0}, {"height": -1},
    {"width": 10_000}, {"rate_hz": 0.0}, {"rate_hz": float("nan")}, {"trajectory": "fly"},
    {"seed": -1},
])
def test_bad_sequence_arguments_raise(scene3, kwargs):
    args = {"n_frames": 3, "width": 32, "height": 24}
    args.update(kwargs)
    with pytest.raises(SequenceError):
        render_sequence(scene3, **args)


def test_object_states_carry_first_sightings(scene3):
    seq = render_sequence(scene3, n_frames=12, width=W, height=H)
    states = seq.object_states()
    first = seq.first_seen
    assert {s.id for s in states} == set(first)
    for state in states:
        obj = scene3.object(state.id)
        assert state.label == obj.category
        assert np.array_equal(state.center_m, obj.center_m)
        assert state.first_seen_order == first[state.id]
        assert state.first_seen_s == pytest.approx(first[state.id] / seq.rate_hz)
    assert len(seq.object_states(visible_only=False)) == len(scene3.objects)
