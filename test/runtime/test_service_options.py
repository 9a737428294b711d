"""The service's multiple-choice path without a ROS graph: a ``SpatialQuery`` request
(KIND_AUTO, options in ``candidates``) goes through the node's request conversion, the
map keeper and the benchmark adapter, and its response has a choice among the options
or a named error, never an empty choice with success."""

from __future__ import annotations

import pytest

pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")
srv = pytest.importorskip("ssr_ros.srv", reason="ssr_ros interfaces are not built")

from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig  # noqa: E402
from ssr_ros.ros.messages import fill_response, request_fields  # noqa: E402
from ssr_ros.ros.pipeline_factory import query_request  # noqa: E402
from ssr_ros.runtime.map_state import MapKeeper  # noqa: E402
from ssr_ros.sim import make_scene, render_sequence  # noqa: E402

REQ, RESP = srv.SpatialQuery.Request, srv.SpatialQuery.Response


@pytest.fixture(scope="module")
def keeper() -> MapKeeper:
    scene = make_scene(1)
    seq = render_sequence(scene, n_frames=16, width=160, height=120, rate_hz=4.0, seed=1)
    keeper = MapKeeper(lambda: MappingPipeline(PipelineConfig()))
    for f in seq:
        keeper.process(f)
    assert keeper.snapshot.objects, "the sim frames should map some objects"
    return keeper


def _ask(keeper: MapKeeper, **fields):
    answer = keeper.answer(query_request(request_fields(REQ(**fields))))
    objects = {o.id: o for o in keeper.snapshot.objects}
    return fill_response(RESP(), answer, objects)


def test_a_multiple_choice_question_answers_with_one_of_its_options(keeper) -> None:
    label = keeper.snapshot.objects[0].label
    options = ["0", "1", "2", "3", "4"]
    response = _ask(keeper, kind=REQ.KIND_AUTO, question=f"How many {label}s are there?",
                    candidates=options)
    assert response.success, response.message
    assert response.choice in options and float(response.choice) == response.value


@pytest.mark.parametrize("options", [[""], ["2", "  "]])
def test_blank_options_are_an_invalid_request_not_an_empty_choice(keeper, options) -> None:
    label = keeper.snapshot.objects[0].label
    response = _ask(keeper, kind=REQ.KIND_AUTO, question=f"How many {label}s are there?",
                    candidates=options)
    assert not response.success and response.error_code == RESP.ERROR_INVALID_REQUEST
    assert "empty" in response.message and response.choice == ""


def test_a_structured_kind_keeps_its_candidates_as_names(keeper) -> None:
    labels = sorted({o.label for o in keeper.snapshot.objects})
    response = _ask(keeper, kind=REQ.KIND_APPEARANCE_ORDER, candidates=labels[:3])
    assert response.success, response.message
    assert sorted(response.choice.split(", ")) == labels[:3]
