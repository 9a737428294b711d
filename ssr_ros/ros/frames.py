"""One synchronised RGB-D set, decoded and checked as a whole into a
:class:`~ssr_ros.core.frames.PosedFrame` (posed once its pose is looked up).

:func:`decode_frame` turns the matched colour, depth, camera_info (and label image)
messages into numpy arrays and checks what only makes sense across them: every message
is in the camera optical frame (``camera_frame``, or the colour image's frame when none
is configured), the depth is registered to the colour image (same size), the intrinsics
describe that size, the label image has that size too, the detections' boxes lie in it
(their instance mask image, :mod:`~ssr_ros.ros.detection_masks`, has its size), and
the lens distortion is one the mapping can undo (or the images are rectified: then
``P`` gives the intrinsics and ``D`` is ignored, as image_geometry does). Any failure
raises :class:`~ssr_ros.runtime.errors.InvalidMessage` with the reason counted in
/diagnostics. It works in two halves, :func:`decode_geometry` (frame ids, depth,
intrinsics, the image sizes an uncompressed message states) and :func:`decode_images`
(colour and label pixels, detections), which the node calls apart: the keyframe selector
decides on the first, and only keyframes are decoded further.
Pure (no rclpy).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from ssr_ros.core.frames import PosedFrame
from ssr_ros.perception.proposals import Box2D
from ssr_ros.ros.conversions import (COLOR_ENCODINGS, LABEL_ENCODINGS, CameraIntrinsics,
                                     camera_info_to_intrinsics, check_image_layout,
                                     compressed_to_rgb, image_to_depth_m, image_to_labels,
                                     image_to_rgb, stamp_to_s)
from ssr_ros.ros.detection_masks import attach_masks, check_mask_header
from ssr_ros.runtime.errors import InvalidMessage

#: Most detections accepted in one Detection2DArray.
MAX_DETECTIONS = 1024
#: Longest accepted class name or class id of a detection [characters].
MAX_CLASS_CHARS = 128

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
                 max_pixels: int = 4096 * 4096, expected_frame: str = "",
                 rectified: bool = False, detections_msg: Any = None,
                 detection_names: dict[int, str] | None = None,
                 masks_msg: Any = None) -> PosedFrame:
    """Decode and cross-check one synchronised set (colour may be a CompressedImage) into a
    frame without a pose yet (``T_map_cam`` None): ``rgb``, ``depth_m`` [m], ``K``, the
    colour image's stamp and ``frame_id``, the label image (uint16 ids) or None, the
    plumb-bob ``dist`` or None, and the boxes of a ``vision_msgs/Detection2DArray`` (see
    :func:`detections_to_boxes`, ``detection_names`` names numeric class ids) or None,
    each with its mask when ``masks_msg`` (the detections' instance mask image, see
    :mod:`~ssr_ros.ros.detection_masks`) is given.

    The same as :func:`decode_images` of :func:`decode_geometry`: the node calls the two
    apart, so that a frame the keyframe selector drops is never decoded past its depth.

    ``rectified``: the images are rectified, so ``K`` is the left 3x3 of camera_info's
    ``P`` and its ``D`` is ignored (see
    :func:`~ssr_ros.ros.conversions.camera_info_to_intrinsics`).

    Raises :class:`InvalidMessage`: the per-message reasons of the conversions, plus
    ``size_mismatch`` (depth, labels or camera_info not of the colour image's size),
    ``camera_info`` (a distortion model other than plumb-bob on unrectified images, see
    :func:`plumb_bob_coefficients`), ``frame_id`` (the colour image is not in
    ``expected_frame`` when one is configured) and, per input, ``depth_frame_id``,
    ``camera_info_frame_id``, ``labels_frame_id``, ``detections_frame_id`` (that message
    is not in the camera frame: ``expected_frame``, or the colour image's frame when none
    is configured; depth registered in another optical frame must be registered to the
    colour camera first, e.g. by the driver's ``align_depth``), the detection
    reasons of :func:`detections_to_boxes`, and for the mask image
    ``detection_masks_frame_id`` and the ``detection_masks_*`` reasons of
    :mod:`~ssr_ros.ros.detection_masks`.
    """
    geometry = decode_geometry(color_msg, depth_msg, info_msg, labels_msg,
                               depth_scale_m=depth_scale_m, max_depth_m=max_depth_m,
                               max_pixels=max_pixels, expected_frame=expected_frame,
                               rectified=rectified, detections_msg=detections_msg,
                               detection_names=detection_names, masks_msg=masks_msg)
    return decode_images(geometry, color_msg, labels_msg, max_pixels=max_pixels,
                         masks_msg=masks_msg)


def decode_geometry(color_msg: Any, depth_msg: Any, info_msg: Any, labels_msg: Any = None,
                    depth_scale_m: float = 0.001, max_depth_m: float = 10.0,
                    max_pixels: int = 4096 * 4096, expected_frame: str = "",
                    rectified: bool = False, detections_msg: Any = None,
                    detection_names: dict[int, str] | None = None,
                    masks_msg: Any = None) -> PosedFrame:
    """The first half of :func:`decode_frame`: what the keyframe selector reads, and every
    check that needs no image pixel.

    Checks every message's frame id, decodes the depth image [m] and the intrinsics and
    checks them against each other; of the colour and label images (uncompressed) all
    that needs no pixel is checked: encoding, size, stride and data length, and that the
    size is the depth's. Their pixels are not read (nor is a compressed colour image at
    all): a label id the label source does not know is found when the frame is decoded
    for a keyframe. The detections (a few boxes) are parsed and checked here. Returns a
    frame without a pose and with ``rgb`` and ``labels`` None: ``depth_m``, ``K``,
    ``dist``, ``boxes`` (of the detections, or None), the colour image's stamp and
    ``frame_id``. Raises :class:`InvalidMessage` for the reasons of
    :func:`decode_frame` that concern these parts.
    """
    frame_id = str(color_msg.header.frame_id)
    if expected_frame and frame_id != expected_frame:
        raise InvalidMessage("frame_id", f"image frame {frame_id!r}, expected "
                             f"{expected_frame!r}")
    camera_frame = expected_frame or frame_id
    for name, msg in (("depth", depth_msg), ("camera_info", info_msg),
                      ("labels", labels_msg), ("detections", detections_msg),
                      ("detection_masks", masks_msg)):
        if msg is not None and str(msg.header.frame_id) != camera_frame:
            raise InvalidMessage(f"{name}_frame_id", f"{name} in frame "
                                 f"{str(msg.header.frame_id)!r}, the images are in "
                                 f"{camera_frame!r}")
    if not hasattr(color_msg, "format"):  # a CompressedImage is checked when decoded
        _check_header(color_msg, COLOR_ENCODINGS, "colour", max_pixels)
    depth_m = image_to_depth_m(depth_msg, depth_scale_m, max_pixels, max_depth_m)
    height, width = depth_m.shape
    if not hasattr(color_msg, "format") and \
            (int(color_msg.width), int(color_msg.height)) != (width, height):
        raise InvalidMessage("size_mismatch", f"depth {width}x{height} is not registered "
                             f"to colour {int(color_msg.width)}x{int(color_msg.height)}")
    intrinsics = camera_info_to_intrinsics(info_msg, rectified=rectified)
    if not intrinsics.matches(width, height):
        raise InvalidMessage("size_mismatch", f"camera_info is for {intrinsics.width}x"
                             f"{intrinsics.height}, images are {width}x{height}")
    dist = None if rectified else plumb_bob_coefficients(intrinsics)
    if labels_msg is not None:
        _check_header(labels_msg, LABEL_ENCODINGS, "label", max_pixels)
        if (int(labels_msg.width), int(labels_msg.height)) != (width, height):
            raise InvalidMessage("size_mismatch", f"label image {int(labels_msg.width)}x"
                                 f"{int(labels_msg.height)} is not {width}x{height}")
    if masks_msg is not None:
        check_mask_header(masks_msg, width, height, max_pixels)
    boxes = None
    if detections_msg is not None:
        boxes = detections_to_boxes(detections_msg, width, height, detection_names or {})
    return PosedFrame(None, depth_m, np.asarray(intrinsics.K, dtype=np.float64), None,
                      stamp_to_s(color_msg.header.stamp), dist=dist, frame_id=frame_id,
                      boxes=boxes)


def _check_header(msg: Any, encodings: tuple[str, ...], what: str, max_pixels: int) -> None:
    """The checks of an Image that need no pixel: encoding, size, stride, data length."""
    if msg.encoding not in encodings:
        raise InvalidMessage("encoding", f"{msg.encoding!r} is not a {what} encoding")
    check_image_layout(msg, max_pixels)


def decode_images(geometry: PosedFrame, color_msg: Any, labels_msg: Any = None,
                  max_pixels: int = 4096 * 4096, masks_msg: Any = None) -> PosedFrame:
    """The second half of :func:`decode_frame`: ``geometry`` (from
    :func:`decode_geometry`, posed or not) with its colour and label images decoded
    (``rgb``, ``labels``) and checked against its size, and its boxes given their masks
    from ``masks_msg`` when both are there
    (:func:`~ssr_ros.ros.detection_masks.attach_masks`). Raises :class:`InvalidMessage`
    for the reasons of :func:`decode_frame` that concern these images."""
    height, width = geometry.depth_m.shape
    if hasattr(color_msg, "format"):
        rgb = compressed_to_rgb(color_msg, max_pixels=max_pixels)
    else:
        rgb = image_to_rgb(color_msg, max_pixels)
    if rgb.shape[:2] != (height, width):
        raise InvalidMessage("size_mismatch", f"depth {width}x{height} is not registered "
                             f"to colour {rgb.shape[1]}x{rgb.shape[0]}")
    labels = None
    if labels_msg is not None:
        labels = image_to_labels(labels_msg, max_pixels)
        if labels.shape != (height, width):
            raise InvalidMessage("size_mismatch", f"label image {labels.shape[1]}x"
                                 f"{labels.shape[0]} is not {width}x{height}")
    boxes = geometry.boxes
    if masks_msg is not None and boxes is not None:
        boxes = attach_masks(boxes, masks_msg, width, height, max_pixels)
    return dataclasses.replace(geometry, rgb=rgb, labels=labels, boxes=boxes)


def detections_to_boxes(msg: Any, width: int, height: int,
                        names: dict[int, str]) -> list[Box2D]:
    """A ``vision_msgs/Detection2DArray`` -> the ``boxes`` proposal source's boxes.

    Each detection's best-scoring hypothesis gives the label and score (kept; no
    hypothesis: an unlabelled box of score 1, given the source's default label). A
    ``class_id`` of digits is a numeric id named by ``names`` (from
    ``vision_msgs/LabelInfo``); any other ``class_id`` is the class name. The box is
    ``bbox`` (centre [px] and size [px]); a rotated box (``theta`` [rad]) becomes the
    axis-aligned box around it. Boxes are in the image of ``width`` x ``height`` [px].

    Raises :class:`InvalidMessage` ``detections`` (more than :data:`MAX_DETECTIONS`, a
    non-finite or empty box, a box outside the image, a score outside [0, 1], an
    over-long class) or ``detection_class`` (a numeric class id that ``names`` does not
    name: publish a LabelInfo on ``detections/label_info``); one bad detection rejects
    the whole set, as a bad pixel buffer rejects an image.
    """
    detections = list(msg.detections)
    if len(detections) > MAX_DETECTIONS:
        raise InvalidMessage("detections", f"{len(detections)} detections exceeds "
                             f"{MAX_DETECTIONS}")
    boxes = []
    for index, det in enumerate(detections):
        label, score = _best_hypothesis(det, names, index)
        bbox = det.bbox
        cx, cy = float(bbox.center.position.x), float(bbox.center.position.y)
        sx, sy, theta = float(bbox.size_x), float(bbox.size_y), float(bbox.center.theta)
        if not all(math.isfinite(v) for v in (cx, cy, sx, sy, theta, score)):
            raise InvalidMessage("detections", f"detection {index} has non-finite values")
        if sx <= 0.0 or sy <= 0.0:
            raise InvalidMessage("detections", f"detection {index} has no area "
                                 f"({sx} x {sy} px)")
        if not 0.0 <= score <= 1.0:
            raise InvalidMessage("detections", f"detection {index} score {score} is "
                                 "outside [0, 1]")
        c, s = abs(math.cos(theta)), abs(math.sin(theta))
        w, h = sx * c + sy * s, sx * s + sy * c
        x0, y0 = cx - w / 2.0, cy - h / 2.0
        if x0 >= width or y0 >= height or x0 + w <= 0.0 or y0 + h <= 0.0:
            raise InvalidMessage("detections", f"detection {index} box lies outside the "
                                 f"{width}x{height} image")
        boxes.append(Box2D(x=x0, y=y0, w=w, h=h, label=label, score=score))
    return boxes


def _best_hypothesis(det: Any, names: dict[int, str], index: int) -> tuple[str, float]:
    """(class name, score) of a detection's best hypothesis; ("", 1.0) without one."""
    results = list(det.results)
    if not results:
        return "", 1.0
    best = max(results, key=lambda r: float(r.hypothesis.score))
    class_id = str(best.hypothesis.class_id).strip()
    score = float(best.hypothesis.score)
    if len(class_id) > MAX_CLASS_CHARS:
        raise InvalidMessage("detections", f"detection {index} class id is longer than "
                             f"{MAX_CLASS_CHARS} characters")
    if class_id.isascii() and class_id.isdigit():
        name = names.get(int(class_id))
        if name is None:
            raise InvalidMessage("detection_class", f"detection {index} has numeric class "
                                 f"id {class_id} and no LabelInfo names it")
        return name, score
    return class_id, score


def label_info_names(msg: Any) -> dict[int, str]:
    """A ``vision_msgs/LabelInfo`` -> {class id: class name}.

    Raises :class:`InvalidMessage` ``label_info`` for more than :data:`MAX_LABEL_NAMES`
    classes, an empty or over-long name, or a repeated id."""
    classes = list(msg.class_map)
    if len(classes) > MAX_LABEL_NAMES:
        raise InvalidMessage("label_info", f"{len(classes)} classes exceeds "
                             f"{MAX_LABEL_NAMES}")
    names: dict[int, str] = {}
    for entry in classes:
        class_id, name = int(entry.class_id), str(entry.class_name).strip()
        if not 0 < len(name) <= MAX_CLASS_CHARS:
            raise InvalidMessage("label_info", f"class {class_id} has name {name!r}")
        if class_id in names:
            raise InvalidMessage("label_info", f"class id {class_id} appears twice")
        names[class_id] = name
    return names


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
