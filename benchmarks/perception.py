"""Perception benchmark: per-keyframe time of proposals + lifting + fusion at 640x480
with the label-image source, the keyframe selector's decision time, and memory over a
long run; Open3D statistical outlier removal as the baseline of the numpy lifting.

Run: ``python benchmarks/perception.py [--seed 1] [--frames 300] [--long 3000]``.
Frames come from the simulator (noise on). The long run feeds ``--long`` frames by
cycling through the rendered ones (stamps keep increasing), so it measures the
pipeline's memory, not the renderer's. Prints medians, p95 and the ratios.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np


def rss_mb() -> float:
    """Resident set size of this process [MiB] (Linux /proc)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_pipeline(frames, outlier_method: str):
    from ssr_ros.perception.lifting import LiftingConfig
    from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig

    pipe = MappingPipeline(PipelineConfig(source="labels",
                                          lifting=LiftingConfig(outlier_method=outlier_method)))
    per_kf, select = [], []
    for f in frames:
        t0 = time.perf_counter()
        r = pipe.process(f)
        if r is None:
            select.append((time.perf_counter() - t0) * 1e3)
        else:
            t = r.timings_ms
            per_kf.append((t["proposals"] + t["lifting"] + t["fusion"], t["total"],
                           t["select"]))
    return pipe, np.array(per_kf), np.array(select)


def stats(values: np.ndarray) -> str:
    return f"median {np.median(values):7.2f} ms  p95 {np.percentile(values, 95):7.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--long", type=int, default=3000)
    args = ap.parse_args()

    from ssr_ros.core.camera import PinholeCamera
    from ssr_ros.core.keyframes import KeyframeSelector
    from ssr_ros.sim import make_scene, render_sequence

    scene = make_scene(args.seed)
    seq = render_sequence(scene, n_frames=args.frames, width=640, height=480, noise=True)
    t0 = time.perf_counter()
    frames = [seq.frame(i) for i in range(len(seq))]
    print(f"rendered {len(frames)} frames 640x480 in {time.perf_counter() - t0:.1f} s")

    # Selector decision alone (per frame, including the new-content test).
    cam = PinholeCamera(seq.K, 640, 480)
    sel = KeyframeSelector()
    decide = []
    for f in frames:
        t = time.perf_counter()
        sel.decide(f.depth_m, cam, f.T_map_cam, f.stamp_s)
        decide.append((time.perf_counter() - t) * 1e3)
    print(f"selector decision          {stats(np.array(decide))}  (goal <= 1 ms)")

    results = {}
    for method in ("numpy", "open3d"):
        pipe, kf, _ = run_pipeline(frames, method)
        results[method] = kf
        print(f"[{method:6s}] keyframes {len(kf):4d}  proposals+lifting+fusion "
              f"{stats(kf[:, 0])}  whole keyframe {stats(kf[:, 1])}  "
              f"objects {len(pipe.object_map.objects())}")
    ratio_med = np.median(results["open3d"][:, 0]) / np.median(results["numpy"][:, 0])
    ratio_p95 = (np.percentile(results["open3d"][:, 0], 95)
                 / np.percentile(results["numpy"][:, 0], 95))
    print(f"open3d / numpy (proposals+lifting+fusion): median x{ratio_med:.2f}, "
          f"p95 x{ratio_p95:.2f}")

    # Memory over a long run: cycle the rendered frames with increasing stamps.
    from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig

    pipe = MappingPipeline(PipelineConfig(source="labels"))
    dt = 1.0 / seq.rate_hz
    rss = []
    start = rss_mb()
    for i in range(args.long):
        f = frames[i % len(frames)]
        pipe.process(dataclasses.replace(f, stamp_s=i * dt))
        if i in (args.long // 10, args.long // 2):
            rss.append(rss_mb())
    end = rss_mb()
    print(f"RSS over {args.long} frames: start {start:.0f} MiB, after 10% {rss[0]:.0f} MiB, "
          f"half {rss[1]:.0f} MiB, end {end:.0f} MiB (keyframes {pipe.keyframe_count}, "
          f"buffer {len(pipe.keyframes)}, objects {len(pipe.object_map.objects())})")


if __name__ == "__main__":
    main()
