"""Reader of a TUM RGB-D key-frame folder (the layout of ``shared/data/tum_fr3_cabinet``).

Layout: ``rgb/NNNN_rgb_raw.jpg`` (8-bit colour), ``depth/NNNN_depth_raw.png`` (uint16,
``depth_units_per_m`` units per metre, 0 = no data), ``poses_tum.txt`` (one row per frame
in frame order: ``timestamp tx ty tz qx qy qz qw``, camera-to-world), optional
``boxes_2d/NNNN_*.txt`` (rows ``x y w h score`` in pixels) and the freiburg3 intrinsics
unless others are given. The TUM world frame is used as the map frame (z up).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ssr_ros.core.camera import depth_from_millimetres
from ssr_ros.core.frames import PosedFrame
from ssr_ros.core.geometry import pose_from_translation_quaternion
from ssr_ros.perception.proposals import Box2D

# TUM freiburg3 (Kinect) colour intrinsics; the depth is registered to colour.
FR3_K = np.array([[535.4, 0.0, 320.1], [0.0, 539.2, 247.6], [0.0, 0.0, 1.0]])


class TumFolderError(ValueError):
    """The folder does not have the TUM key-frame layout, or a file in it is unreadable."""


@dataclass(frozen=True)
class TumFrame(PosedFrame):
    """One frame of the folder: a :class:`~ssr_ros.core.frames.PosedFrame` (``T_map_cam``
    camera-to-world, ``boxes`` its 2D boxes, possibly empty) with its running ``index``
    and file ``stem`` (``NNNN``)."""

    index: int
    stem: str


def read_poses(path: Path) -> list[tuple[float, np.ndarray]]:
    """Rows ``(stamp_s, T_map_cam)`` of a TUM trajectory file (comments '#' skipped)."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        vals = line.split()
        if len(vals) != 8:
            raise TumFolderError(f"{path}:{n}: expected 8 values, got {len(vals)}")
        try:
            v = [float(x) for x in vals]
        except ValueError as exc:
            raise TumFolderError(f"{path}:{n}: {exc}") from exc
        if not np.all(np.isfinite(v)):
            raise TumFolderError(f"{path}:{n}: non-finite pose")
        rows.append((v[0], pose_from_translation_quaternion(v[1:4], v[4:8])))
    return rows


def read_boxes(path: Path, label: str = "") -> list[Box2D]:
    """Boxes of one frame: rows ``x y w h [score]`` [px]; a missing file gives []."""
    path = Path(path)
    if not path.is_file():
        return []
    boxes = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        vals = line.split()
        if not vals:
            continue
        if len(vals) not in (4, 5):
            raise TumFolderError(f"{path}:{n}: expected 'x y w h [score]'")
        try:
            x, y, w, h = (float(t) for t in vals[:4])
            score = float(vals[4]) if len(vals) == 5 else 1.0
        except ValueError as exc:
            raise TumFolderError(f"{path}:{n}: {exc}") from exc
        boxes.append(Box2D(x, y, w, h, label=label, score=min(max(score, 0.0), 1.0)))
    return boxes


def read_tum_folder(path: str | Path, K: np.ndarray | None = None,
                    depth_units_per_m: float = 5000.0,
                    box_label: str = "") -> Iterator[TumFrame]:
    """Iterate over the frames of a TUM key-frame folder, in file order (lazily: one frame
    in memory at a time). ``box_label`` names the category of unlabelled boxes."""
    root = Path(path)
    rgb_dir, depth_dir = root / "rgb", root / "depth"
    if not rgb_dir.is_dir() or not depth_dir.is_dir() or not (root / "poses_tum.txt").is_file():
        raise TumFolderError(f"{root} lacks rgb/, depth/ or poses_tum.txt")
    rgb_files = sorted(rgb_dir.glob("*_rgb_raw.*"))
    poses = read_poses(root / "poses_tum.txt")
    if len(poses) != len(rgb_files):
        raise TumFolderError(f"{len(rgb_files)} colour frames but {len(poses)} poses")
    K = FR3_K.copy() if K is None else np.asarray(K, dtype=np.float64)
    box_dir = root / "boxes_2d"
    for i, (rgb_path, (stamp, T)) in enumerate(zip(rgb_files, poses)):
        stem = rgb_path.name.split("_")[0]
        depth_path = depth_dir / f"{stem}_depth_raw.png"
        bgr = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
        raw = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED)
        if bgr is None or raw is None:
            raise TumFolderError(f"cannot read {rgb_path} or {depth_path}")
        if raw.dtype != np.uint16:
            raise TumFolderError(f"{depth_path} is {raw.dtype}, expected uint16")
        box_files = sorted(box_dir.glob(f"{stem}_*.txt")) if box_dir.is_dir() else []
        boxes = [b for f in box_files for b in read_boxes(f, box_label)]
        yield TumFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                       depth_from_millimetres(raw, depth_units_per_m), K.copy(), T, stamp,
                       index=i, stem=stem, boxes=boxes)
