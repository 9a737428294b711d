"""Instance masks of the detections (``detection_masks: true``, issue 14): the mask image
is decoded into one mask per detection (pixel k = the k-th detection), bad mask images
are refused with their own counter, and through the node's frame path (FrameMapper) a
masked detection maps, a refused set leaves the map as it was, and later frames map."""

from __future__ import annotations

import array
import logging
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

import detections_feed as feed  # noqa: E402
import masks_feed  # noqa: E402
from ssr_ros.ros.diagnostics import NodeStats, ProblemLog  # noqa: E402
from ssr_ros.ros.frame_mapper import FrameMapper  # noqa: E402
from ssr_ros.ros.frames import decode_frame, decode_geometry, label_info_names  # noqa: E402
from ssr_ros.ros.inputs import FrameSet  # noqa: E402
from ssr_ros.runtime.errors import ConfigError, InvalidMessage  # noqa: E402
from ssr_ros.sim import make_scene, render_sequence  # noqa: E402

SEED = 211
FRAMES, WIDTH, HEIGHT, RATE_HZ = 24, 320, 240, 5.0


@pytest.fixture(scope="module")
def sim():
    scene = make_scene(SEED)
    seq = render_sequence(scene, n_frames=FRAMES, width=WIDTH, height=HEIGHT,
                          rate_hz=RATE_HZ, seed=SEED)
    names = label_info_names(feed.label_info(
        {i: n for n, i in feed.category_ids(scene).items()}))
    return scene, seq, names


def _decode(msgs, names, masks=None):
    return decode_frame(msgs["color"], msgs["depth"], msgs["camera_info"],
                        detections_msg=msgs["detections"], detection_names=names,
                        masks_msg=msgs["masks"] if masks is None else masks)


@pytest.mark.parametrize("encoding", ["mono16", "mono8", "16UC1", "8UC1", "32SC1"])
def test_each_detection_gets_its_mask(sim, encoding) -> None:
    scene, seq, names = sim
    msgs = masks_feed.masked_messages(seq.frame(0), scene, 100.0, encoding)
    boxes = _decode(msgs, names).boxes
    assert len(boxes) == len(msgs["boxes"]) >= 2
    for k, box in enumerate(boxes, start=1):
        x0, y0, x1, y1 = box.clipped(WIDTH, HEIGHT)
        expected = msgs["mask_ids"][y0:y1, x0:x1] == k
        assert box.mask is not None and np.array_equal(box.mask, expected)
        assert box.mask.any()
    # without the mask image the same boxes carry none
    plain = decode_frame(msgs["color"], msgs["depth"], msgs["camera_info"],
                         detections_msg=msgs["detections"], detection_names=names)
    assert all(b.mask is None for b in plain.boxes)
    assert [(b.x, b.y, b.label) for b in plain.boxes] == [(b.x, b.y, b.label) for b in boxes]


def test_a_detection_without_mask_pixels_keeps_its_box_alone(sim) -> None:
    scene, seq, names = sim
    msgs = masks_feed.masked_messages(seq.frame(0), scene, 100.0)
    ids = msgs["mask_ids"].copy()
    ids[ids == 2] = 0
    masks = masks_feed.mask_image(ids, "mono16", msgs["masks"].header.stamp,
                                  msgs["masks"].header.frame_id)
    boxes = _decode(msgs, names, masks).boxes
    assert boxes[1].mask is None and boxes[0].mask is not None


def _truncated(msg):
    bad = masks_feed.mask_image(np.zeros((HEIGHT, WIDTH), np.uint16), "mono16",
                                msg.header.stamp, msg.header.frame_id)
    bad.data = array.array("B", bytes(msg.data)[:-int(msg.step)])
    return bad


def _bad_masks(msgs, case):
    """The set's mask image spoiled as ``case`` says."""
    ok = msgs["masks"]
    stamp, frame_id = ok.header.stamp, ok.header.frame_id
    ids = msgs["mask_ids"]
    if case == "size":
        return masks_feed.mask_image(ids[::2, ::2], "mono16", stamp, frame_id)
    if case == "encoding":
        bad = masks_feed.mask_image(ids, "mono16", stamp, frame_id)
        bad.encoding = "rgb8"
        return bad
    if case == "index":
        spoiled = ids.copy()
        spoiled[:4, :4] = len(msgs["boxes"]) + 1   # a detection the array does not have
        return masks_feed.mask_image(spoiled, "mono16", stamp, frame_id)
    if case == "negative":
        spoiled = ids.copy()
        spoiled[0, 0] = -1
        return masks_feed.mask_image(spoiled, "32SC1", stamp, frame_id)
    if case == "frame_id":
        return masks_feed.mask_image(ids, "mono16", stamp, "other_optical_frame")
    if case == "layout":
        return _truncated(ok)
    raise ValueError(case)


