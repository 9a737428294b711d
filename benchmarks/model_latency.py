"""Latency of a spatial question over K keyframes and of adding keyframes: our runner
(cached frame prefix, own static KV cache, CUDA-graph decode bursts, fused projections,
batched vision tower) against plain transformers (full prefill of the whole sequence per
question + default ``generate``), side by side in one run, with the goals of issue 20
checked at the end.

Default: a Qwen2.5-VL-7B-shaped model with random bf16 weights on CUDA, K = 16 and 32
keyframes of 448 x 448 (256 vision tokens each), 32-token greedy answers. ``--tiny``:
the tiny test config on the CPU (smoke run; the numbers say nothing about a GPU).

Reported per K and method (transformers, our runner with the backbone's separate
projections, our runner with fused projections): time to first token (ours: question
prefill over the cached prefix + first token; transformers: when ``generate`` hands its
first new token to a streamer, vision tower and full prefill included), decode tokens/s,
total time of the answer, peak device memory (CUDA only) and how many greedy tokens agree
with transformers'. Then, for the fused runner at K = 16: the burst of K keyframes
encoded as one batch, and adding one keyframe to a prefix of K (vision tower + spatial
encoder + prefix extension; the image preprocessing, a resize on the CPU, is reported
apart); the vision tower against transformers' own; optionally a profile of one decode
step. ``--previous LOG`` reads the runner rows of the same benchmark run by an earlier
version of the engine (``scripts/gpu_check.sh`` does this in the same run) for the "TTFT
unchanged or better" goal.

The tokenizer is the byte-level one of ``ssr_ros.model.tiny`` (no real tokenizer is
available offline), so text segments are about four times longer in tokens than with
Qwen's BPE, for both methods alike.

    python benchmarks/model_latency.py --profile --json bench_out/latency.json   # GPU
    python benchmarks/model_latency.py --tiny                                    # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from transformers.generation.streamers import BaseStreamer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssr_ros.model.config import ModelConfig  # noqa: E402
from ssr_ros.model.runner import ModelRunner  # noqa: E402
from ssr_ros.model.tiny import (build_backbone, build_image_processor,  # noqa: E402
                                build_tokenizer, qwen7b_config, tiny_config)
from ssr_ros.model.vision import VisionEngine  # noqa: E402

QUESTION = ("If I am standing by the sofa and facing the table, is the lamp to my left or "
            "right?")
SCAFFOLD = ("[1] sofa @ root | xy 1.25 -0.5\n"
            "[2] table @ (7,4) | anchors [1] sofa (2,4) | cell 0.40 m\n"
            "[3] lamp @ (7,2) | anchors [1] sofa (0,4), [2] table (9,4) | cell 0.40 m")
#: Keyframes added one at a time after the K of the question (no eviction: the window
#: holds them), for the cost of adding one keyframe; the median leaves out the first,
#: which captures the vision tower's graph for the runner.
EXTRA_FRAMES = 4
#: Issue 20's goals, set for an H100 (the device is named next to every verdict).
GOAL_DECODE_TOK_S = 170.0
GOAL_ANSWER_S = 0.22
GOAL_ADD_KEYFRAME_S = 0.025
GOAL_K = 16


def make_frames(k: int, side: int, seed: int = 0) -> list[dict]:
    """Random RGB-D keyframes (side x side) walking along map x."""
    rng = np.random.default_rng(seed)
    K = np.array([[side * 0.8, 0.0, (side - 1) / 2], [0.0, side * 0.8, (side - 1) / 2],
                  [0.0, 0.0, 1.0]])
    frames = []
    for i in range(k):
        T = np.eye(4)
        T[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)
        T[:3, 3] = [0.2 * i, 0.0, 1.2]
        frames.append(dict(rgb=rng.integers(0, 256, (side, side, 3), dtype=np.uint8),
                           depth_m=rng.uniform(0.5, 5.0, (side, side)).astype(np.float32),
                           K=K, T_map_cam=T, stamp_s=0.5 * i))
    return frames


class FirstTokenClock(BaseStreamer):
    """Streamer that notes when ``generate`` hands over its first new token (the prompt is
    the first call), so TTFT and total come from the same call."""

    def __init__(self) -> None:
        self.calls = 0
        self.first_s = float("nan")

    def put(self, value: torch.Tensor) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first_s = time.perf_counter()

    def end(self) -> None:
        """Nothing to flush."""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")


def run_ours(bb, frames, side, new_tokens, repeats, cuda_graph, fused, extra=()):
    """Our runner over ``frames`` (queued as one burst), ``repeats`` timed questions, then
    the ``extra`` frames added one at a time. Returns (results, sequence inputs)."""
    device = bb.device
    reset_peak(device)
    config = ModelConfig(device=device.type, dtype=str(bb.dtype).split(".")[-1],
                         max_keyframes=len(frames) + len(extra), image_side=side,
                         max_new_tokens=new_tokens, timeout_s=600.0, cuda_graph=cuda_graph)
    runner = ModelRunner(bb, config, fused_weights=fused)
    runner.start()
    try:
        runner.wait_idle(600.0)
        # The frames arrive while the worker is busy (held by an event), as a burst does.
        release = threading.Event()
        runner._submit(lambda cancel: release.wait(600.0))
        futures = [runner.add_keyframe(**frame) for frame in frames]
        t0 = time.perf_counter()
        release.set()
        for future in futures:
            future.result(600.0)
        burst_s = time.perf_counter() - t0
        status = runner.status()
        burst = dict(wall_s=burst_s, batches=status.keyframe_batches,
                     preprocess_s=status.totals_s["preprocess_s"],
                     encode_s=status.totals_s["vision_s"] + status.totals_s["spatial_s"])
        runner.ask_detailed(QUESTION, SCAFFOLD, 600.0, stop_at_eos=False)  # build, capture
        ttft, rate, total, answer = [], [], [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            answer = runner.ask_detailed(QUESTION, SCAFFOLD, 600.0, stop_at_eos=False)
            total.append(time.perf_counter() - t0)
            ttft.append(answer.ttft_s)
            rate.append((len(answer.token_ids) - 1) / max(answer.decode_s, 1e-9))
        inputs = runner.sequence_inputs(QUESTION, SCAFFOLD, 600.0)
        adds = []
        for frame in extra:
            t0 = time.perf_counter()
            runner.add_keyframe(**frame).result(600.0)
            wall = time.perf_counter() - t0
            timing = runner.status().last_keyframe
            adds.append(dict(wall_s=wall, preprocess_s=timing.preprocess_s,
                             vision_s=timing.vision_s, spatial_s=timing.spatial_s,
                             prefix_s=timing.prefix_s,
                             work_s=timing.vision_s + timing.spatial_s + timing.prefix_s))
        result = dict(ttft=statistics.median(ttft), rate=statistics.median(rate),
                      total=statistics.median(total), peak=peak_gib(device),
                      tokens=answer.token_ids, prompt=answer.prompt_tokens,
                      prefix=answer.prefix_tokens, burst=burst, adds=adds,
                      rebuild_s=runner.status().totals_s["rebuild_s"])
    finally:
        runner.close()
    return result, inputs


def run_baseline(bb, frames, side, inputs, new_tokens, repeats):
    device = bb.device
    pixel_values = torch.cat([bb.preprocess(f["rgb"], side)[0] for f in frames])
    input_ids = inputs["input_ids"].to(device)
    kwargs = dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                  pixel_values=pixel_values, image_grid_thw=inputs["image_grid_thw"].to(device),
                  do_sample=False, **bb.token_type_kwargs(input_ids))

    def generate(n):
        clock = FirstTokenClock()
        sync(device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = bb.model.generate(**kwargs, max_new_tokens=n, streamer=clock)
        sync(device)
        t1 = time.perf_counter()
        return clock.first_s - t0, t1 - t0, out[0, input_ids.shape[1]:].tolist()

    reset_peak(device)
    generate(2)  # warm-up
    ttft, total, rate, tokens = [], [], [], []
    for _ in range(repeats):
        first_s, total_s, tokens = generate(new_tokens)
        ttft.append(first_s)
        total.append(total_s)
        rate.append((len(tokens) - 1) / (total_s - first_s))
    return dict(ttft=statistics.median(ttft), rate=statistics.median(rate),
                total=statistics.median(total), peak=peak_gib(device), tokens=tokens)


def same_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens two answers share."""
    same = 0
    for x, y in zip(a, b):
        if x != y:
            break
        same += 1
    return same


