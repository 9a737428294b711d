"""A short run of the soak harness (``benchmarks/soak.py``): ssr_node under a looped
640x480 30 Hz sim room with two query clients, as separate processes. The node must not
crash, must answer every query (with any error code, never ERROR_INTERNAL) and the last
one after the clients stop, keep its queue gauges bounded, and its memory must not run
away (a loose bound: the ten-minute soak holds the 50 MB goal)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
pytest.importorskip("numba", reason="the sim renderer rasterises with numba (sim group)")

SOAK = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"
LOOSE_RSS_GROWTH_MB = 200.0


def test_short_soak_answers_everything_and_stays_bounded(tmp_path) -> None:
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(SOAK), "--minutes", "0.2", "--loop", "10", "--sample-s", "2",
         "--max-rss-growth-mb", str(LOOSE_RSS_GROWTH_MB), "--workdir", str(tmp_path / "w"),
         "--json", str(out)],
        capture_output=True, text=True, timeout=240)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["failures"] == [] and run.returncode == 0, figures["failures"]
    assert all(code == 0 for code in figures["exit_codes"].values()), figures["exit_codes"]
    for name, client in figures["clients"].items():
        assert client["sent"] > 0 and client["answered"] == client["sent"], (name, client)
        assert client["internal"] == 0, (name, client)
        # the mix reaches the geometry: some answers succeed, the unknown name is refused
        assert client["codes"].get("0", 0) > 0 and client["codes"].get("2", 0) > 0, client
    diag = figures["diagnostics"]
    assert diag["frames.processed"]["end"] > diag["frames.processed"]["start"]
    assert diag["queue.waiting"]["end"] <= 1
    assert figures["final_query"].startswith("error_code 0"), figures["final_query"]
    assert figures["rss_mb"]["growth"] <= LOOSE_RSS_GROWTH_MB
