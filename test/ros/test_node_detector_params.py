"""ssr_node's detector and lifting parameters, driven in this process: an ONNX model built
here (test/onnx_graphs.py) and named by the parameters is the one that maps the scene,
with the class names given; values that cannot work fail the configure transition naming
the parameter, the node stays unconfigured and configures once the value is fixed; a box
with too little depth is rejected and counted on /diagnostics."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from onnx_graphs import constant_detector_model  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosutil import HEIGHT, NAMESPACE, WIDTH  # noqa: E402
from sofa_scene import map_sofa_frames, sofa_frame  # noqa: E402

from ssr_ros.perception.onnx_detector import file_sha256  # noqa: E402
from ssr_ros.ros.diagnostics import status_values  # noqa: E402
from ssr_ros.ros.node import SsrNode  # noqa: E402

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE
NS = NAMESPACE + "_detector_params"
# A patch of the wall above the sofa where the depth camera reads nothing [rows, cols].
HOLE = (slice(8, 48), slice(120, 200))
CLASS_NAMES = ["sofa", "mug"]


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> str:
    """A YOLOv8-style model for a 320x240 input (no letterbox padding at this image size)
    that finds a sofa at the sofa's box and a mug in the depth hole."""
    _msgs, (x0, y0, x1, y1) = sofa_frame(50.0)
    hole_rows, hole_cols = HOLE
    rows = np.array([
        [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, 0.9, 0.0],
        [(hole_cols.start + hole_cols.stop) / 2, (hole_rows.start + hole_rows.stop) / 2,
         hole_cols.stop - hole_cols.start, hole_rows.stop - hole_rows.start, 0.0, 0.8],
    ], np.float32)
    path = tmp_path_factory.mktemp("onnx") / "sofa_and_mug.onnx"
    return constant_detector_model(path, {"output0": rows.T[None]}, in_hw=(HEIGHT, WIDTH))


