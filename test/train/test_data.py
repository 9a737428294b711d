"""``ssr-data``: every answer recomputed independently from the stored frames and the
scene, the split by seed, determinism, and clear errors for bad inputs."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from ssr_ros.core.cogmap_text import parse_cogmap_text, sanitize_label
from ssr_ros.core.types import ObjectState
from ssr_ros.model.bridge import cogmap_agreement
from ssr_ros.sim import make_scene
from ssr_ros.sim.sequence import visible_pixel_threshold
from ssr_ros.train import tasks
from ssr_ros.train.data import (SimDataConfig, TrainDataError, load_keyframe, load_samples,
                                write_sim_dataset)
from ssr_ros.train.data_cli import main as data_main

DATA_CONFIG = SimDataConfig(keyframes=2, width=112, height=84, stage1_frames=4, sequences=3,
                            ground_per_sequence=8, vsi_per_sequence=2)


def _all(dataset, stage):
    return load_samples(dataset, stage, "train") + load_samples(dataset, stage, "heldout")


def _visible(instance_ids: np.ndarray) -> dict[int, np.ndarray]:
    """{object id: its pixel mask} for ids over the visibility threshold."""
    h, w = instance_ids.shape
    need = visible_pixel_threshold(w, h)
    out = {}
    for object_id in range(1, int(instance_ids.max()) + 1):
        mask = instance_ids == object_id
        if mask.sum() >= need:
            out[object_id] = mask
    return out


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    cols = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def test_stage1_answers_match_the_label_images(dataset, data_setup):
    assert data_setup[0] == DATA_CONFIG
    samples = _all(dataset, 1)
    assert {s["task"] for s in samples} == set(tasks.STAGE1_TASKS)
    for sample in samples:
        kf = load_keyframe(dataset, sample["frames"][0])
        labels = {o.id: o.category for o in make_scene(sample["seed"]).objects}
        boxes = {oid: (labels[oid], _box(mask))
                 for oid, mask in _visible(kf.instance_ids).items()}
        if sample["task"] == "ground2d":
            got = json.loads(sample["answer"])
            want = sorted(({"bbox_2d": list(b), "label": lab} for lab, b in boxes.values()),
                          key=lambda d: (d["bbox_2d"][0], d["bbox_2d"][1], d["label"]))
            assert got == want
        elif sample["task"] == "count2d":
            label = re.fullmatch(r"How many (.+)\(s\) are visible in this keyframe\?",
                                 sample["prompt"]).group(1)
            assert int(sample["answer"]) == sum(lab == label for lab, _ in boxes.values())
        else:
            m = re.search(r"is the (.+?) (?:to the left or to the right of|above or below) "
                          r"the (.+)\?$", sample["prompt"])
            by_label = {lab: b for lab, b in boxes.values()}
            (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = by_label[m.group(1)], \
                by_label[m.group(2)]
            dx = ((ax1 + ax2) - (bx1 + bx2)) / 2 / DATA_CONFIG.width
            dy = ((ay1 + ay2) - (by1 + by2)) / 2 / DATA_CONFIG.height
            if "left or to the right" in sample["prompt"]:
                assert abs(dx) > abs(dy)
                assert sample["answer"] == ("left" if dx < 0 else "right")
            else:
                assert abs(dy) > abs(dx)
                assert sample["answer"] == ("above" if dy < 0 else "below")


def test_stage2_answers_match_the_scene(dataset):
    samples = _all(dataset, 2)
    assert {s["task"] for s in samples} == set(tasks.STAGE2_TASKS)
    cogmaps = {}
    for sample in samples:
        assert len(sample["frames"]) == DATA_CONFIG.keyframes
        scene = make_scene(sample["seed"])
        by_id = {o.id: o for o in scene.objects}
        if sample["task"] == "ground3d":
            obj = by_id[sample["info"]["object_id"]]
            assert sample["prompt"] == tasks.GROUND3D_PROMPT.format(label=obj.category)
            assert sum(o.category == obj.category for o in scene.objects) == 1
            np.testing.assert_allclose(tasks.parse_xyz(sample["answer"]), obj.center_m,
                                       atol=0.005)
        elif sample["task"] == "cogmap":
            first: dict[int, int] = {}
            for index, rel in enumerate(sample["frames"]):
                for oid in _visible(load_keyframe(dataset, rel).instance_ids):
                    first.setdefault(oid, index)
            parsed = parse_cogmap_text(sample["answer"])
            assert parsed.ok
            assert [link.target for link in parsed.links] == \
                sorted(first, key=lambda i: (first[i], i))
            assert all(parsed.labels[i] == sanitize_label(by_id[i].category) for i in first)
            # Every triplet's cell holds its object (the grid bound of a correct cell).
            objects = [ObjectState(o.id, o.category, o.center_m, o.size_m, o.yaw_rad)
                       for o in scene.objects if o.id in first]
            assert cogmap_agreement(parsed, objects)["agreement"] == 1.0
            cogmaps[tuple(sample["frames"])] = sample["answer"]
    for sample in samples:
        if sample["task"] != "vsi":
            continue
        q = sample["info"]["question"]
        thought, answer = sample["answer"].rsplit("\n" + tasks.ANSWER_PREFIX, 1)
        assert thought == cogmaps[tuple(sample["frames"])]
        if q["task"] == "object_count":
            scene = make_scene(sample["seed"])
            name = re.match(r"How many (.+)\(s\)", q["text"]).group(1)
            assert int(answer) == sum(o.category == name for o in scene.objects)
        elif q["options"]:
            assert answer in q["options"]
        else:
            locate = isinstance(q["answer"], list)
            assert tasks.parse_vsi_answer(sample["answer"], [], locate) == \
                pytest.approx(q["answer"], abs=0.005)


def test_split_by_seed(dataset, data_setup, tmp_path):
    _, TRAIN_SEEDS, HELDOUT_SEEDS = data_setup
    for stage in (1, 2):
        assert {s["seed"] for s in load_samples(dataset, stage, "train")} == set(TRAIN_SEEDS)
        assert {s["seed"] for s in load_samples(dataset, stage, "heldout")} == \
            set(HELDOUT_SEEDS)
        for s in load_samples(dataset, stage, "heldout"):
            assert all(f.startswith(f"frames/seed{s['seed']}_") for f in s["frames"])
    with pytest.raises(TrainDataError, match="both the train and the held-out"):
        write_sim_dataset(tmp_path, [0, 5], [5], DATA_CONFIG)


def test_same_seeds_same_bytes(dataset, tmp_path):
    write_sim_dataset(tmp_path, [1], [], DATA_CONFIG)
    mine = [s for s in load_samples(tmp_path, 2, "train")]
    theirs = [s for s in load_samples(dataset, 2, "train") if s["seed"] == 1]
    assert mine == theirs
    rel = mine[0]["frames"][0]
    a, b = load_keyframe(tmp_path, rel), load_keyframe(dataset, rel)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.depth_m, b.depth_m)


def test_bad_inputs_give_clear_errors(dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    sample = load_samples(copy, 2, "train")[0]
    # NaN depth.
    path = copy / sample["frames"][0]
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["depth_m"][0, 0] = np.nan
    np.savez_compressed(path, **arrays)
    with pytest.raises(TrainDataError, match="non-finite"):
        load_keyframe(copy, sample["frames"][0])
    # A missing frame file.
    (copy / sample["frames"][1]).unlink()
    with pytest.raises(TrainDataError, match="missing"):
        load_samples(copy, 2, "train")
    # Wrong K: the data set says 3 keyframes, the samples have 2.
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["keyframes"] = 3
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TrainDataError, match="K = 3"):
        load_samples(copy, 2, "heldout")
    with pytest.raises(TrainDataError, match="no manifest"):
        load_samples(tmp_path / "nowhere", 1, "train")
    with pytest.raises(TrainDataError, match="multiple of 28"):
        SimDataConfig(width=100)


def test_cli_refuses_overlapping_seeds(tmp_path, capsys):
    assert data_main(["--out", str(tmp_path), "--train-seeds", "0-2",
                      "--heldout-seeds", "2"]) == 2
    assert "both the train and the held-out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        data_main(["--out", str(tmp_path), "--train-seeds", "3-1"])


def test_tum_folder_gives_stage1_samples(tmp_path):
    import cv2

    from ssr_ros.train.data import write_tum_dataset

    folder = tmp_path / "tum"
    for sub in ("rgb", "depth", "boxes_2d"):
        (folder / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(folder / "rgb" / "0000_rgb_raw.png"),
                rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "depth" / "0000_depth_raw.png"),
                np.full((480, 640), 10000, dtype=np.uint16))  # 2 m at 5000 units per m
    (folder / "poses_tum.txt").write_text("0.0 1 2 0.5 0 0 0 1\n")
    (folder / "boxes_2d" / "0000_0.txt").write_text("100 50 200 100\n400 300 100 100 0.9\n")
    write_tum_dataset(folder, tmp_path / "out", "train", 224, 168, box_label="chair")
    samples = {s["task"]: s for s in load_samples(tmp_path / "out", 1, "train")}
    # 640 x 480 -> 224 x 168 scales by 0.35; boxes grow outward to whole pixels.
    assert json.loads(samples["ground2d"]["answer"]) == [
        {"bbox_2d": [35, 17, 105, 53], "label": "chair"},
        {"bbox_2d": [140, 105, 175, 140], "label": "chair"}]
    assert samples["count2d"]["answer"] == "2"
    kf = load_keyframe(tmp_path / "out", samples["count2d"]["frames"][0])
    assert kf.rgb.shape == (168, 224, 3) and np.allclose(kf.depth_m, 2.0)
    assert load_samples(tmp_path / "out", 2, "train") == []
    with pytest.raises(TrainDataError, match="lacks rgb"):
        write_tum_dataset(tmp_path / "nowhere", tmp_path / "out2")
