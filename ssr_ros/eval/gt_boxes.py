"""Detector-like 2D boxes from a ground-truth instance image, for evaluating box lifting.

A detector reports the visible extent of each object it recognises, a little off, and
now and then a box around nothing in particular. :func:`boxes_from_instances` imitates
that from the simulator's instance-id image: one box per instance with at least
``min_pixels`` visible pixels (the tight box of its pixels), each edge moved by Gaussian
noise of ``jitter_fraction`` times the box side, a score in ``score_range``, and on
average ``false_positives_per_frame`` extra boxes (Poisson) of random place and size,
labelled with a category drawn from ``fp_categories``. The random draws come from the
caller's generator, so a seeded generator per frame makes a run reproducible.

The boxes feed ``MappingPipeline.process(..., boxes=...)`` with no label image, so the
mapping sees exactly what it would see from a detector node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ssr_ros.perception.proposals import Box2D


@dataclass(frozen=True)
class BoxNoise:
    """How detector-like the boxes are. ``jitter_fraction``: standard deviation of each
    edge's shift as a fraction of the box's width (x edges) or height (y edges);
    ``false_positives_per_frame``: mean of the Poisson count of boxes around nothing;
    ``min_pixels``: visible pixels an instance needs to be detected (at the image's own
    resolution); ``score_range``: uniform score range of every box."""

    jitter_fraction: float = 0.03
    false_positives_per_frame: float = 0.1
    min_pixels: int = 200
    score_range: tuple[float, float] = (0.5, 1.0)

    def __post_init__(self) -> None:
        if not (0.0 <= self.jitter_fraction < 0.5):
            raise ValueError(f"jitter_fraction must be in [0, 0.5), got {self.jitter_fraction}")
        if not self.false_positives_per_frame >= 0.0:
            raise ValueError("false_positives_per_frame must be >= 0")
        if self.min_pixels < 1:
            raise ValueError("min_pixels must be >= 1")
        lo, hi = self.score_range
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"score_range must lie in [0, 1], got {self.score_range}")


def _jittered(x0: float, y0: float, x1: float, y1: float, noise: BoxNoise,
              rng: np.random.Generator, width: int, height: int
              ) -> tuple[float, float, float, float] | None:
    """Edges moved by the jitter, clipped to the image; None when nothing is left."""
    bw, bh = x1 - x0, y1 - y0
    dx = rng.normal(0.0, noise.jitter_fraction * bw, 2)
    dy = rng.normal(0.0, noise.jitter_fraction * bh, 2)
    x0, x1 = np.clip([x0 + dx[0], x1 + dx[1]], 0.0, float(width))
    y0, y1 = np.clip([y0 + dy[0], y1 + dy[1]], 0.0, float(height))
    if x1 - x0 < 2.0 or y1 - y0 < 2.0:
        return None
    return float(x0), float(y0), float(x1), float(y1)


def boxes_from_instances(instance_ids: np.ndarray, id_to_category: Mapping[int, str],
                         rng: np.random.Generator, noise: BoxNoise = BoxNoise(),
                         fp_categories: Sequence[str] | None = None) -> list[Box2D]:
    """Boxes [px] of the instances of ``instance_ids`` (H, W) unsigned ints (0 = no
    object), as described in the module docstring. ``fp_categories`` defaults to the
    categories of ``id_to_category``; an instance id without a category raises KeyError."""
    ids = np.asarray(instance_ids)
    if ids.ndim != 2:
        raise ValueError(f"instance_ids must be (H, W), got {ids.shape}")
    height, width = ids.shape
    rows, cols = np.nonzero(ids)
    inst_of = ids[rows, cols].astype(np.intp)
    counts = np.bincount(inst_of, minlength=1)
    # Tight box of every instance in one pass (a detector's box is the visible extent).
    lo_r = np.full(len(counts), height)
    lo_c = np.full(len(counts), width)
    hi_r = np.full(len(counts), -1)
    hi_c = np.full(len(counts), -1)
    np.minimum.at(lo_r, inst_of, rows)
    np.minimum.at(lo_c, inst_of, cols)
    np.maximum.at(hi_r, inst_of, rows)
    np.maximum.at(hi_c, inst_of, cols)
    boxes: list[Box2D] = []
    for inst in np.flatnonzero(counts):
        if counts[inst] < noise.min_pixels:
            continue
        category = id_to_category[int(inst)]
        edges = _jittered(float(lo_c[inst]), float(lo_r[inst]), float(hi_c[inst] + 1),
                          float(hi_r[inst] + 1), noise, rng, width, height)
        if edges is None:
            continue
        x0, y0, x1, y1 = edges
        boxes.append(Box2D(x0, y0, x1 - x0, y1 - y0, label=category,
                           score=float(rng.uniform(*noise.score_range))))
    names = sorted(set(fp_categories if fp_categories is not None
                       else id_to_category.values()))
    for _ in range(int(rng.poisson(noise.false_positives_per_frame)) if names else 0):
        bw = rng.uniform(0.08, 0.4) * width
        bh = rng.uniform(0.08, 0.4) * height
        x0 = rng.uniform(0.0, width - bw)
        y0 = rng.uniform(0.0, height - bh)
        boxes.append(Box2D(float(x0), float(y0), float(bw), float(bh),
                           label=str(rng.choice(names)),
                           score=float(rng.uniform(*noise.score_range))))
    return boxes
