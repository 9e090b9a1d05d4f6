"""The quantum routes: ``qlsa`` (the paper's pruned QLSA, emulated) and ``qlsa-rows`` (the reference
code's row-pruned baseline).

``qlsa`` owns everything the quantum route does to a block before a QLSA could run (Q-Newton,
Algorithm 2, lines 5-16 and Sec. IV-C/D):

1. take the dense block C + eps I (the regularized system every route solves);
2. choose the oracle sparsity d (:class:`SparsitySpec`) and prune symmetrically to it;
3. restore definiteness lost to pruning (``pruned_indefinite="shift"``): pruning drops
   off-diagonal mass and can push eigenvalues below those of C + eps I. The route adds the
   smallest shift delta that brings the pruned block's lowest eigenvalue back to
   min(eps, lambda_min(C + eps I)): eps for a positive semidefinite C (GGN, Fisher, or a Hessian
   verified equal to its GGN), the unpruned block's own lowest eigenvalue otherwise. Nothing is
   shifted when nothing was pruned (d = N): the route then solves exactly the system the classical
   routes solve, for any signs of the eigenvalues;
4. estimate kappa of the block it would invert (one policy: :func:`qnewton.linalg.qlsa_condition`),
   the block-encoding scale alpha from d, and price it with the quantum cost model (modeled);
5. solve: the emulated QLSA (ideal: the exact solution of the pruned system; noisy: with the
   QLSA's state error and tomography), or the QSVT circuit for small blocks.

Steps 1-4 are classical pre-processing: measured, reported beside the modeled QLSA seconds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch

from .._arrays import as_numpy
from .._device import accelerated, clock
from .._jit import warm_up
from .._validation import check_fraction, check_int_range
from ..cost import CostEstimate, QuantumCostModel, block_encoding_alpha
from ..cost.estimate import RouteKind
from ..errors import ClampedRangeWarning, InvalidArgumentError
from ..linalg import (
    CONDITION_METHODS,
    ConditionEstimate,
    LanczosResult,
    lanczos_extremes,
    oracle_sparsity,
    prune_rows,
    prune_symmetric,
    qlsa_condition,
    quantum_sparsity,
)
from ..solvers import EmulatedQLSASolver, SolveReport, SolveResult
from .base import BlockSystem, Quote

__all__ = ["QLSARoute", "QuantumRouteConfig", "RowPrunedRoute", "SparsitySpec"]


@dataclass(frozen=True)
class SparsitySpec:
    """How the oracle sparsity d of a block's quantum route is chosen (exactly one way).

    * ``d``: a fixed number of nonzeros per row (capped at N);
    * ``ratio``: d = ceil(ratio * N);
    * ``p``: from the p%-sparsity profile of the block's rows (Q-Newton paper, Sec. IV-C: "the top
      contributing values, cumulatively accounting for 50 % of the total absolute value in each
      row"), reduced over rows by ``reduce`` (``"max"``: every row keeps its p share;
      ``"median"``; or a quantile in (0, 1]).
    * none of them: no pruning (d = N, the dense block).

    Example:
        >>> SparsitySpec(ratio=0.05).resolve(1000)
        50
    """

    d: int | None = None
    ratio: float | None = None
    p: float | None = None
    reduce: Literal["max", "median"] | float = "max"

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.d, self.ratio, self.p)]
        if sum(given) > 1:
            raise InvalidArgumentError("give at most one of `d`, `ratio` and `p` in SparsitySpec.")
        if self.d is not None:
            check_int_range(self.d, "d", 1, 2**62, "d is the number of nonzeros kept per row.")
        if self.ratio is not None:
            check_fraction(self.ratio, "ratio")
        if self.p is not None:
            check_fraction(self.p, "p")
        if not (self.reduce in ("max", "median") or (isinstance(self.reduce, float) and 0 < self.reduce <= 1)):
            raise InvalidArgumentError(
                f"`reduce` must be 'max', 'median' or a quantile in (0, 1], got {self.reduce!r}."
            )

    @property
    def prunes(self) -> bool:
        return self.d is not None or self.ratio is not None or self.p is not None

    def resolve(self, n: int, profile: Any = None) -> int:
        """d for an N x N block; ``profile`` is the rows' p%-sparsity when ``p`` is set."""
        if self.d is not None:
            return min(self.d, n)
        if self.ratio is not None:
            return max(1, min(n, math.ceil(self.ratio * n)))
        if self.p is not None:
            if profile is None:
                raise InvalidArgumentError("SparsitySpec(p=...) needs the rows' p%-sparsity profile.")
            prof = profile.detach().cpu().numpy() if isinstance(profile, torch.Tensor) else np.asarray(profile)
            if self.reduce == "max":
                val = prof.max()
            elif self.reduce == "median":
                val = np.median(prof)
            else:
                val = np.quantile(prof, float(self.reduce))
            return max(1, min(n, math.ceil(val)))
        return n


QuantumSolver = Literal["emulated-ideal", "emulated-noisy", "circuit"]


@dataclass(frozen=True)
class QuantumRouteConfig:
    """Options of the quantum routes.

    Attributes:
        sparsity: how d is chosen (default: the paper's 50 %-sparsity, max over rows).
        kappa_method: condition estimator of the block the QLSA inverts (a name of
            ``qnewton.linalg.CONDITION_METHODS``; ``"lanczos"``: accurate; ``"merikoski"``: the
            paper's bound). Indefinite blocks fall back to ``"exact"`` up to ``exact_limit`` and to
            ``"merikoski"`` above (said in the record).
        exact_limit: largest N for the SVD fallback.
        pruned_indefinite: ``"shift"`` (restore the definiteness pruning removed; see the module
            docstring) or ``"solve"`` (invert the pruned block as it is; a QLSA inverts Hermitian
            matrices of any signature, kappa = max|lambda| / min|lambda|).
        cost: the quantum cost model (anything with ``estimate(n, kappa, d, alpha=)`` returning a
            modeled :class:`~qnewton.cost.CostEstimate`): default the paper's
            :class:`~qnewton.cost.QuantumCostModel`.
        solver: ``"emulated-ideal"``, ``"emulated-noisy"`` or ``"circuit"`` (the QSVT
            state-vector simulation for small blocks; larger ones use the noisy emulator).
        sparse_threshold: the pruned block goes to the emulator as CSR when d/N is at most this.

    The noisy emulator's noise is seeded per (scheduler seed, step, block): see ``SchedulerConfig.seed``.
    """

    sparsity: SparsitySpec = field(default_factory=lambda: SparsitySpec(p=0.5))
    kappa_method: str = "lanczos"
    exact_limit: int = 2048
    pruned_indefinite: Literal["shift", "solve"] = "shift"
    cost: Any = field(default_factory=QuantumCostModel)
    solver: QuantumSolver = "emulated-ideal"
    sparse_threshold: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.sparsity, SparsitySpec):
            raise InvalidArgumentError("`sparsity` must be a SparsitySpec.")
        if self.kappa_method not in CONDITION_METHODS:
            raise InvalidArgumentError(
                f"`kappa_method` must be one of {sorted(CONDITION_METHODS)}, got {self.kappa_method!r}."
            )
        check_int_range(self.exact_limit, "exact_limit", 1, 10**6)
        if self.pruned_indefinite not in ("shift", "solve"):
            raise InvalidArgumentError(
                f"`pruned_indefinite` must be 'shift' or 'solve', got {self.pruned_indefinite!r}."
            )
        if not (callable(getattr(self.cost, "estimate", None)) and getattr(self.cost, "route", None) == "quantum"):
            raise InvalidArgumentError(
                "`cost` must be a quantum cost model (route 'quantum', estimate(n, kappa, d, alpha=...)), "
                "e.g. qnewton.cost.QuantumCostModel()."
            )
        if self.solver not in ("emulated-ideal", "emulated-noisy", "circuit"):
            raise InvalidArgumentError(
                f"`solver` must be 'emulated-ideal', 'emulated-noisy' or 'circuit', got {self.solver!r}."
            )
        check_fraction(self.sparse_threshold, "sparse_threshold")


@dataclass(frozen=True)
class _Plan:
    matrix: Any  # the block the QLSA inverts: ndarray or CSR
    pd_shift: float
    kappa: ConditionEstimate
    notes: str


