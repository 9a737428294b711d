"""LocalCogMap: the object map as an incrementally built chain of local triplets.

Definition (see ``design.md``): objects enter the chain in the order the map confirms
them. The first is the root, the second is placed relative to the root (map axes), and
every later object C is a triplet (A, B -> C) whose anchors A and B are the two objects
nearest to C (bird's-eye distance, ties by chain order) among those placed before C.
Each link stores C's exact local coordinates and its cell on a 10 x 10 grid
(:mod:`ssr_ros.core.triplets`); :mod:`ssr_ros.core.cogmap_text` gives the text form.

Incremental rules (ids are the object map's ids and never change):

- add: the new object is appended and anchored; nothing else changes.
- move: the object's own link and the links that use it as an anchor are recomputed.
  A move of at least ``reanchor_distance_m`` also re-chooses their anchors (nearest
  earlier objects); a smaller one keeps the anchors and only refreshes coordinates and
  cells; a move under ``move_epsilon_m`` changes nothing.
- remove: links that used the object as an anchor are re-anchored; when it was the root
  or the second object, the new first two links are rebuilt as root and second.
- a merge in the object map reaches the chain through :meth:`sync` as a remove of the
  absorbed object and a move of the kept one.

So anchors always come before their target in the chain (the chain is acyclic and every
object has exactly one link), and walking the chain from the root reproduces every
position to float precision. Anchors are the nearest ones at the time a link was last
built, not necessarily at present.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import compress, islice, repeat
from operator import attrgetter, is_not
from typing import Iterable

import numpy as np

from ssr_ros.core.cogmap_columns import (COLUMNS_VERSION, CogMapColumnsError,
                                         links_to_columns, read_columns)
from ssr_ros.core.cogmap_text import (ParseResult, format_chain, parse_cogmap_text,
                                      reconstruct_links, sanitize_label)
from ssr_ros.core.triplets import GRID_CELLS, Triplet, make_triplet
from ssr_ros.core.types import ObjectState

__all__ = ["CogMapChanges", "CogMapError", "CogMapFormatError", "CogMapInputError",
           "LocalCogMap", "ParseResult", "ReconstructionReport", "TextCheck", "Triplet",
           "check_text_against_objects", "parse_cogmap_text"]

SCHEMA_VERSION = 1

_ID = attrgetter("id")


class CogMapError(ValueError):
    """Base of the LocalCogMap errors."""


class CogMapInputError(CogMapError):
    """An object to add/move/remove is invalid (unknown or duplicate id, non-finite
    position); the map is left unchanged."""


class CogMapFormatError(CogMapError):
    """A dict or text to rebuild a LocalCogMap from is malformed or inconsistent."""


@dataclass
class CogMapChanges:
    """What an update did: ids added, moved, removed, relabelled, and the targets whose
    links were rebuilt (``relinked``; includes added and moved objects)."""

    added: list[int] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    relabelled: list[int] = field(default_factory=list)
    relinked: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.moved or self.removed or self.relabelled
                    or self.relinked)

    def extend(self, other: "CogMapChanges") -> "CogMapChanges":
        for name in ("added", "moved", "removed", "relabelled", "relinked"):
            mine = getattr(self, name)
            mine.extend(i for i in getattr(other, name) if i not in mine)
        self.relinked = [i for i in self.relinked if i not in self.removed]
        return self


@dataclass(frozen=True)
class ReconstructionReport:
    """Errors [m] of the chain walked from the root against reference positions.

    ``exact``: local coordinates; ``grid``: cell centres in exactly placed anchor frames
    (bounded by ``max_cell_size_m * sqrt(2) / 2``); ``grid_walk``: cells only, errors
    accumulate along the chain. ``missing``: reference ids not in the chain.
    """

    count: int
    max_exact_m: float
    mean_exact_m: float
    max_grid_m: float
    mean_grid_m: float
    max_grid_walk_m: float
    mean_grid_walk_m: float
    max_cell_size_m: float
    grid_within_bound: bool
    missing: tuple[int, ...] = ()


def _finite_xy(xy, what: str) -> np.ndarray:
    arr = np.asarray(xy, dtype=np.float64).reshape(-1)
    if arr.shape[0] < 2 or not np.all(np.isfinite(arr[:2])):
        raise CogMapInputError(f"{what}: position must be finite (x, y), got {xy!r}")
    return arr[:2].copy()


def _object_id(value) -> int:
    # bool is an int subclass, but True as an object id is always a caller's mistake.
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise CogMapInputError(f"object id must be an int, got {value!r:.40}")
    return int(value)


class LocalCogMap:
    """Chain of local triplets over bird's-eye object positions (map frame, metres).

    ``reanchor_distance_m``: moves at least this long re-choose anchors (see module
    docstring); ``move_epsilon_m``: moves shorter than this are ignored.
    Insertion and updates cost O(n) vectorised numpy for the nearest-anchor search and
    O(k) Python for the k affected links.
    """

    def __init__(self, reanchor_distance_m: float = 0.05,
                 move_epsilon_m: float = 1e-9) -> None:
        if not (0.0 <= reanchor_distance_m < math.inf and 0.0 <= move_epsilon_m < math.inf):
            # Finite too: the settings are saved in the map file, which holds no inf.
            raise CogMapInputError("reanchor_distance_m and move_epsilon_m must be finite "
                                   "and >= 0")
        self.reanchor_distance_m = float(reanchor_distance_m)
        self.move_epsilon_m = float(move_epsilon_m)
        self._version = 0
        self.clear()

    # ---- state -------------------------------------------------------------------------
    def clear(self) -> None:
        """Forget every object."""
        self._bump()
        self._slot: dict[int, int] = {}          # id -> array slot; insertion = chain order
        # id -> the immutable state a sync applied last (skipped while it comes again).
        self._applied: dict[int, ObjectState] = {}
        self._links: dict[int, Triplet] = {}
        # anchor -> targets; immutable values, replaced on change, so copy() shares them.
        self._dependents: dict[int, frozenset[int]] = {}
        self._label: dict[int, str] = {}
        self._z_m: dict[int, float] = {}
        self._height_m: dict[int, float] = {}
        self._xy = np.zeros((16, 2))
        self._rank = np.zeros(16, dtype=np.int64)
        self._alive = np.zeros(16, dtype=bool)
        self._ids = np.zeros(16, dtype=np.int64)
        self._used = 0
        self._free: list[int] = []
        self._next_rank = 0

    def _bump(self) -> None:
        # Every change of the chain, labels or height attributes goes through a method
        # that calls this, so an equal version means an equal map (see ``version``).
        self._version += 1

    @property
    def version(self) -> int:
        """Increases with every change of this map (add, move, remove, sync, clear); a
        reader that kept a :meth:`copy` at version v may reuse it while ``version == v``."""
        return self._version

    def copy(self) -> "LocalCogMap":
        """An independent copy (same chain, labels, attributes, settings, version) in
        O(n) dict and array copies: links are immutable :class:`Triplet` s and shared,
        nothing is re-validated (this map's invariants already hold). What a reader's
        snapshot takes after each change, instead of ``from_dict(to_dict())``."""
        new = LocalCogMap.__new__(LocalCogMap)
        new.reanchor_distance_m = self.reanchor_distance_m
        new.move_epsilon_m = self.move_epsilon_m
        new._version = self._version
        new._slot = dict(self._slot)
        new._applied = dict(self._applied)
        new._links = dict(self._links)
        new._dependents = dict(self._dependents)
        new._label = dict(self._label)
        new._z_m = dict(self._z_m)
        new._height_m = dict(self._height_m)
        new._xy = self._xy.copy()
        new._rank = self._rank.copy()
        new._alive = self._alive.copy()
        new._ids = self._ids.copy()
        new._used = self._used
        new._free = list(self._free)
        new._next_rank = self._next_rank
        return new

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._slot

    def ids(self) -> list[int]:
        """Object ids in chain order (root first)."""
        return list(self._slot)

    def label(self, object_id: int) -> str:
        return self._label[object_id]

    def labels(self) -> dict[int, str]:
        return dict(self._label)

    def position_xy(self, object_id: int) -> np.ndarray:
        """Stored bird's-eye position (2,) [m] of ``object_id`` (KeyError if unknown)."""
        return self._xy[self._slot[object_id]].copy()

    def positions(self) -> dict[int, np.ndarray]:
        """Stored bird's-eye positions, id -> (2,) [m], in chain order."""
        return {i: self._xy[s].copy() for i, s in self._slot.items()}

    def attributes(self, object_id: int) -> dict[str, float]:
        """Height attributes kept beside the BEV chain: centre z and box height [m]."""
        return {"z_m": self._z_m[object_id], "height_m": self._height_m[object_id]}

    def link(self, object_id: int) -> Triplet:
        """The link that places ``object_id`` (KeyError if unknown)."""
        return self._links[object_id]

    def triplets(self) -> list[Triplet]:
        """All links in chain order: root (anchors = itself), second object (both anchors
        = root), then the triplets (A, B -> C)."""
        return list(map(self._links.__getitem__, self._slot))

    def dependents(self, object_id: int) -> set[int]:
        """Targets whose links use ``object_id`` as an anchor."""
        return set(self._dependents.get(object_id, ()))

    # ---- slots and the nearest-anchor search --------------------------------------------
    def _alloc(self, object_id: int, xy: np.ndarray) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            if self._used == self._xy.shape[0]:
                grow = self._xy.shape[0]
                self._xy = np.concatenate([self._xy, np.zeros((grow, 2))])
                self._rank = np.concatenate([self._rank, np.zeros(grow, dtype=np.int64)])
                self._alive = np.concatenate([self._alive, np.zeros(grow, dtype=bool)])
                self._ids = np.concatenate([self._ids, np.zeros(grow, dtype=np.int64)])
            slot = self._used
            self._used += 1
        self._xy[slot] = xy
        self._rank[slot] = self._next_rank
        self._next_rank += 1
        self._alive[slot] = True
        self._ids[slot] = object_id
        self._slot[object_id] = slot
        return slot

    def _nearest_two(self, object_id: int) -> tuple[int, int]:
        slot = self._slot[object_id]
        n = self._used
        cand = np.flatnonzero(self._alive[:n] & (self._rank[:n] < self._rank[slot]))
        d = self._xy[cand] - self._xy[slot]
        d2 = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]
        if cand.shape[0] > 2:
            keep = d2 <= np.partition(d2, 1)[1]
            cand, d2 = cand[keep], d2[keep]
        best = cand[np.lexsort((self._rank[cand], d2))[:2]]
        return int(self._ids[best[0]]), int(self._ids[best[1]])

    def _link_dependent(self, anchor: int, target: int) -> None:
        self._dependents[anchor] = self._dependents.get(anchor, frozenset()) | {target}

    def _unlink_dependent(self, anchor: int, target: int) -> None:
        deps = self._dependents.get(anchor)
        if deps is not None and target in deps:
            self._dependents[anchor] = deps - {target}

    def _relink(self, object_id: int, choose_anchors: bool) -> None:
        first_two = list(islice(self._slot, 2))
        xy = self._xy[self._slot[object_id]]
        old = self._links.get(object_id)
        if object_id == first_two[0]:
            new = make_triplet(object_id, xy)
        elif object_id == first_two[1]:
            root = first_two[0]
            new = make_triplet(object_id, xy, root, self._xy[self._slot[root]])
        else:
            if choose_anchors or old is None or len(old.anchors) != 2:
                a, b = self._nearest_two(object_id)
            else:
                a, b = old.anchor_a, old.anchor_b
            new = make_triplet(object_id, xy, a, self._xy[self._slot[a]], b,
                               self._xy[self._slot[b]])
        if old is not None:
            for anchor in old.anchors:
                self._unlink_dependent(anchor, object_id)
        for anchor in new.anchors:
            self._link_dependent(anchor, object_id)
        self._links[object_id] = new

    def _by_rank(self, ids: Iterable[int]) -> list[int]:
        return sorted(ids, key=lambda i: self._rank[self._slot[i]])

    # ---- updates -----------------------------------------------------------------------
    def add(self, object_id: int, xy_m, label: str = "object", z_m: float = 0.0,
            height_m: float = 0.0) -> CogMapChanges:
        """Append ``object_id`` at bird's-eye ``xy_m`` (2,) [m] and anchor it.

        Raises :class:`CogMapInputError` for a known id or a non-finite position.
        """
        xy = _finite_xy(xy_m, f"object {object_id}")
        object_id = _object_id(object_id)
        if object_id in self._slot:
            raise CogMapInputError(f"object {object_id} is already in the cogmap")
        self._bump()
        self._alloc(object_id, xy)
        self._label[object_id] = str(label)
        self._z_m[object_id] = float(z_m)
        self._height_m[object_id] = float(height_m)
        self._relink(object_id, True)
        return CogMapChanges(added=[object_id], relinked=[object_id])

    def add_object(self, obj: ObjectState) -> CogMapChanges:
        """:meth:`add` from an :class:`ObjectState` (centre and height of its box)."""
        return self.add(obj.id, obj.center_m[:2], obj.label, float(obj.center_m[2]),
                        float(obj.size_m[2]))

    def move(self, object_id: int, xy_m, z_m: float | None = None,
             height_m: float | None = None) -> CogMapChanges:
        """Move ``object_id`` to ``xy_m`` (2,) [m]; rebuilds its link and its dependents'
        (see module docstring for when anchors are re-chosen)."""
        if object_id not in self._slot:
            raise CogMapInputError(f"object {object_id} is not in the cogmap")
        xy = _finite_xy(xy_m, f"object {object_id}")
        self._bump()
        # A move by hand overrides the state a sync applied: the next sync applies it again.
        self._applied.pop(object_id, None)
        if z_m is not None:
            self._z_m[object_id] = float(z_m)
        if height_m is not None:
            self._height_m[object_id] = float(height_m)
        slot = self._slot[object_id]
        dist_m = math.hypot(*(xy - self._xy[slot]))
        if dist_m <= self.move_epsilon_m:
            return CogMapChanges()
        self._xy[slot] = xy
        choose = dist_m >= self.reanchor_distance_m
        touched = [object_id] + self._by_rank(self._dependents.get(object_id, ()))
        for target in touched:
            self._relink(target, choose)
        return CogMapChanges(moved=[object_id], relinked=touched)

    def remove(self, object_id: int) -> CogMapChanges:
        """Remove ``object_id``; re-anchors the links that used it."""
        if object_id not in self._slot:
            raise CogMapInputError(f"object {object_id} is not in the cogmap")
        self._bump()
        self._applied.pop(object_id, None)
        was_leading = object_id in islice(self._slot, 2)
        dependents = self._dependents.pop(object_id, frozenset())
        for anchor in self._links.pop(object_id).anchors:
            self._unlink_dependent(anchor, object_id)
        slot = self._slot.pop(object_id)
        self._alive[slot] = False
        self._free.append(slot)
        for table in (self._label, self._z_m, self._height_m):
            del table[object_id]
        touched = list(islice(self._slot, 2)) if was_leading else []
        touched += [d for d in self._by_rank(dependents) if d not in touched]
        for target in touched:
            self._relink(target, True)
        return CogMapChanges(removed=[object_id], relinked=touched)

    def sync(self, objects: Iterable[ObjectState]) -> CogMapChanges:
        """Make the chain match ``objects`` (the object map's current list).

        Objects missing from the list are removed, known ones moved (when displaced by
        more than ``move_epsilon_m``) and relabelled, new ones appended in list order.
        Validates everything first: on bad input raises :class:`CogMapInputError` and
        changes nothing.

        A state with read-only ``center_m`` and ``size_m`` (the object map shares such
        states, unchanged until it replaces them) that was applied by an earlier sync and
        not overridden since by :meth:`move` is skipped: a keyframe's sync costs the
        objects it changed, not every object of the map. Do not modify such a state in
        place (its arrays say so).
        """
        # The passes over every object run in C (map, compress, set operations): with
        # thousands of objects and a few changed per keyframe, a loop in Python here
        # was most of a keyframe's sync.
        objs = list(objects)
        if not all(map(isinstance, objs, repeat(ObjectState))):
            bad = next(obj for obj in objs if not isinstance(obj, ObjectState))
            raise CogMapInputError(f"sync expects ObjectState, got {type(bad).__name__}")
        ids = list(map(_ID, objs))
        try:
            fresh = list(compress(objs, map(is_not, map(self._applied.get, ids), objs)))
        except TypeError:       # an unhashable id: refused below like any other bad id
            fresh = objs
        # Every check runs before the first removal, so bad input leaves the chain as it was.
        for obj in fresh:
            _object_id(obj.id)
        incoming = set(ids)
        if len(incoming) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise CogMapInputError(f"duplicate object id {dup} in sync input")
        centres = np.array([obj.center_m for obj in fresh]).reshape(-1, 3)
        if not np.all(np.isfinite(centres[:, :2])):
            bad = fresh[int(np.flatnonzero(~np.isfinite(centres[:, :2]).all(axis=1))[0])]
            raise CogMapInputError(f"object {bad.id}: position must be finite (x, y)")
        self._bump()
        changes = CogMapChanges()
        # In chain order (the order of ``_slot``, which is the order of rank).
        for gone in self._by_rank(self._slot.keys() - incoming):
            changes.extend(self.remove(gone))
        slots = [self._slot.get(int(obj.id), -1) for obj in fresh]
        known = [k for k, slot in enumerate(slots) if slot >= 0]
        if known:
            shift_m = np.hypot(*(centres[known, :2] - self._xy[[slots[k] for k in known]]).T)
            for k, dist_m in zip(known, shift_m.tolist()):
                obj = fresh[k]
                oid = int(obj.id)
                self._z_m[oid] = float(obj.center_m[2])
                self._height_m[oid] = float(obj.size_m[2])
                if self._label[oid] != obj.label:
                    self._label[oid] = obj.label
                    changes.relabelled.append(oid)
                if dist_m > self.move_epsilon_m:
                    changes.extend(self.move(oid, centres[k, :2]))
        for k, slot in enumerate(slots):
            if slot < 0:
                changes.extend(self.add_object(fresh[k]))
        for obj in fresh:
            if not (obj.center_m.flags.writeable or obj.size_m.flags.writeable):
                self._applied[int(obj.id)] = obj
        return changes

    # ---- reading the chain ---------------------------------------------------------------
    def reconstruct(self, mode: str = "exact") -> dict[int, np.ndarray]:
        """Positions id -> (2,) [m] by walking the chain; ``mode`` as in
        :func:`ssr_ros.core.cogmap_text.reconstruct_links` (exact, grid, grid_walk)."""
        return reconstruct_links(self.triplets(), mode)

    def reconstruction_error(self, objects: Iterable[ObjectState] | None = None
                             ) -> ReconstructionReport:
        """Reconstruction errors against ``objects`` (their box centres' xy), or against
        the stored positions when ``objects`` is None."""
        if objects is None:
            reference = self.positions()
        else:
            reference = {o.id: np.asarray(o.center_m[:2], dtype=np.float64) for o in objects}
        ids = [i for i in reference if i in self._slot]
        missing = tuple(i for i in reference if i not in self._slot)
        stats = []
        for mode in ("exact", "grid", "grid_walk"):
            pos = self.reconstruct(mode)
            err = np.array([np.hypot(*(pos[i] - reference[i])) for i in ids]) if ids \
                else np.zeros(0)
            stats.append((float(err.max()) if err.size else 0.0,
                          float(err.mean()) if err.size else 0.0, err))
        sizes = {i: self._links[i].cell_size_m for i in ids}
        bound_ok = all(stats[1][2][k] <= sizes[i] * math.sqrt(0.5) + 1e-9 + stats[0][2][k]
                       for k, i in enumerate(ids))
        return ReconstructionReport(len(ids), stats[0][0], stats[0][1], stats[1][0],
                                    stats[1][1], stats[2][0], stats[2][1],
                                    max(sizes.values(), default=0.0), bound_ok, missing)

    def check(self, tolerance_m: float = 1e-6) -> list[str]:
        """Invariant violations (empty when healthy): every object has one link, the
        first is the root and the second anchored on it, anchors precede their target,
        cells are on the grid, dependents agree, exact walk within ``tolerance_m``."""
        problems = []
        if set(self._links) != set(self._slot):
            problems.append("links and objects differ")
            return problems
        order = {i: k for k, i in enumerate(self._slot)}
        for k, target in enumerate(self._slot):
            link = self._links[target]
            if (k == 0) != link.is_root or (k == 1) != link.is_second:
                problems.append(f"link of {target} has the wrong kind for position {k}")
            for anchor in link.anchors:
                if anchor not in order or order[anchor] >= k:
                    problems.append(f"anchor {anchor} of {target} is not placed before it")
                elif target not in self._dependents.get(anchor, ()):
                    problems.append(f"{target} missing from dependents of {anchor}")
            if k >= 2 and len(set(link.anchors)) != 2:
                problems.append(f"triplet of {target} needs two distinct anchors")
            for cell in (link.cell, link.cell_a, link.cell_b):
                if not all(0 <= c < GRID_CELLS for c in cell):
                    problems.append(f"cell {cell} of {target} off the grid")
        for anchor, deps in self._dependents.items():
            for d in deps:
                if d not in self._links or anchor not in self._links[d].anchors:
                    problems.append(f"stale dependent {d} of {anchor}")
        if not problems and self._slot:
            pos = self.reconstruct("exact")
            worst = max(np.hypot(*(pos[i] - self._xy[s])) for i, s in self._slot.items())
            if worst > tolerance_m:
                problems.append(f"exact reconstruction off by {worst:.3g} m")
        return problems

    # ---- text and dict forms -------------------------------------------------------------
    def to_text(self, exact: bool = True) -> str:
        """Text form (grammar in :mod:`ssr_ros.core.cogmap_text`); deterministic.
        ``exact=False`` leaves out the exact coordinates (grid only)."""
        return format_chain(self.triplets(), self._label, exact)

    @classmethod
    def from_links(cls, links: list[Triplet], labels: dict[int, str],
                   **kwargs) -> "LocalCogMap":
        """A map holding ``links`` verbatim, positions from the exact walk."""
        cogmap = cls(**kwargs)
        try:
            positions = reconstruct_links(links, "exact")
            for link in links:
                if link.target in cogmap._slot:
                    raise CogMapFormatError(f"duplicate id {link.target}")
                if not np.all(np.isfinite(positions[link.target])):
                    # Finite but huge coordinates can overflow along the chain.
                    raise CogMapFormatError(f"object {link.target}: position is not finite")
                cogmap._alloc(link.target, positions[link.target])
                cogmap._label[link.target] = str(labels[link.target])
                cogmap._z_m[link.target] = 0.0
                cogmap._height_m[link.target] = 0.0
                cogmap._links[link.target] = link
                for anchor in link.anchors:
                    cogmap._link_dependent(anchor, link.target)
        except CogMapFormatError:
            raise
        except (KeyError, ValueError, TypeError, OverflowError) as err:
            raise CogMapFormatError(f"inconsistent links: {err!r}") from err
        problems = cogmap.check()
        if problems:
            raise CogMapFormatError("inconsistent links: " + "; ".join(problems[:5]))
        return cogmap

    @classmethod
    def from_text(cls, text: str, **kwargs) -> "LocalCogMap":
        """Parse ``text`` strictly; raises :class:`CogMapFormatError` listing every error."""
        result = parse_cogmap_text(text)
        if not result.ok:
            raise CogMapFormatError("; ".join(str(e) for e in result.errors))
        return cls.from_links(result.links, result.labels, **kwargs)

    def to_dict(self) -> dict:
        """JSON-ready form: settings, objects (id, label, xy, z, height) and links."""
        return {
            "schema_version": SCHEMA_VERSION,
            "reanchor_distance_m": self.reanchor_distance_m,
            "move_epsilon_m": self.move_epsilon_m,
            "objects": [{"id": i, "label": self._label[i],
                         "xy_m": [float(v) for v in self._xy[s]],
                         "z_m": self._z_m[i], "height_m": self._height_m[i]}
                        for i, s in self._slot.items()],
            "links": [self._links[i].to_dict() for i in self._slot],
        }

    def to_columns(self) -> dict:
        """The chain as columns of numpy arrays in chain order (the fast form to save in
        a binary map file; layout in :mod:`ssr_ros.core.cogmap_columns`);
        :meth:`from_dict` reads it."""
        ids = list(self._slot)
        slots = np.array([self._slot[i] for i in ids], np.int64)
        return {
            "layout": "columns", "columns_version": COLUMNS_VERSION,
            "schema_version": SCHEMA_VERSION,
            "reanchor_distance_m": self.reanchor_distance_m,
            "move_epsilon_m": self.move_epsilon_m,
            "id": np.array(ids, np.int64), "label": [self._label[i] for i in ids],
            "xy_m": self._xy[slots].reshape(-1, 2),
            "z_m": np.array([self._z_m[i] for i in ids], np.float64),
            "height_m": np.array([self._height_m[i] for i in ids], np.float64),
            **links_to_columns(ids, [self._links[i] for i in ids]),
        }

    @classmethod
    def _from_columns(cls, data: dict) -> "LocalCogMap":
        """A map from :meth:`to_columns` output, checked with whole-array operations."""
        col = read_columns(data)
        cogmap = cls(float(data["reanchor_distance_m"]), float(data["move_epsilon_m"]))
        n = len(col["id"])
        ids = col["id"].tolist()
        capacity = max(16, n)
        cogmap._xy = np.zeros((capacity, 2))
        cogmap._xy[:n] = col["xy_m"]
        cogmap._rank = np.arange(capacity, dtype=np.int64)
        cogmap._alive = np.arange(capacity) < n
        cogmap._ids = np.zeros(capacity, dtype=np.int64)
        cogmap._ids[:n] = col["id"]
        cogmap._used = cogmap._next_rank = n
        cogmap._slot = dict(zip(ids, range(n)))
        cogmap._links = dict(zip(ids, col["links"]))
        cogmap._label = dict(zip(ids, col["label"]))
        cogmap._z_m = dict(zip(ids, col["z_m"].tolist()))
        cogmap._height_m = dict(zip(ids, col["height_m"].tolist()))
        for link in col["links"]:
            for anchor in link.anchors:
                cogmap._link_dependent(anchor, link.target)
        return cogmap

    @classmethod
    def from_dict(cls, data: dict) -> "LocalCogMap":
        """Inverse of :meth:`to_dict` and :meth:`to_columns` (told apart by ``layout``);
        raises :class:`CogMapFormatError` when malformed."""
        try:
            if data.get("layout") == "columns":
                if data["schema_version"] != SCHEMA_VERSION:
                    raise CogMapFormatError("unsupported cogmap schema "
                                            f"{data['schema_version']!r}")
                return cls._from_columns(data)
            if data["schema_version"] != SCHEMA_VERSION:
                raise CogMapFormatError(f"unsupported cogmap schema {data['schema_version']!r}")
            cogmap = cls(float(data["reanchor_distance_m"]), float(data["move_epsilon_m"]))
            links = [Triplet.from_dict(d) for d in data["links"]]
            objs = data["objects"]
            if [int(o["id"]) for o in objs] != [t.target for t in links]:
                raise CogMapFormatError("objects and links are not in the same order")
            for obj, link in zip(objs, links):
                xy = _finite_xy(obj["xy_m"], f"object {obj['id']}")
                z_m, height_m = float(obj["z_m"]), float(obj["height_m"])
                if not (math.isfinite(z_m) and math.isfinite(height_m)):
                    # A non-finite value read here would make every later save fail.
                    raise CogMapFormatError(f"object {obj['id']}: z_m and height_m must be "
                                            "finite")
                if link.target in cogmap._slot:
                    raise CogMapFormatError(f"duplicate id {link.target}")
                cogmap._alloc(link.target, xy)
                cogmap._label[link.target] = str(obj["label"])
                cogmap._z_m[link.target] = z_m
                cogmap._height_m[link.target] = height_m
                cogmap._links[link.target] = link
                for anchor in link.anchors:
                    cogmap._link_dependent(anchor, link.target)
        except CogMapFormatError:
            raise
        except CogMapColumnsError as err:
            raise CogMapFormatError(f"inconsistent cogmap columns: {err}") from err
        except (KeyError, ValueError, TypeError, IndexError, OverflowError,
                AttributeError) as err:
            # CogMapInputError (a ValueError) lands here too: in a dict it is a format error.
            raise CogMapFormatError(f"malformed cogmap dict: {err!r}") from err
        problems = cogmap.check()
        if problems:
            raise CogMapFormatError("inconsistent cogmap dict: " + "; ".join(problems[:5]))
        return cogmap


