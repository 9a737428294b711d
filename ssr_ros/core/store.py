"""Map persistence: versioned JSON files written atomically, never pickle.

File layout (UTF-8 JSON object)::

    {"format": "ssr_ros.map", "schema_version": 1, "payload": {...}}

``payload`` is whatever the caller saves (object map, cogmap, room ... as dicts);
numpy arrays and scalars are written as lists and numbers, NaN/inf are refused.
Writes go to a temporary file in the same directory, are flushed and fsync'ed, renamed
over the target (atomic on POSIX) and the directory is fsync'ed, so a crash leaves
either the old file or the new one, never a torn one.

Paths given by a service caller are confined to a configured directory with
:func:`resolve_map_path`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT_MARKER = "ssr_ros.map"
SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
MAX_MAP_BYTES = 256 * 1024 * 1024
"""Refuse to read larger files [bytes]: a map of thousands of objects is a few MB."""


class MapFileError(Exception):
    """A map file cannot be loaded; ``path`` and ``reason`` say why."""

    def __init__(self, path: os.PathLike | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class MapFileMissingError(MapFileError, FileNotFoundError):
    """No file at the path."""


class MapFileUnreadableError(MapFileError, OSError):
    """The file exists but cannot be read (permissions, a directory, I/O error, too big)."""


class MapFileCorruptError(MapFileError, ValueError):
    """Not valid JSON, not UTF-8, or the wrapper object is malformed."""


class MapFileVersionError(MapFileError, ValueError):
    """An ssr_ros map of a schema version this code does not read."""


class MapFileForeignError(MapFileError, ValueError):
    """Valid JSON, but not an ssr_ros map (no or another ``format`` marker)."""


class MapEncodeError(ValueError):
    """The payload holds something JSON cannot carry (NaN, inf, arbitrary objects)."""


class MapPathError(ValueError):
    """A requested map path escapes the configured map directory or is malformed."""


def _to_json(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a map file")


def encode_map(payload: dict) -> bytes:
    """The file bytes for ``payload``; raises :class:`MapEncodeError`."""
    if not isinstance(payload, dict):
        raise MapEncodeError(f"payload must be a dict, got {type(payload).__name__}")
    document = {"format": FORMAT_MARKER, "schema_version": SCHEMA_VERSION, "payload": payload}
    try:
        text = json.dumps(document, default=_to_json, allow_nan=False, sort_keys=True,
                          ensure_ascii=False, indent=1)
    except (TypeError, ValueError) as err:
        raise MapEncodeError(f"payload cannot be stored: {err}") from err
    return (text + "\n").encode("utf-8")


def save_map(path: os.PathLike | str, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file in the same directory, fsync,
    rename, directory fsync). Creates missing parent directories. Returns the path.

    Raises :class:`MapEncodeError` (nothing written) or OSError from the file system
    (the previous file, if any, is left intact).
    """
    target = Path(path)
    data = encode_map(payload)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                    dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def decode_map(data: bytes, path: os.PathLike | str = "<bytes>") -> dict:
    """The payload of map-file bytes; raises the :class:`MapFileError` subclasses."""
    try:
        document = json.loads(data.decode("utf-8"),
                              parse_constant=_reject_constant)
    except UnicodeDecodeError as err:
        raise MapFileCorruptError(path, f"not UTF-8 text ({err.reason})") from err
    except (json.JSONDecodeError, ValueError) as err:
        raise MapFileCorruptError(path, f"not valid JSON ({err})") from err
    if not isinstance(document, dict):
        raise MapFileForeignError(path, "not an ssr_ros map (top level is not an object)")
    marker = document.get("format")
    if marker != FORMAT_MARKER:
        raise MapFileForeignError(path, f"not an ssr_ros map (format {marker!r}, expected "
                                  f"{FORMAT_MARKER!r})")
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise MapFileCorruptError(path, f"schema_version must be an integer, got {version!r}")
    if version not in SUPPORTED_VERSIONS:
        raise MapFileVersionError(path, f"schema version {version} is not supported "
                                  f"(this build reads {sorted(SUPPORTED_VERSIONS)})")
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise MapFileCorruptError(path, "payload missing or not an object")
    return payload


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in a map file")


def load_map(path: os.PathLike | str) -> dict:
    """Read and validate a map file; returns its payload dict.

    Raises :class:`MapFileMissingError`, :class:`MapFileUnreadableError`,
    :class:`MapFileCorruptError`, :class:`MapFileVersionError` or
    :class:`MapFileForeignError` (all :class:`MapFileError`).
    """
    source = Path(path)
    try:
        size = source.stat().st_size
        if source.is_dir():
            raise MapFileUnreadableError(source, "is a directory")
        if size > MAX_MAP_BYTES:
            raise MapFileUnreadableError(source, f"{size} bytes is larger than the "
                                         f"{MAX_MAP_BYTES} byte limit")
        data = source.read_bytes()
    except FileNotFoundError as err:
        raise MapFileMissingError(source, "no such file") from err
    except MapFileError:
        raise
    except OSError as err:
        raise MapFileUnreadableError(source, err.strerror or str(err)) from err
    return decode_map(data, source)


def resolve_map_path(name: str, map_dir: os.PathLike | str, suffix: str = ".json") -> Path:
    """Confine a service-given map name to ``map_dir``.

    ``name`` is relative to ``map_dir`` (sub-directories allowed); ``suffix`` is appended
    when the name has none. Empty names, NUL bytes, absolute paths, ``..`` components and
    symbolic links that lead outside ``map_dir`` raise :class:`MapPathError`.
    """
    if not isinstance(name, str) or not name.strip():
        raise MapPathError("the map name is empty")
    if "\x00" in name:
        raise MapPathError("the map name contains a NUL byte")
    candidate = Path(name)
    if candidate.is_absolute() or name.startswith(("/", "\\", "~")):
        raise MapPathError(f"absolute map paths are not allowed: {name!r}")
    if any(part == ".." for part in Path(name.replace("\\", "/")).parts):
        raise MapPathError(f"'..' is not allowed in map names: {name!r}")
    if not candidate.suffix:
        candidate = candidate.with_name(candidate.name + suffix)
    root = Path(map_dir).resolve()
    resolved = (root / candidate).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise MapPathError(f"map name {name!r} leads outside the map directory {root}")
    return resolved
