"""The view's ROS side and server over real DDS, in one process: a stand-in publisher
plays ssr_node's public topics and service, the view's node (its own rclpy context)
listens. No browser: the page itself is tested in test_view_browser.py."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
pytest.importorskip("viser", reason="viser is not installed (make setup)")

import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402
from geometry_msgs.msg import Point, PoseStamped  # noqa: E402
from nav_msgs.msg import Path  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402
from viewutil import NAMESPACE, NS_ARGS, listening_addresses  # noqa: E402

from ssr_ros.msg import SceneGraph, SceneObject, SceneTriplet  # noqa: E402
from ssr_ros.srv import SpatialQuery  # noqa: E402
from ssr_ros.view.cli import ViewApp  # noqa: E402
from ssr_ros.view.ros_client import LATCHED_QOS, ViewNode  # noqa: E402
from ssr_ros.view.scene import SceneRenderer, object_node  # noqa: E402
from ssr_ros.view.state import ViewState  # noqa: E402


class FakeNode:
    """Publishes like ssr_node (latched graph and markers, diagnostics) and answers
    ``spatial_query`` with ``answer(request) -> response`` (None = no service)."""

    def __init__(self, answer=None) -> None:
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = Node("ssr_node", namespace=NAMESPACE, context=self.context)
        self.graph_pub = self.node.create_publisher(SceneGraph, "cogmap/scene_graph",
                                                    LATCHED_QOS)
        self.markers_pub = self.node.create_publisher(MarkerArray, "cogmap/markers",
                                                      LATCHED_QOS)
        self.path_pub = self.node.create_publisher(Path, "cogmap/camera_path", 1)
        self.diag_pub = self.node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.requests: list = []
        if answer is not None:
            def serve(request, response):
                self.requests.append(request)
                return answer(request, response)
            self.node.create_service(SpatialQuery, "spatial_query", serve)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(5)

    def publish_graph(self, revision: int, labels: list[str], bad: bool = False) -> None:
        msg = SceneGraph(revision=revision)
        msg.header.frame_id = "map"
        for i, label in enumerate(labels, start=1):
            o = SceneObject(id=i, label=label, yaw=0.1 * i)
            o.position.x, o.position.y, o.position.z = float(i), 0.0, 0.4
            o.size.x, o.size.y, o.size.z = 0.5, 0.5, 0.8
            msg.objects.append(o)
        if bad:
            o = SceneObject(id=99, label="ghost")
            o.position.x = math.nan
            msg.objects.append(o)
        msg.triplets = [SceneTriplet(anchor_a=1, anchor_b=1, target=1)]
        self.graph_pub.publish(msg)


def _wait(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def view_node():
    state = ViewState()
    node = ViewNode(state, args=["--ros-args", *NS_ARGS])
    yield node
    node.close()


def test_topics_fill_the_state(view_node) -> None:
    fake = FakeNode()
    try:
        fake.publish_graph(5, ["sofa", "tv"], bad=True)
        state = view_node.state
        assert _wait(lambda: len(state.snapshot.objects) == 2)  # the NaN object is left out
        assert [o.title for o in state.snapshot.objects] == ["[1] sofa", "[2] tv"]

        path = Marker(ns="path", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
        path.points = [Point(x=0.0, y=0.0, z=1.0), Point(x=1.0, y=2.0, z=1.0)]
        fake.markers_pub.publish(MarkerArray(markers=[path]))
        assert _wait(lambda: state.snapshot.camera is not None)
        assert state.snapshot.camera.position_m == (1.0, 2.0, 1.0)

        status = DiagnosticStatus(name=f"{NAMESPACE}/ssr_node: mapping", message="running",
                                  values=[KeyValue(key="map.objects", value="2")])
        other = DiagnosticStatus(name="/elsewhere/ssr_node: mapping",
                                 values=[KeyValue(key="map.objects", value="9")])
        fake.diag_pub.publish(DiagnosticArray(status=[other, status]))
        assert _wait(lambda: state.snapshot.diagnostics.get("map.objects") == "2")

        fake.markers_pub.publish(MarkerArray(markers=[Marker(action=Marker.DELETEALL)]))
        assert _wait(lambda: len(state.snapshot.path_m) == 0)

        msg = Path()
        pose = PoseStamped()
        pose.pose.position.x, pose.pose.orientation.w = 3.0, 1.0
        msg.poses = [pose]
        # volatile topic: publish until the subscription is matched
        assert _wait(lambda: (fake.path_pub.publish(msg) or True) and
                     state.snapshot.camera is not None and
                     state.snapshot.camera.wxyz == (1.0, 0.0, 0.0, 0.0), 10.0)
        # a DELETEALL on the markers leaves the path of cogmap/camera_path alone
        fake.markers_pub.publish(MarkerArray(markers=[Marker(action=Marker.DELETEALL)]))
        assert not _wait(lambda: state.snapshot.camera is None, 0.5)
    finally:
        fake.close()


def test_a_restarted_node_replaces_the_map(view_node) -> None:
    first = FakeNode()
    first.publish_graph(30, ["sofa", "tv", "bed"])
    assert _wait(lambda: len(view_node.state.snapshot.objects) == 3)
    first.close()
    second = FakeNode()
    try:
        second.publish_graph(0, ["lamp"])  # a fresh process counts revisions from 0
        assert _wait(lambda: [o.label for o in view_node.state.snapshot.objects] == ["lamp"])
    finally:
        second.close()


def test_questions_reach_the_service_and_problems_come_back_as_sentences(view_node) -> None:
    started = time.monotonic()
    down = view_node.ask("where is the sofa?", timeout_s=5.0)
    assert down.response is None and not down.refused
    assert "ssr_node is not reachable" in down.problem and NAMESPACE in down.problem
    assert time.monotonic() - started < 3.0

    def answer(request, response):
        if request.question == "slow?":
            time.sleep(1.5)
        response.success, response.message = True, f"heard: {request.question}"
        response.value, response.unit = math.nan, ""
        return response
    fake = FakeNode(answer)
    try:
        assert _wait(view_node.node_reachable)
        result = view_node.ask("which is nearest to the bed: lamp or tv?", timeout_s=5.0)
        assert result.response["message"] == \
            "heard: which is nearest to the bed: lamp or tv?"
        assert result.response["value"] is None
        assert list(fake.requests[-1].candidates) == ["lamp", "tv"]
        refused = view_node.ask("   ", timeout_s=5.0)
        assert refused.refused and "Type a question first" in refused.problem
        assert len(fake.requests) == 1  # a refused question is not sent
        slow = view_node.ask("slow?", timeout_s=0.5)
        assert slow.response is None and "did not answer within" in slow.problem
    finally:
        fake.close()


def test_renderer_follows_the_state_and_highlights_answers() -> None:
    import viser

    from ssr_ros.view.answer import answer_view

    server = viser.ViserServer(host="127.0.0.1", port=0, verbose=False)
    try:
        renderer = SceneRenderer(server.scene, server.initial_camera)
        state = ViewState()
        from ssr_ros.view.state import ViewObject

        objs = [ViewObject(i, "chair", (float(i), 0.0, 0.4), (0.5, 0.5, 0.8), 0.0, 1.0, 1)
                for i in (1, 2, 3)]
        state.set_graph("map", 1, objs, [])
        renderer.apply(state.snapshot)
        assert renderer.object_ids == [1, 2, 3]
        handles = server.scene._handle_from_node_name
        assert object_node(2) in handles and f"{object_node(2)}/label" in handles
        state.set_graph("map", 2, objs[:1], [])
        renderer.apply(state.snapshot)
        assert renderer.object_ids == [1]
        assert object_node(2) not in handles and f"{object_node(2)}/label" not in handles
        response = {"success": True, "message": "1.0 m", "value": 1.0, "unit": "m",
                    "choice": "", "answered_by": "geometry",
                    "objects": [{"id": 1, "label": "chair", "position": [1, 0, 0.4],
                                 "size": [0.5, 0.5, 0.8], "yaw": 0.0},
                                {"id": 5, "label": "tv", "position": [2.5, 0, 0.4],
                                 "size": [0.5, 0.5, 0.8], "yaw": 0.0}]}
        renderer.show_answer(answer_view(response, state.snapshot))
        assert {"/answer/box0", "/answer/box1", "/answer/distance"} <= set(handles)
        renderer.clear_answer()
        assert not any(name.startswith("/answer/") for name in handles)

        # the camera: a sphere from positions only, a frustum once a pose is known
        state.set_path(np.array([[0.0, 0, 1], [1, 0, 1]]), "cogmap/markers")
        renderer.apply(state.snapshot)
        assert type(handles["/camera/now"]).__name__ == "IcosphereHandle"
        state.set_path(np.array([[1.0, 0, 1]]), "cogmap/camera_path",
                       np.array([[1.0, 0, 0, 0]]))
        renderer.apply(state.snapshot)
        assert type(handles["/camera/now"]).__name__ == "CameraFrustumHandle"
        assert "/camera/path" not in handles  # one pose draws no path line
    finally:
        server.stop()


def test_view_app_binds_loopback_and_explains_a_missing_node() -> None:
    app = ViewApp(port=0, ros_args=["--ros-args", *NS_ARGS], timeout_s=2.0)
    try:
        assert app.url.startswith("http://127.0.0.1:")
        listening = listening_addresses(app.port)
        if listening is not None:
            assert listening == {"127.0.0.1"}, listening
        text = app.ask("where is the sofa?")
        assert text.startswith("**No answer**: ssr_node is not reachable")
        assert app.ask("").startswith("**Not asked**: Type a question first")
    finally:
        app.close()
