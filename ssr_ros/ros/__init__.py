"""ROS 2 glue for ssr_ros: conversions, synchronisation, pose source, markers, the
``ssr_node`` lifecycle node and its command-line tools.

Only this subpackage imports rclpy. The pure modules (``conversions``, ``sync``,
``pose_source``'s history, ``markers``, ``messages``) work on message objects without
``rclpy.init()``.
"""
