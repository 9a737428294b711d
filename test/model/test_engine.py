"""TextEngine against the backbone's own forward pass: the split decode attention over
a cache of several chunks (boundaries, a partly filled chunk, a token written across a
boundary), the fused q/k/v and gate/up projections against the unfused modules, greedy
decoding against an eager full-recompute loop, stop tokens inside a burst. float32 on
the CPU; tolerance as in test_runner (1e-4 absolute on O(1) logits)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from ssr_ros.model.engine import DECODE_CHUNK, TextEngine  # noqa: E402
from ssr_ros.model.errors import ModelFailed  # noqa: E402

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
            step_logits.append(engine._decode_step()[0].float())
            tokens.append(int(engine._token))

    full = torch.cat([ids, torch.tensor([tokens[:-1]])], dim=1)
    reference = _backbone_logits(tiny, full)[n:]  # logits after each decoded token
    torch.testing.assert_close(torch.stack(step_logits), reference, rtol=0, atol=ATOL)

    # The public loop (bursts, host checks) gives the same tokens from the same prefix.
    result = engine.decode(first, n, steps + 1, stop_ids=set())
    assert result.token_ids == tokens
    assert engine.length == n + steps


# ---------------------------------------------------------------- fused projections
@pytest.fixture
def engines(tiny):
    """Factory of engines over the tiny backbone; each is released after the test, which
    gives the shared backbone's modules their own weight storage back."""
    made = []

    def make(capacity: int, fused: bool = True, **kwargs) -> TextEngine:
        engine = TextEngine(tiny.language_model, tiny.lm_head, capacity, torch.device("cpu"),
                            torch.float32, use_cuda_graph=False, fused=fused, **kwargs)
        made.append(engine)
        return engine

    yield make
    for engine in reversed(made):
        engine.release()


def _ids(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (1, n), generator=torch.Generator().manual_seed(seed))


def _run(tiny, engine: TextEngine, ids: torch.Tensor, split: int, steps: int):
    """Prefill ``ids`` in two parts (the second over the cached first), then ``steps``
    decode steps; returns (second part's logits, per-step logits, greedy tokens)."""
    n = ids.shape[1]
    with torch.inference_mode():
        engine.prefill(tiny.embed_tokens(ids[:, :split]), _text_positions(0, split))
        logits = engine.prefill(tiny.embed_tokens(ids[:, split:]),
                                _text_positions(split, n - split), all_logits=True)[0]
        first = int(logits[-1].argmax())
        engine._token.fill_(first)
        engine._position.fill_(n)
        engine._write_at.fill_(n)
        engine._step.zero_()
        step_logits, tokens = [], [first]
        for _ in range(steps):
            step_logits.append(engine._decode_step()[0].float())
            tokens.append(int(engine._token))
    return logits, torch.stack(step_logits), tokens


def test_fused_path_equals_the_unfused_one(tiny, engines):
    n, split, steps = DECODE_CHUNK + 20, 200, 6
    fused = engines(n + steps + 1, fused=True)
    assert fused.fused and fused.layers[0].qkv is not None
    ids = _ids(n, 5)
    fused_out = _run(tiny, fused, ids, split, steps)
    unfused = engines(n + steps + 1, fused=False)
    assert not unfused.fused
    unfused_out = _run(tiny, unfused, ids, split, steps)
    torch.testing.assert_close(fused_out[0], unfused_out[0], rtol=0, atol=ATOL)
    torch.testing.assert_close(fused_out[1], unfused_out[1], rtol=0, atol=ATOL)
    assert fused_out[2] == unfused_out[2]
    # Both equal the backbone's own forward over the whole sequence.
    full = torch.cat([ids, torch.tensor([fused_out[2][:-1]])], dim=1)
    reference = _backbone_logits(tiny, full)
    torch.testing.assert_close(fused_out[0], reference[split:n], rtol=0, atol=ATOL)
    torch.testing.assert_close(fused_out[1], reference[n:], rtol=0, atol=ATOL)


def test_fusing_shares_the_backbones_weights_and_release_restores_them(tiny, engines):
    ids = _ids(40, 6)
    before = _backbone_logits(tiny, ids)
    q_proj = tiny.language_model.layers[0].self_attn.q_proj
    parameter = q_proj.weight
    engine = engines(64)
    fused_weight = engine.layers[0].qkv.weight
    # The module's weight is now a row view of the fused matrix: no copy kept.
    assert parameter is q_proj.weight
    assert q_proj.weight.untyped_storage().data_ptr() == fused_weight.untyped_storage().data_ptr()
    torch.testing.assert_close(_backbone_logits(tiny, ids), before, rtol=0, atol=0)
    engine.release()
    assert parameter is q_proj.weight
    assert q_proj.weight.untyped_storage().nbytes() == q_proj.weight.nbytes
    torch.testing.assert_close(_backbone_logits(tiny, ids), before, rtol=0, atol=0)


def test_a_hooked_projection_keeps_the_unfused_path(tiny, engines):
    k_proj = tiny.language_model.layers[1].self_attn.k_proj
    calls = []
    handle = k_proj.register_forward_hook(lambda module, args, out: calls.append(1))
    try:
        engine = engines(64)
        assert engine.layers[0].fused and not engine.layers[1].fused and not engine.fused
        ids = _ids(30, 7)
        with torch.inference_mode():
            logits = engine.prefill(tiny.embed_tokens(ids), _text_positions(0, 30),
                                    all_logits=True)[0]
        assert calls  # the wrapper ran: the layer called its modules
        torch.testing.assert_close(logits, _backbone_logits(tiny, ids), rtol=0, atol=ATOL)
    finally:
        handle.remove()


