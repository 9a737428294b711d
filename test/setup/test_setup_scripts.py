"""The set-up scripts stop with a message that names what is missing."""

import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _fake_python(tmp_path, version: str) -> pathlib.Path:
    fake = tmp_path / "python-fake"
    fake.write_text(f"#!/bin/sh\necho {version}\n")
    fake.chmod(0o755)
    return fake


def test_setup_refuses_unsupported_python_and_names_it(tmp_path):
    env = dict(os.environ, PYTHON=str(_fake_python(tmp_path, "3.9")),
               SSR_VENV=str(tmp_path / "venv"))
    proc = subprocess.run(["bash", str(ROOT / "scripts/setup.sh")], env=env, text=True,
                          capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert "Python 3.9" in proc.stderr and "3.10, 3.11 or 3.12" in proc.stderr
    assert not (tmp_path / "venv").exists(), "a refused setup must not leave a half-built venv"


def test_env_script_without_venv_says_run_make_setup(tmp_path):
    env = dict(os.environ, SSR_VENV=str(tmp_path / "no-venv"))
    proc = subprocess.run(["bash", "-c", f". {ROOT}/scripts/env.sh && echo sourced"],
                          env=env, text=True, capture_output=True, timeout=60)
    assert proc.returncode != 0
    assert "sourced" not in proc.stdout
    assert "make setup" in proc.stderr


def test_env_script_keeps_dds_on_loopback_and_finds_interfaces():
    env = {k: v for k, v in os.environ.items() if k != "ROS_AUTOMATIC_DISCOVERY_RANGE"}
    script = (f". {ROOT}/scripts/env.sh && cd / && "
              "python -c 'import os; from ssr_ros.srv import SpatialQuery; "
              "print(os.environ[\"ROS_AUTOMATIC_DISCOVERY_RANGE\"])'")
    proc = subprocess.run(["bash", "-c", script], env=env, text=True, capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LOCALHOST"


def test_fix_cmake_paths_is_idempotent(tmp_path):
    share = tmp_path / "share" / "pkg" / "cmake"
    share.mkdir(parents=True)
    target = share / "export_pkg__rosidl_generator_pyExport.cmake"
    target.write_text(
        'INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
        '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"\n')
    script = str(ROOT / "scripts/fix_cmake_paths.py")
    first = subprocess.run(["python", script, str(tmp_path)], capture_output=True, text=True,
                           timeout=60)
    assert first.returncode == 0 and "1 CMake file" in first.stdout
    text = target.read_text()
    assert "/opt/python" not in text and "numpy" in text
    second = subprocess.run(["python", script, str(tmp_path)], capture_output=True, text=True,
                            timeout=60)
    assert "0 CMake file" in second.stdout and target.read_text() == text
