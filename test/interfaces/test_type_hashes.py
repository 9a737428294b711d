"""vision_msgs and tf2_msgs as a real ROS 2 Kilted node sees them: type names and hashes.

On the PyPI route `scripts/setup.sh` builds both packages from the upstream definitions in
`interfaces/`; with a ROS distribution the distribution's packages are tested instead.
Either way a peer built against the real packages only matches our endpoints when the
type name and the RIHS01 type hash (REP-2011) agree, so the hashes below are the contract.

How each recorded hash was obtained (2026-12-07):

- ``rosidl``: written by rosidl_generator_type_description of the Kilted wheels into
  ``share/<pkg>/<kind>/<Name>.json`` when `scripts/setup.sh` built `interfaces/`.
- ``rosbags``: computed by rosbags 0.11.9 (``Typestore.hash_rihs01``), an implementation of
  REP-2011 that shares no code with rosidl. For tf2_msgs messages from the definitions in
  rosbags' own ``Stores.ROS2_KILTED`` type store (independent of our files); for vision_msgs
  from the upstream ``.msg`` files (ros-perception/vision_msgs e77fa2d) parsed by rosbags.
  ``test_rosbags_recomputes_the_recorded_hashes`` repeats that computation every run.
- ``field``: the same value reported by real ROS 2 installations, found in public text:
  TFMessage in ``ros2 topic info --verbose /tf`` of a Nav2 robot (every publisher and
  subscriber) and as ``type_description_hash`` in a Jazzy rosbag2 ``metadata.yaml``;
  TF2Error in another ROS 2 client's golden-hash test; LookupTransform in a client's
  "golden Jazzy hashes" captured from ``ros2`` on Jazzy; Detection3D and Detection3DArray
  hard-coded in a third-party ROS 2 client that talks to rclcpp nodes. Kilted and Jazzy
  share these hashes because the definitions did not change (interfaces/*/README.md).

No value for the other vision_msgs types, FrameGraph or the action's parts was found in
public text; for them rosidl and rosbags (messages) are the two independent witnesses.
"""

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")
vision_msgs_msg = pytest.importorskip(
    "vision_msgs.msg", reason="vision_msgs is not built (run `make setup`)")
tf2_msgs_msg = pytest.importorskip(
    "tf2_msgs.msg", reason="tf2_msgs is not built (run `make setup`)")

from ament_index_python.packages import get_package_share_directory  # noqa: E402
from geometry_msgs.msg import TransformStamped  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

HERE = pathlib.Path(__file__).resolve()
REPO = HERE.parents[2]

