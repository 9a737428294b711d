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

Topics (ssr_node's own input names, so the two connect without remaps when they share a
namespace; ``--prefix P`` puts them under ``P/``): ``color/image_raw`` (rgb8),
``depth/image_raw`` (16UC1, mm), ``color/camera_info``, ``labels/image_raw`` (16UC1
instance ids) with ``labels/names`` (JSON id -> category, latched) and ``camera_pose``
(geometry_msgs/PoseStamped of the camera optical frame in ``map``, published before the
images of the same stamp). ``--record`` writes the bag's topics under ``/camera`` (or
``--prefix``), like :mod:`ssr_ros.sim.bag`. Stamps are the wall clock at publication, or
with ``--clock`` the sequence's own time, which is then also published on ``/clock``.

A topic that still has no subscriber a few seconds after the start is logged with the
likely fix (:class:`SubscriberWatch`); with ``--tum`` the subscribed node's
``proposal_source`` is read and a warning says when it is not ``boxes``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import dataclasses
from typing import Any, Callable, Iterator

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
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
from ssr_ros.ros import topics
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

    def __init__(self, prefix: str = "", reliable: bool = False, clock: bool = False,
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
        self.pose_pub = self.create_publisher(PoseStamped, base + topics.CAMERA_POSE, QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE))
        self.clock_pub = self.create_publisher(Clock, "/clock", 10) if clock else None
        self._names: dict[int, str] = {}
        self.published = 0
        self.watch = SubscriberWatch(self, {
            topics.COLOR: self.color_pub, topics.DEPTH: self.depth_pub,
            topics.CAMERA_INFO: self.info_pub, topics.CAMERA_POSE: self.pose_pub,
            topics.LABELS: self.labels_pub})

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
        self.watch.poll()


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
        (base + topics.CAMERA_POSE, pose),
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


def recorded_qos(conn) -> QoSProfile:
    """The QoS a rosbag2 connection was recorded with (its first offered profile: history,
    depth, reliability, durability), so /tf_static goes out transient local as its
    broadcaster offered it; topics ending in ``labels/names`` are latched (transient local)
    as the live player does; without a recorded profile: reliable, volatile, depth 10."""
    from rosbags.interfaces import QosDurability, QosHistory, QosReliability

    latched = conn.topic.endswith("labels/names")
    profiles = list(getattr(getattr(conn, "ext", None), "offered_qos_profiles", None) or [])
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)
    if profiles and not isinstance(profiles[0], str):
        rec = profiles[0]
        if rec.history == QosHistory.KEEP_ALL:
            qos.history = HistoryPolicy.KEEP_ALL
        elif int(rec.depth) > 0:
            qos.depth = int(rec.depth)
        if rec.reliability == QosReliability.BEST_EFFORT:
            qos.reliability = ReliabilityPolicy.BEST_EFFORT
        if rec.durability == QosDurability.TRANSIENT_LOCAL:
            qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
    if latched:
        qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
        qos.reliability = ReliabilityPolicy.RELIABLE
    return qos


def _message_type(msgtype: str):
    """The Python class of ``pkg/msg/Name``, or None when it cannot be imported."""
    package, _, name = msgtype.partition("/msg/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError, ValueError):
        return None


def play_bag(node: Node, path: str, rate: float, use_clock: bool,
             wait_subscribers_s: float = 0.0) -> int:
    """Re-publish every message of a rosbag2 as recorded (serialized, recorded stamps),
    each topic with the QoS it was recorded with (:func:`recorded_qos`; /tf_static
    transient local). A topic whose message type cannot be imported here (e.g.
    ``tf2_msgs`` without its interfaces) is skipped with one warning; the others play."""
    from rosbags.rosbag2 import Reader

    count = 0
    with Reader(path) as reader:
        publishers = {}
        for conn in reader.connections:
            msg_type = _message_type(conn.msgtype)
            if msg_type is None:
                node.get_logger().warning(
                    f"skipping {conn.topic}: its type {conn.msgtype} cannot be imported "
                    f"here ({conn.msgcount} messages not played)")
                continue
            publishers[conn.id] = node.create_publisher(msg_type, conn.topic,
                                                        recorded_qos(conn))
        clock_pub = node.create_publisher(Clock, "/clock", 10) if use_clock else None
        deadline = time.monotonic() + wait_subscribers_s
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() for p in publishers.values()):
            time.sleep(0.05)
        if wait_subscribers_s > 0.0:
            time.sleep(min(0.3, wait_subscribers_s))
        start_wall, t0 = None, None
        wanted = [c for c in reader.connections if c.id in publishers]
        for conn, t_ns, raw in reader.messages(connections=wanted):
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


