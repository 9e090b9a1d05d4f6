"""Options for computing curvature (one frozen dataclass, validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._validation import check_fraction, check_int_range, check_positive
from ..errors import InvalidArgumentError

__all__ = ["CurvatureConfig"]

_BIG = 2**62


@dataclass(frozen=True)
class CurvatureConfig:
    """How curvature is computed. Defaults suit the paper's DNN on a CPU.

    Attributes:
        chunk_size: Hessian-vector products per vectorized call when a dense Hessian block is
            formed (rows of the block computed at once). ``None``: from ``memory_budget_bytes``.
        sample_chunk_size: samples per vectorized call for per-sample gradients (empirical
            Fisher). ``None``: from ``memory_budget_bytes``.
        memory_budget_bytes: working memory one chunk may use, *besides* the output block itself
            (an n x n block of float32 needs 4 n^2 bytes whatever the chunking). Default 512 MiB.
        hvp_mode: ``"rev-rev"`` (default): reverse-over-reverse, ``vjp`` of the gradient; the
            gradient graph is built once per block and reused by every product.
            ``"fwd-rev"``: forward-over-reverse, ``jvp`` of the gradient (recomputes the gradient
            per chunk; for models whose ops lack double-backward formulas).
        vectorize: ``"auto"`` (default): ``vmap`` over chunks, falling back to a Python loop (with
            a ``QNewtonWarning``) when an op has no batching rule (e.g. a data-dependent branch in
            a transformers model); ``"vmap"``: never fall back; ``"loop"``: never vectorize.
        curvature_batch_size: use only the first ``curvature_batch_size`` samples of the batch
            for the curvature (the loss and gradient still use the whole batch). ``None``: all.
        fisher_form: ``"dense"`` (n x n matrix), ``"factor"`` (keep the B x n per-sample gradients
            G, F = G^T G / B, applied matrix-free) or ``"auto"`` (dense when n <=
            ``max_dense_size``, else factor).
        max_dense_size: the largest block ``fisher_form="auto"`` forms densely.
        math_sdpa: run ``scaled_dot_product_attention`` with its math backend while computing
            curvature: the fused CPU/GPU kernels have no double-backward or forward-mode formulas.
        check_finite: raise ``NonFiniteError`` on NaN/Inf in loss, gradients or curvature.
        dense_budget_bytes: the most memory one dense n x n block may take when a route asks for
            it (``MemoryBudgetError`` above it, naming the block and the ways out). ``None``:
            ``dense_memory_fraction`` of the memory available when the block is formed.
        dense_memory_fraction: see ``dense_budget_bytes``; in (0, 1].
        structure: ``"auto"`` (default): form a Linear layer's exact Hessian block through its Kronecker
            factor (one GEMM, ``sum_s M_s ⊗ a_s a_s^T``) when it is verified equal to the GGN;
            ``"generic"``: always by Hessian-vector products (the reference path).
        structure_rtol: an exact-Hessian block is treated as its own generalized Gauss-Newton
            (the low-rank form of a layer whose outputs are linear in its weights) when one
            Hessian-vector product with a random direction matches the GGN product to this relative
            error. ``None``: 1e-4 for float32, 1e-9 for float64.
    """

    chunk_size: int | None = None
    sample_chunk_size: int | None = None
    memory_budget_bytes: int = 512 * 2**20
    hvp_mode: Literal["rev-rev", "fwd-rev"] = "rev-rev"
    vectorize: Literal["auto", "vmap", "loop"] = "auto"
    curvature_batch_size: int | None = None
    fisher_form: Literal["auto", "dense", "factor"] = "auto"
    max_dense_size: int = 16384
    math_sdpa: bool = True
    check_finite: bool = True
    structure: Literal["auto", "generic"] = "auto"
    dense_budget_bytes: int | None = None
    dense_memory_fraction: float = 0.5
    structure_rtol: float | None = None

    def __post_init__(self) -> None:
        if self.chunk_size is not None:
            check_int_range(self.chunk_size, "chunk_size", 1, _BIG)
        if self.sample_chunk_size is not None:
            check_int_range(self.sample_chunk_size, "sample_chunk_size", 1, _BIG)
        check_int_range(self.memory_budget_bytes, "memory_budget_bytes", 1, _BIG, "Give bytes, e.g. 2**30.")
        if self.curvature_batch_size is not None:
            check_int_range(self.curvature_batch_size, "curvature_batch_size", 1, _BIG)
        check_int_range(self.max_dense_size, "max_dense_size", 1, _BIG)
        if self.dense_budget_bytes is not None:
            check_int_range(self.dense_budget_bytes, "dense_budget_bytes", 1, _BIG, "Give bytes, e.g. 8 * 2**30.")
        check_fraction(self.dense_memory_fraction, "dense_memory_fraction")
        if self.structure_rtol is not None:
            check_positive(self.structure_rtol, "structure_rtol")
        for field, allowed in (
            ("hvp_mode", ("rev-rev", "fwd-rev")),
            ("vectorize", ("auto", "vmap", "loop")),
            ("fisher_form", ("auto", "dense", "factor")),
            ("structure", ("auto", "generic")),
        ):
            if getattr(self, field) not in allowed:
                raise InvalidArgumentError(f"`{field}` must be one of {allowed}, got {getattr(self, field)!r}.")
        for field in ("math_sdpa", "check_finite"):
            if not isinstance(getattr(self, field), bool):
                raise InvalidArgumentError(f"`{field}` must be True or False, got {getattr(self, field)!r}.")
