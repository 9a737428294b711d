"""From the node's typed config to the mapping pipeline and the query records.

Keeps the node file free of perception/core configuration details: which parameter
feeds which part of ``PipelineConfig``, and how a size-checked ``SpatialQuery`` request
becomes a core ``QueryRequest``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ssr_ros.core.keyframes import KeyframeSelectorConfig
from ssr_ros.core.query_types import QueryKind, QueryRequest
from ssr_ros.perception.lifting import LiftingConfig
from ssr_ros.perception.onnx_detector import COCO80_LABELS, OnnxDetectorConfig, file_sha256
from ssr_ros.perception.opencv import OpenCvUnavailable, cv2_module
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
from ssr_ros.perception.priors import SIZE_PRIORS_M
from ssr_ros.perception.proposals import (COCO_TF_LABELS, DetectorConfig,
                                          DetectorModelError, DetectorSource)
from ssr_ros.runtime.errors import ConfigError, InvalidMessage
from ssr_ros.ros.params import NodeConfig


def pipeline_config(config: NodeConfig) -> PipelineConfig:
    """The ``PipelineConfig`` the node's parameters describe (raises ValueError when a
    part rejects its values)."""
    selector = KeyframeSelectorConfig(
        min_translation_m=config.keyframe_min_translation_m,
        min_rotation_rad=math.radians(config.keyframe_min_rotation_deg),
        max_interval_s=config.keyframe_max_interval_s)
    object_map = dataclasses.replace(PipelineConfig().object_map,
                                     max_objects=config.max_objects,
                                     eviction_keep_radius_m=config.eviction_keep_radius_m)
    lifting = LiftingConfig(min_valid_fraction=config.min_valid_depth_fraction,
                            max_depth_m=config.max_object_depth_m,
                            min_points=config.min_object_points,
                            min_extent_m=config.min_object_extent_m)
    # Decoded detections reach the pipeline as the frame's boxes: the boxes source.
    source = "boxes" if config.proposal_source == "detections" else config.proposal_source
    # detector_* values matter (and are refused) only where the detector runs
    detector = detector_config(config) if source == "detector" else DetectorConfig()
    return PipelineConfig(source=source, selector=selector,
                          keyframe_capacity=keyframe_capacity(config),
                          detector=detector, lifting=lifting, object_map=object_map)


def detector_config(config: NodeConfig) -> DetectorConfig:
    """The ``DetectorConfig`` of the ``detector_*`` parameters (see ``params.py``).

    Raises :class:`ConfigError` naming the parameter: ``detector_backend onnx`` without
    ``detector_model_path``, or values the detector's config refuses."""
    names = config.detector_class_names
    common = {"score_threshold": config.detector_score_threshold,
              "nms_threshold": config.detector_nms_iou}
    if config.detector_backend == "opencv":
        return DetectorConfig(model_path=config.detector_model_path or None,
                              labels=names or COCO_TF_LABELS,
                              input_size=config.detector_input_size or (300, 300), **common)
    if not config.detector_model_path:
        raise ConfigError("detector_backend onnx needs detector_model_path (an .onnx file)")
    try:
        onnx = OnnxDetectorConfig(model_path=config.detector_model_path,
                                  sha256=config.detector_sha256,
                                  output_format=config.detector_output_format,
                                  class_names=names or COCO80_LABELS,
                                  input_size=config.detector_input_size,
                                  device=config.detector_device,
                                  providers=config.detector_providers, **common)
    except ValueError as exc:
        raise ConfigError(f"detector_* parameters: {exc}") from exc
    return DetectorConfig(backend="onnx", onnx=onnx)


def build_detector(config: NodeConfig, stride: int) -> DetectorSource:
    """The node's detector (object pixels sampled every ``stride`` px), loaded and run
    once on a grey image, so that everything a detector can get wrong fails the
    configure transition with the parameter to fix rather than every keyframe later.
    Raises :class:`ConfigError`."""
    detector = detector_config(config)
    path = config.detector_model_path
    if path and not Path(path).is_file():
        raise ConfigError(f"detector_model_path {path!r} is not a file")
    if path and config.detector_sha256:
        # the ONNX loader checks too; here both backends get the check and the name
        actual = file_sha256(path)
        if actual != config.detector_sha256:
            raise ConfigError(f"detector_sha256: {path!r} has SHA-256 {actual}, "
                              f"expected {config.detector_sha256}")
    if detector.backend == "onnx" and config.detector_providers:
        missing = _unavailable_providers(config.detector_providers)
        if missing:
            raise ConfigError(f"detector_providers {missing} are not available in this "
                              f"onnxruntime")
    cv2 = cv2_module("proposal_source detector")  # loaded by require_opencv already
    try:
        source = DetectorSource(detector, stride=stride)
    except DetectorModelError as exc:
        raise ConfigError(f"detector_model_path {path or '(bundled)'!r} cannot be loaded "
                          f"({exc}); check detector_backend and detector_device") from exc
    try:
        source.detect(np.full((240, 320, 3), 114, np.uint8))
    except (DetectorModelError, ValueError, cv2.error) as exc:
        raise ConfigError(
            f"detector_model_path {path or '(bundled)'!r} does not run as configured "
            f"({exc}); check detector_class_names ({len(config.detector_class_names)} "
            f"given), detector_output_format and detector_input_size") from exc
    return source