# type name -> (RIHS01 hash, witnesses that agree on it; see the module docstring)
KILTED_HASHES = {
    "tf2_msgs/msg/TF2Error": (
        "RIHS01_db2485e7d6a0ec75bf087e058ee45df682acc3a621ca7780503d10aac141809a",
        ("rosidl", "rosbags", "field")),
    "tf2_msgs/msg/TFMessage": (
        "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
        ("rosidl", "rosbags", "field")),
    "tf2_msgs/srv/FrameGraph": (
        "RIHS01_0d1fbc6222c018ba5f33822904a2fdd4063705289956d3fdde07cd8c50fe8067",
        ("rosidl",)),
    "tf2_msgs/action/LookupTransform": (
        "RIHS01_0b8adf6bc0b5958879e3265b41a457e03558fe523890a81252c70eba97a82c5d",
        ("rosidl", "field")),
    "vision_msgs/msg/BoundingBox2D": (
        "RIHS01_008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/BoundingBox2DArray": (
        "RIHS01_2464e82838009386d371b523211c21c91d74d313fcdd6788223c531d621cf691",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/BoundingBox3D": (
        "RIHS01_bbb73a65c163d7f9bb29009c7bde9f7faa576bd2d23299c4511d19230dab4698",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/BoundingBox3DArray": (
        "RIHS01_a81938db9576b10c2eecd7c5a5da3eac496efd00221b25ed051dfbc81fb56da6",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/Classification": (
        "RIHS01_f74db28d0eaef3afb78f48bf2161cd709a1383a0309d3454383b25be11345143",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/Detection2D": (
        "RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/Detection2DArray": (
        "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/Detection3D": (
        "RIHS01_ddd703be132ab0b69d33121f1bb034132bfbb3b0ac5f9fb1516005ba1c8a265b",
        ("rosidl", "rosbags", "field")),
    "vision_msgs/msg/Detection3DArray": (
        "RIHS01_793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018",
        ("rosidl", "rosbags", "field")),
    "vision_msgs/msg/LabelInfo": (
        "RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/ObjectHypothesis": (
        "RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "RIHS01_41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/Point2D": (
        "RIHS01_eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/Pose2D": (
        "RIHS01_b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/VisionClass": (
        "RIHS01_1e4a11f0fed50b5623cb8ff26ca0e37952a48a9c074d16f804b44e9164c2037a",
        ("rosidl", "rosbags")),
    "vision_msgs/msg/VisionInfo": (
        "RIHS01_95d3116a17484ad91c9a2686e1d54890bbfc3ff6c6a2de137738c4950d45d284",
        ("rosidl", "rosbags")),
}

PUBLISHER_NODE = "type_hash_publisher"
DETECTIONS_TOPIC = "/type_hash_test/detections"
TF_TOPIC = "/type_hash_test/tf"


def _type_description_file(type_name: str) -> pathlib.Path:
    """The generated type description of ``pkg/kind/Name`` in its package's share dir."""
    package, kind, name = type_name.split("/")
    return pathlib.Path(get_package_share_directory(package)) / kind / f"{name}.json"


def _installed_hash(type_name: str) -> str:
    """The RIHS01 hash rosidl recorded for ``type_name`` when the package was built."""
    path = _type_description_file(type_name)
    assert path.is_file(), f"{path} missing: the package was built without type descriptions"
    entries = json.loads(path.read_text())["type_hashes"]
    own = [e["hash_string"] for e in entries if e["type_name"] == type_name]
    assert len(own) == 1, f"{path} has no hash for {type_name}"
    return own[0]


def test_every_interface_of_both_packages_has_a_recorded_hash():
    """A type added to interfaces/ (or missing from the build) must not go unchecked."""
    built = set()
    for package in ("vision_msgs", "tf2_msgs"):
        share = pathlib.Path(get_package_share_directory(package))
        for kind in ("msg", "srv", "action"):
            built |= {f"{package}/{kind}/{p.stem}" for p in (share / kind).glob("*.json")}
    assert built == set(KILTED_HASHES)


@pytest.mark.parametrize("type_name", sorted(KILTED_HASHES))
def test_built_type_hash_matches_kilted(type_name):
    assert _installed_hash(type_name) == KILTED_HASHES[type_name][0]


def _rosbags_kilted_store():
    """rosbags' Kilted type store plus our vision_msgs definitions (rosbags has none)."""
    typesys = pytest.importorskip("rosbags.typesys")
    store = typesys.get_typestore(typesys.Stores.ROS2_KILTED)
    msg_dir = REPO / "interfaces" / "vision_msgs" / "msg"
    types = {}
    for path in sorted(msg_dir.glob("*.msg")):
        types.update(typesys.get_types_from_msg(path.read_text(), f"vision_msgs/msg/{path.stem}"))
    store.register(types)
    return store


def test_rosbags_recomputes_the_recorded_hashes():
    store = _rosbags_kilted_store()
    # tf2_msgs comes from rosbags' own Kilted definitions, not from interfaces/.
    assert "tf2_msgs/msg/TFMessage" in store.fielddefs
    witnessed = [t for t, (_, who) in KILTED_HASHES.items() if "rosbags" in who]
    assert len(witnessed) == 18  # every message; rosbags does not hash services or actions
    for type_name in witnessed:
        assert store.hash_rihs01(type_name) == KILTED_HASHES[type_name][0], type_name


def test_a_changed_definition_changes_the_hash():
    """The comparison can fail: one field type changed gives another hash."""
    typesys = pytest.importorskip("rosbags.typesys")
    store = typesys.get_typestore(typesys.Stores.ROS2_KILTED)
    drifted = typesys.get_types_from_msg("float32 x\nfloat64 y\n", "vision_msgs/msg/Point2D")
    store.register(drifted)
    assert store.hash_rihs01("vision_msgs/msg/Point2D") != (
        KILTED_HASHES["vision_msgs/msg/Point2D"][0])


# --- over DDS --------------------------------------------------------------------------------

def _sample_detections():
    """Two detections in pixel coordinates of a 640x480 image (frame ``camera_optical``)."""
    from vision_msgs.msg import (BoundingBox2D, Detection2D, Detection2DArray,
                                 ObjectHypothesisWithPose)
    out = Detection2DArray()
    out.header.stamp.sec, out.header.stamp.nanosec = 1_765_000_000, 123_456_789
    out.header.frame_id = "camera_optical"
    for i, (label, score) in enumerate((("chair", 0.91), ("büro-lamp", 0.375))):
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = label, score
        hyp.pose.pose.position.x = 1.5 + i
        hyp.pose.pose.orientation.w = 1.0
        hyp.pose.covariance[0] = hyp.pose.covariance[35] = 0.01 * (i + 1)
        det = Detection2D(header=out.header, results=[hyp], id=f"track-{i}",
                          bbox=BoundingBox2D(size_x=88.0 + i, size_y=140.5))
        det.bbox.center.position.x, det.bbox.center.position.y = 412.25 - 100 * i, 233.0
        det.bbox.center.theta = 0.125 * i
        out.detections.append(det)
    return out


def _sample_tf():
    """map -> odom -> base_link, the REP-105 chain (metres, unit quaternions)."""
    from tf2_msgs.msg import TFMessage
    out = TFMessage()
    for parent, child, x, qz in (("map", "odom", 0.5, 0.0), ("odom", "base_link", 2.25, 0.6)):
        t = TransformStamped()
        t.header.stamp.sec, t.header.stamp.nanosec = 1_765_000_000, 5
        t.header.frame_id, t.child_frame_id = parent, child
        t.transform.translation.x = x
        t.transform.rotation.z, t.transform.rotation.w = qz, (1.0 - qz * qz) ** 0.5
        out.transforms.append(t)
    return out


QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _publish_until_stdin_closes():
    """Child process: its own DDS participant publishing both samples at 10 Hz."""
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection2DArray
    rclpy.init()
    node = rclpy.create_node(PUBLISHER_NODE)
    dets = node.create_publisher(Detection2DArray, DETECTIONS_TOPIC, QOS)
    tf = node.create_publisher(TFMessage, TF_TOPIC, QOS)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("ready", flush=True)
    try:
        while not stop.wait(0.1):
            dets.publish(_sample_detections())
            tf.publish(_sample_tf())
    finally:
        node.destroy_node()
        rclpy.shutdown()


@pytest.fixture
def ros_context():
    context = rclpy.context.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


def _spin_until(executor, predicate, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        if predicate():
            return True
    return False


def test_detections_and_tf_cross_dds_with_kilted_type_names_and_hashes(ros_context):
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection2DArray
    publisher = subprocess.Popen([sys.executable, str(HERE), "--publish"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, env=dict(os.environ), text=True)
    try:
        assert publisher.stdout.readline().strip() == "ready"
        node = Node("type_hash_subscriber", context=ros_context)
        executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
        executor.add_node(node)
        got = {}
        node.create_subscription(Detection2DArray, DETECTIONS_TOPIC,
                                 lambda m: got.setdefault("dets", m), QOS)
        node.create_subscription(TFMessage, TF_TOPIC, lambda m: got.setdefault("tf", m), QOS)
        assert _spin_until(executor, lambda: len(got) == 2, 30.0), f"received only {set(got)}"

        assert got["dets"] == _sample_detections()
        assert got["tf"] == _sample_tf()
        assert got["dets"].detections[1].results[0].hypothesis.class_id == "büro-lamp"
        assert got["tf"].transforms[1].child_frame_id == "base_link"

        # What discovery told this participant about the other process's endpoints: the
        # type name and hash a Kilted peer compares before it matches. The node name comes
        # with the graph information, which may arrive after the first samples.
        for topic, type_name in ((DETECTIONS_TOPIC, "vision_msgs/msg/Detection2DArray"),
                                 (TF_TOPIC, "tf2_msgs/msg/TFMessage")):
            def remote_publishers(topic=topic):
                return [i for i in node.get_publishers_info_by_topic(topic)
                        if i.node_name == PUBLISHER_NODE]
            assert _spin_until(executor, remote_publishers, 20.0), f"{topic}: no publisher"
            remote = remote_publishers()
            assert len(remote) == 1, topic
            assert remote[0].topic_type == type_name
            assert str(remote[0].topic_type_hash) == KILTED_HASHES[type_name][0]
        node.destroy_node()
    finally:
        publisher.stdin.close()
        publisher.wait(timeout=30)



def test_lookup_transform_action_round_trips(ros_context):
    """The action's generated parts (goal, result, the services rclpy builds on) work."""
    from rclpy.action import ActionClient, ActionServer
    from tf2_msgs.action import LookupTransform
    from tf2_msgs.msg import TF2Error

    def execute(goal_handle):
        goal_handle.succeed()
        result = LookupTransform.Result()
        result.transform = _sample_tf().transforms[1]
        result.transform.header.frame_id = goal_handle.request.target_frame
        result.error.error = TF2Error.NO_ERROR
        return result

    node = Node("lookup_transform_test", context=ros_context)
    executor = rclpy.executors.SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    server = ActionServer(node, LookupTransform, "type_hash_test/lookup", execute)
    client = ActionClient(node, LookupTransform, "type_hash_test/lookup")
    assert _spin_until(executor, client.server_is_ready, 20.0), "action server not discovered"
    goal = LookupTransform.Goal(target_frame="odom", source_frame="base_link", advanced=False)
    sent = client.send_goal_async(goal)
    assert _spin_until(executor, sent.done, 20.0) and sent.result().accepted
    result = sent.result().get_result_async()
    assert _spin_until(executor, result.done, 20.0), "no result within 20 s"
    got = result.result().result
    assert got.transform.header.frame_id == "odom"
    assert got.transform.child_frame_id == "base_link"
    assert got.transform.transform.translation.x == 2.25
    assert got.error.error == TF2Error.NO_ERROR
    client.destroy()
    server.destroy()
    node.destroy_node()

if __name__ == "__main__" and sys.argv[1:] == ["--publish"]:
    _publish_until_stdin_closes()
