"""VSI-Bench-style questions generated from the simulator's ground truth.

Eight VSI-Bench tasks (object_count, abs_distance, object_size, room_size, rel_distance,
rel_direction with easy/medium/hard variants, route_plan, appearance_order) plus our
robot-centric task "robot" (subtypes "locate" and "turn"), with VSI-Bench's phrasings.

Geometry conventions (map frame, z up, metres):
- Distances between objects are between the closest points of their ground-truth boxes
  (0 when boxes touch). "Nearest" for a category that repeats uses its nearest instance.
- Directions use box centres projected on the floor; "standing by A" means standing at
  A's centre. Angles are counter-clockwise positive, so positive = left.
- Appearance order uses the sequence's ``first_seen`` (the first frame with at least the
  visibility threshold of labelled pixels); a category appears with its first instance.

Only unambiguous questions are asked: the objects named must be the only instance of
their category (counting and "nearest" excepted, where repeats are the point) and visible
in the sequence; a count is asked only when every instance is visible; angles closer
than ``ANGLE_MARGIN_DEG`` (route turns: ``ROUTE_MARGIN_DEG``) to a decision boundary,
nearest candidates within ``DISTANCE_MARGIN_M`` of each other, and first appearances
fewer than ``APPEARANCE_GAP_FRAMES`` apart are skipped.

Further skip rules, so that no question is trivial or degenerate:
- object_count is asked only for categories with at least 2 instances (a count of 1
  would just restate that the object exists, which every other task already assumes);
- abs_distance pairs whose boxes are closer than ``MIN_ABS_DISTANCE_M`` (0.1 m: touching
  or stacked objects, where the answer 0 would make relative accuracy meaningless) are
  skipped;
- rel_direction, route_plan and robot "turn" questions are skipped when a direction is
  taken between points (object centres, the robot) less than ``MIN_SEPARATION_M``
  (0.5 m) apart, where a small centre offset would flip the answer.

``max_per_task`` caps each task; rel_direction gets the cap per variant (easy, medium,
hard) and robot per subtype (locate, turn), room_size is always one question.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from ssr_ros.core.types import RobotPose2D
from ssr_ros.sim.planar import box_distance

TASKS: tuple[str, ...] = ("object_count", "abs_distance", "object_size", "room_size",
                          "rel_distance", "rel_direction", "route_plan", "appearance_order",
                          "robot")
ANGLE_MARGIN_DEG = 15.0
ROUTE_MARGIN_DEG = 10.0
DISTANCE_MARGIN_M = 0.15
MIN_SEPARATION_M = 0.5
MIN_ABS_DISTANCE_M = 0.1
APPEARANCE_GAP_FRAMES = 3
_SAMPLES = 400

TEMPLATES = {
    "object_count": "How many {category}(s) are in this room?",
    "abs_distance": ("Measuring from the closest point of each object, what is the direct "
                     "distance between the {a} and the {b} (in meters)?"),
    "object_size": ("What is the length of the longest dimension (length, width, or height) "
                    "of the {category}, measured in centimeters?"),
    "room_size": ("What is the size of this room (in square meters)? If multiple rooms are "
                  "shown, estimate the size of the combined space."),
    "rel_distance": ("Measuring from the closest point of each object, which of these "
                     "objects ({c1}, {c2}, {c3}, {c4}) is the closest to the {category}?"),
    "rel_direction_easy": ("If I am standing by the {a} and facing the {b}, is the {c} to "
                           "my left or right?"),
    "rel_direction_medium": ("If I am standing by the {a} and facing the {b}, is the {c} to "
                             "my left, right, or back? An object is to my back if I would "
                             "have to turn at least 135 degrees in order to face it."),
    "rel_direction_hard": ("If I am standing by the {a} and facing the {b}, is the {c} to "
                           "my front-left, front-right, back-left, or back-right? The "
                           "directions refer to the quadrants of a Cartesian plane (if I am "
                           "standing at the origin and facing along the positive y-axis)."),
    "route_plan": ("You are a robot beginning at the {a} and facing the {b}. You want to "
                   "navigate to the {c}. You will perform the following actions (Note: for "
                   "each [please fill in], choose either 'turn back,' 'turn left,' or "
                   "'turn right.'): {steps} You have reached the final destination."),
    "appearance_order": ("What will be the first-time appearance order of the following "
                         "categories in the video: {c1}, {c2}, {c3}, {c4}?"),
    "robot_locate": "Where is the {x}?",
    "robot_turn": "Which way should I turn to face the {x}?",
}
DIRECTION_OPTIONS = {"easy": ["left", "right"], "medium": ["left", "right", "back"],
                     "hard": ["front-left", "front-right", "back-left", "back-right"]}
TURN_OPTIONS = ["left", "right", "behind"]
ROUTE_TURNS = ("Turn Left", "Turn Right", "Turn Back")

Answer = Union[float, str, list]


class QuestionGenerationError(ValueError):
    """Invalid question-generation parameters."""


@dataclass
class Question:
    """One question with its ground-truth answer.

    ``answer`` is a float for numeric tasks (count, metres, centimetres rounded to 0.1 cm,
    square metres),
    the correct option string for multiple choice, and ``[x, y]`` [m, map frame] for
    robot "locate". Names follow the service's fields: ``reference`` is the object one
    stands by (rel_direction, route_plan start) or measures to (rel_distance),
    ``facing`` the object faced, ``target`` the object asked about, ``candidates`` the
    options or route waypoints, ``robot_pose`` the robot's pose for robot questions.
    """

    task: str
    text: str
    options: list[str]
    answer: Answer
    subtype: str = ""
    target: str = ""
    reference: str = ""
    facing: str = ""
    candidates: list[str] = field(default_factory=list)
    robot_pose: Optional[RobotPose2D] = None
    object_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "task": self.task, "subtype": self.subtype, "text": self.text,
            "options": list(self.options),
            "answer": self.answer if not isinstance(self.answer, np.ndarray)
            else self.answer.tolist(),
            "target": self.target, "reference": self.reference, "facing": self.facing,
            "candidates": list(self.candidates), "object_ids": list(self.object_ids),
            "robot_pose": None,
        }
        if self.robot_pose is not None:
            out["robot_pose"] = {"x": self.robot_pose.x, "y": self.robot_pose.y,
                                 "yaw_rad": self.robot_pose.yaw_rad,
                                 "stamp_s": self.robot_pose.stamp_s}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Question":
        pose = data.get("robot_pose")
        return cls(task=data["task"], text=data["text"], options=list(data["options"]),
                   answer=data["answer"], subtype=data.get("subtype", ""),
                   target=data.get("target", ""), reference=data.get("reference", ""),
                   facing=data.get("facing", ""), candidates=list(data.get("candidates", [])),
                   robot_pose=RobotPose2D(**pose) if pose else None,
                   object_ids=list(data.get("object_ids", [])))


def signed_angle_deg(forward_xy: np.ndarray, to_xy: np.ndarray) -> float:
    """Counter-clockwise angle [deg] in (-180, 180] from ``forward_xy`` to ``to_xy``."""
    cross = forward_xy[0] * to_xy[1] - forward_xy[1] * to_xy[0]
    dot = forward_xy[0] * to_xy[0] + forward_xy[1] * to_xy[1]
    return math.degrees(math.atan2(cross, dot))


def _near(angle: float, boundaries: tuple[float, ...], margin: float) -> bool:
    return any(abs(((angle - b) + 180.0) % 360.0 - 180.0) < margin for b in boundaries)


def direction_answer(angle_deg: float, variant: str) -> Optional[str]:
    """The rel_direction answer for a counter-clockwise angle, or None when the angle is
    within ``ANGLE_MARGIN_DEG`` of one of the variant's decision boundaries."""
    bounds = {"easy": (0.0, 180.0), "medium": (0.0, 135.0, -135.0),
              "hard": (0.0, 90.0, -90.0, 180.0)}[variant]
    if _near(angle_deg, bounds, ANGLE_MARGIN_DEG):
        return None
    if variant == "easy":
        return "left" if angle_deg > 0 else "right"
    if variant == "medium":
        if abs(angle_deg) >= 135.0:
            return "back"
        return "left" if angle_deg > 0 else "right"
    front = abs(angle_deg) < 90.0
    side = "left" if angle_deg > 0 else "right"
    return f"{'front' if front else 'back'}-{side}"


