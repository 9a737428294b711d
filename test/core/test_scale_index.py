"""The sub-linear paths of a keyframe at map scale (issue 18) against the straightforward
ones: the levelled neighbour grid against a scan of every disk, association on maps of
big objects (gates wider than a grid cell) against a map that scans every object, the
confirmed-object list patched per change against one rebuilt from every object, and the
cogmap's sync (passes in C, removals in chain order) against removals one by one."""

from __future__ import annotations

import math

import numpy as np
import pytest

import ssr_ros.core.objects as objects_module
from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.objects import ObjectMap, ObjectMapConfig, Observation
from ssr_ros.core.spatial_hash import SpatialHash
from ssr_ros.core.types import ObjectState

# Categories with sizes [m] up to a wardrobe: most gates are wider than a 2 m cell.
SIZES = {"chair": (0.5, 0.5, 0.9), "wardrobe": (1.2, 0.6, 2.0), "lamp": (0.35, 0.35, 1.5),
         "bookshelf": (0.9, 0.35, 1.8), "bed": (2.0, 1.6, 0.55), "vase": (0.15, 0.15, 0.3)}


def _brute(disks: dict[int, tuple[float, float, float]], x: float, y: float, r: float
           ) -> list[int]:
    """Keys whose disk meets the query disk, by looking at every disk."""
    return sorted(k for k, (cx, cy, cr) in disks.items()
                  if math.hypot(cx - x, cy - y) <= cr + r + 1e-9)


@pytest.mark.parametrize("levels", [1, 3, 12])
def test_levelled_grid_returns_what_a_scan_of_every_disk_returns(levels):
    rng = np.random.default_rng(levels)
    index = SpatialHash(cell_m=2.0, levels=levels)
    disks: dict[int, tuple[float, float, float]] = {}
    for step in range(3000):
        key = int(rng.integers(400))
        action = rng.uniform()
        if action < 0.6:
            # Radii from 0 to beyond the coarsest cell of 3 levels (8 m), centres on
            # both sides of the origin (negative cells).
            r = float(rng.choice([0.0, rng.uniform(0, 2), rng.uniform(2, 9),
                                  rng.uniform(9, 40)]))
            x, y = rng.uniform(-60, 60, 2)
            index.set(key, (x, y), r)
            disks[key] = (float(x), float(y), r)
        elif action < 0.7:
            index.remove(key)
            disks.pop(key, None)
        else:
            x, y = rng.uniform(-70, 70, 2)
            r = float(rng.choice([0.0, rng.uniform(0, 3), rng.uniform(3, 200)]))
            assert index.query((x, y), r) == _brute(disks, x, y, r), step
    assert len(index) == len(disks)
    assert all(k in index for k in disks)


def test_a_disk_just_reaching_the_query_is_found_on_every_level():
    index = SpatialHash(cell_m=2.0)
    # Radii that put the disks on levels 0..5; each centre exactly its radius away.
    for k, r in enumerate([0.5, 3.0, 7.5, 15.0, 31.0, 63.0]):
        assert index.level_of(r) == k
        index.set(k, (100.0 + r, -50.0), r)
    assert index.query((100.0, -50.0)) == list(range(6))
    assert index.query((99.9, -50.0)) == []
    assert index.level_of(2.0 * 2 ** 11) == 11 and index.level_of(2.0 * 2 ** 11 + 1) is None


def test_bad_grid_settings_and_items_are_refused():
    with pytest.raises(ValueError):
        SpatialHash(cell_m=0.0)
    with pytest.raises(ValueError):
        SpatialHash(levels=0)
    index = SpatialHash()
    for xy, r in (((math.nan, 0.0), 1.0), ((0.0, 0.0), -1.0), ((0.0, 0.0), math.inf)):
        with pytest.raises(ValueError):
            index.set(1, xy, r)
    assert len(index) == 0


class _ScanEverything:
    """A neighbour index that returns every object: what a map without one searches."""

    def __init__(self, cell_m: float) -> None:
        self._items: set[int] = set()

    def set(self, key, xy_m, radius_m) -> None:
        self._items.add(key)

    def remove(self, key) -> None:
        self._items.discard(key)

    def query(self, xy_m, radius_m=0.0):
        return sorted(self._items)


