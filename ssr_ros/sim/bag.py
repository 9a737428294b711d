"""Export of posed RGB-D frames (a rendered sequence, a TUM folder) as a rosbag2 (MCAP
storage) with standard messages: the project's one bag writer (``ssr-sim`` and
``ssr-play --record`` use it).

Written with ``rosbags`` (pure Python), bag format version 8 (``ros2 bag play`` on
ROS 2 Iron and later). Header stamps and bag times are ``start_ns + stamp_s * 1e9``
(``BAG_START_NS`` by default, a fixed time so the same sequence gives the same bag).

Topics (all images registered to one camera, frame ``camera_color_optical_frame``):

==============================  =========================  ================================
topic                           type                       content
==============================  =========================  ================================
/camera/color/image_raw         sensor_msgs/msg/Image      ``rgb8``, H x W
/camera/depth/image_raw         sensor_msgs/msg/Image      ``16UC1`` depth [mm], 0 = invalid
/camera/labels/image_raw        sensor_msgs/msg/Image      ``mono16`` instance ids, 0 = none
/camera/labels/names            std_msgs/msg/String        JSON ``{"<id>": "<category>"}``
                                                           for every object id (transient
                                                           local, once, at the start)
/camera/color/camera_info       sensor_msgs/msg/CameraInfo K, P = [K | 0], plumb_bob, D = 0
/camera/depth/camera_info       sensor_msgs/msg/CameraInfo same as color (registered depth)
/camera/pose                    geometry_msgs/msg/PoseStamped  pose of the *optical* frame in
                                                           ``map`` (= ``T_map_cam``)
/odom                           nav_msgs/msg/Odometry      ``map`` -> ``camera_link`` pose,
                                                           twist in ``camera_link``
/tf                             tf2_msgs/msg/TFMessage     ``map`` -> ``camera_link``
/tf_static                      tf2_msgs/msg/TFMessage     ``camera_link`` ->
                                                           ``camera_color_optical_frame``
                                                           (transient local, once)
==============================  =========================  ================================

Frames: ``map`` is REP-105 (z up); ``camera_link`` is the REP-103 body frame of the
camera (x forward along the optical axis, y left, z up when the camera is level);
``camera_color_optical_frame`` is REP-103 optical (x right, y down, z forward), with the
same origin as ``camera_link`` and rotation quaternion (x, y, z, w) = (-0.5, 0.5, -0.5,
0.5) from it. Ground truth (objects, questions) goes to a JSON file beside the bag, not
into it.

``/camera/labels/names`` carries what ``ssr-play`` publishes and records on the same
topic for ``ssr_node``'s label-image source: a ``std_msgs/String`` whose ``data`` is a
JSON object mapping each instance id (decimal string key, ascending) to its category,
serialized as ``json.dumps`` does by default (``{"1": "sofa", "2": "chair"}``). It is
offered transient local (depth 1, reliable), like ``/tf_static``, so a node that starts
after ``ros2 bag play`` began still receives it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness,
                                QosReliability, QosTime)
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from ssr_ros.core.camera import depth_to_millimetres
from ssr_ros.core.frames import PosedFrame
from ssr_ros.core.geometry import quaternion_from_rotation
from ssr_ros.sim.sequence import SimFrame, SimSequence

BAG_START_NS = 1_700_000_000 * 1_000_000_000
MAP_FRAME = "map"
CAMERA_LINK_FRAME = "camera_link"
OPTICAL_FRAME = "camera_color_optical_frame"
TOPICS = {
    "color": ("/camera/color/image_raw", "sensor_msgs/msg/Image"),
    "depth": ("/camera/depth/image_raw", "sensor_msgs/msg/Image"),
    "labels": ("/camera/labels/image_raw", "sensor_msgs/msg/Image"),
    "label_names": ("/camera/labels/names", "std_msgs/msg/String"),
    "color_info": ("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo"),
    "depth_info": ("/camera/depth/camera_info", "sensor_msgs/msg/CameraInfo"),
    "pose": ("/camera/pose", "geometry_msgs/msg/PoseStamped"),
    "odom": ("/odom", "nav_msgs/msg/Odometry"),
    "tf": ("/tf", "tf2_msgs/msg/TFMessage"),
    "tf_static": ("/tf_static", "tf2_msgs/msg/TFMessage"),
}
# Columns: the optical frame's axes expressed in camera_link (REP-103).
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
# Published once and offered transient local, so late subscribers still get them.
LATCHED_KEYS = frozenset({"tf_static", "label_names"})


class BagExportError(ValueError):
    """The bag cannot be written (the output path exists, or the sequence is empty)."""


@dataclass
class BagSummary:
    """What was written: the bag directory, message counts per topic, bag time span
    [ns], and the number of frames."""

    path: Path
    message_counts: dict[str, int]
    start_ns: int
    end_ns: int
    frame_count: int


def label_names_json(id_to_category: dict[int, str]) -> str:
    """The ``labels/names`` payload: JSON object {"<id>": "<category>"}, ids ascending.

    Byte-for-byte the format ``ssr-play`` publishes and ``ssr_node`` parses."""
    return json.dumps({str(int(k)): str(v) for k, v in sorted(id_to_category.items())})


def camera_link_pose(T_map_cam: np.ndarray) -> np.ndarray:
    """``T_map_link`` (4, 4) of ``camera_link`` from the optical frame's pose."""
    T = np.eye(4)
    T[:3, :3] = T_map_cam[:3, :3] @ R_LINK_OPTICAL.T
    T[:3, 3] = T_map_cam[:3, 3]
    return T


