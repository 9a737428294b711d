# shellcheck shell=bash
# Source this file (`. scripts/env.sh`) to use ssr_ros from this checkout:
# the venv made by `make setup`, the interfaces built into install/, the Python
# sources of this tree first on the path, and DDS kept on loopback.
#
# On a machine with a sourced ROS 2 distribution (ROS_DISTRO set), the venv still
# provides the Python libraries and install/ our interfaces; the distribution's
# own environment stays in front.

_ssr_src="${BASH_SOURCE[0]:-$0}"
SSR_ROOT="$(cd "$(dirname "$_ssr_src")/.." && pwd)"
export SSR_ROOT
unset _ssr_src

_ssr_venv="${SSR_VENV:-$SSR_ROOT/.venv}"
if [ ! -x "$_ssr_venv/bin/python" ]; then
  echo "ssr_ros env: no virtual environment at $_ssr_venv; run 'make setup' first" >&2
  return 1 2>/dev/null || exit 1
fi
_ssr_pyver="$("$_ssr_venv/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
_ssr_install="${SSR_INSTALL:-$SSR_ROOT/install}/ssr_ros"

_ssr_prepend() {  # _ssr_prepend VAR DIR: put DIR first in VAR once
  local var="$1" dir="$2" cur
  cur="${!var:-}"
  case ":$cur:" in *":$dir:"*) return 0 ;; esac
  if [ -n "$cur" ]; then export "$var=$dir:$cur"; else export "$var=$dir"; fi
}

# shellcheck disable=SC1091
. "$_ssr_venv/bin/activate"
if [ -z "${ROS_DISTRO:-}" ]; then
  _ssr_prepend AMENT_PREFIX_PATH "$_ssr_venv"
  _ssr_prepend CMAKE_PREFIX_PATH "$_ssr_venv"
fi
_ssr_prepend AMENT_PREFIX_PATH "$_ssr_install"
_ssr_prepend CMAKE_PREFIX_PATH "$_ssr_install"
_ssr_prepend LD_LIBRARY_PATH "$_ssr_install/lib"
# Generated ssr_ros.msg / ssr_ros.srv live in install/; ssr_ros/__init__.py extends its
# package path so they resolve while the sources of this tree take precedence.
_ssr_prepend PYTHONPATH "$_ssr_install/lib/python$_ssr_pyver/site-packages"
_ssr_prepend PYTHONPATH "$SSR_ROOT"

# Workplace rule and safe default: DDS discovery stays on this host. Robots that talk
# across machines set ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET before sourcing (see README).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Fast DDS's default 512 KB shared-memory segment drops most 640x480 RGB-D frames between
# processes; this profile enlarges it and keeps UDP on 127.0.0.1 (config/fastdds_local.xml),
# so it is applied only when discovery is local: other hosts could never connect through it.
if [ "$ROS_AUTOMATIC_DISCOVERY_RANGE" = "LOCALHOST" ]; then
  export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$SSR_ROOT/config/fastdds_local.xml}"
elif [ "${FASTDDS_DEFAULT_PROFILES_FILE:-}" = "$SSR_ROOT/config/fastdds_local.xml" ]; then
  unset FASTDDS_DEFAULT_PROFILES_FILE  # left by an earlier, local sourcing
fi
# Hugging Face must never try the network (weights load from local paths only).
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
unset _ssr_venv _ssr_pyver _ssr_install
unset -f _ssr_prepend
