"""`rosdep install --from-paths . --ignore-src` resolves every key of package.xml on the
two distributions this package targets, checked offline in simulate mode against the
rosdistro snapshot in ../shared/data/rosdistro (see its README)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROSDISTRO = ROOT.parent / "shared" / "data" / "rosdistro"


@pytest.fixture(scope="module")
def rosdep_env(tmp_path_factory):
    if shutil.which("rosdep") is None:
        pytest.skip("rosdep is not installed (requirements/dev.in; run `make test`)")
    if not (ROSDISTRO / "index-v4.yaml").exists():
        pytest.skip(f"the rosdistro snapshot is not at {ROSDISTRO} (../shared absent)")
    tmp = tmp_path_factory.mktemp("rosdep")
    sources = tmp / "sources.list.d"
    sources.mkdir()
    (sources / "20-local.list").write_text(
        f"yaml file://{ROSDISTRO}/rosdep/base.yaml\n"
        f"yaml file://{ROSDISTRO}/rosdep/python.yaml\n")
    env = dict(os.environ, ROSDEP_SOURCE_PATH=str(sources),
               ROSDISTRO_INDEX_URL=f"file://{ROSDISTRO}/index-v4.yaml",
               ROS_HOME=str(tmp / "home"))
    # --ignore-src skips what the ament index already holds: the venv's ROS wheels would
    # hide keys from the check. rosdep must see a bare machine.
    for var in ("ROS_DISTRO", "AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "ROS_PACKAGE_PATH"):
        env.pop(var, None)
    proc = subprocess.run(["rosdep", "update"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return env


def _keys_of_package_xml() -> set[str]:
    text = (ROOT / "package.xml").read_text()
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return set(re.findall(r"<(?:\w+_)?depend>([^<]+)</(?:\w+_)?depend>", text))


@pytest.mark.parametrize("distro", ["kilted", "jazzy"])
def test_every_key_resolves_on_ubuntu_noble(rosdep_env, distro, tmp_path):
    # Only package.xml matters to rosdep; a tree with it alone keeps the crawl quick.
    pkg = tmp_path / "src" / "ssr_ros"
    pkg.mkdir(parents=True)
    shutil.copy(ROOT / "package.xml", pkg / "package.xml")
    proc = subprocess.run(
        ["rosdep", "install", "--simulate", "--from-paths", str(tmp_path / "src"),
         "--ignore-src", "-y", "--rosdistro", distro, "--os=ubuntu:noble"],
        env=rosdep_env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Cannot locate rosdep definition" not in out and "ERROR" not in out, out
    # What install leaves out depends on what this machine has; resolve names every key.
    keys = sorted(_keys_of_package_xml())
    proc = subprocess.run(["rosdep", "resolve", *keys, "--rosdistro", distro,
                           "--os=ubuntu:noble"], env=rosdep_env, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    resolved = re.findall(r"^#ROSDEP\[(.+)\]$", out, flags=re.M)
    assert sorted(resolved) == keys, out
    assert f"ros-{distro}-rclpy" in out and "python3-numpy" in out and "rosbags" in out


def test_package_xml_declares_what_the_code_imports():
    """Declared ROS packages are used; a module the node imports has a key (cv_bridge was
    declared and never imported)."""
    keys = _keys_of_package_xml()
    sources = "\n".join(p.read_text() for p in (ROOT / "ssr_ros").rglob("*.py"))
    sources += (ROOT / "launch" / "ssr.launch.py").read_text()
    for key in ("tf2_ros", "message_filters", "launch_ros", "rclpy", "diagnostic_msgs",
                "nav_msgs", "visualization_msgs", "lifecycle_msgs"):
        assert key in keys
        assert re.search(rf"\b(import|from) {key}\b", sources), f"{key} is declared, unused"
    for key in keys:
        if key.startswith("python3-") or key in ("ament_cmake", "ament_cmake_python",
                                                 "rosidl_default_generators",
                                                 "rosidl_default_runtime", "rviz2",
                                                 "launch", "builtin_interfaces",
                                                 "ament_index_python", "rcl_interfaces",
                                                 "rosgraph_msgs", "std_srvs", "std_msgs",
                                                 "geometry_msgs", "sensor_msgs"):
            continue
        assert re.search(rf"\b{key}\b", sources), f"{key} is declared but never used"
    assert "cv_bridge" not in keys
