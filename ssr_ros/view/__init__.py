"""``ssr-view``: the LocalCogMap in a browser.

A ROS client process (it never runs inside ``ssr_node``) that subscribes to the node's
public outputs (``cogmap/scene_graph``, ``cogmap/markers``, ``/diagnostics`` and, when
some node publishes it, ``cogmap/camera_path``), serves a live 3D view of them with viser
on 127.0.0.1, and forwards the questions typed into the page to ``spatial_query``.

Modules, one concept each:

* :mod:`~ssr_ros.view.state`: the view's copy of the map (plain data, thread-safe), no ROS.
* :mod:`~ssr_ros.view.geometry`: box corners, closest points, frustum pose; numpy only.
* :mod:`~ssr_ros.view.answer`: a typed question -> request fields, a response -> the
  text shown and what the scene highlights; no ROS.
* :mod:`~ssr_ros.view.ros_client`: the rclpy node (subscriptions, the service client).
* :mod:`~ssr_ros.view.scene`: draws the state into viser's scene.
* :mod:`~ssr_ros.view.panel`: the side panel (status, diagnostics, question box).
* :mod:`~ssr_ros.view.cli`: ``ssr-view`` itself.
* :mod:`~ssr_ros.view.headless`: drives Debian's headless chromium over the DevTools
  protocol (the browser test and the demo's screenshot).
"""
