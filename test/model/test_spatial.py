"""Spatial encoder: pooling on the vision-token grid, zero gate, adapter files."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from ssr_ros.model.errors import AdapterError, SpatialInputError  # noqa: E402
from ssr_ros.model.spatial import (SpatialEncoder, SpatialEncoderConfig,  # noqa: E402
                                   check_keyframe_inputs, load_adapter, save_adapter,
                                   token_features)

CPU = torch.device("cpu")


def _plane(height=56, width=84, depth=2.0):
    K = np.array([[50.0, 0.0, (width - 1) / 2], [0.0, 50.0, (height - 1) / 2], [0, 0, 1.0]])
    return np.full((height, width), depth, np.float32), K


def test_plane_features_match_geometry_per_token():
    depth, K = _plane()
    T = np.eye(4)
    T[:3, 3] = [1.0, -2.0, 0.5]
    feats = token_features((2, 3), T, CPU, depth_m=depth, K=K).numpy()
    assert feats.shape == (6, 9)
    np.testing.assert_allclose(feats[:, 6], 2.0, atol=1e-6)   # mean depth [m]
    np.testing.assert_allclose(feats[:, 7], 0.0, atol=1e-6)   # flat: no depth spread
    np.testing.assert_allclose(feats[:, 8], 1.0)              # all valid
    np.testing.assert_allclose(feats[:, 2], 2.5, atol=1e-6)   # map z = 2 m + 0.5 m
    # Token (row 0, col 0) covers pixels u, v in [0, 28): its mean x in the camera frame.
    u_mean, v_mean = 13.5, 13.5
    np.testing.assert_allclose(feats[0, 0], 1.0 + (u_mean - K[0, 2]) * 2.0 / 50.0, atol=1e-5)
    np.testing.assert_allclose(feats[0, 1], -2.0 + (v_mean - K[1, 2]) * 2.0 / 50.0, atol=1e-5)
    # Row-major token order: token 1 is right of token 0, token 3 below it.
    assert feats[1, 0] > feats[0, 0] and feats[3, 1] > feats[0, 1]


def test_point_map_input_gives_the_same_features_as_depth():
    depth, K = _plane(depth=3.0)
    depth[:10, :] = 0.0
    T = np.eye(4)
    T[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)
    T[:3, 3] = [0.2, 0.4, 1.1]
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]]
    p_cam = np.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], -1)
    points = p_cam @ T[:3, :3].T + T[:3, 3]
    from_depth = token_features((2, 3), T, CPU, depth_m=depth, K=K)
    from_points = token_features((2, 3), T, CPU, points_map_m=points.astype(np.float32),
                                 valid=depth > 0)
    np.testing.assert_allclose(from_points.numpy(), from_depth.numpy(), atol=1e-5)
    assert float(from_depth[0, 8]) < 1.0  # the invalid rows lower the valid fraction


def test_resized_grid_samples_the_whole_frame():
    # A 96 x 128 frame seen as a 2 x 3 token grid (56 x 84 px): every source region is used.
    depth = np.ones((96, 128), np.float32)
    depth[:, 64:] = 3.0
    K = np.array([[80.0, 0, 63.5], [0, 80.0, 47.5], [0, 0, 1]])
    feats = token_features((2, 3), np.eye(4), CPU, depth_m=depth, K=K).numpy()
    np.testing.assert_allclose(feats[[0, 3], 6], 1.0, atol=1e-6)   # left column tokens
    np.testing.assert_allclose(feats[[2, 5], 6], 3.0, atol=1e-6)   # right column tokens
    assert 1.0 < feats[1, 6] < 3.0 and feats[1, 7] > 0.5           # the edge token


def test_zero_gate_gives_exact_zeros_and_invalid_tokens_get_nothing():
    depth, K = _plane()
    depth[:28, :28] = 0.0  # token 0 without depth
    feats = token_features((2, 3), np.eye(4), CPU, depth_m=depth, K=K)
    assert float(feats[0, 8]) == 0.0
    enc = SpatialEncoder(SpatialEncoderConfig(hidden_size=16, mlp_width=32))
    assert torch.count_nonzero(enc(feats)) == 0
    with torch.no_grad():
        enc.gate.fill_(1.0)
    out = enc(feats)
    assert torch.count_nonzero(out[0]) == 0
    assert torch.count_nonzero(out[1:]) > 0


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_adapter_round_trip(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors", reason="safetensors is not installed")
    torch.manual_seed(1)
    enc = SpatialEncoder(SpatialEncoderConfig(hidden_size=16, num_bands=4, mlp_width=8))
    with torch.no_grad():
        enc.gate.normal_()
    path = str(tmp_path / f"adapter{suffix}")
    save_adapter(enc, path)
    loaded = load_adapter(path, hidden_size=16)
    feats = torch.rand(5, 9) * 3
    torch.testing.assert_close(loaded(feats), enc(feats), rtol=0, atol=0)
    assert loaded.config == enc.config
    with pytest.raises(AdapterError, match="hidden size 16.*has 32"):
        load_adapter(path, hidden_size=32)


def test_adapter_errors(tmp_path):
    with pytest.raises(AdapterError, match="not found"):
        load_adapter(str(tmp_path / "missing.safetensors"), 16)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(AdapterError):
        load_adapter(str(junk), 16)


def test_bad_keyframe_inputs_are_named():
    rgb = np.zeros((60, 80, 3), np.uint8)
    depth, K = np.ones((60, 80), np.float32), np.eye(3)
    with pytest.raises(SpatialInputError, match="uint8"):
        check_keyframe_inputs(rgb.astype(float), np.eye(4), depth_m=depth, K=K)
    with pytest.raises(SpatialInputError, match=r"depth_m must be \(60, 80\)"):
        check_keyframe_inputs(rgb, np.eye(4), depth_m=depth[:50], K=K)
    with pytest.raises(SpatialInputError, match="exactly one"):
        check_keyframe_inputs(rgb, np.eye(4))
    bad_pose = np.eye(4)
    bad_pose[0, 0] = 2.0
    with pytest.raises(SpatialInputError, match="orthonormal"):
        check_keyframe_inputs(rgb, bad_pose, depth_m=depth, K=K)
    with pytest.raises(SpatialInputError, match="fx, fy > 0"):
        check_keyframe_inputs(rgb, np.eye(4), depth_m=depth, K=np.zeros((3, 3)))


def test_depth_must_be_metres_not_integer_millimetres():
    # A 1.5 m plane as a 16UC1 millimetre image would otherwise read as a 1500 m plane.
    rgb = np.zeros((56, 84, 3), np.uint8)
    depth_m, K = _plane(depth=1.5)
    depth_mm = np.full(depth_m.shape, 1500, np.uint16)
    with pytest.raises(SpatialInputError, match="floating-point metres, got uint16"):
        check_keyframe_inputs(rgb, np.eye(4), depth_m=depth_mm, K=K)
    with pytest.raises(SpatialInputError, match="floating-point metres, got uint16"):
        token_features((2, 3), np.eye(4), CPU, depth_m=depth_mm, K=K)
    for bad, reason in ((np.nan, "finite"), (np.inf, "finite"), (-0.5, ">= 0")):
        broken = depth_m.copy()
        broken[3, 4] = bad
        with pytest.raises(SpatialInputError, match=reason):
            check_keyframe_inputs(rgb, np.eye(4), depth_m=broken, K=K)
    points = np.zeros((56, 84, 3), np.int32)
    with pytest.raises(SpatialInputError, match="points_map_m must be floating-point"):
        check_keyframe_inputs(rgb, np.eye(4), points_map_m=points)
    # Metres pass, zeros included (invalid pixels), in float32 and float64 alike.
    depth_m[:5] = 0.0
    check_keyframe_inputs(rgb, np.eye(4), depth_m=depth_m, K=K)
    check_keyframe_inputs(rgb, np.eye(4), depth_m=depth_m.astype(np.float64), K=K)
    feats = token_features((2, 3), np.eye(4), CPU, depth_m=depth_m, K=K).numpy()
    np.testing.assert_allclose(feats[3:, 6], 1.5, atol=1e-6)
