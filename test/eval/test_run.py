"""``ssr-eval`` command line: invalid arguments end with exit status 2 and one line."""

import pytest

from ssr_ros.eval.run import main


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
