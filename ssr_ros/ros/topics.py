"""Names on the ROS graph, in one place.

The node's names are relative, so a namespace and remaps place them (REP-144 style);
the player publishes the node's own input names (``ssr-play --prefix camera`` puts them
under ``camera/`` like most RGB-D drivers). :func:`sim_remaps` gives the ``--ros-args``
remaps that connect the node to a player with a prefix (identity remaps for none; the demo,
tests and benchmark use it; ``launch/ssr.launch.py`` does the same with launch arguments).
"""

from __future__ import annotations

# ssr_node inputs
COLOR = "color/image_raw"
COLOR_COMPRESSED = "color/image_raw/compressed"
DEPTH = "depth/image_raw"
CAMERA_INFO = "color/camera_info"
LABELS = "labels/image_raw"
LABEL_NAMES = "labels/names"
CAMERA_POSE = "camera_pose"
ODOM = "odom"
DETECTIONS = "detections"
DETECTIONS_LABEL_INFO = "detections/label_info"
# instance masks of the detections (sensor_msgs/Image, with detection_masks: true)
DETECTION_MASKS = "detections/masks"
# ssr_node outputs and services
SCENE_GRAPH = "cogmap/scene_graph"
MARKERS = "cogmap/markers"
DETECTIONS_3D = "cogmap/detections_3d"
CAMERA_PATH = "cogmap/camera_path"
DIAGNOSTICS = "/diagnostics"
SPATIAL_QUERY = "spatial_query"
SAVE_MAP = "save_map"
LOAD_MAP = "load_map"
CLEAR_MAP = "clear_map"

#: node input -> topic the player (and a typical RGB-D driver) publishes, under a prefix.
PLAYER_TOPICS = {
    COLOR: "color/image_raw",
    DEPTH: "depth/image_raw",
    CAMERA_INFO: "color/camera_info",
    LABELS: "labels/image_raw",
    LABEL_NAMES: "labels/names",
    CAMERA_POSE: "camera_pose",
}


def player_topic(node_input: str, prefix: str = "") -> str:
    """The topic the player publishes for one of the node's inputs."""
    return f"{prefix}/{PLAYER_TOPICS[node_input]}" if prefix else PLAYER_TOPICS[node_input]


def sim_remaps(prefix: str = "") -> list[str]:
    """``-r from:=to`` arguments that point the node's inputs at the player's topics."""
    out: list[str] = []
    for node_input in PLAYER_TOPICS:
        out += ["-r", f"{node_input}:={player_topic(node_input, prefix)}"]
    return out


#: node input -> key of the sim bag's topic table (:data:`ssr_ros.sim.bag.TOPICS`)
_BAG_KEYS = {COLOR: "color", DEPTH: "depth", CAMERA_INFO: "color_info", LABELS: "labels",
             LABEL_NAMES: "label_names", CAMERA_POSE: "pose"}


def bag_remaps(prefix: str = "/camera") -> list[str]:
    """``-r from:=to`` arguments that point the node's inputs at the topics of a sim bag
    (``ssr-sim``, ``ssr-play --record``: the camera topics under ``prefix``, the pose on
    ``<prefix>/pose``), for a node in the root namespace playing it with ``--bag``."""
    from ssr_ros.sim.bag import topics as bag_topics

    names = bag_topics(prefix)
    out: list[str] = []
    for node_input, key in _BAG_KEYS.items():
        out += ["-r", f"{node_input}:={names[key][0]}"]
    return out
