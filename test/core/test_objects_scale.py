"""ObjectMap at scale: the object cap and its eviction policy, the LocalCogMap chain after
evictions, neighbour search equal to a scan of every object, work per keyframe that does
not grow with the map, and the columnar form (large maps, old files)."""

from __future__ import annotations

import numpy as np
import pytest

import ssr_ros.core.objects as objects_module
from ssr_ros.core import store
from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.objects import (ObjectMap, ObjectMapConfig, ObjectMapFormatError,
                                  Observation)

CATEGORIES = ("chair", "table", "lamp", "plant", "cabinet", "stool")


def observe(label: str, center, size, rng: np.random.Generator, camera, n: int = 120
            ) -> Observation:
    """One view of an axis-aligned box: points on its faces, the camera at ``camera``."""
    c, s = np.asarray(center, float), np.asarray(size, float)
    pts = rng.uniform(-0.5, 0.5, size=(n, 3)) * s
    axis = rng.integers(0, 3, n)
    pts[np.arange(n), axis] = np.sign(rng.uniform(-1, 1, n)) * 0.5 * s[axis]
    pts += c
    lo, hi = pts.min(0), pts.max(0)
    return Observation(label, (lo + hi) / 2, hi - lo, 0.0, 0.9, pts,
                       np.asarray(camera, float))


