"""``ssr-sim``: render a seeded scene to a rosbag2 + ground truth (+ a preview PNG).

    ssr-sim --seed 3 --out /tmp/sim3 [--frames 300] [--size 640x480] [--rate 15]
            [--noise] [--robot] [--preview] [--categories "sofa,chair,..."] [--no-bag]
            [--questions-per-task 4]

Writes ``OUT/bag/`` (rosbag2, MCAP; topics in :mod:`ssr_ros.sim.bag`),
``OUT/ground_truth.json`` (scene, sequence, questions with answers; see
:mod:`ssr_ros.sim.groundtruth`) and with ``--preview`` ``OUT/preview.png``.
Bad arguments stop with a one-line message (exit status 2) before anything is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from ssr_ros.sim.catalog import UnknownCategoryError, validate_categories
from ssr_ros.sim.questions import generate_questions
from ssr_ros.sim.scene import SceneGenerationError, make_scene
from ssr_ros.sim.sequence import MAX_IMAGE_SIDE, render_sequence

MAX_FRAMES = 100_000


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _frames(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= value <= MAX_FRAMES:
        raise argparse.ArgumentTypeError(f"must be in [1, {MAX_FRAMES}], got {value}")
    return value


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT like 640x480, got {text!r}")
    try:
        width, height = int(parts[0]), int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT like 640x480, got {text!r}") from None
    if not (8 <= width <= MAX_IMAGE_SIDE and 8 <= height <= MAX_IMAGE_SIDE):
        raise argparse.ArgumentTypeError(
            f"width and height must be in [8, {MAX_IMAGE_SIDE}] px, got {width}x{height}")
    return width, height


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value <= 1000.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1000] Hz, got {text}")
    return value


def _categories(text: str) -> tuple[str, ...]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    try:
        return validate_categories(names)
    except UnknownCategoryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


EXAMPLES = """examples:
  ssr-sim --seed 3 --out /tmp/sim3 --preview
  ssr-sim --seed 7 --out /tmp/sim7 --frames 600 --size 320x240 --noise --robot"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssr-sim", description="Render a procedural room (seeded) to a rosbag2 with "
        "RGB, depth, labels, camera info, poses and TF, plus ground_truth.json.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=_nonneg_int, required=True,
                        help="scene seed, an integer >= 0 (required)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output directory, created if missing (required)")
    parser.add_argument("--frames", type=_frames, default=300,
                        help="number of frames to render (default 300)")
    parser.add_argument("--size", type=_size, default=(640, 480), metavar="WxH",
                        help="image size [px] (default 640x480)")
    parser.add_argument("--rate", type=_rate, default=15.0,
                        help="camera frame rate [Hz] (default 15)")
    parser.add_argument("--noise", action="store_true",
                        help="flag: add the depth/RGB sensor-noise model (default off)")
    parser.add_argument("--robot", action="store_true",
                        help="flag: planar robot trajectory instead of a walking person "
                        "(default off)")
    parser.add_argument("--preview", action="store_true",
                        help="flag: also write OUT/preview.png (default off)")
    parser.add_argument("--categories", type=_categories, default=None,
                        metavar="A,B,...", help="restrict the scene to these categories, "
                        "comma-separated (default: all categories)")
    parser.add_argument("--no-bag", action="store_true",
                        help="flag: skip the rosbag2, write ground truth and preview only "
                        "(default off)")
    parser.add_argument("--questions-per-task", type=_frames, default=4,
                        help="at most this many questions per task (default 4); "
                        "rel_direction gets this many per variant (easy, medium, hard) and "
                        "robot per subtype (locate, turn); room_size is always one")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out: Path = args.out
    bag_dir = out / "bag"
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} exists and is not a directory")
    if not args.no_bag and bag_dir.exists():
        parser.error(f"{bag_dir} already exists; choose a new --out or remove it")
    try:
        scene = make_scene(args.seed, args.categories)
    except SceneGenerationError as exc:
        parser.error(str(exc))
    width, height = args.size
    seq = render_sequence(scene, n_frames=args.frames, width=width, height=height,
                          rate_hz=args.rate, trajectory="robot" if args.robot else "walk",
                          noise=args.noise, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bag_info = None
    if not args.no_bag:
        from ssr_ros.sim.bag import TOPICS, write_bag

        step = max(1, len(seq) // 10)

        def progress(frame) -> None:
            if (frame.index + 1) % step == 0 or frame.index + 1 == len(seq):
                print(f"  frame {frame.index + 1}/{len(seq)}", file=sys.stderr, flush=True)

        summary = write_bag(seq, bag_dir, on_frame=progress)
        bag_info = {"path": "bag", "storage": "mcap", "start_ns": summary.start_ns,
                    "topics": {topic: {"type": msgtype, "count": summary.message_counts[topic]}
                               for topic, msgtype in TOPICS.values()}}
    from ssr_ros.sim.groundtruth import ground_truth, write_json

    questions = generate_questions(scene, seq, seed=args.seed,
                                   max_per_task=args.questions_per_task)
    write_json(out / "ground_truth.json",
               ground_truth(scene, seq, [q.to_dict() for q in questions], bag_info))
    if args.preview:
        from ssr_ros.sim.preview import write_contact_sheet

        write_contact_sheet(out / "preview.png", seq)
    elapsed = time.monotonic() - started
    # Without a bag only the visibility pass and the preview's few frames are rendered,
    # so the line must not read as if the whole sequence was.
    frames_note = (f"{len(seq)} frames {width}x{height} rendered to bag/" if bag_info
                   else f"{len(seq)}-frame sequence {width}x{height}, no bag")
    print(f"seed {scene.seed}: {scene.layout.kind}, {scene.room.floor_area_m2:.1f} m^2, "
          f"{len(scene.objects)} objects, {len(seq.first_seen)} seen; {frames_note}; "
          f"{len(questions)} questions in {elapsed:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
