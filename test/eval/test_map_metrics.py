"""The centre-error tail ssr-eval reports beside median and p90, and its match radius."""

import math

import pytest

from ssr_ros.eval.metrics import FAR_ERROR_M, MATCH_RADIUS_M, ScoringError, centre_error_tail


def test_share_above_and_largest_error():
    tail = centre_error_tail([0.01, 0.02, 0.30, 0.25, 0.6])
    assert tail["share_above"] == pytest.approx(2 / 5)     # 0.25 itself is not above
    assert tail["max_m"] == pytest.approx(0.6)


def test_no_matches_say_nothing():
    tail = centre_error_tail([])
    assert math.isnan(tail["share_above"]) and math.isnan(tail["max_m"])


def test_bad_errors_are_refused():
    for errors in ([float("nan")], [-0.1], [float("inf")]):
        with pytest.raises(ScoringError):
            centre_error_tail(errors)
    with pytest.raises(ScoringError):
        centre_error_tail([0.1], far_m=-1.0)


def test_radius_leaves_room_for_errors_past_the_threshold():
    # A match radius only just above the reported threshold would turn an object mapped
    # 0.4 m off into a miss plus a false positive instead of a visible error.
    assert MATCH_RADIUS_M >= 3 * FAR_ERROR_M


def test_ssr_eval_prints_and_writes_the_tail(capsys, tmp_path):
    from ssr_ros.eval.run import build_parser, main

    assert build_parser().parse_args(["--seeds", "1"]).match_distance == MATCH_RADIUS_M
    out_json = tmp_path / "r.json"
    assert main(["--seeds", "5", "--frames", "4", "--width", "8", "--height", "8",
                 "--no-qa", "--json", str(out_json)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(f">{FAR_ERROR_M} m" in line and " max " in line for line in lines[:2])
    import json

    result = json.loads(out_json.read_text())
    assert "objects.center_error_far_share" in result
    assert "objects.center_error_max_m" in result