def room_objects(rng: np.random.Generator, origin, count: int = 8):
    """``count`` separated boxes (label, centre, size) in a 6 m room at ``origin``."""
    out = []
    for k in range(count):
        x, y = origin[0] + 1.0 + 1.4 * (k % 4), origin[1] + 1.0 + 2.5 * (k // 4)
        size = rng.uniform(0.3, 0.8, 3)
        out.append((CATEGORIES[int(rng.integers(len(CATEGORIES)))],
                    (x, y, 0.5 * size[2]), size))
    return out


def test_cap_reached_with_new_observations_in_the_same_keyframe_never_raises():
    # The failure of issue 18: a full map of tentative objects; one observation matches
    # tentative object 1 and three more are new. The old code evicted object 1 to make
    # room for the first new one, then fused the matching observation into it: KeyError.
    rng = np.random.default_rng(0)
    cap = 4
    omap = ObjectMap(ObjectMapConfig(max_objects=cap, confirm_observations=3))
    cam = (0.0, -2.0, 1.5)
    boxes = [("chair", (2.0 * k, 0.0, 0.45), (0.5, 0.5, 0.9)) for k in range(cap)]
    omap.integrate([observe(*b, rng, cam) for b in boxes], 0.0, 0)
    assert omap.track_count == cap
    new = [("lamp", (2.0 * k + 1.0, 3.0, 0.7), (0.3, 0.3, 1.4)) for k in range(3)]
    changes = omap.integrate([observe(*boxes[0], rng, cam)]
                             + [observe(*b, rng, cam) for b in new], 1.0, 1)
    assert omap.track_count == cap
    assert 1 not in changes.evicted and omap.get(1).observation_count == 2
    assert len(changes.evicted) == 3 and changes.rejected == 0
    assert sorted(changes.tentative_removed) == sorted(changes.evicted)


def test_random_keyframes_at_a_small_cap_never_raise_and_stay_under_it():
    rng = np.random.default_rng(1)
    cap = 12
    omap = ObjectMap(ObjectMapConfig(max_objects=cap, confirm_observations=2,
                                     eviction_keep_radius_m=2.0))
    cogmap = LocalCogMap()
    world = [(CATEGORIES[k % 6], (rng.uniform(0, 30), rng.uniform(0, 30), 0.4),
              rng.uniform(0.3, 0.8, 3)) for k in range(60)]
    for kf in range(120):
        cam = (rng.uniform(0, 30), rng.uniform(0, 30), 1.5)
        seen = [w for w in world if np.hypot(w[1][0] - cam[0], w[1][1] - cam[1]) < 6.0]
        changes = omap.integrate([observe(*w, rng, cam) for w in seen], float(kf), kf)
        assert omap.track_count <= cap
        assert set(changes.evicted).isdisjoint(changes.updated + changes.added)
        cogmap.sync(omap.objects())
        assert cogmap.check() == []
        assert sorted(cogmap.ids()) == [o.id for o in omap.objects()]
        assert len(omap) + len(omap.tentative()) == omap.track_count
        assert len(omap) == len(omap.objects())
    assert len(omap) >= cap // 2


def test_eviction_policy_keeps_what_is_in_view_and_takes_tentative_then_far_and_rare():
    rng = np.random.default_rng(2)
    omap = ObjectMap(ObjectMapConfig(max_objects=5, confirm_observations=2,
                                     eviction_keep_radius_m=3.0))
    far_cam, near_cam = (20.0, 0.0, 1.5), (0.0, 0.0, 1.5)
    far_rare = ("chair", (20.0, 1.0, 0.45), (0.5, 0.5, 0.9))
    far_often = ("table", (21.5, 1.0, 0.4), (0.8, 0.8, 0.8))
    near = ("cabinet", (1.0, 1.0, 0.5), (0.6, 0.4, 1.0))
    for kf in range(2):
        omap.integrate([observe(*far_rare, rng, far_cam)], float(kf), kf)
    for kf in range(2, 8):
        omap.integrate([observe(*far_often, rng, far_cam)], float(kf), kf)
    for kf in range(8, 10):
        omap.integrate([observe(*near, rng, near_cam)], float(kf), kf)
    tentative = ("plant", (2.0, -1.0, 0.4), (0.4, 0.4, 0.8))
    omap.integrate([observe(*tentative, rng, near_cam)], 10.0, 10)
    ids = {o.label: o.id for o in omap.objects() + omap.tentative()}
    # Order: the tentative plant, then the confirmed chair seen twice (far), then the
    # table seen six times (far); the cabinet is confirmed and near the camera: never.
    assert omap.eviction_order() == [ids["plant"], ids["chair"], ids["table"]]
    # Full map (5) and three new objects in view of the near camera: the plant, the
    # chair and the table go; the cabinet, observed again now, stays.
    new = [("lamp", (-1.0 - k, 2.0, 0.7), (0.3, 0.3, 1.4)) for k in range(2)]
    omap.integrate([observe(*near, rng, near_cam)], 11.0, 11)
    changes = omap.integrate([observe(*near, rng, near_cam)]
                             + [observe(*b, rng, near_cam) for b in new]
                             + [observe("stool", (-3.5, -2.0, 0.3), (0.4, 0.4, 0.6), rng,
                                        near_cam)], 12.0, 12)
    assert changes.evicted == [ids["plant"], ids["chair"]] or \
        changes.evicted == [ids["plant"], ids["chair"], ids["table"]]
    assert ids["cabinet"] in [o.id for o in omap.objects()]
    assert changes.removed == sorted(i for i in changes.evicted if i != ids["plant"])


def test_nothing_evictable_rejects_new_observations_without_raising():
    rng = np.random.default_rng(3)
    omap = ObjectMap(ObjectMapConfig(max_objects=2, confirm_observations=1,
                                     eviction_keep_radius_m=50.0))
    cam = (0.0, 0.0, 1.5)
    omap.integrate([observe("chair", (1, 0, 0.4), (0.5, 0.5, 0.8), rng, cam),
                    observe("lamp", (3, 0, 0.7), (0.3, 0.3, 1.4), rng, cam)], 0.0, 0)
    changes = omap.integrate([observe("plant", (5, 0, 0.4), (0.4, 0.4, 0.8), rng, cam)],
                             1.0, 1)
    assert changes.rejected == 1 and changes.evicted == [] and len(omap) == 2


def test_evicting_the_root_and_second_of_the_chain_keeps_it_valid():
    rng = np.random.default_rng(4)
    omap = ObjectMap(ObjectMapConfig(max_objects=6, confirm_observations=1,
                                     eviction_keep_radius_m=1.0))
    cogmap = LocalCogMap()
    cam0 = (0.0, -3.0, 1.5)
    first = [(CATEGORIES[k], (1.5 * k, 0.0, 0.4), (0.5, 0.5, 0.8)) for k in range(6)]
    omap.integrate([observe(*b, rng, cam0) for b in first], 0.0, 0)
    cogmap.sync(omap.objects())
    root, second = cogmap.ids()[:2]
    # Far away from the root and the second object: they are the first to go.
    cam1 = (7.5, 3.0, 1.5)
    changes = omap.integrate([observe("stool", (7.5, 2.0, 0.3), (0.4, 0.4, 0.6), rng, cam1),
                              observe("plant", (8.5, 2.0, 0.3), (0.4, 0.4, 0.6), rng, cam1)],
                             1.0, 1)
    assert changes.evicted == [root, second]
    cog_changes = cogmap.sync(omap.objects())
    assert set(cog_changes.removed) == {root, second}
    assert cogmap.check() == []
    report = cogmap.reconstruction_error(omap.objects())
    assert report.missing == () and report.max_exact_m < 1e-6


class _ScanEverything:
    """A neighbour index that returns every object: the search a map without one does."""

    def __init__(self, cell_m: float) -> None:
        self._items: dict[int, float] = {}

    def set(self, key, xy_m, radius_m) -> None:
        self._items[key] = radius_m

    def remove(self, key) -> None:
        self._items.pop(key, None)

    def query(self, xy_m, radius_m=0.0):
        return sorted(self._items)


def _building_walk(omap: ObjectMap, rooms: int, seed: int) -> list:
    """Map ``rooms`` rooms in a row, each seen from three keyframes; returns changes."""
    rng = np.random.default_rng(seed)
    history, kf = [], 0
    for r in range(rooms):
        origin = (7.0 * r, 0.0)
        objs = room_objects(rng, origin)
        # Duplicates and split pieces too: a second detection of one object nearby.
        objs.append((objs[0][0], tuple(np.add(objs[0][1], (0.05, 0.0, 0.0))), objs[0][2]))
        for view in range(3):
            cam = (origin[0] + 3.0, origin[1] - 1.0 + view, 1.5)
            obs = [observe(*o, rng, cam) for o in objs if rng.uniform() < 0.9]
            history.append(omap.integrate(obs, float(kf), kf))
            kf += 1
    return history


def test_neighbour_search_gives_the_same_map_as_a_scan_of_every_object(monkeypatch):
    fast = ObjectMap(ObjectMapConfig(max_objects=60, eviction_keep_radius_m=4.0))
    fast_changes = _building_walk(fast, rooms=12, seed=5)
    monkeypatch.setattr(objects_module, "SpatialHash", _ScanEverything)
    slow = ObjectMap(ObjectMapConfig(max_objects=60, eviction_keep_radius_m=4.0))
    slow_changes = _building_walk(slow, rooms=12, seed=5)
    assert fast_changes == slow_changes
    assert any(c.merged for c in fast_changes) and any(c.evicted for c in fast_changes)
    assert fast.to_dict() == slow.to_dict()


def test_association_work_per_keyframe_does_not_grow_with_the_map(monkeypatch):
    calls = []
    original = ObjectMap._match_score

    def counting(self, obs, pts, track):
        calls.append(track.id)
        return original(self, obs, pts, track)

    monkeypatch.setattr(ObjectMap, "_match_score", counting)
    per_room = []
    omap = ObjectMap(ObjectMapConfig(confirm_observations=1))
    rng = np.random.default_rng(6)
    for r in range(40):
        objs = room_objects(rng, (7.0 * r, 0.0))
        calls.clear()
        omap.integrate([observe(*o, rng, (7.0 * r + 3.0, -1.0, 1.5)) for o in objs],
                       float(r), r)
        per_room.append(len(calls))
    assert len(omap) == 40 * 8
    # The last room is checked against its neighbours, not against 300 objects.
    assert max(per_room[-10:]) <= max(per_room[1:5]) + 8


def _big_map(n: int, seed: int = 7, points: int = 40) -> ObjectMap:
    """An ObjectMap of ``n`` confirmed objects loaded from records (no fusion: fast)."""
    rng = np.random.default_rng(seed)
    records = []
    for k in range(n):
        centre = [*rng.uniform(0, 100, 2), rng.uniform(0.2, 1.0)]
        records.append({
            "id": k + 1, "label_votes": {CATEGORIES[k % 6]: 2.0}, "center_m": centre,
            "size_m": rng.uniform(0.3, 1.5, 3).tolist(), "yaw_rad": rng.uniform(-3, 3),
            "score": rng.uniform(0.5, 1), "observation_count": int(rng.integers(1, 30)),
            "first_seen_s": rng.uniform(0, 100), "last_seen_s": rng.uniform(100, 200),
            "first_seen_order": k, "last_seen_order": k + 5,
            "size_from_prior": bool(rng.uniform() < 0.2), "confirmed": True,
            "views_m": rng.uniform(0, 100, (2, 3)).tolist(),
            "evidence": {"voxel_size_m": 0.03,
                         "points": (np.asarray(centre)
                                    + rng.uniform(-0.2, 0.2, (points, 3))).tolist(),
                         "counts": rng.uniform(0.5, 2.0, points).tolist()}})
    return ObjectMap.from_dict({"next_id": n + 1, "objects": records})


def test_large_map_round_trips_through_a_binary_file(tmp_path):
    omap = _big_map(5000)
    cols = omap.to_columns()
    path = store.save_map(tmp_path / "floor.ssrmap", {"object_map": cols})
    loaded = ObjectMap.from_dict(store.load_map(path)["object_map"])
    again = loaded.to_columns()
    assert len(loaded) == 5000 and loaded.track_count == 5000
    for key, value in cols.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, again[key]), key
        else:
            assert value == again[key], key
    # The reach loaded in bulk covers what the map computes object by object.
    for tid in (1, 2500, 5000):
        t = loaded._tracks[tid]
        d = np.hypot(*(t.evidence.centroids()[:, :2] - t.center_m[:2]).T).max()
        expected = max(d, 0.5 * np.hypot(*t.size_m[:2]))
        assert expected <= loaded._reach[tid] <= expected + 1e-5
    a, b = omap.objects()[1234], loaded.objects()[1234]
    assert (a.id, a.label, a.observation_count) == (b.id, b.label, b.observation_count)
    assert np.array_equal(a.center_m, b.center_m)
    # The loaded map keeps mapping: its neighbour index was rebuilt.
    rng = np.random.default_rng(8)
    changes = loaded.integrate([observe(b.label, b.center_m, b.size_m, rng, (0, 0, 1.5))],
                               300.0, 10_000)
    assert changes.updated == [b.id]


