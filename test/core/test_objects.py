"""ObjectMap: association, fusion, confirmation, false-positive removal, merging, ids,
bounds and persistence."""

import numpy as np
import pytest

from ssr_ros.core.evidence import EvidenceFormatError, VoxelEvidence
from ssr_ros.core.objects import (
    InvalidObservationError,
    ObjectMap,
    ObjectMapConfig,
    ObjectMapFormatError,
    Observation,
)


def box_points(center, size, rng, n=600, faces=("+x", "-x", "+y", "-y", "+z")):
    """Points on the given faces of an axis-aligned box."""
    c, s = np.asarray(center, float), np.asarray(size, float)
    pts = []
    for f in faces:
        axis = "xyz".index(f[1])
        p = rng.uniform(-0.5, 0.5, size=(n // len(faces), 3)) * s
        p[:, axis] = (0.5 if f[0] == "+" else -0.5) * s[axis]
        pts.append(p + c)
    return np.vstack(pts)


def obs(label, center, size, rng, faces=("+x", "-x", "+y", "-y", "+z"), cam=(0, 0, 1.5)):
    pts = box_points(center, size, rng, faces=faces)
    lo, hi = pts.min(0), pts.max(0)
    return Observation(label, (lo + hi) / 2, hi - lo, 0.0, 0.9, pts, np.asarray(cam, float))


def test_repeated_observations_fuse_into_one_confirmed_object():
    rng = np.random.default_rng(0)
    omap = ObjectMap()
    ch = omap.integrate([obs("chair", [2, 0, 0.45], [0.5, 0.5, 0.9], rng, faces=("-x",))],
                        1.0, 0)
    assert omap.objects() == [] and ch.tentative_added == [1] and not ch.changed
    ch = omap.integrate([obs("chair", [2, 0, 0.45], [0.5, 0.5, 0.9], rng,
                             faces=("-y", "+z"))], 2.0, 1)
    assert ch.added == [1]
    (o,) = omap.objects()
    assert o.id == 1 and o.label == "chair" and o.observation_count == 2
    assert o.first_seen_s == 1.0 and o.last_seen_s == 2.0 and o.first_seen_order == 0
    # Whole object from two partial views: centre and size of the full box.
    assert np.allclose(o.center_m, [2, 0, 0.45], atol=0.03)
    assert np.allclose(np.sort(o.size_m[:2]), [0.5, 0.5], atol=0.04)


def test_incompatible_label_or_far_object_gets_new_id():
    rng = np.random.default_rng(1)
    omap = ObjectMap(ObjectMapConfig(confirm_observations=1))
    omap.integrate([obs("chair", [2, 0, 0.45], [0.5, 0.5, 0.9], rng)], 0.0, 0)
    omap.integrate([obs("table", [2, 0, 0.45], [0.5, 0.5, 0.9], rng),
                    obs("chair", [5, 0, 0.45], [0.5, 0.5, 0.9], rng)], 1.0, 1)
    labels = sorted((o.id, o.label) for o in omap.objects())
    assert labels == [(1, "chair"), (2, "table"), (3, "chair")]


def test_compatible_labels_associate():
    rng = np.random.default_rng(2)
    cfg = ObjectMapConfig(confirm_observations=1,
                          compatible_labels={"table": ("dining table",)})
    omap = ObjectMap(cfg)
    omap.integrate([obs("table", [1, 1, 0.4], [1.2, 0.8, 0.8], rng)], 0.0, 0)
    omap.integrate([obs("dining table", [1, 1, 0.4], [1.2, 0.8, 0.8], rng)], 1.0, 1)
    assert len(omap.objects()) == 1


def test_one_off_false_positive_is_removed_and_ids_not_reused():
    rng = np.random.default_rng(3)
    omap = ObjectMap(ObjectMapConfig(drop_tentative_after_keyframes=3))
    omap.integrate([obs("vase", [0, 3, 0.2], [0.2, 0.2, 0.3], rng)], 0.0, 0)
    removed = []
    for k in range(1, 5):
        ch = omap.integrate([], float(k), k)
        removed += ch.tentative_removed
    assert removed == [1] and omap.tentative() == []
    omap.integrate([obs("vase", [0, 3, 0.2], [0.2, 0.2, 0.3], rng)], 5.0, 5)
    assert [o.id for o in omap.tentative()] == [2]


def test_duplicates_merge_into_older_id():
    rng = np.random.default_rng(4)
    cfg = ObjectMapConfig(confirm_observations=1, min_association_overlap=1.1,
                          max_center_distance_m=0.0)
    omap = ObjectMap(cfg)  # association disabled: every observation starts an object
    omap.integrate([obs("sofa", [0, 0, 0.4], [2.0, 0.9, 0.8], rng)], 0.0, 0)
    ch = omap.integrate([obs("sofa", [0.05, 0, 0.4], [2.0, 0.9, 0.8], rng)], 1.0, 1)
    assert ch.merged == [(2, 1)]
    assert [o.id for o in omap.objects()] == [1]
    assert omap.objects()[0].observation_count == 2


def test_caps_on_objects_and_evidence():
    rng = np.random.default_rng(5)
    cfg = ObjectMapConfig(max_objects=3, max_points_per_object=200, confirm_observations=1)
    omap = ObjectMap(cfg)
    for k in range(6):
        omap.integrate([obs("box", [3.0 * k, 0, 0.3], [0.6, 0.6, 0.6], rng)], float(k), k)
    assert len(omap.objects()) == 3
    big = [obs("bed", [0, 20, 0.3], [2.0, 1.5, 0.6], rng) for _ in range(3)]
    for pts_obs in big:
        pts_obs.points_m = box_points([0, 20, 0.3], [2.0, 1.5, 0.6], rng, n=5000)
    ev = VoxelEvidence(0.02, 200)
    for o in big:
        ev.add(o.points_m)
    assert len(ev) <= 200
    c = ev.centroids()
    assert c[:, 0].max() - c[:, 0].min() > 1.8  # coarsening keeps the extent


def test_invalid_observation_leaves_map_unchanged():
    rng = np.random.default_rng(6)
    omap = ObjectMap(ObjectMapConfig(confirm_observations=1))
    omap.integrate([obs("chair", [2, 0, 0.45], [0.5, 0.5, 0.9], rng)], 0.0, 0)
    before = omap.to_dict()
    good = obs("chair", [2, 0, 0.45], [0.5, 0.5, 0.9], rng)
    for bad in (Observation("chair", [np.nan, 0, 0], [1, 1, 1]),
                Observation("", [0, 0, 0], [1, 1, 1]),
                Observation("chair", [0, 0, 0], [1, -1, 1]),
                Observation("chair", [0, 0, 0], [1, 1, 1], points_m=np.full((3, 3), np.inf)),
                # Camera positions and scores are used after a new track is created, so
                # they must be rejected up front too.
                Observation("chair", [0, 0, 0], [1, 1, 1], camera_position_m=np.zeros(2)),
                Observation("chair", [0, 0, 0], [1, 1, 1],
                            camera_position_m=np.array([0.0, np.nan, 1.5])),
                Observation("chair", [0, 0, 0], [1, 1, 1], score=-5.0),
                Observation("chair", [0, 0, 0], [1, 1, 1], score=1.5),
                Observation("chair", [0, 0, 0], [1, 1, 1], score=float("nan")),
                Observation("chair", ["a", 0, 0], [1, 1, 1]),
                "not an observation"):
        with pytest.raises(InvalidObservationError):
            omap.integrate([good, bad], 1.0, 1)
    for stamp_s, keyframe_index in ((float("nan"), 1), (1.0, -1), (1.0, 1.5), (1.0, "1"),
                                    (1.0, None)):
        with pytest.raises(InvalidObservationError):
            omap.integrate([good], stamp_s, keyframe_index)
    assert omap.to_dict() == before
    assert omap.objects()[0].score == pytest.approx(0.9)


@pytest.mark.parametrize("voxel_size_m", [0.0, -0.03, float("nan"), float("inf")])
def test_map_file_with_bad_voxel_size_is_rejected(voxel_size_m):
    rng = np.random.default_rng(9)
    omap = ObjectMap(ObjectMapConfig(confirm_observations=1))
    omap.integrate([obs("chair", [2, 0, 0.45], [0.5, 0.5, 0.9], rng)], 0.0, 0)
    data = omap.to_dict()
    data["objects"][0]["evidence"]["voxel_size_m"] = voxel_size_m
    with pytest.raises(ObjectMapFormatError):
        ObjectMap.from_dict(data, config=omap.config)


@pytest.mark.parametrize("field, value", [
    ("counts", [float("nan")]), ("counts", [float("inf")]), ("voxel_size_m", "x"),
    ("points", [[0.0, 0.0]])])
def test_evidence_with_bad_numbers_is_rejected(field, value):
    data = {"voxel_size_m": 0.03, "points": [[0.0, 0.0, 0.0]], "counts": [1.0]}
    data[field] = value
    with pytest.raises(EvidenceFormatError):
        VoxelEvidence.from_dict(data, 100)
    with pytest.raises(EvidenceFormatError):
        VoxelEvidence.from_dict({"voxel_size_m": 0.03, "points": [], "counts": []}, 0)


@pytest.mark.parametrize("field, value", [
    ("score", -0.5), ("score", float("nan")), ("yaw_rad", float("inf")),
    ("size_m", [0.5, -0.5, 0.9]), ("views_m", [[0.0, float("nan"), 1.5]]),
    ("observation_count", 0), ("first_seen_s", float("nan"))])
def test_map_file_with_bad_object_numbers_is_rejected(field, value):
    rng = np.random.default_rng(10)
    omap = ObjectMap(ObjectMapConfig(confirm_observations=1))
    omap.integrate([obs("chair", [2, 0, 0.45], [0.5, 0.5, 0.9], rng)], 0.0, 0)
    data = omap.to_dict()
    data["objects"][0][field] = value
    with pytest.raises(ObjectMapFormatError):
        ObjectMap.from_dict(data, config=omap.config)


@pytest.mark.parametrize("kwargs", [
    {"voxel_size_m": float("nan")}, {"voxel_size_m": 0.0},
    {"min_voxel_size_m": 0.0}, {"min_voxel_size_m": 0.05}])
def test_config_rejects_bad_voxel_sizes(kwargs):
    with pytest.raises(ValueError):
        ObjectMapConfig(**kwargs)


def test_round_trip_through_dict():
    rng = np.random.default_rng(7)
    omap = ObjectMap(ObjectMapConfig(confirm_observations=1))
    omap.integrate([obs("chair", [2, 0, 0.45], [0.5, 0.5, 0.9], rng),
                    obs("table", [0, 2, 0.4], [1.2, 0.8, 0.8], rng)], 3.0, 0)
    copy = ObjectMap.from_dict(omap.to_dict(), config=omap.config)
    for a, b in zip(omap.objects(), copy.objects()):
        assert a.id == b.id and a.label == b.label
        assert np.allclose(a.center_m, b.center_m) and np.allclose(a.size_m, b.size_m)
    ch = copy.integrate([obs("lamp", [4, 4, 0.7], [0.4, 0.4, 1.4], rng)], 4.0, 1)
    assert ch.added == [3]  # ids continue after a reload
    with pytest.raises(ObjectMapFormatError):
        ObjectMap.from_dict({"objects": [{"id": 1}], "next_id": 2})
    with pytest.raises(ObjectMapFormatError):
        ObjectMap.from_dict({"objects": [], "next_id": "x"})


def test_pending_fit_is_refitted_when_context_arrives():
    from ssr_ros.core.objects import BoxFit

    context = {"wall": None}

    def fitter(label, pts, weights, views):
        lo, hi = pts.min(0), pts.max(0)
        size = hi - lo
        if context["wall"] is None:
            return BoxFit((lo + hi) / 2, size, 0.0, pending=True)
        return BoxFit((lo + hi) / 2 + [0.2, 0, 0], size + [0.4, 0, 0], 0.0, from_prior=True)

    rng = np.random.default_rng(8)
    omap = ObjectMap(ObjectMapConfig(confirm_observations=1), box_fitter=fitter)
    omap.integrate([obs("wardrobe", [2, 0, 1.0], [0.02, 1.2, 2.0], rng)], 0.0, 0)
    assert omap.refit_pending().updated == []  # still no context: nothing moves
    context["wall"] = 0.6
    ch = omap.refit_pending()
    assert ch.updated == [1]
    o = omap.objects()[0]
    assert o.size_from_prior and o.center_m[0] == pytest.approx(2.2, abs=0.01)
    assert omap.refit_pending().updated == []  # done: no longer pending
