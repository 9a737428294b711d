"""The view's copy of what ssr_node publishes, as plain data.

:class:`ViewState` is written by the ROS callbacks (one executor thread) and read by the
renderer (the main thread): every write bumps :attr:`ViewState.version` and wakes
:meth:`ViewState.wait_change`, every read is a consistent :class:`Snapshot`. Nothing here
imports ROS, so the renderer and its tests run without a ROS graph.

Frames and units: positions are in the map frame of the scene graph's header (REP-105
``map``, z up), metres; yaw in radians counter-clockwise from map +x.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class ViewObject:
    """One object of the scene graph: ``center_m`` (3,) and ``size_m`` (3,) [m] (size x
    along the yaw axis, z up), ``yaw_rad`` [rad], ``score`` in [0, 1]."""

    id: int
    label: str
    center_m: tuple[float, float, float]
    size_m: tuple[float, float, float]
    yaw_rad: float
    score: float
    observation_count: int

    @property
    def title(self) -> str:
        """The text shown beside the box, the same as RViz's label marker."""
        return f"[{self.id}] {self.label}"


@dataclass(frozen=True)
class ViewTriplet:
    """A LocalCogMap link: target ``target`` placed relative to anchors A and B."""

    anchor_a: int
    anchor_b: int
    target: int


@dataclass(frozen=True)
class CameraPose:
    """The camera's latest pose in the map frame: ``position_m`` (3,) [m] and the
    orientation ``wxyz`` of the optical frame (x right, y down, z forward), or None when
    only the position is known (the markers' path carries positions only)."""

    position_m: tuple[float, float, float]
    wxyz: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of :class:`ViewState` at one ``version``.

    ``path_m`` is the camera path ``(N, 3)`` [m], oldest first; ``room_xy_m`` a closed
    room outline ``(M, 2)`` [m] when some publisher provides one (else empty);
    ``diagnostics`` the key/values of ssr_node's latest status; ``*_wall_s`` the
    ``time.time()`` of the latest message of each kind (0 = never).
    """

    version: int = 0
    frame_id: str = "map"
    revision: int = 0
    objects: tuple[ViewObject, ...] = ()
    triplets: tuple[ViewTriplet, ...] = ()
    path_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    path_source: str = ""
    camera: CameraPose | None = None
    room_xy_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    diagnostics: dict[str, str] = field(default_factory=dict)
    diagnostics_level: int = -1
    diagnostics_message: str = ""
    graph_wall_s: float = 0.0
    diagnostics_wall_s: float = 0.0

    def object(self, object_id: int) -> ViewObject | None:
        for obj in self.objects:
            if obj.id == object_id:
                return obj
        return None


class ViewState:
    """Thread-safe holder of the latest :class:`Snapshot` (see the module docstring)."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._snap = Snapshot()

    @property
    def snapshot(self) -> Snapshot:
        with self._changed:
            return self._snap

    @property
    def version(self) -> int:
        with self._changed:
            return self._snap.version

    def _update(self, **fields) -> None:
        with self._changed:
            self._update_locked(**fields)

    def _update_locked(self, **fields) -> None:
        self._snap = replace(self._snap, version=self._snap.version + 1, **fields)
        self._changed.notify_all()

    def wait_change(self, seen_version: int, timeout_s: float) -> Snapshot:
        """The snapshot once its version differs from ``seen_version``, or the current
        one after ``timeout_s``."""
        with self._changed:
            if self._snap.version == seen_version:
                self._changed.wait(timeout_s)
            return self._snap

    def set_graph(self, frame_id: str, revision: int, objects: list[ViewObject],
                  triplets: list[ViewTriplet]) -> None:
        """A scene graph arrived. Taken as is, whatever its revision: a restarted node
        counts revisions from zero again, and its map is the truth from then on."""
        objects = sorted(objects, key=lambda o: o.id)
        self._update(frame_id=frame_id or "map", revision=int(revision),
                     objects=tuple(objects), triplets=tuple(triplets),
                     graph_wall_s=time.time())

    def set_path(self, path_m: np.ndarray, source: str,
                 orientations_wxyz: np.ndarray | None = None) -> None:
        """A camera path ``(N, 3)`` [m] arrived from ``source`` (a topic name); with
        ``orientations_wxyz`` ``(N, 4)`` the newest pose also orients the frustum.

        A path from ``cogmap/camera_path`` (with orientations) is preferred: once one
        came, paths without orientations no longer replace it."""
        path = np.asarray(path_m, dtype=np.float64).reshape(-1, 3)
        camera = None
        if len(path):
            wxyz = None
            if orientations_wxyz is not None and len(orientations_wxyz) == len(path):
                q = np.asarray(orientations_wxyz[-1], dtype=np.float64)
                norm = float(np.linalg.norm(q))
                if math.isfinite(norm) and norm > 1e-9:
                    wxyz = tuple(float(v) for v in q / norm)
            camera = CameraPose(tuple(float(v) for v in path[-1]), wxyz)
        with self._changed:
            old = self._snap
            oriented_before = old.camera is not None and old.camera.wxyz is not None
            if orientations_wxyz is None and oriented_before and old.path_source != source:
                return
            self._update_locked(path_m=path, path_source=source, camera=camera)

    def set_room(self, outline_xy_m: np.ndarray) -> None:
        """A room outline ``(M, 2)`` [m] in the map's ground plane (empty = unknown)."""
        self._update(room_xy_m=np.asarray(outline_xy_m, dtype=np.float64).reshape(-1, 2))

    def clear_markers(self, markers_source: str) -> None:
        """A DELETEALL on the markers topic ``markers_source``: forget the room outline
        and, when it came from there, the camera path."""
        with self._changed:
            if self._snap.path_source == markers_source:
                self._update_locked(path_m=np.zeros((0, 3)), path_source="", camera=None,
                                    room_xy_m=np.zeros((0, 2)))
            else:
                self._update_locked(room_xy_m=np.zeros((0, 2)))

    def set_diagnostics(self, values: dict[str, str], level: int, message: str) -> None:
        self._update(diagnostics=dict(values), diagnostics_level=int(level),
                     diagnostics_message=str(message), diagnostics_wall_s=time.time())


def label_rgb(label: str) -> tuple[int, int, int]:
    """A fixed colour per category (hash of the name -> hue), 0-255 RGB. The recipe is
    the one of the RViz markers (:func:`ssr_ros.ros.markers.label_color`), so a sofa has
    the same colour in RViz and in the browser."""
    hue = (zlib.crc32(label.encode("utf-8")) % 360) / 360.0
    s, v = 0.65, 0.95
    i = int(hue * 6.0) % 6
    f = hue * 6.0 - math.floor(hue * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return tuple(int(round(255 * c)) for c in rgb)
