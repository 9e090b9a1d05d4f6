"""Magnitude pruning of Hessian blocks to a quantum oracle sparsity d.

A QLSA's block encoding of a d-sparse matrix costs queries in proportion to d (REFERENCE.md
section 2), so Q-Newton prunes each Hessian block to at most d nonzeros per row before pricing and
running the quantum route. The pruned block must stay symmetric (a QLSA inverts Hermitian
matrices), which plain row-wise top-d pruning does not guarantee.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .._arrays import ArrayLike, as_numpy
from .._validation import (
    check_finite,
    check_int_range,
    check_square,
    check_symmetric_matrix,
    raise_if_asymmetric,
)
from . import _kernels as K

__all__ = ["prune_rows", "prune_symmetric"]

_SAMPLE_ROWS = 64  # whole rows sampled to place each value band (speed only; the result is exact)
_BAND_FACTOR = 8.0  # candidates per missing slot in the first band; doubles on every further band


def prune_symmetric(
    A: ArrayLike,
    d: int,
    sparse: bool = False,
    *,
    symmetry_rtol: float | None = None,
) -> ArrayLike | sp.csr_matrix:
    r"""Symmetry-aware magnitude pruning to oracle sparsity ``d`` (Q-Newton paper, Sec. IV-D).

    Take the entries of the upper triangle from the largest :math:`|a_{ij}|` down, ties broken by
    row then column; accept the pair :math:`(i, j), (j, i)` only while both row *i* and row *j* hold
    fewer than ``d`` accepted entries (a diagonal entry counts once, for its own row). Zeros are
    never accepted. This is the greedy d-matching of the matrix's graph, so the result is

    * symmetric, with at most ``d`` nonzeros in every row and column;
    * always contains the largest entry;
    * unchanged by a second pruning (idempotent) and equal to ``A`` when ``A`` is already
      d-sparse.

    Algorithm (exact, not an approximation). Let :math:`r_i` be the d-th largest nonzero
    :math:`|a_{ij}|` of row *i*. An entry larger than both :math:`r_i` and :math:`r_j` has fewer
    than d predecessors in either row, so the greedy accepts it whatever the order: one compiled,
    parallel pass accepts all of these at once. Only the rest are sorted, a value band at a time
    from the top, and run through the sequential greedy; a row that fills drops out of later
    bands. On Hessians and random matrices the bands hold a few percent of the entries, so the
    cost is a handful of streaming passes over A instead of an O(N^2 log N) sort.

    Args:
        A: symmetric N x N matrix (numpy array or torch tensor, float32 or float64). Only the
            upper triangle's values are used, so a matrix symmetric up to rounding is fine.
        d: oracle sparsity, 1 <= d <= N.
        sparse: return a ``scipy.sparse.csr_matrix`` instead of a dense array of A's kind.
        symmetry_rtol: tolerance of the symmetry check, relative to max|A| (default 1e-4 for
            float32, 1e-9 for float64).

    Returns:
        The pruned matrix: same kind, dtype and device as ``A``, or a CSR matrix.

    Raises:
        ShapeError: A is not a non-empty square matrix.
        NonFiniteError: A has NaN or Inf entries.
        NotSymmetricError: A is not symmetric within ``symmetry_rtol``.
        InvalidArgumentError: d is not an integer in [1, N].

    Example:
        >>> import numpy as np
        >>> A = np.array([[4., 3., 0.], [3., 1., 2.], [0., 2., 5.]])
        >>> prune_symmetric(A, 1)  # 5 and 4 fill rows 2 and 0 first, so 3 and 2 are refused
        array([[4., 0., 0.],
               [0., 1., 0.],
               [0., 0., 5.]])
    """
    a, kind = as_numpy(A, "A")
    n = check_square(a, "A")
    d = check_int_range(d, "d", 1, n, hint="d is the most nonzeros kept per row (1 <= d <= N).")
    a = np.ascontiguousarray(a)
    if n < 64:  # the compiled passes only pay off on larger blocks; the check is the same
        check_symmetric_matrix(a, "A", symmetry_rtol)
    r, counts, out, accepted = _symmetric_greedy(a, d, not sparse, symmetry_rtol)
    if not sparse:
        return kind.wrap(out)
    return _assemble_csr(a, r, counts, accepted)


def _symmetric_greedy(a: np.ndarray, d: int, dense: bool, symmetry_rtol: float | None):
    """Run the greedy; return (r, final counts, dense output or None, non-sure accepted pairs)."""
    n = a.shape[0]
    r, nbad, amax, asym = K.row_thresholds_symmetric(a, d)
    if nbad:
        check_finite(a, "A")
    raise_if_asymmetric(asym, amax, a.dtype, "A", symmetry_rtol)

    out = np.zeros_like(a) if dense else np.empty((0, 0), a.dtype)
    # First band: no row is known to be full yet (a superset of candidates is still exact, the
    # greedy rejects the extra ones), so its per-row counts come out of the sure pass for free.
    full = np.zeros(n, np.bool_)
    hi = math.inf
    lo = _band_floor(a, r, full, d, np.zeros(n, np.int64), hi, band=0)
    per_row = np.empty(n, np.int64)
    counts = K.sure_pass(a, r, out, dense, lo, per_row)
    acc_rows: list[np.ndarray] = []
    acc_cols: list[np.ndarray] = []
    band = 0
    while True:
        m = int(per_row.sum())
        if m:
            vals = np.empty(m, a.dtype)
            rows = np.empty(m, np.int32)
            cols = np.empty(m, np.int32)
            K.band_collect(a, r, full, np.flatnonzero(~full), lo, hi, per_row, vals, rows, cols)
            accepted = np.zeros(m, np.bool_)
            K.greedy_band(_descending_stable_order(vals), vals, rows, cols, counts, r, d, accepted)
            ar, ac = rows[accepted], cols[accepted]
            if dense:
                v = a[ar, ac]
                out[ar, ac] = v
                out[ac, ar] = v
            acc_rows.append(ar)
            acc_cols.append(ac)
        full = counts >= d
        if lo == 0.0 or full.all():
            break
        hi = lo
        band += 1
        lo = _band_floor(a, r, full, d, counts, hi, band)
        K.band_count(a, r, full, np.flatnonzero(~full), lo, hi, per_row)
    pairs = (
        (np.concatenate(acc_rows), np.concatenate(acc_cols))
        if acc_rows
        else (np.empty(0, np.int32), np.empty(0, np.int32))
    )
    return r, counts, (out if dense else None), pairs


def _band_floor(a, r, full, d, counts, hi, band) -> float:
    """Value floor of the next band, placed (from whole sampled rows) so that the band holds
    about ``_BAND_FACTOR * 2**band`` candidates per missing slot. Speed only: the result of the
    greedy does not depend on where the bands fall."""
    open_idx = np.flatnonzero(~full)
    rng = np.random.default_rng(band)
    rows = np.sort(rng.choice(open_idx, size=min(_SAMPLE_ROWS, open_idx.size), replace=False))
    values, sure = K.band_sample(a, r, full, rows, hi, d)
    if values.size == 0:
        return 0.0
    if band == 0:  # slots the sure pass will leave open, estimated from the sampled rows
        missing = open_idx.size * max(float(np.mean(d - sure)), 1.0)
    else:
        missing = float((d - counts[open_idx]).sum())
    population = values.size / rows.size * open_idx.size / 2.0
    target = _BAND_FACTOR * 2.0**band * missing / 2.0
    q = 1.0 - target / population
    return float(np.quantile(values, q)) if q > 0 else 0.0


def _descending_stable_order(vals: np.ndarray) -> np.ndarray:
    """Indices sorting ``vals`` (non-negative) descending, ties in index order.

    float32 values pack into one uint64 key (inverted value bits above the index), which numpy
    sorts with its vectorized sort; float64 falls back to a stable argsort.
    """
    if vals.dtype == np.float32 and vals.size < 2**32:
        key = (~vals.view(np.uint32)).astype(np.uint64) << np.uint64(32)
        key |= np.arange(vals.size, dtype=np.uint64)
        key.sort()
        return (key & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return np.argsort(-vals, kind="stable")


def _assemble_csr(a, r, counts, accepted) -> sp.csr_matrix:
    n = a.shape[0]
    sure = K.sure_pass(a, r, np.empty((0, 0), a.dtype), False, math.inf, np.empty(n, np.int64))
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(sure, out=indptr[1:])
    indices = np.empty(indptr[-1], np.int32)
    data = np.empty(indptr[-1], a.dtype)
    K.sure_csr_fill(a, r, indptr, indices, data)
    sure_part = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    ar, ac = accepted
    off = ar != ac
    rows = np.concatenate([ar, ac[off]])
    cols = np.concatenate([ac, ar[off]])
    vals = np.concatenate([a[ar, ac], a[ar[off], ac[off]]])
    rest = sp.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=a.dtype)
    result = (sure_part + rest).tocsr()
    result.sort_indices()
    return result


def prune_rows(A: ArrayLike, d: int) -> ArrayLike:
    """Row-wise top-d magnitude pruning: the public reference code's method, kept as a baseline.

    Each row keeps its ``d`` entries of largest |value| (ties: lower column first) and zeros the
    rest, independently of the other rows, so the result is in general **not symmetric** and
    cannot be block-encoded as a Hermitian matrix; ``prune_symmetric`` is what Q-Newton uses.

    Example:
        >>> import numpy as np
        >>> prune_rows(np.array([[1., 2., -3.], [4., -5., 6.], [7., 8., -9.]]), 2)
        array([[ 0.,  2., -3.],
               [ 0., -5.,  6.],
               [ 0.,  8., -9.]])
    """
    a, kind = as_numpy(A, "A")
    n = check_square(a, "A")
    d = check_int_range(d, "d", 1, n, hint="d is the most nonzeros kept per row (1 <= d <= N).")
    check_finite(a, "A")
    a = np.ascontiguousarray(a)
    out = np.zeros_like(a)
    K.row_topd(a, d, out)
    return kind.wrap(out)
