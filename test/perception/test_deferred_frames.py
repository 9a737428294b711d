"""MappingPipeline on frames whose images are decoded on demand (DeferredFrame, the
node's frames): the selector decides on depth and pose, only frames that may become
keyframes are decoded, the map is the same as with complete frames, and a keyframe
whose images turn out bad raises and changes nothing."""

import math

import numpy as np
import pytest

from ssr_ros.core.camera import ImageSizeMismatchError, PinholeCamera
from ssr_ros.core.frames import DeferredFrame, PosedFrame
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
from ssr_ros.perception.proposals import UnknownLabelError

from synthetic_rgbd import camera_pose, render

K = np.array([[120.0, 0, 79.5], [0, 120.0, 59.5], [0, 0, 1]])
CAM = PinholeCamera.from_K(K, 160, 120)
BOXES = [((3.0, 1.5, 0.4), (1.2, 0.8, 0.8)),
         ((4.0, 3.0, 0.45), (0.5, 0.5, 0.9)),
         ((2.0, 3.6, 0.25), (0.4, 0.4, 0.5))]
LABELS = {1: "table", 2: "chair", 3: "trash can"}


def walk(n=120, step_s=0.1):
    """Complete frames of a slow walk around the room centre (most are not keyframes)."""
    out = []
    for i in range(n):
        a = 2 * math.pi * i / n
        x, y = 3.0 + 2.2 * math.cos(a), 2.5 + 1.8 * math.sin(a)
        T = camera_pose(x, y, 1.4, math.atan2(2.5 - y, 3.0 - x), math.radians(25))
        depth, ids, rgb = render(CAM, T, BOXES)
        out.append(PosedFrame(rgb, depth, K, T, i * step_s, labels=ids,
                              id_to_category=LABELS))
    return out


WALK = walk()


def deferred(frame, decoded, decode=None):
    """``frame`` without its images; ``decode`` (default: give ``frame`` back) is
    recorded in ``decoded`` by stamp."""
    def run():
        decoded.append(frame.stamp_s)
        return frame if decode is None else decode()
    return DeferredFrame(None, frame.depth_m, frame.K, frame.T_map_cam, frame.stamp_s,
                         dist=frame.dist, frame_id=frame.frame_id, decode=run)


def state(pipe):
    return (pipe.object_map.to_dict(), len(pipe.trajectory), pipe.frame_count,
            pipe.keyframe_count, pipe.selector.reference_stamp_s, pipe.camera,
            pipe.cogmap.to_dict())


@pytest.mark.parametrize("recheck_after_s", [0.0, 0.2])
def test_same_map_and_only_candidates_decoded(recheck_after_s):
    full = MappingPipeline(PipelineConfig(source="labels", recheck_after_s=recheck_after_s))
    lazy = MappingPipeline(PipelineConfig(source="labels", recheck_after_s=recheck_after_s))
    decoded: list[float] = []
    keyframes = []
    for frame in WALK:
        a = full.process(frame)
        b = lazy.process(deferred(frame, decoded))
        assert (a is None) == (b is None)
        if b is not None:
            keyframes.append(frame.stamp_s)
            assert b.decision.reason == a.decision.reason
            assert b.keyframe.rgb is frame.rgb and b.keyframe.labels is not None
    assert lazy.object_map.to_dict() == full.object_map.to_dict()
    assert lazy.cogmap.to_dict() == full.cogmap.to_dict()
    assert 3 <= len(keyframes) < 0.6 * len(WALK)
    assert set(keyframes) <= set(decoded)
    if recheck_after_s == 0.0:
        assert decoded == keyframes  # nothing else can become a keyframe
    else:  # a second look may be due: decoded while objects wait for it, no more
        assert len(decoded) < len(WALK)


def test_non_keyframe_images_are_never_read():
    pipe = MappingPipeline(PipelineConfig(source="labels", recheck_after_s=0.0))
    decoded: list[float] = []
    pipe.process(deferred(WALK[0], decoded))
    frame = WALK[1]

    def broken():
        raise AssertionError("a non-keyframe was decoded")

    assert pipe.process(deferred(frame, decoded, broken)) is None
    assert decoded == [WALK[0].stamp_s]
    assert pipe.frame_count == 2 and len(pipe.trajectory) == 2


def _bad_rgb():
    f = WALK[60]
    return PosedFrame(f.rgb[:-1], f.depth_m, K, f.T_map_cam, f.stamp_s, labels=f.labels,
                      id_to_category=LABELS)


def _bad_labels():
    f = WALK[60]
    return PosedFrame(f.rgb, f.depth_m, K, f.T_map_cam, f.stamp_s,
                      labels=np.where(f.labels == 1, 99, f.labels).astype(np.uint16),
                      id_to_category=LABELS)


def _decoder_fails():
    raise ValueError("colour image: data has 12 bytes, step*height is 57600")


@pytest.mark.parametrize("decode, error", [(_bad_rgb, ImageSizeMismatchError),
                                           (_bad_labels, UnknownLabelError),
                                           (_decoder_fails, ValueError)])
def test_bad_images_of_a_keyframe_raise_and_change_nothing(decode, error):
    pipe = MappingPipeline(PipelineConfig(source="labels"))
    for frame in WALK[:20]:
        pipe.process(frame)
    before = state(pipe)
    decoded: list[float] = []
    # half way round the room: the selector takes it (moved), so it must be decoded
    with pytest.raises(error):
        pipe.process(deferred(WALK[60], decoded, decode))
    assert decoded == [WALK[60].stamp_s]
    assert state(pipe) == before
    assert pipe.process(deferred(WALK[60], decoded)) is not None  # the good one maps


def test_geometry_is_checked_before_decoding():
    pipe = MappingPipeline(PipelineConfig(source="labels"))
    decoded: list[float] = []
    f = WALK[0]
    bad = DeferredFrame(None, np.full_like(f.depth_m, np.nan), K, f.T_map_cam, 0.0,
                        decode=lambda: decoded.append(0.0) or f)
    with pytest.raises(ValueError):
        pipe.process(bad)
    assert decoded == [] and pipe.frame_count == 0 and pipe.camera is None


def test_depth_checked_by_the_producer_is_not_scanned_again():
    # A producer that checked the depth (the node's decoder) says so; the map is the same.
    # A depth that is not 2-D float32 is checked whatever the frame says.
    checked, plain = (MappingPipeline(PipelineConfig(source="labels")) for _ in range(2))
    for f in WALK[:40]:
        plain.process(deferred(f, []))
        checked.process(DeferredFrame(None, f.depth_m.astype(np.float32), f.K, f.T_map_cam,
                                      f.stamp_s, decode=lambda f=f: f, depth_checked=True))
    assert state(checked)[:5] == state(plain)[:5] and plain.keyframe_count > 1
    assert state(checked)[6] == state(plain)[6]
    bad = DeferredFrame(None, np.full(WALK[0].depth_m.shape, np.nan), K, WALK[41].T_map_cam,
                        WALK[41].stamp_s, decode=lambda: WALK[41], depth_checked=True)
    with pytest.raises(ValueError):
        checked.process(bad)
