"""``ssr-ask``: ask ssr_node a spatial question from the command line.

    ssr-ask "where is the sofa?"
    ssr-ask --kind distance --target sofa --reference tv
    ssr-ask --kind direction --reference bed --facing door --target lamp
    ssr-ask --kind nearest --reference sofa --candidates lamp,plant,tv
    ssr-ask --batch questions.json --json answers.json

A batch file is a JSON list of requests (objects with the srv's field names, ``kind``
as a number or one of the --kind names); the answers are written as a JSON list in the
same order (``--json -`` prints them).

Prints the answer, its value and unit, the categorical choice and the objects used; the
exit status is 0 on success, 1 when the node answered with an error, 2 on a usage or
connection problem.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any, Callable

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from ssr_ros.ros import topics
from ssr_ros.srv import SpatialQuery

KINDS = {
    "auto": SpatialQuery.Request.KIND_AUTO,
    "locate": SpatialQuery.Request.KIND_LOCATE,
    "distance": SpatialQuery.Request.KIND_DISTANCE,
    "direction": SpatialQuery.Request.KIND_RELATIVE_DIRECTION,
    "turn": SpatialQuery.Request.KIND_TURN,
    "count": SpatialQuery.Request.KIND_COUNT,
    "size": SpatialQuery.Request.KIND_SIZE,
    "nearest": SpatialQuery.Request.KIND_NEAREST,
    "route": SpatialQuery.Request.KIND_ROUTE,
    "order": SpatialQuery.Request.KIND_APPEARANCE_ORDER,
    "room": SpatialQuery.Request.KIND_ROOM_SIZE,
    "free": SpatialQuery.Request.KIND_FREE,
}
ERROR_NAMES = {getattr(SpatialQuery.Response, n): n[len("ERROR_"):]
               for n in dir(SpatialQuery.Response) if n.startswith("ERROR_")}


def build_request(args: argparse.Namespace) -> Any:
    """The ``SpatialQuery.Request`` the command line describes."""
    candidates = [c.strip() for c in (args.candidates or "").split(",") if c.strip()]
    return SpatialQuery.Request(
        kind=KINDS[args.kind], target=args.target, reference=args.reference,
        facing=args.facing, candidates=candidates, question=args.question or "",
        use_centers=args.use_centers)


def request_from_dict(fields: dict[str, Any]) -> Any:
    """A batch entry -> ``SpatialQuery.Request`` (unknown keys are refused)."""
    allowed = {"kind", "target", "reference", "facing", "candidates", "question",
               "use_centers"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown request fields {sorted(unknown)}")
    kind = fields.get("kind", 0)
    if isinstance(kind, str):
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        kind = KINDS[kind]
    return SpatialQuery.Request(
        kind=int(kind), target=str(fields.get("target", "")),
        reference=str(fields.get("reference", "")), facing=str(fields.get("facing", "")),
        candidates=[str(c) for c in fields.get("candidates", [])],
        question=str(fields.get("question", "")),
        use_centers=bool(fields.get("use_centers", False)))


def response_to_dict(response: Any) -> dict[str, Any]:
    """A ``SpatialQuery.Response`` as JSON-ready data (NaN value -> null)."""
    return {
        "success": bool(response.success), "error_code": int(response.error_code),
        "message": response.message,
        "value": None if math.isnan(response.value) else float(response.value),
        "unit": response.unit, "choice": response.choice,
        "answered_by": response.answered_by,
        "objects": [{"id": int(o.id), "label": o.label,
                     "position": [o.position.x, o.position.y, o.position.z],
                     "size": [o.size.x, o.size.y, o.size.z], "yaw": float(o.yaw)}
                    for o in response.objects],
    }


def format_response(response: Any) -> str:
    """Human-readable lines of a ``SpatialQuery.Response``."""
    lines = []
    if response.success:
        lines.append(f"answer: {response.message}")
    else:
        code = ERROR_NAMES.get(response.error_code, str(response.error_code))
        lines.append(f"error {response.error_code} ({code}): {response.message}")
    if not math.isnan(response.value):
        lines.append(f"value: {response.value:.3f} {response.unit}".rstrip())
    if response.choice:
        lines.append(f"choice: {response.choice}")
    for obj in response.objects:
        p = obj.position
        lines.append(f"object [{obj.id}] {obj.label} at ({p.x:.2f}, {p.y:.2f}, {p.z:.2f}) m, "
                     f"size {obj.size.x:.2f} x {obj.size.y:.2f} x {obj.size.z:.2f} m")
    lines.append(f"answered by: {response.answered_by}")
    return "\n".join(lines)


#: Resends of an unanswered query (``call``): enough to ride out the reply path's
#: discovery, few enough that a slow answer is not asked for again and again.
MAX_RESENDS = 2


def send_with_resends(client: Any, request: Any, timeout_s: float,
                      wait: Callable[[float], Any], resend_s: float = 2.0) -> Any | None:
    """Send ``request`` on ``client`` and return the first response (None after
    ``timeout_s``); ``wait(seconds)`` lets responses arrive (spins an executor, or sleeps
    while another thread spins one) for at most that long.

    Right after a server appears, its response writer may not have matched this client's
    response reader yet, and rmw_fastrtps drops a response it cannot deliver within
    100 ms (a loaded machine takes longer to discover). So a request still unanswered
    after ``resend_s`` seconds is sent again, at most ``MAX_RESENDS`` times; every
    request sent stays pending and the first answer to any of them is returned, so a
    slow answer (a model question) is not lost by resending. A free question
    (``KIND_FREE``, the model's work) is sent once. Geometric queries only read the map,
    so asking twice is harmless. Used by ``ssr-ask`` and by ``ssr-view``'s question box.
    """
    if not resend_s > 0.0:
        raise ValueError(f"resend_s must be > 0, got {resend_s!r}")
    deadline = time.monotonic() + timeout_s
    resends = 0 if getattr(request, "kind", None) == SpatialQuery.Request.KIND_FREE \
        else MAX_RESENDS
    futures = [client.call_async(request)]
    next_send = time.monotonic() + resend_s
    try:
        while True:
            done = next((f for f in futures if f.done()), None)
            if done is not None:
                return done.result()
            now = time.monotonic()
            if now >= deadline:
                return None
            if resends > 0 and now >= next_send:
                futures.append(client.call_async(request))
                resends -= 1
                next_send = now + resend_s
            wake = min(deadline, next_send) if resends > 0 else deadline
            wait(max(0.0, wake - now))
    finally:
        for future in futures:
            client.remove_pending_request(future)


def call(node: Node, request: Any, service: str, timeout_s: float,
         client: Any = None, resend_s: float = 2.0) -> Any | None:
    """Call ``spatial_query`` and wait for the response (None on timeout), resending as
    :func:`send_with_resends` says.

    The node is spun by an executor of this call's own while it waits and belongs to no
    executor afterwards: call it on a node that no other executor is spinning.
    """
    if not resend_s > 0.0:
        raise ValueError(f"resend_s must be > 0, got {resend_s!r}")
    client = client or node.create_client(SpatialQuery, service)
    deadline = time.monotonic() + timeout_s
    if not client.wait_for_service(timeout_sec=timeout_s):
        return None
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        return send_with_resends(
            client, request, max(0.0, deadline - time.monotonic()),
            lambda seconds: executor.spin_once(timeout_sec=min(seconds, 0.1)), resend_s)
    finally:
        executor.remove_node(node)
        executor.shutdown()


EXAMPLES = """examples:
  ssr-ask "where is the sofa?"
  ssr-ask --kind distance --target sofa --reference tv --ros-args -r __ns:=/camera"""


def build_parser() -> argparse.ArgumentParser:
    """The command line of ssr-ask (ROS arguments after --ros-args are removed first)."""
    parser = argparse.ArgumentParser(
        prog="ssr-ask", description="Ask ssr_node a spatial question from the command line. "
        "Exit status 0 on success, 1 when the node answered with an error, 2 on a usage or "
        "connection problem.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("question", nargs="?",
                        help="a question in plain words (optional positional; required with "
                        "--kind auto or free)")
    parser.add_argument("--kind", choices=sorted(KINDS), default="auto",
                        help="query kind (default auto: the node parses the question)")
    parser.add_argument("--target", default="",
                        help="the object asked about (default none)")
    parser.add_argument("--reference", default="",
                        help="reference object: distance, direction (where I stand), nearest, "
                             "route start (default none)")
    parser.add_argument("--facing", default="",
                        help="object faced, for direction and route (default none)")
    parser.add_argument("--candidates", default="",
                        help="comma-separated object names, for nearest and appearance order "
                        "(default none)")
    parser.add_argument("--use-centers", action="store_true",
                        help="flag: distances [m] between box centres, not closest points "
                        "(default off)")
    parser.add_argument("--service", default=topics.SPATIAL_QUERY,
                        help=f"service name, relative to the namespace (default "
                        f"{topics.SPATIAL_QUERY})")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="time to wait for the service and its answer [s] (default 10)")
    parser.add_argument("--batch", metavar="FILE",
                        help="JSON list of requests (the srv's field names) to ask in turn "
                        "(default: ask one question)")
    parser.add_argument("--json", metavar="FILE",
                        help="write the answers as JSON to FILE, '-' = stdout (default: "
                        "print text)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv if argv is None else [sys.argv[0], *argv])
    args = parser.parse_args(remove_ros_args(argv)[1:])
    if args.batch:
        try:
            with open(args.batch, encoding="utf-8") as handle:
                requests = [request_from_dict(d) for d in json.load(handle)]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            print(f"ssr-ask: cannot read batch {args.batch}: {exc}", file=sys.stderr)
            return 2
    elif args.kind in ("auto", "free") and not args.question:
        parser.print_usage(sys.stderr)
        print("ssr-ask: give a question, or --kind with names", file=sys.stderr)
        return 2
    rclpy.init(args=argv)
    node = Node("ssr_ask")
    try:
        if args.batch:
            return _run_batch(node, requests, args)
        response = call(node, build_request(args), args.service, args.timeout)
        if response is None:
            print(f"ssr-ask: no answer from '{args.service}' within {args.timeout:.0f} s "
                  "(is ssr_node configured, and on the same ROS_DOMAIN_ID?)", file=sys.stderr)
            return 2
        if args.json:
            _write_json(args.json, response_to_dict(response))
        else:
            print(format_response(response))
        return 0 if response.success else 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def _write_json(target: str, data: Any) -> None:
    text = json.dumps(data, indent=2)
    if target == "-":
        print(text)
    else:
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


def _run_batch(node: Node, requests: list[Any], args: argparse.Namespace) -> int:
    client = node.create_client(SpatialQuery, args.service)
    answers = []
    for request in requests:
        response = call(node, request, args.service, args.timeout, client)
        if response is None:
            print(f"ssr-ask: no answer from '{args.service}' within {args.timeout:.0f} s",
                  file=sys.stderr)
            return 2
        answers.append(response_to_dict(response))
        if not args.json:
            print(format_response(response) + "\n")
    if args.json:
        _write_json(args.json, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
