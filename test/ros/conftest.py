"""Fixtures for the multi-process ROS tests: DDS on loopback, a domain of this run, an
rclpy context for the in-test client, and helpers that start ssr_node / ssr-play as
separate processes."""

from __future__ import annotations

import os
import random

import pytest

# The root conftest already does this; repeated so this directory also runs alone.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
# Camera frames exceed Fast DDS's default 512 KB shared-memory segment (see the profile).
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", os.path.join(
    os.path.dirname(__file__), "..", "..", "config", "fastdds_local.xml"))

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run `make setup`)")


@pytest.fixture(scope="module")
def ros_client():
    """An rclpy context and client node for the test process (module scope)."""
    from rosutil import RosClient

    client = RosClient()
    yield client
    client.close()


@pytest.fixture(scope="module")
def context():
    """An rclpy context of its own for in-process node tests (module scope)."""
    ctx = rclpy.context.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)
