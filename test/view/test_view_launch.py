"""launch/ssr.launch.py starts ssr_view only with web:=true, on 127.0.0.1 by default
(needs ROS 2 `launch` and `launch_ros`, which a ROS install has and the PyPI wheels do
not; skipped here with that reason)."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

# launch_ros first: without ROS 2 `launch`, the repository's own launch/ folder would pass
# for a `launch` namespace package when the repository root is on the path.
pytest.importorskip("launch_ros", reason="ROS 2 `launch_ros` is not installed (not on PyPI)")
pytest.importorskip("launch.actions", reason="ROS 2 `launch` is not installed (not on PyPI)")

LAUNCH = pathlib.Path(__file__).resolve().parents[2] / "launch" / "ssr.launch.py"


def _description():
    spec = importlib.util.spec_from_file_location("ssr_launch_web", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.generate_launch_description()
    except LookupError as exc:  # ament index: the package is not installed in this prefix
        pytest.skip(reason=f"ssr_ros share directory not installed: {exc}")


def _text(value) -> str:
    """A plain string, or a list of text substitutions (newer launch_ros), as text."""
    if isinstance(value, str):
        return value
    return "".join(getattr(part, "text", "") for part in value)


def test_web_arguments_default_to_off_and_loopback() -> None:
    from launch.actions import DeclareLaunchArgument

    args = {a.name: a for a in _description().entities
            if isinstance(a, DeclareLaunchArgument)}
    assert args["web"].default_value[0].text == "false"
    assert args["web_host"].default_value[0].text == "127.0.0.1"
    assert all(args[n].description for n in ("web", "web_host", "web_port"))


@pytest.mark.parametrize("web, started", [("false", False), ("true", True)])
def test_ssr_view_runs_only_with_web_true(web, started) -> None:
    from launch import LaunchContext
    from launch.actions import GroupAction
    from launch_ros.actions import Node

    context = LaunchContext()
    context.launch_configurations.update({"web": web, "rviz": "false"})
    group = next(e for e in _description().entities if isinstance(e, GroupAction))
    views = [a for a in group.get_sub_entities()
             if isinstance(a, Node) and _text(a.node_executable) == "ssr_view"]
    assert len(views) == 1
    assert views[0].condition.evaluate(context) is started
