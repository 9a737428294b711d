"""Configuration of the on-robot model runner (the node's ``model.*`` parameters)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from ssr_ros.model.errors import ModelConfigError

#: Side of one merged vision token in pixels (Qwen2.5-VL: 14 px patches merged 2 x 2).
MERGED_PATCH_PX = 28

DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class ModelConfig:
    """What the runner loads and how it runs.

    - ``path``: local Hugging Face directory of a Qwen2.5-VL checkpoint; empty = no model.
    - ``adapter``: spatial-encoder adapter file (``.safetensors`` or ``.pt``); empty = a
      fresh encoder whose gate is zero (the backbone answers exactly as it was trained).
    - ``device``: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
    - ``dtype``: ``auto`` (bfloat16 on CUDA, float32 on CPU) or a torch dtype name.
    - ``max_keyframes``: size of the bounded keyframe window the prefix covers.
    - ``image_side``: keyframes are resized (aspect kept) to at most ``image_side**2``
      pixels in multiples of 28 px, so a frame costs at most ``(image_side / 28)**2``
      vision tokens (448 -> 256).
    - ``max_new_tokens``: default answer length limit [tokens].
    - ``timeout_s``: default time limit of a question [s].
    - ``max_prompt_tokens``: room reserved for the scaffold + question [tokens].
    - ``cuda_graph``: capture the decode step in a CUDA graph (CUDA only).
    """

    path: str = ""
    adapter: str = ""
    device: str = "auto"
    dtype: str = "auto"
    max_keyframes: int = 16
    image_side: int = 448
    max_new_tokens: int = 64
    timeout_s: float = 10.0
    max_prompt_tokens: int = 2048
    cuda_graph: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ModelConfigError` naming the first bad field."""
        if not isinstance(self.path, str) or not isinstance(self.adapter, str):
            raise ModelConfigError("path and adapter must be strings")
        dev = self.device
        if not isinstance(dev, str) or not (
                dev in DEVICES or (dev.startswith("cuda:") and dev[5:].isascii()
                                   and dev[5:].isdigit())):
            raise ModelConfigError(
                f"device must be one of {DEVICES} or 'cuda:N', got {dev!r}")
        if self.dtype not in DTYPES:
            raise ModelConfigError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        _check_int("max_keyframes", self.max_keyframes, 1, 256)
        _check_int("image_side", self.image_side, 2 * MERGED_PATCH_PX, 4096)
        if self.image_side % MERGED_PATCH_PX:
            raise ModelConfigError(
                f"image_side must be a multiple of {MERGED_PATCH_PX} px, got {self.image_side}")
        _check_int("max_new_tokens", self.max_new_tokens, 1, 4096)
        _check_int("max_prompt_tokens", self.max_prompt_tokens, 16, 65536)
        if (isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float))
                or not math.isfinite(self.timeout_s) or self.timeout_s <= 0.0):
            raise ModelConfigError(f"timeout_s must be a positive number, got {self.timeout_s!r}")
        if not isinstance(self.cuda_graph, bool):
            raise ModelConfigError(f"cuda_graph must be a bool, got {self.cuda_graph!r}")

    @property
    def enabled(self) -> bool:
        """True when a model path is configured."""
        return bool(self.path)

    @property
    def max_tokens_per_frame(self) -> int:
        """Upper bound of vision tokens per keyframe at ``image_side``."""
        return (self.image_side // MERGED_PATCH_PX) ** 2

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ModelConfig":
        """Build from a mapping of field names (a ``model.`` prefix is accepted and
        stripped); unknown keys raise :class:`ModelConfigError`."""
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            name = key[len("model."):] if key.startswith("model.") else key
            if name not in known:
                raise ModelConfigError(f"unknown model parameter {key!r}")
            kwargs[name] = value
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModelConfigError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
