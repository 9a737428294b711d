"""Our own decoding engine over the backbone's text weights: a static KV cache, chunked
prefill that appends to it, and a text-only decode step that is captured in a CUDA graph
on CUDA (plain eager loop on the CPU).

The engine reuses the backbone's modules (norms, projections, MLPs, embeddings, LM head)
and does attention and M-RoPE itself, so the cache layout and the decode step are ours:
static shapes, no Python-side cache objects, no host synchronisation per token. The
tests check its logits against the backbone's own forward pass.

KV cache: per layer one (1, kv_heads, capacity, head_dim) tensor for keys and one for
values; ``length`` tokens at the front are valid. Truncating is setting ``length``.
The capacity is a whole number of ``DECODE_CHUNK`` token chunks.

Decode attention is split over those chunks (one small matrix product per KV head and
chunk, then one softmax over all of them): a single query row against the whole cache
as one product per head ran on 4 thread blocks of a 132-SM GPU, and on the 7B shapes
it cost ~0.3 ms per 1k cached tokens per token (H100, 2026-11-26); the split runs on
hundreds. Norms use ``F.rms_norm`` (one fused kernel where torch has one) and q and k
are rotated together: the decode step is ~1300 small kernels, so each one saved counts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ssr_ros.model.errors import ModelFailed, ModelTimeout

#: Tokens per chunk of the split decode attention (the capacity is rounded up to it).
DECODE_CHUNK = 256


@dataclass
class DecodeResult:
    """Generated token ids (the stop token excluded) and the number of decode steps run."""

    token_ids: list[int]
    steps: int


class TextEngine:
    """Prefill and decode over a static KV cache of ``capacity`` tokens."""

    def __init__(self, language_model: torch.nn.Module, lm_head: torch.nn.Module,
                 capacity: int, device: torch.device, dtype: torch.dtype,
                 use_cuda_graph: bool = True) -> None:
        self.lm = language_model
        self.lm_head = lm_head
        self.layers = list(language_model.layers)
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
        self.capacity = -(-int(capacity) // DECODE_CHUNK) * DECODE_CHUNK
        self._chunks = self.capacity // DECODE_CHUNK
        self.device = device
        self.dtype = dtype
        shape = (1, self.n_kv, self.capacity, self.head_dim)
        self.k_cache = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.layers]
        self.v_cache = [torch.zeros(shape, device=device, dtype=dtype) for _ in self.layers]
        self.length = 0
        self.use_cuda_graph = bool(use_cuda_graph) and device.type == "cuda"
        # Static inputs of the decode step (read by the captured graph).
        self._token = torch.zeros((1, 1), dtype=torch.long, device=device)
        self._position = torch.zeros((1,), dtype=torch.long, device=device)
        self._write_at = torch.zeros((1,), dtype=torch.long, device=device)
        self._step = torch.zeros((1,), dtype=torch.long, device=device)
        self._key_index = torch.arange(self.capacity, device=device)
        self._out_tokens = torch.zeros((4096,), dtype=torch.long, device=device)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._graph_logits: torch.Tensor | None = None

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
        """Rotary embedding: x * cos + (x2, x1) * (-sin, sin), i.e. rotate_half."""
        half = x.shape[-1] // 2
        swapped = torch.cat((x[..., half:], x[..., :half]), dim=-1)
        return x * cos[:, None] + swapped * sin[:, None]

    @staticmethod
    def _norm(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The backbone's RMS norm as ``F.rms_norm`` (one kernel where torch fuses it;
        same formula: float32 statistics, weight applied to the normalised input)."""
        eps = getattr(module, "variance_epsilon", None)
        if eps is None or not hasattr(F, "rms_norm"):
            return module(x)
        return F.rms_norm(x, (x.shape[-1],), module.weight, eps)

    def _qkv(self, layer: torch.nn.Module, hidden: torch.Tensor, cos: torch.Tensor,
             sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Projected, rotated q (1, heads, n, hd) and k, and v (1, kv_heads, n, hd)."""
        attn = layer.self_attn
        n = hidden.shape[1]
        q = attn.q_proj(hidden).view(1, n, self.n_heads, self.head_dim)
        k = attn.k_proj(hidden).view(1, n, self.n_kv, self.head_dim)
        v = attn.v_proj(hidden).view(1, n, self.n_kv, self.head_dim).transpose(1, 2)
        qk = self._rotate(torch.cat((q, k), dim=2).transpose(1, 2), cos, sin)
        q, k = qk.split((self.n_heads, self.n_kv), dim=1)
        return q, k, v

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
        logits of the last token (1, vocab), or of all new tokens (1, n, vocab)."""
        n = int(embeds.shape[1])
        start = self.length
        if start + n > self.capacity:
            raise ModelFailed(f"sequence of {start + n} tokens exceeds the KV cache capacity "
                              f"{self.capacity}", reason="capacity")
        cos, sin = self._cos_sin(positions)
        end = start + n
        mask = None
        if start > 0:
            q_idx = torch.arange(start, end, device=self.device)[:, None]
            mask = self._key_index[None, :end] <= q_idx  # (n, end)
        hidden = embeds.to(self.dtype)
        for i, layer in enumerate(self.layers):
            residual = hidden
            h = self._norm(layer.input_layernorm, hidden)
            q, k, v = self._qkv(layer, h, cos, sin)
            self.k_cache[i][:, :, start:end] = k
            self.v_cache[i][:, :, start:end] = v
            keys = self.k_cache[i][:, :, :end].repeat_interleave(self.groups, dim=1)
            values = self.v_cache[i][:, :, :end].repeat_interleave(self.groups, dim=1)
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask,
                                                 is_causal=mask is None, scale=self.scale)
            out = out.transpose(1, 2).reshape(1, n, self.n_heads * self.head_dim)
            hidden = residual + layer.self_attn.o_proj(out)
            hidden = hidden + layer.mlp(self._norm(layer.post_attention_layernorm, hidden))
        self.length = end
        hidden = self._norm(self.lm.norm, hidden)
        if all_logits:
            return self.lm_head(hidden).float()
        return self.lm_head(hidden[:, -1]).float()

    # ---------------------------------------------------------------- decode
    def _decode_step(self) -> torch.Tensor:
        """One token from the static inputs; writes its KV at ``_write_at`` and advances
        the inputs in place (so graph replays chain without the host). Returns logits."""
        hidden = self.lm.embed_tokens(self._token)  # (1, 1, hidden)
        cos, sin = self._cos_sin(self._position.view(1, 1, 1).expand(3, 1, 1))
        chunks, kv, groups, hd = self._chunks, self.n_kv, self.groups, self.head_dim
        hidden_keys = (self._key_index > self._write_at).view(chunks, 1, DECODE_CHUNK)
        for i, layer in enumerate(self.layers):
            residual = hidden
            h = self._norm(layer.input_layernorm, hidden)
            q, k, v = self._qkv(layer, h, cos, sin)
            self.k_cache[i].index_copy_(2, self._write_at, k)
            self.v_cache[i].index_copy_(2, self._write_at, v)
            out = self._split_attention(q.reshape(kv, 1, groups, hd),
                                        self.k_cache[i].view(kv, chunks, DECODE_CHUNK, hd),
                                        self.v_cache[i].view(kv, chunks, DECODE_CHUNK, hd),
                                        hidden_keys)
            hidden = residual + layer.self_attn.o_proj(out.view(1, 1, self.n_heads * hd))
            hidden = hidden + layer.mlp(self._norm(layer.post_attention_layernorm, hidden))
        logits = self.lm_head(self._norm(self.lm.norm, hidden)[:, -1]).float()
        next_token = logits.argmax(dim=-1)
        self._out_tokens.index_copy_(0, self._step, next_token)
        self._token.copy_(next_token.view(1, 1))
        self._position.add_(1)
        self._write_at.add_(1)
        self._step.add_(1)
        return logits

    def _split_attention(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                         hidden_keys: torch.Tensor) -> torch.Tensor:
        """Grouped-query attention of one token over the chunked cache.

        q (kv, 1, groups, hd); keys, values (kv, chunks, chunk, hd); hidden_keys
        (chunks, 1, chunk) true where a key is not (yet) valid. One softmax over every
        chunk: scores minus their global max, exponentiated, each chunk's weighted values
        summed in float32, divided by the total weight once. Returns (kv, groups, hd)."""
        scores = torch.matmul(q, keys.transpose(-1, -2)).float()  # (kv, chunks, g, chunk)
        scores.masked_fill_(hidden_keys, float("-inf"))
        top = scores.amax(dim=(1, 3), keepdim=True)
        weights = scores.sub_(top).mul_(self.scale).exp_()
        total = weights.sum(dim=(1, 3))  # (kv, g)
        partial = torch.matmul(weights.to(self.dtype), values)  # (kv, chunks, g, hd)
        out = partial.sum(dim=1, dtype=torch.float32).div_(total[..., None])
        return out.to(self.dtype)

    def _capture(self) -> None:
        """Capture the decode step once (after warm-up on a side stream). The cache
        contents it touches are scratch positions restored by the caller's truncate."""
        saved = self.length
        self._write_at.fill_(min(saved, self.capacity - 1))
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(2):
                self._write_at.fill_(min(saved, self.capacity - 1))
                self._step.zero_()
                self._decode_step()
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        self._write_at.fill_(min(saved, self.capacity - 1))
        self._step.zero_()
        # thread_local: other threads of the node may use CUDA while this one captures.
        with torch.inference_mode(), torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self._graph_logits = self._decode_step()
        self._graph = graph
        self.length = saved

    @torch.inference_mode()
    def decode(self, first_token: int, position: int, max_new_tokens: int,
               stop_ids: set[int], cancel: threading.Event | None = None,
               check_every: int = 8) -> DecodeResult:
        """Greedy decoding after a prefill: ``first_token`` (already chosen from the
        prefill logits) sits at M-RoPE position ``position`` (all three axes; text) and
        cache index ``length``. Returns up to ``max_new_tokens`` tokens, stopping before
        a token in ``stop_ids``. ``cancel`` aborts with :class:`ModelTimeout`."""
        tokens = [int(first_token)]
        if first_token in stop_ids:
            return DecodeResult([], 0)
        steps = min(max_new_tokens - 1, self.capacity - self.length)
        if max_new_tokens > self._out_tokens.shape[0]:
            raise ModelFailed(f"max_new_tokens {max_new_tokens} > "
                              f"{self._out_tokens.shape[0]}", reason="capacity")
        use_graph = self.use_cuda_graph and steps > 0
        if use_graph and self._graph is None:
            self._capture()
        self._token.fill_(int(first_token))
        self._position.fill_(int(position))
        self._write_at.fill_(self.length)
        self._step.zero_()
        done = 0
        while done < steps:
            if cancel is not None and cancel.is_set():
                raise ModelTimeout("decoding cancelled")
            # Stop tokens are checked once per burst: one host synchronisation per burst.
            burst = min(check_every, steps - done)
            for _ in range(burst):
                if use_graph:
                    self._graph.replay()
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
        """Drop the cache tensors and the captured graph (frees device memory)."""
        self._graph = None
        self._graph_logits = None
        self.k_cache = []
        self.v_cache = []
        self.length = 0
