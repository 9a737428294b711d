"""From the node's typed config to the mapping pipeline and the query records.

Keeps the node file free of perception/core configuration details: which parameter
feeds which part of ``PipelineConfig``, and how a size-checked ``SpatialQuery`` request
becomes a core ``QueryRequest``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from ssr_ros.core.keyframes import KeyframeSelectorConfig
from ssr_ros.core.query_types import QueryKind, QueryRequest
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
from ssr_ros.perception.priors import SIZE_PRIORS_M
from ssr_ros.perception.proposals import DetectorConfig
from ssr_ros.runtime.errors import InvalidMessage
from ssr_ros.ros.params import NodeConfig


def pipeline_config(config: NodeConfig) -> PipelineConfig:
    """The ``PipelineConfig`` the node's parameters describe (raises ValueError when a
    part rejects its values)."""
    selector = KeyframeSelectorConfig(
        min_translation_m=config.keyframe_min_translation_m,
        min_rotation_rad=math.radians(config.keyframe_min_rotation_deg),
        max_interval_s=config.keyframe_max_interval_s)
    detector = DetectorConfig(model_path=config.detector_model_path or None)
    object_map = dataclasses.replace(PipelineConfig().object_map,
                                     max_objects=config.max_objects)
    # Decoded detections reach the pipeline as the frame's boxes: the boxes source.
    source = "boxes" if config.proposal_source == "detections" else config.proposal_source
    return PipelineConfig(source=source, selector=selector,
                          keyframe_capacity=keyframe_capacity(config), detector=detector,
                          object_map=object_map)


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
        words.update(name for name in pipeline_config(config).detector.labels if name)
    return tuple(sorted(words))


def build_pipeline_factory(config: NodeConfig) -> Callable[[], MappingPipeline]:
    """A factory of fresh, empty pipelines for ``config`` (validated once here)."""
    pipe_config = pipeline_config(config)
    return lambda: MappingPipeline(pipe_config)


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
