"""Which depth cluster inside a 2D box is the object.

A detector's box holds the object and whatever shows around it: the floor or the table it
stands on, the wall or a bigger object behind it, an occluder in front. The biggest depth
cluster in the box is often one of those (chairs around a dining table are mostly table).
:func:`explain_box` looks at the box and a ring of pixels just outside it (all sampled
every ``stride`` px) and picks the depth cluster that best explains the box:

1. **Support surfaces** are set aside first: samples on horizontal surfaces (the 3D step
   to the sample a few rows below hardly rises; map frame, z up) are grouped by height,
   and a height level that holds a large share of the horizontal samples of the ring's
   outer part (past where a jittered box may have cut the object) is the floor or a
   table top the object stands on, in front of or behind; its horizontal samples, inside
   the box too, are never the object.
2. **Candidates** are depth layers of the rest: the basins of the centre-weighted depth
   histogram, each also grown over its neighbouring bins while they hold a tenth of its
   peak (one object whose depth spans several bins); per layer the 8-connected pixel
   component with the most centre weight, with the components of at least a fifth of its
   weight (thin parts break off at the sampling stride), cut at the category's footprint
   diagonal behind the candidate's front (what lies farther back is something else).
3. **Score** of a candidate: how much of the box it fills (its share of the box's samples
   and how far it spans the box across and down; a detector's box is tight around its
   object), times a penalty for **leaking** out of the box (the share of the ring's sides
   that continue the same connected surface: walls, large objects behind, occluders in
   front), times a penalty for the object **size** the box implies at the candidate's
   depth against the category's size prior (a layer farther back implies a bigger object).

Coverage is measured on the whole box before any of this (``valid_fraction``), so a box
with almost no depth cannot be explained by the few pixels it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ssr_ros.perception.opencv import cv2_module


@dataclass(frozen=True)
class BoxClusterConfig:
    """Parameters of :func:`explain_box` (pixels, metres, fractions).

    ``stride``: sample spacing [px]; ``bin_m``: depth histogram bin; ``min_pixels``: samples
    a candidate needs; ``ring_fraction``/``ring_min_px``: width of the ring outside the box
    as a fraction of the box side, at least this many pixels; ``support_band_m``:
    half-height of a support level; ``support_ring_share``: share of the horizontal
    samples of the ring's outer part (beyond ``support_margin`` times the box side) a
    level needs to be a support; ``min_layer_share``: share of the box's weight a depth
    layer needs to be a candidate; ``leak_weight``, ``size_weight``: strength of the two
    penalties (``exp(-weight * value)``); ``size_tolerance``: relative size error a box
    may imply before it is penalised (detector boxes and category sizes both vary);
    ``continuity_m``/``continuity_fraction``: the largest depth step between neighbouring
    samples of one continuous surface (see :func:`_continuous_segments`);
    ``backdrop_step_m``/``backdrop_step_fraction``/``backdrop_angle_deg``: the same for
    an upright plane behind the object, with the largest turn of its direction between
    neighbours (see :func:`_backdrop_mask`); ``backdrop_min_depth_m``: categories whose
    prior depth is under this (pictures, mirrors, doors) lie flush with a wall and keep
    it."""

    stride: int = 2
    bin_m: float = 0.05
    min_pixels: int = 20
    ring_fraction: float = 0.2
    ring_min_px: int = 6
    support_band_m: float = 0.03
    support_ring_share: float = 0.3
    support_margin: float = 0.08
    min_layer_share: float = 0.05
    leak_weight: float = 3.0
    size_weight: float = 1.5
    size_tolerance: float = 0.35
    continuity_m: float = 0.05
    continuity_fraction: float = 0.04
    backdrop_step_m: float = 0.03
    backdrop_step_fraction: float = 0.015
    backdrop_angle_deg: float = 20.0
    backdrop_min_depth_m: float = 0.15

    def __post_init__(self) -> None:
        if self.stride < 1 or self.min_pixels < 1 or self.ring_min_px < 1:
            raise ValueError("stride, min_pixels and ring_min_px must be >= 1")
        if not (self.bin_m > 0 and self.support_band_m > 0):
            raise ValueError("bin_m and support_band_m must be positive")


@dataclass
class BoxExplanation:
    """Result of :func:`explain_box`: the object's full-resolution pixels ``rows``/``cols``
    (N,) (empty when nothing explains the box), ``valid_fraction`` = share of the box's
    samples with depth, the chosen candidate's ``score`` (0 when none), the number of
    samples set aside as ``support``, and the chosen candidate's ``coverage`` of the box
    (the fill and span part of the score, without the leak and size penalties)."""

    rows: np.ndarray
    cols: np.ndarray
    valid_fraction: float
    score: float = 0.0
    support: int = 0
    coverage: float = 0.0



def _joined_components(shape: tuple[int, int], join_r: np.ndarray,
                       join_d: np.ndarray) -> np.ndarray:
    """Connected-component label (H, W) of every pixel of an image of ``shape``, where
    ``join_r`` (H, W-1) joins a pixel to its right neighbour and ``join_d`` (H-1, W) to
    the one below; unjoined pixels are components of their own."""
    size = shape[0] * shape[1]
    idx = np.arange(size).reshape(shape)
    a = np.concatenate([idx[:, :-1][join_r], idx[:-1][join_d]])
    b = np.concatenate([idx[:, 1:][join_r], idx[1:][join_d]])
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(size, size))
    return connected_components(graph, directed=False)[1].reshape(shape)

def _empty(valid_fraction: float) -> BoxExplanation:
    return BoxExplanation(np.zeros(0, np.intp), np.zeros(0, np.intp), valid_fraction)


def box_valid_fraction(x0: int, y0: int, x1: int, y1: int, depth_m: np.ndarray,
                       stride: int) -> float:
    """Share of the box's samples (every ``stride`` px) that carry depth (> 0)."""
    crop = depth_m[y0:y1:stride, x0:x1:stride]
    return float((crop > 0).mean()) if crop.size else 0.0


