"""Box lifting finds the object, not the biggest surface: a chair in front of a dining
table, a cup on a table, a cabinet against a wall, a printer on a desk whose box the
desk's box holds, the wall above a desk; coverage is judged on the whole box."""

import math

import numpy as np
import pytest

from ssr_ros.core.camera import PinholeCamera
from ssr_ros.core.keyframes import Keyframe
from ssr_ros.perception.box_clusters import BoxClusterConfig, explain_box, explain_boxes
from ssr_ros.perception.lifting import Lifter, Rejection
from ssr_ros.perception.priors import size_prior
from ssr_ros.perception.proposals import Box2D, BoxesSource

from synthetic_rgbd import camera_pose, render

W, H = 320, 240
K = np.array([[260.0, 0, 159.5], [0, 260.0, 119.5], [0, 0, 1]])
CAM = PinholeCamera.from_K(K, W, H)


def _chair(x, y):
    """A dining chair (seat, back, four legs) as boxes (centre, size) [m], its back on the
    far side (+x) from a camera looking along +x."""
    parts = [((x, y, 0.45), (0.45, 0.45, 0.04)),                # seat
             ((x + 0.2, y, 0.88), (0.04, 0.45, 0.08))]          # top rail of the back
    for dy in (-0.2, 0.2):                                      # back posts
        parts.append(((x + 0.2, y + dy, 0.66), (0.04, 0.04, 0.4)))
    for dx in (-0.2, 0.2):
        for dy in (-0.2, 0.2):
            parts.append(((x + dx, y + dy, 0.215), (0.04, 0.04, 0.43)))
    return parts


def _table(x, y):
    """A dining table 0.9 (x) by 1.6 (y) by 0.75 m: top and four legs."""
    parts = [((x, y, 0.73), (0.9, 1.6, 0.04))]
    for dx in (-0.4, 0.4):
        for dy in (-0.75, 0.75):
            parts.append(((x + dx, y + dy, 0.355), (0.05, 0.05, 0.71)))
    return parts


def _scene(groups, T):
    """Render boxes grouped into objects; returns depth and an object-id image (group
    index + 1)."""
    boxes = [b for g in groups for b in g]
    owner = np.concatenate([[0]] + [[k + 1] * len(g) for k, g in enumerate(groups)])
    depth, ids, _ = render(CAM, T, boxes)
    return depth, owner[ids]


def _tight_box(obj_ids, k):
    rows, cols = np.nonzero(obj_ids == k)
    return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1


def _purity(ex, obj_ids, k):
    return float(np.mean(obj_ids[ex.rows, ex.cols] == k)) if len(ex.rows) else 0.0


def test_chair_in_front_of_a_dining_table_is_the_chair_not_the_table():
    # Camera 1.3 m up, looking along +x and down at a chair standing in front of the
    # long side of a table; through and around the chair, the table fills its box.
    T = camera_pose(0.3, 2.5, 1.3, 0.0, math.radians(25))
    depth, objs = _scene([_chair(2.0, 2.5), _table(2.75, 2.5)], T)
    x0, y0, x1, y1 = _tight_box(objs, 1)
    inside = objs[y0:y1, x0:x1]
    # The chair is under half of its box; the table and the floor show around it.
    assert np.mean(inside == 1) < 0.5 and np.mean(inside == 2) > 0.05
    ex = explain_box(x0, y0, x1, y1, depth, K, T, size_prior("chair"))
    # (The biggest depth cluster is half chair, half table and floor.)
    assert _purity(ex, objs, 1) > 0.8
    assert len(ex.rows) > 0.3 * (inside[::2, ::2] == 1).sum()


def test_cup_on_a_table_is_the_cup_and_the_table_top_is_support():
    T = camera_pose(0.5, 2.5, 1.4, 0.0, math.radians(35))
    cup = [((2.0, 2.5, 0.8), (0.09, 0.09, 0.1))]
    depth, objs = _scene([cup, _table(2.2, 2.5)], T)
    x0, y0, x1, y1 = _tight_box(objs, 1)
    # A detector's box is a little loose: 3 px around the cup.
    ex = explain_box(x0 - 3, y0 - 3, x1 + 3, y1 + 3, depth, K, T, size_prior("cup"),
                     BoxClusterConfig(stride=1))
    assert ex.support > 0                           # the table top around the cup
    assert _purity(ex, objs, 1) > 0.9


def test_cabinet_against_the_wall_is_the_cabinet():
    T = camera_pose(1.0, 2.5, 1.2, 0.0, math.radians(15))
    cabinet = [((5.75, 2.5, 0.45), (0.5, 0.8, 0.9))]          # the room's wall is x = 6
    depth, objs = _scene([cabinet], T)
    x0, y0, x1, y1 = _tight_box(objs, 1)
    ex = explain_box(x0 - 4, y0 - 4, x1 + 4, y1 + 4, depth, K, T, size_prior("cabinet"))
    assert _purity(ex, objs, 1) > 0.9


def test_without_pose_or_prior_the_middle_of_the_box_still_wins():
    T = camera_pose(1.0, 2.5, 1.2, 0.0, math.radians(15))
    depth, objs = _scene([[((4.0, 2.5, 0.45), (0.5, 0.8, 0.9))]], T)
    x0, y0, x1, y1 = _tight_box(objs, 1)
    ex = explain_box(x0 - 6, y0 - 6, x1 + 6, y1 + 6, depth)
    assert _purity(ex, objs, 1) > 0.9 and ex.support == 0


