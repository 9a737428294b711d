"""launch/ssr.launch.py: loads and declares its documented arguments (needs the ROS 2
`launch` packages, which a ROS install has and the PyPI wheels do not)."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

# launch_ros first: without ROS 2 `launch`, the repository's own launch/ folder would pass
# for a `launch` namespace package when the repository root is on the path.
pytest.importorskip("launch_ros", reason="ROS 2 `launch_ros` is not installed (not on PyPI)")
pytest.importorskip("launch.actions", reason="ROS 2 `launch` is not installed (not on PyPI)")

LAUNCH = pathlib.Path(__file__).resolve().parents[2] / "launch" / "ssr.launch.py"


def test_launch_arguments_are_declared_with_descriptions() -> None:
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location("ssr_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        description = module.generate_launch_description()
    except LookupError as exc:  # ament index: the package is not installed in this prefix
        pytest.skip(f"ssr_ros share directory not installed: {exc}")
    args = {a.name: a for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    for name in ("namespace", "params_file", "use_sim_time", "autostart", "rviz",
                 "color_topic", "depth_topic", "camera_info_topic"):
        assert name in args and args[name].description
