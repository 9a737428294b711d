"""ObjectMap duplicate merging against neighbours of one category (issue 14): two chairs
side by side whose boxes each took a little of the other stay two objects, while pieces
of one object still merge."""

import numpy as np

from ssr_ros.core.objects import ObjectMap, ObjectMapConfig, Observation

CHAIR = np.array([0.5, 0.5, 0.9])


def max_plausible_length(label):
    """1.6 x the typical length of a chair (as ``priors.max_plausible_length``)."""
    return 0.8 if label == "chair" else None


def solid(lo, hi, rng, n=800):
    """``n`` points spread through the axis-aligned box ``lo``..``hi`` [m]."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return lo + rng.uniform(size=(n, 3)) * (hi - lo)


def observation(label, pts):
    lo, hi = pts.min(0), pts.max(0)
    return Observation(label, (lo + hi) / 2, hi - lo, 0.0, 0.9, pts,
                       np.array([0.3, -3.0, 1.4]))


def chair_points(x, rng, n=800):
    """A chair of ``CHAIR`` size standing on the floor centred at (x, 0)."""
    c = np.array([x, 0.0, 0.45])
    return solid(c - CHAIR / 2, c + CHAIR / 2, rng, n)


def separate_tracks_map(**kwargs) -> ObjectMap:
    """A map whose association never matches (every observation starts an object), so
    what these tests see is the duplicate merging alone."""
    cfg = ObjectMapConfig(confirm_observations=1, min_association_overlap=1.1,
                          max_center_distance_m=0.0)
    return ObjectMap(cfg, **kwargs)


def side_by_side(omap: ObjectMap, rng) -> None:
    """Chairs at x = 0 and x = 0.6 (a 0.1 m gap); the view of each took a 0.2 m strip of
    the other (one surface at one depth), so their boxes overlap (IoU about 0.27)."""
    a = np.vstack([chair_points(0.0, rng), solid([0.35, -0.25, 0.0], [0.45, 0.25, 0.9],
                                                 rng, 200)])
    b = np.vstack([chair_points(0.6, rng), solid([0.15, -0.25, 0.0], [0.25, 0.25, 0.9],
                                                 rng, 200)])
    omap.integrate([observation("chair", a)], 0.0, 0)
    omap.integrate([observation("chair", b)], 1.0, 1)


def test_chairs_side_by_side_stay_two_objects_near_their_centres():
    rng = np.random.default_rng(0)
    omap = separate_tracks_map(max_extent=max_plausible_length)
    side_by_side(omap, rng)
    objs = sorted(omap.objects(), key=lambda o: o.center_m[0])
    assert len(objs) == 2
    for o, x in zip(objs, (0.0, 0.6)):
        assert abs(o.center_m[0] - x) < 0.15
        assert np.linalg.norm(o.center_m - [x, 0.0, 0.45]) < 0.30


def test_without_category_limits_the_same_chairs_merge():
    # The same evidence without a plausible length per category: merged into one object
    # centred between the chairs, 0.3 m from each (what the limit prevents).
    rng = np.random.default_rng(0)
    omap = separate_tracks_map()
    side_by_side(omap, rng)
    (o,) = omap.objects()
    assert 0.2 < o.center_m[0] < 0.4


def test_pieces_of_one_object_still_merge():
    # One chair seen twice as overlapping pieces (a split view): the union is one chair.
    rng = np.random.default_rng(1)
    omap = separate_tracks_map(max_extent=max_plausible_length)
    pts = chair_points(0.0, rng, 1600)
    omap.integrate([observation("chair", pts[pts[:, 0] < 0.1])], 0.0, 0)
    ch = omap.integrate([observation("chair", pts[pts[:, 0] > -0.1])], 1.0, 1)
    assert ch.merged == [(2, 1)]
    (o,) = omap.objects()
    assert np.linalg.norm(o.center_m - [0.0, 0.0, 0.45]) < 0.05


def test_second_track_inside_an_overgrown_object_still_merges():
    # An object whose evidence is already too long for its category (a scrap of a
    # neighbour) absorbs a duplicate inside it: the union is hardly longer.
    rng = np.random.default_rng(2)
    omap = separate_tracks_map(max_extent=max_plausible_length)
    big = np.vstack([chair_points(0.0, rng), solid([0.25, -0.25, 0.0], [0.6, 0.25, 0.9],
                                                   rng, 300)])
    omap.integrate([observation("chair", big)], 0.0, 0)
    ch = omap.integrate([observation("chair", chair_points(0.05, rng))], 1.0, 1)
    assert ch.merged == [(2, 1)] and len(omap.objects()) == 1


def test_a_completed_box_joins_no_neighbour():
    # A box fitter that completes every object 1.2 m toward +x into space nobody saw
    # (BoxFit.measured: the box of what was measured). Two desks 1.0 m apart: their
    # completed boxes overlap, their measured boxes do not, and they stay two objects;
    # with the completion taken for a measurement (no ``measured``) they merge.
    from ssr_ros.core.geometry import fit_box_to_points
    from ssr_ros.core.objects import BoxFit

    def completing(label, points, weights, views, keep_measured=True):
        c, s, yaw = fit_box_to_points(points)
        grown_c, grown_s = c + np.array([0.6, 0.0, 0.0]), s + np.array([1.2, 0.0, 0.0])
        return BoxFit(grown_c, grown_s, 0.0, True, False,
                      measured=(c, s, yaw) if keep_measured else None)

    rng = np.random.default_rng(4)
    desks = [solid([0.0, 0.0, 0.0], [0.6, 0.6, 0.75], rng),
             solid([1.0, 0.0, 0.0], [1.6, 0.6, 0.75], rng)]
    counts = []
    for keep in (True, False):
        omap = ObjectMap(ObjectMapConfig(confirm_observations=1),
                         box_fitter=lambda *a, keep=keep: completing(*a, keep_measured=keep))
        for k, pts in enumerate(desks):
            omap.integrate([observation("desk", pts)], stamp_s=float(k), keyframe_index=k)
        counts.append(len(omap.objects()))
    assert counts == [2, 1]
