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


def _load_launch_module():
    spec = importlib.util.spec_from_file_location("ssr_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_arguments_are_declared_with_descriptions() -> None:
    from launch.actions import DeclareLaunchArgument

    module = _load_launch_module()
    try:
        description = module.generate_launch_description()
    except LookupError as exc:  # ament index: the package is not installed in this prefix
        pytest.skip(reason=f"ssr_ros share directory not installed: {exc}")
    args = {a.name: a for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    for name in ("namespace", "params_file", "use_sim_time", "autostart", "rviz",
                 "color_topic", "depth_topic", "camera_info_topic"):
        assert name in args and args[name].description


@pytest.mark.parametrize("start_state, activates", [
    ("configuring", True),      # configure succeeded: autostart activates
    ("deactivating", False),    # a manual deactivate must stay inactive
    ("active", False),
])
def test_autostart_activates_only_after_configure(start_state, activates) -> None:
    from launch_ros.actions import LifecycleNode
    from launch_ros.events.lifecycle import StateTransition
    from lifecycle_msgs.msg import State, TransitionEvent

    module = _load_launch_module()
    node = LifecycleNode(package="ssr_ros", executable="ssr_node", name="ssr_node",
                         namespace="")
    handler = module.activate_after_configure(node).event_handler
    event = StateTransition(action=node, msg=TransitionEvent(
        start_state=State(label=start_state), goal_state=State(label="inactive")))
    assert bool(handler.matches(event)) == activates
