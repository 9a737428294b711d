"""The input thread (issue 18): subscriptions of its callback group never reach the
executor; the thread takes every waiting message per wake-up, calls each subscription's
own callback on its thread, and lets go of the subscriptions when stopped or when they
are destroyed."""

from __future__ import annotations

import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from rosutil import NAMESPACE  # noqa: E402
from ssr_ros.ros.input_reader import IDLE_CHECK_S, InputReader  # noqa: E402

TOPICS = ("a", "b", "c")


@pytest.fixture
def nodes():
    context = rclpy.context.Context()
    rclpy.init(context=context)
    ns = NAMESPACE + "_reader"
    sub_node = rclpy.create_node("reader_under_test", namespace=ns, context=context)
    pub_node = rclpy.create_node("reader_feed", namespace=ns, context=context)
    yield sub_node, pub_node
    for node in (sub_node, pub_node):
        node.destroy_node()
    rclpy.shutdown(context=context)


def _wait(predicate, timeout_s=10.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_messages_are_read_off_the_executor_in_batches(nodes):
    sub_node, pub_node = nodes
    reader = InputReader(sub_node, gather_s=0.05)
    got: list[tuple[str, str, str]] = []
    qos = QoSProfile(depth=50)
    for topic in TOPICS:
        sub = sub_node.create_subscription(
            String, topic, lambda msg, topic=topic: got.append(
                (topic, msg.data, threading.current_thread().name)),
            qos, callback_group=reader.group)
        reader.add(sub)
    pubs = [pub_node.create_publisher(String, t, qos) for t in TOPICS]
    assert _wait(lambda: all(p.get_subscription_count() == 1 for p in pubs))
    # the node's executor never sees these subscriptions
    executor = SingleThreadedExecutor(context=sub_node.context)
    executor.add_node(sub_node)
    reader.start()
    for round_ in range(5):  # five "camera sets", each published back to back
        for pub in pubs:
            pub.publish(String(data=str(round_)))
        executor.spin_once(timeout_sec=0.0)
        time.sleep(0.2)
    assert _wait(lambda: len(got) == 15), got
    assert {name for _, _, name in got} == {"ssr-input-reader"}
    assert sorted(got) == sorted((t, str(r), "ssr-input-reader")
                                 for t in TOPICS for r in range(5))
    assert reader.taken == 15 and 5 <= reader.wakeups < 15  # a set per wake-up, about
    assert reader.stop()
    executor.shutdown()


def test_a_callback_error_is_reported_and_reading_goes_on(nodes):
    sub_node, pub_node = nodes
    errors: list[BaseException] = []
    reader = InputReader(sub_node, gather_s=0.0, on_error=errors.append)
    got: list[str] = []

    def callback(msg: String) -> None:
        if msg.data == "bad":
            raise RuntimeError("a callback bug")
        got.append(msg.data)

    reader.add(sub_node.create_subscription(String, "a", callback, 10,
                                            callback_group=reader.group))
    pub = pub_node.create_publisher(String, "a", 10)
    assert _wait(lambda: pub.get_subscription_count() == 1)
    reader.start()
    for data in ("bad", "good"):
        pub.publish(String(data=data))
    assert _wait(lambda: got == ["good"])
    assert len(errors) == 1 and "a callback bug" in str(errors[0])
    reader.destroy()


def test_destroyed_subscriptions_end_the_thread_and_leave_the_graph(nodes):
    sub_node, pub_node = nodes
    reader = InputReader(sub_node)
    sub = sub_node.create_subscription(String, "a", lambda msg: None, 10,
                                       callback_group=reader.group)
    reader.add(sub)
    pub = pub_node.create_publisher(String, "a", 10)
    assert _wait(lambda: pub.get_subscription_count() == 1)
    reader.start()
    assert reader.running
    with pytest.raises(RuntimeError):
        reader.add(sub)  # only before start
    sub_node.destroy_subscription(sub)  # while the thread waits on it
    assert _wait(lambda: not reader.running, 3 * IDLE_CHECK_S)
    assert _wait(lambda: pub.get_subscription_count() == 0)
    assert reader.stop()


def test_only_its_own_group(nodes):
    sub_node, _ = nodes
    reader = InputReader(sub_node)
    other = sub_node.create_subscription(String, "a", lambda msg: None, 10)
    with pytest.raises(ValueError):
        reader.add(other)
    with pytest.raises(ValueError):
        InputReader(sub_node, gather_s=-1.0)


def test_an_error_in_a_wait_is_reported_and_reading_goes_on(nodes, monkeypatch):
    """An unexpected rmw error in one wait must not leave the node deaf: the reader
    reports it and waits again."""
    import types

    import ssr_ros.ros.input_reader as input_reader

    real = input_reader._rclpy

    class FailingOnce:
        def __init__(self, *args):
            self._wait_set = real.WaitSet(*args)
            self._failed = False

        def wait(self, timeout_ns):
            if not self._failed:
                self._failed = True
                raise RuntimeError("rmw: one failed wait")
            return self._wait_set.wait(timeout_ns)

        def __getattr__(self, name):
            return getattr(self._wait_set, name)

    monkeypatch.setattr(input_reader, "_rclpy", types.SimpleNamespace(WaitSet=FailingOnce))
    sub_node, pub_node = nodes
    errors: list[BaseException] = []
    reader = InputReader(sub_node, gather_s=0.0, on_error=errors.append)
    got: list[str] = []
    reader.add(sub_node.create_subscription(String, "a", lambda msg: got.append(msg.data),
                                            10, callback_group=reader.group))
    pub = pub_node.create_publisher(String, "a", 10)
    assert _wait(lambda: pub.get_subscription_count() == 1)
    reader.start()
    assert _wait(lambda: len(errors) == 1)
    assert "one failed wait" in str(errors[0]) and reader.running
    pub.publish(String(data="after"))
    assert _wait(lambda: got == ["after"])
    reader.destroy()
