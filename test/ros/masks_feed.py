"""What a segmentation node publishes for a simulated frame: a Detection2DArray of the
visible instances (tight boxes, numeric class ids named by a LabelInfo) and the
instance mask image on ``detections/masks`` (pixel k = the k-th detection, 0 = none),
beside the camera messages of :func:`~ssr_ros.ros.player.frame_messages`."""

from __future__ import annotations

import array
from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from detections_feed import category_ids, detection_array
from ssr_ros.perception.proposals import Box2D
from ssr_ros.ros.conversions import s_to_stamp
from ssr_ros.ros.player import CAMERA_FRAME, frame_messages

#: fewest visible pixels of an instance the segmentation reports
MIN_PIXELS = 80
#: pixel dtype of each mask encoding (32SC1 is not one of conversions' image encodings)
DTYPES = {"mono8": np.uint8, "8UC1": np.uint8, "mono16": np.uint16, "16UC1": np.uint16,
          "32SC1": np.int32}


def mask_image(pixels: np.ndarray, encoding: str, stamp: Any, frame_id: str) -> Image:
    """A mask ``sensor_msgs/Image`` of ``pixels`` (H, W) in ``encoding`` (little-endian,
    dense rows)."""
    pixels = np.ascontiguousarray(pixels, np.dtype(DTYPES[encoding]).newbyteorder("<"))
    msg = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding,
                is_bigendian=0, step=pixels.shape[1] * pixels.itemsize)
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    msg.data = array.array("B", pixels.tobytes())
    return msg


def instance_masks(labels: np.ndarray, category: dict[int, str]
                   ) -> tuple[list[Box2D], np.ndarray]:
    """The tight box of every instance of ``labels`` (H, W) with at least
    :data:`MIN_PIXELS` pixels, in id order, and the mask image (H, W) int64 whose pixel
    is the 1-based index of its instance's box (0 = none)."""
    ids = np.asarray(labels).astype(np.int64)
    counts = np.bincount(ids.ravel())
    boxes: list[Box2D] = []
    masks = np.zeros(ids.shape, np.int64)
    for inst in np.flatnonzero(counts >= MIN_PIXELS):
        if inst == 0:
            continue
        rows, cols = np.nonzero(ids == inst)
        x0, y0 = int(cols.min()), int(rows.min())
        boxes.append(Box2D(x0, y0, int(cols.max()) + 1 - x0, int(rows.max()) + 1 - y0,
                           label=category[int(inst)], score=0.9))
        masks[ids == inst] = len(boxes)
    return boxes, masks


def masked_messages(frame, scene, stamp_s: float, encoding: str = "mono16"
                    ) -> dict[str, Any]:
    """{"pose", "color", "depth", "camera_info", "detections", "masks"} of a sim frame,
    plus "mask_ids" (the mask image's pixels) and "boxes"."""
    stamp = s_to_stamp(stamp_s)
    msgs = [m for _, m in frame_messages(frame.without_labels(), stamp, "")]
    boxes, masks = instance_masks(frame.labels, {o.id: o.category for o in scene.objects})
    return {"pose": msgs[0], "color": msgs[1], "depth": msgs[2], "camera_info": msgs[3],
            "detections": detection_array(boxes, stamp, CAMERA_FRAME, category_ids(scene)),
            "masks": mask_image(masks, encoding, stamp, CAMERA_FRAME),
            "mask_ids": masks, "boxes": boxes}
