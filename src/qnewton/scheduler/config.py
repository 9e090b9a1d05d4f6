"""Configuration of the hybrid scheduler: typed, validated, frozen dataclasses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from .._validation import check_fraction, check_int_range, check_positive
from ..cost import ClassicalCostModel, QuantumCostModel
from ..errors import InvalidArgumentError
from ..linalg import CONDITION_METHODS
from ..solvers import CholeskySolver

__all__ = ["Policy", "RegularizationSpec", "SchedulerConfig", "SparsitySpec"]

Policy = Literal["hybrid", "classical", "quantum"]


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

    def resolve(self, n: int, profile=None) -> int:
        """d for an N x N block; ``profile`` is the rows' p%-sparsity when ``p`` is set."""
        if self.d is not None:
            return min(self.d, n)
        if self.ratio is not None:
            return max(1, min(n, math.ceil(self.ratio * n)))
        if self.p is not None:
            import numpy as np

            if profile is None:
                raise InvalidArgumentError("SparsitySpec(p=...) needs the rows' p%-sparsity profile.")
            prof = np.asarray(profile)
            if self.reduce == "max":
                val = prof.max()
            elif self.reduce == "median":
                val = np.median(prof)
            else:
                val = np.quantile(prof, float(self.reduce))
            return max(1, min(n, math.ceil(val)))
        return n


@dataclass(frozen=True)
class RegularizationSpec:
    """H + eps*I (``relative=False``) or H + eps*max|H|*I (the reference code's variant).

    The paper uses eps = 1.0 for the DNN and 0.5 for Mistral (Sec. V-B). Adding eps*I does not move
    the fixed point of Newton's method (g = 0), only the path to it.
    """

    eps: float = 1.0
    relative: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_positive(self.eps, "eps"))


@dataclass(frozen=True)
class SchedulerConfig:
    """Everything the scheduler needs to route and solve a block.

    Attributes:
        policy: ``"hybrid"`` (the cheaper route per block: Q-Newton), ``"classical"`` or ``"quantum"``
            (the paper's classical-only and quantum-only baselines).
        regularization: the H + eps*I applied to every block, both routes.
        sparsity: how d is chosen for the quantum route (default: the paper's 50 %-sparsity, max
            over rows).
        kappa_method: condition estimator for the quantum route's block (a name of
            ``qnewton.linalg.CONDITION_METHODS``; default ``"lanczos"``, accurate; ``"merikoski"``
            is the paper's bound). If it cannot be applied (Lanczos on an indefinite block), the
            scheduler falls back to ``"exact"`` up to ``exact_limit`` and to ``"merikoski"`` above,
            and says so in the decision record.
        exact_limit: largest N for the SVD fallback.
        pruning: ``"symmetric"`` (the paper's symmetry-aware pruning, Sec. IV-D) or ``"rows"`` (the
            public reference code's row-wise top-d, kept as a baseline for accuracy comparisons:
            the result is not symmetric, so no QLSA could run it; it is solved by LU).
        pruned_indefinite: what the quantum route does when pruning left its block with an
            eigenvalue below eps (pruning dropped off-diagonal mass; the regularized block was
            positive definite): ``"shift"`` (default) adds the smallest diagonal shift that
            restores lambda_min >= eps (from one Lanczos run on the sparse block) and records it;
            ``"solve"`` keeps the indefinite block (a QLSA inverts Hermitian matrices; kappa is then
            max|lambda| / min|lambda|), which may not give a descent direction.
        classical_cost, quantum_cost: the cost models compared by the hybrid policy.
        classical_solver: the classical route's solver.
        quantum_solver: ``"emulated-ideal"``, ``"emulated-noisy"`` or ``"circuit"`` (the QSVT
            state-vector simulation; blocks with N <= 16 only, larger ones use the noisy emulator).
        price_both: price the quantum route even under the classical policy (costs a kappa estimate
            and a pruning per block; off by default so the classical baseline is not slowed down).
        sparse_threshold: the pruned block is handed to the quantum route as CSR when d/N is at
            most this (Krylov emulation), dense otherwise.
        seed: seed of the noisy emulator; each (step, block) gets its own stream, so results do not
            depend on the order blocks are processed in (or on which process solves them).
    """

    policy: Policy = "hybrid"
    regularization: RegularizationSpec = field(default_factory=RegularizationSpec)
    sparsity: SparsitySpec = field(default_factory=lambda: SparsitySpec(p=0.5))
    kappa_method: str = "lanczos"
    exact_limit: int = 2048
    pruning: Literal["symmetric", "rows"] = "symmetric"
    pruned_indefinite: Literal["shift", "solve"] = "shift"
    classical_cost: ClassicalCostModel = field(default_factory=ClassicalCostModel)
    quantum_cost: QuantumCostModel = field(default_factory=QuantumCostModel)
    classical_solver: CholeskySolver = field(default_factory=CholeskySolver)
    quantum_solver: Literal["emulated-ideal", "emulated-noisy", "circuit"] = "emulated-ideal"
    price_both: bool = False
    sparse_threshold: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if self.policy not in ("hybrid", "classical", "quantum"):
            raise InvalidArgumentError(f"`policy` must be 'hybrid', 'classical' or 'quantum', got {self.policy!r}.")
        if self.kappa_method not in CONDITION_METHODS:
            raise InvalidArgumentError(
                f"`kappa_method` must be one of {sorted(CONDITION_METHODS)}, got {self.kappa_method!r}."
            )
        if self.quantum_solver not in ("emulated-ideal", "emulated-noisy", "circuit"):
            raise InvalidArgumentError(
                f"`quantum_solver` must be 'emulated-ideal', 'emulated-noisy' or 'circuit', got "
                f"{self.quantum_solver!r}."
            )
        check_int_range(self.exact_limit, "exact_limit", 1, 10**6)
        if self.pruning not in ("symmetric", "rows"):
            raise InvalidArgumentError(f"`pruning` must be 'symmetric' or 'rows', got {self.pruning!r}.")
        if self.pruned_indefinite not in ("shift", "solve"):
            raise InvalidArgumentError(
                f"`pruned_indefinite` must be 'shift' or 'solve', got {self.pruned_indefinite!r}."
            )
        check_fraction(self.sparse_threshold, "sparse_threshold")
        for name, typ in (
            ("regularization", RegularizationSpec),
            ("sparsity", SparsitySpec),
            ("classical_cost", ClassicalCostModel),
            ("quantum_cost", QuantumCostModel),
            ("classical_solver", CholeskySolver),
        ):
            if not isinstance(getattr(self, name), typ):
                raise InvalidArgumentError(f"`{name}` must be a {typ.__name__}.")
