"""Session-wide test settings: DDS stays on loopback, each run gets its own domain."""

import os
import random

# Workplace rule: ROS traffic only on loopback. Set before any test imports rclpy.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# A domain of our own so parallel runs (CI, a developer's second shell) never meet.
# Child processes started by tests inherit it.
if "SSR_TEST_DOMAIN_ID" in os.environ:
    os.environ["ROS_DOMAIN_ID"] = os.environ["SSR_TEST_DOMAIN_ID"]
else:
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
