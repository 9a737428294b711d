#!/usr/bin/env python3
"""``spatial_query`` latency of ssr_node with a large map loaded, from another process.

For each map size (objects of the synthetic building floor of ``benchmarks/scale.py``,
mapped with the core ``ObjectMap``), the map is written as a node map file by each code
tree's own ``store.save_map``; ssr_node of that tree starts with it (``map_path``, no
camera), and a client process sends mixed questions (where, how many, how far, nearest)
at ``--rate`` per second over DDS for ``--duration`` seconds, starting ``--settle``
seconds after the map first answers: right after a load the node's publisher thread
builds and sends the scene graph and a marker for every object (and Python's collector
scans the new objects), which holds the interpreter for tens of milliseconds at a time
on a 5,000-object map; ``--settle 0`` measures that start too. The node's CPU share and
RSS over the same window come from /proc.

Trees: ``--baseline DIR`` is a checkout of the code before the change (make one with
``git worktree add /tmp/k_base e39ba99``, never ``git stash``); it runs in the same
invocation as the current tree, so both see the same machine load. The baseline node
re-publishes the whole scene graph and marker array every ``scene_graph_period_s`` on
its executor thread; the current one publishes only on change, off the executor.

    python benchmarks/node_queries.py --sizes 500,5000 --baseline /tmp/k_base

``--profile`` first takes one answer apart in-process, per question and tree (the
baseline in a child process on its own code): the engine's answer (``MapKeeper.answer``),
filling the ``SpatialQuery.Response`` (``messages.fill_response``), its CDR serialisation
and the client's deserialisation (``rclpy.serialization``), with the objects listed and
the bytes on the wire; the DDS run's p50 minus these is transport and executor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from procstat import cpu_s, rss_mib

# A --profile child measures another tree: its code comes first on the path.
ROOT = Path(os.environ.get("SSR_BENCH_TREE") or Path(__file__).resolve().parents[1])
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

QUESTIONS = ("where is the chair?", "how many chairs are there?",
             "how far is the lamp from the sofa?", "which object is closest to the table?")
READY_QUESTION = "how many chairs are there?"


def build_payload(n_objects: int) -> dict:
    """A node map file payload (kind, map_frame, revision, object_map, cogmap, room,
    path_m) of about ``n_objects`` objects of the floor (whole rooms of 24), readable by
    the map keeper before and after issue 18."""
    from benchmarks import scale
    from ssr_ros.core.cogmap import LocalCogMap
    from ssr_ros.core.objects import ObjectMap, ObjectMapConfig

    rooms = scale.floor_layout(n_objects)
    rng = np.random.default_rng(1)
    omap = ObjectMap(ObjectMapConfig(max_objects=n_objects + 64))
    keyframe = 0
    for room in rooms:
        for cam in scale.room_cameras(room):
            omap.integrate([scale.observe(*o, cam, rng) for o in room], float(keyframe),
                           keyframe)
            keyframe += 1
    cogmap = LocalCogMap()
    cogmap.sync(omap.objects())
    return {"kind": "ssr_ros.map", "map_frame": "map", "revision": 1,
            "saved_at": time.time(), "object_map": omap.to_dict(),
            "cogmap": cogmap.to_dict(), "room": None, "path_m": []}


def _env(tree: Path, domain_id: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID=domain_id,
               PYTHONUNBUFFERED="1")
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_local.xml"))
    env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
    return env


def write_map(tree: Path, payload_path: Path, out: Path) -> None:
    """Write the payload as a map file with ``tree``'s own store (its file format)."""
    code = ("import json, sys; from ssr_ros.core import store; "
            "store.save_map(sys.argv[2], json.load(open(sys.argv[1])))")
    subprocess.run([sys.executable, "-c", code, str(payload_path), str(out)], check=True,
                   env=_env(tree, "0"), cwd=str(tree))


