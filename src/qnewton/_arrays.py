"""Array-kind plumbing: accept numpy arrays, torch tensors and array-likes; compute in numpy;
hand results back in the caller's kind.

Policy (documented once here, used everywhere):

* float32 and float64 inputs keep their dtype;
* float16 / bfloat16 compute in float32 and return float32 (the half types have no LAPACK);
* integer, boolean and Python lists compute and return float64;
* complex inputs are rejected: every matrix here is a real Hessian block.

A torch tensor on an accelerator is copied to the CPU for the computation and the result is
moved back to its device. CPU tensors share memory with the numpy view (no copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .errors import InvalidArgumentError

ArrayLike = np.ndarray | torch.Tensor

_NUMPY_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


@dataclass(frozen=True)
class ArrayKind:
    """Where an input came from, so a result can be returned in the same kind."""

    is_torch: bool
    dtype: np.dtype
    device: torch.device | None = None

    def wrap(self, x: np.ndarray) -> ArrayLike:
        """Return ``x`` as this kind (torch tensor on the original device, or numpy array)."""
        if not self.is_torch:
            return x
        t = torch.from_numpy(np.ascontiguousarray(x))
        return t if self.device is None or self.device.type == "cpu" else t.to(self.device)


def _compute_dtype(dt: np.dtype, name: str) -> np.dtype:
    if dt in (np.float32, np.float64):
        return np.dtype(dt)
    if dt == np.float16:
        return np.dtype(np.float32)
    if np.issubdtype(dt, np.complexfloating):
        raise InvalidArgumentError(
            f"`{name}` is complex ({dt}); qnewton works on real matrices (Hessian blocks). "
            f"Pass the real part or a real symmetric embedding."
        )
    if np.issubdtype(dt, np.integer) or dt == np.bool_:
        return np.dtype(np.float64)
    raise InvalidArgumentError(f"`{name}` has unsupported dtype {dt}; pass float32 or float64 values.")


def as_numpy(a: Any, name: str = "A") -> tuple[np.ndarray, ArrayKind]:
    """Return ``(numpy_array, kind)`` for ``a`` following the module's dtype policy."""
    if isinstance(a, torch.Tensor):
        t = a.detach()
        device = t.device
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.to(torch.float32)
        elif t.is_complex():
            raise InvalidArgumentError(f"`{name}` is a complex tensor; qnewton works on real matrices.")
        elif not t.is_floating_point():
            t = t.to(torch.float64)
        if t.device.type != "cpu":
            t = t.cpu()
        x = t.numpy()
        return x, ArrayKind(True, x.dtype, device)
    if isinstance(a, np.ndarray):
        dt = _compute_dtype(a.dtype, name)
        x = a if a.dtype == dt else a.astype(dt)
        return x, ArrayKind(False, dt)
    try:
        x = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"`{name}` is not an array: {exc}") from exc
    if x.dtype == object:
        raise InvalidArgumentError(f"`{name}` is not a numeric array (ragged or non-numeric entries).")
    dt = _compute_dtype(x.dtype, name)
    return x.astype(dt, copy=False), ArrayKind(False, dt)


def torch_dtype(dt: np.dtype) -> torch.dtype:
    """The torch dtype of a float32/float64 numpy dtype."""
    return _NUMPY_TO_TORCH[np.dtype(dt)]
