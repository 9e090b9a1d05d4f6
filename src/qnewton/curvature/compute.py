"""Loss, gradient and per-block curvature in one call: exact Hessian blocks or empirical Fisher.

Q-Newton (Sec. V-A) uses the exact Hessian for the small DNN, H = (1/m) d^2/dtheta^2 sum_i
L(f(x_i; theta), y_i) (Algorithm 1, line 4), and the layer-wise empirical Fisher
F = (1/B) sum_i g_i g_i^T (Kunstner et al. 2019, the paper's ref. [31]) for BERT and Mistral.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import torch

from ..errors import InvalidArgumentError
from ._batch import Batch
from ._engine import (
    BlockHvp,
    check_finite_tensor,
    dense_block,
    hvp_chunk_size,
    loss_and_gradient_pass,
    per_sample_gradient_chunks,
    sample_chunk_size,
    sub_batch,
    symmetrize_,
)
from ._factors import kronecker_factors, linear_sites
from .blocks import BlockSpec, ParamBlock, make_blocks
from .config import CurvatureConfig
from .lowrank import LowRank
from .problem import LossProblem
from .result import BlockCurvature, CurvatureResult

__all__ = [
    "compute_curvature",
    "empirical_fisher",
    "exact_hessian",
    "loss_and_gradient",
    "per_sample_gradients",
]


def _first_pass(
    problem: LossProblem, batch: Batch, blocks: Sequence[ParamBlock], config: CurvatureConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor], int, int, float]:
    t0 = time.perf_counter()
    b = problem.batch_size(batch)
    loss, pgrads, act = loss_and_gradient_pass(problem, batch)
    if config.check_finite:
        check_finite_tensor(loss, "loss")
    grads = {}
    for blk in blocks:
        g = blk.flatten(pgrads)
        if config.check_finite:
            check_finite_tensor(g, f"gradient[{blk.name}]")
        grads[blk.name] = g
    return loss, grads, pgrads, act, b, time.perf_counter() - t0


def loss_and_gradient(
    problem: LossProblem,
    batch: Batch,
    blocks: BlockSpec = "layerwise",
    *,
    config: CurvatureConfig | None = None,
) -> CurvatureResult:
    """The mean loss and its gradient per block, without curvature (``result.blocks`` is empty).

    Raises:
        NonFiniteError: NaN/Inf in the loss or a block's gradient.
        ShapeError / InvalidArgumentError: a malformed batch (see :meth:`LossProblem.batch_size`).
    """
    config = config or CurvatureConfig()
    blks = make_blocks(problem, blocks)
    loss, grads, pgrads, _, b, dt = _first_pass(problem, batch, blks, config)
    return CurvatureResult(
        kind="hessian",
        loss=loss,
        grads=grads,
        param_grads=pgrads,
        blocks={},
        batch_size=b,
        curvature_batch_size=0,
        measured_seconds={"loss_and_gradient": dt, "curvature": 0.0, "total": dt},
    )


def _check_deterministic(first: torch.Tensor, again: torch.Tensor) -> None:
    """The same loss at the same point twice, or the model is random (train-mode dropout)."""
    tol = 1e-4 if first.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-9
    if abs(float(first) - float(again)) > tol * max(1.0, abs(float(first))):
        raise InvalidArgumentError(
            f"the loss differs between two evaluations at the same parameters ({float(first):.8g} vs "
            f"{float(again):.8g}): the model is random (dropout or another random op in training mode), "
            f"so its Hessian is not defined. Call model.eval() before computing curvature."
        )


def _structured_hessian(
    engine: BlockHvp, factor: LowRank | None, config: CurvatureConfig
) -> tuple[torch.Tensor | None, str]:
    """The block through its GGN factor (one GEMM) when one Hessian-vector product with a random
    direction confirms the Hessian is that GGN (see ``qnewton.curvature.lazy.HessianBlock``)."""
    if factor is None or config.structure == "generic":
        return None, ""
    n = engine.block.size
    gen = torch.Generator(device="cpu").manual_seed(12345)
    v = torch.randn(1, n, generator=gen, dtype=torch.float64).to(engine.x0.dtype).to(engine.x0.device)
    hv = engine.rows(v)[0]
    gv = factor.matmat(v.T)[:, 0]
    rel = float((hv - gv).norm()) / max(float(hv.norm()), 1e-300)
    tol = config.structure_rtol or (1e-9 if engine.x0.dtype == torch.float64 else 1e-4)
    if rel > tol:
        return None, ""
    return factor.dense(), f"{factor.form} GEMM (Hessian = GGN verified, relative difference {rel:.1e})"


def _hessian_block(
    problem: LossProblem,
    cbatch: Batch,
    blk: ParamBlock,
    config: CurvatureConfig,
    act_bytes: int,
    ref_loss: torch.Tensor | None,
    factor: LowRank | None = None,
) -> BlockCurvature:
    t0 = time.perf_counter()
    itemsize = torch.empty((), dtype=blk.dtype).element_size()
    chunk = hvp_chunk_size(config, blk.size, itemsize, act_bytes)
    engine = BlockHvp(problem, cbatch, blk, config)
    if ref_loss is not None:  # free: the block's gradient pass evaluates the loss again
        _check_deterministic(ref_loss, engine.loss)
    H, how = _structured_hessian(engine, factor, config)
    if H is not None:
        t1 = time.perf_counter()
        if config.check_finite:
            check_finite_tensor(H, f"Hessian[{blk.name}]")
        return BlockCurvature(
            block=blk,
            kind="hessian",
            matrix=H,
            asymmetry=0.0,
            max_abs=float(H.abs().max()) if H.numel() else 0.0,
            method=how,
            chunk_size=0,
            num_chunks=0,
            measured_seconds={"compute": t1 - t0, "symmetrize": 0.0, "total": time.perf_counter() - t0},
        )
    H, count = dense_block(engine, chunk)
    t1 = time.perf_counter()
    asym, amax = symmetrize_(H, f"Hessian[{blk.name}]", config.check_finite)
    t2 = time.perf_counter()
    method = f"{config.hvp_mode}/{'vmap' if engine.vectorized else 'loop'}"
    return BlockCurvature(
        block=blk,
        kind="hessian",
        matrix=H,
        asymmetry=asym,
        max_abs=amax,
        method=method,
        chunk_size=chunk,
        num_chunks=count,
        measured_seconds={"compute": t1 - t0, "symmetrize": t2 - t1, "total": t2 - t0},
    )


def _fisher_blocks(
    problem: LossProblem,
    cbatch: Batch,
    bc: int,
    blocks: Sequence[ParamBlock],
    config: CurvatureConfig,
    act_bytes: int,
) -> list[BlockCurvature]:
    """All blocks' Fisher from one per-sample-gradient sweep over the curvature batch."""
    names = [k for blk in blocks for k in blk.param_names]
    n_total = sum(blk.size for blk in blocks)
    itemsize = max(torch.empty((), dtype=blk.dtype).element_size() for blk in blocks)
    chunk = sample_chunk_size(config, bc, n_total, itemsize, act_bytes)
    dense = {
        blk.name: config.fisher_form == "dense" or (config.fisher_form == "auto" and blk.size <= config.max_dense_size)
        for blk in blocks
    }
    acc: dict[str, torch.Tensor] = {
        blk.name: torch.zeros((blk.size, blk.size), dtype=blk.dtype, device=blk.device)
        for blk in blocks
        if dense[blk.name]
    }
    parts: dict[str, list[torch.Tensor]] = {blk.name: [] for blk in blocks if not dense[blk.name]}
    grad_time = {blk.name: 0.0 for blk in blocks}
    count = 0
    status: dict[str, bool | None] = {}
    gen = per_sample_gradient_chunks(problem, cbatch, names, bc, chunk, config, status)
    t_sweep = time.perf_counter()
    for s0, s1, g in gen:
        t_g = time.perf_counter()
        count += 1
        share = (t_g - t_sweep) / len(blocks)  # the sweep is shared; split its time evenly
        for blk in blocks:
            t_b = time.perf_counter()
            G = blk.flatten(g, batch_dims=1)
            if config.check_finite:
                check_finite_tensor(G, f"per-sample gradients[{blk.name}] (samples {s0}..{s1 - 1})")
            if dense[blk.name]:
                acc[blk.name].addmm_(G.T, G)
            else:
                parts[blk.name].append(G)
            grad_time[blk.name] += share + time.perf_counter() - t_b
        t_sweep = time.perf_counter()
    label = "per-sample/" + ("vmap" if status.get("vectorized") else "loop")
    out = []
    for blk in blocks:
        t_b = time.perf_counter()
        if dense[blk.name]:
            F = acc[blk.name].div_(bc)
            asym, amax = symmetrize_(F, f"empirical Fisher[{blk.name}]", config.check_finite)
            bcurv = BlockCurvature(
                block=blk,
                kind="empirical_fisher",
                matrix=F,
                asymmetry=asym,
                max_abs=amax,
                method=label,
                chunk_size=chunk,
                num_chunks=count,
                measured_seconds={
                    "compute": grad_time[blk.name],
                    "symmetrize": time.perf_counter() - t_b,
                    "total": grad_time[blk.name] + time.perf_counter() - t_b,
                },
            )
        else:
            G = torch.cat(parts[blk.name]) if len(parts[blk.name]) > 1 else parts[blk.name][0]
            bcurv = BlockCurvature(
                block=blk,
                kind="empirical_fisher",
                matrix=None,
                factor=G,
                method=label,
                chunk_size=chunk,
                num_chunks=count,
                measured_seconds={"compute": grad_time[blk.name], "total": grad_time[blk.name]},
            )
        out.append(bcurv)
    return out


