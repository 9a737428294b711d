"""The node's map file and the object cap's keep radius (issue 18, node side): the
default ``map_path`` is a binary ``.ssrmap`` file, which save_map writes in the binary
encoding and a restarted node loads; a ``.json`` map_path still writes and loads JSON; a
``.json`` map an earlier version saved beside a not yet existing ``.ssrmap`` is loaded;
``eviction_keep_radius_m`` reaches the object map. Driven in this process."""

from __future__ import annotations

import json
import pathlib
from types import SimpleNamespace

import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")

from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosutil import NAMESPACE  # noqa: E402
from sofa_scene import map_sofa_frames  # noqa: E402

from ssr_ros.core import store  # noqa: E402
from ssr_ros.ros.node import SsrNode  # noqa: E402
from ssr_ros.ros.params import PARAMETERS, descriptor, read_config  # noqa: E402
from ssr_ros.ros.pipeline_factory import pipeline_config  # noqa: E402
from ssr_ros.ros.services import earlier_json_map  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS
NS = NAMESPACE + "_map_file"


class _Params:
    """Answers get_parameter with the declared defaults plus ``values``."""

    def __init__(self, values: dict) -> None:
        self.values = {name: spec.default for name, spec in PARAMETERS.items()} | values

    def get_parameter(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(value=self.values[name])


def _node(context, map_path: pathlib.Path) -> SsrNode:
    params = {"pose_source": "camera_pose", "map_path": str(map_path),
              "pose_timeout_s": 0.0, "keyframe_max_interval_s": 0.05,
              "label_names": ["1:sofa"], "autosave_period_s": 0.0}
    node = SsrNode(context=context, namespace=NS,
                   parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    assert node.trigger_configure() == SUCCESS, node.last_failure
    assert node.trigger_activate() == SUCCESS
    return node


def _close(node: SsrNode) -> None:
    """Deactivate and clean up (which saves a changed map), then destroy."""
    assert node.trigger_deactivate() == SUCCESS
    assert node.trigger_cleanup() == SUCCESS
    node.destroy_node()


def _objects(node: SsrNode) -> list[str]:
    return [o.label for o in node.parts.keeper.snapshot.objects]


def _mapped_node(context, map_path: pathlib.Path) -> SsrNode:
    node = _node(context, map_path)
    map_sofa_frames(node, 3, labels=True)
    assert _objects(node) == ["sofa"]
    return node


def test_the_default_map_path_is_a_binary_map() -> None:
    config = read_config(_Params({}))
    assert config.map_path.endswith(".ssrmap")


def test_a_ssrmap_path_saves_binary_and_a_restarted_node_loads_it(context, tmp_path) -> None:
    path = tmp_path / "floor" / "map.ssrmap"
    node = _mapped_node(context, path)
    ok, message = node.save_map_now("test")
    assert ok, message
    assert path.read_bytes()[:len(store.BINARY_MAGIC)] == store.BINARY_MAGIC
    _close(node)
    restarted = _node(context, path)
    try:
        assert _objects(restarted) == ["sofa"]
    finally:
        _close(restarted)


def test_a_json_map_path_still_saves_and_loads_json(context, tmp_path) -> None:
    path = tmp_path / "map.json"
    node = _mapped_node(context, path)
    assert node.save_map_now("test")[0]
    assert json.loads(path.read_text())["format"] == "ssr_ros.map"
    _close(node)
    restarted = _node(context, path)
    try:
        assert _objects(restarted) == ["sofa"]
    finally:
        _close(restarted)


def test_an_earlier_versions_json_map_loads_until_the_binary_one_exists(context,
                                                                        tmp_path) -> None:
    legacy = tmp_path / "map.json"
    node = _mapped_node(context, legacy)
    assert node.save_map_now("test")[0]
    _close(node)
    binary = tmp_path / "map.ssrmap"
    assert earlier_json_map(str(binary)) == str(legacy)
    upgraded = _node(context, binary)
    try:
        assert _objects(upgraded) == ["sofa"]
        assert not binary.exists()
        upgraded.parts.keeper.clear()  # a change: the next save writes the binary file
        assert upgraded.save_map_now("test")[0]
        assert binary.read_bytes()[:len(store.BINARY_MAGIC)] == store.BINARY_MAGIC
        assert legacy.exists()  # left as it was
    finally:
        _close(upgraded)
    assert earlier_json_map(str(tmp_path / "other.ssrmap")) is None
    assert earlier_json_map(str(tmp_path / "map.bin")) is None


def test_eviction_keep_radius_reaches_the_object_map() -> None:
    config = read_config(_Params({"eviction_keep_radius_m": 12.5}))
    assert pipeline_config(config).object_map.eviction_keep_radius_m == 12.5
    default = pipeline_config(read_config(_Params({})))
    assert default.object_map.eviction_keep_radius_m == 5.0
    desc = descriptor("eviction_keep_radius_m", PARAMETERS["eviction_keep_radius_m"])
    assert desc.read_only and desc.floating_point_range[0].to_value == 100.0


def test_eviction_keep_radius_out_of_range_is_refused(context) -> None:
    import rclpy
    from rclpy.exceptions import InvalidParameterValueException

    from ssr_ros.ros.params import declare_parameters

    node = rclpy.create_node("keep_radius_param", namespace=NS, context=context,
                             parameter_overrides=[Parameter("eviction_keep_radius_m",
                                                            value=-1.0)])
    try:
        with pytest.raises(InvalidParameterValueException):
            declare_parameters(node)
    finally:
        node.destroy_node()
