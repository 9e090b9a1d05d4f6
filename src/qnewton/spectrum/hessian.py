"""Hessian spectra of a model: SLQ from Hessian-vector products, the dense reference for small
models, and the Hessian of a pruned (masked) model.

The operator is :class:`qnewton.curvature.HessianOperator` over *all* trainable parameters (the
full Hessian, with its cross-layer blocks), applied by reverse-over-reverse Hessian-vector
products; it is never formed. A pruned model (Liu et al. 2024 prune their 103M ResNet to 10 %
density before looking at its spectrum) is trained only in its kept coordinates, so its dynamics
see P^T H P, the Hessian restricted to the kept parameters: :class:`RestrictedOperator`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import nn

from .._validation import check_fraction
from ..curvature import CurvatureConfig, HessianOperator, LossProblem, exact_hessian
from ..errors import InvalidArgumentError, ShapeError
from .slq import SLQResult, slq

__all__ = [
    "RestrictedOperator",
    "dense_hessian",
    "dense_hessian_eigenvalues",
    "flat_parameters",
    "hessian_operator",
    "hessian_slq",
    "magnitude_mask",
]

#: Largest model whose dense Hessian :func:`dense_hessian_eigenvalues` forms (n^2 float64 = 128 MB).
MAX_DENSE_N = 4096


class RestrictedOperator(LinearOperator):
    """P^T A P for the coordinate selection P of ``mask``: the operator on the kept entries only.

    Example:
        >>> import numpy as np
        >>> op = RestrictedOperator(np.diag([1.0, 2.0, 3.0]), np.array([True, False, True]))
        >>> op.matvec(np.ones(2)).tolist()
        [1.0, 3.0]
    """

    def __init__(self, A: Any, mask: np.ndarray) -> None:
        m = np.asarray(mask, dtype=bool).reshape(-1)
        if m.size != A.shape[0]:
            raise ShapeError(f"`mask` has {m.size} entries, the operator is {A.shape[0]} x {A.shape[1]}.")
        if not m.any():
            raise InvalidArgumentError("`mask` keeps no parameter; keep at least one (density > 0).")
        self._A = A
        self._idx = np.flatnonzero(m)
        self._n = int(m.size)
        super().__init__(dtype=np.float64, shape=(self._idx.size, self._idx.size))

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        full = np.zeros(self._n)
        full[self._idx] = np.asarray(x, dtype=np.float64).reshape(-1)
        return np.asarray(self._A @ full, dtype=np.float64).reshape(-1)[self._idx]

    def _rmatvec(self, x: np.ndarray) -> np.ndarray:
        return self._matvec(x)


def flat_parameters(model: nn.Module) -> np.ndarray:
    """The trainable parameters flattened in ``model.named_parameters()`` order (the order of
    :class:`HessianOperator`'s full block), float64."""
    params = [p for p in model.parameters() if p.requires_grad]
    return np.concatenate([p.detach().double().reshape(-1).cpu().numpy() for p in params])


def magnitude_mask(model: nn.Module, density: float, *, include_bias: bool = True) -> np.ndarray:
    """Global magnitude pruning: keep the ``density`` share of weights with the largest |value|.

    Biases and scalar gains (parameters with at most one dimension) are always kept when
    ``include_bias`` (as usual in pruning); the budget applies to the weights. Returns a boolean
    mask over :func:`flat_parameters`.

    Example:
        >>> m = nn.Linear(4, 2)
        >>> int(magnitude_mask(m, 0.5).sum())  # 4 of 8 weights + 2 biases
        6
    """
    density = check_fraction(density, "density")
    parts = [p.detach().double().reshape(-1).cpu().numpy() for p in model.parameters() if p.requires_grad]
    is_bias = np.concatenate(
        [np.full(p.numel(), include_bias and p.ndim <= 1) for p in model.parameters() if p.requires_grad]
    )
    values = np.abs(np.concatenate(parts))
    keep = is_bias.copy()
    cand = np.flatnonzero(~is_bias)
    k = max(1, round(density * cand.size)) if cand.size else 0
    if k:
        order = cand[np.argsort(-values[cand], kind="stable")]
        keep[order[:k]] = True
    return keep


def hessian_operator(
    model: nn.Module,
    batch: Any,
    criterion: Callable[..., torch.Tensor] | None = None,
    *,
    mask: np.ndarray | None = None,
    config: CurvatureConfig | None = None,
) -> LinearOperator:
    """The full Hessian of the mean loss as a float64 numpy operator (Hessian-vector products),
    restricted to ``mask`` when given. ``criterion`` defaults to cross-entropy."""
    problem = LossProblem(model, criterion if criterion is not None else nn.CrossEntropyLoss())
    op = HessianOperator(problem, batch, block=None, config=config, numpy_dtype=np.float64)
    return op if mask is None else RestrictedOperator(op, mask)


def hessian_slq(
    model: nn.Module,
    batch: Any,
    criterion: Callable[..., torch.Tensor] | None = None,
    *,
    mask: np.ndarray | None = None,
    num_probes: int = 8,
    steps: int = 80,
    seed: int = 0,
    config: CurvatureConfig | None = None,
) -> SLQResult:
    """SLQ of the model's Hessian (see :func:`qnewton.spectrum.slq`) from Hessian-vector products.

    Example:
        >>> torch.manual_seed(0) is not None
        True
        >>> model = nn.Linear(3, 2).double()
        >>> batch = (torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 2, (16,)))
        >>> res = hessian_slq(model, batch, num_probes=2, steps=8)
        >>> res.n, res.lambda_min > -1e-8   # softmax regression: a convex loss
        (8, True)
    """
    op = hessian_operator(model, batch, criterion, mask=mask, config=config)
    return slq(op, num_probes=num_probes, steps=steps, seed=seed)


def dense_hessian(model: nn.Module, batch: Any, criterion: Callable[..., torch.Tensor] | None = None) -> np.ndarray:
    """The full Hessian of the mean loss as a dense float64 matrix (:func:`qnewton.curvature.exact_hessian`,
    symmetrized), in :func:`flat_parameters` order; models with at most :data:`MAX_DENSE_N` parameters.

    Raises:
        InvalidArgumentError: the model is too large for a dense Hessian.
    """
    problem = LossProblem(model, criterion if criterion is not None else nn.CrossEntropyLoss())
    if problem.num_params > MAX_DENSE_N:
        raise InvalidArgumentError(
            f"the model has {problem.num_params} parameters; a dense Hessian is limited to {MAX_DENSE_N}. "
            f"Use hessian_slq (matrix-free) for this model."
        )
    matrix = exact_hessian(problem, batch, "full")["full"].matrix
    assert matrix is not None  # exact_hessian forms the dense block
    return matrix.double().cpu().numpy()


def dense_hessian_eigenvalues(
    model: nn.Module,
    batch: Any,
    criterion: Callable[..., torch.Tensor] | None = None,
    *,
    mask: np.ndarray | None = None,
    hessian: np.ndarray | None = None,
) -> np.ndarray:
    """Exact eigenvalues (ascending) of the full Hessian (or its ``mask`` restriction), from the
    dense matrix (:func:`dense_hessian`, or ``hessian`` if already formed) and LAPACK ``eigvalsh``:
    the reference SLQ is checked against.

    Raises:
        InvalidArgumentError: the model is too large for a dense Hessian.
    """
    h = dense_hessian(model, batch, criterion) if hessian is None else np.asarray(hessian, dtype=np.float64)
    if mask is not None:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        h = h[np.ix_(idx, idx)]
    return np.linalg.eigvalsh(h)