def test_records_and_columns_load_the_same_map_and_old_json_files_still_load(tmp_path):
    omap = _big_map(50, points=10)
    path = tmp_path / "old.json"
    # How schema-1 files were written before: indented JSON of the record form.
    import json
    path.write_text(json.dumps({"format": "ssr_ros.map", "schema_version": 1,
                                "payload": {"object_map": omap.to_dict()}}, indent=1))
    from_records = ObjectMap.from_dict(store.load_map(path)["object_map"])
    from_columns = ObjectMap.from_dict(omap.to_columns())
    for a, b in zip(from_records.objects(), from_columns.objects()):
        assert (a.id, a.label, a.first_seen_s) == (b.id, b.label, b.first_seen_s)
        assert np.allclose(a.center_m, b.center_m)
    assert np.allclose(from_records.evidence_points(7), from_columns.evidence_points(7),
                       atol=1e-4)


@pytest.mark.parametrize("breakage", [
    lambda d: d.update(columns_version=9), lambda d: d.update(id=d["id"][:-1]),
    lambda d: d["center_m"].__setitem__((0, 0), np.nan),
    lambda d: d.update(evidence_count=d["evidence_count"] + 1),
    lambda d: d.update(label_votes=d["label_votes"][:-1]),
    lambda d: d["observation_count"].__setitem__(0, 0),
    lambda d: d.update(id=np.zeros(len(d["id"]), np.int64)),
    lambda d: d.update(views_m=np.array(["x"] * 6).reshape(2, 3)),
    lambda d: d.update(evidence_keys=d["evidence_keys"][::-1].copy())])
