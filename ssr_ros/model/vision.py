"""The backbone's vision tower (Qwen2.5-VL ViT + patch merger) run over a batch of images
with batched window attention.

transformers' tower attends window by window in a Python loop on its SDPA path (a host
synchronisation per layer and one small attention call per window: a 448 x 448 image
has 16 windows, so a 32-block tower makes hundreds of calls per image). Here the
windows of one layer that have the same length are gathered into one batch of one
SDPA call, and so are whole images in the full-attention layers, so a burst of
keyframes costs one call per layer whatever its size. The window partition, the
rotary positions and the permutations are computed once per call on the host from the
patch grids; no device value is read back.

The tower's own modules do the rest (patch embedding, q/k/v and output projections, MLPs,
merger); the attention, the bookkeeping around it, the RMS norms (``F.rms_norm``, one
kernel where the module takes several) and the rotary embedding (q and k rotated
together) are ours, because a single keyframe's pass is bound by the number of kernels
it launches. The tests hold the output equal to the tower's own forward.

Token order (the image processor's and the tower's): an image of (t, h, w) patches is a
sequence of ``t * h * w`` patches in (t, h / m, w / m, m, m) order for merge size m, so
every m x m block of patches (one LLM token after merging) is contiguous. Windows are
squares of ``window_size / (m * patch_size)`` merged tokens; the tower runs on the
sequence permuted window by window and the merger's output is permuted back.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ssr_ros.model.engine import rms_norm


@dataclass
class _Group:
    """Equal-length attention segments: ``count`` of ``length`` patches each, at the
    patch indices ``index`` (count * length,) of the permuted sequence, or covering it
    contiguously from 0 (``index`` None)."""

    index: torch.Tensor | None
    count: int
    length: int


def _groups(lengths: list[int], device: torch.device) -> list[_Group]:
    """Group consecutive segments of the given lengths by length."""
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    by_length: dict[int, list[int]] = {}
    for start, length in zip(starts.tolist(), lengths):
        by_length.setdefault(int(length), []).append(start)
    if len(by_length) == 1:
        length, seg_starts = next(iter(by_length.items()))
        return [_Group(None, len(seg_starts), length)]
    groups = []
    for length, seg_starts in by_length.items():
        index = (np.asarray(seg_starts)[:, None] + np.arange(length)[None, :]).reshape(-1)
        groups.append(_Group(torch.as_tensor(index, device=device), len(seg_starts), length))
    return groups


@dataclass
class _Layout:
    """Host-side bookkeeping of one batch: the window permutation of merged tokens and
    its inverse, rotary (row, col) positions of the permuted patches, and the attention
    groups of the windowed and of the full-attention layers."""

    window_index: torch.Tensor
    reverse_index: torch.Tensor
    positions: torch.Tensor
    window_groups: list[_Group]
    full_groups: list[_Group]


class VisionEngine:
    """Runs ``visual`` (a ``Qwen2_5_VisionTransformerPretrainedModel``) over several
    images at once; see the module docstring.

    ``use_cuda_graph``: on CUDA a single image's pass (a keyframe added on its own, which
    is bound by kernel launches) is captured in a CUDA graph per image size, at most
    ``max_graphs`` sizes, and replayed; a size whose capture fails runs eagerly.
    """

    def __init__(self, visual: nn.Module, use_cuda_graph: bool = True,
                 max_graphs: int = 4) -> None:
        config = visual.config
        self.visual = visual
        self.merge = int(config.spatial_merge_size)
        self.unit = self.merge * self.merge
        self.window_tokens = int(config.window_size) // self.merge // int(config.patch_size)
        if self.window_tokens < 1:
            raise ValueError(f"window of {config.window_size} px is smaller than one token")
        self.full_attention = {int(i) for i in config.fullatt_block_indexes}
        self.n_heads = int(config.num_heads)
        self.head_dim = int(config.hidden_size) // self.n_heads
        self.scale = self.head_dim ** -0.5
        self.use_cuda_graph = bool(use_cuda_graph)
        self.max_graphs = int(max_graphs)
        # (grid, dtype, patch width) -> (static input, graph, static output) or None
        # where the capture failed.
        self._graphs: OrderedDict[tuple, tuple | None] = OrderedDict()

    # ------------------------------------------------------------------ layout
    def _layout(self, grids: list[tuple[int, int, int]], device: torch.device) -> _Layout:
        m, win = self.merge, self.window_tokens
        window_index, positions, window_lengths, full_lengths = [], [], [], []
        offset = 0
        for t, h, w in grids:
            if h % m or w % m:
                raise ValueError(f"patch grid {h} x {w} is not a multiple of merge size {m}")
            rows, cols = h // m, w // m
            # (row, col) patch coordinates in the (t, rows, cols, m, m) sequence order.
            block_r = np.arange(rows)[:, None, None, None] * m + np.arange(m)[None, None, :,
                                                                                None]
            block_c = np.arange(cols)[None, :, None, None] * m + np.arange(m)[None, None,
                                                                                None, :]
            r = np.broadcast_to(block_r, (rows, cols, m, m)).reshape(-1)
            c = np.broadcast_to(block_c, (rows, cols, m, m)).reshape(-1)
            frame_pos = np.stack((r, c), axis=-1)
            for frame in range(t):
                tokens = np.arange(rows * cols).reshape(rows, cols) + offset
                for r0 in range(0, rows, win):
                    for c0 in range(0, cols, win):
                        window = tokens[r0:r0 + win, c0:c0 + win].reshape(-1)
                        window_index.append(window)
                        window_lengths.append(window.size * self.unit)
                full_lengths.append(rows * cols * self.unit)
                positions.append(frame_pos)
                offset += rows * cols
        window_index = np.concatenate(window_index)
        positions = np.concatenate(positions).reshape(-1, self.unit, 2)[window_index]
        return _Layout(
            window_index=torch.as_tensor(window_index, device=device),
            reverse_index=torch.as_tensor(np.argsort(window_index), device=device),
            positions=torch.as_tensor(positions.reshape(-1, 2), device=device),
            window_groups=_groups(window_lengths, device),
            full_groups=_groups(full_lengths, device))

    def _rotary(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 2) row/col positions -> cos and signed sin (N, 1, 1, head_dim) float32: the
        first half of the angles from the row, the second from the column, repeated; the
        sin's first half negated so that rotating is ``x * cos + swap(x) * sin``."""
        inv_freq = self.visual.rotary_pos_emb.inv_freq.to(positions.device, torch.float32)
        freqs = (positions[..., None].float() * inv_freq).flatten(1)  # (N, hd / 2)
        sin = freqs.sin()
        cos = torch.cat((freqs, freqs), dim=-1).cos()
        return cos[:, None, None], torch.cat((-sin, sin), dim=-1)[:, None, None]

    # ------------------------------------------------------------------ forward
    def _attention(self, attn: nn.Module, x: torch.Tensor, cos: torch.Tensor,
                   sin: torch.Tensor, groups: list[_Group]) -> torch.Tensor:
        """One block's attention over (N, width) inputs within each segment."""
        n = x.shape[0]
        heads, hd = self.n_heads, self.head_dim
        qkv = attn.qkv(x).view(n, 3, heads, hd)
        # As the tower does: rotate in float32, back to the model dtype; q and k at once.
        q, k = self._rotate(qkv[:, :2].float(), cos, sin).to(x.dtype).unbind(1)
        v = qkv[:, 2]  # (N, heads, hd) each
        if len(groups) == 1 and groups[0].index is None:
            out = self._sdpa(q, k, v, groups[0].count, groups[0].length)
        else:
            out = torch.empty_like(q)
            for group in groups:
                part = self._sdpa(q.index_select(0, group.index), k.index_select(0, group.index),
                                  v.index_select(0, group.index), group.count, group.length)
                out.index_copy_(0, group.index, part)
        return attn.proj(out.reshape(n, heads * hd))

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return torch.addcmul(x * cos, torch.cat((x[..., half:], x[..., :half]), dim=-1), sin)

    def _sdpa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, count: int,
              length: int) -> torch.Tensor:
        """(count * length, heads, hd) each -> attention within each of the ``count``
        segments, same shape."""
        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(count, length, self.n_heads, self.head_dim).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(q), split(k), split(v), scale=self.scale)
        return out.transpose(1, 2).reshape(count * length, self.n_heads, self.head_dim)

    @torch.inference_mode()
    def __call__(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
        """``pixel_values`` (P, C * t * p * p) of the images concatenated in order and
        ``grid_thw`` (n_images, 3) their patch grids -> merged tokens
        (P / merge**2, out_hidden) in the tower's dtype, image after image."""
        grids = [tuple(int(v) for v in row) for row in torch.as_tensor(grid_thw).tolist()]
        n_patches = sum(t * h * w for t, h, w in grids)
        if pixel_values.shape[0] != n_patches:
            raise ValueError(f"{pixel_values.shape[0]} patches for grids {grids} "
                             f"({n_patches} expected)")
        if self.use_cuda_graph and pixel_values.is_cuda and len(grids) == 1:
            entry = self._graph(pixel_values, grids)
            if entry is not None:
                static_input, graph, static_output = entry
                static_input.copy_(pixel_values)
                graph.replay()
                return static_output.clone()
        return self._forward(pixel_values, self._layout(grids, pixel_values.device))

    def _forward(self, pixel_values: torch.Tensor, layout: _Layout) -> torch.Tensor:
        visual = self.visual
        n_patches = pixel_values.shape[0]
        x = visual.patch_embed(pixel_values)
        x = x.view(n_patches // self.unit, self.unit, -1)[layout.window_index]
        x = x.reshape(n_patches, -1)
        cos, sin = self._rotary(layout.positions)
        for i, block in enumerate(visual.blocks):
            groups = layout.full_groups if i in self.full_attention else layout.window_groups
            x = x + self._attention(block.attn, rms_norm(block.norm1, x), cos, sin, groups)
            x = x + block.mlp(rms_norm(block.norm2, x))
        return visual.merger(x)[layout.reverse_index]

    def _graph(self, pixel_values: torch.Tensor, grids: list[tuple[int, int, int]]):
        """The captured pass for this image size (captured on first use), or None."""
        key = (tuple(grids), pixel_values.dtype, pixel_values.shape[1])
        if key in self._graphs:
            self._graphs.move_to_end(key)
            return self._graphs[key]
        device = pixel_values.device
        layout = self._layout(grids, device)  # host work and copies stay outside the graph
        static_input = pixel_values.clone()
        entry = None
        try:
            stream = torch.cuda.Stream(device=device)
            stream.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(stream):
                for _ in range(2):
                    self._forward(static_input, layout)
            torch.cuda.current_stream(device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            # thread_local: other threads of the node may use CUDA while this one captures.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                static_output = self._forward(static_input, layout)
            entry = (static_input, graph, static_output)
        except RuntimeError:  # a kernel that cannot be captured: this size runs eagerly
            torch.cuda.synchronize(device)
        self._graphs[key] = entry
        while len(self._graphs) > self.max_graphs:
            self._graphs.popitem(last=False)
        return entry