def route_turn(angle_deg: float) -> Optional[str]:
    """"" for a turn under 45 degrees (no fill-in), "Turn Left"/"Turn Right" between 45
    and 135 degrees, "Turn Back" beyond 135; None within ``ROUTE_MARGIN_DEG`` of 45/135."""
    a = abs(angle_deg)
    if min(abs(a - 45.0), abs(a - 135.0)) < ROUTE_MARGIN_DEG:
        return None
    if a < 45.0:
        return ""
    if a > 135.0:
        return "Turn Back"
    return "Turn Left" if angle_deg > 0 else "Turn Right"


class _Facts:
    """Ground truth the generator reads: objects, visibility, unique categories."""

    def __init__(self, scene: Any, seq: Any) -> None:
        self.scene = scene
        self.first_seen: dict[int, int] = dict(seq.first_seen)
        self.by_cat: dict[str, list[Any]] = {}
        for obj in scene.objects:
            self.by_cat.setdefault(obj.category, []).append(obj)
        self.unique = sorted(c for c, objs in self.by_cat.items()
                             if len(objs) == 1 and objs[0].id in self.first_seen)
        self.all_visible = sorted(c for c, objs in self.by_cat.items()
                                  if all(o.id in self.first_seen for o in objs))

    def one(self, name: str) -> Any:
        return self.by_cat[name][0]

    def distance(self, a: Any, b: Any) -> float:
        return box_distance(a.center_m, a.size_m, a.yaw_rad, b.center_m, b.size_m, b.yaw_rad)


