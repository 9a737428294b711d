"""The frame worker: one thread that maps the newest synchronised camera frame.

Why a plain thread and not an executor callback: the pipeline runs 40-200 ms per
keyframe. As an executor callback (woken by a guard condition) it kept an executor
thread busy, and rclpy's Python executors then spend most of the node's CPU in their own
wait-set bookkeeping at 30 Hz input (measured with py-spy, see BENCHMARKS.md); the
C++ ``EventsExecutor`` does not support guard conditions at all. A thread that blocks on
the node's one-slot mailbox (:class:`LatestSlot`) works with
every executor, leaves the executor only short callbacks (store a message, answer a
query, publish on a timer) and keeps the newest-wins policy: frames that arrive while
a frame is being mapped replace the waiting one and are counted as queue drops.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Generic, TypeVar


T = TypeVar("T")
# How often an idle worker checks whether it was asked to stop [s]; a stop request also
# wakes it at once, so this only bounds a missed wake-up.
IDLE_CHECK_S = 0.5


class LatestSlot(Generic[T]):
    """A one-item mailbox: :meth:`put` replaces what is waiting (newest frame wins) and
    counts the replaced item as a queue drop; :meth:`take` empties it, and
    :meth:`wait_take` blocks until there is something to take (the worker thread)."""

    def __init__(self) -> None:
        self._ready = threading.Condition(threading.Lock())
        self._item: T | None = None
        self.replaced = 0

    def put(self, item: T) -> bool:
        """Store ``item`` and wake a waiter; True when an unprocessed item was replaced
        (dropped)."""
        with self._ready:
            replaced = self._item is not None
            self._item = item
            if replaced:
                self.replaced += 1
            self._ready.notify()
            return replaced

    @property
    def waiting(self) -> int:
        """1 while an item waits for the worker, else 0 (a queue-length gauge)."""
        with self._ready:
            return int(self._item is not None)

    def take(self) -> T | None:
        with self._ready:
            item, self._item = self._item, None
            return item

    def wait_take(self, timeout_s: float) -> T | None:
        """The waiting item, waiting up to ``timeout_s`` for one; None when none came."""
        with self._ready:
            if self._item is None:
                self._ready.wait(timeout_s)
            item, self._item = self._item, None
            return item

    def wake(self) -> None:
        """Wake a :meth:`wait_take` without an item (used to stop the worker)."""
        with self._ready:
            self._ready.notify_all()

    def clear(self) -> None:
        with self._ready:
            self._item = None


class FrameWorker:
    """Runs ``process(item)`` for each item taken from ``slot``, on its own thread,
    until :meth:`stop`. An exception from ``process`` is handed to ``on_error`` and the
    worker goes on with the next frame (a node must outlive a bad frame)."""

    def __init__(self, slot: LatestSlot, process: Callable[[Any], None],
                 on_error: Callable[[BaseException], None],
                 name: str = "ssr-frame-worker") -> None:
        self._slot = slot
        self._process = process
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Ask the thread to stop after the frame in flight; True when it has ended
        within ``timeout_s``. Safe to call twice, or from the worker thread itself
        (then it only asks)."""
        self._stop.set()
        self._slot.wake()
        if threading.current_thread() is self._thread or not self._thread.is_alive():
            return not self._thread.is_alive()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._slot.wait_take(IDLE_CHECK_S)
            if item is None or self._stop.is_set():
                continue
            try:
                self._process(item)
            except Exception as exc:  # noqa: BLE001 - reported, and the worker goes on
                self._on_error(exc)
