"""Completing an object seen only in part, into space no ray observed.

On a short sequence an object may stay partly out of sight: a bed whose foot never came
above the image's lower border, a cabinet whose far end its near end hid, a TV stand seen
end-on. Its evidence covers the part seen, and a box fitted to it is centred 0.3-0.7 m
from the object. Its category's size prior says how much is missing, not where: the
missing part can only lie where no depth ray looked, since a ray that passed through a
place saw it empty and a ray that ended there saw something else (or the object, whose
evidence would then hold it). :class:`~ssr_ros.core.seen_space.SeenSpace` keeps what the
rays observed.

:func:`complete_unseen` probes, beyond each of the four vertical faces of the box, slabs
``SLAB_M`` thick across the face, just below the object's top surface (the median over
its seen ground cells of the highest evidence point: a bed's mattress, a table's top, a
wardrobe's top), where the object, if it went on, would have material that no ray could
pass, and just above it, where another thing at the object's height (a wall, the other
desk of an L) shows its surface. A slab is seen when ``SEEN_SHARE`` of its columns were
observed below the top (or ``SURFACE_SHARE`` hold a surface above it), and the face is
open up to the first seen slab. Probes in a voxel that holds some of the object's own
evidence do not count (a ray that ended on the object observed that voxel whether or
not the object goes on), so the first slab starts at the face: a wall or a neighbour
touching the object stops it there, as does a wall the room estimate knows.

Beside the seen face (across the cameras' line of sight) only space out of every view
is open, as where an image border cut the object off; space that a view held but
something hid (behind a desk, the wall it stands against) is as likely a wall nobody
saw as the object's unseen part. Along the line of sight hidden space is open too: an
object seen end-on hides its length behind its end.

A horizontal axis shorter than ``SHORT_FRACTION`` of its typical extent grows toward its
open faces, evenly where both are open, up to the typical extent. The prior's length
and width are tried both ways on the box (a bed seen across its width, a TV stand seen
end-on), and the way that leaves less of the missing extent without open space to grow
into wins; when both can grow (the space around a part seen from far away is often
unobserved on all sides), the way that grows along the line of sight, where a view
mostly misses what it misses (behind the seen face, beyond the image's upper or lower
border); on a tie, the seen longer side is the length.

An object seen whole has observed space around it and does not grow; nor does one
smaller than its category's typical size, whose ends were seen. Space that no ray
observed is not evidence that the object is there: it only bounds where the unseen part
can be, so the completed box is flagged ``size_from_prior``, refitted as more of the
space is observed, and never used to associate or merge (``BoxFit.measured``).
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import numpy as np

SHORT_FRACTION = 0.8
"""An axis shorter than this share of its typical extent may be missing a part."""

MIN_GROWTH_M = 0.15
"""[m] Missing extents under this are within the category's variation: left alone."""

SLAB_M = 0.1
"""[m] Thickness of a probed slab (one ``SeenSpace`` cell)."""

SEEN_SHARE = 0.25
"""A slab with at least this share of its probes in observed voxels was seen: the object
does not go on there. Rays of one keyframe are 0.05-0.1 m apart at a few metres, so a
slab seen through has gaps; a slab nobody saw has none observed."""

PROBE_DEPTHS_M = (0.025, 0.075)
"""[m] Probes lie this far below the object's top surface: inside it where it goes on,
in the open (seen through from above) where it does not. Close under the surface, so
that the object's own shadow beyond an end it has (the space below the rays grazing its
edge, ``depth / tan(elevation)`` long: 0.04-0.13 m at 30 degrees) is a slab at most
(which grows it by less than ``MIN_GROWTH_M``)."""

SURFACE_PROBES_M = (0.025, 0.075)
"""[m] Surface probes lie this far above the object's top surface: a surface measured
there, not the object's, is another thing's top at the object's height (a wall above a
desk, the other desk of an L), whose lower part the object would have to share. Below
the top of a desk the wall behind it and the other desk's frame are hidden, so the
probes under the surface cannot see them."""

SURFACE_SHARE = 0.5
"""A slab with a surface above the object's top in at least this share of its columns
holds another thing at the object's height: a wall or a top spans the slab; the cups and
bottles standing on the object's unseen part do not."""

PROBE_SPACING_M = 0.1
"""[m] Spacing of the probes across a face."""

FACE_INSET_M = 0.05
"""[m] Probes keep this far inside the face's sides (the sides' neighbours are not the
object's)."""

