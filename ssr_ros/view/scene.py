"""Draws a :class:`~ssr_ros.view.state.Snapshot` into viser's 3D scene, and an answer's
highlight on top of it.

Scene tree (names are stable, so the page updates nodes in place; the browser test
counts the ``/objects/o<id>`` nodes of the page's scene tree):

* ``/floor``: a grid under the objects and the camera path (0.5 m cells, 1 m sections);
* ``/room``: the room outline when some publisher provides one (markers namespace
  ``room``); ssr_node does not publish its room estimate yet;
* ``/objects/o<id>``: the object's oriented box, coloured by category (the RViz
  colours), with ``/objects/o<id>/label`` "[id] label" above it;
* ``/triplets``: the LocalCogMap edges A->C and B->C;
* ``/camera/path`` and ``/camera/now``: the camera path and the current camera, a
  frustum when an orientation is known (``cogmap/camera_path``), else a sphere;
* ``/answer/...``: the highlight of the latest answer.

All positions are in the map frame [m], z up (viser's up direction is set to +z).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from ssr_ros.view.answer import AnswerView
from ssr_ros.view.geometry import floor_extent, yaw_wxyz
from ssr_ros.view.state import Snapshot, ViewObject, label_rgb

LABEL_GAP_M = 0.12
BOX_OPACITY = 0.55
EDGE_RGB = (255, 217, 26)
PATH_RGB = (51, 153, 255)
ROOM_RGB = (90, 90, 90)
HIGHLIGHT_RGB = (255, 40, 160)
#: Nominal camera drawing: the messages carry no field of view (vertical, rad).
FRUSTUM_FOV_RAD = math.radians(45.0)
FRUSTUM_ASPECT = 4.0 / 3.0


def object_node(object_id: int) -> str:
    """Scene-tree name of an object's box."""
    return f"/objects/o{int(object_id)}"


