"""Lazy curvature blocks: what a route receives instead of a dense matrix.

A :class:`CurvatureBlock` is one diagonal block C of the curvature (exact Hessian, generalized
Gauss-Newton or empirical Fisher) as a linear operator. A route takes from it only what it needs:

* ``block @ V`` / ``matmat(V)``: C V by batched Hessian(/GGN/Fisher)-vector products on the
  model's device, never forming C (what Newton-CG needs);
* ``factor()`` / ``lowrank()``: an exact factorization C = U U^T (of rank r < n for ``lowrank``),
  when the block has one (the GGN and empirical Fisher of any block; the exact Hessian of a block
  whose network outputs are linear in its variables, verified numerically), in Kronecker form for
  ``nn.Linear`` layers (what the Woodbury route needs);
* ``dense()``: the n x n matrix, formed at most once per block and step and cached, through the
  block's structure when it has one (one GEMM) and by Hessian-vector products otherwise, after a
  memory check (what LAPACK and the quantum route's pruning need);
* ``diagonal()``, ``max_abs()``.

Every expensive call is timed (``stats``), so the routes' cost models can be calibrated on the
block itself. Blocks are built by :func:`curvature_blocks` (one per step: they hold the graph of
the current parameters) or wrap an explicit matrix (:class:`DenseBlock`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch.func import grad, jvp, vjp, vmap

from .._device import clock
from .._machine import available_memory_bytes
from ..errors import InvalidArgumentError, MemoryBudgetError, ShapeError
from ._batch import Batch
from ._engine import (
    BlockHvp,
    _vmap_failed,
    check_finite_tensor,
    dense_block,
    hvp_chunk_size,
    loss_and_gradient_pass,
    per_sample_gradient_chunks,
    sample_chunk_size,
    sub_batch,
    symmetrize_,
)
from ._factors import kronecker_factors, linear_sites
from .blocks import BlockSpec, ParamBlock, make_blocks
from .config import CurvatureConfig
from .lowrank import ExplicitLowRank, LowRank
from .operators import CurvatureOperator
from .problem import LossProblem

__all__ = [
    "CurvatureBlock",
    "DenseBlock",
    "EmpiricalFisherBlock",
    "GGNBlock",
    "HessianBlock",
    "LazyCurvature",
    "LazyKind",
    "curvature_blocks",
]

LazyKind = Literal["hessian", "ggn", "empirical_fisher", "kfac"]


def dense_budget(config: CurvatureConfig) -> int | None:
    """Bytes one dense block may take (None: unknown, no limit)."""
    if config.dense_budget_bytes is not None:
        return config.dense_budget_bytes
    avail = available_memory_bytes()
    return None if avail is None else int(avail * config.dense_memory_fraction)


class CurvatureBlock(CurvatureOperator):
    """One symmetric n x n curvature block as an operator with optional structure (see module doc).

    Attributes:
        name: the block's name.
        kind: ``"hessian"``, ``"ggn"``, ``"empirical_fisher"`` or ``"dense"`` (a given matrix).
        psd: True when the block is known to be positive semidefinite (GGN, Fisher, a Hessian
            verified equal to its GGN); then H + eps I is positive definite for every eps > 0.
        gradient: the block's flat gradient, when the builder knows it.
        stats: measured seconds and counts: ``matvecs``, ``matvec_s`` (one-vector products
            only), ``dense_s``, ``lowrank_s``, ``structure``: how ``lowrank`` was found or why not.
    """

    kind: str = "operator"

    def __init__(
        self,
        name: str,
        n: int,
        torch_dtype: torch.dtype,
        device: torch.device,
        *,
        config: CurvatureConfig | None = None,
        block: ParamBlock | None = None,
        gradient: torch.Tensor | None = None,
    ) -> None:
        super().__init__(n, torch_dtype, device)
        self.name = name
        self.block = block
        self.config = config or CurvatureConfig()
        self.gradient = gradient
        self.psd = False
        self._dense: torch.Tensor | None = None
        self._factor: LowRank | None = None
        self._factor_done = False
        self.stats: dict[str, Any] = {"matvecs": 0, "matvec_s": 0.0, "dense_s": 0.0, "lowrank_s": 0.0}

    @property
    def n(self) -> int:
        """The block's size."""
        return int(self.shape[0])

    # --- products ------------------------------------------------------------------------------
    def _products(self, V: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _torch_matmat(self, V: torch.Tensor) -> torch.Tensor:
        if self._dense is not None:  # formed already: a GEMV is cheaper than any product
            return self._dense @ V
        t0 = clock(self.device)
        out = self._products(V)
        if V.shape[1] == 1:
            self.stats["matvecs"] += 1
            self.stats["matvec_s"] += clock(self.device) - t0
        return out

    def seconds_per_matvec(self) -> float | None:
        """Measured seconds of one product C v so far (None before the first)."""
        k = self.stats["matvecs"]
        return self.stats["matvec_s"] / k if k else None

    # --- structure -----------------------------------------------------------------------------
    def _find_factor(self) -> tuple[LowRank | None, str]:
        return None, "no exact factorization known for this block"

    def factor(self) -> LowRank | None:
        """An exact factorization C = U U^T (any rank r), or None (``stats["structure"]`` says why).

        With it the block's products and its dense matrix are GEMMs; it is low rank only if r < n.
        """
        if not self._factor_done:
            t0 = clock(self.device)
            self._factor, why = self._find_factor()
            self._factor_done = True
            self.stats["lowrank_s"] += clock(self.device) - t0
            self.stats["structure"] = why
            if self._factor is not None:
                self.psd = True
        return self._factor

    def lowrank(self) -> LowRank | None:
        """:meth:`factor` when its rank r is below n (what the Woodbury identity needs), else None."""
        f = self.factor()
        return f if f is not None and f.rank < self.n else None

    # --- the dense matrix ----------------------------------------------------------------------
    @property
    def dense_formed(self) -> bool:
        """Whether :meth:`dense` has been called (the matrix is cached)."""
        return self._dense is not None

    def dense_bytes(self) -> int:
        return self.n * self.n * torch.empty((), dtype=self.torch_dtype).element_size()

    def check_dense_fits(self) -> None:
        """Raise MemoryBudgetError when the dense block exceeds the budget (see CurvatureConfig)."""
        need = self.dense_bytes()
        budget = dense_budget(self.config)
        if budget is not None and need > budget:
            raise MemoryBudgetError(
                f"block {self.name!r} ({self.n} x {self.n}, {need / 2**30:.2f} GiB as a dense "
                f"{str(self.torch_dtype).replace('torch.', '')} matrix) exceeds the memory budget of "
                f"{budget / 2**30:.2f} GiB. Ways out: a matrix-free route (routes=('cg',) or 'woodbury'), "
                f"smaller blocks (blocks='layerwise' or max_block_size), a smaller curvature_batch_size "
                f"for the structured routes, or a larger CurvatureConfig(dense_budget_bytes=...)."
            )

    def dense_fits(self) -> bool:
        """Whether the dense block fits the memory budget."""
        budget = dense_budget(self.config)
        return self._dense is not None or budget is None or self.dense_bytes() <= budget

    def _form_dense(self) -> tuple[torch.Tensor, str]:
        """Generic: C e_j column by column, in chunks; then symmetrized."""
        n = self.n
        chunk = max(1, min(n, self.config.chunk_size or 256))
        out = torch.empty((n, n), dtype=self.torch_dtype, device=self.device)
        E = torch.zeros((n, chunk), dtype=self.torch_dtype, device=self.device)
        for j0 in range(0, n, chunk):
            c = min(chunk, n - j0)
            idx = torch.arange(c, device=self.device)
            E[j0 + idx, idx] = 1
            out[:, j0 : j0 + c] = self._products(E[:, :c])
            E[j0 + idx, idx] = 0
        symmetrize_(out, f"curvature[{self.name}]", self.config.check_finite)
        return out, "products with basis vectors"

    def dense(self) -> torch.Tensor:
        """The n x n block (cached; formed through the block's structure when it has one).

        Raises:
            MemoryBudgetError: it would not fit the memory budget.
        """
        if self._dense is None:
            self.check_dense_fits()
            t0 = clock(self.device)
            lr = self.factor()
            if lr is not None:
                H, how = lr.dense(), f"{lr.form} GEMM (rank {lr.rank})"
            else:
                H, how = self._form_dense()
            if self.config.check_finite:
                check_finite_tensor(H, f"curvature[{self.name}]")
            self._dense = H
            self.stats["dense_s"] += clock(self.device) - t0
            self.stats["dense_method"] = how
        return self._dense

    def dense_cost(self) -> dict[str, float]:
        """How :meth:`dense` would form the block: ``{"flops": ..., "matvecs": ...}`` (zeros if formed)."""
        if self._dense is not None:
            return {"flops": 0.0, "matvecs": 0.0}
        lr = self.factor()
        if lr is not None:
            return {"flops": lr.flops_dense(), "matvecs": 0.0}
        return {"flops": 0.0, "matvecs": float(self.n)}

    def release(self) -> None:
        """Drop the cached dense matrix (the blocks of a finished step hold no n x n memory)."""
        self._dense = None

    # --- cheap summaries -----------------------------------------------------------------------
    def diagonal(self) -> torch.Tensor:
        """diag(C): from the structure or the dense matrix (which it forms if needed)."""
        if self._dense is not None:
            return self._dense.diagonal().clone()
        lr = self.factor()
        if lr is not None:
            return lr.diagonal()
        return self.dense().diagonal().clone()

    def max_abs(self) -> float:
        """max |c_ij|: the diagonal's maximum for a PSD block (|c_ij| <= sqrt(c_ii c_jj)), else dense."""
        if self._dense is None and (self.psd or self.factor() is not None):
            return float(self.diagonal().abs().max())
        return float(self.dense().abs().max())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n={self.n}, kind={self.kind!r})"