def _eager_greedy(tiny, ids: torch.Tensor, n_tokens: int) -> list[int]:
    """Reference greedy decoding: the backbone's full forward over the whole sequence for
    every new token (no cache at all)."""
    tokens = []
    seq = ids
    for _ in range(n_tokens):
        token = int(_backbone_logits(tiny, seq)[-1].argmax())
        tokens.append(token)
        seq = torch.cat([seq, torch.tensor([[token]])], dim=1)
    return tokens


@pytest.mark.parametrize("fused", [True, False])
def test_greedy_decode_equals_the_eager_reference(tiny, engines, fused):
    n, new = 50, 12
    ids = _ids(n, 8)
    expected = _eager_greedy(tiny, ids, new)
    engine = engines(n + new, fused=fused)
    with torch.inference_mode():
        first = int(engine.prefill(tiny.embed_tokens(ids), _text_positions(0, n)).argmax())
    result = engine.decode(first, n, new, stop_ids=set())
    assert result.token_ids == expected
    assert result.steps == new - 1 and engine.length == n + new - 1


def test_stop_token_inside_a_burst_and_check_intervals(tiny, engines):
    n, new = 30, 14
    ids = _ids(n, 9)
    engine = engines(n + new)
    with torch.inference_mode():
        first = int(engine.prefill(tiny.embed_tokens(ids), _text_positions(0, n)).argmax())
    runs = []
    for check_every in (1, 3, None):
        engine.truncate(n)
        runs.append(engine.decode(first, n, new, stop_ids=set(), check_every=check_every))
    assert runs[0].token_ids == runs[1].token_ids == runs[2].token_ids
    tokens = runs[0].token_ids
    stop = tokens[6]
    cut = tokens.index(stop)  # the first occurrence ends the answer
    engine.truncate(n)
    stopped = engine.decode(first, n, new, stop_ids={stop})
    assert stopped.token_ids == tokens[:cut]
    assert engine.length == n + stopped.steps and stopped.steps == cut


def test_decode_refuses_positions_beyond_the_rotary_table(tiny, engines):
    engine = engines(DECODE_CHUNK)
    with torch.inference_mode():
        engine.prefill(tiny.embed_tokens(_ids(10, 1)), _text_positions(0, 10))
    with pytest.raises(ModelFailed, match="rotary table"):
        engine.decode(5, engine.capacity, 4, stop_ids=set())


def test_in_place_weight_updates_reach_the_fused_engine(tiny, engines):
    """A LoRA merge writes the module's weight in place; the engine must compute with it."""
    up_proj = tiny.language_model.layers[0].mlp.up_proj
    v_proj = tiny.language_model.layers[1].self_attn.v_proj
    saved = [up_proj.weight.detach().clone(), v_proj.weight.detach().clone()]
    engine = engines(64)
    ids = _ids(30, 10)
    try:
        with torch.no_grad():
            up_proj.weight.add_(0.05 * torch.randn_like(up_proj.weight))
            v_proj.weight.mul_(1.5)
        with torch.inference_mode():
            logits = engine.prefill(tiny.embed_tokens(ids), _text_positions(0, 30),
                                    all_logits=True)[0]
        torch.testing.assert_close(logits, _backbone_logits(tiny, ids), rtol=0, atol=ATOL)
    finally:
        with torch.no_grad():
            up_proj.weight.copy_(saved[0])
            v_proj.weight.copy_(saved[1])


@pytest.mark.parametrize("new", [5, 3 * 8 + 5])
def test_graph_replay_loop_with_stand_in_graphs(tiny, engines, monkeypatch, new):
    """The decode loop's use of captured graphs, on the CPU: stand-ins replay ``n`` eager
    steps. Graphs are captured before the first token (capturing later would overwrite
    decoded KV), a full burst replays the burst graph, the rest the one-step graph."""
    n = 40
    ids = _ids(n, 11)
    engine = engines(n + new)
    with torch.inference_mode():
        first = int(engine.prefill(tiny.embed_tokens(ids), _text_positions(0, n)).argmax())
    expected = engine.decode(first, n, new, stop_ids=set()).token_ids
    engine.truncate(n)
    captured, replays = [], []

    class StandIn:
        def __init__(self, steps: int) -> None:
            self.steps = steps

        def replay(self) -> None:
            replays.append(self.steps)
            for _ in range(self.steps):
                engine._decode_step()

    def capture(steps: int) -> None:
        captured.append((steps, len(replays)))
        engine._graphs[steps] = StandIn(steps)

    monkeypatch.setattr(engine, "_capture", capture)
    engine.use_cuda_graph = True
    result = engine.decode(first, n, new, stop_ids=set())
    assert result.token_ids == expected
    bursts = (new - 1) // engine.burst
    assert sorted(s for s, _ in captured) == ([1, engine.burst] if bursts else [1])
    assert all(before == 0 for _, before in captured)  # all captured before any replay
    assert replays == [engine.burst] * bursts + [1] * ((new - 1) % engine.burst)
    # A second answer replays without capturing again.
    engine.truncate(n)
    captured.clear()
    assert engine.decode(first, n, new, stop_ids=set()).token_ids == expected
    assert not captured