def test_printer_on_a_desk_keeps_its_pixels_when_both_boxes_are_explained():
    # A printer stands on a desk, its face flush with the desk's front: one surface at
    # one depth, so the desk's box alone takes the printer with it.
    T = camera_pose(0.8, 2.5, 1.5, 0.0, math.radians(30))
    desk = [((3.0, 2.5, 0.375), (0.7, 1.4, 0.75))]
    printer = [((2.72, 2.3, 0.85), (0.14, 0.45, 0.2))]
    depth, objs = _scene([desk, printer], T)
    boxes = [_tight_box(objs, 1), _tight_box(objs, 2)]
    priors = [size_prior("desk"), size_prior("printer")]
    alone = explain_box(*boxes[0], depth, K, T, priors[0])
    assert np.sum(objs[alone.rows, alone.cols] == 2) > 200
    ex_desk, ex_printer = explain_boxes(boxes, depth, K, T, priors)
    assert _purity(ex_desk, objs, 1) > 0.98 and _purity(ex_printer, objs, 2) > 0.98
    assert len(ex_printer.rows) > 0.9 * (objs[::2, ::2] == 2).sum()
    # No pixel is given twice.
    desk_px = set(zip(ex_desk.rows.tolist(), ex_desk.cols.tolist()))
    assert not desk_px & set(zip(ex_printer.rows.tolist(), ex_printer.cols.tolist()))


def test_wall_above_a_desk_is_not_the_desk():
    # A desk against the wall (x = 6), seen from above and cut by the image's bottom;
    # the box reaches 10 % above the desk's far edge, where the wall joins the desk top
    # without a depth step.
    T = camera_pose(4.8, 2.5, 1.6, 0.0, math.radians(35))
    depth, objs = _scene([[((5.65, 2.5, 0.375), (0.7, 1.4, 0.75))]], T)
    x0, y0, x1, y1 = _tight_box(objs, 1)
    y0 -= (y1 - y0) // 10
    assert np.mean(objs[y0:y1, x0:x1] == 0) > 0.05                 # wall in the box
    ex = explain_box(x0, y0, x1, y1, depth, K, T, size_prior("desk"))
    assert _purity(ex, objs, 1) > 0.95
    # A picture hangs flush with the wall: for it the wall stays.
    pic = [((5.99, 2.5, 1.5), (0.02, 0.8, 0.6))]
    depth, objs = _scene([pic], T)
    x0, y0, x1, y1 = _tight_box(objs, 1)
    assert len(explain_box(x0, y0, x1, y1, depth, K, T, size_prior("picture")).rows) > 0


def test_boxes_apart_are_explained_as_alone_and_priors_must_match():
    T = camera_pose(1.0, 2.5, 1.2, 0.0, math.radians(15))
    depth, objs = _scene([[((4.0, 1.5, 0.45), (0.5, 0.8, 0.9))],
                          [((4.0, 3.5, 0.45), (0.5, 0.8, 0.9))]], T)
    boxes = [_tight_box(objs, 1), _tight_box(objs, 2)]
    prior = size_prior("cabinet")
    joint = explain_boxes(boxes, depth, K, T, [prior, prior])
    for box, ex in zip(boxes, joint):
        alone = explain_box(*box, depth, K, T, prior)
        assert np.array_equal(ex.rows, alone.rows) and ex.score == alone.score
    with pytest.raises(ValueError, match="priors"):
        explain_boxes(boxes, depth, K, T, [prior])
    # Slivers at the image border (few sample columns) are explained without error.
    for x0, x1 in ((0, 6), (0, 10), (W - 7, W)):
        explain_box(x0, 60, x1, 180, depth, K, T, prior)


def _kf(depth, T):
    return Keyframe(np.zeros(depth.shape + (3,), np.uint8), depth, K, T, 0.0, 0)


def test_box_with_little_depth_is_rejected_on_the_whole_box():
    # 3 % of the box has depth (a dense patch: enough pixels for a refinement to keep),
    # the rest is a hole: the coverage is judged on the box, not on the kept pixels.
    T = camera_pose(1.0, 2.5, 1.2, 0.0)
    depth = np.zeros((H, W), np.float32)
    depth[100:112, 100:118] = 2.0                    # 216 px of a 100 x 72 box
    box = Box2D(90, 80, 100, 72, label="chair")
    props = BoxesSource().proposals_from_boxes([box], depth, K, T)
    assert len(props) == 1 and props[0].box_valid_fraction == pytest.approx(0.03, abs=0.005)
    assert len(props[0].rows) > 20                    # the patch alone would lift
    lifter = Lifter()
    out = lifter.lift(props[0], _kf(depth, T), CAM)
    assert isinstance(out, Rejection) and out.reason == "too little valid depth"
    assert lifter.rejection_counts["too little valid depth"] == 1
    # An object with depth all over the same box lifts.
    full = np.full((H, W), 3.0, np.float32)
    full[80:152, 90:190] = 2.0
    props = BoxesSource().proposals_from_boxes([box], full, K, T)
    assert not isinstance(lifter.lift(props[0], _kf(full, T), CAM), Rejection)


def test_box_with_no_usable_cluster_becomes_a_counted_rejection():
    T = camera_pose(1.0, 2.5, 1.2, 0.0)
    depth = np.zeros((H, W), np.float32)
    props = BoxesSource().proposals_from_boxes([Box2D(90, 80, 100, 72, "chair")], depth,
                                               K, T)
    assert len(props) == 1 and len(props[0].rows) == 0
    lifter = Lifter()
    assert lifter.lift(props[0], _kf(depth, T), CAM).reason == "too little valid depth"
    assert sum(lifter.rejection_counts.values()) == 1