def _observe(label, centre, size, rng, camera, n=90) -> Observation:
    c, s = np.asarray(centre, float), np.asarray(size, float)
    pts = rng.uniform(-0.5, 0.5, (n, 3)) * s
    axis = rng.integers(0, 3, n)
    pts[np.arange(n), axis] = np.sign(rng.uniform(-1, 1, n)) * 0.5 * s[axis]
    pts += c
    lo, hi = pts.min(0), pts.max(0)
    return Observation(label, (lo + hi) / 2, hi - lo, 0.0, 0.9, pts, np.asarray(camera))


def _floor_walk(omap: ObjectMap, seed: int, keyframes: int = 70) -> tuple[list, list]:
    """Keyframes over a random floor of big and small objects, with near-duplicates and
    pieces; returns every keyframe's changes and the confirmed list after each."""
    rng = np.random.default_rng(seed)
    world = []
    for k in range(90):
        label = list(SIZES)[k % len(SIZES)]
        size = np.asarray(SIZES[label]) * rng.uniform(0.8, 1.2, 3)
        world.append((label, (rng.uniform(0, 40), rng.uniform(0, 12), size[2] / 2), size))
    history, lists = [], []
    for kf in range(keyframes):
        cam = (rng.uniform(0, 40), rng.uniform(0, 12), 1.5)
        seen = [w for w in world if math.hypot(w[1][0] - cam[0], w[1][1] - cam[1]) < 5.0]
        obs = [_observe(*w, rng, cam) for w in seen if rng.uniform() < 0.85]
        if seen and rng.uniform() < 0.3:     # a second detection of one object nearby
            label, centre, size = seen[0]
            obs.append(_observe(label, np.add(centre, (0.1, -0.05, 0.0)), size, rng, cam))
        history.append(omap.integrate(obs, float(kf), kf))
        if kf % 9 == 4 and len(omap):
            omap.backdate_first_seen(omap.objects()[0].id, -float(kf))
        if kf % 17 == 8 and len(omap) > 3:
            history.append(omap.remove(omap.objects()[2].id))
        lists.append(omap.objects())
    return history, lists


@pytest.mark.parametrize("seed", [11, 12])
def test_association_with_the_index_equals_a_scan_of_every_object(monkeypatch, seed):
    config = dict(max_objects=45, eviction_keep_radius_m=3.0)
    fast = ObjectMap(ObjectMapConfig(**config))
    fast_history, fast_lists = _floor_walk(fast, seed)
    # Most of these objects' gates are wider than one 2 m cell: the levels are used.
    assert any(fast._index.level_of(fast._gate_m(t)) > 0 for t in fast._tracks.values())
    monkeypatch.setattr(objects_module, "SpatialHash", _ScanEverything)
    slow = ObjectMap(ObjectMapConfig(**config))
    slow_history, slow_lists = _floor_walk(slow, seed)
    assert fast_history == slow_history
    assert any(c.merged for c in fast_history) and any(c.evicted for c in fast_history)
    assert fast.to_dict() == slow.to_dict()
    for a, b in zip(fast_lists, slow_lists):
        assert [(o.id, o.label, o.observation_count) for o in a] == \
            [(o.id, o.label, o.observation_count) for o in b]


def _rebuilt(omap: ObjectMap) -> list[ObjectState]:
    """The confirmed objects built from every track, as objects() did before."""
    return [t.state() for _, t in sorted(omap._tracks.items()) if t.confirmed]


def _same_states(a: list[ObjectState], b: list[ObjectState]) -> bool:
    return len(a) == len(b) and all(
        x.id == y.id and x.label == y.label and np.array_equal(x.center_m, y.center_m)
        and np.array_equal(x.size_m, y.size_m) and x.yaw_rad == y.yaw_rad
        and x.observation_count == y.observation_count and x.first_seen_s == y.first_seen_s
        and x.last_seen_s == y.last_seen_s for x, y in zip(a, b))