def require_opencv(config: NodeConfig) -> None:
    """Import OpenCV now when the parameters need it: compressed colour images
    (``use_compressed``) and the box-based proposal sources (``detector``, ``boxes``,
    ``detections``). The rest of the node never imports it (about 16 MiB,
    :mod:`ssr_ros.perception.opencv`). Importing it here, at configure, means the first
    compressed frame or keyframe with boxes does not wait for the import, and a missing
    install fails the transition. Raises :class:`ConfigError` naming the parameter and the
    package to install."""
    needs = []
    if config.use_compressed:
        needs.append("use_compressed: true")
    if config.proposal_source in ("detector", "boxes", "detections"):
        needs.append(f"proposal_source {config.proposal_source}")
    if not needs:
        return
    try:
        cv2_module(" and ".join(needs))
    except OpenCvUnavailable as exc:
        raise ConfigError(str(exc)) from exc


def _unavailable_providers(providers: tuple[str, ...]) -> list[str]:
    """The named onnxruntime execution providers this install does not have."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ConfigError("detector_backend onnx needs onnxruntime (pip install "
                          "onnxruntime)") from exc
    available = set(ort.get_available_providers())
    return [p for p in providers if p not in available]


def keyframe_capacity(config: NodeConfig) -> int:
    """Keyframe images the pipeline keeps: none without a model (nothing reads them; the
    model runner keeps its own window), else the model's window ``model.max_keyframes``
    (at least 2), never more than ``keyframe_buffer_size``."""
    if not config.model.path:
        return 0
    return max(2, min(config.keyframe_buffer_size, config.model.max_keyframes))


def query_vocabulary(config: NodeConfig) -> tuple[str, ...]:
    """The categories this node's perception can report, for the query engine's rule on
    absent names (``ssr_ros.core.queries``): "how many chairs" with no chair mapped is
    0 when "chair" is here, ``UNKNOWN_OBJECT`` for a name outside it (a typo).

    The categories with a size prior (what the lifting knows how to size) and, with the
    detector source, every class the detector can output."""
    words = set(SIZE_PRIORS_M)
    if config.proposal_source == "detector":
        detector = detector_config(config)
        names = detector.onnx.class_names if detector.backend == "onnx" else detector.labels
        words.update(name for name in names if name)
    return tuple(sorted(words))


def build_pipeline_factory(config: NodeConfig) -> Callable[[], MappingPipeline]:
    """A factory of fresh, empty pipelines for ``config`` (validated once here; raises
    :class:`ConfigError` naming the parameter). With the detector source every pipeline
    shares one detector, loaded and tried here: ``clear_map`` and ``load_map`` build new
    pipelines and must not load the network again. OpenCV is imported here when the
    parameters need it (:func:`require_opencv`)."""
    require_opencv(config)
    try:
        pipe_config = pipeline_config(config)
    except ValueError as exc:  # ConfigError is one, already naming its parameter
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"pipeline parameters: {exc}") from exc
    if pipe_config.source != "detector":
        return lambda: MappingPipeline(pipe_config)
    detector = build_detector(config, pipe_config.label_stride)
    return lambda: MappingPipeline(pipe_config, source=detector)


def query_request(fields: dict[str, Any]) -> QueryRequest:
    """Size-checked request fields (see ``messages.request_fields``) -> ``QueryRequest``.

    For a plain question (KIND_AUTO / KIND_FREE) the ``candidates`` are the answer
    options of a multiple-choice question, which ``ssr_ros.eval.adapter.answer_request``
    checks and picks from; the reader takes the names from the question text.

    Raises :class:`InvalidMessage` ``unknown_kind`` for a kind outside the srv's list."""
    try:
        kind = QueryKind(fields["kind"])
    except ValueError as exc:
        raise InvalidMessage("unknown_kind", f"unknown query kind {fields['kind']}") from exc
    return QueryRequest(kind=kind, target=fields["target"], reference=fields["reference"],
                        facing=fields["facing"], candidates=list(fields["candidates"]),
                        question=fields["question"], use_centers=fields["use_centers"])
