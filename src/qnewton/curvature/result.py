"""What a curvature computation returns: loss, gradient and curvature per block, with timings.

The optimizer needs the loss and the gradient at the same point as the curvature; they come out
of the same call so no forward pass is repeated. Every time figure is ``measured_seconds`` (wall
clock on this machine, ``time.perf_counter``), per phase.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from .blocks import ParamBlock
from .operators import CurvatureOperator, DenseOperator, EmpiricalFisherOperator

__all__ = ["BlockCurvature", "CurvatureKind", "CurvatureResult"]

CurvatureKind = Literal["hessian", "empirical_fisher"]


@dataclass(frozen=True)
class BlockCurvature:
    """The curvature of one block: a dense symmetric matrix, or a factor for a matrix-free Fisher.

    Attributes:
        block: the :class:`ParamBlock`.
        kind: ``"hessian"`` (exact) or ``"empirical_fisher"``.
        matrix: the n x n symmetrized matrix (parameters' dtype and device), or ``None`` in factor
            form.
        factor: ``G`` (B_c x n per-sample gradients) with F = G^T G / B_c, or ``None``.
        asymmetry: max |c_ij - c_ji| of the matrix before symmetrization (``nan`` in factor form,
            which is symmetric by construction).
        max_abs: max |c_ij| before symmetrization (``nan`` in factor form).
        method: how it was computed, e.g. ``"rev-rev/vmap"``, ``"per-sample/loop"``.
        chunk_size: rows (Hessian) or samples (Fisher) per vectorized call.
        num_chunks: number of vectorized calls.
        measured_seconds: wall-clock seconds per phase (``"compute"``, ``"symmetrize"`` (with the
            NaN/Inf check), ``"total"``).
    """

    block: ParamBlock
    kind: CurvatureKind
    matrix: torch.Tensor | None
    factor: torch.Tensor | None = None
    asymmetry: float = float("nan")
    max_abs: float = float("nan")
    method: str = ""
    chunk_size: int = 0
    num_chunks: int = 0
    measured_seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The block's name."""
        return self.block.name

    @property
    def size(self) -> int:
        """n (the curvature is n x n)."""
        return self.block.size

    @property
    def is_dense(self) -> bool:
        """True when :attr:`matrix` holds the formed matrix."""
        return self.matrix is not None

    @property
    def relative_asymmetry(self) -> float:
        """asymmetry / max_abs (0 for an all-zero block)."""
        if self.max_abs == 0:
            return 0.0
        return self.asymmetry / self.max_abs

    def to_dense(self) -> torch.Tensor:
        """The n x n matrix (formed from the factor if needed: G^T G / B_c)."""
        if self.matrix is not None:
            return self.matrix
        assert self.factor is not None
        return self.factor.T @ self.factor / self.factor.shape[0]

    def operator(self, numpy_dtype: Any = None) -> CurvatureOperator:
        """This block's curvature as a :class:`CurvatureOperator` (dense or matrix-free)."""
        if self.matrix is not None:
            return DenseOperator(self.matrix, numpy_dtype=numpy_dtype)
        assert self.factor is not None
        return EmpiricalFisherOperator.from_factor(self.factor, numpy_dtype=numpy_dtype)


@dataclass(frozen=True)
class CurvatureResult:
    """Loss, gradient and curvature per block at one point, from one call.

    Attributes:
        kind: ``"hessian"`` or ``"empirical_fisher"``.
        loss: mean loss over the whole batch (a 0-d tensor, detached).
        grads: per block name, the flat gradient (length n) of the mean loss over the whole batch.
        param_grads: per parameter name, the gradient in the parameter's shape (every variable of
            the problem, including ones in no block).
        blocks: per block name, its :class:`BlockCurvature` (in block order).
        batch_size: B, samples in the batch (loss and gradient).
        curvature_batch_size: samples used for the curvature (a prefix of the batch).
        measured_seconds: wall-clock seconds per phase: ``"loss_and_gradient"``, ``"curvature"``
            (all blocks), ``"total"``.
    """

    kind: CurvatureKind
    loss: torch.Tensor
    grads: Mapping[str, torch.Tensor]
    param_grads: Mapping[str, torch.Tensor]
    blocks: Mapping[str, BlockCurvature]
    batch_size: int
    curvature_batch_size: int
    measured_seconds: Mapping[str, float]

    def __getitem__(self, name: str) -> BlockCurvature:
        return self.blocks[name]

    def __iter__(self) -> Iterator[BlockCurvature]:
        return iter(self.blocks.values())

    def __len__(self) -> int:
        return len(self.blocks)

    @property
    def names(self) -> tuple[str, ...]:
        """Block names, in order."""
        return tuple(self.blocks)

    def summary(self) -> str:
        """One line per block: name, n, method, asymmetry, seconds."""
        total = self.measured_seconds.get("total", 0.0)
        lines = [
            f"{self.kind}: loss {float(self.loss):.6g}, batch {self.batch_size} "
            f"(curvature {self.curvature_batch_size}), {total:.3f} s measured"
        ]
        for bc in self:
            form = "dense" if bc.is_dense else f"factor {tuple(bc.factor.shape)}"  # type: ignore[union-attr]
            lines.append(
                f"  {bc.name:<40} n={bc.size:<8} {form:<18} {bc.method:<18} "
                f"rel.asym={bc.relative_asymmetry:.2e} {bc.measured_seconds.get('total', 0.0):.3f} s"
            )
        return "\n".join(lines)
