"""What every route is: ``quote(system) -> Quote`` and ``solve(system, quote) -> SolveResult``.

A *route* is one way to solve a block's regularized Newton system (C + eps I) x = g, classical or
quantum. The scheduler defines the system once (:class:`BlockSystem`), asks every enabled route
for a :class:`Quote` (its price with the basis of that price, whether it applies and, if not,
why, and what it needs), chooses, and calls ``solve`` on the chosen route. Any object with the
four members of :class:`Route` is a route: no base class, no registration (plug your own in with
``SchedulerConfig(routes=(..., my_route))``).

Prices are in seconds, each labelled with its basis (:data:`qnewton.cost.BASES`): a classical
route's is a prediction calibrated on this machine (C N^3 for Cholesky, iterations x measured
product time for CG, flops x GEMM rate for Woodbury); the quantum route's is modeled (query count
x gate time). Classical pre-processing a route does while quoting (pruning, a kappa estimate) is
measured and reported apart (``prep_measured_s``), as is the formation of the dense block for the
routes that need it (see :meth:`qnewton.scheduler.Scheduler`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

from .._device import clock
from ..cost import GemmCostModel
from ..cost.estimate import CostEstimate, RouteKind
from ..curvature.lazy import CurvatureBlock
from ..errors import QNewtonError
from ..solvers import SolveResult

__all__ = [
    "BlockSystem",
    "DecisionRule",
    "Quote",
    "Route",
    "RouteFailedError",
    "RouteKind",
    "predict_dense_seconds",
]

#: ``"paper"``: compare the solve seconds only (the paper's rule: QLSA time vs classical solve
#: time); ``"end-to-end"``: add each route's classical pre-processing (forming the dense block,
#: pruning, kappa estimation, factor extraction).
DecisionRule = str


@dataclass(frozen=True)
class BlockSystem:
    """The regularized system of one block, the same for every route: (C + eps I) x = g.

    Attributes:
        step, index, name: the optimizer step, the block's position and name (seeds and logs).
        curvature: the block C as a lazy :class:`~qnewton.curvature.CurvatureBlock`.
        g: the right-hand side (the block's gradient), a 1-D tensor.
        eps: the absolute shift added to C (the regularization), > 0.
        seed: the scheduler's seed (noise streams are seeded by (seed, step, index)).
    """

    step: int
    index: int
    name: str
    curvature: CurvatureBlock
    g: torch.Tensor
    eps: float
    seed: int = 0

    @property
    def n(self) -> int:
        return self.curvature.n


@dataclass(frozen=True)
class Quote:
    """A route's price for one block, and whether it can take it.

    Attributes:
        route: the route's name; ``kind``: ``"classical"`` or ``"quantum"``.
        applies: False when the route cannot solve this block (``reason`` says why).
        reason: one line: the basis of the price, or why the route declines.
        solve_s: seconds of the solve proper (``math.inf`` when it does not apply).
        basis: what ``solve_s`` is: ``"modeled"``, ``"calibrated-prediction"``,
            ``"assumed-prediction"`` or ``"measured"``.
        prep_measured_s: classical pre-processing done while quoting, measured (pruning, kappa
            estimation, factor extraction); not counting the dense block (see ``needs_dense``).
        needs_dense: the route needs the dense n x n block (the scheduler charges its formation
            to every such route alike under the end-to-end rule).
        cost: the cost model's full estimate, when there is one.
        record: fields this route contributes to the :class:`~qnewton.scheduler.DecisionRecord`.
        plan: route-private data ``solve`` runs with (e.g. the pruned block).
    """

    route: str
    kind: RouteKind
    applies: bool
    reason: str
    solve_s: float = math.inf
    basis: str = "calibrated-prediction"
    prep_measured_s: float = 0.0
    needs_dense: bool = False
    cost: CostEstimate | None = None
    record: Mapping[str, Any] = field(default_factory=dict)
    plan: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def decline(cls, route: str, kind: RouteKind, reason: str, **record: Any) -> Quote:
        """A quote saying the route cannot take this block, and why."""
        return cls(route, kind, False, reason, record=record)


@runtime_checkable
class Route(Protocol):
    """Anything with a ``name``, a ``kind``, ``quote`` and ``solve`` (see the module docstring).

    Optional: ``state_dict()`` / ``load_state_dict(state)`` (checkpointed with the optimizer) and
    ``end_step(step)`` (called after every optimizer step).
    """

    name: str
    kind: RouteKind

    def quote(self, system: BlockSystem) -> Quote:  # pragma: no cover - protocol
        ...

    def solve(self, system: BlockSystem, quote: Quote) -> SolveResult:  # pragma: no cover - protocol
        ...


class RouteFailedError(QNewtonError, ArithmeticError):
    """A route started a solve and could not finish it to its tolerance (e.g. CG at its iteration
    cap). ``result`` holds what it got, so the scheduler can log it and fall back."""

    def __init__(self, message: str, result: SolveResult | None = None) -> None:
        super().__init__(message)
        self.result = result


_GEMM: dict[str, GemmCostModel] = {}


def gemm_model(dtype: torch.dtype, device: torch.device | str = "cpu") -> GemmCostModel:
    """The calibrated GEMM rate for a block's dtype and device (one model per pair and process)."""
    name = "float64" if dtype == torch.float64 else "float32"
    dev = str(torch.device(device))
    key = f"{name}@{dev}"
    if key not in _GEMM:
        _GEMM[key] = GemmCostModel(dtype=name, device=dev)
    return _GEMM[key]


def probe_matvec_seconds(block: CurvatureBlock) -> float:
    """Seconds of one product C v on this block: measured so far, or one product timed now."""
    t = block.seconds_per_matvec()
    if t is None:
        gen = torch.Generator(device="cpu").manual_seed(0)
        v = torch.randn(block.n, generator=gen, dtype=torch.float64).to(block.torch_dtype).to(block.device)
        t0 = clock(block.device)
        block.matmat(v[:, None])
        t = clock(block.device) - t0
        t = block.seconds_per_matvec() or t
    return float(t)


def probe_column_seconds(block: CurvatureBlock, k: int = 64) -> float:
    """Seconds per column of a k-column product C V (batched products share the forward work),
    timed once per block on random columns."""
    t = block.stats.get("column_s")
    if t is None:
        k = max(1, min(k, block.n))
        gen = torch.Generator(device="cpu").manual_seed(1)
        V = torch.randn(block.n, k, generator=gen, dtype=torch.float64).to(block.torch_dtype).to(block.device)
        t0 = clock(block.device)
        block.matmat(V)
        t = (clock(block.device) - t0) / k
        block.stats["column_s"] = t
    return float(t)


def predict_dense_seconds(block: CurvatureBlock) -> tuple[float, str]:
    """Seconds to form ``block.dense()``: measured if formed, else predicted from its structure.

    Structured (a factor): its GEMM flops at the calibrated GEMM rate; otherwise n products at the
    block's measured seconds per column of a batched product.
    """
    if block.dense_formed:
        return float(block.stats.get("dense_s", 0.0)), "measured"
    cost = block.dense_cost()
    seconds = gemm_model(block.torch_dtype, block.device).seconds(cost["flops"])
    if cost["matvecs"]:
        seconds += cost["matvecs"] * probe_column_seconds(block)
    return seconds, "calibrated-prediction"
