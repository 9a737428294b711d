"""Instance masks of a Detection2DArray, from a label image (``detection_masks: true``).

vision_msgs 4.x (Kilted) has no mask in ``Detection2D`` and no mask message, so
segmentation nodes publish their instance masks as an image beside the array. Ours is
this convention (docs/inputs.md, "Detection masks"): a ``sensor_msgs/Image`` on
``detections/masks`` with the array's stamp, in the camera frame, of the depth image's
size; pixel value ``k > 0`` is the k-th detection of the array (1-based index into
``detections``), 0 is no object. Encodings: ``mono8``/``8UC1`` (up to 255 detections),
``mono16``/``16UC1``, ``32SC1``.

:func:`check_mask_header` runs with the frame's geometry (no pixel read);
:func:`attach_masks` reads the pixels for a keyframe and gives each box the crop of its
mask (:attr:`~ssr_ros.perception.proposals.Box2D.mask`), so the perception reads
arrays, not messages. Every refusal is an :class:`InvalidMessage` whose reason starts
with ``detection_masks_`` (``encoding``, ``layout``, ``size``, ``index``). Pure (no rclpy).
"""

from __future__ import annotations

import array
import dataclasses
from typing import Any

import numpy as np

from ssr_ros.perception.proposals import Box2D
from ssr_ros.runtime.errors import InvalidMessage

#: encoding -> pixel dtype (one channel) of the accepted mask images.
MASK_ENCODINGS: dict[str, np.dtype] = {
    "mono8": np.dtype(np.uint8), "8UC1": np.dtype(np.uint8),
    "mono16": np.dtype(np.uint16), "16UC1": np.dtype(np.uint16),
    "32SC1": np.dtype(np.int32),
}


def check_mask_header(msg: Any, width: int, height: int, max_pixels: int) -> np.dtype:
    """The checks of a mask Image that need no pixel: encoding, layout (size, stride,
    data length) and that it is ``width`` x ``height`` [px] (the depth image's size).
    Returns the pixel dtype. Raises :class:`InvalidMessage` ``detection_masks_encoding``,
    ``detection_masks_layout`` or ``detection_masks_size``."""
    encoding = str(msg.encoding)
    dtype = MASK_ENCODINGS.get(encoding)
    if dtype is None:
        raise InvalidMessage("detection_masks_encoding", f"mask encoding {encoding!r} is "
                             f"not one of {', '.join(MASK_ENCODINGS)}")
    rows, cols, step = int(msg.height), int(msg.width), int(msg.step)
    if rows <= 0 or cols <= 0 or rows * cols > max_pixels:
        raise InvalidMessage("detection_masks_layout", f"mask image size {cols}x{rows} "
                             f"(at most {max_pixels} pixels)")
    if step < cols * dtype.itemsize:
        raise InvalidMessage("detection_masks_layout", f"mask step {step} < "
                             f"{cols * dtype.itemsize} bytes per row")
    data = msg.data
    n_bytes = len(data) * (data.itemsize if isinstance(data, array.array) else 1)
    if n_bytes != step * rows:
        raise InvalidMessage("detection_masks_layout", f"mask data has {n_bytes} bytes, "
                             f"step*height is {step * rows}")
    if (cols, rows) != (width, height):
        raise InvalidMessage("detection_masks_size", f"mask image {cols}x{rows} is not the "
                             f"depth image's {width}x{height}")
    return dtype


def mask_ids(msg: Any, width: int, height: int, max_pixels: int) -> np.ndarray:
    """The mask image's pixels, (H, W) in its encoding's dtype (after
    :func:`check_mask_header`'s checks). Raises :class:`InvalidMessage` as that does."""
    dtype = check_mask_header(msg, width, height, max_pixels)
    step = int(msg.step)
    raw = np.frombuffer(msg.data, dtype=np.uint8).reshape(height, step)
    raw = raw[:, :width * dtype.itemsize]
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    return np.ascontiguousarray(raw).view(wire).astype(dtype).reshape(height, width)


def attach_masks(boxes: list[Box2D], msg: Any, width: int, height: int,
                 max_pixels: int) -> list[Box2D]:
    """``boxes`` (one per detection, in the array's order) with their masks: box k - 1
    gets the pixels of value k inside its clipped bounds as ``mask`` (bool), or None
    where it has none there (it is then lifted from its box alone). Mask pixels outside
    their detection's box are not used.

    Raises :class:`InvalidMessage` ``detection_masks_index`` for a value beyond the
    number of detections (or negative, ``32SC1``): the mask belongs to another array.
    """
    ids = mask_ids(msg, width, height, max_pixels)
    top = int(ids.max())
    if top > len(boxes) or int(ids.min()) < 0:
        raise InvalidMessage("detection_masks_index", f"mask values {int(ids.min())}.."
                             f"{top} for {len(boxes)} detections (1..{len(boxes)}, 0 = none)")
    out = []
    for k, box in enumerate(boxes, start=1):
        x0, y0, x1, y1 = box.clipped(width, height)
        crop = ids[y0:y1, x0:x1] == k
        out.append(dataclasses.replace(box, mask=crop if crop.any() else None))
    return out
