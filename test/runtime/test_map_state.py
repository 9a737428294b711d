"""The node's map keeper without ROS: snapshots, persistence (round trip, refused files),
clear, and a query layer that never raises (fuzzed requests)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")
srv = pytest.importorskip("ssr_ros.srv", reason="ssr_ros interfaces are not built")

from ssr_ros.core import store  # noqa: E402
from ssr_ros.core.query_types import ErrorCode, QueryKind, QueryRequest  # noqa: E402
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig  # noqa: E402
from ssr_ros.runtime.errors import InvalidMessage  # noqa: E402
from ssr_ros.runtime.map_state import MapKeeper  # noqa: E402
from ssr_ros.ros.messages import request_fields  # noqa: E402
from ssr_ros.ros.pipeline_factory import query_request  # noqa: E402
from ssr_ros.sim import make_scene, render_sequence  # noqa: E402


def _keeper() -> MapKeeper:
    return MapKeeper(lambda: MappingPipeline(PipelineConfig()))


@pytest.fixture(scope="module")
def mapped() -> MapKeeper:
    scene = make_scene(1)
    seq = render_sequence(scene, n_frames=16, width=160, height=120, rate_hz=4.0, seed=1)
    keeper = _keeper()
    for f in seq:
        keeper.process(f)
    assert keeper.snapshot.objects, "the sim frames should map some objects"
    return keeper


QUESTIONS = [QueryRequest(kind=QueryKind.COUNT, target="chair"),
             QueryRequest(kind=QueryKind.ROOM_SIZE),
             QueryRequest(question="How many cup(s) are in this room?")]


def _answers(keeper: MapKeeper, labels: list[str]) -> list[tuple]:
    requests = QUESTIONS + [QueryRequest(kind=QueryKind.LOCATE, target=labels[0]),
                            QueryRequest(kind=QueryKind.DISTANCE, target=labels[0],
                                         reference=labels[-1])]
    out = []
    for request in requests:
        a = keeper.answer(request)
        out.append((a.success, int(a.error_code), a.message, a.choice, list(a.object_ids),
                    None if np.isnan(a.value) else round(float(a.value), 9)))
    return out


def test_snapshot_revision_and_consistency(mapped) -> None:
    snap = mapped.snapshot
    assert snap.revision >= 1
    assert [t.target for t in snap.triplets] and len(snap.triplets) == len(snap.objects)
    assert set(snap.objects_by_id) == {o.id for o in snap.objects}
    assert snap.path_m.shape[1] == 3 and len(snap.path_m) >= 1


def test_save_and_load_answer_identically(mapped, tmp_path) -> None:
    path = tmp_path / "maps" / "map.json"
    revision = mapped.save(str(path))
    assert revision == mapped.snapshot.revision and not mapped.dirty
    labels = sorted({o.label for o in mapped.snapshot.objects})
    restored = _keeper()
    assert restored.load(str(path)) == len(mapped.snapshot.objects)
    assert [o.id for o in restored.snapshot.objects] == [o.id for o in mapped.snapshot.objects]
    assert _answers(restored, labels) == _answers(mapped, labels)
    assert not restored.dirty


@pytest.mark.parametrize("name, layout", [("map.ssrmap", "columns"), ("map.json", None)])
def test_binary_files_hold_columns_json_files_records_and_both_load_alike(
        mapped, tmp_path, name, layout) -> None:
    path = tmp_path / name
    mapped.save(str(path))
    payload = store.load_map(path)
    assert payload["object_map"].get("layout") == layout
    assert payload["cogmap"].get("layout") == layout
    restored = _keeper()
    assert restored.load(str(path)) == len(mapped.snapshot.objects)
    assert restored.snapshot.cogmap.to_dict() == mapped.snapshot.cogmap.to_dict()
    labels = sorted({o.label for o in mapped.snapshot.objects})
    assert _answers(restored, labels) == _answers(mapped, labels)
    # and the restored map saves to the other format and back unchanged
    other = tmp_path / ("again.json" if layout else "again.ssrmap")
    restored.save(str(other))
    again = _keeper()
    again.load(str(other))
    assert again.snapshot.cogmap.to_dict() == mapped.snapshot.cogmap.to_dict()
    assert _answers(again, labels) == _answers(mapped, labels)


def _frames(seed: int = 2, n: int = 24):
    scene = make_scene(seed)
    return render_sequence(scene, n_frames=n, width=160, height=120, rate_hz=4.0, seed=seed)


def test_snapshots_stay_as_taken_while_mapping_goes_on() -> None:
    keeper = _keeper()
    taken = []
    for frame in _frames():
        if keeper.process(frame) is not None:
            snap = keeper.snapshot
            taken.append((snap, snap.cogmap.to_dict(), [o.id for o in snap.objects]))
    assert len({s.revision for s, _, _ in taken}) >= 3, "the chain should change"
    for (snap, chain, ids), (later, _, _) in zip(taken, taken[1:] + [taken[-1]]):
        # each snapshot still shows the chain and objects it was published with
        assert snap.cogmap.to_dict() == chain and snap.cogmap.check() == []
        assert [o.id for o in snap.objects] == ids
        assert [t.target for t in snap.triplets] == snap.cogmap.ids()


def test_readers_see_whole_snapshots_while_frames_are_mapped() -> None:
    keeper = _keeper()
    frames = _frames(seed=3)
    done = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        while not done.is_set():
            snap = keeper.snapshot
            ids = {o.id for o in snap.objects}
            if set(snap.cogmap.ids()) != ids or snap.cogmap.check():
                problems.append(f"revision {snap.revision}: chain and objects differ")
            answer = keeper.answer(QueryRequest(kind=QueryKind.COUNT, target="chair"))
            if answer.error_code == ErrorCode.INTERNAL:
                problems.append(answer.message)
            reads[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for frame in frames:
            keeper.process(frame)
    finally:
        done.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and reads[0] > 0
    assert problems == []
    assert keeper.snapshot.objects


@pytest.mark.parametrize("content, error", [
    ("{ not json", store.MapFileCorruptError),
    (json.dumps({"format": "ssr_ros.map", "schema_version": 99, "payload": {}}),
     store.MapFileVersionError),
    (json.dumps({"format": "ssr_ros.map", "schema_version": 1,
                 "payload": {"kind": "something else"}}), store.MapFileForeignError),
    (json.dumps({"format": "ssr_ros.map", "schema_version": 1,
                 "payload": {"kind": "ssr_ros.map", "object_map": {}}}),
     store.MapFileCorruptError),
])
def test_refused_files_leave_the_map_unchanged(mapped, tmp_path, content, error) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    before = mapped.snapshot
    with pytest.raises(error):
        mapped.load(str(path))
    assert mapped.snapshot is before
    with pytest.raises(store.MapFileMissingError):
        mapped.load(str(tmp_path / "missing.json"))


def test_a_change_makes_the_map_dirty_until_saved(tmp_path) -> None:
    keeper = _keeper()
    assert not keeper.dirty
    keeper.clear()
    assert keeper.dirty
    keeper.save(str(tmp_path / "map.json"))
    assert not keeper.dirty
    keeper.clear()
    assert keeper.dirty


def test_clear_empties_the_map_and_bumps_the_revision(tmp_path) -> None:
    keeper = _keeper()
    keeper.clear()
    assert keeper.snapshot.objects == () and keeper.snapshot.revision == 1
    answer = keeper.answer(QueryRequest(kind=QueryKind.LOCATE, target="sofa"))
    assert answer.error_code == ErrorCode.EMPTY_MAP


def test_clear_and_load_stamp_the_snapshot_with_the_given_clock(mapped, tmp_path) -> None:
    # Under use_sim_time the node passes its ROS clock: a sim clock at 42 s must not turn
    # into a wall-clock stamp (~1.7e9 s) on the scene graph published after a clear/load.
    sim_now_s = [42.0]
    keeper = MapKeeper(lambda: MappingPipeline(PipelineConfig()), clock_s=lambda: sim_now_s[0])
    keeper.clear()
    assert keeper.snapshot.stamp_s == 42.0
    path = tmp_path / "map.json"
    mapped.save(str(path))
    sim_now_s[0] = 43.5
    keeper.load(str(path))
    assert keeper.snapshot.stamp_s == 43.5


names = st.text(max_size=140)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.integers(0, 255), target=names, reference=names, facing=names,
       candidates=st.lists(st.text(max_size=20), max_size=20),
       question=st.text(max_size=1100), use_centers=st.booleans())
def test_fuzzed_requests_get_an_answer_or_a_named_rejection(
        mapped, kind, target, reference, facing, candidates, question, use_centers) -> None:
    request = srv.SpatialQuery.Request(kind=kind, target=target, reference=reference,
                                       facing=facing, candidates=candidates,
                                       question=question, use_centers=use_centers)
    try:
        core = query_request(request_fields(request))
    except InvalidMessage as exc:
        assert exc.reason in ("request_too_long", "unknown_kind")
        return
    answer = mapped.answer(core)
    assert answer.success or answer.error_code != ErrorCode.NONE
    assert answer.error_code != ErrorCode.INTERNAL, answer.message
