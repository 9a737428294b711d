"""RViz markers of the map: a box and a text label per object, the LocalCogMap triplet
edges, and the camera path.

Marker ids are stable: an object's box and label use the object id in the ``objects``
and ``labels`` namespaces, so RViz updates them in place; an object that leaves the map
gets a DELETE in both namespaces (tracked by :class:`MarkerBuilder`). Triplet edges
(A->C and B->C as one LINE_LIST) and the path (one LINE_STRIP) are single markers with
id 0. All poses are in the map frame [m].

Incremental updates: :meth:`MarkerBuilder.update` returns only what changed since the
previous call (the boxes and labels of new or changed objects, DELETEs of removed ones,
the edges when the chain or an object moved, the path when it grew), so a keyframe that
changes a few objects of a 5,000-object map sends a few markers, not 10,000.
:meth:`MarkerBuilder.full` re-sends the current state from the cache (no rebuild) for
subscribers that joined late. An object's markers are rebuilt only when its
``ObjectState`` changed: the object map shares a state object until its object changes.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Iterable, Sequence

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from ssr_ros.core.types import ObjectState
from ssr_ros.ros.conversions import s_to_stamp

NS_OBJECTS = "objects"
NS_LABELS = "labels"
NS_TRIPLETS = "triplets"
NS_PATH = "path"
LABEL_HEIGHT_M = 0.15
#: Path vertices kept in the marker (the newest ones); RViz slows down on huge strips.
MAX_PATH_POINTS = 2000


def label_color(label: str, alpha: float = 0.6) -> ColorRGBA:
    """A fixed colour per category name (hash -> hue), so a class looks the same in
    every run."""
    hue = (zlib.crc32(label.encode("utf-8")) % 360) / 360.0
    r, g, b = _hsv_to_rgb(hue, 0.65, 0.95)
    return ColorRGBA(r=r, g=g, b=b, a=float(alpha))


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def _point(xyz: Sequence[float]) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


class MarkerBuilder:
    """Builds MarkerArrays and remembers what was sent: each object's state with its box
    and label markers (to send only changes and DELETE the ones that disappear), the
    edges and the path marker. ``frame_id`` is the map frame. One caller at a time."""

    def __init__(self, frame_id: str = "map") -> None:
        self.frame_id = frame_id
        self._shown: dict[int, tuple[ObjectState, Marker, Marker]] = {}
        self._edges: Marker | None = None
        self._edges_key: tuple | None = None
        self._path: Marker | None = None
        self._path_key: tuple | None = None
        # The rows and Point messages of the last path marker (see _path_points).
        self._path_rows: np.ndarray = np.zeros((0, 3))
        self._path_points: list[Point] = []

    def _marker(self, ns: str, marker_id: int, marker_type: int, stamp: Any) -> Marker:
        marker = Marker()
        marker.header.frame_id = self.frame_id
        marker.header.stamp = stamp
        marker.ns = ns
        marker.id = int(marker_id)
        marker.type = marker_type
        marker.action = Marker.ADD
        marker.pose.orientation.w = 1.0
        return marker

    def _object_markers(self, obj: ObjectState, stamp: Any) -> tuple[Marker, Marker]:
        box = self._marker(NS_OBJECTS, obj.id, Marker.CUBE, stamp)
        box.pose.position = _point(obj.center_m)
        half = 0.5 * float(obj.yaw_rad)
        box.pose.orientation.z, box.pose.orientation.w = math.sin(half), math.cos(half)
        box.scale.x, box.scale.y, box.scale.z = (max(float(v), 0.01) for v in obj.size_m)
        box.color = label_color(obj.label)
        text = self._marker(NS_LABELS, obj.id, Marker.TEXT_VIEW_FACING, stamp)
        top = obj.center_m + np.array([0.0, 0.0, 0.5 * obj.size_m[2] + LABEL_HEIGHT_M])
        text.pose.position = _point(top)
        text.scale.z = LABEL_HEIGHT_M
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        text.text = f"[{obj.id}] {obj.label}"
        return box, text

    def update(self, objects: Iterable[ObjectState], triplets: Iterable[Any],
               path_m: np.ndarray | None, stamp_s: float) -> MarkerArray:
        """The markers that changed since the previous :meth:`update` (or :meth:`build`):
        boxes and labels of new or changed objects, DELETEs of removed objects, the edges
        when the triplets or any object changed, the path when it changed. Empty when
        nothing changed.

        Args:
            objects: confirmed objects (map frame).
            triplets: cogmap triplets (``anchor_a``, ``anchor_b``, ``target`` ids).
            path_m: ``(N, 3)`` camera positions in the map frame [m], oldest first, or None.
            stamp_s: header stamp [s] of the markers sent now.
        """
        stamp = s_to_stamp(max(0.0, stamp_s))
        out = MarkerArray()
        shown: dict[int, tuple[ObjectState, Marker, Marker]] = {}
        objects_changed = False
        for obj in objects:
            old = self._shown.get(obj.id)
            if old is not None and old[0] is obj:
                shown[obj.id] = old
                continue
            box, text = self._object_markers(obj, stamp)
            shown[obj.id] = (obj, box, text)
            out.markers.extend((box, text))
            objects_changed = True
        for gone in sorted(set(self._shown) - set(shown)):
            objects_changed = True
            for ns in (NS_OBJECTS, NS_LABELS):
                delete = self._marker(ns, gone, Marker.CUBE, stamp)
                delete.action = Marker.DELETE
                out.markers.append(delete)
        self._shown = shown
        triplets = tuple(triplets)
        edges_key = tuple((int(t.target), int(t.anchor_a), int(t.anchor_b)) for t in triplets)
        if objects_changed or self._edges is None or edges_key != self._edges_key:
            self._edges = self._edge_marker(triplets, stamp)
            self._edges_key = edges_key
            out.markers.append(self._edges)
        pts = np.zeros((0, 3)) if path_m is None else \
            np.asarray(path_m, dtype=np.float64).reshape(-1, 3)[-MAX_PATH_POINTS:]
        path_key = (len(pts), pts[-1].tobytes() if len(pts) else b"",
                    pts[0].tobytes() if len(pts) else b"")
        if self._path is None or path_key != self._path_key:
            self._path = self._path_marker(pts, stamp)
            self._path_key = path_key
            out.markers.append(self._path)
        return out

    def full(self) -> MarkerArray:
        """Every current marker from the cache (boxes, labels, edges, path), as last sent:
        the complete state for a subscriber that joined after incremental updates."""
        out = MarkerArray()
        for _, box, text in self._shown.values():
            out.markers.extend((box, text))
        out.markers.extend(m for m in (self._edges, self._path) if m is not None)
        return out

    def build(self, objects: Iterable[ObjectState], triplets: Iterable[Any],
              path_m: np.ndarray | None, stamp_s: float) -> MarkerArray:
        """Markers for the current map: every object's box and label, DELETEs of objects
        removed since the previous call, the edges and the path (arguments as in
        :meth:`update`)."""
        changes = self.update(objects, triplets, path_m, stamp_s)
        out = self.full()
        out.markers.extend(m for m in changes.markers if m.action == Marker.DELETE)
        return out

    def _edge_marker(self, triplets: Sequence[Any], stamp: Any) -> Marker:
        centers = {obj_id: entry[0].center_m for obj_id, entry in self._shown.items()}
        edges = self._marker(NS_TRIPLETS, 0, Marker.LINE_LIST, stamp)
        edges.scale.x = 0.02
        edges.color = ColorRGBA(r=1.0, g=0.85, b=0.1, a=0.9)
        for triplet in triplets:
            target = centers.get(int(triplet.target))
            for anchor_id in {int(triplet.anchor_a), int(triplet.anchor_b)}:
                anchor = centers.get(anchor_id)
                if target is None or anchor is None or anchor_id == int(triplet.target):
                    continue
                edges.points.extend([_point(anchor), _point(target)])
        return edges

    def _path_marker(self, pts: np.ndarray, stamp: Any) -> Marker:
        path = self._marker(NS_PATH, 0, Marker.LINE_STRIP, stamp)
        path.scale.x = 0.03
        path.color = ColorRGBA(r=0.2, g=0.6, b=1.0, a=1.0)
        path.points = self._points_of_path(pts)
        return path

    def _points_of_path(self, pts: np.ndarray) -> list[Point]:
        """Point messages of ``pts`` (N, 3): those of rows the last path marker also had
        at its end (the path grew, and past ``MAX_PATH_POINTS`` lost its oldest rows)
        are reused, so a keyframe builds its own points, not the whole path's."""
        old = self._path_rows
        keep = 0
        if len(old) and len(pts):
            # where the last marker's newest row is now, latest first (a revisited
            # position may be in the path twice)
            for j in np.flatnonzero(np.all(pts == old[-1], axis=1))[::-1]:
                if j + 1 <= len(old) and np.array_equal(pts[:j + 1], old[len(old) - j - 1:]):
                    keep = int(j) + 1
                    break
        points = self._path_points[len(old) - keep:] + [_point(p) for p in pts[keep:]]
        self._path_rows, self._path_points = pts.copy(), points
        return list(points)

    def reset(self) -> None:
        """Forget what was sent (after a DELETEALL has been published): the next
        :meth:`update` sends everything."""
        self._shown.clear()
        self._edges = self._path = None
        self._edges_key = self._path_key = None
        self._path_rows, self._path_points = np.zeros((0, 3)), []

    def delete_all(self, stamp_s: float) -> MarkerArray:
        """A MarkerArray that clears every marker of this publisher (on clear_map)."""
        marker = self._marker("", 0, Marker.CUBE, s_to_stamp(max(0.0, stamp_s)))
        marker.action = Marker.DELETEALL
        self.reset()
        return MarkerArray(markers=[marker])
