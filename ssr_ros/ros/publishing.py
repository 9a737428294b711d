"""ssr_node's outputs: the latched map topics, and /diagnostics.

:class:`MapPublisher` publishes the map keeper's snapshot on ``cogmap/scene_graph``,
``cogmap/markers``, ``cogmap/detections_3d`` (``vision_msgs/Detection3DArray``, when
vision_msgs is installed) and ``cogmap/camera_path`` (``nav_msgs/Path`` of the keyframe
poses), all reliable + transient local with depth 1, so a late joiner gets the latest
state at once (a best-effort or volatile subscriber, such as ssr-view's path
subscription, is compatible with them too).

Publish on change: a message goes out only when its content changed (the map's
revision for the graph and the detections, the keyframe path for the path), never on a
timer, so an idle node with a large map costs nothing. The markers are incremental (only
changed objects' boxes and labels, DELETEs of removed ones, see
:class:`~ssr_ros.ros.markers.MarkerBuilder`); because a transient-local history of depth
1 would then hand a late joiner only the last increment, the ``scene_graph_period_s``
timer asks, after increments were sent, for one complete marker array from the cache.
Per-object messages are cached and rebuilt only for changed objects.

Threads: every build and publish runs on the publisher's own thread. Callers (the frame
worker after a keyframe, the lifecycle activate, a load or clear, the timer on the
executor) only set a flag and return, so the executor never builds a 5,000-object
message while queries wait behind it; requests that arrive during a build are merged
into the next one. :meth:`MapPublisher.destroy` stops the thread and serialises with the
publishing, so a teardown never destroys a publisher under a publish.
:class:`DiagnosticsPublisher` renders the node's counters with the values each part
reports.

Headers that carry no frame stamp (an empty map, a marker reset) are stamped with the
node's clock, never wall time, so they agree with /clock under ``use_sim_time``.
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import Path
from rclpy.callback_groups import CallbackGroup
from rclpy.lifecycle import LifecyclePublisher
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.timer import Timer
from visualization_msgs.msg import MarkerArray

from ssr_ros.core.frames import PosedFrame
from ssr_ros.core.geometry import quaternion_from_rotation
from ssr_ros.msg import SceneGraph
from ssr_ros.ros import messages, topics
from ssr_ros.ros.conversions import s_to_stamp
from ssr_ros.ros.diagnostics import NodeStats
from ssr_ros.ros.inputs import LATCHED_QOS
from ssr_ros.ros.markers import MarkerBuilder
from ssr_ros.runtime.map_state import MapKeeper, MapSnapshot

#: A publish that built at least this many new cached messages (a map loaded or
#: published for the first time) ends with ``gc.collect(); gc.freeze()``: the cached
#: messages of a 5,000-object map are ~290,000 tracked objects, which tripled every full
#: garbage collection (47 -> 150 ms measured, a pause that holds the GIL and so every
#: query). Frozen objects are skipped by later collections and still freed by reference
#: counting when their object changes (messages hold no reference cycles).
FREEZE_AFTER_BUILT = 2000

#: Orientation of a path pose whose keyframe this process did not map (a loaded map file
#: records keyframe positions only): identity, as docs/publishing.md says.
UNKNOWN_ORIENTATION_XYZW = (0.0, 0.0, 0.0, 1.0)


def clock_s(node: Node) -> Callable[[], float]:
    """"Now" [s] of the node's clock (ROS time: /clock under use_sim_time)."""
    return lambda: node.get_clock().now().nanoseconds * 1e-9


def _position_key(position_m: Any) -> tuple[float, float, float]:
    # the trajectory stores the pose's own translation; rounding absorbs float noise
    return tuple(round(float(v), 6) for v in position_m)


