"""ROS 2 glue for ssr_ros: the ``ssr_node`` lifecycle node and its parts (inputs, frame
mapper, publishers, services; see :mod:`ssr_ros.ros.parts`), conversions, pose sources,
markers, messages, and the command-line tools (``ssr-play``, ``ssr-ask``).

Only this subpackage imports rclpy. What needs no ROS at all (the map keeper, the frame
worker, the synchroniser, the pose history) lives in :mod:`ssr_ros.runtime`; the pure
modules here (``conversions``, ``markers``, ``messages``, ``frames``) work on message
objects without ``rclpy.init()``.
"""
