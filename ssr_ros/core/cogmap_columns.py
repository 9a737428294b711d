"""The LocalCogMap chain as columns of numpy arrays: the fast form of a map file.

:meth:`LocalCogMap.to_dict` writes one record per object and link, which a building
floor of thousands of objects turns into tens of thousands of JSON numbers, parsed one by
one and checked by walking the chain in Python. The binary map file
(:mod:`ssr_ros.core.store`) packs arrays as they are, so the chain is saved as columns in
chain order (root first) and checked here with whole-array operations.

Keys (``n`` objects): ``layout`` ("columns"), ``columns_version``, ``schema_version``,
``reanchor_distance_m``, ``move_epsilon_m``; ``id`` (n,) int64; ``label`` (list of n
texts); ``xy_m`` (n, 2) [m, map frame]; ``z_m``, ``height_m`` (n,) [m]; per link
``anchor_a``, ``anchor_b`` (n,) int64, ``local_xy_m`` (n, 2) [m, the link's local
frame], ``cell``, ``cell_a``, ``cell_b`` (n, 2) int64 (col, row), ``cell_size_m`` (n,)
[m], ``axis_map`` (n,) bool (the link uses the map's axes, ``Triplet.axis == "map"``),
``exact`` (n,) bool.

The check equals :meth:`LocalCogMap.check`'s on a well-formed chain, link by link
instead of by a walk: the root's local coordinates are its position, the second object
hangs on the root, every later link has two distinct anchors placed before it, cells are
on the grid, and each link, applied to its anchors' stored positions, gives its
target's stored position within ``tolerance_m``.
"""

from __future__ import annotations

import numpy as np

from ssr_ros.core.triplets import AXIS_ANCHORS, AXIS_MAP, GRID_CELLS, Triplet

COLUMNS_VERSION = 1
"""Version of this layout."""


class CogMapColumnsError(ValueError):
    """Columns that do not form a valid chain (the message says which rule failed)."""


def links_to_columns(ids: list[int], links: list[Triplet]) -> dict:
    """Per-link columns of ``links`` (in the order of ``ids``, whose links they are)."""
    n = len(links)

    def pairs(name: str) -> np.ndarray:
        return np.array([getattr(t, name) for t in links], np.int64).reshape(n, 2)

    return {
        "anchor_a": np.array([t.anchor_a for t in links], np.int64),
        "anchor_b": np.array([t.anchor_b for t in links], np.int64),
        "local_xy_m": np.array([t.local_xy_m for t in links], np.float64).reshape(n, 2),
        "cell": pairs("cell"), "cell_a": pairs("cell_a"), "cell_b": pairs("cell_b"),
        "cell_size_m": np.array([t.cell_size_m for t in links], np.float64),
        "axis_map": np.array([t.axis == AXIS_MAP for t in links], bool),
        "exact": np.array([t.exact for t in links], bool),
    }