def _count(f: _Facts, rng: np.random.Generator, cap: int) -> list[Question]:
    names = [c for c in f.all_visible if len(f.by_cat[c]) >= 2]
    rng.shuffle(names)
    return [Question("object_count", TEMPLATES["object_count"].format(category=c), [],
                     float(len(f.by_cat[c])), target=c,
                     object_ids=[o.id for o in f.by_cat[c]]) for c in names[:cap]]


def _abs_distance(f: _Facts, rng: np.random.Generator, cap: int) -> list[Question]:
    pairs = list(itertools.combinations(f.unique, 2))
    rng.shuffle(pairs)
    out = []
    for a, b in pairs:
        d = f.distance(f.one(a), f.one(b))
        if d < MIN_ABS_DISTANCE_M:
            continue
        out.append(Question("abs_distance", TEMPLATES["abs_distance"].format(a=a, b=b), [],
                            d, target=a, reference=b,
                            object_ids=[f.one(a).id, f.one(b).id]))
        if len(out) == cap:
            break
    return out


def _size(f: _Facts, rng: np.random.Generator, cap: int) -> list[Question]:
    names = list(f.unique)
    rng.shuffle(names)
    return [Question("object_size", TEMPLATES["object_size"].format(category=c), [],
                     round(float(np.max(f.one(c).size_m)) * 100.0, 1), target=c,
                     object_ids=[f.one(c).id]) for c in names[:cap]]


def _room(f: _Facts) -> list[Question]:
    return [Question("room_size", TEMPLATES["room_size"], [],
                     float(f.scene.room.floor_area_m2))]


