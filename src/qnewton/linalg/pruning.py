"""Magnitude pruning of Hessian blocks to a quantum oracle sparsity d.

A QLSA's block encoding of a d-sparse matrix costs queries in proportion to d (REFERENCE.md
section 2), so Q-Newton prunes each Hessian block to at most d nonzeros per row before pricing and
running the quantum route. The pruned block must stay symmetric (a QLSA inverts Hermitian
matrices), which plain row-wise top-d pruning does not guarantee.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
import torch

from .._arrays import ArrayLike, as_numpy
from .._validation import (
    check_finite,
    check_int_range,
    check_square,
    check_symmetric_matrix,
    raise_if_asymmetric,
)
from ..errors import ShapeError
from . import _kernels as K
from ._torch_prune import prune_symmetric_torch, use_torch

__all__ = ["prune_rows", "prune_symmetric"]

_BAND_FACTOR = 4.0  # candidates per missing pair in the first band; doubles on every further band
_BAND_CAP = 1 / 8  # at most N^2/8 candidates (N^2 bytes) per band


def prune_symmetric(
    A: ArrayLike,
    d: int,
    sparse: bool = False,
    *,
    symmetry_rtol: float | None = None,
    _backend: str | None = None,
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
    bands. A band is collected straight into its histogram buckets (16 per octave of |value|),
    each candidate packed into one 64-bit word whose order within a bucket is the greedy's, so
    sorting is a small in-cache radix sort per bucket. On Hessians and random matrices the
    bands hold a few percent to a quarter of the entries, so the cost is a handful of streaming
    passes over A instead of an O(N^2 log N) sort.

    Args:
        A: symmetric N x N matrix (numpy array or torch tensor, float32 or float64). Only the
            upper triangle's values are used, so a matrix symmetric up to rounding is fine.
        d: oracle sparsity, 1 <= d <= N.
        sparse: return a ``scipy.sparse.csr_matrix`` instead of a dense array of A's kind.
        symmetry_rtol: tolerance of the symmetry check, relative to max|A| (default 1e-4 for
            float32, 1e-9 for float64).
        _backend: private; ``"torch"`` forces the torch implementation (tests compare it with
            the numba kernels on CPU), ``"numba"`` the numba one; None chooses by device.

    Backends. A torch tensor on a non-CPU device (CUDA) is pruned on its device by the torch
    implementation (``_torch_prune``: the same thresholds and sure pass, then the greedy in
    exact parallel rounds); numpy arrays and CPU tensors use the numba kernels, which are faster
    on the CPU. Both give the same result, bit for bit, and raise the same errors.

    Returns:
        The pruned matrix: same kind, dtype and device as ``A``, or with ``sparse`` a
        ``scipy.sparse.csr_matrix`` (numba path) or a torch sparse CSR tensor on A's device
        (torch path), column indices sorted.

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
    if use_torch(A, _backend):
        if isinstance(A, torch.Tensor):
            return prune_symmetric_torch(A, d, sparse, symmetry_rtol)
        a, kind = as_numpy(A, "A")
        out = prune_symmetric_torch(torch.from_numpy(a), d, sparse, symmetry_rtol)
        return out if sparse else out.numpy()
    a, kind = as_numpy(A, "A")
    n = check_square(a, "A")
    d = check_int_range(d, "d", 1, n, hint="d is the most nonzeros kept per row (1 <= d <= N).")
    if n > K.MAX_N:  # candidates pack their row and column into 22 bits each
        raise ShapeError(f"A: prune_symmetric handles N <= {K.MAX_N}, got N = {n}; prune blocks of A instead.")
    a = np.ascontiguousarray(a)
    if n < 64:  # the compiled passes only pay off on larger blocks; the check is the same
        check_symmetric_matrix(a, "A", symmetry_rtol)
    out = _symmetric_greedy(a, d, not sparse, symmetry_rtol)
    if not sparse:
        return kind.wrap(out)
    return _mask_to_csr(a, out)


def _symmetric_greedy(a: np.ndarray, d: int, dense: bool, symmetry_rtol: float | None):
    """Run the greedy; return the dense output, or a uint8 mask of the accepted pairs."""
    n = a.shape[0]
    r, nbad, amax, asym = K.row_thresholds_symmetric(a, d)
    if nbad:
        check_finite(a, "A")
    raise_if_asymmetric(asym, amax, a.dtype, "A", symmetry_rtol)

    out = np.zeros(a.shape, a.dtype) if dense else np.zeros(a.shape, np.uint8)  # lazily zeroed pages
    nstrip = (n + K.STRIP - 1) // K.STRIP
    # First band: no row is known to be full yet (a superset of candidates is still exact: the
    # greedy rejects the extra ones).
    full = np.zeros(n, np.bool_)
    open_idx = np.arange(n)  # the rows not full yet
    hist = np.zeros((nstrip, K.NBUCKET), np.int64)
    counts = K.sure_pass(a, r, full, out, not dense, hist, asym == 0.0)
    rkey = r.astype(np.float32).view(np.uint32)  # r's float32 roundings: the greedy compares keys
    exact = a.dtype != np.float32  # float32 keys can tie for different float64 values
    bhi = K.NBUCKET
    band = 0
    while True:
        blo = _band_bucket(hist.sum(axis=0), d, counts, full, band)
        cnt = hist[:, blo:bhi][:, ::-1]  # [strip, q]: candidates of bucket bhi - 1 - q
        if cnt.any():
            dst, bstart = _collect_band(a, r, full, open_idx, blo, bhi, cnt)
            sizes = np.diff(bstart)
            K.sort_band(dst, bstart, _balanced_order(sizes), a, exact)
            K.greedy_band(a, dst, bstart, bhi, counts, r, rkey, d)
            K.mark_accepted(a, dst, out, not dense)
            del dst
        full = counts >= d
        open_idx = np.flatnonzero(~full)
        if blo == 0 or open_idx.size == 0:
            break
        bhi = blo
        band += 1
        hist = K.band_histogram(a, r, full, open_idx, bhi)
    return out


def _collect_band(a, r, full, open_idx, blo, bhi, cnt):
    """The band's candidates, packed and grouped by bucket from the top (``K.band_collect``),
    and where each bucket starts. ``cnt[strip, q]`` are the exact counts from the histogram."""
    nstrip, nb = cnt.shape
    starts = np.zeros(nb * nstrip + 1, np.int64)
    np.cumsum(cnt.T.ravel(), out=starts[1:])  # bucket-major, strips in order within a bucket
    m = int(starts[-1])
    off = np.ascontiguousarray(starts[:-1].reshape(nb, nstrip).T)
    bstart = np.append(off[0], m)
    expected = off + cnt
    dst = np.empty(m, np.uint64)
    K.band_collect(a, r, full, open_idx, blo, bhi, off, dst)
    if not np.array_equal(off, expected):  # the histogram and the scan disagree: a bug
        raise RuntimeError("prune_symmetric: band layout mismatch (internal error); please report")
    return dst, bstart


def _balanced_order(sizes: np.ndarray) -> np.ndarray:
    """Buckets largest first, dealt round-robin into one contiguous run per thread, so the
    static split of a parallel loop gives every thread a similar share of the work."""
    nthreads = max(1, numba.get_num_threads())
    by_size = np.argsort(-sizes, kind="stable")
    return np.concatenate([by_size[t::nthreads] for t in range(nthreads)])


def _band_bucket(hist: np.ndarray, d: int, counts: np.ndarray, full: np.ndarray, band: int) -> int:
    """Lowest histogram bucket of the next value band, placed from the histogram of the remaining
    candidates so that the band holds about ``_BAND_FACTOR * 2**band`` candidates per missing
    pair (and at most N^2 * ``_BAND_CAP``). Speed only: the greedy's result does not depend on
    where the bands fall. Bucket 0 means "everything that is left"."""
    missing = float(np.minimum(d - counts[~full], d).sum()) / 2.0
    # bounded, so the band (8 bytes per candidate, twice that for a bucket while it is sorted)
    # stays a fraction of A
    target = min(_BAND_FACTOR * 2.0**band * max(missing, 1.0), max(_BAND_CAP * counts.size**2, 1 << 20))
    above = np.cumsum(hist[::-1])[::-1]  # above[b] = candidates in buckets >= b
    reach = np.flatnonzero(above >= target)
    return int(reach[-1]) if reach.size else 0


def _mask_to_csr(a: np.ndarray, mask: np.ndarray) -> sp.csr_matrix:
    """The symmetric CSR matrix of the accepted pairs (upper-triangle values), indices sorted."""
    n = a.shape[0]
    per_row = K.upper_mask_counts(mask)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(per_row, out=indptr[1:])
    indices = np.empty(indptr[-1], np.int32)
    data = np.empty(indptr[-1], a.dtype)
    K.upper_mask_fill(a, mask, indptr, indices, data)
    upper = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    strict = sp.triu(upper, k=1, format="csr")
    result = (upper + strict.T).tocsr()
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
