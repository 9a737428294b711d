#!/usr/bin/env python3
"""The ssr_ros demo (``make demo``): a sim room mapped by ssr_node over real DDS.

1. Renders a procedural room to a rosbag2 and its VSI-Bench-style questions to JSON
   (cached under ``<out>/cache``; later runs reuse them).
2. Starts ``ssr_node`` (config/demo.yaml) and drives its lifecycle through the
   ``lifecycle_msgs`` ChangeState service, as a lifecycle manager would.
3. Plays the bag with ``ssr-play --bag`` (a separate process).
4. Asks the questions through ``spatial_query`` from a separate client process
   (``ssr-ask --batch``) and prints each answer beside the ground truth with its score
   (exact match for choices, mean relative accuracy for numbers, distance for locate).
5. Writes ``<out>/scene_graph.json`` (the graph a late subscriber receives),
   ``<out>/cogmap.png`` (bird's-eye view: objects, labels, triplet edges, camera path),
   ``<out>/answers.json`` and the node's map ``<out>/map.json``.
6. Runs ``ssr-view`` beside the node while it maps (its address is printed: open it in a
   browser) and writes ``<out>/view.png`` from headless chromium when it is installed.

All processes run with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a ROS_DOMAIN_ID of
their own (the current one when set). Takes a few minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _child_env(domain_id: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = domain_id
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE",
                   str(ROOT / "config" / "fastdds_local.xml"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def prepare_room(cache: Path, seed: int, frames: int, width: int, height: int,
                 rate_hz: float) -> tuple[Path, list[dict]]:
    """The cached bag and questions of this room, rendered when missing."""
    from ssr_ros.ros.player import record_bag, sim_frames
    from ssr_ros.sim import make_scene, render_sequence
    from ssr_ros.sim.questions import generate_questions

    name = f"sim_seed{seed}_{width}x{height}_{frames}f_{rate_hz:g}hz"
    bag = cache / name
    questions_path = cache / f"{name}_questions.json"
    if bag.is_dir() and questions_path.is_file():
        print(f"[demo] reusing the cached room {bag}")
        return bag, json.loads(questions_path.read_text())
    cache.mkdir(parents=True, exist_ok=True)
    print(f"[demo] rendering sim room seed {seed}: {frames} frames {width}x{height} ...")
    partial = cache / (name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    record_bag(sim_frames(seed, frames, width, height, rate_hz), str(partial))
    scene = make_scene(seed)
    seq = render_sequence(scene, n_frames=frames, width=width, height=height,
                          rate_hz=rate_hz, seed=seed)
    questions = [{"task": q.task, "subtype": q.subtype, "text": q.text,
                  "options": list(q.options),
                  "answer": q.answer if isinstance(q.answer, str) else
                  (list(map(float, q.answer)) if isinstance(q.answer, (list, tuple))
                   else float(q.answer))}
                 for q in generate_questions(scene, seq, seed, max_per_task=1)]
    questions_path.write_text(json.dumps(questions, indent=2))
    shutil.rmtree(bag, ignore_errors=True)
    partial.rename(bag)
    return bag, questions


def prediction_of(question: dict, answer: dict):
    """What the node's answer predicts, in the question's answer format."""
    if not answer["success"]:
        return None
    if question["task"] == "robot" and question["subtype"] == "locate":
        return answer["objects"][0]["position"][:2] if answer["objects"] else None
    if question["options"]:
        return answer["choice"]
    return answer["value"]


def score(question: dict, prediction) -> float:
    from ssr_ros.eval.metrics import score_question

    if prediction is None:
        return 0.0
    return float(score_question(SimpleNamespace(**question), prediction))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return "(" + ", ".join(f"{v:.2f}" for v in value) + ")"
    return str(value)


def write_outputs(out: Path, graph, map_path: Path) -> None:
    """scene_graph.json from the received graph; cogmap.png from the node's saved map
    (its exact chain and camera path)."""
    from ssr_ros.core import store
    from ssr_ros.core.cogmap import LocalCogMap
    from ssr_ros.eval.bev import save_bev
    from ssr_ros.ros.messages import msg_to_object

    objects = [msg_to_object(o) for o in graph.objects]
    data = {
        "frame_id": graph.header.frame_id, "revision": int(graph.revision),
        "objects": [{"id": o.id, "label": o.label, "center_m": o.center_m.tolist(),
                     "size_m": o.size_m.tolist(), "yaw_rad": o.yaw_rad, "score": o.score,
                     "observation_count": o.observation_count} for o in objects],
        "triplets": [{"anchor_a": t.anchor_a, "anchor_b": t.anchor_b, "target": t.target,
                      "local_xy_m": [t.local_x, t.local_y],
                      "cell": [int(t.cell_col), int(t.cell_row)],
                      "cell_size_m": float(t.cell_size)} for t in graph.triplets],
    }
    (out / "scene_graph.json").write_text(json.dumps(data, indent=2))
    payload = store.load_map(map_path)
    import numpy as np

    save_bev(out / "cogmap.png", objects, LocalCogMap.from_dict(payload["cogmap"]),
             np.asarray(payload.get("path_m", []), dtype=float).reshape(-1, 3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=3, help="sim room seed")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--sim-rate-hz", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    parser.add_argument("--out", default="demo_out", help="output folder")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    domain_id = os.environ.get("ROS_DOMAIN_ID") or str(random.SystemRandom().randint(1, 100))
    env = _child_env(domain_id)
    os.environ.update({k: env[k] for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_DOMAIN_ID",
                                           "FASTDDS_DEFAULT_PROFILES_FILE")})
    started = time.monotonic()
    bag, questions = prepare_room(out / "cache", args.seed, args.frames, args.width,
                                  args.height, args.sim_rate_hz)

    import rclpy
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_srvs.srv import Trigger

    from ssr_ros.msg import SceneGraph
    from ssr_ros.ros.topics import bag_remaps

    map_path = out / "map.json"
    map_path.unlink(missing_ok=True)
    node_log = open(out / "node.log", "w")
    print(f"[demo] starting ssr_node (ROS_DOMAIN_ID={domain_id}, log {out / 'node.log'})")
    node_proc = subprocess.Popen(
        [sys.executable, "-m", "ssr_ros.ros.node", "--ros-args", "--params-file",
         str(ROOT / "config" / "demo.yaml"), "-p", f"map_path:={map_path}", *bag_remaps()],
        env=env, stdout=node_log, stderr=subprocess.STDOUT)
    rclpy.init()
    client = Node("ssr_demo_manager")
    view = None
    try:
        def call(srv_type, name, request, timeout_s=30.0):
            cli = client.create_client(srv_type, name)
            if not cli.wait_for_service(timeout_sec=timeout_s):
                raise RuntimeError(f"service {name} did not appear (see {out / 'node.log'})")
            future = cli.call_async(request)
            rclpy.spin_until_future_complete(client, future, timeout_sec=timeout_s)
            if not future.done():
                raise RuntimeError(f"service {name} did not answer")
            return future.result()

        for transition, label in ((Transition.TRANSITION_CONFIGURE, "configure"),
                                  (Transition.TRANSITION_ACTIVATE, "activate")):
            request = ChangeState.Request()
            request.transition = Transition(id=transition)
            if not call(ChangeState, "ssr_node/change_state", request).success:
                raise RuntimeError(f"lifecycle {label} failed (see {out / 'node.log'})")
            print(f"[demo] lifecycle: {label} -> ok")

        from ssr_ros.view.demo import start_demo_view, write_view_png

        view = start_demo_view(env, out / "view.log")
        print(f"[demo] playing {bag.name} at {args.rate:g}x ...")
        with open(out / "player.log", "w") as log:
            subprocess.run([sys.executable, "-m", "ssr_ros.ros.player", "--bag", str(bag),
                            "--rate", str(args.rate)], env=env, stdout=log,
                           stderr=subprocess.STDOUT, check=True, timeout=1800)
        time.sleep(2.0)  # let the worker finish the last keyframe

        questions_file = out / "questions.json"
        # multiple-choice options travel in `candidates` of a plain question
        questions_file.write_text(json.dumps([{"question": q["text"],
                                               "candidates": q["options"]}
                                              for q in questions]))
        print(f"[demo] asking {len(questions)} questions from a separate client ...")
        subprocess.run([sys.executable, "-m", "ssr_ros.ros.ask", "--batch",
                        str(questions_file), "--json", str(out / "answers.json"),
                        "--timeout", "30"], env=env, check=True, timeout=600)
        answers = json.loads((out / "answers.json").read_text())

        saved = call(Trigger, "save_map", Trigger.Request())
        print(f"[demo] save_map: {saved.message}")
        graphs: list = []
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        client.create_subscription(SceneGraph, "cogmap/scene_graph", graphs.append, latched)
        deadline = time.monotonic() + 15.0
        while not graphs and time.monotonic() < deadline:
            rclpy.spin_once(client, timeout_sec=0.1)
        if not graphs:
            raise RuntimeError("no scene graph received")
        write_outputs(out, graphs[-1], map_path)
        if view is not None:
            print(f"[demo] view: {write_view_png(view.url, out / 'view.png', graphs[-1])}")
    finally:
        if view is not None:
            view.stop()
        client.destroy_node()
        rclpy.try_shutdown()
        if node_proc.poll() is None:
            node_proc.send_signal(signal.SIGINT)
            try:
                node_proc.wait(30)
            except subprocess.TimeoutExpired:
                node_proc.kill()
        node_log.close()

    print()
    print(f"{'task':<18} {'question':<58} {'answer':<28} {'truth':<28} score")
    scores: dict[str, list[float]] = {}
    for question, answer in zip(questions, answers):
        prediction = prediction_of(question, answer)
        value = score(question, prediction)
        scores.setdefault(question["task"], []).append(value)
        shown = _fmt(prediction) if prediction is not None else \
            f"error {answer['error_code']}: {answer['message']}"
        task = question["task"] + (f"/{question['subtype']}" if question["subtype"] else "")
        print(f"{task:<18} {question['text'][:56]:<58} {shown[:27]:<28} "
              f"{_fmt(question['answer'])[:27]:<28} {value:.2f}")
    per_task = {t: sum(v) / len(v) for t, v in scores.items()}
    overall = sum(per_task.values()) / max(len(per_task), 1)
    graph = json.loads((out / "scene_graph.json").read_text())
    print()
    print(f"[demo] {len(graph['objects'])} objects, {len(graph['triplets'])} triplets; "
          f"mean score over tasks {overall:.2f}; {time.monotonic() - started:.0f} s")
    print(f"[demo] outputs: {out / 'cogmap.png'}, {out / 'view.png'}, "
          f"{out / 'scene_graph.json'}, "
          f"{out / 'answers.json'}, {map_path}, logs {out / 'node.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