def query_client(namespace: str, duration_s: float, rate_hz: float, out_path: str,
                 node_pid: int, settle_s: float = 0.0) -> int:
    """Wait until the node's map answers and ``settle_s`` more, then ask at ``rate_hz``
    for ``duration_s``; writes latencies [ms], errors and the node's CPU share and RSS as
    JSON."""
    import rclpy
    from rclpy.node import Node

    from ssr_ros.srv import SpatialQuery

    rclpy.init()
    node = Node("ssr_bench_queries", namespace=namespace)
    client = node.create_client(SpatialQuery, "spatial_query")

    def ask(question: str, timeout_s: float = 5.0):
        future = client.call_async(SpatialQuery.Request(question=question))
        rclpy.spin_until_future_complete(node, future, timeout_sec=timeout_s)
        return future.result() if future.done() else None

    if not client.wait_for_service(timeout_sec=120.0):
        print("query client: no service", file=sys.stderr)
        return 1
    deadline = time.monotonic() + 300.0
    while time.monotonic() < deadline:  # the map file is loaded at configure
        answer = ask(READY_QUESTION)
        if answer is not None and answer.success and answer.value > 0:
            break
        time.sleep(0.2)
    else:
        print("query client: the map never answered", file=sys.stderr)
        return 1
    time.sleep(settle_s)
    latencies, errors, refused = [], 0, 0
    period = 1.0 / rate_hz
    cpu0, t0_wall = cpu_s(node_pid), time.monotonic()
    end = t0_wall + duration_s
    next_at = t0_wall
    k = 0
    while time.monotonic() < end:
        next_at += period
        t0 = time.perf_counter()
        answer = ask(QUESTIONS[k % len(QUESTIONS)])
        k += 1
        if answer is None:
            errors += 1
        else:
            latencies.append(1000.0 * (time.perf_counter() - t0))
            # an ambiguous name is an answer too (an error code with a message)
            refused += int(not answer.success)
        time.sleep(max(0.0, next_at - time.monotonic()))
    cpu = 100.0 * (cpu_s(node_pid) - cpu0) / (time.monotonic() - t0_wall)
    Path(out_path).write_text(json.dumps({"latency_ms": latencies, "errors": errors,
                                          "refused": refused,
                                          "node_cpu_pct": cpu,
                                          "node_rss_mib": rss_mib(node_pid)}))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def profile_child(map_file: str, out_path: str, repeats: int = 30) -> int:
    """(In a child process, on the tree of ``SSR_BENCH_TREE``.) Median times [ms] of each
    stage of one answer to every question (module docstring), to ``out_path``."""
    from rclpy.serialization import deserialize_message, serialize_message

    from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
    from ssr_ros.ros import messages
    from ssr_ros.ros.pipeline_factory import query_request
    from ssr_ros.runtime.map_state import MapKeeper
    from ssr_ros.srv import SpatialQuery

    keeper = MapKeeper(lambda: MappingPipeline(PipelineConfig()))
    count = keeper.load(map_file)
    rows = []
    for question in QUESTIONS:
        stages: dict[str, list[float]] = {}

        def timed(stage, fn, *args):
            t0 = time.perf_counter()
            out = fn(*args)
            stages.setdefault(stage, []).append((time.perf_counter() - t0) * 1e3)
            return out

        for _ in range(repeats):
            request = SpatialQuery.Request(question=question)
            core = query_request(messages.request_fields(request))
            answer = timed("engine", keeper.answer, core)
            response = timed("fill", messages.fill_response, SpatialQuery.Response(), answer,
                             keeper.snapshot.objects_by_id)
            data = timed("serialise", serialize_message, response)
            timed("deserialise", deserialize_message, data, SpatialQuery.Response)
        rows.append({"question": question, "objects listed": len(response.objects),
                     "error": int(response.error_code), "bytes": len(data),
                     **{k: float(np.median(v)) for k, v in stages.items()}})
    Path(out_path).write_text(json.dumps({"objects": count, "rows": rows}))
    return 0


def profile(trees: list[tuple[str, Path]], map_files: dict[str, Path], work: Path,
            n: int) -> None:
    """Print ``profile_child`` of each tree for the ``n``-object map."""
    print(f"\none answer taken apart, {n} objects (medians of 30, ms; bytes of the CDR "
          "response):")
    print("| code | question | listed | bytes | engine | fill | serialise | deserialise "
          "|\n|---|---|---|---|---|---|---|---|")
    for label, tree in trees:
        out = work / f"profile_{label}_{n}.json"
        env = dict(_env(tree, "0"), SSR_BENCH_TREE=str(tree))
        subprocess.run([sys.executable, __file__, "--profile-child", str(map_files[label]),
                        str(out)], env=env, cwd=str(tree), check=True)
        for r in json.loads(out.read_text())["rows"]:
            print(f"| {label} | {r['question']} | {r['objects listed']} | {r['bytes']} | "
                  f"{r['engine']:.2f} | {r['fill']:.2f} | {r['serialise']:.2f} | "
                  f"{r['deserialise']:.2f} |")


