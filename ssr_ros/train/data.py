"""Training sets from the embedded world (and from a posed RGB-D folder in the TUM layout),
split by seed, written as JSONL + one ``.npz`` per keyframe (numpy only; no torch).

Layout of a data directory::

    manifest.json                 format, version, keyframes K, image size, seeds per split
    frames/<name>.npz             rgb (H, W, 3) uint8; depth_m (H, W) float32 [m], 0 = invalid;
                                  K (3, 3) [px]; T_map_cam (4, 4) optical frame -> map;
                                  stamp_s () [s]; instance_ids (H, W) uint16 (sim only)
    stage1_train.jsonl            one sample per line (below)
    stage1_heldout.jsonl
    stage2_train.jsonl
    stage2_heldout.jsonl

A sample: ``{"id", "stage" (1 or 2), "split", "seed", "task", "frames": [paths relative to
the directory], "prompt", "answer", "info"}``. Stage-1 samples have one keyframe, stage-2
samples exactly K. ``info`` carries what the evaluation needs: ``ground3d`` the object id
and its centre [m]; ``cogmap`` the visible ground-truth objects (id, label, centre, size,
yaw); ``vsi`` the question (:meth:`ssr_ros.sim.questions.Question.to_dict`).

Seeds: a seed is one procedural room (:func:`ssr_ros.sim.make_scene`). The train and
held-out seed sets must be disjoint, so held-out rooms are never trained on. Everything
written is a function of the seeds and the settings (same arguments, same bytes).
Tasks and answer formats: :mod:`ssr_ros.train.tasks`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.train import tasks

DATA_FORMAT = "ssr_ros.train_data"
DATA_VERSION = 1
SPLITS = ("train", "heldout")
#: Vision tokens cover 28 px blocks: images sized in multiples of 28 px reach the model
#: unresized, so the pixel boxes of stage 1 are in the model's own input pixels.
SIDE_MULTIPLE_PX = 28


class TrainDataError(ValueError):
    """A training set cannot be written or read; the message names the file and why."""


@dataclass(frozen=True)
class SimDataConfig:
    """What ``ssr-data`` renders per seed.

    ``keyframes``: K of every stage-2 sample; ``width``/``height``: image size [px],
    multiples of 28; ``stage1_frames``: keyframes per room for stage 1 (spread over one
    lap of the room's camera loop); ``sequences``: stage-2 sequences per room (each K
    keyframes spread over one lap, with its own sweep); ``ground_per_sequence`` /
    ``vsi_per_sequence``: at most this many 3D-grounding / VSI samples per sequence;
    ``noise``: the simulator's sensor noise.
    """

    keyframes: int = 4
    width: int = 224
    height: int = 168
    stage1_frames: int = 8
    sequences: int = 2
    ground_per_sequence: int = 3
    vsi_per_sequence: int = 3
    noise: bool = False

    def __post_init__(self) -> None:
        for name in ("keyframes", "stage1_frames", "sequences"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
                raise TrainDataError(f"{name} must be an integer in [1, 64], got {value!r}")
        for name in ("ground_per_sequence", "vsi_per_sequence"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
                raise TrainDataError(f"{name} must be an integer in [0, 64], got {value!r}")
        check_image_size(self.width, self.height)


def check_image_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or \
                not SIDE_MULTIPLE_PX <= value <= 4096 or value % SIDE_MULTIPLE_PX:
            raise TrainDataError(f"{name} must be a multiple of {SIDE_MULTIPLE_PX} px in "
                                 f"[{SIDE_MULTIPLE_PX}, 4096], got {value!r}")


def check_seed_split(train_seeds: Sequence[int], heldout_seeds: Sequence[int]) -> None:
    """Seeds are integers >= 0, at least one is given (either split may be empty), and
    the two splits never share a seed."""
    for seed in [*train_seeds, *heldout_seeds]:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TrainDataError(f"seeds must be integers >= 0, got {seed!r}")
    shared = sorted(set(train_seeds) & set(heldout_seeds))
    if shared:
        raise TrainDataError(f"seeds {shared} are in both the train and the held-out split: "
                             f"held-out rooms must never be trained on")
    if not train_seeds and not heldout_seeds:
        raise TrainDataError("no seeds given")


# ---------------------------------------------------------------------------- writing
@dataclass
class _Writer:
    root: Path
    samples: dict[str, list[dict]] = field(default_factory=dict)

    def frame(self, name: str, rgb: np.ndarray, depth_m: np.ndarray, K: np.ndarray,
              T_map_cam: np.ndarray, stamp_s: float,
              instance_ids: np.ndarray | None = None) -> str:
        rel = f"frames/{name}.npz"
        arrays = dict(rgb=np.ascontiguousarray(rgb, np.uint8),
                      depth_m=np.ascontiguousarray(depth_m, np.float32),
                      K=np.asarray(K, np.float64), T_map_cam=np.asarray(T_map_cam, np.float64),
                      stamp_s=np.float64(stamp_s))
        if instance_ids is not None:
            arrays["instance_ids"] = np.ascontiguousarray(instance_ids, np.uint16)
        path = self.root / rel
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return rel

    def add(self, stage: int, split: str, sample: dict) -> None:
        self.samples.setdefault(f"stage{stage}_{split}", []).append(
            {"id": sample.pop("id"), "stage": stage, "split": split, **sample})

    def finish(self, manifest: dict) -> dict:
        counts = {}
        for stage in (1, 2):
            for split in SPLITS:
                key = f"stage{stage}_{split}"
                rows = self.samples.get(key, [])
                counts[key] = len(rows)
                _atomic_write(self.root / f"{key}.jsonl",
                              "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        manifest = {"format": DATA_FORMAT, "version": DATA_VERSION, **manifest,
                    "counts": counts}
        _atomic_write(self.root / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        return manifest


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _lap_rate_hz(scene: Any, n_frames: int, seed: int) -> float:
    """Frame rate [Hz] at which ``n_frames`` frames span one lap of the room's loop."""
    from ssr_ros.sim.trajectory import lap_duration_s

    return min(1000.0, n_frames / max(lap_duration_s(scene, "walk", seed), 1e-3))


