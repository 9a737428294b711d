"""Lifting: rejections (floor, far, little depth) and the whole-object box fitter."""

import math

import numpy as np
import pytest

from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.keyframes import Keyframe
from ssr_ros.perception.lifting import EvidenceBoxFitter, Lifter, PaddedDepth, Rejection
from ssr_ros.perception.proposals import Box2D, Proposal

from synthetic_rgbd import camera_pose, render

K = np.array([[100.0, 0, 39.5], [0, 100.0, 29.5], [0, 0, 1]])
CAM = PinholeCamera.from_K(K, 80, 60)


def _kf(depth, T):
    return Keyframe(np.zeros(depth.shape + (3,), np.uint8), depth, K, T, 0.0, 0)


def _all_pixels(depth, box=None):
    r, c = np.nonzero(np.ones(depth.shape, bool))
    return Proposal("rug", 1.0, r, c, box=box)


def test_floor_patch_is_not_an_object():
    # Camera 1.5 m up looking straight down at the floor.
    T = camera_pose(0, 0, 1.5, 0.0, math.radians(90))
    depth = np.full((60, 80), 1.5, np.float32)
    out = Lifter().lift(_all_pixels(depth), _kf(depth, T), CAM, floor_z_m=0.0)
    assert isinstance(out, Rejection) and out.reason == "floor"


def test_far_and_holey_observations_rejected():
    T = camera_pose(0, 0, 1.0, 0.0)
    far = np.full((60, 80), 9.5, np.float32)
    assert Lifter().lift(_all_pixels(far), _kf(far, T), CAM).reason == "too far"
    holes = np.zeros((60, 80), np.float32)
    holes[::10, ::10] = 2.0
    assert Lifter().lift(_all_pixels(holes), _kf(holes, T), CAM).reason == \
        "too little valid depth"


@pytest.mark.parametrize("far_cols, near_m, too_far", [
    (40, 7.0, True),    # half beyond 8 m: the median is the mean of 7.0 and 9.5
    (40, 6.0, False),   # the same split, a median of 7.75 m
    (41, 7.0, True), (39, 7.5, False)])
def test_too_far_is_judged_on_the_median_depth(far_cols, near_m, too_far):
    T = camera_pose(0, 0, 1.0, 0.0)
    depth = np.full((60, 80), near_m, np.float32)
    depth[:, :far_cols] = 9.5
    out = Lifter().lift(_all_pixels(depth), _kf(depth, T), CAM)
    assert (isinstance(out, Rejection) and out.reason == "too far") == too_far


def _face_points(x0, y0, y1, z1, rng, n=800):
    """Points on a vertical face x = x0 (seen from -x), y in [y0, y1], z in [0, z1]."""
    return np.column_stack([np.full(n, x0) + rng.normal(0, 0.005, n),
                            rng.uniform(y0, y1, n), rng.uniform(0, z1, n)])


def test_wall_furniture_depth_comes_from_the_wall_behind():
    rng = np.random.default_rng(0)
    pts = _face_points(2.0, 0.0, 1.2, 2.0, rng)          # a wardrobe's front face
    views = np.array([[0.0, 0.6, 1.5], [0.2, 0.2, 1.5], [0.2, 1.0, 1.5]])
    fitter = EvidenceBoxFitter(floor_z=lambda: 0.0,
                               wall_distance=lambda o, d, m: 0.6 if d[0] > 0.9 else None)
    fit = fitter("wardrobe", pts, np.ones(len(pts)), views)
    assert fit.from_prior
    assert math.isclose(fit.center_m[0], 2.3, abs_tol=0.04)
    assert np.allclose(np.sort(fit.size_m[:2]), [0.6, 1.2], atol=0.05)
    # Without a wall in sight the category's depth is used, and a refit is requested.
    no_wall = EvidenceBoxFitter(floor_z=lambda: 0.0, wall_distance=lambda o, d, m: None)
    fit = no_wall("wardrobe", pts, np.ones(len(pts)), views)
    assert fit.pending and math.isclose(min(fit.size_m[:2]), 0.6, abs_tol=0.01)
    # A free-standing category seen from one side takes its category's depth behind the
    # seen face (away from the cameras), and asks for a refit.
    fit = no_wall("armchair", pts, np.ones(len(pts)), views)
    assert fit.pending and fit.from_prior
    assert math.isclose(min(fit.size_m[:2]), 0.8, abs_tol=0.01)
    assert math.isclose(fit.center_m[0], 2.4, abs_tol=0.04)


