"""CUDA paths of the runner: the graph-captured decode step gives the same tokens as the
eager loop and as transformers' generate (tiny model, float32, so no bf16 near-ties), and
at the real 7B widths (two layers, float32) our logits and greedy answer equal
transformers' own."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from modelutil import make_frame  # noqa: E402
from ssr_ros.model.config import ModelConfig  # noqa: E402
from ssr_ros.model.runner import ModelRunner  # noqa: E402
from ssr_ros.model.engine import DECODE_CHUNK  # noqa: E402
from ssr_ros.model.tiny import (build_backbone, build_image_processor,  # noqa: E402
                                build_tokenizer, qwen7b_config, tiny_config)

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

QUESTION = "Where is the lamp?"


@pytest.fixture(scope="module")
def tiny_cuda():
    tokenizer = build_tokenizer()
    return build_backbone(tiny_config(tokenizer), tokenizer, build_image_processor(112),
                          device="cuda", dtype=torch.float32)


def _answer(backbone, frames, cuda_graph):
    config = ModelConfig(device="cuda", dtype="float32", image_side=112, max_keyframes=2,
                         max_new_tokens=24, cuda_graph=cuda_graph)
    with ModelRunner(backbone, config) as runner:
        for frame in frames:
            runner.add_keyframe(**frame).result(60)
        first = runner.ask_detailed(QUESTION, timeout_s=60)
        second = runner.ask_detailed(QUESTION, timeout_s=60)  # replays the captured graph
        logits = runner.question_logits(QUESTION)
    return first, second, logits


def test_graph_decode_equals_eager_decode(tiny_cuda):
    rng = np.random.default_rng(0)
    frames = [make_frame(rng, i) for i in range(3)]  # one eviction
    graph_first, graph_second, graph_logits = _answer(tiny_cuda, frames, cuda_graph=True)
    eager_first, _, eager_logits = _answer(tiny_cuda, frames, cuda_graph=False)
    assert graph_first.token_ids == eager_first.token_ids == graph_second.token_ids
    assert len(graph_first.token_ids) >= 4
    torch.testing.assert_close(graph_logits, eager_logits, rtol=0, atol=1e-4)


def test_cuda_close_frees_the_cache(tiny_cuda):
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    config = ModelConfig(device="cuda", dtype="float32", image_side=112, max_keyframes=64)
    runner = ModelRunner(tiny_cuda, config)
    runner.start()
    assert torch.cuda.memory_allocated() > before
    runner.close()
    assert torch.cuda.memory_allocated() <= before + (1 << 20)


def check_real_widths(device: str) -> None:
    """Zero-gate question logits over three cached keyframes and the greedy answer (CUDA
    graph on CUDA) equal transformers' full forward and ``generate`` at Qwen2.5-VL-7B
    widths with two text layers and two vision blocks, float32 without TF32."""
    tokenizer = build_tokenizer()
    backbone = build_backbone(qwen7b_config(tokenizer, text_layers=2, vision_depth=2,
                                            vocab_size=None),
                              tokenizer, build_image_processor(224), device=device,
                              dtype=torch.float32)
    rng = np.random.default_rng(4)
    frames = [make_frame(rng, i) for i in range(3)]
    config = ModelConfig(device=device, dtype="float32", image_side=224, max_keyframes=3,
                         max_new_tokens=16, cuda_graph=True)
    with ModelRunner(backbone, config) as runner:
        for frame in frames:
            runner.add_keyframe(**frame).result(120)
        ours = runner.question_logits(QUESTION, timeout_s=120)
        answer = runner.ask_detailed(QUESTION, timeout_s=120)
        inputs = runner.sequence_inputs(QUESTION, timeout_s=120)
    input_ids = inputs["input_ids"].to(device)
    assert input_ids.shape[1] > DECODE_CHUNK  # the cache spans several attention chunks
    kwargs = dict(input_ids=input_ids,
                  pixel_values=torch.cat([backbone.preprocess(f["rgb"], 224)[0]
                                          for f in frames]).to(device),
                  image_grid_thw=inputs["image_grid_thw"].to(device),
                  **backbone.token_type_kwargs(input_ids))
    with torch.inference_mode():
        plain = backbone.model(**kwargs).logits[0, -inputs["n_question"]:].float().cpu()
        generated = backbone.model.generate(**kwargs, max_new_tokens=16, do_sample=False)
    # Logits are O(1) (std ~1.2 at this width); float32 kernels agree to ~1e-5.
    torch.testing.assert_close(ours, plain, rtol=0, atol=1e-3)
    stop = {backbone.token_id("<|im_end|>"), backbone.token_id("<|endoftext|>")}
    expected = []
    for token in generated[0, input_ids.shape[1]:].tolist():
        if token in stop:
            break
        expected.append(token)
    assert len(expected) >= 4
    assert answer.token_ids == expected


def test_real_widths_equal_transformers(monkeypatch):
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    check_real_widths("cuda")
