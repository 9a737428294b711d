"""CPU time and memory of another process, read from Linux /proc (benchmarks only)."""

from __future__ import annotations

import os
from pathlib import Path


def _stat_cpu_s(stat_text: str) -> float:
    """User + system CPU time [s] from the text of a /proc ``stat`` file."""
    fields = stat_text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU time [s] of process ``pid`` so far (all its threads)."""
    return _stat_cpu_s(Path(f"/proc/{pid}/stat").read_text())


def thread_cpu_s(pid: int) -> dict[int, tuple[str, float]]:
    """Per thread of process ``pid``: thread id -> (thread name, user + system CPU [s]).

    Threads that end while being read are left out. The thread whose id is ``pid`` is
    the process's main thread (for ssr_node: the executor)."""
    out: dict[int, tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            out[int(task.name)] = (name, _stat_cpu_s((task / "stat").read_text()))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def _status_kib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return float("nan")


def rss_mib(pid: int) -> float:
    """Resident set size [MiB] of process ``pid`` (NaN when /proc does not say)."""
    return _status_kib(pid, "VmRSS") / 1024.0


def peak_rss_mib(pid: int) -> float:
    """Largest resident set size [MiB] of process ``pid`` so far (``VmHWM``)."""
    return _status_kib(pid, "VmHWM") / 1024.0


def rss_parts_mib(pid: int) -> dict[str, float]:
    """Resident memory [MiB] of process ``pid`` by kind: ``anon`` (heap, numpy buffers),
    ``file`` (mapped libraries and files) and ``shmem`` (shared memory: the DDS segments
    of this process and of the peers it reads from)."""
    return {kind: _status_kib(pid, key) / 1024.0
            for kind, key in (("anon", "RssAnon"), ("file", "RssFile"), ("shmem", "RssShmem"))}