def _rel_distance(f: _Facts, rng: np.random.Generator, cap: int) -> list[Question]:
    out = []
    if not f.unique or len(f.all_visible) < 5:
        return out
    for _ in range(_SAMPLES):
        ref = str(rng.choice(f.unique))
        pool = [c for c in f.all_visible if c != ref]
        if len(pool) < 4:
            continue
        cands = [str(c) for c in rng.choice(pool, size=4, replace=False)]
        target = f.one(ref)
        dists = [min(f.distance(target, o) for o in f.by_cat[c]) for c in cands]
        order = np.argsort(dists)
        if dists[order[1]] - dists[order[0]] < DISTANCE_MARGIN_M:
            continue
        key = (ref, tuple(sorted(cands)))
        if any((q.reference, tuple(sorted(q.candidates))) == key for q in out):
            continue
        text = TEMPLATES["rel_distance"].format(c1=cands[0], c2=cands[1], c3=cands[2],
                                                c4=cands[3], category=ref)
        out.append(Question("rel_distance", text, list(cands), cands[int(order[0])],
                            reference=ref, candidates=list(cands), object_ids=[target.id]))
        if len(out) == cap:
            break
    return out


def _rel_direction(f: _Facts, rng: np.random.Generator, cap: int) -> list[Question]:
    out: list[Question] = []
    if len(f.unique) < 3:
        return out
    for variant in ("easy", "medium", "hard"):
        made = 0
        for _ in range(_SAMPLES):
            a, b, c = (str(v) for v in rng.choice(f.unique, size=3, replace=False))
            pa, pb, pc = (f.one(n).center_m[:2] for n in (a, b, c))
            if min(np.linalg.norm(pb - pa), np.linalg.norm(pc - pa)) < MIN_SEPARATION_M:
                continue
            answer = direction_answer(signed_angle_deg(pb - pa, pc - pa), variant)
            if answer is None or any(q.subtype == variant and (q.reference, q.facing,
                                                                q.target) == (a, b, c)
                                     for q in out):
                continue
            text = TEMPLATES[f"rel_direction_{variant}"].format(a=a, b=b, c=c)
            out.append(Question("rel_direction", text, list(DIRECTION_OPTIONS[variant]),
                                answer, subtype=variant, target=c, reference=a, facing=b,
                                object_ids=[f.one(n).id for n in (a, b, c)]))
            made += 1
            if made == cap:
                break
    return out


def _route(f: _Facts, rng: np.random.Generator, cap: int) -> list[Question]:
    out: list[Question] = []
    if len(f.unique) < 4:
        return out
    for _ in range(_SAMPLES):
        n_way = int(rng.integers(1, 3))
        if len(f.unique) < 3 + n_way:
            continue
        names = [str(v) for v in rng.choice(f.unique, size=3 + n_way, replace=False)]
        start, facing, ways, goal = names[0], names[1], names[2:-1], names[-1]
        points = [f.one(n).center_m[:2] for n in [start] + ways + [goal]]
        heading = f.one(facing).center_m[:2] - points[0]
        legs = [points[k + 1] - points[k] for k in range(len(points) - 1)]
        if min(float(np.linalg.norm(v)) for v in legs + [heading]) < MIN_SEPARATION_M:
            continue
        turns = []
        for leg in legs:
            turns.append(route_turn(signed_angle_deg(heading, leg)))
            heading = leg
        if any(t is None for t in turns) or sum(1 for t in turns if t) < 2:
            continue
        steps, k = [], 1
        for turn, name in zip(turns, ways + [goal]):
            if turn:
                steps.append(f"{k}. [please fill in]")
                k += 1
            steps.append(f"{k}. Go forward until the {name}")
            k += 1
        steps[-1] += "."
        steps_text = " ".join(steps)
        answer = ", ".join(t for t in turns if t)
        n_fill = sum(1 for t in turns if t)
        combos = [", ".join(c) for c in itertools.product(ROUTE_TURNS, repeat=n_fill)
                  if ", ".join(c) != answer]
        picks = [combos[int(i)] for i in rng.choice(len(combos), size=3, replace=False)]
        options = picks + [answer]
        rng.shuffle(options)
        text = TEMPLATES["route_plan"].format(a=start, b=facing, c=goal, steps=steps_text)
        if any(q.text == text for q in out):
            continue
        out.append(Question("route_plan", text, options, answer, target=goal,
                            reference=start, facing=facing, candidates=list(ways),
                            object_ids=[f.one(n).id for n in [start, facing] + ways + [goal]]))
        if len(out) == cap:
            break
    return out


