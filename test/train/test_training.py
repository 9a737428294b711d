"""``ssr-train`` on a tiny random Qwen2.5-VL: it learns, only a trained spatial branch opens
its gate, the adapter round-trips into the runner, resuming is exact, bad inputs fail
clearly."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (requirements/model.txt)")
pytest.importorskip("peft", reason="peft is not installed (requirements/model.txt)")

from ssr_ros.model.config import ModelConfig  # noqa: E402
from ssr_ros.model.errors import AdapterError  # noqa: E402
from ssr_ros.model.lora import load_trained_adapter  # noqa: E402
from ssr_ros.model.runner import COGMAP_INSTRUCTION, ModelRunner  # noqa: E402
from ssr_ros.model.spatial import load_adapter  # noqa: E402
from ssr_ros.train import tasks  # noqa: E402
from ssr_ros.train.cli import main as train_main  # noqa: E402
from ssr_ros.train.data import load_keyframe, load_samples  # noqa: E402
from ssr_ros.train.evaluate import answer_nll  # noqa: E402
from ssr_ros.train.loop import TrainConfig, TrainError, train  # noqa: E402
from ssr_ros.train.model import LoraSettings, TrainableSSR, seed_everything  # noqa: E402
from ssr_ros.train.random_model import random_backbone  # noqa: E402

IMAGE_SIDE = 112


def _model(train_spatial: bool = True, seed: int = 0, width: int = 64) -> TrainableSSR:
    torch.set_num_threads(1)
    seed_everything(seed)
    return TrainableSSR(random_backbone(width, 2, IMAGE_SIDE), LoraSettings(rank=16, alpha=32),
                        train_spatial=train_spatial, image_side=IMAGE_SIDE)


def _shortest(dataset, stage: int, n: int = 16) -> list[dict]:
    """The ``n`` samples with the shortest answers (stage 1: mostly counts and relations;
    stage 2: mostly 3D grounding), so that overfitting them takes seconds of CPU."""
    samples = load_samples(dataset, stage, "train")
    return sorted(samples, key=lambda s: (len(s["answer"]), len(s["prompt"]), s["id"]))[:n]


def test_cogmap_instruction_is_the_runners():
    assert tasks.COGMAP_INSTRUCTION == COGMAP_INSTRUCTION


@pytest.mark.parametrize("stage", [1, 2])
def test_overfits_sixteen_samples(dataset, stage):
    model = _model()
    samples = _shortest(dataset, stage)
    assert len(samples) == 16
    assert {s["task"] for s in samples} <= ({"count2d", "relation2d"} if stage == 1
                                            else {"ground3d"})
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    first = None
    for _ in range(300):
        loss = model.loss(model.batch(dataset, samples))
        first = float(loss) if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if float(loss) < 0.05:
            break
    assert first > 2.0
    assert float(loss) < 0.05  # nats per answer token


@pytest.mark.parametrize("train_spatial", [True, False])
def test_gate_leaves_zero_only_when_the_spatial_branch_trains(dataset, tmp_path,
                                                              train_spatial):
    model = _model(train_spatial)
    mlp_before = model.spatial.mlp[0].weight.detach().clone()
    lora_before = {k: v.detach().clone() for k, v in model.lora_params.items()}
    config = TrainConfig(stage1_steps=0, stage2_steps=4, batch_size=2, lr=1e-2,
                         warmup_steps=0, freeze_spatial=not train_spatial)
    train(model, dataset, tmp_path, config, progress=False)
    gate = model.spatial.gate.detach()
    if train_spatial:
        assert gate.abs().max() > 0.0
    else:
        assert torch.count_nonzero(gate) == 0
        assert torch.equal(model.spatial.mlp[0].weight, mlp_before)
    assert any(not torch.equal(v, lora_before[k]) for k, v in model.lora_params.items())


def _runner(backbone, encoder, sample, dataset) -> ModelRunner:
    runner = ModelRunner(backbone, ModelConfig(max_keyframes=4, image_side=IMAGE_SIDE,
                                               max_new_tokens=24, timeout_s=120.0,
                                               max_prompt_tokens=512), encoder)
    runner.start()
    for rel in sample["frames"]:
        kf = load_keyframe(dataset, rel)
        runner.add_keyframe(kf.rgb, kf.T_map_cam, kf.stamp_s, depth_m=kf.depth_m, K=kf.K)
    return runner


def test_saved_adapter_round_trips_into_the_runner(dataset, tmp_path):
    model = _model()
    config = TrainConfig(stage1_steps=3, stage2_steps=6, batch_size=2, lr=1e-2,
                         warmup_steps=0)
    result = train(model, dataset, tmp_path, config, progress=False)
    assert torch.count_nonzero(model.spatial.gate) > 0
    sample = next(s for s in load_samples(dataset, 2, "heldout") if s["task"] == "ground3d")
    want = model.answer_logits(dataset, sample)[0]

    # A fresh copy of the same backbone with the adapter: LoRA merged, encoder loaded.
    backbone = random_backbone(64, 2, IMAGE_SIDE)
    encoder = load_trained_adapter(result.adapter_path, backbone)
    runner = _runner(backbone, encoder, sample, dataset)
    try:
        got = runner.question_logits(sample["prompt"], timeout_s=120.0)[-1]
        trained_answer = runner.ask(sample["prompt"], timeout_s=120.0)
    finally:
        runner.close()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)

    plain = random_backbone(64, 2, IMAGE_SIDE)
    runner = _runner(plain, None, sample, dataset)
    try:
        plain_logits = runner.question_logits(sample["prompt"], timeout_s=120.0)[-1]
        plain_answer = runner.ask(sample["prompt"], timeout_s=120.0)
    finally:
        runner.close()
    assert not torch.allclose(plain_logits, got, atol=1e-2)
    assert trained_answer != plain_answer
    # Scoring the merged adapter without decoding gives the training model's loss.
    samples = load_samples(dataset, 2, "heldout")[:2]
    nll = answer_nll(lambda: random_backbone(64, 2, IMAGE_SIDE), dataset,
                     result.adapter_path, image_side=IMAGE_SIDE, stages=(2,), limit=2)
    sums = [model.answer_nll(dataset, s) for s in samples]
    assert nll["nll_stage2"] == pytest.approx(sum(a for a, _ in sums) / sum(n for _, n in sums),
                                              rel=1e-4)
    # The spatial-only loader refuses a file whose LoRA half it would drop.
    with pytest.raises(AdapterError, match="LoRA"):
        load_adapter(result.adapter_path, 64)


def test_adapter_for_another_model_is_refused(dataset, tmp_path):
    model = _model()
    result = train(model, dataset, tmp_path, TrainConfig(stage1_steps=0, stage2_steps=1,
                                                          batch_size=1), progress=False)
    with pytest.raises(AdapterError, match="hidden size 64"):
        load_trained_adapter(result.adapter_path, random_backbone(128, 2, IMAGE_SIDE))
    with pytest.raises(AdapterError, match="2 layers"):
        load_trained_adapter(result.adapter_path, random_backbone(64, 3, IMAGE_SIDE))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not an adapter")
    with pytest.raises(AdapterError, match="cannot read"):
        load_trained_adapter(str(corrupt), random_backbone(64, 2, IMAGE_SIDE))


def test_resume_continues_exactly(dataset, tmp_path, monkeypatch):
    config = TrainConfig(stage1_steps=4, stage2_steps=4, batch_size=2, lr=1e-2,
                         warmup_steps=2, checkpoint_every=3, log_every=1)
    whole = _model()
    train(whole, dataset, tmp_path / "whole", config, progress=False)

    broken = _model()
    calls = {"n": 0}
    real_loss = TrainableSSR.loss

    def failing_loss(self, batch):
        calls["n"] += 1
        if calls["n"] == 6:  # stage 2, step 1: the last checkpoint is stage 2, step 0
            raise KeyboardInterrupt
        return real_loss(self, batch)
    monkeypatch.setattr(TrainableSSR, "loss", failing_loss)
    with pytest.raises(KeyboardInterrupt):
        train(broken, dataset, tmp_path / "resumed", config, progress=False)
    monkeypatch.setattr(TrainableSSR, "loss", real_loss)

    resumed = _model(seed=123)  # other initial weights: the checkpoint must replace them
    train(resumed, dataset, tmp_path / "resumed", config, resume=True, progress=False)
    for name, value in whole.state_dict()["lora"].items():
        torch.testing.assert_close(resumed.state_dict()["lora"][name], value)
    torch.testing.assert_close(resumed.spatial.gate, whole.spatial.gate)


def test_corrupt_checkpoint_and_changed_settings_are_refused(dataset, tmp_path):
    config = TrainConfig(stage1_steps=0, stage2_steps=1, batch_size=1)
    train(_model(), dataset, tmp_path, config, progress=False)
    with pytest.raises(TrainError, match="other settings"):
        train(_model(), dataset, tmp_path, TrainConfig(stage1_steps=0, stage2_steps=2,
                                                       batch_size=1), resume=True,
              progress=False)
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00garbage")
    with pytest.raises(TrainError, match="corrupt"):
        train(_model(), dataset, tmp_path, config, resume=True, progress=False)


def test_cli_reports_missing_inputs(tmp_path, capsys):
    code = train_main(["--model", str(tmp_path / "no_model"), "--data", str(tmp_path),
                       "--out", str(tmp_path / "out")])
    assert code == 2
    assert "ssr-train: error:" in capsys.readouterr().err
