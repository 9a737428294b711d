"""Loading a checkpoint offline through ModelConfig, and the typed load errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from modelutil import make_frame  # noqa: E402
from ssr_ros.model.config import ModelConfig  # noqa: E402
from ssr_ros.model.errors import (AdapterError, ModelArchitectureError,  # noqa: E402
                                  ModelConfigError, ModelLoadError, ModelOutOfMemory,
                                  ModelPathError, ModelUnavailable)
from ssr_ros.model.runner import load_runner  # noqa: E402
from ssr_ros.model.spatial import save_adapter  # noqa: E402
from ssr_ros.model.tiny import save_checkpoint  # noqa: E402


def test_saved_checkpoint_loads_back_offline_with_its_adapter(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    save_checkpoint(tiny, str(tmp_path / "ckpt"))
    from ssr_ros.model.runner import ModelRunner
    original = ModelRunner(tiny, ModelConfig(device="cpu", image_side=112))
    with torch.no_grad():
        original.spatial.gate.normal_()
    save_adapter(original.spatial, str(tmp_path / "spatial.safetensors"))
    config = ModelConfig(path=str(tmp_path / "ckpt"),
                         adapter=str(tmp_path / "spatial.safetensors"),
                         # "auto" resolves to the CPU here; on a GPU host pin the CPU so
                         # the float32 comparison below holds.
                         device="cpu" if torch.cuda.is_available() else "auto",
                         image_side=112, max_new_tokens=4)
    runner = load_runner(config, start=True)
    original.start()
    try:
        frame = make_frame(np.random.default_rng(7), 0)
        for r in (runner, original):
            r.add_keyframe(**frame).result(30)
        loaded_logits = runner.question_logits("Where is the lamp?")
        torch.testing.assert_close(loaded_logits, original.question_logits("Where is the lamp?"),
                                   rtol=0, atol=1e-5)
        assert torch.equal(runner.spatial.gate, original.spatial.gate)
        assert runner.status().device == "cpu" and runner.status().dtype == "torch.float32"
        assert isinstance(runner.ask("Where is the lamp?"), str)
    finally:
        runner.close()
        original.close()
    assert runner.status().state == "closed"


def test_missing_path_and_wrong_architecture_are_typed(tmp_path):
    with pytest.raises(ModelUnavailable, match="empty"):
        load_runner(ModelConfig(path=""))
    with pytest.raises(ModelPathError, match="not a directory"):
        load_runner(ModelConfig(path=str(tmp_path / "nowhere")))
    with pytest.raises(ModelPathError, match="no config.json"):
        load_runner(ModelConfig(path=str(tmp_path)))
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(ModelArchitectureError, match="'llama'"):
        load_runner(ModelConfig(path=str(tmp_path)))


def test_bad_adapter_cuda_request_and_out_of_memory_fail_the_load(tiny, tmp_path,
                                                                  monkeypatch):
    path = str(tmp_path / "ckpt")
    save_checkpoint(tiny, path)
    with pytest.raises(AdapterError, match="not found"):
        load_runner(ModelConfig(path=path, adapter=str(tmp_path / "none.safetensors"),
                                device="cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            load_runner(ModelConfig(path=path, device="cuda"))
    import transformers

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 15.00 GiB")

    monkeypatch.setattr(transformers.Qwen2_5_VLForConditionalGeneration, "from_pretrained",
                        out_of_memory)
    with pytest.raises(ModelOutOfMemory, match="out of memory loading"):
        load_runner(ModelConfig(path=path, device="cpu"))


@pytest.mark.parametrize("field,value,match", [
    ("image_side", 100, "multiple of 28"), ("max_keyframes", 0, "max_keyframes"),
    ("device", "tpu", "device"), ("dtype", "int8", "dtype"), ("timeout_s", -1.0, "timeout_s"),
    ("max_new_tokens", True, "max_new_tokens")])
def test_config_validation_names_the_field(field, value, match):
    with pytest.raises(ModelConfigError, match=match):
        ModelConfig(**{field: value})


def test_config_from_node_parameters():
    config = ModelConfig.from_mapping({"model.path": "/m", "model.max_keyframes": 8,
                                       "model.timeout_s": 2.5})
    assert (config.path, config.max_keyframes, config.timeout_s) == ("/m", 8, 2.5)
    assert config.max_tokens_per_frame == 256
    with pytest.raises(ModelConfigError, match="unknown"):
        ModelConfig.from_mapping({"model.colour": "red"})


def test_trained_adapter_with_lora_loads_through_the_node_path(tiny, tmp_path, monkeypatch):
    """load_runner (the node's, ssr-ask's and the benchmark's load) merges the LoRA half
    of an ssr-train adapter: the answers' logits are those of the merged backbone."""
    from ssr_ros.model.lora import save_trained_adapter
    from ssr_ros.model.runner import ModelRunner

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    save_checkpoint(tiny, str(tmp_path / "ckpt"))
    encoder = ModelRunner(tiny, ModelConfig(device="cpu", image_side=112)).spatial
    q_proj = tiny.language_model.layers[0].self_attn.q_proj
    gen = torch.Generator().manual_seed(3)
    A = torch.randn(4, q_proj.in_features, generator=gen)
    B = torch.randn(q_proj.out_features, 4, generator=gen)
    save_trained_adapter(encoder, str(tmp_path / "trained.safetensors"),
                         {"layers.0.self_attn.q_proj": (A, B, 0.5)},
                         num_layers=len(tiny.language_model.layers))
    config = dict(path=str(tmp_path / "ckpt"), device="cpu", image_side=112, max_new_tokens=4)
    plain = load_runner(ModelConfig(**config), start=True)
    trained = load_runner(ModelConfig(adapter=str(tmp_path / "trained.safetensors"), **config),
                          start=True)
    # The same merge by hand on the in-memory model: the loaded runner must equal it.
    with torch.no_grad():
        q_proj.weight += 0.5 * (B @ A)
    by_hand = ModelRunner(tiny, ModelConfig(device="cpu", image_side=112, max_new_tokens=4))
    by_hand.start()
    try:
        frame = make_frame(np.random.default_rng(7), 0)
        for r in (plain, trained, by_hand):
            r.add_keyframe(**frame).result(30)
        got = trained.question_logits("Where is the lamp?")
        torch.testing.assert_close(got, by_hand.question_logits("Where is the lamp?"),
                                   rtol=1e-4, atol=1e-4)
        assert not torch.allclose(got, plain.question_logits("Where is the lamp?"), atol=1e-3)
    finally:
        plain.close()
        trained.close()
        by_hand.close()
