"""Launch ssr_node (and optionally RViz) in the style of nav2's navigation_launch.py.

    ros2 launch ssr_ros ssr.launch.py
    ros2 launch ssr_ros ssr.launch.py namespace:=robot1 color_topic:=/cam/color/image_raw \
        params_file:=/path/to/my.yaml autostart:=true rviz:=true
    ros2 launch ssr_ros ssr.launch.py web:=true        # + the browser view, 127.0.0.1:8080

The node is a lifecycle node: with ``autostart:=true`` this file drives it through
configure and activate with lifecycle events; otherwise a lifecycle manager (or
``ros2 lifecycle set``) does.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, GroupAction, RegisterEventHandler
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

try:
    from launch_ros.actions import PushROSNamespace
except ImportError:  # ROS 2 before Jazzy spells it PushRosNamespace
    from launch_ros.actions import PushRosNamespace as PushROSNamespace


def activate_after_configure(node: LifecycleNode, condition=None) -> RegisterEventHandler:
    """Activate ``node`` once a configure succeeds (configuring -> inactive).

    The start state matters: a bare ``goal_state="inactive"`` also fires on a manual
    deactivate (deactivating -> inactive) and would re-activate the node at once.
    """
    return RegisterEventHandler(OnStateTransition(
        target_lifecycle_node=node, start_state="configuring", goal_state="inactive",
        entities=[EmitEvent(event=ChangeState(
            lifecycle_node_matcher=matches_action(node),
            transition_id=Transition.TRANSITION_ACTIVATE))]),
        condition=condition)


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("ssr_ros")
    namespace = LaunchConfiguration("namespace")
    params_file = LaunchConfiguration("params_file")
    use_sim_time = LaunchConfiguration("use_sim_time")
    autostart = LaunchConfiguration("autostart")
    rviz = LaunchConfiguration("rviz")
    rviz_config = LaunchConfiguration("rviz_config")
    web = LaunchConfiguration("web")

    arguments = [
        DeclareLaunchArgument("namespace", default_value="",
                              description="Top-level namespace of ssr_node and its topics"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "ssr.yaml"),
                              description="Full path to the ssr_node parameters file"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              choices=["true", "false"],
                              description="Use the /clock topic (bag or simulator time)"),
        DeclareLaunchArgument("autostart", default_value="true", choices=["true", "false"],
                              description="Configure and activate ssr_node at launch"),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"],
                              description="Start RViz with the ssr_ros view"),
        DeclareLaunchArgument("rviz_config",
                              default_value=os.path.join(share, "rviz", "ssr.rviz"),
                              description="RViz configuration file"),
        DeclareLaunchArgument("web", default_value="false", choices=["true", "false"],
                              description="Start ssr_view: the map and a question box in a "
                                          "browser (docs/web-view.md)"),
        DeclareLaunchArgument("web_host", default_value="127.0.0.1",
                              description="Address ssr_view listens on; 0.0.0.0 opens the "
                                          "page, without a password, to other hosts"),
        DeclareLaunchArgument("web_port", default_value="8080",
                              description="TCP port of ssr_view (the next free one when "
                                          "busy; ssr_view prints its address)"),
        DeclareLaunchArgument("color_topic", default_value="camera/color/image_raw",
                              description="Colour image (sensor_msgs/Image)"),
        DeclareLaunchArgument("depth_topic", default_value="camera/depth/image_raw",
                              description="Depth registered to colour (16UC1 mm or 32FC1 m)"),
        DeclareLaunchArgument("camera_info_topic", default_value="camera/color/camera_info",
                              description="Colour camera intrinsics (sensor_msgs/CameraInfo)"),
        DeclareLaunchArgument("labels_topic", default_value="camera/labels/image_raw",
                              description="Instance label image (labels/boxes sources)"),
        DeclareLaunchArgument("label_names_topic", default_value="camera/labels/names",
                              description="Label id -> category JSON (std_msgs/String)"),
        DeclareLaunchArgument("detections_topic", default_value="detections",
                              description="2D detections (vision_msgs/Detection2DArray), "
                                          "when proposal_source is detections"),
        DeclareLaunchArgument("detections_label_info_topic",
                              default_value="detections/label_info",
                              description="Names of numeric detection class ids "
                                          "(vision_msgs/LabelInfo, transient local)"),
        DeclareLaunchArgument("detection_masks_topic", default_value="detections/masks",
                              description="Instance masks of the detections (sensor_msgs/"
                                          "Image, pixel k = k-th detection), when "
                                          "detection_masks is true"),
        DeclareLaunchArgument("camera_pose_topic", default_value="camera/pose",
                              description="Camera pose (geometry_msgs/PoseStamped), when "
                                          "pose_source is camera_pose"),
        DeclareLaunchArgument("odom_topic", default_value="odom",
                              description="Robot odometry (nav_msgs/Odometry), when "
                                          "pose_source is odom"),
    ]

    remappings = [
        ("color/image_raw", LaunchConfiguration("color_topic")),
        ("depth/image_raw", LaunchConfiguration("depth_topic")),
        ("color/camera_info", LaunchConfiguration("camera_info_topic")),
        ("labels/image_raw", LaunchConfiguration("labels_topic")),
        ("labels/names", LaunchConfiguration("label_names_topic")),
        ("detections", LaunchConfiguration("detections_topic")),
        ("detections/label_info", LaunchConfiguration("detections_label_info_topic")),
        ("detections/masks", LaunchConfiguration("detection_masks_topic")),
        ("camera_pose", LaunchConfiguration("camera_pose_topic")),
        ("odom", LaunchConfiguration("odom_topic")),
        ("/tf", "tf"),
        ("/tf_static", "tf_static"),
    ]

    ssr_node = LifecycleNode(
        package="ssr_ros", executable="ssr_node", name="ssr_node", namespace="",
        output="screen", parameters=[params_file, {"use_sim_time": use_sim_time}],
        remappings=remappings,
        # One BLAS/OpenMP thread: the node's matrices are small (per-object boxes, 3x3
        # and 4x4 poses), so an OpenBLAS helper thread only spins; at HD it burnt 11-13 %
        # of a core for ~8 % speed (issue 18). The node's own threads (executor, frame
        # worker, publisher) already use the cores. torch reads OMP_NUM_THREADS too: a
        # model run on the CPU (model.device cpu) wants this raised to the core count.
        # `ssr_node --help` lists the same (node_cli.LAUNCH_ENV; a test keeps them equal).
        # Not set: MALLOC_MMAP_THRESHOLD_=131072. It returns freed frame buffers to the
        # system, so every frame's buffers are faulted in afresh: measured +70 % node CPU
        # at 30 Hz VGA, RSS within the spread between rounds (docs/node-memory.md).
        additional_env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})

    configure = EmitEvent(event=ChangeState(
        lifecycle_node_matcher=matches_action(ssr_node),
        transition_id=Transition.TRANSITION_CONFIGURE), condition=IfCondition(autostart))
    activate_when_configured = activate_after_configure(ssr_node, IfCondition(autostart))

    rviz_node = Node(
        package="rviz2", executable="rviz2", name="rviz2", arguments=["-d", rviz_config],
        parameters=[{"use_sim_time": use_sim_time}], condition=IfCondition(rviz),
        remappings=[("/tf", "tf"), ("/tf_static", "tf_static")], output="screen")

    # a ROS client of the node's public topics and service, in the same namespace
    web_view = Node(
        package="ssr_ros", executable="ssr_view", name="ssr_view", output="screen",
        arguments=["--host", LaunchConfiguration("web_host"),
                   "--port", LaunchConfiguration("web_port")],
        parameters=[{"use_sim_time": use_sim_time}], condition=IfCondition(web))

    group = GroupAction([PushROSNamespace(namespace), ssr_node, activate_when_configured,
                         configure, rviz_node, web_view])
    return LaunchDescription([*arguments, group])
