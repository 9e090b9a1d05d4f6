"""The ``cg`` route: matrix-free Newton-CG on (C + eps I) x = g (Hessian-free optimization).

Martens (ICML 2010) and Nocedal and Wright (ch. 7): conjugate gradients with curvature-vector
products, here the block's batched Hessian(/GGN/Fisher)-vector products on the model's device; the
block is never formed. Stops at a relative residual ``tol`` (default 1e-3) or ``maxiter``.

An indefinite system (an exact Hessian with eigenvalues below -eps) is where CG meets a direction
of non-positive curvature. The default, ``indefinite="minres"``, then solves the same system by
MINRES (Paige and Saunders 1975), which converges to the exact solution of the indefinite system,
as the Cholesky route's symmetric-indefinite fallback and the quantum route do: all routes solve
the same system. ``"steihaug"`` stops CG there instead (Steihaug 1983; truncated Newton), returning
the last iterate: a descent direction, but not the solution of the system (labelled in the record).

Price (a calibrated prediction): iterations x (seconds of one product + vector work). A product
through an exact factor (a Linear layer's GGN, Fisher, or verified Hessian) is priced by its flops
at the calibrated GEMM rate, like the vector work; any other product by its time measured on the
block at its first step (kept for the run, so routing does not follow the machine's noise from step
to step, and a resumed run prices identically). Iterations: the previous step's count for the
block, or, at its first step, (sqrt(kappa) / 2) ln(2 / tol) with kappa from a short Lanczos probe
(the CG bound, Nocedal and Wright Thm 5.5), capped at ``maxiter``.

When CG does not reach ``tol`` it warns (:class:`~qnewton.errors.ConvergenceWarning`) and raises
:class:`RouteFailedError` with what it got; the scheduler then falls back to the next cheapest
route or raises, as configured.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from .._device import clock
from .._validation import check_int_range, check_positive
from ..cost.estimate import RouteKind
from ..errors import ConvergenceWarning, InvalidArgumentError
from ..linalg import lanczos_extremes
from ..linalg.krylov import KrylovResult, conjugate_gradient, minres
from ..solvers import SolveReport, SolveResult
from .base import BlockSystem, Quote, RouteFailedError, gemm_model, probe_matvec_seconds

__all__ = ["CGConfig", "CGRoute"]


@dataclass(frozen=True)
class CGConfig:
    """Options of the ``cg`` route.

    Attributes:
        tol: relative residual ||(C + eps I) x - g|| / ||g|| to stop at.
        maxiter: iteration cap (CG and MINRES together).
        indefinite: ``"minres"`` (solve the indefinite system exactly) or ``"steihaug"`` (stop at
            negative curvature).
        warm_start: start from the block's previous direction instead of 0.
        probe_steps: Lanczos steps of the first step's kappa probe (iteration prediction).
    """

    tol: float = 1e-3
    maxiter: int = 500
    indefinite: Literal["minres", "steihaug"] = "minres"
    warm_start: bool = False
    probe_steps: int = 10

    def __post_init__(self) -> None:
        check_positive(self.tol, "tol")
        if not self.tol < 1:
            raise InvalidArgumentError(f"`tol` must be in (0, 1), got {self.tol!r}; e.g. 1e-3.")
        check_int_range(self.maxiter, "maxiter", 1, 10**7)
        check_int_range(self.probe_steps, "probe_steps", 2, 1000)
        if self.indefinite not in ("minres", "steihaug"):
            raise InvalidArgumentError(f"`indefinite` must be 'minres' or 'steihaug', got {self.indefinite!r}.")
        if not isinstance(self.warm_start, bool):
            raise InvalidArgumentError(f"`warm_start` must be True or False, got {self.warm_start!r}.")


#: Quotes a Lanczos probe's iteration prediction serves before the block is probed again.
PROBE_REUSE = 20


@dataclass
class CGRoute:
    """Matrix-free Newton-CG (MINRES on indefinite blocks); see the module docstring."""

    config: CGConfig = field(default_factory=CGConfig)

    name: ClassVar[str] = "cg"
    kind: ClassVar[RouteKind] = "classical"

    def __post_init__(self) -> None:
        self._iterations: dict[str, int] = {}
        self._previous: dict[str, torch.Tensor] = {}
        self._product_s: dict[str, float] = {}
        # (iterations, their source, quotes since): a probe's prediction for a block CG has not solved yet, reused
        # for PROBE_REUSE quotes: a block that another route keeps winning would otherwise pay a
        # Lanczos probe at every step
        self._probed: dict[str, tuple[int, str, int]] = {}

    # -- price ----------------------------------------------------------------------------------
    def _predicted_iterations(self, system: BlockSystem) -> tuple[int, str, float]:
        """(iterations, where the number comes from, measured seconds of a probe)."""
        cfg = self.config
        prev = self._iterations.get(system.name)
        if prev is not None:
            return prev, "the previous step's count", 0.0
        blk = system.curvature
        if blk.n <= 4 * cfg.probe_steps:  # in exact arithmetic CG ends within n iterations
            return min(blk.n, cfg.maxiter), "at most n", 0.0
        probed = self._probed.get(system.name)
        if probed is not None and probed[2] < PROBE_REUSE:
            self._probed[system.name] = (probed[0], probed[1], probed[2] + 1)
            return probed[0], probed[1] + f", probed {probed[2] + 1} quote(s) ago", 0.0
        t0 = clock(blk.device)
        ext = lanczos_extremes(blk, max_steps=min(cfg.probe_steps, blk.n), tol=1e-2)
        probe_s = clock(blk.device) - t0
        hi = ext.lambda_max + system.eps
        lo = system.eps if blk.psd else ext.lambda_min + system.eps
        if not lo > 0:
            source = f"indefinite (Ritz value {lo:.3g}): MINRES, at most maxiter"
            self._probed[system.name] = (cfg.maxiter, source, 0)
            return cfg.maxiter, source, probe_s
        kappa = max(hi / lo, 1.0)
        iters = min(max(math.ceil(0.5 * math.sqrt(kappa) * math.log(2.0 / cfg.tol)), 1), cfg.maxiter)
        source = f"(sqrt(kappa)/2) ln(2/tol), kappa ~ {kappa:.3g} (Lanczos probe)"
        self._probed[system.name] = (iters, source, 0)
        return iters, source, probe_s

    def quote(self, system: BlockSystem) -> Quote:
        blk = system.curvature
        gemm = gemm_model(blk.torch_dtype, blk.device)
        factor = blk.factor()
        iters, source, probe_s = self._predicted_iterations(system)
        if factor is not None:
            t_mv, how = gemm.seconds(factor.flops_apply(1)), f"{factor.form} factor flops at the GEMM rate"
        else:
            if system.name not in self._product_s:
                self._product_s[system.name] = probe_matvec_seconds(blk)
            t_mv, how = self._product_s[system.name], "measured at the block's first step"
        t_vec = gemm.seconds(12.0 * blk.n)  # 2 dots, 3 axpys per iteration
        seconds = iters * (t_mv + t_vec)
        return Quote(
            self.name,
            self.kind,
            True,
            f"{iters} iterations ({source}) x {t_mv:.3g} s per product ({how})",
            seconds,
            "calibrated-prediction",
            prep_measured_s=probe_s,
            record={"predicted_iterations": iters},
        )

    # -- solve ----------------------------------------------------------------------------------
    def solve(self, system: BlockSystem, quote: Quote) -> SolveResult:
        cfg = self.config
        blk = system.curvature
        g = system.g.to(dtype=blk.torch_dtype, device=blk.device).reshape(-1)
        x0 = self._previous.get(system.name) if cfg.warm_start else None
        if x0 is not None:
            x0 = x0.to(dtype=g.dtype, device=g.device) if x0.shape == g.shape else None

        def mv(v: torch.Tensor) -> torch.Tensor:
            return blk.matmat(v[:, None])[:, 0]

        mv0, s0 = blk.stats["matvecs"], blk.stats["matvec_s"]
        t0 = clock(blk.device)
        res = conjugate_gradient(mv, g, shift=system.eps, x0=x0, tol=cfg.tol, maxiter=cfg.maxiter)
        method, iterations, note = "cg", res.iterations, ""
        if res.status == "negative-curvature":
            if cfg.indefinite == "minres":
                more = minres(mv, g, shift=system.eps, x0=x0, tol=cfg.tol, maxiter=max(1, cfg.maxiter - iterations))
                method, iterations = "cg -> minres (indefinite)", iterations + more.iterations
                res = KrylovResult(more.x, iterations, more.residual, more.status, method)
            else:
                x = res.x if bool(res.x.any()) else g / system.eps
                note = "stopped at negative curvature (Steihaug): a descent direction, not the system's solution"
                method = "cg (steihaug)"
                res = KrylovResult(x, iterations, res.residual, "converged", method)
        seconds = clock(blk.device) - t0
        matvecs = blk.stats["matvecs"] - mv0
        true_res = float((mv(res.x) + system.eps * res.x - g).norm() / max(float(g.norm()), 1e-300))
        details: dict[str, Any] = {
            "method": method,
            "iterations": iterations,
            "matvecs": matvecs,
            "matvec_s": blk.stats["matvec_s"] - s0,
            "tol": cfg.tol,
            "status": res.status,
            "warm_start": x0 is not None,
        }
        if note:
            details["note"] = note
        report = SolveReport(self.name, "classical", blk.n, seconds, None, true_res, details)
        result = SolveResult(res.x.to(system.g.dtype).reshape(system.g.shape), report)
        self._iterations[system.name] = max(1, iterations)
        if not res.converged:
            msg = (
                f"CG on block {system.name!r} stopped after {iterations} iterations ({res.status}) at relative "
                f"residual {true_res:.3g} > tol {cfg.tol:g}; raise CGConfig(maxiter=...) or the regularization eps."
            )
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
            raise RouteFailedError(msg, result)
        if cfg.warm_start:
            self._previous[system.name] = res.x.detach().clone()
        return result

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The per-block iteration counts and product times (the next quotes) and warm starts."""
        return {
            "iterations": dict(self._iterations),
            "product_s": dict(self._product_s),
            "probed": {k: list(v) for k, v in self._probed.items()},
            "previous": {k: v.cpu() for k, v in self._previous.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._iterations = {str(k): int(v) for k, v in state.get("iterations", {}).items()}
        self._product_s = {str(k): float(v) for k, v in state.get("product_s", {}).items()}
        self._probed = {str(k): (int(v[0]), str(v[1]), int(v[2])) for k, v in state.get("probed", {}).items()}
        self._previous = {str(k): torch.as_tensor(v) for k, v in state.get("previous", {}).items()}
