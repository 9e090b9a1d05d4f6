"""Private: the per-sample factors behind the low-rank curvature of ``nn.Linear`` blocks.

One forward pass with hooks on the Linear layers that own a block records each layer's input
a_s; then the square root L_s of the loss Hessian with respect to the network's outputs
(L_s L_s^T = d^2 l_s / df_s^2) is backpropagated to each layer's output z, all columns of L_s at
once (``is_grads_batched``), giving g_sc = (dz_s/df_s)^T ... i.e. J_{z,s}^T L_s[:, c] (BackPACK's
"sqrt of the output Hessian" backpropagation; Dangel, Kunstner, Hennig 2020). For the empirical
Fisher, L_s is replaced by the gradient of sample s's loss (one column). Valid when samples do
not interact (no batch statistics in the forward pass), the assumption of every per-sample
quantity in this package.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.func import hessian, vmap

from ._batch import Batch, call_model
from .blocks import ParamBlock
from .lowrank import KroneckerLowRank
from .problem import LossProblem

#: per-sample output dimension above which the generic output Hessian (C x C per sample by
#: torch.func) is not formed: the factor's rank B C would exceed any block it could help with.
MAX_GENERIC_OUTPUTS = 1024


@dataclass(frozen=True)
class LinearSite:
    """A block that is the weight and/or bias of one ``nn.Linear`` module."""

    block: str
    module: nn.Linear
    weight: bool
    bias: bool


def linear_sites(problem: LossProblem, blocks: Sequence[ParamBlock]) -> dict[str, LinearSite]:
    """The blocks made of one Linear layer's weight, bias, or weight then bias (in that order)."""
    out: dict[str, LinearSite] = {}
    for blk in blocks:
        owners = {n.rsplit(".", 1)[0] if "." in n else "" for n in blk.param_names}
        if len(owners) != 1:
            continue
        prefix = owners.pop()
        try:
            mod = problem.model.get_submodule(prefix) if prefix else problem.model
        except AttributeError:
            continue
        if not isinstance(mod, nn.Linear):
            continue
        leaves = tuple(n.rsplit(".", 1)[-1] for n in blk.param_names)
        if leaves not in (("weight",), ("bias",), ("weight", "bias")):
            continue
        out[blk.name] = LinearSite(blk.name, mod, "weight" in leaves, "bias" in leaves)
    return out