def compute_curvature(
    problem: LossProblem,
    batch: Batch,
    kind: Literal["hessian", "empirical_fisher", "fisher"] = "hessian",
    blocks: BlockSpec = "layerwise",
    *,
    config: CurvatureConfig | None = None,
) -> CurvatureResult:
    """Loss, gradient and curvature per block at the model's current parameters.

    Args:
        problem: the :class:`LossProblem` (model + loss).
        batch: the data batch (a tensor, tuple or dict of tensors with a leading batch dimension;
            ``(inputs, targets)`` for a criterion problem).
        kind: ``"hessian"`` (exact diagonal blocks of the Hessian of the mean loss) or
            ``"empirical_fisher"`` (alias ``"fisher"``).
        blocks: block layout, see :func:`make_blocks` (default layer-wise).
        config: :class:`CurvatureConfig`.

    Returns:
        :class:`CurvatureResult` with loss and gradient over the whole batch and curvature over
        the curvature batch (``config.curvature_batch_size``).

    Raises:
        NonFiniteError: NaN/Inf in the loss, a gradient or a curvature block (named).
        ShapeError: tensors of the batch disagree on the batch size, the batch is empty, it does
            not fit the model, or the loss is not a scalar.
        InvalidArgumentError: bad ``kind``/``blocks``, a random (train-mode dropout) loss.
    """
    if kind == "fisher":
        kind = "empirical_fisher"
    if kind not in ("hessian", "empirical_fisher"):
        raise InvalidArgumentError(f"`kind` must be 'hessian' or 'empirical_fisher', got {kind!r}.")
    config = config or CurvatureConfig()
    t0 = time.perf_counter()
    blks = make_blocks(problem, blocks)
    loss, grads, pgrads, act, b, t_first = _first_pass(problem, batch, blks, config)
    cbatch, bc = sub_batch(problem, batch, b, config)
    act_c = act * bc // b
    t1 = time.perf_counter()
    if kind == "hessian":
        ref = loss if bc == b else None
        factors: dict[str, LowRank] = {}
        if config.structure != "generic" and problem.criterion is not None:
            found, _ = kronecker_factors(problem, cbatch, linear_sites(problem, blks), "ggn")
            factors.update(found)
        curv = [_hessian_block(problem, cbatch, blk, config, act_c, ref, factors.get(blk.name)) for blk in blks]
    else:
        curv = _fisher_blocks(problem, cbatch, bc, blks, config, act_c)
    t2 = time.perf_counter()
    return CurvatureResult(
        kind=kind,
        loss=loss,
        grads=grads,
        param_grads=pgrads,
        blocks={c.name: c for c in curv},
        batch_size=b,
        curvature_batch_size=bc,
        measured_seconds={"loss_and_gradient": t_first, "curvature": t2 - t1, "total": t2 - t0},
    )