def _object_info(obj: Any) -> dict:
    return {"id": int(obj.id), "label": obj.category,
            "center_m": [round(float(v), 6) for v in obj.center_m],
            "size_m": [round(float(v), 6) for v in obj.size_m],
            "yaw_rad": round(float(obj.yaw_rad), 6)}


def cogmap_text_for(objects: Iterable[Any]) -> str:
    """LocalCogMap text (grid cells, no exact coordinates) of ground-truth objects added
    in the given order (objects with ``id``, ``category``, ``center_m``, ``size_m``)."""
    cogmap = LocalCogMap()
    for obj in objects:
        cogmap.add(int(obj.id), np.asarray(obj.center_m)[:2], obj.category,
                   float(obj.center_m[2]), float(obj.size_m[2]))
    return cogmap.to_text(exact=False)


def _stage1_room(writer: _Writer, split: str, seed: int, scene: Any,
                 cfg: SimDataConfig) -> None:
    from ssr_ros.sim import render_sequence

    seq = render_sequence(scene, n_frames=cfg.stage1_frames, width=cfg.width,
                          height=cfg.height, rate_hz=_lap_rate_hz(scene, cfg.stage1_frames, seed),
                          noise=cfg.noise, seed=seed)
    rng = np.random.default_rng([seed, 1])
    for frame in seq:
        boxes = tasks.boxes_from_instances(frame.instance_ids, seq.id_to_category,
                                           seq.min_visible_pixels)
        questions = tasks.stage1_questions(boxes, cfg.width, cfg.height, rng)
        if not questions:
            continue
        rel = writer.frame(f"seed{seed}_s1_f{frame.index:02d}", frame.rgb, frame.depth_m,
                           frame.K, frame.T_map_cam, frame.stamp_s, frame.instance_ids)
        for task, prompt, answer in questions:
            writer.add(1, split, {"id": f"s1-seed{seed}-f{frame.index}-{task}", "seed": seed,
                                  "task": task, "frames": [rel], "prompt": prompt,
                                  "answer": answer, "info": {}})


