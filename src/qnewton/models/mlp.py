"""The Q-Newton paper's DNN: a fully connected ReLU network, 784-16-16-10 (Sec. V-A, Table I:
"DNN, hidden dimension 16, 2 layers, 13K parameters").

Parameter count of ``paper_dnn()``: fc1 784*16 + 16, fc2 16*16 + 16, fc3 16*10 + 10
= 12544 + 16 + 256 + 16 + 160 + 10 = 13,002. ``fc1.weight`` alone is the 12544-parameter block
whose 12544 x 12544 Hessian the paper's Fig. 6 profiles.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from .._validation import check_int_range
from ..errors import InvalidArgumentError

__all__ = ["ACTIVATIONS", "MLP", "paper_dnn"]

#: activation name -> module class
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
}


class MLP(nn.Module):
    """Fully connected classifier ``sizes[0] -> ... -> sizes[-1]`` (logits, no final activation).

    Layers are named ``fc1``, ``fc2``, ...; the input is flattened, so (n, 784) features and
    (n, 1, 28, 28) images both work.

    Args:
        sizes: layer widths, input first, number of classes last (at least two entries).
        activation: one of :data:`ACTIVATIONS` (``"relu"`` in the paper). ReLU's second
            derivative is zero almost everywhere, so the exact Hessian of a ReLU net comes only
            from the loss's curvature and the cross-layer terms; ``"tanh"``/``"softplus"`` give
            smooth ones.
        bias: add a bias to every layer.

    >>> MLP((4, 3, 2))(torch.zeros(5, 4)).shape
    torch.Size([5, 2])
    """

    def __init__(self, sizes: Sequence[int] = (784, 16, 16, 10), activation: str = "relu", bias: bool = True):
        super().__init__()
        sizes = tuple(sizes)
        if len(sizes) < 2:
            raise InvalidArgumentError(f"`sizes` needs an input and an output width, got {sizes!r}.")
        for i, s in enumerate(sizes):
            check_int_range(s, f"sizes[{i}]", 1, 2**31 - 1)
        if activation not in ACTIVATIONS:
            raise InvalidArgumentError(f"`activation` must be one of {sorted(ACTIVATIONS)}, got {activation!r}.")
        self.sizes = sizes
        self.activation = activation
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layer = nn.Linear(a, b, bias=bias)
            self.add_module(f"fc{i + 1}", layer)
        self.act = ACTIVATIONS[activation]()

    def layers(self) -> list[nn.Linear]:
        """The linear layers fc1, fc2, ... in order."""
        return [getattr(self, f"fc{i + 1}") for i in range(len(self.sizes) - 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (n, sizes[-1])."""
        h = x.flatten(1)
        if h.shape[1] != self.sizes[0]:
            raise InvalidArgumentError(
                f"`x` has {h.shape[1]} features per sample, the network expects {self.sizes[0]}; use the "
                f"784-feature data (e.g. 'digits-784') or build the MLP with sizes[0] = {h.shape[1]}."
            )
        layers = self.layers()
        for fc in layers[:-1]:
            h = self.act(fc(h))
        return layers[-1](h)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, activation={self.activation!r}"


def paper_dnn(
    input_dim: int = 784,
    hidden: Sequence[int] = (16, 16),
    num_classes: int = 10,
    activation: str = "relu",
    seed: int | None = 0,
) -> MLP:
    """The paper's DNN, 784-16-16-10 with ReLU (13,002 parameters), seeded.

    Args:
        input_dim: features per sample (784 for MNIST-format data and 'digits-784', 64 for raw
            digits).
        hidden: hidden widths.
        num_classes: output width.
        activation: see :class:`MLP`.
        seed: initializes the weights (PyTorch's default Kaiming-uniform) from
            ``torch.manual_seed(seed)`` without touching the global RNG; ``None`` draws from the
            global RNG.

    >>> sum(p.numel() for p in paper_dnn().parameters())
    13002
    """
    sizes = (input_dim, *tuple(hidden), num_classes)
    if seed is None:
        return MLP(sizes, activation)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return MLP(sizes, activation)
