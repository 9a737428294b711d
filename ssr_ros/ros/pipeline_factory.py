"""From the node's typed config to the mapping pipeline and the query records.

Keeps the node file free of perception/core configuration details: which parameter
feeds which part of ``PipelineConfig``, and how a size-checked ``SpatialQuery`` request
becomes a core ``QueryRequest``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ssr_ros.core.keyframes import KeyframeSelectorConfig
from ssr_ros.core.query_types import QueryKind, QueryRequest
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
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
    return PipelineConfig(source=config.proposal_source, selector=selector,
                          keyframe_capacity=config.keyframe_buffer_size, detector=detector)


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
