"""Generated questions: VSI-Bench phrasings, and every answer recomputed here, from the
ground truth, with this file's own geometry (bounded least squares for box distances,
complex numbers for angles, label images for first appearances)."""

import functools
import math
import re

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from ssr_ros.sim import make_scene, render_sequence
from ssr_ros.sim.questions import TASKS, generate_questions

SEEDS = (1, 4, 7)
W, H, FRAMES, RATE = 128, 96, 100, 5.0

# The phrasings, verbatim from the project brief ({name} = an object or category name).
PHRASINGS = {
    "object_count": "How many {category}(s) are in this room?",
    "abs_distance": "Measuring from the closest point of each object, what is the direct "
                    "distance between the {a} and the {b} (in meters)?",
    "object_size": "What is the length of the longest dimension (length, width, or height) "
                   "of the {category}, measured in centimeters?",
    "room_size": "What is the size of this room (in square meters)? If multiple rooms are "
                 "shown, estimate the size of the combined space.",
    "rel_distance": "Measuring from the closest point of each object, which of these objects "
                    "({c1}, {c2}, {c3}, {c4}) is the closest to the {category}?",
    "easy": "If I am standing by the {a} and facing the {b}, is the {c} to my left or right?",
    "medium": "If I am standing by the {a} and facing the {b}, is the {c} to my left, right, "
              "or back? An object is to my back if I would have to turn at least 135 degrees "
              "in order to face it.",
    "hard": "If I am standing by the {a} and facing the {b}, is the {c} to my front-left, "
            "front-right, back-left, or back-right? The directions refer to the quadrants of a "
            "Cartesian plane (if I am standing at the origin and facing along the positive "
            "y-axis).",
    "route_head": "You are a robot beginning at the {a} and facing the {b}. You want to "
                  "navigate to the {c}. You will perform the following actions (Note: for "
                  "each [please fill in], choose either 'turn back,' 'turn left,' or 'turn "
                  "right.'): ",
    "appearance_order": "What will be the first-time appearance order of the following "
                        "categories in the video: {c1}, {c2}, {c3}, {c4}?",
    "locate": "Where is the {x}?",
    "turn": "Which way should I turn to face the {x}?",
}


def _pattern(template, anchored=True):
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>.+?)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex + ("$" if anchored else ""))


def _match(template, text, anchored=True):
    m = _pattern(template, anchored).match(text)
    assert m, f"phrasing differs:\n{text}\n{template}"
    return m


@functools.lru_cache(maxsize=None)
def _world(seed):
    scene = make_scene(seed)
    seq = render_sequence(scene, n_frames=FRAMES, width=W, height=H, rate_hz=RATE)
    first = {}
    for i in range(len(seq)):
        counts = np.bincount(seq.frame(i).instance_ids.ravel())
        for object_id in np.nonzero(counts >= seq.min_visible_pixels)[0]:
            if object_id:
                first.setdefault(int(object_id), i)
    questions = generate_questions(scene, seq, seed=seed)
    return scene, seq, first, questions


@pytest.fixture(scope="module", params=SEEDS)
def world(request):
    return _world(request.param)


def _rotation(yaw):
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def box_distance(a, b):
    """min |p - q| over p in box a, q in box b, as a bounded linear least squares."""
    A = np.hstack([_rotation(a.yaw_rad), -_rotation(b.yaw_rad)])
    half = np.concatenate([0.5 * a.size_m, 0.5 * b.size_m])
    res = lsq_linear(A, b.center_m - a.center_m, bounds=(-half, half), tol=1e-12)
    return float(np.linalg.norm(A @ res.x - (b.center_m - a.center_m)))


def ccw_degrees(forward, to):
    return math.degrees(np.angle(complex(*to) / complex(*forward)))


def only(scene, name):
    objs = [o for o in scene.objects if o.category == name]
    assert len(objs) == 1, f"{name} is not unique"
    return objs[0]


def test_every_task_is_asked_and_phrasings_match(world):
    _, _, _, questions = world
    for q in questions:
        assert q.task in TASKS
        key = q.subtype if q.task in ("rel_direction", "robot") else q.task
        if q.task == "route_plan":
            _match(PHRASINGS["route_head"], q.text, anchored=False)
            assert q.text.endswith(f"Go forward until the {q.target}. You have reached the "
                                   "final destination.")
        else:
            _match(PHRASINGS[key], q.text)
        if q.options:
            assert q.answer in q.options and len(set(q.options)) == len(q.options)


def test_tasks_cover_all_nine_over_the_seeds():
    asked = {q.task for seed in SEEDS for q in _world(seed)[3]}
    assert asked == set(TASKS)


def test_numeric_answers(world):
    scene, _, first, questions = world
    for q in questions:
        if q.task == "object_count":
            m = _match(PHRASINGS["object_count"], q.text)
            instances = [o for o in scene.objects if o.category == m["category"]]
            assert q.answer == len(instances) >= 2
            assert all(o.id in first for o in instances)
        elif q.task == "abs_distance":
            m = _match(PHRASINGS["abs_distance"], q.text)
            a, b = only(scene, m["a"]), only(scene, m["b"])
            assert q.answer == pytest.approx(box_distance(a, b), abs=1e-5)
            assert a.id in first and b.id in first
        elif q.task == "object_size":
            obj = only(scene, _match(PHRASINGS["object_size"], q.text)["category"])
            assert q.answer == pytest.approx(100.0 * max(obj.size_m), abs=0.051)
        elif q.task == "room_size":
            poly = scene.room.polygon_xy
            shoelace = 0.5 * abs(sum(poly[k - 1, 0] * poly[k, 1] - poly[k, 0] * poly[k - 1, 1]
                                     for k in range(len(poly))))
            assert q.answer == pytest.approx(shoelace, rel=1e-9)