def _stage2_room(writer: _Writer, split: str, seed: int, scene: Any,
                 cfg: SimDataConfig) -> None:
    from ssr_ros.sim.questions import generate_questions
    from ssr_ros.sim import render_sequence

    for j in range(cfg.sequences):
        sweep = seed * 64 + j + 1
        seq = render_sequence(scene, n_frames=cfg.keyframes, width=cfg.width,
                              height=cfg.height,
                              rate_hz=_lap_rate_hz(scene, cfg.keyframes, sweep),
                              noise=cfg.noise, seed=sweep)
        first = seq.first_seen
        visible = sorted((o for o in scene.objects if o.id in first),
                         key=lambda o: (first[o.id], o.id))
        if len(visible) < 2:
            continue
        rels = [writer.frame(f"seed{seed}_s2_q{j}_f{f.index:02d}", f.rgb, f.depth_m, f.K,
                             f.T_map_cam, f.stamp_s, f.instance_ids) for f in seq]
        cogmap = cogmap_text_for(visible)
        objects = [_object_info(o) for o in visible]
        base = {"seed": seed, "frames": rels}
        writer.add(2, split, {"id": f"s2-seed{seed}-q{j}-cogmap", **base, "task": "cogmap",
                              "prompt": tasks.COGMAP_INSTRUCTION, "answer": cogmap,
                              "info": {"objects": objects}})
        rng = np.random.default_rng([seed, 2, j])
        counts: dict[str, int] = {}
        for obj in scene.objects:
            counts[obj.category] = counts.get(obj.category, 0) + 1
        unique = [o for o in visible if counts[o.category] == 1]
        for k in sorted(rng.permutation(len(unique))[:cfg.ground_per_sequence]):
            obj = unique[int(k)]
            writer.add(2, split, {
                "id": f"s2-seed{seed}-q{j}-ground3d-{obj.id}", **base, "task": "ground3d",
                "prompt": tasks.GROUND3D_PROMPT.format(label=obj.category),
                "answer": tasks.xyz_answer(obj.center_m),
                "info": {"object_id": int(obj.id),
                         "center_m": [float(v) for v in obj.center_m]}})
        if cfg.vsi_per_sequence == 0:
            continue
        questions = generate_questions(scene, seq, seed=sweep, max_per_task=1)
        for k in sorted(rng.permutation(len(questions))[:cfg.vsi_per_sequence]):
            q = questions[int(k)]
            answer = tasks.vsi_answer_text(q.answer, q.task)
            writer.add(2, split, {
                "id": f"s2-seed{seed}-q{j}-vsi{int(k)}", **base, "task": "vsi",
                "prompt": q.text, "answer": tasks.vsi_target(cogmap, answer),
                "info": {"question": q.to_dict(), "objects": objects}})


def write_sim_dataset(out_dir: str | Path, train_seeds: Sequence[int],
                      heldout_seeds: Sequence[int], config: SimDataConfig = SimDataConfig(),
                      log: Callable[[str], None] = lambda _: None) -> dict:
    """Render every seed's room and write both stages of both splits to ``out_dir``
    (see the module docstring); returns the manifest. ``log`` gets one line per room."""
    from ssr_ros.sim import make_scene

    check_seed_split(train_seeds, heldout_seeds)
    root = Path(out_dir)
    (root / "frames").mkdir(parents=True, exist_ok=True)
    writer = _Writer(root)
    for split, seeds in (("train", train_seeds), ("heldout", heldout_seeds)):
        for seed in seeds:
            scene = make_scene(int(seed))
            _stage1_room(writer, split, int(seed), scene, config)
            _stage2_room(writer, split, int(seed), scene, config)
            log(f"{split} seed {seed}: {len(scene.objects)} objects")
    return writer.finish({"source": "sim", "keyframes": config.keyframes,
                          "width": config.width, "height": config.height,
                          "train_seeds": [int(s) for s in train_seeds],
                          "heldout_seeds": [int(s) for s in heldout_seeds],
                          "settings": asdict(config)})


def write_tum_dataset(folder: str | Path, out_dir: str | Path, split: str = "train",
                      width: int = 224, height: int = 168, box_label: str = "object",
                      seed: int = 0) -> dict:
    """Stage-1 samples (boxes, counts, relations) from a TUM key-frame folder with 2D boxes
    (:func:`ssr_ros.perception.tum.read_tum_folder`); frames are resized to ``width`` x
    ``height`` and boxes scaled with them. The folder has no 3D ground truth, so it gives
    no stage-2 samples. ``split`` says which split the whole folder belongs to; ``seed``
    picks the count and relation questions."""
    import cv2

    from ssr_ros.perception.tum import TumFolderError, read_tum_folder

    if split not in SPLITS:
        raise TrainDataError(f"split must be one of {SPLITS}, got {split!r}")
    check_image_size(width, height)
    root = Path(out_dir)
    (root / "frames").mkdir(parents=True, exist_ok=True)
    writer = _Writer(root)
    rng = np.random.default_rng([seed, 3])
    try:
        for frame in read_tum_folder(folder, box_label=box_label):
            h0, w0 = frame.depth_m.shape
            sx, sy = width / w0, height / h0
            boxes = []
            for b in frame.boxes:
                x1, y1 = max(0, int(math.floor(b.x * sx))), max(0, int(math.floor(b.y * sy)))
                x2 = min(width, int(math.ceil((b.x + b.w) * sx)))
                y2 = min(height, int(math.ceil((b.y + b.h) * sy)))
                if x2 > x1 and y2 > y1:
                    boxes.append(tasks.VisibleBox(b.label or box_label, (x1, y1, x2, y2)))
            boxes.sort(key=lambda b: (b.box[0], b.box[1], b.label))
            questions = tasks.stage1_questions(boxes, width, height, rng)
            if not questions:
                continue
            K = np.diag([sx, sy, 1.0]) @ frame.K
            rgb = cv2.resize(frame.rgb, (width, height), interpolation=cv2.INTER_AREA)
            depth = cv2.resize(frame.depth_m, (width, height), interpolation=cv2.INTER_NEAREST)
            rel = writer.frame(f"tum_{frame.stem}", rgb, depth, K, frame.T_map_cam,
                               frame.stamp_s)
            for task, prompt, answer in questions:
                writer.add(1, split, {"id": f"s1-tum-{frame.stem}-{task}", "seed": seed,
                                      "task": task, "frames": [rel], "prompt": prompt,
                                      "answer": answer, "info": {}})
    except TumFolderError as exc:
        raise TrainDataError(str(exc)) from exc
    return writer.finish({"source": f"tum:{Path(folder).resolve()}", "keyframes": 1,
                          "width": width, "height": height,
                          "train_seeds": [seed] if split == "train" else [],
                          "heldout_seeds": [seed] if split == "heldout" else [],
                          "settings": {"box_label": box_label}})


# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Keyframe:
    """A stored keyframe (arrays as in the module docstring)."""

    rgb: np.ndarray
    depth_m: np.ndarray
    K: np.ndarray
    T_map_cam: np.ndarray
    stamp_s: float
    instance_ids: np.ndarray | None = None


def load_manifest(data_dir: str | Path) -> dict:
    """The manifest of a data directory (:class:`TrainDataError` if absent or foreign)."""
    path = Path(data_dir) / "manifest.json"
    if not path.is_file():
        raise TrainDataError(f"{data_dir} has no manifest.json (write a data set with "
                             f"ssr-data first)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainDataError(f"cannot read {path}: {exc}") from exc
    if manifest.get("format") != DATA_FORMAT or manifest.get("version") != DATA_VERSION:
        raise TrainDataError(f"{path} is not a version-{DATA_VERSION} {DATA_FORMAT} manifest")
    return manifest


def load_samples(data_dir: str | Path, stage: int, split: str) -> list[dict]:
    """Samples of one stage and split, checked: known task, one keyframe in stage 1,
    exactly the manifest's K in stage 2, every frame file present."""
    if stage not in (1, 2) or split not in SPLITS:
        raise TrainDataError(f"stage must be 1 or 2 and split one of {SPLITS}")
    manifest = load_manifest(data_dir)
    path = Path(data_dir) / f"stage{stage}_{split}.jsonl"
    if not path.is_file():
        raise TrainDataError(f"{path} is missing")
    want = 1 if stage == 1 else int(manifest["keyframes"])
    known = tasks.STAGE1_TASKS if stage == 1 else tasks.STAGE2_TASKS
    samples = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
            frames, task = list(sample["frames"]), sample["task"]
            str(sample["prompt"]), str(sample["answer"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TrainDataError(f"{path}:{n}: not a sample: {exc}") from exc
        if task not in known:
            raise TrainDataError(f"{path}:{n}: task {task!r} is not a stage-{stage} task")
        if len(frames) != want:
            raise TrainDataError(f"{path}:{n}: {len(frames)} keyframes, the data set has "
                                 f"K = {want} for stage {stage}")
        for rel in frames:
            if not (Path(data_dir) / rel).is_file():
                raise TrainDataError(f"{path}:{n}: frame file {rel} is missing")
        samples.append(sample)
    return samples


def load_keyframe(data_dir: str | Path, rel: str) -> Keyframe:
    """Read and check one stored keyframe (:class:`TrainDataError` on a missing file, bad
    shapes, non-finite or negative depth, a bad K or pose)."""
    path = Path(data_dir) / rel
    if not path.is_file():
        raise TrainDataError(f"frame file {path} is missing")
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise TrainDataError(f"cannot read {path}: {exc}") from exc
    missing = {"rgb", "depth_m", "K", "T_map_cam", "stamp_s"} - set(arrays)
    if missing:
        raise TrainDataError(f"{path} lacks {sorted(missing)}")
    rgb, depth, K, T = arrays["rgb"], arrays["depth_m"], arrays["K"], arrays["T_map_cam"]
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise TrainDataError(f"{path}: rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if depth.shape != rgb.shape[:2]:
        raise TrainDataError(f"{path}: depth_m {depth.shape} does not match rgb {rgb.shape}")
    if not np.all(np.isfinite(depth)) or np.any(depth < 0):
        raise TrainDataError(f"{path}: depth_m has non-finite or negative values "
                             f"(use 0 for invalid pixels)")
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise TrainDataError(f"{path}: K must be a finite (3, 3) matrix with fx, fy > 0")
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise TrainDataError(f"{path}: T_map_cam must be a finite (4, 4) matrix")
    return Keyframe(rgb, depth.astype(np.float32), K.astype(np.float64),
                    T.astype(np.float64), float(arrays["stamp_s"]),
                    arrays.get("instance_ids"))
