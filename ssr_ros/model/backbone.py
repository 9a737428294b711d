"""The Qwen2.5-VL backbone as the runner uses it: model, tokenizer, image processor,
device and dtype, loaded offline from a local Hugging Face directory.

Only the image processor and the tokenizer are loaded (not the combined processor), so
the runner works without torchvision, which the video processor needs.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ssr_ros.model.config import ModelConfig
from ssr_ros.model.errors import (InterleaveError, ModelArchitectureError, ModelLoadError,
                                  ModelOutOfMemory, ModelPathError)
from ssr_ros.model.vision import VisionEngine

SUPPORTED_MODEL_TYPES = ("qwen2_5_vl",)
SUPPORTED_ARCHITECTURES = ("Qwen2_5_VLForConditionalGeneration",)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda*`` without CUDA raises."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bfloat16 on CUDA, float32 on CPU."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's OOM error and the allocator's RuntimeError message."""
    message = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError)
        and ("out of memory" in message or "can't allocate memory" in message))


@dataclass
class Backbone:
    """A loaded Qwen2.5-VL model with its tokenizer and image processor.

    Attributes ``visual`` (vision tower), ``language_model`` (decoder stack),
    ``lm_head`` and ``embed_tokens`` name the parts the runner drives.
    """

    model: Any
    tokenizer: Any
    image_processor: Any
    device: torch.device
    dtype: torch.dtype

    def __post_init__(self) -> None:
        core = getattr(self.model, "model", self.model)
        self.core = core
        self.visual = core.visual
        self.language_model = core.language_model
        self.lm_head = self.model.lm_head
        self.embed_tokens = self.language_model.embed_tokens
        vision = self.model.config.vision_config
        self.patch_px = int(vision.patch_size)
        self.merge = int(vision.spatial_merge_size)
        self.token_px = self.patch_px * self.merge
        text = self.model.config.get_text_config()
        self.hidden_size = int(text.hidden_size)
        if getattr(text, "use_sliding_window", False):
            raise ModelArchitectureError("sliding-window attention is not supported")
        self._vision: VisionEngine | None = None
        self._patchify_limits = self._processor_limits()

    def target_size(self, height: int, width: int, image_side: int) -> tuple[int, int]:
        """(h, w) [px] the runner resizes a frame to: aspect kept, multiples of the token
        size, at most ``image_side**2`` pixels, at least one token per side."""
        px = self.token_px
        scale = min(1.0, image_side / math.sqrt(height * width))
        h = max(px, int(height * scale / px) * px)
        w = max(px, int(width * scale / px) * px)
        return h, w

    def preprocess(self, rgb: np.ndarray, image_side: int) -> tuple[torch.Tensor, torch.Tensor]:
        """RGB (H, W, 3) uint8 -> (pixel_values (P, C*t*p*p) on device, grid_thw (1, 3)).

        The frame is resized here to :meth:`target_size` (PIL, bicubic). Where the image
        processor would leave that size unchanged (within its pixel limits), its rescale,
        normalisation and patch layout are done here with torch on the device (the same
        formula; the tests hold the two equal), which spares the worker the processor's
        float work on the CPU; otherwise the processor runs.
        """
        h, w = self.target_size(rgb.shape[0], rgb.shape[1], image_side)
        image = Image.fromarray(rgb)
        if (h, w) != rgb.shape[:2]:
            image = image.resize((w, h), Image.BICUBIC)
        limits = self._patchify_limits
        if limits is not None and limits[0] <= h * w <= limits[1]:
            return self._patchify(np.asarray(image)), torch.tensor([[1, h // self.patch_px,
                                                                     w // self.patch_px]])
        out = self.image_processor(images=[image], return_tensors="pt")
        grid = out["image_grid_thw"].long()
        if grid.shape != (1, 3) or int(grid[0, 1]) % self.merge or int(grid[0, 2]) % self.merge:
            raise InterleaveError(f"image processor gave grid_thw {grid.tolist()} "
                                  f"(merge {self.merge})")
        return out["pixel_values"].to(self.device, self.dtype), grid

    def _processor_limits(self) -> tuple[int, int] | None:
        """(min, max) pixels of the image processor when its steps are the ones
        :meth:`_patchify` does (rescale, normalise, patch layout of this tower), else None
        (an unknown processor always runs itself)."""
        proc = self.image_processor
        vision = self.model.config.vision_config
        try:
            standard = (getattr(proc, "do_rescale", False) is True
                        and getattr(proc, "do_normalize", False) is True
                        and len(proc.image_mean) == 3 and len(proc.image_std) == 3
                        and int(proc.patch_size) == self.patch_px
                        and int(proc.merge_size) == self.merge
                        and int(proc.temporal_patch_size) == int(vision.temporal_patch_size))
        except (AttributeError, TypeError, ValueError):
            return None
        size = getattr(proc, "size", None)

        def limit(pixels_name: str, edge_name: str):
            value = getattr(proc, pixels_name, None)
            if value is None and size is not None:
                value = (size.get(edge_name) if isinstance(size, dict)
                         else getattr(size, edge_name, None))
            return value

        low, high = limit("min_pixels", "shortest_edge"), limit("max_pixels", "longest_edge")
        if not standard or low is None or high is None:
            return None
        return int(low), int(high)

    @torch.no_grad()  # not inference mode: callers may use the pixels outside it
    def _patchify(self, rgb: np.ndarray) -> torch.Tensor:
        """Resized RGB (h, w, 3) uint8 -> pixel_values (h * w / p**2, 3 * t * p * p) in the
        model dtype on the device: ``(x * rescale - mean) / std`` per channel, the image
        repeated over the temporal patch, patches in (h / m, w / m, m, m) order, each patch
        flattened as (channel, t, row, col) -- the Qwen2-VL image processor's layout."""
        proc = self.image_processor
        p, m = self.patch_px, self.merge
        t = int(self.model.config.vision_config.temporal_patch_size)
        h, w = rgb.shape[:2]
        x = torch.from_numpy(np.array(rgb, dtype=np.uint8)).to(self.device)  # writable copy
        x = x.permute(2, 0, 1).float()
        mean = torch.tensor(proc.image_mean, device=self.device).view(3, 1, 1)
        std = torch.tensor(proc.image_std, device=self.device).view(3, 1, 1)
        x = (x * float(proc.rescale_factor) - mean) / std
        x = x[None].expand(t, 3, h, w)
        x = x.reshape(t, 3, h // p // m, m, p, w // p // m, m, p).permute(2, 5, 3, 6, 1, 0, 4, 7)
        return x.reshape(h * w // (p * p), 3 * t * p * p).to(self.dtype)

    @torch.inference_mode()
    def encode_image(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor) -> torch.Tensor:
        """Vision tower + merger: (P, C*t*p*p) -> (n_tokens, hidden) in the model dtype."""
        return self.encode_images(pixel_values, grid_thw)[0]

    @torch.inference_mode()
    def encode_images(self, pixel_values: torch.Tensor, grid_thw: torch.Tensor,
                      cuda_graph: bool = True) -> list[torch.Tensor]:
        """Several images in one pass of the vision tower (batched window attention, see
        :mod:`ssr_ros.model.vision`): ``pixel_values`` (P, C*t*p*p) of the images
        concatenated in order, ``grid_thw`` (n_images, 3) -> per image (n_tokens_i,
        hidden) in the model dtype. ``cuda_graph``: replay a captured pass for a single
        image on CUDA (per image size)."""
        if self._vision is None:
            self._vision = VisionEngine(self.visual)
        self._vision.use_cuda_graph = bool(cuda_graph)
        grid = torch.as_tensor(grid_thw).reshape(-1, 3).long().cpu()
        try:
            tokens = self._vision(pixel_values.to(self.visual.dtype), grid)
        except ValueError as exc:
            raise InterleaveError(f"vision tower input: {exc}") from exc
        counts = (grid.prod(dim=1) // (self.merge * self.merge)).tolist()
        if tokens.shape[0] != sum(counts):
            raise InterleaveError(f"vision tower gave {tokens.shape[0]} tokens for grids "
                                  f"{grid.tolist()}, expected {sum(counts)}")
        return [part.to(self.dtype) for part in tokens.split(counts)]

    def free_graphs(self) -> None:
        """Drop the vision tower's captured graphs (their device memory)."""
        self._vision = None

    def token_type_kwargs(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """``mm_token_type_ids`` (1 at image tokens) for calling the backbone's own
        ``forward``/``generate`` on transformers versions whose forward takes it, else
        nothing (the reference paths of the tests and the benchmark baseline)."""
        if "mm_token_type_ids" not in inspect.signature(self.model.forward).parameters:
            return {}
        return {"mm_token_type_ids": (input_ids == self.model.config.image_token_id).int()}

    def token_id(self, token: str) -> int:
        """Id of a special token, which must exist in the tokenizer."""
        tid = self.tokenizer.convert_tokens_to_ids(token)
        unk = getattr(self.tokenizer, "unk_token_id", None)
        if tid is None or (unk is not None and tid == unk and token != self.tokenizer.unk_token):
            raise ModelArchitectureError(f"tokenizer has no {token!r} token")
        return int(tid)


def check_checkpoint(path: str) -> dict:
    """Read ``config.json`` of a local checkpoint and check its architecture.

    Raises :class:`ModelPathError` (missing directory or config) or
    :class:`ModelArchitectureError` (another model type).
    """
    if not path or not os.path.isdir(path):
        raise ModelPathError(f"model path {path!r} is not a directory")
    config_file = os.path.join(path, "config.json")
    if not os.path.isfile(config_file):
        raise ModelPathError(f"{path} has no config.json (not a Hugging Face model directory)")
    try:
        with open(config_file, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ModelPathError(f"cannot read {config_file}: {exc}") from exc
    model_type = raw.get("model_type")
    archs = raw.get("architectures") or []
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ModelArchitectureError(
            f"{path}: model_type {model_type!r} (architectures {archs}) is not supported; "
            f"expected one of {SUPPORTED_MODEL_TYPES}")
    if archs and not any(a in SUPPORTED_ARCHITECTURES for a in archs):
        raise ModelArchitectureError(f"{path}: architectures {archs} do not include "
                                     f"{SUPPORTED_ARCHITECTURES}")
    return raw


def load_backbone(config: ModelConfig) -> Backbone:
    """Load model, tokenizer and image processor from ``config.path`` offline.

    Errors: :class:`ModelPathError`, :class:`ModelArchitectureError`,
    :class:`ModelOutOfMemory`, :class:`ModelLoadError` (anything else, with the cause).
    """
    check_checkpoint(config.path)
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    from transformers import (AutoImageProcessor, AutoTokenizer,
                              Qwen2_5_VLForConditionalGeneration)
    try:
        tokenizer = AutoTokenizer.from_pretrained(config.path, local_files_only=True)
        image_processor = AutoImageProcessor.from_pretrained(config.path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelPathError(f"{config.path}: tokenizer or image processor missing: "
                             f"{exc}") from exc
    try:
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
            config.path, local_files_only=True, dtype=dtype,
            device_map={"": str(device)} if device.type == "cuda" else None)
        model.to(device).train(False)  # inference mode: no dropout
    except Exception as exc:  # re-raised as a typed load error with its cause
        if is_out_of_memory(exc):
            raise ModelOutOfMemory(f"out of memory loading {config.path} on {device}: "
                                   f"{exc}") from exc
        if isinstance(exc, (OSError, ValueError, KeyError, RuntimeError)):
            raise ModelLoadError(f"cannot load {config.path}: {exc}") from exc
        raise
    return Backbone(model=model, tokenizer=tokenizer, image_processor=image_processor,
                    device=device, dtype=dtype)
