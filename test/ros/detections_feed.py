"""Detector-like vision_msgs/Detection2DArray messages of simulated rooms, for the
detections input's tests and its acceptance measurement (issue 14).

:func:`detection_messages` turns one sim frame into the messages a camera driver plus a
detector node publish: colour, depth, camera_info (the player's
:func:`~ssr_ros.ros.player.frame_messages`), the camera pose, and a Detection2DArray of
the frame's ground-truth boxes with detector-like jitter and false positives
(:func:`~ssr_ros.eval.gt_boxes.boxes_from_instances`), class ids numeric and named by a
LabelInfo. Uses the real vision_msgs types when they import; otherwise objects with the
same attribute paths (the node's conversion reads only those), so the in-process path
can be measured before the interfaces are built.

:func:`map_sim_room` runs those messages through the node's own input path without DDS
(FrameSet -> FrameMapper -> MapKeeper, the topic pose source) and scores the map.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import numpy as np

from ssr_ros.eval.gt_boxes import BoxNoise, boxes_from_instances
from ssr_ros.ros.conversions import s_to_stamp

try:
    import vision_msgs.msg as vm
except ImportError:  # the interfaces are not built: same attribute paths, plain objects
    vm = None


def category_ids(scene) -> dict[str, int]:
    """A stable numeric class id per category of the scene (what a detector's label
    map would hold)."""
    return {name: i + 1 for i, name in enumerate(sorted({o.category for o in scene.objects}))}


def label_info(names_by_id: dict[int, str]) -> Any:
    """vision_msgs/LabelInfo of ``names_by_id``."""
    if vm is None:
        return SimpleNamespace(class_map=[SimpleNamespace(class_id=i, class_name=n)
                                          for i, n in sorted(names_by_id.items())],
                               threshold=0.0)
    return vm.LabelInfo(class_map=[vm.VisionClass(class_id=i, class_name=n)
                                   for i, n in sorted(names_by_id.items())])


def detection_array(boxes, stamp, frame_id: str, ids: dict[str, int]) -> Any:
    """Detection2DArray of ``boxes`` (Box2D, top-left + size [px]) with numeric class ids."""
    dets = []
    for box in boxes:
        cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
        class_id, score = str(ids[box.label]), float(box.score)
        if vm is None:
            hyp = SimpleNamespace(hypothesis=SimpleNamespace(class_id=class_id, score=score))
            center = SimpleNamespace(position=SimpleNamespace(x=cx, y=cy), theta=0.0)
            dets.append(SimpleNamespace(results=[hyp], bbox=SimpleNamespace(
                center=center, size_x=box.w, size_y=box.h)))
            continue
        det = vm.Detection2D()
        det.header.stamp, det.header.frame_id = stamp, frame_id
        det.bbox.center.position.x, det.bbox.center.position.y = cx, cy
        det.bbox.size_x, det.bbox.size_y = float(box.w), float(box.h)
        hyp = vm.ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = class_id, score
        det.results = [hyp]
        dets.append(det)
    if vm is None:
        return SimpleNamespace(header=SimpleNamespace(stamp=stamp, frame_id=frame_id),
                               detections=dets)
    msg = vm.Detection2DArray(detections=dets)
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    return msg


def detection_messages(frame, scene, stamp_s: float, rng: np.random.Generator,
                       noise: BoxNoise = BoxNoise()) -> dict[str, Any]:
    """{"pose", "color", "depth", "camera_info", "detections"} messages of a sim frame."""
    from ssr_ros.ros.player import CAMERA_FRAME, frame_messages

    stamp = s_to_stamp(stamp_s)
    msgs = [m for _, m in frame_messages(frame.without_labels(), stamp, "")]
    id_to_category = {o.id: o.category for o in scene.objects}
    boxes = boxes_from_instances(frame.labels, id_to_category, rng, noise)
    return {"pose": msgs[0], "color": msgs[1], "depth": msgs[2], "camera_info": msgs[3],
            "detections": detection_array(boxes, stamp, CAMERA_FRAME, category_ids(scene))}


def map_sim_room(seed: int, n_frames: int = 150, width: int = 320, height: int = 240,
                 noise: BoxNoise = BoxNoise(), rate_hz: float = 10.0) -> dict[str, Any]:
    """Map the sim room of ``seed`` from detections through the node's input path (no
    DDS) and score it with ``ssr-eval``'s matcher: recall, median centre error [m]."""
    import time

    from rclpy.parameter import Parameter  # noqa: F401  (rclpy message runtime)

    from ssr_ros.eval.run import score_map
    from ssr_ros.ros.diagnostics import NodeStats, ProblemLog
    from ssr_ros.ros.frame_mapper import FrameMapper
    from ssr_ros.ros.frames import label_info_names
    from ssr_ros.ros.inputs import FrameSet
    from ssr_ros.ros.pipeline_factory import build_pipeline_factory
    from ssr_ros.ros.pose_source import TopicPoseSource
    from ssr_ros.runtime.map_state import MapKeeper
    from ssr_ros.sim import make_scene, render_sequence

    config = _config(proposal_source="detections", pose_source="camera_pose",
                     camera_frame="camera_color_optical_frame")
    keeper = MapKeeper(build_pipeline_factory(config), config.map_frame)
    poses = TopicPoseSource(config.T_base_cam, ("map",), mode="camera_pose")
    stats = NodeStats()
    problems = ProblemLog(stats, logging.getLogger("detections_feed"), 60.0)
    mapper = FrameMapper(config, keeper, poses, stats, problems, lambda: {},
                         lambda frame: None)
    scene = make_scene(seed)
    names = label_info_names(label_info({i: n for n, i in category_ids(scene).items()}))
    seq = render_sequence(scene, n_frames=n_frames, width=width, height=height,
                          rate_hz=rate_hz, seed=seed)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for i in range(len(seq)):
        frame = seq.frame(i)
        msgs = detection_messages(frame, scene, 100.0 + i / rate_hz, rng, noise)
        poses.add_camera_pose(msgs["pose"])
        mapper.map(FrameSet(time.monotonic(), msgs["color"], msgs["depth"],
                            msgs["camera_info"], detections=msgs["detections"],
                            detection_names=names))
    seen = set(seq.first_seen)
    gt = [o for o in scene.objects if o.id in seen]
    unseen = [o for o in scene.objects if o.id not in seen]
    scored = score_map(list(keeper.snapshot.objects), gt, unseen=unseen)
    centre = scored["centre_errors_m"]
    return {"seed": seed, "recall": scored["n_matched"] / max(1, scored["n_gt"]),
            "median_centre_m": float(np.median(centre)) if centre else float("nan"),
            "max_centre_m": float(max(centre)) if centre else float("nan"),
            "n_gt": scored["n_gt"], "n_pred": scored["n_pred"],
            "missed": scored["missed"], "invalid": dict(stats.invalid),
            "pose_drops": dict(stats.pose_drops),
            "frames": len(seq), "wall_s": time.perf_counter() - t0}


def _config(**overrides: Any):
    """A NodeConfig with the declared defaults and ``overrides`` (no node needed)."""
    from ssr_ros.ros.params import PARAMETERS, read_config

    values = {name: spec.default for name, spec in PARAMETERS.items()}
    values.update(overrides)
    values["map_path"] = ""
    fake = SimpleNamespace(get_parameter=lambda n: SimpleNamespace(value=values[n]))
    return read_config(fake)
