"""Image / CameraInfo / pose conversions: round trips, layout details (step, endianness),
and rejection of bad messages with a countable reason."""

from __future__ import annotations

import array
import math

import cv2
import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from hypothesis import given, settings
from hypothesis import strategies as st
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from ssr_ros.ros import conversions as cv
from ssr_ros.runtime.errors import InvalidMessage

RNG = np.random.default_rng(7)


def _rgb(h: int = 6, w: int = 5) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_encodings_give_rgb(encoding: str) -> None:
    rgb = _rgb()
    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = rgb[:, :, ::-1]
    elif encoding == "rgba8":
        pixels = np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])
    else:
        pixels = np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 9, np.uint8)])
    msg = cv.array_to_image(np.ascontiguousarray(pixels), encoding)
    np.testing.assert_array_equal(cv.image_to_rgb(msg), rgb)


def test_mono8_is_replicated_to_three_channels() -> None:
    grey = RNG.integers(0, 256, size=(4, 7), dtype=np.uint8)
    out = cv.image_to_rgb(cv.array_to_image(grey, "mono8"))
    assert out.shape == (4, 7, 3)
    np.testing.assert_array_equal(out[:, :, 1], grey)


def test_step_padding_is_ignored() -> None:
    rgb = _rgb(3, 4)
    padded = np.zeros((3, 4 * 3 + 5), np.uint8)
    padded[:, :12] = rgb.reshape(3, 12)
    padded[:, 12:] = 77
    msg = Image(height=3, width=4, encoding="rgb8", step=17)
    msg.data = array.array("B", padded.tobytes())
    np.testing.assert_array_equal(cv.image_to_rgb(msg), rgb)


def test_16uc1_depth_is_scaled_and_big_endian_is_honoured() -> None:
    depth_mm = np.array([[0, 1000], [2500, 65535]], dtype=np.uint16)
    little = cv.array_to_image(depth_mm, "16UC1")
    np.testing.assert_allclose(cv.image_to_depth_m(little, 0.001, max_depth_m=70.0),
                               [[0.0, 1.0], [2.5, 65.535]], rtol=1e-6)
    big = Image(height=2, width=2, encoding="16UC1", step=4, is_bigendian=1)
    big.data = array.array("B", depth_mm.astype(">u2").tobytes())
    np.testing.assert_allclose(cv.image_to_depth_m(big, 0.0002),
                               depth_mm.astype(np.float32) * 0.0002, rtol=1e-6)


