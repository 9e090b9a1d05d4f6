r"""Solve the Carleman block system with the project's solvers, and what it would cost a QLSA.

The system L Y = r is not symmetric, while the project's solvers take symmetric matrices (a
Hessian block). Two standard reductions are used, each where it fits:

* **Hermitian embedding** (quantum routes: emulated QLSA, QSVT circuit), as HHL does for a
  non-Hermitian matrix (Harrow, Hassidim, Lloyd, PRL 103 (2009) 150502, "Non-Hermitian matrices"):

  .. math::  E = \begin{pmatrix} 0 & L \\ L^T & 0 \end{pmatrix},\qquad
             E \begin{pmatrix} u \\ Y \end{pmatrix} = \begin{pmatrix} r \\ 0 \end{pmatrix}
             \iff L Y = r,\ L^T u = 0 \ (u = 0).

  E is symmetric *indefinite* with eigenvalues :math:`\pm\sigma_i(L)`, so kappa(E) = kappa(L):
  the embedding doubles the size (one more qubit) but keeps the condition number that the QLSA
  cost depends on.
* **Normal equations** L^T L Y = L^T r (classical route, :class:`~qnewton.solvers.CholeskySolver`):
  symmetric positive definite, which Cholesky needs, at the price kappa(L)^2; fine in float64 for
  the small systems it is used on.

``solver="direct"`` solves L Y = r by sparse LU (SuperLU); it is the classical reference, and what a
classical computer would do (it amounts to running the truncated recursion step by step).

Modeled QLSA cost (:class:`qnewton.cost.QuantumCostModel`, Jennings et al. v1 Thm 1 by default,
REFERENCE.md sections 2-4): the embedded system's size, its condition number kappa(L) (computed
here), the oracle sparsity d (largest row count of E) and the block-encoding factor
alpha = d max|E_ij| / ||L||_2.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..cost import CostEstimate, QuantumCostModel, block_encoding_alpha, max_row_nnz
from ..errors import CircuitTooLargeError, InvalidArgumentError, NonFiniteError
from ..linalg import lanczos_extremes, spectral_norm
from ..solvers import (
    MAX_CIRCUIT_N,
    CholeskySolver,
    EmulatedQLSASolver,
    QSVTCircuitSolver,
    SolveReport,
)
from .linearization import CarlemanSystem

__all__ = [
    "MAX_NORMAL_EQUATIONS_N",
    "SOLVERS",
    "CarlemanSolution",
    "Conditioning",
    "condition_number",
    "hermitian_embedding",
    "price_carleman_system",
    "solve_carleman",
]

#: Names accepted by :func:`solve_carleman`.
SOLVERS: tuple[str, ...] = ("direct", "cholesky", "emulated", "emulated-noisy", "circuit")
#: Largest system the dense normal-equations route (CholeskySolver) accepts.
MAX_NORMAL_EQUATIONS_N = 4000
#: Systems up to this size get an exact (dense SVD) condition number.
EXACT_CONDITION_N = 2500


def hermitian_embedding(L: Any) -> sp.csr_matrix:
    """E = [[0, L], [L^T, 0]] (CSR), symmetric with eigenvalues +-sigma_i(L).

    Example:
        >>> E = hermitian_embedding(sp.csr_matrix([[1.0, 0.0], [-2.0, 1.0]]))
        >>> E.toarray().tolist()[1], bool(abs(E - E.T).max() == 0)
        ([0.0, 0.0, -2.0, 1.0], True)
    """
    L = sp.csr_matrix(L, dtype=np.float64)
    return sp.bmat([[None, L], [L.T, None]], format="csr")


@dataclass(frozen=True)
class Conditioning:
    """sigma_max, sigma_min and kappa = sigma_max / sigma_min of L; ``method`` says how."""

    sigma_max: float
    sigma_min: float
    method: str

    @property
    def kappa(self) -> float:
        return self.sigma_max / self.sigma_min if self.sigma_min > 0 else math.inf


def condition_number(L: Any, *, exact_max: int = EXACT_CONDITION_N, tol: float = 1e-6) -> Conditioning:
    """2-norm condition number of a (non-symmetric) sparse L.

    Dense SVD up to ``exact_max`` unknowns; beyond, sigma_max by Lanczos on L^T L
    (:func:`qnewton.linalg.spectral_norm`) and sigma_min by Lanczos on (L^T L)^{-1} = L^{-1} L^{-T},
    applied with one sparse LU factorization of L (so 1/sigma_min^2 is its largest eigenvalue:
    Lanczos converges fast at that end).

    Example:
        >>> round(condition_number(sp.csr_matrix(np.diag([1.0, 4.0]))).kappa, 12)
        4.0
    """
    L = sp.csr_matrix(L, dtype=np.float64)
    n = L.shape[0]
    if n <= exact_max:
        s = scipy.linalg.svdvals(L.toarray())
        return Conditioning(float(s[0]), float(s[-1]), "exact (dense SVD)")
    smax = spectral_norm(L, symmetric=False, tol=tol)
    lu = spla.splu(L.tocsc())

    def inv_normal(v: np.ndarray) -> np.ndarray:
        return lu.solve(lu.solve(v, trans="T"))

    r = lanczos_extremes(inv_normal, n=n, tol=tol, max_steps=300)
    smin = 1.0 / math.sqrt(r.lambda_max) if r.lambda_max > 0 else 0.0
    return Conditioning(float(smax), float(smin), "Lanczos on L^T L and on (L^T L)^-1 (sparse LU)")


def price_carleman_system(
    system: CarlemanSystem, cost_model: QuantumCostModel | None = None, conditioning: Conditioning | None = None
) -> tuple[CostEstimate, dict[str, Any]]:
    """Modeled QLSA cost of solving the system through its Hermitian embedding.

    Returns the :class:`~qnewton.cost.CostEstimate` (basis ``"modeled"``) and the inputs used
    (N of the embedding, kappa, d, alpha, sigma_max/min).
    """
    cm = cost_model or QuantumCostModel()
    cond = conditioning or condition_number(system.L)
    E = hermitian_embedding(system.L)
    d = max_row_nnz(E)
    alpha = block_encoding_alpha(E, d, norm2=cond.sigma_max)
    est = cm.estimate(E.shape[0], kappa=max(cond.kappa, 1.0), d=d, alpha=alpha)
    facts = {
        "embedding_n": int(E.shape[0]),
        "kappa": cond.kappa,
        "kappa_method": cond.method,
        "sigma_max": cond.sigma_max,
        "sigma_min": cond.sigma_min,
        "d": int(d),
        "alpha": float(alpha),
        "nnz": int(system.L.nnz),
    }
    return est, facts


@dataclass(frozen=True)
class CarlemanSolution:
    """The solved system.

    Attributes:
        Y: (T + 1 + idle, N_C) solution blocks y(t).
        theta: (T + 1, n) parameter trajectory read from Y (center + y_1(t)).
        report: the solver's :class:`~qnewton.solvers.SolveReport` (for "direct", one built here).
        form: ``"direct"`` (LU on L), ``"normal"`` (L^T L) or ``"embedding"`` ([[0, L], [L^T, 0]]).
        residual: ||L Y - r|| / ||r|| on the original system.
        cost: modeled QLSA cost of the system (quantum routes; None for classical ones unless asked).
        facts: kappa, d, alpha, sizes.
    """

    Y: np.ndarray
    theta: np.ndarray
    report: SolveReport
    form: str
    residual: float
    cost: CostEstimate | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def _solver_from(solver: Any, cost_model: QuantumCostModel, seed: int) -> tuple[Any, str]:
    if isinstance(solver, str):
        if solver not in SOLVERS:
            raise InvalidArgumentError(f"`solver` must be one of {SOLVERS} or a solver object, got {solver!r}.")
        if solver == "direct":
            return None, "direct"
        if solver == "cholesky":
            return CholeskySolver(), "normal"
        if solver == "emulated":
            return EmulatedQLSASolver(mode="ideal", cost_model=cost_model, seed=seed), "embedding"
        if solver == "emulated-noisy":
            return EmulatedQLSASolver(mode="noisy", cost_model=cost_model, seed=seed), "embedding"
        return QSVTCircuitSolver(eps=1e-3, resources=False, gate_time=cost_model.gate_time), "embedding"
    if isinstance(solver, CholeskySolver):
        return solver, "normal"
    if isinstance(solver, (EmulatedQLSASolver, QSVTCircuitSolver)):
        return solver, "embedding"
    raise InvalidArgumentError(
        f"`solver` must be one of {SOLVERS} or a CholeskySolver / EmulatedQLSASolver / QSVTCircuitSolver, got "
        f"{type(solver).__name__}."
    )


def solve_carleman(
    system: CarlemanSystem,
    solver: Any = "direct",
    *,
    cost_model: QuantumCostModel | None = None,
    price: bool | None = None,
    seed: int = 0,
) -> CarlemanSolution:
    """Solve the T-step Carleman system with one of the project's solvers.

    Args:
        system: from :func:`~qnewton.carleman.carleman_system`.
        solver: ``"direct"`` (sparse LU, classical reference), ``"cholesky"`` (CholeskySolver on the
            normal equations, N <= 4000), ``"emulated"`` / ``"emulated-noisy"`` (EmulatedQLSASolver
            on the Hermitian embedding, ideal or with the QLSA's eps-error and tomography noise),
            ``"circuit"`` (QSVTCircuitSolver on the embedding; needs 2N <= MAX_CIRCUIT_N = 256), or a solver object.
        cost_model: prices the quantum routes (default: the Q-Newton paper's model).
        price: compute the modeled QLSA cost (default: for quantum routes only).
        seed: noise seed of the emulated solver.

    Raises:
        CircuitTooLargeError: the circuit backend with an embedding larger than MAX_CIRCUIT_N (256).
        InvalidArgumentError: an unknown solver, or the normal equations beyond 4000 unknowns.
        NonFiniteError: the solve produced NaN/Inf.
    """
    if not isinstance(system, CarlemanSystem):
        raise InvalidArgumentError("`system` must be a CarlemanSystem from qnewton.carleman.carleman_system.")
    cm = cost_model or QuantumCostModel()
    obj, form = _solver_from(solver, cm, seed)
    N = system.size
    if isinstance(obj, QSVTCircuitSolver) and 2 * N > MAX_CIRCUIT_N:
        raise CircuitTooLargeError(
            f"the Carleman system has N = {N} unknowns, so its Hermitian embedding is {2 * N} x {2 * N}, beyond the "
            f"QSVT circuit backend's limit of {MAX_CIRCUIT_N} (N <= {MAX_CIRCUIT_N // 2}). Use solver='emulated' or "
            f"'direct', or shrink the system (fewer parameters n, lower `K`, fewer steps `T`)."
        )
    if form == "normal" and N > MAX_NORMAL_EQUATIONS_N:
        raise InvalidArgumentError(
            f"`solver`='cholesky' forms the dense normal equations; N = {N} > {MAX_NORMAL_EQUATIONS_N}. Use "
            f"solver='direct' (sparse LU) or 'emulated' for this system."
        )
    do_price = (form == "embedding") if price is None else bool(price)
    cost = None
    facts: dict[str, Any] = {"n_unknowns": N, "nnz": int(system.L.nnz)}
    if do_price:
        cost, more = price_carleman_system(system, cm)
        facts.update(more)

    if form == "direct":
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error", spla.MatrixRankWarning)
            Y = spla.spsolve(system.L.tocsc(), system.rhs)
        seconds = time.perf_counter() - t0
        res = system.residual(Y)
        report = SolveReport("sparse-lu", "classical", N, seconds, None, res, {"factorization": "SuperLU"})
    elif form == "normal":
        Ld = system.L.toarray()
        result = obj.solve(Ld.T @ Ld, Ld.T @ system.rhs)
        Y, report = np.asarray(result.x, dtype=np.float64), result.report
    else:
        E = hermitian_embedding(system.L)
        rhs = np.concatenate([system.rhs, np.zeros(N)])
        if isinstance(obj, QSVTCircuitSolver):
            result = obj.solve(E.toarray(), rhs)
        else:
            result = obj.solve(E, rhs, cost=cost) if cost is not None else obj.solve(E, rhs)
        Z = np.asarray(result.x, dtype=np.float64)
        Y, report = Z[N:], result.report
        facts["embedding_u_norm"] = float(np.linalg.norm(Z[:N]))  # 0 for an exact solve
    if not np.isfinite(Y).all():
        raise NonFiniteError(
            "the Carleman solve returned NaN/Inf; the system is too ill-conditioned (lower `eta`, `T` or `K`)."
        )
    return CarlemanSolution(
        Y=system.unpack(Y),
        theta=system.trajectory(Y),
        report=report,
        form=form,
        residual=system.residual(Y),
        cost=cost,
        facts=facts,
    )
