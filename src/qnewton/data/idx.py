"""The IDX file format (MNIST, Fashion-MNIST, EMNIST, ...): one reader, one writer.

Layout (LeCun, Cortes and Burges, "The MNIST database", file-format section)::

    bytes 0-1   0x00 0x00                     magic: always zero
    byte  2     dtype code                    0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                              0x0D float32, 0x0E float64
    byte  3     ndim (number of dimensions)
    4 * ndim    each dimension, big-endian uint32
    rest        prod(dims) items, big-endian, C order

A file may be gzip-compressed (the distributed ``*.gz`` files); it is recognised by the gzip magic
bytes ``1f 8b``, not by its name, so a renamed file still reads.

Every defect is a :class:`qnewton.errors.DataFormatError` that names the file and says what is
wrong: a wrong magic number, an unknown dtype code, a header or body shorter (truncated) or longer
than the header claims, a corrupt or truncated gzip stream.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, InvalidArgumentError

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: IDX dtype code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Whole file, gunzipped when it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise InvalidArgumentError(f"`path`: no such file {str(path)!r}.") from exc
    except IsADirectoryError as exc:
        raise InvalidArgumentError(f"`path`: {str(path)!r} is a directory, not an IDX file.") from exc
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataFormatError(
            f"{str(path)!r} starts like a gzip file but its gzip stream is corrupt or truncated "
            f"({type(exc).__name__}: {exc}). Download or copy the file again, or pass the "
            f"uncompressed file."
        ) from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a numpy array in native byte order.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns:
        An array of shape ``dims`` and the dtype the header names (uint8 for MNIST), native-endian.

    Raises:
        DataFormatError: wrong magic number, unknown dtype code, truncated header or body, trailing
            bytes after the body, corrupt gzip stream.
        InvalidArgumentError: ``path`` does not exist or is a directory.

    >>> import tempfile, numpy as np
    >>> f = tempfile.NamedTemporaryFile(suffix=".gz", delete=False).name
    >>> write_idx(f, np.arange(6, dtype=np.int16).reshape(2, 3))
    >>> read_idx(f)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=int16)
    """
    path = Path(path)
    data = _read_bytes(path)
    name = str(path)
    if len(data) < 4:
        raise DataFormatError(f"{name!r} is truncated: {len(data)} bytes, shorter than the 4-byte IDX magic number.")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise DataFormatError(
            f"{name!r} is not an IDX file: its magic number starts with bytes "
            f"0x{zero0:02x} 0x{zero1:02x}, an IDX file starts with 0x00 0x00 (then a dtype code and "
            f"the number of dimensions). Check that you passed an MNIST-format file."
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataFormatError(f"{name!r}: unknown IDX dtype code 0x{code:02X} (known: {known}).")
    if ndim == 0:
        raise DataFormatError(f"{name!r}: the IDX header declares 0 dimensions; an IDX file has >= 1.")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataFormatError(
            f"{name!r} is truncated inside its header: it declares {ndim} dimensions "
            f"({header_len} header bytes) but has only {len(data)} bytes."
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(data) - header_len
    if body < expected:
        raise DataFormatError(
            f"{name!r} is truncated: its header declares shape {dims} of {dtype.name} "
            f"({expected} data bytes) but only {body} data bytes follow. Copy the file again."
        )
    if body > expected:
        raise DataFormatError(
            f"{name!r} has {body - expected} bytes after the data its header declares (shape {dims} "
            f"of {dtype.name}); the header does not describe this file (is it a different format?)."
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len, count=expected // dtype.itemsize)
    return arr.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (the inverse of :func:`read_idx`).

    Args:
        path: destination file.
        array: array of dtype uint8, int8, int16, int32, float32 or float64, with 1 to 255 dimensions,
            each < 2**32.
        compress: gzip the file; ``None`` (default) compresses when ``path`` ends in ``.gz``.

    Raises:
        InvalidArgumentError: the dtype has no IDX code, or the shape does not fit the header.
    """
    path = Path(path)
    a = np.asarray(array)
    key = (a.dtype.kind, a.dtype.itemsize)
    if key not in _CODE_OF_KIND:
        allowed = ", ".join(dt.newbyteorder("=").name for dt in IDX_DTYPES.values())
        raise InvalidArgumentError(f"`array` has dtype {a.dtype}, which IDX cannot store; use one of {allowed}.")
    if not 1 <= a.ndim <= 255 or any(d >= 2**32 for d in a.shape):
        raise InvalidArgumentError(f"`array` has shape {a.shape}; IDX needs 1 to 255 dimensions, each < 2**32.")
    code = _CODE_OF_KIND[key]
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    payload = header + np.ascontiguousarray(a, dtype=IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        # mtime=0: the same array always gives the same bytes
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
