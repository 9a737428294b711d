"""The plausibility check of input stamps: zero, or too far in the future. No ROS.

A camera driver that publishes before its clock is set stamps zero; a bad clock, a
corrupt message or a test stamps far ahead. Mapped, such a frame poisons the node: every
later frame is "backwards" from it (``stamp_backwards``) until ``clear_map``, and a pose
with stamp zero looked like a sender restart and emptied the pose history. So every
synchronised frame set and every pose passes :class:`StampGuard` first:

* a stamp of exactly zero is rejected (``stamp_zero``);
* a stamp more than ``max_future_s`` ahead of the reference is rejected
  (``stamp_future``). The reference is the newest accepted input (frames and poses
  together) and, when a clock is given and reads above zero, that clock's time (the
  node's ROS clock: wall time, or /clock under ``use_sim_time``), whichever is later. So
  the first input is checked against the clock too, and inputs that follow the clock
  forward are never rejected;
* a rejected stamp is never accepted later and does not move the reference, so it
  cannot poison the frames after it.

A sender whose clock really jumps forward (a bag looped with new stamps while the node's
clock stands still, e.g. ``use_sim_time`` without /clock) would otherwise be rejected for
ever. A run of future stamps, not interrupted by an acceptable one, that covers at least
``rebase_after_s`` of its own stamps (each within ``max_future_s`` of the previous) is
taken as such a jump: the guard accepts it and counts it in :attr:`StampGuard.rebases`.
One bogus stamp, or a burst of copies of one, never covers that span.
"""

from __future__ import annotations

import math
import threading
from typing import Callable

from ssr_ros.runtime.errors import InvalidMessage


class StampGuard:
    """Rejects zero and far-future stamps (see the module docstring).

    Args:
        max_future_s: largest accepted lead of a stamp over the reference [s] (> 0).
        clock_s: the node's clock [s], or None; a reading of zero or less is ignored
            (ROS time before /clock arrives).
        rebase_after_s: span [s] of an uninterrupted run of future stamps that is taken
            as the sender's clock jumping forward (> 0).
    """

    def __init__(self, max_future_s: float, clock_s: Callable[[], float] | None = None,
                 rebase_after_s: float = 1.0) -> None:
        if not (max_future_s > 0.0 and math.isfinite(max_future_s)):
            raise ValueError(f"max_future_s must be finite and > 0, got {max_future_s}")
        if not rebase_after_s > 0.0:
            raise ValueError(f"rebase_after_s must be > 0, got {rebase_after_s}")
        self.max_future_s = float(max_future_s)
        self.rebase_after_s = float(rebase_after_s)
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._newest_s = -math.inf
        # the current run of rejected future stamps: (first, newest) [s], or None
        self._run: tuple[float, float] | None = None
        #: Times a run of future stamps was accepted as a forward jump of the sender clock.
        self.rebases = 0

    @property
    def newest_s(self) -> float:
        """Newest accepted stamp [s] (-inf before the first)."""
        return self._newest_s

    def reset(self) -> None:
        """Forget the accepted stamps (the map was cleared: any stamp is new again)."""
        with self._lock:
            self._newest_s = -math.inf
            self._run = None

    def check(self, stamp_s: float, prefix: str = "") -> None:
        """Accept ``stamp_s`` [s] (it becomes the newest when it is) or raise
        :class:`InvalidMessage` ``<prefix>stamp_zero``, ``<prefix>stamp_future`` or
        ``<prefix>stamp`` (not finite); a rejected stamp changes nothing but the run of
        future stamps."""
        if not math.isfinite(stamp_s):
            raise InvalidMessage(f"{prefix}stamp", f"stamp {stamp_s!r} is not finite")
        if stamp_s == 0.0:
            raise InvalidMessage(f"{prefix}stamp_zero", "stamp is zero (the sender's clock "
                                 "is not set)")
        clock = self._clock_s() if self._clock_s is not None else 0.0
        with self._lock:
            reference = max(self._newest_s, clock if clock > 0.0 else -math.inf)
            if math.isfinite(reference) and stamp_s > reference + self.max_future_s:
                if not self._extend_run(stamp_s):
                    raise InvalidMessage(
                        f"{prefix}stamp_future",
                        f"stamp {stamp_s:.3f} s is {stamp_s - reference:.3f} s ahead of the "
                        f"newest input or the clock (max_future_s {self.max_future_s} s)")
                self.rebases += 1
            self._run = None
            self._newest_s = max(self._newest_s, stamp_s)

    def _extend_run(self, stamp_s: float) -> bool:
        """Add a future stamp to the run; True when the run now spans a clock jump."""
        run = self._run
        if run is None or abs(stamp_s - run[1]) > self.max_future_s:
            self._run = (stamp_s, stamp_s)
            return False
        first, newest = run[0], max(run[1], stamp_s)
        self._run = (first, newest)
        return newest - first >= self.rebase_after_s
