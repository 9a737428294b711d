"""Frames per second of the simulator's renderer: the rasteriser against Open3D's ray
caster, in the same run, frame by frame in turn.

Baselines: the ray-cast backend's full frames (the renderer before the rasteriser) and
its depth-only cast (rays built, cast, t_hit read back: the floor any renderer on
RaycastingScene pays). Measured: the default (raster) backend's full frames with every
image output (RGB, float depth, 16-bit depth, instance ids), with and without the
sensor-noise model, through the public ``SimSequence.frame`` API, and its depth alone.
Goal: at least 20 frames/s at 640x480 with all outputs on a 2-core machine.

    python benchmarks/sim_render.py [--frames 60] [--size 640x480] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
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
          f"numba {numba.__version__}, {width}x{height}, {args.frames} frames per seed, "
          f"seeds {args.seeds}")
    names = ["raycast depth", "raycast full", "raster depth", "raster full",
             "raster full+noise"]
    rows = []
    for seed in args.seeds:
        scene = make_scene(seed)
        kw = dict(n_frames=args.frames, width=width, height=height)
        cast = render_sequence(scene, backend="raycast", **kw)
        clean = render_sequence(scene, backend="raster", **kw)
        noisy = render_sequence(scene, backend="raster", noise=True, **kw)
        cast_renderer, raster_renderer = cast._renderer, clean._renderer
        results = _interleaved([
            lambda i: cast_renderer.depth(cast.poses[i], cast.K, width, height),
            cast.frame,
            lambda i: raster_renderer.depth(clean.poses[i], clean.K, width, height),
            clean.frame, noisy.frame], args.frames)
        rows.append((seed, raster_renderer.triangle_count, results))
    print(f"{'seed':>4} {'tris':>6} " + " ".join(f"{n:>17}" for n in names)
          + "   (frames/s; CPU ms per frame, all threads)")
    for seed, tris, results in rows:
        print(f"{seed:>4} {tris:>6} " + " ".join(f"{fps:>8.1f}/s {cpu:>4.0f} ms"
                                                for fps, cpu in results))
    mean = [sum(r[2][k][0] for r in rows) / len(rows) for k in range(len(names))]
    print("mean frames/s: " + ", ".join(f"{n} {m:.1f}" for n, m in zip(names, mean))
          + f"; load average {os.getloadavg()[0]:.1f}")
    print(f"ratios: raster full / raycast full x{mean[3] / mean[1]:.2f}, raster full / "
          f"raycast depth-only x{mean[3] / mean[0]:.2f}, raster depth / raycast depth "
          f"x{mean[2] / mean[0]:.2f}")
    print(f"goal >= 20 frames/s with all outputs (raster full+noise {mean[4]:.1f}): "
          f"{'met' if mean[4] >= 20.0 else 'not met'}")


if __name__ == "__main__":
    main()