def output_hessian_sqrt(criterion: Callable[..., torch.Tensor], f: torch.Tensor, targets: Any) -> torch.Tensor | None:
    """L with L_s L_s^T = d^2 l_s / d f_s^2 for every sample s, shape (B, C, K); None if unknown.

    l_s is the loss of sample s alone (the criterion on a batch of one), so the mean loss is
    (1/B) sum_s l_s. Closed forms for ``nn.CrossEntropyLoss`` (class-index targets, no class
    weights or label smoothing): diag(p) - p p^T = L L^T with L = diag(sqrt p) - p sqrt(p)^T; and
    ``nn.MSELoss`` (mean over all C entries of a sample): (2/C) I. Any other criterion: the
    per-sample output Hessian by ``torch.func`` and its square root by an eigendecomposition
    (None when it is indefinite beyond round-off, i.e. the loss is not convex in the outputs).
    """
    b = f.shape[0]
    fl = f.detach().reshape(b, -1)
    c = fl.shape[1]
    if (
        isinstance(criterion, nn.CrossEntropyLoss)
        and criterion.weight is None
        and criterion.label_smoothing == 0.0
        and criterion.reduction == "mean"
        and f.ndim == 2
        and isinstance(targets, torch.Tensor)
        and targets.ndim == 1
        and not targets.is_floating_point()
        and not bool((targets == criterion.ignore_index).any())
    ):
        p = torch.softmax(fl, 1)
        sp = p.sqrt()
        return torch.diag_embed(sp) - p[:, :, None] * sp[:, None, :]
    if isinstance(criterion, nn.MSELoss) and criterion.reduction == "mean":
        eye = torch.eye(c, dtype=fl.dtype, device=fl.device) * math.sqrt(2.0 / c)
        return eye.expand(b, c, c).clone()
    if c > MAX_GENERIC_OUTPUTS or not isinstance(targets, torch.Tensor) or targets.shape[:1] != (b,):
        return None
    shape = f.shape[1:]

    def one(fs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        return criterion(fs.reshape(1, *shape), ys.unsqueeze(0))

    try:
        h = vmap(hessian(one))(fl, targets)
    except (RuntimeError, NotImplementedError):
        return None
    h = 0.5 * (h + h.transpose(1, 2))
    lam, vec = torch.linalg.eigh(h.double())
    scale = lam.abs().amax().clamp_min(torch.finfo(torch.float64).tiny)
    if bool((lam < -1e-6 * scale).any()):
        return None
    return (vec * lam.clamp_min(0).sqrt()[:, None, :]).to(fl.dtype)


def kronecker_factors(
    problem: LossProblem,
    batch: Batch,
    sites: Mapping[str, LinearSite],
    kind: Literal["ggn", "fisher"],
) -> tuple[dict[str, KroneckerLowRank], dict[str, str]]:
    """Kronecker factors of every site's GGN (``kind="ggn"``) or empirical Fisher block.

    Returns ``(factors, reasons)``: a :class:`KroneckerLowRank` per site that has one, and for
    the others why not (the layer ran more than once, on inputs that are not (B, in), ...).
    """
    reasons: dict[str, str] = {}
    if not sites:
        return {}, reasons
    if problem.criterion is None:
        return {}, {k: "the problem has no criterion (forward_loss form)" for k in sites}
    inputs, targets = batch
    seen: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {id(s.module): [] for s in sites.values()}

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        seen[id(mod)].append((inp[0].detach(), out))

    handles = [s.module.register_forward_hook(hook) for s in {id(s.module): s for s in sites.values()}.values()]
    try:
        with torch.enable_grad():
            f = call_model(problem.model, inputs)
    finally:
        for h in handles:
            h.remove()
    if not isinstance(f, torch.Tensor):
        return {}, {k: f"the model returns {type(f).__name__}, not a tensor of outputs" for k in sites}
    b = f.shape[0]
    ok: list[str] = []
    for name, s in sites.items():
        calls = seen[id(s.module)]
        if len(calls) != 1:
            reasons[name] = f"its Linear layer ran {len(calls)} times in one forward pass (needs exactly 1)"
        elif calls[0][0].ndim != 2 or calls[0][0].shape[0] != b:
            reasons[name] = f"its Linear layer's input has shape {tuple(calls[0][0].shape)}, not (batch, in)"
        elif not calls[0][1].requires_grad:
            reasons[name] = "its Linear layer's output does not depend on trainable parameters"
        else:
            ok.append(name)
    if not ok:
        return {}, reasons
    mods = list({id(sites[k].module): sites[k].module for k in ok}.values())
    zs = [seen[id(m)][0][1] for m in mods]
    if kind == "ggn":
        assert problem.criterion is not None
        L = output_hessian_sqrt(problem.criterion, f, targets)
        if L is None:
            for k in ok:
                reasons[k] = "the loss's Hessian with respect to the outputs is not known in closed form or not PSD"
            return {}, reasons
        cot = L.permute(2, 0, 1).reshape(L.shape[2], *f.shape)  # K x (f's shape): column k of every L_s
        try:
            grads = torch.autograd.grad(f, zs, grad_outputs=cot, is_grads_batched=True, retain_graph=True)
        except RuntimeError:  # an op without a batching rule: one backward per column
            per = [torch.autograd.grad(f, zs, grad_outputs=c, retain_graph=True) for c in cot]
            grads = tuple(torch.stack([p[i] for p in per]) for i in range(len(zs)))
        gmap = {id(m): g.permute(1, 0, 2) / math.sqrt(b) for m, g in zip(mods, grads)}  # (B, K, out)
    else:
        assert problem.criterion is not None
        loss = problem.criterion(f, targets)
        grads = torch.autograd.grad(loss, zs)
        # dL/dz_s = (1/B) dl_s/dz_s; the factor is dl_s/dz_s / sqrt(B) = sqrt(B) dL/dz_s
        gmap = {id(m): g[:, None, :] * math.sqrt(b) for m, g in zip(mods, grads)}
    out: dict[str, KroneckerLowRank] = {}
    for k in ok:
        s = sites[k]
        a = seen[id(s.module)][0][0]
        out[k] = KroneckerLowRank(a, gmap[id(s.module)].detach(), weight=s.weight, bias=s.bias)
    return out, reasons
