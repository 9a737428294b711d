"""Boxes with instance masks (a segmentation node's): the mask's pixels are the object,
whatever depth cluster fills most of the box; coverage is judged on the mask; an empty
mask falls back to the box; the mask is sampled and its borders dropped as the label
image source does."""

import numpy as np
import pytest

from ssr_ros.core.keyframes import Keyframe
from ssr_ros.perception.box_masks import mask_pixels
from ssr_ros.perception.lifting import Lifter, Rejection
from ssr_ros.perception.proposals import Box2D, BoxesSource, InvalidBoxError, LabelImageSource

from synthetic_rgbd import camera_pose
from test_box_clusters import CAM, H, K, W, _scene, _table

# Looking down a little at a dining table with a low chest under it: in the table's box
# the chest fills more pixels than the table's top and legs do.
T = camera_pose(1.0, 2.5, 1.2, 0.0, 0.25)
TABLE, CHEST = 1, 2


@pytest.fixture(scope="module")
def scene():
    depth, obj = _scene([_table(3.0, 2.5), [((3.05, 2.5, 0.33), (0.6, 1.3, 0.66))]], T)
    rows, cols = np.nonzero(obj == TABLE)
    x0, y0, x1, y1 = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    box = (int(x0), int(y0), int(x1), int(y1))
    return depth, obj, box


def _box(bounds, mask=None, label="dining table"):
    x0, y0, x1, y1 = bounds
    return Box2D(x0, y0, x1 - x0, y1 - y0, label=label, mask=mask)


def _keyframe(depth):
    return Keyframe(np.zeros(depth.shape + (3,), np.uint8), depth, K, T, 0.0, index=0)


def test_the_mask_gives_the_table_where_the_box_gives_the_chest(scene):
    depth, obj, (x0, y0, x1, y1) = scene
    crop = obj[y0:y1, x0:x1]
    # the premise: the chest is the box's largest depth cluster
    assert (crop == CHEST).sum() > 1.3 * (crop == TABLE).sum()
    for label in ("dining table", "object"):  # with and without a size prior
        plain = BoxesSource().proposals_from_boxes([_box((x0, y0, x1, y1), label=label)],
                                                   depth, K, T)[0]
        assert np.mean(obj[plain.rows, plain.cols] == CHEST) > 0.5
        masked = BoxesSource().proposals_from_boxes(
            [_box((x0, y0, x1, y1), crop == TABLE, label)], depth, K, T)[0]
        assert len(masked.rows) > 500
        assert np.all(obj[masked.rows, masked.cols] == TABLE)
        assert masked.box_valid_fraction == pytest.approx(1.0)
        observation = Lifter().lift(masked, _keyframe(depth), CAM)
        assert not isinstance(observation, Rejection)
        # the table's top (0.73-0.75 m) is in the object; nothing of the chest's front
        # face (x = 2.75 m) between its legs is
        points = observation.points_m
        assert points[:, 2].max() > 0.7
        chest_face = (np.abs(points[:, 0] - 2.75) < 0.03) & (points[:, 2] < 0.6) & \
            (np.abs(points[:, 1] - 2.5) < 0.6)
        assert not chest_face.any()


def test_coverage_is_judged_on_the_mask(scene):
    depth, obj, (x0, y0, x1, y1) = scene
    holed = depth.copy()
    holed[obj == TABLE] = 0.0  # the table is black to the depth camera, the chest is not
    keep = obj == TABLE
    keep[::7, ::7] = False     # ... but for a few speckles of depth
    holed[(obj == TABLE) & ~keep] = depth[(obj == TABLE) & ~keep]
    mask = obj[y0:y1, x0:x1] == TABLE
    masked = BoxesSource().proposals_from_boxes([_box((x0, y0, x1, y1), mask)], holed,
                                                K, T)[0]
    assert masked.box_valid_fraction < 0.2
    lifter = Lifter()
    assert lifter.lift(masked, _keyframe(holed), CAM).reason == "too little valid depth"
    # the box alone has depth enough (the chest's), which is why the mask decides
    plain = BoxesSource().proposals_from_boxes([_box((x0, y0, x1, y1))], holed, K, T)[0]
    assert plain.box_valid_fraction > 0.4


