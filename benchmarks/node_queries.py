#!/usr/bin/env python3
"""``spatial_query`` latency of ssr_node with a large map loaded, from another process.

For each map size (objects of the synthetic building floor of ``benchmarks/scale.py``,
mapped with the core ``ObjectMap``), the map is written as a node map file by each code
tree's own ``store.save_map``; ssr_node of that tree starts with it (``map_path``, no
camera), and a client process sends mixed questions (where, how many, how far, nearest)
at ``--rate`` per second over DDS for ``--duration`` seconds after the map answers. The
node's CPU share and RSS over the same window come from /proc.

Trees: ``--baseline DIR`` is a checkout of the code before the change (make one with
``git worktree add /tmp/k_base e39ba99``, never ``git stash``); it runs in the same
invocation as the current tree, so both see the same machine load. The baseline node
re-publishes the whole scene graph and marker array every ``scene_graph_period_s`` on
its executor thread; the current one publishes only on change, off the executor.

    python benchmarks/node_queries.py --sizes 500,5000 --baseline /tmp/k_base
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

ROOT = Path(__file__).resolve().parents[1]
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
                 node_pid: int) -> int:
    """Wait until the node's map answers, then ask at ``rate_hz`` for ``duration_s``;
    writes latencies [ms], errors and the node's CPU share and RSS as JSON."""
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


def run_one(label: str, tree: Path, map_file: Path, work: Path, duration_s: float,
            rate_hz: float, domain_id: str) -> dict:
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
             "--duration", str(duration_s), "--rate", str(rate_hz)],
            env=_env(ROOT, domain_id), cwd=str(ROOT), timeout=duration_s + 600)
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
    parser.add_argument("--rate", type=float, default=20.0, help="queries per second")
    parser.add_argument("--baseline", help="checkout of the code before the change")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--client", nargs=3, metavar=("NS", "OUT", "PID"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return query_client(args.client[0], args.duration, args.rate, args.client[1],
                            int(args.client[2]))
    sizes = [int(s) for s in args.sizes.split(",")]
    trees = [("new", ROOT)]
    if args.baseline:
        trees.insert(0, ("baseline", Path(args.baseline).resolve()))
    domain_id = os.environ.get("SSR_TEST_DOMAIN_ID") or str(random.randint(1, 100))
    work = Path(tempfile.mkdtemp(prefix="ssr_node_queries_"))
    started = datetime.now(timezone.utc)
    print(f"# node queries, {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
          f"{args.rate:g} q/s for {args.duration:g} s per run; logs in {work}")
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
        for label, tree in trees:
            map_file = work / f"{label}_{n}.map"
            write_map(tree, payload_path, map_file)
            res = run_one(label, tree, map_file, work, args.duration, args.rate, domain_id)
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
