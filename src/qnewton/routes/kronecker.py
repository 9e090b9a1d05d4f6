"""The ``kron-eig`` route: the exact solve of (A ⊗ G + eps I) x = g for a K-FAC block.

With the eigendecompositions A = Q_A diag(lambda_A) Q_A^T and G = Q_G diag(lambda_G) Q_G^T
(Martens and Grosse 2015, Sec. 6.3, "exact damping"; REFERENCE.md section 8),

    x = (Q_G ⊗ Q_A) [ (Q_G ⊗ Q_A)^T g  /  (lambda_G lambda_A^T + eps) ],

element-wise division; in the repository's row-major ordering of an ``nn.Linear`` weight (out, in)
with X the (out x in) matrix of g: x = vec_r(Q_G [ (Q_G^T X Q_A) / (lambda_G lambda_A^T + eps) ] Q_A^T)
(:class:`~qnewton.curvature.kfac.KFACBlock` handles ``Conv1D``'s (in, out) layout and the folded
bias). Two small eigendecompositions (in^3 + out^3) and four GEMMs instead of an (in out)^3 solve;
nothing of size n x n is formed. Eigenvalues are clamped at 0 (the factors are PSD up to
round-off), so every eps > 0 gives a definite system. The decompositions are cached until the
factors change (K-FAC's update interval), so steps between updates pay only the GEMMs.

``damping="factored"`` solves (A + pi sqrt(eps) I) ⊗ (G + sqrt(eps)/pi I) instead, with
pi = sqrt((tr A / dim A) / (tr G / dim G)) (Martens and Grosse's factored Tikhonov damping). That is
an **approximation** of the system every other route solves (it adds eps I plus the cross terms
pi sqrt(eps) I ⊗ G + sqrt(eps)/pi A ⊗ I); the record says so, and the reported residual is the one
of the exact system (C + eps I) x = g.

The route declines every block that is not a K-FAC block, saying why. Price (a calibrated
prediction): C_eig (p^3 + q^3) for the decompositions when they are not cached (C_eig calibrated
here, :class:`~qnewton.cost.EighCostModel`) plus the GEMMs' flops at the calibrated GEMM rate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from ..cost import EighCostModel
from ..cost.classical import Calibration
from ..cost.estimate import RouteKind
from ..curvature.kfac import KFACBlock
from ..errors import InvalidArgumentError
from ..solvers import SolveReport, SolveResult
from .base import BlockSystem, Quote, gemm_model

__all__ = ["KronEigConfig", "KronEigRoute"]

_EIGH: dict[str, EighCostModel] = {}


def eigh_cost_model(dtype: torch.dtype) -> EighCostModel:
    """C n^3 of ``torch.linalg.eigh`` calibrated in ``dtype`` (one model per dtype and process)."""
    key = "float64" if dtype == torch.float64 else "float32"
    if key not in _EIGH:
        _EIGH[key] = EighCostModel(dtype=key)
    return _EIGH[key]


@dataclass(frozen=True)
class KronEigConfig:
    """Options of the ``kron-eig`` route.

    Attributes:
        damping: ``"exact"`` ((A ⊗ G + eps I) x = g exactly, the system every route solves) or
            ``"factored"`` (Martens and Grosse's factored damping: an approximation, see the module doc).
        dtype: precision of the decompositions and the solve: ``"float64"`` (default; the factors
            are small) or ``"block"`` (the block's own dtype, e.g. float32 on a GPU).
        cost: the eigendecomposition cost model; None: calibrated here in the solve's dtype.
    """

    damping: Literal["exact", "factored"] = "exact"
    dtype: Literal["float64", "block"] = "float64"
    cost: EighCostModel | None = None

    def __post_init__(self) -> None:
        if self.damping not in ("exact", "factored"):
            raise InvalidArgumentError(f"`damping` must be 'exact' or 'factored', got {self.damping!r}.")
        if self.dtype not in ("float64", "block"):
            raise InvalidArgumentError(f"`dtype` must be 'float64' or 'block', got {self.dtype!r}.")
        if self.cost is not None and not isinstance(self.cost, EighCostModel):
            raise InvalidArgumentError("`cost` must be an EighCostModel or None.")


@dataclass
class KronEigRoute:
    """Exact K-FAC solve through the factors' eigendecompositions; see the module docstring."""

    config: KronEigConfig = field(default_factory=KronEigConfig)

    name: ClassVar[str] = "kron-eig"
    kind: ClassVar[RouteKind] = "classical"

    def _dtype(self, blk: KFACBlock) -> torch.dtype:
        return torch.float64 if self.config.dtype == "float64" else blk.torch_dtype

    def _eigh_model(self, dtype: torch.dtype) -> EighCostModel:
        return self.config.cost if self.config.cost is not None else eigh_cost_model(dtype)

    def quote(self, system: BlockSystem) -> Quote:
        blk = system.curvature
        if not isinstance(blk, KFACBlock):
            return Quote.decline(self.name, self.kind, f"not a Kronecker-factored (K-FAC) block (a {blk.kind!r} block)")
        dt = self._dtype(blk)
        p, q = blk.shape_pq
        cached = blk.eigh_cached(dt)
        eig_s = 0.0 if cached else self._eigh_model(dt).seconds(p) + self._eigh_model(dt).seconds(q)
        flops = 6.0 * p * q * (p + q) + 4.0 * p * q  # Q^T X Q, Q Y Q^T, the residual's L X R; scaling
        seconds = eig_s + gemm_model(dt).seconds(flops)
        how = "decompositions cached" if cached else f"C_eig ({p}^3 + {q}^3)"
        return Quote(
            self.name,
            self.kind,
            True,
            f"K-FAC {p} x {q} ({self.config.damping} damping): {how} + {flops:.3g} GEMM flops",
            seconds,
            self._eigh_model(dt).basis,
            record={"kron_shape": [p, q], "kron_damping": self.config.damping},
        )

    def solve(self, system: BlockSystem, quote: Quote) -> SolveResult:
        blk = system.curvature
        assert isinstance(blk, KFACBlock), "quote() declined this block"
        dt = self._dtype(blk)
        t0 = time.perf_counter()
        cached = blk.eigh_cached(dt)
        lamL, QL, lamR, QR = blk.eigh(dt)
        eps = float(system.eps)
        g = system.g.reshape(-1).to(device=blk.device, dtype=dt)
        X = blk.to_matrix(g[:, None])  # (1, p, q)
        Y = QL.T @ X @ QR
        if self.config.damping == "exact":
            D = lamL[:, None] * lamR[None, :] + eps
        else:
            dl, dr = blk.damping_split()
            s = math.sqrt(eps)
            D = (lamL[:, None] + dl * s) * (lamR[None, :] + dr * s)
        x = blk.from_matrix(QL @ (Y / D) @ QR.T)[:, 0]
        seconds = time.perf_counter() - t0
        L, R = blk.left.to(dt), blk.right.to(dt)
        cx = blk.from_matrix(L @ blk.to_matrix(x[:, None]) @ R)[:, 0]
        residual = float((cx + eps * x - g).norm() / max(float(g.norm()), 1e-300))
        details: dict[str, Any] = {
            "damping": self.config.damping,
            "shape": list(blk.shape_pq),
            "eigh_cached": cached,
            "dtype": str(dt).replace("torch.", ""),
            "structure": blk.stats.get("structure", ""),
        }
        if self.config.damping == "factored":
            details["note"] = "factored damping: an approximation of (C + eps I) x = g; residual of the exact system"
        report = SolveReport(self.name, "classical", blk.n, seconds, None, residual, details)
        return SolveResult(x.to(system.g.dtype).reshape(system.g.shape), report)

    def state_dict(self) -> dict[str, Any]:
        """The eigendecomposition calibrations (a resumed run prices, hence routes, the same way)."""
        models = {"given": self.config.cost} if self.config.cost is not None else dict(_EIGH)
        return {k: m.calibration.to_dict() for k, m in models.items() if m.c is None and m.calibration is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, cal in state.items():
            model = self.config.cost if key == "given" else _EIGH.setdefault(key, EighCostModel(dtype=key))
            if model is not None and model.c is None:
                object.__setattr__(model, "_calibration", Calibration.from_dict(cal))
