"""Map persistence: versioned files written atomically, never pickle.

Two encodings of one document, ``{"format": "ssr_ros.map", "schema_version": N,
"payload": {...}}``; :func:`load_map` tells them apart by their first bytes, whatever the
file is called, and reads every version it knows (:data:`SUPPORTED_VERSIONS`):

- **JSON** (schema 1; :func:`save_map` writes it for ``*.json`` paths): compact UTF-8
  JSON from the standard library's C encoder (files from older builds, written with
  ``indent=1``, load the same). numpy arrays are written as lists and come back as lists.
- **Binary** (schema 2; every other suffix, e.g. ``map.ssrmap``): for maps whose payload
  holds large numpy arrays (a building floor of objects with their point evidence is tens
  of MB of numbers, which JSON encodes at a few MB/s). Layout, little-endian::

      magic  b"\\x89SSRMAP\\n"   8 bytes (not UTF-8: never mistaken for JSON)
      u32    binary layout version (1)
      u32    0 (reserved)
      u64    header length H [bytes]
      header H bytes of UTF-8: one line of compact JSON, {"arrays": [{"dtype", "shape",
             "offset", "nbytes", "crc32"}, ...]}, then the document as compact JSON
             with each numpy array replaced by {"$array": k} (k: its place in the
             table), padded with spaces
      data   each array's raw C-order bytes at its offset (64-byte aligned, after the
             header), checked against its CRC-32 when read

  Arrays come back as numpy arrays (writable, sharing one buffer read from the file).
  Only plain numeric and bool dtypes are stored; ``{"$array": k}`` is reserved in
  binary payloads.

``payload`` is whatever the caller saves (object map, cogmap, room ... as dicts);
numpy scalars are written as numbers; NaN/inf are refused in both encodings.
Writes go to a temporary file in the same directory, are flushed and fsync'ed, renamed
over the target (atomic on POSIX) and the directory is fsync'ed, so a crash leaves
either the old file or the new one, never a torn one.

A crash (even SIGKILL) between creating the temp file and the rename leaves a temp
file ``.<name>.<random>.tmp`` next to the map; the writer holds an exclusive ``flock`` on
its temp file until the rename, so the next :func:`save_map` of that map (or
:func:`remove_stale_temp_files` for a whole directory) deletes temp files nobody holds and
leaves those of a save in progress alone. :func:`load_map` never reads temp files.

A map file that cannot be loaded can be moved aside with :func:`quarantine`, so a node
can start with an empty map without destroying the evidence.

Paths given by a service caller are confined to a configured directory with
:func:`resolve_map_path`.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import re
import stat
import struct
import tempfile
import time
import unicodedata
import zlib
from pathlib import Path

import numpy as np

FORMAT_MARKER = "ssr_ros.map"
SCHEMA_VERSION = 1
"""Schema of the JSON encoding."""
BINARY_SCHEMA_VERSION = 2
"""Schema of the binary encoding (the JSON document plus packed arrays)."""
SUPPORTED_VERSIONS = frozenset({1, 2})
BINARY_MAGIC = b"\x89SSRMAP\n"
BINARY_LAYOUT_VERSION = 1
_BINARY_PREFIX = struct.Struct("<8sIIQ")      # magic, layout version, reserved, header length
_ALIGN = 64
_ARRAY_DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4", "<i2", "<u8", "<u4", "<u2", "|u1",
                           "|i1", "|b1"})
MAX_MAP_BYTES = 256 * 1024 * 1024
"""Refuse to read larger JSON files [bytes] (parsing takes about ten times this in memory)."""
MAX_BINARY_MAP_BYTES = 2 * 1024 * 1024 * 1024
"""Refuse to read larger binary files [bytes]: 5,000 objects at the evidence cap of 3,000
points each are about 250 MB."""
_MAX_HEADER_BYTES = 128 * 1024 * 1024
MAX_MAP_NAME_CHARS = 128
"""Longest service-given map name [characters] (see :func:`resolve_map_path`)."""
_NAME_MAX_BYTES = 255 - 16
"""Longest file name the store writes [bytes]: NAME_MAX less room for the temp file's
prefix and suffix (``.<name>.<8 random>.tmp``)."""
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")


class MapFileError(Exception):
    """A map file cannot be loaded; ``path`` and ``reason`` say why."""

    def __init__(self, path: os.PathLike | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class MapFileMissingError(MapFileError, FileNotFoundError):
    """No file at the path."""


class MapFileUnreadableError(MapFileError, OSError):
    """The file exists but cannot be read (permissions, a directory or other non-regular
    file, a symlink loop, I/O error, too big)."""


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
    """The JSON file bytes for ``payload``; raises :class:`MapEncodeError`."""
    if not isinstance(payload, dict):
        raise MapEncodeError(f"payload must be a dict, got {type(payload).__name__}")
    document = {"format": FORMAT_MARKER, "schema_version": SCHEMA_VERSION, "payload": payload}
    try:
        # No indent: only then does the json module use its C encoder.
        text = json.dumps(document, default=_to_json, allow_nan=False, sort_keys=True,
                          ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        raise MapEncodeError(f"payload cannot be stored: {err}") from err
    return (text + "\n").encode("utf-8")


def encode_map_binary(payload: dict) -> list:
    """The binary file for ``payload`` as a list of byte buffers to write one after the
    other (arrays are not copied); raises :class:`MapEncodeError`."""
    if not isinstance(payload, dict):
        raise MapEncodeError(f"payload must be a dict, got {type(payload).__name__}")
    arrays: list[np.ndarray] = []

    def pack(value):
        if isinstance(value, np.ndarray):
            arrays.append(_storable_array(value, len(arrays)))
            return {"$array": len(arrays) - 1}
        return _to_json(value)

    document = {"format": FORMAT_MARKER, "schema_version": BINARY_SCHEMA_VERSION,
                "payload": payload}
    try:
        body = json.dumps(document, default=pack, allow_nan=False, sort_keys=True,
                          ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        raise MapEncodeError(f"payload cannot be stored: {err}") from err
    table, offset = [], 0
    for arr in arrays:
        table.append({"dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset,
                      "nbytes": arr.nbytes, "crc32": zlib.crc32(arr.data)})
        offset += _aligned(arr.nbytes)
    # Compact JSON never holds a raw newline: it ends the table line.
    header = (json.dumps({"arrays": table}, separators=(",", ":")) + "\n" + body
              ).encode("utf-8")
    header += b" " * (_aligned(_BINARY_PREFIX.size + len(header)) - _BINARY_PREFIX.size
                      - len(header))
    parts = [_BINARY_PREFIX.pack(BINARY_MAGIC, BINARY_LAYOUT_VERSION, 0, len(header)), header]
    for arr in arrays:
        parts.append(arr.data.cast("B") if arr.nbytes else b"")
        parts.append(b"\0" * (_aligned(arr.nbytes) - arr.nbytes))
    return parts


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _storable_array(value: np.ndarray, index: int) -> np.ndarray:
    """``value`` as a C-ordered little-endian array of a stored dtype; NaN/inf refused."""
    if value.dtype.kind not in "biuf":
        raise MapEncodeError(f"array {index}: cannot store dtype {value.dtype}")
    arr = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
    if arr.dtype.str == "<f2":
        arr = arr.astype("<f4")
    if arr.dtype.str not in _ARRAY_DTYPES:
        raise MapEncodeError(f"array {index}: cannot store dtype {value.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise MapEncodeError(f"array {index}: NaN or inf cannot be stored")
    return arr


def encoding_for(path: os.PathLike | str) -> str:
    """The encoding :func:`save_map` picks for ``path``: "json" for a ``.json`` suffix
    (any case), "binary" for every other."""
    return "json" if Path(path).suffix.lower() == ".json" else "binary"


def save_map(path: os.PathLike | str, payload: dict, encoding: str | None = None) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file in the same directory, fsync,
    rename, directory fsync). Creates missing parent directories. Returns the path.

    ``encoding``: "json" or "binary" (see the module docstring); None picks JSON for a
    ``.json`` suffix and binary for any other. Raises :class:`MapEncodeError` (nothing
    written), ValueError for an unknown encoding, or OSError from the file system (the
    previous file, if any, is left intact).
    """
    target = Path(path)
    if encoding is None:
        encoding = encoding_for(target)
    if encoding == "json":
        parts = [encode_map(payload)]
    elif encoding == "binary":
        parts = encode_map_binary(payload)
    else:
        raise ValueError(f"encoding must be 'json' or 'binary', got {encoding!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(target.parent, target.name)
    fd, tmp_name = _locked_temp(target)
    try:
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
        os.replace(tmp_name, target)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    finally:
        os.close(fd)     # releases the lock, after the rename
    _fsync_dir(target.parent)
    return target


def _locked_temp(target: Path) -> tuple[int, str]:
    """A new temp file next to ``target``, open for writing and ``flock``-ed."""
    while True:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=target.parent)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            # No locks on this file system: clean-ups cannot lock either, so they keep
            # every temp file there, this one included.
            return fd, tmp_name
        if os.fstat(fd).st_nlink > 0:
            return fd, tmp_name
        # A concurrent clean-up removed it between mkstemp and flock: take another one.
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_stale_temp_files(directory: os.PathLike | str,
                            map_name: str | None = None) -> list[Path]:
    """Delete the temp files that crashed saves left in ``directory`` (only those of
    ``map_name`` when given); returns the removed paths. A temp file whose writer is
    still running is locked and kept. Never raises: a file it cannot inspect is kept."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or (map_name is not None and m["name"] != map_name):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Unlink only the file we locked, not one renamed into its place meanwhile.
            if os.stat(entry.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def quarantine(path: os.PathLike | str, now_s: float | None = None) -> Path:
    """Move an unusable map file aside so a node can start empty without losing it;
    returns the new path, ``<path>.corrupt-<UTC time YYYYmmddTHHMMSSZ>`` (with ``-1``,
    ``-2`` ... appended when that name is taken; never overwrites). ``now_s``: the time to
    stamp [s since the epoch], default now.

    Raises :class:`MapFileMissingError` when nothing is at ``path``, OSError when the
    rename fails (the file is then left where it was).
    """
    source = Path(path)
    if not os.path.lexists(source):
        raise MapFileMissingError(source, "no such file to move aside")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now_s is None
                                                        else now_s))
    base = f"{source.name}.corrupt-{stamp}"
    for attempt in range(1000):
        aside = source.with_name(base if attempt == 0 else f"{base}-{attempt}")
        if os.path.lexists(aside):
            continue
        try:
            # link + unlink never replaces an existing file (rename would).
            os.link(source, aside, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK,
                                 errno.EISDIR):
                raise
            os.rename(source, aside)    # directories, file systems without hard links
        else:
            os.unlink(source)
        _fsync_dir(source.parent)
        return aside
    raise FileExistsError(errno.EEXIST, f"no free name to move {source} aside")


def decode_map(data: bytes | bytearray, path: os.PathLike | str = "<bytes>") -> dict:
    """The payload of map-file bytes, either encoding; raises the :class:`MapFileError`
    subclasses. Arrays of a binary file are views of ``data`` (writable when ``data`` is
    a bytearray)."""
    if bytes(data[:len(BINARY_MAGIC)]) == BINARY_MAGIC:
        return _decode_binary(data, path)
    return _decode_json(data, path)


def _decode_json(data: bytes | bytearray, path: os.PathLike | str) -> dict:
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant,
                              parse_float=_finite_float)
    except UnicodeDecodeError as err:
        raise MapFileCorruptError(path, f"not UTF-8 text ({err.reason})") from err
    except RecursionError as err:
        raise MapFileCorruptError(path, "not valid JSON (nested too deeply)") from err
    except (json.JSONDecodeError, ValueError) as err:
        raise MapFileCorruptError(path, f"not valid JSON ({str(err)[:200]})") from err
    return _check_document(document, path, {SCHEMA_VERSION}, "JSON")


def _check_document(document, path: os.PathLike | str, versions: set[int],
                    encoding: str) -> dict:
    """The payload of a decoded document after checking its marker and version."""
    if not isinstance(document, dict):
        raise MapFileForeignError(path, "not an ssr_ros map (top level is not an object)")
    marker = document.get("format")
    if marker != FORMAT_MARKER:
        raise MapFileForeignError(path, f"not an ssr_ros map (format {marker!r}, expected "
                                  f"{FORMAT_MARKER!r})")
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise MapFileCorruptError(path, f"schema_version must be an integer, got {version!r}")
    if version not in versions:
        raise MapFileVersionError(path, f"schema version {version} is not supported in a "
                                  f"{encoding} map (this build reads {sorted(versions)})")
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise MapFileCorruptError(path, "payload missing or not an object")
    return payload


def _decode_binary(data: bytes | bytearray, path: os.PathLike | str) -> dict:
    """The payload of a binary map file (module docstring)."""
    if len(data) < _BINARY_PREFIX.size:
        raise MapFileCorruptError(path, "binary map truncated in its prefix")
    _, layout, _, header_len = _BINARY_PREFIX.unpack_from(data)
    if layout != BINARY_LAYOUT_VERSION:
        raise MapFileVersionError(path, f"binary layout version {layout} is not supported "
                                  f"(this build reads {BINARY_LAYOUT_VERSION})")
    start = _BINARY_PREFIX.size + header_len
    if header_len > _MAX_HEADER_BYTES or start > len(data):
        raise MapFileCorruptError(path, "binary map truncated in its header")
    header = bytes(data[_BINARY_PREFIX.size:start])
    table_text, newline, body = header.partition(b"\n")
    try:
        table = json.loads(table_text.decode("utf-8")).get("arrays") if newline else None
    except (UnicodeDecodeError, ValueError, AttributeError) as err:
        raise MapFileCorruptError(path, f"binary map array table is not valid "
                                  f"({str(err)[:200]})") from err
    if not isinstance(table, list):
        raise MapFileCorruptError(path, "binary map array table missing")
    arrays = [_read_array(data, start, entry, k, path) for k, entry in enumerate(table)]
    used = [0]

    def hook(obj: dict):
        if "$array" not in obj:
            return obj
        index = obj["$array"]
        if len(obj) != 1 or index != used[0] or index >= len(arrays):
            raise ValueError(f"array reference {str(obj)[:60]} out of order")
        used[0] += 1
        return arrays[index]

    try:
        document = json.loads(body.decode("utf-8"), object_hook=hook,
                              parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError as err:
        raise MapFileCorruptError(path, f"binary map header is not UTF-8 ({err.reason})"
                                  ) from err
    except RecursionError as err:
        raise MapFileCorruptError(path, "binary map header nested too deeply") from err
    except (json.JSONDecodeError, ValueError) as err:
        raise MapFileCorruptError(path, f"binary map header is not valid "
                                  f"({str(err)[:200]})") from err
    payload = _check_document(document, path, {BINARY_SCHEMA_VERSION}, "binary")
    if used[0] != len(arrays):
        raise MapFileCorruptError(path, f"binary map references {used[0]} of its "
                                  f"{len(arrays)} arrays")
    return payload


def _read_array(data, start: int, entry, index: int, path) -> np.ndarray:
    """Array ``index`` of the table, checked (dtype, bounds, CRC-32, finite floats)."""
    try:
        dtype = np.dtype(entry["dtype"])
        if entry["dtype"] not in _ARRAY_DTYPES:
            raise ValueError(f"dtype {entry['dtype']!r} is not stored in map files")
        shape = tuple(int(n) for n in entry["shape"])
        offset, nbytes = int(entry["offset"]), int(entry["nbytes"])
        crc = int(entry["crc32"])
    except (KeyError, TypeError, ValueError) as err:
        raise MapFileCorruptError(path, f"array {index}: bad table entry ({err})") from err
    count = math.prod(shape)
    if any(n < 0 for n in shape) or nbytes != count * dtype.itemsize or offset < 0 \
            or offset % _ALIGN or start + offset + nbytes > len(data):
        raise MapFileCorruptError(path, f"array {index}: shape, size or offset do not fit "
                                  "the file (truncated?)")
    view = memoryview(data)[start + offset:start + offset + nbytes]
    if zlib.crc32(view) != crc:
        raise MapFileCorruptError(path, f"array {index}: checksum mismatch (corrupt file)")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=start + offset).reshape(shape)
    if dtype.kind == "b" and count and arr.view(np.uint8).max() > 1:
        raise MapFileCorruptError(path, f"array {index}: bool values other than 0 and 1")
    if dtype.kind == "f" and not np.isfinite(arr).all():
        raise MapFileCorruptError(path, f"array {index}: NaN or inf in a map file")
    return arr


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in a map file")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # json reads 1e999 as inf; a map never holds one (save_map refuses them).
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def load_map(path: os.PathLike | str) -> dict:
    """Read and validate a map file of either encoding; returns its payload dict.

    Raises :class:`MapFileMissingError`, :class:`MapFileUnreadableError`,
    :class:`MapFileCorruptError`, :class:`MapFileVersionError` or
    :class:`MapFileForeignError` (all :class:`MapFileError`).
    """
    source = Path(path)
    try:
        info = source.stat()
        if stat.S_ISDIR(info.st_mode):
            raise MapFileUnreadableError(source, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or device would block or never end.
            raise MapFileUnreadableError(source, "not a regular file")
        with open(source, "rb") as handle:
            binary = handle.read(len(BINARY_MAGIC)) == BINARY_MAGIC
            limit = MAX_BINARY_MAP_BYTES if binary else MAX_MAP_BYTES
            if info.st_size > limit:
                raise MapFileUnreadableError(source, f"{info.st_size} bytes is larger than "
                                             f"the {limit} byte limit")
            handle.seek(0)
            # One writable buffer: the arrays of a binary map are views of it, not copies.
            data = bytearray(info.st_size + 1)
            size = handle.readinto(data)
            while size == len(data) and size <= limit:
                data.extend(bytes(max(len(data), 1 << 20)))
                size += handle.readinto(memoryview(data)[size:])
            del data[size:]
        if len(data) > limit:
            raise MapFileUnreadableError(source, f"grew past the {limit} byte limit "
                                         "while being read")
    except FileNotFoundError as err:
        raise MapFileMissingError(source, "no such file") from err
    except MapFileError:
        raise
    except OSError as err:
        raise MapFileUnreadableError(source, err.strerror or str(err)) from err
    except ValueError as err:
        # os.stat refuses paths with NUL bytes with ValueError.
        raise MapFileUnreadableError(source, str(err)) from err
    return decode_map(data, source)


def resolve_map_path(name: str, map_dir: os.PathLike | str, suffix: str = ".json") -> Path:
    """Confine a service-given map name to ``map_dir``; returns the absolute path.

    ``name`` is relative to ``map_dir`` (sub-directories allowed), at most
    ``MAX_MAP_NAME_CHARS`` characters; ``suffix`` is appended when the name has none.
    Raises :class:`MapPathError` for: a name that is not text, empty, too long (also a
    part over ``NAME_MAX`` bytes once saved), or holding a NUL byte, another control
    character or a lone surrogate; an absolute path (``/``, ``\\``, ``~``);
    a ``..`` component or any component starting with ``.`` (hidden files and the
    store's temp files); and a name that resolves (symbolic links followed) outside
    ``map_dir`` or to ``map_dir`` itself.
    """
    if not isinstance(name, str):
        raise MapPathError(f"the map name must be text, got {type(name).__name__}")
    if not name.strip():
        raise MapPathError("the map name is empty")
    if len(name) > MAX_MAP_NAME_CHARS:
        raise MapPathError(f"the map name is {len(name)} characters long; the limit is "
                           f"{MAX_MAP_NAME_CHARS}")
    if "\x00" in name:
        raise MapPathError("the map name contains a NUL byte")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        raise MapPathError(f"the map name contains a control character: {name!r}")
    if name.startswith(("/", "\\", "~")) or Path(name).is_absolute():
        raise MapPathError(f"absolute map paths are not allowed: {name!r}")
    parts = [part for part in re.split(r"[/\\]", name) if part]
    if any(part == ".." for part in parts):
        raise MapPathError(f"'..' is not allowed in map names: {name!r}")
    if any(part.startswith(".") for part in parts):
        raise MapPathError(f"map names and their folders may not start with '.': {name!r}")
    if any(len(part.encode("utf-8")) + len(suffix) > _NAME_MAX_BYTES for part in parts):
        raise MapPathError(f"a part of the map name is longer than {_NAME_MAX_BYTES} bytes")
    candidate = Path(*parts)
    if not candidate.suffix:
        candidate = candidate.with_name(candidate.name + suffix)
    root = Path(map_dir).resolve()
    try:
        resolved = (root / candidate).resolve()
    except (OSError, RuntimeError) as err:
        # Symlink loops (RuntimeError before 3.13) and over-long components.
        raise MapPathError(f"map name {name!r} cannot be resolved: {err}") from err
    if resolved == root or not resolved.is_relative_to(root):
        raise MapPathError(f"map name {name!r} leads outside the map directory {root}")
    return resolved
