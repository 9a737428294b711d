"""The frame worker: one thread that maps the newest synchronised camera frame.

Why a plain thread and not an executor callback: the pipeline runs 40-200 ms per
keyframe. As an executor callback (woken by a guard condition) it kept an executor
thread busy, and rclpy's Python executors then spend most of the node's CPU in their own
wait-set bookkeeping at 30 Hz input (measured with py-spy, see BENCHMARKS.md); the
C++ ``EventsExecutor`` does not support guard conditions at all. A thread that blocks on
the node's one-slot mailbox (:class:`~ssr_ros.ros.diagnostics.LatestSlot`) works with
every executor, leaves the executor only short callbacks (store a message, answer a
query, publish on a timer) and keeps the newest-wins policy: frames that arrive while
a frame is being mapped replace the waiting one and are counted as queue drops.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from ssr_ros.ros.diagnostics import LatestSlot

# How often an idle worker checks whether it was asked to stop [s]; a stop request also
# wakes it at once, so this only bounds a missed wake-up.
IDLE_CHECK_S = 0.5


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
