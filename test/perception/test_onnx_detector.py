"""ONNX detector source: YOLO- and SSD-style outputs of small synthetic ONNX graphs
(test/onnx_graphs.py, built with the onnx helper API), run by onnxruntime on the CPU."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_graphs import constant_detector_model as _graph_model  # noqa: E402

from ssr_ros.core.keyframes import Keyframe  # noqa: E402
from ssr_ros.perception.onnx_detector import (COCO80_LABELS, OnnxDetector,  # noqa: E402
                                              OnnxDetectorConfig, file_sha256, nms)
from ssr_ros.perception.proposals import (DetectorConfig, DetectorModelError,  # noqa: E402
                                          DetectorSource)

NAMES = ("chair", "person", "cup")


def _yolo_rows():
    """Candidate rows (cx, cy, w, h, scores...) in a 320x320 letterboxed input of a
    640x480 image (scale 0.5, 40 px of padding above and below)."""
    return np.array([
        # a chair at image (100, 50)-(300, 250): input (50, 65)-(150, 165)
        [100, 115, 100, 100, 0.9, 0.0, 0.0],
        # the same chair again, a little shifted and weaker: suppressed by NMS
        [104, 117, 100, 100, 0.8, 0.0, 0.0],
        # a cup at the same place: another class, kept
        [100, 115, 100, 100, 0.0, 0.0, 0.6],
        # a person: an excluded category
        [250, 160, 60, 120, 0.0, 0.95, 0.0],
        # below the score threshold
        [200, 200, 40, 40, 0.1, 0.0, 0.0],
    ], np.float32)


def _white():
    return np.full((480, 640, 3), 255, np.uint8)


def _assert_chair_and_cup(boxes):
    assert [b.label for b in boxes] == ["chair", "cup"]
    chair = boxes[0]
    assert (chair.x, chair.y, chair.w, chair.h) == pytest.approx((100, 50, 200, 200), abs=1.0)
    assert chair.score == pytest.approx(0.9, abs=1e-4)
    assert boxes[1].score == pytest.approx(0.6, abs=1e-4)


def test_yolov8_layout_letterboxed_with_nms_thresholds_and_exclusions(tmp_path):
    path = _graph_model(tmp_path / "v8.onnx", {"output0": _yolo_rows().T[None]})
    det = OnnxDetector(OnnxDetectorConfig(path, class_names=NAMES, score_threshold=0.3))
    assert det.input_size == (320, 320) and det.output_format == "yolo"
    _assert_chair_and_cup(det.detect(_white()))
    # The input is really fed: a black image scores nothing.
    assert det.detect(np.zeros((480, 640, 3), np.uint8)) == []


def test_yolov5_layout_multiplies_objectness(tmp_path):
    rows = _yolo_rows()
    obj = np.array([[1.0], [1.0], [1.0], [1.0], [1.0]], np.float32)
    rows5 = np.concatenate([rows[:, :4], obj, rows[:, 4:]], axis=1)
    rows5[2, 4] = 0.5                        # the cup's objectness halves its score
    rows5[2, 7] = 1.0
    path = _graph_model(tmp_path / "v5.onnx", {"output0": rows5[None]})
    boxes = OnnxDetector(OnnxDetectorConfig(path, class_names=NAMES,
                                            score_threshold=0.3)).detect(_white())
    assert [b.label for b in boxes] == ["chair", "cup"]
    assert boxes[1].score == pytest.approx(0.5, abs=1e-4)


def test_nms_threshold_is_a_config_value(tmp_path):
    path = _graph_model(tmp_path / "v8.onnx", {"output0": _yolo_rows().T[None]})
    loose = OnnxDetector(OnnxDetectorConfig(path, class_names=NAMES, score_threshold=0.3,
                                            nms_threshold=0.99))
    assert [b.label for b in loose.detect(_white())] == ["chair", "chair", "cup"]


def test_ssd_boxes_and_scores_normalised_yxyx_with_background(tmp_path):
    # Plain resize to 300x300; boxes normalised (y0, x0, y1, x1).
    boxes = np.array([[[50 / 480, 100 / 640, 250 / 480, 300 / 640],
                       [0.5, 0.5, 0.9, 0.9]]], np.float32)
    scores = np.array([[[0.1, 0.8, 0.0, 0.05],            # chair
                        [0.97, 0.01, 0.0, 0.02]]], np.float32)   # background
    path = _graph_model(tmp_path / "ssd.onnx", {"boxes": boxes, "scores": scores},
                        in_hw=(300, 300))
    cfg = OnnxDetectorConfig(path, class_names=("background",) + NAMES, letterbox=False,
                             box_format="yxyx", background_class=0, score_threshold=0.5)
    det = OnnxDetector(cfg)
    assert det.output_format == "ssd"
    out = det.detect(_white())
    assert len(out) == 1 and out[0].label == "chair" and out[0].score == pytest.approx(0.8)
    assert (out[0].x, out[0].y, out[0].w, out[0].h) == pytest.approx((100, 50, 200, 200),
                                                                     abs=1.0)


def test_class_count_must_match_the_model(tmp_path):
    path = _graph_model(tmp_path / "v8.onnx", {"output0": _yolo_rows().T[None]})
    det = OnnxDetector(OnnxDetectorConfig(path))        # 80 COCO names, 3 in the model
    with pytest.raises(DetectorModelError, match="class names"):
        det.detect(_white())


def test_weights_are_checked_by_sha256(tmp_path):
    path = _graph_model(tmp_path / "v8.onnx", {"output0": _yolo_rows().T[None]})
    good = file_sha256(path)
    OnnxDetector(OnnxDetectorConfig(path, sha256=good.upper(), class_names=NAMES))
    with pytest.raises(DetectorModelError, match="SHA-256"):
        OnnxDetector(OnnxDetectorConfig(path, sha256="0" * 64, class_names=NAMES))
    with pytest.raises(ValueError, match="sha256"):
        OnnxDetectorConfig(path, sha256="not-a-digest")


def test_missing_or_broken_model_files_are_reported(tmp_path):
    with pytest.raises(DetectorModelError, match="not found"):
        OnnxDetector(OnnxDetectorConfig(str(tmp_path / "absent.onnx")))
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(DetectorModelError, match="cannot load"):
        OnnxDetector(OnnxDetectorConfig(str(broken)))


def test_bad_config_values_are_refused():
    for kwargs in ({"output_format": "rcnn"}, {"box_format": "xywh"}, {"device": "tpu"},
                   {"score_threshold": 1.5}, {"nms_threshold": -0.1},
                   {"max_detections": 0}, {"input_size": (0, 320)}, {"class_names": ()}):
        with pytest.raises(ValueError):
            OnnxDetectorConfig("m.onnx", **kwargs)


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.9, 0.7]), 0.5)
    assert keep.tolist() == [1, 2]


def test_registered_as_detector_backend_and_proposes_object_pixels(tmp_path):
    path = _graph_model(tmp_path / "v8.onnx", {"output0": _yolo_rows().T[None]})
    src = DetectorSource(DetectorConfig(
        backend="onnx", onnx=OnnxDetectorConfig(path, class_names=NAMES,
                                                score_threshold=0.3)))
    depth = np.full((480, 640), 3.0, np.float32)
    depth[50:250, 100:300] = 1.5                      # the chair in front of a wall
    K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])
    kf = Keyframe(_white(), depth, K, np.eye(4), 0.0, 0)
    props = src.propose(kf)
    chair = next(p for p in props if p.label == "chair")
    assert len(chair.rows) > 100 and np.all(depth[chair.rows, chair.cols] == 1.5)
    assert chair.box_valid_fraction == pytest.approx(1.0)
    with pytest.raises(ValueError, match="onnx"):
        DetectorConfig(backend="onnx")
    assert len(COCO80_LABELS) == 80 and COCO80_LABELS[0] == "person"