def test_confirmed_list_patched_per_change_equals_one_rebuilt_from_every_object():
    omap = ObjectMap(ObjectMapConfig(max_objects=40, eviction_keep_radius_m=3.0))
    original = ObjectMap.integrate
    checked = []

    def integrate_and_check(self, *args, **kwargs):
        changes = original(self, *args, **kwargs)
        listed = self.objects()
        assert _same_states(listed, _rebuilt(self))
        # Shared states: an object the keyframe did not change keeps its state object.
        if checked:
            before = {o.id: o for o in checked[-1]}
            touched = set(changes.updated) | set(changes.added)
            assert all(o is before[o.id] for o in listed
                       if o.id in before and o.id not in touched
                       and o.first_seen_s == before[o.id].first_seen_s)
        checked.append(listed)
        return changes

    ObjectMap.integrate = integrate_and_check
    try:
        _floor_walk(omap, seed=13)
    finally:
        ObjectMap.integrate = original
    assert len(checked) == 70 and max(len(c) for c in checked) >= 20
    omap.clear()
    assert omap.objects() == []


def _state(i: int, x: float, y: float) -> ObjectState:
    centre, size = np.array([x, y, 0.5]), np.array([0.5, 0.5, 1.0])
    centre.flags.writeable = size.flags.writeable = False
    return ObjectState(id=i, label="thing", center_m=centre, size_m=size)


def test_sync_removes_in_chain_order_as_removals_one_by_one_do():
    rng = np.random.default_rng(14)
    # Chain order differs from id order: ids enter shuffled.
    ids = [int(i) for i in rng.permutation(np.arange(1, 61))]
    states = {i: _state(i, *rng.uniform(0, 20, 2)) for i in ids}
    synced, by_hand = LocalCogMap(), LocalCogMap()
    for i in ids:
        synced.sync([states[j] for j in ids[:ids.index(i) + 1]])
        by_hand.add_object(states[i])
    for round_ in range(6):
        gone = {int(i) for i in rng.choice(synced.ids(), 5, replace=False)}
        moved = int(rng.choice([i for i in synced.ids() if i not in gone]))
        states[moved] = _state(moved, *rng.uniform(0, 20, 2))
        changes = synced.sync([states[i] for i in sorted(synced.ids()) if i not in gone])
        for i in [i for i in by_hand.ids() if i in gone]:
            by_hand.remove(i)
        by_hand.move(moved, states[moved].center_m[:2])
        assert synced.triplets() == by_hand.triplets(), round_
        assert changes.removed == [i for i in ids if i in gone]
        assert synced.check() == []


def test_victims_at_the_cap_are_the_first_of_the_whole_eviction_order():
    # A map with confirmed and tentative objects, seen from several cameras; the victims
    # chosen from the tentative objects alone must equal the policy's full order.
    rng = np.random.default_rng(15)
    omap = ObjectMap(ObjectMapConfig(max_objects=500, confirm_observations=3,
                                     eviction_keep_radius_m=4.0))
    _floor_walk(omap, seed=15, keyframes=40)
    tentative = sorted(omap._tentative)
    assert len(tentative) >= 5 and len(omap) >= 10
    for trial in range(40):
        protected = {int(i) for i in rng.choice(list(omap._tracks), 4, replace=False)}
        if trial % 3 == 0:
            protected |= set(tentative[: trial % len(tentative)])
        full = omap.eviction_order(protected)
        for count in [*range(1, len(tentative) + 3), len(full), len(full) + 1]:
            assert omap._victims(protected, count) == full[:count], (trial, count)


def test_engine_reads_the_compared_objects_as_arrays_of_the_whole_map_would():
    # The query engine no longer builds centre and radius arrays of every object when
    # the map changes; what it reads for the few objects an answer compares must be
    # bit for bit the rows of those whole-map arrays (the nearest instance and the
    # listing order depend on them).
    from ssr_ros.core import queries

    rng = np.random.default_rng(16)
    objs = [ObjectState(id=k + 1, label="chair", center_m=rng.uniform(-500, 500, 3),
                        size_m=rng.uniform(0, 1, 3) * 10.0 ** rng.uniform(-3, 2))
            for k in range(2000)]
    centres = np.array([o.center_m for o in objs]).reshape(-1, 3)
    radii = 0.5 * np.linalg.norm(np.array([o.size_m for o in objs]).reshape(-1, 3), axis=1)
    for size in (1, 2, 7, 250):
        rows = rng.choice(len(objs), size, replace=False)
        some = [objs[k] for k in rows]
        assert np.array_equal(queries._centres_m(some), centres[rows])
        assert np.array_equal(queries._radii_m(some), radii[rows])
    assert queries._centres_m([]).shape == (0, 3) and queries._radii_m([]).shape == (0,)
