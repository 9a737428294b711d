"""ssr-ask's call sends a query again while no answer has come (a response can be lost
while DDS discovery of the reply path is still going on; queries only read the map), a
bounded number of times, and keeps every request pending so a slow answer still counts."""

from __future__ import annotations

import os
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")

from rclpy.callback_groups import ReentrantCallbackGroup  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402

from ssr_ros.ros.ask import MAX_RESENDS, call, send_with_resends  # noqa: E402
from ssr_ros.srv import SpatialQuery  # noqa: E402


class _Server:
    """A spatial_query server on threads of its own. ``delays_s[k]`` is how long the
    k-th request (0-based) takes; later ones take the last delay. Each answer's message
    names its request's number (1-based)."""

    def __init__(self, context, ns: str, delays_s: list[float]) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._delays = delays_s
        self.node = rclpy.create_node("ask_resend_server", namespace=ns, context=context)
        self.node.create_service(SpatialQuery, "spatial_query", self._answer,
                                 callback_group=ReentrantCallbackGroup())
        self._executor = MultiThreadedExecutor(num_threads=4, context=context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    def _answer(self, request, response):
        with self._lock:
            self.count += 1
            number = self.count
        time.sleep(self._delays[min(number - 1, len(self._delays) - 1)])
        response.success = True
        response.message = f"request {number}"
        return response

    def close(self) -> None:
        self._executor.shutdown()
        self._thread.join(timeout=10)
        self.node.destroy_node()


@pytest.fixture
def ns() -> str:
    return f"/ask_resend_{os.getpid()}_{time.monotonic_ns()}"


def _client(context, ns: str):
    return rclpy.create_node("ask_resend_client", namespace=ns, context=context)


def test_an_unanswered_query_is_sent_again(context, ns) -> None:
    """The first request's answer stays away (as a lost response would): the resent
    request's answer is returned."""
    server = _Server(context, ns, delays_s=[5.0, 0.0])
    node = _client(context, ns)
    try:
        answer = call(node, SpatialQuery.Request(question="where is the sofa?"),
                      "spatial_query", timeout_s=20.0, resend_s=0.5)
        assert answer is not None
        assert answer.message == "request 2", answer.message
    finally:
        node.destroy_node()
        server.close()


def test_a_slow_answer_is_kept_and_resends_are_bounded(context, ns) -> None:
    """Every request takes 2 s, longer than the resend period: the first answer to any
    request is returned, and the server was asked at most 1 + MAX_RESENDS times."""
    server = _Server(context, ns, delays_s=[2.0])
    node = _client(context, ns)
    try:
        answer = call(node, SpatialQuery.Request(question="where is the sofa?"),
                      "spatial_query", timeout_s=20.0, resend_s=0.3)
        assert answer is not None and answer.message.startswith("request ")
        time.sleep(0.5)
        assert 1 <= server.count <= 1 + MAX_RESENDS
    finally:
        node.destroy_node()
        server.close()


def test_a_free_question_is_sent_once(context, ns) -> None:
    """A model question is not asked again while the model works on it."""
    server = _Server(context, ns, delays_s=[1.5])
    node = _client(context, ns)
    try:
        answer = call(node, SpatialQuery.Request(kind=SpatialQuery.Request.KIND_FREE,
                                                 question="what is on the table?"),
                      "spatial_query", timeout_s=20.0, resend_s=0.2)
        assert answer is not None and answer.message == "request 1"
        assert server.count == 1
    finally:
        node.destroy_node()
        server.close()


def test_call_gives_up_after_its_timeout_without_a_server(context, ns) -> None:
    node = _client(context, ns)
    try:
        assert call(node, SpatialQuery.Request(question="where is the sofa?"),
                    "spatial_query", timeout_s=0.5) is None
        with pytest.raises(ValueError, match="resend_s"):
            call(node, SpatialQuery.Request(question="where?"), "spatial_query",
                 timeout_s=0.5, resend_s=0.0)
    finally:
        node.destroy_node()


def test_resends_while_another_thread_spins_the_client(context, ns) -> None:
    """ssr-view's way: its node is spun by a thread of its own and the asking thread only
    sleeps between checks; an unanswered first request is still sent again."""
    server = _Server(context, ns, delays_s=[5.0, 0.0])
    node = _client(context, ns)
    client = node.create_client(SpatialQuery, "spatial_query")
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert client.wait_for_service(timeout_sec=20.0)
        answer = send_with_resends(client, SpatialQuery.Request(question="where?"), 20.0,
                                   lambda seconds: time.sleep(min(seconds, 0.01)),
                                   resend_s=0.5)
        assert answer is not None and answer.message == "request 2", answer
    finally:
        executor.shutdown()
        spinner.join(timeout=10)
        node.destroy_node()
        server.close()
