"""``lap_frames``: the frame count of one full lap of a scene's camera loop."""

import math

import numpy as np
import pytest

from ssr_ros.sim import SequenceError, lap_frames, make_scene, render_sequence

RATE_HZ = 3.0  # a low rate keeps the laps short to render; the path does not depend on it


def _positions_xy(seq):
    return np.array([T[:2, 3] for T in seq.poses])


@pytest.fixture(scope="module")
def scenes():
    return [make_scene(3), make_scene(5)]


def test_a_lap_long_sequence_walks_the_whole_loop_and_sees_most_objects(scenes):
    seen = total = 0
    for scene in scenes:
        n = lap_frames(scene, rate_hz=RATE_HZ)
        seq = render_sequence(scene, n_frames=n, width=128, height=96, rate_hz=RATE_HZ)
        xy = _positions_xy(seq)
        steps = np.linalg.norm(np.diff(xy, axis=0), axis=1)
        closing = float(np.linalg.norm(xy[0] - xy[-1]))
        # The last frame is one ordinary step short of the start: the loop is closed.
        assert closing <= 1.05 * steps.max() + 1e-9
        assert closing < 0.5
        # It went somewhere in between (a loop, not standing still).
        assert np.linalg.norm(xy - xy[0], axis=1).max() > 2.0
        seen += len(seq.first_seen)
        total += len(scene.objects)
    assert seen >= 0.8 * total


def test_fewer_frames_than_a_lap_stop_part_way(scenes):
    scene = scenes[0]
    n = lap_frames(scene, rate_hz=RATE_HZ)
    half = render_sequence(scene, n_frames=n // 2, width=32, height=24, rate_hz=RATE_HZ)
    xy = _positions_xy(half)
    assert np.linalg.norm(xy[-1] - xy[0]) > 1.0
    # The default 300 frames at 15 Hz are not enough for this room's lap.
    assert lap_frames(scene) > 300


def test_frame_count_scales_with_rate_and_follows_the_seed(scenes):
    scene = scenes[0]
    n15 = lap_frames(scene, rate_hz=15.0)
    n30 = lap_frames(scene, rate_hz=30.0)
    assert abs(n30 - 2 * n15) <= 2
    assert lap_frames(scene, rate_hz=15.0, seed=scene.seed) == n15
    assert lap_frames(scene, rate_hz=15.0, trajectory="robot") != n15
    assert isinstance(n15, int) and n15 >= 1


@pytest.mark.parametrize("kwargs", [
    {"rate_hz": 0.0}, {"rate_hz": -1.0}, {"rate_hz": math.nan}, {"rate_hz": "15"},
    {"trajectory": "fly"}, {"seed": -1}, {"seed": 1.5},
])
def test_bad_arguments_raise_sequence_error(scenes, kwargs):
    with pytest.raises(SequenceError):
        lap_frames(scenes[0], **kwargs)
