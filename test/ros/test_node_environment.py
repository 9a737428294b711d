"""The environment the launch file gives ssr_node is the one ``ssr_node --help`` tells a
user who starts the node by hand (issue 18: one BLAS thread)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="ROS 2 Python packages are not installed")

from ssr_ros.ros.node_cli import LAUNCH_ENV, usage  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "ssr.launch.py"


def _launch_additional_env() -> dict[str, str]:
    """The ``additional_env={...}`` literal of the launch file's ssr_node."""
    for node in ast.walk(ast.parse(LAUNCH_FILE.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "additional_env":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{LAUNCH_FILE} gives ssr_node no additional_env")


def test_help_lists_the_launch_files_environment() -> None:
    launch_env = _launch_additional_env()
    assert launch_env == LAUNCH_ENV
    text = usage()
    for name, value in launch_env.items():
        assert f"  {name}={value}\n" in text
    hand_started = " ".join(f"{k}={v}" for k, v in launch_env.items()) + " ssr_node"
    assert hand_started in text
