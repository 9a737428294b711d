"""OpenCV (``cv2``), imported by the code that uses it when it is first needed.

Importing ``cv2`` adds about 16 MiB to a process's resident memory (its shared libraries
and their relocations; docs/node-memory.md), and most of a node's work never calls it: a
node fed raw images with a label-image source maps without OpenCV. Only compressed colour
images (:func:`~ssr_ros.ros.conversions.compressed_to_rgb`), the detector sources
(:mod:`~ssr_ros.perception.proposals`, :mod:`~ssr_ros.perception.onnx_detector`) and the
box-based proposals (:mod:`~ssr_ros.perception.box_clusters`) do. Those call
:func:`cv2_module`; the node asks for it at configure when its parameters need OpenCV, so
a missing install fails the transition with the package to install instead of a frame.
"""

from __future__ import annotations

from types import ModuleType

#: What provides ``cv2``: the pip package (the DNN importer of the bundled TensorFlow
#: COCO detector needs 4.x) and the ROS/Debian one.
OPENCV_PACKAGES = "pip: opencv-python-headless<5; ROS/Debian: python3-opencv"


class OpenCvUnavailable(ImportError):
    """``cv2`` cannot be imported; the message names the packages that provide it and
    what needed it."""


def cv2_module(needed_for: str) -> ModuleType:
    """The ``cv2`` module, imported on the first call (later calls find it loaded).

    Args:
        needed_for: what needs OpenCV, for the error (e.g. "a compressed colour image").

    Raises:
        OpenCvUnavailable: ``cv2`` cannot be imported (not installed, or a shared library
            it needs is missing); the cause is chained.
    """
    try:
        import cv2
    except ImportError as exc:
        raise OpenCvUnavailable(
            f"{needed_for} needs OpenCV's Python module cv2 ({OPENCV_PACKAGES}), which "
            f"cannot be imported: {exc}") from exc
    return cv2
