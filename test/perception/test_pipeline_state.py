"""The mapping pipeline's state round trip: what a restarted node loads is what it saved,
and mapping goes on with the same rules (the merge of touching pieces of one object)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssr_ros.core.objects import ObjectMap, Observation
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig, PipelineStateError

pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")

from ssr_ros.sim import make_scene, render_sequence  # noqa: E402


def _half(x0_m: float, x1_m: float) -> Observation:
    """The points of one half of a 2 m sofa (x0..x1 along map x), as the lifting gives."""
    xs, ys, zs = np.meshgrid(np.arange(x0_m, x1_m + 1e-9, 0.05), np.arange(0.0, 0.9, 0.05),
                             np.arange(0.0, 0.85, 0.05), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel(), zs.ravel()], axis=1)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return Observation("sofa", (lo + hi) / 2, hi - lo, points_m=pts,
                       camera_position_m=np.array([(x0_m + x1_m) / 2, -3.0, 1.2]))


def _restart(pipe: MappingPipeline) -> dict:
    """The pipeline's state as a restarted node reads it back from the JSON map file."""
    return json.loads(json.dumps(pipe.state_dict()))


def _without_evidence(state: dict) -> dict:
    for obj in state["object_map"]["objects"]:
        obj.pop("evidence")
    return state


def _feed(omap: ObjectMap, obs: Observation, first_kf: int) -> None:
    for k in range(2):  # two keyframes confirm an object
        omap.integrate([obs], stamp_s=float(first_kf + k), keyframe_index=first_kf + k)


def test_two_halves_of_one_object_merge_after_a_restart() -> None:
    config = PipelineConfig()
    before = MappingPipeline(config)
    _feed(before.object_map, _half(0.0, 0.95), 0)
    state = _restart(before)
    restored = MappingPipeline(config)
    restored.load_state_dict(state)
    # the map as it was loaded before the fix: no merge rule, so the halves stay apart
    # (this is what makes the test able to fail)
    unruled = ObjectMap.from_dict(state["object_map"], config=config.object_map)
    for omap in (restored.object_map, unruled):
        _feed(omap, _half(1.0, 2.0), 2)
    assert len(unruled.objects()) == 2
    (sofa,) = restored.object_map.objects()
    assert sofa.label == "sofa" and sofa.size_m[0] == pytest.approx(2.0, abs=0.1)


@pytest.fixture(scope="module")
def mapped() -> MappingPipeline:
    scene = make_scene(1)
    seq = render_sequence(scene, n_frames=16, width=160, height=120, rate_hz=4.0, seed=1)
    pipe = MappingPipeline(PipelineConfig())
    for frame in seq:
        pipe.process(frame)
    assert pipe.object_map.objects() and pipe.room_estimate() is not None
    return pipe


def test_state_round_trip_restores_objects_chain_room_and_path(mapped) -> None:
    restored = MappingPipeline(PipelineConfig())
    restored.load_state_dict(_restart(mapped))
    # everything but the voxel evidence, which the file keeps to 0.1 mm, comes back as is
    assert _without_evidence(_restart(restored)) == _without_evidence(_restart(mapped))
    view, again = mapped.view(), restored.view()
    assert [o.id for o in again.objects] == [o.id for o in view.objects]
    assert again.cogmap.to_text() == view.cogmap.to_text()
    assert again.room.floor_area_m2 == pytest.approx(view.room.floor_area_m2, abs=1e-9)
    np.testing.assert_allclose(again.room.polygon_xy, view.room.polygon_xy)
    np.testing.assert_allclose(again.path_m, view.path_m, atol=1e-4)
    assert len(view.path_m) == mapped.keyframe_count
    assert restored.room.floor_z_m == mapped.room.floor_z_m
    assert (restored.keyframe_count, len(restored.trajectory)) == \
        (mapped.keyframe_count, len(mapped.trajectory))
    np.testing.assert_allclose(restored.camera_path(), mapped.camera_path(), atol=1e-4)


