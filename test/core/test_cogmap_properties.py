"""Property tests: random add/move/merge/remove/sync sequences keep the chain healthy."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.types import ObjectState

# Coordinates on a 1 cm lattice make coincident objects and coincident anchors common.
coord = st.integers(min_value=-800, max_value=800).map(lambda v: v / 100.0)
point = st.tuples(coord, coord)
op = st.one_of(
    st.tuples(st.just("add"), point),
    st.tuples(st.just("move"), st.integers(0, 10_000), point),
    st.tuples(st.just("nudge"), st.integers(0, 10_000)),
    st.tuples(st.just("remove"), st.integers(0, 10_000)),
    st.tuples(st.just("merge"), st.integers(0, 10_000), st.integers(0, 10_000), point),
)


def _assert_healthy(cogmap: LocalCogMap) -> None:
    assert cogmap.check(tolerance_m=1e-6) == []
    links = cogmap.triplets()
    assert [t.target for t in links] == cogmap.ids()
    placed = set()
    for t in links:
        assert set(t.anchors) <= placed
        placed.add(t.target)
    report = cogmap.reconstruction_error()
    assert report.max_exact_m <= 1e-6
    assert report.grid_within_bound


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=40))
def test_random_update_sequences_keep_the_chain_complete_acyclic_and_exact(ops):
    cogmap = LocalCogMap(reanchor_distance_m=0.05)
    next_id = 1
    for item in ops:
        ids = cogmap.ids()
        kind = item[0]
        if kind == "add" or not ids:
            xy = item[1] if kind == "add" else (0.0, 0.0)
            cogmap.add(next_id, xy)
            next_id += 1
        elif kind == "move":
            cogmap.move(ids[item[1] % len(ids)], item[2])
        elif kind == "nudge":
            target = ids[item[1] % len(ids)]
            cogmap.move(target, cogmap.position_xy(target) + [0.01, -0.01])
        elif kind == "remove":
            cogmap.remove(ids[item[1] % len(ids)])
        elif len(ids) >= 2:
            keep = ids[item[1] % len(ids)]
            gone = ids[item[2] % len(ids)]
            if keep != gone:  # a merge in the object map, as sync applies it
                cogmap.remove(gone)
                cogmap.move(keep, item[3])
        _assert_healthy(cogmap)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(1, 30), point), max_size=30), min_size=1,
                max_size=6))
def test_sync_matches_the_object_list_after_every_call(snapshots):
    cogmap = LocalCogMap()
    for snapshot in snapshots:
        objects = {i: ObjectState(i, f"o{i}", [x, y, 0.4], [0.5, 0.5, 0.8])
                   for i, (x, y) in snapshot}
        cogmap.sync(objects.values())
        assert set(cogmap.ids()) == set(objects)
        positions = cogmap.reconstruct("exact")
        for i, obj in objects.items():
            assert math.hypot(*(positions[i] - obj.center_m[:2])) <= 1e-6
        _assert_healthy(cogmap)


@settings(max_examples=8, deadline=None)
@given(st.integers(2, 500), st.integers(0, 2**31 - 1), st.floats(0.5, 60.0))
def test_grid_reconstruction_stays_within_the_cell_bound_up_to_500_objects(n, seed, spread):
    rng = np.random.default_rng(seed)
    cogmap = LocalCogMap()
    for i in range(1, n + 1):
        cogmap.add(i, rng.uniform(-spread, spread, 2))
    exact = cogmap.reconstruct("exact")
    grid = cogmap.reconstruct("grid")
    truth = cogmap.positions()
    for link in cogmap.triplets():
        assert math.hypot(*(exact[link.target] - truth[link.target])) <= 1e-6
        err = math.hypot(*(grid[link.target] - truth[link.target]))
        assert err <= link.cell_size_m * math.sqrt(0.5) + 1e-6
