"""The camera and pose streams, read off the executor by a thread of their own (issue 18).

Why: rclpy's Python executors rebuild their wait set over every entity of the node
(about 30 here: the lifecycle, parameter and map services, timers, subscriptions) and
run each callback as a task, once per message. At 30 Hz with colour, depth, camera_info,
labels and a pose, those 150 wake-ups a second cost about a third of the node's CPU
(measured with ``benchmarks/node_stream.py``; the figures are in BENCHMARKS.md), for
callbacks that only store a message.

:class:`InputReader` owns a callback group that no executor runs (:class:`DetachedGroup`):
subscriptions created in it never enter the executor's wait set. Its thread waits on a
wait set of just those subscriptions (built once) and, per wake-up, first lets the rest of
a camera set arrive (``gather_s``: the driver publishes colour, depth, camera_info and
labels back to back) and then takes every message waiting on every one of them, calling
each subscription's own callback in subscription order: one wake-up per frame set instead
of one per message. Callbacks therefore run on the reader's thread, one at a time.

It reads any subscription of its group, message_filters' included (their callback is
what the reader calls), with message-only callbacks (no ``MessageInfo``). The wait set
and ``take_message`` are what ``rclpy.wait_for_message`` uses.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from rclpy.callback_groups import CallbackGroup
from rclpy.exceptions import InvalidHandle
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.subscription import Subscription

#: Default wait after a wake-up for the rest of a camera set [s]: the messages of one set
#: are published back to back, so a few milliseconds gather them all.
GATHER_S = 0.003
#: Longest wait before the thread looks at its stop flag again [s] (a stop also wakes it).
IDLE_CHECK_S = 0.5
#: Pause after an unexpected error of a wait before the next one [s].
ERROR_PAUSE_S = 0.1


class DetachedGroup(CallbackGroup):
    """A callback group that no executor runs: an :class:`InputReader` reads its
    subscriptions."""

    def can_execute(self, entity: Any) -> bool:
        return False

    def beginning_execution(self, entity: Any) -> bool:
        return False

    def ending_execution(self, entity: Any) -> None:
        pass


class InputReader:
    """Reads the subscriptions of :attr:`group` on its own thread (see the module
    docstring).

    Args:
        node: the node whose subscriptions are read (its context gives the wait set).
        gather_s: wait after a wake-up before taking [s] (0: take at once).
        on_error: called with an exception a callback raised (the reader goes on).

    Use: create the subscriptions with ``callback_group=reader.group``, :meth:`add` them,
    :meth:`start`; :meth:`stop` before destroying them (a subscription destroyed while
    the thread waits on it is destroyed when that wait returns, within ``IDLE_CHECK_S``,
    and ends the thread).
    """

    def __init__(self, node: Node, gather_s: float = GATHER_S,
                 on_error: Any = None) -> None:
        if not gather_s >= 0.0:
            raise ValueError(f"gather_s must be >= 0, got {gather_s!r}")
        self._node = node
        self._gather_s = float(gather_s)
        self._on_error = on_error
        self.group = DetachedGroup()
        self._subscriptions: list[Subscription] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake = node.create_guard_condition(lambda: None, callback_group=self.group)
        #: Wake-ups that found a message, and messages taken (for diagnostics and tests).
        self.wakeups = 0
        self.taken = 0

    def add(self, subscription: Subscription) -> None:
        """Read ``subscription`` (created in :attr:`group`) from the next :meth:`start`."""
        if subscription.callback_group is not self.group:
            raise ValueError(f"subscription to {subscription.topic_name} is not in the "
                             "reader's callback group")
        if self.running:
            raise RuntimeError("add subscriptions before start()")
        self._subscriptions.append(subscription)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op without subscriptions or when already running)."""
        if self.running or not self._subscriptions:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ssr-input-reader",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop the thread after the messages in hand; True when it has ended. The
        subscriptions stay (the caller destroys them) and are forgotten by the reader."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            with contextlib.suppress(InvalidHandle):
                self._wake.trigger()
            if thread is not threading.current_thread():
                thread.join(timeout_s)
        self._subscriptions = []
        return thread is None or not thread.is_alive()

    def destroy(self) -> None:
        """Stop, and destroy the reader's guard condition (the node is being cleaned up)."""
        self.stop()
        self._node.destroy_guard_condition(self._wake)

    def _run(self) -> None:
        subscriptions = list(self._subscriptions)
        context = self._node.context
        handles = [s.handle for s in subscriptions]
        wake = self._wake.handle
        try:
            wait_set = _rclpy.WaitSet(len(handles), 1, 0, 0, 0, 0, context.handle)
        except Exception:  # noqa: BLE001 - the context is already shut down
            return
        timeout_ns = int(IDLE_CHECK_S * 1e9)
        while not self._stop.is_set():
            try:
                # held while in use, like the executor does: a destroy meanwhile is
                # carried out on release, and the next round ends the thread
                with contextlib.ExitStack() as held:
                    for handle in (*handles, wake, context.handle):
                        held.enter_context(handle)
                    wait_set.clear_entities()
                    for handle in handles:
                        wait_set.add_subscription(handle)
                    wait_set.add_guard_condition(wake)
                    wait_set.wait(timeout_ns)
                    if self._stop.is_set() or not wait_set.get_ready_entities("subscription"):
                        continue
                    self.wakeups += 1
                    if self._gather_s:
                        time.sleep(self._gather_s)
                    self._take_all(subscriptions, handles)
            except InvalidHandle:  # a subscription, or the node, was destroyed
                return
            except Exception as exc:  # noqa: BLE001 - a wait cut short by a shutdown ends it
                if not context.ok() or self._stop.is_set():
                    return
                # Anything else (an rmw error in one wait) must not leave the node deaf:
                # report it and wait again, paced so a persistent error cannot spin.
                self._report(exc)
                self._stop.wait(ERROR_PAUSE_S)

    def _report(self, exc: Exception) -> None:
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:  # noqa: BLE001 - the reporter must not stop the reader
                pass

    def _take_all(self, subscriptions: list[Subscription], handles: list[Any]) -> None:
        """Take every waiting message of every subscription and run its callback."""
        for subscription, handle in zip(subscriptions, handles):
            while True:
                try:
                    taken = handle.take_message(subscription.msg_type, subscription.raw)
                except InvalidHandle:
                    raise
                except Exception as exc:  # noqa: BLE001 - e.g. a sample rmw cannot read
                    # one unreadable sample costs that sample, not the topic or the thread
                    self._report(exc)
                    break
                if taken is None:
                    break
                self.taken += 1
                try:
                    subscription.callback(taken[0])
                except Exception as exc:  # noqa: BLE001 - one bad callback must not stop input
                    self._report(exc)
