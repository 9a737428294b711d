"""Object pixels of a 2D box that comes with an instance mask (a segmentation node's).

A detection with a mask says which pixels of its box are the object, so the box's depth
clusters need not be guessed (:mod:`~ssr_ros.perception.box_clusters` guesses them for
boxes alone). :func:`mask_pixels` turns the mask into what
:class:`~ssr_ros.perception.proposals.BoxesSource` hands to lifting: the sampled pixels
with depth, borders dropped, and the share of the mask that has depth (the depth
coverage that lifting judges against ``min_valid_fraction``).

The mask is a boolean array over the box's pixel bounds (``Box2D.clipped``: rows
``y0:y1``, columns ``x0:x1``), so a mask never reaches outside its box and a keyframe
holds a few small crops, not one full image per detection. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MaskPixels:
    """What a box's mask gives: full-resolution ``rows``/``cols`` (N,) of sampled mask
    pixels with depth (> 0), borders dropped, and ``valid_fraction``, the share of the
    mask's samples (borders included) that have depth."""

    rows: np.ndarray
    cols: np.ndarray
    valid_fraction: float


def check_box_mask(mask: np.ndarray, bounds: tuple[int, int, int, int]) -> None:
    """Raise ValueError unless ``mask`` is a 2-D bool array of the shape of ``bounds``
    ``(x0, y0, x1, y1)`` [px, x1 and y1 exclusive]."""
    x0, y0, x1, y1 = bounds
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (y1 - y0, x1 - x0):
        raise ValueError(f"a box mask must be bool of shape {(y1 - y0, x1 - x0)} (the box's "
                         f"clipped bounds), got {mask.dtype} {mask.shape}")


def mask_pixels(mask: np.ndarray, bounds: tuple[int, int, int, int], depth_m: np.ndarray,
                stride: int = 2, drop_border: bool = True, min_pixels: int = 20
                ) -> MaskPixels:
    """The object pixels of a box's ``mask`` (bool (y1 - y0, x1 - x0) over ``bounds``
    ``(x0, y0, x1, y1)`` [px] of the image of ``depth_m`` (H, W) [m], 0 = no depth).

    Pixels are sampled every ``stride`` rows and columns of the whole image (the grid of
    :class:`~ssr_ros.perception.proposals.LabelImageSource`, whatever the box's corner).
    With ``drop_border`` a sample whose neighbouring sample (up, down, left, right) is
    not in the mask is dropped, as the label-image source drops instance borders of a
    network's masks: they bleed onto the background, whose depth would drag the object.
    A neighbour beyond the image counts as in the mask (the object goes on there); one
    beyond the box but inside the image does not (the mask ends at the box). A mask
    whose interior keeps fewer than ``min_pixels`` samples with depth keeps its border:
    a small object's mask is mostly border, and without it nothing would be left.
    ``valid_fraction`` is measured on all the mask's samples, borders included: the
    coverage of what the segmentation claims, before any pixel is dropped (0 for an
    empty mask).
    """
    if stride < 1:
        raise ValueError("stride must be >= 1")
    check_box_mask(mask, bounds)
    x0, y0, x1, y1 = bounds
    height, width = depth_m.shape
    oy, ox = (-y0) % stride, (-x0) % stride  # first row and column on the image grid
    sub = np.asarray(mask)[oy::stride, ox::stride]
    empty = np.zeros(0, np.intp)
    if not sub.any():
        return MaskPixels(empty, empty, 0.0)
    rows = y0 + oy + stride * np.arange(sub.shape[0])
    cols = x0 + ox + stride * np.arange(sub.shape[1])
    depth = depth_m[np.ix_(rows, cols)]
    valid_fraction = float((depth[sub] > 0).mean())
    keep = sub & (depth > 0)
    if drop_border:
        interior = keep & _interior(sub, rows[0] - stride < 0, rows[-1] + stride >= height,
                                    cols[0] - stride < 0, cols[-1] + stride >= width)
        if np.count_nonzero(interior) >= min_pixels:
            keep = interior
    rr, cc = np.nonzero(keep)
    return MaskPixels(rows[rr], cols[cc], valid_fraction)


def _interior(sub: np.ndarray, top_open: bool, bottom_open: bool, left_open: bool,
              right_open: bool) -> np.ndarray:
    """Samples of ``sub`` whose four neighbours are in it too; a side marked open (the
    image ends there) counts its outside neighbours as in the mask."""
    padded = np.zeros((sub.shape[0] + 2, sub.shape[1] + 2), dtype=bool)
    padded[1:-1, 1:-1] = sub
    if top_open:
        padded[0, 1:-1] = sub[0]
    if bottom_open:
        padded[-1, 1:-1] = sub[-1]
    if left_open:
        padded[1:-1, 0] = sub[:, 0]
    if right_open:
        padded[1:-1, -1] = sub[:, -1]
    return (sub & padded[:-2, 1:-1] & padded[2:, 1:-1]
            & padded[1:-1, :-2] & padded[1:-1, 2:])
