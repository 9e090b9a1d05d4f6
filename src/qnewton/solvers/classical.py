"""The classical route: a LAPACK factorization and two triangular solves, never an inverse.

For an SPD block (what a regularized Hessian should be) the solve is a Cholesky factorization,
LAPACK ``?potrf`` through torch or scipy, whichever is faster at that size here (REFERENCE.md
section 7 measured scipy ahead up to N ~ 2000 and torch from N ~ 4000; re-measured here they are
within 10 % of each other, see :data:`TORCH_FROM_N` and ``benchmarks/solvers.py``). An explicit
inverse (the public reference code's path, ``inv(H) @ g``) costs 3.5-6x a Cholesky and is less
accurate; it is not offered.

When the block is not positive definite (a Hessian near a saddle, regularized too little) the
factorization fails; the solver then issues :class:`~qnewton.errors.IndefiniteMatrixWarning` and
applies the configured fallback:

* ``"ldl"`` (default): symmetric-indefinite Bunch-Kaufman factorization (LAPACK ``?sysv``), which
  returns the exact Newton step H^{-1} g of the indefinite block, as the paper's LU solve would;
* ``"eigh-abs"``: the eigendecomposition with |lambda| in place of lambda (saddle-free Newton,
  Dauphin et al. 2014), floored at ``abs_floor * max|lambda|``: always a descent direction;
* ``"raise"``: :class:`~qnewton.errors.NotPositiveDefiniteError`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import torch

from .._device import accelerated, clock
from .._validation import check_positive
from ..errors import (
    IllConditionedWarning,
    IndefiniteMatrixWarning,
    InvalidArgumentError,
    NonFiniteError,
    NotPositiveDefiniteError,
    ShapeError,
    SingularMatrixError,
)
from ._system import System, as_system, check_torch_system, relative_residual
from .base import RouteKind, SolveReport, SolveResult

__all__ = ["CholeskySolver"]

Backend = Literal["auto", "torch", "scipy"]
Fallback = Literal["ldl", "eigh-abs", "raise"]

#: float32 blocks from this size use torch's Cholesky, smaller ones and every float64 block scipy's:
#: measured here (benchmarks/solvers.py, part 3), the two are within 10 % of each other, torch ahead
#: in float32 from N ~ 2000 and scipy ahead in float64 from N ~ 3000.
TORCH_FROM_N = {np.dtype(np.float32): 2000, np.dtype(np.float64): 10**9}


@dataclass(frozen=True)
class CholeskySolver:
    """Classical solve of H x = g by Cholesky (SPD) with a documented indefinite fallback.

    Attributes:
        backend: ``"auto"`` (the faster one measured here, see :data:`TORCH_FROM_N`), ``"torch"`` or
            ``"scipy"``.
        indefinite: fallback when H is not positive definite (``"ldl"``, ``"eigh-abs"``, ``"raise"``).
        abs_floor: relative eigenvalue floor of the ``"eigh-abs"`` fallback.
        compute_residual: report ||H x - g|| / ||g|| (one extra matvec).
        symmetry_rtol: tolerance of the symmetry check (None: dtype default).

    Example:
        >>> import numpy as np
        >>> x, report = CholeskySolver().solve(np.array([[4.0, 1.0], [1.0, 3.0]]), np.array([1.0, 2.0]))
        >>> np.round(x, 6).tolist(), report.route, report.details["factorization"]
        ([0.090909, 0.636364], 'classical', 'cholesky')
    """

    backend: Backend = "auto"
    indefinite: Fallback = "ldl"
    abs_floor: float = 1e-8
    compute_residual: bool = True
    symmetry_rtol: float | None = None

    name: ClassVar[str] = "cholesky"
    route: ClassVar[RouteKind] = "classical"

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "torch", "scipy"):
            raise InvalidArgumentError(f"`backend` must be 'auto', 'torch' or 'scipy', got {self.backend!r}.")
        if self.indefinite not in ("ldl", "eigh-abs", "raise"):
            raise InvalidArgumentError(f"`indefinite` must be 'ldl', 'eigh-abs' or 'raise', got {self.indefinite!r}.")
        check_positive(self.abs_floor, "abs_floor")

    def solve(self, H, g, *, shift: float = 0.0) -> SolveResult:
        """Solve (H + shift I) x = g (g of shape (N,) or (N, k)); x comes back in g's kind and dtype.

        ``shift`` is the regularization eps: passing it here instead of a regularized copy saves one
        N x N copy (the solver factors its own shifted copy in place). A torch ``H`` on an
        accelerator is solved there (``torch.linalg``: Cholesky, LDL or eigh), never copied to the
        host; a CPU tensor is factored by torch (one BLAS thread pool per step), numpy input by the
        faster of scipy and torch at its size (:data:`TORCH_FROM_N`).
        """
        if accelerated(H) and not sp.issparse(H):
            return self._solve_torch(H, g, shift)
        from_torch = isinstance(H, torch.Tensor)
        sys_ = as_system(H, g, symmetry_rtol=self.symmetry_rtol)
        h: np.ndarray = sys_.h.toarray() if isinstance(sys_.h, sp.spmatrix | sp.sparray) else sys_.h
        backend = self.backend
        if backend == "auto":
            # a torch block (a training step) stays on torch's LAPACK: scipy's OpenBLAS keeps its own
            # thread pool spinning after each call, and beside torch's pool on a small machine every
            # later small op of the step waits for a core (measured on 2 idle cores: 0.047-0.052 ->
            # 0.013-0.014 s per Newton step of the paper's DNN in training; benchmarks/step_in_training.py)
            backend = "torch" if from_torch or sys_.n >= TORCH_FROM_N.get(h.dtype, 10**9) else "scipy"
        t0 = time.perf_counter()
        work = h.copy()  # the factorization overwrites it; H itself is left alone
        if shift:
            work.flat[:: sys_.n + 1] += work.dtype.type(shift)
        x = _cholesky_solve(work, sys_.b, backend, overwrite=True)
        details: dict = {"backend": backend, "factorization": "cholesky", "fallback": None, "shift": shift}
        if x is None:
            work = h.copy()
            if shift:
                work.flat[:: sys_.n + 1] += work.dtype.type(shift)
            x = self._fallback(work, sys_, details)
        del work
        seconds = time.perf_counter() - t0
        residual = relative_residual(h, x, sys_.b, shift) if self.compute_residual else None
        report = SolveReport(self.name, "classical", sys_.n, seconds, None, residual, details)
        return SolveResult(sys_.wrap(x), report)

    def _solve_torch(self, H: torch.Tensor, g: Any, shift: float) -> SolveResult:
        h = check_torch_system(H, "H", self.symmetry_rtol)
        n = h.shape[0]
        b = torch.as_tensor(g).to(device=h.device, dtype=h.dtype)
        if b.ndim not in (1, 2) or b.shape[0] != n:
            raise ShapeError(f"`g` must have shape ({n},) or ({n}, k) to match `H` ({n} x {n}), got {tuple(b.shape)}.")
        if not bool(torch.isfinite(b).all()):
            raise NonFiniteError("`g` has NaN/Inf entries.")
        t0 = clock(h.device)
        work = h.clone()
        work.diagonal().add_(shift)
        details: dict[str, Any] = {"backend": f"torch ({h.device})", "factorization": "cholesky", "fallback": None}
        details["shift"] = shift
        factor, info = torch.linalg.cholesky_ex(work)
        rhs = b.reshape(n, -1)
        if int(info) == 0:
            x = torch.cholesky_solve(rhs, factor)
        else:
            if self.indefinite == "raise":
                raise NotPositiveDefiniteError(
                    f"`H` ({n} x {n}) is not positive definite (Cholesky failed). Regularize it more (H + eps*I "
                    f"with a larger eps) or choose indefinite='ldl' or 'eigh-abs'."
                )
            warnings.warn(
                f"H ({n} x {n}) is not positive definite; solved with the {self.indefinite!r} fallback. A larger "
                f"regularization eps makes the block SPD.",
                IndefiniteMatrixWarning,
                stacklevel=3,
            )
            details["fallback"] = self.indefinite
            if self.indefinite == "ldl":
                details["factorization"] = "ldl (torch.linalg.ldl_factor)"
                ld, piv, info2 = torch.linalg.ldl_factor_ex(work)
                if int(info2) != 0:
                    raise SingularMatrixError(f"`H` ({n} x {n}) is singular; regularize it (H + eps*I).")
                x = torch.linalg.ldl_solve(ld, piv, rhs)
            else:
                details["factorization"] = "eigh, |lambda| (saddle-free)"
                lam, v = torch.linalg.eigh(work.double())
                mags = lam.abs().clamp_min(self.abs_floor * max(float(lam.abs().max()), 1e-300))
                details["negative_eigenvalues"] = int((lam < 0).sum())
                x = (v @ ((v.T @ rhs.double()) / mags[:, None])).to(h.dtype)
        x = x.reshape(b.shape)
        seconds = clock(h.device) - t0
        residual = None
        if self.compute_residual:
            r = (h.double() @ x.double().reshape(n, -1)).reshape(b.shape) + shift * x.double() - b.double()
            nb = float(b.double().norm())
            residual = float(r.norm()) / nb if nb > 0 else float(r.norm())
        report = SolveReport(self.name, "classical", n, seconds, None, residual, details)
        if isinstance(g, torch.Tensor):
            return SolveResult(x.to(g.device), report)
        return SolveResult(x.cpu().numpy(), report)

    def _fallback(self, h: np.ndarray, sys_: System, details: dict) -> np.ndarray:
        if self.indefinite == "raise":
            raise NotPositiveDefiniteError(
                f"`H` ({sys_.n} x {sys_.n}) is not positive definite (Cholesky failed). Regularize it "
                f"more (H + eps*I with a larger eps) or choose indefinite='ldl' or 'eigh-abs'."
            )
        warnings.warn(
            f"H ({sys_.n} x {sys_.n}) is not positive definite; solved with the {self.indefinite!r} "
            f"fallback. A larger regularization eps makes the block SPD.",
            IndefiniteMatrixWarning,
            stacklevel=3,
        )
        details["fallback"] = self.indefinite
        if self.indefinite == "ldl":
            details["factorization"] = "ldl (Bunch-Kaufman, ?sysv)"
            with warnings.catch_warnings():
                warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
                try:
                    return scipy.linalg.solve(h, sys_.b, assume_a="sym", check_finite=False)
                except scipy.linalg.LinAlgWarning as w:
                    warnings.warn(f"H is ill-conditioned: {w}", IllConditionedWarning, stacklevel=4)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                        return scipy.linalg.solve(h, sys_.b, assume_a="sym", check_finite=False)
                except np.linalg.LinAlgError as exc:
                    raise SingularMatrixError(
                        f"`H` ({sys_.n} x {sys_.n}) is singular ({exc}); regularize it (H + eps*I)."
                    ) from exc
        details["factorization"] = "eigh, |lambda| (saddle-free)"
        lam, v = np.linalg.eigh(h.astype(np.float64))
        mags = np.maximum(np.abs(lam), self.abs_floor * max(np.abs(lam).max(), np.finfo(float).tiny))
        details["negative_eigenvalues"] = int((lam < 0).sum())
        b = sys_.b.astype(np.float64)
        coef = v.T @ b
        coef = coef / (mags if b.ndim == 1 else mags[:, None])
        return (v @ coef).astype(h.dtype)


def _cholesky_solve(h: np.ndarray, b: np.ndarray, backend: str, overwrite: bool = False) -> np.ndarray | None:
    """x from a Cholesky factorization, or None when H is not positive definite. With
    ``overwrite`` the scipy path factors ``h`` in place (no internal copy)."""
    if backend == "torch":
        ht = torch.from_numpy(np.ascontiguousarray(h))
        factor, info = torch.linalg.cholesky_ex(ht)
        if int(info) != 0:
            return None
        bt = torch.from_numpy(np.ascontiguousarray(b))
        x = torch.cholesky_solve(bt.reshape(len(b), -1), factor)
        return x.reshape(b.shape).numpy()
    try:
        c = scipy.linalg.cho_factor(h, lower=True, check_finite=False, overwrite_a=overwrite)
    except np.linalg.LinAlgError:
        return None
    x = scipy.linalg.cho_solve(c, b, check_finite=False)
    if not np.all(np.isfinite(x)):  # a pivot so small the solve overflowed: treat as not PD
        return None
    return x
