"""The trainable model: the backbone frozen (vision tower included), LoRA layers injected
into its language model by peft, and the spatial encoder with its gate.

A sample becomes exactly the sequence the runner builds at inference (the same
:class:`~ssr_ros.model.interleave.SequenceBuilder` pieces: preamble, one segment per
keyframe with its header and vision block, the question segment) followed by the answer
and ``<|im_end|>``. Vision tokens are the frozen tower's output plus the gated spatial
embeddings; both the tower's output and the per-token geometric features are computed
once per keyframe and cached in host memory (the tower never trains), so a training step
costs the spatial MLP and the language model only. With ``lora=None`` the same class
scores a backbone as it is (an adapter's LoRA already merged), without training it. The loss is the mean cross-entropy of the answer
tokens (``<|im_end|>`` included); prompt tokens carry no loss.

Batches are right-padded: with causal attention, padding after a sequence never reaches
its tokens, so no attention mask is needed and the positions of padding do not matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ssr_ros.model.backbone import Backbone
from ssr_ros.model.interleave import SequenceBuilder, frame_header
from ssr_ros.model.spatial import SpatialEncoder, SpatialEncoderConfig, token_features
from ssr_ros.train.data import Keyframe, load_keyframe

#: Linear layers of a Qwen2 decoder block that get LoRA (attention and MLP projections).
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
IGNORE = -100


@dataclass(frozen=True)
class LoraSettings:
    """LoRA rank r, alpha (scaling = alpha / r), dropout, and the projection names."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    targets: tuple[str, ...] = LORA_TARGETS

    def __post_init__(self) -> None:
        if self.rank < 1 or not self.alpha > 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"bad LoRA settings {self}")


@dataclass
class _CachedFrame:
    visual: torch.Tensor     # (n, hidden) model dtype, frozen tower output, on the CPU
    features: torch.Tensor   # (n, 9) float32 geometric features per token, on the CPU
    grid_thw: torch.Tensor   # (1, 3) int64
    stamp_s: float
    T_map_cam: np.ndarray    # (4, 4) optical frame -> map


@dataclass
class Batch:
    """A padded batch: ``embeds`` (B, N, hidden), ``positions`` (3, B, N), ``labels``
    (B, N) int64 (IGNORE where no loss), ``tokens`` the real tokens in it."""

    embeds: torch.Tensor
    positions: torch.Tensor
    labels: torch.Tensor
    tokens: int = 0
    lengths: list[int] = field(default_factory=list)


