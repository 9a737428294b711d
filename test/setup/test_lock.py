"""The lock: the venv is what the lock says, and a stale or incomplete lock stops set-up
with a message that names the file and says to run `make lock`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKPY = ROOT / "scripts" / "lockfile.py"
sys.path.insert(0, str(ROOT / "scripts"))
import lockfile  # noqa: E402


def _copy_requirements(tmp_path: Path) -> Path:
    """A throw-away tree with this checkout's requirements/ and scripts/lockfile.py."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "requirements", tree / "requirements")
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(LOCKPY, tree / "scripts" / "lockfile.py")
    return tree


def _check(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(tree / "scripts" / "lockfile.py"), "check"],
                          capture_output=True, text=True, timeout=120)


def test_lock_of_this_checkout_is_current():
    proc = _check(ROOT)
    assert proc.returncode == 0, proc.stderr


def test_installed_venv_equals_the_lock():
    """`pip freeze` of the venv (what pip lists: pip/setuptools/wheel and this package
    aside) equals the union of the lock files of the groups set-up installed."""
    groups_file = Path(sys.prefix) / ".ssr-groups"
    if not groups_file.exists():
        pytest.skip(f"{sys.prefix} was not made by scripts/setup.sh (no .ssr-groups)")
    if (Path(sys.prefix) / ".stamp-deps").read_text().startswith("unlocked-"):
        pytest.skip("make test-latest: this venv is resolved from the ranges on purpose")
    groups = lockfile.parse_groups(groups_file.read_text())
    diff = lockfile.differences(groups, distribution=bool(os.environ.get("ROS_DISTRO")))
    assert diff == [], "venv and lock differ:\n" + "\n".join(diff)
    # The venv alone: scripts/env.sh puts this tree and install/ (our interfaces, and
    # vision_msgs/tf2_msgs on the PyPI route) on PYTHONPATH, which pip would list too.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, timeout=120, check=True,
                            env=env).stdout
    frozen = {lockfile.canonicalize_name(line.split("==")[0])
              for line in freeze.splitlines() if "==" in line}
    frozen -= lockfile.embedded()  # a ROS wheel's inner egg-info (lockfile.embedded)
    locked = set(lockfile.expected(groups, distribution=bool(os.environ.get("ROS_DISTRO"))))
    assert frozen - lockfile.FREEZE_SKIPS == locked - lockfile.FREEZE_SKIPS


def test_edited_range_without_relock_names_the_file(tmp_path):
    tree = _copy_requirements(tmp_path)
    core = tree / "requirements" / "core.in"
    core.write_text(core.read_text() + "tqdm>=4\n")
    proc = _check(tree)
    assert proc.returncode == 1
    assert "requirements/core.in changed since the lock was made" in proc.stderr
    assert "make lock" in proc.stderr


def test_requirement_missing_from_the_lock_is_named(tmp_path):
    tree = _copy_requirements(tmp_path)
    lock = tree / "requirements" / "lock" / "sim.txt"
    text = lock.read_text()
    start = text.index("\nnumba==")
    end = text.index("\n", text.index("--hash", start) + 1)
    while text[end + 1:end + 5] == "    ":  # the entry's further hash lines
        end = text.index("\n", end + 1)
    lock.write_text(text[:start] + text[end:])
    proc = _check(tree)
    assert proc.returncode == 1
    assert "numba" in proc.stderr and "missing from requirements/lock/sim.txt" in proc.stderr
    assert "make lock" in proc.stderr


def test_pin_outside_its_range_is_named(tmp_path):
    tree = _copy_requirements(tmp_path)
    lock = tree / "requirements" / "lock" / "core.txt"
    text = lock.read_text()
    version = next(line for line in text.splitlines()
                   if line.startswith("opencv-python-headless==")).split("==")[1].split()[0]
    lock.write_text(text.replace(f"opencv-python-headless=={version}",
                                 "opencv-python-headless==5.1.0.0"))
    proc = _check(tree)
    assert proc.returncode == 1
    assert "opencv-python-headless==5.1.0.0" in proc.stderr
    assert "outside" in proc.stderr and "make lock" in proc.stderr


def test_setup_stops_on_a_stale_lock_before_installing(tmp_path):
    """`make setup` itself refuses a stale lock (exit 1, the message on stderr)."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".venv", "build", "install", "log", ".git", "demo_out", "bench_out", "__pycache__"))
    core = tree / "requirements" / "core.in"
    core.write_text(core.read_text() + "tqdm>=4\n")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    # A venv with pip is what setup makes; borrow this one's pip to keep the test fast.
    site = next((venv / "lib").glob("python3*/site-packages"))
    pip_dir = Path(subprocess.run([sys.executable, "-c", "import pip, os; "
                                   "print(os.path.dirname(pip.__file__))"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    shutil.copytree(pip_dir, site / "pip")
    env = dict(os.environ, SSR_VENV=str(venv), SSR_GROUPS="core",
               PYTHON=str(venv / "bin" / "python"))
    proc = subprocess.run(["bash", str(tree / "scripts" / "setup.sh")], env=env, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode == 1
    assert "requirements/core.in changed since the lock was made" in proc.stderr
    assert not (venv / ".stamp-deps").exists()


def test_unknown_group_is_refused():
    with pytest.raises(lockfile.LockError, match="unknown group"):
        lockfile.parse_groups("core simulator")


def test_groups_agree_on_every_shared_pin():
    seen: dict[str, tuple[str, str]] = {}
    for group in lockfile.GROUPS:
        for name, (version, hashes) in lockfile.read_lock(group).items():
            assert hashes, f"{name} in {group} has no hash"
            if name in seen:
                assert seen[name][0] == version, (name, seen[name], group, version)
            seen[name] = (version, group)
    excluded = lockfile.read_excluded()
    assert not excluded & set(seen), "an excluded package is in the lock"


def test_setup_py_extras_are_the_groups():
    """setup.py reads its ranges from requirements/*.in: nothing to drift."""
    out = subprocess.run([sys.executable, "-c", (
        "import setuptools, json, sys\n"
        "captured = {}\n"
        "setuptools.setup = lambda **kw: captured.update(kw)\n"
        f"sys.argv = ['setup.py']; __file__ = {str(ROOT / 'setup.py')!r}\n"
        "exec(open(__file__).read())\n"
        "print(json.dumps([captured['install_requires'], captured['extras_require']]))")],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    import json

    install_requires, extras = json.loads(out.stdout)
    as_reqs = lambda lines: [str(lockfile.Requirement(x)) for x in lines]  # noqa: E731
    assert as_reqs(install_requires) == [str(r) for r in lockfile.read_in("core")]
    assert set(extras) == {"sim", "reference", "detector", "model", "view", "dev"}
    for group, reqs in extras.items():
        assert as_reqs(reqs) == [str(r) for r in lockfile.read_in(group)]
    opencv = next(r for r in lockfile.read_in("core") if r.name == "opencv-python-headless")
    assert not opencv.specifier.contains("5.1.0"), "OpenCV 5 cannot read the bundled SSD"
