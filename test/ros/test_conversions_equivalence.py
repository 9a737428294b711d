"""The image, pose and camera_info conversions read a message once (issue 18: the depth,
pose and camera_info of every frame are converted on the node's input path) and give
what the straightforward versions give, to the byte, with the same rejection reasons.

The references below are the conversions as they were before (e39ba99..b3a73ce): a copy
of the whole image first, numpy arrays for four-number checks, ``np.allclose``."""

from __future__ import annotations

import array
import math

import numpy as np
import pytest

pytest.importorskip("sensor_msgs.msg", reason="ROS 2 message packages are not installed")

from geometry_msgs.msg import Pose  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from ssr_ros.core.geometry import rotation_from_quaternion  # noqa: E402
from ssr_ros.ros import conversions as cv  # noqa: E402
from ssr_ros.runtime.errors import InvalidMessage  # noqa: E402


# ---------------------------------------------------------------- references (as before)
def _ref_image_to_array(msg) -> np.ndarray:
    dtype, channels = cv.check_image_layout(msg)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)[:, :row_bytes]
    wire_dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ascontiguousarray(raw).view(wire_dtype).astype(dtype, copy=True)
    if channels == 1:
        return pixels.reshape(height, width)
    return pixels.reshape(height, width, channels)


def _ref_image_to_rgb(msg) -> np.ndarray:
    if msg.encoding not in cv.COLOR_ENCODINGS:
        raise InvalidMessage("encoding", "not colour")
    pixels = _ref_image_to_array(msg)
    if msg.encoding == "mono8":
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if msg.encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.ascontiguousarray(pixels[:, :, :3])


def _ref_image_to_depth_m(msg, depth_scale_m: float, max_depth_m: float) -> np.ndarray:
    if msg.encoding not in cv.DEPTH_ENCODINGS:
        raise InvalidMessage("encoding", "not depth")
    pixels = _ref_image_to_array(msg)
    if pixels.dtype == np.uint16:
        depth_m = pixels.astype(np.float32) * np.float32(depth_scale_m)
    else:
        depth_m = pixels.astype(np.float32, copy=False)
        finite = np.isfinite(depth_m)
        if np.any(depth_m[finite] < 0.0):
            raise InvalidMessage("depth_negative", "negative")
        depth_m = np.where(finite, depth_m, np.float32(0.0))
    depth_m[depth_m > max_depth_m] = 0.0
    if not np.any(depth_m > 0.0):
        raise InvalidMessage("depth_empty", "empty")
    return depth_m


def _ref_image_to_labels(msg) -> np.ndarray:
    if msg.encoding not in cv.LABEL_ENCODINGS:
        raise InvalidMessage("encoding", "not labels")
    return _ref_image_to_array(msg).astype(np.uint16, copy=False)


def _ref_pose_to_matrix(pose) -> np.ndarray:
    t = np.array([pose.position.x, pose.position.y, pose.position.z], dtype=np.float64)
    if not np.all(np.isfinite(t)):
        raise InvalidMessage("pose_nan", "position")
    if np.any(np.abs(t) > cv.MAX_POSITION_M):
        raise InvalidMessage("pose_range", "position")
    o = pose.orientation
    q = np.array([o.x, o.y, o.z, o.w], dtype=np.float64)
    if not np.all(np.isfinite(q)):
        raise InvalidMessage("pose_nan", "quaternion")
    if np.any(np.abs(q) > 2.0):
        raise InvalidMessage("quaternion", "beyond 2")
    if abs(float(np.linalg.norm(q)) - 1.0) > cv.QUATERNION_NORM_TOLERANCE:
        raise InvalidMessage("quaternion", "norm")
    T = np.eye(4)
    T[:3, 3] = t
    T[:3, :3] = rotation_from_quaternion(q)
    return T


def _outcome(fn, *args):
    """(result, None) or (None, the InvalidMessage reason)."""
    try:
        return fn(*args), None
    except InvalidMessage as exc:
        return None, exc.reason


def _assert_same(new, ref) -> None:
    (got, got_reason), (want, want_reason) = new, ref
    assert got_reason == want_reason
    if want is not None:
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()
        assert got.flags.c_contiguous and got.flags.writeable


# ---------------------------------------------------------------- random messages
def _image(rng: np.random.Generator, encoding: str, pixels: np.ndarray, pad: int,
           big_endian: bool) -> Image:
    """An Image of ``pixels`` with ``pad`` bytes after each row, in either byte order."""
    wire = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = wire.reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, rng.integers(0, 256, (rows.shape[0], pad), np.uint8)],
                            axis=1)
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                is_bigendian=int(big_endian), step=padded.shape[1])
    msg.data = array.array("B", padded.tobytes())
    return msg


