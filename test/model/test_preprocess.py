"""Keyframe preprocessing done with torch equals the Qwen2-VL image processor's output
(rescale, normalisation, patch layout), and the processor itself runs where its limits
would change the size or its steps are not the standard ones."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed")

from PIL import Image  # noqa: E402

from ssr_ros.model.backbone import Backbone  # noqa: E402
from ssr_ros.model.tiny import build_image_processor  # noqa: E402


def _with_processor(tiny, processor) -> Backbone:
    return Backbone(model=tiny.model, tokenizer=tiny.tokenizer, image_processor=processor,
                    device=tiny.device, dtype=tiny.dtype)


def _processor_output(backbone, rgb, side):
    h, w = backbone.target_size(rgb.shape[0], rgb.shape[1], side)
    image = Image.fromarray(rgb)
    if (h, w) != rgb.shape[:2]:
        image = image.resize((w, h), Image.BICUBIC)
    out = backbone.image_processor(images=[image], return_tensors="pt")
    return out["pixel_values"], out["image_grid_thw"].long()


@pytest.mark.parametrize("shape, side", [((96, 128), 112), ((480, 640), 448),
                                         ((301, 173), 224), ((28, 900), 448)])
def test_torch_patches_equal_the_image_processor(tiny, shape, side):
    backbone = _with_processor(tiny, build_image_processor(448))
    assert backbone._patchify_limits is not None
    rgb = np.random.default_rng(sum(shape)).integers(0, 256, shape + (3,), dtype=np.uint8)
    ours, grid = backbone.preprocess(rgb, side)
    expected, expected_grid = _processor_output(backbone, rgb, side)
    h, w = backbone.target_size(shape[0], shape[1], side)
    assert backbone._patchify_limits[0] <= h * w <= backbone._patchify_limits[1]
    torch.testing.assert_close(grid, expected_grid, rtol=0, atol=0)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


def test_the_processor_runs_outside_its_limits_or_with_other_steps(tiny):
    rgb = np.random.default_rng(1).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    small = _with_processor(tiny, build_image_processor(112))  # at most 112 x 112 pixels
    ours, grid = small.preprocess(rgb, 224)
    expected, expected_grid = _processor_output(small, rgb, 224)
    assert int(expected_grid.prod()) * 14 * 14 <= 112 * 112  # the processor shrank it
    torch.testing.assert_close(grid, expected_grid, rtol=0, atol=0)
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)

    raw = build_image_processor(448)
    raw.do_normalize = False
    unnormalised = _with_processor(tiny, raw)
    assert unnormalised._patchify_limits is None
    ours, _ = unnormalised.preprocess(rgb, 224)
    expected, _ = _processor_output(unnormalised, rgb, 224)
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    assert float(ours.min()) >= 0.0  # rescaled to [0, 1], not normalised


def test_pixels_are_ordinary_tensors(tiny):
    """Like the processor's output, the pixels may be used outside inference mode."""
    rgb = np.random.default_rng(2).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    pixels, _ = tiny.preprocess(rgb, 112)
    assert not pixels.is_inference()
