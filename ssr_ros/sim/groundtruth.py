"""The ground-truth record of a rendered sequence, as a JSON-ready dict.

Layout of ``ground_truth.json`` (schema ``GROUND_TRUTH_VERSION``):
- ``frames``: conventions (map REP-105 z up [m]; camera REP-103 optical; ``T_map_cam``
  row-major 4x4 camera -> map).
- ``scene``: seed, layout kind, zones with themes, partition walls, room polygon
  (counter-clockwise, [m]), floor area [m^2], ceiling height [m], and per object: id,
  category, centre [m], size [m] (x along yaw, y, z up), yaw [rad], support id.
- ``sequence``: frame count, image size [px], rate [Hz], trajectory kind, noise flag,
  seed, K (3x3), per-frame stamps [s] and poses, ``first_seen`` (object id as a string ->
  first frame index where it covers at least ``min_visible_pixels`` pixels),
  ``min_visible_pixels``.
- ``questions``: the generated questions with answers (see ``ssr_ros.sim.questions``).
- ``bag``: relative path, topics and the bag time of frame 0 [ns], when a bag was written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Optional

from ssr_ros.sim.scene import Scene
from ssr_ros.sim.sequence import SimSequence

GROUND_TRUTH_VERSION = 1


def ground_truth(scene: Scene, seq: SimSequence, questions: Iterable[dict] = (),
                 bag: Optional[dict] = None) -> dict:
    """The ground-truth dict (see the module docstring); ``questions`` are dicts."""
    return {
        "schema": "ssr_ros.sim.ground_truth",
        "version": GROUND_TRUTH_VERSION,
        "frames": {"map": "REP-105 map, z up, metres",
                   "camera": "REP-103 optical: x right, y down, z forward",
                   "poses": "T_map_cam, 4x4 row-major, camera -> map",
                   "pixels": "integer coordinates at pixel centres (OpenCV)"},
        "scene": scene.to_dict(),
        "sequence": {
            "n_frames": len(seq), "width": seq.width, "height": seq.height,
            "rate_hz": seq.rate_hz, "trajectory": seq.trajectory, "noise": seq.noise,
            "seed": seq.seed, "K": seq.K.tolist(),
            "stamps_s": list(seq.stamps_s),
            "poses": [p.tolist() for p in seq.poses],
            "first_seen": {str(k): v for k, v in sorted(seq.first_seen.items())},
            "min_visible_pixels": seq.min_visible_pixels,
        },
        "questions": list(questions),
        "bag": bag,
    }


def write_json(path: "str | Path", data: dict) -> None:
    """Write ``data`` as JSON atomically (temporary file, fsync, rename)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)
