"""Krylov solvers for (A + shift I) x = b with a symmetric A given only by its products, in torch.

* :func:`conjugate_gradient`: CG (Hestenes and Stiefel 1952) for a positive definite system; it
  stops, and says so, at the first direction of non-positive curvature p^T (A + shift I) p <= 0.
* :func:`minres`: MINRES (Paige and Saunders 1975) for any symmetric system, indefinite included:
  it minimizes the residual over the Krylov space, so it converges to the same solution a
  symmetric-indefinite factorization gives.

Both run on the device and in the dtype of ``b`` (scalars in Python floats, i.e. float64), take
``matvec(v) -> A v`` for a 1-D v, and stop when the relative residual ||b - (A + shift I) x|| /
||b|| (the recurrence's estimate) is at most ``tol``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["KrylovResult", "conjugate_gradient", "minres"]

Matvec = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class KrylovResult:
    """x, the iterations taken, the final relative residual (recurrence estimate), and why it stopped:
    ``"converged"``, ``"maxiter"`` or ``"negative-curvature"`` (CG only)."""

    x: torch.Tensor
    iterations: int
    residual: float
    status: str
    method: str

    @property
    def converged(self) -> bool:
        return self.status == "converged"


def conjugate_gradient(
    matvec: Matvec,
    b: torch.Tensor,
    *,
    shift: float = 0.0,
    x0: torch.Tensor | None = None,
    tol: float = 1e-3,
    maxiter: int = 500,
) -> KrylovResult:
    """CG on (A + shift I) x = b.

    With kappa the condition number of A + shift I, the A-norm error falls at least like
    2 ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^k (Nocedal and Wright, Thm 5.5), so about
    (sqrt(kappa) / 2) ln(2 / tol) iterations suffice.

    Example:
        >>> import torch
        >>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
        >>> r = conjugate_gradient(lambda v: A @ v, torch.tensor([1.0, 2.0], dtype=torch.float64), tol=1e-12)
        >>> [round(float(v), 6) for v in r.x], r.status, r.iterations
        ([0.090909, 0.636364], 'converged', 2)
    """
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - (matvec(x) + shift * x) if x0 is not None else b.clone()
    bnorm = float(b.norm())
    if bnorm == 0.0:
        return KrylovResult(torch.zeros_like(b), 0, 0.0, "converged", "cg")
    rr = float(r @ r)
    target = (tol * bnorm) ** 2
    if rr <= target:
        return KrylovResult(x, 0, math.sqrt(rr) / bnorm, "converged", "cg")
    p = r.clone()
    for k in range(1, maxiter + 1):
        ap = matvec(p) + shift * p
        curv = float(p @ ap)
        if not curv > 0.0:
            return KrylovResult(x, k, math.sqrt(rr) / bnorm, "negative-curvature", "cg")
        alpha = rr / curv
        x.add_(p, alpha=alpha)
        r.sub_(ap, alpha=alpha)
        rr_new = float(r @ r)
        if rr_new <= target:
            return KrylovResult(x, k, math.sqrt(rr_new) / bnorm, "converged", "cg")
        p.mul_(rr_new / rr).add_(r)
        rr = rr_new
    return KrylovResult(x, maxiter, math.sqrt(rr) / bnorm, "maxiter", "cg")


def minres(
    matvec: Matvec,
    b: torch.Tensor,
    *,
    shift: float = 0.0,
    x0: torch.Tensor | None = None,
    tol: float = 1e-3,
    maxiter: int = 500,
) -> KrylovResult:
    """MINRES on (A + shift I) x = b for a symmetric, possibly indefinite A (Paige and Saunders 1975).

    The Lanczos process on A + shift I with Givens rotations of its tridiagonal: x_k minimizes
    ||b - (A + shift I) x|| over x0 + K_k; the residual norm is known from the rotations at no
    extra cost.

    Example:
        >>> import torch
        >>> A = torch.diag(torch.tensor([-2.0, 1.0, 3.0], dtype=torch.float64))
        >>> r = minres(lambda v: A @ v, torch.ones(3, dtype=torch.float64), tol=1e-12)
        >>> [round(float(v), 6) for v in r.x], r.status
        ([-0.5, 1.0, 0.333333], 'converged')
    """
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r1 = b - (matvec(x) + shift * x) if x0 is not None else b.clone()
    bnorm = float(b.norm())
    if bnorm == 0.0:
        return KrylovResult(torch.zeros_like(b), 0, 0.0, "converged", "minres")
    beta1 = float(r1.norm())
    if beta1 <= tol * bnorm:
        return KrylovResult(x, 0, beta1 / bnorm, "converged", "minres")
    y = r1.clone()
    r2 = r1.clone()
    w = torch.zeros_like(b)
    w2 = torch.zeros_like(b)
    oldb, beta, dbar, epsln, phibar = 0.0, beta1, 0.0, 0.0, beta1
    cs, sn = -1.0, 0.0
    tiny = torch.finfo(b.dtype).eps
    for k in range(1, maxiter + 1):
        v = y / beta
        y = matvec(v) + shift * v
        if k >= 2:
            y = y - (beta / oldb) * r1
        alfa = float(v @ y)
        y = y - (alfa / beta) * r2
        r1, r2 = r2, y
        oldb, beta = beta, float(y.norm())
        # apply the previous rotation, then make and apply the next one
        oldeps = epsln
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        gamma = max(math.hypot(gbar, beta), tiny)
        cs, sn = gbar / gamma, beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        w1, w2 = w2, w
        w = (v - oldeps * w1 - delta * w2) / gamma
        x = x + phi * w
        if phibar <= tol * bnorm:
            return KrylovResult(x, k, phibar / bnorm, "converged", "minres")
        if beta == 0.0:  # invariant subspace: x is exact in it
            return KrylovResult(x, k, phibar / bnorm, "converged", "minres")
    return KrylovResult(x, maxiter, phibar / bnorm, "maxiter", "minres")
