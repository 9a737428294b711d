"""Evaluation of a trained adapter on held-out samples, through the on-robot runner.

Each stage-2 sequence is fed to a :class:`~ssr_ros.model.runner.ModelRunner` keyframe by
keyframe (the node's path: cached prefix, greedy decoding) and every question of the
sequence is asked over it. Metrics:

- ``ground3d_median_m``, ``ground3d_p90_m``: 3D grounding error, Euclidean distance
  between the answered and the true box centre in the map frame [m]; an answer without
  an ``(x, y, z)`` triple counts as an infinite error (``ground3d_parsed`` is the share
  that had one).
- ``triplet_accuracy``: share of the ground-truth LocalCogMap's non-root triplets that the
  model wrote exactly (same target id and label, same anchor ids, same grid cell), its
  reply parsed with the strict parser; ``cogmap_valid_lines``: share of its non-blank
  lines the parser accepted.
- ``cogmap_disagreement``: 1 - :func:`~ssr_ros.model.bridge.cogmap_agreement` of the
  model's cogmap against the geometric (ground-truth) map: how often a triplet it wrote
  places its object outside the cell it names (1.0 when it wrote none).
- ``vsi_overall`` and ``vsi_<task>``: VSI scores (:func:`ssr_ros.eval.metrics.score_question`)
  of the answers after the chain of thought.
- stage 1 (``with_stage1``): ``count2d_accuracy``, ``relation2d_accuracy`` (exact match)
  and ``ground2d_f1`` (boxes matched by label at IoU >= 0.5).

:func:`answer_nll` scores without decoding: the teacher-forced cross-entropy of the true
answers, ``nll_<task>`` [nats/token] and ``nll_stage<k>`` (token-weighted). It separates
models long before their greedy answers become exact (a small model's first correct
digits lower it; they never make a whole answer parse).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ssr_ros.core.cogmap_text import parse_cogmap_text
from ssr_ros.core.types import ObjectState
from ssr_ros.eval.metrics import score_question
from ssr_ros.sim.questions import Question
from ssr_ros.model.backbone import Backbone
from ssr_ros.model.bridge import cogmap_agreement
from ssr_ros.model.config import ModelConfig
from ssr_ros.model.lora import load_trained_adapter
from ssr_ros.model.runner import ModelRunner
from ssr_ros.train import tasks
from ssr_ros.train.data import load_keyframe, load_manifest, load_samples
from ssr_ros.train.model import TrainableSSR

#: Answer length limits [tokens] per task (byte-level tokenisers need the most).
MAX_NEW_TOKENS = {"cogmap": 1024, "vsi": 1024, "ground3d": 48, "ground2d": 512,
                  "count2d": 8, "relation2d": 8}


def _objects(info: dict) -> list[ObjectState]:
    return [ObjectState(id=o["id"], label=o["label"], center_m=np.array(o["center_m"]),
                        size_m=np.array(o["size_m"]), yaw_rad=o["yaw_rad"])
            for o in info["objects"]]


def triplet_accuracy(reply: str, truth: str) -> tuple[float, float]:
    """(share of the true non-root triplets written exactly, share of valid lines)."""
    gold = parse_cogmap_text(truth)
    got = parse_cogmap_text(reply)
    by_target = {link.target: link for link in got.links}
    wanted = [link for link in gold.links if not link.is_root]
    correct = 0
    for link in wanted:
        mine = by_target.get(link.target)
        if mine is not None and not mine.is_root and mine.anchors == link.anchors \
                and tuple(mine.cell) == tuple(link.cell) \
                and got.labels.get(link.target) == gold.labels[link.target]:
            correct += 1
    lines = [ln for ln in reply.splitlines() if ln.strip()]
    valid = len(got.links) / len(lines) if lines else 0.0
    return (correct / len(wanted) if wanted else 1.0), valid


def _box_f1(reply: str, truth: str) -> float:
    pred, gold = tasks.parse_ground2d(reply), tasks.parse_ground2d(truth)
    if not pred or gold is None:
        return 0.0 if gold else 1.0
    used, hits = set(), 0
    for g in gold:
        for k, p in enumerate(pred):
            if k not in used and p.label == g.label and len(p.box) == 4 \
                    and _iou(p.box, g.box) >= 0.5:
                used.add(k)
                hits += 1
                break
    return 2.0 * hits / (len(pred) + len(gold))


def _iou(a: tuple, b: tuple) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    # Nearest rank, so infinite errors (unparsed answers) stay infinite, never NaN.
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))])


def evaluate(make_backbone: Callable[[], Backbone], data_dir: str | Path,
             adapter: str | None = None, split: str = "heldout", image_side: int = 448,
             with_stage1: bool = False, limit: int | None = None,
             log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Metrics (see the module docstring) of ``adapter`` (None: untrained, the plain
    backbone with a zero gate) on ``split`` of ``data_dir``. ``make_backbone`` returns a
    fresh backbone (the adapter's LoRA is merged into it). ``limit`` caps the samples per
    stage (in file order)."""
    backbone = make_backbone()
    encoder = load_trained_adapter(adapter, backbone) if adapter else None
    K = int(load_manifest(data_dir)["keyframes"])
    config = ModelConfig(max_keyframes=max(K, 1), image_side=image_side,
                         max_new_tokens=max(MAX_NEW_TOKENS.values()), timeout_s=3600.0,
                         max_prompt_tokens=512)
    stages = ([1] if with_stage1 else []) + [2]
    groups: OrderedDict[tuple, list[dict]] = OrderedDict()
    for stage in stages:
        for sample in load_samples(data_dir, stage, split)[:limit]:
            groups.setdefault(tuple(sample["frames"]), []).append(sample)
    ground, triplets, valid, disagree, vsi = [], [], [], [], {}
    stage1: dict[str, list[float]] = {"count2d": [], "relation2d": [], "ground2d": []}
    for frames, samples in groups.items():
        runner = ModelRunner(backbone, config, encoder)
        runner.start()
        try:
            for rel in frames:
                kf = load_keyframe(data_dir, rel)
                runner.add_keyframe(kf.rgb, kf.T_map_cam, kf.stamp_s, depth_m=kf.depth_m,
                                    K=kf.K)
            for sample in samples:
                reply = runner.ask(sample["prompt"],
                                   max_new_tokens=MAX_NEW_TOKENS[sample["task"]])
                _score(sample, reply, ground, triplets, valid, disagree, vsi, stage1)
        finally:
            runner.close()  # frees its KV cache; the backbone and encoder are reused
        log(f"{frames[0]}: {len(samples)} questions")
    result: dict[str, Any] = {
        "ground3d_n": len(ground),
        "ground3d_median_m": _percentile(ground, 50), "ground3d_p90_m": _percentile(ground, 90),
        "ground3d_parsed": float(np.mean([math.isfinite(e) for e in ground])) if ground
        else math.nan,
        "triplet_accuracy": float(np.mean(triplets)) if triplets else math.nan,
        "cogmap_valid_lines": float(np.mean(valid)) if valid else math.nan,
        "cogmap_disagreement": float(np.mean(disagree)) if disagree else math.nan,
        "cogmap_n": len(triplets)}
    task_means = {t: float(np.mean(v)) for t, v in sorted(vsi.items())}
    result.update({f"vsi_{t}": v for t, v in task_means.items()})
    result["vsi_overall"] = float(np.mean(list(task_means.values()))) if task_means \
        else math.nan
    result["vsi_n"] = sum(len(v) for v in vsi.values())
    if with_stage1:
        result["count2d_accuracy"] = _mean(stage1["count2d"])
        result["relation2d_accuracy"] = _mean(stage1["relation2d"])
        result["ground2d_f1"] = _mean(stage1["ground2d"])
    return result


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _score(sample: dict, reply: str, ground: list, triplets: list, valid: list,
           disagree: list, vsi: dict, stage1: dict) -> None:
    task, info = sample["task"], sample["info"]
    if task == "ground3d":
        xyz = tasks.parse_xyz(reply)
        ground.append(math.inf if xyz is None else
                      float(np.linalg.norm(xyz - np.asarray(info["center_m"]))))
    elif task == "cogmap":
        acc, ok = triplet_accuracy(reply, sample["answer"])
        triplets.append(acc)
        valid.append(ok)
        agreement = cogmap_agreement(parse_cogmap_text(reply), _objects(info))
        disagree.append(1.0 - float(agreement["agreement"]))
    elif task == "vsi":
        question = Question.from_dict(info["question"])
        locate = question.task == "robot" and question.subtype == "locate"
        pred = tasks.parse_vsi_answer(reply, question.options, locate)
        vsi.setdefault(question.task, []).append(score_question(question, pred))
    elif task == "ground2d":
        stage1["ground2d"].append(_box_f1(reply, sample["answer"]))
    else:
        stage1[task].append(1.0 if reply.strip() == sample["answer"] else 0.0)


def answer_nll(make_backbone: Callable[[], Backbone], data_dir: str | Path,
               adapter: str | None = None, split: str = "heldout", image_side: int = 448,
               stages: tuple[int, ...] = (1, 2), limit: int | None = None) -> dict[str, float]:
    """Teacher-forced cross-entropy of the true answers of ``split`` [nats/token], per task
    (``nll_<task>``) and per stage (``nll_stage<k>``), for ``adapter`` (None: untrained)."""
    backbone = make_backbone()
    encoder = load_trained_adapter(adapter, backbone) if adapter else None
    scorer = TrainableSSR(backbone, lora=None, spatial=encoder, train_spatial=False,
                          image_side=image_side)
    sums: dict[str, list[float]] = {}
    for stage in stages:
        for sample in load_samples(data_dir, stage, split)[:limit]:
            nll, n = scorer.answer_nll(data_dir, sample)
            for key in (f"nll_{sample['task']}", f"nll_stage{stage}"):
                total = sums.setdefault(key, [0.0, 0])
                total[0] += nll
                total[1] += n
    return {key: total / count for key, (total, count) in sorted(sums.items())}