ALONG_SIGHT = 0.7
"""A box axis runs along the cameras' line of sight when the mean |cosine| between the
sight lines and the axis is at least this; its faces may grow into hidden space. The
faces of the other axis grow only into space out of every view: on development seeds,
growth beside the seen face into hidden space went through walls nobody saw."""

SWAP_STRETCH_M = (1.15, 0.05)
"""The prior's width may lie along the seen longer side only when that side is at most
this factor times the typical width plus this slack [m]: about as wide as the category
is (a TV stand's end face, a cabinet's side). A desk seen whole but shorter than the
typical desk is not a desk seen across its width."""

CELL_M = 0.1
"""[m] Ground cells of the top-surface height estimate."""

TIE_M = 0.05
"""[m] Two ways of laying the prior that leave missing extents within this of each other
are a tie, decided by the line of sight."""


class SeenVoxels(Protocol):
    """What completion reads of :class:`~ssr_ros.core.seen_space.SeenSpace`."""

    frames: int
    """Views taken so far: what the space knows changes only when it grows."""

    def read(self, points_m: np.ndarray) -> "np.ndarray | None":
        """bool (N, 3) per point: its voxel observed by a ray, holding a measured
        surface, hidden behind one in a view; None: nothing known."""

    def voxel_keys(self, points_m: np.ndarray) -> "np.ndarray | None":
        """int64 (N,) naming each point's voxel (-1: none); None: nothing known."""


