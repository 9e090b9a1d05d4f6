"""Private: files written atomically and durably, and checkpoints read safely.

* :func:`atomic_write`: temporary file in the target's folder, ``fsync``, ``os.replace``, then
  ``fsync`` of the folder, so a crash or ``kill -9`` leaves either the old file or the new one,
  never a torn one; the file gets mode 0644 (``mkstemp`` alone would leave 0600).
* :func:`save_torch` / :func:`load_torch`: checkpoints through :func:`atomic_write`, read with
  ``torch.load(weights_only=True)``: tensors and plain data only, nothing in the file can run code.
  A missing, truncated or foreign file raises :class:`~qnewton.errors.CheckpointError` naming it
  and the fix.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

__all__ = ["atomic_write", "load_torch", "plain", "save_torch"]


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically and durably, with permissions ``mode``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (not possible on every platform)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


def plain(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays turned into Python numbers and tensors, so that
    ``torch.load(weights_only=True)`` can read it back."""
    import numpy as np

    if isinstance(obj, Mapping):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_torch(path: str | os.PathLike[str], obj: Any) -> Path:
    """``torch.save`` of ``plain(obj)`` through :func:`atomic_write`."""
    buf = io.BytesIO()
    torch.save(plain(obj), buf)
    return atomic_write(path, buf.getvalue())


def load_torch(path: str | os.PathLike[str], *, what: str = "checkpoint", fix: str = "") -> Any:
    """Read a file written by :func:`save_torch` (tensors and plain data only).

    Raises:
        CheckpointError: the file is missing, truncated, not a torch file, or holds objects other than
            tensors and plain data; the message names the file and ``fix``.
    """
    p = Path(path)
    hint = f" {fix}" if fix else ""
    if not p.is_file():
        raise CheckpointError(f"{what} {p} does not exist.{hint}")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for truncated/foreign/unsafe files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{what} {p} cannot be read ({first[:200]}).{hint}") from exc
