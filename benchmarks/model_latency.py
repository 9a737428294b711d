"""Latency of a spatial question over K keyframes: our runner (cached frame prefix, own
static KV cache, CUDA-graph decode step) against plain transformers (full prefill of the
whole sequence per question + default ``generate``), side by side in one run.

Default: a Qwen2.5-VL-7B-shaped model with random bf16 weights on CUDA, K = 8, 16, 32
keyframes of 448 x 448 (256 vision tokens each), 32-token greedy answers. ``--tiny``: the
tiny test config on the CPU (smoke run; the numbers say nothing about a GPU).

Reported per K and method: time to first token (ours: question prefill over the cached
prefix + first token; transformers: when ``generate`` hands its first new token to a
streamer, vision tower and full prefill included), decode tokens/s, total time to answer,
peak device memory (CUDA only), and for our runner the spatial encoder's share of the
vision tower's time (back-projection, pooling and MLP vs the tower, per keyframe; the
image preprocessing on the CPU is reported apart). The tokenizer is the byte-level one of
``ssr_ros.model.tiny`` (no real tokenizer is available offline), so text segments are
about four times longer in tokens than with Qwen's BPE, for both methods alike.

    python benchmarks/model_latency.py            # GPU
    python benchmarks/model_latency.py --tiny     # CPU smoke run
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
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

QUESTION = ("If I am standing by the sofa and facing the table, is the lamp to my left or "
            "right?")
SCAFFOLD = ("[1] sofa @ root | xy 1.25 -0.5\n"
            "[2] table @ (7,4) | anchors [1] sofa (2,4) | cell 0.40 m\n"
            "[3] lamp @ (7,2) | anchors [1] sofa (0,4), [2] table (9,4) | cell 0.40 m")


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


def run_ours(bb, frames, side, new_tokens, repeats, cuda_graph):
    device = bb.device
    reset_peak(device)
    config = ModelConfig(device=device.type, dtype=str(bb.dtype).split(".")[-1],
                         max_keyframes=len(frames), image_side=side,
                         max_new_tokens=new_tokens, timeout_s=600.0, cuda_graph=cuda_graph)
    runner = ModelRunner(bb, config)
    runner.start()
    try:
        for frame in frames:
            runner.add_keyframe(**frame)
        runner.wait_idle(600.0)
        totals = runner.status().totals_s
        runner.ask_detailed(QUESTION, SCAFFOLD, 600.0, stop_at_eos=False)  # warm-up, capture
        ttft, rate, total, answer = [], [], [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            answer = runner.ask_detailed(QUESTION, SCAFFOLD, 600.0, stop_at_eos=False)
            total.append(time.perf_counter() - t0)
            ttft.append(answer.ttft_s)
            rate.append((len(answer.token_ids) - 1) / max(answer.decode_s, 1e-9))
        inputs = runner.sequence_inputs(QUESTION, SCAFFOLD, 600.0)
        result = dict(ttft=statistics.median(ttft), rate=statistics.median(rate),
                      total=statistics.median(total), peak=peak_gib(device),
                      tokens=answer.token_ids, prompt=answer.prompt_tokens,
                      prefix=answer.prefix_tokens,
                      spatial_share=totals["spatial_s"] / max(totals["vision_s"], 1e-12),
                      vision_ms=1e3 * totals["vision_s"] / len(frames),
                      spatial_ms=1e3 * totals["spatial_s"] / len(frames),
                      preprocess_ms=1e3 * totals["preprocess_s"] / len(frames))
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


def profile_decode(bb, length: int, top: int = 14) -> None:
    """Where a decode step's GPU time goes over a cache of ``length`` tokens: one eager
    step under the profiler (kernel times are the graph's; launch gaps are not counted),
    kernels grouped into matrix products and the rest, then the costliest by name."""
    from torch.profiler import ProfilerActivity, profile

    from ssr_ros.model.engine import TextEngine

    engine = TextEngine(bb.language_model, bb.lm_head, length + 64, bb.device, bb.dtype,
                        use_cuda_graph=False)
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
    if cuda:
        kernels = [(e.name, e.device_time) for e in prof.events()
                   if e.device_type == torch.autograd.DeviceType.CUDA]
    else:
        kernels = [(e.name, e.self_cpu_time_total) for e in prof.events()]
    total_us = sum(t for _, t in kernels)
    groups: dict[str, float] = {}
    for name, t in kernels:
        low = name.lower()
        kind = ("matrix products" if any(w in low for w in ("gemv", "gemm", "sm90", "cutlass",
                                                            "cublas", "splitk", "addmm",
                                                            "aten::mm", "aten::bmm"))
                else "other")
        groups[kind] = groups.get(kind, 0.0) + t
    print(f"# decode step over {length} cached tokens (eager, profiled): {len(kernels)} "
          f"kernels, {total_us / 1e3:.2f} ms of kernel time; " + ", ".join(
              f"{k} {v / 1e3:.2f} ms" for k, v in sorted(groups.items())))
    by_name: dict[str, list[float]] = {}
    for name, t in kernels:
        by_name.setdefault(name, []).append(t)
    rows = sorted(by_name.items(), key=lambda kv: -sum(kv[1]))[:top]
    for name, times in rows:
        print(f"#   {sum(times) / 1e3:7.3f} ms {len(times):5d}x  {name[:100]}")
    engine.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny config on the CPU (smoke)")
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--side", type=int, default=448, help="keyframe side [px]")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-cuda-graph", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also profile one decode step over the largest K's prefix")
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
    n_params = sum(p.numel() for p in bb.model.parameters())
    import transformers
    print(f"# model_latency: {'tiny' if args.tiny else '7B-shaped'} random Qwen2.5-VL "
          f"({n_params / 1e9:.3f} B params, {dtype}) built in {time.perf_counter() - t0:.1f} s")
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor()
    print(f"# device {device} ({gpu}), torch {torch.__version__}, transformers "
          f"{transformers.__version__}, python {platform.python_version()}")
    print(f"# keyframes {args.side}x{args.side}, {args.new_tokens}-token greedy answers, "
          f"median of {args.repeats}; CUDA graph {'off' if args.no_cuda_graph else 'on'}")
    # Warm-up: first use of the vision tower, the spatial path and the decode step.
    run_ours(bb, make_frames(2, args.side, seed=99), args.side, 4, 1, not args.no_cuda_graph)
    header = (f"{'K':>3} {'method':<12} {'prefix':>6} {'prompt':>6} {'TTFT s':>8} "
              f"{'tok/s':>8} {'total s':>8} {'peak GiB':>8} {'same tok':>8}")
    print(header)
    for k in args.frames:
        frames = make_frames(k, args.side)
        ours, inputs = run_ours(bb, frames, args.side, args.new_tokens, args.repeats,
                                not args.no_cuda_graph)
        base = run_baseline(bb, frames, args.side, inputs, args.new_tokens, args.repeats)
        same = 0
        for a, b in zip(ours["tokens"], base["tokens"]):
            if a != b:
                break
            same += 1
        total_tokens = inputs["input_ids"].shape[1]
        print(f"{k:>3} {'transformers':<12} {0:>6} {total_tokens:>6} {base['ttft']:>8.4f} "
              f"{base['rate']:>8.1f} {base['total']:>8.4f} {base['peak']:>8.2f} {'':>8}")
        print(f"{k:>3} {'ssr runner':<12} {ours['prefix']:>6} {ours['prompt']:>6} "
              f"{ours['ttft']:>8.4f} {ours['rate']:>8.1f} {ours['total']:>8.4f} "
              f"{ours['peak']:>8.2f} {same:>4}/{len(base['tokens']):<3}")
        print(f"    ratios (baseline / ours): TTFT x{base['ttft'] / ours['ttft']:.1f}, "
              f"decode x{ours['rate'] / max(base['rate'], 1e-9):.1f}, "
              f"total x{base['total'] / ours['total']:.1f}; per keyframe: preprocessing "
              f"{ours['preprocess_ms']:.2f} ms, vision tower {ours['vision_ms']:.2f} ms, "
              f"spatial encoder {ours['spatial_ms']:.2f} ms "
              f"({100 * ours['spatial_share']:.1f} % of the vision tower)")
    if args.profile:
        profile_decode(bb, ours["prefix"])


if __name__ == "__main__":
    main()
