"""Exact Hessian blocks from an LBFGS-style closure, by double backward (no torch.func needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..errors import InvalidArgumentError, NonFiniteError


def closure_curvature(
    closure: Callable[[], torch.Tensor],
    params: Sequence[torch.Tensor],
    blocks: str,
    chunk: int = 256,
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """(loss, flat gradient per block, dense Hessian per block) at the current parameters.

    ``blocks`` is ``"layerwise"`` (one block per parameter tensor) or ``"full"`` (one block).
    Rows of each block are Hessian-vector products with basis vectors, ``chunk`` at a time
    (``torch.autograd.grad(..., is_grads_batched=True)``; a plain loop if the model's ops do
    not support batching).
    """
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
    groups = [[i] for i in range(len(params))] if blocks in ("layerwise", "layer-wise") else [list(range(len(params)))]
    if blocks not in ("layerwise", "layer-wise", "full"):
        raise InvalidArgumentError(f"with a closure, `blocks` must be 'layerwise' or 'full', got {blocks!r}.")
    flat_grads, hessians = [], []
    for idx in groups:
        g = torch.cat([grads[i].reshape(-1) for i in idx])
        ps = [params[i] for i in idx]
        n = g.numel()
        rows = []
        for start in range(0, n, chunk):
            k = min(chunk, n - start)
            e = torch.zeros(k, n, dtype=g.dtype, device=g.device)
            e[torch.arange(k), torch.arange(start, start + k)] = 1
            try:
                parts = torch.autograd.grad(
                    g, ps, grad_outputs=e, retain_graph=True, is_grads_batched=True, allow_unused=True
                )
                block_rows = torch.cat([_zeros_if_none(p, q, k).reshape(k, -1) for p, q in zip(ps, parts)], dim=1)
            except RuntimeError:
                block_rows = torch.stack(
                    [
                        torch.cat(
                            [
                                _zeros_if_none(p, q, None).reshape(-1)
                                for p, q in zip(
                                    ps,
                                    torch.autograd.grad(g, ps, grad_outputs=e[j], retain_graph=True, allow_unused=True),
                                )
                            ]
                        )
                        for j in range(k)
                    ]
                )
            rows.append(block_rows.detach())
        h = torch.cat(rows)
        h = (h + h.T) / 2
        if not torch.isfinite(h).all():
            raise NonFiniteError("the Hessian has NaN/Inf entries; check the loss and the learning rate.")
        flat_grads.append(g.detach())
        hessians.append(h)
    if not all(torch.isfinite(g).all() for g in flat_grads):
        raise NonFiniteError("the gradient has NaN/Inf entries; check the loss and the learning rate.")
    return loss.detach(), flat_grads, hessians


def _zeros_if_none(p: torch.Tensor, q: torch.Tensor | None, k: int | None) -> torch.Tensor:
    if q is not None:
        return q
    shape = (k, *p.shape) if k is not None else p.shape
    return torch.zeros(shape, dtype=p.dtype, device=p.device)
