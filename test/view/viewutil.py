"""Helpers of the view tests: ssr_node, ssr-play and ssr-view as separate processes in a
namespace of this test run, and a small rclpy client to compare the page with the node."""

from __future__ import annotations

import ipaddress
import os
import pathlib
import random
import re
import subprocess
import sys
import time
from typing import Any, Callable

from procutil import ChildProcess, child_env

REPO = pathlib.Path(__file__).resolve().parents[2]
DEMO_PARAMS = REPO / "config" / "demo.yaml"
# Our own namespace: a concurrent run that drew the same ROS_DOMAIN_ID cannot answer us.
NAMESPACE = f"/ssr_view_test_{os.getpid()}_{random.SystemRandom().randrange(16**6):06x}"
NS_ARGS = ["-r", f"__ns:={NAMESPACE}"]
URL_LINE = re.compile(r"ssr-view: open (http://\S+)")


Process = ChildProcess


def start_node(map_path: pathlib.Path, log_path: pathlib.Path) -> Process:
    """ssr_node with the demo parameters, configured and activated at start."""
    from ssr_ros.ros.topics import sim_remaps

    return Process([sys.executable, "-m", "ssr_ros.ros.node", "--ros-args",
                    "--params-file", str(DEMO_PARAMS), "-p", f"map_path:={map_path}",
                    "-p", "autostart:=true", "-p", "diagnostics_period_s:=0.5",
                    *sim_remaps(), *NS_ARGS], log_path)


def run_player(args: list[str], log_path: pathlib.Path, timeout_s: float = 180.0) -> int:
    with open(log_path, "w") as log:
        return subprocess.run([sys.executable, "-m", "ssr_ros.ros.player", *args,
                               "--ros-args", *NS_ARGS], env=child_env(), stdout=log,
                              stderr=subprocess.STDOUT, timeout=timeout_s).returncode


def start_view(log_path: pathlib.Path, extra: list[str] | None = None,
               timeout_s: float = 60.0) -> tuple[Process, str]:
    """ssr-view on a free port in the test namespace; returns it and its printed URL."""
    view = Process([sys.executable, "-m", "ssr_ros.view.cli", "--port", "0",
                    *(extra or []), "--ros-args", *NS_ARGS], log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = URL_LINE.search(view.log())
        if match:
            return view, match.group(1)
        if not view.alive():
            break
        time.sleep(0.1)
    log = view.log()
    view.stop()
    raise AssertionError(f"ssr-view printed no address:\n{log}")


class Client:
    """An rclpy client in the test namespace: the latched scene graph and direct
    ``spatial_query`` calls, to compare the page with what the node says."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        self._rclpy = rclpy
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = Node("ssr_view_test_client", namespace=NAMESPACE, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self._rclpy.shutdown(context=self.context)

    def spin_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            if predicate():
                return True
        return False

    def scene_graph(self, predicate: Callable[[Any], bool], timeout_s: float = 20.0):
        from ssr_ros.msg import SceneGraph
        from ssr_ros.view.ros_client import LATCHED_QOS

        got: list = []
        sub = self.node.create_subscription(SceneGraph, "cogmap/scene_graph", got.append,
                                            LATCHED_QOS)
        try:
            if not self.spin_until(lambda: any(predicate(g) for g in got), timeout_s):
                return None
            return [g for g in got if predicate(g)][-1]
        finally:
            self.node.destroy_subscription(sub)

    def ask(self, question: str, timeout_s: float = 20.0):
        from ssr_ros.srv import SpatialQuery

        client = self.node.create_client(SpatialQuery, "spatial_query")
        try:
            assert self.spin_until(client.service_is_ready, timeout_s), "no spatial_query"
            future = client.call_async(SpatialQuery.Request(question=question))
            assert self.spin_until(future.done, timeout_s), "spatial_query did not answer"
            return future.result()
        finally:
            self.node.destroy_client(client)


def listening_addresses(port: int) -> set[str] | None:
    """Local addresses of the TCP sockets listening on ``port`` (IPv4 and IPv6)."""
    found: set[str] = set()
    any_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        any_table = True
        with open(table) as handle:
            next(handle)
            for line in handle:
                local, state = line.split()[1], line.split()[3]
                addr_hex, port_hex = local.split(":")
                if state != "0A" or int(port_hex, 16) != port:
                    continue
                found.add(_decode_address(addr_hex))
    return found if any_table else None


def _decode_address(addr_hex: str) -> str:
    raw = bytes.fromhex(addr_hex)
    # /proc prints each 32-bit word in host (little-endian) order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)
