"""Issue 15's first-hour mistakes, each run against ssr_node over DDS: every one must end
within 10 s in a /diagnostics status naming the problem (level and text) and a log line.

Each test starts its own node (its own namespace, ``input_timeout_s`` 1 s so silence is
judged quickly) and, where the row needs it, publishes crafted camera sets from the test
client. Also here: ``ssr_node --help`` and the Fast DDS profile choice of
scripts/env.sh (the multi-host row).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image

from rosutil import REPO, RosClient, _env, camera_pose, namespace, ns_args, valid_set
from ssr_ros.ros import conversions as cv

DEADLINE_S = 10.0
# DiagnosticStatus's levels are bytes constants in rclpy; statuses keep them as ints here
ERROR, WARN, OK = (int.from_bytes(level, "little") for level in (
    DiagnosticStatus.ERROR, DiagnosticStatus.WARN, DiagnosticStatus.OK))


class DiagClient(RosClient):
    """RosClient that also keeps each status's level and message (``_level``,
    ``_message``) and publishes camera sets and poses under a namespace."""

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id == "ssr_node" and \
                    status.name.startswith(self.namespace + "/ssr_node:"):
                values = {kv.key: kv.value for kv in status.values}
                values["_level"] = int.from_bytes(status.level, "little") \
                    if isinstance(status.level, bytes) else int(status.level)
                values["_message"] = status.message
                self.diagnostics.append(values)

    def publishers(self, names: list[str]) -> dict[str, object]:
        types = {"color": Image, "depth": Image, "camera_info": CameraInfo,
                 "labels": Image, "pose": PoseStamped}
        topics = {"color": "color/image_raw", "depth": "depth/image_raw",
                  "camera_info": "color/camera_info", "labels": "labels/image_raw",
                  "pose": "camera_pose"}
        return {n: self.node.create_publisher(types[n], topics[n], 10) for n in names}

    def wait_status(self, predicate, timeout_s: float = DEADLINE_S, tick=None) -> dict:
        """The first status meeting ``predicate``; ``tick()`` is called every ~0.1 s
        (publish the next set)."""
        self.diagnostics.clear()
        found: list[dict] = []
        seen: list[dict] = []
        next_tick = 0.0

        def done() -> bool:
            nonlocal next_tick
            if tick is not None and time.monotonic() >= next_tick:
                tick()
                next_tick = time.monotonic() + 0.1
            found.extend(d for d in self.diagnostics if predicate(d))
            seen[:] = (seen + self.diagnostics)[-2:]
            self.diagnostics.clear()
            return bool(found)

        assert self.spin_until(done, timeout_s), f"no status met the condition: {seen}"
        return found[0]


class Node:
    """ssr_node in a process of its own, autostarted, in namespace ``ns``."""

    def __init__(self, ns: str, log_path: pathlib.Path, params: dict[str, str],
                 extra: list[str] = ()) -> None:
        args = ["-p", "autostart:=true", "-p", "map_path:=''", "-p", "input_timeout_s:=1.0",
                "-p", "diagnostics_period_s:=0.3", "-p", "input_min_rate_hz:=0.0"]
        for key, value in params.items():
            args += ["-p", f"{key}:={value}"]
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ssr_ros.ros.node", "--ros-args", *ns_args(ns), *args,
             *extra], env=_env(), stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def wait_log(self, text: str, timeout_s: float = DEADLINE_S) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not logged:\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


@pytest.fixture
def scenario(tmp_path, request):
    """Start a node and a client in a namespace of this test; stop both after."""
    made: list = []

    def start(params: dict[str, str], sub_ns: str = "", extra: list[str] = ()):
        ns = namespace(request.node.name.replace("test_", "")[:20])
        client = DiagClient(ns=ns)
        node = Node(ns + sub_ns, tmp_path / "node.log", params, list(extra))
        made.extend([node, client])
        return node, client, ns
    yield start
    for thing in made:
        (thing.stop if isinstance(thing, Node) else thing.close)()


def _level(level: int):
    return lambda d: d["_level"] == level


def test_no_remaps_is_an_error_naming_the_topic_and_the_fix(scenario) -> None:
    """A camera publishing under camera/ and a node without remaps."""
    node, client, ns = scenario({"proposal_source": "none", "pose_source": "camera_pose"})
    driver = DiagClient(name="camera_driver", ns=ns + "/camera")
    try:
        pubs = driver.publishers(["color"])
        # the hint names the driver's topic once discovery has seen it
        status = client.wait_status(
            lambda d: d["_level"] == ERROR and f"{ns}/camera/color/image_raw" in d["_message"],
            tick=lambda: (pubs["color"].publish(valid_set(time.time())[0]),
                          driver.executor.spin_once(timeout_sec=0)))
    finally:
        driver.close()
    assert f"-r color/image_raw:={ns}/camera/color/image_raw" in status["_message"], \
        status["_message"]
    assert status["input.color.topic"] == f"{ns}/color/image_raw"
    assert status["input.color.stale_s"] == "never"
    node.wait_log(f"no message on {ns}/color/image_raw")


def test_one_missing_input_is_named(scenario) -> None:
    node, client, ns = scenario({"proposal_source": "none", "pose_source": "camera_pose"})
    pubs = client.publishers(["color", "depth", "pose"])

    def tick() -> None:
        stamp = time.time()
        msgs = valid_set(stamp)
        pubs["color"].publish(msgs[0])
        pubs["depth"].publish(msgs[1])
        pubs["pose"].publish(camera_pose(stamp))

    status = client.wait_status(lambda d: d["_level"] == ERROR and "sync" in d["_message"],
                               tick=tick)
    assert f"camera_info ({ns}/color/camera_info) missing while color, depth arrive" in \
        status["_message"], status["_message"]
    assert float(status["input.color.rate_hz"]) > 0.0  # arriving (rate: load-dependent)
    node.wait_log("sync: no set can be matched")


def test_camera_namespace_pose_wait_names_the_pose_topic(scenario) -> None:
    """Node in <ns>/camera, frames arrive there, the pose is published elsewhere."""
    node, client, ns = scenario({"proposal_source": "none", "pose_source": "camera_pose"},
                                sub_ns="/camera")
    cam = DiagClient(name="camera_driver", ns=ns + "/camera")
    try:
        pubs = cam.publishers(["color", "depth", "camera_info"])
        pose_pub = cam.node.create_publisher(PoseStamped, "pose", 10)  # not camera_pose

        def tick() -> None:
            stamp = time.time()
            for name, msg in zip(("color", "depth", "camera_info"), valid_set(stamp)):
                pubs[name].publish(msg)
            pose_pub.publish(camera_pose(stamp))
            cam.executor.spin_once(timeout_sec=0)

        client.namespace = ns + "/camera"
        # Frames that wait on the pose are named at once (a WARN); the pose topic counts
        # as silent once input_timeout_s has passed without a message on it: from then
        # the same status names both and is an ERROR.
        status = client.wait_status(
            lambda d: f"waiting on {ns}/camera/camera_pose" in d["_message"]
            and f"no message on {ns}/camera/camera_pose" in d["_message"], tick=tick)
    finally:
        cam.close()
    assert status["_level"] == ERROR, status  # the silent pose topic is an ERROR too
    node.wait_log(f"waiting on {ns}/camera/camera_pose")


@pytest.mark.parametrize("encoding,value,text", [
    ("32FC1", np.float32(1500.0), "looks like millimetres in 32FC1"),
    ("16UC1", np.uint16(2), "looks like metres in 16UC1"),
])
def test_depth_units_are_named(scenario, encoding, value, text) -> None:
    node, client, ns = scenario({"proposal_source": "none", "pose_source": "camera_pose"})
    pubs = client.publishers(["color", "depth", "camera_info", "pose"])

    def tick() -> None:
        stamp = time.time()
        msgs = valid_set(stamp)
        depth = np.full((msgs[1].height, msgs[1].width), value)
        msgs[1] = cv.array_to_image(depth, encoding, msgs[0].header.stamp,
                                    msgs[0].header.frame_id)
        for name, msg in zip(("color", "depth", "camera_info"), msgs):
            pubs[name].publish(msg)
        pubs["pose"].publish(camera_pose(stamp))

    status = client.wait_status(lambda d: text in d["_message"], tick=tick)
    assert status["_level"] == WARN
    node.wait_log(text)


def test_one_bad_label_id_at_start_up_warns_then_clears(scenario) -> None:
    node, client, ns = scenario({"proposal_source": "labels", "pose_source": "camera_pose",
                                 "label_names": "['1:chair']"})
    pubs = client.publishers(["color", "depth", "camera_info", "labels", "pose"])
    bad = {"left": 1}

    def tick() -> None:
        stamp = time.time()
        ids = np.zeros((240, 320), np.uint16)
        if bad["left"]:
            ids[100:140, 100:160] = 7  # an id with no category
        msgs = valid_set(stamp, ids)
        for name, msg in zip(("color", "depth", "camera_info", "labels"), msgs):
            pubs[name].publish(msg)
        pubs["pose"].publish(camera_pose(stamp))

    def bad_seen(d: dict) -> bool:
        if d["_level"] == WARN and "inputs dropped" in d["_message"]:
            bad["left"] = 0
            return True
        return False

    # the first frames may be published before the node has subscribed: repeat the bad
    # frame until its WARN shows, then publish only good frames
    client.wait_status(bad_seen, tick=tick)
    status = client.wait_status(_level(OK), tick=tick)
    assert status["_message"] == "running"
    node.wait_log("cleared: inputs dropped")


def test_labels_source_without_a_label_topic_says_so(scenario) -> None:
    node, client, ns = scenario({"proposal_source": "labels", "pose_source": "camera_pose"})
    pubs = client.publishers(["color", "depth", "camera_info", "pose"])

    def tick() -> None:
        stamp = time.time()
        for name, msg in zip(("color", "depth", "camera_info"), valid_set(stamp)):
            pubs[name].publish(msg)
        pubs["pose"].publish(camera_pose(stamp))

    text = "proposal_source labels needs an instance label image"
    missing = f"labels ({ns}/labels/image_raw) missing while color, depth, camera_info arrive"
    status = client.wait_status(lambda d: text in d["_message"] and missing in d["_message"],
                                tick=tick)
    assert status["_level"] == ERROR
    node.wait_log(text)


def test_detector_that_cannot_load_logs_the_reason(scenario, tmp_path) -> None:
    missing = tmp_path / "no_such_detector.pb"
    node, _client, _ns = scenario({"proposal_source": "detector",
                                   "detector_model_path": str(missing)})
    log = node.wait_log("autostart: configure failed:")
    assert "configure failed: DetectorModelError" in log or "Error:" in log, log
    assert str(missing) in log or "no_such_detector" in log, log


def test_help_prints_usage_without_dds() -> None:
    """--help exits 0 quickly; with an impossible domain id any DDS use would fail."""
    env = _env()
    env["ROS_DOMAIN_ID"] = "99999"
    t0 = time.monotonic()
    for flag in ("--help", "-h"):
        out = subprocess.run([sys.executable, "-m", "ssr_ros.ros.node", flag], env=env,
                             capture_output=True, text=True, timeout=DEADLINE_S)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("usage: ssr_node"), out.stdout[:200]
        for text in ("--params-file", "input_timeout_s", "proposal_source",
                     "color/image_raw", "spatial_query"):
            assert text in out.stdout, text
        assert "[INFO]" not in out.stdout + out.stderr
    assert time.monotonic() - t0 < DEADLINE_S


@pytest.mark.parametrize("discovery,profile_expected", [("LOCALHOST", True),
                                                         ("SUBNET", False), ("", True)])
def test_env_applies_the_local_dds_profile_only_for_local_discovery(
        discovery: str, profile_expected: bool) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTDDS_DEFAULT_PROFILES_FILE", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    if discovery:
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = discovery
    out = subprocess.run(["bash", "-c", f". {REPO}/scripts/env.sh && "
                          "echo \"[$ROS_AUTOMATIC_DISCOVERY_RANGE]"
                          "[${FASTDDS_DEFAULT_PROFILES_FILE:-none}]\""],
                         env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    expected_range = discovery or "LOCALHOST"
    profile = "config/fastdds_local.xml" if profile_expected else "[none]"
    assert f"[{expected_range}]" in out.stdout and profile in out.stdout, out.stdout


def test_depth_array_subsamples_both_byte_orders() -> None:
    from ssr_ros.ros.diagnostics import depth_array

    depth = np.arange(12 * 16, dtype=np.uint16).reshape(12, 16)
    msg = cv.array_to_image(depth, "16UC1")
    assert np.array_equal(depth_array(msg, step=4), depth[::4, ::4])
    msg.is_bigendian = 1
    msg.data = depth.astype(">u2").tobytes()
    assert np.array_equal(depth_array(msg, step=4), depth[::4, ::4])
    msg.data = msg.data[:-2]  # malformed: left to the decoder
    assert depth_array(msg) is None


def test_help_flag_is_found_before_ros_args_only() -> None:
    from ssr_ros.ros.node_cli import wants_help

    assert wants_help(["--help"]) and wants_help(["-h"])
    assert not wants_help(["--ros-args", "-p", "a:=1", "-h"])
    assert not wants_help([])


def test_every_failed_transition_keeps_and_logs_its_reason(monkeypatch) -> None:
    """In process: an exception in any transition callback is logged with its type and
    message (rclpy alone would take the error transition silently)."""
    import rclpy
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from ssr_ros.ros.node import SsrNode

    context = rclpy.context.Context()
    rclpy.init(context=context)
    node = SsrNode(context=context, namespace=namespace("transitions"),
                   parameter_overrides=[Parameter("pose_source", value="camera_pose"),
                                        Parameter("map_path", value="")])
    errors: list[str] = []
    logger = node.get_logger()
    monkeypatch.setattr(node, "get_logger", lambda: type("L", (), {
        "error": lambda _self, m: errors.append(m), "info": lambda _self, m: None,
        "warning": lambda _self, m: None})())
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS

        def broken_close() -> None:
            raise RuntimeError("subscription handle already gone")
        monkeypatch.setattr(node.parts.inputs, "close", broken_close)
        assert node.trigger_deactivate() == TransitionCallbackReturn.ERROR
        assert node.last_failure == "RuntimeError: subscription handle already gone"
        assert "deactivate failed: RuntimeError: subscription handle already gone" in errors
        assert any("error transition from" in e and "RuntimeError" in e for e in errors)
        assert node.parts is None  # on_error tore the parts down
    finally:
        monkeypatch.setattr(node, "get_logger", lambda: logger)
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_stop_signals_raise_once_then_only_log(monkeypatch) -> None:
    import signal as sig

    from ssr_ros.ros.node_cli import StopRequested, StopSignals

    lines: list[str] = []
    previous = {s: sig.getsignal(s) for s in (sig.SIGINT, sig.SIGTERM)}
    stops = StopSignals(lines.append, grace_s=30.0, on_timeout=lambda: None)
    try:
        stops.install()
        with pytest.raises(StopRequested):
            os.kill(os.getpid(), sig.SIGTERM)
            time.sleep(1.0)  # the handler runs here
        os.kill(os.getpid(), sig.SIGINT)
        time.sleep(0.05)
        assert lines == ["SIGINT received: already stopping"]
        stops.finished()
    finally:
        for signum, handler in previous.items():
            sig.signal(signum, handler)


def test_a_teardown_that_hangs_is_ended_by_the_watchdog() -> None:
    """A signal during a teardown that never finishes: the process exits after grace_s."""
    code = ("import os, signal, time\n"
            "from ssr_ros.ros.node_cli import StopSignals\n"
            "s = StopSignals(print, 0.3, lambda: print('watchdog', flush=True))\n"
            "s.install(); s.stopping()\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "time.sleep(20)\n")
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                         text=True, timeout=DEADLINE_S)
    assert out.returncode == 1 and "watchdog" in out.stdout, (out.stdout, out.stderr)
    assert time.monotonic() - t0 < 5.0
