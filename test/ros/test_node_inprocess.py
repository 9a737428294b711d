"""ssr_node driven in this process (no executor spinning, no subprocess): a cleanup that
arrives while the worker is inside a frame, the last-frame stamp after a reconfigure,
lens distortion reaching the pipeline's camera, and the pose subscriptions' QoS."""

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

from ssr_ros.ros import topics  # noqa: E402
from ssr_ros.ros.node import SsrNode  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS
STAMP_S = 50.0
# plumb-bob k1, k2, p1, p2, k3: the barrel distortion of a wide colour camera
PLUMB_BOB = (-0.28, 0.07, 0.001, -0.002, 0.0)


@pytest.fixture(scope="module")
def context():
    import rclpy

    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.fixture
def node(context):
    """A configured, active node (camera poses from the topic, no map file)."""
    node = SsrNode(context=context, namespace=NAMESPACE + "_inproc",
                   parameter_overrides=[Parameter("pose_source", value="camera_pose"),
                                        Parameter("map_path", value=""),
                                        Parameter("pose_timeout_s", value=0.0)])
    assert node.trigger_configure() == SUCCESS
    assert node.trigger_activate() == SUCCESS
    yield node
    node.destroy_node()


def _feed(node: SsrNode, stamp_s: float, dist: tuple[float, ...] = ()) -> None:
    """Poses around ``stamp_s`` and one synchronised set in the worker's slot."""
    for dt in (-0.05, 0.0, 0.05):
        node._on_camera_pose(camera_pose(stamp_s + dt))
    node._slot.put((time.monotonic(), tuple(valid_set(stamp_s, dist=dist))))


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
        node = self.node
        self.held_at_release = (node.keeper is not None, node._pose_source is not None,
                                node.model is not None)


class BlockingModel:
    """A ready model whose keyframe call waits at the gate; records its cleanup."""

    ready = True

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.in_keyframe = False
        self.cleaned_during_keyframe = False
        self.cleaned = False

    def on_keyframe(self, *args) -> None:
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
    node.model = model
    if stage == "pipeline":
        keeper, process = node.keeper, node.keeper.process

        def blocking_process(*args, **kwargs):
            gate.block()
            return process(*args, **kwargs)
        keeper.process = blocking_process
    _feed(node, STAMP_S)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            node._work()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    results: list = []
    worker = threading.Thread(target=work)
    worker.start()
    assert gate.entered.wait(20.0), "the frame never reached the blocked stage"
    # what a lifecycle manager does, on the default callback group's thread
    cleanup = threading.Thread(target=lambda: results.extend(
        [node.trigger_deactivate(), node.trigger_cleanup()]))
    cleanup.start()
    cleanup.join(0.5)  # without the frame lock the teardown would finish in here
    gate.release.set()
    worker.join(20.0)
    cleanup.join(20.0)
    assert not worker.is_alive() and not cleanup.is_alive()
    assert errors == []
    assert gate.held_at_release == (True, True, True), \
        "the teardown freed the keeper, pose source or model under the frame"
    assert results == [SUCCESS, SUCCESS]
    assert model.cleaned and not model.cleaned_during_keyframe
    assert node.keeper is None and node._pose_source is None and node.model is None
    assert node.stats.frames_processed == 1


def test_a_reconfigured_node_maps_a_replay_from_its_start(node) -> None:
    _feed(node, STAMP_S)
    node._work()
    _feed(node, STAMP_S - 10.0)
    node._work()
    assert node.stats.frames_processed == 1  # the earlier stamp was dropped
    for transition in (node.trigger_deactivate, node.trigger_cleanup,
                       node.trigger_configure, node.trigger_activate):
        assert transition() == SUCCESS
    _feed(node, STAMP_S - 10.0)
    node._work()
    assert node.stats.frames_processed == 2


def test_camera_info_distortion_reaches_the_pipeline_camera(node) -> None:
    _feed(node, STAMP_S, dist=PLUMB_BOB)
    node._work()
    assert node.stats.frames_processed == 1
    camera = node.keeper.pipeline._camera
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
    node._work()
    assert node.stats.frames_processed == 2 and node.keeper.pipeline._camera.distortion is None


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
