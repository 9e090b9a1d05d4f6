"""The ``cholesky`` route: the dense block, factored by LAPACK (the paper's classical baseline).

Priced as the Q-Newton paper prices its classical solve (Sec. IV-C, Algorithm 2 line 5):
C N^3 with C calibrated on this machine (:class:`qnewton.cost.ClassicalCostModel`, in the block's
precision unless a model is given). It needs the dense block, formed by the curvature block (once
per step, shared with the quantum route) and declines when that would not fit in memory.
Indefinite blocks are solved exactly by the solver's symmetric-indefinite fallback (LDL), so this
route and the quantum route with d = N solve the same system whatever the signs of the eigenvalues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..cost import ClassicalCostModel
from ..cost.classical import Calibration
from ..cost.estimate import RouteKind
from ..solvers import CholeskySolver, SolveResult
from .base import BlockSystem, Quote

__all__ = ["CholeskyRoute"]

_MODELS: dict[str, ClassicalCostModel] = {}


def cholesky_cost_model(dtype: torch.dtype, device: torch.device | str = "cpu") -> ClassicalCostModel:
    """C N^3 calibrated in the block's precision, on the block's device (one model per pair and
    process; the calibration is cached on disk per machine and device model)."""
    name = "float64" if dtype == torch.float64 else "float32"
    dev = str(torch.device(device))
    key = name if dev == "cpu" else f"{name}@{dev}"
    if key not in _MODELS:
        _MODELS[key] = ClassicalCostModel(dtype=name, device=dev)
    return _MODELS[key]


@dataclass
class CholeskyRoute:
    """Dense LAPACK Cholesky (LDL for an indefinite block) of C + eps I.

    Attributes:
        solver: the :class:`~qnewton.solvers.CholeskySolver` (backend, indefinite fallback).
        cost: the C N^3 model; None: calibrated here in the block's dtype.
    """

    solver: CholeskySolver = field(default_factory=CholeskySolver)
    cost: ClassicalCostModel | None = None

    name: ClassVar[str] = "cholesky"
    kind: ClassVar[RouteKind] = "classical"

    def model_for(self, dtype: torch.dtype, device: torch.device | str = "cpu") -> ClassicalCostModel:
        return self.cost if self.cost is not None else cholesky_cost_model(dtype, device)

    def quote(self, system: BlockSystem) -> Quote:
        blk = system.curvature
        if not blk.dense_fits():
            return Quote.decline(
                self.name, self.kind, f"needs the dense {blk.n} x {blk.n} block, which exceeds the memory budget"
            )
        est = self.model_for(blk.torch_dtype, blk.device).estimate(blk.n)
        return Quote(
            self.name,
            self.kind,
            True,
            f"C N^3 ({est.basis}, C = {est.details['c']:.3g} s)",
            float(est.seconds),
            est.basis,
            needs_dense=True,
            cost=est,
        )

    def solve(self, system: BlockSystem, quote: Quote) -> SolveResult:
        blk = system.curvature
        return self.solver.solve(blk.dense(), system.g, shift=system.eps)

    def state_dict(self) -> dict[str, Any]:
        """The calibrations behind C (so a resumed run prices, hence routes, the same way)."""
        models = {"given": self.cost} if self.cost is not None else dict(_MODELS)
        return {k: m.calibration.to_dict() for k, m in models.items() if m.c is None and m.calibration is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, cal in state.items():
            name, _, dev = key.partition("@")
            model = (
                self.cost
                if key == "given"
                else _MODELS.setdefault(key, ClassicalCostModel(dtype=name, device=dev or "cpu"))
            )
            if model is not None and model.c is None:
                object.__setattr__(model, "_calibration", Calibration.from_dict(cal))