def test_an_empty_mask_falls_back_to_the_box(scene):
    depth, obj, bounds = scene
    x0, y0, x1, y1 = bounds
    empty = np.zeros((y1 - y0, x1 - x0), bool)
    a = BoxesSource().proposals_from_boxes([_box(bounds)], depth, K, T)[0]
    b = BoxesSource().proposals_from_boxes([_box(bounds, empty)], depth, K, T)[0]
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.cols, b.cols)
    assert a.box_valid_fraction == b.box_valid_fraction


def test_masked_and_unmasked_boxes_keep_their_order(scene):
    depth, obj, (x0, y0, x1, y1) = scene
    rows, cols = np.nonzero(obj == CHEST)
    chest = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    boxes = [_box(chest, label="cabinet"),
             _box((x0, y0, x1, y1), obj[y0:y1, x0:x1] == TABLE),
             Box2D(0, 0, 10, 10, label="cup", score=0.1)]
    props = BoxesSource(min_score=0.5).proposals_from_boxes(boxes, depth, K, T)
    assert [p.label for p in props] == ["cabinet", "dining table"]
    assert np.all(obj[props[1].rows, props[1].cols] == TABLE)
    assert np.mean(obj[props[0].rows, props[0].cols] == CHEST) > 0.9


def test_mask_sampling_and_borders_match_the_label_image_source(scene):
    depth, obj, (x0, y0, x1, y1) = scene
    labels = obj.astype(np.uint16)
    frame = Keyframe(np.zeros((H, W, 3), np.uint8), depth, K, T, 0.0, index=0,
                     labels=labels, id_to_category={TABLE: "dining table", CHEST: "chest"})
    for stride in (1, 2, 3):
        source = LabelImageSource(stride=stride, min_pixels=1, drop_border=True)
        table = next(p for p in source.propose(frame) if p.instance_id == TABLE)
        got = mask_pixels(obj[y0:y1, x0:x1] == TABLE, (x0, y0, x1, y1), depth, stride,
                          min_pixels=1)
        assert sorted(zip(got.rows, got.cols)) == sorted(zip(table.rows, table.cols))


def test_mask_pixels_on_a_small_image():
    depth = np.full((8, 8), 2.0, np.float32)
    depth[3, 3] = 0.0
    mask = np.zeros((6, 6), bool)       # box (1, 1)-(7, 7)
    mask[1:5, 1:5] = True               # image rows and columns 2..5
    got = mask_pixels(mask, (1, 1, 7, 7), depth, stride=1, min_pixels=1)
    # the interior 3..4 x 3..4, less the pixel without depth
    assert sorted(zip(got.rows.tolist(), got.cols.tolist())) == [(3, 4), (4, 3), (4, 4)]
    assert got.valid_fraction == pytest.approx(15 / 16)
    # an interior under min_pixels keeps the border: all 15 pixels with depth
    got = mask_pixels(mask, (1, 1, 7, 7), depth, stride=1, min_pixels=4)
    assert len(got.rows) == 15 and (3, 3) not in zip(got.rows.tolist(), got.cols.tolist())
    # the image ends at the box's right edge: the mask goes on there, no border
    mask = np.ones((6, 3), bool)
    got = mask_pixels(mask, (5, 1, 8, 7), depth, stride=1, drop_border=True, min_pixels=1)
    assert set(got.cols.tolist()) == {6, 7}
    # on the image's grid of every second pixel, whatever the box's corner
    got = mask_pixels(np.ones((6, 6), bool), (1, 1, 7, 7), depth, stride=2,
                      drop_border=False)
    assert set(got.rows.tolist()) == {2, 4, 6} and set(got.cols.tolist()) == {2, 4, 6}
    assert mask_pixels(np.zeros((6, 6), bool), (1, 1, 7, 7), depth).valid_fraction == 0.0


def test_a_mask_of_another_shape_or_type_is_refused():
    depth = np.full((40, 40), 2.0, np.float32)
    for mask in (np.ones((10, 11), bool), np.ones((10, 10), np.uint8)):
        with pytest.raises(InvalidBoxError, match="mask"):
            BoxesSource().proposals_from_boxes([Box2D(5, 5, 10, 10, "cup", mask=mask)],
                                               depth)
    # a box beyond the image's edge: the mask covers its part inside the image
    ok = Box2D(35, 5, 10, 10, "cup", mask=np.ones((10, 5), bool))
    assert len(BoxesSource().proposals_from_boxes([ok], depth)) == 1
