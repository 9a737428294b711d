"""ssr_node with ``use_compressed: true``, driven in this process: OpenCV is no longer
imported with the node's code (issue 18), so the first compressed colour image must still
be decoded and mapped, and one that does not decode is counted by its reason."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
cv2 = pytest.importorskip("cv2")

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosutil import NAMESPACE, camera_pose, valid_set  # noqa: E402
from sensor_msgs.msg import CompressedImage  # noqa: E402

from ssr_ros.ros.conversions import image_to_rgb  # noqa: E402
from ssr_ros.ros.inputs import FrameSet  # noqa: E402
from ssr_ros.ros.node import SsrNode  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS


@pytest.fixture
def node(context):
    """A configured, active node reading compressed colour; its worker is stopped so the
    test maps each set itself (``work_once``)."""
    node = SsrNode(context=context, namespace=NAMESPACE + "_compressed",
                   parameter_overrides=[Parameter("pose_source", value="camera_pose"),
                                        Parameter("use_compressed", value=True),
                                        Parameter("map_path", value=""),
                                        Parameter("pose_timeout_s", value=0.0)])
    assert node.trigger_configure() == SUCCESS, node.last_failure
    assert node.trigger_activate() == SUCCESS, node.last_failure
    assert node.worker.stop(20.0)
    yield node
    node.destroy_node()


def _compressed_set(stamp_s: float, payload: bytes | None = None) -> list:
    """``valid_set``'s messages with the colour image as PNG (or ``payload``)."""
    color, depth, info, labels = valid_set(stamp_s)
    ok, png = cv2.imencode(".png", image_to_rgb(color)[:, :, ::-1])
    assert ok
    msg = CompressedImage(header=color.header, format="png")
    msg.data = png.tobytes() if payload is None else payload
    return [msg, depth, info, labels]


def _map(node: SsrNode, stamp_s: float, payload: bytes | None = None) -> None:
    for dt in (-0.05, 0.0, 0.05):
        node.parts.pose_source.add_camera_pose(camera_pose(stamp_s + dt))
    node.slot.put(FrameSet(time.monotonic(), *_compressed_set(stamp_s, payload)))
    node.work_once()


def test_the_first_compressed_frame_is_a_keyframe(node) -> None:
    # a keyframe's images are decoded (the PNG included) before the pipeline keeps it
    _map(node, 40.0)
    assert node.stats.frames_processed == 1
    assert node.stats.keyframes == 1
    assert not any(node.stats.invalid.values()), dict(node.stats.invalid)


def test_an_undecodable_compressed_keyframe_is_counted(node) -> None:
    _map(node, 40.0, payload=b"\x89PNG\r\n\x1a\n not an image")
    assert node.stats.invalid["decode"] == 1
    assert node.stats.keyframes == 0
    assert node.stats.invalid["internal_error"] == 0
    _map(node, 41.0)  # the next good frame is the first keyframe
    assert node.stats.keyframes == 1
