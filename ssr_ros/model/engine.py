"""Our own decoding engine over the backbone's text weights: a static KV cache, chunked
prefill that appends to it, and a text-only decode step that is captured in CUDA graphs
on CUDA (plain eager loop on the CPU).

The engine reuses the backbone's modules (norms, embeddings, LM head and the projection
weights) and does attention and M-RoPE itself, so the cache layout and the decode step
are ours: static shapes, no Python-side cache objects, no host synchronisation per
token. The tests check its logits against the backbone's own forward pass. Measured
figures live in BENCHMARKS.md ("Model runner"), not here.

Fused projections (``fused=True``, the default): each decoder layer's q, k and v weights
(and biases) are concatenated into one matrix, and so are the MLP's gate and up weights,
so a token costs one product where it cost three (or two). The backbone's own Linear
modules are rebound to row views of the fused tensors, so fusing costs no memory and
the backbone keeps working (transformers' forward, the reference tests); ``release()``
gives each module its own storage back. A layer whose projections are not plain
``nn.Linear`` (an adapter wrapper, a hook) keeps the unfused path, which calls the
modules. In-place changes of the modules' weights while an engine lives (a LoRA merge,
``weight.copy_``) reach the fused matrices, since they share storage; replacing a module
or its ``weight`` tensor needs a new engine (the runner builds one on ``start``).

KV cache: per layer one (2 * kv_heads, capacity, head_dim) tensor, keys in the first
``kv_heads`` rows and values in the rest, so a decode step writes a token's keys and
values with one copy; ``length`` tokens at the front are valid. Truncating is setting
``length``. The capacity is a whole number of ``DECODE_CHUNK`` token chunks.

Decode step, per layer: norm, one q/k/v product, one rotation of all heads (values
rotate by the identity, so keys and values land in the cache together), one cache write,
the split attention below, the output product with the residual added in its epilogue
(``addmm``), norm, one gate/up product, activation times up, the down product with its
residual. Decode attention is split over the cache's chunks: one small product per KV
head and chunk for the scores, one softmax over the whole row, one product per chunk for
the values and a sum over chunks, because a single query row against the whole cache as
one product per head runs on a handful of thread blocks of a large GPU. Rotary tables of
text positions are computed once, so a step does no trigonometry. On CUDA one graph holds
``burst`` steps, so the host replays once per burst (stop tokens are checked between
bursts), not once per token.

Prefill attends with SDPA's ``enable_gqa`` (no copy of the cached keys per query head)
and, over a cached prefix, the lower-right causal bias (new token i sees every cached
token and the new tokens up to i), which flash attention takes without a mask tensor.
Where flash cannot run (float32, the CPU) the lower-right case repeats the keys per query
head and passes the mask, as SDPA's other kernels need, rather than trust torch's
fallback for that bias to handle grouped heads in every version.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention.bias import causal_lower_right

from ssr_ros.model.errors import ModelFailed, ModelTimeout

#: Tokens per chunk of the split decode attention (the capacity is rounded up to it).
DECODE_CHUNK = 256
#: Decode steps per CUDA-graph replay (and per host check for stop tokens).
DECODE_BURST = 8
#: Most tokens one decode call may produce (size of the on-device token buffer).
MAX_DECODE_TOKENS = 4096


@dataclass
class DecodeResult:
    """Generated token ids (the stop token excluded) and the number of decode steps run."""

    token_ids: list[int]
    steps: int


def rms_norm(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The backbone's RMS norm ``module`` applied as ``F.rms_norm`` (one kernel where
    torch fuses it; same formula: float32 statistics, weight applied to the normalised
    input); modules without ``variance_epsilon`` run themselves."""
    eps = getattr(module, "variance_epsilon", None)
    if eps is None or not hasattr(F, "rms_norm"):
        return module(x)
    return F.rms_norm(x, (x.shape[-1],), module.weight, eps)


