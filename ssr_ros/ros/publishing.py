"""ssr_node's outputs: the latched scene graph and markers, and /diagnostics.

:class:`MapPublishing` is a mixin of :class:`~ssr_ros.ros.node.SsrNode`; it reads the
node's ``keeper`` (:class:`~ssr_ros.runtime.map_state.MapKeeper`), ``config``, ``model``
(:class:`~ssr_ros.model.bridge.ModelBridge`), ``stats``, the ``_active`` flag, the
publishers made at configure (``_graph_pub``, ``_markers_pub``, ``_diag_pub``) and
``_publish_lock``, which serialises the worker (publishing on change) with the timers
(low-rate repeat for late joiners that missed the latched message, diagnostics) and
with the node's teardown, which destroys the publishers.

Headers that carry no frame stamp (an empty map, a marker reset) are stamped with the
node's clock, never wall time, so they agree with /clock under ``use_sim_time``.
"""

from __future__ import annotations

from typing import Any

from diagnostic_msgs.msg import DiagnosticArray

from ssr_ros.ros import messages


class MapPublishing:
    """Scene graph, markers and diagnostics of the node (see the module docstring)."""

    def _now_s(self) -> float:
        """Current time of the node's clock [s] (ROS time: /clock under use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish_map(self, force: bool) -> None:
        """Publish the scene graph and markers when the map changed (or when ``force``)."""
        with self._publish_lock:
            # Read under the lock: a teardown holds it while it destroys the publishers.
            keeper = self.keeper
            if keeper is None or not self._active:
                return
            snap = keeper.snapshot
            if not force and snap.revision == self._published_revision:
                return
            stamp_s = snap.stamp_s or self._now_s()
            self._graph_pub.publish(messages.scene_graph_msg(
                snap.objects, snap.triplets, snap.revision, stamp_s, self.config.map_frame))
            self._markers_pub.publish(self._markers.build(snap.objects, snap.triplets,
                                                          snap.path_m, stamp_s))
            self._published_revision = snap.revision

    def _publish_marker_reset(self) -> None:
        """Delete every marker (the map was replaced or cleared), then publish the map."""
        if self._active:
            with self._publish_lock:
                self._markers_pub.publish(self._markers.delete_all(self._now_s()))
        self._publish_map(force=True)

    def _publish_diagnostics(self) -> None:
        with self._publish_lock:
            self._publish_diagnostics_locked()

    def _publish_diagnostics_locked(self) -> None:
        keeper = self.keeper
        if keeper is None:
            return
        snap = keeper.snapshot
        extra: dict[str, Any] = {
            "state": "active" if self._active else "inactive",
            "queue.dropped": self._slot.replaced,
            "queue.waiting": self._slot.waiting,
            "map.objects": len(snap.objects),
            "map.triplets": len(snap.triplets),
            "map.revision": snap.revision,
            "pose.source": self._pose_mode(),
            "names.embeddings": "on" if keeper.embedder is not None else "off",
        }
        resets = getattr(self._pose_source, "resets", None)
        if resets is not None:
            extra["pose.resets"] = resets
        if self._sync is not None:
            extra["sync.matched"] = self._sync.matched
            extra["sync.dropped"] = self._sync.dropped
            extra["sync.pending"] = sum(self._sync.pending())
        if self.model is not None:
            extra.update(self.model.status())
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [self.stats.to_status(f"{self.get_fully_qualified_name()}: mapping",
                                           extra)]
        self._diag_pub.publish(msg)
