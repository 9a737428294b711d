#!/usr/bin/env python3
"""ssr_node under a live camera stream, with queries from another process.

Three processes over real DDS (loopback): ``ssr-play`` publishes a sim room at 640x480
and 30 Hz (the first ``--loop`` frames are rendered once, then replayed with fresh
stamps), ``ssr_node`` maps it, and a query client sends ``spatial_query`` requests at
20 per second. After ``--duration`` seconds the node's /diagnostics give frames received,
synchronised, processed as keyframes and dropped (by reason) and the frame-to-map
latency; the client reports query latency p50/p99; /proc gives the node process's CPU
share and RSS over the query window.

Baselines in the same run, on the same frames and map, without ROS: the pipeline's own
time per keyframe (in-process ``MappingPipeline``) and the query engine's time per
question (in-process ``QueryEngine``). Ratios node/baseline show what the ROS glue costs.

    python benchmarks/node_stream.py [--duration 60] [--width 640 --height 480]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from procstat import cpu_s, rss_mib

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _env(domain_id: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID=domain_id,
               PYTHONUNBUFFERED="1")
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_local.xml"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def query_client(duration_s: float, rate_hz: float, question: str, out_path: str) -> int:
    """Send ``question`` at ``rate_hz`` for ``duration_s``; write latencies [ms] as JSON."""
    import rclpy
    from rclpy.node import Node

    from ssr_ros.srv import SpatialQuery

    rclpy.init()
    node = Node("ssr_bench_query_client")
    client = node.create_client(SpatialQuery, "spatial_query")
    if not client.wait_for_service(timeout_sec=60.0):
        print("query client: no service", file=sys.stderr)
        return 1
    latencies, errors = [], 0
    period = 1.0 / rate_hz
    end = time.monotonic() + duration_s
    next_at = time.monotonic()
    while time.monotonic() < end:
        next_at += period
        t0 = time.perf_counter()
        future = client.call_async(SpatialQuery.Request(question=question))
        rclpy.spin_until_future_complete(node, future, timeout_sec=5.0)
        if future.done():
            latencies.append(1000.0 * (time.perf_counter() - t0))
            errors += int(future.result().error_code not in (0, 5))
        else:
            errors += 1
        time.sleep(max(0.0, next_at - time.monotonic()))
    Path(out_path).write_text(json.dumps({"latency_ms": latencies, "errors": errors}))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def read_diagnostics(timeout_s: float = 10.0) -> dict[str, str]:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node

    got: list[dict[str, str]] = []
    node = Node("ssr_bench_diagnostics")
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: got.extend(
        {kv.key: kv.value for kv in s.values} for s in m.status
        if s.hardware_id == "ssr_node"), 10)
    end = time.monotonic() + timeout_s
    while not got and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    return got[-1] if got else {}


def _require_running(proc: subprocess.Popen, log_path: Path) -> None:
    """Stop the benchmark at once (with the node's last log lines) when the node died."""
    if proc.poll() is not None:
        tail = log_path.read_text().splitlines()[-20:]
        raise SystemExit(f"[bench] ssr_node exited with {proc.returncode}:\n"
                         + "\n".join(tail))


def baselines(seed: int, n_frames: int, width: int, height: int, rate_hz: float,
              map_path: Path, question: str) -> dict[str, float]:
    """In-process pipeline time per keyframe on the same frames, and in-process query time
    on the node's saved map."""
    from ssr_ros.core.query_types import QueryRequest
    from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
    from ssr_ros.runtime.map_state import MapKeeper
    from ssr_ros.sim import make_scene, render_sequence

    scene = make_scene(seed)
    seq = render_sequence(scene, n_frames=n_frames, width=width, height=height,
                          rate_hz=rate_hz, seed=seed)
    pipe = MappingPipeline(PipelineConfig())
    times = []
    for f in seq:
        t0 = time.perf_counter()
        result = pipe.process(f)
        if result is not None:
            times.append(1000.0 * (time.perf_counter() - t0))
    keeper = MapKeeper(lambda: MappingPipeline(PipelineConfig()))
    keeper.load(str(map_path))
    qtimes = []
    for _ in range(300):
        t0 = time.perf_counter()
        keeper.answer(QueryRequest(question=question))
        qtimes.append(1000.0 * (time.perf_counter() - t0))
    return {"keyframe_ms_p50": float(np.median(times)) if times else float("nan"),
            "keyframes": len(times),
            # what the selector emits on this stream when every frame is mapped
            "selector_keyframe_rate_hz": len(times) * rate_hz / max(len(seq), 1),
            "query_ms_p50": float(np.percentile(qtimes, 50)),
            "query_ms_p99": float(np.percentile(qtimes, 99))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="streaming time [s]")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--loop", type=int, default=90,
                        help="frames rendered once and replayed (default 90 = 3 s)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--query-rate", type=float, default=20.0)
    parser.add_argument("--query-client", nargs=2, metavar=("QUESTION", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.query_client:
        return query_client(args.duration, args.query_rate, *args.query_client)

    domain_id = str(random.SystemRandom().randint(1, 100))
    env = _env(domain_id)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID",
                                           "FASTDDS_DEFAULT_PROFILES_FILE")})
    from ssr_ros.ros.topics import sim_remaps
    from ssr_ros.sim import make_scene

    question = f"where is the {make_scene(args.seed).objects[0].category}?"
    work = Path(tempfile.mkdtemp(prefix="ssr_bench_"))
    map_path = work / "map.json"
    procs: list[subprocess.Popen] = []
    logs = []

    def start(cmd: list[str], name: str) -> subprocess.Popen:
        log = open(work / f"{name}.log", "w")
        logs.append(log)
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    print(f"[bench] {args.width}x{args.height} at {args.fps:g} Hz for {args.duration:g} s, "
          f"queries at {args.query_rate:g}/s; logs in {work}")
    start([sys.executable, "-m", "ssr_ros.ros.node", "--ros-args", "--params-file",
           str(ROOT / "config" / "demo.yaml"), "-p", "autostart:=true",
           "-p", f"map_path:={map_path}", "-p", "autosave_period_s:=0.0", *sim_remaps()],
          "node")
    player = start([sys.executable, "-m", "ssr_ros.ros.player", "--seed", str(args.seed),
                    "--frames", str(args.loop), "--loop", str(args.loop),
                    "--width", str(args.width), "--height", str(args.height),
                    "--sim-rate-hz", str(args.fps), "--wait", "60"], "player")
    import rclpy

    rclpy.init()
    try:
        # the player renders its loop before publishing: wait until frames flow
        while "published" not in (work / "player.log").read_text() and player.poll() is None:
            _require_running(procs[0], work / "node.log")
            diag = read_diagnostics(2.0)
            if int(diag.get("received.color", "0")) > 0:
                break
        t_start = time.monotonic()
        queries = start([sys.executable, __file__, "--duration", str(args.duration),
                         "--query-rate", str(args.query_rate), "--query-client", question,
                         str(work / "queries.json")], "queries")
        start_diag = read_diagnostics()
        cpu0, t_cpu0 = cpu_s(procs[0].pid), time.monotonic()
        queries.wait(args.duration + 120)
        _require_running(procs[0], work / "node.log")
        node_cpu_pct = 100.0 * (cpu_s(procs[0].pid) - cpu0) / (time.monotonic() - t_cpu0)
        node_rss_mib = rss_mib(procs[0].pid)
        end_diag = read_diagnostics()
        elapsed = time.monotonic() - t_start
    finally:
        player.send_signal(signal.SIGINT)
        player.wait(30)
        node = procs[0]
        node.send_signal(signal.SIGINT)
        node.wait(60)
        for log in logs:
            log.close()
        rclpy.try_shutdown()

    def delta(key: str) -> int:
        return int(end_diag.get(key, "0")) - int(start_diag.get(key, "0"))

    q = json.loads((work / "queries.json").read_text())
    lat = np.asarray(q["latency_ms"])
    figures = {
        "duration_s": round(elapsed, 1),
        "received": {k[len("received."):]: delta(k) for k in end_diag
                     if k.startswith("received.")},
        "synced": delta("sync.matched"),
        "processed_frames": delta("frames.processed"),
        "keyframes": delta("keyframes"),
        "dropped": {"sync": delta("sync.dropped"), "queue_newest_wins": delta("queue.dropped"),
                    **{k: delta(k) for k in end_diag
                       if k.startswith(("invalid.", "pose_drop."))}},
        "frame_to_map_ms": {"p50": float(end_diag.get("latency_ms.frame_to_map.p50", "nan")),
                            "p95": float(end_diag.get("latency_ms.frame_to_map.p95", "nan"))},
        "stamp_to_map_ms": {"p50": float(end_diag.get("latency_ms.stamp_to_map.p50", "nan")),
                            "p95": float(end_diag.get("latency_ms.stamp_to_map.p95", "nan"))},
        "keyframe_ms_node": {"p50": float(end_diag.get("latency_ms.keyframe.p50", "nan")),
                             "p95": float(end_diag.get("latency_ms.keyframe.p95", "nan"))},
        "query_ms": {"n": int(lat.size), "errors": q["errors"],
                     "p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
                     "p99": float(np.percentile(lat, 99)) if lat.size else float("nan")},
    }
    # the node process over the query window (all its threads; 100 % = one core)
    figures["node"] = {"cpu_pct": round(node_cpu_pct, 1), "rss_mib": round(node_rss_mib, 1),
                       "dds_profile": env["FASTDDS_DEFAULT_PROFILES_FILE"]}
    figures["keyframe_rate_hz"] = round(figures["keyframes"] / max(elapsed, 1e-6), 2)
    print("[bench] baselines (in-process, no ROS) ...")
    base = baselines(args.seed, args.loop, args.width, args.height, args.fps, map_path,
                     question)
    figures["baseline"] = base
    figures["ratios"] = {
        "keyframe_node_over_pipeline": figures["keyframe_ms_node"]["p50"]
        / base["keyframe_ms_p50"],
        "query_p50_service_over_engine": figures["query_ms"]["p50"] / base["query_ms_p50"],
        "query_p99_service_over_engine": figures["query_ms"]["p99"] / base["query_ms_p99"],
        "keyframe_rate_node_over_selector": figures["keyframe_rate_hz"]
        / base["selector_keyframe_rate_hz"],
    }
    # how many keyframes a second the node could map at its measured time per keyframe
    figures["keyframe_capacity_hz"] = round(1000.0 / figures["keyframe_ms_node"]["p50"], 2)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
