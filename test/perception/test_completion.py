"""Completion of objects seen in part (``perception.completion``): growth only into space
no ray observed, up to the category's typical extent, toward the open face, the prior
laid the way the open space allows, and nothing for objects whose ends were seen."""

import math

import numpy as np
import pytest

from ssr_ros.perception.completion import complete_unseen, top_surface_z
from ssr_ros.perception.priors import size_prior

BED = size_prior("bed")            # 2.0 x 1.4 x 0.6
TV_STAND = size_prior("tv stand")  # 1.4 x 0.45 x 0.5


def _top_points(x0, x1, y0, y1, z, step=0.05):
    """Evidence of a seen top surface: a grid of points at height z."""
    xs = np.arange(x0, x1 + 1e-9, step)
    ys = np.arange(y0, y1 + 1e-9, step)
    X, Y = np.meshgrid(xs, ys)
    return np.stack([X.ravel(), Y.ravel(), np.full(X.size, z)], axis=1)


class _Space:
    """A world where every place is observed except where ``unseen(points) -> bool``
    holds, with measured surfaces where ``surfaces(points) -> bool`` holds; voxels of
    0.1 x 0.1 x 0.05 m as ``SeenSpace`` has them."""

    frames = 1

    def __init__(self, unseen, surfaces=None, hidden=None):
        self.unseen = unseen
        self.surfaces = surfaces
        self.hiddens = hidden

    def read(self, points):
        return np.stack([self.observed(points), self.surface(points), self.hidden(points)],
                        axis=1)

    def observed(self, points):
        return ~self.unseen(np.asarray(points, dtype=float))

    def hidden(self, points):
        points = np.asarray(points, dtype=float)
        return (np.zeros(len(points), bool) if self.hiddens is None
                else self.hiddens(points))

    def surface(self, points):
        points = np.asarray(points, dtype=float)
        return (np.zeros(len(points), bool) if self.surfaces is None
                else self.surfaces(points))

    def voxel_keys(self, points):
        ijk = np.floor(np.asarray(points, dtype=float) / [0.1, 0.1, 0.05]).astype(np.int64)
        return ((ijk[:, 0] + 5000) * 10000 + ijk[:, 1] + 5000) * 1000 + ijk[:, 2] + 500


class _Unknown(_Space):
    """Nothing known; ``self.unseen`` is called on probing (a test may make it fail)."""

    def read(self, points):
        if self.unseen is not None:
            self.unseen(points)
        return None


def _space(unseen, surfaces=None, hidden=None):
    return _Space(unseen, surfaces, hidden)


def _seen_part_of_bed():
    # The head half of a bed (x 0..0.9 of 2.0 m, the whole 1.4 m width), top at 0.55 m:
    # the fitted box of what was seen.
    pts = _top_points(0.0, 0.9, 0.0, 1.4, 0.55)
    return np.array([0.45, 0.7, 0.275]), np.array([1.4, 0.9, 0.55]), math.pi / 2, pts


def test_an_end_cut_off_grows_into_the_unobserved_space_to_the_typical_length():
    centre, size, yaw, pts = _seen_part_of_bed()
    # Beyond x = 0.9 nobody looked (the image border cut it off).
    grown = complete_unseen(centre, size, yaw, BED, pts, _space(lambda p: p[:, 0] > 0.9),
                            camera_positions_m=np.array([[-1.5, 0.7, 1.5]]))
    assert grown is not None
    c, s, _ = grown
    assert s[0] == pytest.approx(2.0, abs=0.01) and s[1] == pytest.approx(1.4, abs=0.01)
    # All of it toward +x (the other end was seen): centre of a 2.0 m bed from x = 0.
    assert c[:2] == pytest.approx([1.0, 0.7], abs=0.01)


def test_an_end_with_observed_space_beyond_does_not_grow():
    centre, size, yaw, pts = _seen_part_of_bed()
    assert complete_unseen(centre, size, yaw, BED, pts, _space(lambda p: np.zeros(len(p), bool)),
                           camera_positions_m=np.array([[-1.5, 0.7, 1.5]])) is None


