#!/usr/bin/env python3
"""ssr_node under a live camera stream, with queries from another process.

Three processes over real DDS (loopback): ``ssr-play`` publishes a sim room at 640x480
and 30 Hz (the first ``--loop`` frames are rendered once, then replayed with fresh
stamps), ``ssr_node`` maps it, and a query client sends ``spatial_query`` requests at
20 per second. After ``--duration`` seconds the node's /diagnostics give frames received,
synchronised, processed as keyframes and dropped (by reason) and the frame-to-map
latency; the client reports query latency p50/p99; /proc gives the node process's CPU
share (split into the main thread, which spins the executor, the DDS threads and the
rest: frame worker, publisher, ...), its CPU time per synchronised frame set, and its
RSS (also by kind: anonymous, file-mapped, shared memory) over the query window.

Code trees: ``--baseline DIR`` is a checkout of the code before the change (make one
with ``git worktree add /tmp/ssr_base e39ba99``, never ``git stash``; it needs no build:
the interfaces come from this tree's ``install/``, which ``ssr_ros/__init__.py`` finds
through the package path). Each tree's node runs with its own ``config/demo.yaml``, its
own Fast DDS profile and the environment its launch file sets (``additional_env``, e.g.
one BLAS thread; ``--no-launch-env``: none), one after the other, against one player
process (this tree's code: the same rendered frames for both) and this tree's query
client; ``--rounds N``
alternates the trees N times, so both see the same machine load. Compare figures only
within one run.

Baselines in the same run, on the same frames and map, without ROS (this tree only):
the pipeline's own time per keyframe (in-process ``MappingPipeline``) and the query
engine's time per question (in-process ``QueryEngine``). Ratios node/baseline show what
the ROS glue costs.

    python benchmarks/node_stream.py [--duration 60] [--width 640 --height 480]
    python benchmarks/node_stream.py --duration 30 --rounds 2 --baseline /tmp/ssr_base
    python benchmarks/node_stream.py --worker 5 [--worker-top 40]   # the frame worker only

``--worker``: where the frame worker's CPU goes, without DDS and the node's other
threads (see :func:`worker_profile`).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from procstat import cpu_s, peak_rss_mib, rss_mib, rss_parts_mib, thread_cpu_s

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Goals of issue 18 for the node at 30 Hz VGA without a model.
CPU_REDUCTION_GOAL = 0.30
RSS_GOAL_MIB = 200.0


def _env(domain_id: str, tree: Path = ROOT) -> dict[str, str]:
    """The environment of a process running ``tree``'s code, with ``tree``'s own Fast DDS
    profile (unless ``SSR_BENCH_DDS_PROFILE`` names one for every process)."""
    env = dict(os.environ)
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID=domain_id,
               PYTHONUNBUFFERED="1")
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = os.environ.get(
        "SSR_BENCH_DDS_PROFILE", str(tree / "config" / "fastdds_local.xml"))
    env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
    return env


def launch_env(tree: Path) -> dict[str, str]:
    """The environment ``tree``'s launch file gives the node (the string literals of the
    ``additional_env={...}`` argument in ``launch/ssr.launch.py``; none when absent), so
    each tree's node runs as ``ros2 launch`` would run it."""
    path = tree / "launch" / "ssr.launch.py"
    if not path.exists():
        return {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "additional_env":
            return {str(k): str(v) for k, v in ast.literal_eval(node.value).items()}
    return {}


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
    """Stop the benchmark at once (with the process's last log lines) when it died."""
    if proc.poll() is not None:
        tail = log_path.read_text().splitlines()[-20:]
        raise SystemExit(f"[bench] {log_path.stem} exited with {proc.returncode}:\n"
                         + "\n".join(tail))


def _thread_groups(before: dict[int, tuple[str, float]],
                   after: dict[int, tuple[str, float]], pid: int) -> dict[str, float]:
    """CPU seconds between two :func:`thread_cpu_s` readings by group: ``main`` (the
    thread that spins the executor), ``dds`` (Fast DDS's own threads, named ``dds.*``)
    and ``other`` (frame worker, publisher, rclpy helpers)."""
    groups = {"main": 0.0, "dds": 0.0, "other": 0.0}
    for tid, (name, seconds) in after.items():
        used = seconds - before.get(tid, (name, 0.0))[1]
        group = "main" if tid == pid else "dds" if name.startswith("dds.") else "other"
        groups[group] += used
    return groups


def run_node(label: str, tree: Path, work: Path, domain_id: str, duration_s: float,
             query_rate: float, question: str, player: subprocess.Popen,
             settle_s: float, with_launch_env: bool) -> dict:
    """Start ``tree``'s ssr_node on the running player's stream (with the environment its
    launch file sets when ``with_launch_env``), wait ``settle_s`` after its first frame
    (the room is mapped once), measure it over one query window, stop it (SIGINT: it
    saves its map to ``work/map_<label>.json``) and return its figures."""
    from ssr_ros.ros.topics import sim_remaps

    env = _env(domain_id, tree)
    extra_env = launch_env(tree) if with_launch_env else {}
    env.update(extra_env)
    map_path = work / f"map_{label}.json"
    log_path = work / f"node_{label}.log"
    log = open(log_path, "w")
    # the player publishes the node's own input names: identity remaps in either tree
    node = subprocess.Popen(
        [sys.executable, "-m", "ssr_ros.ros.node", "--ros-args", "--params-file",
         str(tree / "config" / "demo.yaml"), "-p", "autostart:=true",
         "-p", f"map_path:={map_path}", "-p", "autosave_period_s:=0.0", *sim_remaps()],
        env=env, cwd=str(tree), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120.0
        while int(read_diagnostics(2.0).get("received.color", "0")) == 0:
            _require_running(node, log_path)
            _require_running(player, work / "player.log")
            if time.monotonic() > deadline:
                raise SystemExit(f"[bench] {label}: no frames reached the node; see {log_path}")
        time.sleep(settle_s)
        queries_out = work / f"queries_{label}.json"
        queries = subprocess.Popen(
            [sys.executable, __file__, "--duration", str(duration_s), "--query-rate",
             str(query_rate), "--query-client", question, str(queries_out)],
            env=_env(domain_id), stdout=open(work / f"queries_{label}.log", "w"),
            stderr=subprocess.STDOUT)
        start_diag = read_diagnostics()
        load0 = os.getloadavg()[0]
        cpu0, threads0, t0 = cpu_s(node.pid), thread_cpu_s(node.pid), time.monotonic()
        queries.wait(duration_s + 120)
        _require_running(node, log_path)
        wall_s = time.monotonic() - t0
        cpu_used = cpu_s(node.pid) - cpu0
        threads1 = thread_cpu_s(node.pid)
        groups = _thread_groups(threads0, threads1, node.pid)
        busiest = sorted(((seconds - threads0.get(tid, (name, 0.0))[1], tid, name)
                          for tid, (name, seconds) in threads1.items()), reverse=True)[:6]
        memory = {"rss_mib": rss_mib(node.pid), "peak_rss_mib": peak_rss_mib(node.pid),
                  **{f"{k}_mib": v for k, v in rss_parts_mib(node.pid).items()}}
        end_diag = read_diagnostics()
        load1 = os.getloadavg()[0]
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(60)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()

    def delta(key: str) -> int:
        return int(end_diag.get(key, "0")) - int(start_diag.get(key, "0"))

    q = json.loads(queries_out.read_text())
    lat = np.asarray(q["latency_ms"])
    synced = delta("sync.matched")
    keyframes = delta("keyframes")
    return {
        "code": label, "tree": str(tree), "duration_s": round(wall_s, 1),
        "load_avg_1min": [round(load0, 2), round(load1, 2)],
        "received": {k[len("received."):]: delta(k) for k in end_diag
                     if k.startswith("received.")},
        "synced": synced,
        "processed_frames": delta("frames.processed"),
        "keyframes": keyframes,
        "keyframe_rate_hz": round(keyframes / max(wall_s, 1e-6), 2),
        # the input thread's batching (absent where the executor reads the inputs)
        "input_wakeups": delta("input.wakeups"), "input_messages": delta("input.messages"),
        "dropped": {"sync": delta("sync.dropped"), "queue_newest_wins": delta("queue.dropped"),
                    **{k: delta(k) for k in end_diag
                       if k.startswith(("invalid.", "pose_drop."))}},
        "frame_to_map_ms": {p: float(end_diag.get(f"latency_ms.frame_to_map.{p}", "nan"))
                            for p in ("p50", "p95")},
        "keyframe_ms_node": {p: float(end_diag.get(f"latency_ms.keyframe.{p}", "nan"))
                             for p in ("p50", "p95")},
        "query_ms": {"n": int(lat.size), "errors": q["errors"],
                     "p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
                     "p99": float(np.percentile(lat, 99)) if lat.size else float("nan")},
        # the node process over the query window (all its threads; 100 % = one core)
        "node": {"cpu_pct": round(100.0 * cpu_used / wall_s, 1),
                 **{f"cpu_pct_{k}": round(100.0 * v / wall_s, 1) for k, v in groups.items()},
                 "cpu_ms_per_synced_set": round(1000.0 * cpu_used / max(synced, 1), 2),
                 **{k: round(v, 1) for k, v in memory.items()},
                 "busiest_threads_pct": [
                     f"{name} {tid}{' (main)' if tid == node.pid else ''}: "
                     f"{100.0 * used / wall_s:.1f}" for used, tid, name in busiest],
                 "dds_profile": env["FASTDDS_DEFAULT_PROFILES_FILE"],
                 "launch_env": extra_env},
        "map_path": str(map_path),
    }


def _summary(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Per code tree, the mean over its rounds of the figures the goals read."""
    out: dict[str, dict[str, float]] = {}
    for code in dict.fromkeys(r["code"] for r in runs):
        mine = [r for r in runs if r["code"] == code]
        out[code] = {k: float(np.mean([r["node"][k] for r in mine]))
                     for k in ("cpu_pct", "cpu_ms_per_synced_set", "rss_mib")}
    return out


def print_table(runs: list[dict]) -> None:
    print("\n| code | round | load avg | node CPU % (main / DDS / other) | CPU ms per synced "
          "set | synced | keyframes | queue drops | sync drops | RSS MiB (anon / shm) | "
          "peak RSS MiB | query p50 / p99 ms |\n|---|---|---|---|---|---|---|---|---|---|"
          "---|---|")
    for i, r in enumerate(runs):
        n = r["node"]
        rounds = sum(1 for x in runs[:i] if x["code"] == r["code"]) + 1
        print(f"| {r['code']} | {rounds} | {r['load_avg_1min'][0]:.1f}-"
              f"{r['load_avg_1min'][1]:.1f} | {n['cpu_pct']:.1f} ({n['cpu_pct_main']:.1f} / "
              f"{n['cpu_pct_dds']:.1f} / {n['cpu_pct_other']:.1f}) | "
              f"{n['cpu_ms_per_synced_set']:.2f} | {r['synced']} | {r['keyframes']} | "
              f"{r['dropped']['queue_newest_wins']} | {r['dropped']['sync']} | "
              f"{n['rss_mib']:.0f} ({n['anon_mib']:.0f} / {n['shmem_mib']:.0f}) | "
              f"{n['peak_rss_mib']:.0f} | {r['query_ms']['p50']:.1f} / "
              f"{r['query_ms']['p99']:.1f} |")


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


def worker_profile(seed: int, n_frames: int, width: int, height: int, rate_hz: float,
                   loops: int, top: int) -> dict[str, float]:
    """The frame worker's work on this stream, in-process and without DDS: the player's
    messages of ``n_frames`` frames, replayed ``loops`` times with fresh stamps, through
    the node's own ``FrameMapper`` (decode, pose look-up, ``MapKeeper``) with
    ``config/demo.yaml``'s proposal and pose sources, and after each keyframe the
    publisher's builds (scene graph, markers, path). CPU time [ms] per frame; with
    ``top`` > 0 a cProfile of the run (cumulative and own time, ``top`` rows each) is
    printed as well: where the frame worker's CPU goes, without the node's other
    threads."""
    import cProfile
    import logging
    import pstats
    from types import SimpleNamespace

    from ssr_ros.ros import messages
    from ssr_ros.ros.conversions import s_to_stamp
    from ssr_ros.ros.diagnostics import NodeStats, ProblemLog
    from ssr_ros.ros.frame_mapper import FrameMapper
    from ssr_ros.ros.inputs import FrameSet
    from ssr_ros.ros.markers import MarkerBuilder
    from ssr_ros.ros.params import PARAMETERS, read_config
    from ssr_ros.ros.pipeline_factory import build_pipeline_factory
    from ssr_ros.ros.player import frame_messages
    from ssr_ros.ros.pose_source import TopicPoseSource
    from ssr_ros.ros.publishing import CameraPathBuilder
    from ssr_ros.runtime.map_state import MapKeeper
    from ssr_ros.sim import make_scene, render_sequence

    scene = make_scene(seed)
    seq = render_sequence(scene, n_frames=n_frames, width=width, height=height,
                          rate_hz=rate_hz, seed=seed)
    names = {o.id: o.category for o in scene.objects}
    values = {name: spec.default for name, spec in PARAMETERS.items()}
    values.update(proposal_source="labels", pose_source="camera_pose", map_path="",
                  camera_frame="camera_color_optical_frame")
    config = read_config(SimpleNamespace(
        get_parameter=lambda name: SimpleNamespace(value=values[name])))
    keeper = MapKeeper(build_pipeline_factory(config), config.map_frame)
    poses = TopicPoseSource(config.T_base_cam, (config.map_frame,), mode="camera_pose")
    stats = NodeStats()
    problems = ProblemLog(stats, logging.getLogger("node_stream.worker"), 60.0)
    markers = MarkerBuilder(config.map_frame)
    path = CameraPathBuilder(config.map_frame)
    graph_cache = messages.ObjectMessageCache(messages.object_to_msg)

    def publish(frame) -> None:
        snap = keeper.snapshot
        path.note(frame.T_map_cam, frame.stamp_s)
        messages.scene_graph_msg(snap.objects, snap.triplets, snap.revision, snap.stamp_s,
                                 config.map_frame, cache=graph_cache)
        markers.update(snap.objects, snap.triplets, snap.path_m, snap.stamp_s)
        path.message(snap.path_m, snap.stamp_s)

    mapper = FrameMapper(config, keeper, poses, stats, problems, lambda: names, publish)
    sets = [[msg for _, msg in frame_messages(seq.frame(i), s_to_stamp(
        100.0 + (k * len(seq) + i) / rate_hz), "")]
        for k in range(loops) for i in range(len(seq))]
    profile = cProfile.Profile() if top > 0 else None
    cpu0 = time.process_time()
    if profile is not None:
        profile.enable()
    for pose, color, depth, info, labels in sets:
        poses.add_camera_pose(pose)
        mapper.map(FrameSet(time.monotonic(), color, depth, info, labels=labels))
    if profile is not None:
        profile.disable()
    cpu_ms = 1000.0 * (time.process_time() - cpu0) / max(len(sets), 1)
    if profile is not None:
        stats_out = pstats.Stats(profile, stream=sys.stdout)
        for key in ("cumulative", "tottime"):
            stats_out.sort_stats(key).print_stats(top)
    return {"frames": len(sets), "keyframes": stats.keyframes,
            "objects": len(keeper.snapshot.objects),
            "cpu_ms_per_frame" + ("_profiled" if profile is not None else ""): cpu_ms}

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0,
                        help="query window per node run [s]")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--loop", type=int, default=90,
                        help="frames rendered once and replayed (default 90 = 3 s)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--query-rate", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="streaming time before the window, after the first frame [s]")
    parser.add_argument("--baseline", help="checkout of the code before the change "
                        "(run first, in the same invocation)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate baseline and this tree this many times")
    parser.add_argument("--no-launch-env", action="store_true",
                        help="run each node without the environment its launch file sets "
                        "(e.g. OPENBLAS_NUM_THREADS)")
    parser.add_argument("--no-inprocess", action="store_true",
                        help="skip the in-process pipeline and query-engine baselines")
    parser.add_argument("--query-client", nargs=2, metavar=("QUESTION", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--worker", type=int, metavar="LOOPS",
                        help="instead of the DDS runs: the frame worker's work in-process, "
                        "the frames replayed LOOPS times (see worker_profile)")
    parser.add_argument("--worker-top", type=int, default=0, metavar="ROWS",
                        help="with --worker: print a cProfile of it, ROWS rows per order")
    args = parser.parse_args(argv)
    if args.query_client:
        return query_client(args.duration, args.query_rate, *args.query_client)
    if args.worker:
        figures = worker_profile(args.seed, args.loop, args.width, args.height, args.fps,
                                 args.worker, args.worker_top)
        print(json.dumps(figures, indent=2))
        return 0

    domain_id = os.environ.get("ROS_DOMAIN_ID") or str(random.SystemRandom().randint(1, 100))
    env = _env(domain_id)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID",
                                           "FASTDDS_DEFAULT_PROFILES_FILE")})
    from ssr_ros.sim import make_scene

    trees = [("new", ROOT)]
    if args.baseline:
        trees.insert(0, ("baseline", Path(args.baseline).resolve()))
    question = f"where is the {make_scene(args.seed).objects[0].category}?"
    work = Path(tempfile.mkdtemp(prefix="ssr_bench_"))
    started = datetime.now(timezone.utc)
    print(f"# node stream, {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
          f"{args.width}x{args.height} at {args.fps:g} Hz, queries at {args.query_rate:g}/s, "
          f"{args.duration:g} s per run, {args.rounds} round(s); logs in {work}", flush=True)
    player_log = open(work / "player.log", "w")
    player = subprocess.Popen(
        [sys.executable, "-m", "ssr_ros.ros.player", "--seed", str(args.seed),
         "--frames", str(args.loop), "--loop", str(args.loop),
         "--width", str(args.width), "--height", str(args.height),
         "--sim-rate-hz", str(args.fps), "--wait", "120"],
        env=env, stdout=player_log, stderr=subprocess.STDOUT)
    import rclpy

    rclpy.init()
    runs = []
    try:
        for round_index in range(args.rounds):
            for label, tree in trees:
                print(f"[bench] round {round_index + 1}: {label} ({tree})", flush=True)
                run = run_node(f"{label}_{round_index + 1}", tree, work, domain_id,
                               args.duration, args.query_rate, question, player, args.settle,
                               not args.no_launch_env)
                run["code"] = label
                runs.append(run)
                print(f"[bench] {label}: CPU {run['node']['cpu_pct']:.1f} %, "
                      f"{run['node']['cpu_ms_per_synced_set']:.2f} ms per set, RSS "
                      f"{run['node']['rss_mib']:.0f} MiB", flush=True)
    finally:
        player.send_signal(signal.SIGINT)
        try:
            player.wait(30)
        except subprocess.TimeoutExpired:
            player.kill()
        player_log.close()
        rclpy.try_shutdown()
    figures: dict = {"started": started.isoformat(), "machine": platform.node(),
                     "load_avg_end": round(os.getloadavg()[0], 2), "runs": runs}
    if not args.no_inprocess:
        print("[bench] baselines (in-process, no ROS) ...", flush=True)
        new = [r for r in runs if r["code"] == "new"][-1]
        base = baselines(args.seed, args.loop, args.width, args.height, args.fps,
                         Path(new["map_path"]), question)
        figures["inprocess"] = base
        figures["ratios"] = {
            "keyframe_node_over_pipeline": new["keyframe_ms_node"]["p50"]
            / base["keyframe_ms_p50"],
            "query_p50_service_over_engine": new["query_ms"]["p50"] / base["query_ms_p50"],
            "query_p99_service_over_engine": new["query_ms"]["p99"] / base["query_ms_p99"],
            "keyframe_rate_node_over_selector": new["keyframe_rate_hz"]
            / base["selector_keyframe_rate_hz"],
        }
    print(json.dumps(figures, indent=2))
    print_table(runs)
    summary = _summary(runs)
    figures["summary"] = summary
    print(f"\nload average at the end: {figures['load_avg_end']:.1f}")
    new = summary["new"]
    print(f"new: RSS {new['rss_mib']:.0f} MiB (goal <= {RSS_GOAL_MIB:.0f}: "
          f"{'met' if new['rss_mib'] <= RSS_GOAL_MIB else 'missed'})")
    if "baseline" in summary:
        old = summary["baseline"]
        for key, what in (("cpu_pct", "CPU share"), ("cpu_ms_per_synced_set",
                                                     "CPU per synced set")):
            cut = 1.0 - new[key] / old[key]
            print(f"{what}: {old[key]:.2f} -> {new[key]:.2f}, {100 * cut:.0f} % less "
                  f"(goal >= {100 * CPU_REDUCTION_GOAL:.0f} %: "
                  f"{'met' if cut >= CPU_REDUCTION_GOAL else 'missed'})")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
