"""The model's own cogmap checked against the geometric map.

The design lets a loaded model write the scene as LocalCogMap lines from its keyframes;
:class:`CogmapCheck` asks it now and then (the node's timer calls :meth:`CogmapCheck.start`
every ``cogmap_check_period_s``), scores the lines against the metric map's current
snapshot (:func:`ssr_ros.model.bridge.cogmap_agreement`) and keeps the result for
/diagnostics. Generation takes seconds, so it runs on a thread of its own, one check at a
time, and never blocks the caller. No ROS here.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from ssr_ros.model.bridge import ModelBridge
from ssr_ros.runtime.map_state import MapKeeper


class CogmapCheck:
    """Runs ``bridge.compare_cogmap`` on its own thread over ``keeper``'s snapshot."""

    def __init__(self, bridge: ModelBridge, keeper: MapKeeper) -> None:
        self._bridge = bridge
        self._keeper = keeper
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result: dict[str, Any] = {}
        self.checks = 0

    def start(self) -> bool:
        """Start a check unless one is running, no model is ready or the map is empty;
        True when one was started."""
        with self._lock:
            if (self._thread is not None and self._thread.is_alive()) \
                    or not self._bridge.ready or not self._keeper.snapshot.objects:
                return False
            self._thread = threading.Thread(target=self._run, name="ssr-cogmap-check",
                                            daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the running check (if any); True when none is running afterwards."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            return not thread.is_alive()
        return True

    def _run(self) -> None:
        objects = self._keeper.snapshot.objects
        # An empty scaffold asks the model for its own view of the keyframes, not for a
        # copy of the map's text.
        result = self._bridge.compare_cogmap("", objects)
        with self._lock:
            self._result = result
            self.checks += 1

    def status(self) -> dict[str, str]:
        """``model.cogmap.*`` keys for /diagnostics (empty before the first check):
        ``checks``, ``triplets``, ``consistent``, ``parse_errors``, ``missing_ids``,
        ``max_chain_error_m`` and ``error`` (why the last check failed)."""
        with self._lock:
            result, checks = dict(self._result), self.checks
        if not checks:
            return {}
        values = {"model.cogmap.checks": str(checks)}
        for key in ("triplets", "consistent", "parse_errors", "missing_ids", "error"):
            if key in result:
                values[f"model.cogmap.{key}"] = str(result[key])
        error_m = result.get("max_chain_error_m")
        if isinstance(error_m, float) and math.isfinite(error_m):
            values["model.cogmap.max_chain_error_m"] = f"{error_m:.3f}"
        return values
