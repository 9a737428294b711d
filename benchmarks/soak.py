#!/usr/bin/env python3
"""Soak test of ssr_node: a long camera stream and two query clients, watching for leaks,
growing queues and deadlocks.

Processes over real DDS on loopback (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, the
Fast DDS profile of ``config/fastdds_local.xml``, a random ``ROS_DOMAIN_ID`` and a
namespace of this run): ``ssr-play`` loops a sim room at 640x480 and 30 Hz (the first
``--loop`` frames rendered once, replayed with fresh stamps), ``ssr_node`` maps it, and
two query-client processes share ``--query-rate`` spatial queries per second (a mix of
locate, distance, count, free-text and unknown-name questions), each call waiting at
most ``--query-timeout`` seconds.

Measured from the moment frames flow, for ``--minutes``:

* the node's resident memory (``VmRSS`` of ``/proc/<pid>/status``) every
  ``--sample-s`` seconds; the baseline is the sample at the end of the warm-up;
* /diagnostics at the end of the warm-up and at the end: frames received, processed,
  keyframes, drop counters, and the queue gauges (``queue.waiting``, ``sync.pending``);
* per client: queries sent, answered (any error code), unanswered (no response within
  the timeout), internal errors, latency p50/p99;
* a last query after the clients stopped (the node still answers).

Goals (the exit status is 1 when one is broken, 2 when the run could not start):
RSS growth after warm-up <= ``--max-rss-growth-mb`` (50); every query answered (none
unanswered, none ERROR_INTERNAL); queue gauges within their bounds at the end; the node
alive and answering at the end. Every loop is bounded in count and time; every process
started here is stopped (SIGINT, then SIGKILL) whatever happens.

The baseline of the ratios is the start of the same run (RSS and counters after the
warm-up): growth and rates are relative to it.

    python benchmarks/soak.py [--minutes 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESPONSE_INTERNAL = 9
SYNC_INPUTS = 4  # colour, depth, camera_info, labels


def _env(domain_id: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID=domain_id,
               PYTHONUNBUFFERED="1",
               FASTDDS_DEFAULT_PROFILES_FILE=env.get(
                   "FASTDDS_DEFAULT_PROFILES_FILE",
                   str(ROOT / "config" / "fastdds_local.xml")))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")]
                                        if p)
    return env


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` [MiB] (NaN when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return math.nan
    return math.nan


def seen_names(seed: int, n_frames: int, width: int, height: int,
               rate_hz: float) -> list[str]:
    """Categories that occur once in the room and appear in the first ``n_frames`` frames
    (so the node maps them and questions about them reach the geometry), in order of
    first appearance, then the room's other categories."""
    from ssr_ros.sim import make_scene, render_sequence

    scene = make_scene(seed)
    seq = render_sequence(scene, n_frames=n_frames, width=width, height=height,
                          rate_hz=rate_hz, seed=seed)
    counts: dict[str, int] = {}
    for obj in scene.objects:
        counts[obj.category] = counts.get(obj.category, 0) + 1
    names = [seq.id_to_category[i] for i, _ in sorted(seq.first_seen.items(),
                                                     key=lambda kv: kv[1])
             if counts.get(seq.id_to_category[i]) == 1]
    names += [o.category for o in scene.objects]
    return list(dict.fromkeys(names))


def _requests(names: list[str]) -> list[dict[str, Any]]:
    """The query mix: fields of ``SpatialQuery.Request`` over the given object names."""
    a, b = names[0], names[1 % len(names)]
    return [
        {"question": f"where is the {a}?"},
        {"kind": 2, "target": a, "reference": b},
        {"question": f"How many {b}(s) are in this room?"},
        {"kind": 1, "target": "unicorn"},
        {"kind": 11, "question": "What is the size of this room (in square meters)? If "
         "multiple rooms are shown, estimate the size of the combined space."},
        {"kind": 4, "target": b},
    ]


