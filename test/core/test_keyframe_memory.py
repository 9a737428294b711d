"""Keyframe images cost memory only where they are used: a pipeline keeps none unless
asked (a node asks only with a model, for the model's window), kept depth is uint16
when that is exact, and kept keyframes own copies of their images."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ssr_ros.core.keyframes import Keyframe, KeyframeBuffer, compact_depth
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig

K = np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]])


def _kf(i: int, depth_m: np.ndarray, x: float = 0.0) -> Keyframe:
    T = np.eye(4)
    T[0, 3] = x
    h, w = depth_m.shape
    return Keyframe(rgb=np.full((h, w, 3), i, np.uint8), depth_m=depth_m, K=K, T_map_cam=T,
                    stamp_s=float(i), index=i)


def _mm_depth(seed: int = 0) -> np.ndarray:
    units = np.random.default_rng(seed).integers(0, 9000, size=(48, 64), dtype=np.uint16)
    return units.astype(np.float32) * np.float32(0.001)  # as the node decodes 16UC1


def test_millimetre_and_tum_depth_are_stored_exactly_as_uint16() -> None:
    for scale in (0.001, 0.0002):
        units = np.random.default_rng(1).integers(0, 60000, size=(48, 64), dtype=np.uint16)
        depth = units.astype(np.float32) * np.float32(scale)
        compact = compact_depth(depth)
        assert compact is not None and compact[0].dtype == np.uint16
        back = compact[0].astype(np.float32) * np.float32(compact[1])
        assert np.array_equal(back, depth)


def test_depth_that_is_not_integer_units_stays_float() -> None:
    depth = np.random.default_rng(2).uniform(0.3, 4.0, size=(48, 64)).astype(np.float32)
    assert compact_depth(depth) is None
    buf = KeyframeBuffer(capacity=2)
    buf.add(_kf(0, depth))
    assert np.array_equal(buf.latest().depth_m, depth)


def test_buffer_keeps_half_the_depth_bytes_and_gives_back_float_metres() -> None:
    depth = _mm_depth()
    buf = KeyframeBuffer(capacity=4)
    buf.add(_kf(0, depth))
    kept = buf.latest()
    assert kept.depth_m.dtype == np.float32 and np.array_equal(kept.depth_m, depth)
    rgb_bytes = 48 * 64 * 3
    assert buf.nbytes == rgb_bytes + depth.size * 2


def test_kept_keyframes_own_their_images() -> None:
    depth = _mm_depth()
    frame = _kf(7, depth)
    buf = KeyframeBuffer(capacity=2)
    buf.add(frame)
    frame.rgb[:] = 0      # the caller reuses its buffers
    depth[:] = 0.0
    kept = buf.latest()
    assert int(kept.rgb[0, 0, 0]) == 7 and kept.depth_m.max() > 0.0


def test_capacity_zero_keeps_nothing() -> None:
    buf = KeyframeBuffer(capacity=0)
    assert buf.add(_kf(0, _mm_depth())) is None
    assert len(buf) == 0 and buf.latest() is None and buf.nbytes == 0
    with pytest.raises(ValueError, match="0 or >= 2"):
        KeyframeBuffer(capacity=1)


def test_pipeline_keeps_no_keyframe_images_by_default() -> None:
    assert MappingPipeline(PipelineConfig(source="none")).keyframes.capacity == 0


def test_node_keeps_keyframe_images_only_for_a_model() -> None:
    pytest.importorskip("rclpy", reason="rclpy is not installed")
    from ssr_ros.ros.pipeline_factory import keyframe_capacity

    def config(path: str, window: int, buffer: int = 32) -> SimpleNamespace:
        return SimpleNamespace(model=SimpleNamespace(path=path, max_keyframes=window),
                               keyframe_buffer_size=buffer)

    assert keyframe_capacity(config("", 16)) == 0
    assert keyframe_capacity(config("/models/qwen", 16)) == 16
    assert keyframe_capacity(config("/models/qwen", 64, buffer=32)) == 32
    assert keyframe_capacity(config("/models/qwen", 1)) == 2
