"""An ONNX object detector run by onnxruntime: the user's own exported model as a
proposal source.

Two output layouts cover the common exports:

- ``yolo``: one tensor of candidates, ``(1, N, 4 + C)`` or ``(1, N, 5 + C)`` (with an
  objectness column, as YOLOv5 exports), or the same transposed, ``(1, 4 + C, N)`` (as
  YOLOv8/11 exports); boxes are centre x, centre y, width, height in input pixels.
- ``ssd``: two tensors, boxes ``(1, N, 4)`` and class scores ``(1, N, C)`` (told apart
  by name when one has "box" in it, else by shape, else boxes first); box
  coordinates as ``box_format`` says (``xyxy``, ``yxyx`` or ``cxcywh``), normalised to
  [0, 1] when ``boxes_normalized``, else in input pixels; with ``background_class`` >= 0
  that score column is ignored.

``auto`` tells them apart by the number of outputs. ``C`` must equal the number of
``class_names`` (a mismatch is an error, not a guess). The image is resized to the input
size (letterboxed, aspect kept, when ``letterbox``; YOLO exports expect it), scaled by
``input_scale``, normalised by ``mean``/``std`` (RGB order) and fed as float32 NCHW.
Detections above ``score_threshold`` go through per-class non-maximum suppression at
``nms_threshold`` (IoU), keeping at most ``max_detections``. The model file is checked
against ``sha256`` when one is given. onnxruntime runs on CUDA when its CUDA provider is
available and ``device`` allows it, else on the CPU.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ssr_ros.perception.opencv import cv2_module
from ssr_ros.perception.priors import normalize_label
from ssr_ros.perception.proposals import (COCO_TF_LABELS, DEFAULT_EXCLUDED, Box2D,
                                          DetectorModelError)

# The 80 COCO categories in the order YOLO exports number them (the TF list without its
# unused ids and the background slot).
COCO80_LABELS: tuple[str, ...] = tuple(n for n in COCO_TF_LABELS[1:] if n)

FORMATS = ("auto", "yolo", "ssd")
BOX_FORMATS = ("xyxy", "yxyx", "cxcywh")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class OnnxDetectorConfig:
    """An ONNX detector (see the module docstring). ``input_size`` (w, h) [px], None = the
    model's own static input size; thresholds in [0, 1]; ``sha256`` a hex digest or ""."""

    model_path: str
    sha256: str = ""
    output_format: str = "auto"
    class_names: tuple[str, ...] = COCO80_LABELS
    input_size: tuple[int, int] | None = None
    letterbox: bool = True
    input_scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    box_format: str = "xyxy"
    boxes_normalized: bool = True
    background_class: int = -1
    score_threshold: float = 0.25
    nms_threshold: float = 0.45
    max_detections: int = 100
    excluded: tuple[str, ...] = DEFAULT_EXCLUDED
    device: str = "auto"
    providers: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.model_path:
            raise ValueError("model_path must name an ONNX file")
        if self.output_format not in FORMATS:
            raise ValueError(f"output_format must be one of {FORMATS}, got "
                             f"{self.output_format!r}")
        if self.box_format not in BOX_FORMATS:
            raise ValueError(f"box_format must be one of {BOX_FORMATS}, got "
                             f"{self.box_format!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.sha256 and not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256):
            raise ValueError("sha256 must be 64 hex digits (or empty: not checked)")
        if not self.class_names:
            raise ValueError("class_names must name at least one class")
        if self.input_size is not None and (len(self.input_size) != 2
                                            or min(self.input_size) < 1):
            raise ValueError(f"input_size must be (width, height) >= 1, got "
                             f"{self.input_size}")
        for name in ("score_threshold", "nms_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_detections < 1:
            raise ValueError("max_detections must be >= 1")
        if not (self.input_scale > 0 and all(s > 0 for s in self.std)):
            raise ValueError("input_scale and std must be positive")
        if not -1 <= self.background_class < len(self.class_names):
            raise ValueError("background_class must be -1 or a class index")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, highest score first; boxes (N, 4)
    ``x0, y0, x1, y1`` [px]. A box is dropped when its IoU with a kept one is above
    ``iou_threshold``."""
    order = np.argsort(-scores, kind="stable")
    x0, y0, x1, y1 = boxes_xyxy.T
    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    keep = []
    while len(order):
        i = order[0]
        keep.append(i)
        rest = order[1:]
        iw = np.maximum(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0)
        ih = np.maximum(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0)
        inter = iw * ih
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise DetectorModelError("device 'cuda' asked for, but onnxruntime has no CUDA "
                                 f"provider here (available: {available})")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxDetector:
    """Boxes from an ONNX model (see the module docstring); :meth:`detect` takes an RGB
    image (H, W, 3) uint8 and returns :class:`Box2D` in its pixels."""

    def __init__(self, config: OnnxDetectorConfig) -> None:
        self.config = cfg = config
        path = Path(cfg.model_path)
        if not path.is_file():
            raise DetectorModelError(f"ONNX model not found: {path}")
        if cfg.sha256:
            actual = file_sha256(path)
            if actual != cfg.sha256.lower():
                raise DetectorModelError(f"ONNX model {path} has SHA-256 {actual}, "
                                         f"expected {cfg.sha256.lower()}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise DetectorModelError("onnxruntime is not installed (pip install "
                                     "onnxruntime==1.31.1)") from exc
        providers = list(cfg.providers) or _providers(cfg.device)
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own unexported exception types
            raise DetectorModelError(f"onnxruntime cannot load {path}: {exc}") from exc
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise DetectorModelError(f"{path}: expected one NCHW image input, got "
                                     f"{[(i.name, i.shape) for i in inputs]}")
        self.input_name = inputs[0].name
        self.input_size = self._input_size(inputs[0].shape)
        n_out = len(self.session.get_outputs())
        fmt = cfg.output_format
        if fmt == "auto":
            fmt = {1: "yolo", 2: "ssd"}.get(n_out, "")
        expected = {"yolo": 1, "ssd": 2}.get(fmt)
        if expected != n_out:
            raise DetectorModelError(f"{path}: {n_out} outputs do not fit the "
                                     f"{cfg.output_format!r} format (yolo: 1, ssd: 2)")
        self.output_format = fmt

    def _input_size(self, shape: list) -> tuple[int, int]:
        """(w, h) from the config, else from the model's static NCHW shape."""
        if self.config.input_size is not None:
            return int(self.config.input_size[0]), int(self.config.input_size[1])
        h, w = shape[2], shape[3]
        if not (isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0):
            raise DetectorModelError(f"the model's input size is dynamic ({shape}): set "
                                     "input_size")
        return w, h

    def preprocess(self, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float, float]:
        """The NCHW float32 blob and the mapping back to image pixels:
        ``x_img = (x_in - pad_x) / scale_x`` (same for y)."""
        cv2 = cv2_module("the onnx detector's image resize")
        cfg = self.config
        h, w = rgb.shape[:2]
        in_w, in_h = self.input_size
        if cfg.letterbox:
            scale = min(in_w / w, in_h / h)
            sx = sy = scale
            new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
            pad_x, pad_y = (in_w - new_w) / 2.0, (in_h - new_h) / 2.0
            canvas = np.full((in_h, in_w, 3), 114, dtype=np.uint8)
            top, left = int(round(pad_y - 0.1)), int(round(pad_x - 0.1))
            canvas[top:top + new_h, left:left + new_w] = cv2.resize(
                rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            pad_x, pad_y = float(left), float(top)
        else:
            sx, sy = in_w / w, in_h / h
            pad_x = pad_y = 0.0
            canvas = cv2.resize(rgb, (in_w, in_h), interpolation=cv2.INTER_LINEAR)
        x = canvas.astype(np.float32) * np.float32(cfg.input_scale)
        x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
        return x.transpose(2, 0, 1)[None].copy(), sx, sy, pad_x, pad_y

    def _decode_yolo(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes xyxy in input pixels (N, 4), class scores (N, C)) of a YOLO tensor."""
        n_cls = len(self.config.class_names)
        t = np.asarray(out, dtype=np.float32)
        if t.ndim == 3 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 2:
            raise DetectorModelError(f"YOLO output must be (1, N, K) or (1, K, N), got "
                                     f"{np.shape(out)}")
        if t.shape[1] not in (4 + n_cls, 5 + n_cls) and t.shape[0] in (4 + n_cls, 5 + n_cls):
            t = t.T
        if t.shape[1] == 4 + n_cls:
            scores = t[:, 4:]
        elif t.shape[1] == 5 + n_cls:
            scores = t[:, 5:] * t[:, 4:5]
        else:
            raise DetectorModelError(f"YOLO output {np.shape(out)} does not fit "
                                     f"{n_cls} class names (4 or 5 + classes per row)")
        cx, cy, bw, bh = t[:, 0], t[:, 1], t[:, 2], t[:, 3]
        return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1), scores

    def _decode_ssd(self, outs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(boxes xyxy in input pixels (N, 4), class scores (N, C)) of boxes + scores."""
        cfg = self.config
        n_cls = len(cfg.class_names)
        shaped = [np.asarray(o, dtype=np.float32).reshape(-1, np.shape(o)[-1]) for o in outs]
        names = [o.name.lower() for o in self.session.get_outputs()]
        if any("box" in n for n in names):
            b = next(i for i, n in enumerate(names) if "box" in n)
        elif shaped[1].shape[1] == 4 and shaped[0].shape[1] != 4:
            b = 1
        else:
            b = 0
        boxes, scores = shaped[b], shaped[1 - b]
        if boxes.shape[1] != 4 or scores.shape != (len(boxes), n_cls):
            raise DetectorModelError(f"SSD outputs {[np.shape(o) for o in outs]} are not "
                                     f"boxes (1, N, 4) and scores (1, N, {n_cls})")
        a, b, c, d = boxes.T
        if cfg.box_format == "yxyx":
            a, b, c, d = b, a, d, c
        elif cfg.box_format == "cxcywh":
            a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
        xyxy = np.stack([a, b, c, d], 1)
        if cfg.boxes_normalized:
            in_w, in_h = self.input_size
            xyxy = xyxy * np.array([in_w, in_h, in_w, in_h], np.float32)
        if cfg.background_class >= 0:
            scores = scores.copy()
            scores[:, cfg.background_class] = 0.0
        return xyxy, scores

    def detect(self, rgb: np.ndarray) -> list[Box2D]:
        """Boxes (pixels of ``rgb``, labels, scores) in an RGB image (H, W, 3) uint8."""
        cfg = self.config
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        h, w = rgb.shape[:2]
        blob, sx, sy, pad_x, pad_y = self.preprocess(rgb)
        outs = self.session.run(None, {self.input_name: blob})
        if self.output_format == "yolo":
            xyxy, scores = self._decode_yolo(outs[0])
        else:
            xyxy, scores = self._decode_ssd(outs)
        cls = np.argmax(scores, axis=1)
        best = scores[np.arange(len(scores)), cls]
        keep = np.isfinite(best) & (best >= cfg.score_threshold) & \
            np.all(np.isfinite(xyxy), axis=1)
        xyxy, best, cls = xyxy[keep], best[keep], cls[keep]
        # Back to image pixels, clipped to the image.
        xyxy = (xyxy - np.array([pad_x, pad_y, pad_x, pad_y], np.float32)) / \
            np.array([sx, sy, sx, sy], np.float32)
        xyxy = np.clip(xyxy, 0.0, np.array([w, h, w, h], np.float32))
        big = (xyxy[:, 2] - xyxy[:, 0] >= 2) & (xyxy[:, 3] - xyxy[:, 1] >= 2)
        xyxy, best, cls = xyxy[big], best[big], cls[big]
        kept: list[int] = []
        for c in np.unique(cls):
            idx = np.flatnonzero(cls == c)
            kept.extend(idx[nms(xyxy[idx], best[idx], cfg.nms_threshold)].tolist())
        kept.sort(key=lambda i: -best[i])
        out = []
        for i in kept:
            name = cfg.class_names[int(cls[i])]
            if not name or name in cfg.excluded:
                continue
            x0, y0, x1, y1 = (float(v) for v in xyxy[i])
            out.append(Box2D(x0, y0, x1 - x0, y1 - y0, label=normalize_label(name),
                             score=float(np.clip(best[i], 0.0, 1.0))))
            if len(out) == cfg.max_detections:
                break
        return out