class DenseBlock(CurvatureBlock):
    """An explicit symmetric matrix (torch tensor or numpy array) as a :class:`CurvatureBlock`.

    Example:
        >>> import torch
        >>> b = DenseBlock(torch.tensor([[2.0, 1.0], [1.0, 3.0]]), name="w")
        >>> (b @ torch.ones(2)).tolist(), b.dense_formed
        ([3.0, 4.0], True)
    """

    kind = "dense"

    def __init__(
        self,
        matrix: Any,
        *,
        name: str = "block",
        gradient: torch.Tensor | None = None,
        psd: bool = False,
        config: CurvatureConfig | None = None,
    ) -> None:
        if not isinstance(matrix, torch.Tensor):
            import numpy as np

            matrix = torch.from_numpy(np.ascontiguousarray(matrix))
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
            raise ShapeError(f"`matrix` must be a non-empty square 2-D matrix, got shape {tuple(matrix.shape)}.")
        super().__init__(name, matrix.shape[0], matrix.dtype, matrix.device, config=config, gradient=gradient)
        self._dense = matrix
        self.psd = psd
        self.stats["dense_method"] = "given"

    def _products(self, V: torch.Tensor) -> torch.Tensor:
        assert self._dense is not None
        return self._dense @ V

    def release(self) -> None:  # the matrix is the block itself
        pass