def _box_axes(yaw: float) -> np.ndarray:
    """Unit vectors of a box's horizontal axes (2, 2): along yaw, and across it (left)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, s], [-s, c]])


def top_surface_z(points_m: np.ndarray) -> float:
    """The height [m] of an object's top surface: over the ground cells (``CELL_M``) its
    evidence points ``(N, 3)`` cover, the median of each cell's highest point (a bed's
    mattress rather than its headboard, a desk's top rather than the monitor's edge)."""
    pts = np.asarray(points_m, dtype=np.float64)
    ij = np.floor(pts[:, :2] / CELL_M).astype(np.int64)
    ij -= ij.min(axis=0)
    cell = ij[:, 0] * (int(ij[:, 1].max()) + 1) + ij[:, 1]
    # highest point per cell: sort by (cell, z), take each cell's last
    order = np.lexsort((pts[:, 2], cell))
    last = np.flatnonzero(np.diff(cell[order], append=-1) != 0)
    return float(np.median(pts[order[last], 2]))


def _open_distances(centre: np.ndarray, size: np.ndarray, yaw: float, surface_z: float,
                    reach_m: np.ndarray, space: SeenVoxels, own_m: np.ndarray,
                    beside: np.ndarray) -> np.ndarray | None:
    """Open distance [m] beyond each face: ``(2, 2)`` for axis k (0 = along yaw, 1 =
    across) and side (0 = +, 1 = -), probed up to ``reach_m[k]``, not counting probes in
    the voxels of the object's points ``own_m`` (N, 3); the faces of an axis with
    ``beside[k]`` (across the line of sight) are closed by hidden space too. None when
    nothing is known of the space."""
    axes = _box_axes(yaw)
    columns, owners = [], []
    slabs = [max(1, int(math.ceil(r / SLAB_M))) for r in reach_m]
    for k in range(2):
        if reach_m[k] <= 0:
            continue
        o = 1 - k
        half_o = 0.5 * float(size[o]) - FACE_INSET_M
        n_across = max(1, int(math.floor(2 * max(half_o, 0.0) / PROBE_SPACING_M)) + 1)
        across = np.linspace(-half_o, half_o, n_across) if half_o > 0 else np.zeros(1)
        along = SLAB_M * (np.arange(slabs[k]) + 0.5)
        for side, sign in enumerate((1.0, -1.0)):
            a = sign * (0.5 * float(size[k]) + along)                  # (S,)
            xy = (centre[:2] + a[:, None, None] * axes[k]
                  + across[None, :, None] * axes[o])                   # (S, A, 2)
            columns.append(xy.reshape(-1, 2))
            owners.append(np.stack(np.broadcast_arrays(
                np.full(xy.shape[:2], k), np.full(xy.shape[:2], side),
                np.arange(slabs[k])[:, None]), axis=-1).reshape(-1, 3))
    if not columns:
        return np.zeros((2, 2))
    columns = np.concatenate(columns)
    owners = np.concatenate(owners)
    heights = [surface_z - d for d in PROBE_DEPTHS_M] + \
        [surface_z + d for d in SURFACE_PROBES_M]
    probes = np.concatenate([np.column_stack([columns, np.full(len(columns), z)])
                             for z in heights])
    below = len(PROBE_DEPTHS_M) * len(columns)
    planes = space.read(probes)
    keys = space.voxel_keys(probes)
    own = space.voxel_keys(own_m)
    if planes is None or keys is None or own is None:
        return None
    observed, surface, hidden = planes[:below, 0], planes[below:, 1], planes[:below, 2]
    # Probes sharing a voxel with the object's own points say nothing. A column is
    # seen below the top when one of its probes there is observed, and has a surface
    # above the top when one of its probes there is one.
    counted = ~np.isin(keys, own[own >= 0]).reshape(len(heights), -1)
    n_below = len(PROBE_DEPTHS_M)
    below_hits = (observed.reshape(n_below, -1) & counted[:n_below]).any(axis=0)
    # Beside the seen face, space a view held behind something closes it too: judged
    # just under the top, beyond the first slab. (An image border is a slanted plane:
    # under the surface of an object it cut, a sliver beyond the cut is inside the view
    # and hidden by the object's own top, ``depth / tan(elevation)`` wide.)
    beside_cols = np.asarray(beside, dtype=bool)[owners[:, 0]] & (owners[:, 2] >= 1)
    below_hits |= beside_cols & hidden.reshape(n_below, -1)[0] & counted[0]
    above_hits = (surface.reshape(-1, len(columns)) & counted[n_below:]).any(axis=0)
    # Per face and slab (one index: face * max_slabs + slab), the share of columns that
    # are seen, among those with a probe that counts.
    width = max(slabs)
    face = owners[:, 0] * 2 + owners[:, 1]
    cell = face * width + owners[:, 2]
    blocked = np.zeros(4 * width, dtype=bool)
    for hits, usable, threshold in (
            (below_hits, counted[:n_below].any(axis=0), SEEN_SHARE),
            (above_hits, counted[n_below:].any(axis=0), SURFACE_SHARE)):
        n = np.bincount(cell[usable], minlength=4 * width)
        seen = np.bincount(cell[usable], weights=hits[usable], minlength=4 * width)
        blocked |= seen >= threshold * np.maximum(n, 1) - 1e-9
    blocked = blocked.reshape(4, width)
    out = np.zeros((2, 2))
    for k in range(2):
        if reach_m[k] <= 0:
            continue
        for side in range(2):
            first = np.flatnonzero(blocked[k * 2 + side, :slabs[k]])
            out[k, side] = reach_m[k] if len(first) == 0 else \
                min(reach_m[k], SLAB_M * first[0])
    return out


WallDistance = Callable[[np.ndarray, np.ndarray, float], "float | None"]
"""``wall_distance(origin_xy, direction_xy, max_m)``: distance [m] to the first wall the
room estimate knows along a ground ray, or None (``RoomEstimator.distance_to_wall``)."""


def _wall_limits(centre: np.ndarray, size: np.ndarray, yaw: float, reach_m: np.ndarray,
                 wall_distance: WallDistance) -> np.ndarray:
    """Distance [m] from each face to the wall in front of it, ``(2, 2)`` as
    :func:`_open_distances` (inf where none is known within reach), along the ray from
    the face's middle. Below the top of a desk against a wall the wall is hidden by the
    desk; above it the room estimate has it. (Rays from the face's corners would meet the
    wall an object stands against beside that face whenever its yaw is a little off.)"""
    axes = _box_axes(yaw)
    out = np.full((2, 2), np.inf)
    for k in range(2):
        if reach_m[k] <= 0:
            continue
        for side, sign in enumerate((1.0, -1.0)):
            face = centre[:2] + sign * 0.5 * float(size[k]) * axes[k]
            d = wall_distance(face, sign * axes[k], float(reach_m[k]))
            if d is not None:
                out[k, side] = max(float(d), 0.0)
    return out


def _near_faces(points_m: np.ndarray, centre: np.ndarray, size: np.ndarray,
                yaw: float) -> np.ndarray:
    """The points (N, 3) within ``SLAB_M`` of the box's vertical faces or beyond them:
    the only ones that can share a voxel with a probe."""
    local = np.abs((points_m[:, :2] - np.asarray(centre, dtype=np.float64)[:2])
                   @ _box_axes(yaw).T)                          # (N, 2): along, across
    return points_m[(local >= 0.5 * np.asarray(size[:2], dtype=np.float64) - SLAB_M)
                    .any(axis=1)]


def _needs(size: np.ndarray, targets: tuple[float, float]) -> np.ndarray:
    """Missing extent [m] per horizontal axis for these typical extents (0 where the axis
    is not short)."""
    need = np.zeros(2)
    for k in range(2):
        if size[k] < SHORT_FRACTION * targets[k]:
            need[k] = targets[k] - size[k]
    return np.where(need >= MIN_GROWTH_M, need, 0.0)


def _sight_alignment(centre: np.ndarray, yaw: float,
                     camera_positions_m: np.ndarray | None) -> np.ndarray:
    """Mean |cosine| between the cameras' lines of sight to ``centre`` and each
    horizontal box axis, (2,) (zeros without cameras)."""
    if camera_positions_m is None or len(camera_positions_m) == 0:
        return np.zeros(2)
    rays = np.asarray(centre, dtype=np.float64)[:2] - \
        np.asarray(camera_positions_m, dtype=np.float64).reshape(-1, 3)[:, :2]
    rays = rays / np.maximum(np.linalg.norm(rays, axis=1, keepdims=True), 1e-6)
    axes = _box_axes(yaw)
    return np.abs(rays @ axes.T).mean(axis=0)


def complete_unseen(centre: np.ndarray, size: np.ndarray, yaw: float,
                    prior: np.ndarray, points_m: np.ndarray, space: SeenVoxels,
                    camera_positions_m: np.ndarray | None = None,
                    wall_distance: WallDistance | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The box (centre (3,), size (3,) along yaw/across/up [m], yaw [rad]) grown into
    unobserved space where an axis is short for the category (``prior``: typical length,
    width, height [m]), or None when it does not grow (see the module docstring).
    ``points_m`` (N, 3) are the object's evidence points (its top surface height, the
    voxels it fills); ``space`` what rays observed;
    ``camera_positions_m`` (V, 3) where the views that saw it were taken [m];
    ``wall_distance`` the room estimate's walls (growth stops at them)."""
    size = np.asarray(size, dtype=np.float64)
    length, width = (float(v) for v in sorted(np.asarray(prior[:2], dtype=float))[::-1])
    ways = [(length, width)]
    if size[0] <= SWAP_STRETCH_M[0] * width + SWAP_STRETCH_M[1]:
        ways.append((width, length))
    needs = [_needs(size, w) for w in ways]
    if not any(n.any() for n in needs):
        return None
    sight = _sight_alignment(centre, yaw, camera_positions_m)
    reach = np.max(needs, axis=0)
    points_m = np.asarray(points_m, dtype=np.float64)
    surface_z = top_surface_z(points_m)
    open_m = _open_distances(np.asarray(centre, dtype=np.float64), size, yaw, surface_z,
                             reach, space, _near_faces(points_m, centre, size, yaw),
                             sight < ALONG_SIGHT)
    if open_m is None:
        return None
    centre = np.asarray(centre, dtype=np.float64)
    if wall_distance is not None:
        open_m = np.minimum(open_m, _wall_limits(centre, size, yaw, reach, wall_distance))
    best = None
    for need in needs:
        grow = np.minimum(need, open_m.sum(axis=1))
        grow = np.where(grow >= MIN_GROWTH_M, grow, 0.0)
        left = float((need - grow).sum())
        along_sight = float(grow @ sight)
        # Less left unexplained wins; on a tie, growth along the line of sight; then
        # the first way (the seen longer side is the length).
        if best is None or left < best[0] - TIE_M or (
                left <= best[0] + TIE_M and along_sight > best[1] + 1e-6):
            best = (left, along_sight, grow)
    grow = best[2]
    if not grow.any():
        return None
    centre = np.array(centre, dtype=np.float64)
    size = size.copy()
    axes = _box_axes(yaw)
    for k in range(2):
        if grow[k] <= 0:
            continue
        plus, minus = open_m[k]
        # Evenly where both faces are open; what one side cannot take, the other does.
        up = min(plus, 0.5 * grow[k])
        down = min(minus, grow[k] - up)
        up = min(plus, grow[k] - down)
        centre[:2] += 0.5 * (up - down) * axes[k]
        size[k] += up + down
    if size[1] > size[0]:
        size[[0, 1]] = size[[1, 0]]
        yaw = yaw + math.pi / 2 if yaw <= 0 else yaw - math.pi / 2
    return centre, size, yaw