class _Messages:
    """Builds the typestore's message objects."""

    def __init__(self) -> None:
        self.ts = get_typestore(Stores.ROS2_KILTED)
        self.t = self.ts.types

    def header(self, stamp_ns: int, frame_id: str) -> object:
        time = self.t["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000,
                                                     nanosec=stamp_ns % 1_000_000_000)
        return self.t["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)

    def image(self, stamp_ns: int, array: np.ndarray, encoding: str) -> object:
        height, width = array.shape[:2]
        data = np.ascontiguousarray(array)
        if data.dtype == np.uint16:
            data = data.astype("<u2")
        raw = data.view(np.uint8).reshape(-1)
        return self.t["sensor_msgs/msg/Image"](
            header=self.header(stamp_ns, OPTICAL_FRAME), height=height, width=width,
            encoding=encoding, is_bigendian=0, step=raw.size // height, data=raw)

    def camera_info(self, stamp_ns: int, K: np.ndarray, width: int, height: int) -> object:
        P = np.zeros((3, 4))
        P[:, :3] = K
        roi = self.t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                         width=0, do_rectify=False)
        return self.t["sensor_msgs/msg/CameraInfo"](
            header=self.header(stamp_ns, OPTICAL_FRAME), height=height, width=width,
            distortion_model="plumb_bob", d=np.zeros(5), k=K.reshape(-1).astype(np.float64),
            r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0, binning_y=0, roi=roi)

    def pose(self, T: np.ndarray) -> object:
        q = quaternion_from_rotation(T[:3, :3])
        point = self.t["geometry_msgs/msg/Point"](x=float(T[0, 3]), y=float(T[1, 3]),
                                                  z=float(T[2, 3]))
        quat = self.t["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]),
                                                      z=float(q[2]), w=float(q[3]))
        return self.t["geometry_msgs/msg/Pose"](position=point, orientation=quat)

    def vector(self, v: np.ndarray) -> object:
        return self.t["geometry_msgs/msg/Vector3"](x=float(v[0]), y=float(v[1]),
                                                   z=float(v[2]))

    def transform(self, stamp_ns: int, parent: str, child: str, T: np.ndarray) -> object:
        q = quaternion_from_rotation(T[:3, :3])
        rot = self.t["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]),
                                                     z=float(q[2]), w=float(q[3]))
        tf = self.t["geometry_msgs/msg/Transform"](translation=self.vector(T[:3, 3]),
                                                   rotation=rot)
        return self.t["geometry_msgs/msg/TransformStamped"](
            header=self.header(stamp_ns, parent), child_frame_id=child, transform=tf)

    def tf_message(self, transforms: list) -> object:
        return self.t["tf2_msgs/msg/TFMessage"](transforms=transforms)

    def odometry(self, stamp_ns: int, T_map_link: np.ndarray, linear_mps: np.ndarray,
                 angular_rps: np.ndarray) -> object:
        cov = np.zeros(36)
        pose = self.t["geometry_msgs/msg/PoseWithCovariance"](pose=self.pose(T_map_link),
                                                              covariance=cov)
        twist = self.t["geometry_msgs/msg/Twist"](linear=self.vector(linear_mps),
                                                  angular=self.vector(angular_rps))
        twist_cov = self.t["geometry_msgs/msg/TwistWithCovariance"](twist=twist,
                                                                    covariance=cov.copy())
        return self.t["nav_msgs/msg/Odometry"](header=self.header(stamp_ns, MAP_FRAME),
                                               child_frame_id=CAMERA_LINK_FRAME, pose=pose,
                                               twist=twist_cov)


def _velocity(T_a: np.ndarray, T_b: np.ndarray, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear [m/s] and angular [rad/s] velocity of camera_link in its own frame, by the
    finite difference of the optical-frame poses ``T_a`` -> ``T_b`` taken ``dt_s`` apart
    (zero for a non-positive ``dt_s``)."""
    if not dt_s > 0.0:
        return np.zeros(3), np.zeros(3)
    Ta, Tb = camera_link_pose(T_a), camera_link_pose(T_b)
    linear = Ta[:3, :3].T @ (Tb[:3, 3] - Ta[:3, 3]) / dt_s
    dR = Ta[:3, :3].T @ Tb[:3, :3]
    angle = math.acos(max(-1.0, min(1.0, 0.5 * (np.trace(dR) - 1.0))))
    if angle < 1e-12:
        return linear, np.zeros(3)
    axis = np.array([dR[2, 1] - dR[1, 2], dR[0, 2] - dR[2, 0], dR[1, 0] - dR[0, 1]])
    axis /= 2.0 * math.sin(angle)
    return linear, axis * angle / dt_s


def _qos(durability: QosDurability, depth: int) -> Qos:
    zero = QosTime(sec=0, nsec=0)
    return Qos(history=QosHistory.KEEP_LAST, depth=depth,
               reliability=QosReliability.RELIABLE, durability=durability, deadline=zero,
               lifespan=zero, liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=zero, avoid_ros_namespace_conventions=False)


def topics(prefix: str = "/camera") -> dict[str, tuple[str, str]]:
    """Key -> (topic, message type) with the camera topics under ``prefix`` ("/camera"
    as in :data:`TOPICS`; "camera" gives names relative to the player's namespace)."""
    base = prefix.rstrip("/")
    return {key: (topic.replace("/camera", base, 1) if topic.startswith("/camera/")
                  else topic, msgtype) for key, (topic, msgtype) in TOPICS.items()}


def _pairs(frames: Iterable[PosedFrame]) -> Iterator[tuple[PosedFrame, PosedFrame, PosedFrame]]:
    """(frame, difference start, difference end): the forward difference to the next
    frame, the backward one for the last frame."""
    it = iter(frames)
    current = next(it, None)
    previous = None
    for upcoming in it:
        yield current, current, upcoming
        previous, current = current, upcoming
    if current is not None:
        yield current, (previous if previous is not None else current), current


def write_frames(frames: Iterable[PosedFrame], path: "str | Path", *,
                 prefix: str = "/camera", start_ns: int = BAG_START_NS, tf: bool = True,
                 on_frame: Optional[Callable[[PosedFrame], None]] = None) -> BagSummary:
    """Write posed frames (any source: the simulator, a TUM folder) to the new bag
    directory ``path`` with the topics of the module docstring under ``prefix``; the
    label topics only for frames with ``labels``, the names again whenever they change;
    ``tf=False`` leaves out ``/odom``, ``/tf`` and ``/tf_static`` (a player without
    tf2_msgs and nav_msgs installed can then play the bag). Stamps are ``start_ns`` + each frame's ``stamp_s``. ``on_frame`` sees each frame
    after it is written (progress, previews). Every frame needs its pose."""
    out = Path(path)
    if out.exists():
        raise BagExportError(f"{out} already exists; rosbag2 needs a new directory")
    msgs = _Messages()
    names_of = topics(prefix)
    counts = {topic: 0 for topic, _ in names_of.values()}
    writer = Writer(out, version=8, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    frame_count, end_ns = 0, start_ns
    try:
        conns: dict[str, object] = {}

        def put(key: str, stamp_ns: int, message: object) -> None:
            topic, msgtype = names_of[key]
            if key not in conns:
                qos = _qos(QosDurability.TRANSIENT_LOCAL, 1) if key in LATCHED_KEYS else \
                    _qos(QosDurability.VOLATILE, 10)
                conns[key] = writer.add_connection(topic, msgtype, typestore=msgs.ts,
                                                   offered_qos_profiles=[qos])
            writer.write(conns[key], stamp_ns, msgs.ts.serialize_cdr(message, msgtype))
            counts[topic] += 1

        if tf:
            T_link_opt = np.eye(4)
            T_link_opt[:3, :3] = R_LINK_OPTICAL
            put("tf_static", start_ns, msgs.tf_message(
                [msgs.transform(start_ns, CAMERA_LINK_FRAME, OPTICAL_FRAME, T_link_opt)]))
        names: dict[int, str] = {}
        for frame, a, b in _pairs(frames):
            if frame.T_map_cam is None:
                raise BagExportError(f"the frame at {frame.stamp_s} s has no pose")
            stamp = start_ns + int(round(frame.stamp_s * 1e9))
            end_ns = stamp
            if frame.id_to_category and frame.id_to_category != names:
                names = dict(frame.id_to_category)
                put("label_names", stamp, msgs.t["std_msgs/msg/String"](
                    data=label_names_json(names)))
            if tf:
                T_map_link = camera_link_pose(frame.T_map_cam)
                put("tf", stamp, msgs.tf_message(
                    [msgs.transform(stamp, MAP_FRAME, CAMERA_LINK_FRAME, T_map_link)]))
                linear, angular = _velocity(a.T_map_cam, b.T_map_cam, b.stamp_s - a.stamp_s)
                put("odom", stamp, msgs.odometry(stamp, T_map_link, linear, angular))
            put("pose", stamp, msgs.t["geometry_msgs/msg/PoseStamped"](
                header=msgs.header(stamp, MAP_FRAME), pose=msgs.pose(frame.T_map_cam)))
            K = np.asarray(frame.K, dtype=np.float64)
            put("color_info", stamp, msgs.camera_info(stamp, K, frame.width, frame.height))
            put("depth_info", stamp, msgs.camera_info(stamp, K, frame.width, frame.height))
            put("color", stamp, msgs.image(stamp, frame.rgb, "rgb8"))
            depth_mm = getattr(frame, "depth_mm", None)
            put("depth", stamp, msgs.image(
                stamp, depth_mm if depth_mm is not None else depth_to_millimetres(frame.depth_m),
                "16UC1"))
            if frame.labels is not None:
                put("labels", stamp, msgs.image(
                    stamp, np.asarray(frame.labels).astype(np.uint16, copy=False), "mono16"))
            frame_count += 1
            if on_frame is not None:
                on_frame(frame)
    finally:
        writer.close()
    if frame_count == 0:
        raise BagExportError("there were no frames to write")
    return BagSummary(out, counts, start_ns, end_ns, frame_count)


def write_bag(seq: SimSequence, path: "str | Path", start_ns: int = BAG_START_NS,
              on_frame: Optional[Callable[[SimFrame], None]] = None) -> BagSummary:
    """Render every frame of ``seq`` and write the bag directory ``path`` (must not
    exist) with :func:`write_frames`."""
    if len(seq) == 0:
        raise BagExportError("the sequence has no frames")
    return write_frames(seq, path, start_ns=start_ns, on_frame=on_frame)