@dataclass(frozen=True)
class TextCheck:
    """A parsed chain (for instance one a language model wrote) against the metric map.

    ``errors_m``: id -> BEV distance [m] between the chain's and the map's position;
    ``label_mismatches``: ids whose text label differs from the map's; ``unknown_ids``:
    in the text, not in the map; ``missing_ids``: in the map, not in the text. Without
    exact coordinates on the root line, the chain is translated so its root sits on the
    map's object (a text from cells alone fixes the layout only up to that offset).
    """

    errors_m: dict[int, float]
    label_mismatches: tuple[int, ...]
    unknown_ids: tuple[int, ...]
    missing_ids: tuple[int, ...]

    @property
    def max_error_m(self) -> float:
        return max(self.errors_m.values(), default=0.0)


def check_text_against_objects(result: ParseResult, objects: Iterable[ObjectState]
                               ) -> TextCheck:
    """Compare the accepted links of ``result`` with ``objects`` (see :class:`TextCheck`)."""
    by_id = {o.id: o for o in objects}
    positions = reconstruct_links(result.links, "exact") if result.links else {}
    offset = np.zeros(2)
    if result.links:
        root = result.links[0]
        if not root.exact and root.target in by_id:
            offset = by_id[root.target].center_m[:2] - positions[root.target]
    errors = {i: float(np.hypot(*(p + offset - by_id[i].center_m[:2])))
              for i, p in positions.items() if i in by_id}
    mismatched = tuple(i for i in positions if i in by_id
                       and sanitize_label(by_id[i].label) != result.labels[i])
    return TextCheck(errors, mismatched, tuple(i for i in positions if i not in by_id),
                     tuple(i for i in by_id if i not in positions))
