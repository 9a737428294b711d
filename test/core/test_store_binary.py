"""Map files: compact JSON, the binary encoding with packed arrays, and old files."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from ssr_ros.core import store
from ssr_ros.core.store import (MapEncodeError, MapFileCorruptError, MapFileVersionError,
                                load_map, save_map)


def _payload():
    rng = np.random.default_rng(0)
    return {"points": rng.normal(size=(1000, 3)).astype(np.float32),
            "ids": np.arange(7, dtype=np.int64), "flags": np.array([True, False, True]),
            "empty": np.zeros((0, 3)), "scalar": np.float64(2.5), "count": np.int64(3),
            "nested": [{"w": rng.uniform(size=5), "name": "küche"}, 4, None],
            "exact": np.array([0.1, 1e-300, 123456789.123456789])}


def test_binary_round_trip_gives_equal_writable_arrays(tmp_path):
    payload = _payload()
    path = save_map(tmp_path / "map.ssrmap", payload)
    assert path.read_bytes()[:8] == store.BINARY_MAGIC
    loaded = load_map(path)
    for key in ("points", "ids", "flags", "empty", "exact"):
        assert loaded[key].dtype == payload[key].dtype
        assert np.array_equal(loaded[key], payload[key]), key
    assert loaded["points"].flags.writeable
    loaded["points"][0, 0] = 9.0                      # a view of the read buffer, not bytes
    assert np.array_equal(loaded["nested"][0]["w"], payload["nested"][0]["w"])
    assert loaded["nested"][0]["name"] == "küche" and loaded["nested"][1:] == [4, None]
    assert loaded["scalar"] == 2.5 and loaded["count"] == 3


def test_the_suffix_picks_the_encoding_and_json_is_compact(tmp_path):
    json_path = save_map(tmp_path / "map.json", _payload())
    text = json_path.read_text(encoding="utf-8")
    assert text.count("\n") == 1 and ", " not in text[:200]
    document = json.loads(text)
    assert document["schema_version"] == store.SCHEMA_VERSION
    assert load_map(json_path)["ids"] == list(range(7))
    forced = save_map(tmp_path / "map.json.bin", _payload(), encoding="json")
    assert forced.read_bytes()[:1] == b"{"
    binary = save_map(tmp_path / "other.json", _payload(), encoding="binary")
    assert np.array_equal(load_map(binary)["ids"], np.arange(7))
    with pytest.raises(ValueError):
        save_map(tmp_path / "x.map", {}, encoding="pickle")


def test_old_indented_json_files_still_load(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": "ssr_ros.map", "schema_version": 1,
                                "payload": {"a": [1.5, 2.0], "b": {"c": "d"}}}, indent=1))
    assert load_map(path) == {"a": [1.5, 2.0], "b": {"c": "d"}}


@pytest.mark.parametrize("value, reason", [
    (np.array([1.0, np.nan]), "NaN"), (np.array([np.inf], np.float32), "NaN"),
    (np.array(["text"]), "dtype"), (np.array([object()]), "dtype"),
    (np.array([1 + 2j]), "dtype")])
def test_what_cannot_be_stored_is_refused_and_nothing_written(tmp_path, value, reason):
    with pytest.raises(MapEncodeError, match=reason):
        save_map(tmp_path / "m.ssrmap", {"v": value})
    assert list(tmp_path.iterdir()) == []


def _saved(tmp_path) -> bytearray:
    return bytearray(save_map(tmp_path / "m.ssrmap", _payload()).read_bytes())


def _header(data: bytearray) -> tuple[int, dict]:
    """Where the arrays start, and the array table."""
    _, _, _, length = struct.unpack_from("<8sIIQ", data)
    return 24 + length, json.loads(bytes(data[24:24 + length]).split(b"\n")[0])


def test_damaged_binary_files_raise_specific_errors(tmp_path):
    good = _saved(tmp_path)
    start, header = _header(good)
    flipped = bytearray(good)
    flipped[start + header["arrays"][0]["offset"] + 5] ^= 0x40
    cases = [(flipped, MapFileCorruptError, "checksum"),
             (good[:len(good) - 100], MapFileCorruptError, "truncated"),
             (good[:20], MapFileCorruptError, "prefix"),
             (good[:8] + struct.pack("<I", 7) + good[12:], MapFileVersionError, "layout")]
    bad_bool = bytearray(good)
    entry = next(e for e in header["arrays"] if e["dtype"] == "|b1")
    bad_bool[start + entry["offset"]] = 2
    entry_crc = __import__("zlib").crc32(bytes(bad_bool[start + entry["offset"]:
                                                        start + entry["offset"] + 3]))
    text = bytes(bad_bool[24:start]).decode().replace(f'"crc32":{entry["crc32"]}',
                                                      f'"crc32":{entry_crc}', 1)
    cases.append((bad_bool[:24] + text.encode() + bad_bool[start:], MapFileCorruptError,
                  "bool"))
    for schema in (1, 9):
        text = bytes(good[24:start]).decode().replace('"schema_version":2',
                                                      f'"schema_version":{schema}')
        cases.append((good[:24] + text.encode() + good[start:], MapFileVersionError,
                      "schema version"))
    no_table = bytes(good[24:start]).decode().replace("\n", " ", 1)
    cases.append((good[:24] + no_table.encode() + good[start:], MapFileCorruptError,
                  "table"))
    swapped = bytes(good[24:start]).decode().replace('{"$array":0}', '{"$array":1}', 1)
    cases.append((good[:24] + swapped.encode() + good[start:], MapFileCorruptError,
                  "out of order"))
    for data, error, words in cases:
        path = tmp_path / "bad.ssrmap"
        path.write_bytes(bytes(data))
        with pytest.raises(error, match=words):
            load_map(path)


def test_a_binary_save_replaces_the_old_file_atomically(tmp_path):
    path = save_map(tmp_path / "m.ssrmap", {"v": np.arange(3)})
    with pytest.raises(MapEncodeError):
        save_map(path, {"v": np.array([np.nan])})
    assert np.array_equal(load_map(path)["v"], np.arange(3))
    save_map(path, {"v": np.arange(5)})
    assert np.array_equal(load_map(path)["v"], np.arange(5))
    assert [p.name for p in tmp_path.iterdir()] == ["m.ssrmap"]
