"""LocalCogMap's columns (the binary map file's form) and its O(n) copy for snapshots."""

import numpy as np
import pytest

from ssr_ros.core import store
from ssr_ros.core.cogmap import CogMapFormatError, LocalCogMap
from ssr_ros.core.types import ObjectState


def _objects(n, seed=0, spread=12.0):
    rng = np.random.default_rng(seed)
    return [ObjectState(i, f"obj{i % 5}", [*rng.uniform(-spread, spread, 2), 0.4],
                        [0.5, 0.5, rng.uniform(0.3, 2.0)]) for i in range(1, n + 1)]


def _churned(n=60, seed=1) -> LocalCogMap:
    """A map after adds, moves (small and large), relabels and removes: free slots,
    re-anchored links, the root and the second object replaced."""
    cogmap = LocalCogMap()
    objects = _objects(n, seed)
    cogmap.sync(objects)
    rng = np.random.default_rng(seed + 1)
    kept = [o for o in objects if o.id not in (1, 2, 17, 30)]
    moved = [ObjectState(o.id, "renamed" if o.id % 11 == 0 else o.label,
                         o.center_m + [*rng.normal(0, 0.5 if o.id % 3 else 0.01, 2), 0.0],
                         o.size_m) for o in kept]
    cogmap.sync(moved + _objects(n + 8, seed + 2)[n:])
    assert cogmap.check() == []
    return cogmap


@pytest.mark.parametrize("n", [0, 1, 2, 3, 60])
def test_columns_round_trip_the_chain_exactly(n) -> None:
    cogmap = LocalCogMap(reanchor_distance_m=0.1)
    cogmap.sync(_objects(n))
    loaded = LocalCogMap.from_dict(cogmap.to_columns())
    assert loaded.to_dict() == cogmap.to_dict() and loaded.check() == []
    assert loaded.reanchor_distance_m == 0.1


def test_columns_of_a_churned_map_load_and_map_on_like_the_original(tmp_path) -> None:
    cogmap = _churned()
    store.save_map(tmp_path / "chain.ssrmap", {"cogmap": cogmap.to_columns()})
    loaded = LocalCogMap.from_dict(store.load_map(tmp_path / "chain.ssrmap")["cogmap"])
    assert loaded.to_dict() == cogmap.to_dict()
    # The same later updates give the same chain (slots, ranks and dependents restored).
    later = _objects(80, seed=9)[68:] + [ObjectState(5, "obj0", [0.0, 0.0, 0.4],
                                                     [1.0, 1.0, 1.0])]
    keep = [o for o in _objects(70, seed=1) if o.id in cogmap and o.id not in (5, 40)]
    for chain in (cogmap, loaded):
        chain.sync(keep + later)
        assert chain.check() == []
    assert loaded.to_dict() == cogmap.to_dict()


def _damage(column: str, fn):
    def apply(cols: dict) -> None:
        cols[column] = fn(np.array(cols[column]))
    return apply


@pytest.mark.parametrize("damage, reason", [
    (lambda c: c.update(columns_version=99), "columns version"),
    (_damage("id", lambda a: np.r_[a[:-1], a[0]]), "duplicate"),
    (_damage("anchor_a", lambda a: np.r_[a[:5], a[-1], a[6:]]), "placed before"),
    (_damage("cell", lambda a: a + 10), "off the"),
    (_damage("xy_m", lambda a: a + [0.0, 0.01]), "stored position"),
    (_damage("local_xy_m", lambda a: np.r_[a[:9], a[9:10] + 0.5, a[10:]]), "stored position"),
    (_damage("z_m", lambda a: np.r_[np.nan, a[1:]]), "non-finite"),
    (_damage("cell_size_m", lambda a: a[:-1]), "shape"),
    (lambda c: c.update(label=c["label"][:-1]), "label"),
    (lambda c: c.pop("exact"), "exact"),
    (lambda c: c.update(schema_version=7), "schema"),
])
def test_damaged_columns_are_refused_with_the_reason(damage, reason) -> None:
    cols = _churned().to_columns()
    damage(cols)
    with pytest.raises(CogMapFormatError, match=reason):
        LocalCogMap.from_dict(cols)


def test_a_link_on_other_anchors_or_on_itself_or_one_anchor_twice_is_refused() -> None:
    cols = _churned().to_columns()
    k = 12
    other = next(i for i in cols["id"][:k] if i not in (cols["anchor_a"][k],
                                                         cols["anchor_b"][k]))
    cols["anchor_b"][k] = other
    with pytest.raises(CogMapFormatError, match="stored position"):
        LocalCogMap.from_dict(cols)
    cols = _churned().to_columns()
    cols["anchor_a"][12] = cols["id"][12]
    with pytest.raises(CogMapFormatError):
        LocalCogMap.from_dict(cols)
    cols = _churned().to_columns()
    cols["anchor_b"][12] = cols["anchor_a"][12]
    with pytest.raises(CogMapFormatError, match="distinct"):
        LocalCogMap.from_dict(cols)


def test_copy_is_independent_and_equal() -> None:
    cogmap = _churned()
    copy = cogmap.copy()
    assert copy.to_dict() == cogmap.to_dict() and copy.check() == []
    assert copy.version == cogmap.version
    before = copy.to_dict()
    cogmap.sync(_objects(5, seed=4))      # removes most objects, moves and adds others
    assert copy.to_dict() == before and copy.check() == []
    copy.add(999, [50.0, 50.0], "far")
    assert 999 not in cogmap and copy.check() == [] and cogmap.check() == []


def test_version_moves_with_every_change_and_only_then() -> None:
    cogmap = LocalCogMap()
    v = cogmap.version
    cogmap.add(1, [0.0, 0.0])
    assert cogmap.version > v
    v = cogmap.version
    cogmap.to_dict(), cogmap.triplets(), cogmap.copy(), cogmap.to_columns()
    assert cogmap.version == v
    objects = [ObjectState(1, "thing", [0.0, 0.0, 0.7], [1.0, 1.0, 2.0])]
    cogmap.sync(objects)     # only the height attributes change: still a new version
    assert cogmap.version > v and cogmap.attributes(1)["height_m"] == 2.0
    for change in (lambda: cogmap.add(2, [1.0, 0.0]), lambda: cogmap.move(2, [2.0, 0.0]),
                   lambda: cogmap.remove(2), cogmap.clear):
        v = cogmap.version
        change()
        assert cogmap.version > v
