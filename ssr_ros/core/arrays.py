"""numpy arrays in JSON documents: compressed little-endian bytes in base64.

Map files are JSON (:mod:`ssr_ros.core.store`); evidence grids of a few hundred thousand
mostly-zero cells would be megabytes as number lists, and a few kilobytes this way.
"""

from __future__ import annotations

import base64
import binascii
import zlib

import numpy as np


class ArrayFormatError(ValueError):
    """An encoded array is malformed, of another dtype or of an unexpected shape."""


def encode_array(array: np.ndarray) -> dict:
    """``{"dtype", "shape", "zlib_b64"}`` of ``array`` (any shape, numeric dtype)."""
    a = np.ascontiguousarray(array)
    little = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return {"dtype": little.dtype.str, "shape": list(a.shape),
            "zlib_b64": base64.b64encode(zlib.compress(little.tobytes(), 6)).decode("ascii")}


def decode_array(data: dict, dtype: str | np.dtype, ndim: int | None = None,
                 max_bytes: int = 1 << 28) -> np.ndarray:
    """The array of :func:`encode_array`'s ``data``, checked to be ``dtype`` with ``ndim``
    dimensions. Raises :class:`ArrayFormatError` for anything else (``max_bytes`` bounds
    the decompressed size, so a crafted file cannot exhaust memory)."""
    try:
        want = np.dtype(dtype).newbyteorder("<")
        if np.dtype(data["dtype"]) != want:
            raise ArrayFormatError(f"array is {data['dtype']}, expected {want.str}")
        shape = tuple(int(n) for n in data["shape"])
        if (ndim is not None and len(shape) != ndim) or any(n < 0 for n in shape):
            raise ArrayFormatError(f"array shape {shape} is not {ndim}-dimensional")
        size = int(np.prod(shape, dtype=np.int64)) * want.itemsize
        if size > max_bytes:
            raise ArrayFormatError(f"array of {size} bytes exceeds {max_bytes}")
        raw = zlib.decompressobj().decompress(base64.b64decode(data["zlib_b64"],
                                                               validate=True), size + 1)
    except ArrayFormatError:
        raise
    except (KeyError, TypeError, ValueError, binascii.Error, zlib.error) as exc:
        raise ArrayFormatError(f"malformed array: {exc}") from exc
    if len(raw) != size:
        raise ArrayFormatError(f"array holds {len(raw)} bytes, its shape needs {size}")
    return np.frombuffer(raw, dtype=want).reshape(shape).astype(np.dtype(dtype).newbyteorder("="))
