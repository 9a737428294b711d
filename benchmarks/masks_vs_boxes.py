"""Detections with instance masks against the same detections' boxes alone, beside the
label-image source, on the same frames: object recall and centre errors of each map.

Run: ``python benchmarks/masks_vs_boxes.py --seeds 500-505 [--bleed 2] [--frames auto|N]
[--size 640x480] [--noise]``. Each seed's sequence is rendered once. Every visible
instance (at least the sequence's ``min_visible_pixels``) becomes one detection: its
mask (the instance's pixels, grown by ``--bleed`` px into the background as a network's
masks bleed) and the tight box of that mask. The ``boxes`` pipeline gets the boxes, the
``masks`` pipeline the same boxes with their masks (``Box2D.mask``, what the node builds
from ``detections/masks``), the ``labels`` pipeline the exact label image. Matching and
the error tail are ``ssr-eval``'s, as in ``boxes_vs_labels.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from scipy import ndimage

from boxes_vs_labels import fmt, parse_seeds, summary


def masked_boxes(ids: np.ndarray, id_to_category: dict[int, str], min_pixels: int,
                 bleed_px: int) -> list:
    """One Box2D per instance of ``ids`` (H, W) with at least ``min_pixels`` pixels: the
    tight box of its mask, the mask (grown ``bleed_px`` into pixels of no instance) over
    the box."""
    from ssr_ros.perception.proposals import Box2D

    grown = np.asarray(ids).astype(np.int64)
    counts = np.bincount(grown.ravel())
    keep = [int(k) for k in np.flatnonzero(counts >= min_pixels) if k != 0]
    if bleed_px > 0:
        structure = np.ones((2 * bleed_px + 1,) * 2, bool)
        original = grown.copy()
        for k in keep:
            grown[ndimage.binary_dilation(original == k, structure) & (grown == 0)] = k
    boxes = []
    for k in keep:
        rows, cols = np.nonzero(grown == k)
        x0, y0, x1, y1 = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
        boxes.append(Box2D(float(x0), float(y0), float(x1 - x0), float(y1 - y0),
                           label=id_to_category[k], mask=grown[y0:y1, x0:x1] == k))
    return boxes


def run_seed(seed: int, args: argparse.Namespace) -> dict:
    from ssr_ros.eval.metrics import MATCH_RADIUS_M
    from ssr_ros.eval.run import RATE_HZ, score_map, sequence_frames
    from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
    from ssr_ros.sim import make_scene, render_sequence

    scene = make_scene(seed)
    frames = sequence_frames(scene, args.frames)
    width, height = (int(v) for v in args.size.split("x"))
    seq = render_sequence(scene, n_frames=frames, width=width, height=height,
                          rate_hz=RATE_HZ, noise=args.noise)
    pipes = {name: MappingPipeline(PipelineConfig(source=source)) for name, source in
             (("labels", "labels"), ("boxes", "boxes"), ("masks", "boxes"))}
    seconds = {name: 0.0 for name in pipes}
    for i in range(len(seq)):
        f = seq.frame(i)
        masked = masked_boxes(f.instance_ids, seq.id_to_category, seq.min_visible_pixels,
                              args.bleed)
        plain = [dataclasses.replace(b, mask=None) for b in masked]
        frames_in = {"labels": f,
                     "boxes": dataclasses.replace(f, labels=None, id_to_category=None,
                                                  boxes=plain),
                     "masks": dataclasses.replace(f, labels=None, id_to_category=None,
                                                  boxes=masked)}
        for name, pipe in pipes.items():
            t0 = time.perf_counter()
            pipe.process(frames_in[name])
            seconds[name] += time.perf_counter() - t0
    seen = set(seq.first_seen)
    gt = [o for o in scene.objects if o.id in seen]
    unseen = [o for o in scene.objects if o.id not in seen]
    out = {"seed": seed, "seconds": seconds, "frames": len(seq)}
    for name, pipe in pipes.items():
        out[name] = score_map(pipe.object_map.objects(), gt, MATCH_RADIUS_M, unseen)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", required=True, help="e.g. 500-505 or 1,2,3")
    ap.add_argument("--bleed", type=int, default=0,
                    help="grow each mask this many px into the background")
    ap.add_argument("--noise", action="store_true", help="sensor-noise model on")
    ap.add_argument("--frames", default="auto", help="'auto' (ssr-eval's lap) or N")
    ap.add_argument("--size", default="640x480", help="image size WxH [px]")
    args = ap.parse_args()
    results = []
    for seed in parse_seeds(args.seeds):
        r = run_seed(seed, args)
        results.append(r)
        for name in ("labels", "boxes", "masks"):
            print(f"seed {seed} {name:6s} {fmt(summary([r[name]]))} "
                  f"[{r['seconds'][name]:.1f} s, {r['frames']} frames]", flush=True)
    for name in ("labels", "boxes", "masks"):
        print(f"overall {name:6s} {fmt(summary([r[name] for r in results]))}")


if __name__ == "__main__":
    main()
