"""Map persistence: versioned JSON, atomic writes, specific load errors, path confinement."""

import json
import os

import numpy as np
import pytest

from ssr_ros.core import store
from ssr_ros.core.cogmap import LocalCogMap
from ssr_ros.core.store import (MapEncodeError, MapFileCorruptError, MapFileError,
                                MapFileForeignError, MapFileMissingError,
                                MapFileUnreadableError, MapFileVersionError, MapPathError,
                                load_map, resolve_map_path, save_map)


def _payload():
    cogmap = LocalCogMap()
    for i, xy in enumerate([(0, 0), (1, 2), (3, -1)], start=1):
        cogmap.add(i, xy, f"o{i}")
    return {"cogmap": cogmap.to_dict(), "centres": np.arange(6.0).reshape(2, 3),
            "count": np.int64(3), "name": "kitchen ü"}


def test_save_and_load_round_trip_with_marker_and_version(tmp_path):
    path = save_map(tmp_path / "maps" / "a.json", _payload())
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "ssr_ros.map" and document["schema_version"] == 1
    loaded = load_map(path)
    assert loaded["centres"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert loaded["count"] == 3 and loaded["name"] == "kitchen ü"
    again = LocalCogMap.from_dict(loaded["cogmap"])
    assert again.to_text() == LocalCogMap.from_dict(_payload()["cogmap"]).to_text()
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]   # no temp file left


def test_a_failed_save_leaves_the_old_file_intact(tmp_path):
    path = save_map(tmp_path / "a.json", {"v": 1})
    with pytest.raises(MapEncodeError):
        save_map(path, {"v": float("nan")})
    with pytest.raises(MapEncodeError):
        save_map(path, {"v": object()})
    assert load_map(path) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_save_replaces_through_a_temp_file_and_rename(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.dirname(src), os.path.basename(src), dst))
        return real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", spy)
    save_map(tmp_path / "b.json", {"v": 2})
    (src_dir, src_name, dst), = seen
    assert src_dir == str(tmp_path) and src_name.startswith(".b.json.")
    assert str(dst) == str(tmp_path / "b.json")


@pytest.mark.parametrize("content, error, reason", [
    (b"{not json", MapFileCorruptError, "not valid JSON"),
    (b"\xff\xfe\x00", MapFileCorruptError, "UTF-8"),
    (b"[1, 2]", MapFileForeignError, "not an ssr_ros map"),
    (b'{"format": "other.tool", "schema_version": 1, "payload": {}}', MapFileForeignError,
     "other.tool"),
    (b'{"format": "ssr_ros.map", "schema_version": 99, "payload": {}}', MapFileVersionError,
     "99"),
    (b'{"format": "ssr_ros.map", "schema_version": "1", "payload": {}}', MapFileCorruptError,
     "integer"),
    (b'{"format": "ssr_ros.map", "schema_version": 1}', MapFileCorruptError, "payload"),
    (b'{"format": "ssr_ros.map", "schema_version": 1, "payload": {"v": NaN}}',
     MapFileCorruptError, "NaN"),
])
def test_load_raises_specific_errors(tmp_path, content, error, reason):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(error, match=reason) as info:
        load_map(path)
    assert isinstance(info.value, MapFileError) and info.value.path == str(path)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(MapFileMissingError):
        load_map(tmp_path / "nope.json")
    with pytest.raises(MapFileUnreadableError, match="directory"):
        load_map(tmp_path)


def test_resolve_map_path_confines_names_to_the_directory(tmp_path):
    assert resolve_map_path("kitchen", tmp_path) == (tmp_path / "kitchen.json").resolve()
    assert resolve_map_path("floors/2.json", tmp_path) == \
        (tmp_path / "floors" / "2.json").resolve()
    for bad in ("", "  ", "../x", "a/../../x", "/etc/passwd", "~/x", "a\x00b", "..\\x"):
        with pytest.raises(MapPathError):
            resolve_map_path(bad, tmp_path)


def test_resolve_map_path_rejects_symlinks_leading_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "link").symlink_to(outside)
    with pytest.raises(MapPathError, match="outside"):
        resolve_map_path("link/x.json", maps)
