"""Batched vision tower and keyframe bursts: the batched window attention equals the
tower's own forward (images of several sizes, so windows of several lengths), and a
burst of keyframes queued back to back is encoded as one batch whose prefix equals the
one built frame by frame. float32 on the CPU; tolerance as in test_runner."""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from modelutil import make_frame  # noqa: E402
from ssr_ros.model.config import ModelConfig  # noqa: E402
from ssr_ros.model.errors import ModelFailed, ModelTimeout  # noqa: E402
from ssr_ros.model.runner import ModelRunner  # noqa: E402
from ssr_ros.model.spatial import SpatialEncoder, SpatialEncoderConfig  # noqa: E402
from ssr_ros.model.vision import VisionEngine  # noqa: E402

ATOL = 1e-4
QUESTION = "Which is closer to the sofa, the lamp or the table?"
# (h, w) [px]: the tiny tower's windows are 2 x 2 merged tokens, so 84 and 168 px sides
# leave partial windows (segments of 16 and 8 patches) and 56 px one window per image.
SIZES = [(112, 112), (84, 112), (168, 56), (56, 56)]


def _images(tiny, seed: int = 0):
    rng = np.random.default_rng(seed)
    prepared = [tiny.preprocess(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), 400)
                for h, w in SIZES]
    return [p for p, _ in prepared], [g for _, g in prepared]


def test_batched_tower_equals_the_towers_own_forward(tiny):
    pixels, grids = _images(tiny)
    engine = VisionEngine(tiny.visual)
    with torch.inference_mode():
        ours = engine(torch.cat(pixels), torch.cat(grids))
        reference = tiny.visual(torch.cat(pixels), grid_thw=torch.cat(grids))
        reference = getattr(reference, "pooler_output", reference)
        alone = [engine(p, g) for p, g in zip(pixels, grids)]
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-5)
    torch.testing.assert_close(torch.cat(alone), ours, rtol=0, atol=1e-5)
    parts = tiny.encode_images(torch.cat(pixels), torch.cat(grids))
    assert [len(p) for p in parts] == [int(g.prod()) // 4 for g in grids]
    torch.testing.assert_close(torch.cat(parts), ours, rtol=0, atol=0)


def test_tower_rejects_a_patch_count_that_does_not_fit_the_grids(tiny):
    pixels, grids = _images(tiny)
    with pytest.raises(ValueError, match="patches for grids"):
        VisionEngine(tiny.visual)(pixels[0][:-4], grids[0])


def _runner(tiny, max_keyframes, encoder=None):
    config = ModelConfig(device="cpu", max_keyframes=max_keyframes, image_side=112,
                         max_new_tokens=8, timeout_s=30.0)
    if encoder is None:
        encoder = SpatialEncoder(SpatialEncoderConfig(tiny.hidden_size))
        with torch.no_grad():
            encoder.gate.normal_(0.0, 1.0)  # the spatial branch contributes
    runner = ModelRunner(tiny, config, spatial_encoder=encoder)
    runner.start()
    return runner


def _blocked(runner):
    """Occupy the worker until the returned event is set, so requests queue up."""
    release = threading.Event()
    runner._submit(lambda cancel: release.wait(30))
    return release


def test_a_burst_is_one_batch_and_equals_frame_by_frame(tiny):
    rng = np.random.default_rng(1)
    frames = [make_frame(rng, i) for i in range(5)]
    encoder = SpatialEncoder(SpatialEncoderConfig(tiny.hidden_size))
    with torch.no_grad():
        encoder.gate.normal_(0.0, 1.0)
    sequential = _runner(tiny, max_keyframes=8, encoder=encoder)
    try:
        for frame in frames:
            sequential.add_keyframe(**frame).result(30)
        expected = sequential.question_logits(QUESTION)
        assert sequential.status().keyframe_batches == 5
    finally:
        sequential.close()
    burst = _runner(tiny, max_keyframes=8, encoder=encoder)
    try:
        burst.add_keyframe(**frames[0]).result(30)
        burst.question_logits(QUESTION)  # builds the prefix of the first frame
        release = _blocked(burst)
        futures = [burst.add_keyframe(**frame) for frame in frames[1:]]
        release.set()
        assert [f.result(30) for f in futures] == [1, 2, 3, 4]
        status = burst.status()
        assert status.keyframe_batches == 2 and status.last_keyframe.frames == 4
        assert status.rebuilds == 1  # the burst extended the cached prefix in one prefill
        torch.testing.assert_close(burst.question_logits(QUESTION), expected, rtol=0,
                                   atol=ATOL)
    finally:
        burst.close()


def test_bursts_stop_at_the_window_size_and_at_a_question(tiny):
    rng = np.random.default_rng(2)
    frames = [make_frame(rng, i) for i in range(6)]
    runner = _runner(tiny, max_keyframes=2)
    try:
        release = _blocked(runner)
        first = [runner.add_keyframe(**frame) for frame in frames[:3]]
        answer, _ = runner.submit_ask(QUESTION, max_new_tokens=2)
        window = runner._submit(lambda cancel: [f.index for f in runner._frames])
        later = [runner.add_keyframe(**frame) for frame in frames[3:]]
        release.set()
        assert [f.result(30) for f in first + later] == list(range(6))
        # The question and the probe behind it ran after the first three frames only.
        assert window.result(30) == [1, 2]
        assert answer.result(30).prefix_tokens > 0
        status = runner.status()
        # Batches: frames 0-1 (the window's size), frame 2, then frames 3-4, frame 5.
        assert status.keyframe_batches == 4 and status.keyframes == 2
    finally:
        runner.close()


def test_cancelled_and_failed_keyframes_in_a_burst(tiny, monkeypatch):
    rng = np.random.default_rng(3)
    frames = [make_frame(rng, i) for i in range(3)]
    runner = _runner(tiny, max_keyframes=4)
    try:
        release = _blocked(runner)
        futures = [runner.add_keyframe(**frame) for frame in frames]
        assert futures[1].cancel()
        release.set()
        assert futures[0].result(30) == 0 and futures[2].result(30) == 1
        assert runner.status().last_keyframe.frames == 2

        def broken(*args, **kwargs):
            raise RuntimeError("device lost")

        monkeypatch.setattr(tiny, "encode_images", broken)
        release = _blocked(runner)
        futures = [runner.add_keyframe(**frame) for frame in frames[:2]]
        release.set()
        for future in futures:
            with pytest.raises(ModelFailed, match="device lost"):
                future.result(30)
        assert runner.status().failed == 2 and runner.status().keyframes == 2
        monkeypatch.undo()
        assert runner.add_keyframe(**frames[0]).result(30) == 2
        assert isinstance(runner.ask(QUESTION), str)
    finally:
        runner.close()


def test_a_keyframe_cancelled_by_its_event_is_typed(tiny):
    runner = _runner(tiny, max_keyframes=2)
    try:
        release = _blocked(runner)
        frame = make_frame(np.random.default_rng(4), 0)
        job = runner._submit_job(lambda cancel: None)
        future = runner.add_keyframe(**frame)
        job.cancel.set()
        release.set()
        with pytest.raises(ModelTimeout, match="cancelled before it ran"):
            job.future.result(30)
        assert future.result(30) == 0
    finally:
        runner.close()
