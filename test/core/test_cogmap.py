"""LocalCogMap: chain rules, incremental updates, reconstruction, dict form."""

import math

import numpy as np
import pytest

from ssr_ros.core.cogmap import (CogMapFormatError, CogMapInputError, LocalCogMap)
from ssr_ros.core.triplets import AXIS_MAP, GRID_CELLS, grid_window, make_triplet
from ssr_ros.core.types import ObjectState


def _obj(i, x, y, label="thing", z=0.5, h=1.0):
    return ObjectState(i, label, [x, y, z], [0.5, 0.5, h])


def _random_map(n, seed=0, spread=10.0):
    rng = np.random.default_rng(seed)
    cogmap = LocalCogMap()
    for i in range(1, n + 1):
        cogmap.add(i, rng.uniform(-spread, spread, 2), label=f"obj{i % 7}")
    return cogmap


def test_first_objects_form_root_second_and_triplet_with_nearest_anchors():
    cogmap = LocalCogMap()
    cogmap.add(1, [0.0, 0.0], "sofa")
    cogmap.add(2, [4.0, 0.0], "table")
    cogmap.add(3, [10.0, 0.0], "far")
    cogmap.add(4, [3.0, 1.0], "lamp")
    root, second, third, fourth = cogmap.triplets()
    assert (root.anchor_a, root.anchor_b, root.target) == (1, 1, 1)
    assert root.local_xy_m == (0.0, 0.0)
    assert (second.anchor_a, second.anchor_b) == (1, 1)
    assert second.local_xy_m == pytest.approx((4.0, 0.0))
    # The lamp's two nearest placed objects are the table (1.41 m) then the sofa.
    assert (fourth.anchor_a, fourth.anchor_b) == (2, 1)


def test_local_frame_has_origin_at_a_x_toward_b_y_to_the_left():
    link = make_triplet(3, np.array([1.0, 2.0]), 1, np.array([1.0, 0.0]), 2,
                        np.array([1.0, 5.0]))
    # +x points from A (1,0) to B (1,5), i.e. map +y; map -x is then local +y (left).
    assert link.local_xy_m == pytest.approx((2.0, 0.0))
    left = make_triplet(4, np.array([0.0, 1.0]), 1, np.array([1.0, 0.0]), 2,
                        np.array([1.0, 5.0]))
    assert left.local_xy_m == pytest.approx((1.0, 1.0))


def test_grid_window_puts_a_at_a_cell_centre_and_all_points_on_the_grid():
    rng = np.random.default_rng(3)
    for _ in range(200):
        pts = np.vstack([[0.0, 0.0], rng.normal(0, rng.uniform(0.01, 30), (2, 2))])
        size_m, cells = grid_window(pts)
        assert size_m > 0 and round(size_m * 100) == pytest.approx(size_m * 100)
        assert all(0 <= c < GRID_CELLS for cell in cells for c in cell)
        for p, cell in zip(pts, cells):
            centre = (np.array(cell) - np.array(cells[0])) * size_m
            assert np.all(np.abs(centre - p) <= 0.5 * size_m + 1e-9)


def test_coincident_anchors_use_the_map_axes_deterministically():
    cogmap = LocalCogMap()
    cogmap.add(1, [1.0, 1.0])
    cogmap.add(2, [1.0, 1.0])
    cogmap.add(3, [2.0, 3.0])
    link = cogmap.link(3)
    assert link.axis == AXIS_MAP
    assert link.local_xy_m == pytest.approx((1.0, 2.0))
    again = LocalCogMap()
    for i, xy in ((1, [1.0, 1.0]), (2, [1.0, 1.0]), (3, [2.0, 3.0])):
        again.add(i, xy)
    assert again.to_text() == cogmap.to_text()
    assert cogmap.check() == []


def test_add_touches_only_the_new_link():
    cogmap = _random_map(50)
    before = {t.target: t for t in cogmap.triplets()}
    changes = cogmap.add(51, [0.3, 0.2])
    after = {t.target: t for t in cogmap.triplets()}
    assert changes.added == [51] and changes.relinked == [51]
    assert all(after[i] == before[i] for i in before)