def test_broken_columns_are_refused(breakage):
    data = _big_map(3, points=5).to_columns()
    breakage(data)
    with pytest.raises(ObjectMapFormatError):
        ObjectMap.from_dict(data)


def test_objects_are_shared_until_they_change_and_read_only():
    rng = np.random.default_rng(9)
    omap = ObjectMap(ObjectMapConfig(confirm_observations=1))
    omap.integrate([observe("chair", (1, 0, 0.4), (0.5, 0.5, 0.8), rng, (0, 0, 1.5)),
                    observe("lamp", (4, 0, 0.7), (0.3, 0.3, 1.4), rng, (0, 0, 1.5))], 0.0, 0)
    first = omap.objects()
    with pytest.raises(ValueError):
        first[0].center_m[0] = 5.0
    omap.integrate([observe("lamp", (4, 0, 0.7), (0.3, 0.3, 1.4), rng, (0, 0, 1.5))], 1.0, 1)
    second = omap.objects()
    assert second[0] is first[0] and second[1] is not first[1]
    assert second[1].observation_count == 2
    assert omap.backdate_first_seen(1, -1.0) and omap.objects()[0].first_seen_s == -1.0


@pytest.mark.parametrize("kwargs", [{"max_objects": 0}, {"max_objects": 2.5},
                                    {"max_objects": True},
                                    {"eviction_keep_radius_m": float("nan")},
                                    {"eviction_keep_radius_m": -1.0},
                                    {"index_cell_m": 0.0}])
def test_bad_cap_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        ObjectMapConfig(**kwargs)
