"""SeenSpace: the voxels depth rays observed, against a per-sample reference, across
tiles and negative coordinates, with its range limit, persistence and input checks."""

import math

import numpy as np
import pytest

from ssr_ros.core.seen_space import LAYERS, SeenSpace, SeenSpaceConfig


def _reference(cfg: SeenSpaceConfig, z0: float, origin, ends) -> set:
    """The voxels the rays mark, one sample at a time (the straightforward version)."""
    out = set()
    o = np.asarray(origin, float)
    for e in np.asarray(ends, float):
        d = e - o
        length = float(np.linalg.norm(d))
        if not math.isfinite(length) or length <= cfg.min_range_m:
            continue
        u = d / length
        reach = min(length, cfg.max_range_m)
        n = max(0, math.ceil((reach - cfg.min_range_m) / cfg.step_m))
        ts = [cfg.min_range_m + cfg.step_m * i for i in range(n)]
        if length <= cfg.max_range_m:
            ts.append(length)
        for t in ts:
            p = o + u * t
            k = math.floor((p[2] - z0) / cfg.layer_m)
            if 0 <= k < LAYERS:
                out.add((math.floor(p[0] / cfg.cell_m), math.floor(p[1] / cfg.cell_m), k))
    return out


def _observed_voxels(space: SeenSpace, lo, hi) -> set:
    cfg = space.config
    ix = np.arange(lo[0], hi[0])
    iy = np.arange(lo[1], hi[1])
    iz = np.arange(LAYERS)
    X, Y, Z = np.meshgrid(ix, iy, iz, indexing="ij")
    pts = np.stack([(X + 0.5) * cfg.cell_m, (Y + 0.5) * cfg.cell_m,
                    space.z0_m + (Z + 0.5) * cfg.layer_m], axis=-1).reshape(-1, 3)
    seen = space.observed(pts)
    return set(zip(X.ravel()[seen].tolist(), Y.ravel()[seen].tolist(),
                   Z.ravel()[seen].tolist()))


def test_rays_mark_exactly_the_sampled_voxels_across_tiles():
    # Rays from a camera near the origin into all directions cross tile borders and
    # negative coordinates; the marked voxels equal the per-sample reference.
    rng = np.random.default_rng(3)
    space = SeenSpace()
    origin = np.array([0.05, -0.03, 1.4])
    ends = origin + rng.normal(size=(300, 3)) * [2.5, 2.5, 0.8]
    space.add_rays(origin, ends)
    want = _reference(space.config, space.z0_m, origin, ends)
    lo = np.min([v[:2] for v in want], axis=0) - 2
    hi = np.max([v[:2] for v in want], axis=0) + 3
    assert _observed_voxels(space, lo, hi) == want
    assert len(space) > 4          # several tiles, on both sides of zero


def test_nothing_known_before_a_frame_and_unseen_places_stay_unseen():
    space = SeenSpace()
    assert space.observed(np.zeros((2, 3))) is None
    space.add_rays([0.0, 0.0, 1.5], [[3.0, 0.0, 1.5]])
    seen = space.observed(np.array([[1.5, 0.0, 1.5],     # on the ray
                                    [3.0, 0.0, 1.5],     # its end (the surface)
                                    [3.3, 0.0, 1.5],     # behind the surface
                                    [1.5, 0.5, 1.5],     # beside the ray
                                    [1.5, 0.0, 1.5 - 3.5]]))  # below the layers
    assert seen.tolist() == [True, True, False, False, False]


def test_space_behind_a_surface_is_hidden_for_a_while():
    space = SeenSpace(SeenSpaceConfig(hidden_m=0.5))
    assert space.hidden(np.zeros((1, 3))) is None
    space.add_rays([0.0, 0.0, 1.5], [[3.0, 0.0, 1.5]])
    pts = np.array([[1.5, 0.0, 1.5],       # on the free part: observed, not hidden
                    [3.3, 0.0, 1.5],       # behind the surface, within hidden_m
                    [3.7, 0.0, 1.5],       # farther behind
                    [3.3, 0.5, 1.5]])      # beside
    assert space.hidden(pts).tolist() == [False, True, False, False]
    assert space.surface(pts).tolist() == [False, False, False, False]
    assert space.surface(np.array([[3.0, 0.0, 1.5]])).tolist() == [True]


def test_depth_beyond_the_range_counts_as_free_only_up_to_it():
    space = SeenSpace(SeenSpaceConfig(max_range_m=2.0))
    space.add_rays([0.0, 0.0, 1.0], [[5.0, 0.0, 1.0]])
    seen = space.observed(np.array([[1.9, 0.0, 1.0], [2.5, 0.0, 1.0], [5.0, 0.0, 1.0]]))
    assert seen.tolist() == [True, False, False]


def test_bad_points_are_skipped_and_bad_shapes_refused():
    space = SeenSpace()
    space.add_rays([0.0, 0.0, 1.0], [[np.nan, 0.0, 1.0], [2.0, 0.0, 1.0]])
    assert space.observed(np.array([[1.0, 0.0, 1.0]])).tolist() == [True]
    with pytest.raises(ValueError, match="origin_m"):
        space.add_rays([0.0, np.inf, 1.0], [[2.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="ends_m"):
        space.add_rays([0.0, 0.0, 1.0], [2.0, 0.0, 1.0])
    assert space.observed(np.array([[np.nan, 0.0, 1.0]])).tolist() == [False]


def test_state_round_trip_and_refusals_leave_the_space_unchanged():
    rng = np.random.default_rng(5)
    space = SeenSpace()
    origin = np.array([-1.0, 2.0, 1.2])
    space.add_rays(origin, origin + rng.normal(size=(200, 3)) * 2.0)
    state = space.state_dict()
    copy = SeenSpace()
    copy.load_state_dict(state)
    probe = origin + rng.normal(size=(5000, 3)) * 2.0
    assert np.array_equal(copy.observed(probe), space.observed(probe))
    assert copy.frames == space.frames and copy.z0_m == space.z0_m

    before = copy.observed(probe)
    for bad in ({**state, "cell_m": 0.2}, {**state, "frames": -1},
                {**state, "z0_m": float("nan")}, {k: v for k, v in state.items()
                                                   if k != "bits"},
                {**state, "keys": {**state["keys"], "shape": [1, 2]}}):
        with pytest.raises(ValueError):
            copy.load_state_dict(bad)
        assert np.array_equal(copy.observed(probe), before)

    copy.clear()
    assert copy.observed(probe) is None and len(copy) == 0


@pytest.mark.parametrize("bad", [{"cell_m": 0.0}, {"tile_cells": 24}, {"step_m": -1.0},
                                 {"min_range_m": 9.0}, {"below_m": float("inf")}])
def test_config_is_checked(bad):
    with pytest.raises(ValueError):
        SeenSpaceConfig(**bad)
