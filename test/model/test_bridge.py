"""ModelBridge (what the node owns of the model path) on the tiny checkpoint: configure
from the model config, keyframes, free questions with their error codes, the cogmap
agreement score and cleanup."""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from modelutil import make_frame  # noqa: E402
from ssr_ros.core.cogmap import LocalCogMap, parse_cogmap_text  # noqa: E402
from ssr_ros.core.frames import PosedFrame  # noqa: E402
from ssr_ros.core.query_types import ErrorCode  # noqa: E402
from ssr_ros.core.types import ObjectState  # noqa: E402
from ssr_ros.model.bridge import ModelBridge, cogmap_agreement  # noqa: E402
from ssr_ros.model.config import ModelConfig  # noqa: E402
from ssr_ros.model.errors import ModelConfigError, SpatialInputError  # noqa: E402
from ssr_ros.model.tiny import save_checkpoint  # noqa: E402

QUESTION = "Where is the lamp?"


def _objects() -> list[ObjectState]:
    return [ObjectState(1, "chair", [1.0, 0.0, 0.4], [0.5, 0.5, 0.8]),
            ObjectState(2, "chair", [2.0, 1.0, 0.4], [0.5, 0.5, 0.8]),
            ObjectState(3, "table", [1.5, 2.0, 0.4], [1.2, 0.8, 0.75]),
            ObjectState(4, "sofa", [4.0, 3.0, 0.4], [2.0, 0.9, 0.8]),
            ObjectState(5, "lamp", [0.0, 3.0, 0.8], [0.3, 0.3, 1.6])]


def _cogmap(objects) -> LocalCogMap:
    cogmap = LocalCogMap()
    cogmap.sync(objects)
    return cogmap


def _params(path: str, **extra) -> dict:
    params = {"model.path": path, "model.device": "cpu", "model.dtype": "float32",
              "model.image_side": 112, "model.max_keyframes": 4, "model.max_new_tokens": 4,
              "model.timeout_s": 60.0}
    params.update(extra)
    return params


def _bridge(params: dict, **kwargs) -> ModelBridge:
    """A bridge as the node builds it: from the ``model.*`` parameters' config."""
    return ModelBridge(ModelConfig.from_mapping(params), **kwargs)


def _frame(rng: np.random.Generator, i: int) -> PosedFrame:
    return PosedFrame(**make_frame(rng, i))


@pytest.fixture(scope="module")
def checkpoint(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("bridge") / "ckpt"
    save_checkpoint(tiny, str(path))
    return str(path)


@pytest.fixture(scope="module")
def bridge(checkpoint):
    bridge = _bridge(_params(checkpoint))
    ok, reason = bridge.configure()
    assert ok and reason == "", reason
    yield bridge
    bridge.cleanup()


def test_configure_loads_the_checkpoint_and_reports_device(bridge):
    assert bridge.ready and bridge.state == "ready"
    status = bridge.status()
    assert status["model.state"] == "ready"
    assert status["model.device"] == "cpu" and status["model.dtype"] == "torch.float32"
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in status.items())


def test_empty_path_is_disabled_and_a_wrong_path_fails_with_its_reason(tmp_path):
    disabled = _bridge({"model.path": "", "model.timeout_s": 2.0})
    assert disabled.configure() == (True, "disabled: model.path is empty")
    assert not disabled.ready and disabled.status()["model.state"] == "disabled"
    reply = disabled.ask_free(QUESTION)
    assert reply.error == ErrorCode.MODEL_UNAVAILABLE and "model.path is empty" in reply.message

    missing = _bridge(_params(str(tmp_path / "nowhere")))
    ok, reason = missing.configure()
    assert not ok and reason.startswith("missing_path:") and "nowhere" in reason
    assert missing.state == "failed" and missing.status()["model.reason"] == reason
    assert missing.ask_free(QUESTION).error == ErrorCode.MODEL_UNAVAILABLE
    assert missing.on_keyframe(_frame(np.random.default_rng(0), 0)) is False


