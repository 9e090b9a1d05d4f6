"""One loss entry point for every model family, so the optimizer and curvature code need not know
which model they train: ``forward_loss(model, batch) -> scalar``.

* classification (the paper's DNN on images): mean cross-entropy of the logits against integer
  labels; ``batch`` is ``(x, y)`` (what ``ImageDataset.loader`` yields) or ``{"x": ..., "y": ...}``.
* language models (transformers' BERT / Mistral): the model's own loss from ``labels`` (masked-LM:
  cross-entropy over positions with label != -100; causal LM: the model shifts labels by one);
  ``batch`` is a dict of model keyword arguments (``LMBlocks.batch()``), or the list
  ``[input_ids, attention_mask, labels]`` a ``LMBlocks.loader()`` yields, or
  ``(input_ids, labels)``.

``reduction="none"`` gives one loss per sample (for per-sample gradients, the empirical Fisher of
Sec. V-A): cross-entropy per image; for LMs the mean over that sample's labelled positions. For a
causal LM without padding the mean of these equals the model's loss; for a masked LM the model
weights every masked position equally across the batch, so the two means can differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..data.lm import IGNORE_INDEX
from ..errors import InvalidArgumentError, NonFiniteError

__all__ = [
    "TokenCrossEntropy",
    "classification_loss",
    "forward_loss",
    "functional_loss",
    "is_language_model",
    "lm_loss",
]

Reduction = Literal["mean", "none"]


def is_language_model(model: nn.Module) -> bool:
    """True for a transformers model (it has a ``config`` with a ``model_type``)."""
    cfg = getattr(model, "config", None)
    return cfg is not None and hasattr(cfg, "model_type")


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "none"):
        raise InvalidArgumentError(f"`reduction` must be 'mean' or 'none', got {reduction!r}.")


def classification_loss(model: nn.Module, batch: Any, reduction: Reduction = "mean") -> torch.Tensor:
    """Cross-entropy of ``model(x)`` (logits) against integer labels ``y``.

    >>> import torch
    >>> from qnewton.models import paper_dnn
    >>> batch = (torch.zeros(5, 4), torch.zeros(5, dtype=torch.long))
    >>> classification_loss(paper_dnn(4, (3,), 2), batch).shape
    torch.Size([])
    """
    _check_reduction(reduction)
    return _classification(model, batch, reduction)


def _classification(call: Callable[..., Any], batch: Any, reduction: Reduction) -> torch.Tensor:
    if isinstance(batch, Mapping) and "x" in batch and "y" in batch:
        x, y = batch["x"], batch["y"]
    elif isinstance(batch, Sequence) and len(batch) == 2:
        x, y = batch
    else:
        raise InvalidArgumentError(
            "`batch` for a classifier must be (x, y) or {'x': ..., 'y': ...}, got "
            f"{type(batch).__name__}{' of length ' + str(len(batch)) if isinstance(batch, Sequence) else ''}."
        )
    logits = call(x)
    if logits.ndim != 2 or y.shape != logits.shape[:1]:
        raise InvalidArgumentError(
            f"`batch`: logits of shape {tuple(logits.shape)} do not match labels of shape {tuple(y.shape)}; "
            f"expected (n, classes) logits and (n,) integer labels."
        )
    return F.cross_entropy(logits, y.long(), reduction=reduction)


def _lm_kwargs(batch: Any) -> dict[str, torch.Tensor]:
    if isinstance(batch, Mapping):
        kw = dict(batch)
    elif isinstance(batch, Sequence) and len(batch) == 3:
        kw = {"input_ids": batch[0], "attention_mask": batch[1], "labels": batch[2]}
    elif isinstance(batch, Sequence) and len(batch) == 2:
        kw = {"input_ids": batch[0], "labels": batch[1]}
    else:
        raise InvalidArgumentError(
            "`batch` for a language model must be a dict of model arguments with 'labels', "
            "[input_ids, attention_mask, labels] or (input_ids, labels)."
        )
    if kw.get("labels") is None:
        raise InvalidArgumentError("`batch` has no 'labels'; a language model computes its loss from them.")
    # transformers flattens labels with .view(); a sliced (non-contiguous) tensor would fail there
    kw["labels"] = kw["labels"].contiguous()
    return kw


def lm_loss(model: nn.Module, batch: Any, reduction: Reduction = "mean") -> torch.Tensor:
    """The transformers model's own LM loss (``reduction="mean"``) or per-sample losses."""
    _check_reduction(reduction)
    return _lm(model, model, batch, reduction)


def _lm(model: nn.Module, call: Callable[..., Any], batch: Any, reduction: Reduction) -> torch.Tensor:
    kw = _lm_kwargs(batch)
    if reduction == "mean":
        return call(**kw).loss
    labels = kw.pop("labels")
    logits = call(**kw).logits.float()
    name = type(model).__name__
    if "CausalLM" in name:
        logits, labels = logits[:, :-1], labels[:, 1:]
    elif "MaskedLM" not in name:
        raise InvalidArgumentError(
            f"`model` ({name}) is neither a *ForCausalLM nor a *ForMaskedLM; reduction='none' needs to "
            f"know whether labels are shifted."
        )
    tok = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none")
    count = (labels != IGNORE_INDEX).sum(dim=1)
    return tok.sum(dim=1) / count.clamp(min=1)