def _regularized(system: BlockSystem, host: bool = False) -> Any:
    """C + eps I: a torch tensor on the block's device when it lives on an accelerator (the
    pruning, Lanczos and emulation then run there), else a numpy array (the numba kernels)."""
    H = system.curvature.dense()
    if accelerated(H) and not host:
        ht = H.detach().clone()
        ht.diagonal().add_(system.eps)
        return ht
    h, _ = as_numpy(H, "H")
    hr = np.array(h, copy=True)
    hr.flat[:: hr.shape[0] + 1] += hr.dtype.type(system.eps)
    return hr


def _add_diagonal(matrix: Any, delta: float) -> Any:
    """matrix + delta I for a numpy array, a scipy CSR matrix or a (dense or sparse) torch tensor."""
    n = matrix.shape[0]
    if sp.issparse(matrix):
        return (matrix + delta * sp.identity(n, dtype=matrix.dtype, format="csr")).tocsr()
    if isinstance(matrix, torch.Tensor):
        if matrix.layout == torch.strided:
            out = matrix.clone()
            out.diagonal().add_(delta)
            return out
        eye = torch.sparse_coo_tensor(
            torch.arange(n, device=matrix.device).repeat(2, 1),
            torch.full((n,), delta, dtype=matrix.dtype, device=matrix.device),
            (n, n),
        )
        return (matrix.to_sparse_coo() + eye).coalesce().to_sparse_csr()
    return matrix + matrix.dtype.type(delta) * np.eye(n, dtype=matrix.dtype)