class TrainableSSR:
    """Backbone + LoRA + spatial encoder (see the module docstring).

    ``train_spatial`` False freezes the whole spatial branch at its current weights (with
    a fresh encoder: the gate stays exactly zero, the backbone's own answer). ``image_side``
    as the runner's ``model.image_side`` [px]: keyframes are resized the same way.
    """

    def __init__(self, backbone: Backbone, lora: LoraSettings | None = LoraSettings(),
                 spatial: SpatialEncoder | None = None, train_spatial: bool = True,
                 image_side: int = 448) -> None:
        self.bb = backbone
        self.lora_settings = lora
        self.image_side = int(image_side)
        for param in backbone.model.parameters():
            param.requires_grad_(False)
        self.lora_params: dict[str, torch.nn.Parameter] = {}
        if lora is not None:  # None: score a (merged) backbone as it is
            self._inject_lora(lora)
        if spatial is None:
            spatial = SpatialEncoder(SpatialEncoderConfig(backbone.hidden_size))
        self.spatial = spatial.to(backbone.device).float()
        self.set_train_spatial(train_spatial)
        self.builder = SequenceBuilder(backbone)
        self._preamble_ids = self.builder.preamble().input_ids.tolist()
        self._im_end = backbone.token_id("<|im_end|>")
        self._frames: dict[str, _CachedFrame] = {}

    def _inject_lora(self, lora: LoraSettings) -> None:
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=list(lora.targets), bias="none")
        inject_adapter_in_model(config, self.bb.language_model)
        for name, param in self.bb.language_model.named_parameters():
            if "lora_" in name:
                # Adapters train in float32 even on a bfloat16 backbone (peft casts the
                # layer input to the adapter's dtype).
                param.data = param.data.float()
                param.requires_grad_(True)
                self.lora_params[name] = param
        if not self.lora_params:
            raise ValueError(f"no LoRA layers were injected for targets {lora.targets}")

    # ------------------------------------------------------------------ parameters
    def set_train_spatial(self, train_spatial: bool) -> None:
        """Train the spatial branch (encoder and gate) or freeze it as it is."""
        self.train_spatial = bool(train_spatial)
        for param in self.spatial.parameters():
            param.requires_grad_(self.train_spatial)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        params = list(self.lora_params.values())
        if self.train_spatial:
            params += list(self.spatial.parameters())
        return params

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """LoRA tensors (by parameter name) and the spatial encoder's state."""
        return {"lora": {k: v.detach().cpu().clone() for k, v in self.lora_params.items()},
                "spatial": {k: v.detach().cpu().clone()
                            for k, v in self.spatial.state_dict().items()}}

    def load_state_dict(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        lora = state["lora"]
        if set(lora) != set(self.lora_params):
            differ = sorted(set(lora) ^ set(self.lora_params))[:4]
            raise KeyError(f"LoRA parameters differ: {differ}")
        with torch.no_grad():
            for name, param in self.lora_params.items():
                if tuple(lora[name].shape) != tuple(param.shape):
                    raise ValueError(f"LoRA parameter {name}: {tuple(lora[name].shape)} != "
                                     f"{tuple(param.shape)}")
                param.copy_(lora[name])
        self.spatial.load_state_dict(state["spatial"], strict=True)

    def lora_pairs(self) -> dict[str, tuple[torch.Tensor, torch.Tensor, float]]:
        """{module name under the language model: (A (r, in), B (out, r), scaling)}."""
        pairs = {}
        for name, module in self.bb.language_model.named_modules():
            lora_a = getattr(module, "lora_A", None)
            if isinstance(lora_a, torch.nn.ModuleDict) and "default" in lora_a:
                pairs[name] = (lora_a["default"].weight.detach().cpu(),
                               module.lora_B["default"].weight.detach().cpu(),
                               float(module.scaling["default"]))
        return pairs

    # ------------------------------------------------------------------ sequences
    def frame(self, data_dir: str | Path, rel: str) -> _CachedFrame:
        """The cached tower output and token features of a stored keyframe."""
        key = f"{Path(data_dir).resolve()}/{rel}"
        cached = self._frames.get(key)
        if cached is None:
            cached = self._frames[key] = self._encode_keyframe(load_keyframe(data_dir, rel))
        return cached

    def _encode_keyframe(self, kf: Keyframe) -> _CachedFrame:
        bb = self.bb
        pixel_values, grid = bb.preprocess(kf.rgb, self.image_side)
        # Cached in host memory: a 7B tower's output is ~1.8 MB per keyframe, too much to
        # keep on the GPU for a whole data set.
        visual = bb.encode_image(pixel_values, grid).cpu().clone()
        grid_hw = (int(grid[0, 1]) // bb.merge, int(grid[0, 2]) // bb.merge)
        with torch.no_grad():
            feats = token_features(grid_hw, kf.T_map_cam, bb.device, depth_m=kf.depth_m,
                                   K=kf.K, token_px=bb.token_px)
        return _CachedFrame(visual, feats.cpu().clone(), grid, kf.stamp_s, kf.T_map_cam)

    def sample_ids(self, data_dir: str | Path, sample: dict, with_answer: bool = True
                   ) -> tuple[list[int], list[_CachedFrame], int]:
        """Token ids of a sample's sequence, its frames, and where the answer starts."""
        ids = list(self._preamble_ids)
        frames = []
        for index, rel in enumerate(sample["frames"]):
            frame = self.frame(data_dir, rel)
            n = int(frame.grid_thw.prod()) // (self.bb.merge ** 2)
            # The runner numbers keyframes from 0 in the order they arrive.
            header = frame_header(index, frame.stamp_s, frame.T_map_cam)
            ids += self.builder.frame_ids(header, n)
            frames.append(frame)
        ids += self.builder.question(sample["prompt"]).input_ids.tolist()
        answer_start = len(ids)
        if with_answer:
            ids += self.builder.text_ids(sample["answer"]) + [self._im_end]
        return ids, frames, answer_start

    def batch(self, data_dir: str | Path, samples: list[dict]) -> Batch:
        """Embeddings (with the spatial branch in the graph), positions and labels."""
        bb = self.bb
        rows = []
        for sample in samples:
            ids, frames, start = self.sample_ids(data_dir, sample)
            ids_t = torch.tensor(ids, dtype=torch.long)
            grids = torch.cat([f.grid_thw for f in frames]) if frames else None
            positions = self.builder.rope_positions(ids_t, grids)
            with torch.no_grad():
                embeds = bb.embed_tokens(ids_t.to(bb.device))
            if frames:
                visual = torch.cat([f.visual for f in frames]).to(bb.device)
                spatial = self.spatial(torch.cat([f.features for f in frames]).to(bb.device))
                is_image = (ids_t == self.builder.image_token_id).to(bb.device)
                embeds = embeds.clone()
                embeds[is_image] = visual.to(embeds.dtype) + spatial.to(embeds.dtype)
            labels = torch.full((len(ids),), IGNORE, dtype=torch.long)
            labels[start:] = ids_t[start:]
            rows.append((embeds, positions, labels))
        width = max(r[0].shape[0] for r in rows)
        hidden = rows[0][0].shape[1]
        embeds = torch.zeros((len(rows), width, hidden), dtype=rows[0][0].dtype,
                             device=bb.device)
        positions = torch.zeros((3, len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for b, (e, p, lab) in enumerate(rows):
            n = e.shape[0]
            embeds[b, :n] = e
            positions[:, b, :n] = p
            positions[:, b, n:] = p.max() + 1 + torch.arange(width - n)
            labels[b, :n] = lab
        return Batch(embeds, positions.to(bb.device), labels.to(bb.device),
                     tokens=sum(r[0].shape[0] for r in rows),
                     lengths=[r[0].shape[0] for r in rows])

    def loss(self, batch: Batch) -> torch.Tensor:
        """Mean cross-entropy [nats/token] of the answer tokens."""
        out = self.bb.language_model(inputs_embeds=batch.embeds, position_ids=batch.positions,
                                     use_cache=False)
        hidden = out.last_hidden_state[:, :-1]
        targets = batch.labels[:, 1:]
        keep = targets != IGNORE
        logits = self.bb.lm_head(hidden[keep]).float()
        return F.cross_entropy(logits, targets[keep])

    def answer_nll(self, data_dir: str | Path, sample: dict) -> tuple[float, int]:
        """(summed cross-entropy [nats], number) of the answer tokens of ``sample``,
        teacher-forced, without gradients."""
        logits = self.answer_logits(data_dir, sample)
        ids, _, start = self.sample_ids(data_dir, sample)
        targets = torch.tensor(ids[start:], dtype=torch.long)
        loss = F.cross_entropy(logits, targets, reduction="sum")
        return float(loss), int(targets.numel())

    def answer_logits(self, data_dir: str | Path, sample: dict) -> torch.Tensor:
        """Logits (n_answer_tokens, vocab) float32 CPU at the positions that predict the
        answer (and ``<|im_end|>``), without gradients (tests compare the runner to it)."""
        with torch.no_grad():
            batch = self.batch(data_dir, [sample])
            out = self.bb.language_model(inputs_embeds=batch.embeds,
                                         position_ids=batch.positions, use_cache=False)
            keep = batch.labels[0, 1:] != IGNORE
            return self.bb.lm_head(out.last_hidden_state[0, :-1][keep]).float().cpu()


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA) and numpy's global generator."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))
