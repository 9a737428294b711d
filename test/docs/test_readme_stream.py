"""The README's simulator quick start, run as written: ssr_node in the background, ssr-play
streaming a sim room to it over DDS, ssr-ask answering from the map, ssr-eval scoring
rooms offline. The block is the one marked ``<!-- readme-test: stream ... -->``; its
commands run one by one from the repository root in this test run's environment (its
own ROS_DOMAIN_ID, DDS on loopback), with ``/tmp/`` replaced by a temporary folder."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_readme import ROOT, _blocks, _commands  # noqa: E402

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")
pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")


def _stream_commands() -> list[str]:
    blocks = [body for mode, _, body in _blocks() if mode == "stream"]
    assert len(blocks) == 1, "README.md should have one block marked readme-test: stream"
    return _commands(blocks[0])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.slow
def test_readme_simulator_quick_start_maps_the_room(tmp_path):
    commands = _stream_commands()
    first = shlex.split(commands[0])
    assert first[0] == "ssr_node" and first[-1] == "&", commands
    background: list[subprocess.Popen] = []
    outputs: dict[str, str] = {}
    try:
        for command in commands:
            words = [w.replace("/tmp/", f"{tmp_path}/") for w in shlex.split(command)]
            if shutil.which(words[0]) is None:
                pytest.fail(f"{words[0]} is not on PATH: run after 'make setup' with "
                            "scripts/env.sh")
            if words[-1] == "&":
                log = open(tmp_path / f"{words[0]}.log", "w")
                background.append(subprocess.Popen(words[:-1], cwd=ROOT, env=_env(),
                                                   stdout=log, stderr=subprocess.STDOUT))
                continue
            out = subprocess.run(words, cwd=ROOT, env=_env(), capture_output=True, text=True,
                                 timeout=600)
            outputs[words[0]] = out.stdout
            assert out.returncode == 0, (f"{command}\n{out.stdout[-3000:]}\n"
                                         f"{out.stderr[-3000:]}")
    finally:
        for proc in background:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    # The room was mapped: the node answers where the sofa is, from its map.
    answer = outputs["ssr-ask"].lower()
    assert "sofa" in answer and "error" not in answer, outputs["ssr-ask"]
    # ssr-eval scored the rooms and drew one picture per seed.
    assert "recall" in outputs["ssr-eval"]
    assert len(list((tmp_path / "bev").glob("*.png"))) == 3
