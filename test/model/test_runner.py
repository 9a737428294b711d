"""ModelRunner on the tiny backbone: anchoring at zero gate, incremental prefix equals a
full recompute (also after evictions), greedy decoding equals transformers, typed errors.

Tolerance: float32 on the CPU; logits of the tiny model are O(1) and independent
implementations of the same math agree to ~1e-6, so 1e-4 absolute is asserted.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from modelutil import make_frame  # noqa: E402
from ssr_ros.model.config import ModelConfig  # noqa: E402
from ssr_ros.model.errors import (BadRequest, ModelFailed, ModelTimeout,  # noqa: E402
                                  ModelUnavailable, SpatialInputError)
from ssr_ros.model.interleave import SequenceBuilder, reference_positions  # noqa: E402
from ssr_ros.model.runner import ModelRunner  # noqa: E402

ATOL = 1e-4
QUESTION = "Which is closer to the sofa, the lamp or the table?"
SCAFFOLD = "[1] sofa @ root | xy 1.0 2.0\n[2] lamp @ (3,4) | anchors [1] sofa (0,4)"


def _runner(tiny, max_keyframes=3, **kwargs):
    config = ModelConfig(device="cpu", max_keyframes=max_keyframes, image_side=112,
                         max_new_tokens=8, timeout_s=30.0, **kwargs)
    runner = ModelRunner(tiny, config)
    runner.start()
    return runner


def _add(runner, frames):
    for frame in frames:
        runner.add_keyframe(**frame).result(30)


def _hf_full_logits(tiny, inputs):
    """Reference: the backbone's own language model over the whole sequence at once, with
    positions from one get_rope_index call over the whole sequence."""
    positions = reference_positions(SequenceBuilder(tiny), inputs["segments"])
    with torch.inference_mode():
        out = tiny.language_model(inputs_embeds=inputs["inputs_embeds"],
                                  position_ids=positions)
        return tiny.lm_head(out.last_hidden_state)[0].float()


def test_zero_gate_logits_equal_the_plain_backbone(tiny):
    rng = np.random.default_rng(0)
    frames = [make_frame(rng, i) for i in range(3)]
    runner = _runner(tiny)
    try:
        _add(runner, frames)
        ours = runner.question_logits(QUESTION, SCAFFOLD)
        inputs = runner.sequence_inputs(QUESTION, SCAFFOLD)
    finally:
        runner.close()
    pixel_values = torch.cat([tiny.preprocess(f["rgb"], 112)[0] for f in frames])
    input_ids = inputs["input_ids"]
    with torch.inference_mode():
        plain = tiny.model(input_ids=input_ids, pixel_values=pixel_values,
                           image_grid_thw=inputs["image_grid_thw"],
                           **tiny.token_type_kwargs(input_ids)).logits[0]
    n = inputs["n_question"]
    assert ours.shape == plain[-n:].shape
    torch.testing.assert_close(ours, plain[-n:].float(), rtol=0, atol=ATOL)


def test_incremental_prefix_equals_full_recompute_with_evictions(tiny):
    rng = np.random.default_rng(1)
    frames = [make_frame(rng, i) for i in range(5)]
    runner = _runner(tiny, max_keyframes=3)
    with torch.no_grad():
        runner.spatial.gate.normal_(0.0, 1.0)  # a trained-looking gate: geometry matters
    try:
        _add(runner, frames[:2])
        for count, frame in enumerate(frames[2:], start=3):
            runner.add_keyframe(**frame).result(30)
            ours = runner.question_logits(QUESTION, SCAFFOLD)
            inputs = runner.sequence_inputs(QUESTION, SCAFFOLD)
            full = _hf_full_logits(tiny, inputs)[-inputs["n_question"]:]
            torch.testing.assert_close(ours, full, rtol=0, atol=ATOL)
            assert runner.status().keyframes == min(count, 3)
        # One initial build; the third frame extended the cached prefix; each of
        # the two evictions rebuilt it.
        assert runner.status().rebuilds == 3
        headers = tiny.tokenizer.decode(inputs["input_ids"][0].tolist())
        assert "Keyframe 2 " in headers and "Keyframe 4 " in headers
        assert "Keyframe 1 " not in headers
    finally:
        runner.close()


def test_spatial_branch_changes_the_logits_once_its_gate_opens(tiny):
    frames = [make_frame(np.random.default_rng(6), i) for i in range(2)]
    logits = []
    for open_gate in (False, True):
        runner = _runner(tiny)
        if open_gate:
            with torch.no_grad():
                runner.spatial.gate.fill_(1.0)
        try:
            _add(runner, frames)
            logits.append(runner.question_logits(QUESTION, SCAFFOLD))
        finally:
            runner.close()
    assert not torch.allclose(logits[0], logits[1], atol=1e-3)


def test_greedy_answer_equals_transformers_generate(tiny):
    rng = np.random.default_rng(2)
    frames = [make_frame(rng, i) for i in range(2)]
    runner = _runner(tiny)
    try:
        _add(runner, frames)
        answer = runner.ask_detailed(QUESTION, SCAFFOLD, max_new_tokens=12)
        inputs = runner.sequence_inputs(QUESTION, SCAFFOLD)
    finally:
        runner.close()
    pixel_values = torch.cat([tiny.preprocess(f["rgb"], 112)[0] for f in frames])
    input_ids = inputs["input_ids"]
    with torch.inference_mode():
        generated = tiny.model.generate(
            input_ids=input_ids, pixel_values=pixel_values,
            image_grid_thw=inputs["image_grid_thw"],
            **tiny.token_type_kwargs(input_ids), max_new_tokens=12, do_sample=False)
    generated = generated[0, input_ids.shape[1]:].tolist()
    stop = {tiny.token_id("<|im_end|>"), tiny.token_id("<|endoftext|>")}
    expected = []
    for token in generated:
        if token in stop:
            break
        expected.append(token)
    assert len(expected) >= 4  # long enough to exercise the decode loop
    assert answer.token_ids == expected
    assert answer.text == tiny.tokenizer.decode(expected, skip_special_tokens=True).strip()
    assert answer.prompt_tokens == inputs["n_question"]


def test_timeout_is_typed_and_the_runner_recovers(tiny):
    runner = _runner(tiny)
    release = threading.Event()
    try:
        runner._submit(lambda cancel: release.wait(30))  # occupy the worker
        with pytest.raises(ModelTimeout, match="within 0.050 s"):
            runner.ask(QUESTION, timeout_s=0.05)
        release.set()
        assert isinstance(runner.ask(QUESTION, timeout_s=30), str)
        assert runner.status().answered == 1  # the timed-out question never ran
    finally:
        release.set()
        runner.close()


def test_simulated_out_of_memory_is_typed_and_recovers(tiny, monkeypatch):
    runner = _runner(tiny)
    try:
        _add(runner, [make_frame(np.random.default_rng(3), 0)])
        runner.wait_idle()
        prefix = runner.status().prefix_tokens
        real_prefill = runner._engine.prefill
        calls = []

        def failing_prefill(*args, **kwargs):
            calls.append(1)
            if len(calls) == 1:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real_prefill(*args, **kwargs)

        monkeypatch.setattr(runner._engine, "prefill", failing_prefill)
        with pytest.raises(ModelFailed) as info:
            runner.ask(QUESTION)
        assert info.value.reason == "out_of_memory"
        assert runner.status().failed == 1 and "out of memory" in runner.status().last_error
        assert runner.status().prefix_tokens == prefix
        assert isinstance(runner.ask(QUESTION), str)
    finally:
        runner.close()


def test_lifecycle_and_bad_requests(tiny):
    config = ModelConfig(device="cpu", max_keyframes=2, image_side=112, max_prompt_tokens=64)
    runner = ModelRunner(tiny, config)
    with pytest.raises(ModelUnavailable, match="stopped"):
        runner.ask(QUESTION)
    runner.start()
    frame = make_frame(np.random.default_rng(4), 0)
    with pytest.raises(SpatialInputError):
        runner.add_keyframe(frame["rgb"], frame["T_map_cam"], 0.0, depth_m=frame["depth_m"][1:],
                            K=frame["K"])
    with pytest.raises(BadRequest):
        runner.ask("   ")
    with pytest.raises(ModelFailed) as info:
        runner.ask("why? " * 40)
    assert info.value.reason == "prompt_too_long"
    assert runner.status().keyframes == 0
    runner.close()
    with pytest.raises(ModelUnavailable, match="closed"):
        runner.ask(QUESTION)
    with pytest.raises(ModelUnavailable):
        runner.start()


def test_generate_cogmap_returns_the_parsers_result(tiny):
    cogmap = pytest.importorskip("ssr_ros.core.cogmap_text",
                                 reason="the cogmap parser (issue 5) is not in this checkout")
    runner = _runner(tiny)
    try:
        _add(runner, [make_frame(np.random.default_rng(5), 0)])
        result = runner.generate_cogmap(SCAFFOLD)
    finally:
        runner.close()
    assert isinstance(result, cogmap.ParseResult)
    # Random weights write no valid line: every non-blank line is reported as an error.
    assert not result.links


def test_close_fails_queued_questions_and_frees_the_runner(tiny):
    runner = _runner(tiny)
    release = threading.Event()
    runner._submit(lambda cancel: release.wait(30))  # occupy the worker
    queued, _ = runner.submit_ask(QUESTION)
    closer = threading.Thread(target=runner.close)
    closer.start()
    try:
        assert isinstance(queued.exception(timeout=30), ModelUnavailable)
    finally:
        release.set()
        closer.join(30)
    status = runner.status()
    assert status.state == "closed" and status.capacity_tokens == 0 and status.keyframes == 0