def test_growth_stops_where_observed_space_begins():
    # Unobserved from the cut at x = 0.9 up to a wall face seen at x = 1.5.
    centre, size, yaw, pts = _seen_part_of_bed()
    grown = complete_unseen(centre, size, yaw, BED, pts,
                            _space(lambda p: (p[:, 0] > 0.9) & (p[:, 0] < 1.5)))
    assert grown is not None
    c, s, _ = grown
    far_end = c[0] + 0.5 * s[1]          # the bed's length lies across yaw = 90 deg
    assert 1.35 <= far_end <= 1.55
    assert s[1] < 2.0


def test_the_prior_is_laid_the_way_the_open_space_allows():
    # A TV stand seen end-on: its 0.45 m end face across x, filled 0.45 m deep; beyond the
    # face only the space behind it (+y, away from the camera) is unobserved.
    pts = _top_points(0.0, 0.45, 0.0, 0.45, 0.5)
    centre, size, yaw = np.array([0.225, 0.225, 0.25]), np.array([0.45, 0.45, 0.5]), 0.0
    grown = complete_unseen(centre, size, yaw, TV_STAND, pts,
                            _space(lambda p: p[:, 1] > 0.45),
                            camera_positions_m=np.array([[0.2, -2.0, 1.4]]))
    assert grown is not None
    c, s, y = grown
    assert s[0] == pytest.approx(1.4, abs=0.01) and s[1] == pytest.approx(0.45, abs=0.01)
    assert abs(math.sin(y)) == pytest.approx(1.0, abs=1e-6)   # its length along y now
    assert c[:2] == pytest.approx([0.225, 0.7], abs=0.01)


def test_open_on_every_side_it_grows_along_the_line_of_sight():
    # A cabinet's near end seen from far away along +y: 0.47 m wide (x), 0.31 m of its
    # length; the space around it is unobserved except in front (toward the cameras).
    pts = _top_points(0.0, 0.47, 0.0, 0.31, 0.9)
    centre, size, yaw = np.array([0.235, 0.155, 0.45]), np.array([0.47, 0.31, 0.9]), 0.0
    prior = size_prior("cabinet")
    grown = complete_unseen(centre, size, yaw, prior, pts, _space(lambda p: p[:, 1] > 0.0),
                            camera_positions_m=np.array([[0.2, -3.0, 1.5], [0.4, -2.8, 1.5]]))
    assert grown is not None
    c, s, y = grown
    length_axis = np.array([math.cos(y), math.sin(y)])
    assert abs(length_axis[1]) == pytest.approx(1.0, abs=1e-6)
    assert c[0] == pytest.approx(0.235, abs=0.01) and c[1] > 0.155 + 0.1


def test_nothing_known_or_nothing_short_leaves_the_box_alone():
    centre, size, yaw, pts = _seen_part_of_bed()
    assert complete_unseen(centre, size, yaw, BED, pts, _Unknown(None)) is None

    def never(points):
        raise AssertionError("a box of full size needs no probing")
    whole = np.array([2.0, 1.4, 0.55])
    assert complete_unseen(centre, whole, yaw, BED, pts, _Unknown(never)) is None


def test_top_surface_is_the_typical_height_not_the_highest_part():
    # A mattress at 0.55 m with a 1.0 m headboard strip along one end.
    pts = np.vstack([_top_points(0.0, 1.8, 0.0, 1.4, 0.55),
                     _top_points(1.9, 2.0, 0.0, 1.4, 1.0)])
    assert top_surface_z(pts) == pytest.approx(0.55, abs=1e-9)


def test_a_desk_seen_whole_is_not_taken_for_one_seen_across():
    # A desk seen whole (1.0 x 0.7 m, under the 1.4 m typical length) against a wall at
    # x = 0.7 whose lower part the desk hides: its ends were seen, and its 1.0 m side is
    # too long to be a desk's width, so nothing grows it into the wall.
    pts = _top_points(0.0, 0.7, 0.0, 1.0, 0.75)
    centre, size, yaw = np.array([0.35, 0.5, 0.375]), np.array([1.0, 0.7, 0.75]), math.pi / 2
    hidden_wall = _space(lambda p: p[:, 0] > 0.7)
    assert complete_unseen(centre, size, yaw, size_prior("desk"), pts, hidden_wall,
                           camera_positions_m=np.array([[-2.0, 0.5, 1.5]])) is None


