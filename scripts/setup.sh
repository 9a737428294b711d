#!/usr/bin/env bash
# Prepare this checkout to build, run and test ssr_ros. Idempotent: each step is
# skipped when its inputs have not changed since it last succeeded (stamps under .venv/).
#
#   1. Debian packages (compilers, CMake, Python headers/venv, libusb for Open3D,
#      Debian's chromium for the browser test when the dev group is asked for)
#   2. .venv with the locked Python dependencies of the asked groups (SSR_GROUPS;
#      requirements/lock/); the ROS 2 wheels unless ROS_DISTRO is sourced
#   3. the CMake path fix for the ROS 2 wheels
#   4. colcon build of our interfaces into install/ssr_ros (and, without a sourced
#      distribution, of vision_msgs and tf2_msgs from interfaces/)
#   5. editable install of the library's console scripts
# Any missing requirement stops the script with a message naming it (exit 1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${SSR_VENV:-$ROOT/.venv}"
# Where colcon builds and installs the interfaces (make test-latest uses its own).
INSTALL="${SSR_INSTALL:-$ROOT/install}"
BUILD="${SSR_BUILD:-$ROOT/build}"
PYTHON="${PYTHON:-}"
# What `make setup` and `make demo` need: the node, the simulator, the detectors, the
# browser view and (without a sourced distribution) the ROS 2 wheels. `make test` adds
# the reference renderer, the model path and the test tools (SSR_GROUPS=all).
DEFAULT_GROUPS="core sim detector view ros"
SSR_GROUPS="${SSR_GROUPS:-$DEFAULT_GROUPS}"

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
# The browser test of ssr-view (test/view) drives Debian's chromium; only for the tests,
# and optional: where it cannot be installed (Ubuntu ships it as a snap) that test skips
# and says why.
optional=()
case " $SSR_GROUPS $(cat "$VENV/.ssr-groups" 2>/dev/null) " in
  *" all "*|*" dev "*)
    command -v chromium >/dev/null 2>&1 || optional+=(chromium) ;;
