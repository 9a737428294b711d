"""CUDA paths of the runner: the graph-captured decode step gives the same tokens as the
eager loop and as transformers' generate (tiny model, float32, so no bf16 near-ties)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from conftest import make_frame  # noqa: E402
from ssr_ros.model.config import ModelConfig  # noqa: E402
from ssr_ros.model.runner import ModelRunner  # noqa: E402
from ssr_ros.model.tiny import (build_backbone, build_image_processor,  # noqa: E402
                                build_tokenizer, tiny_config)

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
