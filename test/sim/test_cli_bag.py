"""``ssr-sim``: the bag it writes reads back with rosbags as standard ROS 2 messages,
the ground truth and preview are written, and bad arguments stop cleanly."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from ssr_ros.sim import make_scene, render_sequence
from ssr_ros.sim.cli import main

SEED, FRAMES, W, H, RATE = 2, 4, 64, 48, 20.0


@pytest.fixture(scope="module")
def sim_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "run"
    rc = main(["--seed", str(SEED), "--out", str(out), "--frames", str(FRAMES),
               "--size", f"{W}x{H}", "--rate", str(RATE), "--noise", "--preview"])
    assert rc == 0
    return out


def _quat_matrix(q):
    x, y, z, w = q.x, q.y, q.z, q.w
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _transform(tf):
    T = np.eye(4)
    T[:3, :3] = _quat_matrix(tf.rotation)
    T[:3, 3] = [tf.translation.x, tf.translation.y, tf.translation.z]
    return T


def test_bag_reads_back_with_standard_types(sim_out):
    expected_types = {
        "/camera/color/image_raw": "sensor_msgs/msg/Image",
        "/camera/depth/image_raw": "sensor_msgs/msg/Image",
        "/camera/labels/image_raw": "sensor_msgs/msg/Image",
        "/camera/labels/names": "std_msgs/msg/String",
        "/camera/color/camera_info": "sensor_msgs/msg/CameraInfo",
        "/camera/depth/camera_info": "sensor_msgs/msg/CameraInfo",
        "/camera/pose": "geometry_msgs/msg/PoseStamped",
        "/odom": "nav_msgs/msg/Odometry",
        "/tf": "tf2_msgs/msg/TFMessage",
        "/tf_static": "tf2_msgs/msg/TFMessage",
    }
    seq = render_sequence(make_scene(SEED), n_frames=FRAMES, width=W, height=H, rate_hz=RATE,
                          noise=True, seed=SEED)
    store = get_typestore(Stores.ROS2_KILTED)
    by_topic: dict = {}
    with Reader(sim_out / "bag") as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == expected_types
        durability = {c.topic: c.ext.offered_qos_profiles[0].durability.name
                      for c in reader.connections}
        assert durability["/tf_static"] == "TRANSIENT_LOCAL"
        assert durability["/camera/labels/names"] == "TRANSIENT_LOCAL"
        assert durability["/camera/labels/image_raw"] == "VOLATILE"
        for conn, stamp_ns, raw in reader.messages():
            by_topic.setdefault(conn.topic, []).append(
                (stamp_ns, store.deserialize_cdr(raw, conn.msgtype)))
    once = ("/tf_static", "/camera/labels/names")
    for topic in expected_types:
        assert len(by_topic[topic]) == (1 if topic in once else FRAMES), topic
    t0 = by_topic["/camera/color/image_raw"][0][0]
    static_tf = by_topic["/tf_static"][0][1].transforms[0]
    assert (static_tf.header.frame_id, static_tf.child_frame_id) == (
        "camera_link", "camera_color_optical_frame")
    T_link_opt = _transform(static_tf.transform)
    for i in range(FRAMES):
        frame = seq.frame(i)
        stamp = t0 + round(i / RATE * 1e9)
        for topic, encoding, array, step in (
                ("/camera/color/image_raw", "rgb8", frame.rgb, 3 * W),
                ("/camera/depth/image_raw", "16UC1", frame.depth_mm, 2 * W),
                ("/camera/labels/image_raw", "mono16", frame.instance_ids, 2 * W)):
            bag_ns, msg = by_topic[topic][i]
            assert bag_ns == stamp
            assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamp
            assert msg.header.frame_id == "camera_color_optical_frame"
            assert (msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian) == (
                encoding, H, W, step, 0)
            decoded = np.frombuffer(msg.data.tobytes(), dtype=array.dtype.newbyteorder("<"))
            assert np.array_equal(decoded.reshape(array.shape), array), topic
        info = by_topic["/camera/color/camera_info"][i][1]
        assert (info.width, info.height, info.distortion_model) == (W, H, "plumb_bob")
        assert np.allclose(info.k.reshape(3, 3), seq.K)
        assert np.allclose(info.p.reshape(3, 4)[:, :3], seq.K)
        pose = by_topic["/camera/pose"][i][1]
        assert pose.header.frame_id == "map"
        T_pose = np.eye(4)
        T_pose[:3, :3] = _quat_matrix(pose.pose.orientation)
        T_pose[:3, 3] = [pose.pose.position.x, pose.pose.position.y, pose.pose.position.z]
        assert np.allclose(T_pose, frame.T_map_cam, atol=1e-9)
        tf = by_topic["/tf"][i][1].transforms[0]
        assert (tf.header.frame_id, tf.child_frame_id) == ("map", "camera_link")
        assert np.allclose(_transform(tf.transform) @ T_link_opt, frame.T_map_cam, atol=1e-9)
        odom = by_topic["/odom"][i][1]
        assert (odom.header.frame_id, odom.child_frame_id) == ("map", "camera_link")
        assert odom.pose.pose.position.x == pytest.approx(frame.T_map_cam[0, 3])


def _label_names_and_ids(bag_dir):
    """(bag time, decoded JSON payload) of the label-name messages, the first image's bag
    time, and every instance id that occurs in the label images."""
    store = get_typestore(Stores.ROS2_KILTED)
    names, ids, first_image_ns = [], set(), None
    with Reader(bag_dir) as reader:
        for conn, stamp_ns, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if conn.topic == "/camera/labels/names":
                names.append((stamp_ns, msg.data))
            elif conn.topic == "/camera/labels/image_raw":
                first_image_ns = stamp_ns if first_image_ns is None else first_image_ns
                labels = np.frombuffer(msg.data.tobytes(), dtype="<u2")
                ids.update(int(i) for i in np.unique(labels) if i)
    return names, ids, first_image_ns


def test_label_names_map_every_labelled_id_to_its_category(sim_out):
    names, ids, first_image_ns = _label_names_and_ids(sim_out / "bag")
    assert len(names) == 1
    stamp_ns, payload = names[0]
    assert stamp_ns <= first_image_ns
    decoded = json.loads(payload)
    scene = make_scene(SEED)
    categories = {str(o.id): o.category for o in scene.objects}
    assert decoded == categories
    assert ids, "the label images show no object"
    assert all(decoded[str(i)] == categories[str(i)] for i in ids)


def test_label_names_payload_is_what_the_node_reads(sim_out):
    pytest.importorskip("rclpy", reason="ROS 2 Python packages (rclpy) not installed")
    from ssr_ros.ros import frames
    (_, payload), = _label_names_and_ids(sim_out / "bag")[0]
    scene = make_scene(SEED)
    expected = {o.id: o.category for o in scene.objects}
    assert frames.parse_label_names_json(payload) == expected
    # same bytes as ssr-play publishes and records for this room
    assert payload == frames.label_names_json(expected)


def test_ground_truth_and_preview(sim_out):
    data = json.loads((sim_out / "ground_truth.json").read_text())
    scene = make_scene(SEED)
    assert data["scene"] == json.loads(json.dumps(scene.to_dict()))
    assert data["sequence"]["n_frames"] == FRAMES
    assert data["sequence"]["width"] == W and data["sequence"]["height"] == H
    assert np.allclose(data["sequence"]["K"], render_sequence(
        scene, n_frames=1, width=W, height=H).K)
    assert data["questions"] and all(q["text"] and "answer" in q for q in data["questions"])
    assert data["bag"]["topics"]["/camera/depth/image_raw"]["count"] == FRAMES
    assert data["bag"]["topics"]["/camera/labels/names"] == {"type": "std_msgs/msg/String",
                                                             "count": 1}
    png = (sim_out / "preview.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


@pytest.mark.parametrize("args, message", [
    (["--frames", "0"], "--frames"),
    (["--frames", "-5"], "--frames"),
    (["--size", "0x480"], "--size"),
    (["--size", "640"], "--size"),
    (["--size", "axb"], "--size"),
    (["--seed", "-1"], "--seed"),
    (["--rate", "0"], "--rate"),
    (["--categories", "sofa,unicorn"], "unicorn"),
    (["--categories", "cup"], "only 0 objects"),
])
def test_bad_arguments_exit_with_a_message(tmp_path, capsys, args, message):
    base = {"--seed": "1", "--out": str(tmp_path / "x")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_existing_bag_is_not_overwritten(sim_out, capsys):
    before = sorted(p.name for p in (sim_out / "bag").iterdir())
    with pytest.raises(SystemExit) as exc:
        main(["--seed", "1", "--out", str(sim_out), "--frames", "2", "--size", "32x24"])
    assert exc.value.code == 2
    assert "already exists" in capsys.readouterr().err
    assert sorted(p.name for p in (sim_out / "bag").iterdir()) == before


def test_command_line_process_reports_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ssr_ros.sim.cli", "--seed", "1", "--out",
                           str(tmp_path / "o"), "--size", "0x0"],
                          capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2
    assert "--size" in proc.stderr and "Traceback" not in proc.stderr


def test_same_arguments_write_the_same_bytes(sim_out, tmp_path):
    again = tmp_path / "again"
    assert main(["--seed", str(SEED), "--out", str(again), "--frames", str(FRAMES), "--size",
                 f"{W}x{H}", "--rate", str(RATE), "--noise", "--preview"]) == 0
    for name in ("bag/bag.mcap", "bag/metadata.yaml", "ground_truth.json", "preview.png"):
        assert (again / name).read_bytes() == (sim_out / name).read_bytes(), name


def test_no_bag_writes_no_bag_and_does_not_claim_rendered_frames(tmp_path, capsys):
    out = tmp_path / "nobag"
    assert main(["--seed", "1", "--out", str(out), "--frames", "3", "--size", "32x24",
                 "--no-bag"]) == 0
    line = capsys.readouterr().out
    assert not (out / "bag").exists() and (out / "ground_truth.json").exists()
    assert "no bag" in line and "rendered" not in line
    assert json.loads((out / "ground_truth.json").read_text())["bag"] is None


def test_questions_per_task_help_explains_the_per_variant_cap(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "rel_direction gets this many per variant" in help_text
    assert "robot per subtype" in help_text
