"""The view's rclpy node: subscriptions that fill :class:`~ssr_ros.view.state.ViewState`
and the ``spatial_query`` client behind the question box.

It reads only ssr_node's public graph names (relative, so ``__ns`` and remaps place it
beside the node it watches):

=========================  ==========================  =================================
``cogmap/scene_graph``     ssr_ros/SceneGraph          transient local: a view started
                                                       after the node gets the map at once
``cogmap/markers``         visualization_msgs/         transient local; only the camera
                           MarkerArray                 path (namespace ``path``) and a
                                                       room outline (namespace ``room``,
                                                       when a node publishes one) are used
``cogmap/camera_path``     nav_msgs/Path               optional; its newest pose orients
                                                       the camera frustum
``/diagnostics``           diagnostic_msgs/            the status whose name starts with
                           DiagnosticArray             ssr_node's fully qualified name
``spatial_query``          ssr_ros/SpatialQuery        the question box
=========================  ==========================  =================================

Node restarts need nothing special: DDS matches the new publishers and the service
again, the latched scene graph of the new process arrives, and every graph replaces the
previous one whatever its revision (:meth:`ViewState.set_graph`). The node spins a
single-threaded executor on a thread of its own; :meth:`ViewNode.ask` blocks its caller
(a viser callback thread) on a future with a deadline.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Path
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from visualization_msgs.msg import Marker, MarkerArray

from ssr_ros.msg import SceneGraph
from ssr_ros.ros.ask import send_with_resends
from ssr_ros.srv import SpatialQuery
from ssr_ros.view.answer import QuestionError, parse_question
from ssr_ros.view.state import ViewObject, ViewState, ViewTriplet

# ssr_node's public names (README "Topics and services"); relative on purpose.
SCENE_GRAPH = "cogmap/scene_graph"
MARKERS = "cogmap/markers"
CAMERA_PATH = "cogmap/camera_path"
DIAGNOSTICS = "/diagnostics"
SPATIAL_QUERY = "spatial_query"
MARKER_NS_PATH = "path"
MARKER_NS_ROOM = "room"

#: Matches ssr_node's latched publishers (reliable, transient local, depth 1).
LATCHED_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         history=HistoryPolicy.KEEP_LAST)
#: The camera path's QoS is not fixed yet: best effort + volatile matches any publisher.
PATH_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)

ERROR_NAMES = {int(getattr(SpatialQuery.Response, n)): n[len("ERROR_"):]
               for n in dir(SpatialQuery.Response) if n.startswith("ERROR_")}


def response_to_dict(response: Any) -> dict[str, Any]:
    """A ``SpatialQuery.Response`` as plain data (NaN value -> None; positions in the
    map frame [m], sizes [m], yaw [rad])."""
    value = float(response.value)
    return {
        "success": bool(response.success), "error_code": int(response.error_code),
        "message": str(response.message),
        "value": value if math.isfinite(value) else None,
        "unit": str(response.unit), "choice": str(response.choice),
        "answered_by": str(response.answered_by),
        "objects": [{"id": int(o.id), "label": str(o.label),
                     "position": [o.position.x, o.position.y, o.position.z],
                     "size": [o.size.x, o.size.y, o.size.z], "yaw": float(o.yaw)}
                    for o in response.objects],
    }


def graph_objects(msg: SceneGraph) -> tuple[list[ViewObject], list[ViewTriplet]]:
    """The objects and triplets of a SceneGraph, minus entries that cannot be drawn
    (non-finite position, size or yaw: a faulty publisher must not break the page)."""
    objects = []
    for o in msg.objects:
        values = (o.position.x, o.position.y, o.position.z, o.size.x, o.size.y, o.size.z,
                  o.yaw)
        if not all(math.isfinite(v) for v in values):
            continue
        objects.append(ViewObject(
            id=int(o.id), label=str(o.label),
            center_m=(float(o.position.x), float(o.position.y), float(o.position.z)),
            size_m=tuple(max(float(v), 0.01) for v in (o.size.x, o.size.y, o.size.z)),
            yaw_rad=float(o.yaw), score=float(o.score),
            observation_count=int(o.observation_count)))
    triplets = [ViewTriplet(int(t.anchor_a), int(t.anchor_b), int(t.target))
                for t in msg.triplets]
    return objects, triplets


@dataclass(frozen=True)
class AskResult:
    """The outcome of one question: ``response`` (see :func:`response_to_dict`) when the
    node answered, else ``problem``, a sentence for the page; ``refused`` when the view
    did not send the question (malformed), False when the node was down or too slow."""

    response: dict[str, Any] | None
    problem: str = ""
    refused: bool = False
    elapsed_s: float = 0.0


class ViewNode:
    """The rclpy side of ``ssr-view`` (see the module docstring).

    Args:
        state: where received messages go.
        node_name: name of the ssr_node to watch (its diagnostics are picked by its
            fully qualified name in this node's namespace).
        args: command-line arguments for ``rclpy.init`` of the private context
            (``--ros-args -r __ns:=/robot1 ...``).
        context: an initialised rclpy context to use instead (``args`` are then
            ignored); a private one is created and shut down with :meth:`close` when
            None.
    """

    def __init__(self, state: ViewState, node_name: str = "ssr_node",
                 args: list[str] | None = None, context: Any = None) -> None:
        self.state = state
        self._own_context = context is None
        self.context = rclpy.context.Context() if context is None else context
        if self._own_context:
            rclpy.init(args=args, context=self.context)
        self.node = Node("ssr_view", context=self.context)
        namespace = self.node.get_namespace().rstrip("/")
        self.watched_fqn = f"{namespace}/{node_name}"
        self.node.create_subscription(SceneGraph, SCENE_GRAPH, self._on_graph, LATCHED_QOS)
        self.node.create_subscription(MarkerArray, MARKERS, self._on_markers, LATCHED_QOS)
        self.node.create_subscription(Path, CAMERA_PATH, self._on_path, PATH_QOS)
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS, self._on_diagnostics, 10)
        self._query = self.node.create_client(SpatialQuery, SPATIAL_QUERY)
        self._ask_lock = threading.Lock()
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="ssr_view_ros", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - a shut-down context ends the spin thread
            if self.context.ok():
                raise

    def close(self) -> None:
        """Stop spinning, destroy the node, shut down a private context."""
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        if self._own_context:
            rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)

    # --- subscriptions ------------------------------------------------------------------
    def _on_graph(self, msg: SceneGraph) -> None:
        objects, triplets = graph_objects(msg)
        self.state.set_graph(msg.header.frame_id, msg.revision, objects, triplets)

    def _on_markers(self, msg: MarkerArray) -> None:
        for marker in msg.markers:
            if marker.action == Marker.DELETEALL:
                self.state.clear_markers(MARKERS)
            elif marker.ns == MARKER_NS_PATH and marker.type == Marker.LINE_STRIP:
                pts = np.array([[p.x, p.y, p.z] for p in marker.points], dtype=np.float64)
                pts = pts.reshape(-1, 3)
                self.state.set_path(pts[np.all(np.isfinite(pts), axis=1)], MARKERS)
            elif marker.ns == MARKER_NS_ROOM and marker.type in (Marker.LINE_STRIP,
                                                                Marker.LINE_LIST):
                xy = np.array([[p.x, p.y] for p in marker.points], dtype=np.float64)
                self.state.set_room(xy.reshape(-1, 2)[np.all(np.isfinite(xy.reshape(-1, 2)),
                                                             axis=1)])

    def _on_path(self, msg: Path) -> None:
        poses = [p.pose for p in msg.poses]
        xyz = np.array([[p.position.x, p.position.y, p.position.z] for p in poses],
                       dtype=np.float64).reshape(-1, 3)
        wxyz = np.array([[p.orientation.w, p.orientation.x, p.orientation.y,
                          p.orientation.z] for p in poses], dtype=np.float64).reshape(-1, 4)
        keep = np.all(np.isfinite(xyz), axis=1) & np.all(np.isfinite(wxyz), axis=1)
        self.state.set_path(xyz[keep], CAMERA_PATH, wxyz[keep])

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith(self.watched_fqn + ":"):
                self.state.set_diagnostics({kv.key: kv.value for kv in status.values},
                                           int.from_bytes(status.level, "little")
                                           if isinstance(status.level, bytes)
                                           else int(status.level), status.message)

    # --- the question box ---------------------------------------------------------------
    def node_reachable(self) -> bool:
        """True when a ``spatial_query`` server is matched right now."""
        return self._query.service_is_ready()

    def ask(self, text: str, timeout_s: float) -> AskResult:
        """Ask ssr_node the typed question ``text``; never raises for a bad question, a
        node that is down or slow: those come back as ``problem`` sentences."""
        started = time.monotonic()
        try:
            fields = parse_question(text)
        except QuestionError as exc:
            return AskResult(None, str(exc), refused=True)
        if not self._query.service_is_ready():
            # a node that just (re)started needs a moment to be matched
            deadline = started + min(timeout_s, 1.0)
            while not self._query.service_is_ready() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not self._query.service_is_ready():
                service = self.node.resolve_service_name(SPATIAL_QUERY)
                return AskResult(None, (
                    f"ssr_node is not reachable: no '{service}' service (is ssr_node "
                    f"running and configured, in this namespace and on ROS_DOMAIN_ID "
                    f"{self.context.get_domain_id()}?)"), elapsed_s=time.monotonic() - started)
        request = SpatialQuery.Request(kind=fields["kind"], question=fields["question"],
                                       candidates=fields["candidates"])
        with self._ask_lock:
            # Resent while unanswered (a node that just restarted can drop the first
            # response); the node is spun by this client's own thread meanwhile.
            remaining = max(0.0, timeout_s - (time.monotonic() - started))
            response = send_with_resends(self._query, request, remaining,
                                         lambda seconds: time.sleep(min(seconds, 0.01)))
            if response is None:
                return AskResult(None, f"ssr_node did not answer within {timeout_s:.0f} s "
                                       "(busy, or it stopped while answering).",
                                 elapsed_s=time.monotonic() - started)
        return AskResult(response_to_dict(response), elapsed_s=time.monotonic() - started)
