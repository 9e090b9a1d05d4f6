"""The hybrid scheduler (Q-Newton paper, Algorithm 2, lines 5-16), one block at a time.

For each Hessian block: regularize, and, when the quantum route must be priced, prune to oracle
sparsity d and estimate the pruned block's condition number; price both routes with the cost
models; choose (policy ``hybrid``: the cheaper; ``classical``/``quantum``: the paper's baselines);
solve; and log a :class:`DecisionRecord` that explains the choice.

A block is an independent unit of work (:class:`BlockTask` in, :class:`BlockOutcome` out): the
noise of the emulated QLSA is seeded by (seed, step, block index), so blocks can be solved in any
order or in other processes with identical results.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._arrays import ArrayLike, as_numpy
from ..cost import CostEstimate, block_encoding_alpha
from ..errors import ClampedRangeWarning, NotPositiveDefiniteError
from ..linalg import (
    ConditionEstimate,
    estimate_condition,
    lanczos_extremes,
    oracle_sparsity,
    prune_rows,
    prune_symmetric,
    quantum_sparsity,
    regularization_shift,
    regularize,
)
from ..solvers import EmulatedQLSASolver, SolveReport, SolveResult
from .config import SchedulerConfig
from .records import DecisionRecord

__all__ = ["BlockOutcome", "BlockTask", "QuantumPlan", "Scheduler"]


@dataclass(frozen=True)
class BlockTask:
    """One block to route and solve: its (unregularized) curvature H and gradient g."""

    step: int
    index: int
    name: str
    H: ArrayLike
    g: ArrayLike


@dataclass(frozen=True)
class BlockOutcome:
    """The block's Newton direction x ~ (H + eps I)^{-1} g (in g's kind) and the record."""

    direction: ArrayLike
    record: DecisionRecord


@dataclass(frozen=True)
class QuantumPlan:
    """What the quantum route would run: the pruned, regularized block and its price."""

    matrix: np.ndarray | sp.csr_matrix
    d_requested: int
    d: int
    kappa: ConditionEstimate
    alpha: float
    norm2: float | None
    cost: CostEstimate
    prune_seconds: float
    notes: str
    pd_shift: float = 0.0


class Scheduler:
    """Routes and solves Hessian blocks as configured by a :class:`SchedulerConfig`."""

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        mode = "noisy" if self.config.quantum_solver == "emulated-noisy" else "ideal"
        self.emulator = EmulatedQLSASolver(mode, cost_model=self.config.quantum_cost, seed=self.config.seed)
        self._circuit = None

    # -- pricing ------------------------------------------------------------------------------
    def classical_price(self, n: int) -> CostEstimate:
        return self.config.classical_cost.estimate(n)

    def quantum_plan(self, hr: np.ndarray, shift: float) -> QuantumPlan:
        """Prune the regularized block to d, estimate its kappa, and price the quantum route."""
        cfg = self.config
        n = hr.shape[0]
        notes = []
        t0 = time.perf_counter()
        profile = quantum_sparsity(hr, cfg.sparsity.p) if cfg.sparsity.p is not None else None
        d_req = cfg.sparsity.resolve(n, profile)
        if d_req < n and cfg.pruning == "rows":
            matrix = prune_rows(hr, d_req)
            notes.append("row-wise pruning (reference baseline): not symmetric, solved by LU")
        elif d_req < n:
            matrix = prune_symmetric(hr, d_req, sparse=d_req / n <= cfg.sparse_threshold)
        else:
            matrix = hr
        prune_s = time.perf_counter() - t0
        pd_shift = 0.0
        if cfg.pruning == "rows":
            kappa = estimate_condition(matrix, "exact" if n <= cfg.exact_limit else "merikoski")
        elif cfg.pruned_indefinite == "shift":
            matrix, pd_shift, kappa = self._make_definite(matrix, shift, notes)
        else:
            kappa = None
        d = max(1, oracle_sparsity(matrix))
        if kappa is None:
            kappa = self._kappa(matrix, shift, notes)
        norm2 = kappa.details.get("lambda_max") if kappa.method == "lanczos" else kappa.details.get("sigma_max")
        if math.isfinite(kappa.value):
            with warnings.catch_warnings(record=True) as caught:
                # out-of-range inputs are clamped by the cost model; the record keeps the message
                warnings.simplefilter("always", ClampedRangeWarning)
                alpha = block_encoding_alpha(matrix, d, norm2=norm2, symmetric=cfg.pruning != "rows")
                cost = cfg.quantum_cost.estimate(n, kappa=max(kappa.value, 1.0), d=d, alpha=alpha)
            for w in caught:
                if issubclass(w.category, ClampedRangeWarning):
                    notes.append(f"cost model: {w.message}")
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            alpha = math.inf
            cost = CostEstimate(
                "quantum",
                cfg.quantum_cost.name,
                "modeled",
                math.inf,
                n,
                details={"reason": "the pruned block is singular (kappa = inf)"},
            )
            notes.append("pruned block singular: quantum route unavailable")
        return QuantumPlan(matrix, d_req, d, kappa, alpha, norm2, cost, prune_s, "; ".join(notes), pd_shift)

    def _make_definite(self, matrix, shift: float, notes: list[str]):
        """Restore the regularization's guarantee lambda_min >= eps on the pruned block.

        Pruning a positive definite block can make it indefinite (dropping off-diagonal mass moves
        eigenvalues by up to ||H_r - P||_2; on the paper's DNN Hessian by ~50x eps). The extreme
        eigenvalues come from one Lanczos run on the (sparse) block; if the smallest is below eps,
        the block is shifted by delta = eps - (lambda_min - residual) so its smallest eigenvalue is
        at least eps again. Returns (block, delta, kappa estimate if the method is Lanczos).
        """
        cfg = self.config
        t0 = time.perf_counter()
        ext = lanczos_extremes(matrix, tol=1e-2)
        low = ext.lambda_min - ext.residual_min  # conservative: Ritz values sit above the spectrum
        delta = max(0.0, shift - low)
        if delta > 0:
            n = matrix.shape[0]
            if sp.issparse(matrix):
                matrix = (matrix + delta * sp.identity(n, dtype=matrix.dtype, format="csr")).tocsr()
            else:
                matrix = matrix + matrix.dtype.type(delta) * np.eye(n, dtype=matrix.dtype)
            notes.append(
                f"pruned block had lambda_min ~ {ext.lambda_min:.3g} < eps: shifted by {delta:.3g} "
                f"to keep it positive definite"
            )
        seconds = time.perf_counter() - t0
        if cfg.kappa_method != "lanczos":
            return matrix, delta, None
        lo, hi = ext.lambda_min + delta, ext.lambda_max + delta
        est = ConditionEstimate(
            hi / lo,
            math.log(hi) - math.log(lo),
            "lanczos",
            False,
            seconds=seconds,
            details={
                "lambda_min": lo,
                "lambda_max": hi,
                "steps": ext.steps,
                "converged": ext.converged,
                "residual_min": ext.residual_min,
                "residual_max": ext.residual_max,
            },
        )
        return matrix, delta, est

    def _kappa(self, matrix, shift: float, notes: list[str]) -> ConditionEstimate:
        cfg = self.config
        n = matrix.shape[0]
        opts: dict[str, Any] = {"eps": shift} if cfg.kappa_method == "gershgorin" else {}
        dense_only = cfg.kappa_method in ("exact", "merikoski")
        m = matrix.toarray() if (dense_only and sp.issparse(matrix)) else matrix
        try:
            return estimate_condition(m, cfg.kappa_method, **opts)
        except NotPositiveDefiniteError:
            fallback = "exact" if n <= cfg.exact_limit else "merikoski"
            notes.append(f"pruned block indefinite: kappa by {fallback} instead of {cfg.kappa_method}")
            dense = matrix.toarray() if sp.issparse(matrix) else matrix
            return estimate_condition(dense, fallback)

    # -- one block ----------------------------------------------------------------------------
    def run(self, task: BlockTask) -> BlockOutcome:
        """Route and solve one block; see the module docstring."""
        cfg = self.config
        h, _ = as_numpy(task.H, "H")
        n = h.shape[0]
        shift = regularization_shift(h, cfg.regularization.eps, cfg.regularization.relative)
        classical = self.classical_price(n)
        plan = None
        if cfg.policy != "classical" or cfg.price_both:
            plan = self.quantum_plan(regularize(h, shift), shift)

        if cfg.policy == "classical":
            route, reason = "classical", "policy=classical"
        elif cfg.policy == "quantum":
            route, reason = "quantum", "policy=quantum"
        else:
            assert plan is not None
            q, c = float(plan.cost.seconds), float(classical.seconds)
            route = "quantum" if q < c else "classical"
            reason = f"hybrid: {route} cheaper (quantum {q:.3g} s modeled vs classical {c:.3g} s {classical.basis})"

        if route == "classical":
            result = cfg.classical_solver.solve(h, task.g, shift=shift)
        else:
            assert plan is not None
            result = self._solve_quantum(task, plan)

        rep = result.report
        x, _ = as_numpy(result.x, "x")
        modeled = rep.modeled_seconds
        record = DecisionRecord(
            step=task.step,
            block=task.name,
            n=n,
            policy=cfg.policy,
            route=route,
            reason=reason,
            eps=shift,
            pd_shift=plan.pd_shift if plan else 0.0,
            kappa=plan.kappa.value if plan else None,
            log_kappa=plan.kappa.log_value if plan else None,
            kappa_method=plan.kappa.method if plan else None,
            kappa_upper_bound=plan.kappa.upper_bound if plan else None,
            kappa_measured_s=plan.kappa.seconds if plan else 0.0,
            d_requested=plan.d_requested if plan else None,
            d=plan.d if plan else None,
            alpha=plan.alpha if plan else None,
            prune_measured_s=plan.prune_seconds if plan else 0.0,
            classical_cost_s=float(classical.seconds),
            classical_cost_basis=classical.basis,
            quantum_cost_s=float(plan.cost.seconds) if plan else None,
            quantum_queries=float(plan.cost.queries) if plan and plan.cost.queries is not None else None,
            quantum_qubits=plan.cost.qubits if plan else None,
            solver=rep.solver,
            solve_measured_s=rep.measured_seconds,
            solve_modeled_s=modeled,
            step_time_s=modeled if (route == "quantum" and modeled is not None) else rep.measured_seconds,
            step_time_basis="modeled" if (route == "quantum" and modeled is not None) else "measured",
            residual=rep.residual,
            update_norm=float(np.linalg.norm(x)),
            notes=plan.notes if plan else "",
            extra={k: v for k, v in rep.details.items() if k != "cost"},
        )
        return BlockOutcome(result.x, record)

    def _solve_quantum(self, task: BlockTask, plan: QuantumPlan) -> SolveResult:
        cfg = self.config
        if cfg.pruning == "rows":  # the non-symmetric baseline: what the reference code solved
            g, kind = as_numpy(task.g, "g")
            t0 = time.perf_counter()
            x = np.linalg.solve(plan.matrix.astype(np.float64), g.astype(np.float64)).astype(g.dtype)
            rep = SolveReport(
                "row-pruned-lu (baseline)",
                "quantum",
                plan.matrix.shape[0],
                time.perf_counter() - t0,
                float(plan.cost.seconds),
                None,
                {"pruning": "rows"},
            )
            return SolveResult(kind.wrap(x), rep)
        if cfg.quantum_solver == "circuit" and plan.matrix.shape[0] <= 16:
            if self._circuit is None:
                from ..solvers.circuit import QSVTCircuitSolver

                self._circuit = QSVTCircuitSolver()
            m = plan.matrix.toarray() if sp.issparse(plan.matrix) else plan.matrix
            res = self._circuit.solve(m, task.g)
            # the circuit reports its own simulation time; the modeled QLSA time is the plan's
            rep = res.report
            if rep.modeled_seconds is None:
                from dataclasses import replace

                rep = replace(rep, modeled_seconds=float(plan.cost.seconds))
            return SolveResult(res.x, rep)
        rng = np.random.default_rng([cfg.seed, task.step, task.index])
        return self.emulator.solve(plan.matrix, task.g, rng=rng, cost=plan.cost)