def _price(
    cost_model: Any,
    n: int,
    kappa: ConditionEstimate,
    matrix: Any,
    d: int,
    norm2: Any,
    symmetric: bool,
    notes: list[str],
) -> tuple[float, CostEstimate]:
    if not math.isfinite(kappa.value):
        notes.append("the block is singular (kappa = inf): quantum route unavailable")
        est = CostEstimate(
            "quantum",
            getattr(cost_model, "name", "quantum"),
            "modeled",
            math.inf,
            n,
            details={"reason": "singular block (kappa = inf)"},
        )
        return math.inf, est
    with warnings.catch_warnings(record=True) as caught:
        # out-of-range inputs are clamped by the cost model; the record keeps the message
        warnings.simplefilter("always", ClampedRangeWarning)
        alpha = block_encoding_alpha(matrix, d, norm2=norm2, symmetric=symmetric)
        est = cost_model.estimate(n, kappa=max(kappa.value, 1.0), d=d, alpha=alpha)
    for w in caught:
        if issubclass(w.category, ClampedRangeWarning):
            notes.append(f"cost model: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return alpha, est


#: What a fault-tolerant cost model's estimate adds to the decision record (physical resources;
#: fields the record does not have go to its ``extra``).
_PHYSICAL = (
    "hardware",
    "data_loading",
    "code_distance",
    "physical_qubits",
    "t_factories",
    "logical_qubits",
    "toffolis_total",
    "t_count_total",
    "logical_cycle_time_s",
    "time_split",
)


def _quantum_record(
    plan_kappa: ConditionEstimate,
    d_req: int,
    d: int,
    alpha: float,
    prune_s: float,
    kappa_s: float,
    est: CostEstimate,
    pd_shift: float,
    notes: str,
) -> dict[str, Any]:
    physical = (
        {f"ft_{k}": est.details[k] for k in _PHYSICAL if k in est.details} if "code_distance" in est.details else {}
    )
    return {
        **physical,
        "pd_shift": pd_shift,
        "kappa": plan_kappa.value,
        "log_kappa": plan_kappa.log_value,
        "kappa_method": plan_kappa.method,
        "kappa_upper_bound": plan_kappa.upper_bound,
        "kappa_measured_s": kappa_s,
        "d_requested": d_req,
        "d": d,
        "alpha": alpha,
        "prune_measured_s": prune_s,
        "quantum_cost_s": float(est.seconds),
        "quantum_queries": float(est.queries) if est.queries is not None else None,
        "quantum_qubits": est.qubits,
        "quantum_notes": notes,
    }


@dataclass
class QLSARoute:
    """The paper's quantum route: prune, restore definiteness, estimate kappa, price, emulate."""

    config: QuantumRouteConfig = field(default_factory=QuantumRouteConfig)

    name: ClassVar[str] = "qlsa"
    kind: ClassVar[RouteKind] = "quantum"

    def __post_init__(self) -> None:
        cfg = self.config
        mode: Literal["ideal", "noisy"] = "noisy" if cfg.solver == "emulated-noisy" else "ideal"
        emu_cost = (
            cfg.cost
            if isinstance(cfg.cost, QuantumCostModel)
            else QuantumCostModel(
                eps=float(getattr(cfg.cost, "eps", 1e-12)),
                readout_precision=float(getattr(cfg.cost, "readout_precision", 0.1)),
            )
        )
        self.emulator = EmulatedQLSASolver(mode, cost_model=emu_cost)
        self._circuit: Any = None

    def quote(self, system: BlockSystem) -> Quote:
        cfg = self.config
        blk = system.curvature
        n = blk.n
        if not blk.dense_fits():
            return Quote.decline(
                self.name, self.kind, f"needs the dense {n} x {n} block to prune, which exceeds the memory budget"
            )
        warm_up()  # compile the pruning kernels outside the timed pre-processing (first run only)
        hr = _regularized(system)
        notes: list[str] = []
        t0 = clock(blk.device)
        profile = quantum_sparsity(hr, cfg.sparsity.p) if cfg.sparsity.p is not None else None
        d_req = cfg.sparsity.resolve(n, profile)
        matrix: Any = prune_symmetric(hr, d_req, sparse=d_req / n <= cfg.sparse_threshold) if d_req < n else hr
        prune_s = clock(blk.device) - t0
        t1 = clock(blk.device)
        pd_shift, extremes = 0.0, None
        if d_req < n and cfg.pruned_indefinite == "shift":
            matrix, pd_shift, extremes = self._restore_definiteness(system, hr, matrix, notes)
        kappa, knotes = qlsa_condition(
            matrix,
            cfg.kappa_method,
            eps=system.eps,
            exact_limit=cfg.exact_limit,
            extremes=extremes if cfg.kappa_method == "lanczos" else None,
        )
        notes += knotes
        kappa_s = clock(blk.device) - t1
        d = max(1, oracle_sparsity(matrix))
        norm2 = kappa.details.get("lambda_max") if kappa.method == "lanczos" else kappa.details.get("sigma_max")
        alpha, est = _price(cfg.cost, n, kappa, matrix, d, norm2, True, notes)
        note = "; ".join(notes)
        record = _quantum_record(kappa, d_req, d, alpha, prune_s, kappa_s, est, pd_shift, note)
        if not math.isfinite(float(est.seconds)):
            return Quote(
                self.name,
                self.kind,
                False,
                note,
                record=record,
                cost=est,
                needs_dense=True,
                prep_measured_s=prune_s + kappa_s,
                # what it would solve, kept for studies (experiments.routes.direction_study); the
                # scheduler never solves a declined quote
                plan=_Plan(matrix, pd_shift, kappa, note),
            )
        return Quote(
            self.name,
            self.kind,
            True,
            f"{est.model}: {float(est.queries or 0):.3g} queries, kappa {kappa.value:.3g} ({kappa.method}), d {d}",
            float(est.seconds),
            "modeled",
            prep_measured_s=prune_s + kappa_s,
            needs_dense=True,
            cost=est,
            record=record,
            plan=_Plan(matrix, pd_shift, kappa, note),
        )

    def _restore_definiteness(
        self, system: BlockSystem, hr: np.ndarray, matrix: Any, notes: list[str]
    ) -> tuple[Any, float, LanczosResult]:
        """Shift the pruned block by the least delta that gives it lambda_min >= min(eps, lambda_min(C + eps I)).

        The extreme eigenvalues come from one Lanczos run on the (sparse) pruned block; Ritz values
        lie inside the spectrum, so its lowest Ritz value minus its residual bounds lambda_min from
        below (the shift is conservative). For a block not known to be positive semidefinite the
        unpruned block's lowest Ritz value sets the target, so only what pruning removed is restored.
        """
        blk = system.curvature
        eps = system.eps
        ext = lanczos_extremes(matrix, tol=1e-2)
        low = ext.lambda_min - ext.residual_min
        psd = blk.psd or blk.factor() is not None
        if psd:
            target = eps
        else:
            full = lanczos_extremes(hr, tol=1e-2)
            target = min(eps, full.lambda_min)
        delta = max(0.0, target - low)
        if delta > 0:
            matrix = _add_diagonal(matrix, delta)
            notes.append(
                f"pruning lowered lambda_min to ~{ext.lambda_min:.3g} (< {target:.3g}, the "
                f"{'regularization eps' if psd else 'unpruned block'}'s): shifted by {delta:.3g}"
            )
        shifted = replace(ext, lambda_min=ext.lambda_min + delta, lambda_max=ext.lambda_max + delta)
        return matrix, delta, shifted

    def solve(self, system: BlockSystem, quote: Quote) -> SolveResult:
        plan: _Plan = quote.plan
        cfg = self.config
        if cfg.solver == "circuit":
            from ..solvers.circuit import MAX_CIRCUIT_N

            if plan.matrix.shape[0] <= MAX_CIRCUIT_N:
                if self._circuit is None:
                    from ..solvers.circuit import QSVTCircuitSolver

                    self._circuit = QSVTCircuitSolver()
                m = plan.matrix.toarray() if sp.issparse(plan.matrix) else plan.matrix
                res = self._circuit.solve(m, system.g)
                rep = res.report
                if rep.modeled_seconds is None:  # the circuit reports its simulation time only
                    assert quote.cost is not None
                    rep = replace(rep, modeled_seconds=float(quote.cost.seconds))
                return SolveResult(res.x, rep)
        rng = np.random.default_rng([system.seed, system.step, system.index])
        return self.emulator.solve(plan.matrix, system.g, rng=rng, cost=quote.cost)

    def state_dict(self) -> dict[str, Any]:
        return {"emulator": self.emulator.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "emulator" in state:
            self.emulator.load_state_dict(state["emulator"])


@dataclass
class RowPrunedRoute:
    """The public reference code's quantum route: row-wise top-d pruning (not symmetric, so no QLSA
    could invert it), solved by LU; priced like ``qlsa``. A baseline for accuracy comparisons
    (Fig. 1 left), off by default."""

    config: QuantumRouteConfig = field(default_factory=QuantumRouteConfig)

    name: ClassVar[str] = "qlsa-rows"
    kind: ClassVar[RouteKind] = "quantum"

    def quote(self, system: BlockSystem) -> Quote:
        cfg = self.config
        blk = system.curvature
        n = blk.n
        if not blk.dense_fits():
            return Quote.decline(self.name, self.kind, "needs the dense block, which exceeds the memory budget")
        warm_up()
        hr = _regularized(system, host=True)  # a reference baseline: the reference code's row pruning on the host
        t0 = clock(blk.device)
        profile = quantum_sparsity(hr, cfg.sparsity.p) if cfg.sparsity.p is not None else None
        d_req = cfg.sparsity.resolve(n, profile)
        matrix = prune_rows(hr, d_req) if d_req < n else hr
        prune_s = clock(blk.device) - t0
        notes = ["row-wise pruning (reference baseline): not symmetric, solved by LU"]
        kappa = qlsa_condition(matrix, "exact" if n <= cfg.exact_limit else "merikoski")[0]
        d = max(1, oracle_sparsity(matrix))
        alpha, est = _price(cfg.cost, n, kappa, matrix, d, kappa.details.get("sigma_max"), False, notes)
        note = "; ".join(notes)
        record = _quantum_record(kappa, d_req, d, alpha, prune_s, kappa.seconds, est, 0.0, note)
        return Quote(
            self.name,
            self.kind,
            math.isfinite(float(est.seconds)),
            f"{est.model} (row-pruned baseline)",
            float(est.seconds),
            "modeled",
            prep_measured_s=prune_s + kappa.seconds,
            needs_dense=True,
            cost=est,
            record=record,
            plan=_Plan(matrix, 0.0, kappa, note),
        )

    def solve(self, system: BlockSystem, quote: Quote) -> SolveResult:
        plan: _Plan = quote.plan
        g, kind = as_numpy(system.g, "g")
        t0 = clock(None)
        x = np.linalg.solve(plan.matrix.astype(np.float64), g.astype(np.float64)).astype(g.dtype)
        assert quote.cost is not None
        rep = SolveReport(
            "row-pruned-lu (baseline)",
            "quantum",
            plan.matrix.shape[0],
            clock(None) - t0,
            float(quote.cost.seconds),
            None,
            {"pruning": "rows"},
        )
        return SolveResult(kind.wrap(x), rep)
