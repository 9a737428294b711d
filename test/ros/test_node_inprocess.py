"""ssr_node driven in this process (no subprocess): a cleanup that arrives while the
worker is inside a frame, the last-frame stamp after a reconfigure, lens distortion
reaching the pipeline's camera, the pose subscriptions' QoS, and geometric queries
answered while a slow model question waits (the node's single-threaded executor)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")

from geometry_msgs.msg import PoseStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosutil import NAMESPACE, camera_pose, valid_set  # noqa: E402

from ssr_ros.model.bridge import BridgeAnswer  # noqa: E402
from ssr_ros.ros import topics  # noqa: E402
from ssr_ros.ros.inputs import FrameSet  # noqa: E402
from ssr_ros.ros.node import SsrNode  # noqa: E402
from ssr_ros.runtime.worker import FrameWorker  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS
STAMP_S = 50.0
# plumb-bob k1, k2, p1, p2, k3: the barrel distortion of a wide colour camera
PLUMB_BOB = (-0.28, 0.07, 0.001, -0.002, 0.0)


@pytest.fixture
def node(context):
    """A configured, active node (camera poses from the topic, no map file)."""
    node = SsrNode(context=context, namespace=NAMESPACE + "_inproc",
                   parameter_overrides=[Parameter("pose_source", value="camera_pose"),
                                        Parameter("map_path", value=""),
                                        Parameter("pose_timeout_s", value=0.0)])
    assert node.trigger_configure() == SUCCESS
    assert node.trigger_activate() == SUCCESS
    _stop_worker(node)
    yield node
    node.destroy_node()


def _stop_worker(node: SsrNode) -> None:
    """Stop the node's frame worker thread: these tests map each frame themselves with
    ``node.work_once()`` so they know when it has been mapped."""
    assert node.worker.stop(20.0)


def _feed(node: SsrNode, stamp_s: float, dist: tuple[float, ...] = ()) -> None:
    """Poses around ``stamp_s`` and one synchronised set in the worker's slot."""
    for dt in (-0.05, 0.0, 0.05):
        node.parts.pose_source.add_camera_pose(camera_pose(stamp_s + dt))
    node.slot.put(FrameSet(time.monotonic(), *valid_set(stamp_s, dist=dist)))


class Gate:
    """Blocks the worker inside one stage until released; records what the node still
    held when it was let through."""

    def __init__(self, node: SsrNode) -> None:
        self.node = node
        self.entered = threading.Event()
        self.release = threading.Event()
        self.held_at_release: tuple | None = None

    def block(self) -> None:
        self.entered.set()
        assert self.release.wait(20.0)
        self.held_at_release = self.node.parts is not None


class BlockingModel:
    """A ready model whose keyframe call waits at the gate; records its cleanup."""

    ready = True

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.in_keyframe = False
        self.cleaned_during_keyframe = False
        self.cleaned = False

    def on_keyframe(self, frame) -> None:
        self.in_keyframe = True
        self.gate.block()
        self.in_keyframe = False

    def cleanup(self) -> None:
        self.cleaned = True
        self.cleaned_during_keyframe |= self.in_keyframe

    def status(self) -> dict:
        return {}


@pytest.mark.parametrize("stage", ["pipeline", "model"])
def test_cleanup_waits_for_the_frame_in_flight(node, stage) -> None:
    gate = Gate(node)
    model = BlockingModel(gate)
    node.parts.model.cleanup()
    node.parts.model = model
    if stage == "pipeline":
        keeper, process = node.parts.keeper, node.parts.keeper.process

        def blocking_process(frame):
            gate.block()
            return process(frame)
        keeper.process = blocking_process
    errors: list[BaseException] = []
    # the node's own frame worker thread maps this frame
    worker = FrameWorker(node.slot, node.map_item, errors.append)
    node.worker = worker
    worker.start()
    _feed(node, STAMP_S)
    results: list = []
    assert gate.entered.wait(20.0), "the frame never reached the blocked stage"
    # what a lifecycle manager does, on the default callback group's thread
    cleanup = threading.Thread(target=lambda: results.extend(
        [node.trigger_deactivate(), node.trigger_cleanup()]))
    cleanup.start()
    cleanup.join(0.5)  # without the frame lock the teardown would finish in here
    gate.release.set()
    cleanup.join(20.0)
    assert not cleanup.is_alive()
    assert not worker.alive, "the teardown did not stop the frame worker"
    assert errors == []
    assert gate.held_at_release, "the teardown freed the node's parts under the frame"
    assert results == [SUCCESS, SUCCESS]
    assert model.cleaned and not model.cleaned_during_keyframe
    assert node.parts is None
    assert node.stats.frames_processed == 1