class CameraPathBuilder:
    """The keyframe path as a ``nav_msgs/Path``. The map snapshot carries keyframe
    positions only, so this remembers the orientation and stamp of each keyframe noted
    by :meth:`note` (at most ``capacity``, the newest) and finds them by position; poses
    it never saw (a loaded map's) get :data:`UNKNOWN_ORIENTATION_XYZW` and stamp 0.
    PoseStamped messages are cached by position, so a growing path builds only its new
    poses. One caller at a time for :meth:`message`; :meth:`note` is thread-safe."""

    def __init__(self, frame_id: str, capacity: int = 20000) -> None:
        self.frame_id = frame_id
        self.capacity = int(capacity)
        self._noted: OrderedDict[tuple, tuple[tuple, float]] = OrderedDict()
        self._poses: dict[tuple, Any] = {}
        # The path and pose list of the last message: a path that grew from it reuses
        # the list's poses (the path has every keyframe; this keeps a keyframe's work
        # to its new poses instead of a key per pose of the whole path).
        self._last: tuple[np.ndarray, list] | None = None
        self._lock = threading.Lock()
        self.latest_stamp_s = 0.0

    def note(self, T_map_cam: np.ndarray, stamp_s: float) -> None:
        """A keyframe at ``T_map_cam`` (4, 4, optical frame -> map) and ``stamp_s`` [s]."""
        T = np.asarray(T_map_cam, dtype=np.float64)
        q = tuple(float(v) for v in quaternion_from_rotation(T[:3, :3]))
        with self._lock:
            key = _position_key(T[:3, 3])
            self._noted[key] = (q, float(stamp_s))
            self._noted.move_to_end(key)
            while len(self._noted) > self.capacity:
                self._noted.popitem(last=False)
            self.latest_stamp_s = max(self.latest_stamp_s, float(stamp_s))

    def message(self, path_m: np.ndarray, stamp_s: float) -> Path:
        """``path_m`` (N, 3) [m, map frame], oldest first, as a Path stamped ``stamp_s``."""
        msg = Path()
        msg.header.frame_id = self.frame_id
        msg.header.stamp = s_to_stamp(max(0.0, float(stamp_s)))
        path = np.array(path_m, dtype=np.float64).reshape(-1, 3)
        last = self._last
        if last is not None and len(last[0]) <= len(path) \
                and np.array_equal(last[0], path[:len(last[0])]):
            # the poses of the old rows are the ones built for them before
            poses, start, listed = self._poses, len(last[0]), list(last[1])
        else:
            poses, start, listed = {}, 0, []
        with self._lock:
            noted = dict(self._noted) if start < len(path) else {}
        for row in path[start:]:
            key = _position_key(row)
            pose = poses.get(key) if start else self._poses.get(key)
            if pose is None:
                q, t = noted.get(key, (UNKNOWN_ORIENTATION_XYZW, 0.0))
                pose = messages.pose_stamped_msg(row, q, t, self.frame_id)
            poses[key] = pose
            listed.append(pose)
        msg.poses = listed
        self._poses = poses
        self._last = (path, listed)
        return msg

    def clear(self) -> None:
        """Forget the noted keyframes and cached poses (the map was replaced)."""
        with self._lock:
            self._noted.clear()
            self._poses = {}
            self._last = None