def _node(context, overrides: dict) -> SsrNode:
    params = {"pose_source": "camera_pose", "map_path": "", "pose_timeout_s": 0.0,
              "proposal_source": "detector", "keyframe_max_interval_s": 0.05} | overrides
    return SsrNode(context=context, namespace=NS,
                   parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


def _close(node: SsrNode) -> None:
    """Tear the node down as a lifecycle manager would, then destroy it (a bare destroy
    can meet the map publisher's thread in the middle of a publish)."""
    if node.parts is not None and node.parts.publisher.active:
        node.trigger_deactivate()
    if node.parts is not None:
        node.trigger_cleanup()
    node.destroy_node()


def _onnx_params(model: str, **extra) -> dict:
    return {"detector_backend": "onnx", "detector_model_path": model,
            "detector_class_names": CLASS_NAMES, "detector_input_size": [WIDTH, HEIGHT],
            "detector_device": "cpu"} | extra


def _diagnostics(context, node: SsrNode) -> dict[str, str]:
    """The node's next status on /diagnostics, received over DDS by another node."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    listener = rclpy.create_node("diagnostics_listener", namespace=NS, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(listener)
    got: list[dict] = []
    name = node.get_fully_qualified_name()
    listener.create_subscription(DiagnosticArray, "/diagnostics", lambda msg: got.extend(
        status_values(s) for s in msg.status if s.name.startswith(name)), 10)
    try:
        deadline = time.monotonic() + 20.0
        while not got and time.monotonic() < deadline:
            node.parts.diagnostics.publish()
            executor.spin_once(timeout_sec=0.2)
        assert got, "no /diagnostics status of the node arrived"
        return got[-1]
    finally:
        executor.shutdown()
        listener.destroy_node()


def test_an_onnx_model_named_by_the_parameters_maps_the_scene(context, onnx_model) -> None:
    node = _node(context, _onnx_params(onnx_model, detector_sha256=file_sha256(onnx_model)))
    try:
        assert node.trigger_configure() == SUCCESS, node.last_failure
        assert node.trigger_activate() == SUCCESS
        map_sofa_frames(node, 3, HOLE)
        assert node.stats.keyframes == 3
        objects = node.parts.keeper.snapshot.objects
        assert [o.label for o in objects] == ["sofa"], objects
        centre = np.asarray(objects[0].center_m)
        # the visible front and top of the sofa: centred in y and below the camera
        assert abs(centre[1] - 100.0) < 0.1 and 0.2 < centre[2] < 0.7, centre
        assert 99.5 < centre[0] < 100.5, centre
        # the mug's box in the depth hole was proposed and turned down, every keyframe
        values = _diagnostics(context, node)
        assert values["proposals.rejected.too_little_valid_depth"] == "3", values
        assert values["proposals.rejected.too_far"] == "0"
    finally:
        _close(node)


def test_min_valid_depth_fraction_reaches_the_lifting(context, onnx_model) -> None:
    """At 0 nothing is too little: the mug's box is no longer rejected for its depth."""
    node = _node(context, _onnx_params(onnx_model) | {"min_valid_depth_fraction": 0.0})
    try:
        assert node.trigger_configure() == SUCCESS, node.last_failure
        assert node.trigger_activate() == SUCCESS
        map_sofa_frames(node, 1, HOLE)
        assert node.stats.rejected["too little valid depth"] == 0
        assert sum(node.stats.rejected.values()) == 1  # rejected for another reason
    finally:
        _close(node)


@pytest.mark.parametrize("overrides, named", [
    ({"detector_sha256": "0" * 64}, "detector_sha256"),
    ({"detector_class_names": ["sofa", "mug", "lamp"]}, "detector_class_names"),
    ({"detector_model_path": ""}, "detector_model_path"),
    ({"detector_model_path": "/no/such/model.onnx"}, "detector_model_path"),
    ({"detector_providers": ["NoSuchExecutionProvider"]}, "detector_providers"),
    ({"detector_input_size": [320]}, "detector_input_size"),
])
def test_a_bad_value_fails_configure_naming_the_parameter(context, onnx_model, overrides,
                                                          named) -> None:
    node = _node(context, _onnx_params(onnx_model) | overrides)
    try:
        assert node.trigger_configure() == FAILURE
        assert named in node.last_failure, node.last_failure
        assert node.parts is None
        assert node.state_label() == "unconfigured"
        # the node keeps running: fixed while unconfigured, it configures
        good = _fixed_values(overrides, _onnx_params(onnx_model))
        results = node.set_parameters([Parameter(k, value=v) for k, v in good.items()])
        assert all(r.successful for r in results), [r.reason for r in results]
        assert node.trigger_configure() == SUCCESS, node.last_failure
    finally:
        _close(node)


def _fixed_values(overrides: dict, fixed: dict) -> dict:
    """The good value of each overridden parameter (its default when the good parameter
    set does not name it)."""
    from ssr_ros.ros.params import PARAMETERS

    return {k: fixed.get(k, PARAMETERS[k].default) for k in overrides}


@pytest.mark.parametrize("name, value", [
    ("detector_sha256", "not-a-digest"), ("detector_input_size", [640, 480, 3]),
    ("detector_input_size", [8, 8]), ("detector_backend", "tensorrt"),
    ("detector_class_names", ["chair", "chair"]), ("detector_score_threshold", 1.5),
    ("detector_providers", ["CUDA"]), ("min_valid_depth_fraction", -0.1),
])
def test_a_bad_value_is_refused_when_set_naming_the_parameter(context, name, value) -> None:
    node = _node(context, {})
    try:
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful
        assert name in result.reason or "range" in result.reason, result.reason
    finally:
        _close(node)


def _config(**values):
    """The typed config of the declared defaults plus ``values`` (no node)."""
    from types import SimpleNamespace

    from ssr_ros.ros.params import PARAMETERS, read_config

    given = {name: spec.default for name, spec in PARAMETERS.items()} | values
    return read_config(SimpleNamespace(
        get_parameter=lambda name: SimpleNamespace(value=given[name])))


def test_detector_values_matter_only_with_the_detector_source() -> None:
    from ssr_ros.ros.pipeline_factory import pipeline_config
    from ssr_ros.runtime.errors import ConfigError

    labels = pipeline_config(_config(detector_backend="onnx"))  # no model path: unused
    assert labels.source == "labels" and labels.detector.backend == "opencv"
    with pytest.raises(ConfigError, match="detector_model_path"):
        pipeline_config(_config(detector_backend="onnx", proposal_source="detector"))
    opencv = pipeline_config(_config(proposal_source="detector", detector_input_size=[320, 320],
                                      detector_class_names=["", "chair"]))
    assert opencv.detector.input_size == (320, 320)
    assert opencv.detector.labels == ("", "chair")