def _flash_takes(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> bool:
    """Whether SDPA's flash kernel accepts these grouped-query inputs without a mask."""
    from torch.backends.cuda import SDPAParams, can_use_flash_attention

    try:
        params = SDPAParams(q, keys, values, None, 0.0, False, True)
    except TypeError:  # a torch without enable_gqa in SDPAParams
        return False
    return bool(can_use_flash_attention(params, False))


def _plain_linear(module: nn.Module) -> bool:
    """True for an ``nn.Linear`` itself (not a subclass or wrapper) without hooks, whose
    weight can be replaced by a view without changing what the module computes."""
    return (type(module) is nn.Linear and not module._forward_hooks
            and not module._forward_pre_hooks)


class _FusedLinear:
    """Linears with the same input fused along their output rows: ``weight`` (sum of
    outputs, in) and ``bias`` (sum of outputs,) or None. The modules' parameters become
    row views of these tensors (same Parameter objects, new storage)."""

    def __init__(self, modules: list[nn.Linear]) -> None:
        self.modules = modules
        with torch.inference_mode(False), torch.no_grad():
            self.weight = torch.cat([m.weight.detach() for m in modules])
            has_bias = [m.bias is not None for m in modules]
            self.bias = (torch.cat([m.bias.detach() for m in modules]) if all(has_bias)
                         else None)
            if any(has_bias) and self.bias is None:
                raise ValueError("cannot fuse linears of which only some have a bias")
            start = 0
            for module in modules:
                rows = module.weight.shape[0]
                module.weight.data = self.weight[start:start + rows]
                if self.bias is not None:
                    module.bias.data = self.bias[start:start + rows]
                start += rows

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def unfuse(self) -> None:
        """Give every module its own storage again (the fused tensors are then freed)."""
        with torch.inference_mode(False), torch.no_grad():
            for module in self.modules:
                module.weight.data = module.weight.data.clone()
                if module.bias is not None:
                    module.bias.data = module.bias.data.clone()
        self.weight = self.bias = None


class _Layer:
    """One decoder layer as the engine drives it: fused or unfused projections."""

    def __init__(self, layer: nn.Module, fuse: bool) -> None:
        self.layer = layer
        attn, mlp = layer.self_attn, layer.mlp
        self.input_norm = layer.input_layernorm
        self.post_norm = layer.post_attention_layernorm
        self.o_proj, self.down_proj, self.act = attn.o_proj, mlp.down_proj, mlp.act_fn
        self.intermediate = int(mlp.gate_proj.out_features)
        self.qkv: _FusedLinear | None = None
        self.gate_up: _FusedLinear | None = None
        qkv = [attn.q_proj, attn.k_proj, attn.v_proj]
        gate_up = [mlp.gate_proj, mlp.up_proj]
        if fuse and all(_plain_linear(m) for m in qkv + gate_up + [attn.o_proj,
                                                                    mlp.down_proj]):
            self.qkv = _FusedLinear(qkv)
            self.gate_up = _FusedLinear(gate_up)
        # addmm adds the residual inside the product; a bias would need its own add.
        self.o_addmm = _plain_linear(attn.o_proj) and attn.o_proj.bias is None
        self.down_addmm = _plain_linear(mlp.down_proj) and mlp.down_proj.bias is None

    @property
    def fused(self) -> bool:
        return self.qkv is not None

    def project_qkv(self, h: torch.Tensor) -> torch.Tensor:
        """(..., hidden) -> (..., (heads + 2 * kv_heads) * head_dim): q, k, v side by side."""
        if self.qkv is not None:
            return self.qkv(h)
        attn = self.layer.self_attn
        return torch.cat((attn.q_proj(h), attn.k_proj(h), attn.v_proj(h)), dim=-1)

    def add_output(self, residual: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """residual + o_proj(out) for 2D (tokens, width) inputs."""
        if self.fused and self.o_addmm:
            return torch.addmm(residual, out, self.o_proj.weight.t())
        return residual + self.o_proj(out)

    def add_mlp(self, residual: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """residual + mlp(h) for 2D (tokens, hidden) inputs."""
        if self.gate_up is None:
            return residual + self.layer.mlp(h)
        gate_up = self.gate_up(h)
        act = self.act(gate_up[:, :self.intermediate]) * gate_up[:, self.intermediate:]
        if self.down_addmm:
            return torch.addmm(residual, act, self.down_proj.weight.t())
        return residual + self.down_proj(act)

    def unfuse(self) -> None:
        for fused in (self.qkv, self.gate_up):
            if fused is not None:
                fused.unfuse()
        self.qkv = self.gate_up = None


class TextEngine:
    """Prefill and decode over a static KV cache of ``capacity`` tokens.

    ``fused`` fuses the q/k/v and gate/up projections (see the module docstring);
    ``burst`` decode steps share one CUDA-graph replay.
    """

    def __init__(self, language_model: torch.nn.Module, lm_head: torch.nn.Module,
                 capacity: int, device: torch.device, dtype: torch.dtype,
                 use_cuda_graph: bool = True, fused: bool = True,
                 burst: int = DECODE_BURST) -> None:
        self.lm = language_model
        self.lm_head = lm_head
        config = language_model.config
        self.n_heads = int(config.num_attention_heads)
        self.n_kv = int(config.num_key_value_heads)
        self.head_dim = int(config.hidden_size) // self.n_heads
        self.groups = self.n_heads // self.n_kv
        self.scale = self.head_dim ** -0.5
        rotary = language_model.rotary_emb
        self.inv_freq = rotary.inv_freq.detach().to(device=device, dtype=torch.float32)
        self.rope_scale = float(getattr(rotary, "attention_scaling", 1.0))
        rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) \
            or {}
        self.mrope_section = [int(s) for s in rope.get("mrope_section", [16, 24, 24])]
        if sum(self.mrope_section) != self.head_dim // 2:
            raise ModelFailed(f"mrope_section {self.mrope_section} does not sum to head_dim/2 "
                              f"= {self.head_dim // 2}", reason="architecture")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.capacity = -(-int(capacity) // DECODE_CHUNK) * DECODE_CHUNK
        self._chunks = self.capacity // DECODE_CHUNK
        self.device = device
        self.dtype = dtype
        self.burst = int(burst)
        self.layers = [_Layer(layer, fused) for layer in language_model.layers]
        self.fused = bool(self.layers) and all(layer.fused for layer in self.layers)
        shape = (2 * self.n_kv, self.capacity, self.head_dim)
        self.kv_cache = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.layers]
        self.length = 0
        self.use_cuda_graph = bool(use_cuda_graph) and device.type == "cuda"
        # Rotary tables of text positions (all three M-RoPE axes equal): a decode token's
        # position never exceeds the capacity, since positions advance at most one per token.
        self._rope_cos, self._rope_sin = self._cos_sin(
            torch.arange(self.capacity + 1, device=device).view(1, 1, -1).expand(3, 1, -1))
        self._rope_cos, self._rope_sin = self._rope_cos[0], self._rope_sin[0]
        # Per-head rotation of a decode step: q and k rows take the token's angles, value
        # rows rotate by the identity (cos 1, sin 0), so k and v stay side by side.
        n_rows = self.n_heads + 2 * self.n_kv
        self._head_cos = torch.ones((n_rows, self.head_dim), device=device, dtype=dtype)
        self._head_sin = torch.zeros((n_rows, self.head_dim), device=device, dtype=dtype)
        # Static inputs of the decode step (read by the captured graphs).
        self._token = torch.zeros((1, 1), dtype=torch.long, device=device)
        self._position = torch.zeros((1,), dtype=torch.long, device=device)
        self._write_at = torch.zeros((1,), dtype=torch.long, device=device)
        self._step = torch.zeros((1,), dtype=torch.long, device=device)
        self._key_index = torch.arange(self.capacity, device=device)
        self._out_tokens = torch.zeros((MAX_DECODE_TOKENS,), dtype=torch.long, device=device)
        self._graphs: dict[int, torch.cuda.CUDAGraph] = {}

    @property
    def k_cache(self) -> list[torch.Tensor]:
        """Per layer the cached keys, (1, kv_heads, capacity, head_dim) views."""
        return [kv[:self.n_kv][None] for kv in self.kv_cache]

    @property
    def v_cache(self) -> list[torch.Tensor]:
        """Per layer the cached values, (1, kv_heads, capacity, head_dim) views."""
        return [kv[self.n_kv:][None] for kv in self.kv_cache]

    # ---------------------------------------------------------------- rotary embedding
    def _cos_sin(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """M-RoPE: positions (3, 1, n) -> cos and signed sin (1, n, head_dim) in the model
        dtype. Frequency band i of section s takes its angle from axis s (t, row, col).
        The sin's first half is negated so that rotating is ``x * cos + swap(x) * sin``."""
        freqs = positions[..., None].float() * self.inv_freq  # (3, 1, n, hd/2)
        parts = freqs.split(self.mrope_section, dim=-1)
        freqs = torch.cat([part[i % 3] for i, part in enumerate(parts)], dim=-1)
        cos = (torch.cat((freqs, freqs), dim=-1).cos() * self.rope_scale).to(self.dtype)
        sin = freqs.sin() * self.rope_scale
        sin = torch.cat((-sin, sin), dim=-1).to(self.dtype)
        return cos, sin

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Rotary embedding over the last dim: x * cos + (x2, x1) * (-sin, sin), i.e.
        rotate_half; ``cos`` and ``sin`` broadcast against ``x``."""
        half = x.shape[-1] // 2
        swapped = torch.cat((x[..., half:], x[..., :half]), dim=-1)
        return torch.addcmul(x * cos, swapped, sin)

    _norm = staticmethod(rms_norm)

    # ---------------------------------------------------------------- prefill
    def reset(self) -> None:
        self.length = 0

    def truncate(self, length: int) -> None:
        """Forget everything after the first ``length`` cached tokens."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a cache of {self.length} tokens to {length}")
        self.length = int(length)

    @torch.inference_mode()
    def prefill(self, embeds: torch.Tensor, positions: torch.Tensor,
                all_logits: bool = False) -> torch.Tensor:
        """Append ``embeds`` (1, n, hidden) at absolute M-RoPE ``positions`` (3, 1, n):
        the new tokens attend to the cached ones and causally to each other. Returns the
        logits of the last token (1, vocab), or of all new tokens (1, n, vocab), float32."""
        n = int(embeds.shape[1])
        start = self.length
        if start + n > self.capacity:
            raise ModelFailed(f"sequence of {start + n} tokens exceeds the KV cache capacity "
                              f"{self.capacity}", reason="capacity")
        cos, sin = self._cos_sin(positions)
        cos, sin = cos[0], sin[0]  # (n, hd), broadcast over heads
        end = start + n
        heads, kv, hd = self.n_heads, self.n_kv, self.head_dim
        hidden = embeds.to(self.dtype).reshape(n, -1)
        for i, layer in enumerate(self.layers):
            h = self._norm(layer.input_norm, hidden)
            qkv = layer.project_qkv(h).view(n, heads + 2 * kv, hd).transpose(0, 1)
            qk = self._rotate(qkv[:heads + kv], cos, sin)  # (heads + kv, n, hd)
            cache = self.kv_cache[i]
            cache[:kv, start:end] = qk[heads:]
            cache[kv:, start:end] = qkv[heads + kv:]
            out = self._attend(qk[None, :heads], cache[None, :kv, :end],
                               cache[None, kv:, :end], start)
            out = out[0].transpose(0, 1).reshape(n, heads * hd)
            hidden = layer.add_output(hidden, out)
            hidden = layer.add_mlp(hidden, self._norm(layer.post_norm, hidden))
        self.length = end
        hidden = self._norm(self.lm.norm, hidden)
        if all_logits:
            return self.lm_head(hidden).float()[None]
        return self.lm_head(hidden[-1:]).float()

    def _attend(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                start: int) -> torch.Tensor:
        """Prefill attention of q (1, heads, n, hd) over keys and values (1, kv, end, hd)
        whose first ``start`` tokens are the cached prefix (see the module docstring)."""
        n, end = q.shape[2], keys.shape[2]
        if start == 0:
            return F.scaled_dot_product_attention(q, keys, values, is_causal=True,
                                                  scale=self.scale, enable_gqa=True)
        if q.is_cuda and _flash_takes(q, keys, values):
            return F.scaled_dot_product_attention(q, keys, values,
                                                  attn_mask=causal_lower_right(n, end),
                                                  scale=self.scale, enable_gqa=True)
        mask = self._key_index[None, :end] <= torch.arange(start, end, device=q.device)[:, None]
        return F.scaled_dot_product_attention(
            q, keys.repeat_interleave(self.groups, dim=1),
            values.repeat_interleave(self.groups, dim=1), attn_mask=mask, scale=self.scale)

    # ---------------------------------------------------------------- decode
    def _decode_step(self) -> torch.Tensor:
        """One token from the static inputs; writes its KV at ``_write_at`` and advances
        the inputs in place (so graph replays chain without the host). Returns the
        logits (1, vocab) in the model dtype."""
        heads, kv, hd = self.n_heads, self.n_kv, self.head_dim
        hidden = self.lm.embed_tokens(self._token).view(1, -1)
        rows = heads + kv
        self._head_cos[:rows] = self._rope_cos.index_select(0, self._position)
        self._head_sin[:rows] = self._rope_sin.index_select(0, self._position)
        # 0 for the cached keys and this token's, -inf for the rest: one mask per step.
        bias = torch.where(self._key_index > self._write_at, float("-inf"), 0.0)
        bias = bias.view(1, self._chunks, 1, DECODE_CHUNK)
        for i, layer in enumerate(self.layers):
            h = self._norm(layer.input_norm, hidden)
            qkv = layer.project_qkv(h).view(heads + 2 * kv, hd)
            rotated = self._rotate(qkv, self._head_cos, self._head_sin)
            cache = self.kv_cache[i]
            cache.index_copy_(1, self._write_at, rotated[heads:, None])
            out = self._split_attention(rotated[:heads].view(kv, self.groups, hd),
                                        cache[:kv], cache[kv:], bias)
            hidden = layer.add_output(hidden, out.view(1, heads * hd))
            hidden = layer.add_mlp(hidden, self._norm(layer.post_norm, hidden))
        logits = self.lm_head(self._norm(self.lm.norm, hidden))
        next_token = logits.argmax(dim=-1)
        self._out_tokens.index_copy_(0, self._step, next_token)
        self._token.copy_(next_token.view(1, 1))
        self._position.add_(1)
        self._write_at.add_(1)
        self._step.add_(1)
        return logits

    def _split_attention(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                         bias: torch.Tensor) -> torch.Tensor:
        """Grouped-query attention of one token over the chunked cache.

        q (kv, groups, hd); keys, values (kv, capacity, hd); bias (1, chunks, 1, chunk)
        float32, 0 where a key is valid and -inf where it is not. Scores per chunk
        (kv, chunks, g, chunk) are scaled, biased and written in float32 straight into
        the (kv, g, capacity) row layout, one softmax normalises each row, the
        probabilities go back to the chunk layout in the model dtype for one product per
        chunk, and the chunks' partial outputs are summed. Returns (kv, groups, hd)."""
        kv, groups, hd = q.shape
        chunks = self._chunks
        keys = keys.view(kv, chunks, DECODE_CHUNK, hd)
        values = values.view(kv, chunks, DECODE_CHUNK, hd)
        scores = torch.matmul(q[:, None], keys.transpose(-1, -2))  # (kv, chunks, g, chunk)
        rows = torch.empty((kv, groups, chunks, DECODE_CHUNK), device=q.device,
                           dtype=torch.float32)
        torch.add(bias, scores, alpha=self.scale, out=rows.permute(0, 2, 1, 3))
        probs = torch.softmax(rows.view(kv, groups, self.capacity), dim=-1)
        weights = torch.empty((kv, chunks, groups, DECODE_CHUNK), device=q.device,
                              dtype=self.dtype)
        weights.permute(0, 2, 1, 3).copy_(probs.view(kv, groups, chunks, DECODE_CHUNK))
        return torch.matmul(weights, values).sum(dim=1)

    def _capture(self, steps: int) -> None:
        """Capture ``steps`` chained decode steps in one graph (after warm-up on a side
        stream). The steps write KV at scratch positions from ``length`` on, which the
        caller's truncate forgets; ``steps`` slots must be free there."""
        if self.length + steps > self.capacity:
            raise ModelFailed(f"no room to capture {steps} decode steps", reason="capacity")

        def rewind() -> None:
            self._write_at.fill_(self.length)
            self._position.zero_()
            self._step.zero_()

        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(2):
                rewind()
                for _ in range(steps):
                    self._decode_step()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        rewind()
        # thread_local: other threads of the node may use CUDA while this one captures.
        # Each graph keeps its own memory pool: the graphs replay in any order.
        with torch.inference_mode(), torch.cuda.graph(graph, capture_error_mode="thread_local"):
            for _ in range(steps):
                self._decode_step()
        self._graphs[steps] = graph

    @torch.inference_mode()
    def decode(self, first_token: int, position: int, max_new_tokens: int,
               stop_ids: set[int], cancel: threading.Event | None = None,
               check_every: int | None = None) -> DecodeResult:
        """Greedy decoding after a prefill: ``first_token`` (already chosen from the
        prefill logits) sits at M-RoPE position ``position`` (all three axes; text) and
        cache index ``length``. Returns up to ``max_new_tokens`` tokens, stopping before
        a token in ``stop_ids``, which are checked every ``check_every`` tokens (default
        ``burst``: one host synchronisation per graph replay). ``cancel`` aborts with
        :class:`ModelTimeout`."""
        tokens = [int(first_token)]
        if first_token in stop_ids:
            return DecodeResult([], 0)
        if max_new_tokens > MAX_DECODE_TOKENS:
            raise ModelFailed(f"max_new_tokens {max_new_tokens} > {MAX_DECODE_TOKENS}",
                              reason="capacity")
        check_every = self.burst if check_every is None else max(1, int(check_every))
        steps = min(max_new_tokens - 1, self.capacity - self.length)
        if steps > 0 and not 0 <= position <= self.capacity + 1 - steps:
            raise ModelFailed(f"decode position {position} + {steps} steps is outside the "
                              f"rotary table of {self.capacity + 1} positions",
                              reason="capacity")
        use_graph = self.use_cuda_graph and steps > 0
        if use_graph:
            # Both graphs are captured before any token is written: capturing later
            # would overwrite the KV of the tokens decoded so far.
            wanted = {1} | ({check_every} if steps >= check_every else set())
            for n in sorted(wanted - set(self._graphs)):
                self._capture(n)
        self._token.fill_(int(first_token))
        self._position.fill_(int(position))
        self._write_at.fill_(self.length)
        self._step.zero_()
        done = 0
        while done < steps:
            if cancel is not None and cancel.is_set():
                raise ModelTimeout("decoding cancelled")
            burst = min(check_every, steps - done)
            if use_graph and burst in self._graphs:
                self._graphs[burst].replay()
            else:
                for _ in range(burst):
                    if use_graph:
                        self._graphs[1].replay()
                    else:
                        self._decode_step()
            done += burst
            new = self._out_tokens[done - burst:done].tolist()
            stop_at = next((j for j, t in enumerate(new) if t in stop_ids), None)
            if stop_at is not None:
                tokens.extend(new[:stop_at])
                done = done - burst + stop_at + 1
                break
            tokens.extend(new)
        self.length += done
        return DecodeResult(tokens, done)

    def release(self) -> None:
        """Drop the cache tensors and the captured graphs and give the backbone's modules
        their own weight storage back (frees device memory)."""
        self._graphs = {}
        self.kv_cache = []
        self.length = 0
        for layer in self.layers:
            layer.unfuse()
