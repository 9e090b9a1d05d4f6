"""Private: batches as pytrees of tensors sharing a leading batch dimension.

A batch is a tensor, a tuple/list of batches, or a dict of batches. ``None`` leaves (e.g.
``token_type_ids=None``), Python scalars and strings are passed through untouched. Every tensor
leaf must have the same size along dimension 0: that size is the batch size B.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from ..errors import InvalidArgumentError, ShapeError

Batch = Any  # torch.Tensor | tuple | list | dict of those
_CONSTANTS = (bool, int, float, str)


def flatten(batch: Batch) -> tuple[list[Any], Callable[[list[Any]], Batch]]:
    """Split a batch into its leaves (depth-first) and a function that rebuilds it from new leaves.

    Tuples, lists and dicts are containers; everything else (tensors, ``None``, numbers) is a leaf.
    """
    leaves: list[Any] = []

    def walk(x: Any) -> Callable[[list[Any]], Any]:
        if isinstance(x, Mapping):
            keys = list(x.keys())
            subs = [walk(x[k]) for k in keys]
            return lambda it: {k: f(it) for k, f in zip(keys, subs)}
        if isinstance(x, (tuple, list)):
            subs = [walk(v) for v in x]
            kind = type(x) if type(x) in (tuple, list) else tuple
            return lambda it: kind(f(it) for f in subs)
        leaves.append(x)
        return lambda it: next(iter(it))

    build = walk(batch)
    return leaves, lambda new: build(iter(new))


def tree_map(fn: Callable[[Any], Any], batch: Batch) -> Batch:
    """Apply ``fn`` to every leaf of ``batch``."""
    leaves, rebuild = flatten(batch)
    return rebuild([fn(x) for x in leaves])


def batch_size(batch: Batch, name: str = "batch") -> int:
    """Return B, the common leading dimension of every tensor leaf; raise on a mismatch."""
    leaves, _ = flatten(batch)
    sizes: list[tuple[int, int]] = []
    for i, leaf in enumerate(leaves):
        if leaf is None or isinstance(leaf, _CONSTANTS):
            continue  # passed through unchanged to every sub-batch (e.g. `return_dict=True`)
        if not isinstance(leaf, torch.Tensor):
            raise InvalidArgumentError(
                f"`{name}` must be a tensor, a tuple/list or a dict of tensors; leaf {i} is a "
                f"{type(leaf).__name__}. Convert it to a tensor with a leading batch dimension."
            )
        if leaf.ndim == 0:
            raise ShapeError(
                f"`{name}` leaf {i} is a 0-d tensor; every tensor in a batch needs a leading batch "
                f"dimension (shape (B, ...))."
            )
        sizes.append((i, int(leaf.shape[0])))
    if not sizes:
        raise InvalidArgumentError(f"`{name}` holds no tensors; pass e.g. `(inputs, targets)`.")
    b = sizes[0][1]
    bad = [(i, s) for i, s in sizes if s != b]
    if bad:
        i, s = bad[0]
        raise ShapeError(
            f"`{name}` tensors disagree on the batch size (dimension 0): leaf 0 has {b} rows, "
            f"leaf {i} has {s}. Inputs, targets and masks must have one row per sample."
        )
    if b == 0:
        raise ShapeError(f"`{name}` is empty (batch size 0); pass at least one sample.")
    return b


def take(batch: Batch, rows: slice | torch.Tensor) -> Batch:
    """The sub-batch ``batch[rows]`` of every tensor leaf."""
    return tree_map(lambda t: t[rows] if isinstance(t, torch.Tensor) else t, batch)


def unsqueeze(batch: Batch) -> Batch:
    """Give every tensor leaf a leading batch dimension of 1 (a single sample as a batch)."""
    return tree_map(lambda t: t.unsqueeze(0) if isinstance(t, torch.Tensor) else t, batch)


def call_model(model: torch.nn.Module, inputs: Batch) -> Any:
    """``model(x)``, ``model(*x)`` or ``model(**x)`` for a tensor, a tuple/list or a dict of inputs."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)