def time_call(fn, device, repeats: int) -> float:
    """Median wall time [s] of ``fn()`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare_vision(bb, frames, side, repeats) -> dict:
    """Per keyframe [s]: transformers' tower on one image, ours on one image (eager and
    as a CUDA-graph replay), ours on the whole burst (divided by its size)."""
    prepared = [bb.preprocess(f["rgb"], side) for f in frames]
    pixels, grid = prepared[0]
    eager = VisionEngine(bb.visual, use_cuda_graph=False)
    graphed = VisionEngine(bb.visual, use_cuda_graph=True)
    all_pixels = torch.cat([p for p, _ in prepared])
    all_grids = torch.cat([g for _, g in prepared])

    def theirs():
        with torch.inference_mode():
            bb.visual(pixels, grid_thw=grid.to(bb.device))

    return dict(transformers_s=time_call(theirs, bb.device, repeats),
                ours_s=time_call(lambda: eager(pixels, grid), bb.device, repeats),
                ours_graph_s=time_call(lambda: graphed(pixels, grid), bb.device, repeats),
                ours_batch_s=time_call(lambda: eager(all_pixels, all_grids), bb.device,
                                       repeats) / len(frames))


def profile_decode(bb, length: int, fused: bool, top: int = 14) -> dict:
    """Where a decode step's GPU time goes over a cache of ``length`` tokens: one eager
    step under the profiler (kernel times are the graph's; launch gaps are not counted),
    kernels grouped into matrix products and the rest, then the costliest by name."""
    from torch.profiler import ProfilerActivity, profile

    from ssr_ros.model.engine import TextEngine

    engine = TextEngine(bb.language_model, bb.lm_head, length + 64, bb.device, bb.dtype,
                        use_cuda_graph=False, fused=fused)
    try:
        hidden = bb.language_model.config.hidden_size
        embeds = 0.02 * torch.randn(1, length, hidden, device=bb.device, dtype=bb.dtype)
        positions = torch.arange(length, device=bb.device).view(1, 1, -1).expand(3, 1, -1)
        with torch.inference_mode():
            engine.prefill(embeds, positions)
            engine._write_at.fill_(length)
            engine._position.fill_(length)
            for _ in range(3):
                engine._decode_step()
            sync(bb.device)
            cuda = bb.device.type == "cuda"  # on the CPU (--tiny smoke): operators' own time
            activity = ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU
            with profile(activities=[activity]) as prof:
                engine._decode_step()
                sync(bb.device)
    finally:
        engine.release()
    if cuda:
        kernels = [(e.name, e.device_time) for e in prof.events()
                   if e.device_type == torch.autograd.DeviceType.CUDA]
    else:
        kernels = [(e.name, e.self_cpu_time_total) for e in prof.events()
                   if e.cpu_parent is None]
    total_us = sum(t for _, t in kernels)
    groups: dict[str, float] = {}
    for name, t in kernels:
        low = name.lower()
        kind = ("matrix products" if any(w in low for w in ("gemv", "gemm", "sm90", "cutlass",
                                                            "cublas", "splitk", "addmm",
                                                            "aten::mm", "aten::bmm",
                                                            "aten::linear", "matmul"))
                else "other")
        groups[kind] = groups.get(kind, 0.0) + t
    label = "fused" if fused else "unfused"
    print(f"# decode step ({label}) over {length} cached tokens (eager, profiled): "
          f"{len(kernels)} {'kernels' if cuda else 'operators'}, {total_us / 1e3:.2f} ms; "
          + ", ".join(f"{k} {v / 1e3:.2f} ms" for k, v in sorted(groups.items())))
    by_name: dict[str, list[float]] = {}
    for name, t in kernels:
        by_name.setdefault(name, []).append(t)
    rows = sorted(by_name.items(), key=lambda kv: -sum(kv[1]))[:top]
    for name, times in rows:
        print(f"#   {sum(times) / 1e3:7.3f} ms {len(times):5d}x  {name[:100]}")
    return dict(kernels=len(kernels), total_ms=total_us / 1e3,
                groups_ms={k: v / 1e3 for k, v in groups.items()})


_PREVIOUS_ROW = re.compile(r"^\s*(\d+)\s+ssr runner\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+"
                           r"([\d.]+)\s+([\d.na]+)")


def read_previous(path: str) -> dict[int, dict]:
    """Runner rows (K -> ttft, rate, total, peak) of a log of this benchmark run by an
    earlier engine (its ``ssr runner`` rows)."""
    rows = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = _PREVIOUS_ROW.match(line)
        if match:
            rows[int(match.group(1))] = dict(ttft=float(match.group(4)),
                                            rate=float(match.group(5)),
                                            total=float(match.group(6)),
                                            peak=float(match.group(7)))
    return rows


def verdicts(results: dict) -> list[tuple[str, bool | None, str]]:
    """(goal, met or None where only reported, figures) for issue 20's goals; the per-K
    goals at K = 16, or at the first K where 16 was not run (smoke runs)."""
    out = []
    per_k = results["per_k"]
    goal_k = GOAL_K if GOAL_K in per_k else min(per_k)
    for k in sorted(per_k):
        rate = per_k[k]["fused"]["rate"]
        out.append((f"decode >= {GOAL_DECODE_TOK_S:.0f} tokens/s at K = {k}",
                    rate >= GOAL_DECODE_TOK_S, f"{rate:.1f} tokens/s"))
    if per_k:
        row = per_k[goal_k]["fused"]
        out.append((f"{results['new_tokens']}-token answer at K = {goal_k} <= "
                    f"{GOAL_ANSWER_S} s", row["total"] <= GOAL_ANSWER_S,
                    f"{row['total']:.4f} s"))
        previous = results.get("previous", {}).get(goal_k)
        if previous is not None:
            out.append((f"TTFT at K = {goal_k} unchanged or better than the previous engine "
                        f"(5 % noise allowed)", row["ttft"] <= 1.05 * previous["ttft"],
                        f"{row['ttft']:.4f} s vs {previous['ttft']:.4f} s"))
        else:
            out.append((f"TTFT at K = {goal_k} unchanged or better", None,
                        "no --previous log: compare with BENCHMARKS.md"))
        adds = row["adds"]
        if adds:
            work = statistics.median(a["work_s"] for a in adds)
            out.append((f"adding one keyframe at K = {goal_k} <= {1e3 * GOAL_ADD_KEYFRAME_S:.0f}"
                        f" ms (vision + spatial + prefix)", work <= GOAL_ADD_KEYFRAME_S,
                        f"{1e3 * work:.1f} ms"))
        burst = row["burst"]
        out.append((f"a burst of {goal_k} keyframes encoded as one batch",
                    burst["batches"] == 1, f"{burst['batches']} batch(es)"))
        # bf16 random weights make near-ties, and the fused products round differently:
        # equality is held in float32 by the tests; here it is reported.
        same = per_k[goal_k]["same_fused_unfused"]
        out.append(("fused greedy answer against the unfused one (bf16; equality is "
                    "tested in float32)", None, f"{same}/{len(row['tokens'])} tokens agree"))
    for k in sorted(per_k):
        peak = per_k[k]["fused"]["peak"]
        out.append((f"peak memory reported at K = {k}", True,
                    f"{peak:.2f} GiB (unfused {per_k[k]['unfused']['peak']:.2f}, "
                    f"transformers {per_k[k]['transformers']['peak']:.2f})"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny config on the CPU (smoke)")
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--side", type=int, default=448, help="keyframe side [px]")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-cuda-graph", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one decode step (fused and unfused) over the "
                             "largest K's prefix")
    parser.add_argument("--previous", help="log of this benchmark run by the previous engine")
    parser.add_argument("--json", help="write every figure to this JSON file")
    args = parser.parse_args()

    tokenizer = build_tokenizer()
    processor = build_image_processor(args.side)
    if args.tiny:
        device, dtype, config = torch.device("cpu"), torch.float32, tiny_config(tokenizer)
        torch.set_num_threads(2)
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA device: run with --tiny for the CPU smoke run")
        device, dtype, config = torch.device("cuda"), torch.bfloat16, qwen7b_config(tokenizer)
    t0 = time.perf_counter()
    bb = build_backbone(config, tokenizer, processor, device=device, dtype=dtype)
    # Both methods decode exactly --new-tokens tokens (random weights may emit a stop token).
    bb.model.generation_config.eos_token_id = None
    sync(device)
    weights_gib = torch.cuda.memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    n_params = sum(p.numel() for p in bb.model.parameters())
    import transformers
    device_name = (torch.cuda.get_device_name() if device.type == "cuda"
                   else platform.processor() or "cpu")
    print(f"# model_latency: {'tiny' if args.tiny else '7B-shaped'} random Qwen2.5-VL "
          f"({n_params / 1e9:.3f} B params, {dtype}, {weights_gib:.2f} GiB) built in "
          f"{time.perf_counter() - t0:.1f} s")
    print(f"# device {device} ({device_name}), torch {torch.__version__}, transformers "
          f"{transformers.__version__}, python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# keyframes {args.side}x{args.side}, {args.new_tokens}-token greedy answers, "
          f"median of {args.repeats}; CUDA graph {'off' if args.no_cuda_graph else 'on'}")
    graph = not args.no_cuda_graph
    # Warm-up: first use of the vision tower (a burst and a single frame), the spatial
    # path and the decode step.
    for fused in (True, False):
        run_ours(bb, make_frames(2, args.side, seed=99), args.side, 4, 1, graph, fused,
                 make_frames(1, args.side, seed=98))
    results = dict(device=device_name, dtype=str(dtype), side=args.side,
                   new_tokens=args.new_tokens, repeats=args.repeats, weights_gib=weights_gib,
                   torch=torch.__version__, transformers=transformers.__version__,
                   per_k={})
    if args.previous:
        results["previous"] = read_previous(args.previous)
        print(f"# previous engine ({args.previous}): " + ", ".join(
            f"K={k}: TTFT {r['ttft']:.4f} s, {r['rate']:.1f} tok/s, total {r['total']:.4f} s"
            for k, r in sorted(results["previous"].items())))
    header = (f"{'K':>3} {'method':<18} {'prefix':>6} {'prompt':>6} {'TTFT s':>8} "
              f"{'tok/s':>8} {'total s':>8} {'peak GiB':>8} {'same tok':>8}")
    print(header)
    goal_k = GOAL_K if GOAL_K in args.frames else args.frames[0]
    for k in args.frames:
        frames = make_frames(k, args.side)
        extra = make_frames(EXTRA_FRAMES, args.side, seed=7) if k == goal_k else []
        fused, inputs = run_ours(bb, frames, args.side, args.new_tokens, args.repeats, graph,
                                 True, extra)
        unfused, _ = run_ours(bb, frames, args.side, args.new_tokens, args.repeats, graph,
                              False)
        base = run_baseline(bb, frames, args.side, inputs, args.new_tokens, args.repeats)
        total_tokens = inputs["input_ids"].shape[1]
        print(f"{k:>3} {'transformers':<18} {0:>6} {total_tokens:>6} {base['ttft']:>8.4f} "
              f"{base['rate']:>8.1f} {base['total']:>8.4f} {base['peak']:>8.2f} {'':>8}")
        for label, row in (("ssr runner unfused", unfused), ("ssr runner", fused)):
            same = same_prefix(row["tokens"], base["tokens"])
            print(f"{k:>3} {label:<18} {row['prefix']:>6} {row['prompt']:>6} "
                  f"{row['ttft']:>8.4f} {row['rate']:>8.1f} {row['total']:>8.4f} "
                  f"{row['peak']:>8.2f} {same:>4}/{len(base['tokens']):<3}")
        print(f"    ratios (transformers / fused runner): TTFT "
              f"x{base['ttft'] / fused['ttft']:.1f}, decode "
              f"x{fused['rate'] / max(base['rate'], 1e-9):.1f}, total "
              f"x{base['total'] / fused['total']:.1f}; fused / unfused decode "
              f"x{fused['rate'] / max(unfused['rate'], 1e-9):.2f}; prefix rebuild "
              f"{fused['rebuild_s']:.4f} s")
        burst = fused["burst"]
        print(f"    burst of {k} keyframes: {burst['batches']} batch(es), "
              f"{1e3 * burst['encode_s'] / k:.2f} ms/frame vision + spatial, "
              f"{1e3 * burst['preprocess_s'] / k:.2f} ms/frame preprocessing, "
              f"{burst['wall_s']:.3f} s wall")
        if fused["adds"]:
            adds = fused["adds"]

            def med(key):
                return 1e3 * statistics.median(a[key] for a in adds)

            print(f"    adding one keyframe to {k}: {med('work_s'):.2f} ms (vision "
                  f"{med('vision_s'):.2f}, spatial {med('spatial_s'):.2f}, prefix "
                  f"{med('prefix_s'):.2f}) + preprocessing {med('preprocess_s'):.2f} ms "
                  f"(resize on the CPU); {med('wall_s'):.2f} ms from submit to result")
        results["per_k"][k] = dict(
            transformers=base, fused=fused, unfused=unfused, total_tokens=total_tokens,
            same_fused_unfused=same_prefix(fused["tokens"], unfused["tokens"]))
    vision = compare_vision(bb, make_frames(args.frames[0], args.side), args.side,
                            args.repeats)
    results["vision"] = vision
    print(f"# vision tower per {args.side} px keyframe: transformers "
          f"{1e3 * vision['transformers_s']:.2f} ms, ours {1e3 * vision['ours_s']:.2f} ms "
          f"(graph replay {1e3 * vision['ours_graph_s']:.2f} ms), ours in a batch of "
          f"{args.frames[0]} {1e3 * vision['ours_batch_s']:.2f} ms")
    if args.profile:
        length = results["per_k"][args.frames[-1]]["fused"]["prefix"]
        results["profile"] = {label: profile_decode(bb, length, fused)
                              for label, fused in (("fused", True), ("unfused", False))}
    goals = verdicts(results)
    results["goals"] = [dict(goal=g, met=m, figures=f) for g, m, f in goals]
    print(f"# issue 20 goals (set for an H100; this device: {device_name}):")
    for goal, met, figures in goals:
        mark = "info" if met is None else ("PASS" if met else "FAIL")
        print(f"  {mark} {goal}: {figures}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=str),
                                   encoding="utf-8")
    if not args.tiny and any(met is False for _, met, _ in goals):
        sys.exit(3)


if __name__ == "__main__":
    main()
