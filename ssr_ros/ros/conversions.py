"""Conversions between ROS messages and numpy, with validation at the boundary.

Pure functions over message objects: no ``rclpy.init()`` needed. They replace
``cv_bridge`` (not installable from PyPI in a working form, see the design notes) for the
encodings a RGB-D camera publishes, and they check what cv_bridge does not: data length
against ``step * height``, row stride, endianness, size caps, and the numbers inside
camera intrinsics and poses.

Every rejection raises :class:`~ssr_ros.runtime.errors.InvalidMessage` with a short reason
code that the node counts in /diagnostics.

Conventions: colour arrays are ``(H, W, 3) uint8`` in RGB order; depth arrays are
``(H, W) float32`` metres with 0 meaning "no reading"; ``K`` is ``3x3 float64``;
poses are ``4x4 float64`` homogeneous transforms ``T_parent_child`` (child -> parent).
"""

from __future__ import annotations

import array
import math
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose
from sensor_msgs.msg import CameraInfo, Image

from ssr_ros.core.geometry import quaternion_from_rotation, rotation_from_quaternion
from ssr_ros.perception.opencv import cv2_module
from ssr_ros.runtime.errors import InvalidMessage

#: Largest image accepted by default (pixels); 4096 x 4096 covers every RGB-D camera.
MAX_IMAGE_PIXELS = 4096 * 4096
#: Largest compressed payload accepted by default [bytes].
MAX_COMPRESSED_BYTES = 32 * 1024 * 1024
#: Most distortion coefficients of any supported model (rational_polynomial has 8).
MAX_DISTORTION_COEFFICIENTS = 16
#: Tolerance on the norm of a received quaternion before it is rejected as non-unit.
QUATERNION_NORM_TOLERANCE = 1e-2
#: Largest accepted position coordinate of a received pose [m]: far beyond any map, small
#: enough that products of coordinates cannot overflow float64.
MAX_POSITION_M = 1.0e6

# encoding -> (numpy dtype of one channel, channels)
_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
LABEL_ENCODINGS = ("16UC1", "mono16", "mono8", "8UC1")


