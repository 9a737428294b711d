"""ssr-play --bag on an ssr-sim bag with /tf and /tf_static (issue 14): every topic goes
out with the QoS it was recorded with (/tf_static transient local, as tf2's static
listener needs), and a topic whose type cannot be imported here is skipped with one
warning while the others still play."""

from __future__ import annotations

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosbags.rosbag2 import Reader  # noqa: E402
from rosutil import run_player  # noqa: E402
from sensor_msgs.msg import CameraInfo  # noqa: E402

from ssr_ros.ros.player import recorded_qos, sim_frames  # noqa: E402
from ssr_ros.ros.pose_source import tf_messages_available  # noqa: E402
from ssr_ros.sim.bag import write_frames  # noqa: E402

FRAMES = 4


@pytest.fixture(scope="module")
def tf_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfbag") / "sim"
    write_frames(sim_frames(2, FRAMES, 160, 120, 10.0), path, tf=True)
    return path


def test_recorded_qos_is_kept(tf_bag) -> None:
    with Reader(tf_bag) as reader:
        qos = {c.topic: recorded_qos(c) for c in reader.connections}
    assert qos["/tf_static"].durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert qos["/tf_static"].reliability == ReliabilityPolicy.RELIABLE
    assert qos["/tf"].durability == DurabilityPolicy.VOLATILE
    assert qos["/camera/labels/names"].durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert qos["/camera/color/image_raw"].depth == 10


def test_a_bag_with_tf_plays(tf_bag, ros_client, tmp_path) -> None:
    infos: list = []
    static: list = []
    subs = [ros_client.node.create_subscription(
        CameraInfo, "/camera/color/camera_info", infos.append,
        QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))]
    if tf_messages_available():
        from tf2_msgs.msg import TFMessage

        # a transient-local subscriber matches only a transient-local publisher (a
        # volatile /tf_static, as the player used to offer, never connects to it)
        subs.append(ros_client.node.create_subscription(
            TFMessage, "/tf_static", static.append,
            QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)))
    log = tmp_path / "play.log"
    try:
        rc = run_player(["--bag", str(tf_bag), "--rate", "5"], log)
        text = log.read_text()
        assert rc == 0, text
        assert ros_client.spin_until(lambda: len(infos) >= 1, 5.0), text
        if not tf_messages_available():
            # one warning per topic it cannot type, none for the others
            for topic in ("/tf", "/tf_static"):
                assert text.count(f"skipping {topic}:") == 1, text
            assert "skipping /camera" not in text
            return
        assert "skipping" not in text, text
        assert ros_client.spin_until(lambda: len(static) >= 1, 5.0)
        assert {t.child_frame_id for t in static[0].transforms} == {
            "camera_color_optical_frame"}
    finally:
        for sub in subs:
            ros_client.node.destroy_subscription(sub)


def test_topics_of_unknown_types_are_skipped_with_one_warning(tf_bag, ros_client,
                                                               monkeypatch) -> None:
    """As on a machine without tf2_msgs: /tf and /tf_static are skipped, one warning
    each, and every other message of the bag is played."""
    from ssr_ros.ros import player

    real = player._message_type
    monkeypatch.setattr(player, "_message_type",
                        lambda t: None if t.startswith("tf2_msgs/") else real(t))
    warnings: list[str] = []

    class Logger:
        def warning(self, text: str) -> None:
            warnings.append(text)

    node = ros_client.node
    monkeypatch.setattr(node, "get_logger", lambda: Logger())
    with Reader(tf_bag) as reader:
        expected = sum(c.msgcount for c in reader.connections
                       if not c.msgtype.startswith("tf2_msgs/"))
    assert player.play_bag(node, str(tf_bag), rate=50.0, use_clock=False) == expected
    assert sorted(w.split(":")[0] for w in warnings) == ["skipping /tf", "skipping /tf_static"]
    assert player._message_type("no_such_msgs/msg/Thing") is None