def test_missing_dependency_fails_configure_with_the_libraries_words(checkpoint,
                                                                     monkeypatch):
    # transformers 5.17 without torchvision: AutoImageProcessor raises an ImportError
    # whose text starts with a blank line; the reason must still say what is missing.
    import ssr_ros.model.runner as runner_module

    def load_runner(config):
        raise ImportError("\nAutoImageProcessor requires the Torchvision library but it "
                          "was not found in your environment.\n")

    monkeypatch.setattr(runner_module, "load_runner", load_runner)
    bridge = _bridge(_params(checkpoint))
    ok, reason = bridge.configure()
    assert not ok and bridge.state == "failed"
    assert reason.startswith("missing_dependency: AutoImageProcessor requires the "
                             "Torchvision library") and "\n" not in reason


def test_bad_model_parameters_are_refused_by_name():
    with pytest.raises(ModelConfigError, match="max_keyframes"):
        _bridge({"model.path": "", "model.max_keyframes": 0})
    with pytest.raises(ModelConfigError, match="model.colour"):
        _bridge({"model.colour": "red"})


def test_ask_free_answers_over_the_keyframes_as_the_model(bridge):
    rng = np.random.default_rng(1)
    before = bridge.status()
    frames = [_frame(rng, i) for i in range(2)]
    assert all(bridge.on_keyframe(f) for f in frames)
    reply = bridge.ask_free(QUESTION, _cogmap(_objects()).to_text(), timeout_s=60.0)
    assert reply.ok and reply.error is None and reply.answered_by == "model"
    assert isinstance(reply.text, str) and reply.message == ""
    after = bridge.status()
    # Requests run in order, so the question was answered over both keyframes.
    assert int(after["model.keyframes"]) == min(4, int(before["model.keyframes"]) + 2)
    assert int(after["model.keyframes_sent"]) == int(before["model.keyframes_sent"]) + 2
    assert int(after["model.answered"]) == int(before["model.answered"]) + 1
    # The same question over the same frames decodes the same text (greedy).
    assert bridge.ask_free(QUESTION, _cogmap(_objects()).to_text()).text == reply.text


def test_malformed_keyframe_raises_and_queues_nothing(bridge):
    frame = make_frame(np.random.default_rng(2), 0)
    frame["K"] = np.eye(2)
    sent = bridge.status()["model.keyframes_sent"]
    with pytest.raises(SpatialInputError):
        bridge.on_keyframe(PosedFrame(**frame))
    assert bridge.status()["model.keyframes_sent"] == sent


def test_timeout_and_device_failure_map_to_error_codes_and_the_model_keeps_working(bridge):
    # Hold the worker on an Event (as test_runner does) so the question cannot be answered
    # before its timeout, however fast or loaded the machine is.
    release = threading.Event()
    try:
        bridge._runner._submit(lambda cancel: release.wait(30))
        late = bridge.ask_free(QUESTION, timeout_s=0.05)
    finally:
        release.set()
    assert late.error == ErrorCode.TIMEOUT and late.text == "" and "timeout" in late.message
    too_long = bridge.ask_free(QUESTION, "x" * 3000)  # over max_prompt_tokens (2048)
    assert too_long.error == ErrorCode.MODEL_UNAVAILABLE
    assert "prompt_too_long" in too_long.message
    assert bridge.ask_free(QUESTION, timeout_s=-1.0).error == ErrorCode.INVALID_REQUEST
    assert bridge.ask_free("   ").error == ErrorCode.INVALID_REQUEST
    assert bridge.ask_free(QUESTION, timeout_s=60.0).ok


def test_compare_cogmap_scores_the_models_lines_as_a_fraction(bridge):
    objects = _objects()
    result = bridge.compare_cogmap(_cogmap(objects).to_text(exact=False), objects)
    assert 0.0 <= result["agreement"] <= 1.0
    assert 0 <= result["consistent"] <= result["triplets"]
    assert bridge.status()["model.cogmap_agreement"] == f"{result['agreement']:.3f}"


