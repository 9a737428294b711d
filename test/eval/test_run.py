"""``ssr-eval`` command line: invalid arguments end with exit status 2 and one line."""

import json

import pytest

from ssr_ros.eval import run
from ssr_ros.eval.run import MAX_AUTO_FRAMES, build_parser, main, parse_frames
from ssr_ros.sim import lap_frames, make_scene


@pytest.mark.parametrize("argv, words", [
    (["--seeds", "1", "--width", "5", "--frames", "2", "--no-qa"], "width"),
    (["--seeds", "1", "--height", "100000", "--frames", "2", "--no-qa"], "height"),
    (["--seeds=-3", "--frames", "2", "--no-qa"], "--seeds"),
    (["--seeds", "1,-2", "--frames", "2", "--no-qa"], "--seeds"),
    (["--seeds", "1", "--match-distance", "-1", "--frames", "2", "--no-qa"],
     "--match-distance"),
    (["--seeds", "1", "--match-distance", "nan", "--frames", "2", "--no-qa"],
     "--match-distance"),
    (["--seeds", "1", "--match-distance", "0", "--frames", "2", "--no-qa"],
     "--match-distance"),
    (["--seeds", "x"], "--seeds"),
    (["--seeds", "1", "--frames", "0"], "frame"),
])
def test_bad_arguments_exit_2_with_one_line(argv, words, capsys, tmp_path):
    out_json = tmp_path / "result.json"
    assert main(argv + ["--json", str(out_json)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssr-eval: ") and words in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    assert not out_json.exists()


@pytest.mark.parametrize("argv, words", [
    (["--seeds", "1", "--frames", "lots"], "--frames"),
    (["--seeds", "1", "--frames", "-5"], "--frames"),
    (["--seeds", "1", "--frames", "2.5"], "--frames"),
])
def test_bad_frame_counts_exit_2_with_one_line(argv, words, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssr-eval: ") and words in lines[0]


def test_frames_default_to_auto_and_accept_integers():
    assert build_parser().parse_args(["--seeds", "1"]).frames == "auto"
    assert parse_frames("auto") == parse_frames(" AUTO ") == "auto"
    assert parse_frames("120") == 120


def test_auto_frames_render_one_capped_lap(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "MIN_AUTO_FRAMES", 1)
    scene = make_scene(5)
    lap = lap_frames(scene, rate_hz=15.0)
    assert lap <= MAX_AUTO_FRAMES
    out_json = tmp_path / "result.json"
    assert main(["--seeds", "5", "--width", "8", "--height", "8", "--no-qa",
                 "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    assert result["config"]["frames"] == "auto"
    assert result["seeds"]["5"]["frames"] == result["seeds"]["5"]["lap_frames"] == lap


def test_auto_frames_walk_on_a_short_loop(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "MIN_AUTO_FRAMES", 2 * lap_frames(make_scene(5), rate_hz=15.0))
    out_json = tmp_path / "result.json"
    assert main(["--seeds", "5", "--width", "8", "--height", "8", "--no-qa",
                 "--json", str(out_json)]) == 0
    per_seed = json.loads(out_json.read_text())["seeds"]["5"]
    assert per_seed["frames"] == 2 * per_seed["lap_frames"]


def test_auto_frames_stop_at_the_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "MAX_AUTO_FRAMES", 7)
    out_json = tmp_path / "result.json"
    assert main(["--seeds", "5", "--width", "8", "--height", "8", "--no-qa",
                 "--json", str(out_json)]) == 0
    per_seed = json.loads(out_json.read_text())["seeds"]["5"]
    assert per_seed["frames"] == 7 < per_seed["lap_frames"]


def test_integer_frames_are_used_as_given(tmp_path):
    out_json = tmp_path / "result.json"
    assert main(["--seeds", "5", "--frames", "4", "--width", "8", "--height", "8",
                 "--no-qa", "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["seeds"]["5"]["frames"] == 4
