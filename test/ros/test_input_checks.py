"""Issue 14 input side, without DDS: every synchronised input in the camera frame,
rectified images take their intrinsics from P (image_proc-style camera_info: non-zero D
and a P), and vision_msgs detections become the boxes source's boxes."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")

from ssr_ros.ros import conversions as cv  # noqa: E402
from ssr_ros.ros.frames import (decode_frame, detections_to_boxes,  # noqa: E402
                                label_info_names)
from ssr_ros.runtime.errors import InvalidMessage  # noqa: E402

W, H = 320, 240
K_RAW = np.array([[260.0, 0.0, 158.0], [0.0, 262.0, 121.0], [0.0, 0.0, 1.0]])
D_RAW = np.array([-0.28, 0.07, 0.001, -0.002, 0.0])  # plumb-bob barrel distortion


def _set(stamp_s: float = 5.0, frame: str = "cam", info=None) -> list:
    stamp = cv.s_to_stamp(stamp_s)
    color = cv.array_to_image(np.full((H, W, 3), 90, np.uint8), "rgb8", stamp, frame)
    depth = cv.array_to_image(np.full((H, W), 2000, np.uint16), "16UC1", stamp, frame)
    info = info or cv.intrinsics_to_camera_info(K_RAW, W, H, stamp, frame)
    labels = cv.array_to_image(np.zeros((H, W), np.uint16), "16UC1", stamp, frame)
    return [color, depth, info, labels]


@pytest.mark.parametrize("index,reason", [(1, "depth_frame_id"), (2, "camera_info_frame_id"),
                                          (3, "labels_frame_id")])
@pytest.mark.parametrize("expected", ["", "cam"])
def test_every_input_must_be_in_the_camera_frame(index, reason, expected) -> None:
    msgs = _set()
    msgs[index].header.frame_id = "camera_depth_optical_frame"
    with pytest.raises(InvalidMessage) as exc:
        decode_frame(*msgs, expected_frame=expected)
    assert exc.value.reason == reason
    # the same set with matching frames decodes
    assert decode_frame(*_set(), expected_frame=expected).frame_id == "cam"


def _image_proc_info(stamp_s: float = 5.0, model: str = "plumb_bob", D=D_RAW):
    """camera_info as image_proc republishes it beside image_rect: the raw camera's K and
    non-zero D, and the rectified projection P (OpenCV's alpha=0 new camera matrix)."""
    P3, _ = cv2.getOptimalNewCameraMatrix(K_RAW, D_RAW, (W, H), 0.0)
    info = cv.intrinsics_to_camera_info(K_RAW, W, H, cv.s_to_stamp(stamp_s), "cam", D=D)
    info.distortion_model = model
    P = np.zeros((3, 4))
    P[:, :3] = P3
    info.p = [float(v) for v in P.reshape(-1)]
    return info, P3


def test_rectified_images_take_P_and_ignore_D() -> None:
    info, P3 = _image_proc_info()
    frame = decode_frame(*_set(info=info), rectified=True)
    np.testing.assert_allclose(frame.K, P3)
    assert frame.dist is None
    # the default (raw images) keeps K and the plumb-bob D
    raw = decode_frame(*_set(info=info))
    np.testing.assert_allclose(raw.K, K_RAW)
    np.testing.assert_allclose(raw.dist, D_RAW)
    # image_proc's mapping: a raw pixel lands in image_rect at P * undistort(pixel); the
    # rectified frame's K must give that rectified pixel the raw pixel's true ray
    raw_px = np.array([[[30.0, 25.0]], [[300.0, 200.0]], [[160.0, 120.0]]])
    rays = cv2.undistortPoints(raw_px, K_RAW, D_RAW).reshape(-1, 2)
    rect_px = cv2.undistortPoints(raw_px, K_RAW, D_RAW, P=P3).reshape(-1, 2)
    K_inv = np.linalg.inv(frame.K)
    got = (K_inv @ np.c_[rect_px, np.ones(3)].T).T[:, :2]
    np.testing.assert_allclose(got, rays, atol=1e-9)
    # K applied to image_rect pixels (the double undistortion the issue found) is wrong
    wrong = (np.linalg.inv(K_RAW) @ np.c_[rect_px, np.ones(3)].T).T[:, :2]
    assert np.abs(wrong - rays).max() > 0.01


def test_rectified_fisheye_is_accepted_and_a_zero_P_refused() -> None:
    info, _ = _image_proc_info(model="equidistant", D=np.array([0.1, -0.02, 0.003, 0.0]))
    with pytest.raises(InvalidMessage, match="rectify"):
        decode_frame(*_set(info=info))
    assert decode_frame(*_set(info=info), rectified=True).dist is None
    zero_p = cv.intrinsics_to_camera_info(K_RAW, W, H, cv.s_to_stamp(5.0), "cam", D=D_RAW)
    zero_p.p = [0.0] * 12
    with pytest.raises(InvalidMessage, match="P is all zero") as exc:
        decode_frame(*_set(info=zero_p), rectified=True)
    assert exc.value.reason == "camera_info"
    bad_p = cv.intrinsics_to_camera_info(K_RAW, W, H, cv.s_to_stamp(5.0), "cam")
    bad_p.p[0] = -1.0
    with pytest.raises(InvalidMessage, match="P: focal"):
        decode_frame(*_set(info=bad_p), rectified=True)


# ------------------------------------------------------------------ detections
def _det(cx, cy, sx, sy, hyps=(("chair", 0.8),), theta=0.0, frame="cam"):
    """A Detection2D-shaped object (the same attribute paths as vision_msgs 4.x)."""
    results = [SimpleNamespace(hypothesis=SimpleNamespace(class_id=c, score=s))
               for c, s in hyps]
    center = SimpleNamespace(position=SimpleNamespace(x=cx, y=cy), theta=theta)
    return SimpleNamespace(results=results,
                           bbox=SimpleNamespace(center=center, size_x=sx, size_y=sy))


def _array(*dets, frame: str = "cam"):
    return SimpleNamespace(header=SimpleNamespace(frame_id=frame), detections=list(dets))


def test_detections_become_boxes_with_their_best_class_and_score() -> None:
    boxes = detections_to_boxes(_array(
        _det(100.0, 80.0, 40.0, 20.0, hyps=(("sofa", 0.3), ("chair", 0.9))),
        _det(10.0, 10.0, 8.0, 6.0, hyps=()),
        _det(200.0, 120.0, 20.0, 10.0, hyps=(("3", 0.55),), theta=np.pi / 2)), W, H,
        names={3: "dining table"})
    assert [(b.label, b.score) for b in boxes] == [("chair", 0.9), ("", 1.0),
                                                   ("dining table", 0.55)]
    assert (boxes[0].x, boxes[0].y, boxes[0].w, boxes[0].h) == (80.0, 70.0, 40.0, 20.0)
    # a box turned by 90 degrees: the axis-aligned box around it swaps its sides
    assert boxes[2].w == pytest.approx(10.0) and boxes[2].h == pytest.approx(20.0)


@pytest.mark.parametrize("det,reason", [
    (_det(50.0, 50.0, 10.0, 10.0, hyps=(("7", 0.9),)), "detection_class"),
    (_det(float("nan"), 50.0, 10.0, 10.0), "detections"),
    (_det(50.0, 50.0, 0.0, 10.0), "detections"),
    (_det(50.0, 50.0, 10.0, 10.0, hyps=(("chair", 1.5),)), "detections"),
    (_det(-100.0, 50.0, 10.0, 10.0), "detections"),
    (_det(50.0, 50.0, 10.0, 10.0, hyps=(("x" * 200, 0.5),)), "detections"),
])
def test_bad_detections_are_refused_with_a_reason(det, reason) -> None:
    with pytest.raises(InvalidMessage) as exc:
        detections_to_boxes(_array(det), W, H, names={3: "chair"})
    assert exc.value.reason == reason


def test_decode_frame_carries_the_detections_and_checks_their_frame() -> None:
    color, depth, info, _ = _set()
    frame = decode_frame(color, depth, info, detections_msg=_array(
        _det(100.0, 80.0, 40.0, 20.0)))
    assert [b.label for b in frame.boxes] == ["chair"]
    with pytest.raises(InvalidMessage) as exc:
        decode_frame(color, depth, info, detections_msg=_array(
            _det(100.0, 80.0, 40.0, 20.0), frame="other"))
    assert exc.value.reason == "detections_frame_id"


def test_label_info_names() -> None:
    entry = lambda i, n: SimpleNamespace(class_id=i, class_name=n)  # noqa: E731
    assert label_info_names(SimpleNamespace(class_map=[entry(1, "chair"), entry(2, " bed ")])) \
        == {1: "chair", 2: "bed"}
    for bad in ([entry(1, "")], [entry(1, "a"), entry(1, "b")]):
        with pytest.raises(InvalidMessage) as exc:
            label_info_names(SimpleNamespace(class_map=bad))
        assert exc.value.reason == "label_info"


def test_real_vision_msgs_detections_convert() -> None:
    vm = pytest.importorskip("vision_msgs.msg", reason="vision_msgs interfaces not built "
                             "(interfaces/vision_msgs)")
    det = vm.Detection2D()
    det.bbox.center.position.x, det.bbox.center.position.y = 100.0, 80.0
    det.bbox.size_x, det.bbox.size_y = 40.0, 20.0
    hyp = vm.ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = "2", 0.7
    det.results = [hyp]
    msg = vm.Detection2DArray(detections=[det])
    info = vm.LabelInfo(class_map=[vm.VisionClass(class_id=2, class_name="sofa")])
    boxes = detections_to_boxes(msg, W, H, label_info_names(info))
    assert [(b.label, b.score, b.x, b.w) for b in boxes] == [("sofa", 0.7, 80.0, 40.0)]