def exact_hessian(
    problem: LossProblem,
    batch: Batch,
    blocks: BlockSpec = "layerwise",
    *,
    config: CurvatureConfig | None = None,
) -> CurvatureResult:
    """Exact Hessian blocks of the mean loss: ``compute_curvature(..., kind="hessian")``.

    Each n x n diagonal block H_bb is formed from Hessian-vector products with the basis vectors,
    ``chunk_size`` rows per ``vmap`` call (reverse-over-reverse: ``vjp`` of ``grad``, the gradient
    graph built once per block), so memory is the n x n output plus one chunk's working set. The
    block is then symmetrized, H <- (H + H^T)/2, and ``BlockCurvature.asymmetry`` records
    max |h_ij - h_ji| before that. ``blocks="full"`` gives the whole Hessian.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> X = torch.randn(20, 3, dtype=torch.float64)
        >>> model = nn.Linear(3, 1, bias=False).double()
        >>> y = torch.randn(20, 1, dtype=torch.float64)
        >>> res = exact_hessian(LossProblem(model, nn.MSELoss()), (X, y))
        >>> bool(torch.allclose(res["weight"].matrix, 2 * X.T @ X / 20))
        True
    """
    return compute_curvature(problem, batch, "hessian", blocks, config=config)


def empirical_fisher(
    problem: LossProblem,
    batch: Batch,
    blocks: BlockSpec = "layerwise",
    *,
    config: CurvatureConfig | None = None,
) -> CurvatureResult:
    """Layer-wise empirical Fisher F_b = (1/B_c) sum_i g_i g_i^T per block.

    g_i is sample i's loss gradient (the loss on a one-sample batch), from ``vmap`` over ``grad``
    in chunks of ``sample_chunk_size`` samples; B_c is the curvature batch
    (``config.curvature_batch_size``). Blocks larger than ``config.max_dense_size`` (with
    ``fisher_form="auto"``) keep the factor G (B_c x n) instead of F; use
    ``result[name].operator()`` for F v = G^T (G v) / B_c.
    """
    return compute_curvature(problem, batch, "empirical_fisher", blocks, config=config)