class HessianBlock(CurvatureBlock):
    """An exact Hessian block of the mean loss: products by double backward (``BlockHvp``).

    Its exact factorization is the block's GGN factor, used only after one product with a random
    direction has matched the GGN's to ``CurvatureConfig.structure_rtol`` (true for any block
    whose network outputs are linear in its variables: every layer of a ReLU MLP). From then on
    the block's products, dense form and low-rank solves go through that factor (the same matrix,
    at a fraction of the cost of double backward); ``stats["structure"]`` records the check.
    """

    kind = "hessian"

    def __init__(
        self,
        problem: LossProblem,
        batch: Batch,
        block: ParamBlock,
        *,
        config: CurvatureConfig,
        gradient: torch.Tensor | None = None,
        act_bytes: int = 0,
        candidate: Callable[[], tuple[LowRank | None, str]] | None = None,
        graph: _SharedGradientGraph | None = None,
        structure_memo: MutableMapping[str, bool] | None = None,
    ) -> None:
        super().__init__(
            block.name, block.size, block.dtype, block.device, config=config, block=block, gradient=gradient
        )
        self._engine = BlockHvp(problem, batch, block, config)
        self._act_bytes = act_bytes
        self._candidate = candidate
        self._graph = graph
        self._memo = structure_memo

    def _products(self, V: torch.Tensor) -> torch.Tensor:
        f = self.factor()
        if f is not None:
            return f.matmat(V)
        return self._hvp(V)

    def _hvp(self, V: torch.Tensor) -> torch.Tensor:
        if self._graph is not None and V.shape[1] <= 4 and self.config.hvp_mode == "rev-rev":
            return self._graph.hvp(self.block, V)  # type: ignore[arg-type]
        chunk = self.config.chunk_size or 64
        if V.shape[1] <= chunk:
            return self._engine.rows(V.T.contiguous()).T
        return torch.cat(
            [self._engine.rows(V[:, j : j + chunk].T.contiguous()).T for j in range(0, V.shape[1], chunk)], 1
        )

    def _find_factor(self) -> tuple[LowRank | None, str]:
        if self._candidate is None:
            return None, "no GGN factor for this block (not a Linear layer of a criterion problem)"
        known = self._memo.get(self.name) if self._memo is not None else None
        if known is False:
            return None, "the Hessian is not its GGN here (checked at an earlier step)"
        lr, why = self._candidate()
        if lr is None:
            return None, why
        if known:
            return lr, f"Hessian = GGN (verified at an earlier step); {lr.form} factor"
        gen = torch.Generator(device="cpu").manual_seed(12345)
        v = torch.randn(self.n, 1, generator=gen, dtype=torch.float64).to(self.torch_dtype).to(self.device)
        hv = self._hvp(v)
        gv = lr.matmat(v)
        scale = float(hv.norm())
        rel = float((hv - gv).norm()) / scale if scale > 0 else float((hv - gv).norm())
        tol = self.config.structure_rtol or (1e-9 if self.torch_dtype == torch.float64 else 1e-4)
        if self._memo is not None:
            self._memo[self.name] = rel <= tol
        if rel > tol:
            return None, (
                f"the Hessian is not its GGN here (relative difference {rel:.2g} > {tol:g}: the outputs "
                f"are not linear in this block)"
            )
        return lr, f"Hessian = GGN verified (relative difference {rel:.2g} <= {tol:g}); {lr.form} factor"

    def _form_dense(self) -> tuple[torch.Tensor, str]:
        itemsize = torch.empty((), dtype=self.torch_dtype).element_size()
        chunk = hvp_chunk_size(self.config, self.n, itemsize, self._act_bytes)
        H, _ = dense_block(self._engine, chunk)
        symmetrize_(H, f"Hessian[{self.name}]", self.config.check_finite)
        mode = "vmap" if self._engine.vectorized else "loop"
        return H, f"{self.config.hvp_mode}/{mode} Hessian-vector products"


