"""Detections in over DDS (issue 14): a publisher of vision_msgs/Detection2DArray (the
ground-truth boxes of sim rooms with detector-like jitter and false positives, numeric
class ids named by a transient-local LabelInfo) beside colour, depth, camera_info and
camera poses; ssr_node with ``proposal_source: detections`` maps the room.

Asserted: over DDS, the rooms of ``SEEDS`` together are mapped with object recall
>= 0.9 and median centre error <= 0.05 m (``ssr-eval``'s matching), the issue's
acceptance figures; and per room, DDS and synchronisation lose nothing the node's input
path maps in this process (``detections_feed.map_sim_room``). The seeds were fixed
before any run and never tuned on (box lifting was developed on seeds 400-449). Each room
is one lap at ``ssr-eval``'s rate and frame count, 640x480: at 320x240 cups and bottles
cover too few pixels (label images miss them too), and in 120 frames (part of a lap)
label images themselves reach recall 0.91 on seeds 913/917.
"""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
pytest.importorskip("vision_msgs.msg", reason="vision_msgs interfaces are not built "
                    "(interfaces/vision_msgs)")

from lifecycle_msgs.msg import Transition  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosutil import LATCHED, NodeProcess, RosClient, namespace  # noqa: E402
from vision_msgs.msg import Detection2DArray, LabelInfo  # noqa: E402

import detections_feed as feed  # noqa: E402
from ssr_ros.eval.run import (MAX_AUTO_FRAMES, MIN_AUTO_FRAMES, RATE_HZ,  # noqa: E402
                              score_map)
from ssr_ros.ros import topics  # noqa: E402
from ssr_ros.ros.topics import DETECTIONS, DETECTIONS_LABEL_INFO  # noqa: E402

SEEDS = (931, 937)
WIDTH, HEIGHT = 640, 480
MIN_RECALL, MAX_MEDIAN_CENTRE_M = 0.9, 0.05
# publication pace [Hz]: the node maps every frame on this machine's shared cores
PUBLISH_HZ = 6.0


def _lap(scene) -> int:
    """Frames of one lap of the room, as ``ssr-eval`` renders it (at its rate)."""
    from ssr_ros.sim import lap_frames

    return min(max(lap_frames(scene, rate_hz=RATE_HZ), MIN_AUTO_FRAMES), MAX_AUTO_FRAMES)


def _score(graph, scene, seq) -> dict:
    predicted = [SimpleNamespace(label=o.label, center_m=np.array(
        [o.position.x, o.position.y, o.position.z]), size_m=np.array(
        [o.size.x, o.size.y, o.size.z])) for o in graph.objects]
    seen = set(seq.first_seen)
    scored = score_map(predicted, [o for o in scene.objects if o.id in seen],
                       unseen=[o for o in scene.objects if o.id not in seen])
    centre = scored["centre_errors_m"]
    return {"recall": scored["n_matched"] / max(1, scored["n_gt"]),
            "median_centre_m": float(np.median(centre)) if centre else math.nan,
            "n_gt": scored["n_gt"], "n_matched": scored["n_matched"],
            "centre_errors_m": list(centre)}