def _map_points(depth: np.ndarray, rows: np.ndarray, cols: np.ndarray, K: np.ndarray,
                T_map_cam: np.ndarray) -> np.ndarray:
    """Map-frame points (R, C, 3) [m] of the samples of the (R, C) crop (pinhole model;
    0 depth gives the camera's position, callers mask those)."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    cam = np.stack(np.broadcast_arrays((cols[None, :] - cx) / fx * depth,
                                       (rows[:, None] - cy) / fy * depth, depth), axis=-1)
    return cam @ T_map_cam[:3, :3].T + T_map_cam[:3, 3]


def _horizontal(points: np.ndarray, valid: np.ndarray, step: int,
                max_slope: float = 0.3) -> np.ndarray:
    """Samples on a horizontal surface: the 3D step to the sample ``step`` rows below (or
    above, in the last rows) rises less than ``max_slope`` of its length. (A vertical
    surface rises by the whole step; a thin band of rows of one can have as little
    height spread as a floor, which is why height alone does not tell them apart.)"""
    out = np.zeros_like(valid)
    if points.shape[0] <= step:
        return out
    d = points[step:] - points[:-step]
    both = valid[step:] & valid[:-step]
    length = np.linalg.norm(d, axis=-1)
    flat = both & (np.abs(d[..., 2]) < max_slope * length) & (length > 0)
    out[:-step] |= flat
    out[step:] |= flat
    return out & valid


def _support_mask(z_map: np.ndarray, flat: np.ndarray, far_ring: np.ndarray,
                  cfg: BoxClusterConfig) -> np.ndarray:
    """Horizontal samples (``flat``) on a level that holds ``support_ring_share`` of the
    horizontal samples of the ring's outer part."""
    ring_z = z_map[flat & far_ring]
    support = np.zeros_like(flat)
    if len(ring_z) < cfg.min_pixels:
        return support
    lo = float(ring_z.min())
    step = cfg.support_band_m
    bins = ((ring_z - lo) / step).astype(np.intp)
    hist = np.bincount(bins)
    # A level is counted over its bin and both neighbours (a band of three bins): a plane
    # seen with depth noise spreads over more than one bin.
    band = np.convolve(np.pad(hist, 1), np.ones(3), mode="valid")
    need = cfg.support_ring_share * len(ring_z)
    for k in np.flatnonzero(band >= need):
        if band[k] < band[max(k - 1, 0):k + 2].max():
            continue  # not the top of its peak
        level = lo + (k + 0.5) * step
        support |= flat & (np.abs(z_map - level) <= 1.5 * step)
    return support


