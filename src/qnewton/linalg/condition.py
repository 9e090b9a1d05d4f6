"""Condition-number estimation for Hessian blocks.

The QLSA cost grows linearly with the condition number kappa (REFERENCE.md section 2), so the
scheduler needs kappa for every block. Four methods, chosen by what the caller can afford and
what it needs to be sure of:

========== ===================================== ============ =====================================
method     what it computes                      cost         guarantee
========== ===================================== ============ =====================================
exact      sigma_max / sigma_min (SVD, float64)  O(N^3), big  ground truth, for tests/benchmarks
merikoski  det + Frobenius bound (the paper's)   one LU/chol  upper bound; very loose in practice
lanczos    lambda_max / lambda_min, Ritz values  k matvecs    estimate (from below), SPD only
gershgorin max row abs sum / eps, for PSD + eps*I one pass    upper bound, if the promise holds
========== ===================================== ============ =====================================
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from .._arrays import as_numpy
from .._validation import check_finite, check_positive, check_square
from ..errors import InvalidArgumentError, NotPositiveDefiniteError
from . import _kernels as K
from .lanczos import lanczos_extremes

__all__ = [
    "CONDITION_METHODS",
    "ConditionEstimate",
    "estimate_condition",
    "qlsa_condition",
    "register_condition_method",
]


@dataclass(frozen=True)
class ConditionEstimate:
    """A 2-norm condition number estimate.

    Attributes:
        value: the estimate as a float; ``math.inf`` only when it overflows or A is singular.
        log_value: natural log of the estimate; finite for any nonsingular A even when ``value``
            overflows (the Merikoski bound of a 12544 x 12544 Hessian is far beyond 1e308).
        method: the method's name.
        upper_bound: True when ``value`` is guaranteed >= the true kappa_2 (up to rounding).
        exact: True for the SVD ground truth.
        seconds: wall-clock time of the estimate, measured on this machine.
        details: method-specific facts (extreme values, Lanczos steps and residuals, ...).
    """

    value: float
    log_value: float
    method: str
    upper_bound: bool
    exact: bool = False
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def __float__(self) -> float:
        return self.value


def _from_log(log_value: float, method: str, upper_bound: bool, **kw: Any) -> ConditionEstimate:
    value = math.exp(log_value) if log_value < 709.7 else math.inf
    return ConditionEstimate(value=value, log_value=log_value, method=method, upper_bound=upper_bound, **kw)


def _dense(A, name: str = "A") -> np.ndarray:
    if sp.issparse(A):
        A = A.toarray()
    a, _ = as_numpy(A, name)
    check_square(a, name)
    check_finite(a, name)
    return a


def condition_exact(A) -> ConditionEstimate:
    """kappa_2 = sigma_max / sigma_min from the singular values, in float64 (ground truth)."""
    a = _dense(A).astype(np.float64, copy=False)
    s = scipy.linalg.svdvals(a, check_finite=False)
    smax, smin = float(s[0]), float(s[-1])
    if smin <= 0.0 or smax == 0.0:
        return ConditionEstimate(math.inf, math.inf, "exact", False, True, details={"sigma": (smax, smin)})
    return _from_log(
        math.log(smax) - math.log(smin),
        "exact",
        False,
        exact=True,
        details={"sigma_max": smax, "sigma_min": smin},
    )


def condition_merikoski(A) -> ConditionEstimate:
    r"""The Merikoski-Urpala-Virtanen-Tam-Uhlig (1997) bound used by the Q-Newton paper (Sec. IV-C).

    With :math:`t = (n / \|A\|_F^2)^n |\det A|^2 \in (0, 1]` and :math:`x = \sqrt{1 - t}`,

    .. math:: \kappa_2(A) \le \sqrt{\frac{1 + x}{1 - x}} = \frac{1 + x}{\sqrt{t}},

    exact for n = 2 and tight when :math:`\sigma_2 = \dots = \sigma_{n-1} =
    \sqrt{(\sigma_1^2 + \sigma_n^2)/2}` (REFERENCE.md section 1). Everything runs in log space:
    :math:`\ln t = n \ln(n/\|A\|_F^2) + 2\ln|\det A|` (log-determinant from a Cholesky factor when
    A is SPD, from LU otherwise) and :math:`1 - t` = ``-expm1(ln t)``, so the result is never NaN
    and its log stays finite at N = 12544. (The public reference code uses
    :math:`(1 - n/\|A\|_F)^n` and returns NaN on its own example.)

    Example:
        >>> round(condition_merikoski([[1.0, 2.0], [3.0, 4.0]]).value, 3)
        14.933
    """
    a = _dense(A)
    n = a.shape[0]
    a64 = a.astype(np.float64, copy=False)
    fro2 = float(np.einsum("ij,ij->", a64, a64))
    if fro2 == 0.0:
        return ConditionEstimate(math.inf, math.inf, "merikoski", True, details={"reason": "zero matrix"})
    logdet = _logabsdet(a)
    if not math.isfinite(logdet):
        return ConditionEstimate(math.inf, math.inf, "merikoski", True, details={"reason": "singular"})
    log_t = min(n * math.log(n / fro2) + 2.0 * logdet, 0.0)  # t <= 1 in exact arithmetic
    x = math.sqrt(-math.expm1(log_t))
    log_kappa = math.log1p(x) - 0.5 * log_t
    return _from_log(max(log_kappa, 0.0), "merikoski", True, details={"log_t": log_t, "log_abs_det": logdet})


def _logabsdet(a: np.ndarray) -> float:
    """ln|det A|: from the Cholesky diagonal when A is SPD (half the cost of LU), else LU."""
    if np.array_equal(a, a.T):
        try:
            c = scipy.linalg.cholesky(a, lower=True, check_finite=False)
            return float(2.0 * np.log(np.abs(np.diag(c)).astype(np.float64)).sum())
        except np.linalg.LinAlgError:
            pass
    sign, logdet = np.linalg.slogdet(a.astype(np.float64, copy=False))
    return float(logdet) if sign != 0 else -math.inf


def condition_gershgorin(A, *, eps: float | None = None) -> ConditionEstimate:
    r"""Rigorous cheap bound for a symmetric A promised to be PSD + eps*I (e.g. a regularized
    Gauss-Newton or Fisher block): :math:`\lambda_{min} \ge \epsilon` and
    :math:`\lambda_{max} \le \min(\max_i \sum_j |a_{ij}|, \|A\|_F)` (Gershgorin; the Frobenius
    norm also bounds the spectral radius), so

    .. math:: \kappa_2(A) \le \min(\max_i \textstyle\sum_j |a_{ij}|, \|A\|_F) / \epsilon.

    One pass over A. The bound is only as valid as the promise: the caller vouches that
    A - eps*I is positive semidefinite (REFERENCE.md section 1).

    Example:
        >>> import numpy as np
        >>> condition_gershgorin(np.array([[3.0, 1.0], [1.0, 2.0]]), eps=1.0).value  # ||A||_F < 4
        3.872983346207417
    """
    if eps is None:
        raise InvalidArgumentError("method='gershgorin' needs `eps=`: the regularization added to a PSD matrix.")
    eps = check_positive(eps, "eps")
    if sp.issparse(A):
        csr = A.tocsr()
        rowsum = float(np.abs(csr).sum(axis=1).max())
        fro = float(spla.norm(csr))
    else:
        a = np.ascontiguousarray(_dense(A))
        rowsum, fro2 = K.row_abs_sums_and_fro2(a)
        rowsum, fro = float(rowsum), math.sqrt(float(fro2))
    lam_max = min(rowsum, fro)
    return _from_log(
        max(math.log(lam_max / eps), 0.0) if lam_max > 0 else 0.0,
        "gershgorin",
        True,
        details={"lambda_max_upper": lam_max, "row_abs_sum": rowsum, "frobenius": fro, "eps": eps},
    )


def condition_lanczos(
    A, *, n: int | None = None, tol: float = 1e-2, max_steps: int = 300, seed: int = 0
) -> ConditionEstimate:
    r"""kappa = lambda_max / lambda_min of a symmetric positive definite A from Lanczos Ritz values.

    The Ritz values lie inside the spectrum, so the estimate is a *lower* estimate of kappa;
    with the default ``tol`` (each end's Ritz residual below 1 % of its value) the error is far
    below 1 % on regularized Hessian spectra (a Ritz value's error is about residual^2 / gap).
    Works on a matrix or, matrix-free, on a LinearOperator or a callable matvec (pass ``n=``).

    Raises:
        NotPositiveDefiniteError: a Ritz value <= 0 shows A is not positive definite, so the
            extreme eigenvalues do not give kappa_2 (regularize more, or use ``method="exact"``).
    """
    if not (callable(A) or isinstance(A, spla.LinearOperator) or sp.issparse(A)):
        A = _dense(A)
    r = lanczos_extremes(A, n=n, tol=tol, max_steps=max_steps, seed=seed)
    details = {
        "lambda_min": r.lambda_min,
        "lambda_max": r.lambda_max,
        "steps": r.steps,
        "converged": r.converged,
        "residual_min": r.residual_min,
        "residual_max": r.residual_max,
    }
    if r.lambda_min <= 0.0:
        raise NotPositiveDefiniteError(
            f"`A` is not positive definite: Lanczos found an eigenvalue <= {r.lambda_min:.3g}, so its "
            f"extreme eigenvalues do not give kappa_2. Regularize it (A + eps*I with eps > "
            f"{-r.lambda_min:.3g}) or use method='exact'."
        )
    return _from_log(math.log(r.lambda_max) - math.log(r.lambda_min), "lanczos", False, details=details)


CONDITION_METHODS: dict[str, Callable[..., ConditionEstimate]] = {
    "exact": condition_exact,
    "merikoski": condition_merikoski,
    "lanczos": condition_lanczos,
    "gershgorin": condition_gershgorin,
}


def register_condition_method(name: str, fn: Callable[..., ConditionEstimate]) -> None:
    """Make ``estimate_condition(A, method=name)`` call ``fn(A, **options)``."""
    if not callable(fn):
        raise InvalidArgumentError("`fn` must be callable: fn(A, **options) -> ConditionEstimate.")
    CONDITION_METHODS[name] = fn


def estimate_condition(A, method: str = "lanczos", **options: Any) -> ConditionEstimate:
    """Estimate the 2-norm condition number of A with one of ``CONDITION_METHODS``.

    Args:
        A: square matrix (numpy, torch, scipy sparse); for ``"lanczos"`` also a
            ``scipy.sparse.linalg.LinearOperator`` or a callable matvec with ``n=``.
        method: ``"lanczos"`` (default: accurate, SPD), ``"merikoski"`` (the paper's bound),
            ``"gershgorin"`` (needs ``eps=``), ``"exact"`` (SVD ground truth), or a registered name.
        **options: passed to the method (``eps`` for gershgorin; ``tol``, ``max_steps``, ``seed``,
            ``n`` for lanczos).

    Returns:
        A :class:`ConditionEstimate`; its ``seconds`` is the measured wall time of the estimate.

    Example:
        >>> import numpy as np
        >>> A = np.diag([1.0, 4.0, 100.0])
        >>> round(estimate_condition(A, "exact").value, 9)
        100.0
        >>> estimate_condition(A, "merikoski").upper_bound
        True
    """
    try:
        fn = CONDITION_METHODS[method]
    except KeyError:
        raise InvalidArgumentError(f"`method` must be one of {sorted(CONDITION_METHODS)}, got {method!r}.") from None
    t0 = time.perf_counter()
    est = fn(A, **options)
    seconds = time.perf_counter() - t0
    return ConditionEstimate(est.value, est.log_value, est.method, est.upper_bound, est.exact, seconds, est.details)


def qlsa_condition(
    matrix: Any,
    method: str = "lanczos",
    *,
    eps: float | None = None,
    exact_limit: int = 2048,
    extremes: Any = None,
) -> tuple[ConditionEstimate, list[str]]:
    """kappa_2 of the matrix a QLSA would invert: the quantum route's one condition-number policy.

    ``method`` as in :func:`estimate_condition` (``eps`` is Gershgorin's regularization). For
    ``"lanczos"``, already computed extreme Ritz values (``extremes``: a ``LanczosResult`` of this
    very matrix) are reused. A Lanczos estimate needs a positive definite matrix (its extreme
    eigenvalues give kappa_2 only then); on an indefinite or singular one the policy falls back to
    the exact SVD up to N = ``exact_limit`` and to the paper's Merikoski bound above, and says so
    in the returned notes.

    Returns:
        ``(estimate, notes)``.

    Example:
        >>> import numpy as np
        >>> est, notes = qlsa_condition(np.diag([-2.0, 1.0, 4.0]))
        >>> round(est.value, 9), est.method, notes[0].startswith("indefinite")
        (4.0, 'exact', True)
    """
    notes: list[str] = []
    n = int(matrix.shape[0])
    t0 = time.perf_counter()
    if method == "lanczos" and extremes is not None and extremes.lambda_min > 0:
        lo, hi = float(extremes.lambda_min), float(extremes.lambda_max)
        details = {
            "lambda_min": lo,
            "lambda_max": hi,
            "steps": extremes.steps,
            "converged": extremes.converged,
            "residual_min": extremes.residual_min,
            "residual_max": extremes.residual_max,
        }
        est = _from_log(math.log(hi) - math.log(lo), "lanczos", False, details=details)
        return ConditionEstimate(
            est.value, est.log_value, est.method, False, False, time.perf_counter() - t0, details
        ), notes
    opts: dict[str, Any] = {"eps": eps} if method == "gershgorin" else {}
    dense_only = method in ("exact", "merikoski")

    def host_dense(a: Any) -> Any:  # the SVD and the Merikoski bound run on the host, densely
        if sp.issparse(a):
            return a.toarray()
        if isinstance(a, torch.Tensor):
            return (a.to_dense() if a.layout != torch.strided else a).detach().cpu().numpy()
        return a

    m = host_dense(matrix) if dense_only or (isinstance(matrix, torch.Tensor) and method == "gershgorin") else matrix
    try:
        if method == "lanczos" and extremes is not None:  # known not positive definite
            raise NotPositiveDefiniteError("indefinite")
        return estimate_condition(m, method, **opts), notes
    except NotPositiveDefiniteError:
        fallback = "exact" if n <= exact_limit else "merikoski"
        notes.append(f"indefinite block: kappa by {fallback} instead of {method}")
        est = estimate_condition(host_dense(matrix), fallback)
        return ConditionEstimate(
            est.value, est.log_value, est.method, est.upper_bound, est.exact, time.perf_counter() - t0, est.details
        ), notes
