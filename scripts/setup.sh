#!/usr/bin/env bash
# Prepare this checkout to build, run and test ssr_ros. Idempotent: each step is
# skipped when its inputs have not changed since it last succeeded (stamps under .venv/).
#
#   1. Debian packages (compilers, CMake, Python headers/venv, libusb for Open3D)
#   2. .venv with the Python dependencies (ROS 2 wheels unless ROS_DISTRO is sourced)
#   3. the CMake path fix for the ROS 2 wheels
#   4. colcon build of our interfaces into install/ssr_ros
#   5. editable install of the library's console scripts
# Any missing requirement stops the script with a message naming it (exit 1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${SSR_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-}"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stamp_ok() { [ -f "$VENV/.stamp-$1" ] && [ "$(cat "$VENV/.stamp-$1")" = "$2" ]; }
stamp_set() { echo "$2" > "$VENV/.stamp-$1"; }

# --- 0. platform -------------------------------------------------------------------
[ "$(uname -s)" = Linux ] || die "Linux is required (found $(uname -s))"
if [ -z "${ROS_DISTRO:-}" ] && [ "$(uname -m)" != x86_64 ]; then
  die "the ROS 2 wheels on PyPI are x86_64 only (found $(uname -m)); source a ROS 2 distribution (ROS_DISTRO) instead"
fi
if [ -z "$PYTHON" ]; then
  # With a ROS 2 distribution the venv must use the interpreter its rclpy was built for.
  cands=(python3.11 python3.12 python3.10 python3)
  [ -z "${ROS_DISTRO:-}" ] || cands=(/usr/bin/python3 python3)
  for cand in "${cands[@]}"; do
    if command -v "$cand" >/dev/null 2>&1; then PYTHON="$(command -v "$cand")"; break; fi
  done
fi
[ -n "$PYTHON" ] || die "python3 (3.10-3.12) not found; install Debian's python3"
PYVER="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
case "$PYVER" in 3.10|3.11|3.12) ;; *) die "Python $PYVER found at $PYTHON; the ROS 2 wheels need 3.10, 3.11 or 3.12 (set PYTHON=...)";; esac

# --- 1. Debian packages --------------------------------------------------------------
missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v git >/dev/null 2>&1 || missing+=(git)
"$PYTHON" -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' \
  || missing+=("python${PYVER}-dev")
"$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=("python${PYVER}-venv")
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
ldconfig -p 2>/dev/null | grep -q 'libgomp.so.1' || missing+=(libgomp1)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq || die "apt-get update failed (needed for: ${missing[*]})"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get install failed for: ${missing[*]}"
  else
    die "missing system packages: ${missing[*]} (install them with apt-get as root)"
  fi
fi

# --- 2. virtual environment ----------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $PYTHON"
  if [ -n "${ROS_DISTRO:-}" ]; then
    # The sourced distribution's rclpy and messages must stay visible.
    "$PYTHON" -m venv --system-site-packages "$VENV" || die "could not create $VENV"
  else
    "$PYTHON" -m venv "$VENV" || die "could not create $VENV"
  fi
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
reqs=(requirements/base.txt requirements/model.txt requirements/constraints.txt
      requirements/nodeps.txt)
[ -n "${ROS_DISTRO:-}" ] || reqs+=(requirements/ros.txt)
h="$(hash_of "${reqs[@]}")-${ROS_DISTRO:-wheels}"
if stamp_ok deps "$h"; then
  say "Python dependencies up to date"
else
  say "installing Python dependencies (first run takes several minutes)"
  "${PIP[@]}" install -q -U pip wheel "setuptools<80" || die "pip could not update itself"
  args=()
  for r in "${reqs[@]}"; do
    case "$r" in requirements/constraints.txt|requirements/nodeps.txt) ;; *) args+=(-r "$r");; esac
  done
  "${PIP[@]}" install -q -c requirements/constraints.txt "${args[@]}" \
    || die "pip install failed (see the messages above)"
  "${PIP[@]}" install -q --no-deps -r requirements/nodeps.txt \
    || die "pip install --no-deps -r requirements/nodeps.txt failed"
  if [ -n "${ROS_DISTRO:-}" ] && ! command -v colcon >/dev/null 2>&1; then
    "${PIP[@]}" install -q colcon-core colcon-ros colcon-cmake || die "pip could not install colcon"
  fi
  stamp_set deps "$h"
fi
"$VENV/bin/python" -c 'import numpy, cv2, open3d, numba, rosbags, scipy' \
  || die "the venv's core libraries do not import (see the error above)"

# --- 3. CMake path fix (cheap and idempotent: always run) ------------------------------
if [ -z "${ROS_DISTRO:-}" ]; then
  "$VENV/bin/python" scripts/fix_cmake_paths.py "$VENV" >/dev/null \
    || die "could not rewrite the wheels' CMake paths"
fi

# --- 4. colcon build of the interfaces ------------------------------------------------
# Everything colcon installs counts, so install/ never runs stale copies of the sources.
h="$( { find ssr_ros launch config rviz -type f \( -name '*.py' -o -name '*.yaml' \
        -o -name '*.xml' -o -name '*.rviz' \) -print0 | sort -z | xargs -0 cat;
      cat package.xml CMakeLists.txt msg/* srv/* scripts/ros/* "$VENV/.stamp-deps"; } \
    | sha256sum | cut -c1-16)"
if stamp_ok build "$h" && [ -f install/ssr_ros/share/ssr_ros/package.xml ]; then
  say "interfaces up to date (install/ssr_ros)"
else
  say "colcon build (interfaces) into install/ssr_ros"
  # colcon builds from build/pkg/ssr_ros, a link to this tree: CMake refuses exported
  # include paths under its source directory, and the venv's numpy headers live in ./.venv.
  mkdir -p build/pkg
  ln -sfn ../.. build/pkg/ssr_ros
  (
    set +u
    if [ -z "${ROS_DISTRO:-}" ]; then
      export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
      export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    fi
    export PATH="$VENV/bin:$PATH"
    colcon --log-base build/log build --merge-install --base-paths build/pkg \
      --build-base build/colcon --install-base install/ssr_ros \
      --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
      > build/colcon.log 2>&1
  ) || { tail -40 build/colcon.log >&2; die "colcon build failed (log: build/colcon.log)"; }
  stamp_set build "$h"
fi

# --- 5. console scripts ------------------------------------------------------------------
h="$(hash_of setup.py)"
if stamp_ok scripts "$h" && [ -x "$VENV/bin/ssr_node" ]; then
  say "console scripts up to date"
else
  say "installing the console scripts (editable)"
  mkdir -p build
  "${PIP[@]}" install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat \
    > build/pip-editable.log 2>&1 || die "pip could not install this package in editable mode"
  stamp_set scripts "$h"
fi

# --- check ---------------------------------------------------------------------------------
(
  set +u
  # shellcheck disable=SC1091
  . scripts/env.sh
  cd /tmp && python -c 'from ssr_ros.srv import SpatialQuery; from ssr_ros.msg import SceneGraph; import rclpy'
) || die "the environment does not import ssr_ros.msg/srv and rclpy (see above)"
say "ready: '. scripts/env.sh' to use it"