def test_move_relinks_only_the_object_and_its_dependents():
    cogmap = _random_map(60, seed=1)
    victim = max(cogmap.ids(), key=lambda i: len(cogmap.dependents(i)))
    deps = cogmap.dependents(victim)
    before = {t.target: t for t in cogmap.triplets()}
    changes = cogmap.move(victim, cogmap.position_xy(victim) + [2.0, -1.0])
    assert set(changes.relinked) == {victim} | deps
    after = {t.target: t for t in cogmap.triplets()}
    unchanged = set(before) - {victim} - deps
    assert all(after[i] == before[i] for i in unchanged)
    assert cogmap.check() == []


def test_small_move_keeps_anchors_and_stays_exact():
    cogmap = _random_map(30, seed=2)
    target = cogmap.ids()[20]
    anchors = cogmap.link(target).anchors
    cogmap.move(target, cogmap.position_xy(target) + [0.01, 0.0])
    assert cogmap.link(target).anchors == anchors
    assert cogmap.check() == []


def test_remove_root_promotes_the_next_objects_and_keeps_ids():
    cogmap = _random_map(20, seed=4)
    ids = cogmap.ids()
    changes = cogmap.remove(ids[0])
    assert cogmap.ids() == ids[1:]
    assert cogmap.link(ids[1]).is_root and cogmap.link(ids[2]).is_second
    assert changes.removed == [ids[0]]
    assert all(ids[0] not in t.anchors for t in cogmap.triplets())
    assert cogmap.check() == []


def test_sync_diffs_against_the_object_list():
    cogmap = LocalCogMap()
    objs = [_obj(1, 0, 0, "sofa"), _obj(2, 3, 0, "tv"), _obj(3, 1, 2, "lamp")]
    assert cogmap.sync(objs).added == [1, 2, 3]
    assert not cogmap.sync(objs)
    jitter = [_obj(1, 0, 1e-12, "sofa"), _obj(2, 3, 0, "tv"), _obj(3, 1, 2, "lamp")]
    assert not cogmap.sync(jitter)
    changed = cogmap.sync([_obj(1, 0, 0, "couch"), _obj(3, 1.5, 2, "lamp"),
                           _obj(4, 5, 5, "plant")])
    assert changed.removed == [2] and changed.moved == [3] and changed.added == [4]
    assert changed.relabelled == [1]
    assert cogmap.label(1) == "couch"
    assert cogmap.reconstruction_error(
        [_obj(1, 0, 0), _obj(3, 1.5, 2), _obj(4, 5, 5)]).max_exact_m < 1e-9


def test_sync_rejects_bad_input_and_changes_nothing():
    cogmap = LocalCogMap()
    cogmap.sync([_obj(1, 0, 0), _obj(2, 1, 1)])
    text = cogmap.to_text()
    with pytest.raises(CogMapInputError, match="duplicate"):
        cogmap.sync([_obj(1, 0, 0), _obj(1, 2, 2)])
    with pytest.raises(CogMapInputError, match="finite"):
        cogmap.sync([_obj(1, 0, 0), _obj(3, math.nan, 0)])
    assert cogmap.to_text() == text


@pytest.mark.parametrize("bad_id", ["4", True, 4.0, None])
def test_sync_with_a_bad_id_removes_and_moves_nothing(bad_id):
    cogmap = LocalCogMap()
    cogmap.sync([_obj(1, 0, 0), _obj(2, 1, 1), _obj(3, 4, 0)])
    before = (cogmap.to_text(), cogmap.to_dict())
    # Object 3 is missing and object 1 moved: a partial apply would remove or move them.
    with pytest.raises(CogMapInputError, match="object id must be an int"):
        cogmap.sync([_obj(1, 2, 2), _obj(2, 1, 1), _obj(bad_id, 5, 5)])
    assert (cogmap.to_text(), cogmap.to_dict()) == before
    assert 3 in cogmap and cogmap.check() == []


def test_updates_reject_unknown_and_duplicate_ids():
    cogmap = _random_map(3)
    with pytest.raises(CogMapInputError):
        cogmap.add(1, [0, 0])
    with pytest.raises(CogMapInputError):
        cogmap.move(99, [0, 0])
    with pytest.raises(CogMapInputError):
        cogmap.remove(99)
    assert cogmap.check() == []


