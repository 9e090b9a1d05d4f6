"""Block-encoding scale factor and logical-qubit count of a QLSA (REFERENCE.md section 2)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from .._arrays import as_numpy
from .._validation import check_finite, check_int_range, check_positive, check_square
from ..errors import InvalidArgumentError, NonFiniteError, ShapeError, SingularMatrixError
from ._inputs import warn_outside_package

__all__ = ["block_encoding_alpha", "default_ancillas", "logical_qubits", "max_row_nnz"]

# Relative slack before a computed alpha < 1 is reported: a Lanczos norm converges from below to
# about 1e-4, which can only raise alpha, but a caller's norm2 may be rounded.
_ALPHA_SLACK = 1e-9


def max_row_nnz(A: Any) -> int:
    """Largest number of nonzero entries in a row of A (the exact row sparsity d).

    Accepts numpy arrays, torch tensors, array-likes and scipy sparse matrices (explicitly stored
    zeros are not counted).

    Example:
        >>> import numpy as np
        >>> max_row_nnz(np.array([[1.0, 0.0], [2.0, 3.0]]))
        2
    """
    if sp.issparse(A):
        csr = sp.csr_matrix(A)
        csr.eliminate_zeros()
        return int(np.diff(csr.indptr).max()) if csr.shape[0] else 0
    a, _ = as_numpy(A, "A")
    if a.ndim != 2:
        raise InvalidArgumentError(f"`A` must be a 2-D matrix, got shape {tuple(a.shape)}.")
    return int(np.count_nonzero(a, axis=1).max())


def block_encoding_alpha(A: Any, d: int | None = None, *, norm2: float | None = None, symmetric: bool = True) -> float:
    """Scale factor of the sparse-access block encoding of A, relative to ||A||_2.

    ``alpha = d * max|A_ij| / ||A||_2``. The standard sparse-access block encoding (Gilyen, Su,
    Low, Wiebe 2019, arXiv:1806.01838, Lemma 48) encodes A / (d max|A_ij|); a QLSA run on it sees
    condition number kappa but pays for the extra scale alpha, which is how the oracle sparsity d
    enters :func:`qnewton.cost.jennings_queries` (REFERENCE.md section 2). Since
    ||A||_2 <= d max|A_ij| for a matrix with at most d nonzeros per row, alpha >= 1.

    Args:
        A: the (pruned) matrix: numpy array, torch tensor (any device) or scipy sparse matrix.
        d: oracle sparsity, the number of nonzeros per row the oracle exposes (1 <= d <= N).
            ``None`` uses the exact maximum row count of nonzeros of ``A``.
        norm2: ||A||_2 if already known (e.g. lambda_max of a PSD block from a Lanczos run);
            otherwise computed with ``qnewton.linalg.spectral_norm`` (Lanczos; LAPACK for small
            blocks), falling back to numpy/scipy when that function is unavailable.
        symmetric: A is symmetric (a Hessian block); used only when ``norm2`` is computed.

    Returns:
        alpha >= 1 as a float.

    Raises:
        ShapeError: A is not square. NonFiniteError: A has NaN/Inf.
        InvalidArgumentError: d outside [1, N], norm2 <= 0 or non-finite.
        SingularMatrixError: A is the zero matrix (no block encoding scale).

    Warns:
        ClampedRangeWarning: the formula gives alpha < 1, which happens only when ``d`` is below the
            true row sparsity of A or ``norm2`` is too large; alpha is set to 1.

    Example:
        >>> import numpy as np
        >>> block_encoding_alpha(np.diag([1.0, 2.0, 4.0]), d=1)
        1.0
        >>> round(block_encoding_alpha(np.array([[2.0, 1.0], [1.0, 2.0]]), d=2), 6)
        1.333333
    """
    if sp.issparse(A):
        n = check_square(np.empty(A.shape, dtype=np.bool_) if A.shape[0] != A.shape[1] else A, "A")
        data = np.asarray(A.tocsr().data)
        if not np.isfinite(data).all():
            raise NonFiniteError("`A` has NaN/Inf entries; check the curvature computation upstream.")
        amax = float(np.abs(data).max()) if data.size else 0.0
    elif isinstance(A, torch.Tensor) and (A.device.type != "cpu" or A.layout != torch.strided):
        # a device-resident (or torch sparse) block stays where it is: one reduction, no host copy
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ShapeError(f"`A` must be a square matrix, got shape {tuple(A.shape)}.")
        n = int(A.shape[0])
        vals = A.values() if A.layout != torch.strided else A
        if vals.numel() and not bool(torch.isfinite(vals).all()):
            raise NonFiniteError("`A` has NaN/Inf entries; check the curvature computation upstream.")
        amax = float(vals.abs().max()) if vals.numel() else 0.0
    else:
        a, _ = as_numpy(A, "A")
        n = check_square(a, "A")
        check_finite(a, "A")
        amax = float(np.abs(a).max())
    if amax == 0.0:
        raise SingularMatrixError("`A` is the zero matrix; a linear system with it has no solution.")
    if d is None:
        d = max_row_nnz(A)
    d = check_int_range(d, "d", 1, n, "`d` is the oracle sparsity: nonzeros per row, at most N.")
    if norm2 is None:
        norm2 = _spectral_norm(A, symmetric)
    else:
        norm2 = check_positive(norm2, "norm2")
    alpha = d * amax / norm2
    if alpha < 1.0:
        if alpha < 1.0 - _ALPHA_SLACK:
            warn_outside_package(
                f"d * max|A_ij| / ||A||_2 = {alpha:.6g} < 1: `d` = {d} is below the row sparsity of "
                f"`A` or `norm2` = {norm2:.6g} is too large; alpha was set to 1. Pass d >= "
                f"max_row_nnz(A) (prune A to d nonzeros per row first)."
            )
        alpha = 1.0
    return float(alpha)


def _spectral_norm(A: Any, symmetric: bool) -> float:
    spectral_norm: Any
    try:
        from ..linalg import spectral_norm  # lazy: linalg is heavier and optional here
    except ImportError:
        try:
            from ..linalg.lanczos import spectral_norm
        except ImportError:
            spectral_norm = None
    if spectral_norm is not None:
        value = float(spectral_norm(A, symmetric=symmetric))
    elif sp.issparse(A):
        import scipy.sparse.linalg as spla

        m = sp.csr_matrix(A, dtype=np.float64)
        if m.shape[0] <= 256:
            value = float(np.linalg.norm(m.toarray(), 2))
        elif symmetric:
            value = float(np.abs(spla.eigsh(m, k=1, which="LM", return_eigenvectors=False)).max())
        else:
            value = float(spla.svds(m, k=1, return_singular_vectors=False).max())
    else:
        a, _ = as_numpy(A, "A")
        a = a.astype(np.float64, copy=False)
        value = float(np.abs(np.linalg.eigvalsh(a)).max()) if symmetric else float(np.linalg.norm(a, 2))
    if not math.isfinite(value) or value <= 0:
        raise SingularMatrixError(f"||A||_2 came out as {value!r}; `A` is zero or not finite.")
    return value


def default_ancillas(n: int) -> int:
    """Ancilla qubits of a sparse-access block encoding of an N x N matrix: ceil(log2 N) + 3.

    The column-index register (ceil(log2 N) qubits) plus about three flag/rotation qubits
    (Gilyen et al. 2019, Lemma 48; REFERENCE.md section 2). A model assumption, not a bound.

    Example:
        >>> default_ancillas(12544)
        17
    """
    n = check_int_range(n, "n", 1, 2**62)
    return (n - 1).bit_length() + 3


def logical_qubits(n: int, ancillas: int | None = None) -> int:
    """Logical qubits of the QLSA of Jennings et al. (v1): a + 6 + ceil(log2 N).

    Source: arXiv:2305.11352 v1 (REFERENCE.md section 2; the Q-Newton paper, Sec. II-E).

    Args:
        n: system size N >= 1.
        ancillas: a, the ancillas of the block encoding (>= 0); ``None`` uses
            :func:`default_ancillas` (sparse access: ceil(log2 N) + 3).

    Example:
        >>> logical_qubits(12544)
        37
        >>> logical_qubits(1024, ancillas=0)
        16
    """
    n = check_int_range(n, "n", 1, 2**62, "`n` is the number of rows of the block.")
    if ancillas is None:
        ancillas = default_ancillas(n)
    a = check_int_range(ancillas, "ancillas", 0, 10**6)
    return a + 6 + (n - 1).bit_length()
