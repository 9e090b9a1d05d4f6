"""Exact Hessian blocks from an LBFGS-style closure, by double backward (no torch.func needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..curvature.lazy import CurvatureBlock
from ..errors import InvalidArgumentError, NonFiniteError


class ClosureHessianBlock(CurvatureBlock):
    """One Hessian block of a closure's loss: products H V by double backward through the kept
    gradient graph (``torch.autograd.grad(..., is_grads_batched=True)``; a loop over the columns
    when the model's ops do not support batching). The dense block, when a route needs it, is
    formed from products with basis vectors and symmetrized."""

    kind = "hessian"

    def __init__(self, name: str, grad: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
        super().__init__(name, grad.numel(), grad.dtype, grad.device, gradient=grad.detach())
        self._g = grad
        self._params = list(params)

    def _products(self, V: torch.Tensor) -> torch.Tensor:
        k = V.shape[1]
        ps = self._params
        try:
            parts = torch.autograd.grad(
                self._g, ps, grad_outputs=V.T.contiguous(), retain_graph=True, is_grads_batched=True, allow_unused=True
            )
            rows = torch.cat([_zeros_if_none(p, q, k).reshape(k, -1) for p, q in zip(ps, parts)], dim=1)
        except RuntimeError:
            cols = []
            for j in range(k):
                one = torch.autograd.grad(self._g, ps, grad_outputs=V[:, j], retain_graph=True, allow_unused=True)
                cols.append(torch.cat([_zeros_if_none(p, q, None).reshape(-1) for p, q in zip(ps, one)]))
            rows = torch.stack(cols)
        return rows.detach().T


def closure_blocks(
    closure: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    names: Sequence[str],
    blocks: str,
) -> tuple[torch.Tensor, list[tuple[str, list[torch.Tensor], torch.Tensor, ClosureHessianBlock]]]:
    """(loss, [(block name, its parameters, flat gradient, lazy Hessian block)]) at the current point.

    ``blocks`` is ``"layerwise"`` (one block per parameter tensor, named by ``names``) or ``"full"``.
    """
    if blocks not in ("layerwise", "layer-wise", "full"):
        raise InvalidArgumentError(f"with a closure, `blocks` must be 'layerwise' or 'full', got {blocks!r}.")
    with torch.enable_grad():
        loss = closure()
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.requires_grad:
            raise InvalidArgumentError(
                "the closure must return the scalar loss as a tensor that still has its autograd graph "
                "(do not call loss.backward() or .detach() inside it)."
            )
        if not torch.isfinite(loss):
            raise NonFiniteError(f"the loss is {float(loss)}; check the learning rate and the data.")
        grads = torch.autograd.grad(loss, list(params), create_graph=True)
    groups = [[i] for i in range(len(params))] if blocks != "full" else [list(range(len(params)))]
    out = []
    for idx in groups:
        g = torch.cat([grads[i].reshape(-1) for i in idx])
        if not bool(torch.isfinite(g.detach()).all()):
            raise NonFiniteError("the gradient has NaN/Inf entries; check the loss and the learning rate.")
        name = "full" if blocks == "full" else names[idx[0]]
        ps = [params[i] for i in idx]
        out.append((name, ps, g.detach(), ClosureHessianBlock(name, g, ps)))
    return loss.detach(), out


def _zeros_if_none(p: torch.Tensor, q: torch.Tensor | None, k: int | None) -> torch.Tensor:
    if q is not None:
        return q
    shape = (k, *p.shape) if k is not None else p.shape
    return torch.zeros(shape, dtype=p.dtype, device=p.device)
