"""Exceptions raised at the ROS boundary.

Every rejection carries a short machine-readable ``reason`` (``"encoding"``,
``"data_length"``, ...). The node uses it as the key of an invalid-input counter in
/diagnostics, so a reason must be a stable, low-cardinality identifier, never a free
message.
"""

from __future__ import annotations


class InvalidMessage(ValueError):
    """A message that cannot be used: wrong encoding, inconsistent sizes, bad numbers.

    ``reason`` is a short identifier for counting; ``str(exc)`` explains the case.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class PoseUnavailable(LookupError):
    """No camera pose can be given for a stamp; ``reason`` says why (for counting)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ConfigError(ValueError):
    """A parameter value that the node cannot run with."""