def test_cogmap_agreement_judges_each_triplet_against_the_map():
    objects = _objects()
    text = _cogmap(objects).to_text(exact=False)
    exact = cogmap_agreement(parse_cogmap_text(text), objects)
    assert exact["agreement"] == 1.0 and exact["triplets"] == 4
    # A text written from a map where the lamp stood 1.5 m away: only its triplet is off.
    moved = [o if o.id != 5 else ObjectState(5, "lamp", [1.5, 3.0, 0.8], o.size_m)
             for o in objects]
    wrong = cogmap_agreement(parse_cogmap_text(_cogmap(moved).to_text(exact=False)), objects)
    assert wrong["triplets"] == 4 and wrong["consistent"] == 3 and wrong["agreement"] == 0.75
    relabelled = cogmap_agreement(parse_cogmap_text(text.replace("] sofa @", "] bed @")),
                                  objects)
    assert relabelled["consistent"] == 3 and relabelled["label_mismatches"] == 1
    partial = cogmap_agreement(parse_cogmap_text(text), objects[:4])
    assert partial["consistent"] == 3 and partial["unknown_ids"] == 1
    empty = cogmap_agreement(parse_cogmap_text("not a cogmap line"), objects)
    assert empty == {**empty, "agreement": 0.0, "triplets": 0, "parse_errors": 1,
                     "missing_ids": 5}


def test_cleanup_frees_the_model_and_configure_loads_it_again(checkpoint):
    bridge = _bridge(_params(checkpoint), max_pending_keyframes=2)
    assert bridge.configure() == (True, "")
    gate = threading.Event()
    bridge._runner._submit(lambda cancel: gate.wait(60.0))  # holds the worker
    rng = np.random.default_rng(5)
    queued = [bridge.on_keyframe(_frame(rng, i)) for i in range(4)]
    # The backlog is bounded: frames beyond it are dropped and counted, not queued.
    assert queued == [True, True, False, False]
    assert bridge.status()["model.keyframes_dropped"] == "2"
    # Cleanup with keyframes still queued must return (their callbacks take the bridge's
    # counter lock from the closing thread); a hang here would be a deadlock.
    closer = threading.Thread(target=bridge.cleanup, daemon=True)
    closer.start()
    gate.set()
    closer.join(60.0)
    assert not closer.is_alive()
    assert bridge.status()["model.keyframes_failed"] == "0"
    assert bridge.state == "closed" and not bridge.ready
    assert bridge.ask_free(QUESTION).error == ErrorCode.MODEL_UNAVAILABLE
    assert bridge.on_keyframe(_frame(np.random.default_rng(4), 0)) is False
    assert bridge.status()["model.state"] == "closed"
    assert bridge.configure() == (True, "") and bridge.ask_free(QUESTION).ok
    bridge.cleanup()


def test_cogmap_check_scores_the_models_own_cogmap_for_diagnostics(bridge):
    from types import SimpleNamespace

    from ssr_ros.runtime.cogmap_check import CogmapCheck

    keeper = SimpleNamespace(snapshot=SimpleNamespace(objects=tuple(_objects())))
    check = CogmapCheck(bridge, keeper)
    assert check.status() == {}
    assert check.start() and check.wait(120.0)
    status = check.status()
    assert status["model.cogmap.checks"] == "1"
    assert int(status["model.cogmap.triplets"]) >= 0
    assert int(status["model.cogmap.missing_ids"]) <= len(_objects())
    assert bridge.status()["model.cogmap_agreement"] != ""
    # nothing to check against on an empty map: no model call
    empty = CogmapCheck(bridge, SimpleNamespace(snapshot=SimpleNamespace(objects=())))
    assert not empty.start() and empty.status() == {}
