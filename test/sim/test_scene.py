"""Scenes from a seed: determinism, room limits, placement rules, no interpenetration."""

import math

import numpy as np
import pytest

from ssr_ros.sim import CATEGORY_NAMES, SceneGenerationError, UnknownCategoryError, make_scene
from ssr_ros.sim.catalog import CATEGORY_BY_NAME

SEEDS = range(24)


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(s) for s in SEEDS]


def _to_local(obj, points):
    """Points (N, 3) in the object's box frame (x along yaw, z up, origin at centre)."""
    c, s = math.cos(obj.yaw_rad), math.sin(obj.yaw_rad)
    rel = np.asarray(points, dtype=float) - obj.center_m
    return np.column_stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1],
                            rel[:, 2]])


def _interior_points(obj, n=5, shrink=2e-3):
    """A grid of points strictly inside the object's box, in the map frame."""
    half = 0.5 * obj.size_m - shrink
    axes = [np.linspace(-h, h, n) for h in half]
    local = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    c, s = math.cos(obj.yaw_rad), math.sin(obj.yaw_rad)
    world = np.column_stack([c * local[:, 0] - s * local[:, 1],
                             s * local[:, 0] + c * local[:, 1], local[:, 2]])
    return world + obj.center_m


def _inside_zones(scene, xy):
    """Whether points (N, 2) lie in the union of the layout's rectangles."""
    inside = np.zeros(len(xy), dtype=bool)
    for z in scene.layout.zones:
        inside |= ((xy[:, 0] >= z.x0 - 1e-9) & (xy[:, 0] <= z.x1 + 1e-9)
                   & (xy[:, 1] >= z.y0 - 1e-9) & (xy[:, 1] <= z.y1 + 1e-9))
    return inside


def test_same_seed_gives_the_same_scene():
    a, b = make_scene(7), make_scene(7)
    assert a.to_dict() == b.to_dict()
    for oa, ob in zip(a.objects, b.objects):
        assert oa.center_m.tobytes() == ob.center_m.tobytes()
        assert oa.size_m.tobytes() == ob.size_m.tobytes()


def test_different_seeds_give_different_rooms(scenes):
    outlines = {s.room.polygon_xy.round(6).tobytes() for s in scenes}
    assert len(outlines) == len(scenes)
    assert len({tuple(o.category for o in s.objects) for s in scenes}) > len(scenes) // 2


def test_rooms_respect_size_limits(scenes):
    kinds = set()
    for scene in scenes:
        extent = scene.room.polygon_xy.max(axis=0) - scene.room.polygon_xy.min(axis=0)
        assert np.all(extent >= 3.0 - 1e-9) and np.all(extent <= 9.0 + 1e-9)
        assert 2.4 <= scene.height_m <= 3.0
        zone_area = sum((z.x1 - z.x0) * (z.y1 - z.y0) for z in scene.layout.zones)
        assert scene.room.floor_area_m2 == pytest.approx(zone_area, rel=1e-9)
        kinds.add(scene.layout.kind)
    assert kinds == {"rectangle", "l_shape", "two_rooms"}


def test_object_counts_categories_and_sizes(scenes):
    seen = set()
    repeated = 0
    for scene in scenes:
        assert 8 <= len(scene.objects) <= 30
        assert [o.id for o in scene.objects] == list(range(1, len(scene.objects) + 1))
        counts = scene.category_counts()
        repeated += any(c >= 2 for c in counts.values())
        for obj in scene.objects:
            cat = CATEGORY_BY_NAME[obj.category]
            seen.add(obj.category)
            for value, (lo, hi) in zip(obj.size_m, (cat.size_x_m, cat.size_y_m,
                                                    cat.size_z_m)):
                assert lo - 1e-3 <= value <= hi + 1e-3, (obj.category, obj.size_m)
            assert -math.pi < obj.yaw_rad <= math.pi
    assert len(seen) >= 20
    assert repeated >= 0.8 * len(scenes)


def test_objects_do_not_interpenetrate(scenes):
    for scene in scenes:
        for a in scene.objects:
            pts = _interior_points(a)
            for b in scene.objects:
                if b is a:
                    continue
                local = np.abs(_to_local(b, pts))
                inside = np.all(local < 0.5 * b.size_m, axis=1)
                assert not inside.any(), (scene.seed, a.id, a.category, b.id, b.category)


def test_objects_stand_inside_the_room_clear_of_walls(scenes):
    for scene in scenes:
        for obj in scene.objects:
            corners = obj.footprint_xy()
            # Sample the footprint boundary densely: all of it must be on the floor.
            t = np.linspace(0.0, 1.0, 25)[:, None]
            edge_pts = np.vstack([corners[k] + t * (corners[(k + 1) % 4] - corners[k])
                                  for k in range(4)])
            assert _inside_zones(scene, edge_pts).all(), (scene.seed, obj.category)
            z0, z1 = obj.z_range_m
            assert z0 >= -1e-9 and z1 <= scene.height_m
            for part in scene.layout.partitions:
                for p, q in part.solid_segments():
                    near_y = (edge_pts[:, 1] > min(p[1], q[1])) & (
                        edge_pts[:, 1] < max(p[1], q[1]))
                    gap = np.abs(edge_pts[:, 0] - part.x_m)
                    assert not np.any(near_y & (gap < 0.05)), (scene.seed, obj.category)


def test_small_objects_rest_on_their_support(scenes):
    supported = 0
    for scene in scenes:
        for obj in scene.objects:
            cat = CATEGORY_BY_NAME[obj.category]
            if cat.placement != "surface":
                assert obj.support_id is None
                assert obj.z_range_m[0] == pytest.approx(0.0, abs=1e-9)
                continue
            support = scene.object(obj.support_id)
            assert support.category in cat.supports
            assert obj.z_range_m[0] == pytest.approx(support.z_range_m[1], abs=1e-9)
            local = _to_local(support, np.column_stack([obj.footprint_xy(),
                                                        np.zeros(4) + support.center_m[2]]))
            assert np.all(np.abs(local[:, :2]) <= 0.5 * support.size_m[:2] + 1e-9)
            supported += 1
    assert supported > len(scenes)


def test_category_restriction_and_bad_input():
    allowed = ["sofa", "armchair", "coffee table", "plant", "lamp", "cup", "trash can"]
    scene = make_scene(4, categories=allowed)
    assert {o.category for o in scene.objects} <= set(allowed)
    with pytest.raises(UnknownCategoryError, match="unicorn"):
        make_scene(4, categories=["sofa", "unicorn"])
    with pytest.raises(UnknownCategoryError):
        make_scene(4, categories=[])
    with pytest.raises(SceneGenerationError, match="only"):
        make_scene(4, categories=["cup"])
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(SceneGenerationError):
            make_scene(bad)
    assert len(CATEGORY_NAMES) >= 20
