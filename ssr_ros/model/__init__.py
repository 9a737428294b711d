"""The model path: Qwen2.5-VL with spatial tokens, on the robot.

torch and transformers are imported only under this package. Modules:

- ``config``      :class:`ModelConfig` (the node's ``model.*`` parameters) and validation
- ``errors``      typed failures (load, input, timeout, device)
- ``spatial``     point map -> per-token geometric features -> gated embeddings; adapters
- ``interleave``  frame-by-frame sequence: headers, vision blocks, M-RoPE positions
- ``backbone``    offline loading of a local Hugging Face checkpoint
- ``engine``      own static KV cache, prefill, CUDA-graph decode step
- ``runner``      :class:`ModelRunner`: worker thread, keyframe cache, ``ask``
- ``tiny``        tiny random configs of the real architecture (tests, smoke benchmarks)
- ``bridge``      :class:`ModelBridge`: what the node owns (parameters, keyframes, free
                  questions with error codes, cogmap agreement, diagnostics, cleanup)
- ``embeddings``  optional MiniLM sentence embedder for the name matcher

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

from typing import Any

from ssr_ros.model.config import ModelConfig
from ssr_ros.model.errors import (AdapterError, BadRequest, InterleaveError,
                                  ModelArchitectureError, ModelConfigError, ModelError,
                                  ModelFailed, ModelLoadError, ModelOutOfMemory, ModelPathError,
                                  ModelTimeout, ModelUnavailable, SpatialInputError)

_LAZY = {"ModelRunner": "ssr_ros.model.runner", "load_runner": "ssr_ros.model.runner",
         "Answer": "ssr_ros.model.runner", "RunnerStatus": "ssr_ros.model.runner",
         "SpatialEncoder": "ssr_ros.model.spatial", "save_adapter": "ssr_ros.model.spatial",
         "load_adapter": "ssr_ros.model.spatial", "ModelBridge": "ssr_ros.model.bridge",
         "BridgeAnswer": "ssr_ros.model.bridge",
         "load_minilm_embedder": "ssr_ros.model.embeddings"}

__all__ = ["ModelConfig", "AdapterError", "BadRequest", "InterleaveError",
           "ModelArchitectureError", "ModelConfigError", "ModelError", "ModelFailed",
           "ModelLoadError", "ModelOutOfMemory", "ModelPathError", "ModelTimeout",
           "ModelUnavailable", "SpatialInputError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ssr_ros.model' has no attribute {name!r}")
