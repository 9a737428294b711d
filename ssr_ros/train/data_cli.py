"""``ssr-data``: write a training set (both stages, train and held-out splits).

    ssr-data --out /data/ssr --train-seeds 0-63 --heldout-seeds 1000-1015 \\
             [--keyframes 4] [--size 224x168] [--stage1-frames 8] [--sequences 2] \\
             [--ground-per-sequence 3] [--vsi-per-sequence 3] [--noise]
    ssr-data --out /data/tum1 --tum /data/tum_folder [--tum-split train] [--box-label chair]

Seed lists are comma-separated integers or ranges (``0-63,100``). The format is documented
in :mod:`ssr_ros.train.data`. Bad arguments stop with a one-line message (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from ssr_ros.train.data import (SPLITS, SimDataConfig, TrainDataError, write_sim_dataset,
                                write_tum_dataset)


def parse_seeds(text: str) -> list[int]:
    """``"0-3,7"`` -> [0, 1, 2, 3, 7] (order kept, duplicates refused); "" -> []."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                low, high = (int(v) for v in part.split("-", 1))
                if high < low:
                    raise ValueError
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad seed or range {part!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seed list {text!r} repeats a seed")
    if any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError("seeds must be >= 0")
    return seeds


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    return width, height


EXAMPLES = """examples:
  ssr-data --out /data/ssr --train-seeds 0-63 --heldout-seeds 1000-1015 --noise
  ssr-data --out /data/tum1 --tum /data/tum_folder --tum-split heldout --box-label chair"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssr-data", description=__doc__.split("\n\n")[0]
                                .replace("``", ""), epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory, created (required)")
    p.add_argument("--train-seeds", type=parse_seeds, default=parse_seeds("0-31"),
                   help="rooms to train on (default 0-31)")
    p.add_argument("--heldout-seeds", type=parse_seeds, default=parse_seeds("1000-1007"),
                   help="held-out rooms, disjoint from the train seeds (default 1000-1007)")
    p.add_argument("--keyframes", type=int, default=4,
                   help="K keyframes per stage-2 sample, 1-64 (default 4)")
    p.add_argument("--size", type=_size, default=(224, 168),
                   help="image WIDTHxHEIGHT, multiples of 28 px (default 224x168)")
    p.add_argument("--stage1-frames", type=int, default=8,
                   help="stage-1 keyframes per room, 1-64 (default 8)")
    p.add_argument("--sequences", type=int, default=2,
                   help="stage-2 sequences per room, 1-64 (default 2)")
    p.add_argument("--ground-per-sequence", type=int, default=3,
                   help="at most this many 3D-grounding samples per sequence, 0-64 "
                   "(default 3)")
    p.add_argument("--vsi-per-sequence", type=int, default=3,
                   help="at most this many VSI question samples per sequence, 0-64 "
                   "(default 3)")
    p.add_argument("--noise", action="store_true",
                   help="flag: the simulator's sensor noise on (default off)")
    p.add_argument("--tum", default="", help="a TUM key-frame folder with boxes_2d/ "
                   "(stage 1 only) instead of the simulator (default: the simulator)")
    p.add_argument("--tum-split", choices=SPLITS, default="train",
                   help="which split the TUM frames go to (default train)")
    p.add_argument("--box-label", default="object",
                   help="label of unlabelled TUM boxes (default object)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    try:
        if args.tum:
            manifest = write_tum_dataset(args.tum, args.out, args.tum_split, *args.size,
                                         box_label=args.box_label)
        else:
            config = SimDataConfig(keyframes=args.keyframes, width=args.size[0],
                                   height=args.size[1], stage1_frames=args.stage1_frames,
                                   sequences=args.sequences,
                                   ground_per_sequence=args.ground_per_sequence,
                                   vsi_per_sequence=args.vsi_per_sequence, noise=args.noise)
            manifest = write_sim_dataset(args.out, args.train_seeds, args.heldout_seeds,
                                         config, log=lambda line: print(line, flush=True))
    except TrainDataError as exc:
        print(f"ssr-data: error: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
    print(f"wrote {args.out} in {time.perf_counter() - t0:.1f} s: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
