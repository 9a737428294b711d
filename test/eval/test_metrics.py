"""Mean Relative Accuracy, exact match and per-task scoring on hand-made cases."""

import math
from types import SimpleNamespace

import pytest

from ssr_ros.eval.metrics import (LOCATE_REFERENCE_M, MRA_THRESHOLDS, MRA_TOLERANCES,
                                  ScoringError, exact_match, locate_accuracy,
                                  mean_relative_accuracy, score_answers)


def q(task, answer, options=(), subtype=""):
    return SimpleNamespace(task=task, answer=answer, options=list(options), subtype=subtype)


def test_thresholds_are_point_five_to_point_nine_five():
    assert MRA_THRESHOLDS == pytest.approx([0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85,
                                            0.90, 0.95])


def test_tolerances_used_by_mra_are_one_minus_the_thresholds_exactly():
    assert MRA_TOLERANCES == pytest.approx([1.0 - t for t in MRA_THRESHOLDS])
    # the tightest tolerance is exactly 5 % (1 - 0.95 in floating point is a hair above it)
    assert MRA_TOLERANCES[-1] == 0.05 and 1.0 - 0.95 != 0.05
    # an answer off by exactly the k-th tolerance (gt = 20 keeps the arithmetic exact)
    # passes only the k looser ones
    for k, tol in enumerate(MRA_TOLERANCES):
        assert mean_relative_accuracy(20.0 + 20.0 * tol, 20.0) == pytest.approx(k / 10)


@pytest.mark.parametrize("pred, gt, expected", [
    (100.0, 100.0, 1.0),      # exact
    (104.0, 100.0, 1.0),      # 4 % off passes even the 5 % tolerance
    (105.0, 100.0, 0.9),      # exactly 5 % fails the strict 5 % tolerance only
    (95.0, 100.0, 0.9),
    (112.0, 100.0, 0.8),      # 12 %: passes tolerances 50..15 %, fails 10 % and 5 %
    (130.0, 100.0, 0.4),      # 30 %: passes 50, 45, 40, 35 %
    (149.0, 100.0, 0.1),      # only the 50 % tolerance
    (150.0, 100.0, 0.0),      # 50 % off scores nothing (strict)
    (-100.0, 100.0, 0.0),     # wrong sign: 200 % off
    (-2.0, -2.0, 1.0),        # negative ground truth uses |gt|
    (-2.08, -2.0, 1.0),
    (-1.0, -2.0, 0.0),
    (0.0, 0.0, 1.0),          # gt == 0: only an exact 0 scores
    (1e-9, 0.0, 0.0),
    (0.0, 3.0, 0.0),
    (3, 3, 1.0),              # ints
    ("2.5", 2.5, 1.0),        # numeric strings are read
])
def test_mean_relative_accuracy(pred, gt, expected):
    assert mean_relative_accuracy(pred, gt) == pytest.approx(expected)


@pytest.mark.parametrize("pred", [None, float("nan"), float("inf"), "three", [1.0], True])
def test_unusable_predictions_score_zero(pred):
    assert mean_relative_accuracy(pred, 3.0) == 0.0


def test_ground_truth_must_be_finite():
    with pytest.raises(ScoringError):
        mean_relative_accuracy(1.0, math.nan)


def test_exact_match_normalises_only_formatting():
    assert exact_match("left", "left") == 1.0
    assert exact_match(" Left. ", "left") == 1.0
    assert exact_match("Turn Left,Turn  Right", "Turn Left, Turn Right") == 1.0
    assert exact_match("front-left", "front-right") == 0.0
    assert exact_match("Turn Right, Turn Left", "Turn Left, Turn Right") == 0.0
    assert exact_match("", "left") == 0.0
    assert exact_match(None, "left") == 0.0


def test_locate_accuracy_ladder():
    assert locate_accuracy([1.0, 2.0], [1.0, 2.0]) == 1.0
    assert locate_accuracy([1.05, 2.0], [1.0, 2.0]) == 1.0
    # 0.3 m error: passes tolerances (0.5..0.2) * 2 m = 1.0, 0.9, ..., 0.4 m: 7 of 10.
    assert locate_accuracy([1.3, 2.0], [1.0, 2.0]) == pytest.approx(0.7)
    assert locate_accuracy([1.0 + LOCATE_REFERENCE_M * 0.5, 2.0], [1.0, 2.0]) == 0.0
    assert locate_accuracy(None, [1.0, 2.0]) == 0.0
    assert locate_accuracy([float("nan"), 0.0], [1.0, 2.0]) == 0.0


def test_score_answers_per_task_and_overall():
    questions = [q("object_count", 4.0), q("object_count", 2.0),
                 q("rel_direction", "left", ["left", "right"]),
                 q("rel_direction", "back", ["left", "right", "back"]),
                 q("robot", [0.0, 0.0], subtype="locate"),
                 q("robot", "behind", ["left", "right", "behind"], subtype="turn")]
    preds = [4, 3.0, "left", "right", [0.0, 0.05], "behind"]
    scores = score_answers(questions, preds)
    assert scores["object_count"] == pytest.approx((1.0 + 0.0) / 2)
    assert scores["rel_direction"] == pytest.approx(0.5)
    assert scores["robot"] == pytest.approx(1.0)
    assert scores["overall"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert set(scores) == {"object_count", "rel_direction", "robot", "overall"}
    by_index = score_answers(questions, {0: 4, 2: "left"})
    assert by_index["object_count"] == pytest.approx(0.5)
    assert by_index["robot"] == 0.0
    with pytest.raises(ScoringError):
        score_answers(questions, preds[:-1])
    assert score_answers([], []) == {"overall": 0.0}
