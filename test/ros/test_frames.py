"""Decoding a synchronised set: cross-message checks and label-derived boxes."""

from __future__ import annotations

import numpy as np
import pytest

from ssr_ros.ros import conversions as cv
from ssr_ros.ros.frames import (boxes_from_labels, decode_frame, label_names_json,
                                parse_label_names_json, plumb_bob_coefficients)
from ssr_ros.runtime.errors import InvalidMessage

K = np.array([[100.0, 0.0, 16.0], [0.0, 100.0, 12.0], [0.0, 0.0, 1.0]])


def _set(w: int = 32, h: int = 24, depth_w: int | None = None, info_w: int | None = None):
    stamp = cv.s_to_stamp(3.5)
    rgb = np.zeros((h, w, 3), np.uint8)
    depth = np.full((h, depth_w or w), 1500, np.uint16)
    color = cv.array_to_image(rgb, "rgb8", stamp, "cam")
    depth_msg = cv.array_to_image(depth, "16UC1", stamp, "cam")
    info = cv.intrinsics_to_camera_info(K, info_w or w, h, stamp, "cam")
    return color, depth_msg, info


def test_a_consistent_set_decodes() -> None:
    frame = decode_frame(*_set())
    assert frame.rgb.shape == (24, 32, 3) and frame.depth_m[0, 0] == pytest.approx(1.5)
    assert frame.stamp_s == pytest.approx(3.5) and frame.frame_id == "cam"


@pytest.mark.parametrize("kwargs", [dict(depth_w=30), dict(info_w=64)])
def test_unregistered_sizes_are_rejected(kwargs) -> None:
    with pytest.raises(InvalidMessage) as info:
        decode_frame(*_set(**kwargs))
    assert info.value.reason == "size_mismatch"


def test_wrong_frame_id_is_rejected_when_configured() -> None:
    with pytest.raises(InvalidMessage, match="frame_id"):
        decode_frame(*_set(), expected_frame="camera_color_optical_frame")


def test_label_image_of_another_size_is_rejected() -> None:
    labels = cv.array_to_image(np.zeros((10, 10), np.uint16), "16UC1", frame_id="cam")
    with pytest.raises(InvalidMessage, match="size_mismatch"):
        decode_frame(*_set(), labels_msg=labels)


@pytest.mark.parametrize("model, d, expected", [
    ("plumb_bob", [0.1, -0.2, 0.001, 0.002, 0.05], [0.1, -0.2, 0.001, 0.002, 0.05]),
    ("plumb_bob", [0.0] * 5, None),
    ("", [], None),
    ("rational_polynomial", [0.1, -0.2, 0.0, 0.0, 0.05, 0.0, 0.0, 0.0],
     [0.1, -0.2, 0.0, 0.0, 0.05]),
    ("equidistant", [0.0] * 4, None)])
def test_distortion_the_pipeline_can_undo_is_passed_on(model, d, expected) -> None:
    color, depth, info = _set()
    info.distortion_model, info.d = model, d
    frame = decode_frame(color, depth, info)
    if expected is None:
        assert frame.dist is None
    else:
        np.testing.assert_allclose(frame.dist, expected)
        np.testing.assert_allclose(plumb_bob_coefficients(cv.camera_info_to_intrinsics(info)),
                                   expected)


@pytest.mark.parametrize("model, d", [("equidistant", [0.1, 0.01, 0.0, 0.0]),
                                      ("rational_polynomial", [0.1] * 8)])
def test_distortion_that_cannot_be_undone_is_refused(model, d) -> None:
    color, depth, info = _set()
    info.distortion_model, info.d = model, d
    with pytest.raises(InvalidMessage, match="rectify") as exc:
        decode_frame(color, depth, info)
    assert exc.value.reason == "camera_info"


def test_label_names_json_round_trip_and_rejections() -> None:
    names = {1: "sofa", 12: "dining table"}
    assert parse_label_names_json(label_names_json(names)) == names
    for bad in ("[1, 2]", "{\"0\": \"x\"}", "{\"a\": \"x\"}", "{\"1\": 5}", "not json",
                "{\"1\": \"" + "x" * 70000 + "\"}"):
        with pytest.raises(InvalidMessage, match="label_names"):
            parse_label_names_json(bad)


def test_boxes_from_labels_are_tight_and_named() -> None:
    labels = np.zeros((24, 32), np.uint16)
    labels[5:15, 3:9] = 4
    labels[0:2, 0:2] = 9
    boxes = boxes_from_labels(labels, {4: "cabinet", 9: "tiny"}, min_pixels=16)
    assert len(boxes) == 1
    box = boxes[0]
    assert (box.x, box.y, box.w, box.h, box.label) == (3.0, 5.0, 6.0, 10.0, "cabinet")