def test_a_reconfigured_node_maps_a_replay_from_its_start(node) -> None:
    _feed(node, STAMP_S)
    node.work_once()
    _feed(node, STAMP_S - 10.0)
    node.work_once()
    assert node.stats.frames_processed == 1  # the earlier stamp was dropped
    for transition in (node.trigger_deactivate, node.trigger_cleanup,
                       node.trigger_configure, node.trigger_activate):
        assert transition() == SUCCESS
    _stop_worker(node)
    _feed(node, STAMP_S - 10.0)
    node.work_once()
    assert node.stats.frames_processed == 2


def test_camera_info_distortion_reaches_the_pipeline_camera(node) -> None:
    _feed(node, STAMP_S, dist=PLUMB_BOB)
    node.work_once()
    assert node.stats.frames_processed == 1
    camera = node.parts.keeper.camera
    np.testing.assert_allclose(camera.distortion, PLUMB_BOB)
    # a corner pixel back-projects along the undistorted ray: wider than the pinhole
    # ray (barrel), and projecting it through the lens lands on the same pixel
    ray = camera.pixel_rays(np.array([0.0]), np.array([0.0]))[0]
    pinhole = (np.array([0.0, 0.0]) - (camera.cx, camera.cy)) / (camera.fx, camera.fy)
    assert np.all(np.abs(ray) > np.abs(pinhole) * 1.1)
    uv, _ = camera.project(np.array([[ray[0], ray[1], 1.0]]))
    np.testing.assert_allclose(uv[0], (0.0, 0.0), atol=1e-2)
    # a rectified stream (D all zero) on the same node gets a plain pinhole camera
    _feed(node, STAMP_S + 1.0)
    node.work_once()
    assert node.stats.frames_processed == 2 and node.parts.keeper.camera.distortion is None


@pytest.mark.parametrize("msg_type, topic", [(PoseStamped, topics.CAMERA_POSE),
                                             (Odometry, topics.ODOM)])
def test_a_best_effort_pose_publisher_connects(node, msg_type, topic) -> None:
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    publisher = node.create_publisher(msg_type, topic, qos)
    try:
        deadline = time.monotonic() + 10.0
        while publisher.get_subscription_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert publisher.get_subscription_count() == 1, \
            f"the node's {topic} subscription does not match a best-effort publisher"
    finally:
        node.destroy_publisher(publisher)


class SlowModel:
    """A ready model whose free answer waits until the test releases it."""

    ready = True

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()

    def ask_free(self, question: str, scaffold: str) -> BridgeAnswer:
        self.asked.set()
        assert self.release.wait(20.0)
        return BridgeAnswer(text=f"slow answer to {question!r}")

    def cleanup(self) -> None:
        self.release.set()

    def status(self) -> dict:
        return {}


def _done(future, timeout_s: float) -> bool:
    event = threading.Event()
    future.add_done_callback(lambda _f: event.set())
    return event.wait(timeout_s)


def test_geometric_queries_are_answered_while_a_model_question_waits(context, node) -> None:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from ssr_ros.srv import SpatialQuery

    model = SlowModel()
    node.parts.queries.model = model
    # what ssr_node's main spins: one thread for every callback of the node
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    caller = rclpy.create_node("slow_model_caller", namespace=NAMESPACE + "_inproc",
                               context=context)
    executor.add_node(caller)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        client = caller.create_client(SpatialQuery, topics.SPATIAL_QUERY)
        assert client.wait_for_service(timeout_sec=10.0)
        free = client.call_async(SpatialQuery.Request(kind=SpatialQuery.Request.KIND_FREE,
                                                      question="what is in this room?"))
        assert model.asked.wait(10.0), "the free question never reached the model"
        geometric = client.call_async(SpatialQuery.Request(question="where is the bed?"))
        assert _done(geometric, 10.0), "a geometric query waited behind the model question"
        assert geometric.result().answered_by != "model"
        assert not free.done()
        model.release.set()
        assert _done(free, 10.0)
        answer = free.result()
        assert answer.success and answer.answered_by == "model"
        assert answer.message == "slow answer to 'what is in this room?'"
    finally:
        model.release.set()
        executor.shutdown()
        spinner.join(10.0)
        caller.destroy_node()