def _segments(points: np.ndarray) -> np.ndarray:
    """Consecutive points ``(N, 3)`` -> line segments ``(N-1, 2, 3)``."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    return np.stack([pts[:-1], pts[1:]], axis=1)


class SceneRenderer:
    """Keeps viser's scene equal to the latest snapshot (see the module docstring).

    ``scene`` is a ``viser.SceneApi``, ``initial_camera`` the server's initial camera
    (set over the map so a new page opens looking at it). Thread-safe: the main loop
    calls :meth:`apply`, answer callbacks :meth:`show_answer`.
    """

    def __init__(self, scene: Any, initial_camera: Any = None) -> None:
        self.scene = scene
        self.initial_camera = initial_camera
        self._lock = threading.Lock()
        self._objects: dict[int, tuple[ViewObject, Any]] = {}
        self._drawn: dict[str, Any] = {}
        self._keys: dict[str, Any] = {}
        self._answer: list[Any] = []
        self.scene.set_up_direction("+z")
        # Plain lights, no image-based lighting and no shadows: a browser without a GPU
        # (software WebGL) drew viser's default environment map at under 1 frame/s, which
        # starved the page (answers took seconds to appear); without it, about 25 frames/s.
        self.scene.configure_environment_map(None)
        self.scene.configure_default_lights(True, cast_shadow=False)
        self.scene.add_light_hemisphere("/light", sky_color=(255, 255, 255),
                                        ground_color=(150, 150, 150), intensity=1.4)

    @property
    def object_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._objects)

    def apply(self, snap: Snapshot) -> None:
        """Bring the scene to ``snap``: add, move or remove what changed."""
        with self._lock:
            self._apply_objects(snap)
            self._apply_triplets(snap)
            self._apply_camera(snap)
            self._apply_room(snap)
            self._apply_floor(snap)

    # --- parts -----------------------------------------------------------------------
    def _replace(self, key: str, value_key: Any, draw) -> None:
        """Redraw node ``key`` when ``value_key`` changed; ``draw()`` returns the new
        handle, or None to leave the node out."""
        if key in self._keys and self._keys[key] == value_key:
            return
        old = self._drawn.pop(key, None)
        if old is not None:
            old.remove()
        handle = draw()
        if handle is not None:
            self._drawn[key] = handle
        self._keys[key] = value_key

    def _apply_objects(self, snap: Snapshot) -> None:
        current = {o.id: o for o in snap.objects}
        for gone in set(self._objects) - set(current):
            self._objects.pop(gone)[1].remove()
        for object_id, obj in current.items():
            shown = self._objects.get(object_id)
            if shown is not None and shown[0] == obj:
                continue
            if shown is not None:
                shown[1].remove()
            self._objects[object_id] = (obj, self._draw_object(obj))

    def _draw_object(self, obj: ViewObject) -> Any:
        name = object_node(obj.id)
        box = self.scene.add_box(name, color=label_rgb(obj.label), dimensions=obj.size_m,
                                 opacity=BOX_OPACITY, position=obj.center_m,
                                 wxyz=yaw_wxyz(obj.yaw_rad), cast_shadow=False)
        # child of the box: placed in the box's frame, removed with it
        self.scene.add_label(f"{name}/label", obj.title,
                             position=(0.0, 0.0, 0.5 * obj.size_m[2] + LABEL_GAP_M),
                             anchor="bottom-center")
        return box

    def _apply_triplets(self, snap: Snapshot) -> None:
        centers = {o.id: o.center_m for o in snap.objects}
        pairs = []
        for t in snap.triplets:
            for anchor in {t.anchor_a, t.anchor_b} - {t.target}:
                if anchor in centers and t.target in centers:
                    pairs.append((centers[anchor], centers[t.target]))
        self._replace("/triplets", tuple(pairs), lambda: self.scene.add_line_segments(
            "/triplets", np.asarray(pairs, dtype=np.float32), EDGE_RGB, thickness=0.02)
            if pairs else None)

    def _apply_camera(self, snap: Snapshot) -> None:
        path = snap.path_m
        self._replace("/camera/path", (len(path), path[-1].tobytes() if len(path) else b""),
                      lambda: self.scene.add_line_segments(
                          "/camera/path", _segments(path), PATH_RGB, thickness=0.03)
                      if len(path) >= 2 else None)
        cam = snap.camera

        def draw_camera():
            if cam is None:
                return None
            if cam.wxyz is None:
                return self.scene.add_icosphere("/camera/now", radius=0.08, color=PATH_RGB,
                                                position=cam.position_m)
            return self.scene.add_camera_frustum(
                "/camera/now", fov=FRUSTUM_FOV_RAD, aspect=FRUSTUM_ASPECT, scale=0.35,
                color=PATH_RGB, wxyz=cam.wxyz, position=cam.position_m, cast_shadow=False)
        self._replace("/camera/now", cam, draw_camera)

    def _apply_room(self, snap: Snapshot) -> None:
        room = snap.room_xy_m
        self._replace("/room", room.tobytes(), lambda: self.scene.add_line_segments(
            "/room", _segments(np.column_stack([np.vstack([room, room[:1]]),
                                                np.zeros(len(room) + 1)])),
            ROOM_RGB, thickness=0.04) if len(room) >= 3 else None)

    def _apply_floor(self, snap: Snapshot) -> None:
        xy = [np.asarray([o.center_m[:2] for o in snap.objects]).reshape(-1, 2),
              snap.path_m[:, :2], snap.room_xy_m]
        center, width, height = floor_extent(np.vstack(xy))
        key = (tuple(center.round(3)), round(width, 3), round(height, 3))
        self._replace("/floor", key, lambda: self.scene.add_grid(
            "/floor", width=width, height=height, cell_size=0.5, section_size=1.0,
            position=(float(center[0]), float(center[1]), 0.0), cell_color=(210, 210, 210),
            section_color=(150, 150, 150), shadow_opacity=0.0))
        if self.initial_camera is not None and self._keys.get("camera_home") != key:
            # new pages open looking down at the map from its south-west
            reach = max(width, height, 4.0)
            self.initial_camera.look_at = (float(center[0]), float(center[1]), 0.0)
            self.initial_camera.position = (float(center[0]) - 0.25 * reach,
                                            float(center[1]) - 0.55 * reach, 0.65 * reach)
            self.initial_camera.up = (0.0, 0.0, 1.0)
            self._keys["camera_home"] = key

    # --- answers -----------------------------------------------------------------------
    def clear_answer(self) -> None:
        with self._lock:
            for handle in self._answer:
                handle.remove()
            self._answer = []

    def show_answer(self, view: AnswerView) -> None:
        """Replace the highlight with ``view``'s: outlined boxes, the distance line with
        its length, the turn arrow."""
        self.clear_answer()
        with self._lock:
            for k, box in enumerate(view.boxes):
                grown = tuple(float(v) * 1.06 + 0.06 for v in box.size_m)
                self._answer.append(self.scene.add_box(
                    f"/answer/box{k}", color=HIGHLIGHT_RGB, dimensions=grown, wireframe=True,
                    position=box.center_m, wxyz=yaw_wxyz(box.yaw_rad), cast_shadow=False))
            if view.segment is not None:
                seg = np.asarray(view.segment, dtype=np.float32).reshape(1, 2, 3)
                self._answer.append(self.scene.add_line_segments(
                    "/answer/distance", seg, HIGHLIGHT_RGB, thickness=0.05))
                self._answer.append(self.scene.add_label(
                    "/answer/distance_label", view.segment_label,
                    position=tuple(float(v) for v in seg[0].mean(axis=0) + [0, 0, 0.1]),
                    anchor="bottom-center", font_screen_scale=1.3))
            if view.arrow is not None:
                arrow = np.asarray(view.arrow, dtype=np.float32).reshape(1, 2, 3)
                self._answer.append(self.scene.add_arrows(
                    "/answer/turn", arrow, HIGHLIGHT_RGB, shaft_radius=0.03,
                    head_radius=0.09, head_length=0.25))
