"""``ssr-eval``: run simulated sequences through the mapping pipeline (no ROS) and score
the object map against the ground truth.

Usage::

    ssr-eval --seeds 1,2,3 [--source labels|detector] [--noise] [--frames auto|N]
             [--json FILE]

``--frames auto`` (the default) renders at least one full lap of each scene's camera loop
at the trajectory's speed limits (``ssr_ros.sim.lap_frames``), like a VSI-Bench video that
walks through the whole room, and at least ``MIN_AUTO_FRAMES`` (300 frames, 20 s at 15 Hz;
a short loop is walked on rather than cut), but at most ``MAX_AUTO_FRAMES`` (900 frames,
60 s) to bound the run time; an integer renders that many frames (fewer than a lap cover only the
start of the loop). The frame count used is reported per seed (``frames``, next to the
lap's ``lap_frames``).

Per seed and overall it reports object recall and precision (a map object matches a
ground-truth object of the same category whose centre is within ``--match-distance`` m,
one-to-one by minimum total distance; the default radius, ``MATCH_RADIUS_M``, is wide so
that an object mapped far off shows as a large error, not as a miss), centre error [m]
(median, p90, the share of matches above ``FAR_ERROR_M`` and the largest) and relative size
error (median over matched objects of the mean of ``|est - gt| / gt`` over the two
horizontal sides, sorted so the heading convention does not matter, and the height),
count error per category, and time per pipeline stage [ms]. Ground truth is the set of
objects the sequence shows (``SimSequence.first_seen``). Unless ``--no-qa`` is given,
VSI-style question scores (generated questions answered by the query engine) are added
under ``qa``; ``--plot DIR`` writes a bird's-eye PNG of each map beside its ground truth
(missed and false objects marked; :func:`ssr_ros.eval.bev.render_comparison`).

Invalid arguments (a negative seed, an image side the simulator cannot render, a
non-positive match distance) end with exit status 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from ssr_ros.core.types import ObjectState
from ssr_ros.eval.adapter import benchmark_engine
from ssr_ros.eval.bev import save_comparison
from ssr_ros.eval.metrics import FAR_ERROR_M, MATCH_RADIUS_M, centre_error_tail
from ssr_ros.eval.qa import evaluate as evaluate_questions
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
from ssr_ros.perception.priors import normalize_label
from ssr_ros.sim import (SceneGenerationError, SequenceError, lap_frames, make_scene,
                         render_sequence)
from ssr_ros.sim.questions import generate_questions

STAGES = ("select", "proposals", "room", "lifting", "fusion", "cogmap", "total")
# Frame cap of ``--frames auto``: 60 s at 15 Hz, so a big room's lap cannot make one seed's
# run unbounded (a 50 m2 room's lap is about 475 walking frames).
MAX_AUTO_FRAMES = 900
# Floor of ``--frames auto``: a room whose free floor leaves only a short loop is still
# watched for 20 s at 15 Hz, as with the fixed 300 frames used before laps were measured.
MIN_AUTO_FRAMES = 300
RATE_HZ = 15.0


def parse_frames(text: str) -> int | str:
    """``--frames`` value: ``"auto"`` or a positive integer frame count.

    Raises ValueError with a one-line message for anything else."""
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    try:
        frames = int(value)
    except ValueError:
        raise ValueError(f"--frames must be 'auto' or a positive integer, got {text!r}") \
            from None
    if frames < 1:
        raise ValueError(f"--frames must be 'auto' or at least one frame, got {text!r}")
    return frames


def relative_size_error(est_size_m: np.ndarray, gt_size_m: np.ndarray) -> float:
    """Mean relative error of (long side, short side, height), horizontal sides sorted."""
    est = np.concatenate([np.sort(est_size_m[:2])[::-1], est_size_m[2:3]])
    gt = np.concatenate([np.sort(gt_size_m[:2])[::-1], gt_size_m[2:3]])
    return float(np.mean(np.abs(est - gt) / np.maximum(gt, 1e-6)))


def match_objects(predicted: Sequence[ObjectState], gt: Sequence[Any],
                  max_distance_m: float) -> list[tuple[int, int, float]]:
    """One-to-one matches (pred index, gt index, centre distance [m]) between objects of
    the same (normalised) category within ``max_distance_m``, minimising total distance."""
    if not predicted or not gt:
        return []
    big = 1e6
    cost = np.full((len(predicted), len(gt)), big)
    for i, p in enumerate(predicted):
        for j, g in enumerate(gt):
            if normalize_label(p.label) != normalize_label(g.category):
                continue
            d = float(np.linalg.norm(p.center_m - g.center_m))
            if d <= max_distance_m:
                cost[i, j] = d
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c), float(cost[r, c])) for r, c in zip(rows, cols) if cost[r, c] < big]


def score_map(predicted: Sequence[ObjectState], gt: Sequence[Any],
              max_distance_m: float = MATCH_RADIUS_M, unseen: Sequence[Any] = ()
              ) -> dict[str, Any]:
    """Recall, precision, centre and size errors and per-category counts of one map.

    ``gt`` are the objects the sequence shows; a prediction that matches none of them
    but matches one of ``unseen`` (objects in the scene whose views stayed under the
    simulator's visibility threshold) is neither a hit nor a false positive."""
    matches = match_objects(predicted, gt, max_distance_m)
    matched_pred = {i for i, _, _ in matches}
    rest = [i for i in range(len(predicted)) if i not in matched_pred]
    extra = match_objects([predicted[i] for i in rest], list(unseen), max_distance_m)
    excused = {rest[i] for i, _, _ in extra}
    predicted = [p for i, p in enumerate(predicted) if i not in excused]
    matches = match_objects(predicted, gt, max_distance_m)
    centre_err = [d for _, _, d in matches]
    size_err = [relative_size_error(predicted[i].size_m, gt[j].size_m) for i, j, _ in matches]
    longest_err = [abs(predicted[i].size_m.max() - gt[j].size_m.max()) / gt[j].size_m.max()
                   for i, j, _ in matches]
    counts: dict[str, list[int]] = {}
    for g in gt:
        counts.setdefault(normalize_label(g.category), [0, 0])[0] += 1
    for p in predicted:
        counts.setdefault(normalize_label(p.label), [0, 0])[1] += 1
    unmatched_gt = [gt[j].category for j in set(range(len(gt))) - {j for _, j, _ in matches}]
    unmatched_pred = [predicted[i].label
                      for i in set(range(len(predicted))) - {i for i, _, _ in matches}]
    return {
        "n_gt": len(gt), "n_pred": len(predicted), "n_matched": len(matches),
        "n_unseen_matched": len(excused),
        "centre_errors_m": centre_err, "size_errors": size_err,
        "longest_side_errors": longest_err,
        "count_error": {k: v[1] - v[0] for k, v in sorted(counts.items())},
        "missed": sorted(unmatched_gt), "false_positives": sorted(unmatched_pred),
    }


def _summary(n_gt: int, n_pred: int, n_matched: int, centre: list[float],
             size: list[float], longest: list[float]) -> dict[str, float]:
    def pct(values, q):
        return float(np.percentile(values, q)) if values else float("nan")
    return {
        "recall": n_matched / n_gt if n_gt else float("nan"),
        "precision": n_matched / n_pred if n_pred else float("nan"),
        "center_error_median_m": pct(centre, 50),
        "center_error_p90_m": pct(centre, 90),
        "center_error_far_share": centre_error_tail(centre)["share_above"],
        "center_error_max_m": centre_error_tail(centre)["max_m"],
        "size_error_median": pct(size, 50),
        "longest_side_error_median": pct(longest, 50),
        "n_gt": n_gt, "n_pred": n_pred, "n_matched": n_matched,
    }


def _qa_scores(scene, seq, pipe: MappingPipeline, seed: int) -> dict[str, float]:
    """VSI-style question scores (task -> score in [0, 1], plus ``overall``) of the map."""
    questions = generate_questions(scene, seq, seed)
    engine = benchmark_engine(pipe.object_map.objects(), cogmap=pipe.cogmap,
                              robot_pose=seq.robot_pose(len(seq) - 1), room=pipe.room.room())
    return evaluate_questions(questions, engine)


def sequence_frames(scene, n_frames: int | str, trajectory: str = "walk",
                    lap: int | None = None) -> int:
    """The frame count of ``scene``'s sequence: ``n_frames``, or for ``"auto"`` one full
    lap (``lap``, else ``lap_frames`` at ``RATE_HZ``) clamped to [MIN_AUTO_FRAMES,
    MAX_AUTO_FRAMES]."""
    if n_frames == "auto":
        if lap is None:
            lap = lap_frames(scene, rate_hz=RATE_HZ, trajectory=trajectory)
        return min(max(lap, MIN_AUTO_FRAMES), MAX_AUTO_FRAMES)
    return int(n_frames)


def evaluate_seed(seed: int, source: str = "labels", noise: bool = False,
                  n_frames: int | str = 300, width: int = 640, height: int = 480,
                  trajectory: str = "walk", max_distance_m: float = MATCH_RADIUS_M,
                  with_qa: bool = True, plot_dir: str | None = None) -> dict[str, Any]:
    """Map one simulated sequence and score it (see the module docstring); with
    ``plot_dir`` a bird's-eye PNG of the map is written there (``seed_<seed>.png``).

    ``n_frames="auto"`` renders one full lap (``lap_frames``), at least ``MIN_AUTO_FRAMES``
    and at most ``MAX_AUTO_FRAMES``.
    Raises the simulator's ``SceneGenerationError`` / ``SequenceError`` for a seed, frame
    count or image size it cannot render."""
    scene = make_scene(seed)
    lap = lap_frames(scene, rate_hz=RATE_HZ, trajectory=trajectory)
    frames = sequence_frames(scene, n_frames, trajectory, lap=lap)
    seq = render_sequence(scene, n_frames=frames, width=width, height=height,
                          rate_hz=RATE_HZ, trajectory=trajectory, noise=noise)
    pipe = MappingPipeline(PipelineConfig(source=source))
    timings: dict[str, list[float]] = {k: [] for k in STAGES}
    t_render = 0.0
    t0 = time.perf_counter()
    for i in range(len(seq)):
        tr = time.perf_counter()
        f = seq.frame(i)
        t_render += time.perf_counter() - tr
        # The detector source must not see the simulator's instance labels.
        res = pipe.process(f if source == "labels" else
                           dataclasses.replace(f, labels=None, id_to_category=None))
        if res is not None:
            for k in STAGES:
                timings[k].append(res.timings_ms.get(k, 0.0))
    wall = time.perf_counter() - t0
    seen = set(seq.first_seen)
    gt = [o for o in scene.objects if o.id in seen]
    predicted = pipe.object_map.objects()
    unseen = [o for o in scene.objects if o.id not in seen]
    scored = score_map(predicted, gt, max_distance_m, unseen)
    out: dict[str, Any] = {
        "seed": seed,
        "objects": _summary(scored["n_gt"], scored["n_pred"], scored["n_matched"],
                            scored["centre_errors_m"], scored["size_errors"],
                            scored["longest_side_errors"]),
        "count_error": scored["count_error"],
        "missed": scored["missed"], "false_positives": scored["false_positives"],
        "keyframes": pipe.keyframe_count, "frames": len(seq), "lap_frames": lap,
        "cogmap_errors": pipe.cogmap_errors, "last_cogmap_error": pipe.last_cogmap_error,
        "time_ms": {k: {"median": float(np.median(v)) if v else 0.0,
                        "p95": float(np.percentile(v, 95)) if v else 0.0}
                    for k, v in timings.items()},
        "render_s": t_render, "wall_s": wall,
        "room_area_m2": {"estimated": pipe.room.room().floor_area_m2,
                         "truth": float(scene.room.floor_area_m2)},
        "_raw": scored,
    }
    if with_qa:
        out["qa"] = _qa_scores(scene, seq, pipe, seed)
    if plot_dir is not None:
        out["plot"] = _plot(plot_dir, seed, pipe, gt, unseen, max_distance_m)
    return out


def _plot(plot_dir: str, seed: int, pipe: MappingPipeline, gt: Sequence[Any],
          unseen: Sequence[Any], max_distance_m: float) -> str:
    """Write the map beside the ground truth to ``<plot_dir>/seed_<seed>.png``, with the
    objects :func:`score_map` counts as missed and false marked (a map object that matches
    only an object seen too little to count is neither)."""
    predicted = pipe.object_map.objects()
    matched = {i for i, _, _ in match_objects(predicted, gt, max_distance_m)}
    rest = [p for i, p in enumerate(predicted) if i not in matched]
    excused = {rest[i].id for i, _, _ in match_objects(rest, list(unseen), max_distance_m)}
    kept = [p for p in predicted if p.id not in excused]
    matches = match_objects(kept, gt, max_distance_m)
    false_ids = {p.id for i, p in enumerate(kept) if i not in {m[0] for m in matches}}
    missed_ids = {g.id for j, g in enumerate(gt) if j not in {m[1] for m in matches}}
    path = pipe.camera_path()
    return str(save_comparison(
        f"{plot_dir}/seed_{seed}.png", predicted, gt, false_ids=false_ids,
        missed_ids=missed_ids, cogmap=pipe.cogmap,
        path_m=path[:, 1:] if len(path) else None,
        title=f"seed {seed}: match within {max_distance_m:g} m"))


def aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall numbers: pooled over all objects of all seeds."""
    raws = [r["_raw"] for r in per_seed]
    overall = {"objects": _summary(
        sum(r["n_gt"] for r in raws), sum(r["n_pred"] for r in raws),
        sum(r["n_matched"] for r in raws),
        [e for r in raws for e in r["centre_errors_m"]],
        [e for r in raws for e in r["size_errors"]],
        [e for r in raws for e in r["longest_side_errors"]])}
    counts: dict[str, int] = {}
    for r in raws:
        for k, v in r["count_error"].items():
            counts[k] = counts.get(k, 0) + abs(v)
    overall["count_abs_error"] = dict(sorted(counts.items()))
    overall["time_ms"] = {k: {"median": float(np.median([r["time_ms"][k]["median"]
                                                         for r in per_seed]))}
                          for k in STAGES}
    qas = [r["qa"] for r in per_seed if "qa" in r]
    if qas:
        keys = sorted({k for q in qas for k in q})
        overall["qa"] = {k: float(np.mean([q[k] for q in qas if k in q])) for k in keys}
    return overall


def _flatten(prefix: str, d: dict[str, Any], out: dict[str, Any]) -> None:
    for k, v in d.items():
        if isinstance(v, dict):
            _flatten(f"{prefix}{k}.", v, out)
        else:
            out[f"{prefix}{k}"] = v


EXAMPLES = """examples:
  ssr-eval --seeds 1,2,3 --json /tmp/eval.json
  ssr-eval --seeds 5 --frames 300 --no-qa --plot /tmp/eval_plots"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ssr-eval", description="Run simulated sequences through the mapping pipeline "
        "(no ROS) and score the object map against the ground truth.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", required=True,
                   help="comma-separated scene seeds, e.g. 1,2,3 (required)")
    p.add_argument("--source", choices=("labels", "detector"), default="labels",
                   help="object proposals: sim instance labels or the COCO detector "
                   "(default labels)")
    p.add_argument("--noise", action="store_true",
                   help="flag: turn the sensor-noise model on (default off)")
    p.add_argument("--frames", default="auto",
                   help="frames per sequence: 'auto' = one full lap of the scene's loop, "
                   f"at least {MIN_AUTO_FRAMES} and at most {MAX_AUTO_FRAMES}, or a "
                   "positive integer (default auto)")
    p.add_argument("--width", type=int, default=640, help="image width [px] (default 640)")
    p.add_argument("--height", type=int, default=480, help="image height [px] (default 480)")
    p.add_argument("--trajectory", choices=("walk", "robot"), default="walk",
                   help="camera path: a walking person or a planar robot (default walk)")
    p.add_argument("--match-distance", type=float, default=MATCH_RADIUS_M,
                   help=f"max centre distance of a match [m] (default {MATCH_RADIUS_M:g})")
    p.add_argument("--no-qa", action="store_true",
                   help="flag: skip the question evaluation (default off)")
    p.add_argument("--json", metavar="FILE",
                   help="write the full results to this file (default: summary only)")
    p.add_argument("--plot", metavar="DIR",
                   help="write a bird's-eye PNG per seed to DIR: the map beside the ground "
                   "truth, missed and false objects marked (default: no pictures)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        print(f"ssr-eval: --seeds must be integers, got {args.seeds!r}", file=sys.stderr)
        return 2
    if not seeds:
        print("ssr-eval: need at least one seed", file=sys.stderr)
        return 2
    try:
        args.frames = parse_frames(args.frames)
    except ValueError as exc:
        print(f"ssr-eval: {exc}", file=sys.stderr)
        return 2
    if any(s < 0 for s in seeds):
        print(f"ssr-eval: --seeds must be integers >= 0, got {args.seeds!r}", file=sys.stderr)
        return 2
    if not (math.isfinite(args.match_distance) and args.match_distance > 0):
        print(f"ssr-eval: --match-distance must be a finite distance > 0 m, got "
              f"{args.match_distance}", file=sys.stderr)
        return 2
    per_seed = []
    for seed in seeds:
        try:
            r = evaluate_seed(seed, args.source, args.noise, args.frames, args.width,
                              args.height, args.trajectory, args.match_distance,
                              with_qa=not args.no_qa, plot_dir=args.plot)
        except (SceneGenerationError, SequenceError) as exc:
            # Raised before any rendering (bad seed, size or frame count): a usage error.
            print(f"ssr-eval: {exc}", file=sys.stderr)
            return 2
        per_seed.append(r)
        o = r["objects"]
        print(f"seed {seed:>4}: recall {o['recall']:.3f} precision {o['precision']:.3f} "
              f"centre med {o['center_error_median_m']:.3f} m p90 "
              f"{o['center_error_p90_m']:.3f} m >{FAR_ERROR_M} m "
              f"{o['center_error_far_share']:.3f} max {o['center_error_max_m']:.2f} m "
              f"size med {o['size_error_median']:.3f} "
              f"({o['n_matched']}/{o['n_gt']} gt, {o['n_pred']} pred, "
              f"{r['keyframes']} kf, kf total med {r['time_ms']['total']['median']:.1f} ms)"
              + (f" missed {r['missed']}" if r["missed"] else "")
              + (f" fp {r['false_positives']}" if r["false_positives"] else "")
              + (f" qa {r['qa'].get('overall', float('nan')):.3f}" if "qa" in r else ""),
              flush=True)
    overall = aggregate(per_seed)
    o = overall["objects"]
    print(f"overall: recall {o['recall']:.3f} precision {o['precision']:.3f} centre med "
          f"{o['center_error_median_m']:.3f} m p90 {o['center_error_p90_m']:.3f} m >"
          f"{FAR_ERROR_M} m {o['center_error_far_share']:.3f} max "
          f"{o['center_error_max_m']:.2f} m size med "
          f"{o['size_error_median']:.3f}; stage medians [ms] "
          + ", ".join(f"{k} {v['median']:.1f}" for k, v in overall["time_ms"].items()))
    if "qa" in overall:
        print("qa: " + ", ".join(f"{k} {v:.3f}" for k, v in overall["qa"].items()))
    if args.json:
        result: dict[str, Any] = {}
        _flatten("", overall, result)
        result["seeds"] = {str(r["seed"]): {k: v for k, v in r.items() if k != "_raw"}
                           for r in per_seed}
        result["config"] = {"source": args.source, "noise": args.noise,
                            "frames": args.frames, "width": args.width,
                            "height": args.height, "trajectory": args.trajectory,
                            "match_distance_m": args.match_distance}
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
