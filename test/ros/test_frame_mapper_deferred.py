"""The node's frame path decodes in two halves (issue 18): frame ids, depth, camera_info
and every check that needs no pixel before the keyframe selector judges a frame; the
colour and label pixels, and the label ids, only for frames that may become keyframes.
A label id the names do not know is therefore counted when its frame would have been a
keyframe, and dropped unread otherwise."""

from __future__ import annotations

import array
import logging
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("rclpy")

from ssr_ros.ros.diagnostics import NodeStats, ProblemLog  # noqa: E402
from ssr_ros.ros.frame_mapper import FrameMapper  # noqa: E402
from ssr_ros.ros.frames import decode_frame, decode_geometry, decode_images  # noqa: E402
from ssr_ros.ros.inputs import FrameSet  # noqa: E402
from ssr_ros.ros.player import frame_messages  # noqa: E402
from ssr_ros.ros.conversions import array_to_image, s_to_stamp  # noqa: E402
from ssr_ros.runtime.errors import InvalidMessage  # noqa: E402
from ssr_ros.sim import make_scene, render_sequence  # noqa: E402

SEED = 4


@pytest.fixture(scope="module")
def sim():
    scene = make_scene(SEED)
    seq = render_sequence(scene, n_frames=40, width=160, height=120, rate_hz=10.0, seed=SEED)
    names = {o.id: o.category for o in scene.objects}
    sets = []
    for i in range(len(seq)):
        msgs = [m for _, m in frame_messages(seq.frame(i), s_to_stamp(100.0 + i / 10.0), "")]
        sets.append(msgs)  # pose, colour, depth, camera_info, labels
    return sets, names


def _truncated(image_msg):
    """The image with one row of pixel data missing (``data_length``)."""
    bad = type(image_msg)()
    for field in ("header", "height", "width", "encoding", "is_bigendian", "step"):
        setattr(bad, field, getattr(image_msg, field))
    bad.data = array.array("B", bytes(image_msg.data)[:-int(image_msg.step)])
    return bad


def test_halves_equal_the_whole(sim):
    sets, _ = sim
    _, color, depth, info, labels = sets[3]
    whole = decode_frame(color, depth, info, labels)
    geometry = decode_geometry(color, depth, info, labels)
    assert geometry.rgb is None and geometry.labels is None
    halves = decode_images(geometry, color, labels)
    for name in ("rgb", "depth_m", "K", "labels"):
        assert np.array_equal(getattr(whole, name), getattr(halves, name)), name
    assert (whole.stamp_s, whole.frame_id) == (halves.stamp_s, halves.frame_id)


def test_geometry_checks_what_needs_no_pixel(sim):
    sets, _ = sim
    _, color, depth, info, labels = sets[3]
    with pytest.raises(InvalidMessage) as exc:  # a row missing: known from the header
        decode_geometry(_truncated(color), depth, info, labels)
    assert exc.value.reason == "data_length"
    narrow_rgb = array_to_image(np.zeros((120, 158, 3), np.uint8), "rgb8", color.header.stamp,
                                color.header.frame_id)
    narrow_ids = array_to_image(np.zeros((120, 158), np.uint16), "16UC1", color.header.stamp,
                                color.header.frame_id)
    for args in ((narrow_rgb, labels), (color, narrow_ids)):
        with pytest.raises(InvalidMessage) as exc:
            decode_geometry(args[0], depth, info, args[1])
        assert exc.value.reason == "size_mismatch"


def test_label_ids_are_read_by_the_second_half_only(sim):
    sets, _ = sim
    _, color, depth, info, labels = sets[3]
    ids = np.frombuffer(bytes(labels.data), np.uint16).reshape(120, 160).copy()
    ids[:10, :10] = 999
    odd = array_to_image(ids, "16UC1", labels.header.stamp, labels.header.frame_id)
    geometry = decode_geometry(color, depth, info, odd)
    assert geometry.labels is None and geometry.rgb is None
    assert decode_images(geometry, color, odd).labels.max() == 999


def _config():
    from ssr_ros.ros.params import PARAMETERS, read_config

    values = {name: spec.default for name, spec in PARAMETERS.items()}
    values.update(proposal_source="labels", pose_source="camera_pose",
                  camera_frame="camera_color_optical_frame", map_path="")
    return read_config(SimpleNamespace(get_parameter=lambda n: SimpleNamespace(
        value=values[n])))


def _with_unknown_ids(labels_msg):
    ids = np.frombuffer(bytes(labels_msg.data), np.uint16).reshape(
        labels_msg.height, labels_msg.width).copy()
    ids[:20, :20] = 999  # no label name has this id
    return array_to_image(ids, "16UC1", labels_msg.header.stamp, labels_msg.header.frame_id)


def _run(sets, names, odd_index=None):
    """Map every set through a FrameMapper; the label image of ``odd_index`` holds an id
    the names do not know. Returns (stamps handed on as keyframes, invalid counts, frames
    counted as mapped once the odd set was offered (or at the end), the keeper)."""
    from ssr_ros.ros.pipeline_factory import build_pipeline_factory
    from ssr_ros.ros.pose_source import TopicPoseSource
    from ssr_ros.runtime.map_state import MapKeeper

    config = _config()
    keeper = MapKeeper(build_pipeline_factory(config), config.map_frame)
    poses = TopicPoseSource(config.T_base_cam, ("map",), mode="camera_pose")
    stats = NodeStats()
    problems = ProblemLog(stats, logging.getLogger("test_frame_mapper_deferred"), 60.0)
    keyframes: list[float] = []
    mapper = FrameMapper(config, keeper, poses, stats, problems, lambda: names,
                         lambda frame: keyframes.append(frame.stamp_s))
    processed = None
    for i, (pose, color, depth, info, labels) in enumerate(sets):
        poses.add_camera_pose(pose)
        if i == odd_index:
            labels = _with_unknown_ids(labels)
        mapper.map(FrameSet(time.monotonic(), color, depth, info, labels=labels))
        if i == odd_index:
            processed = stats.frames_processed
    return keyframes, dict(stats.invalid), processed or stats.frames_processed, keeper


def test_label_ids_checked_only_where_a_keyframe_needs_them(sim):
    sets, names = sim
    clean, invalid, _, keeper = _run(sets, names)
    assert invalid == {} and 3 <= len(clean) < len(sets)
    assert len(keeper.snapshot.objects) > 0
    stamps = [100.0 + i / 10.0 for i in range(len(sets))]
    non_key = next(i for i, s in enumerate(stamps) if s not in clean)
    key = next(i for i, s in enumerate(stamps) if s in clean and i > 0)

    got, invalid, _, _ = _run(sets, names, non_key)
    assert invalid == {} and got == clean  # dropped unread by the selector, as before

    got, invalid, processed, _ = _run(sets, names, key)
    assert invalid == {"unknown_label_error": 1}
    assert stamps[key] not in got
    assert processed == key  # the refused frame was not counted as mapped
