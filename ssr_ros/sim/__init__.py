"""The embedded default world: procedural rooms rendered to RGB-D with ground truth.

``make_scene(seed)`` builds a room with furniture and small objects;
``render_sequence(scene, ...)`` renders it along a camera trajectory (RGB, depth, instance
labels, intrinsics, poses); ``lap_frames(scene, ...)`` is the frame count that covers one
full lap of that trajectory. Frames: map = REP-105 (z up, metres); camera = REP-103
optical frame; poses are ``T_map_cam`` (camera -> map). numpy + Open3D only, no ROS.
"""

from ssr_ros.sim.catalog import CATEGORY_NAMES, UnknownCategoryError
from ssr_ros.sim.scene import GTObject, Scene, SceneGenerationError, make_scene
from ssr_ros.sim.sequence import (SequenceError, SimFrame, SimSequence, lap_frames,
                                  render_sequence)

__all__ = ["CATEGORY_NAMES", "GTObject", "Scene", "SceneGenerationError", "SequenceError",
           "SimFrame", "SimSequence", "UnknownCategoryError", "lap_frames", "make_scene",
           "render_sequence"]