# ---------------------------------------------------------------------- query client
def query_client(namespace: str, names: list[str], duration_s: float, rate_hz: float,
                 timeout_s: float, out_path: str) -> int:
    """Send the query mix at ``rate_hz`` for ``duration_s``; write counts and latencies
    [ms] as JSON to ``out_path``."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from ssr_ros.srv import SpatialQuery

    rclpy.init()
    node = Node(f"ssr_soak_client_{os.getpid()}", namespace=namespace)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    client = node.create_client(SpatialQuery, "spatial_query")
    result: dict[str, Any] = {"sent": 0, "answered": 0, "unanswered": 0, "internal": 0,
                              "codes": {}, "latency_ms": []}
    try:
        if not client.wait_for_service(timeout_sec=60.0):
            result["error"] = "spatial_query not available within 60 s"
            return 1
        mix = _requests(names)
        period_s = 1.0 / rate_hz
        max_queries = int(math.ceil(duration_s * rate_hz)) + 1
        end = time.monotonic() + duration_s
        next_at = time.monotonic()
        for i in range(max_queries):
            if time.monotonic() >= end:
                break
            t0 = time.perf_counter()
            future = client.call_async(SpatialQuery.Request(**mix[i % len(mix)]))
            result["sent"] += 1
            executor.spin_until_future_complete(future, timeout_sec=timeout_s)
            if future.done() and future.result() is not None:
                code = int(future.result().error_code)
                result["answered"] += 1
                result["codes"][str(code)] = result["codes"].get(str(code), 0) + 1
                result["internal"] += int(code == RESPONSE_INTERNAL)
                result["latency_ms"].append(1000.0 * (time.perf_counter() - t0))
            else:
                future.cancel()
                client.remove_pending_request(future)
                result["unanswered"] += 1
            next_at += period_s
            time.sleep(max(0.0, next_at - time.monotonic()))
        return 0
    finally:
        Path(out_path).write_text(json.dumps(result))
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


# ---------------------------------------------------------------------- harness
class Watcher:
    """The harness's own node: the newest /diagnostics of our ssr_node, and a final query."""

    def __init__(self, namespace: str) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        self.namespace = namespace
        rclpy.init()
        self.node = Node("ssr_soak_watcher", namespace=namespace)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.latest: dict[str, str] = {}
        self.count = 0
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.hardware_id == "ssr_node" and status.name.startswith(
                    self.namespace + "/"):
                self.latest = {kv.key: kv.value for kv in status.values}
                self.count += 1

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.1, max(0.0, end - time.monotonic())))

    def fresh_diagnostics(self, timeout_s: float = 10.0) -> dict[str, str]:
        """The next diagnostics published from now on ({} when none comes)."""
        seen = self.count
        end = time.monotonic() + timeout_s
        while self.count == seen and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.1)
        return dict(self.latest) if self.count > seen else {}

    def final_query(self, names: list[str], timeout_s: float) -> tuple[bool, str]:
        from ssr_ros.srv import SpatialQuery

        client = self.node.create_client(SpatialQuery, "spatial_query")
        try:
            end = time.monotonic() + timeout_s
            while not client.service_is_ready() and time.monotonic() < end:
                self.executor.spin_once(timeout_sec=0.1)
            future = client.call_async(SpatialQuery.Request(**_requests(names)[0]))
            self.executor.spin_until_future_complete(
                future, timeout_sec=max(0.1, end - time.monotonic()))
            if not future.done() or future.result() is None:
                return False, "no response"
            response = future.result()
            return response.error_code != RESPONSE_INTERNAL, (
                f"error_code {response.error_code}: {response.message[:120]}")
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


def _stop(procs: list[tuple[str, subprocess.Popen]]) -> dict[str, int | None]:
    """SIGINT every process still running (the node saves its map), wait, then SIGKILL;
    returns the exit statuses."""
    for _, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30.0
    codes: dict[str, int | None] = {}
    for name, proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        codes[name] = proc.returncode
    return codes


def _percentiles(values: list[float]) -> dict[str, float]:
    import numpy as np

    if not values:
        return {"p50": math.nan, "p99": math.nan}
    p50, p99 = np.percentile(values, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2)}


def _counter(diag: dict[str, str], key: str) -> int:
    try:
        return int(float(diag.get(key, "0")))
    except ValueError:
        return 0


def _demo_sync_queue_size() -> int:
    """``sync_queue_size`` of the parameters the node runs with (demo.yaml, else default)."""
    import yaml

    from ssr_ros.ros.params import PARAMETERS

    params = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    values = params.get("/**", {}).get("ros__parameters", {})
    return int(values.get("sync_queue_size", PARAMETERS["sync_queue_size"].default))


