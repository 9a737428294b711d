"""The one bag writer on posed frames that are not from the simulator (a TUM-like source:
no labels, float depth), and its refusals."""

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from ssr_ros.core.camera import depth_to_millimetres
from ssr_ros.core.frames import PosedFrame
from ssr_ros.sim.bag import BagExportError, write_frames

K = np.array([[50.0, 0.0, 16.0], [0.0, 50.0, 12.0], [0.0, 0.0, 1.0]])


def _frames(n: int) -> list[PosedFrame]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        T = np.eye(4)
        T[0, 3] = 0.1 * i
        out.append(PosedFrame(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8),
                              rng.uniform(0.5, 4.0, (24, 32)).astype(np.float32), K, T,
                              0.5 * i))
    return out


def test_frames_without_labels_get_the_camera_topics_and_millimetre_depth(tmp_path):
    frames = _frames(3)
    summary = write_frames(frames, tmp_path / "bag", prefix="camera", start_ns=0, tf=False)
    assert summary.frame_count == 3 and summary.end_ns == 1_000_000_000
    typestore = get_typestore(Stores.ROS2_KILTED)
    with Reader(tmp_path / "bag") as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        depth = [typestore.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages()
                 if c.topic == "camera/depth/image_raw"]
    assert counts == {"camera/color/image_raw": 3, "camera/depth/image_raw": 3,
                      "camera/color/camera_info": 3, "camera/depth/camera_info": 3,
                      "camera/pose": 3}
    raw = np.frombuffer(bytes(depth[1].data), dtype="<u2").reshape(24, 32)
    np.testing.assert_array_equal(raw, depth_to_millimetres(frames[1].depth_m))


def test_odometry_twist_is_the_finite_difference_of_the_poses(tmp_path):
    write_frames(_frames(3), tmp_path / "bag")
    typestore = get_typestore(Stores.ROS2_KILTED)
    with Reader(tmp_path / "bag") as reader:
        odom = [typestore.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages()
                if c.topic == "/odom"]
    # 0.1 m along map x every 0.5 s; map x is the optical frame's x, camera_link's -y
    assert [o.twist.twist.linear.y for o in odom] == pytest.approx([-0.2] * 3)


def test_refusals(tmp_path):
    with pytest.raises(BagExportError, match="no frames"):
        write_frames([], tmp_path / "empty")
    (tmp_path / "taken").mkdir()
    with pytest.raises(BagExportError, match="already exists"):
        write_frames(_frames(1), tmp_path / "taken")
    unposed = PosedFrame(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.float32), K, None,
                         0.0)
    with pytest.raises(BagExportError, match="no pose"):
        write_frames([unposed], tmp_path / "unposed")
