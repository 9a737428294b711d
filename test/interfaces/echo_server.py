"""A stand-alone process serving ssr_ros/SpatialQuery for the interface tests.

It answers each request by reflecting the request's fields into the response, so the
calling test can check every field crossed DDS intact in both directions. It exits when
stdin closes (the test ends) or after a timeout, so it never outlives its test.
"""

import math
import sys
import threading
import time

import rclpy
from rclpy.node import Node

from ssr_ros.msg import SceneObject
from ssr_ros.srv import SpatialQuery


def handle(request: SpatialQuery.Request, response: SpatialQuery.Response):
    response.success = request.kind != SpatialQuery.Request.KIND_FREE
    response.error_code = (
        SpatialQuery.Response.ERROR_NONE if response.success
        else SpatialQuery.Response.ERROR_MODEL_UNAVAILABLE
    )
    response.message = f"{request.target}|{request.reference}|{request.facing}|{request.question}"
    response.value = math.pi * request.kind
    response.unit = "m"
    response.choice = ",".join(request.candidates)
    response.answered_by = "geometry"
    for i, name in enumerate(request.candidates):
        obj = SceneObject()
        obj.id = 100 + i
        obj.label = name
        obj.score = 0.5
        obj.position.x, obj.position.y, obj.position.z = 1.5 * i, -2.25, 0.4
        obj.size.x, obj.size.y, obj.size.z = 0.8, 0.6, 1.2
        obj.yaw = -0.75
        obj.size_from_prior = bool(i % 2)
        obj.observation_count = 7 + i
        obj.first_seen.sec, obj.first_seen.nanosec = 12, 345
        response.objects.append(obj)
    return response


def main() -> int:
    rclpy.init()
    node = Node("ssr_interface_echo")
    node.create_service(SpatialQuery, "spatial_query", handle)
    print("ready", flush=True)
    # Stop when the parent closes our stdin, or after 120 s at most.
    stopper = threading.Thread(target=sys.stdin.read, daemon=True)
    stopper.start()
    deadline = time.monotonic() + 120.0
    try:
        while stopper.is_alive() and rclpy.ok() and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
