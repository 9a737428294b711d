"""The interleaved keyframe sequence: token ids, embeddings (visual + spatial) and the
backbone's multimodal rotary positions (M-RoPE).

Layout (Qwen chat format; one user turn)::

    <|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n          preamble
    Keyframe 0 (t=12.40 s, camera at x=1.20 y=-0.40 z=1.10 m, heading 35 deg):\\n
    <|vision_start|><|image_pad|> x n0 <|vision_end|>\\n                   frame 0
    Keyframe 1 (...):\\n<|vision_start|>...<|vision_end|>\\n              frame 1 ...
    Scene map (LocalCogMap):\\n{scaffold}\\nQuestion: {question}<|im_end|>\\n
    <|im_start|>assistant\\n                                               question

The sequence is the concatenation of independently tokenised segments, so a segment's ids
do not depend on its neighbours and each keyframe's segment is built once.

Positions: text tokens advance one position each in all three M-RoPE axes; a frame's
vision block gets (t, row, col) positions from its token grid, offset by the position
where it starts, and the text after it continues at ``start + max(rows, cols)``. Because
every segment's positions are "relative positions + start offset", a segment's relative
positions are computed once with the model's own ``get_rope_index`` and shifted when it is
placed; :func:`reference_positions` runs ``get_rope_index`` over a whole sequence and the
tests check both agree.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import numpy as np
import torch

from ssr_ros.model.backbone import Backbone
from ssr_ros.model.errors import InterleaveError

SYSTEM_PROMPT = "You are a helpful assistant."
SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>", "<|endoftext|>")


@dataclass
class Segment:
    """A piece of the sequence.

    ``input_ids`` (n,) int64 on the CPU; ``embeds`` (n, hidden) in the model dtype on the
    device; ``positions`` (3, n) int64 M-RoPE positions relative to the segment start;
    ``span`` how far the segment advances the position counter; ``grid_thw`` (1, 3) of its
    image or None.
    """

    input_ids: torch.Tensor
    embeds: torch.Tensor
    positions: torch.Tensor
    span: int
    grid_thw: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def frame_header(index: int, stamp_s: float, T_map_cam: np.ndarray) -> str:
    """Text before a keyframe's vision block: index, time [s], camera position in the map
    frame [m] and heading of the optical axis in the ground plane [deg, CCW from map +x]."""
    T = np.asarray(T_map_cam, dtype=np.float64)
    x, y, z = T[:3, 3]
    heading_deg = math.degrees(math.atan2(T[1, 2], T[0, 2]))
    return (f"Keyframe {index} (t={stamp_s:.2f} s, camera at x={x:.2f} y={y:.2f} z={z:.2f} m, "
            f"heading {heading_deg:.0f} deg):\n")


def sanitize_user_text(text: str) -> str:
    """Remove control-token strings from user text so it cannot forge the layout."""
    for token in SPECIAL_TOKENS:
        text = text.replace(token, "")
    return text


class SequenceBuilder:
    """Builds :class:`Segment` objects for one backbone."""

    def __init__(self, backbone: Backbone, system_prompt: str = SYSTEM_PROMPT) -> None:
        self.backbone = backbone
        self.system_prompt = system_prompt
        self.image_token_id = backbone.token_id("<|image_pad|>")
        self.vision_start_id = backbone.token_id("<|vision_start|>")
        self.vision_end_id = backbone.token_id("<|vision_end|>")
        config = backbone.model.config
        if self.image_token_id != int(config.image_token_id):
            raise InterleaveError(f"tokenizer <|image_pad|> id {self.image_token_id} != model "
                                  f"image_token_id {config.image_token_id}")
        params = inspect.signature(backbone.core.get_rope_index).parameters
        self._rope_takes_types = "mm_token_type_ids" in params

    def text_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without added BOS/EOS."""
        return list(self.backbone.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _text_segment(self, ids: list[int]) -> Segment:
        bb = self.backbone
        input_ids = torch.tensor(ids, dtype=torch.long)
        with torch.inference_mode():
            embeds = bb.embed_tokens(input_ids.to(bb.device))
        positions = torch.arange(len(ids), dtype=torch.long).expand(3, -1).to(bb.device)
        return Segment(input_ids, embeds, positions, len(ids))

    def preamble(self) -> Segment:
        """System turn and the opening of the user turn."""
        return self._text_segment(self.text_ids(
            f"<|im_start|>system\n{self.system_prompt}<|im_end|>\n<|im_start|>user\n"))

    def question(self, question: str, scaffold: str = "") -> Segment:
        """Scaffold (LocalCogMap text), the question, the end of the user turn and the
        opening of the assistant turn."""
        text = ""
        scaffold = sanitize_user_text(scaffold).strip()
        if scaffold:
            text += f"Scene map (LocalCogMap):\n{scaffold}\n"
        text += f"Question: {sanitize_user_text(question).strip()}"
        return self._text_segment(self.text_ids(text)
                                  + self.text_ids("<|im_end|>\n<|im_start|>assistant\n"))

    def frame_ids(self, header: str, n_image_tokens: int) -> list[int]:
        return (self.text_ids(header) + [self.vision_start_id]
                + [self.image_token_id] * n_image_tokens + [self.vision_end_id]
                + self.text_ids("\n"))

    def frame(self, header: str, visual: torch.Tensor, grid_thw: torch.Tensor,
              spatial: torch.Tensor | None = None) -> Segment:
        """A keyframe's segment: header text then its vision block, whose embeddings are the
        vision tower's tokens plus (token by token) the gated spatial embeddings.

        ``visual`` (n, hidden) model dtype; ``spatial`` (n, hidden) or None; ``grid_thw``
        (1, 3) patch grid of the image. Raises :class:`InterleaveError` on any mismatch.
        """
        bb = self.backbone
        grid = torch.as_tensor(grid_thw).reshape(-1, 3).long().cpu()
        if grid.shape[0] != 1:
            raise InterleaveError(f"a keyframe has one image, got grid_thw for {grid.shape[0]}")
        n_grid = int(grid.prod()) // (bb.merge * bb.merge)
        if visual.ndim != 2 or visual.shape[0] != n_grid or visual.shape[1] != bb.hidden_size:
            raise InterleaveError(
                f"visual tokens {tuple(visual.shape)} do not fit grid {grid.tolist()[0]} "
                f"({n_grid} tokens of width {bb.hidden_size})")
        if spatial is not None and tuple(spatial.shape) != tuple(visual.shape):
            raise InterleaveError(f"spatial embeddings {tuple(spatial.shape)} != visual tokens "
                                  f"{tuple(visual.shape)}")
        input_ids = torch.tensor(self.frame_ids(header, n_grid), dtype=torch.long)
        is_image = input_ids == self.image_token_id
        n_placeholders = int(is_image.sum())
        if n_placeholders != n_grid:
            raise InterleaveError(f"{n_placeholders} <|image_pad|> tokens in the frame segment "
                                  f"for {n_grid} vision tokens (the header contains some?)")
        with torch.inference_mode():
            embeds = bb.embed_tokens(input_ids.to(bb.device))
            tokens = visual.to(embeds.dtype)
            if spatial is not None:
                tokens = tokens + spatial.to(embeds.dtype)
            embeds[is_image.to(bb.device)] = tokens
        positions = self.rope_positions(input_ids, grid)
        span = int(positions.max()) + 1
        return Segment(input_ids, embeds, positions.to(bb.device), span, grid)

    def rope_positions(self, input_ids: torch.Tensor, grids: torch.Tensor | None) -> torch.Tensor:
        """The model's own M-RoPE positions (3, n) for ids (n,) starting at 0; ``grids``
        (n_images, 3) in order of appearance."""
        ids = input_ids.reshape(1, -1).cpu()
        n_images = int(((ids == self.vision_start_id)).sum())
        n_grids = 0 if grids is None else int(grids.shape[0])
        if n_images != n_grids:
            raise InterleaveError(f"{n_images} vision blocks but {n_grids} grids")
        if n_images == 0:
            return torch.arange(ids.shape[1], dtype=torch.long).expand(3, -1).clone()
        kwargs = {"image_grid_thw": grids.cpu()}
        if self._rope_takes_types:
            kwargs["mm_token_type_ids"] = (ids == self.image_token_id).int()
        positions, _ = self.backbone.core.get_rope_index(ids, **kwargs)
        return positions[:, 0, :].long()


def place(segments: list[Segment], start: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Concatenate segments: embeds (1, N, hidden), absolute positions (3, 1, N) beginning
    at ``start``, and the position where the next segment would begin."""
    offset = start
    positions = []
    for seg in segments:
        positions.append(seg.positions + offset)
        offset += seg.span
    embeds = torch.cat([seg.embeds for seg in segments], dim=0)[None]
    return embeds, torch.cat(positions, dim=1)[:, None, :], offset


def reference_positions(builder: SequenceBuilder, segments: list[Segment]) -> torch.Tensor:
    """M-RoPE positions (3, 1, N) of the whole sequence from one ``get_rope_index`` call."""
    ids = torch.cat([seg.input_ids for seg in segments])
    grids = [seg.grid_thw for seg in segments if seg.grid_thw is not None]
    grid = torch.cat(grids) if grids else None
    return builder.rope_positions(ids, grid)[:, None, :]
