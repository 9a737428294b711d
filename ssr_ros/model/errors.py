"""Typed failures of the model path.

The ROS boundary turns these into error codes and throttled logs; library code raises
them with the numbers that explain what went wrong.
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of every failure raised by :mod:`ssr_ros.model`."""


class ModelConfigError(ModelError, ValueError):
    """A :class:`~ssr_ros.model.config.ModelConfig` field is out of range or malformed."""


class ModelLoadError(ModelError):
    """The backbone could not be loaded; ``reason`` is a short machine-friendly tag."""

    reason = "load_failed"


class ModelPathError(ModelLoadError):
    """``model.path`` does not exist or is not a Hugging Face model directory."""

    reason = "missing_path"


class ModelArchitectureError(ModelLoadError):
    """The checkpoint is not a Qwen2.5-VL model (or one this runner cannot drive)."""

    reason = "wrong_architecture"


class ModelOutOfMemory(ModelLoadError):
    """The device ran out of memory while the backbone was loaded."""

    reason = "out_of_memory"


class AdapterError(ModelLoadError):
    """The spatial adapter file is missing, malformed or made for another backbone width."""

    reason = "bad_adapter"


class SpatialInputError(ModelError, ValueError):
    """A keyframe's image, depth, point map, intrinsics or pose is malformed."""


class InterleaveError(ModelError, ValueError):
    """Token counts or grids of the interleaved sequence disagree (the message has numbers)."""


class BadRequest(ModelError, ValueError):
    """A question or keyframe request is malformed (empty question, bad stamp, ...)."""


class ModelUnavailable(ModelError):
    """The runner is not started, is closed, or holds no model."""


class ModelTimeout(ModelError, TimeoutError):
    """No answer within the caller's time limit; the request was cancelled."""


class ModelFailed(ModelError):
    """A request failed while running on the device; ``reason`` is a short tag
    (``out_of_memory``, ``capacity``, ``prompt_too_long``, ``runtime``)."""

    def __init__(self, message: str, reason: str = "runtime") -> None:
        super().__init__(message)
        self.reason = reason