def run_one(label: str, tree: Path, map_file: Path, work: Path, duration_s: float,
            rate_hz: float, domain_id: str, settle_s: float) -> dict:
    """Start ``tree``'s ssr_node with ``map_file`` and measure queries against it."""
    namespace = f"/bench_{label}_{os.getpid()}"
    env = _env(tree, domain_id)
    log = open(work / f"node_{label}_{map_file.stem}.log", "w")
    node = subprocess.Popen(
        [sys.executable, "-m", "ssr_ros.ros.node", "--ros-args", "-r", f"__ns:={namespace}",
         "-p", "autostart:=true", "-p", f"map_path:={map_file}",
         "-p", "autosave_period_s:=0.0"],
        env=env, cwd=str(tree), stdout=log, stderr=subprocess.STDOUT)
    out = work / f"queries_{label}_{map_file.stem}.json"
    try:
        client = subprocess.run(
            [sys.executable, __file__, "--client", namespace, str(out), str(node.pid),
             "--duration", str(duration_s), "--rate", str(rate_hz),
             "--settle", str(settle_s)],
            env=_env(ROOT, domain_id), cwd=str(ROOT), timeout=duration_s + settle_s + 600)
        if client.returncode != 0 or node.poll() is not None:
            raise SystemExit(f"[bench] {label} failed; see {log.name}")
        return json.loads(out.read_text())
    finally:
        node.terminate()
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,5000")
    parser.add_argument("--duration", type=float, default=30.0, help="per run [s]")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="wait after the map first answers [s] (module docstring)")
    parser.add_argument("--rate", type=float, default=20.0, help="queries per second")
    parser.add_argument("--baseline", help="checkout of the code before the change")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--profile", action="store_true",
                        help="also take one answer apart in-process (module docstring)")
    parser.add_argument("--client", nargs=3, metavar=("NS", "OUT", "PID"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", nargs=2, metavar=("MAP", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.profile_child:
        return profile_child(*args.profile_child)
    if args.client:
        return query_client(args.client[0], args.duration, args.rate, args.client[1],
                            int(args.client[2]), settle_s=args.settle)
    sizes = [int(s) for s in args.sizes.split(",")]
    trees = [("new", ROOT)]
    if args.baseline:
        trees.insert(0, ("baseline", Path(args.baseline).resolve()))
    domain_id = os.environ.get("SSR_TEST_DOMAIN_ID") or str(random.randint(1, 100))
    work = Path(tempfile.mkdtemp(prefix="ssr_node_queries_"))
    started = datetime.now(timezone.utc)
    print(f"# node queries, {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
          f"{args.rate:g} q/s for {args.duration:g} s per run, {args.settle:g} s after the map "
          f"answers; logs in {work}")
    print("errors: no response within 5 s; refused: answered with an error code (an "
          "ambiguous name among many rooms' objects)")
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        payload = build_payload(n)
        payload_path = work / f"payload_{n}.json"
        payload_path.write_text(json.dumps(payload))
        n_objects = sum(1 for o in payload["object_map"]["objects"] if o.get("confirmed", True))
        print(f"[bench] floor of {n_objects} objects built in {time.perf_counter() - t0:.0f} s",
              flush=True)
        map_files = {label: work / f"{label}_{n}.map" for label, _ in trees}
        for label, tree in trees:
            write_map(tree, payload_path, map_files[label])
        if args.profile:
            profile(trees, map_files, work, n_objects)
        for label, tree in trees:
            map_file = map_files[label]
            res = run_one(label, tree, map_file, work, args.duration, args.rate, domain_id,
                          args.settle)
            lat = np.array(res["latency_ms"])
            row = {"code": label, "objects": n_objects, "queries": len(lat),
                   "errors": res["errors"], "refused": res["refused"],
                   "p50": float(np.percentile(lat, 50)),
                   "p99": float(np.percentile(lat, 99)), "max": float(lat.max()),
                   "cpu_pct": res["node_cpu_pct"], "rss_mib": res["node_rss_mib"],
                   "file_mb": map_file.stat().st_size / 1e6}
            rows.append(row)
            print(f"[bench] {label} {n_objects}: p50 {row['p50']:.1f} p99 {row['p99']:.1f} "
                  f"ms", flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    print("\n| code | objects | queries | errors | refused | p50 ms | p99 ms | max ms "
          "| node CPU % | node RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['code']} | {r['objects']} | {r['queries']} | {r['errors']} | "
              f"{r['refused']} | "
              f"{r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | {r['cpu_pct']:.1f} | "
              f"{r['rss_mib']:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"started": started.isoformat(),
                                               "machine": platform.node(), "rows": rows},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
