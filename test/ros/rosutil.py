"""Test helpers: ssr_node and ssr-play as subprocesses, and an in-test rclpy client."""

from __future__ import annotations

import os
import pathlib
import random
import subprocess
import sys
import time
from typing import Any, Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_srvs.srv import Trigger

from procutil import ChildProcess, child_env
from ssr_ros.msg import SceneGraph
from ssr_ros.ros import conversions as cv
from ssr_ros.ros.ask import send_with_resends
from ssr_ros.ros.topics import sim_remaps
from ssr_ros.srv import SpatialQuery

REPO = pathlib.Path(__file__).resolve().parents[2]
DEMO_PARAMS = REPO / "config" / "demo.yaml"
# Every graph name of this test run lives under its own namespace, so a concurrent run
# that happens to draw the same ROS_DOMAIN_ID cannot answer our calls (/diagnostics is
# absolute: it is filtered by the node's fully qualified name).
NAMESPACE = f"/ssr_test_{os.getpid()}_{random.SystemRandom().randrange(16**6):06x}"
NS_ARGS = ["-r", f"__ns:={NAMESPACE}"]


def namespace(suffix: str) -> str:
    """A namespace of this run for a test that needs a node of its own (a second ssr_node
    in :data:`NAMESPACE` would serve the same services as the module's node)."""
    return f"{NAMESPACE}_{suffix}"


def ns_args(ns: str = NAMESPACE) -> list[str]:
    return ["-r", f"__ns:={ns}"]
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Crafted camera frames (the e2e and in-process node tests).
FRAME_ID = "camera_color_optical_frame"
WIDTH, HEIGHT = 320, 240
K_TEST = np.array([[250.0, 0, WIDTH / 2], [0, 250.0, HEIGHT / 2], [0, 0, 1]])


def valid_set(stamp_s: float, label_ids: np.ndarray | None = None,
              dist: tuple[float, ...] = ()) -> list:
    """A consistent colour, depth, camera_info, labels set (grey wall at 1.5 m);
    ``dist``: plumb-bob D of the camera_info (empty = rectified)."""
    stamp = cv.s_to_stamp(stamp_s)
    ids = np.zeros((HEIGHT, WIDTH), np.uint16) if label_ids is None else label_ids
    info = cv.intrinsics_to_camera_info(K_TEST, WIDTH, HEIGHT, stamp, FRAME_ID,
                                        D=np.asarray(dist) if dist else None)
    return [cv.array_to_image(np.full((HEIGHT, WIDTH, 3), 128, np.uint8), "rgb8", stamp,
                              FRAME_ID),
            cv.array_to_image(np.full((HEIGHT, WIDTH), 1500, np.uint16), "16UC1", stamp,
                              FRAME_ID),
            info,
            cv.array_to_image(ids, "16UC1", stamp, FRAME_ID)]


def camera_pose(stamp_s: float, x_m: float = 100.0) -> PoseStamped:
    """A camera pose in ``map``, far from the room (nothing mapped is in view), looking
    along +x (optical z) with the image's y axis down."""
    pose = PoseStamped()
    pose.header.frame_id = "map"
    pose.header.stamp = cv.s_to_stamp(stamp_s)
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = x_m, 100.0, 1.0
    # optical (x right, y down, z forward) -> map: z_opt = +x_map, x_opt = -y_map
    pose.pose.orientation.x, pose.pose.orientation.y = -0.5, 0.5
    pose.pose.orientation.z, pose.pose.orientation.w = -0.5, 0.5
    return pose


_env = child_env


