"""Tiny random Qwen2.5-VL backbones of the real architecture, built in-process.

No tokenizer or weights can be downloaded, so the tokenizer is a byte-level BPE with no
merges (every byte one token) plus the Qwen control tokens; the image processor is the
real Qwen2-VL one; the model is ``Qwen2_5_VLForConditionalGeneration`` from a config with
a few layers and small widths. Every code path of the runner (image processor, vision
tower, M-RoPE, tokenizer) is the real one; only the sizes and weights are not.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ssr_ros.model.backbone import Backbone
from ssr_ros.model.interleave import SPECIAL_TOKENS

#: Control tokens in id order after the 256 byte tokens.
_SPECIAL_ORDER = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def build_tokenizer() -> Any:
    """Byte-level tokenizer: ids 0..255 are bytes, 256.. the Qwen control tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    assert set(_SPECIAL_ORDER) == set(SPECIAL_TOKENS)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens([AddedToken(t, special=True, normalized=False)
                             for t in _SPECIAL_ORDER])
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")


def build_image_processor(max_side_px: int = 448) -> Any:
    """The real Qwen2-VL image processor (PIL backend when torchvision is absent)."""
    import transformers

    cls = getattr(transformers, "Qwen2VLImageProcessorPil", None)
    try:
        import torchvision  # noqa: F401  (the fast processor needs it)
        cls = transformers.Qwen2VLImageProcessor
    except ImportError:
        cls = cls or transformers.Qwen2VLImageProcessor
    return cls(max_pixels=max_side_px * max_side_px)


def special_ids(tokenizer: Any) -> dict[str, int]:
    return {t: int(tokenizer.convert_tokens_to_ids(t)) for t in _SPECIAL_ORDER}


def qwen_config(tokenizer: Any, text: dict[str, Any], vision: dict[str, Any]) -> Any:
    """A ``Qwen2_5_VLConfig`` whose control-token ids are the tokenizer's."""
    from transformers import Qwen2_5_VLConfig

    ids = special_ids(tokenizer)
    text = dict(text)
    text.setdefault("bos_token_id", ids["<|endoftext|>"])
    text.setdefault("eos_token_id", ids["<|im_end|>"])
    text.setdefault("pad_token_id", ids["<|endoftext|>"])
    return Qwen2_5_VLConfig(
        text_config=text, vision_config=dict(vision),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"])


def tiny_config(tokenizer: Any) -> Any:
    """Two text layers of width 64 (4 heads, 2 KV heads), two vision blocks of width 32."""
    vocab = len(tokenizer)
    return qwen_config(
        tokenizer,
        text=dict(vocab_size=vocab + (-vocab) % 8, hidden_size=64, intermediate_size=128,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=8192,
                  rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3],
                                   "rope_theta": 1000000.0}),
        vision=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                    out_hidden_size=64, fullatt_block_indexes=[1], window_size=56,
                    patch_size=14, spatial_merge_size=2, temporal_patch_size=2))


def qwen7b_config(tokenizer: Any, text_layers: int = 28, vision_depth: int = 32,
                  vocab_size: int | None = 152064) -> Any:
    """Qwen2.5-VL-7B-Instruct shapes (text 3584 wide, GQA 28/4 heads of 128, M-RoPE
    sections 16/24/24; vision 1280 wide, 16 heads, windows of 112 px), optionally with
    fewer layers: every kernel sees the real widths at a fraction of the memory.
    ``vocab_size`` None: the tokenizer's size (rounded up to 8)."""
    if vocab_size is None:
        vocab_size = len(tokenizer) + (-len(tokenizer)) % 8
    full_attention = [i for i in (7, 15, 23, 31) if i < vision_depth] or [vision_depth - 1]
    return qwen_config(
        tokenizer,
        text=dict(vocab_size=vocab_size, hidden_size=3584, intermediate_size=18944,
                  num_hidden_layers=text_layers, num_attention_heads=28,
                  num_key_value_heads=4, max_position_embeddings=128000, rms_norm_eps=1e-6,
                  rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24],
                                   "rope_theta": 1000000.0}),
        vision=dict(depth=vision_depth, hidden_size=1280, intermediate_size=3420,
                    num_heads=16, out_hidden_size=3584,
                    fullatt_block_indexes=full_attention, window_size=112, patch_size=14,
                    spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2))


def build_backbone(config: Any, tokenizer: Any, image_processor: Any,
                   device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                   seed: int = 0) -> Backbone:
    """Random-weight ``Qwen2_5_VLForConditionalGeneration`` from ``config`` on ``device``."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    device = torch.device(device)
    torch.manual_seed(seed)
    with device:
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    model.train(False)
    return Backbone(model=model, tokenizer=tokenizer, image_processor=image_processor,
                    device=device, dtype=dtype)


def tiny_backbone(seed: int = 0, image_side: int = 112) -> Backbone:
    """The tiny backbone on the CPU in float32."""
    tokenizer = build_tokenizer()
    return build_backbone(tiny_config(tokenizer), tokenizer, build_image_processor(image_side),
                          seed=seed)


def save_checkpoint(backbone: Backbone, path: str) -> None:
    """Write model, tokenizer and image processor as a Hugging Face directory."""
    os.makedirs(path, exist_ok=True)
    backbone.model.save_pretrained(path)
    backbone.tokenizer.save_pretrained(path)
    backbone.image_processor.save_pretrained(path)
