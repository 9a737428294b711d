"""``ssr-play``: publish an RGB-D sequence on the standard camera topics, so ssr_node runs
on real topics with no camera.

Sources:
  ``--seed N``   a procedural sim room (``ssr_ros.sim``), rendered frame by frame;
  ``--tum DIR``  a TUM RGB-D key-frame folder (e.g. ``../shared/data/tum_fr3_cabinet``),
                 its 2D boxes drawn as a label image for the node's ``boxes`` source;
  ``--bag DIR``  a rosbag2 (sqlite3 or MCAP, read with ``rosbags``): every message is
                 re-published as recorded (serialized CDR, recorded stamps).
``--record DIR`` writes the sim or TUM frames to a rosbag2 instead of publishing them (the
demo caches its room that way; any ROS 2 install can ``ros2 bag play`` it).

Topics (under ``--prefix``, default ``camera``): ``color/image_raw`` (rgb8),
``depth/image_raw`` (16UC1, mm), ``color/camera_info``, ``labels/image_raw`` (16UC1
instance ids) with ``labels/names`` (JSON id -> category, latched) and ``pose``
(geometry_msgs/PoseStamped of the camera optical frame in ``map``, published before the
images of the same stamp). Stamps are the wall clock at publication, or with ``--clock``
the sequence's own time, which is then also published on ``/clock``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import dataclasses
from typing import Any, Iterator

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String

from ssr_ros.core.camera import depth_to_millimetres
from ssr_ros.core.frames import PosedFrame
from ssr_ros.ros.conversions import (array_to_image, intrinsics_to_camera_info,
                                     matrix_to_pose, s_to_stamp)
from ssr_ros.ros.frames import label_names_json

CAMERA_FRAME = "camera_color_optical_frame"


def sim_frames(seed: int, n_frames: int, width: int, height: int, rate_hz: float,
               noise: bool = False) -> Iterator[PosedFrame]:
    """Frames of the sim room of ``seed`` (rendered lazily), labelled with instance ids."""
    from ssr_ros.sim import make_scene, render_sequence

    scene = make_scene(seed)
    yield from render_sequence(scene, n_frames=n_frames, width=width, height=height,
                               rate_hz=rate_hz, noise=noise, seed=seed)


def tum_frames(folder: str, box_label: str) -> Iterator[PosedFrame]:
    """Frames of a TUM key-frame folder; boxes become filled rectangles of ids 1.. named
    ``box_label`` (the node's ``boxes`` source reads them back as boxes)."""
    from ssr_ros.perception.tum import read_tum_folder

    for frame in read_tum_folder(folder, box_label=box_label):
        labels = np.zeros(frame.depth_m.shape, dtype=np.uint16)
        names: dict[int, str] = {}
        h, w = labels.shape
        for i, box in enumerate(frame.boxes, start=1):
            x0, y0, x1, y1 = box.clipped(w, h)
            labels[y0:y1, x0:x1] = i
            names[i] = box.label or box_label
        yield dataclasses.replace(frame, labels=labels, id_to_category=names)


class Player(Node):
    """Publishes posed frames on the camera topics."""

    def __init__(self, prefix: str = "camera", reliable: bool = False, clock: bool = False,
                 map_frame: str = "map", **kwargs: Any) -> None:
        super().__init__("ssr_player", **kwargs)
        base = f"{prefix}/" if prefix else ""
        qos = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                         reliability=(ReliabilityPolicy.RELIABLE if reliable
                                      else ReliabilityPolicy.BEST_EFFORT))
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.map_frame = map_frame
        self.color_pub = self.create_publisher(Image, base + "color/image_raw", qos)
        self.depth_pub = self.create_publisher(Image, base + "depth/image_raw", qos)
        self.info_pub = self.create_publisher(CameraInfo, base + "color/camera_info", qos)
        self.labels_pub = self.create_publisher(Image, base + "labels/image_raw", qos)
        self.names_pub = self.create_publisher(String, base + "labels/names", latched)
        self.pose_pub = self.create_publisher(PoseStamped, base + "pose", QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE))
        self.clock_pub = self.create_publisher(Clock, "/clock", 10) if clock else None
        self._names: dict[int, str] = {}
        self.published = 0

    def publish_clock(self, t_s: float) -> None:
        if self.clock_pub is not None:
            self.clock_pub.publish(Clock(clock=s_to_stamp(t_s)))

    def publish_frame(self, frame: PosedFrame, stamp: Time) -> None:
        """Pose first (so the node finds it), then colour, depth, camera_info, labels."""
        if frame.id_to_category and frame.id_to_category != self._names:
            self._names = dict(frame.id_to_category)
            self.names_pub.publish(String(data=label_names_json(self._names)))
        publishers = [self.pose_pub, self.color_pub, self.depth_pub, self.info_pub,
                      self.labels_pub]
        for pub, (_, msg) in zip(publishers, frame_messages(frame, stamp, "",
                                                            self.map_frame)):
            pub.publish(msg)
        self.published += 1