def test_a_wall_the_room_estimate_knows_stops_the_growth():
    # The bed's cut end faces unobserved space, with a wall 0.5 m beyond the cut that
    # only the room estimate knows (seen above the bed's height).
    centre, size, yaw, pts = _seen_part_of_bed()
    calls = []

    def wall_distance(origin_xy, direction_xy, max_m):
        calls.append(max_m)
        if direction_xy[0] > 0.9:                      # toward +x
            return 1.4 - float(origin_xy[0])
        return None
    grown = complete_unseen(centre, size, yaw, BED, pts, _space(lambda p: p[:, 0] > 0.9),
                            camera_positions_m=np.array([[-1.5, 0.7, 1.5]]),
                            wall_distance=wall_distance)
    assert calls and grown is not None
    c, s, _ = grown
    assert c[0] + 0.5 * s[0] == pytest.approx(1.4, abs=0.01)
    assert s[0] == pytest.approx(1.4, abs=0.01)


def test_another_top_at_the_same_height_stops_it():
    # Two desks in an L: the seen part of one (0.6 of its length) ends where the other's
    # top begins. Under that top nothing was observed; the top itself was measured.
    pts = _top_points(0.0, 0.6, 0.0, 0.7, 0.75)
    centre, size, yaw = np.array([0.3, 0.35, 0.375]), np.array([0.6, 0.7, 0.75]), 0.0
    unseen = lambda p: p[:, 0] > 0.6                                    # noqa: E731
    other_top = lambda p: (p[:, 0] > 0.65) & (np.abs(p[:, 2] - 0.77) < 0.03)  # noqa: E731
    cams = np.array([[-2.0, 0.35, 1.5]])
    assert complete_unseen(centre, size, yaw, size_prior("desk"), pts,
                           _space(unseen, other_top), camera_positions_m=cams) is None
    assert complete_unseen(centre, size, yaw, size_prior("desk"), pts, _space(unseen),
                           camera_positions_m=cams) is not None


def test_hidden_space_beside_the_seen_face_is_not_grown_into():
    # The bed's seen part, looked at along its width (+y): beyond its x = 0.9 face the
    # space was in view but hidden behind something, as the wall behind furniture is.
    centre, size, yaw, pts = _seen_part_of_bed()
    cams = np.array([[0.45, -2.5, 1.5]])
    behind = _space(lambda p: p[:, 0] > 0.9, hidden=lambda p: p[:, 0] > 0.9)
    assert complete_unseen(centre, size, yaw, BED, pts, behind,
                           camera_positions_m=cams) is None
    # Out of every view there (an image border cut it off), it grows.
    cut = _space(lambda p: p[:, 0] > 0.9)
    assert complete_unseen(centre, size, yaw, BED, pts, cut, camera_positions_m=cams) \
        is not None
    # Looked at along its length (+x) instead, hidden space behind its end is open.
    along = np.array([[-2.5, 0.7, 1.5]])
    assert complete_unseen(centre, size, yaw, BED, pts, behind,
                           camera_positions_m=along) is not None


def test_a_sliver_hidden_under_the_cut_top_does_not_close_the_face():
    # Under the top of an object the image border cut, the first slab beyond the cut is
    # inside the view and hidden by the object itself; beyond it, out of view.
    centre, size, yaw, pts = _seen_part_of_bed()
    sliver = _space(lambda p: p[:, 0] > 0.9,
                    hidden=lambda p: (p[:, 0] > 0.9) & (p[:, 0] < 0.98))
    grown = complete_unseen(centre, size, yaw, BED, pts, sliver,
                            camera_positions_m=np.array([[0.45, -2.5, 1.5]]))
    assert grown is not None and grown[1][0] == pytest.approx(2.0, abs=0.01)