def _map_over_dds(seed: int, tmp_path) -> dict:
    """Publish the room of ``seed`` to a fresh ssr_node and score its scene graph."""
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import CameraInfo, Image

    from ssr_ros.sim import make_scene, render_sequence

    ns = namespace(f"det{seed}")
    node = NodeProcess(tmp_path / f"map{seed}.json", tmp_path / f"node{seed}.log", ns=ns,
                       extra=["-p", "proposal_source:=detections",
                              "-p", "camera_frame:=camera_color_optical_frame",
                              "-p", "diagnostics_period_s:=0.25",
                              "-p", "sensor_qos_reliability:=reliable",
                              "-p", "sync_slop_s:=0.01"])
    client = RosClient(ns=ns)
    try:
        assert client.transition(Transition.TRANSITION_CONFIGURE), node.log()
        assert client.transition(Transition.TRANSITION_ACTIVATE), node.log()
        scene = make_scene(seed)
        seq = render_sequence(scene, n_frames=_lap(scene), width=WIDTH, height=HEIGHT,
                              rate_hz=RATE_HZ, seed=seed)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pubs = {"pose": client.node.create_publisher(PoseStamped, topics.CAMERA_POSE, 50),
                "color": client.node.create_publisher(Image, topics.COLOR, reliable),
                "depth": client.node.create_publisher(Image, topics.DEPTH, reliable),
                "camera_info": client.node.create_publisher(CameraInfo, topics.CAMERA_INFO,
                                                            reliable),
                "detections": client.node.create_publisher(Detection2DArray, DETECTIONS,
                                                           reliable)}
        label_pub = client.node.create_publisher(LabelInfo, DETECTIONS_LABEL_INFO, LATCHED)
        assert client.spin_until(lambda: all(p.get_subscription_count()
                                             for p in pubs.values()), 10.0), node.log()
        names = {i: n for n, i in feed.category_ids(scene).items()}
        label_pub.publish(feed.label_info(names))
        rng = np.random.default_rng(seed)
        t0 = time.time() - len(seq) / RATE_HZ  # stamps in the recent past of the clock
        for i in range(len(seq)):
            msgs = feed.detection_messages(seq.frame(i), scene, t0 + i / RATE_HZ, rng)
            for key in ("pose", "color", "depth", "camera_info", "detections"):
                pubs[key].publish(msgs[key])
            client.spin_until(lambda: False, 1.0 / PUBLISH_HZ)
        diag = client.settled_diagnostics()
        graph = client.late_scene_graph(predicate=lambda g: len(g.objects) > 0)
        assert graph is not None, node.log()
        assert not [k for k in diag if k.startswith("invalid.")], diag
        assert int(diag.get("received.label_info", 0)) >= 1, diag
        assert node.alive()
        return {**_score(graph, scene, seq), "frames": diag.get("frames.processed"),
                "published": len(seq)}
    finally:
        client.close()
        node.stop()


def test_detections_over_dds_map_the_rooms(tmp_path) -> None:
    errors: list[float] = []
    n_gt = n_matched = 0
    from ssr_ros.sim import make_scene

    for seed in SEEDS:
        over_dds = _map_over_dds(seed, tmp_path)
        in_process = feed.map_sim_room(seed, n_frames=_lap(make_scene(seed)), width=WIDTH,
                                       height=HEIGHT, rate_hz=RATE_HZ)
        print(f"seed {seed}: over DDS recall {over_dds['recall']:.3f} median "
              f"{over_dds['median_centre_m']:.3f} m ({over_dds['n_matched']}/"
              f"{over_dds['n_gt']}, frames {over_dds['frames']}/{over_dds['published']}), "
              f"in process "
              f"{in_process['recall']:.3f} / {in_process['median_centre_m']:.3f} m")
        # DDS and the synchroniser lose nothing the input path maps (a frame dropped by
        # the newest-wins hand-off may cost one small object)
        assert over_dds["recall"] >= in_process["recall"] - 0.05, (over_dds, in_process)
        assert over_dds["median_centre_m"] <= in_process["median_centre_m"] + 0.01, \
            (over_dds, in_process)
        errors += over_dds["centre_errors_m"]
        n_gt += over_dds["n_gt"]
        n_matched += over_dds["n_matched"]
    recall, median = n_matched / max(1, n_gt), float(np.median(errors))
    print(f"seeds {SEEDS} over DDS: recall {recall:.3f} ({n_matched}/{n_gt}), median "
          f"centre error {median:.3f} m")
    assert recall >= MIN_RECALL, (recall, n_matched, n_gt)
    assert median <= MAX_MEDIAN_CENTRE_M, median
