"""Map store under faults: a saver killed with SIGKILL, bad files of every kind, hostile
service-given names, and moving a corrupt map aside."""

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssr_ros.core import store
from ssr_ros.core.store import (MapFileCorruptError, MapFileError, MapFileForeignError,
                                MapFileMissingError, MapFileUnreadableError,
                                MapFileVersionError, MapPathError, load_map, quarantine,
                                remove_stale_temp_files, resolve_map_path, save_map)

REPO = Path(__file__).resolve().parents[2]
N_VALUES = 300_000
"""Values per saved map: about 2.5 MB of JSON, so a save takes long enough to be hit."""

# The child saves maps 1, 2, 3 ... to argv[1] forever and prints each number once saved.
# Every map holds N copies of its number, so a torn or mixed file is easy to see.
# Deterministic kill points: with argv[3] == "hang-mid-write" it stops after writing
# half of the first map to its temp file; with "hang-in-fsync", inside the first fsync
# (the temp file is complete, the rename not done). Either way it says so and waits.
_SAVER = """
import os, sys, time
from ssr_ros.core import store
path, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
real_write = os.write
def hang(*args):
    print("hanging", flush=True)
    time.sleep(60)
def half_write(fd, data):
    store.os.write = hang
    return real_write(fd, data[: len(data) // 2])
if mode == "hang-in-fsync":
    store.os.fsync = hang
elif mode == "hang-mid-write":
    store.os.write = half_write
seq = int(store.load_map(path)["seq"])
print("ready", flush=True)
while True:
    seq += 1
    store.save_map(path, {"seq": seq, "values": [seq] * n})
    print(seq, flush=True)
"""


def _big_map(seq: int) -> dict:
    return {"seq": seq, "values": [seq] * N_VALUES}


def _assert_whole(path: Path) -> int:
    """The map at ``path`` loads and is one consistent save; returns its number."""
    payload = load_map(path)
    seq = payload["seq"]
    assert len(payload["values"]) == N_VALUES and set(payload["values"]) == {seq}
    return seq