def _backdrop_mask(points: np.ndarray, D: np.ndarray, upright: np.ndarray,
                   top_ring: np.ndarray, step: int, cfg: BoxClusterConfig) -> np.ndarray:
    """Samples of an upright plane that goes on above the box (a wall behind a desk, the
    side of a wardrobe behind a chair): ``upright`` samples (not horizontal) joined to
    their right and lower neighbours when the depth is continuous (``backdrop_step_m``
    or ``backdrop_step_fraction`` of the depth) and both run along one vertical plane
    (horizontal directions, taken ``step`` samples apart, within
    ``backdrop_angle_deg``), in the components that reach the ring's outer part above
    the box (``top_ring``). Nothing of an object lies above its box, so such a plane is
    behind it; the plane test keeps the object's own faces that meet a wall at a corner
    (a wardrobe's side) and the horizontal top that meets it (a desk's) out of it."""
    n_r, n_c = D.shape
    if n_c < 2 * step:
        return np.zeros_like(upright)
    # Horizontal direction of the surface at each sample (from the sample ``step``
    # columns to the right, or to the left in the last columns), unit length.
    d = points[:, step:, :2] - points[:, :-step, :2]
    both = upright[:, step:] & upright[:, :-step]
    tangent = np.zeros((n_r, n_c, 2))
    ok = np.zeros((n_r, n_c), dtype=bool)
    tangent[:, :-step] = d
    ok[:, :-step] = both
    tangent[:, -step:] = d[:, -step:]
    ok[:, -step:] = both[:, -step:]
    length = np.linalg.norm(tangent, axis=-1)
    ok &= length > 1e-6
    tangent /= np.maximum(length, 1e-9)[..., None]
    cos_min = math.cos(math.radians(cfg.backdrop_angle_deg))
    tol = np.maximum(cfg.backdrop_step_m, cfg.backdrop_step_fraction * D)

    def joins(a: tuple[slice, slice], b: tuple[slice, slice]) -> np.ndarray:
        return ok[a] & ok[b] & (np.abs(D[a] - D[b]) <= tol[a]) & \
            (np.abs((tangent[a] * tangent[b]).sum(axis=-1)) >= cos_min)

    join_r = joins((slice(None), slice(None, -1)), (slice(None), slice(1, None)))
    join_d = joins((slice(None, -1), slice(None)), (slice(1, None), slice(None)))
    labels = _joined_components(D.shape, join_r, join_d)
    seeds = top_ring & ok
    if int(seeds.sum()) < cfg.min_pixels:
        return np.zeros_like(upright)
    # A plane seen above the box by a few samples only may be noise joining planes.
    count = np.bincount(labels[seeds], minlength=labels.max() + 1)
    behind = count >= max(cfg.min_pixels, 0.1 * int(seeds.sum()))
    return ok & behind[labels]


def _layers(d: np.ndarray, w: np.ndarray, bin_m: float, min_share: float
            ) -> list[tuple[float, float]]:
    """Candidate depth intervals [m] of depths ``d`` weighted ``w``: each histogram basin
    (bins climb to one peak) and each peak grown to a tenth of its height."""
    lo = float(d.min())
    nbins = int((float(d.max()) - lo) / bin_m) + 1
    hist = np.bincount(((d - lo) / bin_m).astype(np.intp), weights=w, minlength=nbins)
    smooth = np.convolve(np.pad(hist, 1), [0.25, 0.5, 0.25], mode="valid")
    total = float(smooth.sum())
    # Hill climbing: every bin goes to the peak its rising neighbours lead to.
    left = np.concatenate([[-1.0], smooth[:-1]])
    right = np.concatenate([smooth[1:], [-1.0]])
    idx = np.arange(nbins)
    step = np.where((left > smooth) & (left >= right), idx - 1,
                    np.where(right > smooth, idx + 1, idx))
    owner = step
    while True:  # pointer jumping: about log2(nbins) rounds
        nxt = step[owner]
        if np.array_equal(nxt, owner):
            break
        owner = nxt
    out: list[tuple[int, int]] = []
    for peak in np.unique(owner):
        members = np.flatnonzero(owner == peak)
        if smooth[members].sum() < min_share * total:
            continue
        out.append((int(members.min()), int(members.max())))
        a = b = int(peak)
        floor_level = 0.1 * smooth[peak]
        while a > 0 and smooth[a - 1] >= floor_level:
            a -= 1
        while b < nbins - 1 and smooth[b + 1] >= floor_level:
            b += 1
        out.append((a, b))
    return [(lo + a * bin_m, lo + (b + 1) * bin_m) for a, b in dict.fromkeys(out)]


