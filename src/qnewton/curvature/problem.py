"""The training loss as a pure function of the trainable parameters: ``L(theta; batch)``.

Every curvature in this package (exact Hessian blocks, empirical Fisher, Hessian-vector products)
differentiates one function, ``LossProblem.loss(params, batch)``, built with
``torch.func.functional_call``: the model's parameters are swapped for the tensors in ``params``
for the duration of one call, so ``torch.func.grad``/``vjp``/``jvp``/``vmap`` can differentiate
through any ``nn.Module`` without a table of layer types.

Two ways to describe the loss (Q-Newton paper, Sec. V-A uses both kinds of model):

* classic: ``LossProblem(model, criterion)``; a batch is ``(inputs, targets)`` and the loss is
  ``criterion(model(inputs), targets)`` (``inputs`` may be a tensor, a tuple of positional
  tensors or a dict of keyword tensors);
* general: ``LossProblem(model, forward_loss=fn)`` with ``fn(model, batch) -> scalar``, e.g.
  ``lambda m, b: m(**b).loss`` for a transformers model. ``fn`` receives the real model; it is
  wrapped in a small module so that ``functional_call`` substitutes the parameters inside it.

The loss must be the **mean** over the batch of per-sample losses for the empirical Fisher to have
its usual meaning; the per-sample loss is the same function evaluated on a batch of one sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from ..errors import InvalidArgumentError, ShapeError
from ._batch import Batch, call_model
from ._batch import batch_size as _batch_size

__all__ = ["LossProblem"]

_PREFIX = "model."


class _ForwardLossModule(nn.Module):
    """Holds the user's model as a submodule so functional_call can reach its parameters."""

    def __init__(self, model: nn.Module, fn: Callable[[nn.Module, Batch], torch.Tensor]):
        super().__init__()
        self.model = model
        self._fn = fn

    def forward(self, batch: Batch) -> torch.Tensor:
        return self._fn(self.model, batch)


def _criterion_loss(criterion: Callable[..., torch.Tensor]) -> Callable[[nn.Module, Batch], torch.Tensor]:
    def fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        inputs, targets = batch
        return criterion(call_model(model, inputs), targets)

    return fn


