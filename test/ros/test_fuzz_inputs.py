"""Hypothesis fuzzing of the node's input validation beyond raw images (those are in
test_conversions.py, requests in test_map_state.py): camera_info, poses (PoseStamped,
Odometry, the pose history), label-name JSON, compressed images and whole synchronised
frames. Whatever arrives, the only exception is the documented ``InvalidMessage``, and
what is accepted is usable (finite intrinsics, rigid poses, arrays of the right shape).
"""

from __future__ import annotations

import array
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")

from geometry_msgs.msg import PoseStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from ssr_ros.ros import conversions as cv  # noqa: E402
from ssr_ros.runtime.errors import InvalidMessage  # noqa: E402
from ssr_ros.ros.frames import decode_frame, parse_label_names_json  # noqa: E402
from ssr_ros.runtime.pose_history import PoseHistory  # noqa: E402

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
small = st.floats(-2.0, 2.0)


@settings(max_examples=150, deadline=None)
@given(k=st.lists(st.one_of(floats, st.sampled_from([0.0, 1.0, 100.0])), min_size=9,
                  max_size=9),
       d=st.lists(floats, max_size=20), width=st.integers(0, 5000),
       height=st.integers(0, 5000),
       model=st.sampled_from(["plumb_bob", "rational_polynomial", "equidistant", "", "x"]))
def test_fuzzed_camera_info_is_valid_or_refused(k, d, width, height, model) -> None:
    msg = CameraInfo(width=width, height=height, distortion_model=model)
    msg.k, msg.d = k, d
    try:
        intrinsics = cv.camera_info_to_intrinsics(msg)
    except InvalidMessage as exc:
        assert exc.reason == "camera_info"
        return
    K = intrinsics.K
    assert np.all(np.isfinite(K)) and K[0, 0] > 0 and K[1, 1] > 0
    assert 0 <= K[0, 2] <= width and 0 <= K[1, 2] <= height


@settings(max_examples=150, deadline=None)
@given(position=st.lists(st.one_of(floats, small), min_size=3, max_size=3),
       quaternion=st.lists(st.one_of(floats, small), min_size=4, max_size=4),
       stamp=st.one_of(floats, st.floats(0.0, 1e9)), odometry=st.booleans())
def test_fuzzed_poses_are_rigid_or_refused(position, quaternion, stamp, odometry) -> None:
    msg = Odometry() if odometry else PoseStamped()
    pose = msg.pose.pose if odometry else msg.pose
    pose.position.x, pose.position.y, pose.position.z = position
    (pose.orientation.x, pose.orientation.y, pose.orientation.z,
     pose.orientation.w) = quaternion
    convert = cv.odometry_to_matrix if odometry else cv.pose_stamped_to_matrix
    history = PoseHistory()
    try:
        T, _, _ = convert(msg)
        history.add(stamp, T)
    except InvalidMessage as exc:
        assert exc.reason in ("pose_nan", "pose_range", "quaternion", "stamp")
        return
    R = T[:3, :3]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-9)
    assert np.all(np.abs(T[:3, 3]) <= cv.MAX_POSITION_M) and len(history) == 1


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(payload=st.one_of(st.text(max_size=200), json_values.map(json.dumps),
                         st.dictionaries(st.one_of(st.integers(-5, 70000).map(str),
                                                   st.text(max_size=5)),
                                         st.text(max_size=140), max_size=6).map(json.dumps)))
def test_fuzzed_label_names_are_parsed_or_refused(payload) -> None:
    try:
        names = parse_label_names_json(payload)
    except InvalidMessage as exc:
        assert exc.reason == "label_names"
        return
    assert all(1 <= k <= 65535 and 0 < len(v) <= 128 for k, v in names.items())


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=400), fmt=st.sampled_from(["jpeg", "png", "", "rgb8; jpeg"]))
def test_fuzzed_compressed_images_decode_or_are_refused(data, fmt) -> None:
    msg = CompressedImage(format=fmt)
    msg.data = array.array("B", data)
    try:
        rgb = cv.compressed_to_rgb(msg)
    except InvalidMessage as exc:
        assert exc.reason in ("empty", "decode", "too_large")
        return
    assert rgb.ndim == 3 and rgb.shape[2] == 3


def _image(height: int, width: int, encoding: str, seed: int) -> Image:
    rng = np.random.default_rng(seed)
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1, "16UC1": 1, "32FC1": 1}[encoding]
    dtype = {"16UC1": np.uint16, "32FC1": np.float32}.get(encoding, np.uint8)
    if dtype is np.float32:
        pixels = rng.choice(np.array([0.0, -1.0, 1.5, np.nan, np.inf], np.float32),
                            (height, width))
    else:
        pixels = rng.integers(0, 3000, (height, width, channels)[:2 + (channels > 1)]
                              ).astype(dtype)
    return cv.array_to_image(pixels, encoding, cv.s_to_stamp(1.0), "cam")


@settings(max_examples=100, deadline=None)
@given(sizes=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=3,
                      max_size=3),
       color=st.sampled_from(["rgb8", "bgr8", "mono8", "16UC1"]),
       depth=st.sampled_from(["16UC1", "32FC1", "rgb8"]),
       fx=st.sampled_from([0.0, 5.0, float("nan")]), with_labels=st.booleans(),
       expected_frame=st.sampled_from(["", "cam", "other"]), seed=st.integers(0, 1000))
def test_fuzzed_frames_decode_consistently_or_are_refused(sizes, color, depth, fx,
                                                          with_labels, expected_frame,
                                                          seed) -> None:
    (h0, w0), (h1, w1), (h2, w2) = sizes
    color_msg = _image(h0, w0, color, seed)
    depth_msg = _image(h1, w1, depth, seed + 1)
    K = np.array([[fx, 0.0, w0 / 2], [0.0, 5.0, h0 / 2], [0.0, 0.0, 1.0]])
    info = cv.intrinsics_to_camera_info(K, w0, h0, frame_id="cam")
    labels = _image(h2, w2, "16UC1", seed + 2) if with_labels else None
    try:
        frame = decode_frame(color_msg, depth_msg, info, labels, expected_frame=expected_frame)
    except InvalidMessage as exc:
        assert exc.reason in ("encoding", "size_mismatch", "camera_info", "frame_id",
                              "depth_empty", "depth_negative"), exc
        return
    assert frame.rgb.shape == (h0, w0, 3) and frame.depth_m.shape == (h0, w0)
    assert np.all(np.isfinite(frame.depth_m)) and np.all(frame.depth_m >= 0.0)
    assert frame.labels is None or frame.labels.shape == (h0, w0)
