"""TF from a bag (issue 14): ``ssr-sim`` bag -> ``ssr-play --bag`` -> ssr_node with
``pose_source: tf`` (tf2_ros where installed, else the in-package buffer fed by /tf and
/tf_static) maps the room as well as the same node with ``pose_source: camera_pose``
fed from the same bag's /camera/pose."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("ssr_ros.msg", reason="ssr_ros interfaces are not built (make build)")
pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs interfaces are not built "
                    "(interfaces/tf2_msgs)")

from lifecycle_msgs.msg import Transition  # noqa: E402
from rosutil import (DEMO_PARAMS, RosClient, _env, namespace, ns_args,  # noqa: E402
                     run_player)

from ssr_ros.eval.run import score_map  # noqa: E402

SEED, FRAMES, SIZE = 5, 90, "320x240"
# the node's inputs -> the ssr-sim bag's topics (absolute, under /camera)
REMAPS = {"color/image_raw": "/camera/color/image_raw",
          "depth/image_raw": "/camera/depth/image_raw",
          "color/camera_info": "/camera/color/camera_info",
          "labels/image_raw": "/camera/labels/image_raw",
          "labels/names": "/camera/labels/names",
          "camera_pose": "/camera/pose"}


@pytest.fixture(scope="module")
def sim_bag(tmp_path_factory):
    out = tmp_path_factory.mktemp("simbag")
    done = subprocess.run([sys.executable, "-m", "ssr_ros.sim.cli", "--seed", str(SEED),
                           "--out", str(out), "--frames", str(FRAMES), "--size", SIZE,
                           "--rate", "10"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out / "bag"


def _map_with(pose_source: str, bag, tmp_path) -> tuple[list, dict]:
    ns = namespace(f"tf_{pose_source}")
    remaps = [a for k, v in REMAPS.items() for a in ("-r", f"{k}:={v}")]
    log_path = tmp_path / f"node_{pose_source}.log"
    cmd = [sys.executable, "-m", "ssr_ros.ros.node", "--ros-args",
           "--params-file", str(DEMO_PARAMS), "-p", f"map_path:={tmp_path / 'm.json'}",
           "-p", f"pose_source:={pose_source}", "-p", "diagnostics_period_s:=0.25",
           "-p", "camera_frame:=camera_color_optical_frame", "-p", "pose_timeout_s:=0.5",
           *remaps, *ns_args(ns)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=_env(), stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(tmp_path))
        client = RosClient(ns=ns)
        try:
            assert client.transition(Transition.TRANSITION_CONFIGURE), log_path.read_text()
            assert client.transition(Transition.TRANSITION_ACTIVATE), log_path.read_text()
            rc = run_player(["--bag", str(bag), "--rate", "0.5"],
                            tmp_path / f"play_{pose_source}.log", timeout_s=300.0)
            assert rc == 0, (tmp_path / f"play_{pose_source}.log").read_text()
            diag = client.settled_diagnostics()
            graph = client.late_scene_graph(predicate=lambda g: len(g.objects) > 0)
            assert graph is not None, log_path.read_text()
            return list(graph.objects), diag
        finally:
            client.close()
            proc.terminate()
            proc.wait(20)


def _score(objects) -> dict:
    from ssr_ros.sim import make_scene

    predicted = [SimpleNamespace(label=o.label, center_m=np.array(
        [o.position.x, o.position.y, o.position.z]), size_m=np.array(
        [o.size.x, o.size.y, o.size.z])) for o in objects]
    scored = score_map(predicted, make_scene(SEED).objects)
    centre = scored["centre_errors_m"]
    return {"matched": scored["n_matched"], "n_pred": scored["n_pred"],
            "median_centre_m": float(np.median(centre)) if centre else math.nan}


def test_tf_maps_the_bag_as_well_as_camera_pose(sim_bag, tmp_path) -> None:
    tf_objects, tf_diag = _map_with("tf", sim_bag, tmp_path)
    pose_objects, pose_diag = _map_with("camera_pose", sim_bag, tmp_path)
    by_tf, by_pose = _score(tf_objects), _score(pose_objects)
    print(f"pose_source tf: {by_tf} ({tf_diag.get('frames.processed')} frames); "
          f"camera_pose: {by_pose} ({pose_diag.get('frames.processed')} frames)")
    assert not [k for k in tf_diag if k.startswith(("invalid.", "pose_drop."))], tf_diag
    assert by_tf["matched"] >= by_pose["matched"] - 1, (by_tf, by_pose)
    assert by_tf["median_centre_m"] <= by_pose["median_centre_m"] + 0.01, (by_tf, by_pose)
