"""The package's own ROS interfaces: generated, importable, and usable over real DDS."""

import math
import os
import pathlib
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")

from rclpy.node import Node  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from ssr_ros.msg import SceneGraph, SceneObject, SceneTriplet  # noqa: E402
from ssr_ros.srv import SpatialQuery  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def test_constants_are_distinct_and_named():
    req, resp = SpatialQuery.Request, SpatialQuery.Response
    kinds = {n: getattr(req, n) for n in dir(req) if n.startswith("KIND_")}
    errors = {n: getattr(resp, n) for n in dir(resp) if n.startswith("ERROR_")}
    assert len(kinds) == 12 and len(set(kinds.values())) == 12
    assert len(errors) == 10 and len(set(errors.values())) == 10
    assert kinds["KIND_AUTO"] == 0 and errors["ERROR_NONE"] == 0


def test_messages_carry_documented_fields():
    obj = SceneObject(id=3, label="sofa", yaw=0.5, observation_count=4)
    tri = SceneTriplet(anchor_a=1, anchor_b=2, target=3, local_x=1.25, local_y=-0.5,
                       cell_col=9, cell_row=0, cell_size=0.4)
    graph = SceneGraph(revision=7, objects=[obj], triplets=[tri])
    assert graph.objects[0].label == "sofa"
    assert graph.triplets[0].cell_col == 9
    assert graph.triplets[0].local_x == 1.25
    assert SceneGraph.get_fields_and_field_types()["triplets"] == "sequence<ssr_ros/SceneTriplet>"


@pytest.fixture
def ros_context():
    context = rclpy.context.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def _spin_until(node, executor, predicate, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        if predicate():
            return True
    return False


def test_spatial_query_round_trips_between_processes(ros_context):
    server = subprocess.Popen(
        [sys.executable, str(HERE / "echo_server.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ), text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        node = Node("interface_test_client", context=ros_context)
        executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
        executor.add_node(node)
        client = node.create_client(SpatialQuery, "spatial_query")
        assert client.wait_for_service(timeout_sec=30.0), "service never appeared over DDS"

        request = SpatialQuery.Request(
            kind=SpatialQuery.Request.KIND_NEAREST, target="the red chair",
            reference="sofa", facing="tv", candidates=["lamp", "plant", "büro"],
            question="which is closest?", use_centers=True)
        future = client.call_async(request)
        assert _spin_until(node, executor, future.done, 30.0), "no response within 30 s"
        response = future.result()

        assert response.success
        assert response.error_code == SpatialQuery.Response.ERROR_NONE
        assert response.message == "the red chair|sofa|tv|which is closest?"
        assert response.value == pytest.approx(math.pi * SpatialQuery.Request.KIND_NEAREST)
        assert response.choice == "lamp,plant,büro"
        assert [o.label for o in response.objects] == ["lamp", "plant", "büro"]
        second = response.objects[1]
        assert (second.id, second.observation_count, second.size_from_prior) == (101, 8, True)
        assert (second.position.x, second.position.y) == pytest.approx((1.5, -2.25))
        assert second.yaw == pytest.approx(-0.75)
        assert (second.first_seen.sec, second.first_seen.nanosec) == (12, 345)

        free = client.call_async(SpatialQuery.Request(kind=SpatialQuery.Request.KIND_FREE))
        assert _spin_until(node, executor, free.done, 30.0)
        assert not free.result().success
        assert free.result().error_code == SpatialQuery.Response.ERROR_MODEL_UNAVAILABLE
        node.destroy_node()
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def test_scene_graph_reaches_late_subscriber_with_transient_local(ros_context):
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         reliability=ReliabilityPolicy.RELIABLE)
    executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
    pub_node = Node("graph_publisher", context=ros_context)
    executor.add_node(pub_node)
    publisher = pub_node.create_publisher(SceneGraph, "cogmap/scene_graph", latched)
    graph = SceneGraph(revision=42)
    graph.header.frame_id = "map"
    graph.objects = [SceneObject(id=i, label=f"obj{i}") for i in range(1, 4)]
    graph.triplets = [SceneTriplet(anchor_a=1, anchor_b=2, target=3, cell_size=0.3)]
    publisher.publish(graph)
    executor.spin_once(timeout_sec=0.2)

    # The subscriber joins after the only publish.
    sub_node = Node("late_subscriber", context=ros_context)
    executor.add_node(sub_node)
    received = []
    sub_node.create_subscription(SceneGraph, "cogmap/scene_graph", received.append, latched)
    assert _spin_until(sub_node, executor, lambda: received, 20.0), "late joiner got nothing"
    got = received[0]
    assert got.revision == 42 and got.header.frame_id == "map"
    assert [o.label for o in got.objects] == ["obj1", "obj2", "obj3"]
    assert got.triplets[0].target == 3

    # A volatile subscriber joining late does not get the old graph: durability matters.
    volatile = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    missed = []
    sub_node.create_subscription(SceneGraph, "cogmap/scene_graph", missed.append, volatile)
    _spin_until(sub_node, executor, lambda: missed, 1.0)
    assert missed == []
    pub_node.destroy_node()
    sub_node.destroy_node()
