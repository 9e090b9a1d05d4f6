"""Extreme eigenvalues of a symmetric matrix or operator by the Lanczos method.

Our own implementation, not ``scipy.sparse.linalg.eigsh``: REFERENCE.md section 7 records that
``eigsh(which='SA')`` failed to converge on a Hessian with a clustered low edge and shift-invert
failed at N >= 4000, while plain Lanczos with full reorthogonalization gave kappa to 3e-4 in 100
steps. Full reorthogonalization keeps the Ritz values free of ghost copies; storing the basis
costs steps x N floats (10 MB at N = 12544, 100 steps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from .._arrays import as_numpy
from .._validation import check_finite, check_int_range, check_positive, check_square
from ..errors import InvalidArgumentError, NonFiniteError

__all__ = ["LanczosResult", "as_matvec", "lanczos_extremes", "spectral_norm"]


@dataclass(frozen=True)
class LanczosResult:
    """Extreme Ritz values after ``steps`` Lanczos iterations.

    ``lambda_min <= ... <= lambda_max`` approach the true extreme eigenvalues from inside the
    spectrum; ``residual_min``/``residual_max`` are the Ritz residual norms |beta_k s_k|: an
    eigenvalue of A lies within that distance of each Ritz value.
    """

    lambda_min: float
    lambda_max: float
    residual_min: float
    residual_max: float
    steps: int
    converged: bool
    matvecs: int


def as_matvec(A, n: int | None = None, name: str = "A") -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """A float64 numpy matvec for a dense matrix (numpy/torch), a scipy sparse matrix, a
    ``scipy.sparse.linalg.LinearOperator`` or a plain callable (then ``n`` is required)."""
    if isinstance(A, spla.LinearOperator):
        if A.shape[0] != A.shape[1]:
            raise InvalidArgumentError(f"`{name}` must be a square operator, got shape {A.shape}.")
        return (lambda v: np.asarray(A.matvec(v), dtype=np.float64).reshape(-1)), int(A.shape[0])
    if sp.issparse(A):
        size = check_square(np.empty(A.shape, dtype=np.bool_) if A.shape[0] != A.shape[1] else A, name)
        csr = A.tocsr()
        return (lambda v: np.asarray(csr @ v, dtype=np.float64)), size
    if callable(A) and not isinstance(A, (np.ndarray, torch.Tensor)):
        if n is None:
            raise InvalidArgumentError(f"`{name}` is a callable matvec: pass its size as `n=`.")
        check_int_range(n, "n", 1, 2**62)

        def mv(v: np.ndarray) -> np.ndarray:
            out = A(v)
            if isinstance(out, torch.Tensor):
                out = out.detach().cpu().numpy()
            return np.asarray(out, dtype=np.float64).reshape(-1)

        return mv, int(n)
    a, _ = as_numpy(A, name)
    size = check_square(a, name)
    check_finite(a, name)
    if a.dtype == np.float32:  # keep the O(N^2) product in float32 (twice as fast), the basis in float64
        return (lambda v: (a @ v.astype(np.float32)).astype(np.float64)), size
    return (lambda v: a @ v), size


def _matvec_and_device(A: Any, n: int | None) -> tuple[Callable[[Any], Any], int, torch.device | None]:
    """A float64 matvec and the device it runs on (None: numpy on the CPU).

    A torch tensor or torch-backed operator that should stay on its device (``qnewton._device``)
    gets a torch matvec there, so no vector crosses to the host per step.
    """
    from .._device import accelerated

    if isinstance(A, torch.Tensor) and accelerated(A):
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise InvalidArgumentError(f"`A` must be a square matrix, got shape {tuple(A.shape)}.")
        a = A.detach()
        if a.layout != torch.strided:  # torch sparse (CSR/COO): products with a column
            return (lambda v: (a @ v.to(a.dtype)[:, None])[:, 0].double()), int(a.shape[0]), a.device
        if a.dtype == torch.float32:  # the O(N^2) product in float32 (twice as fast), the basis in float64
            return (lambda v: (a @ v.to(torch.float32)).double()), int(a.shape[0]), a.device
        return (lambda v: a.double() @ v), int(a.shape[0]), a.device
    dev = getattr(A, "device", None)
    torch_mv = getattr(A, "_torch_matmat", None)
    if torch_mv is not None and isinstance(dev, torch.device) and (dev.type != "cpu" or accelerated(torch.empty(0))):
        dtype = A.torch_dtype
        return (lambda v: torch_mv(v.to(dtype).reshape(-1, 1)).reshape(-1).double()), int(A.shape[0]), dev
    mv, size = as_matvec(A, n)
    return mv, size, None


def lanczos_extremes(
    A,
    *,
    n: int | None = None,
    max_steps: int = 300,
    tol: float = 1e-4,
    check_every: int = 10,
    seed: int = 0,
) -> LanczosResult:
    r"""Smallest and largest eigenvalues of a symmetric A by Lanczos with full reorthogonalization.

    Builds the Krylov basis :math:`Q_k` of :math:`(A, q_1)` and the tridiagonal
    :math:`T_k = Q_k^T A Q_k`; the extreme eigenvalues :math:`\theta` of :math:`T_k` (Ritz values)
    converge to those of A, and the residual :math:`|\beta_k s_{k}|` of each Ritz pair bounds its
    distance to the spectrum. Stops when each extreme residual is below ``tol`` times its own Ritz
    value's magnitude (checked every ``check_every`` steps), at an invariant subspace, or after
    ``max_steps`` steps.

    Args:
        A: symmetric matrix (numpy/torch/scipy sparse), LinearOperator, or callable matvec.
        n: size, required only for a plain callable.
        max_steps: iteration cap (capped at n).
        tol: relative residual tolerance for convergence.
        check_every: how often the tridiagonal eigenproblem is solved.
        seed: seed of the random start vector.

    Example:
        >>> import numpy as np
        >>> r = lanczos_extremes(np.diag([1.0, 2.0, 3.0, 10.0]))
        >>> round(r.lambda_min, 8), round(r.lambda_max, 8)
        (1.0, 10.0)
    """
    matvec, size, device = _matvec_and_device(A, n)
    max_steps = check_int_range(max_steps, "max_steps", 1, 10**7)
    tol = check_positive(tol, "tol")
    k_max = min(max_steps, size)
    rng = np.random.default_rng(seed)
    q0: Any = rng.standard_normal(size)
    # the Krylov basis lives where the operator does: numpy on the CPU, a float64 tensor on a device
    Q: Any = np.empty((k_max + 1, size), np.float64)
    if device is not None:
        Q = torch.empty((k_max + 1, size), dtype=torch.float64, device=device)
        q0 = torch.from_numpy(q0).to(device)
    Q[0] = q0 / float((q0 * q0).sum()) ** 0.5
    alphas: list[float] = []
    betas: list[float] = []
    theta = np.zeros(1)
    res = np.zeros(1)
    converged = False
    k = 0
    for k in range(1, k_max + 1):
        w = matvec(Q[k - 1])
        if not math.isfinite(float(w.sum())):
            raise NonFiniteError("The matvec of `A` returned NaN/Inf; check the operator.")
        alpha = float(Q[k - 1] @ w)
        alphas.append(alpha)
        # Full reorthogonalization, twice ("twice is enough", Parlett): keeps T_k exact to rounding.
        for _ in range(2):
            w = w - Q[:k].T @ (Q[:k] @ w)
        beta = float((w * w).sum()) ** 0.5
        invariant = beta <= 1e-12 * max(1.0, abs(alpha))
        if invariant or k == k_max or k % check_every == 0:
            theta, vecs = scipy.linalg.eigh_tridiagonal(np.array(alphas), np.array(betas), lapack_driver="stev")
            res = np.abs(beta * vecs[-1, [0, -1]])
            # Each end relative to its own magnitude: kappa needs lambda_min to `tol` relative,
            # which a tolerance relative to lambda_max would not give.
            scale = np.maximum(np.abs(theta[[0, -1]]), 1e-300)
            if invariant or (res <= tol * scale).all():
                converged = True
                break
        betas.append(beta)
        Q[k] = w / beta
    return LanczosResult(
        lambda_min=float(theta[0]),
        lambda_max=float(theta[-1]),
        residual_min=float(res[0]),
        residual_max=float(res[-1]),
        steps=k,
        converged=converged,
        matvecs=k,
    )


def spectral_norm(A, *, n: int | None = None, symmetric: bool = True, tol: float = 1e-4, seed: int = 0) -> float:
    """||A||_2: the largest |eigenvalue| of a symmetric A (Lanczos), or for ``symmetric=False``
    the square root of the largest eigenvalue of A^T A. Small dense matrices (N <= 256) are
    solved exactly with LAPACK.

    Example:
        >>> import numpy as np
        >>> round(spectral_norm(np.array([[2.0, 1.0], [1.0, 2.0]])), 12)
        3.0
    """
    if not callable(A) and not isinstance(A, spla.LinearOperator) and not sp.issparse(A):
        a, _ = as_numpy(A, "A")
        size = check_square(a, "A")
        if size <= 256:
            check_finite(a, "A")
            a64 = a.astype(np.float64)
            if symmetric:
                return float(np.abs(np.linalg.eigvalsh(a64)).max())
            return float(np.linalg.norm(a64, 2))
    matvec, size = as_matvec(A, n)
    if not symmetric:
        if isinstance(A, spla.LinearOperator):
            rmatvec = lambda v: np.asarray(A.rmatvec(v), dtype=np.float64).reshape(-1)  # noqa: E731
        elif sp.issparse(A):
            at = A.T.tocsr()
            rmatvec = lambda v: np.asarray(at @ v, dtype=np.float64)  # noqa: E731
        elif callable(A):
            raise InvalidArgumentError(
                "`A` is a plain callable: pass a LinearOperator with rmatvec for symmetric=False."
            )
        else:
            at, _ = as_numpy(A, "A")
            at = at.T
            rmatvec = lambda v: at @ v  # noqa: E731
        r = lanczos_extremes(lambda v: rmatvec(matvec(v)), n=size, tol=tol, seed=seed)
        return math.sqrt(max(r.lambda_max, 0.0))
    r = lanczos_extremes(lambda v: matvec(v), n=size, tol=tol, seed=seed)
    return max(abs(r.lambda_min), abs(r.lambda_max))
