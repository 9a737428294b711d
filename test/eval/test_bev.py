"""Bird's-eye pictures: grid geometry of a triplet, and the rendered PNGs with axes in
metres, a scale bar of the right length, a legend naming boxes and both triplet edge
kinds, labels that do not overlap, and (comparison) missed and false objects marked."""

import itertools

import numpy as np
import pytest

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.types import ObjectState

bev = pytest.importorskip("ssr_ros.eval.bev", reason="Pillow is not installed")

OBJECTS = [ObjectState(1, "sofa", [0, 0, 0.4], [2.0, 0.9, 0.8]),
           ObjectState(2, "tv", [4, 0, 0.8], [1.2, 0.2, 0.7]),
           ObjectState(3, "lamp", [2, 2, 0.8], [0.4, 0.4, 1.6], yaw_rad=0.5)]


def _cogmap(objects=OBJECTS):
    cogmap = LocalCogMap()
    cogmap.sync(objects)
    return cogmap


def _crowded(n=14, seed=0):
    """Small objects packed into a 1.5 m square: labels must move to stay apart."""
    rng = np.random.default_rng(seed)
    return [ObjectState(i + 1, f"object{i + 1}", [*rng.uniform(0, 1.5, 2), 0.3],
                        [0.2, 0.2, 0.3]) for i in range(n)]


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(inner, outer):
    return (inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2]
            and inner[3] <= outer[3])


def test_triplet_grid_has_its_anchor_at_a_cell_centre_and_contains_the_target():
    cogmap = _cogmap()
    link = cogmap.link(3)
    grid = bev.triplet_grid_corners(cogmap, 3)
    assert grid.shape == (11, 11, 2)
    col, row = link.cell_a
    centre_a = grid[col:col + 2, row:row + 2].reshape(-1, 2).mean(axis=0)
    assert centre_a == pytest.approx(cogmap.position_xy(link.anchor_a))
    col, row = link.cell
    cell_c = grid[col:col + 2, row:row + 2].reshape(-1, 2)
    lo, hi = cell_c.min(axis=0), cell_c.max(axis=0)
    c_xy = cogmap.position_xy(3)
    assert np.all(c_xy >= lo - 1e-9) and np.all(c_xy <= hi + 1e-9)
    assert bev.triplet_grid_corners(cogmap, 1) is None


def test_png_is_written_with_objects_edges_grid_and_path(tmp_path):
    path = bev.save_bev(tmp_path / "out" / "bev.png", OBJECTS, _cogmap(),
                        path_m=np.array([[-1.0, -1.0, 1.2], [3.0, -1.5, 1.2]]), size_px=300)
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    for colour in (bev._BOX, bev._EDGE_A, bev._EDGE_B, bev._GRID, bev._PATH):
        assert colour in colours


@pytest.mark.parametrize("step_span", [(0.5, 3.0), (1.0, 6.0), (2.0, 9.0), (5.0, 30.0)])
def test_nice_step_is_1_2_5(step_span):
    step, span = step_span
    assert bev.nice_step_m(span) == pytest.approx(step)


def test_map_layout_has_legend_scale_bar_and_separate_labels():
    image, layout = bev.render_bev_layout(OBJECTS, _cogmap(), size_px=400)
    plot = layout.plots["map"]
    assert plot[2] - plot[0] == pytest.approx(400, abs=2)  # longer side of the plot area
    # the legend sits beside the plot, inside the image, and names both edge kinds
    assert layout.legend is not None and not _overlap(layout.legend, plot)
    assert _inside(layout.legend, (0, 0, *image.size))
    text = " ".join(layout.legend_entries)
    assert "object box" in text and "anchor A" in text and "anchor B" in text
    assert "10 x 10 grid" in text
    bar = layout.scale_bars["map"]
    assert _inside(bar, plot)
    labels = [b for (panel, _), b in layout.labels.items() if panel == "map"]
    assert len(labels) == len(OBJECTS)
    assert all(_inside(b, plot) for b in labels)
    assert not any(_overlap(a, b) for a, b in itertools.combinations(labels + [bar], 2))


def test_scale_bar_is_as_long_as_it_says():
    """The black bar's length in pixels is its label's metres times the plot's scale."""
    image, layout = bev.render_bev_layout(OBJECTS, None, size_px=500)
    pixels = np.asarray(image)
    x0, y0, x1, y1 = (int(round(v)) for v in layout.scale_bars["map"])
    bar_rows = [y for y in range(y0, y1) if np.sum(np.all(pixels[y, x0:x1] == bev._TEXT,
                                                          axis=1)) > 20]
    assert bar_rows, "no bar drawn"
    run = int(np.sum(np.all(pixels[bar_rows[-1], x0:x1] == bev._TEXT, axis=1)))
    # x is the longer side here: the plot's 500 px span its extent plus two 0.5 m margins
    lo = min(o.center_m[0] - o.size_m[0] / 2 for o in OBJECTS) - 0.5
    hi = max(o.center_m[0] + o.size_m[0] / 2 for o in OBJECTS) + 0.5
    scale_px_per_m = 499 / (hi - lo)
    bar_m = bev.nice_step_m(hi - lo, 5)
    assert run == pytest.approx(bar_m * scale_px_per_m, abs=2)


def test_crowded_labels_do_not_overlap():
    objects = _crowded()
    _, layout = bev.render_bev_layout(objects, _cogmap(objects), size_px=500)
    boxes = list(layout.labels.values()) + list(layout.scale_bars.values())
    assert len(layout.labels) == len(objects)
    pairs = [(a, b) for a, b in itertools.combinations(boxes, 2) if _overlap(a, b)]
    assert not pairs


def test_comparison_marks_missed_and_false_and_shares_the_scale():
    truth = [type("GT", (), dict(id=10 + o.id, category=o.label, center_m=o.center_m,
                                 size_m=o.size_m, yaw_rad=o.yaw_rad))() for o in OBJECTS]
    predicted = OBJECTS[:2] + [ObjectState(7, "chair", [3, 3, 0.4], [0.5, 0.5, 0.9])]
    image, layout = bev.render_comparison(predicted, truth, false_ids={7}, missed_ids={13},
                                          cogmap=_cogmap(predicted), size_px=300)
    pixels = {tuple(c) for c in np.asarray(image).reshape(-1, 3)}
    assert bev._FALSE in pixels and bev._MISSED in pixels and bev._TRUTH in pixels
    a, b = layout.plots["map"], layout.plots["truth"]
    assert (a[2] - a[0], a[3] - a[1]) == (b[2] - b[0], b[3] - b[1])
    assert not _overlap(a, b) and not _overlap(layout.legend, a) \
        and not _overlap(layout.legend, b)
    text = " ".join(layout.legend_entries)
    assert "missed" in text and "false" in text and "ground-truth" in text
    for panel in ("map", "truth"):
        boxes = [v for (p, _), v in layout.labels.items() if p == panel]
        assert not any(_overlap(x, y) for x, y in itertools.combinations(boxes, 2))
    assert ("truth", 13) in layout.labels and ("map", 7) in layout.labels


def test_comparison_of_an_empty_map_still_draws_the_truth():
    truth = [type("GT", (), dict(id=1, category="sofa", center_m=np.array([0, 0, 0.4]),
                                 size_m=np.array([2, 1, 0.8]), yaw_rad=0.0))()]
    image, layout = bev.render_comparison([], truth, missed_ids={1}, size_px=200)
    assert ("truth", 1) in layout.labels and not [k for k in layout.labels if k[0] == "map"]
    assert bev._MISSED in {tuple(c) for c in np.asarray(image).reshape(-1, 3)}
