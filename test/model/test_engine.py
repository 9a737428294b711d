"""TextEngine's decode step against the backbone's own forward pass, over a cache of
several attention chunks (the split decode attention: chunk boundaries, a partly filled
chunk, a token written across a boundary). float32 on the CPU; tolerance as in
test_runner (1e-4 absolute on O(1) logits)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from ssr_ros.model.engine import DECODE_CHUNK, TextEngine  # noqa: E402

ATOL = 1e-4


def _text_positions(start: int, n: int) -> torch.Tensor:
    """M-RoPE positions of plain text: the same index on all three axes, (3, 1, n)."""
    return torch.arange(start, start + n).view(1, 1, -1).expand(3, 1, -1)


def _backbone_logits(tiny, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        out = tiny.language_model(inputs_embeds=tiny.embed_tokens(ids),
                                  position_ids=_text_positions(0, ids.shape[1]))
        return tiny.lm_head(out.last_hidden_state)[0].float()


def test_capacity_is_a_whole_number_of_chunks(tiny):
    engine = TextEngine(tiny.language_model, tiny.lm_head, DECODE_CHUNK + 1,
                        torch.device("cpu"), torch.float32, use_cuda_graph=False)
    assert engine.capacity == 2 * DECODE_CHUNK
    assert engine.k_cache[0].shape[2] == 2 * DECODE_CHUNK


def test_decode_across_chunks_equals_the_backbone(tiny):
    steps = 8
    n = 2 * DECODE_CHUNK - 3  # the prefix fills one chunk and most of a second
    engine = TextEngine(tiny.language_model, tiny.lm_head, n + steps + 1,
                        torch.device("cpu"), torch.float32, use_cuda_graph=False)
    assert engine.capacity == 3 * DECODE_CHUNK
    ids = torch.randint(0, 256, (1, n), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        first = int(engine.prefill(tiny.embed_tokens(ids), _text_positions(0, n)).argmax())
        engine._token.fill_(first)
        engine._position.fill_(n)
        engine._write_at.fill_(n)
        engine._step.zero_()
        tokens, step_logits = [first], []
        for _ in range(steps):  # writes at n .. n+7: across the chunk boundary at 512
            step_logits.append(engine._decode_step()[0].clone())
            tokens.append(int(engine._token))

    full = torch.cat([ids, torch.tensor([tokens[:-1]])], dim=1)
    reference = _backbone_logits(tiny, full)[n:]  # logits after each decoded token
    torch.testing.assert_close(torch.stack(step_logits), reference, rtol=0, atol=ATOL)

    # The public loop (bursts, host checks) gives the same tokens from the same prefix.
    result = engine.decode(first, n, steps + 1, stop_ids=set())
    assert result.token_ids == tokens
    assert engine.length == n + steps