def test_thin_object_takes_the_prior_depth_behind_its_face_up_to_a_wall():
    # Only part of a wardrobe's front was seen (0.5 of its 1.2 m): still implausibly
    # thin for a wardrobe, so it gets the category's 0.6 m behind the face.
    rng = np.random.default_rng(2)
    pts = _face_points(2.0, 0.0, 0.5, 2.0, rng)
    views = np.array([[0.0, 0.3, 1.5], [0.3, 0.0, 1.5]])
    fit = EvidenceBoxFitter(floor_z=lambda: 0.0)("wardrobe", pts, np.ones(len(pts)), views)
    assert fit.from_prior and np.allclose(np.sort(fit.size_m[:2]), [0.5, 0.6], atol=0.02)
    assert math.isclose(fit.center_m[0], 2.3, abs_tol=0.04)
    # A wall 0.35 m behind the face stops it there.
    walled = EvidenceBoxFitter(floor_z=lambda: 0.0,
                               wall_distance=lambda o, d, m: 0.35 if d[0] > 0.9 else None)
    fit = walled("wardrobe", pts, np.ones(len(pts)), views)
    assert np.allclose(np.sort(fit.size_m[:2]), [0.35, 0.5], atol=0.03)
    assert math.isclose(fit.center_m[0], 2.175, abs_tol=0.04)
    # Depth measured from other views replaces the prior: a box 0.5 m deep stays so.
    deep = np.vstack([pts, pts + [0.5, 0.0, 0.0], _face_points(2.0, 0.0, 0.5, 2.0, rng)
                      * [0, 1, 1] + [2.25, 0.0, 0.0]])
    fit = EvidenceBoxFitter(floor_z=lambda: 0.0)("wardrobe", deep, np.ones(len(deep)),
                                                 views)
    assert np.allclose(fit.size_m[:2], [0.5, 0.5], atol=0.04) and not fit.from_prior


def test_round_objects_get_their_back_half_and_floor_objects_their_bottom():
    rng = np.random.default_rng(1)
    a = rng.uniform(-math.pi / 2, math.pi / 2, 600)        # front half of a pot
    pts = np.column_stack([1.0 - 0.25 * np.cos(a), 0.25 * np.sin(a),
                           rng.uniform(0.3, 0.9, 600)])      # bottom 0.3 m hidden
    views = np.array([[-1.0, 0.0, 1.5]])
    fit = EvidenceBoxFitter(floor_z=lambda: 0.0)("plant", pts, np.ones(600), views)
    assert np.allclose(fit.size_m, [0.5, 0.5, 0.9], atol=0.03)
    assert np.allclose(fit.center_m, [1.0, 0.0, 0.45], atol=0.03)
    # A cup (not a floor-standing category) floating at 0.7 m keeps its bottom.
    cup = pts * [0.2, 0.2, 0.1] + [0, 0, 0.7]
    fit = EvidenceBoxFitter(floor_z=lambda: 0.0)("cup", cup, np.ones(600), views * 0.2)
    assert fit.center_m[2] - fit.size_m[2] / 2 > 0.7


def test_box_source_proposal_loses_the_floor_band():
    # Camera looking horizontally at a box standing on the floor; the proposal includes
    # floor pixels below it (a box source's loose box).
    T = camera_pose(0, 0, 0.5, 0.0, math.radians(20))
    depth, _, _ = render(CAM, T, [((2.0, 0.0, 0.3), (0.6, 0.6, 0.6))])
    r, c = np.nonzero(np.ones(depth.shape, bool))
    prop = Proposal("box", 1.0, r, c, box=Box2D(0, 0, 80, 60))
    obs = Lifter().lift(prop, _kf(depth, T), CAM, floor_z_m=0.0)
    assert not isinstance(obs, Rejection)
    assert obs.points_m[:, 2].min() > 0.04


