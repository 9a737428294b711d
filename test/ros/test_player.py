"""ssr-play: a sim room recorded to a rosbag2 holds what the live player publishes, and
playing the bag delivers it over DDS."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")

from rclpy.qos import QoSProfile, qos_profile_sensor_data  # noqa: E402
from rclpy.serialization import deserialize_message  # noqa: E402
from rosbags.rosbag2 import Reader  # noqa: E402
from rosutil import run_player  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from ssr_ros.ros.conversions import image_to_array, image_to_rgb  # noqa: E402
from ssr_ros.ros.player import record_bag, sim_frames  # noqa: E402

FRAMES = 6


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("bag") / "sim"
    assert record_bag(sim_frames(2, FRAMES, 160, 120, 10.0), str(path)) == FRAMES
    return path


def test_recorded_bag_holds_every_topic_with_sim_content(bag) -> None:
    first = next(sim_frames(2, FRAMES, 160, 120, 10.0))
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        colour = next(raw for c, _, raw in reader.messages()
                      if c.topic == "camera/color/image_raw")
        depth = next(raw for c, _, raw in reader.messages()
                     if c.topic == "camera/depth/image_raw")
    assert counts == {"camera/labels/names": 1, "camera/pose": FRAMES,
                      "camera/color/image_raw": FRAMES, "camera/depth/image_raw": FRAMES,
                      "camera/color/camera_info": FRAMES, "camera/labels/image_raw": FRAMES,
                      "camera/depth/camera_info": FRAMES}
    np.testing.assert_array_equal(image_to_rgb(deserialize_message(bytes(colour), Image)),
                                  first.rgb)
    np.testing.assert_array_equal(image_to_array(deserialize_message(bytes(depth), Image)),
                                  first.depth_mm)


def test_bag_playback_reaches_a_subscriber(bag, ros_client, tmp_path) -> None:
    received: list[Image] = []
    # deep enough to hold the whole bag: the test spins only after the player has finished
    qos = QoSProfile(depth=50, reliability=qos_profile_sensor_data.reliability)
    sub = ros_client.node.create_subscription(Image, "camera/depth/image_raw",
                                              received.append, qos)
    try:
        rc = run_player(["--bag", str(bag), "--rate", "5"], tmp_path / "play.log")
        assert rc == 0, (tmp_path / "play.log").read_text()
        # best effort: frames may be lost on the way, but the bag's depth images arrive
        assert ros_client.spin_until(lambda: len(received) >= 1, 5.0)
        assert len(received) <= FRAMES
        assert all(m.encoding == "16UC1" and m.width == 160 for m in received)
    finally:
        ros_client.node.destroy_subscription(sub)


def test_player_rejects_a_bad_rate() -> None:
    out = subprocess.run([sys.executable, "-m", "ssr_ros.ros.player", "--seed", "1",
                          "--rate", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--rate" in out.stderr
