"""One synchronised RGB-D set, decoded and checked as a whole into a
:class:`~ssr_ros.core.frames.PosedFrame` (posed once its pose is looked up).

:func:`decode_frame` turns the matched colour, depth, camera_info (and label image)
messages into numpy arrays and checks what only makes sense across them: the depth is
registered to the colour image (same size), the intrinsics describe that size, the label
image has that size too, and the lens distortion is one the mapping can undo. Any
failure raises
:class:`~ssr_ros.runtime.errors.InvalidMessage` with the reason counted in /diagnostics.
Pure (no rclpy).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ssr_ros.core.frames import PosedFrame
from ssr_ros.perception.proposals import Box2D
from ssr_ros.ros.conversions import (CameraIntrinsics, camera_info_to_intrinsics,
                                     compressed_to_rgb, image_to_depth_m, image_to_labels,
                                     image_to_rgb, stamp_to_s)
from ssr_ros.runtime.errors import InvalidMessage

#: Largest accepted label-names JSON [characters] and number of entries.
MAX_LABEL_NAMES_CHARS = 65536
MAX_LABEL_NAMES = 4096


def plumb_bob_coefficients(intrinsics: CameraIntrinsics) -> np.ndarray | None:
    """The distortion of ``intrinsics`` as plumb-bob (k1, k2, p1, p2, k3), or None when
    there is none (empty or all-zero ``D``: rectified images such as ``image_rect``).

    ``rational_polynomial`` whose k4..k6 are zero is plumb-bob. Raises
    :class:`InvalidMessage` ``camera_info`` for any other non-zero distortion
    (``equidistant`` fisheye, a true rational polynomial): mapping those pixels as
    pinhole would misplace objects, so rectify first (``image_proc``).
    """
    D = np.asarray(intrinsics.D, dtype=np.float64).reshape(-1)
    if D.size == 0 or not np.any(D):
        return None
    model = intrinsics.distortion_model
    if model == "plumb_bob" or (model == "rational_polynomial" and not np.any(D[5:])):
        return D[:5].copy()
    raise InvalidMessage("camera_info", f"{model} distortion {np.round(D, 4).tolist()} "
                         "cannot be undone here: rectify the images (image_proc) and "
                         "subscribe to image_rect")


def decode_frame(color_msg: Any, depth_msg: Any, info_msg: Any, labels_msg: Any = None,
                 depth_scale_m: float = 0.001, max_depth_m: float = 10.0,
                 max_pixels: int = 4096 * 4096, expected_frame: str = "") -> PosedFrame:
    """Decode and cross-check one synchronised set (colour may be a CompressedImage) into a
    frame without a pose yet (``T_map_cam`` None): ``rgb``, ``depth_m`` [m], ``K``, the
    colour image's stamp and ``frame_id``, the label image (uint16 ids) or None, and the
    plumb-bob ``dist`` or None.

    Raises :class:`InvalidMessage`: the per-message reasons of the conversions, plus
    ``size_mismatch`` (depth, labels or camera_info not of the colour image's size),
    ``camera_info`` (a distortion model other than plumb-bob, see
    :func:`plumb_bob_coefficients`) and ``frame_id`` (the colour image is not in
    ``expected_frame`` when one is configured).
    """
    frame_id = str(color_msg.header.frame_id)
    if expected_frame and frame_id != expected_frame:
        raise InvalidMessage("frame_id", f"image frame {frame_id!r}, expected "
                             f"{expected_frame!r}")
    if hasattr(color_msg, "format"):
        rgb = compressed_to_rgb(color_msg, max_pixels=max_pixels)
    else:
        rgb = image_to_rgb(color_msg, max_pixels)
    depth_m = image_to_depth_m(depth_msg, depth_scale_m, max_pixels, max_depth_m)
    height, width = rgb.shape[:2]
    if depth_m.shape != (height, width):
        raise InvalidMessage("size_mismatch", f"depth {depth_m.shape[1]}x{depth_m.shape[0]} "
                             f"is not registered to colour {width}x{height}")
    intrinsics = camera_info_to_intrinsics(info_msg)
    if not intrinsics.matches(width, height):
        raise InvalidMessage("size_mismatch", f"camera_info is for {intrinsics.width}x"
                             f"{intrinsics.height}, images are {width}x{height}")
    dist = plumb_bob_coefficients(intrinsics)
    labels = None
    if labels_msg is not None:
        labels = image_to_labels(labels_msg, max_pixels)
        if labels.shape != (height, width):
            raise InvalidMessage("size_mismatch", f"label image {labels.shape[1]}x"
                                 f"{labels.shape[0]} is not {width}x{height}")
    return PosedFrame(rgb, depth_m, np.asarray(intrinsics.K, dtype=np.float64), None,
                      stamp_to_s(color_msg.header.stamp), labels=labels, dist=dist,
                      frame_id=frame_id)


def parse_label_names_json(text: str) -> dict[int, str]:
    """The ``labels/names`` topic payload: a JSON object ``{"<id>": "<category>"}``.

    Raises :class:`InvalidMessage` ``label_names`` for anything else (size capped)."""
    if len(text) > MAX_LABEL_NAMES_CHARS:
        raise InvalidMessage("label_names", f"{len(text)} characters exceeds "
                             f"{MAX_LABEL_NAMES_CHARS}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidMessage("label_names", f"not JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or len(data) > MAX_LABEL_NAMES:
        raise InvalidMessage("label_names", "expected a JSON object of at most "
                             f"{MAX_LABEL_NAMES} id -> name entries")
    names: dict[int, str] = {}
    for key, value in data.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and 1 <= int(key) <= 65535
                and isinstance(value, str) and 0 < len(value.strip()) <= 128):
            raise InvalidMessage("label_names", f"bad entry {key!r}: {value!r}")
        names[int(key)] = value.strip()
    return names


def label_names_json(names: dict[int, str]) -> str:
    """Inverse of :func:`parse_label_names_json`."""
    return json.dumps({str(int(k)): str(v) for k, v in sorted(names.items())})


def boxes_from_labels(labels: np.ndarray, names: dict[int, str],
                      min_pixels: int = 16) -> list[Box2D]:
    """Axis-aligned bounding boxes of each named id in a label image, for the ``boxes``
    proposal source (an upstream detector's boxes drawn as filled rectangles).

    Returns one ``Box2D`` per id [px, top-left + size]; ids without a name or with fewer
    than ``min_pixels`` pixels are skipped.
    """
    out = []
    ids = np.unique(labels)
    for label_id in ids[ids > 0]:
        name = names.get(int(label_id))
        if name is None:
            continue
        rows, cols = np.nonzero(labels == label_id)
        if rows.size < min_pixels:
            continue
        x0, y0 = int(cols.min()), int(rows.min())
        out.append(Box2D(x=float(x0), y=float(y0), w=float(cols.max() - x0 + 1),
                         h=float(rows.max() - y0 + 1), label=name, score=1.0))
    return out