class NodeProcess(ChildProcess):
    """``ssr_node`` in its own process with the demo parameters and sim remaps."""

    def __init__(self, map_path: pathlib.Path, log_path: pathlib.Path,
                 extra: list[str] | None = None, ns: str = NAMESPACE) -> None:
        cmd = [sys.executable, "-m", "ssr_ros.ros.node", "--ros-args",
               "--params-file", str(DEMO_PARAMS), "-p", f"map_path:={map_path}",
               *sim_remaps(), *ns_args(ns), *(extra or [])]
        super().__init__(cmd, log_path, cwd=map_path.parent)
        if "autostart:=true" not in cmd:
            self.wait_until_waiting()

    def wait_until_waiting(self, timeout_s: float = 60.0) -> None:
        """Return once the node says it waits, unconfigured, for a lifecycle manager (or
        has exited). A lifecycle call made earlier, while the process still imports, can
        be taken by a server of a previous node of the same name that discovery has not
        dropped yet, and never be answered."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and self.alive() and \
                "waiting for a lifecycle manager" not in self.log():
            time.sleep(0.05)


def run_player(args: list[str], log_path: pathlib.Path, timeout_s: float = 120.0,
               ns: str = NAMESPACE) -> int:
    """Run ``ssr-play`` to completion; returns its exit status."""
    with open(log_path, "w") as log:
        return subprocess.run([sys.executable, "-m", "ssr_ros.ros.player", *args,
                               "--ros-args", *ns_args(ns)],
                              env=_env(), stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout_s).returncode


class RosClient:
    """An in-test node: lifecycle service calls, queries, latched subscriptions,
    diagnostics."""

    def __init__(self, name: str = "ssr_test_client", ns: str = NAMESPACE) -> None:
        self.namespace = ns
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = Node(name, namespace=ns, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.diagnostics: list[dict[str, str]] = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self._clients: dict[tuple[Any, str], Any] = {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id == "ssr_node" and \
                    status.name.startswith(self.namespace + "/ssr_node:"):
                self.diagnostics.append({kv.key: kv.value for kv in status.values})

    def spin_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            if predicate():
                return True
        return False

    def call(self, srv_type: Any, name: str, request: Any, timeout_s: float = 20.0,
             resend: bool = False) -> Any:
        key = (srv_type, name)
        if key not in self._clients:
            self._clients[key] = self.node.create_client(srv_type, name)
        client = self._clients[key]
        assert self.spin_until(client.service_is_ready, timeout_s), f"{name} not available"
        if resend:
            response = send_with_resends(
                client, request, timeout_s,
                lambda seconds: self.executor.spin_once(timeout_sec=min(seconds, 0.05)))
            assert response is not None, f"{name}: no response"
            return response
        future = client.call_async(request)
        assert self.spin_until(future.done, timeout_s), f"{name}: no response"
        return future.result()

    def state(self) -> str:
        """The node's lifecycle state (get_state only reads: resent while unanswered, as a
        response can be lost while a just-started node's reply path is discovered)."""
        return self.call(GetState, "ssr_node/get_state", GetState.Request(),
                         resend=True).current_state.label

    def transition(self, transition_id: int) -> bool:
        """A lifecycle transition; first a (resent) get_state, so the node's lifecycle
        services are discovered both ways before a request that must not be sent twice."""
        self.state()
        request = ChangeState.Request()
        request.transition = Transition(id=transition_id)
        return self.call(ChangeState, "ssr_node/change_state", request).success

    def ask(self, **fields: Any) -> Any:
        return self.call(SpatialQuery, "spatial_query", SpatialQuery.Request(**fields),
                         resend=True)

    def trigger(self, name: str) -> Any:
        return self.call(Trigger, name, Trigger.Request())

    def latest_diagnostics(self, timeout_s: float = 5.0) -> dict[str, str]:
        """The next /diagnostics status of ssr_node published from now on."""
        self.diagnostics.clear()
        assert self.spin_until(lambda: bool(self.diagnostics), timeout_s), "no diagnostics"
        return self.diagnostics[-1]

    def settled_diagnostics(self, timeout_s: float = 30.0) -> dict[str, str]:
        """The node's diagnostics once its input has gone quiet: two statuses at least
        0.5 s apart with the same received, processed and dropped counts and no frame
        waiting for the worker (a played sequence has been mapped to its end)."""
        def counts(d: dict[str, str]) -> tuple:
            return tuple(sorted((k, v) for k, v in d.items() if k.startswith(
                ("received.", "frames.", "keyframes", "invalid.", "pose_drop."))))

        self.diagnostics.clear()
        previous: list[tuple[float, tuple]] = []

        def quiet() -> bool:
            if not self.diagnostics:
                return False
            last = self.diagnostics[-1]
            now = time.monotonic()
            if last.get("queue.waiting") != "0":
                previous.clear()
                return False
            key = counts(last)
            if previous and previous[0][1] == key and now - previous[0][0] >= 0.5:
                return True
            if not previous or previous[0][1] != key:
                previous[:] = [(now, key)]
            return False

        assert self.spin_until(quiet, timeout_s), \
            f"the node did not settle: {self.diagnostics[-1:]}"
        return self.diagnostics[-1]

    def late_scene_graph(self, timeout_s: float = 10.0,
                         predicate: Callable[[SceneGraph], bool] = lambda g: True
                         ) -> SceneGraph | None:
        """Subscribe now (a late joiner) and return the first graph meeting ``predicate``."""
        received: list[SceneGraph] = []
        sub = self.node.create_subscription(SceneGraph, "cogmap/scene_graph",
                                            received.append, LATCHED)
        try:
            ok = self.spin_until(lambda: any(predicate(g) for g in received), timeout_s)
            return next(g for g in received if predicate(g)) if ok else None
        finally:
            self.node.destroy_subscription(sub)
