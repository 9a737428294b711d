"""The question box without ROS: typed text -> request fields, response -> page text and
scene highlight; the panel's status and diagnostics text."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssr_ros.view.answer import QuestionError, answer_view, parse_question
from ssr_ros.view.panel import diagnostics_markdown, status_markdown
from ssr_ros.view.state import CameraPose, Snapshot, ViewObject


def _response(**fields):
    base = {"success": True, "error_code": 0, "message": "ok", "value": None, "unit": "",
            "choice": "", "answered_by": "geometry", "objects": []}
    base.update(fields)
    return base


def _object(i, label, position, size=(1.0, 1.0, 1.0), yaw=0.0):
    return {"id": i, "label": label, "position": list(position), "size": list(size),
            "yaw": yaw}


def test_plain_question_is_sent_as_auto_with_spaces_collapsed() -> None:
    fields = parse_question("  where is\n the   sofa? ")
    assert fields == {"kind": 0, "question": "where is the sofa?", "candidates": []}


def test_options_after_a_colon_become_candidates() -> None:
    fields = parse_question("which is nearest to the bed: lamp, plant or tv?")
    assert fields["candidates"] == ["lamp", "plant", "tv"]
    # a colon without a list of options is just text
    assert parse_question("distance: sofa to tv")["candidates"] == []


@pytest.mark.parametrize("text, says", [
    ("", "Type a question first"),
    (" \n\t ", "Type a question first"),
    ("x" * 1025, "at most 1024"),
    ("where is \x00 the bed", "control characters"),
    ("pick one: " + ", ".join(f"o{i}" for i in range(17)), "at most 16"),
    (12, "must be text"),
])
def test_malformed_questions_are_refused_with_a_sentence(text, says) -> None:
    with pytest.raises(QuestionError, match=says):
        parse_question(text)


def test_an_error_answer_is_named_and_escaped() -> None:
    view = answer_view(_response(success=False, error_code=2,
                                 message="no *unicorn* in [the] map"), Snapshot(),
                       {2: "UNKNOWN_OBJECT"})
    assert not view.ok and not view.boxes
    assert "UNKNOWN\\_OBJECT" in view.markdown
    assert "\\*unicorn\\*" in view.markdown and "\\[the\\]" in view.markdown


def test_a_distance_answer_draws_the_closest_points_line() -> None:
    a = _object(1, "sofa", (0, 0, 0.5))
    b = _object(2, "tv", (3, 0, 0.5))
    view = answer_view(_response(message="2.00 m apart", value=2.0, unit="m",
                                 objects=[a, b]), Snapshot())
    assert [box.object_id for box in view.boxes] == [1, 2]
    assert view.segment is not None and view.segment_label == "2.00 m"
    assert math.isclose(float(np.linalg.norm(view.segment[1] - view.segment[0])), 2.0)
    assert view.arrow is None
    assert np.allclose(view.segment, [[0.5, 0.0, 0.5], [2.5, 0.0, 0.5]])  # mid-face
    assert "value: 2.00 m" in view.markdown and "\\[1\\] sofa" in view.markdown


def test_a_turn_answer_draws_an_arrow_from_the_camera() -> None:
    snap = Snapshot(camera=CameraPose((1.0, 1.0, 1.2), None))
    target = _object(4, "lamp", (4, 5, 0.8))
    view = answer_view(_response(message="turn left 40 deg", value=40.0, unit="deg",
                                 choice="left", objects=[target]), snap)
    assert np.allclose(view.arrow, [[1.0, 1.0, 1.2], [4, 5, 0.8]])
    without_camera = answer_view(_response(value=40.0, unit="deg", objects=[target]),
                                 Snapshot())
    assert without_camera.arrow is None and without_camera.notes


def test_status_says_whether_the_node_is_reachable() -> None:
    empty = Snapshot()
    assert "not reachable yet" in status_markdown(empty, False, 0.0)
    snap = Snapshot(graph_wall_s=1.0, revision=3,
                    objects=(ViewObject(1, "bed", (0, 0, 0), (1, 1, 1), 0, 1, 1),))
    assert "connected" in status_markdown(snap, True, 2.0)
    down = status_markdown(snap, False, 2.0)
    assert "not reachable" in down and "keeps the last map" in down
    assert "1 objects" in down


def test_diagnostics_table_puts_the_summary_first_and_flags_staleness() -> None:
    snap = Snapshot(diagnostics={"zeta": "1", "map.objects": "5", "state": "active"},
                    diagnostics_level=0, diagnostics_message="running",
                    diagnostics_wall_s=100.0)
    text = diagnostics_markdown(snap, 101.0)
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| lifecycle state |") and rows[1].startswith("| objects |")
    assert rows[-1].startswith("| zeta |") and "stale" not in text
    assert "stale" in diagnostics_markdown(snap, 110.0)
    assert "no diagnostics" in diagnostics_markdown(Snapshot(), 0.0)
