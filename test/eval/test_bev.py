"""Bird's-eye picture: grid geometry of a triplet and the rendered PNG."""

import numpy as np
import pytest

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.types import ObjectState

bev = pytest.importorskip("ssr_ros.eval.bev", reason="Pillow is not installed")

OBJECTS = [ObjectState(1, "sofa", [0, 0, 0.4], [2.0, 0.9, 0.8]),
           ObjectState(2, "tv", [4, 0, 0.8], [1.2, 0.2, 0.7]),
           ObjectState(3, "lamp", [2, 2, 0.8], [0.4, 0.4, 1.6], yaw_rad=0.5)]


def _cogmap():
    cogmap = LocalCogMap()
    cogmap.sync(OBJECTS)
    return cogmap


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
    assert max(image.shape[:2]) == 300
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    for colour in (bev._BOX, bev._EDGE_A, bev._GRID, bev._PATH):
        assert colour in colours
