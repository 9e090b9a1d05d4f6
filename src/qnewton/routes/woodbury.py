"""The ``woodbury`` route: the exact solve of (C + eps I) x = g for a block C = U U^T of rank r < n.

By the Sherman-Morrison-Woodbury identity (REFERENCE.md section 8),

    (eps I + U U^T)^{-1} g = (g - U (eps I_r + U^T U)^{-1} U^T g) / eps,

an r x r Cholesky instead of an n x n one. The GGN and the empirical Fisher of a layer have this
form with r <= (batch) x (outputs); so does the exact Hessian of a layer whose outputs are linear in
its weights (every layer of a ReLU MLP; the curvature block verifies it numerically before it offers
the factor). For a ``nn.Linear`` layer U is never formed: U^T U = (G G^T) ∘ (A A^T) from the
layer's inputs A and backpropagated output-Hessian roots G (ASDL's SMW natural gradient). The r x r
system and the two products are computed in float64 (the subtraction g - U y cancels when eps is
small). The route declines blocks without an exact low-rank form, saying why.

Price (a calibrated prediction): the factor's flops (Gram matrix, two products) at the calibrated
GEMM rate plus C r^3 for the r x r Cholesky.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from .._device import clock
from ..cost.estimate import RouteKind
from ..curvature.lazy import dense_budget
from ..solvers import SolveReport, SolveResult
from .base import BlockSystem, Quote, gemm_model
from .cholesky import cholesky_cost_model

__all__ = ["WoodburyRoute"]


@dataclass
class WoodburyRoute:
    """Exact low-rank solve by the Woodbury identity; see the module docstring."""

    name: ClassVar[str] = "woodbury"
    kind: ClassVar[RouteKind] = "classical"

    def quote(self, system: BlockSystem) -> Quote:
        blk = system.curvature
        lr = blk.lowrank()
        if lr is None:
            factor = blk.factor()
            why = (
                f"rank {factor.rank} >= n = {blk.n}: no low-rank form"
                if factor is not None
                else str(blk.stats.get("structure", "no exact low-rank form"))
            )
            return Quote.decline(self.name, self.kind, f"not of the form U U^T with rank < n ({why})")
        r = lr.rank
        budget = dense_budget(blk.config)
        if budget is not None and 8 * r * r > budget:
            return Quote.decline(self.name, self.kind, f"the {r} x {r} float64 system exceeds the memory budget")
        flops = lr.flops_gram() + lr.flops_apply(1)
        gemm = gemm_model(torch.float64, blk.device)
        chol = cholesky_cost_model(torch.float64, blk.device).estimate(r)
        seconds = gemm.seconds(flops) + float(chol.seconds)
        return Quote(
            self.name,
            self.kind,
            True,
            f"rank {r} ({lr.form}): {flops:.3g} flops at the GEMM rate + C r^3 ({chol.basis})",
            seconds,
            "calibrated-prediction",
            prep_measured_s=float(blk.stats.get("lowrank_s", 0.0)),
            record={"woodbury_rank": r},
        )

    def solve(self, system: BlockSystem, quote: Quote) -> SolveResult:
        blk = system.curvature
        lr = blk.lowrank()
        assert lr is not None, "quote() declined this block"
        t0 = clock(blk.device)
        f64 = lr.to(torch.float64)
        g = system.g.reshape(-1).to(device=blk.device, dtype=torch.float64)
        eps = float(system.eps)
        K = f64.gram()
        K.diagonal().add_(eps)
        L = torch.linalg.cholesky(K)
        y = torch.cholesky_solve(f64.project(g[:, None]), L)
        x = (g - f64.expand(y)[:, 0]) / eps
        seconds = clock(blk.device) - t0
        res = f64.matmat(x[:, None])[:, 0] + eps * x - g
        residual = float(res.norm() / max(float(g.norm()), 1e-300))
        report = SolveReport(
            self.name,
            "classical",
            blk.n,
            seconds,
            None,
            residual,
            {"rank": lr.rank, "form": lr.form, "structure": blk.stats.get("structure", "")},
        )
        return SolveResult(x.to(system.g.dtype).reshape(system.g.shape), report)