def _size_error(w_px: float, h_px: float, z_m: float, K: np.ndarray,
                prior: np.ndarray, width_known: bool, height_known: bool,
                tol: float) -> float:
    """How implausible the box's metric size at depth ``z_m`` is for the prior
    (length, width, height): log-distance beyond ``tol`` of the implied width from
    [prior width, prior diagonal] and of the implied height from the prior height, each
    only when the box is not cut by the image border on that axis. A box too large for
    the category counts in full (a layer too far back); too small counts a quarter
    (occlusion and the image border shrink boxes of objects at the right depth)."""
    err = 0.0
    if width_known:
        lw = math.log(max(w_px * z_m / K[0, 0], 1e-6))
        hi = math.log(math.hypot(float(prior[0]), float(prior[1])) * (1 + tol))
        lo = math.log(float(prior[1]) * (1 - tol))
        err += max(lw - hi, 0.0) + 0.25 * max(lo - lw, 0.0)
    if height_known:
        lh = math.log(max(h_px * z_m / K[1, 1], 1e-6))
        err += max(lh - math.log(float(prior[2]) * (1 + tol)), 0.0) + \
            0.25 * max(math.log(float(prior[2]) * (1 - tol)) - lh, 0.0)
    return err


def _continuous_segments(D: np.ndarray, usable: np.ndarray, inside: np.ndarray,
                         centre_w: np.ndarray, cfg: BoxClusterConfig) -> list[np.ndarray]:
    """Surfaces without a depth step: samples joined to their right and lower neighbours
    when the depths differ by less than ``continuity_fraction`` of the depth (at least
    ``continuity_m``) per sample step. A depth histogram cannot part an occluder from an
    object seen at a slant behind it (their depths overlap); their silhouette can. Each
    segment with ``min_layer_share`` of the box's centre weight is a candidate mask."""
    tol = np.maximum(cfg.continuity_m, cfg.continuity_fraction * D)
    join_r = usable[:, :-1] & usable[:, 1:] & (np.abs(D[:, 1:] - D[:, :-1]) <= tol[:, :-1])
    join_d = usable[:-1] & usable[1:] & (np.abs(D[1:] - D[:-1]) <= tol[:-1])
    labels = _joined_components(D.shape, join_r, join_d)
    sel = usable & inside
    weight = np.bincount(labels[sel], weights=centre_w[sel], minlength=labels.max() + 1)
    total = float(weight.sum())
    if total <= 0:
        return []
    return [usable & (labels == k)
            for k in np.flatnonzero(weight >= cfg.min_layer_share * total)]


@dataclass
class _BoxSamples:
    """A box's sample grid with what does not depend on other boxes: the sampled
    ``rows``/``cols`` [px] of the box and its ring, depths ``D`` [m], ``valid``,
    ``inside`` (the box's part) and ``support`` (set-aside) masks, all (R, C)."""

    box: tuple[int, int, int, int]
    rows: np.ndarray
    cols: np.ndarray
    D: np.ndarray
    valid: np.ndarray
    inside: np.ndarray
    support: np.ndarray
    valid_fraction: float