def _appearance(f: _Facts, rng: np.random.Generator, cap: int) -> list[Question]:
    first = {c: min(f.first_seen[o.id] for o in objs if o.id in f.first_seen)
             for c, objs in f.by_cat.items() if any(o.id in f.first_seen for o in objs)}
    names = sorted(first)
    out: list[Question] = []
    if len(names) < 4:
        return out
    for _ in range(_SAMPLES):
        cands = [str(v) for v in rng.choice(names, size=4, replace=False)]
        order = sorted(cands, key=lambda c: first[c])
        frames = [first[c] for c in order]
        if min(b - a for a, b in zip(frames, frames[1:])) < APPEARANCE_GAP_FRAMES:
            continue
        answer = ", ".join(order)
        if any(q.answer == answer for q in out):
            continue
        perms = [", ".join(p) for p in itertools.permutations(order) if list(p) != order]
        options = [perms[int(i)] for i in rng.choice(len(perms), size=3, replace=False)]
        options.append(answer)
        rng.shuffle(options)
        text = TEMPLATES["appearance_order"].format(c1=cands[0], c2=cands[1], c3=cands[2],
                                                    c4=cands[3])
        out.append(Question("appearance_order", text, options, answer,
                            candidates=list(cands)))
        if len(out) == cap:
            break
    return out


def _robot(f: _Facts, pose: RobotPose2D, rng: np.random.Generator,
           cap: int) -> list[Question]:
    names = list(f.unique)
    rng.shuffle(names)
    out = []
    for c in names[:cap]:
        xy = f.one(c).center_m[:2]
        out.append(Question("robot", TEMPLATES["robot_locate"].format(x=c), [],
                            [float(xy[0]), float(xy[1])], subtype="locate", target=c,
                            robot_pose=pose, object_ids=[f.one(c).id]))
    made = 0
    heading = np.array([math.cos(pose.yaw_rad), math.sin(pose.yaw_rad)])
    for c in names:
        to = f.one(c).center_m[:2] - np.array([pose.x, pose.y])
        if np.linalg.norm(to) < MIN_SEPARATION_M:
            continue
        angle = signed_angle_deg(heading, to)
        if _near(angle, (0.0, 135.0, -135.0), ANGLE_MARGIN_DEG):
            continue
        answer = "behind" if abs(angle) > 135.0 else ("left" if angle > 0 else "right")
        out.append(Question("robot", TEMPLATES["robot_turn"].format(x=c), list(TURN_OPTIONS),
                            answer, subtype="turn", target=c, robot_pose=pose,
                            object_ids=[f.one(c).id]))
        made += 1
        if made == cap:
            break
    return out


def generate_questions(scene: Any, seq: Any, seed: int = 0,
                       max_per_task: int = 4) -> list[Question]:
    """Questions about ``scene`` as seen in ``seq`` (a :class:`SimSequence`: its
    ``first_seen`` decides visibility and appearance order, its last frame's pose is the
    robot pose). ``seed`` picks which questions are asked; at most ``max_per_task`` per
    task (per variant for rel_direction, per subtype for robot)."""
    if max_per_task < 1:
        raise QuestionGenerationError(f"max_per_task must be >= 1, got {max_per_task}")
    rng = np.random.default_rng([int(seed), 101])
    facts = _Facts(scene, seq)
    pose = seq.robot_pose(len(seq) - 1)
    questions: list[Question] = []
    questions += _count(facts, rng, max_per_task)
    questions += _abs_distance(facts, rng, max_per_task)
    questions += _size(facts, rng, max_per_task)
    questions += _room(facts)
    questions += _rel_distance(facts, rng, max_per_task)
    questions += _rel_direction(facts, rng, max_per_task)
    questions += _route(facts, rng, max_per_task)
    questions += _appearance(facts, rng, max_per_task)
    questions += _robot(facts, pose, rng, max_per_task)
    return questions
