"""Random-weight Qwen2.5-VL backbones for the curriculum's tests and its measured ablation
(no pretrained weights can be downloaded where they run).

The architecture is the real one (:mod:`ssr_ros.model.tiny`: byte-level tokenizer with the
Qwen control tokens, the Qwen2-VL image processor, ``Qwen2_5_VLForConditionalGeneration``)
at a small width. One change to the random initialisation makes it a usable stand-in for
a pretrained model under LoRA: the output head is drawn with standard deviation
``head_scale / sqrt(hidden_size)`` instead of transformers' 0.02. The final RMSNorm fixes
the hidden state's norm at about ``sqrt(hidden_size)``, so with a frozen 0.02 head no
logit can exceed about ``0.02 * hidden_size`` (1.3 at width 64): the cross-entropy could
never fall below ~4.5 nats whatever LoRA learns. A pretrained head has no such ceiling;
the scaled one does not either.
"""

from __future__ import annotations

import math

import torch

from ssr_ros.model import tiny
from ssr_ros.model.backbone import Backbone

HEAD_DIM = 32


def random_config(tokenizer, hidden_size: int = 128, layers: int = 2,
                  vision_width: int = 64, vision_depth: int = 2):
    """A ``Qwen2_5_VLConfig``: text ``hidden_size`` wide (heads of 32, half as many KV
    heads, MLP twice as wide, M-RoPE sections 4/6/6), a vision tower of ``vision_depth``
    blocks of ``vision_width`` whose merger outputs ``hidden_size``."""
    if hidden_size % (2 * HEAD_DIM) or hidden_size < 2 * HEAD_DIM:
        raise ValueError(f"hidden_size must be a multiple of {2 * HEAD_DIM}, got {hidden_size}")
    vocab = len(tokenizer)
    heads = hidden_size // HEAD_DIM
    return tiny.qwen_config(
        tokenizer,
        text=dict(vocab_size=vocab + (-vocab) % 8, hidden_size=hidden_size,
                  intermediate_size=2 * hidden_size, num_hidden_layers=layers,
                  num_attention_heads=heads, num_key_value_heads=heads // 2,
                  max_position_embeddings=8192,
                  rope_parameters={"rope_type": "default", "mrope_section": [4, 6, 6],
                                   "rope_theta": 1000000.0}),
        vision=dict(depth=vision_depth, hidden_size=vision_width,
                    intermediate_size=2 * vision_width, num_heads=2,
                    out_hidden_size=hidden_size, fullatt_block_indexes=[vision_depth - 1],
                    window_size=56, patch_size=14, spatial_merge_size=2,
                    temporal_patch_size=2))


def random_backbone(hidden_size: int = 128, layers: int = 2, image_side: int = 112,
                    seed: int = 0, head_scale: float = 3.0) -> Backbone:
    """A random backbone on the CPU in float32 (see the module docstring)."""
    tokenizer = tiny.build_tokenizer()
    backbone = tiny.build_backbone(random_config(tokenizer, hidden_size, layers), tokenizer,
                                   tiny.build_image_processor(image_side), seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        head = backbone.lm_head.weight
        head.copy_(torch.randn(head.shape, generator=generator)
                   * (head_scale / math.sqrt(hidden_size)))
    return backbone