@pytest.mark.parametrize("damage", [
    lambda s: s.pop("object_map"),
    lambda s: s["room_evidence"].update(cells=7),
    lambda s: s["room_evidence"]["z_hist"].update(zlib_b64="not base64!"),
    lambda s: s["trajectory"].append([0.0, float("nan"), 0.0, 0.0, 1.0]),
    lambda s: s.update(trajectory="nonsense"),
    lambda s: s["seen_space"].update(cell_m=0.2),
    lambda s: s["seen_space"].update(incomplete="yes"),
])
def test_a_damaged_state_is_refused_and_changes_nothing(mapped, damage) -> None:
    pipe = MappingPipeline(PipelineConfig())
    pipe.load_state_dict(_restart(mapped))
    before = pipe.state_dict()
    state = _restart(mapped)
    damage(state)
    with pytest.raises(ValueError):
        pipe.load_state_dict(state)
    assert pipe.state_dict() == before


def test_state_errors_are_named() -> None:
    with pytest.raises(PipelineStateError, match="malformed mapping state"):
        MappingPipeline().load_state_dict({"cogmap": {}})


def test_trajectory_is_bounded_and_marks_keyframes() -> None:
    from ssr_ros.core.trajectory import CameraTrajectory

    path = CameraTrajectory(capacity=50)
    for i in range(120):
        path.append(float(i), np.array([i, 0.0, 1.0]), keyframe=i % 10 == 0)
    frames = path.frames()
    assert 45 <= len(path) <= 50 and frames[-1, 0] == 119.0
    assert np.all(np.diff(frames[:, 0]) == 1.0)
    np.testing.assert_array_equal(path.keyframe_positions()[:, 0],
                                  [i for i in range(120) if i % 10 == 0 and i >= frames[0, 0]])
    again = CameraTrajectory(capacity=50)
    again.load(path.to_list())
    np.testing.assert_array_equal(again.frames(), frames)
    with pytest.raises(ValueError):
        again.load([[0.0, float("inf"), 0.0, 0.0, 0.0]])


def test_the_columns_layout_restores_what_the_records_layout_does(mapped, tmp_path) -> None:
    from ssr_ros.core import store

    path = tmp_path / "state.ssrmap"
    store.save_map(path, mapped.state_dict(layout="columns"))
    state = store.load_map(path)
    assert state["object_map"]["layout"] == "columns" and state["cogmap"]["layout"] == "columns"
    restored = MappingPipeline(PipelineConfig())
    restored.load_state_dict(state)
    assert _without_evidence(_restart(restored)) == _without_evidence(_restart(mapped))
    assert restored.view().cogmap.to_text() == mapped.view().cogmap.to_text()
    with pytest.raises(ValueError, match="layout"):
        mapped.state_dict(layout="rows")


def test_views_copy_the_chain_only_when_it_changed(mapped) -> None:
    pipe = MappingPipeline(PipelineConfig())
    pipe.load_state_dict(_restart(mapped))
    first = pipe.view()
    assert first.cogmap is not pipe.cogmap and first.cogmap.to_dict() == pipe.cogmap.to_dict()
    assert pipe.view().cogmap is first.cogmap          # nothing changed: the same copy
    chain = first.cogmap.to_dict()
    objects = pipe.object_map.objects()
    pipe.cogmap.sync(objects[:-1])                     # a keyframe's sync drops one
    second = pipe.view()
    assert second.cogmap is not first.cogmap and len(second.cogmap) == len(objects) - 1
    assert first.cogmap.to_dict() == chain and first.cogmap.check() == []
    pipe.cogmap.sync(objects[:-1])                     # a sync that changes nothing visible
    assert pipe.view().cogmap is not second.cogmap     # is a new version all the same
    pipe.load_state_dict(_restart(mapped))             # a new chain object
    assert pipe.view().cogmap.to_dict() == chain


def test_a_map_saved_before_the_seen_space_completes_nothing(mapped) -> None:
    # Its objects' surroundings were never recorded: they would look unobserved, and
    # objects seen in part would grow into them at their next refit.
    state = _restart(mapped)
    del state["seen_space"]
    pipe = MappingPipeline(PipelineConfig())
    pipe.load_state_dict(state)
    assert pipe.seen.observed(np.zeros((1, 3))) is None
    assert _restart(pipe)["seen_space"]["incomplete"] is True
    fresh = MappingPipeline(PipelineConfig())
    fresh.load_state_dict(_restart(mapped))
    assert fresh.seen.observed(np.zeros((1, 3))) is not None
