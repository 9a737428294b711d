"""The curriculum's ablation on a small random-weight Qwen2.5-VL, on held-out rooms.

Arms: A stage 1 -> stage 2 with the spatial branch; B the same with the spatial branch
frozen (gate stays zero); C stage 2 only (``--skip-stage1``) with the spatial branch;
D untrained (the random backbone, gate zero). A, B and C are trained once per training
seed (LoRA and encoder initialisation, batch order); every run is evaluated with
``ssr-train eval`` through the runner on the held-out split (greedy answers scored), and
with ``ssr-train eval --nll`` (teacher-forced loss of the true held-out answers
[nats/token], which separates small models whose greedy answers do not parse yet). The
backbone is one random model (:func:`ssr_ros.train.random_model.random_backbone`, seed 0)
saved as a checkpoint that every run loads, so the arms differ only in what they train.

Run (CPU; two runs at a time, one torch thread each)::

    python benchmarks/training_ablation.py --work /tmp/ablation \\
        [--train-seeds 0-23] [--heldout-seeds 1000-1005] [--width 128] [--layers 2] \\
        [--stage1-steps 150] [--stage2-steps 200] [--runs 0,1,2] [--parallel 2] \\
        [--png docs/training_ablation.png] [--json docs/training_ablation.json]

Finished runs (``<work>/<arm><seed>/metrics.json``) are reused, so an interrupted
benchmark continues. Prints the table (mean and sample standard deviation over the
training seeds) and draws the loss curves (mean over seeds, each seed faint) with Pillow.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ARMS = {"A": [], "B": ["--freeze-spatial"], "C": ["--skip-stage1"]}
COLOURS = {"A": (200, 60, 40), "B": (40, 90, 200), "C": (40, 150, 70)}
METRICS = ("ground3d_median_m", "ground3d_p90_m", "ground3d_parsed", "triplet_accuracy",
           "cogmap_valid_lines", "cogmap_disagreement", "vsi_overall", "nll_stage2",
           "nll_ground3d", "nll_cogmap", "nll_vsi")


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if "-" in part:
            low, high = part.split("-")
            seeds.extend(range(int(low), int(high) + 1))
        elif part:
            seeds.append(int(part))
    return seeds


def _python() -> list[str]:
    return ["nice", "-n", "10", sys.executable, "-m", "ssr_ros.train.cli"]


def _run(cmd: list[str], log_path: Path) -> float:
    t0 = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}); see {log_path}")
    return time.perf_counter() - t0


def _job(args: argparse.Namespace, arm: str, seed: int | None) -> dict:
    work = Path(args.work)
    out = work / (f"{arm}{seed}" if seed is not None else arm)
    metrics_path = out / "metrics.json"
    if metrics_path.exists():
        return json.loads(metrics_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    common = ["--model", str(work / "base"), "--data", str(work / "data"),
              "--image-side", str(args.image_side), "--threads", "1"]
    train_s = 0.0
    adapter = ""
    if arm != "D":
        train_s = _run(_python() + common + [
            "--out", str(out), "--seed", str(seed), "--stage1-steps", str(args.stage1_steps),
            "--stage2-steps", str(args.stage2_steps), "--batch-size", str(args.batch_size),
            "--lr", str(args.lr), "--lora-rank", str(args.lora_rank),
            "--lora-alpha", str(2 * args.lora_rank), "--log-every", "10",
            "--checkpoint-every", "50", "--resume", "--no-progress", *ARMS[arm]],
            out / "train.log")
        adapter = str(out / "adapter.safetensors")
    eval_s = _run(_python() + ["eval", *common, "--json", str(out / "eval.json")]
                  + (["--adapter", adapter] if adapter else []), out / "eval.log")
    if arm != "D":
        # Training time from the log (summed over stages, start-up excluded, and right
        # across a resumed run).
        rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()
                if line]
        train_s = sum(max(r["wall_s"] for r in rows if r["stage"] == stage)
                      for stage in {r["stage"] for r in rows})
    result = {"arm": arm, "seed": seed, "train_wall_s": train_s, "eval_wall_s": eval_s,
              "metrics": json.loads((out / "eval.json").read_text())}
    metrics_path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{arm}{'' if seed is None else seed}: train {train_s:.0f} s, eval {eval_s:.0f} s",
          flush=True)
    return result


def _nll_job(args: argparse.Namespace, arm: str, seed: int | None) -> dict:
    """Teacher-forced held-out loss of a finished run (``ssr-train eval --nll``)."""
    work = Path(args.work)
    out = work / (f"{arm}{seed}" if seed is not None else arm)
    path = out / "nll.json"
    if not path.exists():
        adapter = out / "adapter.safetensors"
        _run(_python() + ["eval", "--model", str(work / "base"), "--data", str(work / "data"),
                          "--image-side", str(args.image_side), "--threads", "1", "--nll",
                          "--no-generate", "--json", str(path)]
             + (["--adapter", str(adapter)] if arm != "D" else []), out / "nll.log")
    return json.loads(path.read_text())


def _prepare(args: argparse.Namespace) -> None:
    from ssr_ros.model.tiny import save_checkpoint
    from ssr_ros.train.data import SimDataConfig, write_sim_dataset
    from ssr_ros.train.random_model import random_backbone

    work = Path(args.work)
    if not (work / "data" / "manifest.json").exists():
        config = SimDataConfig(keyframes=args.keyframes, width=args.size[0],
                               height=args.size[1], stage1_frames=args.stage1_frames,
                               sequences=args.sequences, ground_per_sequence=3,
                               vsi_per_sequence=args.vsi_per_sequence)
        t0 = time.perf_counter()
        manifest = write_sim_dataset(work / "data", args.train_seeds, args.heldout_seeds,
                                     config)
        print(f"data: {manifest['counts']} in {time.perf_counter() - t0:.0f} s", flush=True)
    if not (work / "base" / "config.json").exists():
        save_checkpoint(random_backbone(args.width, args.layers, args.image_side, seed=0),
                        str(work / "base"))


def _stats(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    mean = float(np.mean(finite))
    return mean, float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0


def _table(results: dict[str, list[dict]]) -> tuple[str, dict]:
    summary: dict[str, dict] = {}
    lines = ["| arm | " + " | ".join(METRICS) + " | train wall s |",
             "|---" * (len(METRICS) + 2) + "|"]
    for arm, runs in results.items():
        row = {}
        cells = []
        for name in METRICS:
            mean, spread = _stats([r["metrics"].get(name, math.nan) for r in runs])
            row[name] = {"mean": mean, "std": spread}
            cells.append(f"{mean:.3f} ± {spread:.3f}" if len(runs) > 1 else f"{mean:.3f}")
        wall, wall_sd = _stats([r["train_wall_s"] for r in runs])
        row["train_wall_s"] = {"mean": wall, "std": wall_sd}
        row["runs"] = len(runs)
        summary[arm] = row
        lines.append(f"| {arm} (n={len(runs)}) | " + " | ".join(cells) + f" | {wall:.0f} |")
    return "\n".join(lines), summary


def _curves(work: Path, arm: str, seeds: list[int]) -> dict[int, list[np.ndarray]]:
    """{stage: [array (n, 2) of (step, loss) per seed]}."""
    out: dict[int, list[np.ndarray]] = {1: [], 2: []}
    for seed in seeds:
        rows = [json.loads(line) for line in
                (work / f"{arm}{seed}" / "log.jsonl").read_text().splitlines() if line]
        for stage in (1, 2):
            pts = [(r["step"], r["loss"]) for r in rows if r["stage"] == stage]
            if pts:
                out[stage].append(np.array(pts, dtype=np.float64))
    return out


def draw_curves(work: Path, seeds: list[int], path: str, title: str) -> None:
    """Two panels (stage 1, stage 2): loss [nats/token] against step, per arm."""
    width, height, margin = 1000, 420, 60
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    curves = {arm: _curves(work, arm, seeds) for arm in ARMS}
    all_loss = [c[:, 1] for arm in curves.values() for st in arm.values() for c in st]
    top = max(float(np.max(v)) for v in all_loss) if all_loss else 6.0
    panel_w = (width - 3 * margin) // 2
    draw.text((margin, 8), title, fill=(0, 0, 0))
    for panel, stage in enumerate((1, 2)):
        x0 = margin + panel * (panel_w + margin)
        y0, y1 = margin, height - margin
        draw.rectangle([x0, y0, x0 + panel_w, y1], outline=(0, 0, 0))
        steps = [c[-1, 0] for arm in curves.values() for c in arm[stage]]
        last = max(steps) if steps else 1.0
        draw.text((x0, y1 + 8), f"stage {stage}: step (0 .. {last:.0f})", fill=(0, 0, 0))
        for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
            y = y1 - frac * (y1 - y0)
            draw.line([x0 - 4, y, x0, y], fill=(0, 0, 0))
            draw.text((x0 - 40, y - 6), f"{frac * top:.1f}", fill=(0, 0, 0))

        def xy(c: np.ndarray) -> list[tuple[float, float]]:
            return [(x0 + s / last * panel_w, y1 - min(v, top) / top * (y1 - y0))
                    for s, v in c]
        for arm, colour in COLOURS.items():
            per_seed = curves[arm][stage]
            faint = tuple(int(255 - (255 - c) * 0.35) for c in colour)
            for c in per_seed:
                draw.line(xy(c), fill=faint, width=1)
            if per_seed and all(len(c) == len(per_seed[0]) for c in per_seed):
                mean = np.mean(np.stack(per_seed), axis=0)
                draw.line(xy(mean), fill=colour, width=3)
    for k, (arm, colour) in enumerate(COLOURS.items()):
        x = width - 3 * margin + 0
        draw.line([x, 20 + 14 * k, x + 20, 20 + 14 * k], fill=colour, width=3)
        draw.text((x + 26, 14 + 14 * k), {"A": "A stage 1+2, spatial",
                                          "B": "B stage 1+2, gate frozen",
                                          "C": "C stage 2 only"}[arm], fill=(0, 0, 0))
    draw.text((margin, 28), "loss [nats/token] (mean over seeds bold, each seed faint)",
              fill=(0, 0, 0))
    image.save(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True)
    p.add_argument("--train-seeds", type=parse_seeds, default=parse_seeds("0-23"))
    p.add_argument("--heldout-seeds", type=parse_seeds, default=parse_seeds("1000-1005"))
    p.add_argument("--keyframes", type=int, default=2)
    p.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")),
                   default=(112, 84))
    p.add_argument("--stage1-frames", type=int, default=4)
    p.add_argument("--sequences", type=int, default=2)
    p.add_argument("--vsi-per-sequence", type=int, default=1)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--image-side", type=int, default=112)
    p.add_argument("--stage1-steps", type=int, default=150)
    p.add_argument("--stage2-steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lora-rank", type=int, default=32)
    p.add_argument("--runs", type=parse_seeds, default=parse_seeds("0,1,2"))
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--png", default="docs/training_ablation.png")
    p.add_argument("--json", default="docs/training_ablation.json")
    args = p.parse_args()
    t0 = time.perf_counter()
    _prepare(args)
    jobs = [("D", None)] + [(arm, s) for s in args.runs for arm in ARMS]
    with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
        done = list(pool.map(lambda job: _job(args, *job), jobs))
        losses = list(pool.map(lambda job: _nll_job(args, *job), jobs))
    for result, nll in zip(done, losses):
        result["metrics"].update(nll)
    results: dict[str, list[dict]] = {}
    for r in done:
        results.setdefault(r["arm"], []).append(r)
    results = {arm: results[arm] for arm in ("A", "B", "C", "D")}
    table, summary = _table(results)
    meta = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                       f"{os.cpu_count()} CPUs (shared)",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "width": args.width, "layers": args.layers, "image": list(args.size),
            "keyframes": args.keyframes, "stage1_steps": args.stage1_steps,
            "stage2_steps": args.stage2_steps, "batch_size": args.batch_size,
            "lr": args.lr, "lora_rank": args.lora_rank,
            "train_seeds": args.train_seeds, "heldout_seeds": args.heldout_seeds,
            "runs": args.runs, "total_wall_s": time.perf_counter() - t0}
    print(json.dumps(meta))
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "summary": summary,
                                               "runs": done}, indent=1) + "\n")
    if args.png:
        draw_curves(Path(args.work), args.runs, args.png,
                    f"SSR curriculum, random Qwen2.5-VL width {args.width} x {args.layers} "
                    f"layers, {len(args.runs)} seeds per arm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
