"""The z-buffer rasteriser against exact geometry and against Open3D's ray caster (the
reference renderer) on real scenes."""

from __future__ import annotations

import numpy as np
import pytest

from ssr_ros.sim import make_scene, render_sequence
from ssr_ros.sim.raster import NEAR_M, Rasterizer, available
from ssr_ros.sim.render import Renderer, RenderError, default_intrinsics

pytestmark = pytest.mark.skipif(not available(), reason="numba is not installed")

W, H = 64, 48
K = default_intrinsics(W, H)


def _camera_looking_along_x(x=0.0, z=1.0):
    """Optical frame at (x, 0, z) looking along map +x (x right = map -y, y down = -z)."""
    T = np.eye(4)
    T[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    T[:3, 3] = [x, 0.0, z]
    return T


def _pixel_ray(u, v):
    return np.array([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], 1.0])


def test_a_wall_facing_the_camera_has_its_exact_depth_and_index():
    # A square wall at x = 3 m (two triangles), wound differently, wider than the view.
    wall = np.array([[[3.0, -5.0, -5.0], [3.0, 5.0, -5.0], [3.0, 5.0, 5.0]],
                     [[3.0, -5.0, -5.0], [3.0, -5.0, 5.0], [3.0, 5.0, 5.0]]])
    depth, index = Rasterizer(wall).draw(_camera_looking_along_x(), K, W, H)
    np.testing.assert_allclose(depth, 3.0, rtol=0, atol=1e-6)
    assert set(np.unique(index)) == {0, 1}  # both windings drawn, no pixel missed


def test_a_slanted_triangle_matches_the_ray_plane_intersection():
    tri = np.array([[[2.0, 1.0, 0.2], [4.0, -1.5, 0.5], [2.5, -0.5, 2.0]]])
    depth, index = Rasterizer(tri).draw(_camera_looking_along_x(), K, W, H)
    seen = index.reshape(H, W) == 0
    assert 50 < seen.sum() < W * H
    a, b, c = (np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], float) @ (p - [0, 0, 1.0])
               for p in tri[0])  # the vertices in the optical frame
    n = np.cross(b - a, c - a)
    for v, u in zip(*np.nonzero(seen)):
        ray = _pixel_ray(u, v)
        z = n @ a / (n @ ray)  # where the pixel's ray meets the plane
        assert depth.reshape(H, W)[v, u] == pytest.approx(z, abs=1e-5)
    assert (depth.reshape(H, W)[~seen] == 0).all()


def test_nearer_triangle_wins_and_misses_are_marked():
    far = np.array([[3.0, -0.5, 0.5], [3.0, 0.5, 0.5], [3.0, 0.0, 1.5]])
    near = far - [1.0, 0.0, 0.0]  # same shape 1 m closer: covers the far one entirely
    for order in ([far, near], [near, far]):
        depth, index = Rasterizer(np.array(order)).draw(_camera_looking_along_x(), K, W, H)
        nearer = 1 if order[1] is near else 0
        assert (index == nearer).sum() > 0 and (index == 1 - nearer).sum() == 0
        assert (index == 2).sum() + (index == nearer).sum() == W * H  # 2 = nothing seen
        assert (depth[index == 2] == 0).all()


def test_triangles_reaching_behind_the_camera_are_clipped_not_lost():
    # A floor from behind the camera to far ahead: the lower half of the view sees it.
    # (500 m ahead: the row just below the horizon meets the floor ~100 m away.)
    floor = np.array([[[-5.0, -500.0, 0.0], [500.0, -500.0, 0.0], [500.0, 500.0, 0.0]],
                      [[-5.0, -500.0, 0.0], [500.0, 500.0, 0.0], [-5.0, 500.0, 0.0]]])
    depth, index = Rasterizer(floor).draw(_camera_looking_along_x(z=1.0), K, W, H)
    depth = depth.reshape(H, W)
    rows_below = np.arange(H) > K[1, 2]
    assert (depth[rows_below] > 0).all() and (depth[~rows_below] == 0).all()
    # The floor at depth z is seen in the row whose ray drops 1 m over z.
    v = H - 1
    assert depth[v, 0] == pytest.approx(1.0 / _pixel_ray(0, v)[1], rel=1e-6)
    assert depth[rows_below].min() > NEAR_M


def test_compiles_without_a_disk_cache_where_none_is_writable(monkeypatch):
    from ssr_ros.sim import raster

    real = raster.njit

    def njit(cache=False, **options):
        if cache:
            raise RuntimeError("cannot cache function 'f': no locator available")
        return real(cache=False, **options)

    monkeypatch.setattr(raster, "njit", njit)
    add = raster._compiled(lambda a, b: a + b)
    assert add(2, 3) == 5 and type(add._cache).__name__ == "NullCache"  # not cached
    assert type(raster._rasterize._cache).__name__ == "FunctionCache"  # cached here


def test_bad_triangles_are_refused():
    with pytest.raises(ValueError, match=r"\(T, 3, 3\)"):
        Rasterizer(np.zeros((4, 3)))


@pytest.mark.parametrize("seed", [1, 5])
def test_rasteriser_and_ray_caster_give_the_same_images(seed):
    scene = make_scene(seed)
    seq = render_sequence(scene, n_frames=30, width=160, height=120)
    raster, raycast = Renderer(scene, "raster"), Renderer(scene, "raycast")
    assert (raster.backend, raycast.backend) == ("raster", "raycast")
    label_differ = tri_differ = total = 0
    for i in range(0, 30, 3):
        a = raster.render(seq.poses[i], seq.K, 160, 120)
        b = raycast.render(seq.poses[i], seq.K, 160, 120)
        label_differ += (a["instance_ids"] != b["instance_ids"]).sum()
        total += a["instance_ids"].size
        np.testing.assert_array_equal(a["depth_m"] > 0, b["depth_m"] > 0)
        # Where both see the same triangle, depth and colour agree.
        _, tri_a, _ = raster._visible(seq.poses[i], seq.K, 160, 120)
        _, tri_b, _ = raycast._visible(seq.poses[i], seq.K, 160, 120)
        same = (tri_a == tri_b).reshape(120, 160)
        tri_differ += (~same).sum()
        np.testing.assert_allclose(a["depth_m"][same], b["depth_m"][same], rtol=1e-5,
                                   atol=1e-5)
        rgb_step = np.abs(a["rgb"].astype(int) - b["rgb"].astype(int)).max(axis=2)
        assert (rgb_step[same] <= 1).mean() > 0.9999  # a texel boundary may flip
    # Pixel centres on shared edges may go either way; anything more would be a fault,
    # or coplanar overlapping faces in a mesh (they flickered on cabinets before).
    assert label_differ / total < 1e-3
    assert tri_differ / total < 1e-3


def test_unknown_backend_is_refused():
    with pytest.raises(RenderError, match="unknown render backend"):
        Renderer(make_scene(1), "opengl")
