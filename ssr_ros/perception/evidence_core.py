"""The part of an object's accumulated evidence that one plausible object of its category
can hold.

A box proposal's depth cluster now and then takes a little of what touches the object
at the same depth: the chair pushed in front of a desk, the stand below a TV, the wall
band behind a shelf. Over many views these scraps add up, and a box fitted to all the
evidence grows deeper or longer than any object of the category is, its centre pulled
towards the neighbour (a desk mapped 1.2 m deep and 0.3 m off). The object itself is
what most views saw, so it holds most of the evidence weight.

:func:`plausible_core` keeps, along each horizontal axis of the evidence's box that is
implausibly long for the category, the band of the category's typical extent that holds
the most weight, grown over neighbouring evidence about as dense as the object's own up
to the extent one object of the category can have, when that band holds nearly all the
weight (else nothing is cut: the neighbour weighs as much as the object, and the
densest band is as often the one as the other). Axes within their plausible extent are
left whole, so a long cabinet, a TV on its stand or an unknown category keep all their
evidence.
"""

from __future__ import annotations

import math

import numpy as np

PLAUSIBLE_STRETCH = (2.0, 1.5)
"""An object's box is implausible along its length (width) when longer than these
factors times its category's typical length (width), ``priors.SIZE_PRIORS_M``, plus
``SLACK_M``. Furniture of one category varies by about a quarter around its typical
width, and more in length (a run of cabinets); beyond these, the evidence holds
something else too."""

WINDOW_STRETCH = (1.6, 1.25)
"""The band kept along an implausible length (width) spans at most these factors times
the typical extent, plus ``SLACK_M`` (the length factor is
``priors.max_plausible_length``'s)."""

GROW_DENSITY = 0.3
"""The band of the typical extent grows into neighbouring cells holding at least this
share of its mean weight per cell (:func:`_best_band`)."""

SLACK_M = 0.15
"""[m] added to both, so thin categories (a picture, a TV on its stand) are not judged
by centimetres of depth noise."""

MIN_CORE_SHARE = 0.9
"""The kept band must hold at least this share of the evidence weight; otherwise all of
it is kept. Scraps that a few views added weigh little; where much of the weight lies
outside the band (a wardrobe's front face with a bed before it, two desks of an L),
the densest band is as often the neighbour as the object."""


def _best_band(coord: np.ndarray, weights: np.ndarray, typical_m: float, widest_m: float,
               cell_m: float) -> tuple[float, float, float]:
    """The interval ``[lo, hi]`` [m] along ``coord`` (N,) of one object: the band
    ``typical_m`` long that holds the most weight, grown cell by cell (``cell_m``) on
    either side while the next cell holds at least ``GROW_DENSITY`` of the band's mean
    weight per cell, to ``widest_m`` at most; and the share of the weight it holds. So a
    larger than typical object keeps its whole extent, and sparse scraps beyond it
    (seen by few views) stay out."""
    lo = float(coord.min())
    bins = np.floor((coord - lo) / cell_m).astype(np.int64)
    hist = np.bincount(bins, weights=weights)
    span = max(1, int(round(typical_m / cell_m)))
    if span >= len(hist):
        return lo, lo + len(hist) * cell_m, 1.0
    run = np.convolve(hist, np.ones(span), mode="valid")
    a = int(np.argmax(run))
    b = a + span
    floor = GROW_DENSITY * float(run[a]) / span
    widest = max(span, int(round(widest_m / cell_m)))
    while b - a < widest:
        left = hist[a - 1] if a > 0 else -1.0
        right = hist[b] if b < len(hist) else -1.0
        if max(left, right) < floor:
            break
        if left >= right:
            a -= 1
        else:
            b += 1
    return lo + a * cell_m, lo + b * cell_m, float(hist[a:b].sum() / max(hist.sum(), 1e-12))


def plausible_core(points_m: np.ndarray, weights: np.ndarray, prior_m: np.ndarray | None,
                   size_m: np.ndarray, yaw_rad: float) -> np.ndarray | None:
    """Boolean mask ``(N,)`` of the evidence points ``points_m`` (N, 3) [m, map frame, z up]
    with positive ``weights`` (N,) that one object of the category holds (module
    docstring), or None when that is all of them. ``size_m`` (3,) [m] and ``yaw_rad`` are
    the box fitted to all the points (``geometry.fit_box_to_points``: length along yaw,
    width across, height); ``prior_m`` the category's typical (length, width, height)
    [m], None when unknown."""
    if prior_m is None or len(points_m) < 16:
        return None
    prior = np.asarray(prior_m, dtype=np.float64)
    implausible = [axis for axis in (1, 0)
                   if size_m[axis] > PLAUSIBLE_STRETCH[axis] * prior[axis] + SLACK_M]
    if not implausible:
        return None
    pts = np.asarray(points_m, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    along = (pts[:, 0] * c + pts[:, 1] * s, -pts[:, 0] * s + pts[:, 1] * c)
    keep = np.ones(len(pts), dtype=bool)
    # The box's length is along yaw and a category's typical length is its longer side,
    # so box axis k is judged by typical extent k. Width first: a scrap in front of an
    # object (a chair before a desk) also lengthens the box when it sticks out sideways.
    for axis in implausible:
        cell = max(0.02, 0.05 * float(prior[axis]))
        lo, hi, share = _best_band(along[axis][keep], w[keep], float(prior[axis]),
                                   WINDOW_STRETCH[axis] * float(prior[axis]) + SLACK_M, cell)
        if share < MIN_CORE_SHARE:
            continue
        band = (along[axis] >= lo - cell) & (along[axis] <= hi + cell)
        if (keep & band).sum() >= 16:
            keep &= band
    return None if keep.all() else keep