def test_fit_waits_for_the_floor_and_never_flattens_onto_a_wrong_one():
    # Only the top of a chair back seen (table in front): 0.7-0.95 m.
    rng = np.random.default_rng(4)
    pts = np.column_stack([rng.uniform(2.8, 3.2, 300), rng.uniform(0.2, 0.24, 300),
                           rng.uniform(0.7, 0.95, 300)])
    views = np.array([[1.3, 5.0, 1.4]])
    # Floor not known yet: the box is the seen part, and a refit is requested.
    fit = EvidenceBoxFitter(floor_z=lambda: None)("chair", pts, np.ones(300), views)
    assert fit.pending
    assert fit.size_m[2] == pytest.approx(0.25, abs=0.03)
    # Once the floor is known the chair reaches down to it.
    fit = EvidenceBoxFitter(floor_z=lambda: 0.0)("chair", pts, np.ones(300), views)
    assert fit.center_m[2] - fit.size_m[2] / 2 == pytest.approx(0.0, abs=0.01)
    # A floor height at or above the object's top (a wrong guess) must not squash it to
    # zero height.
    fit = EvidenceBoxFitter(floor_z=lambda: 1.0)("chair", pts, np.ones(300), views)
    assert fit.size_m[2] == pytest.approx(0.25, abs=0.03)


def test_box_observation_wider_than_its_category_keeps_its_core():
    # A chair's box whose depth layer also holds a table beside it at the same depth:
    # the observation keeps the part around its weighted median, chair-sized.
    T = camera_pose(0, 2.5, 0.9, 0.0, math.radians(10))
    chair = ((3.0, 2.5, 0.45), (0.5, 0.5, 0.9))
    table = ((3.1, 1.4, 0.375), (0.9, 1.6, 0.75))
    depth, ids, _ = render(CAM, T, [chair, table])
    r, c = np.nonzero(ids == 1)
    r2, c2 = np.nonzero(ids == 2)
    sel = np.arange(0, len(r2), 2)                    # the table shows less than the chair
    rows, cols = np.concatenate([r, r2[sel][: len(r) // 2]]), \
        np.concatenate([c, c2[sel][: len(r) // 2]])
    prop = Proposal("chair", 1.0, rows, cols, box=Box2D(0, 0, 80, 60))
    obs = Lifter().lift(prop, _kf(depth, T), CAM, floor_z_m=0.0)
    assert not isinstance(obs, Rejection)
    assert float(np.ptp(obs.points_m[:, 1])) < 0.9
    assert abs(float(np.median(obs.points_m[:, 1])) - 2.5) < 0.15
    # A label-image mask is never cut: its pixels are the object's by definition.
    obs = Lifter().lift(Proposal("chair", 1.0, rows, cols), _kf(depth, T), CAM, 0.0)
    assert float(np.ptp(obs.points_m[:, 1])) > 0.9


def test_padded_depth_gives_the_clamped_neighbours_and_refuses_pixels_outside():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 4.0, (7, 9)).astype(np.float32)
    padded = PaddedDepth(depth, 2)
    rows, cols = (a.ravel() for a in np.indices(depth.shape))
    idx = padded.index(rows, cols)
    steps = [(dr, dc) for dr in range(-2, 3) for dc in range(-2, 3)]
    for (dr, dc), offset in zip(steps, padded.offsets(steps)):
        clamped = depth[np.clip(rows + dr, 0, 6), np.clip(cols + dc, 0, 8)]
        assert np.array_equal(padded.flat.take(idx + offset), clamped), (dr, dc)
    with pytest.raises(ValueError, match="beyond the padding"):
        padded.offsets([(3, 0)])
    with pytest.raises(ValueError, match="outside"):
        padded.index(np.array([0, 7]), np.array([0, 0]))
    with pytest.raises(ValueError, match="outside"):
        padded.index(np.array([0]), np.array([-1]))


def test_voxel_keys_are_ranked_as_np_unique_ranks_them():
    from ssr_ros.perception.lifting import _unique_inverse

    rng = np.random.default_rng(1)
    for size, n in ((50, 400), (70_000, 1000), (5_000_000, 300)):  # table and sort paths
        flat = rng.integers(0, size, n)
        uniq, inv = _unique_inverse(flat, size)
        expected_uniq, expected_inv = np.unique(flat, return_inverse=True)
        assert np.array_equal(uniq, expected_uniq) and np.array_equal(inv, expected_inv)
