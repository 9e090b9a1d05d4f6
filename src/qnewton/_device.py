"""Private: where a computation runs, and timing that is honest on asynchronous devices.

* :func:`accelerated`: whether an array should be handled by the device-native (torch) path:
  a torch tensor on a non-CPU device. CPU tensors and numpy arrays keep the numpy/scipy/numba
  paths, measured faster there. Tests can force the torch path on the CPU with
  :func:`force_torch_path` to exercise the device code on a machine without a GPU.
* :func:`synchronize` / :func:`clock`: CUDA kernels run asynchronously, so a wall-clock reading
  taken without synchronizing measures only the launch; every measured time in qnewton reads
  :func:`clock` (synchronize, then ``time.perf_counter``).
* :func:`device_label`: a device's name for cache keys and manifests (the GPU's model, or the CPU).
* :func:`resolve_device`: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` -> a ``torch.device``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import torch

from .errors import InvalidArgumentError

_FORCE_TORCH = False


@contextlib.contextmanager
def force_torch_path(on: bool = True) -> Iterator[None]:
    """Within the block, CPU tensors take the device-native torch path too (for tests)."""
    global _FORCE_TORCH
    old, _FORCE_TORCH = _FORCE_TORCH, on
    try:
        yield
    finally:
        _FORCE_TORCH = old


def accelerated(x: Any) -> bool:
    """True for a torch tensor that should stay in torch (on a non-CPU device, or when forced)."""
    if not isinstance(x, torch.Tensor):
        return False
    return x.device.type != "cpu" or _FORCE_TORCH


def synchronize(device: torch.device | str | None) -> None:
    """Wait for the device's queued kernels (a no-op on the CPU)."""
    if device is None:
        return
    dev = torch.device(device)
    if dev.type == "cuda" and torch.cuda.is_available():
        torch.cuda.synchronize(dev)
    elif dev.type == "mps" and hasattr(torch, "mps"):  # pragma: no cover - no such device here
        torch.mps.synchronize()


def clock(device: torch.device | str | None = None) -> float:
    """``time.perf_counter()`` after the device's queued work has finished."""
    synchronize(device)
    return time.perf_counter()


def device_label(device: torch.device | str | None = None) -> str:
    """The device's model name (``"cpu"`` for the CPU), for cache keys and records."""
    dev = torch.device(device or "cpu")
    if dev.type == "cuda" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(dev)}"
    return dev.type


def resolve_device(spec: str | torch.device | None, option: str = "device") -> torch.device:
    """``auto`` (CUDA when available, else the CPU), ``cpu``, ``cuda`` or ``cuda:k``.

    Raises:
        InvalidArgumentError: an unknown spelling, or a CUDA device this machine does not have.
    """
    if isinstance(spec, torch.device):
        dev = spec
    else:
        s = (spec or "auto").strip().lower()
        if s == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(s)
        except RuntimeError:
            raise InvalidArgumentError(f"`{option}` must be auto, cpu, cuda or cuda:<index>, got {spec!r}.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InvalidArgumentError(
                f"`{option}` is {spec!r} but this machine has no CUDA device (or this torch build has no CUDA); "
                f"use cpu or auto."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InvalidArgumentError(
                f"`{option}` is {spec!r} but only {torch.cuda.device_count()} CUDA device(s) exist."
            )
    elif dev.type != "cpu":
        raise InvalidArgumentError(f"`{option}` must be auto, cpu, cuda or cuda:<index>, got {spec!r}.")
    return dev
