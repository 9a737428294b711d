"""ssr_node's outputs: the latched scene graph and markers, and /diagnostics.

:class:`MapPublisher` publishes the map keeper's snapshot when it changed (the frame
worker, after a keyframe) and again at a low rate (a timer, for late joiners that missed
the latched message). :class:`DiagnosticsPublisher` renders the node's counters with the
values each part reports. Each serialises its publishing with its :meth:`destroy`, so a
teardown never destroys a publisher under a publish.

Headers that carry no frame stamp (an empty map, a marker reset) are stamped with the
node's clock, never wall time, so they agree with /clock under ``use_sim_time``.
"""

from __future__ import annotations

import threading
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import CallbackGroup
from rclpy.lifecycle import LifecyclePublisher
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.timer import Timer
from visualization_msgs.msg import MarkerArray

from ssr_ros.msg import SceneGraph
from ssr_ros.ros import messages, topics
from ssr_ros.ros.diagnostics import NodeStats
from ssr_ros.ros.inputs import LATCHED_QOS
from ssr_ros.ros.markers import MarkerBuilder
from ssr_ros.runtime.map_state import MapKeeper


def clock_s(node: Node) -> Callable[[], float]:
    """"Now" [s] of the node's clock (ROS time: /clock under use_sim_time)."""
    return lambda: node.get_clock().now().nanoseconds * 1e-9


class MapPublisher:
    """Scene graph and markers of ``keeper``'s snapshot in ``map_frame``; publishes only
    while :attr:`active` (the lifecycle publishers are enabled by the node's activate)."""

    def __init__(self, node: Node, keeper: MapKeeper, map_frame: str, period_s: float,
                 group: CallbackGroup) -> None:
        self._keeper = keeper
        self._map_frame = map_frame
        self._now_s = clock_s(node)
        self._markers = MarkerBuilder(map_frame)
        self._lock = threading.Lock()
        self._published_revision = -1
        self.active = False
        self._node = node
        self._graph_pub: LifecyclePublisher | None = node.create_lifecycle_publisher(
            SceneGraph, topics.SCENE_GRAPH, LATCHED_QOS)
        self._markers_pub: LifecyclePublisher | None = node.create_lifecycle_publisher(
            MarkerArray, topics.MARKERS, LATCHED_QOS)
        self._timer: Timer | None = node.create_timer(
            period_s, lambda: self.publish(force=True), callback_group=group)

    def publish(self, force: bool) -> None:
        """Publish the scene graph and markers when the map changed (or when ``force``)."""
        with self._lock:
            if not self.active or self._graph_pub is None:
                return
            snap = self._keeper.snapshot
            if not force and snap.revision == self._published_revision:
                return
            stamp_s = snap.stamp_s or self._now_s()
            self._graph_pub.publish(messages.scene_graph_msg(
                snap.objects, snap.triplets, snap.revision, stamp_s, self._map_frame))
            self._markers_pub.publish(self._markers.build(snap.objects, snap.triplets,
                                                          snap.path_m, stamp_s))
            self._published_revision = snap.revision

    def reset(self) -> None:
        """Delete every marker (the map was replaced or cleared), then publish the map."""
        with self._lock:
            if self.active and self._markers_pub is not None:
                self._markers_pub.publish(self._markers.delete_all(self._now_s()))
        self.publish(force=True)

    def destroy(self) -> None:
        """Destroy the publishers and the timer (idempotent)."""
        with self._lock:
            self.active = False
            if self._timer is not None:
                self._node.destroy_timer(self._timer)
            for pub in (self._graph_pub, self._markers_pub):
                if pub is not None:
                    self._node.destroy_lifecycle_publisher(pub)
            self._timer = self._graph_pub = self._markers_pub = None


class DiagnosticsPublisher:
    """One ``DiagnosticStatus`` on /diagnostics every ``period_s``: the node's counters
    (:class:`NodeStats`) plus the values of every ``sources`` callable (each returns a
    ``dict[str, Any]`` of keys such as ``map.objects`` or ``model.state``)."""

    def __init__(self, node: Node, stats: NodeStats, period_s: float,
                 sources: list[Callable[[], dict]], group: CallbackGroup) -> None:
        self._node = node
        self._stats = stats
        self._sources = sources
        self._lock = threading.Lock()
        self._pub: Publisher | None = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer: Timer | None = node.create_timer(period_s, self.publish,
                                                      callback_group=group)

    def publish(self) -> None:
        with self._lock:
            if self._pub is None:
                return
            extra: dict = {}
            for source in self._sources:
                extra.update(source())
            msg = DiagnosticArray()
            msg.header.stamp = self._node.get_clock().now().to_msg()
            msg.status = [self._stats.to_status(
                f"{self._node.get_fully_qualified_name()}: mapping", extra)]
            self._pub.publish(msg)

    def destroy(self) -> None:
        """Destroy the publisher and the timer (idempotent)."""
        with self._lock:
            if self._timer is not None:
                self._node.destroy_timer(self._timer)
            if self._pub is not None:
                self._node.destroy_publisher(self._pub)
            self._timer = self._pub = None


def map_values(keeper: MapKeeper) -> dict:
    """/diagnostics keys of the map: ``map.objects``, ``map.triplets``, ``map.revision``,
    ``names.embeddings``."""
    snap = keeper.snapshot
    return {"map.objects": len(snap.objects), "map.triplets": len(snap.triplets),
            "map.revision": snap.revision,
            "names.embeddings": "on" if keeper.embedder is not None else "off"}
