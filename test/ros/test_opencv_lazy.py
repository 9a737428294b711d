"""OpenCV is loaded only where it is used (issue 18: about 16 MiB of a node's RSS).

A node that imports its code does not load ``cv2`` (nor the box clustering and its SciPy
graph code); the parts that need OpenCV say so, naming the package, when it cannot be
imported; and a node whose parameters need it imports it at configure, so the first
compressed frame or box keyframe neither waits for the import nor fails on it."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")

from sensor_msgs.msg import CompressedImage  # noqa: E402

from ssr_ros.perception.opencv import OpenCvUnavailable, cv2_module  # noqa: E402
from ssr_ros.perception.proposals import BoxesSource, LabelImageSource  # noqa: E402
from ssr_ros.ros.conversions import array_to_image, compressed_to_rgb  # noqa: E402
from ssr_ros.ros.params import PARAMETERS, NodeConfig, read_config  # noqa: E402
from ssr_ros.ros.pipeline_factory import require_opencv  # noqa: E402
from ssr_ros.runtime.errors import ConfigError  # noqa: E402


def _config(**overrides) -> NodeConfig:
    """The node's config at its defaults but for ``overrides``."""
    class Values:
        def get_parameter(self, name):
            return SimpleNamespace(value=overrides.get(name, PARAMETERS[name].default))

    return read_config(Values())


def _fresh_modules(code: str) -> set[str]:
    """The module names a fresh interpreter holds after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


@pytest.fixture
def without_cv2(monkeypatch):
    """``import cv2`` fails for the test's duration, as on a machine without OpenCV."""
    monkeypatch.setitem(sys.modules, "cv2", None)


def test_the_node_module_does_not_load_opencv() -> None:
    modules = _fresh_modules("import ssr_ros.ros.node")
    assert "ssr_ros.ros.node" in modules
    assert "cv2" not in modules
    assert "ssr_ros.perception.box_clusters" not in modules
    assert "scipy.sparse.csgraph" not in modules


def test_configure_imports_opencv_when_the_parameters_need_it() -> None:
    def modules_after_configure(**overrides) -> set[str]:
        return _fresh_modules(
            "from types import SimpleNamespace\n"
            "from ssr_ros.ros.params import PARAMETERS, read_config\n"
            "from ssr_ros.ros.pipeline_factory import require_opencv\n"
            "values = {name: spec.default for name, spec in PARAMETERS.items()}\n"
            f"values.update({overrides!r})\n"
            "require_opencv(read_config(SimpleNamespace(\n"
            "    get_parameter=lambda name: SimpleNamespace(value=values[name]))))")

    assert "cv2" not in modules_after_configure()
    assert "cv2" in modules_after_configure(use_compressed=True)
    assert "cv2" in modules_after_configure(proposal_source="boxes")


def test_compressed_image_without_opencv_names_the_package(without_cv2) -> None:
    msg = CompressedImage(format="png", data=b"\x89PNG....")
    with pytest.raises(OpenCvUnavailable, match="opencv-python-headless") as info:
        compressed_to_rgb(msg)
    assert "compressed colour image" in str(info.value)
    assert isinstance(info.value, ImportError)


def test_configure_refuses_parameters_that_need_missing_opencv(without_cv2) -> None:
    with pytest.raises(ConfigError, match="use_compressed.*opencv-python-headless"):
        require_opencv(_config(use_compressed=True))
    with pytest.raises(ConfigError, match="proposal_source detections"):
        require_opencv(_config(proposal_source="detections"))
    require_opencv(_config())  # raw images and label images need no OpenCV


def test_box_source_without_opencv_fails_when_built(without_cv2) -> None:
    with pytest.raises(OpenCvUnavailable, match="box proposals"):
        BoxesSource()


def test_raw_images_and_label_proposals_work_without_opencv(without_cv2) -> None:
    from ssr_ros.core.keyframes import Keyframe
    from ssr_ros.ros.frames import decode_frame
    from ssr_ros.ros.conversions import intrinsics_to_camera_info

    rgb = np.zeros((4, 6, 3), np.uint8)
    depth_mm = np.full((4, 6), 1500, np.uint16)
    labels = np.zeros((4, 6), np.uint16)
    labels[1:3, 2:5] = 7
    K = np.array([[5.0, 0.0, 3.0], [0.0, 5.0, 2.0], [0.0, 0.0, 1.0]])
    frame = decode_frame(array_to_image(rgb, "rgb8", frame_id="cam"),
                         array_to_image(depth_mm, "16UC1", frame_id="cam"),
                         intrinsics_to_camera_info(K, 6, 4, frame_id="cam"),
                         array_to_image(labels, "16UC1", frame_id="cam"))
    assert frame.depth_m[0, 0] == pytest.approx(1.5)
    keyframe = Keyframe(frame.rgb, frame.depth_m, K, np.eye(4), 0.0, labels=frame.labels,
                        index=0)
    proposals = LabelImageSource({7: "chair"}, stride=1, min_pixels=1).propose(keyframe)
    assert [p.label for p in proposals] == ["chair"] and proposals[0].rows.size == 6


def test_cv2_module_is_cv2_when_installed() -> None:
    cv2 = pytest.importorskip("cv2")
    assert cv2_module("a test") is cv2
