"""The node's rule for absent names: a category its perception can report is answered
(count 0) when the map has none; a name outside it is UNKNOWN_OBJECT for every kind."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")

from ssr_ros.core.query_types import ErrorCode, QueryKind, QueryRequest  # noqa: E402
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig  # noqa: E402
from ssr_ros.ros.params import PARAMETERS, NodeConfig, read_config  # noqa: E402
from ssr_ros.ros.pipeline_factory import query_vocabulary  # noqa: E402
from ssr_ros.runtime.map_state import MapKeeper  # noqa: E402
from ssr_ros.sim import make_scene, render_sequence  # noqa: E402


def _default_config(**overrides) -> NodeConfig:
    """The node's config with every declared parameter at its default (read_config on a
    stand-in that answers get_parameter like a node would)."""
    class Defaults:
        def get_parameter(self, name):
            return SimpleNamespace(value=overrides.get(name, PARAMETERS[name].default))

    return read_config(Defaults())


def _keeper(vocabulary) -> MapKeeper:
    """A keeper of a small mapped sim room (the engine needs a map to answer at all)."""
    keeper = MapKeeper(lambda: MappingPipeline(PipelineConfig()), vocabulary=vocabulary)
    seq = render_sequence(make_scene(1), n_frames=16, width=160, height=120, rate_hz=4.0,
                          seed=1)
    for frame in seq:
        keeper.process(frame)
    assert keeper.snapshot.objects, "the sim frames should map some objects"
    return keeper


def _absent(keeper: MapKeeper, *candidates: str) -> str:
    labels = {o.label for o in keeper.snapshot.objects}
    return next(c for c in candidates if c not in labels)


def test_count_of_a_known_category_absent_from_the_map_is_zero():
    keeper = _keeper(("chair", "toilet", "refrigerator"))
    name = _absent(keeper, "toilet", "refrigerator", "chair")
    answer = keeper.answer(QueryRequest(kind=QueryKind.COUNT, target=name))
    assert answer.success, answer.message
    assert answer.value == 0


def test_names_outside_the_vocabulary_are_unknown_for_every_kind():
    keeper = _keeper(("chair", "sofa"))
    for kind in (QueryKind.COUNT, QueryKind.LOCATE):
        answer = keeper.answer(QueryRequest(kind=kind, target="giraffe"))
        assert not answer.success
        assert answer.error_code == ErrorCode.UNKNOWN_OBJECT


def test_without_vocabulary_every_absent_name_is_unknown():
    keeper = _keeper(())
    name = _absent(keeper, "toilet", "refrigerator", "chair")
    answer = keeper.answer(QueryRequest(kind=QueryKind.COUNT, target=name))
    assert answer.error_code == ErrorCode.UNKNOWN_OBJECT


def test_node_vocabulary_holds_the_priors_and_the_detector_classes():
    labels_vocab = query_vocabulary(_default_config(proposal_source="labels"))
    detector_vocab = query_vocabulary(_default_config(proposal_source="detector"))
    assert "chair" in labels_vocab and "wardrobe" in labels_vocab
    assert "chair" in detector_vocab and "toothbrush" in detector_vocab
    assert "toothbrush" not in labels_vocab
