"""Sparsity measures of Hessian rows: the paper's p%-sparsity profile and the oracle sparsity d."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import numpy as np
import scipy.sparse as sp
import torch

from .._arrays import as_numpy
from .._validation import check_finite, check_fraction
from ..errors import ShapeError
from . import _kernels as K
from ._torch_prune import oracle_sparsity_torch, quantum_sparsity_torch, row_nnz_torch, use_torch

__all__ = ["oracle_sparsity", "quantum_sparsity", "row_nnz"]


@overload
def quantum_sparsity(
    A: np.ndarray | sp.spmatrix | Sequence[Any], p: float | Sequence[float] = ..., *, _backend: str | None = ...
) -> np.ndarray: ...


@overload
def quantum_sparsity(
    A: torch.Tensor, p: float | Sequence[float] = ..., *, _backend: str | None = ...
) -> np.ndarray | torch.Tensor: ...


def quantum_sparsity(A, p: float | Sequence[float] = 0.5, *, _backend: str | None = None) -> np.ndarray | torch.Tensor:
    r"""The p%-sparsity of every row (Q-Newton paper, Sec. III-C and Fig. 6).

    For row *i*, the fewest entries whose absolute values sum to at least ``p`` of the row's
    absolute total: :math:`\min\{k : \sum_{t \le k} |a|_{(t)} \ge p \sum_j |a_{ij}|\}` with
    :math:`|a|_{(1)} \ge |a|_{(2)} \ge \dots` the row's sorted magnitudes. A zero row needs 0.
    Sums run in float64. O(N) per row (a histogram finds the crossing, only one bucket is
    sorted), parallel over rows.

    Args:
        A: 2-D matrix (numpy, torch, scipy sparse); rows need not form a square matrix.
        p: a fraction in (0, 1], or a sequence of them (one pass computes all).
        _backend: private; ``"torch"`` forces the torch implementation, ``"numba"`` the numba
            kernel; None: torch for a tensor on a non-CPU device, numba otherwise.

    A tensor on a non-CPU device (CUDA) is profiled on its device (sorted magnitudes, running
    sums, a batched search); the counts equal the numba kernel's except where a running sum lies
    within float64 rounding of the target (then the two may differ by one; both are valid).

    Returns:
        int64 array of shape (rows,) for a scalar ``p``, or (rows, len(p)) for a sequence; an
        int64 tensor on A's device when A is a tensor on a non-CPU device.

    Example:
        >>> import numpy as np
        >>> quantum_sparsity(np.array([[4.0, -3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0]]), 0.5)
        array([2, 2])
    """
    if use_torch(A, _backend) and not sp.issparse(A):
        if isinstance(A, torch.Tensor):
            return quantum_sparsity_torch(A, p)
        return quantum_sparsity_torch(torch.from_numpy(as_numpy(A, "A")[0]), p).numpy()
    scalar = np.ndim(p) == 0
    ps = np.atleast_1d(np.asarray(p, dtype=np.float64))
    for q in ps:
        check_fraction(float(q), "p")
    if sp.issparse(A):
        return _sparse_rows(A.tocsr(), ps, scalar)
    a, _ = as_numpy(A, "A")
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(f"`A` must be a non-empty 2-D matrix, got shape {tuple(a.shape)}.")
    check_finite(a, "A")
    out = np.empty((a.shape[0], ps.size), np.int64)
    K.row_mass_counts(np.ascontiguousarray(a), ps, out)
    return out[:, 0] if scalar else out


def _sparse_rows(csr: sp.csr_matrix, ps: np.ndarray, scalar: bool) -> np.ndarray:
    if not np.all(np.isfinite(csr.data)):
        check_finite(csr.data, "A")
    out = np.zeros((csr.shape[0], ps.size), np.int64)
    for i in range(csr.shape[0]):
        row = np.sort(np.abs(csr.data[csr.indptr[i] : csr.indptr[i + 1]].astype(np.float64)))[::-1]
        if row.size == 0 or row[0] == 0.0:
            continue
        csum = np.cumsum(row)
        out[i] = np.minimum(np.searchsorted(csum, ps * csum[-1], side="left") + 1, np.count_nonzero(row))
    return out[:, 0] if scalar else out


def row_nnz(A) -> np.ndarray | torch.Tensor:
    """Number of nonzero entries in each row (dense, scipy sparse, or torch sparse COO/CSR).

    A tensor on a non-CPU device is counted there and the int64 counts stay there (a tensor);
    every other input gives an int64 numpy array. Explicitly stored zeros are not nonzeros.
    """
    if isinstance(A, torch.Tensor) and (A.device.type != "cpu" or A.layout != torch.strided):
        counts = row_nnz_torch(A)
        return counts if A.device.type != "cpu" else counts.numpy()
    if sp.issparse(A):
        csr = A.tocsr(copy=True)
        csr.eliminate_zeros()  # explicitly stored zeros are not nonzeros
        return np.diff(csr.indptr).astype(np.int64)
    a, _ = as_numpy(A, "A")
    if a.ndim != 2:
        raise ShapeError(f"`A` must be a 2-D matrix, got shape {tuple(a.shape)}.")
    return np.count_nonzero(a, axis=1).astype(np.int64)


def oracle_sparsity(A) -> int:
    """Oracle sparsity d: the largest number of nonzeros in any row (what a sparse-access block
    encoding pays for, REFERENCE.md section 2).

    Example:
        >>> import numpy as np
        >>> oracle_sparsity(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]]))
        2
    """
    if isinstance(A, torch.Tensor) and (A.device.type != "cpu" or A.layout != torch.strided):
        return oracle_sparsity_torch(A)
    counts = row_nnz(A)
    return int(counts.max()) if counts.size else 0