def _same_path(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and bool(np.array_equal(a, b))


class MapPublisher:
    """The latched map topics of ``keeper``'s snapshot in ``map_frame`` (see the module
    docstring); publishes only while :attr:`active` (the lifecycle publishers are
    enabled by the node's activate). ``period_s``: at most this long [s] after an
    incremental marker update, a complete marker array replaces it as the latched one.
    :attr:`sent` counts the messages published per topic key (``graph``, ``markers``,
    ``detections``, ``path``)."""

    def __init__(self, node: Node, keeper: MapKeeper, map_frame: str, period_s: float,
                 group: CallbackGroup) -> None:
        self._node = node
        self._keeper = keeper
        self._map_frame = map_frame
        self._now_s = clock_s(node)
        self._markers = MarkerBuilder(map_frame)
        self._graph_cache = messages.ObjectMessageCache(messages.object_to_msg)
        self._detection_cache = messages.ObjectMessageCache(
            lambda obj: messages.detection_3d_msg(obj, map_frame))
        self._path = CameraPathBuilder(map_frame)
        self._lock = threading.Lock()          # publishing vs destroy
        self._wake = threading.Condition()     # requests to the publishing thread
        self._requests = {"publish": False, "force": False, "reset": False, "full": False}
        self._busy = False
        self._stop = False
        self._published_revision = -1
        self._published_path: np.ndarray | None = None
        self._full_markers_due = False
        self.sent = {"graph": 0, "markers": 0, "detections": 0, "path": 0}
        self.active = False
        self._graph_pub: LifecyclePublisher | None = node.create_lifecycle_publisher(
            SceneGraph, topics.SCENE_GRAPH, LATCHED_QOS)
        self._markers_pub: LifecyclePublisher | None = node.create_lifecycle_publisher(
            MarkerArray, topics.MARKERS, LATCHED_QOS)
        self._path_pub: LifecyclePublisher | None = node.create_lifecycle_publisher(
            Path, topics.CAMERA_PATH, LATCHED_QOS)
        self._detections_pub: LifecyclePublisher | None = None
        if messages.vision_msgs_available():
            from vision_msgs.msg import Detection3DArray

            self._detections_pub = node.create_lifecycle_publisher(
                Detection3DArray, topics.DETECTIONS_3D, LATCHED_QOS)
        self._timer: Timer | None = node.create_timer(period_s, self._on_timer,
                                                      callback_group=group)
        self._thread = threading.Thread(target=self._run, name="ssr_map_publisher",
                                        daemon=True)
        self._thread.start()

    @property
    def publishes_detections(self) -> bool:
        """True when ``cogmap/detections_3d`` is published (vision_msgs is installed)."""
        return self._detections_pub is not None

    # ---------------------------------------------------------------- requests
    def _request(self, **flags: bool) -> None:
        with self._wake:
            for key, value in flags.items():
                self._requests[key] = self._requests[key] or value
            self._requests["publish"] = True
            self._wake.notify_all()

    def publish(self, force: bool = False) -> None:
        """Ask for the map topics to be published where they changed (every topic when
        ``force``); returns at once, the publishing thread builds and sends."""
        self._request(force=force)

    def reset(self) -> None:
        """Ask for every marker to be deleted (the map was replaced or cleared), then for
        the whole map to be published."""
        self._request(reset=True, force=True)

    def note_keyframe(self, frame: PosedFrame) -> None:
        """Remember a mapped keyframe's pose and stamp for ``cogmap/camera_path``."""
        if frame.T_map_cam is not None:
            self._path.note(frame.T_map_cam, frame.stamp_s)

    def _on_timer(self) -> None:
        # On the executor: only a flag; the complete marker array is sent by the thread.
        if self._full_markers_due:
            self._request(full=True)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until every request made so far has been handled; False on timeout."""
        with self._wake:
            return self._wake.wait_for(
                lambda: self._stop or not (self._busy or self._requests["publish"]),
                timeout=timeout_s)

    # ---------------------------------------------------------------- the thread
    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stop or self._requests["publish"])
                if self._stop:
                    return
                requests = dict(self._requests)
                self._requests = dict.fromkeys(self._requests, False)
                self._busy = True
            try:
                self._publish(requests)
            except Exception as exc:  # a failed publish must not end the thread
                self._node.get_logger().error(f"publishing the map failed: {exc!r}")
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _publish(self, requests: dict[str, bool]) -> None:
        with self._lock:
            if not self.active or self._graph_pub is None:
                if requests["reset"]:  # the DELETEALL goes out at the next activation
                    with self._wake:
                        self._requests["reset"] = True
                return
            if requests["reset"]:
                self._markers_pub.publish(self._markers.delete_all(self._now_s()))
                self._path.clear()
                self._published_path = None
                self.sent["markers"] += 1
            snap = self._keeper.snapshot
            force = requests["force"]
            map_changed = force or snap.revision != self._published_revision
            path_changed = force or not _same_path(snap.path_m, self._published_path)
            stamp_s = snap.stamp_s or self._now_s()
            built = 0
            if map_changed:
                self._publish_map(snap, stamp_s)
                built = self._graph_cache.built + self._detection_cache.built
            if map_changed or path_changed:
                changes = self._markers.update(snap.objects, snap.triplets, snap.path_m,
                                               max(stamp_s, self._path.latest_stamp_s))
                if changes.markers:
                    self._markers_pub.publish(changes)
                    self.sent["markers"] += 1
                    self._full_markers_due = True
            elif requests["full"] and self._full_markers_due:
                self._markers_pub.publish(self._markers.full())
                self.sent["markers"] += 1
                self._full_markers_due = False
            if path_changed:
                self._path_pub.publish(self._path.message(
                    snap.path_m, max(stamp_s, self._path.latest_stamp_s)))
                self.sent["path"] += 1
                self._published_path = snap.path_m
        if built >= FREEZE_AFTER_BUILT:
            gc.collect()
            gc.freeze()

    def _publish_map(self, snap: MapSnapshot, stamp_s: float) -> None:
        self._graph_pub.publish(messages.scene_graph_msg(
            snap.objects, snap.triplets, snap.revision, stamp_s, self._map_frame,
            cache=self._graph_cache))
        self.sent["graph"] += 1
        if self._detections_pub is not None:
            self._detections_pub.publish(messages.detections_3d_msg(
                snap.objects, stamp_s, self._map_frame, cache=self._detection_cache))
            self.sent["detections"] += 1
        self._published_revision = snap.revision

    def destroy(self) -> None:
        """Stop the publishing thread, then destroy the publishers and the timer
        (idempotent)."""
        with self._wake:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)
        with self._lock:
            self.active = False
            if self._timer is not None:
                self._node.destroy_timer(self._timer)
            for pub in (self._graph_pub, self._markers_pub, self._path_pub,
                        self._detections_pub):
                if pub is not None:
                    self._node.destroy_lifecycle_publisher(pub)
            self._timer = self._graph_pub = self._markers_pub = None
            self._path_pub = self._detections_pub = None


class DiagnosticsPublisher:
    """One ``DiagnosticStatus`` on /diagnostics every ``period_s``: the node's counters
    (:class:`NodeStats`) plus the values of every ``sources`` callable (each returns a
    ``dict[str, Any]`` of keys such as ``map.objects`` or ``model.state``)."""

    def __init__(self, node: Node, stats: NodeStats, period_s: float,
                 sources: list[Callable[[], dict]], group: CallbackGroup) -> None:
        self._node = node
        self._stats = stats
        self._sources = sources
        self._lock = threading.Lock()
        self._pub: Publisher | None = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer: Timer | None = node.create_timer(period_s, self.publish,
                                                      callback_group=group)

    def publish(self) -> None:
        with self._lock:
            if self._pub is None:
                return
            extra: dict = {}
            for source in self._sources:
                extra.update(source())
            msg = DiagnosticArray()
            msg.header.stamp = self._node.get_clock().now().to_msg()
            msg.status = [self._stats.to_status(
                f"{self._node.get_fully_qualified_name()}: mapping", extra)]
            self._pub.publish(msg)

    def destroy(self) -> None:
        """Destroy the publisher and the timer (idempotent)."""
        with self._lock:
            if self._timer is not None:
                self._node.destroy_timer(self._timer)
            if self._pub is not None:
                self._node.destroy_publisher(self._pub)
            self._timer = self._pub = None


def map_values(keeper: MapKeeper) -> dict:
    """/diagnostics keys of the map: ``map.objects``, ``map.triplets``, ``map.revision``,
    ``names.embeddings``."""
    snap = keeper.snapshot
    return {"map.objects": len(snap.objects), "map.triplets": len(snap.triplets),
            "map.revision": snap.revision,
            "names.embeddings": "on" if keeper.embedder is not None else "off"}