def play(player: Player, frames: Iterator[PosedFrame], rate: float, use_clock: bool,
         loop_frames: list[PosedFrame] | None = None, wait_subscribers_s: float = 0.0) -> int:
    """Publish ``frames`` paced by their sequence time divided by ``rate``; returns the
    number published. With ``loop_frames``, those frames are played again and again
    (sequence time keeps increasing) until interrupted."""
    deadline = time.monotonic() + wait_subscribers_s
    while time.monotonic() < deadline and (player.color_pub.get_subscription_count() == 0
                                           or player.pose_pub.get_subscription_count() == 0):
        time.sleep(0.05)
    if wait_subscribers_s > 0.0:
        # discovery of the remaining endpoints of the same node completes shortly after
        time.sleep(min(0.3, wait_subscribers_s))
    start_wall = None
    t0 = None
    offset = 0.0

    def source() -> Iterator[PosedFrame]:
        nonlocal offset
        yield from frames
        if loop_frames:
            span = loop_frames[-1].stamp_s - loop_frames[0].stamp_s
            step = span / max(len(loop_frames) - 1, 1)
            while True:
                offset += span + step
                yield from loop_frames

    for frame in source():
        if not player.context.ok():
            break
        t_seq = frame.stamp_s + offset
        if start_wall is None:
            start_wall, t0 = time.monotonic(), t_seq
        due = start_wall + (t_seq - t0) / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if not player.context.ok():
            break
        if use_clock:
            player.publish_clock(t_seq)
            stamp = s_to_stamp(t_seq)
        else:
            stamp = player.get_clock().now().to_msg()
        player.publish_frame(frame, stamp)
    return player.published


def frame_messages(frame: PosedFrame, stamp: Time, prefix: str = "camera",
                   map_frame: str = "map") -> list[tuple[str, Any]]:
    """(topic, message) pairs of one frame, in publication order (pose first)."""
    base = f"{prefix}/" if prefix else ""
    pose = PoseStamped()
    pose.header.stamp = stamp
    pose.header.frame_id = map_frame
    pose.pose = matrix_to_pose(frame.T_map_cam)
    h, w = frame.depth_m.shape
    out: list[tuple[str, Any]] = [
        (base + "pose", pose),
        (base + "color/image_raw", array_to_image(np.ascontiguousarray(frame.rgb), "rgb8",
                                                  stamp, CAMERA_FRAME)),
        (base + "depth/image_raw", array_to_image(depth_to_millimetres(frame.depth_m),
                                                  "16UC1", stamp, CAMERA_FRAME)),
        (base + "color/camera_info", intrinsics_to_camera_info(frame.K, w, h, stamp,
                                                               CAMERA_FRAME)),
    ]
    if frame.labels is not None:
        labels = frame.labels.astype(np.uint16, copy=False)
        out.append((base + "labels/image_raw", array_to_image(labels, "16UC1", stamp,
                                                              CAMERA_FRAME)))
    return out


def record_bag(frames: Iterator[PosedFrame], path: str, prefix: str = "camera") -> int:
    """Write ``frames`` to a new rosbag2 at ``path`` with their sequence stamps, with the
    project's one bag writer (:func:`ssr_ros.sim.bag.write_frames`: MCAP, the camera
    topics under ``prefix``, no TF); returns the number of frames."""
    from ssr_ros.sim.bag import write_frames

    return write_frames(frames, path, prefix=prefix, start_ns=0, tf=False).frame_count


