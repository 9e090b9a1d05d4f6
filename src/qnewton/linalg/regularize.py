"""Tikhonov regularization of a Hessian block: H + eps*I."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from .._arrays import ArrayLike, as_numpy
from .._validation import check_finite, check_positive, check_square

__all__ = ["regularization_shift", "regularize"]


def regularization_shift(A, eps: float, relative: bool = False) -> float:
    """The diagonal shift :func:`regularize` adds: ``eps``, or ``eps * max|A|`` when relative."""
    eps = check_positive(eps, "eps")
    if not relative:
        return eps
    if sp.issparse(A):
        m = float(abs(A).max()) if A.nnz else 0.0
    else:
        a, _ = as_numpy(A, "A")
        m = float(np.abs(a).max()) if a.size else 0.0
    return eps * m


def regularize(A: ArrayLike, eps: float, relative: bool = False) -> ArrayLike:
    r"""Return :math:`A + \epsilon I`, or :math:`A + \epsilon \max|a_{ij}| I` when ``relative``.

    Adding :math:`\epsilon I` shifts every eigenvalue of a symmetric A up by :math:`\epsilon`,
    so a PSD Hessian becomes positive definite with
    :math:`\kappa \le (\lambda_{max} + \epsilon)/\epsilon` (Q-Newton paper, Sec. II-B and V-D:
    eps near 1 cut kappa by about 1e3 with almost no loss of accuracy). The relative form is the
    public reference code's (it scales eps by the largest entry). A new matrix is returned in A's
    kind (numpy, torch, or scipy sparse); A is not modified.

    Raises:
        InvalidArgumentError: eps <= 0 or not finite.
        ShapeError: A is not a non-empty square matrix.
        NonFiniteError: A has NaN/Inf entries.

    Example:
        >>> import numpy as np
        >>> regularize(np.array([[2.0, 1.0], [1.0, 0.0]]), 0.5)
        array([[2.5, 1. ],
               [1. , 0.5]])
    """
    check_positive(eps, "eps")
    if sp.issparse(A):
        m: Any = A
        if m.shape[0] != m.shape[1] or m.shape[0] == 0:
            check_square(np.empty(m.shape, np.bool_), "A")
        check_finite(np.asarray(m.data), "A")
        shift = regularization_shift(m, eps, relative)
        return (m + shift * sp.identity(m.shape[0], dtype=m.dtype, format="csr")).asformat(m.format)
    a, kind = as_numpy(A, "A")
    n = check_square(a, "A")
    check_finite(a, "A")
    out = a.copy()
    out.flat[:: n + 1] += out.dtype.type(regularization_shift(a, eps, relative))
    return kind.wrap(out)