def _array(data: dict, name: str, dtype, shape: tuple[int, ...]) -> np.ndarray:
    value = data[name]
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise CogMapColumnsError(f"column {name} is not numeric ({value.dtype})")
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != shape:
        raise CogMapColumnsError(f"column {name} has shape {arr.shape}, expected {shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise CogMapColumnsError(f"column {name} holds a non-finite number")
    return arr


def read_columns(data: dict, tolerance_m: float = 1e-6) -> dict:
    """The checked columns of ``data`` (module docstring) as arrays, plus ``links``: the
    :class:`Triplet` of each object in chain order. Raises :class:`CogMapColumnsError`
    (or KeyError/TypeError for a missing or mistyped entry)."""
    if data.get("columns_version") != COLUMNS_VERSION:
        raise CogMapColumnsError(f"unsupported cogmap columns version "
                                 f"{data.get('columns_version')!r}")
    ids = _array(data, "id", np.int64, (len(data["id"]),))
    n = len(ids)
    col = {"id": ids}
    for name in ("xy_m", "local_xy_m"):
        col[name] = _array(data, name, np.float64, (n, 2))
    for name in ("z_m", "height_m", "cell_size_m"):
        col[name] = _array(data, name, np.float64, (n,))
    for name in ("anchor_a", "anchor_b"):
        col[name] = _array(data, name, np.int64, (n,))
    for name in ("cell", "cell_a", "cell_b"):
        col[name] = _array(data, name, np.int64, (n, 2))
    for name in ("axis_map", "exact"):
        col[name] = _array(data, name, bool, (n,))
    labels = data["label"]
    if not isinstance(labels, list) or len(labels) != n \
            or not all(isinstance(s, str) for s in labels):
        raise CogMapColumnsError(f"label must be a list of {n} texts")
    col["label"] = labels
    _check_chain(col, tolerance_m)
    col["links"] = _links(col)
    return col


def _check_chain(col: dict, tolerance_m: float) -> None:
    ids, a, b = col["id"], col["anchor_a"], col["anchor_b"]
    n = len(ids)
    if len(np.unique(ids)) != n:
        raise CogMapColumnsError("duplicate object id")
    for name in ("cell", "cell_a", "cell_b"):
        if np.any((col[name] < 0) | (col[name] >= GRID_CELLS)):
            raise CogMapColumnsError(f"a {name} is off the {GRID_CELLS} x {GRID_CELLS} grid")
    if n == 0:
        return
    root = ids[0]
    if a[0] != root or b[0] != root:
        raise CogMapColumnsError("the first link is not the root")
    if n > 1 and (a[1] != root or b[1] != root):
        raise CogMapColumnsError("the second link is not anchored on the root")
    # Chain positions of the anchors: each must be an earlier object.
    order = np.argsort(ids)
    pos_a = order[np.clip(np.searchsorted(ids[order], a), 0, n - 1)]
    pos_b = order[np.clip(np.searchsorted(ids[order], b), 0, n - 1)]
    k = np.arange(n)
    later = k >= 2
    if np.any(later & ((ids[pos_a] != a) | (ids[pos_b] != b) | (pos_a >= k) | (pos_b >= k)
                       | (a == b))):
        raise CogMapColumnsError("a triplet's anchors are not two distinct objects placed "
                                 "before it")
    if np.any((a == ids)[1:]) or np.any((b == ids)[1:]):
        raise CogMapColumnsError("only the root may anchor on itself")
    # Each link applied to its anchors' stored positions must give its target's.
    xy = col["xy_m"]
    pa, pb = xy[pos_a], xy[pos_b]
    d = pb - pa
    norm = np.hypot(d[:, 0], d[:, 1])
    use_ab = ~col["axis_map"] & (norm > 0.0)
    ex = np.where(use_ab[:, None], d / np.where(norm > 0.0, norm, 1.0)[:, None],
                  np.array([1.0, 0.0]))
    ey = np.stack([-ex[:, 1], ex[:, 0]], axis=1)
    local = col["local_xy_m"]
    placed = pa + local[:, :1] * ex + local[:, 1:] * ey
    placed[0] = local[0]
    err = np.hypot(*(placed - xy).T)
    if np.any(err > tolerance_m):
        worst = int(np.argmax(err))
        raise CogMapColumnsError(f"link of {int(ids[worst])} places it {err[worst]:.3g} m "
                                 "from its stored position")


def _links(col: dict) -> list[Triplet]:
    axis = np.where(col["axis_map"], AXIS_MAP, AXIS_ANCHORS).tolist()
    cells = [list(map(tuple, col[name].tolist())) for name in ("cell", "cell_a", "cell_b")]
    return [Triplet(t, a, b, tuple(xy), c, s, ca, cb, ax, ex)
            for t, a, b, xy, c, s, ca, cb, ax, ex in zip(
                col["id"].tolist(), col["anchor_a"].tolist(), col["anchor_b"].tolist(),
                col["local_xy_m"].tolist(), cells[0], col["cell_size_m"].tolist(),
                cells[1], cells[2], axis, col["exact"].tolist())]