def _sample_box(x0: int, y0: int, x1: int, y1: int, depth_m: np.ndarray,
                K: np.ndarray | None, T_map_cam: np.ndarray | None,
                prior: np.ndarray | None, cfg: BoxClusterConfig
                ) -> _BoxSamples | BoxExplanation:
    """The box's samples and set-aside surfaces (supports, upright planes behind), or
    the (empty) explanation when the box is too small or has too little depth."""
    s = cfg.stride
    h, w = depth_m.shape
    if x1 - x0 < 2 or y1 - y0 < 2:
        return _empty(0.0)
    valid_fraction = box_valid_fraction(x0, y0, x1, y1, depth_m, s)
    rx = max(cfg.ring_min_px, int(round(cfg.ring_fraction * (x1 - x0))))
    ry = max(cfg.ring_min_px, int(round(cfg.ring_fraction * (y1 - y0))))
    # The outer sample grid includes the box's own samples (x0 + k s, y0 + k s).
    rows = np.concatenate([np.arange(y0 - s, max(y0 - ry, 0) - 1, -s)[::-1],
                           np.arange(y0, min(y1 + ry, h), s)])
    cols = np.concatenate([np.arange(x0 - s, max(x0 - rx, 0) - 1, -s)[::-1],
                           np.arange(x0, min(x1 + rx, w), s)])
    rows = rows[rows >= 0]
    cols = cols[cols >= 0]
    D = depth_m[np.ix_(rows, cols)].astype(np.float64)
    valid = D > 0
    inside = ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]
    if int((valid & inside).sum()) < cfg.min_pixels:
        return _empty(valid_fraction)
    support = np.zeros_like(valid)
    if K is not None and T_map_cam is not None:
        points = _map_points(D, rows, cols, K, T_map_cam)
        flat = _horizontal(points, valid, max(1, 8 // s))
        # Only the ring's outer part says that a surface goes on outside the box: the
        # inner part may still be the object itself, where a jittered box cut it.
        gap_y = cfg.support_margin * (y1 - y0)
        gap_x = cfg.support_margin * (x1 - x0)
        far_ring = ((rows < y0 - gap_y) | (rows >= y1 + gap_y))[:, None] | \
            ((cols < x0 - gap_x) | (cols >= x1 + gap_x))[None, :]
        support = _support_mask(points[..., 2], flat, far_ring, cfg)
        if prior is None or float(prior[1]) >= cfg.backdrop_min_depth_m:
            top_ring = (rows < y0 - gap_y)[:, None] & np.ones(len(cols), dtype=bool)
            support |= _backdrop_mask(points, D, valid & ~flat, top_ring,
                                      max(1, 8 // s), cfg)
    return _BoxSamples((x0, y0, x1, y1), rows, cols, D, valid, inside, support,
                       valid_fraction)


def explain_box(x0: int, y0: int, x1: int, y1: int, depth_m: np.ndarray,
                K: np.ndarray | None = None, T_map_cam: np.ndarray | None = None,
                prior: np.ndarray | None = None,
                config: BoxClusterConfig = BoxClusterConfig(),
                claimed: np.ndarray | None = None) -> BoxExplanation:
    """The object's pixels in the box ``[x0, x1) x [y0, y1)`` [px] of ``depth_m`` (H, W)
    [m, 0 = invalid] (see the module docstring). ``K`` (3, 3) gives the implied object
    size, ``T_map_cam`` (4, 4, camera optical frame -> map, z up) the support levels, and
    ``prior`` (length, width, height) [m] the category's size; each part is skipped when
    its input is None. ``claimed`` (H, W) bool marks pixels another box's object already
    explains (see :func:`explain_boxes`): they are never this object's."""
    g = _sample_box(x0, y0, x1, y1, depth_m, K, T_map_cam, prior, config)
    if isinstance(g, BoxExplanation):
        return g
    return _explain_samples(g, depth_m.shape, K, prior, config, claimed)


def _explain_samples(g: _BoxSamples, shape: tuple[int, int], K: np.ndarray | None,
                     prior: np.ndarray | None, cfg: BoxClusterConfig,
                     claimed: np.ndarray | None) -> BoxExplanation:
    """:func:`explain_box` on prepared samples, without the ``claimed`` pixels."""
    cv2 = cv2_module("lifting box proposals (depth layers of a box)")

    x0, y0, x1, y1 = g.box
    h, w = shape
    rows, cols, D, inside, support = g.rows, g.cols, g.D, g.inside, g.support
    valid_fraction = g.valid_fraction
    r_in = (rows >= y0) & (rows < y1)
    c_in = (cols >= x0) & (cols < x1)
    n_inside = int(inside.sum())
    usable = g.valid & ~support
    if claimed is not None:
        usable &= ~claimed[np.ix_(rows, cols)]
    cand = usable & inside
    if int(cand.sum()) < cfg.min_pixels:
        return BoxExplanation(np.zeros(0, np.intp), np.zeros(0, np.intp), valid_fraction,
                              support=int((support & inside).sum()))
    # Objects fill the middle of their box; background shows at its rim.
    yy = (rows + 0.5 - y0) / (y1 - y0) - 0.5
    xx = (cols + 0.5 - x0) / (x1 - x0) - 0.5
    centre_w = np.exp(-(yy[:, None] ** 2 + xx[None, :] ** 2) / (2 * 0.25 ** 2))
    # Ring sides: (mask of the side's samples) for the sides that exist in the image.
    sides = []
    top, bottom = rows < y0, rows >= y1
    left, right = cols < x0, cols >= x1
    for side in (top[:, None] & c_in[None, :], bottom[:, None] & c_in[None, :],
                 r_in[:, None] & left[None, :], r_in[:, None] & right[None, :]):
        if int((side & usable).sum()) >= 4:
            sides.append(side & usable)
    in_rows, in_cols = np.flatnonzero(r_in), np.flatnonzero(c_in)
    n_in_r, n_in_c = len(in_rows), len(in_cols)
    height_known = y0 > 0 and y1 < h
    width_known = x0 > 0 and x1 < w
    def score(member: np.ndarray) -> tuple[float, np.ndarray, float]:
        """Score of a candidate (all its samples, ring included), its box part and its
        coverage of the box."""
        obj = member & inside
        if prior is not None and obj.any():
            # No object reaches farther behind its front than its footprint's diagonal:
            # the rest of a wide layer is something behind it (a table behind a chair).
            front = float(np.percentile(D[obj], 5))
            obj &= D <= front + math.hypot(float(prior[0]), float(prior[1]))
        count = int(obj.sum())
        if count < cfg.min_pixels:
            return 0.0, obj, 0.0
        rr, cc = np.nonzero(obj)
        span_y = (rr.max() - rr.min() + 1) / n_in_r
        span_x = (cc.max() - cc.min() + 1) / n_in_c
        fill = count / n_inside
        leak = float(np.mean([(member & side).sum() / side.sum() for side in sides])) \
            if sides else 0.0
        size_err = 0.0
        if K is not None and prior is not None:
            size_err = _size_error(x1 - x0, y1 - y0, float(np.median(D[obj])), K, prior,
                                   width_known, height_known, cfg.size_tolerance)
        coverage = math.sqrt(fill) * span_x * span_y
        return coverage * math.exp(-cfg.leak_weight * leak - cfg.size_weight * size_err), \
            obj, coverage

    candidates = []
    for lo, hi in _layers(D[cand], centre_w[cand], cfg.bin_m, cfg.min_layer_share):
        layer = usable & (D >= lo) & (D < hi)
        n, comp = cv2.connectedComponents(layer.astype(np.uint8), connectivity=8)
        if n <= 1:
            continue
        weight = np.bincount(comp[layer & inside], weights=centre_w[layer & inside],
                             minlength=n)
        weight[0] = 0.0
        if weight.max() <= 0:
            continue
        # Thin parts (a lamp's pole, chair legs) break off at the sampling stride: every
        # component of the layer with a fifth of the main one's weight belongs to it.
        keep = weight >= 0.2 * weight.max()
        keep[0] = False
        candidates.append(keep[comp])
    candidates.extend(_continuous_segments(D, usable, inside, centre_w, cfg))
    best, best_score, best_coverage = None, 0.0, 0.0
    for member in candidates:
        value, obj, coverage = score(member)
        if value > best_score:
            best, best_score, best_coverage = obj, value, coverage
    if best is None:
        return BoxExplanation(np.zeros(0, np.intp), np.zeros(0, np.intp), valid_fraction,
                              support=int((support & inside).sum()))
    rr, cc = np.nonzero(best)
    return BoxExplanation(rows[rr], cols[cc], valid_fraction, best_score,
                          int((support & inside).sum()), best_coverage)


def _claim(ex: BoxExplanation, shape: tuple[int, int], stride: int
           ) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The pixels an explanation claims, as an (H, W) bool mask and its bounds (r0, r1,
    c0, c1), or None for none: each chosen sample and its neighbours up to half a stride
    away (boxes sample on grids anchored at their own corners, which need not meet)."""
    if len(ex.rows) == 0:
        return None
    h, w = shape
    half = stride // 2
    mask = np.zeros((h, w), dtype=bool)
    for dr in range(-half, half + 1):
        rr = np.clip(ex.rows + dr, 0, h - 1)
        for dc in range(-half, half + 1):
            mask[rr, np.clip(ex.cols + dc, 0, w - 1)] = True
    bounds = (max(int(ex.rows.min()) - half, 0), min(int(ex.rows.max()) + half + 1, h),
              max(int(ex.cols.min()) - half, 0), min(int(ex.cols.max()) + half + 1, w))
    return mask, bounds


def _claims_meet(a, b) -> bool:
    """True when two claims (see :func:`_claim`) share a pixel."""
    if a is None or b is None:
        return False
    (ma, (ar0, ar1, ac0, ac1)), (mb, (br0, br1, bc0, bc1)) = a, b
    r0, r1, c0, c1 = max(ar0, br0), min(ar1, br1), max(ac0, bc0), min(ac1, bc1)
    return r0 < r1 and c0 < c1 and bool((ma[r0:r1, c0:c1] & mb[r0:r1, c0:c1]).any())


def _claim_order(scores: list[float], beats: dict[int, set[int]]) -> list[int]:
    """Box indices in claiming order: a box goes before every box it ``beats`` (pairwise
    decisions), otherwise the higher score first; a cycle of decisions is broken by the
    score."""
    left = set(range(len(scores)))
    waiting = {i: {j for j in left if i in beats.get(j, ())} for i in left}
    order = []
    while left:
        free = [i for i in left if not (waiting[i] & left)] or list(left)
        i = max(free, key=lambda k: (scores[k], -k))
        order.append(i)
        left.remove(i)
    return order


def explain_boxes(boxes: list[tuple[int, int, int, int]], depth_m: np.ndarray,
                  K: np.ndarray | None = None, T_map_cam: np.ndarray | None = None,
                  priors: list[np.ndarray | None] | None = None,
                  config: BoxClusterConfig = BoxClusterConfig()) -> list[BoxExplanation]:
    """:func:`explain_box` for every box ``(x0, y0, x1, y1)`` [px] of one image, each
    pixel given to one object at most (``priors``: one (length, width, height) [m] or
    None per box). Results keep the order of ``boxes``.

    Where boxes overlap (a chair before a desk, a monitor on it, a chair half hidden by
    another) one object's depth often joins the other's surface without a step, so each
    box explained alone may take its neighbour's pixels. Every box is explained alone
    first. For each pair whose objects share pixels, both ways of giving the shared
    pixels are tried: the box that claims first keeps its object and the other is
    explained without those pixels; the way with the higher summed coverage (fill and
    spans, see :class:`BoxExplanation`) wins: the object that would lose more keeps them
    (a monitor's lower half matters to the monitor, hardly to the desk; a chair in front
    is the whole of its own box but only a stray part of the box of the chair it
    hides). Full scores would decide it the other way: once the desk's pixels are
    claimed the monitor no longer leaks into the desk below it. Boxes then claim their
    pixels in that order, the best explained first where no pair decided, each
    explained again without the pixels claimed before it."""
    h, w = depth_m.shape
    if priors is None:
        priors = [None] * len(boxes)
    if len(priors) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(priors)} priors")
    # What does not depend on the other boxes (samples, supports) is found once per box.
    samples = [_sample_box(*b, depth_m, K, T_map_cam, p, config)
               for b, p in zip(boxes, priors)]

    def explain(i: int, claimed: np.ndarray | None) -> BoxExplanation:
        g = samples[i]
        if isinstance(g, BoxExplanation):
            return g
        return _explain_samples(g, (h, w), K, priors[i], config, claimed)

    alone = [explain(i, None) for i in range(len(boxes))]
    claims = [_claim(ex, (h, w), config.stride) for ex in alone]
    beats: dict[int, set[int]] = {}
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if not _claims_meet(claims[i], claims[j]):
                continue
            i_first = alone[i].coverage + explain(j, claims[i][0]).coverage
            j_first = alone[j].coverage + explain(i, claims[j][0]).coverage
            win, lose = (i, j) if i_first >= j_first else (j, i)
            beats.setdefault(win, set()).add(lose)
    out = list(alone)
    claimed = np.zeros((h, w), dtype=bool)
    for i in _claim_order([ex.score for ex in alone], beats):
        x0, y0, x1, y1 = boxes[i]
        rx = max(config.ring_min_px, int(round(config.ring_fraction * (x1 - x0))))
        ry = max(config.ring_min_px, int(round(config.ring_fraction * (y1 - y0))))
        if claimed[max(y0 - ry, 0):y1 + ry, max(x0 - rx, 0):x1 + rx].any():
            out[i] = explain(i, claimed)
        mine = claims[i] if out[i] is alone[i] else _claim(out[i], (h, w), config.stride)
        if mine is not None:
            claimed |= mine[0]
    return out
