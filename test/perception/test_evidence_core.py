"""The plausible core of an object's evidence (issue 14): scraps of touching neighbours
do not make a box deeper or longer than its category can be, and plausible objects keep
all their evidence."""

import numpy as np
import pytest

from ssr_ros.core.geometry import fit_box_to_points
from ssr_ros.perception.evidence_core import plausible_core as core_of
from ssr_ros.perception.lifting import EvidenceBoxFitter
from ssr_ros.perception.priors import size_prior


def plausible_core(pts, w, prior):
    """The core mask, all True where nothing is cut (box fitted as the fitter does)."""
    _, size, yaw = fit_box_to_points(pts, trim_fraction=0.005)
    keep = core_of(pts, w, prior, size, yaw)
    return np.ones(len(pts), dtype=bool) if keep is None else keep


def solid(lo, hi, rng, n):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return lo + rng.uniform(size=(n, 3)) * (hi - lo)


def desk_with_chair_scraps(rng):
    """A 1.4 x 0.7 m desk at the origin (long side along x) seen in many views (weight
    1 per point) and a chair in front of it that a few views added (weight 0.2)."""
    desk = solid([-0.7, -0.35, 0.0], [0.7, 0.35, 0.75], rng, 2000)
    chair = solid([-0.25, -1.05, 0.0], [0.25, -0.45, 0.9], rng, 600)
    pts = np.vstack([desk, chair])
    w = np.concatenate([np.ones(len(desk)), np.full(len(chair), 0.2)])
    return pts, w, len(desk)


def test_scraps_in_front_of_a_desk_are_left_out_of_its_box():
    rng = np.random.default_rng(0)
    pts, w, n_desk = desk_with_chair_scraps(rng)
    keep = plausible_core(pts, w, size_prior("desk"))
    assert keep[:n_desk].mean() > 0.98 and keep[n_desk:].mean() < 0.2
    fit = EvidenceBoxFitter()("desk", pts, w, np.array([[0.0, -3.0, 1.4]]))
    assert np.linalg.norm(fit.center_m[:2]) < 0.05
    assert fit.size_m[1] < 0.8


def test_without_the_core_the_same_desk_is_pulled_towards_the_chair():
    # The fitter with no category prior keeps everything: the desk would be 1.4 m deep.
    rng = np.random.default_rng(0)
    pts, w, _ = desk_with_chair_scraps(rng)
    fit = EvidenceBoxFitter(prior=lambda label: None)("desk", pts, w,
                                                      np.array([[0.0, -3.0, 1.4]]))
    assert fit.size_m[1] > 1.2 and fit.center_m[1] < -0.2


@pytest.mark.parametrize("label, lo, hi", [
    ("cabinet", [-0.8, -0.25, 0.0], [0.8, 0.25, 0.9]),    # a 1.6 m run, 2 x its prior
    ("tv", [-0.6, -0.12, 0.5], [0.6, 0.12, 1.2]),          # 0.24 m deep on its stand
    ("chair", [-0.25, -0.25, 0.0], [0.25, 0.25, 0.9]),
])
def test_plausible_objects_keep_all_their_evidence(label, lo, hi):
    rng = np.random.default_rng(1)
    pts = solid(lo, hi, rng, 1500)
    assert plausible_core(pts, np.ones(len(pts)), size_prior(label)).all()


def test_no_dominant_object_keeps_everything():
    # A uniform 6 m stretch labelled desk (a counter, say): no band one desk long holds
    # half of the weight, so nothing is cut.
    rng = np.random.default_rng(2)
    pts = solid([-3.0, -0.35, 0.0], [3.0, 0.35, 0.75], rng, 3000)
    assert plausible_core(pts, np.ones(len(pts)), size_prior("desk")).all()


def test_unknown_category_or_few_points_keep_everything():
    rng = np.random.default_rng(3)
    pts, w, _ = desk_with_chair_scraps(rng)
    assert plausible_core(pts, w, None).all()
    assert plausible_core(pts[:10], w[:10], size_prior("desk")).all()