class LossProblem:
    """The mean training loss of ``model`` as a function of its trainable parameters.

    Args:
        model: any ``torch.nn.Module``. Put it in ``eval()`` mode when it has dropout: a random
            loss has no well-defined Hessian (vmap refuses random operations).
        criterion: ``criterion(outputs, targets) -> scalar`` with mean reduction (e.g.
            ``nn.CrossEntropyLoss()``); then a batch is ``(inputs, targets)``.
        forward_loss: ``forward_loss(model, batch) -> scalar`` instead of ``criterion``.
        params: which parameters are the variables: ``None`` (every parameter with
            ``requires_grad=True``; frozen ones are listed in :attr:`frozen`), or an iterable of
            parameter names or ``nn.Parameter`` objects of ``model``.

    Raises:
        InvalidArgumentError: neither or both of ``criterion``/``forward_loss``; a criterion with
            ``reduction`` other than ``"mean"``; an unknown or frozen parameter; no parameters.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> model = nn.Linear(3, 2)
        >>> problem = LossProblem(model, nn.CrossEntropyLoss())
        >>> problem.param_names
        ('weight', 'bias')
        >>> batch = (torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1]))
        >>> float(problem.loss(problem.detached_params(), batch)) > 0
        True
    """

    def __init__(
        self,
        model: nn.Module,
        criterion: Callable[..., torch.Tensor] | None = None,
        *,
        forward_loss: Callable[[nn.Module, Batch], torch.Tensor] | None = None,
        params: Iterable[str | nn.Parameter] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise InvalidArgumentError(f"`model` must be a torch.nn.Module, got {type(model).__name__}.")
        if (criterion is None) == (forward_loss is None):
            raise InvalidArgumentError(
                "Pass exactly one of `criterion` (loss = criterion(model(inputs), targets)) and "
                "`forward_loss` (loss = forward_loss(model, batch))."
            )
        if criterion is not None:
            reduction = getattr(criterion, "reduction", "mean")
            if reduction != "mean":
                raise InvalidArgumentError(
                    f"`criterion` has reduction={reduction!r}; the curvature is that of the mean loss. "
                    f"Use reduction='mean', or pass `forward_loss` that returns the mean."
                )
            fn = _criterion_loss(criterion)
            self.form = "criterion"
            self.criterion: Callable[..., torch.Tensor] | None = criterion
        else:
            if not callable(forward_loss):
                raise InvalidArgumentError("`forward_loss` must be callable as forward_loss(model, batch).")
            fn = forward_loss
            self.form = "forward_loss"
            self.criterion = None
        self.model = model
        self._module = _ForwardLossModule(model, fn)

        named = dict(model.named_parameters())
        if params is None:
            chosen = [k for k, p in named.items() if p.requires_grad]
        else:
            by_id = {id(p): k for k, p in named.items()}
            chosen = []
            for item in params:
                if isinstance(item, torch.Tensor):
                    if id(item) not in by_id:
                        raise InvalidArgumentError(
                            "`params` holds a tensor that is not a parameter of `model` (or is a tied "
                            "duplicate); pass parameters of this model or their names."
                        )
                    key = by_id[id(item)]
                elif isinstance(item, str):
                    if item not in named:
                        close = [k for k in named if item in k][:5]
                        raise InvalidArgumentError(
                            f"`params` names {item!r}, which is not a parameter of `model`"
                            + (f"; did you mean one of {close}?" if close else ".")
                            + " See model.named_parameters()."
                        )
                    key = item
                else:
                    raise InvalidArgumentError(
                        f"`params` items must be names or nn.Parameter objects, got {type(item).__name__}."
                    )
                if not named[key].requires_grad:
                    raise InvalidArgumentError(
                        f"`params` includes {key!r}, which has requires_grad=False (frozen). Leave it out, "
                        f"or call requires_grad_(True) on it."
                    )
                if key in chosen:
                    raise InvalidArgumentError(f"`params` lists {key!r} twice.")
                chosen.append(key)
        if not chosen:
            raise InvalidArgumentError(
                "`params` is empty: the model has no parameter with requires_grad=True (or an empty "
                "list was passed). There is nothing to differentiate."
            )
        for k in chosen:
            if not named[k].is_floating_point():
                raise InvalidArgumentError(f"parameter {k!r} has dtype {named[k].dtype}; it must be floating.")
        self.param_names: tuple[str, ...] = tuple(chosen)
        self.frozen: tuple[str, ...] = tuple(k for k in named if k not in set(chosen))
        self._named = {k: named[k] for k in chosen}

    # ------------------------------------------------------------------------------------------

    @property
    def params(self) -> Mapping[str, nn.Parameter]:
        """The variable parameters, by name (live ``nn.Parameter`` objects of the model)."""
        return dict(self._named)

    @property
    def num_params(self) -> int:
        """Total number of scalar variables."""
        return sum(p.numel() for p in self._named.values())

    def detached_params(self) -> dict[str, torch.Tensor]:
        """The current parameter values, detached (they share storage with the model)."""
        return {k: p.detach() for k, p in self._named.items()}

    def batch_size(self, batch: Batch) -> int:
        """Validate ``batch`` and return its size B (the common leading dimension).

        Raises:
            InvalidArgumentError: a criterion problem's batch is not ``(inputs, targets)``, or a leaf
                is not a tensor.
            ShapeError: the tensors disagree on B, a tensor is 0-d, or B = 0.
        """
        if self.form == "criterion" and not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            got = type(batch).__name__
            if isinstance(batch, (tuple, list)):
                got += f" of length {len(batch)}"
            raise InvalidArgumentError(
                f"`batch` must be a pair (inputs, targets) for a problem built from a criterion, got {got}."
            )
        return _batch_size(batch)

    def loss(self, params: Mapping[str, torch.Tensor], batch: Batch) -> Any:
        """``L(params; batch)``: the model's loss with its parameters replaced by ``params``.

        Parameters not in ``params`` (frozen ones, or variables left out) keep the model's values.
        Differentiable with ``torch.func`` and with ``torch.autograd`` alike.
        """
        sub = {_PREFIX + k: v for k, v in params.items()}
        out = functional_call(self._module, sub, (batch,))
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            what = type(out).__name__
            if isinstance(out, torch.Tensor):
                what = f"a tensor of shape {tuple(out.shape)}"
            raise ShapeError(
                f"the loss must be a scalar tensor, got {what}. The criterion needs reduction='mean'; "
                f"a `forward_loss` for a transformers model returns `model(**batch).loss`."
            )
        return out.reshape(())

    def outputs(self, params: Mapping[str, torch.Tensor], inputs: Batch) -> torch.Tensor:
        """``f(params; inputs)``: the model's outputs with its parameters replaced by ``params``
        (criterion problems only; the loss is ``criterion(f, targets)``). The generalized
        Gauss-Newton needs this split of the loss into the network f and the loss on its outputs."""
        if self.criterion is None:
            raise InvalidArgumentError(
                "this problem was built from `forward_loss`, which does not separate the network's "
                "outputs from the loss on them; the generalized Gauss-Newton needs "
                "LossProblem(model, criterion) with criterion(outputs, targets)."
            )
        if isinstance(inputs, Mapping):
            out = functional_call(self.model, dict(params), (), dict(inputs))
        elif isinstance(inputs, (tuple, list)):
            out = functional_call(self.model, dict(params), tuple(inputs))
        else:
            out = functional_call(self.model, dict(params), (inputs,))
        if not isinstance(out, torch.Tensor):
            raise ShapeError(
                f"the model returns {type(out).__name__}; the generalized Gauss-Newton needs a tensor of "
                f"outputs (wrap the model so that it returns, e.g., the logits)."
            )
        return out

    def __repr__(self) -> str:
        return (
            f"LossProblem({type(self.model).__name__}, form={self.form!r}, "
            f"{len(self.param_names)} parameter tensors, {self.num_params} variables)"
        )
