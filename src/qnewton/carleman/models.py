r"""A small real model whose training dynamics are exactly polynomial: a pruned two-layer linear
network on a binary task from scikit-learn's digits.

Model: :math:`f(x) = w_2^T (W_1 x) + b_2` (hidden width h, identity activation: the "deep linear
network" of Saxe, McClelland, Ganguli, ICLR 2014), trained on the squared loss with labels +-1
and optional weight decay,

.. math::  L(\theta) = \frac{1}{2B} \sum_{i=1}^{B} (f(x_i) - y_i)^2 + \frac{\lambda}{2} \|\theta\|^2 .

Why this model: f is bilinear in (W_1, w_2), so L is a polynomial of degree 4 and its gradient a
polynomial of degree m = 3, the class the discrete Carleman linearization handles exactly
(:mod:`qnewton.carleman.polynomial`); a ReLU/softmax network is not in that class. It is also the
simplest network whose training is *nonlinear* and *non-convex*: the origin is a saddle (negative
Hessian modes early in training), and the rescaling symmetry :math:`(W_1, w_2) \to (cW_1, w_2/c)`
leaves flat directions near a minimum (zero modes: "almost dissipative"), which weight decay
lifts. Binary +-1 targets keep the parameter count small; the Carleman state grows as n^K, so the
pruned model has only a handful of weights (``keep`` of W_1's entries, by magnitude after dense
pre-training, as Liu et al. prune before quantum training).

The pruned parameters are a fixed selection P of W_1's entries; the variables are
theta = [W_1 entries kept (row-major order), w_2, b_2].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._validation import check_int_range, check_positive
from ..errors import InvalidArgumentError, ShapeError

__all__ = ["BinaryData", "PrunedLinearNet", "binary_digits", "pretrain_dense"]


@dataclass(frozen=True, eq=False)
class BinaryData:
    """A two-class split of an image data set with +-1 labels (float64 tensors)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[int, int]
    source: str

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def binary_digits(positive: int = 4, negative: int = 9, *, seed: int = 0) -> BinaryData:
    """Digits ``positive`` (+1) vs ``negative`` (-1) from scikit-learn's 8x8 digits (64 features in
    [0, 1]), with :func:`qnewton.data.load_image_dataset`'s stratified train/test split."""
    from ..data import load_image_dataset

    for name, v in (("positive", positive), ("negative", negative)):
        check_int_range(v, name, 0, 9)
    if positive == negative:
        raise InvalidArgumentError("`positive` and `negative` must be two different digits.")
    ds = load_image_dataset("digits", seed=seed)

    def split(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        m = (y == positive) | (y == negative)
        return torch.tensor(x[m], dtype=torch.float64), torch.tensor(np.where(y[m] == positive, 1.0, -1.0))

    xtr, ytr = split(*ds.arrays("train"))
    xte, yte = split(*ds.arrays("test"))
    return BinaryData(xtr, ytr, xte, yte, (positive, negative), f"{ds.source}, digits {positive} vs {negative}")


def pretrain_dense(
    data: BinaryData, hidden: int = 2, *, steps: int = 1500, lr: float = 0.05, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Classical full-batch gradient descent on the dense two-layer linear network (the
    "classical pre-training" before pruning). Returns (W_1, w_2, b_2)."""
    hidden = check_int_range(hidden, "hidden", 1, 1024)
    steps = check_int_range(steps, "steps", 0, 10**7)
    lr = check_positive(lr, "lr")
    g = torch.Generator().manual_seed(seed)
    d = data.n_features
    W1 = 0.1 * torch.randn(hidden, d, generator=g, dtype=torch.float64)
    w2 = 0.1 * torch.randn(hidden, generator=g, dtype=torch.float64)
    b2 = torch.zeros((), dtype=torch.float64)
    x, y = data.x_train, data.y_train
    B = x.shape[0]
    for _ in range(steps):  # closed-form gradient of the mean squared loss (no autograd needed)
        h = x @ W1.T
        r = (h @ w2 + b2 - y) / B
        gW1 = torch.outer(w2, x.T @ r)
        gw2 = h.T @ r
        gb2 = r.sum()
        W1, w2, b2 = W1 - lr * gW1, w2 - lr * gw2, b2 - lr * gb2
    return W1, w2, b2


class PrunedLinearNet:
    """The pruned two-layer linear network as a function of its n free parameters.

    Args:
        mask: (h, d) boolean, the kept entries of W_1.
        data: the training/test data.
        weight_decay: lambda >= 0 (adds lambda I to every Hessian: more dissipative dynamics).

    Example:
        >>> X = torch.eye(3, dtype=torch.float64); y = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
        >>> data = BinaryData(X, y, X, y, (0, 1), "toy")
        >>> net = PrunedLinearNet(np.array([[True, False, True]]), data)
        >>> net.n, net.names
        (4, ('W1[0,0]', 'W1[0,2]', 'w2[0]', 'b2'))
    """

    def __init__(self, mask: np.ndarray, data: BinaryData, weight_decay: float = 0.0) -> None:
        m = np.asarray(mask, dtype=bool)
        if m.ndim != 2 or m.shape[1] != data.n_features:
            raise ShapeError(f"`mask` must be (hidden, {data.n_features}), got shape {m.shape}.")
        if not m.any():
            raise InvalidArgumentError("`mask` keeps no weight of W_1; keep at least one.")
        if weight_decay < 0 or not np.isfinite(weight_decay):
            raise InvalidArgumentError(f"`weight_decay` must be a finite number >= 0, got {weight_decay!r}.")
        self.mask = m
        self.data = data
        self.weight_decay = float(weight_decay)
        self.hidden, self.d = m.shape
        self.k = int(m.sum())
        idx = np.flatnonzero(m.reshape(-1))
        P = np.zeros((self.hidden * self.d, self.k))
        P[idx, np.arange(self.k)] = 1.0
        self._P = torch.tensor(P)  # W_1 (flat) = P theta[:k]: a matmul, so torch.func can nest jacfwd
        rows, cols = np.divmod(idx, self.d)
        self.names: tuple[str, ...] = (
            *(f"W1[{r},{c}]" for r, c in zip(rows, cols)),
            *(f"w2[{j}]" for j in range(self.hidden)),
            "b2",
        )

    @property
    def n(self) -> int:
        """Number of free parameters: kept W_1 entries + hidden + 1."""
        return self.k + self.hidden + 1

    def pack(self, W1: Any, w2: Any, b2: Any) -> np.ndarray:
        """theta from dense (W_1, w_2, b_2) (W_1's pruned entries are dropped)."""
        W = np.asarray(torch.as_tensor(W1, dtype=torch.float64)).reshape(-1)[self.mask.reshape(-1)]
        return np.concatenate([W, np.asarray(torch.as_tensor(w2, dtype=torch.float64)).reshape(-1), [float(b2)]])

    def _unpack(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        W1 = (self._P @ theta[: self.k]).reshape(self.hidden, self.d)
        return W1, theta[self.k : self.k + self.hidden], theta[-1]

    def outputs(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        W1, w2, b2 = self._unpack(theta)
        return (x @ W1.T) @ w2 + b2

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """The training loss as a pure torch function of theta (vmap/jacfwd compatible)."""
        r = self.outputs(theta, self.data.x_train) - self.data.y_train
        out = 0.5 * (r * r).mean()
        if self.weight_decay:
            out = out + 0.5 * self.weight_decay * (theta * theta).sum()
        return out

    def loss_value(self, theta: Any) -> float:
        with torch.no_grad():
            return float(self.loss(torch.as_tensor(np.asarray(theta, dtype=np.float64))))

    def accuracy(self, theta: Any, split: str = "test") -> float:
        """Share of correctly signed outputs on ``split`` ('train' or 'test')."""
        x, y = (self.data.x_test, self.data.y_test) if split == "test" else (self.data.x_train, self.data.y_train)
        with torch.no_grad():
            f = self.outputs(torch.as_tensor(np.asarray(theta, dtype=np.float64)), x)
        return float((torch.sign(f) == y).double().mean())

    def gradient(self, theta: Any) -> np.ndarray:
        t = torch.as_tensor(np.asarray(theta, dtype=np.float64)).clone().requires_grad_()
        (g,) = torch.autograd.grad(self.loss(t), t)
        return g.detach().numpy()

    @staticmethod
    def magnitude_mask(W1: Any, keep: int) -> np.ndarray:
        """The ``keep`` entries of W_1 with the largest |value| (ties broken by index)."""
        W = np.abs(np.asarray(torch.as_tensor(W1, dtype=torch.float64)))
        keep = check_int_range(keep, "keep", 1, W.size)
        order = np.argsort(-W.reshape(-1), kind="stable")[:keep]
        m = np.zeros(W.size, dtype=bool)
        m[order] = True
        return m.reshape(W.shape)
