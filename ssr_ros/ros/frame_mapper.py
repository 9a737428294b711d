"""One synchronised camera set to the map, on the frame worker's thread: decode, look up
the pose at the frame's stamp, run the map keeper, then hand a new keyframe on.

Frame stamps must increase: a frame at or before the last mapped frame is dropped
(``invalid.stamp_backwards``) however far back it is, so a replayed bag or a reset
simulator needs ``clear_map`` (which calls :meth:`FrameMapper.forget_stamp`), a cleanup
(a reconfigured node builds a new mapper) or a restart. A frame is mapped only with a
pose at its stamp, so a stamp that jumps forward is dropped for lack of a pose
(``pose_drop.*``, see :mod:`ssr_ros.ros.pose_source`) and does not advance the last
stamp.

Lens distortion: by default the images are ``image_raw`` (unrectified), so a plumb-bob
``D`` of camera_info goes with the frame to the pipeline, which undistorts every
back-projected pixel; other non-zero distortion models are refused
(``invalid.camera_info``). With ``images_rectified`` the intrinsics are camera_info's
``P`` and ``D`` is ignored (image_proc republishes the original camera_info beside
``image_rect``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Protocol

import numpy as np

from ssr_ros.core.frames import DeferredFrame, PosedFrame
from ssr_ros.ros.diagnostics import NodeStats, ProblemLog
from ssr_ros.ros.frames import boxes_from_labels, decode_geometry, decode_images
from ssr_ros.ros.inputs import FrameSet
from ssr_ros.ros.params import NodeConfig
from ssr_ros.runtime.errors import InvalidMessage, PoseUnavailable
from ssr_ros.runtime.map_state import MapKeeper
from ssr_ros.runtime.pose_history import robot_pose_from_camera


class PoseLookup(Protocol):
    """A pose source: :class:`~ssr_ros.ros.pose_source.TopicPoseSource` or ``TfPoseSource``."""

    def lookup(self, stamp_s: float, frame_id: str, timeout_s: float) -> np.ndarray: ...


class FrameMapper:
    """Maps frame sets into ``keeper`` (see the module docstring).

    Args:
        config: the node's parameters; :attr:`config` may be replaced while running (the
            run-time parameters ``pose_timeout_s``, ``depth_scale_m``, ``max_depth_m``).
        keeper: the map's one writer.
        pose_source: gives ``T_map_cam`` at a stamp.
        stats, problems: counters and the throttled problem log.
        label_names: returns the current label id -> category names.
        on_keyframe: called with each frame that became a keyframe (publish the map, feed
            the model); exceptions are the caller's to handle.
    """

    def __init__(self, config: NodeConfig, keeper: MapKeeper, pose_source: PoseLookup,
                 stats: NodeStats, problems: ProblemLog,
                 label_names: Callable[[], dict[int, str]],
                 on_keyframe: Callable[[PosedFrame], None]) -> None:
        self.config = config
        self._keeper = keeper
        self._pose_source = pose_source
        self._stats = stats
        self._problems = problems
        self._label_names = label_names
        self._on_keyframe = on_keyframe
        self._last_stamp_s = -math.inf

    def forget_stamp(self) -> None:
        """Accept frames of any stamp again (the map was cleared)."""
        self._last_stamp_s = -math.inf

    def map(self, item: FrameSet) -> None:
        """Decode, pose and map one set; every refusal is counted, none raises.

        Before the pipeline's keyframe selector judges the frame, the depth, camera_info
        and detections are decoded and every check that needs no image pixel is made
        (:func:`~ssr_ros.ros.frames.decode_geometry`); the colour and label pixels are
        decoded, and the label ids checked, only when the frame may become a keyframe (a
        :class:`~ssr_ros.core.frames.DeferredFrame`, see
        :meth:`~ssr_ros.perception.pipeline.MappingPipeline.process`). A label image with
        an id the names do not know, or a compressed colour image that does not decode,
        is therefore counted only when its frame would have been a keyframe; on other
        frames it is dropped unread, as the selector drops those frames anyway."""
        config = self.config
        t0 = time.perf_counter()
        try:
            geometry = decode_geometry(item.color, item.depth, item.info, item.labels,
                                       depth_scale_m=config.depth_scale_m,
                                       max_depth_m=config.max_depth_m,
                                       max_pixels=config.max_image_pixels,
                                       expected_frame=config.camera_frame,
                                       rectified=config.images_rectified,
                                       detections_msg=item.detections,
                                       detection_names=item.detection_names,
                                       masks_msg=item.detection_masks)
            if geometry.stamp_s <= self._last_stamp_s:
                raise InvalidMessage("stamp_backwards", f"frame stamp {geometry.stamp_s:.3f} "
                                     f"s is not after {self._last_stamp_s:.3f} s")
            t1 = time.perf_counter()
            self._stats.add_latency("decode", t1 - t0)
            T_map_cam = self._pose_source.lookup(geometry.stamp_s,
                                                 geometry.frame_id or config.camera_frame,
                                                 config.pose_timeout_s)
        except PoseUnavailable as exc:
            self._problems.pose_drop(exc)
            return
        except InvalidMessage as exc:
            self._problems.reject(exc)
            return
        t2 = time.perf_counter()
        self._stats.add_latency("pose", t2 - t1)
        self._last_stamp_s = geometry.stamp_s
        self._keeper.set_robot_pose(robot_pose_from_camera(T_map_cam, geometry.stamp_s))
        decoded: list[PosedFrame] = []

        def decode() -> PosedFrame:
            frame = decode_images(geometry, item.color, item.labels,
                                  max_pixels=config.max_image_pixels,
                                  masks_msg=item.detection_masks)
            decoded.append(self._with_proposal_inputs(frame.with_pose(T_map_cam)))
            return decoded[-1]

        # decode_geometry's depth is float32 (H, W), finite, not negative and not empty
        # (image_to_depth_m raises otherwise): the pipeline need not scan it again.
        frame = DeferredFrame(None, geometry.depth_m, geometry.K, T_map_cam,
                              geometry.stamp_s, dist=geometry.dist,
                              frame_id=geometry.frame_id, decode=decode, depth_checked=True)
        try:
            result = self._keeper.process(frame)
        except InvalidMessage as exc:  # from decode(): a malformed colour or label image
            self._problems.reject(exc)
            return
        except ValueError as exc:
            self._problems.reject(InvalidMessage(_reason_of(exc), str(exc)))
            return
        except Exception as exc:  # the node must outlive any pipeline failure
            self._problems.failure("internal_error", f"pipeline failed on a frame: {exc!r}")
            return
        t3 = time.perf_counter()
        self._stats.count_frame(keyframe=result is not None)
        if result is None:
            return
        self._stats.add_latency("keyframe", t3 - t2)
        self._stats.count_rejections(r.reason for r in result.rejections)
        for stage, ms in result.timings_ms.items():
            self._stats.add_latency(f"pipeline.{stage}", ms / 1000.0)
        self._on_keyframe(decoded[-1])
        self._stats.add_latency("frame_to_map", time.monotonic() - item.received_s)
        # From the sensor stamp, when stamps are wall-clock time on this host (not
        # simulated or replayed time): includes transport and synchronisation.
        age_s = time.time() - geometry.stamp_s
        if 0.0 <= age_s < 60.0:
            self._stats.add_latency("stamp_to_map", age_s)

    def _with_proposal_inputs(self, frame: PosedFrame) -> PosedFrame:
        """The frame with what the configured proposal source reads: the label image and
        its names (``labels``), boxes drawn from it (``boxes``), the decoded detections'
        boxes (``detections``), or none of them."""
        source = self.config.proposal_source
        if source == "detections":
            return dataclasses.replace(frame.without_labels(), boxes=list(frame.boxes or []))
        if source == "labels" and frame.labels is not None:
            return dataclasses.replace(frame, id_to_category=dict(self._label_names()))
        if source == "boxes" and frame.labels is not None:
            return dataclasses.replace(frame, labels=None, boxes=boxes_from_labels(
                frame.labels, self._label_names()))
        return frame.without_labels()


def _reason_of(exc: Exception) -> str:
    """A short counter key for a pipeline rejection: the exception class in snake case."""
    name = type(exc).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