esac
if [ ${#optional[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  say "installing Debian packages for the browser test: ${optional[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${optional[@]}"; } \
    >/dev/null 2>&1 || say "WARNING: could not install ${optional[*]}; the browser test will skip"
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
# Dependency groups (requirements/<group>.in, installed from requirements/lock/<group>.txt).
# SSR_GROUPS names what this run needs ('all' for everything; `make test` asks for all);
# groups installed earlier stay installed (remove .venv to shrink it).
LOCKPY=("$VENV/bin/python" scripts/lockfile.py)
want="$("$VENV/bin/python" - "$SSR_GROUPS" "$(cat "$VENV/.ssr-groups" 2>/dev/null)" <<'PYEOF'
import sys
sys.path.insert(0, "scripts")
from lockfile import GROUPS, LockError, parse_groups
try:
    asked = set(parse_groups(sys.argv[1])) | set(parse_groups(sys.argv[2] or "bootstrap"))
except LockError as exc:
    sys.exit(f"[setup] ERROR: {exc}")
asked |= {"bootstrap", "core"}
print(" ".join(g for g in GROUPS if g in asked))
PYEOF
)" || die "SSR_GROUPS='$SSR_GROUPS' is not a list of groups"
dist_flag=()
[ -z "${ROS_DISTRO:-}" ] || dist_flag=(--distribution)
if [ -n "${SSR_UNLOCKED:-}" ]; then
  # `make test-latest`: the ranges of requirements/*.in as a new user's pip resolves them
  # today, without the lock. torch stays at the lock's build unless SSR_LATEST_TORCH=1:
  # an open range takes a multi-GB CUDA build from PyPI (docs/install.md).
  h="unlocked-$(cat requirements/*.in | sha256sum | cut -c1-16)-$(echo "$want" | tr ' ' +)"
  if stamp_ok deps "$h"; then
    say "unlocked dependencies already resolved in $VENV"
  else
    args=()
    for g in $want; do
      [ "$g" = ros ] && [ -n "${ROS_DISTRO:-}" ] && continue
      args+=(-r "requirements/$g.in")
    done
    cons="$ROOT/build/latest-constraints.txt"
    mkdir -p "$ROOT/build"
    : > "$cons"
    if [ -z "${SSR_LATEST_TORCH:-}" ]; then
      grep -E '^torch==' requirements/lock/model.txt | sed 's/ .*//' > "$cons"
    fi
    say "resolving the ranges without the lock (groups: $want)"
    "${PIP[@]}" install -q -U -c "$cons" "${args[@]}" || die "pip could not resolve the ranges"
    echo "$want" > "$VENV/.ssr-groups"
    stamp_set deps "$h"
  fi
else
  # A range edited without `make lock`, or a requirement missing from the lock, stops here.
  "${LOCKPY[@]}" check || die "the lock does not match requirements/*.in (see above); run 'make lock'"
  h="$(cat requirements/lock/*.txt | sha256sum | cut -c1-16)-$(echo "$want" | tr ' ' +)-${ROS_DISTRO:-wheels}"
  if stamp_ok deps "$h"; then
    say "Python dependencies up to date (groups: $want)"
  else
    say "installing the locked Python dependencies (groups: $want; the first run takes minutes)"
    "${PIP[@]}" install -q --no-deps --require-hashes -r requirements/lock/bootstrap.txt \
      || die "pip could not install requirements/lock/bootstrap.txt"
    "${LOCKPY[@]}" install "$want" "${dist_flag[@]}" \
      || die "pip install of the lock failed (see the messages above)"
    echo "$want" > "$VENV/.ssr-groups"
    stamp_set deps "$h"
  fi
fi
if [ -n "${ROS_DISTRO:-}" ] && ! command -v colcon >/dev/null 2>&1; then
  die "colcon not found: install python3-colcon-common-extensions from the ROS apt repository"
fi
"$VENV/bin/python" -c 'import numpy, cv2, scipy, rosbags' \
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
# Without a distribution there is no vision_msgs or tf2_msgs on PyPI: build their Kilted
# definitions (interfaces/*/README.md) into the same prefix. They have a stamp of their
# own, so an edit of ssr_ros does not regenerate them. With a distribution its packages
# are used and the links to interfaces/ must not exist.
upstream_ifaces=(vision_msgs tf2_msgs)
hi="$( { find interfaces -type f -print0 | sort -z | xargs -0 cat; cat "$VENV/.stamp-deps"; } \
    | sha256sum | cut -c1-16)"
selected=()
if ! stamp_ok build "$h" || [ ! -f "$INSTALL/ssr_ros/share/ssr_ros/package.xml" ]; then
  selected+=(ssr_ros)
fi
if [ -z "${ROS_DISTRO:-}" ]; then
  ifaces_ok=1
  stamp_ok ifaces "$hi" || ifaces_ok=""
  for pkg in "${upstream_ifaces[@]}"; do
    [ -f "$INSTALL/ssr_ros/share/$pkg/package.xml" ] || ifaces_ok=""
  done
  [ -n "$ifaces_ok" ] || selected+=("${upstream_ifaces[@]}")
fi
if [ ${#selected[@]} -eq 0 ]; then
  say "interfaces up to date ($INSTALL/ssr_ros)"
else
  say "colcon build (interfaces: ${selected[*]}) into $INSTALL/ssr_ros"
  # colcon builds from $BUILD/pkg/ssr_ros, a link to this tree: CMake refuses exported
  # include paths under its source directory, and the venv's numpy headers live in ./.venv.
  mkdir -p "$BUILD/pkg"
  ln -sfn "$ROOT" "$BUILD/pkg/ssr_ros"
  for pkg in "${upstream_ifaces[@]}"; do
    if [ -z "${ROS_DISTRO:-}" ]; then
      ln -sfn "$ROOT/interfaces/$pkg" "$BUILD/pkg/$pkg"
    else
      rm -f "$BUILD/pkg/$pkg"
    fi
  done
  (
    set +u
    if [ -z "${ROS_DISTRO:-}" ]; then
      export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
      export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    fi
    export PATH="$VENV/bin:$PATH"
    # Only the stale packages are base paths (colcon-core has no --packages-select).
    colcon --log-base "$BUILD/log" build --merge-install \
      --base-paths "${selected[@]/#/$BUILD/pkg/}" \
      --build-base "$BUILD/colcon" --install-base "$INSTALL/ssr_ros" \
      --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
      > "$BUILD/colcon.log" 2>&1
  ) || { tail -40 "$BUILD/colcon.log" >&2; die "colcon build failed (log: $BUILD/colcon.log)"; }
  stamp_set build "$h"
  [ -n "${ROS_DISTRO:-}" ] || stamp_set ifaces "$hi"
fi

# --- 5. console scripts ------------------------------------------------------------------
h="$(hash_of setup.py requirements/*.in)"
if stamp_ok scripts "$h" && [ -x "$VENV/bin/ssr_node" ]; then
  say "console scripts up to date"
else
  say "installing the console scripts (editable)"
  mkdir -p "$BUILD"
  "${PIP[@]}" install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=compat \
    > "$BUILD/pip-editable.log" 2>&1 || die "pip could not install this package in editable mode"
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
