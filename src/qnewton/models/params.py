"""Parameter blocks: how a model's parameters group into the blocks whose Hessians the scheduler
solves one at a time (the paper computes layer-wise Hessian blocks for BERT and Mistral,
Sec. V-A, and the exact Hessian for the DNN)."""

from __future__ import annotations

from typing import Literal

from torch import nn

from ..errors import InvalidArgumentError

__all__ = ["block_name", "count_parameters", "count_parameters_per_block", "parameter_blocks"]

Granularity = Literal["tensor", "module", "layer"]


def block_name(param_name: str, granularity: Granularity = "layer") -> str:
    """The block a parameter belongs to.

    * ``"tensor"``: the parameter itself (``fc1.weight``).
    * ``"module"``: its owning module (``fc1``; ``model.layers.0.self_attn.q_proj``).
    * ``"layer"``: up to the first numeric part (``model.layers.0``, ``bert.encoder.layer.3``);
      without one, the first two parts of a name with three or more (``bert.embeddings``,
      ``cls.predictions``, ``model.norm``), else the first part (``fc1``, ``lm_head``).

    >>> block_name("bert.encoder.layer.2.attention.self.query.weight")
    'bert.encoder.layer.2'
    >>> block_name("fc2.bias"), block_name("fc2.bias", "tensor")
    ('fc2', 'fc2.bias')
    """
    parts = param_name.split(".")
    if granularity == "tensor":
        return param_name
    if granularity == "module":
        return ".".join(parts[:-1]) or param_name
    if granularity != "layer":
        raise InvalidArgumentError(f"`granularity` must be 'tensor', 'module' or 'layer', got {granularity!r}.")
    for i, p in enumerate(parts[:-1]):
        if p.isdigit():
            return ".".join(parts[: i + 1])
    return ".".join(parts[:2]) if len(parts) >= 3 else parts[0]


def parameter_blocks(model: nn.Module, granularity: Granularity = "layer") -> dict[str, list[str]]:
    """Block name -> names of its parameters, in the model's order. Tied parameters (BERT's
    decoder weight is its word-embedding matrix) appear once, under their first name; frozen
    parameters (``requires_grad=False``) are left out."""
    blocks: dict[str, list[str]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            blocks.setdefault(block_name(name, granularity), []).append(name)
    return blocks


def count_parameters_per_block(model: nn.Module, granularity: Granularity = "layer") -> dict[str, int]:
    """Block name -> number of trainable parameters (the side of that block's Hessian).

    The values sum to :func:`count_parameters`. For ``paper_dnn()`` at ``"layer"`` granularity:
    ``{"fc1": 12560, "fc2": 272, "fc3": 170}``; at ``"tensor"``, ``fc1.weight`` is 12544.
    """
    params = dict(model.named_parameters())
    return {b: sum(params[n].numel() for n in names) for b, names in parameter_blocks(model, granularity).items()}


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of distinct parameters (tied ones counted once).

    >>> from qnewton.models import paper_dnn
    >>> count_parameters(paper_dnn())
    13002
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