class GGNBlock(CurvatureBlock):
    """A block of the generalized Gauss-Newton G = J^T H_f J (H_f: Hessian of the loss with
    respect to the network's outputs): positive semidefinite for a convex loss; what curvlinops and
    BackPACK use by default (Schraudolph 2002; Martens 2010).

    Products: through the low-rank factor when the block has one (a Linear layer), else matrix-free
    by a Jacobian-vector product, the output Hessian's product and a vector-Jacobian product
    (``torch.func``). Needs a criterion problem (``LossProblem(model, criterion)``).
    """

    kind = "ggn"

    def __init__(
        self,
        problem: LossProblem,
        batch: Batch,
        block: ParamBlock,
        *,
        config: CurvatureConfig,
        gradient: torch.Tensor | None = None,
        candidate: Callable[[], tuple[LowRank | None, str]] | None = None,
    ) -> None:
        if problem.criterion is None:
            raise InvalidArgumentError(
                "curvature='ggn' needs a criterion problem (LossProblem(model, criterion)) so the network's "
                "outputs and the loss on them are separate; a forward_loss problem can use 'hessian' or "
                "'fisher'."
            )
        super().__init__(
            block.name, block.size, block.dtype, block.device, config=config, block=block, gradient=gradient
        )
        self.psd = True
        self._problem, self._batch, self._candidate = problem, batch, candidate
        self._fn: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._vectorized: bool | None = False if config.vectorize == "loop" else None

    def _find_factor(self) -> tuple[LowRank | None, str]:
        if self._candidate is None:
            return None, "no Kronecker factor (not a Linear layer); products are matrix-free"
        lr, why = self._candidate()
        return lr, why if lr is None else f"{lr.form} factor of rank {lr.rank}"

    def _build(self) -> Callable[[torch.Tensor], torch.Tensor]:
        if self._fn is None:
            problem, block = self._problem, self.block
            assert block is not None and problem.criterion is not None
            inputs, targets = self._batch
            base = problem.detached_params()
            x0 = block.flatten(base).detach()
            criterion = problem.criterion

            def f_of(flat: torch.Tensor) -> torch.Tensor:
                p = dict(base)
                p.update(block.unflatten(flat))
                return problem.outputs(p, inputs)

            def loss_of(f: torch.Tensor) -> torch.Tensor:
                return criterion(f, targets)

            f0, vjp_fn = vjp(f_of, x0)  # type: ignore[misc]
            f0 = f0.detach()

            def ggn_v(v: torch.Tensor) -> torch.Tensor:
                _, jv = jvp(f_of, (x0,), (v,))  # type: ignore[misc]
                _, hjv = jvp(grad(loss_of), (f0,), (jv,))  # type: ignore[misc]
                return vjp_fn(hjv)[0]

            self._fn = ggn_v
        return self._fn

    def _products(self, V: torch.Tensor) -> torch.Tensor:
        lr = self.factor()
        if lr is not None:
            return lr.matmat(V)
        fn = self._build()
        rows = V.T.contiguous()
        if self._vectorized is not False:
            try:
                out = vmap(fn)(rows)
                self._vectorized = True
                return out.T
            except (RuntimeError, NotImplementedError) as exc:
                if self._vectorized:
                    raise
                _vmap_failed(exc, self.config, "GGN-vector products")
                self._vectorized = False
        return torch.stack([fn(r) for r in rows], 1)


