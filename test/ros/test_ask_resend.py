"""ssr-ask's call sends a query again while no answer has come (a response can be lost
while DDS discovery of the reply path is still going on; queries only read the map)."""

from __future__ import annotations

import os
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")

from rclpy.executors import MultiThreadedExecutor  # noqa: E402

from ssr_ros.ros.ask import call  # noqa: E402
from ssr_ros.srv import SpatialQuery  # noqa: E402


class _SlowFirstServer:
    """A spatial_query server whose first answer takes ``first_delay_s`` and is then
    thrown away by the client side (its future was abandoned); later answers are
    immediate. Each answer's message names the request's number."""

    def __init__(self, node, first_delay_s: float) -> None:
        self.count = 0
        self._delay = first_delay_s
        self._service = node.create_service(SpatialQuery, "spatial_query", self._answer)

    def _answer(self, request, response):
        self.count += 1
        number = self.count
        if number == 1:
            time.sleep(self._delay)
        response.success = True
        response.message = f"request {number}"
        return response


def _serve(context, ns):
    node = rclpy.create_node("ask_resend_server", namespace=ns, context=context)
    server = _SlowFirstServer(node, first_delay_s=3.0)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return node, server, executor, thread


def test_call_resends_and_returns_the_first_answer(context) -> None:
    ns = f"/ask_resend_{os.getpid()}"
    server_node, server, server_executor, thread = _serve(context, ns)
    client_node = rclpy.create_node("ask_resend_client", namespace=ns, context=context)
    try:
        answer = call(client_node, SpatialQuery.Request(question="where is the sofa?"),
                      "spatial_query", timeout_s=20.0, resend_s=0.5)
        assert answer is not None
        # the slow first answer was not waited for: a later request's answer came first
        assert answer.message != "request 1", answer.message
        assert server.count >= 2
    finally:
        server_executor.shutdown()
        thread.join(timeout=10)
        client_node.destroy_node()
        server_node.destroy_node()


def test_call_gives_up_after_its_timeout_without_a_server(context) -> None:
    node = rclpy.create_node("ask_no_server", namespace=f"/ask_none_{os.getpid()}",
                             context=context)
    try:
        assert call(node, SpatialQuery.Request(question="where is the sofa?"),
                    "spatial_query", timeout_s=0.5) is None
    finally:
        node.destroy_node()