def test_relative_distance_answers(world):
    scene, _, first, questions = world
    for q in (q for q in questions if q.task == "rel_distance"):
        m = _match(PHRASINGS["rel_distance"], q.text)
        ref = only(scene, m["category"])
        names = [m["c1"], m["c2"], m["c3"], m["c4"]]
        assert q.options == names
        dist = {n: min(box_distance(ref, o) for o in scene.objects if o.category == n)
                for n in names}
        ranked = sorted(names, key=dist.get)
        assert q.answer == ranked[0]
        assert dist[ranked[1]] - dist[ranked[0]] >= 0.15 - 1e-9
        assert all(o.id in first for o in scene.objects if o.category in names)


def test_relative_direction_answers(world):
    scene, _, first, questions = world
    for q in (q for q in questions if q.task == "rel_direction"):
        m = _match(PHRASINGS[q.subtype], q.text)
        a, b, c = (only(scene, m[k]) for k in ("a", "b", "c"))
        assert all(o.id in first for o in (a, b, c))
        facing = b.center_m[:2] - a.center_m[:2]
        to_c = c.center_m[:2] - a.center_m[:2]
        right = np.array([facing[1], -facing[0]])
        x, y = float(to_c @ right), float(to_c @ facing)  # facing along +y, x to the right
        turn = abs(ccw_degrees(facing, to_c))
        if q.subtype == "easy":
            assert q.options == ["left", "right"]
            expected = "left" if x < 0 else "right"
        elif q.subtype == "medium":
            assert q.options == ["left", "right", "back"]
            expected = "back" if turn >= 135.0 else ("left" if x < 0 else "right")
        else:
            assert q.options == ["front-left", "front-right", "back-left", "back-right"]
            expected = f"{'front' if y > 0 else 'back'}-{'left' if x < 0 else 'right'}"
        assert q.answer == expected, q.text


def test_route_plan_answers(world):
    scene, _, _, questions = world
    for q in (q for q in questions if q.task == "route_plan"):
        head = _match(PHRASINGS["route_head"], q.text, anchored=False)
        start, facing, goal = (only(scene, head[k]) for k in ("a", "b", "c"))
        body = q.text[head.end():-len(" You have reached the final destination.")]
        steps = re.split(r"(?:^| )(\d+)\. ", body)[1:]
        numbers, actions = steps[0::2], steps[1::2]
        assert numbers == [str(k) for k in range(1, len(numbers) + 1)]
        assert actions[-1] == f"Go forward until the {head['c']}."
        stops = [a[len("Go forward until the "):].rstrip(".") for a in actions
                 if a.startswith("Go forward until the ")]
        assert len(stops) + actions.count("[please fill in]") == len(actions)
        points = [start.center_m[:2]] + [only(scene, n).center_m[:2] for n in stops]
        heading = facing.center_m[:2] - start.center_m[:2]
        go_forward = [i for i, a in enumerate(actions) if a.startswith("Go forward")]
        fills = []
        for k, i in enumerate(go_forward):
            leg = points[k + 1] - points[k]
            angle = ccw_degrees(heading, leg)
            heading = leg
            # A fill-in stands right before a leg exactly when its turn is 45 deg or more.
            asked = i > 0 and actions[i - 1] == "[please fill in]"
            assert asked == (abs(angle) >= 45.0), q.text
            if asked:
                fills.append("Turn Back" if abs(angle) > 135.0
                             else ("Turn Left" if angle > 0 else "Turn Right"))
        assert q.answer == ", ".join(fills), q.text
        assert len(fills) >= 2
        assert len(q.options) == 4
        assert stops[-1] == goal.category


def test_appearance_order_answers(world):
    scene, _, first, questions = world
    for q in (q for q in questions if q.task == "appearance_order"):
        m = _match(PHRASINGS["appearance_order"], q.text)
        names = [m["c1"], m["c2"], m["c3"], m["c4"]]
        appear = {n: min(first[o.id] for o in scene.objects if o.category == n and o.id in first)
                  for n in names}
        order = sorted(names, key=appear.get)
        assert q.answer == ", ".join(order)
        assert len(set(appear.values())) == 4
        assert len(q.options) == 4
        assert all(sorted(opt.split(", ")) == sorted(names) for opt in q.options)


def test_robot_answers(world):
    scene, seq, first, questions = world
    T = seq.poses[-1]
    position, heading = T[:2, 3], T[:2, 2]
    for q in (q for q in questions if q.task == "robot"):
        assert q.robot_pose.x == pytest.approx(position[0])
        assert q.robot_pose.y == pytest.approx(position[1])
        if q.subtype == "locate":
            obj = only(scene, _match(PHRASINGS["locate"], q.text)["x"])
            assert q.answer == pytest.approx(list(obj.center_m[:2]))
            assert q.options == []
        else:
            obj = only(scene, _match(PHRASINGS["turn"], q.text)["x"])
            angle = ccw_degrees(heading, obj.center_m[:2] - position)
            expected = "behind" if abs(angle) > 135.0 else ("left" if angle > 0 else "right")
            assert q.answer == expected
            assert q.options == ["left", "right", "behind"]
        assert obj.id in first


def test_same_seed_same_questions():
    scene = make_scene(4)
    seq = render_sequence(scene, n_frames=30, width=64, height=48)
    a = [q.to_dict() for q in generate_questions(scene, seq, seed=3)]
    b = [q.to_dict() for q in generate_questions(scene, seq, seed=3)]
    c = [q.to_dict() for q in generate_questions(scene, seq, seed=5)]
    assert a == b and a != c