class EmpiricalFisherBlock(CurvatureBlock):
    """A block of the empirical Fisher F = (1/B) sum_s g_s g_s^T (g_s: sample s's loss gradient;
    Kunstner et al. 2019; the Q-Newton paper's curvature for BERT and Mistral). Always low rank
    (r <= B): a Kronecker factor for a Linear layer, else the per-sample gradients, formed once."""

    kind = "empirical_fisher"

    def __init__(
        self,
        problem: LossProblem,
        batch: Batch,
        block: ParamBlock,
        *,
        config: CurvatureConfig,
        gradient: torch.Tensor | None = None,
        candidate: Callable[[], tuple[LowRank | None, str]] | None = None,
    ) -> None:
        super().__init__(
            block.name, block.size, block.dtype, block.device, config=config, block=block, gradient=gradient
        )
        self.psd = True
        self._problem, self._batch, self._candidate = problem, batch, candidate
        self._gradients: LowRank | None = None

    def _per_sample_factor(self) -> LowRank:
        if self._gradients is None:
            cand = self._candidate() if self._candidate is not None else (None, "")
            if cand[0] is not None:
                self._gradients = cand[0]
            else:
                problem, blk = self._problem, self.block
                assert blk is not None
                b = problem.batch_size(self._batch)
                isz = torch.empty((), dtype=blk.dtype).element_size()
                chunk = self.config.sample_chunk_size
                if chunk is None:
                    _, _, act = loss_and_gradient_pass(problem, self._batch)
                    chunk = sample_chunk_size(self.config, b, blk.size, isz, act)
                parts = [
                    blk.flatten(g, batch_dims=1)
                    for _, _, g in per_sample_gradient_chunks(
                        problem, self._batch, blk.param_names, b, chunk, self.config
                    )
                ]
                G = torch.cat(parts) if len(parts) > 1 else parts[0]
                if self.config.check_finite:
                    check_finite_tensor(G, f"per-sample gradients[{blk.name}]")
                self._gradients = ExplicitLowRank((G / math.sqrt(b)).T.contiguous())
        return self._gradients

    def _find_factor(self) -> tuple[LowRank | None, str]:
        lr = self._per_sample_factor()
        return lr, f"{lr.form} factor of the per-sample gradients, rank {lr.rank}"

    def _products(self, V: torch.Tensor) -> torch.Tensor:
        return self._per_sample_factor().matmat(V)

    def _form_dense(self) -> tuple[torch.Tensor, str]:
        return self._per_sample_factor().dense(), "per-sample gradient GEMM"


@dataclass(frozen=True)
class LazyCurvature:
    """Loss, gradients and lazy curvature blocks at the model's current parameters.

    Attributes:
        kind: ``"hessian"``, ``"ggn"`` or ``"empirical_fisher"``.
        loss: the mean loss over the batch.
        grads: per block, the flat gradient over the whole batch.
        param_grads: per parameter, its gradient.
        blocks: per block, its :class:`CurvatureBlock` (on the curvature batch).
        batch_size, curvature_batch_size: B and the curvature's B_c.
        measured_seconds: ``loss_and_gradient`` (the first pass).
    """

    kind: LazyKind
    loss: torch.Tensor
    grads: Mapping[str, torch.Tensor]
    param_grads: Mapping[str, torch.Tensor]
    blocks: Mapping[str, CurvatureBlock]
    batch_size: int
    curvature_batch_size: int
    measured_seconds: Mapping[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> CurvatureBlock:
        return self.blocks[name]

    def __iter__(self) -> Iterator[CurvatureBlock]:
        return iter(self.blocks.values())

    def __len__(self) -> int:
        return len(self.blocks)


class _SharedGradientGraph:
    """The gradient of the mean loss with its graph, built once per step for every block.

    A few Hessian-vector products per block (the structure check, CG iterations) then cost one
    backward pass each through this graph, instead of a gradient graph per block (``BlockHvp``,
    which vectorizes many products at once and still forms dense blocks).
    """

    def __init__(self, problem: LossProblem, batch: Batch) -> None:
        self._problem, self._batch = problem, batch
        self._params: dict[str, torch.Tensor] | None = None
        self._grads: dict[str, torch.Tensor] = {}

    def _build(self) -> None:
        if self._params is None:
            params = {k: v.detach().requires_grad_(True) for k, v in self._problem.detached_params().items()}
            with torch.enable_grad():
                loss = self._problem.loss(params, self._batch)
                grads = torch.autograd.grad(loss, list(params.values()), create_graph=True, allow_unused=True)
            self._params = params
            self._grads = {k: g for k, g in zip(params, grads) if g is not None}

    def hvp(self, block: ParamBlock, V: torch.Tensor) -> torch.Tensor:
        """H_bb V for V of shape (n, k)."""
        self._build()
        assert self._params is not None
        names = [k for k in block.param_names if k in self._grads]
        if not names:  # the loss does not depend on the block: its Hessian is zero
            return torch.zeros_like(V)
        g = torch.cat([self._grads[k].reshape(-1) for k in block.param_names if k in self._grads])
        ps = [self._params[k] for k in names]
        k = V.shape[1]
        with torch.enable_grad():
            if k == 1:
                parts = torch.autograd.grad(g, ps, V[:, 0], retain_graph=True, allow_unused=True)
                rows = torch.cat([_flat(q, p) for p, q in zip(ps, parts)])[None]
            else:
                try:
                    parts = torch.autograd.grad(
                        g, ps, V.T.contiguous(), retain_graph=True, is_grads_batched=True, allow_unused=True
                    )
                    rows = torch.cat([_flat(q, p, k) for p, q in zip(ps, parts)], 1)
                except RuntimeError:  # an op without a batching rule: one product at a time
                    return torch.cat([self.hvp(block, V[:, j : j + 1]) for j in range(k)], 1)
        return rows.detach().T


def _flat(q: torch.Tensor | None, p: torch.Tensor, k: int | None = None) -> torch.Tensor:
    if q is None:
        q = torch.zeros((k, *p.shape) if k else p.shape, dtype=p.dtype, device=p.device)
    return q.reshape(k, -1) if k else q.reshape(-1)


class _SharedFactors:
    """Kronecker factors of every Linear block, computed together on first request."""

    def __init__(
        self, problem: LossProblem, batch: Batch, blocks: tuple[ParamBlock, ...], kind: Literal["ggn", "fisher"]
    ) -> None:
        self._args = (problem, batch, linear_sites(problem, blocks) if problem.criterion is not None else {}, kind)
        self._result: tuple[dict[str, Any], dict[str, str]] | None = None
        self.seconds = 0.0

    @property
    def sites(self) -> Mapping[str, Any]:
        return self._args[2]

    def get(self, name: str) -> tuple[LowRank | None, str]:
        if self._result is None:
            problem, batch, sites, kind = self._args
            device = next(iter(problem.params.values())).device
            t0 = clock(device)
            self._result = kronecker_factors(problem, batch, sites, kind)
            self.seconds = clock(device) - t0
        factors, reasons = self._result
        if name in factors:
            return factors[name], "kronecker"
        return None, reasons.get(name, "not a Linear layer's weight/bias")


def curvature_blocks(
    problem: LossProblem,
    batch: Batch,
    kind: Literal["hessian", "ggn", "empirical_fisher", "fisher"] = "hessian",
    blocks: BlockSpec = "layerwise",
    *,
    config: CurvatureConfig | None = None,
    structure_memo: MutableMapping[str, bool] | None = None,
) -> LazyCurvature:
    """Loss and gradient now; each block's curvature as a lazy :class:`CurvatureBlock`.

    One forward and backward pass over the batch is all this call costs; a block's products, its
    low-rank factor or its dense matrix are computed when a route asks for them (on the first
    ``curvature_batch_size`` samples).

    ``structure_memo`` (exact Hessian only): block name -> whether its Hessian was verified equal
    to its GGN. Whether it is depends on the architecture (outputs linear in the block's
    variables), not on the step, so an optimizer passes the same dict at every step and pays the
    check's Hessian-vector product once per block instead of once per step.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> torch.manual_seed(0) and None
        >>> model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 2)).double()
        >>> X, y = torch.randn(16, 20, dtype=torch.float64), torch.randint(0, 2, (16,))
        >>> res = curvature_blocks(LossProblem(model, nn.CrossEntropyLoss()), (X, y), "ggn")
        >>> blk = res["0.weight"]
        >>> lr = blk.lowrank()
        >>> lr.form, lr.rank, blk.n
        ('kronecker', 32, 160)
        >>> v = torch.randn(160, dtype=torch.float64)
        >>> bool(torch.allclose(blk @ v, blk.dense() @ v))
        True
    """
    if kind == "fisher":
        kind = "empirical_fisher"
    if kind not in ("hessian", "ggn", "empirical_fisher"):
        raise InvalidArgumentError(f"`kind` must be 'hessian', 'ggn' or 'empirical_fisher', got {kind!r}.")
    config = config or CurvatureConfig()
    device = next(iter(problem.params.values())).device
    t0 = clock(device)
    blks = make_blocks(problem, blocks)
    b = problem.batch_size(batch)
    loss, pgrads, act = loss_and_gradient_pass(problem, batch)
    if config.check_finite:
        check_finite_tensor(loss, "loss")
    grads = {}
    for blk in blks:
        g = blk.flatten(pgrads)
        if config.check_finite:
            check_finite_tensor(g, f"gradient[{blk.name}]")
        grads[blk.name] = g
    cbatch, bc = sub_batch(problem, batch, b, config)
    t1 = clock(device)
    factor_kind: Literal["ggn", "fisher"] = "fisher" if kind == "empirical_fisher" else "ggn"
    shared = _SharedFactors(problem, cbatch, blks, factor_kind)
    graph = _SharedGradientGraph(problem, cbatch) if kind == "hessian" else None
    out: dict[str, CurvatureBlock] = {}
    for blk in blks:
        cand = (lambda name=blk.name: shared.get(name)) if blk.name in shared.sites else None
        common: dict[str, Any] = {"config": config, "gradient": grads[blk.name], "candidate": cand}
        if kind == "hessian":
            out[blk.name] = HessianBlock(
                problem,
                cbatch,
                blk,
                act_bytes=act * bc // max(b, 1),
                graph=graph,
                structure_memo=structure_memo,
                **common,
            )
        elif kind == "ggn":
            out[blk.name] = GGNBlock(problem, cbatch, blk, **common)
        else:
            out[blk.name] = EmpiricalFisherBlock(problem, cbatch, blk, **common)
    return LazyCurvature(
        kind=kind,
        loss=loss,
        grads=grads,
        param_grads=pgrads,
        blocks=out,
        batch_size=b,
        curvature_batch_size=bc,
        measured_seconds={"loss_and_gradient": t1 - t0},
    )
