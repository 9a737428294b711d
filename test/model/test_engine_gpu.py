"""CUDA paths of issue 20's engine: the fused projections with burst CUDA graphs against
the unfused eager loop (tiny model, float32, so no bf16 near-ties), fusing without extra
device memory, SDPA's grouped-query prefill kernels in bf16 against repeated keys, and
the batched vision tower against the tower's own forward on the device."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from ssr_ros.model.engine import DECODE_BURST, TextEngine  # noqa: E402
from ssr_ros.model.tiny import (build_backbone, build_image_processor,  # noqa: E402
                                build_tokenizer, tiny_config)
from ssr_ros.model.vision import VisionEngine  # noqa: E402

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def tiny_cuda():
    tokenizer = build_tokenizer()
    return build_backbone(tiny_config(tokenizer), tokenizer, build_image_processor(112),
                          device="cuda", dtype=torch.float32)


def _positions(start: int, n: int) -> torch.Tensor:
    return torch.arange(start, start + n, device=CUDA).view(1, 1, -1).expand(3, 1, -1)


def _decode(backbone, ids, fused: bool, graph: bool, new: int):
    engine = TextEngine(backbone.language_model, backbone.lm_head, ids.shape[1] + new + 1,
                        CUDA, torch.float32, use_cuda_graph=graph, fused=fused)
    try:
        n = ids.shape[1]
        with torch.inference_mode():
            logits = engine.prefill(backbone.embed_tokens(ids), _positions(0, n))
        first = int(logits.argmax())
        answers = [engine.decode(first, n, new, stop_ids=set()).token_ids]
        engine.truncate(n)  # a second answer replays the captured graphs
        answers.append(engine.decode(first, n, new, stop_ids=set(), check_every=3).token_ids)
        return answers, engine.fused
    finally:
        engine.release()


def test_fused_burst_graphs_equal_the_unfused_eager_loop(tiny_cuda):
    ids = torch.randint(0, 256, (1, 300), device=CUDA,
                        generator=torch.Generator(device=CUDA).manual_seed(0))
    new = 3 * DECODE_BURST + 5  # full bursts and a partial one
    graph, graph_fused = _decode(tiny_cuda, ids, fused=True, graph=True, new=new)
    eager, eager_fused = _decode(tiny_cuda, ids, fused=False, graph=False, new=new)
    assert graph_fused and not eager_fused
    assert graph[0] == graph[1] == eager[0] == eager[1]
    assert len(graph[0]) == new


def test_fusing_takes_no_extra_device_memory(tiny_cuda):
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    engine = TextEngine(tiny_cuda.language_model, tiny_cuda.lm_head, 512, CUDA, torch.float32,
                        use_cuda_graph=False, fused=True)
    torch.cuda.synchronize()
    grown = torch.cuda.memory_allocated() - before
    cache = sum(t.numel() * t.element_size() for t in engine.kv_cache)
    tables = 2 * engine._rope_cos.numel() * engine._rope_cos.element_size()
    engine.release()
    fused = sum(p.numel() * p.element_size() for layer in tiny_cuda.language_model.layers
                for p in (layer.self_attn.q_proj.weight, layer.self_attn.k_proj.weight,
                          layer.self_attn.v_proj.weight, layer.mlp.gate_proj.weight,
                          layer.mlp.up_proj.weight))
    # Cache, rotary tables and small static buffers; a copy of the fused weights would
    # add their whole size.
    assert grown < cache + tables + fused // 2
    assert torch.cuda.memory_allocated() <= before + (1 << 20)


@pytest.mark.parametrize("start", [0, 700])
def test_grouped_query_prefill_attention_in_bf16(start):
    """The kernels SDPA picks for enable_gqa (and the lower-right causal bias over a
    cached prefix) against float32 attention over explicitly repeated keys."""
    from torch.nn.attention.bias import causal_lower_right

    gen = torch.Generator(device=CUDA).manual_seed(1)
    n, heads, kv, hd = 300, 28, 4, 128
    end = start + n
    q = torch.randn(1, heads, n, hd, device=CUDA, generator=gen, dtype=torch.bfloat16)
    k = torch.randn(1, kv, end, hd, device=CUDA, generator=gen, dtype=torch.bfloat16)
    v = torch.randn(1, kv, end, hd, device=CUDA, generator=gen, dtype=torch.bfloat16)
    mask = causal_lower_right(n, end) if start else None
    ours = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=mask is None, enable_gqa=True).float()
    allowed = torch.ones(n, end, dtype=torch.bool, device=CUDA).tril(diagonal=start)
    reference = torch.nn.functional.scaled_dot_product_attention(
        q.float(), k.float().repeat_interleave(heads // kv, dim=1),
        v.float().repeat_interleave(heads // kv, dim=1), attn_mask=allowed)
    # bf16 inputs, float32 accumulation: outputs of O(1) agree to a few bf16 ulps.
    assert (ours - reference).abs().max().item() < 3e-2
    assert (ours - reference).abs().mean().item() < 3e-3


def test_batched_vision_tower_equals_the_towers_own_forward_on_cuda(tiny_cuda):
    rng = np.random.default_rng(2)
    prepared = [tiny_cuda.preprocess(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), 400)
                for h, w in [(112, 112), (84, 112), (168, 56)]]
    pixels = torch.cat([p for p, _ in prepared])
    grids = torch.cat([g for _, g in prepared])
    with torch.inference_mode():
        ours = VisionEngine(tiny_cuda.visual)(pixels, grids)
        theirs = tiny_cuda.visual(pixels, grid_thw=grids.to(CUDA))
        theirs = getattr(theirs, "pooler_output", theirs)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


def test_flash_takes_the_bf16_prefill_over_a_cached_prefix():
    """The fast branch of the engine's prefill is the one that runs on the GPU: flash
    accepts grouped-query bf16 inputs laid out as the cache holds them."""
    from ssr_ros.model.engine import _flash_takes

    cache = torch.zeros(8, 2048, 128, device=CUDA, dtype=torch.bfloat16)
    q = torch.zeros(1, 28, 300, 128, device=CUDA, dtype=torch.bfloat16)
    assert _flash_takes(q, cache[None, :4, :1000], cache[None, 4:, :1000])


def test_bf16_prefill_over_a_cached_prefix_equals_one_pass():
    """Two prefills (the second through the lower-right flash branch) against one pass
    over the whole sequence, in bf16 on a bf16 copy of the tiny model."""
    tokenizer = build_tokenizer()
    backbone = build_backbone(tiny_config(tokenizer), tokenizer, build_image_processor(112),
                              device="cuda", dtype=torch.bfloat16)
    ids = torch.randint(0, 256, (1, 400), device=CUDA,
                        generator=torch.Generator(device=CUDA).manual_seed(3))
    logits = []
    for split in (0, 250):
        engine = TextEngine(backbone.language_model, backbone.lm_head, 512, CUDA,
                            torch.bfloat16, use_cuda_graph=False)
        try:
            with torch.inference_mode():
                if split:
                    engine.prefill(backbone.embed_tokens(ids[:, :split]), _positions(0, split))
                logits.append(engine.prefill(backbone.embed_tokens(ids[:, split:]),
                                             _positions(split, 400 - split),
                                             all_logits=True)[0, -150:])
        finally:
            engine.release()
    # Same math, different kernels and bf16 roundings: logits of O(1) agree to ~1e-2.
    assert (logits[0] - logits[1]).abs().max().item() < 6e-2
    assert (logits[0].argmax(-1) == logits[1].argmax(-1)).float().mean().item() > 0.9


def test_graphed_single_image_pass_equals_the_eager_one(tiny_cuda):
    """Replays read the new image (static input copied) and sizes get their own graphs."""
    rng = np.random.default_rng(5)
    prepared = [tiny_cuda.preprocess(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), 400)
                for h, w in [(112, 112), (112, 112), (84, 112), (112, 112)]]
    eager = VisionEngine(tiny_cuda.visual, use_cuda_graph=False)
    graphed = VisionEngine(tiny_cuda.visual, use_cuda_graph=True)
    outputs = []
    for pixels, grid in prepared:
        with torch.inference_mode():
            ours = graphed(pixels, grid)
            torch.testing.assert_close(ours, eager(pixels, grid), rtol=0, atol=1e-5)
        outputs.append(ours)
    assert not torch.allclose(outputs[0], outputs[1])  # a replay is not a stale output
    assert len(graphed._graphs) == 2
    assert all(entry is not None for entry in graphed._graphs.values())


def test_preprocessing_on_the_device_equals_the_image_processor(tiny_cuda):
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    ours, grid = tiny_cuda.preprocess(rgb, 112)
    assert ours.is_cuda and tiny_cuda._patchify_limits is not None
    from PIL import Image

    h, w = tiny_cuda.target_size(480, 640, 112)
    image = Image.fromarray(rgb).resize((w, h), Image.BICUBIC)
    out = tiny_cuda.image_processor(images=[image], return_tensors="pt")
    torch.testing.assert_close(grid, out["image_grid_thw"].long(), rtol=0, atol=0)
    torch.testing.assert_close(ours.cpu(), out["pixel_values"].float(), rtol=0, atol=1e-5)