@pytest.mark.parametrize("n", [1, 2, 3, 100, 500])
def test_reconstruction_exact_and_grid_bound_on_random_maps(n):
    cogmap = _random_map(n, seed=n, spread=25.0)
    report = cogmap.reconstruction_error()
    assert report.count == n
    assert report.max_exact_m < 1e-6
    assert report.grid_within_bound
    exact = cogmap.reconstruct("exact")
    grid = cogmap.reconstruct("grid")
    for link in cogmap.triplets():
        err = np.hypot(*(grid[link.target] - exact[link.target]))
        assert err <= link.cell_size_m * math.sqrt(0.5) + 1e-9


def test_reconstruction_error_reports_objects_missing_from_the_chain():
    cogmap = LocalCogMap()
    cogmap.sync([_obj(1, 0, 0), _obj(2, 1, 0)])
    report = cogmap.reconstruction_error([_obj(1, 0, 0), _obj(2, 1, 0), _obj(3, 5, 5)])
    assert report.missing == (3,)
    assert report.count == 2


def test_dict_round_trip_keeps_links_and_keeps_updating_identically():
    cogmap = _random_map(40, seed=6)
    clone = LocalCogMap.from_dict(cogmap.to_dict())
    assert clone.to_text() == cogmap.to_text()
    for m in (cogmap, clone):
        m.remove(5)
        m.add(100, [1.0, 1.0])
        m.move(10, [3.0, -2.0])
    assert clone.to_text() == cogmap.to_text()


def test_from_dict_rejects_inconsistent_data():
    data = _random_map(5).to_dict()
    data["links"][3]["anchor_a"] = 5   # anchors on an object placed later
    with pytest.raises(CogMapFormatError):
        LocalCogMap.from_dict(data)
    with pytest.raises(CogMapFormatError):
        LocalCogMap.from_dict({"schema_version": 1})


def _frozen(i, x, y, label="thing", h=1.0):
    """A state as the object map shares it: read-only arrays."""
    state = _obj(i, x, y, label, h=h)
    state.center_m.flags.writeable = False
    state.size_m.flags.writeable = False
    return state


def test_sync_with_shared_states_equals_sync_with_fresh_copies():
    # The object map hands out the same read-only state until the object changes; sync
    # skips those, and must end where a sync of fresh copies of every state ends.
    rng = np.random.default_rng(11)
    states = {i: _frozen(i, *rng.uniform(-8, 8, 2)) for i in range(1, 41)}
    shared, copies = LocalCogMap(), LocalCogMap()
    next_id = 41
    for step in range(30):
        for i in rng.choice(sorted(states), 4, replace=False):
            old = states.pop(i)
            if rng.random() < 0.7:      # moved (small or large), relabelled, or dropped
                xy = old.center_m[:2] + rng.normal(0, 0.02 if rng.random() < 0.5 else 1.0, 2)
                states[i] = _frozen(i, *xy, "renamed" if rng.random() < 0.2 else old.label)
        for _ in range(3):
            states[next_id] = _frozen(next_id, *rng.uniform(-8, 8, 2))
            next_id += 1
        listed = [states[i] for i in sorted(states)]
        shared.sync(listed)
        copies.sync([_obj(o.id, *o.center_m[:2], o.label) for o in listed])
        assert shared.to_dict() == copies.to_dict() and shared.check() == []


def test_a_skipped_state_is_applied_again_after_a_move_or_a_removal():
    states = [_frozen(i, float(i), 0.0) for i in range(1, 6)]
    cogmap = LocalCogMap()
    cogmap.sync(states)
    assert not cogmap.sync(states)          # nothing to do for the same states
    cogmap.move(3, [10.0, 10.0])
    again = cogmap.sync(states)
    assert again.moved == [3] and cogmap.position_xy(3) == pytest.approx([3.0, 0.0])
    cogmap.sync(states[:2] + states[3:])
    assert 3 not in cogmap
    assert cogmap.sync(states).added == [3] and cogmap.check() == []
    # a state with writable arrays is never skipped: changed in place, it is seen
    loose = _obj(9, 0.0, 5.0)
    cogmap.sync(states + [loose])
    loose.center_m[0] = 2.0
    assert cogmap.sync(states + [loose]).moved == [9]
    # the copy keeps what was applied, so both go on alike
    copy = cogmap.copy()
    assert not copy.sync(states + [loose]) and copy.to_dict() == cogmap.to_dict()