def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    """Start the processes, soak, stop them; returns (exit status, figures)."""
    duration_s = 60.0 * args.minutes
    warmup_s = min(args.warmup_s, 0.3 * duration_s)
    domain_id = str(random.SystemRandom().randint(1, 100))
    namespace = f"/ssr_soak_{os.getpid()}_{random.SystemRandom().randrange(16**6):06x}"
    env = _env(domain_id)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID",
                                           "FASTDDS_DEFAULT_PROFILES_FILE")})
    from ssr_ros.ros.topics import sim_remaps

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ssr_soak_"))
    work.mkdir(parents=True, exist_ok=True)
    ns_args = ["-r", f"__ns:={namespace}"]
    procs: list[tuple[str, subprocess.Popen]] = []
    logs = []

    def start(name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(work / f"{name}.log", "w")
        logs.append(log)
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append((name, proc))
        return proc

    figures: dict[str, Any] = {
        "minutes": args.minutes, "warmup_s": warmup_s, "width": args.width,
        "height": args.height, "fps": args.fps, "query_rate_total": args.query_rate,
        "clients": 2, "logs": str(work)}
    failures: list[str] = []
    rss: list[tuple[float, float]] = []
    watcher = None
    print(f"[soak] {args.minutes:g} min of {args.width}x{args.height} at {args.fps:g} Hz, "
          f"{args.query_rate:g} queries/s from 2 clients; domain {domain_id}; logs in {work}",
          flush=True)
    try:
        node = start("node", [
            sys.executable, "-m", "ssr_ros.ros.node", "--ros-args", "--params-file",
            str(ROOT / "config" / "demo.yaml"), "-p", "autostart:=true",
            "-p", f"map_path:={work / 'map.json'}", *sim_remaps(), *ns_args])
        player = start("player", [
            sys.executable, "-m", "ssr_ros.ros.player", "--seed", str(args.seed),
            "--frames", str(args.loop), "--loop", str(args.loop), "--width", str(args.width),
            "--height", str(args.height), "--sim-rate-hz", str(args.fps), "--wait", "120",
            "--ros-args", *ns_args])
        watcher = Watcher(namespace)
        names = seen_names(args.seed, args.loop, args.width, args.height, args.fps)
        figures["names"] = names[:2]
        # the player renders its loop first: wait (bounded) until the node receives frames
        startup_end = time.monotonic() + args.startup_timeout_s
        while _counter(watcher.latest, "received.color") == 0:
            if time.monotonic() > startup_end or node.poll() is not None \
                    or player.poll() is not None:
                failures.append("frames never reached the node (see the logs)")
                return 2, {**figures, "failures": failures}
            watcher.spin_for(0.5)
        t_start = time.monotonic()
        clients = [start(f"client{i}", [
            sys.executable, __file__, "--client", namespace, str(work / f"client{i}.json"),
            "--names", ",".join(names), "--minutes", str(args.minutes),
            "--query-rate", str(args.query_rate / 2.0),
            "--query-timeout", str(args.query_timeout_s)]) for i in (0, 1)]
        start_diag: dict[str, str] = {}
        next_sample = t_start
        max_samples = int(duration_s / args.sample_s) + 4
        while len(rss) < max_samples and time.monotonic() - t_start < duration_s:
            now = time.monotonic()
            if now >= next_sample:
                rss.append((round(now - t_start, 1), round(rss_mb(node.pid), 1)))
                next_sample += args.sample_s
            if not start_diag and now - t_start >= warmup_s:
                start_diag = watcher.fresh_diagnostics()
                rss.append((round(time.monotonic() - t_start, 1), round(rss_mb(node.pid), 1)))
                figures["rss_after_warmup_mb"] = rss[-1][1]
            if node.poll() is not None:
                failures.append(f"node exited early with {node.returncode}")
                break
            watcher.spin_for(min(0.5, max(0.0, next_sample - time.monotonic())))
        rss.append((round(time.monotonic() - t_start, 1), round(rss_mb(node.pid), 1)))
        end_diag = watcher.fresh_diagnostics()
        client_end = time.monotonic() + 30.0 + 2 * args.query_timeout_s
        for client in clients:
            try:
                client.wait(max(0.1, client_end - time.monotonic()))
            except subprocess.TimeoutExpired:
                failures.append(f"query client {client.pid} did not finish")
        answered, final = watcher.final_query(names, args.query_timeout_s + 5.0)
        figures["final_query"] = final
        if not answered:
            failures.append(f"the node did not answer at the end ({final})")
        figures["elapsed_s"] = round(time.monotonic() - t_start, 1)
    finally:
        if watcher is not None:
            watcher.close()
        figures["exit_codes"] = _stop(procs)
        for log in logs:
            log.close()

    # ------------------------------------------------------------- figures and goals
    baseline = figures.get("rss_after_warmup_mb", rss[0][1] if rss else math.nan)
    end_rss = rss[-1][1] if rss else math.nan
    figures["rss_mb"] = {"after_warmup": baseline, "end": end_rss,
                         "max": max((r for _, r in rss), default=math.nan),
                         "growth": round(end_rss - baseline, 1), "samples": rss}
    if not end_rss - baseline <= args.max_rss_growth_mb:
        failures.append(f"RSS grew {end_rss - baseline:.1f} MB after warm-up "
                        f"(limit {args.max_rss_growth_mb:g})")
    keys = ["received.color", "frames.processed", "keyframes", "queue.dropped",
            "sync.matched", "sync.dropped", "queue.waiting", "sync.pending", "map.objects",
            "queries"]
    keys += sorted(k for k in end_diag if k.startswith(("invalid.", "pose_drop.")))
    figures["diagnostics"] = {k: {"start": _counter(start_diag, k),
                                  "end": _counter(end_diag, k)} for k in keys}
    span_s = max(duration_s - warmup_s, 1e-6)
    figures["rates_after_warmup_hz"] = {
        k: round((_counter(end_diag, k) - _counter(start_diag, k)) / span_s, 2)
        for k in ("received.color", "frames.processed", "keyframes", "queue.dropped",
                  "sync.dropped")}
    if not end_diag:
        failures.append("no diagnostics at the end")
    queue_bound = SYNC_INPUTS * _demo_sync_queue_size()
    if _counter(end_diag, "queue.waiting") > 1 or _counter(end_diag, "sync.pending") > \
            queue_bound:
        failures.append("queue gauges beyond their bounds at the end")
    clients_out = {}
    for i in (0, 1):
        path = work / f"client{i}.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        clients_out[f"client{i}"] = {
            "sent": data.get("sent", 0), "answered": data.get("answered", 0),
            "unanswered": data.get("unanswered", 0), "internal": data.get("internal", 0),
            "codes": data.get("codes", {}),
            "latency_ms": _percentiles(data.get("latency_ms", []))}
        if not data:
            failures.append(f"client{i} wrote no results")
        elif data.get("error"):
            failures.append(f"client{i}: {data['error']}")
        if data.get("unanswered", 0) or data.get("internal", 0):
            failures.append(f"client{i}: {data.get('unanswered', 0)} unanswered, "
                            f"{data.get('internal', 0)} internal errors")
        if data and not data.get("answered"):
            failures.append(f"client{i}: no query answered")
    figures["clients"] = clients_out
    figures["failures"] = failures
    return (1 if failures else 0), figures


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="soak time from the first frame [min] (default 10)")
    parser.add_argument("--warmup-s", type=float, default=60.0,
                        help="warm-up before the RSS baseline [s] (at most 30%% of the run)")
    parser.add_argument("--sample-s", type=float, default=5.0, help="RSS sampling period [s]")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--loop", type=int, default=90,
                        help="sim frames rendered once and replayed (default 90 = 3 s)")
    parser.add_argument("--seed", type=int, default=3, help="sim room seed")
    parser.add_argument("--query-rate", type=float, default=20.0,
                        help="queries per second of both clients together (default 20)")
    parser.add_argument("--query-timeout-s", "--query-timeout", type=float, default=5.0,
                        help="longest wait for one answer [s]")
    parser.add_argument("--max-rss-growth-mb", type=float, default=50.0)
    parser.add_argument("--startup-timeout-s", type=float, default=180.0,
                        help="longest wait for the first frame at the node [s]")
    parser.add_argument("--workdir", help="logs and map here (default: a new temp dir)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--names", help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=2, metavar=("NAMESPACE", "OUT"),
                        help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.minutes <= 0 or args.query_rate <= 0 or args.sample_s <= 0:
        print("soak: --minutes, --query-rate and --sample-s must be > 0", file=sys.stderr)
        return 2
    if args.client:
        names = (args.names or "sofa").split(",")
        return query_client(args.client[0], names, 60.0 * args.minutes, args.query_rate,
                            args.query_timeout_s, args.client[1])
    code, figures = run(args)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    print("[soak] " + ("PASS" if code == 0 else "FAIL: " + "; ".join(figures["failures"])),
          flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
