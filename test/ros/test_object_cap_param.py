"""The object cap is a node parameter: declared with its range, read into the config and
passed to the object map (issue 18)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ssr_ros.ros.params import PARAMETERS, descriptor, read_config
from ssr_ros.ros.pipeline_factory import pipeline_config


class _Node:
    """Answers get_parameter with the declared defaults plus ``values``."""

    def __init__(self, values: dict) -> None:
        self.values = {name: spec.default for name, spec in PARAMETERS.items()} | values

    def get_parameter(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(value=self.values[name])


def test_max_objects_reaches_the_object_map() -> None:
    config = read_config(_Node({"max_objects": 300, "map_path": ""}))
    assert config.max_objects == 300
    assert pipeline_config(config).object_map.max_objects == 300
    default = pipeline_config(read_config(_Node({"map_path": ""})))
    assert default.object_map.max_objects == PARAMETERS["max_objects"].default == 5000


def test_max_objects_descriptor_has_its_range_and_is_read_only() -> None:
    desc = descriptor("max_objects", PARAMETERS["max_objects"])
    assert desc.read_only
    assert (desc.integer_range[0].from_value, desc.integer_range[0].to_value) == (16, 100000)
    assert "evicted" in desc.description


def test_max_objects_out_of_range_is_refused_by_the_node() -> None:
    rclpy = pytest.importorskip("rclpy")
    from rclpy.exceptions import InvalidParameterValueException
    from rclpy.parameter import Parameter

    from ssr_ros.ros.params import declare_parameters

    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("cap_param", context=context,
                                 parameter_overrides=[Parameter("max_objects", value=8)])
        with pytest.raises(InvalidParameterValueException):
            declare_parameters(node)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
