"""Frames per second of the simulator's renderer, against a depth-only ray cast.

Baseline: Open3D ray casting of the same views returning only depth (rays built, cast,
t_hit read back) -- the floor any renderer on RaycastingScene pays. Measured: full
frames with every image output (RGB, float depth, 16-bit depth, instance ids), with
and without the sensor-noise model, through the public ``SimSequence.frame`` API.
Goal: at least 20 frames/s at 640x480 on a 2-core machine.

    python benchmarks/sim_render.py [--frames 60] [--size 640x480] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import open3d as o3d

from ssr_ros.sim import make_scene, render_sequence


def _interleaved(fns: list, n: int) -> list[tuple[float, float]]:
    """Frames per second (wall clock) and CPU milliseconds per frame (all threads) of each
    function, measured frame by frame in turn so that load changes on a shared machine
    hit every variant alike."""
    for fn in fns:
        fn(0)
    wall = [0.0] * len(fns)
    cpu = [0.0] * len(fns)
    for i in range(n):
        for k, fn in enumerate(fns):
            w, c = time.perf_counter(), time.process_time()
            fn(i)
            wall[k] += time.perf_counter() - w
            cpu[k] += time.process_time() - c
    return [(n / w, 1000.0 * c / n) for w, c in zip(wall, cpu)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, open3d {o3d.__version__}, "
          f"{width}x{height}, {args.frames} frames per seed, seeds {args.seeds}")
    rows = []
    for seed in args.seeds:
        scene = make_scene(seed)
        clean = render_sequence(scene, n_frames=args.frames, width=width, height=height)
        noisy = render_sequence(scene, n_frames=args.frames, width=width, height=height,
                                noise=True)
        renderer = clean._renderer
        depth, labels, full, noise = _interleaved([
            lambda i: renderer.depth(clean.poses[i], clean.K, width, height),
            lambda i: renderer.instance_ids(clean.poses[i], clean.K, width, height),
            clean.frame, noisy.frame], args.frames)
        rows.append((seed, renderer.triangle_count, depth, labels, full, noise))
    print(f"{'seed':>4} {'tris':>6} {'depth-only':>11} {'labels':>8} {'full':>8} "
          f"{'full+noise':>11} {'full/depth':>11} {'noise/depth':>12}   cpu ms/frame "
          "(depth, full, full+noise)")
    for seed, tris, d, lab, full, noise in rows:
        print(f"{seed:>4} {tris:>6} {d[0]:>9.1f}/s {lab[0]:>6.1f}/s {full[0]:>6.1f}/s "
              f"{noise[0]:>9.1f}/s {full[0] / d[0]:>11.2f} {noise[0] / d[0]:>12.2f}   "
              f"{d[1]:.0f}, {full[1]:.0f}, {noise[1]:.0f}")
    mean = [sum(r[k][0] for r in rows) / len(rows) for k in range(2, 6)]
    cpu = [sum(r[k][1] for r in rows) / len(rows) for k in range(2, 6)]
    print(f"mean: depth-only {mean[0]:.1f} frames/s, full {mean[2]:.1f} frames/s "
          f"(ratio {mean[2] / mean[0]:.2f}), full+noise {mean[3]:.1f} frames/s "
          f"(ratio {mean[3] / mean[0]:.2f}); CPU per frame: depth-only {cpu[0]:.0f} ms, "
          f"full {cpu[2]:.0f} ms, full+noise {cpu[3]:.0f} ms; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"goal >= 20 frames/s with all outputs: {'met' if mean[3] >= 20.0 else 'not met'}")

if __name__ == "__main__":
    main()
