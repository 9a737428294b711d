"""The node's map publishing stamps headers with the node's clock (sim time under
use_sim_time), not wall time."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from rclpy.time import Time

pytest.importorskip("ssr_ros.msg", reason="ssr_ros.msg is not built (run `make build`)")

from ssr_ros.ros.markers import MarkerBuilder  # noqa: E402
from ssr_ros.ros.publishing import MapPublishing  # noqa: E402

SIM_NOW_NS = 42_250_000_000   # a /clock reading 42.25 s after the sim started


class _Recorder:
    def __init__(self) -> None:
        self.sent: list = []

    def publish(self, msg) -> None:
        self.sent.append(msg)


class _Clock:
    def now(self) -> Time:
        return Time(nanoseconds=SIM_NOW_NS)


class _Host(MapPublishing):
    """The attributes of SsrNode that the mixin reads, with an empty map."""

    def __init__(self) -> None:
        self.keeper = SimpleNamespace(snapshot=SimpleNamespace(
            revision=0, stamp_s=0.0, objects=(), triplets=(), path_m=None))
        self.config = SimpleNamespace(map_frame="map")
        self._active = True
        self._publish_lock = threading.Lock()
        self._published_revision = -1
        self._graph_pub = _Recorder()
        self._markers_pub = _Recorder()
        self._markers = MarkerBuilder("map")

    def get_clock(self) -> _Clock:
        return _Clock()


def _stamp_ns(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def test_empty_map_is_stamped_with_the_node_clock() -> None:
    host = _Host()
    host._publish_map(force=True)
    (graph,), (markers,) = host._graph_pub.sent, host._markers_pub.sent
    assert _stamp_ns(graph.header) == SIM_NOW_NS
    assert {_stamp_ns(m.header) for m in markers.markers} == {SIM_NOW_NS}


def test_marker_reset_is_stamped_with_the_node_clock() -> None:
    host = _Host()
    host._publish_marker_reset()
    reset = host._markers_pub.sent[0]
    assert reset.markers[0].action == reset.markers[0].DELETEALL
    assert _stamp_ns(reset.markers[0].header) == SIM_NOW_NS


def test_a_map_stamp_wins_over_the_clock() -> None:
    host = _Host()
    host.keeper.snapshot.stamp_s = 7.5
    host._publish_map(force=True)
    assert _stamp_ns(host._graph_pub.sent[0].header) == 7_500_000_000