BAD_CASES = {"size": "detection_masks_size", "encoding": "detection_masks_encoding",
             "index": "detection_masks_index", "negative": "detection_masks_index",
             "frame_id": "detection_masks_frame_id", "layout": "detection_masks_layout"}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_mask_images_are_refused_with_their_reason(sim, case) -> None:
    scene, seq, names = sim
    msgs = masks_feed.masked_messages(seq.frame(0), scene, 100.0)
    with pytest.raises(InvalidMessage) as info:
        _decode(msgs, names, _bad_masks(msgs, case))
    assert info.value.reason == BAD_CASES[case]


def test_the_pixel_checks_wait_for_a_keyframe_the_header_checks_do_not(sim) -> None:
    scene, seq, names = sim
    msgs = masks_feed.masked_messages(seq.frame(0), scene, 100.0)
    args = (msgs["color"], msgs["depth"], msgs["camera_info"])
    kwargs = dict(detections_msg=msgs["detections"], detection_names=names)
    decode_geometry(*args, masks_msg=_bad_masks(msgs, "index"), **kwargs)  # no pixel read
    with pytest.raises(InvalidMessage, match="mask image 160x120"):
        decode_geometry(*args, masks_msg=_bad_masks(msgs, "size"), **kwargs)


def test_detection_masks_need_the_detections_source() -> None:
    with pytest.raises(ConfigError, match="detection_masks"):
        feed._config(proposal_source="labels", detection_masks=True)
    config = feed._config(proposal_source="detections", detection_masks=True)
    assert config.uses_detection_masks
    assert not feed._config(proposal_source="detections").uses_detection_masks


def _mapper(names):
    from ssr_ros.ros.pipeline_factory import build_pipeline_factory
    from ssr_ros.ros.pose_source import TopicPoseSource
    from ssr_ros.runtime.map_state import MapKeeper

    config = feed._config(proposal_source="detections", detection_masks=True,
                          pose_source="camera_pose",
                          camera_frame="camera_color_optical_frame")
    keeper = MapKeeper(build_pipeline_factory(config), config.map_frame)
    poses = TopicPoseSource(config.T_base_cam, ("map",), mode="camera_pose")
    stats = NodeStats()
    problems = ProblemLog(stats, logging.getLogger("test_detection_masks"), 60.0)
    keyframes: list[float] = []
    mapper = FrameMapper(config, keeper, poses, stats, problems, lambda: {},
                         lambda frame: keyframes.append(frame.stamp_s))
    return mapper, keeper, poses, stats, keyframes


def _offer(mapper, poses, msgs, names, masks=None) -> None:
    poses.add_camera_pose(msgs["pose"])
    mapper.map(FrameSet(time.monotonic(), msgs["color"], msgs["depth"], msgs["camera_info"],
                        detections=msgs["detections"], detection_names=names,
                        detection_masks=msgs["masks"] if masks is None else masks))


def _score(keeper, scene, seq) -> dict:
    from ssr_ros.eval.run import score_map

    seen = set(seq.first_seen)
    scored = score_map(list(keeper.snapshot.objects),
                       [o for o in scene.objects if o.id in seen],
                       unseen=[o for o in scene.objects if o.id not in seen])
    centre = scored["centre_errors_m"]
    return {"recall": scored["n_matched"] / max(1, scored["n_gt"]),
            "median_centre_m": float(np.median(centre)) if centre else float("nan")}


def test_masked_detections_map_and_refused_masks_leave_the_map(sim) -> None:
    scene, seq, names = sim
    sets = [masks_feed.masked_messages(seq.frame(i), scene, 100.0 + i / RATE_HZ)
            for i in range(len(seq))]
    mapper, keeper, poses, stats, clean = _mapper(names)
    for msgs in sets:
        _offer(mapper, poses, msgs, names)
    assert dict(stats.invalid) == {}
    assert len(clean) >= 4 and len(keeper.snapshot.objects) >= 3
    score = _score(keeper, scene, seq)
    print(f"seed {SEED}, {len(seq)} frames, masked detections: {score}")
    assert score["recall"] >= 0.7 and score["median_centre_m"] <= 0.1, score

    # the same frames with a bad mask image on keyframes: each set is refused and counted,
    # the map is left as it was, and the frames after it are mapped
    keyframe_sets = [i for i, m in enumerate(sets) if 100.0 + i / RATE_HZ in clean]
    spoiled = dict(zip(keyframe_sets[1:1 + len(BAD_CASES)], sorted(BAD_CASES)))
    assert len(spoiled) == len(BAD_CASES), keyframe_sets
    mapper, keeper, poses, stats, got = _mapper(names)
    for i, msgs in enumerate(sets):
        if i not in spoiled:
            _offer(mapper, poses, msgs, names)
            continue
        before = keeper.snapshot.revision
        _offer(mapper, poses, msgs, names, _bad_masks(msgs, spoiled[i]))
        assert keeper.snapshot.revision == before, spoiled[i]
        assert stats.invalid.get(BAD_CASES[spoiled[i]], 0) >= 1, (spoiled[i], stats.invalid)
    assert sum(stats.invalid.values()) == len(spoiled)
    assert max(got) > max(100.0 + i / RATE_HZ for i in spoiled)
    assert len(keeper.snapshot.objects) >= 3