def stamp_to_s(stamp) -> float:
    """``builtin_interfaces/Time`` -> seconds (float)."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def s_to_stamp(t_s: float):
    """Seconds -> ``builtin_interfaces/Time`` (rounded to the nanosecond)."""
    if not math.isfinite(t_s) or t_s < 0.0:
        raise InvalidMessage("stamp", f"time {t_s!r} is not a finite non-negative number")
    total_ns = int(round(t_s * 1e9))
    return Time(sec=total_ns // 1_000_000_000, nanosec=total_ns % 1_000_000_000)


def check_image_layout(msg, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[np.dtype, int]:
    """The header checks of :func:`image_to_array`, without reading a pixel (O(1)):
    returns the encoding's channel dtype and channel count.

    Raises:
        InvalidMessage: ``encoding`` (unsupported), ``empty`` (zero size), ``too_large``,
            ``step`` (stride shorter than a row) or ``data_length`` (``len(data)`` is not
            ``step * height``).
    """
    encoding = str(msg.encoding)
    if encoding not in _ENCODINGS:
        raise InvalidMessage("encoding", f"unsupported image encoding {encoding!r}")
    dtype, channels = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise InvalidMessage("empty", f"image size {width}x{height}")
    if height * width > max_pixels:
        raise InvalidMessage("too_large", f"{width}x{height} exceeds {max_pixels} pixels")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise InvalidMessage("step", f"step {step} < {row_bytes} bytes per row")
    data = msg.data
    n_bytes = len(data) * (data.itemsize if isinstance(data, array.array) else 1)
    if n_bytes != step * height:
        raise InvalidMessage(
            "data_length", f"data has {n_bytes} bytes, step*height is {step * height}")
    return dtype, channels


def _wire_pixels(msg, max_pixels: int) -> tuple[np.ndarray, np.dtype]:
    """The pixels of ``sensor_msgs/Image`` ``msg`` as a view of its buffer, and the
    encoding's channel dtype (native byte order).

    The view is ``(H, W)`` for one channel or ``(H, W, C)``, in the message's byte order
    (an explicitly ordered dtype), without the ``step`` padding; it aliases the message
    (copied only when rows are padded), so callers copy before writing or keeping it. The
    converters read it once into their own result, instead of first copying the whole
    image (the depth of every frame is decoded). Raises :class:`InvalidMessage` for the
    reasons of :func:`check_image_layout`.
    """
    dtype, channels = check_image_layout(msg, max_pixels)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    if step != row_bytes:
        raw = np.ascontiguousarray(raw[:, :row_bytes])
    wire = raw.view(dtype.newbyteorder(">" if msg.is_bigendian else "<"))
    shape = (height, width) if channels == 1 else (height, width, channels)
    return wire.reshape(shape), dtype


def image_to_array(msg, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """``sensor_msgs/Image`` -> array in the message's own layout.

    Returns ``(H, W)`` for one channel or ``(H, W, C)`` otherwise, in the encoding's dtype
    and native byte order (big-endian data is swapped). ``step`` padding is removed. The
    result is a copy that does not alias the message buffer.

    Raises :class:`InvalidMessage` for the reasons of :func:`check_image_layout`.
    """
    wire, dtype = _wire_pixels(msg, max_pixels)
    return wire.astype(dtype, copy=True)


def image_to_rgb(msg, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Colour ``sensor_msgs/Image`` -> ``(H, W, 3) uint8`` RGB.

    Accepts rgb8, bgr8, rgba8, bgra8 (alpha dropped) and mono8 (grey replicated).
    Raises :class:`InvalidMessage` (``encoding`` for a non-colour encoding, and the reasons
    of :func:`image_to_array`).
    """
    if msg.encoding not in COLOR_ENCODINGS:
        raise InvalidMessage("encoding", f"{msg.encoding!r} is not a colour encoding")
    pixels, _ = _wire_pixels(msg, max_pixels)  # uint8: byte order does not apply
    # each branch makes the one copy that owns the result
    if msg.encoding == "mono8":
        return np.repeat(pixels[:, :, None], 3, axis=2)
    if msg.encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[:, :, 2::-1])
    return np.array(pixels[:, :, :3], order="C")


def image_to_depth_m(msg, depth_scale_m: float = 0.001,
                     max_pixels: int = MAX_IMAGE_PIXELS,
                     max_depth_m: float = 100.0) -> np.ndarray:
    """Depth ``sensor_msgs/Image`` -> ``(H, W) float32`` metres, 0 where there is no reading.

    16UC1/mono16 are integer units scaled by ``depth_scale_m`` (0.001 for millimetres,
    0.0002 for TUM's 5000 per metre); 0 stays 0. 32FC1 is metres (REP 118): NaN and +-inf
    mean "no reading" and become 0; values beyond ``max_depth_m`` also become 0.

    Raises:
        InvalidMessage: ``encoding``; ``depth_negative`` (a finite negative value, which no
            sensor reports); ``depth_empty`` (no valid reading at all); and the reasons
            of :func:`image_to_array`.
    """
    if msg.encoding not in DEPTH_ENCODINGS:
        raise InvalidMessage("encoding", f"{msg.encoding!r} is not a depth encoding")
    if not (math.isfinite(depth_scale_m) and depth_scale_m > 0.0):
        raise InvalidMessage("depth_scale", f"depth scale {depth_scale_m!r} must be > 0")
    # Read from the message's buffer once (every frame's depth is decoded): the integer
    # path converts and scales in one new array, the float path's np.where makes its own.
    pixels, dtype = _wire_pixels(msg, max_pixels)
    if dtype == np.uint16:
        depth_m = pixels.astype(np.float32)
        depth_m *= np.float32(depth_scale_m)
    else:
        depth_m = pixels.astype(np.float32, copy=False)  # may alias: only read here
        finite = np.isfinite(depth_m)
        if np.any(depth_m[finite] < 0.0):
            raise InvalidMessage("depth_negative", "32FC1 depth contains negative values")
        depth_m = np.where(finite, depth_m, np.float32(0.0))
    # No NaN is left, so one max decides both checks on the usual image (nothing beyond
    # max_depth_m); the mask is built only when something is.
    peak = depth_m.max()
    if peak > max_depth_m:
        depth_m[depth_m > max_depth_m] = 0.0
        has_reading = bool(np.any(depth_m > 0.0))
    else:
        has_reading = bool(peak > 0.0)
    if not has_reading:
        raise InvalidMessage("depth_empty", "depth image has no valid reading")
    return depth_m


