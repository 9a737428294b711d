"""A short simulated walk with sensor noise through the whole pipeline: the map finds the
objects the camera saw, in the right places, with whole-object sizes."""

import pytest

pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")

from ssr_ros.eval.run import evaluate_seed  # noqa: E402


def test_small_noisy_sequence_maps_the_scene():
    r = evaluate_seed(8, source="labels", noise=True, n_frames=120, width=320, height=240,
                      with_qa=False)
    o = r["objects"]
    assert o["n_gt"] >= 10
    assert o["recall"] >= 0.85
    assert o["precision"] >= 0.9
    assert o["center_error_median_m"] <= 0.06
    assert o["size_error_median"] <= 0.12
    assert r["keyframes"] < 120  # not every frame is a keyframe
    # A short low-resolution walk sees part of the floor; the estimate stays in range.
    assert 0.4 * r["room_area_m2"]["truth"] <= r["room_area_m2"]["estimated"] <= \
        1.2 * r["room_area_m2"]["truth"]


def test_full_walk_through_two_rooms_measures_the_combined_floor_area():
    # Two rooms joined by a door; the walk visits both. The combined floor area
    # (partition wall included, as the scene defines it) comes from the wall-bounded
    # observed region despite depth noise at the far walls.
    r = evaluate_seed(9, source="labels", noise=True, n_frames=300, width=320, height=240,
                      with_qa=False)
    assert r["room_area_m2"]["estimated"] == pytest.approx(r["room_area_m2"]["truth"],
                                                           rel=0.05)