def forward_loss(
    model: nn.Module, batch: Any, reduction: Reduction = "mean", *, check_finite: bool = False
) -> torch.Tensor:
    """The training loss of ``model`` on ``batch``, whatever the model family.

    Args:
        model: a classifier returning logits (``paper_dnn()``) or a transformers LM.
        batch: see the module docstring.
        reduction: ``"mean"`` (a scalar) or ``"none"`` (one value per sample).
        check_finite: raise instead of returning a NaN/Inf loss.

    Raises:
        InvalidArgumentError: the batch does not fit the model family.
        NonFiniteError: ``check_finite`` and the loss is NaN/Inf.
    """
    return _dispatch(model, model, batch, reduction, check_finite)


def functional_loss(
    model: nn.Module,
    params: Mapping[str, torch.Tensor],
    batch: Any,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """:func:`forward_loss` with some or all parameters replaced by ``params`` (name -> tensor),
    via :func:`torch.func.functional_call`; parameters not in ``params`` are the module's own.

    This is the pure function of the parameters that ``torch.func`` transforms need, e.g.
    per-sample gradients for the empirical Fisher (each sample as a batch of one)::

        def one(p, x, y):
            return functional_loss(model, p, (x[None], y[None]))
        grads = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))(params, X, Y)

    or one block's Hessian, ``torch.func.hessian(lambda w: functional_loss(model,
    {"fc1.weight": w}, batch))(w0)``. Both work for the DNN and for the transformers models with
    the default eager attention (LM batches: ``{"input_ids": ids[None], "labels": lab[None]}``).

    >>> import torch
    >>> from qnewton.models import paper_dnn
    >>> m = paper_dnn(4, (3,), 2)
    >>> b = (torch.ones(5, 4), torch.zeros(5, dtype=torch.long))
    >>> w = {"fc1.weight": m.fc1.weight.detach()}
    >>> bool(torch.equal(functional_loss(m, w, b), forward_loss(m, b)))
    True
    """
    _check_reduction(reduction)

    def call(*args: Any, **kwargs: Any) -> Any:
        return torch.func.functional_call(model, dict(params), args, kwargs)

    return _dispatch(model, call, batch, reduction, False)


def _dispatch(
    model: nn.Module, call: Callable[..., Any], batch: Any, reduction: Reduction, check_finite: bool
) -> torch.Tensor:
    _check_reduction(reduction)
    if is_language_model(model):
        loss = _lm(model, call, batch, reduction)
    else:
        loss = _classification(call, batch, reduction)
    if check_finite and not bool(torch.isfinite(loss).all()):
        raise NonFiniteError(
            "the loss is NaN/Inf; lower the step size or regularize the Newton step (a diverged step)."
        )
    return loss


class TokenCrossEntropy(nn.Module):
    """Mean cross-entropy over the labelled tokens of (B, T, V) logits against (B, T) labels: the
    loss transformers' LMs compute from ``labels``, as a criterion on the logits.

    ``shift=True`` (causal LM: GPT-2, Mistral): position t's logits are scored against label t+1;
    ``shift=False`` (masked LM: BERT): position t against label t. Labels equal to ``ignore_index``
    (-100) are skipped; the mean is over the remaining tokens (as transformers' loss without
    ``num_items_in_batch``).

    For K-FAC's sampled Fisher it also says how many loss terms the mean averages (``num_terms``)
    and draws labels from the model's predictive distribution at the scored positions
    (``sample_targets``), keeping the ignored ones.

    Example:
        >>> import torch
        >>> logits, labels = torch.zeros(2, 4, 5), torch.tensor([[1, 2, 3, 4], [0, -100, 1, 2]])
        >>> crit = TokenCrossEntropy(shift=True)
        >>> round(float(crit(logits, labels)), 4), crit.num_terms(logits, labels)
        (1.6094, 5)
    """

    reduction = "mean"

    def __init__(self, shift: bool = True, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.shift = bool(shift)
        self.ignore_index = int(ignore_index)

    def _aligned(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if logits.ndim != 3 or labels.shape != logits.shape[:2]:
            raise InvalidArgumentError(
                f"TokenCrossEntropy takes logits (B, T, V) and labels (B, T), got {tuple(logits.shape)} and "
                f"{tuple(labels.shape)}."
            )
        if self.shift:
            return logits[:, :-1], labels[:, 1:]
        return logits, labels

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        lg, lb = self._aligned(logits, labels)
        if lg.dtype not in (torch.float32, torch.float64):  # half precision: the loss in float32
            lg = lg.float()
        return F.cross_entropy(lg.reshape(-1, lg.shape[-1]), lb.reshape(-1).long(), ignore_index=self.ignore_index)

    def num_terms(self, logits: torch.Tensor, labels: torch.Tensor) -> int:
        """Tokens with a label (the mean's denominator)."""
        _, lb = self._aligned(logits, labels)
        return int((lb != self.ignore_index).sum())

    def sample_targets(self, logits: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Labels drawn from softmax(logits) at every scored position (ignored ones stay ignored)."""
        lg, lb = self._aligned(logits.detach(), labels)
        probs = torch.softmax(lg.reshape(-1, lg.shape[-1]).float(), -1)
        draw = torch.multinomial(probs, 1, generator=generator)[:, 0].reshape(lb.shape).to(labels.dtype)
        out = labels.clone()
        sampled = torch.where(lb == self.ignore_index, lb, draw)
        if self.shift:
            out[:, 1:] = sampled
        else:
            out = sampled
        return out
