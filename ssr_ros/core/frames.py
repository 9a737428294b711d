"""The posed RGB-D frame: what every producer of frames hands to every consumer.

Producers: the node (decoded camera messages plus the pose looked up at their stamp), the
simulator (:class:`ssr_ros.sim.sequence.SimFrame`), the TUM folder reader
(:class:`ssr_ros.perception.tum.TumFrame`). Consumers: the mapping pipeline, which keeps
some frames as :class:`ssr_ros.core.keyframes.Keyframe`, the model runner's keyframes, and
the player, which publishes frames on the camera topics. Those subclasses only add what is
particular to their source (an index, a file stem, integer depth); the images, the camera
and the pose are always these fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import KW_ONLY, dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class PosedFrame:
    """One RGB-D frame with its camera and pose.

    ``rgb`` (H, W, 3) uint8 RGB (None while not decoded yet, e.g. in a
    :class:`DeferredFrame`); ``depth_m`` (H, W) float32 [m], 0 = no depth; ``K`` (3, 3)
    pinhole intrinsics [px] of both images (depth registered to colour); ``T_map_cam``
    (4, 4) camera optical frame -> map, or None while the pose is not known yet (a decoded
    message set before its pose lookup, see :meth:`with_pose`); ``stamp_s`` [s].

    Optional: ``labels`` (H, W) integer instance ids (0 = none) with ``id_to_category``
    (id -> category name); ``boxes``: 2D boxes handed in with the frame
    (:class:`ssr_ros.perception.proposals.Box2D`); ``dist``: plumb-bob coefficients
    (k1, k2, p1, p2[, k3]) of unrectified images, None when rectified; ``frame_id``: the
    camera optical frame's name ("" when unknown).

    Frozen: a frame is shared between threads (the mapping worker, the model runner);
    its arrays are not copied here, so producers hand over arrays they no longer write.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    K: np.ndarray
    T_map_cam: np.ndarray | None
    stamp_s: float
    _: KW_ONLY
    labels: np.ndarray | None = None
    id_to_category: dict[int, str] | None = None
    boxes: list[Any] | None = None
    dist: np.ndarray | None = None
    frame_id: str = ""

    @property
    def height(self) -> int:
        return int(self.depth_m.shape[0])

    @property
    def width(self) -> int:
        return int(self.depth_m.shape[1])

    @property
    def position_m(self) -> np.ndarray:
        """Camera position in the map frame [m], (3,). Raises ValueError without a pose."""
        if self.T_map_cam is None:
            raise ValueError("the frame has no pose yet")
        return self.T_map_cam[:3, 3]

    def with_pose(self, T_map_cam: np.ndarray) -> "PosedFrame":
        """The same frame placed at ``T_map_cam`` (4, 4), optical frame -> map."""
        return dataclasses.replace(self, T_map_cam=T_map_cam)

    def without_labels(self) -> "PosedFrame":
        """The same frame without its label image (for a proposal source that must not see
        ground-truth instance ids, e.g. a detector run on simulated frames)."""
        return dataclasses.replace(self, labels=None, id_to_category=None)


@dataclass(frozen=True)
class DeferredFrame(PosedFrame):
    """A posed frame whose colour image and proposal inputs are not decoded yet: ``rgb``
    is None, and ``labels``, ``id_to_category`` and ``boxes`` are not set; ``depth_m``,
    ``K``, ``T_map_cam``, ``stamp_s``, ``dist`` and ``frame_id`` are final.

    ``decode`` returns the complete frame (the same depth, camera, pose and stamp, plus
    ``rgb`` and what the proposal source reads), or raises for a malformed image. A
    consumer calls it only when it needs the images: the mapping pipeline does so for a
    frame that may become a keyframe, before it changes anything, so the node decodes
    the colour and label images of keyframes only (non-keyframes are dropped after
    their depth and pose were used).

    ``depth_checked``: the producer already checked ``depth_m`` as
    :func:`~ssr_ros.core.camera.validate_depth` does (2-D float32, finite, not negative,
    some depth), so a consumer need not scan it again (the node's depth decoder makes
    those checks on every frame)."""

    decode: Callable[[], PosedFrame] = dataclasses.field(default=None, repr=False,
                                                           compare=False)
    depth_checked: bool = dataclasses.field(default=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.decode):
            raise TypeError("a DeferredFrame needs a decode callable")

