"""Argument checks shared by the whole package. Each raises a typed error (``qnewton.errors``)
whose message names the argument and says what to do about it."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numba
import numpy as np

from .errors import InvalidArgumentError, NonFiniteError, NotSymmetricError, ShapeError

#: Default relative tolerance for symmetry checks, per dtype: |a_ij - a_ji| <= rtol * max|A|.
#: Hessians from autograd are symmetric only up to rounding; float32 rounding in a sum of
#: thousands of terms reaches ~1e-6 relative, so the float32 default leaves two orders of margin.
SYMMETRY_RTOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def check_square(a: np.ndarray, name: str = "A") -> int:
    """Require a non-empty square 2-D array; return its size N."""
    if a.ndim != 2:
        raise ShapeError(f"`{name}` must be a 2-D matrix, got an array of shape {tuple(a.shape)}.")
    n, m = a.shape
    if n != m:
        raise ShapeError(
            f"`{name}` must be square (N x N), got shape {n} x {m}. Pass a Hessian block, not a "
            f"Jacobian or a batch of vectors."
        )
    if n == 0:
        raise ShapeError(f"`{name}` is empty (0 x 0); pass a matrix with at least one row.")
    return n


@numba.njit(cache=True, nogil=True)
def _scan_block_row(a, bi, block, res, write):  # pragma: no cover - compiled
    n = a.shape[0]
    i0 = bi * block
    i1 = min(n, i0 + block)
    nbad = 0
    mx = 0.0
    sy = 0.0
    for j0 in range(i0, n, block):
        j1 = min(n, j0 + block)
        for i in range(i0, i1):
            for j in range(max(j0, i), j1):
                u = a[i, j]
                w = a[j, i]
                if not (np.isfinite(u) and np.isfinite(w)):
                    nbad += 1
                    continue
                mx = max(mx, abs(u), abs(w))
                sy = max(sy, abs(u - w))
                if write:
                    m = (u + w) * 0.5
                    a[i, j] = m
                    a[j, i] = m
    res[bi, 0] = nbad
    res[bi, 1] = mx
    res[bi, 2] = sy


@numba.njit(cache=True, parallel=True, nogil=True)
def scan_symmetric(a, block, write):  # pragma: no cover - compiled
    """One blocked pass over mirrored block pairs: (#non-finite pairs, max|a|, max|a_ij - a_ji|) of
    the input; with ``write``, also a <- (a + a^T) / 2 in place (non-finite pairs are left alone)."""
    nb = (a.shape[0] + block - 1) // block
    res = np.zeros((nb, 3), np.float64)
    for bi in numba.prange(nb):
        _scan_block_row(a, bi, block, res, write)
    return int(res[:, 0].sum()), res[:, 1].max(), res[:, 2].max()


def check_finite(a: np.ndarray, name: str = "A") -> None:
    """Require every entry to be finite."""
    if not np.isfinite(a).all():
        nbad = int(a.size - np.count_nonzero(np.isfinite(a)))
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise NonFiniteError(
            f"`{name}` has {nbad} NaN/Inf entries (first at index {first}). Check the loss and the "
            f"curvature computation upstream (a diverged step, log(0), an overflow in float16)."
        )


def check_symmetric_matrix(a: np.ndarray, name: str = "A", rtol: float | None = None) -> int:
    """Require a finite, square, symmetric matrix (within ``rtol * max|A|``); return N.

    One compiled, blocked pass checks finiteness and symmetry together, so this is cheap even for
    the paper's 12544 x 12544 Hessian block.
    """
    n = check_square(a, name)
    if n < 64:
        check_finite(a, name)
        amax = float(np.abs(a).max())
        asym = float(np.abs(a - a.T).max())
    else:
        nbad, amax, asym = scan_symmetric(a, 64, False)
        if nbad:
            check_finite(a, name)
    raise_if_asymmetric(asym, amax, a.dtype, name, rtol)
    return n


def raise_if_asymmetric(asym: float, amax: float, dtype: np.dtype, name: str, rtol: float | None) -> None:
    """Raise NotSymmetricError when max|a_ij - a_ji| = ``asym`` exceeds ``rtol * max|a|``."""
    if rtol is None:
        rtol = SYMMETRY_RTOL.get(np.dtype(dtype), 1e-9)
    if asym > rtol * amax:
        raise NotSymmetricError(
            f"`{name}` is not symmetric: max |a_ij - a_ji| = {asym:.3g} exceeds {rtol:.1g} * max|a| "
            f"= {rtol * amax:.3g}. Symmetrize it first, e.g. (A + A.T) / 2, or pass a larger "
            f"`symmetry_rtol` if the asymmetry is rounding."
        )


def check_positive(x: float, name: str) -> float:
    """Require a finite real number > 0."""
    if isinstance(x, bool) or not isinstance(x, Real) or not math.isfinite(float(x)) or float(x) <= 0:
        raise InvalidArgumentError(f"`{name}` must be a finite number > 0, got {x!r}.")
    return float(x)


def check_int_range(x: int, name: str, lo: int, hi: int, hint: str = "") -> int:
    """Require an integer in [lo, hi]."""
    if isinstance(x, bool) or not isinstance(x, (Integral, np.integer)):
        raise InvalidArgumentError(f"`{name}` must be an integer, got {x!r} ({type(x).__name__}).")
    if not lo <= int(x) <= hi:
        extra = f" {hint}" if hint else ""
        raise InvalidArgumentError(f"`{name}` must be in [{lo}, {hi}], got {int(x)}.{extra}")
    return int(x)


def check_fraction(p: float, name: str) -> float:
    """Require a number in (0, 1]."""
    if isinstance(p, bool) or not isinstance(p, Real) or not (0.0 < float(p) <= 1.0):
        raise InvalidArgumentError(f"`{name}` must be in (0, 1], got {p!r}.")
    return float(p)
