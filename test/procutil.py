"""Child processes of the multi-process tests (ssr_node, ssr-play, ssr-view): the
environment they run in and a handle that keeps their output in a log file.

Lives at the top of test/ (the root conftest's folder, on sys.path for every test
file) so test/ros and test/view share one copy."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[1]
DDS_PROFILE = REPO / "config" / "fastdds_local.xml"


def child_env() -> dict[str, str]:
    """This process's environment with DDS on loopback, unbuffered output and the Fast
    DDS profile (a frame's images exceed Fast DDS's default 512 KB shared memory)."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(DDS_PROFILE))
    return env


class ChildProcess:
    """A child process with its stdout and stderr in ``log_path``."""

    def __init__(self, cmd: list[str], log_path: pathlib.Path,
                 cwd: pathlib.Path | None = None) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(cmd, env=child_env(), stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     cwd=str(cwd or log_path.parent))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGINT (ssr_node saves its map) and wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode
