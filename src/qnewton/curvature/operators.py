"""Curvature as linear operators: one small abstraction, several implementations.

:class:`CurvatureOperator` is a ``scipy.sparse.linalg.LinearOperator`` (so ``eigsh``, ``cg``,
``minres`` and qnewton's Lanczos take it as is: numpy in, numpy out, in ``dtype``) that also
accepts torch tensors: ``op.matvec(v)``, ``op.matmat(V)`` and ``op @ v`` with a tensor argument
return a tensor in the operator's torch dtype and device, without a numpy round trip.
Implementations only supply ``_torch_matmat(V) -> H V`` for ``V`` of shape (n, k):

* :class:`HessianOperator`: the exact Hessian of the mean loss (the full Hessian or one block),
  by Hessian-vector products (reverse-over-reverse by default, the gradient graph kept);
* :class:`EmpiricalFisherOperator`: F = G^T G / B from the per-sample gradients G (B x n);
* :class:`DenseOperator`: an explicit symmetric matrix (a block already formed).

The symmetric operators are their own adjoints (``rmatvec = matvec``). ``to_dense()`` forms the
matrix column by column (chunked) for tests; it is not symmetrized.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from ..errors import InvalidArgumentError, ShapeError
from ._batch import Batch
from ._engine import (
    BlockHvp,
    check_finite_tensor,
    loss_and_gradient_pass,
    per_sample_gradient_chunks,
    sample_chunk_size,
    sub_batch,
)
from .blocks import ParamBlock, make_blocks
from .config import CurvatureConfig
from .problem import LossProblem

__all__ = ["CurvatureOperator", "DenseOperator", "EmpiricalFisherOperator", "HessianOperator"]

_TORCH_TO_NUMPY = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float32}


class CurvatureOperator(LinearOperator):
    """A symmetric n x n curvature operator usable from scipy (numpy) and from torch.

    Args:
        n: size.
        torch_dtype: the dtype of the torch computation (the parameters').
        device: where the torch computation runs (the parameters' device).
        numpy_dtype: dtype of numpy results (``np.float64`` for double-precision Lanczos on a
            float32 model: products are computed in ``torch_dtype`` and cast). Default: the
            numpy counterpart of ``torch_dtype``.
    """

    def __init__(self, n: int, torch_dtype: torch.dtype, device: torch.device, numpy_dtype: Any = None) -> None:
        if numpy_dtype is None:
            numpy_dtype = _TORCH_TO_NUMPY.get(torch_dtype, np.float64)
        npdt = np.dtype(numpy_dtype)
        if npdt not in (np.float32, np.float64):
            raise InvalidArgumentError(f"`numpy_dtype` must be float32 or float64, got {npdt}.")
        super().__init__(dtype=npdt, shape=(n, n))
        self.torch_dtype = torch_dtype
        self.device = torch.device(device)

    # --- the one method implementations provide ------------------------------------------------
    def _torch_matmat(self, V: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- torch entry points --------------------------------------------------------------------
    def _apply_torch(self, x: torch.Tensor, name: str) -> torch.Tensor:
        n = self.shape[0]
        if x.ndim not in (1, 2) or x.shape[0] != n:
            raise ShapeError(f"`{name}` must have shape ({n},) or ({n}, k), got {tuple(x.shape)}.")
        V = x.detach().to(dtype=self.torch_dtype, device=self.device)
        out = self._torch_matmat(V.reshape(n, -1))
        return out.reshape(x.shape)

    def matvec(self, x: Any) -> Any:
        """H x. A torch tensor gives a torch tensor; anything else goes through scipy (numpy)."""
        if isinstance(x, torch.Tensor):
            return self._apply_torch(x, "x")
        return super().matvec(x)

    def matmat(self, X: Any) -> Any:
        """H X for X of shape (n, k); torch in, torch out, else numpy."""
        if isinstance(X, torch.Tensor):
            if X.ndim != 2:
                raise ShapeError(f"`X` must be 2-D (n, k), got shape {tuple(X.shape)}.")
            return self._apply_torch(X, "X")
        return super().matmat(X)

    def rmatvec(self, x: Any) -> Any:
        """H^T x = H x (symmetric)."""
        return self.matvec(x)

    def __matmul__(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return self._apply_torch(x, "x")
        return super().__matmul__(x)

    def dot(self, x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return self._apply_torch(x, "x")
        return super().dot(x)

    # --- scipy hooks ---------------------------------------------------------------------------
    def _matmat(self, X: np.ndarray) -> np.ndarray:
        n = self.shape[0]
        V = torch.as_tensor(np.asarray(X), dtype=self.torch_dtype).to(self.device).reshape(n, -1)
        out = self._torch_matmat(V)
        return out.detach().cpu().numpy().astype(self.dtype, copy=False).reshape(np.shape(X))

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._matmat(x)

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matmat(x)

    def _rmatmat(self, X: np.ndarray) -> np.ndarray:
        return self._matmat(X)

    def _adjoint(self) -> CurvatureOperator:
        return self

    _transpose = _adjoint

    def to_dense(self, chunk: int = 1024) -> torch.Tensor:
        """The operator's matrix (column j = H e_j), formed ``chunk`` columns at a time; a tensor."""
        n = self.shape[0]
        out = torch.empty((n, n), dtype=self.torch_dtype, device=self.device)
        for j0 in range(0, n, chunk):
            j1 = min(n, j0 + chunk)
            E = torch.zeros((n, j1 - j0), dtype=self.torch_dtype, device=self.device)
            E[torch.arange(j0, j1), torch.arange(j1 - j0)] = 1
            out[:, j0:j1] = self._torch_matmat(E)
        return out


def _resolve_block(problem: LossProblem, block: ParamBlock | str | None) -> ParamBlock:
    if block is None or block == "full":
        return make_blocks(problem, "full")[0]
    if isinstance(block, ParamBlock):
        return make_blocks(problem, [block])[0]
    if isinstance(block, str):
        return make_blocks(problem, {block: [block]})[0]
    raise InvalidArgumentError(
        f"`block` must be None (all variables), a parameter name or a ParamBlock, got {type(block).__name__}."
    )


class HessianOperator(CurvatureOperator):
    """The exact Hessian of the mean loss, applied matrix-free: v -> H v.

    H = (1/B) sum_i d^2 l_i / d theta^2 over the variables of ``block`` (all variables when
    ``None``: the full Hessian with its off-diagonal blocks). Products use the chunked,
    vectorized engine of :func:`qnewton.curvature.exact_hessian`; with ``hvp_mode="rev-rev"``
    the first product builds the gradient graph (one forward + backward) and every later product
    is one more backward pass.

    The operator reads the parameters when the graph is built and keeps views of them: updating
    them in place afterwards makes later products fail (autograd's in-place check); build a new
    operator after each optimizer step.

    Args:
        problem: the :class:`LossProblem`.
        batch: the data (the curvature sub-batch is taken per ``config.curvature_batch_size``).
        block: ``None``/``"full"``, a parameter name, or a :class:`ParamBlock`.
        config: :class:`CurvatureConfig` (``chunk_size`` bounds the columns per vectorized call).
        numpy_dtype: dtype of numpy results (e.g. ``np.float64``).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Linear(3, 1).double()
        >>> X = torch.randn(8, 3, dtype=torch.float64)
        >>> batch = (X, torch.zeros(8, 1, dtype=torch.float64))
        >>> op = HessianOperator(LossProblem(model, nn.MSELoss()), batch, block="weight")
        >>> bool(torch.allclose(op.to_dense(), 2 * X.T @ X / 8))
        True
    """

    def __init__(
        self,
        problem: LossProblem,
        batch: Batch,
        block: ParamBlock | str | None = None,
        *,
        config: CurvatureConfig | None = None,
        numpy_dtype: Any = None,
    ) -> None:
        self.config = config or CurvatureConfig()
        b = problem.batch_size(batch)
        cbatch, self.batch_size = sub_batch(problem, batch, b, self.config)
        self.block = _resolve_block(problem, block)
        self._engine = BlockHvp(problem, cbatch, self.block, self.config)
        super().__init__(self.block.size, self.block.dtype, self.block.device, numpy_dtype)

    @property
    def loss(self) -> torch.Tensor:
        """The mean loss on the curvature batch."""
        return self._engine.loss

    @property
    def gradient(self) -> torch.Tensor:
        """The block's gradient (flat) on the curvature batch."""
        return self._engine.gradient

    def _torch_matmat(self, V: torch.Tensor) -> torch.Tensor:
        # Lanczos and CG ask for one vector at a time; wider requests (to_dense) go in chunks.
        chunk = self.config.chunk_size or 64
        k = V.shape[1]
        if k <= chunk:
            return self._engine.rows(V.T.contiguous()).T
        cols = [self._engine.rows(V[:, j : j + chunk].T.contiguous()).T for j in range(0, k, chunk)]
        return torch.cat(cols, 1)


class EmpiricalFisherOperator(CurvatureOperator):
    """The empirical Fisher of one block, F = (1/B) sum_i g_i g_i^T = G^T G / B, matrix-free.

    g_i is the gradient of sample i's loss (Kunstner et al. 2019; the Q-Newton paper's curvature
    for BERT and Mistral, Sec. V-A). The B x n factor G is formed once at construction (per-sample
    gradients, ``vmap`` over ``grad``); a product costs 4 B n flops and F is never formed.

    Args:
        problem: as :class:`HessianOperator`.
        batch: as :class:`HessianOperator`.
        block: as :class:`HessianOperator`.
        config: as :class:`HessianOperator`.
        numpy_dtype: as :class:`HessianOperator`.

    Raises:
        NonFiniteError: a per-sample gradient holds NaN/Inf (with ``config.check_finite``).
    """

    def __init__(
        self,
        problem: LossProblem | None,
        batch: Batch = None,
        block: ParamBlock | str | None = None,
        *,
        config: CurvatureConfig | None = None,
        numpy_dtype: Any = None,
        _factor: torch.Tensor | None = None,
    ) -> None:
        self.config = config or CurvatureConfig()
        if _factor is not None:
            G = _factor
            self.block = None
        else:
            if problem is None:
                raise InvalidArgumentError("`problem` is required (or use EmpiricalFisherOperator.from_factor).")
            b = problem.batch_size(batch)
            cbatch, bc = sub_batch(problem, batch, b, self.config)
            self.block = _resolve_block(problem, block)
            blk = self.block
            isz = torch.empty((), dtype=blk.dtype).element_size()
            chunk = self.config.sample_chunk_size
            if chunk is None:  # size chunks by the activations one forward pass saves
                _, _, act = loss_and_gradient_pass(problem, cbatch)
                chunk = sample_chunk_size(self.config, bc, blk.size, isz, act)
            chunks = per_sample_gradient_chunks(problem, cbatch, blk.param_names, bc, chunk, self.config)
            parts = [blk.flatten(g, batch_dims=1) for _, _, g in chunks]
            G = torch.cat(parts) if len(parts) > 1 else parts[0]
            if self.config.check_finite:
                check_finite_tensor(G, f"per-sample gradients[{blk.name}]")
        if G.ndim != 2 or G.shape[0] == 0:
            raise ShapeError(f"`G` must be a non-empty (B, n) matrix, got shape {tuple(G.shape)}.")
        self.factor = G
        self.batch_size = G.shape[0]
        super().__init__(G.shape[1], G.dtype, G.device, numpy_dtype)

    @classmethod
    def from_factor(cls, G: torch.Tensor, *, numpy_dtype: Any = None) -> EmpiricalFisherOperator:
        """F = G^T G / B from per-sample gradients ``G`` (B x n) already computed."""
        if not isinstance(G, torch.Tensor):
            raise InvalidArgumentError(f"`G` must be a torch tensor, got {type(G).__name__}.")
        return cls(None, _factor=G.detach(), numpy_dtype=numpy_dtype)

    def _torch_matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.factor.T @ (self.factor @ V) / self.batch_size


class DenseOperator(CurvatureOperator):
    """An explicit symmetric matrix as a :class:`CurvatureOperator`."""

    def __init__(self, matrix: torch.Tensor, *, numpy_dtype: Any = None) -> None:
        if not isinstance(matrix, torch.Tensor) or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ShapeError("`matrix` must be a square 2-D torch tensor.")
        self.matrix = matrix
        super().__init__(matrix.shape[0], matrix.dtype, matrix.device, numpy_dtype)

    def _torch_matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.matrix @ V

    def to_dense(self, chunk: int = 1024) -> torch.Tensor:
        return self.matrix
