"""SIGINT and SIGTERM stop ssr_node within a second in every lifecycle state.

Issue 15: 20 repetitions per state (unconfigured, inactive, active, finalized), half
SIGINT and half SIGTERM, each started the way a non-interactive script starts it (SIGINT
inherited as ignored, which the node overrides). Nodes run in parallel batches, each in a
namespace of its own; the in-test client drives them to the state over the lifecycle
services, then the signal is sent and the exit timed. The log must say what the node did
(the signal, the state, the map at stop); in the active state every other node's map is
changed (``clear_map``) first, so the stop must save it.
"""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import time

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from std_srvs.srv import Trigger

from rosutil import _env, namespace, ns_args

REPETITIONS = 20
BATCH = 5
STOP_LIMIT_S = 1.0
STATES = ("unconfigured", "inactive", "active", "finalized")
#: transitions from unconfigured that reach each state
PATHS = {"unconfigured": (), "inactive": (Transition.TRANSITION_CONFIGURE,),
         "active": (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE),
         "finalized": (Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,)}


class SignalledNode:
    """One ssr_node (proposals none, pose topics, a map file) with SIGINT ignored by its
    parent, as ``&`` in a script leaves it."""

    def __init__(self, ns: str, tmp: pathlib.Path) -> None:
        self.ns = ns
        self.log_path = tmp / f"{ns.strip('/')}.log"
        self.map_path = tmp / f"{ns.strip('/')}.json"
        self.dirty = False
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ssr_ros.ros.node", "--ros-args", *ns_args(ns),
             "-p", "proposal_source:=none", "-p", "pose_source:=camera_pose",
             "-p", f"map_path:={self.map_path}"],
            env=_env(), stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def wait_log(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.log():
            assert self.proc.poll() is None, f"node exited early:\n{self.log()}"
            assert time.monotonic() < deadline, f"{text!r} not logged:\n{self.log()}"
            time.sleep(0.05)

    def stop_timed(self, signum: int) -> float:
        """Send ``signum``; seconds until the process is gone (inf after 10 s)."""
        t0 = time.monotonic()
        self.proc.send_signal(signum)
        try:
            self.proc.wait(10.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5.0)
            return float("inf")
        finally:
            self._log.close()
        return time.monotonic() - t0


TARGETS = {Transition.TRANSITION_CONFIGURE: "inactive",
           Transition.TRANSITION_ACTIVATE: "active",
           Transition.TRANSITION_UNCONFIGURED_SHUTDOWN: "finalized"}


def _call(ros_client, srv_type, name: str, request, timeout_s: float):
    """The response, or None when none came within ``timeout_s`` (a response can be lost
    while DDS is still matching the service's reply path to a new client)."""
    key = (srv_type, name)
    if key not in ros_client._clients:
        ros_client._clients[key] = ros_client.node.create_client(srv_type, name)
    client = ros_client._clients[key]
    if not ros_client.spin_until(client.service_is_ready, timeout_s):
        return None
    future = client.call_async(request)
    return future.result() if ros_client.spin_until(future.done, timeout_s) else None


def _drive(ros_client, node: SignalledNode, state: str) -> None:
    """Take ``node`` to ``state``; a lost reply is resolved by asking the state."""
    node.wait_log("unconfigured: waiting", 30.0)
    for transition in PATHS[state]:
        request = ChangeState.Request()
        request.transition = Transition(id=transition)
        for _attempt in range(5):
            response = _call(ros_client, ChangeState, f"{node.ns}/ssr_node/change_state",
                             request, 5.0)
            if response is not None:
                assert response.success, f"transition {transition} refused:\n{node.log()}"
                break
            current = _call(ros_client, GetState, f"{node.ns}/ssr_node/get_state",
                            GetState.Request(), 5.0)
            if current is not None and current.current_state.label == TARGETS[transition]:
                break
        else:
            raise AssertionError(f"transition {transition}: no answer\n{node.log()}")


@pytest.mark.parametrize("state", STATES)
def test_signals_stop_the_node_within_a_second(ros_client, tmp_path, state) -> None:
    failures: list[str] = []
    stop_times: list[float] = []
    dirty = 0
    for batch_start in range(0, REPETITIONS, BATCH):
        nodes = [SignalledNode(namespace(f"sig_{state[:5]}_{batch_start + i}"), tmp_path)
                 for i in range(BATCH)]
        try:
            for i, node in enumerate(nodes):
                _drive(ros_client, node, state)
                if state == "active" and (batch_start + i) % 2 == 0:  # a changed map
                    cleared = _call(ros_client, Trigger, f"{node.ns}/clear_map",
                                    Trigger.Request(), 10.0)
                    node.dirty = cleared is not None and cleared.success
                    dirty += node.dirty
            for i, node in enumerate(nodes):
                signum = signal.SIGINT if (batch_start + i) % 2 == 0 else signal.SIGTERM
                elapsed = node.stop_timed(signum)
                stop_times.append(elapsed)
                log = node.log()
                name = signal.Signals(signum).name
                if elapsed > STOP_LIMIT_S:
                    failures.append(f"{node.ns}: {name} took {elapsed:.2f} s\n{log}")
                elif f"{name}: stopping in state '{state}'" not in log or \
                        "] [ssr_node.lifecycle]: stopped" not in log:
                    failures.append(f"{node.ns}: {name} not logged as expected\n{log}")
                elif state in ("inactive", "active") and "at stop: " + (
                        "saved 0 objects" if node.dirty else "map unchanged") not in log:
                    failures.append(f"{node.ns}: the map at stop not logged\n{log}")
                elif node.dirty and not node.map_path.exists():
                    failures.append(f"{node.ns}: the changed map was not saved\n{log}")
        finally:
            for node in nodes:
                if node.proc.poll() is None:
                    node.proc.kill()
                    node.proc.wait(5.0)
    median = sorted(stop_times)[len(stop_times) // 2]
    print(f"{state}: {len(stop_times)} stops, median {median:.3f} s, "
          f"max {max(stop_times):.3f} s")
    assert not failures, failures[0]
    assert dirty == (REPETITIONS // 2 if state == "active" else 0)
    assert len(stop_times) == REPETITIONS and max(stop_times) <= STOP_LIMIT_S