def test_32fc1_nan_and_inf_become_no_reading() -> None:
    depth = np.array([[1.5, np.nan], [np.inf, -np.inf]], dtype=np.float32)
    out = cv.image_to_depth_m(cv.array_to_image(depth, "32FC1"))
    np.testing.assert_array_equal(out, [[1.5, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("depth, reason", [
    (np.zeros((3, 3), np.float32), "depth_empty"),
    (np.full((3, 3), np.nan, np.float32), "depth_empty"),
    (np.array([[1.0, -0.5]], np.float32), "depth_negative"),
])
def test_unusable_depth_is_rejected_with_reason(depth: np.ndarray, reason: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        cv.image_to_depth_m(cv.array_to_image(depth, "32FC1"))
    assert info.value.reason == reason


def test_bad_image_layouts_are_rejected_with_reasons() -> None:
    good = cv.array_to_image(_rgb(4, 4), "rgb8")
    short = cv.array_to_image(_rgb(4, 4), "rgb8")
    short.data = array.array("B", bytes(len(good.data) - 1))
    with pytest.raises(InvalidMessage, match="data_length"):
        cv.image_to_rgb(short)
    narrow = cv.array_to_image(_rgb(4, 4), "rgb8")
    narrow.step = 5
    with pytest.raises(InvalidMessage, match="step"):
        cv.image_to_rgb(narrow)
    unknown = cv.array_to_image(_rgb(4, 4), "rgb8")
    unknown.encoding = "yuv422"
    with pytest.raises(InvalidMessage, match="encoding"):
        cv.image_to_rgb(unknown)
    with pytest.raises(InvalidMessage, match="empty"):
        cv.image_to_rgb(Image(encoding="rgb8"))
    with pytest.raises(InvalidMessage, match="too_large"):
        cv.image_to_rgb(good, max_pixels=15)
    with pytest.raises(InvalidMessage, match="encoding"):
        cv.image_to_depth_m(good)


def test_compressed_png_decodes_to_rgb() -> None:
    rgb = _rgb(8, 9)
    ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    msg = CompressedImage(format="png")
    msg.data = array.array("B", png.tobytes())
    np.testing.assert_array_equal(cv.compressed_to_rgb(msg), rgb)
    garbage = CompressedImage(format="jpeg")
    garbage.data = array.array("B", b"not an image at all")
    with pytest.raises(InvalidMessage, match="decode"):
        cv.compressed_to_rgb(garbage)


def test_compressed_header_beyond_opencvs_pixel_limit_is_a_decode_error() -> None:
    """A PNG whose header claims 100000 x 100000 pixels makes OpenCV raise cv2.error
    (not return None): it is refused as ``decode`` like any undecodable image."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
           + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    msg = CompressedImage(format="png")
    msg.data = array.array("B", png)
    with pytest.raises(InvalidMessage, match="decode"):
        cv.compressed_to_rgb(msg)


def _camera_info(fx: float = 500.0, cx: float = 320.0, d=None) -> CameraInfo:
    K = np.array([[fx, 0.0, cx], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
    return cv.intrinsics_to_camera_info(K, 640, 480, frame_id="cam", D=d)


def test_camera_info_round_trip_gives_k_and_d() -> None:
    intr = cv.camera_info_to_intrinsics(_camera_info(d=[0.1, -0.2, 0.0, 0.0, 0.01]))
    assert intr.K[0, 0] == 500.0 and intr.K[0, 2] == 320.0
    assert intr.distortion_model == "plumb_bob"
    np.testing.assert_allclose(intr.D, [0.1, -0.2, 0.0, 0.0, 0.01])
    assert intr.matches(640, 480) and not intr.matches(320, 240)


@pytest.mark.parametrize("msg", [
    _camera_info(fx=0.0), _camera_info(fx=float("nan")), _camera_info(cx=-50.0),
    _camera_info(d=[0.1, 0.2]), CameraInfo(),
])
def test_bad_camera_info_is_rejected(msg: CameraInfo) -> None:
    with pytest.raises(InvalidMessage) as info:
        cv.camera_info_to_intrinsics(msg)
    assert info.value.reason == "camera_info"


def _binned(bin_x: int, bin_y: int, roi=(0, 0, 0, 0)) -> CameraInfo:
    msg = _camera_info()
    msg.binning_x, msg.binning_y = bin_x, bin_y
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = roi
    return msg


def _project(K: np.ndarray, xyz) -> np.ndarray:
    uvw = K @ np.asarray(xyz, dtype=np.float64)
    return uvw[:2] / uvw[2]


@pytest.mark.parametrize("bin_x, bin_y", [(0, 0), (1, 1)])
def test_binning_zero_or_one_means_full_resolution(bin_x: int, bin_y: int) -> None:
    intr = cv.camera_info_to_intrinsics(_binned(bin_x, bin_y))
    assert intr.matches(640, 480) and intr.K[0, 0] == 500.0 and intr.K[0, 2] == 320.0


def test_binned_camera_info_describes_the_binned_images() -> None:
    # A 640x480 calibration sent 2x2-binned: the images are 320x240 and a point lands
    # at half its full-resolution pixel coordinates.
    intr = cv.camera_info_to_intrinsics(_binned(2, 2))
    assert intr.matches(320, 240)
    np.testing.assert_allclose(intr.K, [[250.0, 0.0, 160.0], [0.0, 250.0, 120.0],
                                        [0.0, 0.0, 1.0]])
    full_K = cv.camera_info_to_intrinsics(_camera_info()).K
    point = [0.3, -0.2, 2.0]
    np.testing.assert_allclose(_project(intr.K, point), _project(full_K, point) / 2.0)


def test_roi_and_binning_offset_the_principal_point() -> None:
    # Sub-window 200x100 at (100, 50) of the full image, binned 2 across and 1 down.
    intr = cv.camera_info_to_intrinsics(_binned(2, 1, roi=(100, 50, 200, 100)))
    assert intr.matches(100, 100)
    full_K = cv.camera_info_to_intrinsics(_camera_info()).K
    point = [0.1, 0.05, 3.0]
    u_full, v_full = _project(full_K, point)
    np.testing.assert_allclose(_project(intr.K, point), [(u_full - 100) / 2, v_full - 50])


def test_binned_frame_is_decoded_not_dropped_as_size_mismatch() -> None:
    from ssr_ros.ros.frames import decode_frame

    stamp = cv.s_to_stamp(3.0)
    color = cv.array_to_image(np.zeros((240, 320, 3), np.uint8), "rgb8", stamp, "cam")
    depth = cv.array_to_image(np.full((240, 320), 1500, np.uint16), "16UC1", stamp, "cam")
    frame = decode_frame(color, depth, _binned(2, 2))
    assert frame.rgb.shape == (240, 320, 3) and frame.K[0, 0] == 250.0


@pytest.mark.parametrize("bin_x, roi", [
    (1, (600, 0, 100, 100)),   # beyond the right edge of the 640-wide calibration
    (1, (0, 0, 100, 0)),       # a zero-height window that is not the "full image" value
    (1000, (0, 0, 0, 0)),      # binning larger than the image
])
def test_bad_roi_or_binning_is_rejected(bin_x: int, roi) -> None:
    with pytest.raises(InvalidMessage) as info:
        cv.camera_info_to_intrinsics(_binned(bin_x, 1, roi=roi))
    assert info.value.reason == "camera_info"


def test_pose_and_odometry_to_matrix() -> None:
    T = np.eye(4)
    c, s = math.cos(0.7), math.sin(0.7)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = [1.0, -2.0, 0.5]
    ps = PoseStamped()
    ps.header.frame_id = "map"
    ps.header.stamp = cv.s_to_stamp(12.25)
    ps.pose = cv.matrix_to_pose(T)
    out, stamp_s, frame = cv.pose_stamped_to_matrix(ps)
    np.testing.assert_allclose(out, T, atol=1e-12)
    assert stamp_s == pytest.approx(12.25) and frame == "map"
    odom = Odometry()
    odom.header.frame_id = "odom"
    odom.pose.pose = cv.matrix_to_pose(T)
    np.testing.assert_allclose(cv.odometry_to_matrix(odom)[0], T, atol=1e-12)


def test_nan_and_non_unit_quaternions_are_rejected() -> None:
    ps = PoseStamped()
    ps.pose.orientation.w = 1.0
    ps.pose.position.x = float("nan")
    with pytest.raises(InvalidMessage, match="pose_nan"):
        cv.pose_stamped_to_matrix(ps)
    ps.pose.position.x = 0.0
    ps.pose.orientation.w = 2.0
    with pytest.raises(InvalidMessage, match="quaternion"):
        cv.pose_stamped_to_matrix(ps)


def test_extrinsic_from_xyz_rpy() -> None:
    T = cv.xyz_rpy_to_matrix([0.1, 0.0, 1.2, 0.0, 0.0, math.pi / 2])
    np.testing.assert_allclose(T[:3, :3] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    with pytest.raises(InvalidMessage, match="extrinsic"):
        cv.xyz_rpy_to_matrix([0.0, 1.0])


@settings(max_examples=150, deadline=None)
@given(height=st.integers(-2, 8), width=st.integers(-2, 8), step=st.integers(-4, 40),
       n_bytes=st.integers(0, 300), big=st.booleans(),
       encoding=st.sampled_from(["rgb8", "bgra8", "mono8", "16UC1", "32FC1", "mono16",
                                 "yuv422", "", "64FC1"]))
def test_fuzzed_images_raise_only_invalid_message(height, width, step, n_bytes, big,
                                                  encoding) -> None:
    msg = Image(encoding=encoding, is_bigendian=int(big))
    msg.height, msg.width, msg.step = max(height, 0), max(width, 0), max(step, 0)
    msg.data = array.array("B", RNG.integers(0, 256, n_bytes, dtype=np.uint8).tobytes())
    for convert in (cv.image_to_rgb, cv.image_to_depth_m, cv.image_to_labels):
        try:
            out = convert(msg)
        except InvalidMessage:
            continue
        assert out.shape[:2] == (msg.height, msg.width)
