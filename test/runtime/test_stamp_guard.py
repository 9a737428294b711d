"""The stamp check of frames and poses (issue 14, item 7): zero and far-future stamps are
refused, a refused stamp never moves the reference, and a real forward clock jump is
accepted once a run of stamps covers ``rebase_after_s``."""

from __future__ import annotations

import pytest

from ssr_ros.runtime.errors import InvalidMessage
from ssr_ros.runtime.stamp_guard import StampGuard


def _reason(guard: StampGuard, stamp_s: float, prefix: str = "") -> str | None:
    try:
        guard.check(stamp_s, prefix)
    except InvalidMessage as exc:
        return exc.reason
    return None


def test_zero_and_non_finite_stamps_are_refused() -> None:
    guard = StampGuard(10.0)
    assert _reason(guard, 0.0) == "stamp_zero"
    assert _reason(guard, 0.0, "pose_") == "pose_stamp_zero"
    assert _reason(guard, float("nan")) == "stamp"
    assert guard.newest_s == float("-inf")


def test_a_far_future_stamp_never_poisons_later_inputs() -> None:
    guard = StampGuard(10.0)
    assert _reason(guard, 100.0) is None
    assert _reason(guard, 100.0 + 1.0e7) == "stamp_future"
    assert guard.newest_s == 100.0
    # the following good stamps are all accepted; the bad one is never accepted later
    for t in (100.1, 100.2, 109.0):
        assert _reason(guard, t) is None
    assert _reason(guard, 100.0 + 1.0e7, "pose_") == "pose_stamp_future"
    # a stamp within max_future_s of the newest accepted one is fine
    assert _reason(guard, 118.9) is None


def test_the_clock_bounds_the_first_input() -> None:
    now = [1000.0]
    guard = StampGuard(5.0, clock_s=lambda: now[0])
    assert _reason(guard, 1006.0) == "stamp_future"
    assert _reason(guard, 1004.0) is None
    now[0] = 2000.0  # inputs that follow the clock forward are accepted
    assert _reason(guard, 2003.0) is None
    # a clock that reads zero (use_sim_time before /clock) is no reference
    guard = StampGuard(5.0, clock_s=lambda: 0.0)
    assert _reason(guard, 1.0e9) is None


def test_a_sustained_forward_jump_is_accepted_and_counted() -> None:
    guard = StampGuard(2.0, rebase_after_s=1.0)
    assert _reason(guard, 10.0) is None
    # copies of one bogus stamp never cover the span
    for _ in range(20):
        assert _reason(guard, 500.0) == "stamp_future"
    # a good stamp interrupts a run
    assert _reason(guard, 10.5) is None
    assert _reason(guard, 500.0) == "stamp_future"
    assert _reason(guard, 500.6) == "stamp_future"
    assert _reason(guard, 10.6) is None
    # an uninterrupted 30 Hz run on the jumped clock is accepted after 1 s of stamps
    reasons = [_reason(guard, 500.0 + i / 30.0) for i in range(40)]
    first_ok = reasons.index(None)
    assert first_ok == 30 and all(r is None for r in reasons[first_ok:])
    assert guard.rebases == 1 and guard.newest_s == pytest.approx(500.0 + 39 / 30.0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        StampGuard(0.0)
    with pytest.raises(ValueError):
        StampGuard(float("inf"))
    with pytest.raises(ValueError):
        StampGuard(1.0, rebase_after_s=0.0)