def _random_depth(rng: np.random.Generator, encoding: str, shape) -> np.ndarray:
    if encoding == "32FC1":
        depth = rng.uniform(0.0, 15.0, shape).astype(np.float32)
        for value in (0.0, np.nan, np.inf, -np.inf, -0.5, 10.0, np.float32(9.99999999)):
            if rng.random() < 0.4:
                depth[rng.random(shape) < 0.05] = value
        if rng.random() < 0.1:
            depth[:] = np.nan
        return depth
    depth = rng.integers(0, 65536, shape).astype(np.uint16)
    if rng.random() < 0.5:
        depth[rng.random(shape) < 0.3] = 0
    if rng.random() < 0.1:
        depth[:] = 0
    return depth


def test_depth_decode_equals_the_copying_reference() -> None:
    rng = np.random.default_rng(18)
    for case in range(600):
        encoding = ("16UC1", "mono16", "32FC1")[case % 3]
        shape = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        msg = _image(rng, encoding, _random_depth(rng, encoding, shape),
                     pad=int(rng.choice([0, 0, 2, 6])), big_endian=bool(rng.random() < 0.3))
        scale = float(rng.choice([0.001, 0.0002, 1.0, 1e-6, 0.37]))
        max_depth = float(rng.choice([10.0, 100.0, 0.1, 9.99999999, 65.535 * scale]))
        _assert_same(_outcome(cv.image_to_depth_m, msg, scale, cv.MAX_IMAGE_PIXELS, max_depth),
                     _outcome(_ref_image_to_depth_m, msg, scale, max_depth))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "16UC1",
                                      "mono16", "8UC1", "32FC1"])
def test_pixel_decodes_equal_the_copying_reference(encoding: str) -> None:
    rng = np.random.default_rng(abs(hash(encoding)) % 2**32)
    dtype, channels = cv._ENCODINGS[encoding]
    for _ in range(40):
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
        shape = shape if channels == 1 else shape + (channels,)
        pixels = (rng.uniform(-5, 5, shape) if dtype.kind == "f"
                  else rng.integers(0, np.iinfo(dtype).max + 1, shape)).astype(dtype)
        msg = _image(rng, encoding, pixels, pad=int(rng.choice([0, 1, 4])),
                     big_endian=bool(rng.random() < 0.3))
        _assert_same(_outcome(cv.image_to_array, msg), _outcome(_ref_image_to_array, msg))
        _assert_same(_outcome(cv.image_to_rgb, msg), _outcome(_ref_image_to_rgb, msg))
        _assert_same(_outcome(cv.image_to_labels, msg), _outcome(_ref_image_to_labels, msg))
        for out in (_outcome(cv.image_to_array, msg)[0], _outcome(cv.image_to_rgb, msg)[0]):
            if out is not None:  # the result owns its pixels
                assert not np.shares_memory(out, np.frombuffer(msg.data, np.uint8))


def test_bad_layouts_keep_their_reasons() -> None:
    msg = _image(np.random.default_rng(1), "16UC1", np.ones((3, 4), np.uint16), 0, False)
    msg.data = msg.data[:-2]
    assert _outcome(cv.image_to_depth_m, msg)[1] == "data_length"
    msg = Image(height=2, width=3, encoding="16UC1", step=4, data=[0] * 8)
    assert _outcome(cv.image_to_depth_m, msg)[1] == "step"
    msg = Image(height=0, width=3, encoding="32FC1", step=12)
    assert _outcome(cv.image_to_depth_m, msg)[1] == "empty"


def _pose(values) -> Pose:
    pose = Pose()
    (pose.position.x, pose.position.y, pose.position.z, pose.orientation.x,
     pose.orientation.y, pose.orientation.z, pose.orientation.w) = (float(v) for v in values)
    return pose


def test_pose_conversion_equals_the_numpy_reference() -> None:
    rng = np.random.default_rng(7)
    specials = [math.nan, math.inf, -math.inf, 2.5, -2.0000001, 1e6, 1e6 + 1.0, -1e7]
    for _ in range(3000):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        q *= 1.0 + rng.choice([0.0, 0.0, 0.005, -0.0099, 0.0101, 0.5])
        values = np.concatenate([rng.normal(scale=float(rng.choice([1.0, 1e5])), size=3), q])
        if rng.random() < 0.3:
            values[rng.integers(0, 7)] = rng.choice(specials)
        pose = _pose(values)
        _assert_same(_outcome(cv.pose_to_matrix, pose), _outcome(_ref_pose_to_matrix, pose))


def test_pinhole_check_keeps_allclose_tolerance() -> None:
    K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
    for row, accepted in [((0.0, 0.0, 1.0), True), ((1e-8, -1e-8, 1.0 + 1e-5), True),
                          ((2e-8, 0.0, 1.0), False), ((0.0, -2e-8, 1.0), False),
                          ((0.0, 0.0, 1.0 + 1.002e-5), False), ((0.0, 0.0, 0.99998), False)]:
        candidate = K.copy()
        candidate[2] = row
        assert np.allclose(candidate[2], (0.0, 0.0, 1.0)) == accepted
        if accepted:
            assert cv._checked_pinhole(candidate, 640, 480, "K") is candidate
        else:
            with pytest.raises(InvalidMessage, match="upper-triangular"):
                cv._checked_pinhole(candidate, 640, 480, "K")
