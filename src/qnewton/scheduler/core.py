"""The hybrid scheduler (Q-Newton paper, Algorithm 2, lines 5-16): quote, choose, solve, record.

For each block: define the regularized system (C + eps I) x = g once (:class:`BlockSystem`), ask
every enabled route for a quote (:mod:`qnewton.routes`), choose by the policy (``hybrid``: the
cheapest applicable route; ``classical``: the cheapest classical one; ``quantum``: the quantum
route; or a route by name) and the decision rule (the paper's: solve seconds only; or end to end:
with each route's classical pre-processing), solve, and log a :class:`DecisionRecord` built from
the quotes and the solve's report. A route that fails mid-solve (CG at its iteration cap) hands
over to the next cheapest applicable route, or raises, as configured.

A block is an independent unit of work (:class:`BlockTask` in, :class:`BlockOutcome` out): the
quantum route's noise is seeded by (seed, step, block index), so blocks can be solved in any
order or in other processes with identical results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._arrays import ArrayLike
from .._device import clock
from ..cost import CostEstimate
from ..curvature.lazy import CurvatureBlock, DenseBlock
from ..errors import ConvergenceError, InvalidArgumentError
from ..routes import (
    BlockSystem,
    CGRoute,
    CholeskyRoute,
    KronEigRoute,
    QLSARoute,
    Quote,
    Route,
    RouteFailedError,
    RowPrunedRoute,
    WoodburyRoute,
    predict_dense_seconds,
)
from ..routes.cholesky import cholesky_cost_model
from .config import SchedulerConfig
from .records import DecisionRecord

__all__ = ["BlockOutcome", "BlockTask", "RouteUnavailableError", "Scheduler"]


class RouteUnavailableError(InvalidArgumentError):
    """The policy forces a route that cannot take this block (the message says why and what can)."""


@dataclass(frozen=True)
class BlockTask:
    """One block to route and solve: its curvature C (a lazy block, or a dense matrix) and gradient g."""

    step: int
    index: int
    name: str
    H: CurvatureBlock | ArrayLike
    g: ArrayLike


@dataclass(frozen=True)
class BlockOutcome:
    """The block's Newton direction x ~ (C + eps I)^{-1} g (in g's kind) and the record."""

    direction: ArrayLike
    record: DecisionRecord


def _as_block(task: BlockTask) -> CurvatureBlock:
    if isinstance(task.H, CurvatureBlock):
        return task.H
    return DenseBlock(task.H, name=task.name)


def _as_tensor(g: ArrayLike) -> tuple[torch.Tensor, bool]:
    """(g as a 1-D tensor, whether it came as numpy)."""
    if isinstance(g, torch.Tensor):
        return g, False
    return torch.from_numpy(np.ascontiguousarray(g)), True


class Scheduler:
    """Routes and solves blocks as configured by a :class:`SchedulerConfig` (see the module doc)."""

    def __init__(self, config: SchedulerConfig | None = None) -> None:
        self.config = config or SchedulerConfig()
        self.routes: list[Any] = [self._make(r) for r in (self.config.routes or ())]
        self._by_name = {r.name: r for r in self.routes}

    def _make(self, spec: Any) -> Any:
        cfg = self.config
        if not isinstance(spec, str):
            return spec
        if spec == "cholesky":
            return CholeskyRoute(cfg.cholesky, cfg.classical_cost)
        if spec == "cg":
            return CGRoute(cfg.cg)
        if spec == "woodbury":
            return WoodburyRoute()
        if spec == "qlsa":
            return QLSARoute(cfg.quantum)
        if spec == "kron-eig":
            return KronEigRoute(cfg.kron)
        return RowPrunedRoute(cfg.quantum)

    def route(self, name: str) -> Route:
        """The enabled route called ``name``."""
        return self._by_name[name]

    # -- pricing ------------------------------------------------------------------------------
    def classical_price(
        self, n: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
    ) -> CostEstimate:
        """The paper's classical cost of an n x n block: dense Cholesky, C N^3 (a prediction)."""
        model = self.config.classical_cost or cholesky_cost_model(dtype, device)
        return model.estimate(n)

    def _candidates(self) -> list[Any]:
        cfg = self.config
        if cfg.quote_all or cfg.policy == "hybrid":
            return list(self.routes)
        if cfg.policy in ("classical", "quantum"):
            return [r for r in self.routes if r.kind == cfg.policy]
        return [self._by_name[cfg.policy]]

    def _ranked(self, quotes: Sequence[Quote], rule: str, dense_s: float) -> list[Quote]:
        """Applicable quotes the policy allows, cheapest first by ``rule``."""
        cfg = self.config
        allowed = [q for q in quotes if q.applies]
        if cfg.policy in ("classical", "quantum"):
            allowed = [q for q in allowed if q.kind == cfg.policy]
        elif cfg.policy != "hybrid":
            allowed = [q for q in allowed if q.route == cfg.policy]
        return sorted(allowed, key=lambda q: self._seconds(q, rule, dense_s))

    @staticmethod
    def _seconds(q: Quote, rule: str, dense_s: float) -> float:
        if rule == "paper":
            return q.solve_s
        return q.solve_s + q.prep_measured_s + (dense_s if q.needs_dense else 0.0)

    # -- one block ----------------------------------------------------------------------------
    def run(self, task: BlockTask) -> BlockOutcome:
        """Quote, choose, solve and record one block; see the module docstring."""
        cfg = self.config
        blk = _as_block(task)
        g, from_numpy = _as_tensor(task.g)
        reg = cfg.regularization
        eps = float(reg.eps * blk.max_abs()) if reg.relative else float(reg.eps)
        system = BlockSystem(task.step, task.index, task.name, blk, g, eps, cfg.seed)

        t0 = clock(blk.device)
        quotes = [r.quote(system) for r in self._candidates()]
        needs_dense = any(q.needs_dense and q.applies for q in quotes)
        dense_s, _ = predict_dense_seconds(blk) if needs_dense else (0.0, "")
        quote_s = clock(blk.device) - t0

        ranked = self._ranked(quotes, cfg.decision, dense_s)
        if not ranked:
            quoted = {q.route for q in quotes}
            others = [r.quote(system) for r in self.routes if r.name not in quoted]  # to name the alternatives
            raise self._unavailable([*quotes, *others], blk)
        reason = self._reason(ranked[0], cfg.decision, dense_s)
        failures: list[dict[str, Any]] = []
        result = None
        for q in ranked:
            try:
                result = self._by_name[q.route].solve(system, q)
                chosen = q
                break
            except RouteFailedError as exc:
                if cfg.on_failure == "raise":
                    raise ConvergenceError(
                        f"route {q.route!r} failed on block {task.name!r}: {exc} (on_failure='raise'; set "
                        f"on_failure='fallback' to hand the block to the next cheapest route)."
                    ) from exc
                rep = exc.result.report if exc.result is not None else None
                failures.append({"route": q.route, "error": str(exc), "residual": rep.residual if rep else None})
        if result is None:
            raise ConvergenceError(
                f"every applicable route failed on block {task.name!r}: "
                + "; ".join(f"{f['route']}: {f['error']}" for f in failures)
            )
        if failures:
            reason += f"; fell back to {chosen.route} after " + ", ".join(f["route"] for f in failures) + " failed"

        record = self._record(system, task, quotes, chosen, result, reason, quote_s, dense_s, failures)
        x = result.x
        if from_numpy and isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        return BlockOutcome(x, record)

    def _reason(self, q: Quote, rule: str, dense_s: float) -> str:
        cfg = self.config
        secs = self._seconds(q, rule, dense_s)
        how = "paper's rule: solve seconds" if rule == "paper" else "end to end: with pre-processing"
        if cfg.policy == "hybrid":
            return f"hybrid: {q.route} cheapest ({secs:.3g} s {q.basis}; {how})"
        if cfg.policy in ("classical", "quantum"):
            return f"policy={cfg.policy}: {q.route} cheapest {cfg.policy} route ({secs:.3g} s {q.basis}; {how})"
        return f"policy={cfg.policy}"

    def _unavailable(self, quotes: Sequence[Quote], blk: CurvatureBlock) -> RouteUnavailableError:
        cfg = self.config
        why = "; ".join(f"{q.route}: {q.reason}" for q in quotes if not q.applies) or "no route quoted"
        usable = [q.route for q in quotes if q.applies and q.route != cfg.policy]
        alt = f" Routes that can take it: {', '.join(usable)}." if usable else ""
        return RouteUnavailableError(
            f"policy={cfg.policy!r} cannot solve block {blk.name!r} (n = {blk.n}): {why}.{alt} Choose another "
            f"policy or enable another route in `routes`."
        )

    def _record(
        self,
        system: BlockSystem,
        task: BlockTask,
        quotes: Sequence[Quote],
        chosen: Quote,
        result: Any,
        reason: str,
        quote_s: float,
        dense_s: float,
        failures: list[dict[str, Any]],
    ) -> DecisionRecord:
        cfg = self.config
        blk = system.curvature
        rep = result.report
        contributed: dict[str, Any] = {}
        for q in [*quotes, chosen]:  # the chosen route's facts last: they win
            contributed.update(q.record)
        fields, rest = DecisionRecord.fields_of(contributed)
        paper = self.classical_price(blk.n, blk.torch_dtype, blk.device)
        classical = [q for q in quotes if q.applies and q.kind == "classical"]
        best = min(classical, key=lambda q: q.solve_s) if classical else None
        by_rule: dict[str, Quote | None] = {}
        for rule in ("paper", "end-to-end"):
            ranked = self._ranked(quotes, rule, dense_s)
            by_rule[rule] = ranked[0] if ranked else None
        modeled = rep.modeled_seconds
        quantum = chosen.kind == "quantum" and modeled is not None
        x = result.x
        norm = float(x.norm()) if isinstance(x, torch.Tensor) else float(np.linalg.norm(x))
        iterations = rep.details.get("iterations") if isinstance(rep.details, dict) else None
        extra = {k: v for k, v in dict(rep.details).items() if k != "cost"}
        extra.update(rest)
        if failures:
            extra["failed_routes"] = failures
        prep = chosen.prep_measured_s + (float(blk.stats.get("dense_s", 0.0)) if chosen.needs_dense else 0.0)
        extra.setdefault("curvature", blk.kind)
        note = str(blk.stats.get("curvature_note", ""))  # e.g. why a block K-FAC does not cover took this one
        explicit: dict[str, Any] = dict(
            step=system.step,
            block=system.name,
            n=blk.n,
            policy=cfg.policy,
            route=chosen.route,
            kind=chosen.kind,
            reason=reason,
            eps=system.eps,
            decision_rule=cfg.decision,
            solver=rep.solver,
            solve_measured_s=rep.measured_seconds,
            solve_modeled_s=modeled,
            step_time_s=modeled if quantum else rep.measured_seconds,
            step_time_basis="modeled" if quantum else "measured",
            predicted_s=chosen.solve_s,
            predicted_basis=chosen.basis,
            end_to_end_s=self._seconds(chosen, "end-to-end", dense_s),
            prep_measured_s=prep,
            quote_measured_s=quote_s,
            dense_measured_s=float(blk.stats.get("dense_s", 0.0)),
            classical_cost_s=float(paper.seconds),
            classical_cost_basis=paper.basis,
            best_classical_route=best.route if best else None,
            best_classical_s=best.solve_s if best else None,
            route_paper=by_rule["paper"].route if by_rule["paper"] else None,
            route_end_to_end=by_rule["end-to-end"].route if by_rule["end-to-end"] else None,
            iterations=int(iterations) if iterations is not None else None,
            residual=rep.residual,
            update_norm=norm,
            notes=note or fields.get("notes", ""),
            quotes={
                q.route: {
                    "kind": q.kind,
                    "applies": q.applies,
                    "solve_s": q.solve_s if math.isfinite(q.solve_s) else None,
                    "basis": q.basis,
                    "prep_measured_s": q.prep_measured_s,
                    "needs_dense": q.needs_dense,
                    "end_to_end_s": self._seconds(q, "end-to-end", dense_s) if q.applies else None,
                    "reason": q.reason,
                }
                for q in quotes
            },
            extra=extra,
        )
        return DecisionRecord(**{**fields, **explicit})  # the scheduler's own facts win over a route's

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Every route's state (iteration history, warm starts, noise streams), by route name."""
        return {r.name: r.state_dict() for r in self.routes if callable(getattr(r, "state_dict", None))}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, st in state.items():
            r = self._by_name.get(name)
            if r is not None and callable(getattr(r, "load_state_dict", None)):
                r.load_state_dict(st)
