"""The frame worker thread and its newest-wins mailbox."""

from __future__ import annotations

import threading

from ssr_ros.runtime.worker import LatestSlot
from ssr_ros.runtime.worker import FrameWorker


def test_the_worker_maps_frames_survives_a_failing_one_and_stops() -> None:
    slot: LatestSlot = LatestSlot()
    done: list[int] = []
    errors: list[BaseException] = []
    handled = threading.Semaphore(0)

    def process(item: int) -> None:
        try:
            if item == 2:
                raise RuntimeError("bad frame")
            done.append(item)
        finally:
            handled.release()

    def on_error(exc: BaseException) -> None:
        errors.append(exc)

    worker = FrameWorker(slot, process, on_error)
    worker.start()
    for item in (1, 2, 3):
        slot.put(item)
        assert handled.acquire(timeout=10.0)
    assert done == [1, 3]
    assert [str(e) for e in errors] == ["bad frame"]
    assert worker.stop(10.0) and not worker.alive
    slot.put(4)  # nobody maps frames after stop
    assert not handled.acquire(timeout=0.3)
    assert worker.stop(1.0)  # a second stop is harmless


def test_a_frame_arriving_during_a_busy_frame_replaces_the_waiting_one() -> None:
    slot: LatestSlot = LatestSlot()
    busy, release = threading.Event(), threading.Event()
    done: list[int] = []
    finished = threading.Event()

    def process(item: int) -> None:
        if item == 1:
            busy.set()
            assert release.wait(10.0)
        done.append(item)
        if item == 3:
            finished.set()

    worker = FrameWorker(slot, process, lambda exc: None)
    worker.start()
    try:
        slot.put(1)
        assert busy.wait(10.0)
        assert slot.put(2) is False
        assert slot.put(3) is True  # 2 was still waiting: dropped, newest wins
        release.set()
        assert finished.wait(10.0)
        assert done == [1, 3] and slot.replaced == 1
    finally:
        release.set()
        worker.stop(10.0)


def test_wait_take_returns_none_when_nothing_comes() -> None:
    slot: LatestSlot = LatestSlot()
    assert slot.wait_take(0.05) is None
    slot.put("frame")
    assert slot.wait_take(0.05) == "frame" and slot.waiting == 0
