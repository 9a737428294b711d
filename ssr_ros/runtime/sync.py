"""Approximate-time synchronisation of several stamped streams.

The policy is that of ``message_filters.ApproximateTimeSynchronizer`` (ROS 2 Python
implementation), so the node behaves the same with or without message_filters:

* each input keeps a queue of at most ``queue_size`` messages keyed by header stamp;
  when a queue overflows, its oldest message is discarded;
* when a message arrives, the other queues are searched for stamps within ``slop`` of
  the new stamp (each queue sorted by closeness); the first combination, in that
  order, whose spread (newest - oldest stamp) is below ``slop`` is emitted and its
  messages are removed from their queues.

message_filters is used by the node when it is importable (a ROS install). It is not
installable from PyPI, so :class:`ApproximateTimeSync` is the in-package implementation
of the same policy; unlike message_filters it also counts the messages discarded
without ever being matched, which /diagnostics reports as sync drops.

message_filters runs the callback while holding its lock; this one calls it after
releasing the lock, but the callback must still be O(1) and hand the work to a worker,
since it runs on the subscription's executor thread.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Sequence

from ssr_ros.runtime.errors import InvalidMessage


def message_filters_available() -> bool:
    """True when ROS 2 ``message_filters`` can be imported (a ROS install, not PyPI)."""
    try:
        import message_filters  # noqa: F401
    except ImportError:
        return False
    return True


def header_stamp_ns(msg: Any) -> int:
    """Header stamp of ``msg`` in integer nanoseconds (exact, usable as a key)."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class ApproximateTimeSync:
    """Match messages of ``n_inputs`` streams whose stamps lie within ``slop_s``.

    Args:
        n_inputs: number of synchronised streams (>= 2).
        queue_size: messages kept per stream while waiting for partners (>= 1).
        slop_s: largest stamp spread of an emitted set [s] (> 0).
        callback: called with one message per stream, in input order.
        stamp_ns: reads a message's stamp in nanoseconds (default: its header stamp).
    """

    def __init__(self, n_inputs: int, queue_size: int, slop_s: float,
                 callback: Callable[..., None],
                 stamp_ns: Callable[[Any], int] = header_stamp_ns) -> None:
        if n_inputs < 2:
            raise ValueError(f"need at least 2 inputs, got {n_inputs}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not slop_s > 0.0:
            raise ValueError(f"slop must be > 0 s, got {slop_s}")
        self._queues: list[dict[int, Any]] = [{} for _ in range(n_inputs)]
        self._queue_size = int(queue_size)
        self._slop_ns = int(round(slop_s * 1e9))
        self._callback = callback
        self._stamp_ns = stamp_ns
        self._lock = threading.Lock()
        #: Sets emitted to the callback.
        self.matched = 0
        #: Messages discarded from a full queue without ever being part of a set.
        self.dropped = 0

    def add(self, index: int, msg: Any) -> None:
        """Offer ``msg`` on input ``index``; calls the callback when a set is complete.

        Raises :class:`InvalidMessage` (reason ``stamp``) for a message without a readable
        stamp; the queues are then unchanged.
        """
        try:
            stamp = self._stamp_ns(msg)
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidMessage("stamp", f"message has no usable stamp ({exc})") from exc
        with self._lock:
            matched = self._add_locked(index, stamp, msg)
        if matched is not None:
            self._callback(*matched)

    def _add_locked(self, index: int, stamp: int, msg: Any) -> list[Any] | None:
        queue = self._queues[index]
        queue[stamp] = msg
        while len(queue) > self._queue_size:
            del queue[min(queue)]
            self.dropped += 1
        if stamp not in queue:
            # The new message was the oldest (queue_size 1, or stamps that jumped back
            # while the queue was full) and was evicted at once: nothing to match.
            return None
        candidates: list[list[int]] = []
        for other_index, other in enumerate(self._queues):
            if other_index == index:
                continue
            close = sorted((abs(s - stamp), s) for s in other if abs(s - stamp) <= self._slop_ns)
            if not close:
                return None
            candidates.append([s for _, s in close])
        for combination in itertools.product(*candidates):
            stamps = list(combination)
            stamps.insert(index, stamp)
            if max(stamps) - min(stamps) < self._slop_ns:
                matched = [q.pop(s) for q, s in zip(self._queues, stamps)]
                self.matched += 1
                return matched
        return None

    def pending(self) -> Sequence[int]:
        """Number of messages waiting in each input queue."""
        with self._lock:
            return [len(q) for q in self._queues]

    def clear(self) -> None:
        """Forget every waiting message (e.g. on deactivate)."""
        with self._lock:
            for queue in self._queues:
                queue.clear()