def _start_saver(path: Path, mode: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", _SAVER, str(path), str(N_VALUES), mode],
                             stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == "ready"
    return child


def _kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    child.stdout.close()


def test_sigkill_while_saving_never_tears_the_map_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "map.json"
    save_map(path, _big_map(0))
    rng = random.Random(8)
    last = 0
    # Kills at random moments: mostly while encoding, sometimes while writing or renaming.
    # Until the kill, a reader keeps loading the map: it must only ever see whole maps.
    for _ in range(3):
        child = _start_saver(path, "run")
        deadline = time.monotonic() + rng.uniform(0.05, 0.6)
        while time.monotonic() < deadline:
            seq = _assert_whole(path)
            assert seq >= last
            last = seq
        _kill(child)
        seq = _assert_whole(path)
        assert seq >= last, "a later load went back to an older map"
        last = seq
        names = {p.name for p in tmp_path.iterdir()}
        assert names - {"map.json"} <= {n for n in names if n.startswith(".map.json.")
                                          and n.endswith(".tmp")}
    # Deterministic kills half-way through writing the temp file, and after writing it
    # but before the rename.
    full_size = path.stat().st_size
    for mode in ("hang-mid-write", "hang-in-fsync"):
        child = _start_saver(path, mode)
        assert child.stdout.readline().strip() == "hanging"
        _kill(child)
        assert _assert_whole(path) == last       # the old map, untouched
        temp, = [p for p in tmp_path.iterdir() if p.name.startswith(".map.json.")]
        assert (temp.stat().st_size < full_size) == (mode == "hang-mid-write")
    # The next save of the map removes the dead savers' temp files.
    save_map(path, _big_map(last + 1))
    assert [p.name for p in tmp_path.iterdir()] == ["map.json"]
    assert _assert_whole(path) == last + 1


def test_cleanup_keeps_the_temp_file_of_a_save_in_progress(tmp_path):
    live = tmp_path / ".a.json.abcd1234.tmp"
    dead = tmp_path / ".a.json.dead5678.tmp"
    other = tmp_path / ".b.json.zzzz9999.tmp"
    for p in (live, dead, other):
        p.write_bytes(b"partial")
    with open(live, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)      # a writer still at work
        assert remove_stale_temp_files(tmp_path, "a.json") == [dead]
        assert live.exists() and other.exists()
        assert remove_stale_temp_files(tmp_path) == [other]
    assert remove_stale_temp_files(tmp_path) == [live]
    assert list(tmp_path.iterdir()) == []


def test_load_ignores_leftover_temp_files(tmp_path):
    save_map(tmp_path / "m.json", {"v": 1})
    (tmp_path / ".m.json.abcd1234.tmp").write_bytes(b'{"format": "ssr_ros.map", "sch')
    assert load_map(tmp_path / "m.json") == {"v": 1}


def _document(payload, version=1, marker="ssr_ros.map") -> bytes:
    return json.dumps({"format": marker, "schema_version": version,
                       "payload": payload}).encode()


GOOD = _document({"objects": [{"id": 1, "label": "chair"}]})


@pytest.mark.parametrize("content, error, reason", [
    (GOOD[: len(GOOD) // 2], MapFileCorruptError, "not valid JSON"),          # truncated
    (b"", MapFileCorruptError, "not valid JSON"),                             # empty
    (GOOD.replace(b"chair", b"ch\xe9ir"), MapFileCorruptError, "UTF-8"),      # latin-1
    (b"\x89PNG\r\n\x1a\n\x00\x00", MapFileCorruptError, "UTF-8"),             # binary
    (GOOD.replace(b'"id": 1', b'"id": 1e999'), MapFileCorruptError, "range"),  # inf
    (b"[" * 100_000 + b"]" * 100_000, MapFileCorruptError, "nested"),
    (b"1" * 5000, MapFileCorruptError, "not valid JSON"),                     # huge int
    (_document({}, version=2), MapFileVersionError, "version 2"),
    (_document({}, version=0), MapFileVersionError, "version 0"),
    (_document({}, version=True), MapFileCorruptError, "integer"),
    (_document([]), MapFileCorruptError, "payload"),
    (_document({}, marker="rosbag"), MapFileForeignError, "rosbag"),
    (b'{"type": "FeatureCollection", "features": []}', MapFileForeignError, "None"),
    (b'"just a string"', MapFileForeignError, "top level"),
    (b"null", MapFileForeignError, "top level"),
])
def test_each_bad_file_raises_its_specific_error(tmp_path, content, error, reason):
    path = tmp_path / "m.json"
    path.write_bytes(content)
    with pytest.raises(error, match=reason) as info:
        load_map(path)
    assert isinstance(info.value, MapFileError) and info.value.path == str(path)


def test_missing_directory_fifo_and_loop_are_specific_errors(tmp_path):
    with pytest.raises(MapFileMissingError):
        load_map(tmp_path / "nothing.json")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(MapFileUnreadableError, match="directory"):
        load_map(tmp_path / "dir.json")
    os.mkfifo(tmp_path / "fifo.json")          # reading it would block forever
    with pytest.raises(MapFileUnreadableError, match="regular file"):
        load_map(tmp_path / "fifo.json")
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    with pytest.raises(MapFileUnreadableError):
        load_map(tmp_path / "loop.json")
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(MapFileUnreadableError):
        load_map(tmp_path / "plain" / "m.json")    # a file where a folder should be


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_unreadable(tmp_path):
    path = save_map(tmp_path / "m.json", {"v": 1})
    path.chmod(0)
    with pytest.raises(MapFileUnreadableError, match="ermission"):
        load_map(path)


def test_permission_and_io_errors_while_reading_are_unreadable(tmp_path, monkeypatch):
    # Stands in for chmod 000, which does not stop root (the test machines run as root).
    path = save_map(tmp_path / "m.json", {"v": 1})
    real_open = open

    def failing_open(file, *args, **kwargs):
        if Path(file) == path:
            raise OSError(failing_open.errno, os.strerror(failing_open.errno), str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    for code, text in ((13, "Permission denied"), (5, "Input/output error")):
        failing_open.errno = code
        with pytest.raises(MapFileUnreadableError, match=text):
            load_map(path)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MAX_MAP_BYTES", 64)
    path = save_map(tmp_path / "m.json", {"text": "x" * 100})
    with pytest.raises(MapFileUnreadableError, match="limit"):
        load_map(path)


@pytest.mark.parametrize("name, reason", [
    ("../escape", r"'\.\.'"),
    ("maps/../../escape", r"'\.\.'"),
    ("..\\escape", r"'\.\.'"),
    ("/etc/passwd", "absolute"),
    ("\\\\server\\share\\m", "absolute"),
    ("~root/m", "absolute"),
    ("a\x00b", "NUL"),
    ("a\nb", "control"),
    ("a\x1b[2Jb", "control"),
    ("a\u202eb", "control"),                   # right-to-left override
    ("a\ud800b", "control"),                   # lone surrogate, cannot be a file name
    ("x" * 129, "limit is 128"),
    ("\U0001f600" * 100, "bytes"),             # 128 chars but 400 bytes
    (".hidden", "start with '.'"),
    (".m.json.abcd1234.tmp", "start with '.'"),
    ("./m", "start with '.'"),
    ("", "empty"),
    ("   ", "empty"),
    (None, "text"),
    (b"m.json", "text"),
])
def test_hostile_map_names_are_refused(tmp_path, name, reason):
    with pytest.raises(MapPathError, match=reason):
        resolve_map_path(name, tmp_path)


def test_symlinks_leading_out_are_refused_and_plain_names_work(tmp_path):
    root = tmp_path / "maps"
    outside = tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "out").symlink_to(outside)
    (root / "passwd.json").symlink_to("/etc/passwd")
    (root / "loop.json").symlink_to(root / "loop.json")
    for name in ("out/m", "out/deeper/m.json", "passwd.json"):
        with pytest.raises(MapPathError, match="outside"):
            resolve_map_path(name, root)
    with pytest.raises(MapPathError):
        resolve_map_path("loop.json", root)
    (root / "floor2").mkdir()
    (root / "inside").symlink_to(root / "floor2")
    assert resolve_map_path("kitchen", root) == root.resolve() / "kitchen.json"
    assert resolve_map_path("floor2/hall.map", root) == root.resolve() / "floor2" / "hall.map"
    assert resolve_map_path("inside/hall", root) == root.resolve() / "floor2" / "hall.json"
    assert resolve_map_path("küche", root) == root.resolve() / "küche.json"
    save_map(resolve_map_path("kitchen", root), {"v": 1})
    assert load_map(root / "kitchen.json") == {"v": 1}


def test_quarantine_moves_a_corrupt_map_aside_without_overwriting(tmp_path):
    path = tmp_path / "map.json"
    stamp_s = 1_790_000_000.0                                 # 2026-09-21 14:13:20 UTC
    moved = []
    for k in range(3):
        path.write_bytes(b"{broken %d" % k)
        with pytest.raises(MapFileCorruptError):
            load_map(path)
        moved.append(quarantine(path, now_s=stamp_s))
        assert not path.exists()
    assert [p.name for p in moved] == ["map.json.corrupt-20260921T141320Z",
                                       "map.json.corrupt-20260921T141320Z-1",
                                       "map.json.corrupt-20260921T141320Z-2"]
    assert [p.read_bytes() for p in moved] == [b"{broken 0", b"{broken 1", b"{broken 2"]
    # The node now starts empty and its next save lands under the original name.
    save_map(path, {"v": 1})
    assert load_map(path) == {"v": 1}


def test_quarantine_of_a_directory_and_of_nothing(tmp_path):
    (tmp_path / "map.json").mkdir()
    aside = quarantine(tmp_path / "map.json", now_s=0.0)
    assert aside.name == "map.json.corrupt-19700101T000000Z" and aside.is_dir()
    with pytest.raises(MapFileMissingError):
        quarantine(tmp_path / "map.json")
