"""``ssr-train``: train an adapter on a data set from ``ssr-data``, or evaluate one.

    ssr-train --model /models/Qwen2.5-VL-7B-Instruct --data /data/ssr --out /runs/a \\
              [--stage1-steps 2000] [--stage2-steps 4000] [--batch-size 4] [--lr 2e-4] \\
              [--skip-stage1] [--freeze-spatial] [--seed 0] [--resume] [--device auto]
    ssr-train eval --model /models/Qwen2.5-VL-7B-Instruct --data /data/ssr \\
              [--adapter /runs/a/adapter.safetensors] [--stage1] [--nll] [--no-generate]
              [--json out.json]

Training writes ``OUT/adapter.safetensors`` (set the node's ``model.adapter`` to it),
``OUT/checkpoint.pt`` (``--resume`` continues from it) and ``OUT/log.jsonl``. ``eval``
prints the held-out metrics (:mod:`ssr_ros.train.evaluate`) as JSON. Errors (a missing
data set or model, a corrupt checkpoint, an adapter for another model) stop with a
one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Sequence

from ssr_ros.model.errors import ModelError
from ssr_ros.train.data import TrainDataError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="local Qwen2.5-VL checkpoint directory (required)")
    p.add_argument("--data", required=True,
                   help="data directory written by ssr-data (required)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--dtype", default="auto",
                   help="auto (bfloat16 on CUDA, else float32), float32, bfloat16 or float16 "
                   "(default auto)")
    p.add_argument("--image-side", type=int, default=448,
                   help="keyframes resized as the node's model.image_side [px] (default 448)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default 0 "
                   "= torch's default)")


EXAMPLES = """examples:
  ssr-train --model /models/Qwen2.5-VL-7B-Instruct --data /data/ssr --out /runs/a
  ssr-train --model /models/Qwen2.5-VL-7B-Instruct --data /data/ssr --out /runs/a --resume"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ssr-train", description=__doc__.split("\n\n")[0].replace("``", "")
        + " (ssr-train eval --help: the evaluation's options)", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--out", required=True,
                   help="output directory: adapter, checkpoint and log (required)")
    p.add_argument("--stage1-steps", type=int, default=200,
                   help="optimiser steps of stage 1, 3D grounding (default 200)")
    p.add_argument("--stage2-steps", type=int, default=400,
                   help="optimiser steps of stage 2, spatial questions (default 400)")
    p.add_argument("--batch-size", type=int, default=4, help="samples per step (default 4)")
    p.add_argument("--lr", type=float, default=1e-3,
                   help="peak learning rate of AdamW (default 1e-3)")
    p.add_argument("--warmup-steps", type=int, default=20,
                   help="linear warm-up steps per stage (default 20)")
    p.add_argument("--lora-rank", type=int, default=16, help="LoRA rank r (default 16)")
    p.add_argument("--lora-alpha", type=float, default=32.0,
                   help="LoRA scale alpha, applied as alpha / r (default 32)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of initialisation and sample order (default 0)")
    p.add_argument("--skip-stage1", action="store_true", help="flag: stage 2 only")
    p.add_argument("--freeze-spatial", action="store_true",
                   help="flag: keep the spatial branch off (gate frozen at zero)")
    p.add_argument("--checkpoint-every", type=int, default=100,
                   help="write OUT/checkpoint.pt every N steps (default 100)")
    p.add_argument("--log-every", type=int, default=10,
                   help="append a line to OUT/log.jsonl every N steps (default 10)")
    p.add_argument("--resume", action="store_true",
                   help="flag: continue from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="flag: no progress bar")
    return p


def build_eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssr-train eval",
                                description="evaluate an adapter on held-out samples")
    _common(p)
    p.add_argument("--adapter", default="", help="adapter file; empty = untrained")
    p.add_argument("--split", default="heldout", choices=("heldout", "train"))
    p.add_argument("--stage1", action="store_true", help="also score the stage-1 tasks")
    p.add_argument("--limit", type=int, default=None, help="at most N samples per stage")
    p.add_argument("--nll", action="store_true",
                   help="add the teacher-forced loss of the true answers per task")
    p.add_argument("--no-generate", action="store_true",
                   help="skip the answers through the runner (with --nll: loss only)")
    p.add_argument("--json", default="", help="also write the metrics to this file")
    return p


def _backbone(args: argparse.Namespace):
    import torch

    from ssr_ros.model.backbone import load_backbone
    from ssr_ros.model.config import ModelConfig

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    return load_backbone(ModelConfig(path=args.model, device=args.device, dtype=args.dtype))


def _train(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    from ssr_ros.train.loop import TrainConfig, TrainError, lora_settings, train
    from ssr_ros.train.model import TrainableSSR

    try:
        config = TrainConfig(stage1_steps=args.stage1_steps, stage2_steps=args.stage2_steps,
                             batch_size=args.batch_size, lr=args.lr,
                             warmup_steps=args.warmup_steps, seed=args.seed,
                             skip_stage1=args.skip_stage1, freeze_spatial=args.freeze_spatial,
                             checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                             lora_rank=args.lora_rank, lora_alpha=args.lora_alpha,
                             image_side=args.image_side)
        from ssr_ros.train.model import seed_everything
        seed_everything(config.seed)  # LoRA and encoder initialisation
        model = TrainableSSR(_backbone(args), lora_settings(config),
                             train_spatial=not config.freeze_spatial,
                             image_side=config.image_side)
        result = train(model, args.data, args.out, config, resume=args.resume,
                       progress=not args.no_progress)
    except (TrainError, TrainDataError, ModelError) as exc:
        print(f"ssr-train: error: {exc}", file=sys.stderr)
        return 2
    last = result.history[-1]["loss"] if result.history else math.nan
    print(f"adapter: {result.adapter_path} (final loss {last:.4f}, "
          f"{result.wall_s:.1f} s)")
    return 0


def _eval(argv: Sequence[str]) -> int:
    args = build_eval_parser().parse_args(argv)
    from ssr_ros.train.evaluate import answer_nll, evaluate

    try:
        metrics = {}
        if not args.no_generate:
            metrics.update(evaluate(lambda: _backbone(args), args.data, args.adapter or None,
                                    split=args.split, image_side=args.image_side,
                                    with_stage1=args.stage1, limit=args.limit))
        if args.nll:
            metrics.update(answer_nll(lambda: _backbone(args), args.data,
                                      args.adapter or None, split=args.split,
                                      image_side=args.image_side,
                                      stages=(1, 2) if args.stage1 else (2,),
                                      limit=args.limit))
    except (TrainDataError, ModelError) as exc:
        print(f"ssr-train eval: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(metrics, indent=1, sort_keys=True)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "eval":
        return _eval(argv[1:])
    return _train(argv)


if __name__ == "__main__":
    sys.exit(main())
