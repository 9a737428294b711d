"""The curriculum's training loop: stage 1 then stage 2 (or stage 2 only), resumable.

Per stage: AdamW over the LoRA weights and (unless frozen) the spatial encoder, learning
rate with a linear warm-up then a cosine decay to 10 % at the stage's last step, gradient
norm clipped at 1. Batches are drawn from an endless stream of seeded permutations of the
stage's samples, so the batch of step s is a function of (seed, stage, s) and a resumed
run sees exactly the batches an uninterrupted one would.

Files in the output directory:

- ``checkpoint.pt``: written every ``checkpoint_every`` steps and at the end of each
  stage (atomically): format tag, the settings, stage, step, LoRA and encoder weights,
  optimiser state, loss history. ``resume=True`` continues from it.
- ``log.jsonl``: one line per logged step ``{"stage", "step", "loss", "lr",
  "samples_per_s", "tokens_per_s", "wall_s"}`` (``loss`` the mean over the steps since
  the previous line [nats/token]; ``wall_s`` the stage's training time so far [s], start-up
  and checkpoint loading excluded).
- ``adapter.safetensors``: the trained adapter (:mod:`ssr_ros.model.lora`), which the
  node loads through ``model.adapter``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ssr_ros.model.lora import save_trained_adapter
from ssr_ros.train.data import load_manifest, load_samples
from ssr_ros.train.model import LoraSettings, TrainableSSR, seed_everything

CHECKPOINT_FORMAT = "ssr_ros.train_checkpoint"
CHECKPOINT_VERSION = 1
ADAPTER_NAME = "adapter.safetensors"


class TrainError(RuntimeError):
    """Training cannot start or continue; the message says why."""


@dataclass(frozen=True)
class TrainConfig:
    """Steps and batch size per stage, optimiser settings, seed, and the two switches of
    the ablation: ``skip_stage1`` (stage 2 only) and ``freeze_spatial`` (the spatial
    branch stays as it is: with a fresh encoder, gate zero, the backbone's own answer)."""

    stage1_steps: int = 200
    stage2_steps: int = 400
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 20
    seed: int = 0
    skip_stage1: bool = False
    freeze_spatial: bool = False
    checkpoint_every: int = 100
    log_every: int = 10
    lora_rank: int = 16
    lora_alpha: float = 32.0
    image_side: int = 448

    def __post_init__(self) -> None:
        for name in ("stage1_steps", "stage2_steps"):
            if getattr(self, name) < 0:
                raise TrainError(f"{name} must be >= 0")
        for name in ("batch_size", "checkpoint_every", "log_every", "lora_rank"):
            if getattr(self, name) < 1:
                raise TrainError(f"{name} must be >= 1")
        if not self.lr > 0 or self.warmup_steps < 0:
            raise TrainError("lr must be > 0 and warmup_steps >= 0")

    def stages(self) -> list[int]:
        return [s for s in (1, 2) if not (s == 1 and self.skip_stage1)
                and self.steps(s) > 0]

    def steps(self, stage: int) -> int:
        return self.stage1_steps if stage == 1 else self.stage2_steps


@dataclass
class TrainResult:
    adapter_path: str
    history: list[dict] = field(default_factory=list)
    wall_s: float = 0.0


def batch_indices(n: int, batch_size: int, step: int, seed: int, stage: int) -> list[int]:
    """Indices of step ``step``'s batch in an endless stream of permutations of ``n``
    samples, each epoch's permutation seeded by (seed, stage, epoch)."""
    out = []
    for p in range(step * batch_size, (step + 1) * batch_size):
        epoch, k = divmod(p, n)
        perm = np.random.default_rng([seed, stage, epoch]).permutation(n)
        out.append(int(perm[k]))
    return out


def learning_rate(config: TrainConfig, stage: int, step: int) -> float:
    total = config.steps(stage)
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    span = max(1, total - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    return config.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`train` (:class:`TrainError` if corrupt)."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"no checkpoint at {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise TrainError(f"checkpoint {path} is corrupt or unreadable: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT \
            or blob.get("version") != CHECKPOINT_VERSION:
        raise TrainError(f"{path} is not a version-{CHECKPOINT_VERSION} training checkpoint")
    return blob


def _optimizer(params: list[torch.nn.Parameter], config: TrainConfig) -> torch.optim.AdamW:
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def train(model: TrainableSSR, data_dir: str | Path, out_dir: str | Path,
          config: TrainConfig, resume: bool = False, progress: bool = True) -> TrainResult:
    """Run the curriculum on ``model`` with the samples of ``data_dir`` (train split) and
    write checkpoints, the log and the adapter to ``out_dir`` (see the module docstring).
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.set_train_spatial(not config.freeze_spatial)
    manifest = load_manifest(data_dir)
    data = {s: load_samples(data_dir, s, "train") for s in config.stages()}
    for stage, samples in data.items():
        if not samples:
            raise TrainError(f"{data_dir} has no stage-{stage} training samples")
    ckpt_path = out / "checkpoint.pt"
    history: list[dict] = []
    start_stage, start_step = (config.stages() or [2])[0], 0
    optim_state = None
    if resume and ckpt_path.exists():
        blob = load_checkpoint(ckpt_path)
        saved = blob["config"]
        if saved != asdict(config):
            changed = sorted(k for k in saved if saved.get(k) != asdict(config).get(k))
            raise TrainError(f"{ckpt_path} was made with other settings ({changed}); "
                             f"resume with the same ones or use a new output directory")
        try:
            model.load_state_dict({"lora": blob["lora"], "spatial": blob["spatial"]})
        except (KeyError, ValueError, RuntimeError) as exc:
            raise TrainError(f"{ckpt_path} does not fit this model: {exc}") from exc
        start_stage, start_step = int(blob["stage"]), int(blob["step"])
        optim_state, history = blob["optimizer"], list(blob["history"])
    (out / "train_config.json").write_text(json.dumps(
        {"config": asdict(config), "data": str(Path(data_dir).resolve()),
         "data_manifest": {k: manifest[k] for k in ("keyframes", "width", "height",
                                                    "train_seeds", "heldout_seeds")}},
        indent=1) + "\n")
    seed_everything(config.seed)
    t_run = time.perf_counter()
    # The log restarts from the checkpoint's history, so a resumed run's log reads as if
    # it had never stopped (steps after the last checkpoint are logged once).
    log = open(out / "log.jsonl", "w", encoding="utf-8")
    log.writelines(json.dumps(row) + "\n" for row in history)
    try:
        for stage in config.stages():
            if stage < start_stage:
                continue
            first = start_step if stage == start_stage else 0
            history = _run_stage(model, data_dir, data[stage], stage, first, config,
                                 optim_state if stage == start_stage else None, history,
                                 ckpt_path, log, progress, tqdm)
            optim_state = None
    finally:
        log.close()
    adapter = out / ADAPTER_NAME
    save_trained_adapter(model.spatial, str(adapter), model.lora_pairs(),
                         num_layers=len(model.bb.language_model.layers))
    return TrainResult(str(adapter), history, time.perf_counter() - t_run)


def _run_stage(model: TrainableSSR, data_dir: str | Path, samples: list[dict], stage: int,
               first: int, config: TrainConfig, optim_state: dict | None,
               history: list[dict], ckpt_path: Path, log: Any, progress: bool,
               tqdm: Any) -> list[dict]:
    optimizer = _optimizer(model.trainable_parameters(), config)
    if optim_state is not None:
        optimizer.load_state_dict(optim_state)
    total = config.steps(stage)
    bar = tqdm(total=total, initial=first, desc=f"stage {stage}", disable=not progress,
               dynamic_ncols=True)
    window_loss, window_samples, window_tokens, t_window = 0.0, 0, 0, time.perf_counter()
    # wall_s counts this stage's training time across resumptions.
    done_s = max((r["wall_s"] for r in history if r["stage"] == stage), default=0.0)
    t_stage = time.perf_counter() - done_s
    for step in range(first, total):
        lr = learning_rate(config, stage, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        picked = [samples[i] for i in batch_indices(len(samples), config.batch_size, step,
                                                     config.seed, stage)]
        batch = model.batch(data_dir, picked)
        loss = model.loss(batch)
        if not torch.isfinite(loss):
            raise TrainError(f"stage {stage} step {step}: loss is {float(loss)}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), 1.0)
        optimizer.step()
        window_loss += float(loss.detach())
        window_samples += len(picked)
        window_tokens += batch.tokens
        bar.update(1)
        done = step + 1
        if done % config.log_every == 0 or done == total:
            n_steps = config.log_every if done % config.log_every == 0 else \
                done % config.log_every
            elapsed = max(time.perf_counter() - t_window, 1e-9)
            row = {"stage": stage, "step": done, "loss": window_loss / n_steps, "lr": lr,
                   "samples_per_s": window_samples / elapsed,
                   "tokens_per_s": window_tokens / elapsed,
                   "wall_s": time.perf_counter() - t_stage}
            history.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{row['loss']:.3f}", samples_s=f"{row['samples_per_s']:.1f}",
                            tok_s=f"{row['tokens_per_s']:.0f}")
            window_loss, window_samples, window_tokens = 0.0, 0, 0
            t_window = time.perf_counter()
        if done % config.checkpoint_every == 0 or done == total:
            # A finished stage is saved as step 0 of the next one.
            next_stage, next_step = (stage, done) if done < total else (stage + 1, 0)
            state = model.state_dict()
            _atomic_save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                          "config": asdict(config), "stage": next_stage, "step": next_step,
                          "lora": state["lora"], "spatial": state["spatial"],
                          "optimizer": optimizer.state_dict() if done < total else None,
                          "history": history}, ckpt_path)
    bar.close()
    return history


def lora_settings(config: TrainConfig) -> LoraSettings:
    return LoraSettings(rank=config.lora_rank, alpha=config.lora_alpha)