def play_bag(node: Node, path: str, rate: float, use_clock: bool,
             wait_subscribers_s: float = 0.0) -> int:
    """Re-publish every message of a rosbag2 as recorded (serialized, recorded stamps).

    Topics ending in ``labels/names`` are published latched (transient local), like the
    live player does."""
    from rosbags.rosbag2 import Reader

    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    count = 0
    with Reader(path) as reader:
        publishers = {}
        for conn in reader.connections:
            package, _, name = conn.msgtype.split("/")
            msg_type = getattr(importlib.import_module(f"{package}.msg"), name)
            qos = latched if conn.topic.endswith("labels/names") else 10
            publishers[conn.id] = node.create_publisher(msg_type, conn.topic, qos)
        clock_pub = node.create_publisher(Clock, "/clock", 10) if use_clock else None
        deadline = time.monotonic() + wait_subscribers_s
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() for p in publishers.values()):
            time.sleep(0.05)
        if wait_subscribers_s > 0.0:
            time.sleep(min(0.3, wait_subscribers_s))
        start_wall, t0 = None, None
        for conn, t_ns, raw in reader.messages():
            if start_wall is None:
                start_wall, t0 = time.monotonic(), t_ns
            delay = start_wall + (t_ns - t0) * 1e-9 / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if clock_pub is not None:
                clock_pub.publish(Clock(clock=s_to_stamp(t_ns * 1e-9)))
            if not node.context.ok():
                break
            publishers[conn.id].publish(bytes(raw))
            count += 1
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssr-play", description="Publish an RGB-D sequence on the camera topics.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seed", type=int, help="sim room seed")
    source.add_argument("--tum", metavar="DIR", help="TUM RGB-D key-frame folder")
    source.add_argument("--bag", metavar="DIR", help="rosbag2 folder")
    parser.add_argument("--frames", type=int, default=300, help="sim frames (default 300)")
    parser.add_argument("--rate", type=float, default=1.0,
                        help="playback speed factor (1.0 = real time)")
    parser.add_argument("--sim-rate-hz", type=float, default=15.0,
                        help="sim camera frame rate [Hz] (default 15)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--noise", action="store_true", help="sim sensor noise")
    parser.add_argument("--clock", action="store_true",
                        help="stamp with sequence time and publish /clock")
    parser.add_argument("--prefix", default="camera", help="topic prefix (default camera)")
    parser.add_argument("--box-label", default="object",
                        help="category of TUM boxes (e.g. cabinet)")
    parser.add_argument("--reliable", action="store_true",
                        help="publish images reliably (default best effort)")
    parser.add_argument("--loop", type=int, default=0, metavar="N",
                        help="keep the first N frames in memory and replay them until "
                             "interrupted (sim/TUM; for benchmarks)")
    parser.add_argument("--record", metavar="DIR",
                        help="write the sim/TUM frames to a new rosbag2 at DIR instead of "
                             "publishing (play it later with --bag DIR)")
    parser.add_argument("--wait", type=float, default=5.0,
                        help="wait up to this long for a subscriber before playing [s]")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else [sys.argv[0], *argv])
    args = build_parser().parse_args(remove_ros_args(argv)[1:])
    if args.rate <= 0:
        print("ssr-play: --rate must be > 0", file=sys.stderr)
        return 2
    if args.record:
        if args.bag:
            print("ssr-play: --record needs --seed or --tum", file=sys.stderr)
            return 2
        frames = (sim_frames(args.seed, args.frames, args.width, args.height,
                             args.sim_rate_hz, args.noise) if args.seed is not None
                  else tum_frames(args.tum, args.box_label))
        count = record_bag(frames, args.record, args.prefix)
        print(f"ssr-play: wrote {count} frames to {args.record}")
        return 0
    rclpy.init(args=argv)
    node: Node | None = None
    count = 0
    try:
        if args.bag:
            node = Node("ssr_player")
            count = play_bag(node, args.bag, args.rate, args.clock, args.wait)
        else:
            node = Player(prefix=args.prefix, reliable=args.reliable, clock=args.clock)
            if args.seed is not None:
                frames = sim_frames(args.seed, args.frames, args.width, args.height,
                                    args.sim_rate_hz, args.noise)
            else:
                frames = tum_frames(args.tum, args.box_label)
            loop_frames = None
            if args.loop > 0:
                loop_frames = [f for _, f in zip(range(args.loop), frames)]
                frames = iter(loop_frames)
            count = play(node, frames, args.rate, args.clock, loop_frames, args.wait)
        # let reliable and latched messages reach their subscribers before exiting
        time.sleep(0.5)
        node.get_logger().info(f"published {count} frames")
    except (KeyboardInterrupt, ExternalShutdownException):
        print("ssr-play: interrupted", file=sys.stderr)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0

if __name__ == "__main__":
    sys.exit(main())
