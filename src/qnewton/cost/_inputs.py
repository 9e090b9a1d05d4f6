"""Private helpers of ``qnewton.cost``: vectorized argument checks, clamping with one warning per
call, and warnings attributed to the user's line rather than to this package."""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import numpy as np

from ..errors import ClampedRangeWarning, InvalidArgumentError

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))

FloatOrArray = float | np.ndarray


def warn_outside_package(message: str, category: type[Warning] = ClampedRangeWarning) -> None:
    """Warn with the stack level of the first frame outside ``qnewton/cost`` so the warning points
    at the caller's line however deep inside the package it was raised."""
    level = 2  # 1 would be this function, 2 its caller
    frame: Any = sys._getframe(1)
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PKG_DIR:
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def as_float_array(x: Any, name: str) -> tuple[np.ndarray, bool]:
    """``(float64 array, was_scalar)``; rejects non-numeric and non-finite values by name."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    if isinstance(x, bool) or (isinstance(x, np.ndarray) and x.dtype == np.bool_):
        raise InvalidArgumentError(f"`{name}` must be a number or an array of numbers, got a boolean.")
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"`{name}` must be a number or an array of numbers, got {x!r}.") from exc
    if a.size == 0:
        raise InvalidArgumentError(f"`{name}` is empty; pass at least one value.")
    bad = ~np.isfinite(a)
    if bad.any():
        raise InvalidArgumentError(
            f"`{name}` must be finite, got {_first(a, bad)}. Check the upstream estimate (a condition "
            f"number of Inf means a singular block: regularize it first)."
        )
    return a, a.ndim == 0


def _first(a: np.ndarray, mask: np.ndarray) -> str:
    if a.ndim == 0:
        return repr(float(a))
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return f"{float(a[idx])!r} at index {idx} ({int(mask.sum())} such values)"


def require_at_least(a: np.ndarray, lo: float, name: str, fix: str) -> None:
    """Raise if any value of ``a`` is below ``lo``."""
    bad = a < lo
    if bad.any():
        raise InvalidArgumentError(f"`{name}` must be >= {lo:g}, got {_first(a, bad)}. {fix}")


def require_positive(a: np.ndarray, name: str, fix: str) -> None:
    """Raise if any value of ``a`` is <= 0."""
    bad = a <= 0
    if bad.any():
        raise InvalidArgumentError(f"`{name}` must be > 0, got {_first(a, bad)}. {fix}")


def clamp_low(a: np.ndarray, lo: float, name: str, model: str) -> np.ndarray:
    """Raise values below ``lo`` to ``lo`` with one ClampedRangeWarning (conservative: more queries)."""
    low = a < lo
    if low.any():
        warn_outside_package(
            f"`{name}` = {_first(a, low)} is below {lo:.6g}, the smallest value for which {model} is "
            f"proven; it was clamped to {lo:.6g} (this can only overestimate the cost)."
        )
        return np.maximum(a, lo)
    return a


def clamp_high(a: np.ndarray, hi: float, name: str, model: str) -> np.ndarray:
    """Lower values above ``hi`` to ``hi`` with one ClampedRangeWarning (conservative: more queries)."""
    high = a > hi
    if high.any():
        warn_outside_package(
            f"`{name}` = {_first(a, high)} is above {hi:.6g}, the largest value for which {model} is "
            f"proven; it was clamped to {hi:.6g} (this can only overestimate the cost)."
        )
        return np.minimum(a, hi)
    return a


def out(a: np.ndarray, scalar: bool) -> FloatOrArray:
    """A Python float for scalar input, else the array."""
    return float(a) if scalar else a
