"""A trained adapter: the spatial encoder plus LoRA weights of the language model, in one
file of the spatial-adapter format (:func:`ssr_ros.model.spatial.save_adapter`).

File contents: the encoder's tensors and metadata exactly as ``save_adapter`` writes them,
plus per adapted linear layer of the language model two tensors
``lora.<module>.A`` (r, in_features) and ``lora.<module>.B`` (out_features, r), where
``<module>`` is the layer's name under the backbone's ``language_model`` (for example
``layers.0.self_attn.q_proj``), and the metadata entry ``lora``: JSON
``{"hidden_size", "num_layers", "scaling": {<module>: alpha / r}}``.

Loading merges each pair into its layer's weight, ``W <- W + scaling * B @ A`` (computed
in float32, stored in the layer's dtype): the forward pass of a LoRA layer with its
dropout off is ``x W^T + scaling * x A^T B^T``, so the merged backbone computes the same
function with no extra cost per token and without peft at inference. The runner's own
engine then runs the merged weights unchanged.
"""

from __future__ import annotations

import json
from typing import Mapping

import torch

from ssr_ros.model.backbone import Backbone
from ssr_ros.model.errors import AdapterError
from ssr_ros.model.spatial import (LORA_METADATA_KEY, SpatialEncoder, encoder_from_state,
                                   read_adapter_file, save_adapter)

LORA_PREFIX = "lora."


def save_trained_adapter(encoder: SpatialEncoder, path: str,
                         lora: Mapping[str, tuple[torch.Tensor, torch.Tensor, float]],
                         num_layers: int) -> None:
    """Write ``encoder`` and the LoRA pairs ``{module: (A, B, scaling)}`` to ``path``
    (``.safetensors`` or ``.pt``); ``num_layers`` is the language model's depth."""
    tensors: dict[str, torch.Tensor] = {}
    scaling: dict[str, float] = {}
    for name, (A, B, scale) in lora.items():
        if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[1]:
            raise AdapterError(f"LoRA pair {name}: A {tuple(A.shape)} and B {tuple(B.shape)} "
                               f"do not form B @ A")
        tensors[f"{LORA_PREFIX}{name}.A"] = A
        tensors[f"{LORA_PREFIX}{name}.B"] = B
        scaling[name] = float(scale)
    meta = {"hidden_size": encoder.config.hidden_size, "num_layers": int(num_layers),
            "scaling": scaling}
    save_adapter(encoder, path, extra_tensors=tensors,
                 extra_metadata={LORA_METADATA_KEY: json.dumps(meta, sort_keys=True)})


def load_trained_adapter(path: str, backbone: Backbone) -> SpatialEncoder:
    """Read an adapter for ``backbone`` and return its spatial encoder; LoRA weights, if
    the file has any, are merged into ``backbone.language_model`` in place (a plain
    spatial adapter loads as :func:`ssr_ros.model.spatial.load_adapter` would).

    Raises :class:`AdapterError` for a missing or corrupt file, another width or depth, a
    module the language model does not have or whose shape differs; nothing is merged
    unless every pair fits.
    """
    meta, state = read_adapter_file(path)
    lora_state = {k: v for k, v in state.items() if k.startswith(LORA_PREFIX)}
    encoder_state = {k: v for k, v in state.items() if not k.startswith(LORA_PREFIX)}
    encoder = encoder_from_state(path, meta, encoder_state, backbone.hidden_size)
    if LORA_METADATA_KEY not in meta:
        if lora_state:
            raise AdapterError(f"{path}: LoRA tensors without their metadata")
        return encoder
    try:
        lora_meta = json.loads(meta[LORA_METADATA_KEY])
        scaling = {str(k): float(v) for k, v in lora_meta["scaling"].items()}
        num_layers = int(lora_meta["num_layers"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AdapterError(f"{path}: bad LoRA metadata: {exc}") from exc
    layers = len(backbone.language_model.layers)
    if num_layers != layers:
        raise AdapterError(f"{path} was trained on a language model of {num_layers} layers, "
                           f"the backbone has {layers}")
    expected = {f"{LORA_PREFIX}{n}.{part}" for n in scaling for part in ("A", "B")}
    if expected != set(lora_state):
        raise AdapterError(f"{path}: LoRA tensors {sorted(set(lora_state) ^ expected)[:4]} "
                           f"do not match its metadata")
    modules = dict(backbone.language_model.named_modules())
    deltas = []
    for name, scale in scaling.items():
        layer = modules.get(name)
        if not isinstance(layer, torch.nn.Linear):
            raise AdapterError(f"{path}: the language model has no linear layer {name!r}")
        A = lora_state[f"{LORA_PREFIX}{name}.A"].float()
        B = lora_state[f"{LORA_PREFIX}{name}.B"].float()
        out_features, in_features = layer.weight.shape
        if A.ndim != 2 or B.ndim != 2 or A.shape[1] != in_features \
                or B.shape[0] != out_features or A.shape[0] != B.shape[1]:
            raise AdapterError(f"{path}: LoRA pair {name} has A {tuple(A.shape)}, B "
                               f"{tuple(B.shape)}; the layer is {out_features} x {in_features}")
        deltas.append((layer, scale * (B @ A)))
    with torch.no_grad():
        for layer, delta in deltas:
            merged = layer.weight.float() + delta.to(layer.weight.device)
            layer.weight.copy_(merged.to(layer.weight.dtype))
    return encoder
