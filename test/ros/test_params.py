"""Parameters: the shipped YAML files match the declarations, validation rejects bad
values with a reason, and the typed config carries units."""

from __future__ import annotations

import math
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from ssr_ros.runtime.errors import ConfigError
from ssr_ros.ros.params import (PARAMETERS, descriptor, parse_label_names, read_config,
                                validate_parameter)

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "config"


def _flatten(values: dict, prefix: str = "") -> dict:
    """Nested YAML groups -> dotted parameter names, as rcl reads them."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _params(path: pathlib.Path) -> dict:
    return _flatten(yaml.safe_load(path.read_text())["/**"]["ros__parameters"])


def test_ssr_yaml_lists_every_parameter_with_its_default() -> None:
    values = _params(CONFIG / "ssr.yaml")
    assert set(values) == set(PARAMETERS)
    for name, spec in PARAMETERS.items():
        if isinstance(spec.default, float) or (
                isinstance(spec.default, list) and isinstance(spec.default[0], float)):
            assert values[name] == pytest.approx(spec.default, abs=1e-6), name
        else:
            assert values[name] == spec.default, name


def test_demo_yaml_only_sets_declared_valid_parameters() -> None:
    for name, value in _params(CONFIG / "demo.yaml").items():
        assert name in PARAMETERS, name
        assert validate_parameter(name, value) is None, name
        assert type(value) is type(PARAMETERS[name].default), name


@pytest.mark.parametrize("name, value", [
    ("pose_source", "gps"), ("proposal_source", "magic"),
    ("sensor_qos_reliability", "sometimes"), ("base_to_camera", [0.0, 1.0]),
    ("base_to_camera", [0.0, 0.0, 0.0, float("nan"), 0.0, 0.0]),
    ("label_names", ["1:sofa", "two:chair"]), ("label_names", ["0:floor"]),
    ("pose_timeout_s", float("inf")), ("model.device", "tpu"),
    ("model.image_side", 100),
])
def test_bad_values_are_rejected_with_a_reason(name: str, value) -> None:
    assert validate_parameter(name, value)


def test_descriptors_carry_ranges_and_read_only() -> None:
    slop = descriptor("sync_slop_s", PARAMETERS["sync_slop_s"])
    assert slop.read_only and slop.floating_point_range[0].to_value == 1.0
    timeout = descriptor("pose_timeout_s", PARAMETERS["pose_timeout_s"])
    assert not timeout.read_only
    queue = descriptor("sync_queue_size", PARAMETERS["sync_queue_size"])
    assert queue.integer_range[0].from_value == 1
    assert "One of: auto, tf" in descriptor("pose_source", PARAMETERS["pose_source"]).description


class FakeNode:
    def __init__(self, overrides: dict) -> None:
        self.values = {k: s.default for k, s in PARAMETERS.items()} | overrides

    def get_parameter(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(value=self.values[name])


def test_read_config_types_and_units() -> None:
    config = read_config(FakeNode({"label_names": ["3:dining table"], "map_path": "",
                                   "base_to_camera": [0.1, 0.0, 1.0, 0.0, 0.0, 0.0]}))
    assert config.label_names == {3: "dining table"} and config.map_path == ""
    np.testing.assert_allclose(config.T_base_cam[:3, 3], [0.1, 0.0, 1.0])
    assert config.uses_label_image
    assert math.isclose(config.sync_slop_s, 0.02)
    with pytest.raises(ConfigError, match="pose_source"):
        read_config(FakeNode({"pose_source": "gps"}))


def test_label_names_parsing() -> None:
    assert parse_label_names(["", "1: sofa ", "12:tv stand"]) == {1: "sofa", 12: "tv stand"}
    with pytest.raises(ConfigError):
        parse_label_names(["sofa"])


def test_configure_time_parameters_are_writable_only_while_unconfigured() -> None:
    from ssr_ros.ros.params import configure_time_problem

    assert not descriptor("model.path", PARAMETERS["model.path"]).read_only
    assert configure_time_problem("model.path", configured=False) is None
    assert "configure" in configure_time_problem("model.path", configured=True)
    assert configure_time_problem("names.embeddings", configured=True)
    assert configure_time_problem("pose_timeout_s", configured=True) is None