EXAMPLES = """examples:
  ssr-play --seed 3 --frames 300              # node and player in the same namespace
  ssr-play --tum ../shared/data/tum_fr3_cabinet --box-label cabinet --ros-args -r __ns:=/camera"""


# --- Connection checks (issue 15): say so when nothing listens, instead of "published 58
# frames" to nobody. Kept apart from the publishing code above; both only read the graph.

#: node inputs without which ssr_node maps nothing (labels matter for two proposal sources)
REQUIRED_INPUTS = (topics.COLOR, topics.DEPTH, topics.CAMERA_INFO, topics.CAMERA_POSE)
BOXES_SOURCE = "boxes"
#: what the graph reports for a node whose name has not been discovered yet
UNKNOWN_NODE = "_NODE_NAME_UNKNOWN_"


class SubscriberWatch:
    """Warns once per topic when a publisher still has no matched subscriber ``after_s``
    seconds after the watch started, naming the resolved topic and the likely fix.

    ``publishers``: node input name (:mod:`ssr_ros.ros.topics`) -> publisher; inputs
    outside ``required`` are reported at INFO level (ssr_node subscribes to the label
    topics only with the labels or boxes proposal source)."""

    def __init__(self, node: Node, publishers: dict[str, Any], after_s: float = 3.0,
                 required: tuple[str, ...] = REQUIRED_INPUTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._node = node
        self._publishers = publishers
        self._after_s = after_s
        self.required = required
        self._clock = clock
        self._start_s = clock()
        self._checked = False
        self.unheard: list[str] = []

    def poll(self) -> list[str]:
        """Check once the delay has passed (cheap before); returns the topics found without
        a matched subscriber (resolved names). One log line per kind of problem."""
        if self._checked or self._clock() - self._start_s < self._after_s:
            return []
        self._checked = True
        log = self._node.get_logger()
        silent = {node_input: pub.topic_name for node_input, pub in self._publishers.items()
                  if pub.get_subscription_count() == 0}
        mismatched = [t for t in silent.values() if self._node.count_subscribers(t) > 0]
        for topic in mismatched:
            log.warning(f"{topic} has a subscriber with an incompatible QoS: images are best "
                        "effort unless --reliable; ssr_node's sensor_qos_reliability must "
                        "match")
        required = [t for i, t in silent.items() if i in self.required and t not in mismatched]
        optional = [t for i, t in silent.items()
                    if i not in self.required and t not in mismatched]
        if required:
            log.warning(self.advice(required))
        if optional:
            log.info(self.advice(optional) + " (fine unless ssr_node's proposal_source is "
                     "labels or boxes)")
        self.unheard = list(silent.values())
        return self.unheard

    def advice(self, silent_topics: list[str]) -> str:
        """What is wrong with ``silent_topics`` and what to try."""
        return (f"no subscriber on {', '.join(silent_topics)} after {self._after_s:g} s: is "
                f"ssr_node running and active in the namespace {self._node.get_namespace()!r} "
                "(autostart:=true or a lifecycle manager)? Start both in the same namespace "
                "(--ros-args -r __ns:=/NS), or use --prefix to match the node's remaps")


def proposal_sources(node: Node, topic: str, timeout_s: float = 5.0) -> dict[str, str]:
    """``proposal_source`` of every node subscribed to ``topic`` that has that parameter
    (fully qualified node name -> value), read over its ``get_parameters`` service."""
    # an endpoint is discovered before the name of its node: wait for the names
    deadline = time.monotonic() + timeout_s
    infos = node.get_subscriptions_info_by_topic(topic)
    while time.monotonic() < deadline and any(i.node_name == UNKNOWN_NODE for i in infos):
        time.sleep(0.05)
        infos = node.get_subscriptions_info_by_topic(topic)
    out: dict[str, str] = {}
    for info in infos:
        if info.node_name == UNKNOWN_NODE:
            continue
        name = f"{info.node_namespace.rstrip('/')}/{info.node_name}"
        client = node.create_client(GetParameters, f"{name}/get_parameters")
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                continue
            future = client.call_async(GetParameters.Request(names=["proposal_source"]))
            rclpy.spin_until_future_complete(node, future, timeout_sec=timeout_s)
            result = future.result() if future.done() else None
            if (result is not None and result.values
                    and result.values[0].type == ParameterType.PARAMETER_STRING):
                out[name] = result.values[0].string_value
        finally:
            node.destroy_client(client)
    return out


def check_boxes_source(node: Node, color_topic: str, wait_s: float) -> bool:
    """TUM folders give 2D boxes, which ssr_node reads only with ``proposal_source:=boxes``
    (with labels, a box is taken for an instance mask and its object comes out as large
    as the box's frustum). Logs what the subscribed node uses; True when it is boxes."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and node.count_subscribers(color_topic) == 0:
        time.sleep(0.05)
    sources = proposal_sources(node, color_topic)
    log = node.get_logger()
    if not sources:
        log.warning("TUM boxes are published as a label image: start ssr_node with "
                    "proposal_source:=boxes (ssr_node --ros-args -p proposal_source:=boxes); "
                    f"no node on {color_topic} answered with its proposal_source")
        return False
    wrong = {name: value for name, value in sources.items() if value != BOXES_SOURCE}
    for name, value in wrong.items():
        log.warning(f"{name} has proposal_source {value!r}; TUM boxes need "
                    "proposal_source:=boxes (a read-only parameter: restart it with "
                    "--ros-args -p proposal_source:=boxes)")
    if not wrong:
        log.info(f"{', '.join(sources)}: proposal_source boxes, as TUM boxes need")
    return not wrong


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssr-play", description="Publish an RGB-D sequence on the topics ssr_node "
        "subscribes to by default (color/image_raw, depth/image_raw, color/camera_info, "
        "labels/image_raw, labels/names, camera_pose), so the two connect without remaps "
        "when they share a namespace.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seed", type=int,
                        help="sim room seed (one of --seed, --tum, --bag is required)")
    source.add_argument("--tum", metavar="DIR",
                        help="TUM RGB-D key-frame folder; its 2D boxes become a label image "
                        "for the node's boxes source, so run the node with "
                        "proposal_source:=boxes (one of --seed, --tum, --bag is required)")
    source.add_argument("--bag", metavar="DIR",
                        help="rosbag2 folder, re-published as recorded, topic names included "
                        "(one of --seed, --tum, --bag is required)")
    parser.add_argument("--frames", type=int, default=300,
                        help="number of sim frames (default 300)")
    parser.add_argument("--rate", type=float, default=1.0,
                        help="playback speed factor, 1.0 = real time (default 1.0)")
    parser.add_argument("--sim-rate-hz", type=float, default=15.0,
                        help="sim camera frame rate [Hz] (default 15)")
    parser.add_argument("--width", type=int, default=640,
                        help="sim image width [px] (default 640)")
    parser.add_argument("--height", type=int, default=480,
                        help="sim image height [px] (default 480)")
    parser.add_argument("--noise", action="store_true",
                        help="flag: sim sensor noise (default off)")
    parser.add_argument("--clock", action="store_true",
                        help="flag: stamp with sequence time and publish /clock (default off: "
                        "wall-clock stamps)")
    parser.add_argument("--prefix", default="",
                        help="topic prefix, e.g. camera for camera/color/image_raw (default "
                        "none: the node's own names, so a namespace set with --ros-args -r "
                        "__ns:=/NS applies to both)")
    parser.add_argument("--box-label", default="object",
                        help="category of the TUM boxes, e.g. cabinet (default object)")
    parser.add_argument("--reliable", action="store_true",
                        help="flag: publish images reliably (default off: best effort)")
    parser.add_argument("--loop", type=int, default=0, metavar="N",
                        help="keep the first N frames in memory and replay them until "
                             "interrupted, sim/TUM only, for benchmarks (default 0: no loop)")
    parser.add_argument("--record", metavar="DIR",
                        help="write the sim/TUM frames to a new rosbag2 at DIR instead of "
                             "publishing; play it later with --bag DIR (default: publish)")
    parser.add_argument("--wait", type=float, default=5.0,
                        help="wait up to this long for a subscriber before playing [s] "
                        "(default 5)")
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
        count = record_bag(frames, args.record, args.prefix or "camera")
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
            if args.tum:
                node.watch.required = (*REQUIRED_INPUTS, topics.LABELS)
                check_boxes_source(node, node.color_pub.topic_name, args.wait)
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
        unheard = node.watch.unheard if isinstance(node, Player) else []
        node.get_logger().info(f"published {count} frames" + (
            f" ({', '.join(unheard)} had no subscriber)" if unheard else ""))
    except (KeyboardInterrupt, ExternalShutdownException):
        print("ssr-play: interrupted", file=sys.stderr)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0

if __name__ == "__main__":
    sys.exit(main())
