"""ViewState (the view's copy of the map) and the pure geometry behind the drawing."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from ssr_ros.core.relations import box_distance
from ssr_ros.core.types import ObjectState
from ssr_ros.view.geometry import closest_points, floor_extent, footprint, yaw_wxyz
from ssr_ros.view.state import ViewObject, ViewState, ViewTriplet, label_rgb


def _obj(i: int, label: str = "chair", x: float = 0.0) -> ViewObject:
    return ViewObject(i, label, (x, 0.0, 0.4), (0.5, 0.5, 0.8), 0.0, 0.9, 3)


def test_a_graph_replaces_the_previous_one_whatever_its_revision() -> None:
    state = ViewState()
    state.set_graph("map", 40, [_obj(2), _obj(1)], [ViewTriplet(1, 1, 1)])
    snap = state.snapshot
    assert [o.id for o in snap.objects] == [1, 2] and snap.revision == 40
    # a restarted node counts from zero again: its map is the truth from then on
    state.set_graph("map", 0, [_obj(7)], [])
    snap = state.snapshot
    assert [o.id for o in snap.objects] == [7] and snap.revision == 0
    assert snap.triplets == ()


def test_wait_change_wakes_on_a_write_and_times_out_without_one() -> None:
    state = ViewState()
    seen = state.version
    started = time.monotonic()
    assert state.wait_change(seen, 0.1).version == seen
    assert time.monotonic() - started >= 0.09
    writer = threading.Timer(0.05, lambda: state.set_room(np.zeros((0, 2))))
    writer.start()
    started = time.monotonic()
    assert state.wait_change(seen, 5.0).version == seen + 1
    assert time.monotonic() - started < 2.0
    writer.join()


def test_oriented_camera_path_wins_over_the_markers_path() -> None:
    state = ViewState()
    state.set_path(np.array([[0, 0, 1], [1, 0, 1]]), "cogmap/markers")
    cam = state.snapshot.camera
    assert cam.position_m == (1.0, 0.0, 1.0) and cam.wxyz is None
    q = np.array([[1, 0, 0, 0], [0, 0, 0, 2.0]])  # not normalised on purpose
    state.set_path(np.array([[0, 0, 1], [2, 0, 1]]), "cogmap/camera_path", q)
    assert state.snapshot.camera.wxyz == (0.0, 0.0, 0.0, 1.0)
    state.set_path(np.array([[5, 5, 1]]), "cogmap/markers")  # ignored now
    assert state.snapshot.camera.position_m == (2.0, 0.0, 1.0)
    state.set_path(np.zeros((0, 3)), "cogmap/camera_path", np.zeros((0, 4)))
    assert state.snapshot.camera is None


def test_a_degenerate_orientation_leaves_the_camera_unoriented() -> None:
    state = ViewState()
    state.set_path(np.array([[0, 0, 1]]), "cogmap/camera_path", np.zeros((1, 4)))
    assert state.snapshot.camera.wxyz is None


def test_label_colours_match_the_rviz_markers() -> None:
    markers = pytest.importorskip("ssr_ros.ros.markers",
                                  reason="rclpy message packages are not installed")
    for label in ("sofa", "dining table", "tv", "ß"):
        c = markers.label_color(label)
        assert label_rgb(label) == tuple(int(round(255 * v)) for v in (c.r, c.g, c.b))
    assert label_rgb("sofa") != label_rgb("bed")


def test_yaw_quaternion_rotates_x_onto_the_heading() -> None:
    w, x, y, z = yaw_wxyz(math.pi / 2)
    assert (x, y) == (0.0, 0.0)
    assert math.isclose(2 * math.atan2(z, w), math.pi / 2)


def test_footprint_is_counter_clockwise_and_sized() -> None:
    quad = footprint((1.0, 2.0, 0.0), (2.0, 1.0, 1.0), math.pi / 2)
    area = 0.5 * sum(quad[k, 0] * quad[(k + 1) % 4, 1] - quad[(k + 1) % 4, 0] * quad[k, 1]
                     for k in range(4))
    assert math.isclose(area, 2.0)
    assert np.allclose(quad.mean(axis=0), [1.0, 2.0])
    assert np.allclose(np.ptp(quad, axis=0), [1.0, 2.0])  # long side now along y


def test_closest_points_have_the_nodes_box_distance() -> None:
    rng = np.random.default_rng(11)
    for _ in range(300):
        boxes = []
        for _ in range(2):
            center = rng.uniform([-3, -3, 0.1], [3, 3, 1.5])
            size = rng.uniform(0.1, 2.0, 3)
            yaw = float(rng.uniform(-math.pi, math.pi))
            boxes.append((center, size, yaw))
        p, q = closest_points(*boxes[0], *boxes[1])
        a, b = (ObjectState(i, "x", c, s, y) for i, (c, s, y) in enumerate(boxes))
        assert math.isclose(float(np.linalg.norm(p - q)), box_distance(a, b),
                            abs_tol=1e-6)
        # each point lies on (or in) its own box's height interval
        for point, (c, s, _) in zip((p, q), boxes):
            assert c[2] - s[2] / 2 - 1e-9 <= point[2] <= c[2] + s[2] / 2 + 1e-9


def test_floor_extent_covers_the_points_in_whole_cells() -> None:
    center, width, height = floor_extent(np.array([[0.2, 0.1], [3.9, 2.2], [np.nan, 1]]))
    lo = center - [width / 2, height / 2]
    hi = center + [width / 2, height / 2]
    assert np.all(lo <= [0.2 - 1.0, 0.1 - 1.0]) and np.all(hi >= [3.9 + 1.0, 2.2 + 1.0])
    assert math.isclose(width / 0.5, round(width / 0.5))
    assert floor_extent(np.zeros((0, 2)))[1:] == (10.0, 10.0)