def per_sample_gradients(
    problem: LossProblem,
    batch: Batch,
    blocks: BlockSpec = "layerwise",
    *,
    config: CurvatureConfig | None = None,
) -> dict[str, torch.Tensor]:
    """Per block, the B x n matrix of per-sample gradients (row i: gradient of sample i's loss)."""
    config = config or CurvatureConfig()
    blks = make_blocks(problem, blocks)
    b = problem.batch_size(batch)
    names = [k for blk in blks for k in blk.param_names]
    n_total = sum(blk.size for blk in blks)
    chunk = config.sample_chunk_size
    if chunk is None:  # size chunks by the activations one forward pass saves
        _, _, act = loss_and_gradient_pass(problem, batch)
        itemsize = max(torch.empty((), dtype=blk.dtype).element_size() for blk in blks)
        chunk = sample_chunk_size(config, b, n_total, itemsize, act)
    parts: dict[str, list[torch.Tensor]] = {blk.name: [] for blk in blks}
    for _, _, g in per_sample_gradient_chunks(problem, batch, names, b, chunk, config):
        for blk in blks:
            parts[blk.name].append(blk.flatten(g, batch_dims=1))
    out = {k: torch.cat(v) for k, v in parts.items()}
    if config.check_finite:
        for k, v in out.items():
            check_finite_tensor(v, f"per-sample gradients[{k}]")
    return out