def image_to_labels(msg, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Instance-label ``sensor_msgs/Image`` (16UC1/mono16/mono8) -> ``(H, W) uint16``,
    0 = no object."""
    if msg.encoding not in LABEL_ENCODINGS:
        raise InvalidMessage("encoding", f"{msg.encoding!r} is not a label encoding")
    pixels, _ = _wire_pixels(msg, max_pixels)
    return pixels.astype(np.uint16)  # a copy in native order, whatever the wire's


def array_to_image(pixels: np.ndarray, encoding: str, stamp=None, frame_id: str = ""):
    """numpy -> ``sensor_msgs/Image`` (little-endian, dense rows).

    ``pixels`` must match the encoding: ``(H, W, 3)`` uint8 for rgb8/bgr8 (given in that
    channel order), ``(H, W, 4)`` for rgba8/bgra8, ``(H, W)`` uint8 / uint16 / float32
    for mono8 / 16UC1 and mono16 / 32FC1.
    """
    if encoding not in _ENCODINGS:
        raise InvalidMessage("encoding", f"unsupported image encoding {encoding!r}")
    dtype, channels = _ENCODINGS[encoding]
    pixels = np.asarray(pixels)
    expected_ndim = 2 if channels == 1 else 3
    if (pixels.ndim != expected_ndim or (channels > 1 and pixels.shape[2] != channels)
            or pixels.dtype != dtype):
        raise InvalidMessage(
            "shape", f"{encoding} needs {expected_ndim}-D {dtype} with {channels} channels, "
            f"got {pixels.shape} {pixels.dtype}")
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = array.array("B", np.ascontiguousarray(pixels, dtype.newbyteorder("<"))
                           .tobytes())
    return msg


def compressed_to_rgb(msg, max_bytes: int = MAX_COMPRESSED_BYTES,
                      max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Colour ``sensor_msgs/CompressedImage`` (JPEG/PNG) -> ``(H, W, 3) uint8`` RGB.

    Raises :class:`InvalidMessage`: ``empty``, ``too_large`` (payload or decoded size) or
    ``decode`` (OpenCV cannot read it); and
    :class:`~ssr_ros.perception.opencv.OpenCvUnavailable` (an ImportError naming the
    package) when OpenCV is not installed: ``cv2`` is imported by the first call, not with
    this module (a node fed raw images never loads it).
    """
    cv2 = cv2_module("decoding a compressed colour image (sensor_msgs/CompressedImage)")
    n_bytes = len(msg.data)
    if n_bytes == 0:
        raise InvalidMessage("empty", "compressed image has no data")
    if n_bytes > max_bytes:
        raise InvalidMessage("too_large", f"{n_bytes} bytes exceeds {max_bytes}")
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    try:
        bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # e.g. a header claiming more pixels than OpenCV's limit
        raise InvalidMessage("decode", f"cannot decode format {msg.format!r}: "
                             f"{str(exc).strip().splitlines()[-1]}") from None
    if bgr is None or bgr.ndim != 3:
        raise InvalidMessage("decode", f"cannot decode format {msg.format!r}")
    if bgr.shape[0] * bgr.shape[1] > max_pixels:
        raise InvalidMessage("too_large", f"decoded {bgr.shape[1]}x{bgr.shape[0]}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics read once from a ``sensor_msgs/CameraInfo``.

    ``K`` 3x3 float64 [px] and ``width``/``height`` [px] are those of the images the
    camera actually sends: already adjusted for the message's ROI and binning (see
    :func:`camera_info_to_intrinsics`). ``D`` distortion coefficients (model
    ``distortion_model``, e.g. plumb_bob: k1, k2, t1, t2, k3; on normalised coordinates,
    so unchanged by binning and ROI); ``frame_id`` the camera optical frame.
    """

    K: np.ndarray
    D: np.ndarray
    distortion_model: str
    width: int
    height: int
    frame_id: str

    def matches(self, width: int, height: int) -> bool:
        """True when an image of ``width`` x ``height`` was taken with these intrinsics."""
        return self.width == width and self.height == height


_DISTORTION_LENGTHS = {"plumb_bob": (5,), "rational_polynomial": (8,), "equidistant": (4,),
                       "": (0,)}


def camera_info_to_intrinsics(msg, rectified: bool = False) -> CameraIntrinsics:
    """``sensor_msgs/CameraInfo`` -> :class:`CameraIntrinsics`, validated.

    Checks: width and height positive; fx, fy positive and finite; cx, cy finite and
    inside the image; last row of K is (0, 0, 1); D finite with the length its model
    needs (an empty D means no distortion for any model); binning and ROI inside the
    calibrated image.

    ``rectified``: the images were rectified (image_proc's ``image_rect``, which
    republishes the camera's original camera_info). As image_geometry does for rectified
    images, the intrinsics are then the left 3x3 of the projection matrix ``P`` (its
    fx', fy', cx', cy'; ``P``'s fourth column, a stereo baseline, does not move pixels of
    one camera) and ``D`` is ignored (returned empty): the distortion was already undone.
    ``P`` gets the same checks as ``K``; an all-zero ``P`` (a driver that never filled
    it) is refused, since guessing K would misplace every pixel of a rectified image.

    Per REP-104, ``width``/``height`` and ``K`` describe the full-resolution calibration
    while the camera may send a sub-window (``roi``, in full-resolution pixels; all zero
    means the whole image) averaged over ``binning_x`` x ``binning_y`` blocks (0 or 1 =
    none). The returned K and size are those of the images as sent:
    ``fx' = fx / bx``, ``cx' = (cx - roi.x_offset) / bx`` (likewise in y), size
    ``roi.width // bx`` x ``roi.height // by``.

    Raises :class:`InvalidMessage` with reason ``camera_info``.
    """
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise InvalidMessage("camera_info", f"image size {width}x{height}")
    K = _checked_pinhole(np.asarray(msg.k, dtype=np.float64).reshape(3, 3), width, height,
                         "K")
    if len(msg.d) > MAX_DISTORTION_COEFFICIENTS:
        raise InvalidMessage("camera_info", f"{len(msg.d)} distortion coefficients")
    D = np.asarray(msg.d, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(D)):
        raise InvalidMessage("camera_info", "D has non-finite entries")
    model = str(msg.distortion_model)
    if D.size and model in _DISTORTION_LENGTHS and D.size not in _DISTORTION_LENGTHS[model]:
        raise InvalidMessage("camera_info", f"{model} needs {_DISTORTION_LENGTHS[model]} "
                             f"coefficients, got {D.size}")
    if D.size and model not in _DISTORTION_LENGTHS and not rectified:
        raise InvalidMessage("camera_info", f"unsupported distortion model {model!r}")
    if rectified:
        P = np.asarray(msg.p, dtype=np.float64).reshape(3, 4)
        if not np.any(P):
            raise InvalidMessage("camera_info", "images_rectified is set but P is all zero: "
                                 "the camera_info carries no rectified projection")
        K = _checked_pinhole(P[:, :3].copy(), width, height, "P")
        D = np.zeros(0)
    K, width, height = _binned_roi_intrinsics(K, width, height, msg)
    return CameraIntrinsics(K=K, D=D, distortion_model=model, width=width, height=height,
                            frame_id=str(msg.header.frame_id))


def _checked_pinhole(K: np.ndarray, width: int, height: int, name: str) -> np.ndarray:
    """``K`` (3x3, or the left 3x3 of P) when it is a finite pinhole matrix of an image of
    ``width`` x ``height`` [px]; raises :class:`InvalidMessage` ``camera_info``."""
    if not np.all(np.isfinite(K)):
        raise InvalidMessage("camera_info", f"{name} has non-finite entries")
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if fx <= 0.0 or fy <= 0.0:
        raise InvalidMessage("camera_info", f"{name}: focal lengths fx={fx}, fy={fy} must "
                             "be > 0")
    if not (0.0 <= cx <= width and 0.0 <= cy <= height):
        raise InvalidMessage("camera_info",
                             f"{name}: principal point ({cx}, {cy}) outside {width}x{height}")
    # np.allclose(K[2], (0, 0, 1)) spelled out for finite K (|a - b| <= 1e-8 + 1e-5 |b|):
    # camera_info is checked on every frame, and allclose's generic path cost most of it
    if (abs(K[2, 0]) > 1e-8 or abs(K[2, 1]) > 1e-8 or abs(K[2, 2] - 1.0) > 1e-8 + 1e-5
            or K[1, 0] != 0.0):
        raise InvalidMessage("camera_info", f"{name} is not an upper-triangular pinhole "
                             "matrix")
    return K


def _binned_roi_intrinsics(K: np.ndarray, width: int, height: int,
                           msg) -> tuple[np.ndarray, int, int]:
    """K and image size [px] of the images sent under ``msg``'s ROI and binning."""
    bin_x, bin_y = int(msg.binning_x) or 1, int(msg.binning_y) or 1
    roi = msg.roi
    x0, y0, roi_w, roi_h = (int(roi.x_offset), int(roi.y_offset), int(roi.width),
                            int(roi.height))
    if (x0, y0, roi_w, roi_h) == (0, 0, 0, 0):
        roi_w, roi_h = width, height
    elif roi_w <= 0 or roi_h <= 0 or x0 + roi_w > width or y0 + roi_h > height:
        raise InvalidMessage("camera_info", f"roi {roi_w}x{roi_h}+{x0}+{y0} is not inside "
                             f"the calibrated {width}x{height} image")
    out_w, out_h = roi_w // bin_x, roi_h // bin_y
    if out_w < 1 or out_h < 1:
        raise InvalidMessage("camera_info", f"binning {bin_x}x{bin_y} leaves no pixel of "
                             f"the {roi_w}x{roi_h} region")
    if (bin_x, bin_y, roi_w, roi_h) == (1, 1, width, height):
        return K, width, height
    K = K.copy()
    K[0, 0] /= bin_x
    K[0, 1] /= bin_x
    K[0, 2] = (K[0, 2] - x0) / bin_x
    K[1, 1] /= bin_y
    K[1, 2] = (K[1, 2] - y0) / bin_y
    return K, out_w, out_h


def intrinsics_to_camera_info(K: np.ndarray, width: int, height: int, stamp=None,
                              frame_id: str = "", D: np.ndarray | None = None):
    """K (3x3) and image size -> ``sensor_msgs/CameraInfo`` (plumb_bob, P = [K | 0])."""
    K = np.asarray(K, dtype=np.float64).reshape(3, 3)
    msg = CameraInfo()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [float(v) for v in (np.zeros(5) if D is None else np.asarray(D).reshape(-1))]
    msg.k = [float(v) for v in K.reshape(-1)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    P = np.zeros((3, 4))
    P[:, :3] = K
    msg.p = [float(v) for v in P.reshape(-1)]
    return msg


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> 3x3 rotation matrix.

    Raises :class:`InvalidMessage` ``pose_nan`` for non-finite input and ``quaternion``
    when the norm is off 1 by more than :data:`QUATERNION_NORM_TOLERANCE` (a sender bug
    that silently renormalising would hide); within the tolerance it is renormalised.
    """
    # Python floats, not a numpy array: a pose arrives with every frame and the checks
    # are four numbers (numpy's per-call overhead was most of the input thread's pose work)
    q = (float(x), float(y), float(z), float(w))
    if not all(math.isfinite(v) for v in q):
        raise InvalidMessage("pose_nan", "quaternion has non-finite entries")
    if any(abs(v) > 2.0 for v in q):
        raise InvalidMessage("quaternion", "quaternion has entries beyond +-2")
    norm = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise InvalidMessage("quaternion", f"quaternion norm {norm:.4f} is not 1")
    return rotation_from_quaternion(np.array(q))


def _checked_position(x: float, y: float, z: float, what: str) -> tuple[float, float, float]:
    """(x, y, z) [m] as floats, or :class:`InvalidMessage` ``pose_nan`` / ``pose_range``."""
    t = (float(x), float(y), float(z))
    if not all(math.isfinite(v) for v in t):
        raise InvalidMessage("pose_nan", f"{what} has non-finite entries")
    if any(abs(v) > MAX_POSITION_M for v in t):
        raise InvalidMessage("pose_range", f"{what} beyond {MAX_POSITION_M:g} m")
    return t


def pose_to_matrix(pose) -> np.ndarray:
    """``geometry_msgs/Pose`` -> 4x4 float64 ``T_parent_child``.

    Raises :class:`InvalidMessage` ``pose_nan`` / ``pose_range`` (a coordinate beyond
    :data:`MAX_POSITION_M`) / ``quaternion``.
    """
    return _rigid_matrix(pose.position, pose.orientation, "position")


def matrix_to_pose(T: np.ndarray):
    """4x4 ``T_parent_child`` -> ``geometry_msgs/Pose``."""
    T = np.asarray(T, dtype=np.float64)
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in T[:3, 3])
    qx, qy, qz, qw = quaternion_from_rotation(T[:3, :3])
    pose.orientation.x, pose.orientation.y = float(qx), float(qy)
    pose.orientation.z, pose.orientation.w = float(qz), float(qw)
    return pose


def pose_stamped_to_matrix(msg) -> tuple[np.ndarray, float, str]:
    """``geometry_msgs/PoseStamped`` -> (``T_frame_child`` 4x4, stamp [s], frame_id)."""
    return pose_to_matrix(msg.pose), stamp_to_s(msg.header.stamp), str(msg.header.frame_id)


def odometry_to_matrix(msg) -> tuple[np.ndarray, float, str]:
    """``nav_msgs/Odometry`` -> (``T_frame_child`` 4x4, stamp [s], frame_id).

    The pose is that of ``child_frame_id`` (the robot base) in ``header.frame_id``.
    """
    return (pose_to_matrix(msg.pose.pose), stamp_to_s(msg.header.stamp),
            str(msg.header.frame_id))


def transform_to_matrix(transform) -> np.ndarray:
    """``geometry_msgs/Transform`` -> 4x4 float64."""
    return _rigid_matrix(transform.translation, transform.rotation, "translation")


def _rigid_matrix(t, q, what: str) -> np.ndarray:
    """4x4 from a message's x/y/z translation and x/y/z/w rotation, both validated."""
    T = np.eye(4)
    T[:3, 3] = _checked_position(t.x, t.y, t.z, what)
    T[:3, :3] = quaternion_to_matrix(q.x, q.y, q.z, q.w)
    return T


def xyz_rpy_to_matrix(values) -> np.ndarray:
    """[x, y, z, roll, pitch, yaw] (m, rad; fixed-axis roll about x, then pitch about y,
    then yaw about z) -> 4x4 float64. Used for the static base -> camera extrinsic."""
    vals = np.asarray(values, dtype=np.float64).reshape(-1)
    if vals.size != 6 or not np.all(np.isfinite(vals)):
        raise InvalidMessage("extrinsic", f"need 6 finite numbers, got {list(vals)}")
    x, y, z, roll, pitch, yaw = vals
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    Rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    Ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    Rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = Rz @ Ry @ Rx
    T[:3, 3] = (x, y, z)
    return T
