"""Pinhole camera: validation, back-projection, projection, distortion."""

import numpy as np
import pytest

from ssr_ros.core.camera import (
    ImageSizeMismatchError,
    InvalidDepthError,
    InvalidIntrinsicsError,
    PinholeCamera,
    depth_from_millimetres,
    validate_depth,
)

K = np.array([[100.0, 0, 31.5], [0, 110.0, 23.5], [0, 0, 1]])


def test_backproject_then_project_is_identity():
    cam = PinholeCamera.from_K(K, 64, 48)
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 4.0, size=(48, 64)).astype(np.float32)
    pts = cam.backproject(depth)
    assert pts.shape == (48, 64, 3)
    assert np.allclose(pts[..., 2], depth)
    uv, front = cam.project(pts.reshape(-1, 3))
    v, u = np.mgrid[0:48, 0:64]
    assert front.all()
    assert np.allclose(uv, np.stack([u.ravel(), v.ravel()], 1), atol=1e-3)


def test_principal_point_ray_is_optical_axis():
    cam = PinholeCamera.from_K(K, 64, 48)
    p = cam.backproject_pixels(np.array([31.5]), np.array([23.5]), np.array([2.0]))
    assert np.allclose(p, [[0, 0, 2.0]])


def test_distortion_round_trip():
    cam = PinholeCamera.from_K(K, 64, 48, distortion=[-0.2, 0.05, 0.001, -0.001, 0.0])
    depth = np.full((48, 64), 2.0, dtype=np.float32)
    pts = cam.backproject(depth).reshape(-1, 3)
    uv, _ = cam.project(pts)
    v, u = np.mgrid[0:48, 0:64]
    assert np.allclose(uv, np.stack([u.ravel(), v.ravel()], 1), atol=1e-3)
    # Distortion changes the rays compared to the undistorted camera.
    plain = PinholeCamera.from_K(K, 64, 48).backproject(depth).reshape(-1, 3)
    assert np.abs(plain - pts).max() > 0.01


def test_points_behind_camera_are_flagged():
    cam = PinholeCamera.from_K(K, 64, 48)
    _, front = cam.project(np.array([[0, 0, -1.0], [0, 0, 1.0]]))
    assert front.tolist() == [False, True]


@pytest.mark.parametrize("bad", [
    [[0.0, 0, 1], [0, 100, 1], [0, 0, 1]],
    [[-5.0, 0, 1], [0, 100, 1], [0, 0, 1]],
    [[100.0, 0, 1], [0, 0, 1], [0, 0, 1]],
    [[np.nan, 0, 1], [0, 100, 1], [0, 0, 1]],
    [[100.0, 0, 1], [0, 100, 1]],
])
def test_bad_K_rejected(bad):
    with pytest.raises(InvalidIntrinsicsError):
        PinholeCamera.from_K(np.array(bad, dtype=float), 64, 48)


def test_bad_depth_rejected():
    good = np.ones((4, 4), dtype=np.float32)
    for value, message in ((np.nan, "NaN or inf"), (np.inf, "NaN or inf"),
                           (-np.inf, "NaN or inf"), (-1.0, "negative")):
        bad = good.copy()
        bad[1, 1] = value
        with pytest.raises(InvalidDepthError, match=message):
            validate_depth(bad)
    # a NaN beside a negative value is reported as the NaN
    bad = good.copy()
    bad[0, 0], bad[3, 3] = -1.0, np.nan
    with pytest.raises(InvalidDepthError, match="NaN or inf"):
        validate_depth(bad)
    with pytest.raises(InvalidDepthError, match="no valid pixel"):
        validate_depth(np.zeros((0, 4), dtype=np.float32))
    with pytest.raises(InvalidDepthError):
        validate_depth(np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(InvalidDepthError):
        validate_depth(np.ones((4, 4), dtype=np.uint16))
    with pytest.raises(ImageSizeMismatchError):
        validate_depth(good, shape=(5, 4))
    cam = PinholeCamera.from_K(K, 64, 48)
    with pytest.raises(ImageSizeMismatchError):
        cam.backproject(good)


def test_depth_from_millimetres_keeps_zero_invalid():
    d = depth_from_millimetres(np.array([[0, 5000]], dtype=np.uint16), 5000.0)
    assert d.dtype == np.float32 and d.tolist() == [[0.0, 1.0]]
    d = depth_from_millimetres(np.array([[0, 1500]], dtype=np.int32))
    assert d.tolist() == [[0.0, 1.5]]


@pytest.mark.parametrize("raw, units", [
    (np.array([[0, 1000]], dtype=np.uint16), np.nan),
    (np.array([[0, 1000]], dtype=np.uint16), np.inf),
    (np.array([[0, 1000]], dtype=np.uint16), 0.0),
    (np.array([[0, 1000]], dtype=np.uint16), -1000.0),
    (np.array([[0, -1000]], dtype=np.int16), 1000.0),
    (np.array([[0.0, 1.5]], dtype=np.float32), 1000.0),
    (np.array([[True, False]]), 1000.0),
    (np.array([0, 1000], dtype=np.uint16), 1000.0),
])
def test_depth_from_millimetres_rejects_bad_input(raw, units):
    with pytest.raises(InvalidDepthError):
        depth_from_millimetres(raw, units)


def test_distorted_projection_matches_opencv():
    cv2 = pytest.importorskip("cv2", reason="OpenCV is the reference for plumb-bob")
    D = np.array([-0.28, 0.09, 0.0012, -0.0008, -0.015])
    Kc = np.array([[520.0, 0.0, 319.5], [0.0, 525.0, 241.0], [0.0, 0.0, 1.0]])
    cam = PinholeCamera.from_K(Kc, 640, 480, distortion=D)
    rng = np.random.default_rng(3)
    # Points filling the field of view out to the corners, where distortion is strongest.
    xy = rng.uniform([-0.6, -0.45], [0.6, 0.45], size=(500, 2))
    z = rng.uniform(0.4, 6.0, size=500)
    pts = np.column_stack([xy * z[:, None], z])
    uv, front = cam.project(pts)
    ref, _ = cv2.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), Kc, D)
    assert front.all()
    assert np.abs(uv - ref.reshape(-1, 2)).max() < 1e-6
    # Distortion is large enough there that a wrong coefficient would show.
    plain, _ = PinholeCamera.from_K(Kc, 640, 480).project(pts)
    assert np.abs(plain - uv).max() > 20.0


def test_scaled_camera_matches_downsampled_image():
    cam = PinholeCamera.from_K(K, 64, 48)
    half = cam.scaled(0.5)
    assert (half.width, half.height) == (32, 24)
    # The point seen at full-res pixel (2.5, 2.5) is at half-res pixel (1, 1)'s centre.
    p = cam.backproject_pixels(np.array([2.5]), np.array([2.5]), np.array([1.0]))
    uv, _ = half.project(p)
    assert np.allclose(uv, [[1.0, 1.0]], atol=1e-9)
