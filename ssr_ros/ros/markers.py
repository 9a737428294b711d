"""RViz markers of the map: a box and a text label per object, the LocalCogMap triplet
edges, and the camera path.

Marker ids are stable: an object's box and label use the object id in the ``objects``
and ``labels`` namespaces, so RViz updates them in place; an object that leaves the map
gets a DELETE in both namespaces (tracked by :class:`MarkerBuilder`). Triplet edges
(A->C and B->C as one LINE_LIST) and the path (one LINE_STRIP) are single markers with
id 0. All poses are in the map frame [m].
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
    """Builds MarkerArrays and remembers which object ids were shown, to DELETE the ones
    that disappear. ``frame_id`` is the map frame."""

    def __init__(self, frame_id: str = "map") -> None:
        self.frame_id = frame_id
        self._shown_ids: set[int] = set()

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

    def build(self, objects: Iterable[ObjectState], triplets: Iterable[Any],
              path_m: np.ndarray | None, stamp_s: float) -> MarkerArray:
        """Markers for the current map.

        Args:
            objects: confirmed objects (map frame).
            triplets: cogmap triplets (``anchor_a``, ``anchor_b``, ``target`` ids).
            path_m: ``(N, 3)`` camera positions in the map frame [m], oldest first, or None.
            stamp_s: header stamp [s].
        """
        stamp = s_to_stamp(max(0.0, stamp_s))
        out = MarkerArray()
        objects = list(objects)
        centers = {o.id: o.center_m for o in objects}
        for obj in objects:
            box = self._marker(NS_OBJECTS, obj.id, Marker.CUBE, stamp)
            box.pose.position = _point(obj.center_m)
            half = 0.5 * float(obj.yaw_rad)
            box.pose.orientation.z, box.pose.orientation.w = math.sin(half), math.cos(half)
            box.scale.x, box.scale.y, box.scale.z = (max(float(v), 0.01) for v in obj.size_m)
            box.color = label_color(obj.label)
            out.markers.append(box)
            text = self._marker(NS_LABELS, obj.id, Marker.TEXT_VIEW_FACING, stamp)
            top = obj.center_m + np.array([0.0, 0.0, 0.5 * obj.size_m[2] + LABEL_HEIGHT_M])
            text.pose.position = _point(top)
            text.scale.z = LABEL_HEIGHT_M
            text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
            text.text = f"[{obj.id}] {obj.label}"
            out.markers.append(text)
        current = set(centers)
        for gone in sorted(self._shown_ids - current):
            for ns in (NS_OBJECTS, NS_LABELS):
                delete = self._marker(ns, gone, Marker.CUBE, stamp)
                delete.action = Marker.DELETE
                out.markers.append(delete)
        self._shown_ids = current
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
        out.markers.append(edges)
        path = self._marker(NS_PATH, 0, Marker.LINE_STRIP, stamp)
        path.scale.x = 0.03
        path.color = ColorRGBA(r=0.2, g=0.6, b=1.0, a=1.0)
        if path_m is not None and len(path_m):
            pts = np.asarray(path_m, dtype=np.float64).reshape(-1, 3)[-MAX_PATH_POINTS:]
            path.points = [_point(p) for p in pts]
        out.markers.append(path)
        return out

    def reset(self) -> None:
        """Forget shown ids (after a DELETEALL has been published)."""
        self._shown_ids.clear()

    def delete_all(self, stamp_s: float) -> MarkerArray:
        """A MarkerArray that clears every marker of this publisher (on clear_map)."""
        marker = self._marker("", 0, Marker.CUBE, s_to_stamp(max(0.0, stamp_s)))
        marker.action = Marker.DELETEALL
        self.reset()
        return MarkerArray(markers=[marker])
