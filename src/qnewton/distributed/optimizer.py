"""DistributedQNewton: a Newton step spread over processes with ``torch.distributed``.

The two parts that dominate a step are spread the way kfac-pytorch spreads K-FAC (data-parallel
factors, inversions assigned to ranks, results broadcast):

1. **Data parallel curvature.** Each rank computes the loss, the gradient and every block's
   curvature on its own shard of the batch (``QNewton._curvature``). The full-batch quantities are
   sample-weighted averages of the per-shard ones, since the loss is a mean:
   L = sum_r (B_r / B) L_r, so g = sum_r (B_r / B) g_r and H = sum_r (B_r / B) H_r (B_r: rank r's
   samples; the curvature uses the curvature-batch counts; an empirical Fisher
   (1/B_c) sum_i g_i g_i^T averages the same way). Equal shards make it the plain mean; unequal
   shards are weighted, so the result is the whole batch's either way. Loss and gradients are
   all-reduced (every rank needs them); each block's curvature is reduced only to the rank that
   solves it.
2. **Block parallel solves.** Blocks are assigned to ranks by estimated cost
   (:func:`~qnewton.distributed.assign_blocks`: largest first to the least-loaded rank; cost = the
   scheduler's classical C N^3 prediction, or the previous step's measured per-block work). Each
   rank prices, routes and solves its own blocks with the ordinary
   :class:`~qnewton.scheduler.Scheduler` (the emulated QLSA is seeded by (seed, step, block), so
   the block gives the same result as in one process); the directions are combined by one
   all-reduce of a zero-padded vector (each entry is non-zero on exactly one rank, so the sum is
   exact) and every rank applies every block's update: the parameters stay identical everywhere.
   The decision records are gathered, so ``optimizer.decisions`` on every rank holds every block
   once, in block order.

With ``reduce="products"`` the curvature is never formed or moved: every rank keeps its shard's
lazy block and a product C v is the sample-weighted all-reduce of the ranks' products
(:class:`AllReducedBlock`), so a matrix-free route (``cg``) runs on every rank in lockstep, one
all-reduce of an n-vector per iteration; all ranks solve every block (identical inputs, identical
results, no assignment). It needs one route (``policy`` naming it, or ``routes=("cg",)``), so that no
rank can choose differently from another.

The early SGD phase averages gradients the same way, and the optional line search's trial losses
are the whole batch's (sample-weighted all-reduce), so every rank accepts the same step size. A
failure on one rank (a NaN, a bad batch) is shared before the next collective, and every rank
raises the same error type, so ``on_nonfinite="skip"`` skips the step everywhere and nothing hangs.

Launch with ``torchrun --nproc_per_node N -m qnewton train ...`` (or any ``env://`` launcher);
:func:`~qnewton.distributed.init_distributed` joins the group. Each rank passes its own shard of the
batch to ``step(batch=...)`` (:func:`~qnewton.distributed.shard_batch`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch

from .. import errors as _errors
from ..cost.classical import Calibration
from ..curvature.lazy import CurvatureBlock, DenseBlock
from ..errors import CheckpointError, InvalidArgumentError, NonFiniteError, QNewtonError
from ..optim.qnewton import BlockItem, QNewton
from ..routes.cholesky import cholesky_cost_model
from ..scheduler import BlockTask, DecisionRecord
from .assign import BlockAssignment, assign_blocks

__all__ = ["DistributedQNewton"]

Balance = Literal["classical", "measured"]


def _dist():
    import torch.distributed as dist

    return dist


class AllReducedBlock(CurvatureBlock):
    """The whole batch's curvature block from each rank's shard: C V = sum_r w_r C_r V (one all-reduce
    per product); ``dense()`` all-reduces the ranks' dense blocks (every rank then holds it)."""

    kind = "all-reduced"

    def __init__(self, local: CurvatureBlock, weight: float, gradient: torch.Tensor, owner: DistributedQNewton) -> None:
        super().__init__(local.name, local.n, local.torch_dtype, local.device, config=local.config, gradient=gradient)
        self.local, self.weight, self._owner = local, float(weight), owner
        self.psd = local.psd or local.factor() is not None

    def _products(self, V: torch.Tensor) -> torch.Tensor:
        out = self.local.matmat(V)
        return self._owner._all_reduce_weighted([out], self.weight)[0]

    def _form_dense(self) -> tuple[torch.Tensor, str]:
        H = self._owner._all_reduce_weighted([self.local.dense()], self.weight)[0]
        self.local.release()
        return H, f"all-reduced {self.local.stats.get('dense_method', 'dense')}"

    def release(self) -> None:
        super().release()
        self.local.release()


class DistributedQNewton(QNewton):
    """:class:`~qnewton.optim.QNewton` over a ``torch.distributed`` process group.

    Takes every argument of :class:`~qnewton.optim.QNewton`, plus:

    Args:
        process_group: the group to work in (default: the default group, which must be
            initialized, e.g. by :func:`~qnewton.distributed.init_distributed` under torchrun).
        balance: the per-block cost the assignment balances: ``"classical"`` (the classical cost
            model's C N^3 prediction, known before the step) or ``"measured"`` (the measured
            pricing + solve seconds of the block at the previous Newton step, from the gathered
            decision records; C N^3 for blocks not yet solved).
        broadcast_parameters: at construction copy rank 0's parameters to every rank (as
            ``DistributedDataParallel`` does); with False, check that they are already equal.
        allow_world_size_change: let ``load_state_dict`` accept a checkpoint written with another
            number of processes (the trajectory then matches only to floating-point tolerance,
            since the reductions add the shards in another grouping).
        reduce: ``"dense"`` (default): each block's dense curvature is reduced to the rank that owns
            it, which solves it on any route; ``"products"``: the blocks stay matrix-free and every
            product is all-reduced (:class:`AllReducedBlock`); needs a single route, e.g. ``cg``.

    Raises:
        InvalidArgumentError: no initialized process group; the ranks were built with different
            options (lr, eps, policy, blocks, cost models, seed, ...); ``broadcast_parameters=False``
            and the ranks' parameters differ; a bad ``balance``.

    Every rank must call the constructor, ``step`` (with its own shard), ``load_state_dict`` and
    :meth:`verify_consistency` together: they are collective (``state_dict`` is local; rank 0
    writes checkpoints, every rank loads them). Only the optimizer's parameters are kept in sync,
    not model buffers. ``curvature_batch_size`` applies to each rank's shard (the first samples of
    each shard), so the global curvature batch is the sum over ranks; with it unset (the default)
    the curvature is the whole batch's, as in one process. ``history[i]["measured"]`` sums the
    gathered records, i.e. the pricing and solve seconds of all ranks together (work, not wall
    time); ``history[i]["wall_measured_s"]`` is this rank's wall clock.

    Attributes (besides QNewton's):
        rank: this process's place in the group.
        world_size: the number of processes.
        assignment: the :class:`~qnewton.distributed.BlockAssignment` of the last Newton step.
        history: as QNewton's; each entry's ``"distributed"`` key holds, per Newton/SGD step, this
            rank's owned blocks and the measured seconds of each stage (local compute, waiting for
            the other ranks, each collective).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        *,
        process_group: Any = None,
        balance: Balance = "classical",
        broadcast_parameters: bool = True,
        allow_world_size_change: bool = False,
        reduce: Literal["dense", "products"] = "dense",
        **kwargs: Any,
    ) -> None:
        dist = _dist()
        if not (dist.is_available() and dist.is_initialized()):
            raise InvalidArgumentError(
                "DistributedQNewton needs an initialized torch.distributed process group: launch with "
                "`torchrun --nproc_per_node N ...` and call qnewton.distributed.init_distributed() first, "
                "or use qnewton.optim.QNewton in a single process."
            )
        if balance not in ("classical", "measured"):
            raise InvalidArgumentError(f"`balance` must be 'classical' or 'measured', got {balance!r}.")
        if reduce not in ("dense", "products"):
            raise InvalidArgumentError(f"`reduce` must be 'dense' or 'products', got {reduce!r}.")
        if kwargs.get("curvature") == "kfac":  # each process would keep factors of its own shard
            raise InvalidArgumentError(
                "curvature='kfac' is not distributed yet (the K-FAC factors are not all-reduced); use "
                "qnewton.optim.QNewton in one process, or curvature='ggn' / 'fisher'."
            )
        super().__init__(params, **kwargs)
        if reduce == "products":
            cfg = self.scheduler.config
            names = cfg.route_names
            if cfg.policy not in names and len(names) != 1:
                raise InvalidArgumentError(
                    "`reduce='products'` runs one route on every rank in lockstep: name it with `policy` (e.g. "
                    "policy='cg') or pass a single route (routes=('cg',)), so no rank can choose another."
                )
        self.reduce = reduce
        self.process_group = process_group
        self.rank = dist.get_rank(process_group)
        self.world_size = dist.get_world_size(process_group)
        self.balance = balance
        self.allow_world_size_change = bool(allow_world_size_change)
        backend = str(dist.get_backend(process_group))
        self._comm_device = (
            torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        )
        self.assignment: BlockAssignment | None = None
        self._timing: dict[str, float] = {}
        self._owned: tuple[str, ...] = ()
        self._loss_weight = 1.0 / self.world_size
        self._verify_pending = False
        self._check_same_options()
        self._share_calibration()
        if broadcast_parameters:
            self._broadcast_parameters()
        else:
            self._verify(InvalidArgumentError, "at construction (broadcast_parameters=False)")

    # -- collectives ------------------------------------------------------------------------------
    def _global(self, group_rank: int) -> int:
        if self.process_group is None:
            return group_rank
        return _dist().get_global_rank(self.process_group, group_rank)

    def _gather_objects(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        _dist().all_gather_object(out, obj, group=self.process_group)
        return out

    def _status(self, stage: str, exc: BaseException | None, ints: Sequence[int] = ()) -> torch.Tensor:
        """Every rank's (failed, *ints) in one all-gather; if any rank failed, all raise.

        The error type is NonFiniteError when every failure was one (so ``on_nonfinite="skip"``
        skips on every rank), else the first failing rank's qnewton error type (QNewtonError for
        other exceptions); the message names the ranks and their errors.
        """
        dist = _dist()
        mine = torch.tensor([0 if exc is None else 1, *[int(i) for i in ints]], dtype=torch.int64)
        mine = mine.to(self._comm_device)
        parts = [torch.empty_like(mine) for _ in range(self.world_size)]
        dist.all_gather(parts, mine, group=self.process_group)
        table = torch.stack(parts).cpu()
        if not bool(table[:, 0].any()):
            return table[:, 1:]
        info = None if exc is None else (type(exc).__name__, str(exc), isinstance(exc, NonFiniteError))
        infos = self._gather_objects(info)
        failed = [(r, i) for r, i in enumerate(infos) if i is not None]
        if all(i[2] for _, i in failed):
            cls: type[QNewtonError] = NonFiniteError
        else:
            name = next(i[0] for _, i in failed if not i[2])
            found = getattr(_errors, name, None)
            cls = found if isinstance(found, type) and issubclass(found, QNewtonError) else QNewtonError
        if len({i[:2] for _, i in failed}) == 1:  # the same error everywhere: say it once
            detail = f"ranks {[r for r, _ in failed]}: {failed[0][1][0]}: {failed[0][1][1]}"
        else:
            detail = "; ".join(f"rank {r}: {i[0]}: {i[1]}" for r, i in failed)
        err = cls(f"the {stage} stage failed on {len(failed)} of {self.world_size} ranks ({detail})")
        if exc is not None:
            raise err from exc
        raise err

    def _all_reduce_weighted(self, tensors: Sequence[torch.Tensor], weight: float) -> list[torch.Tensor]:
        """sum over ranks of weight_r * t_r for every tensor, in one all-reduce of one flat buffer."""
        dist = _dist()
        dtype = tensors[0].dtype
        for t in tensors[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
        flat = torch.cat([t.detach().reshape(-1).to(self._comm_device, dtype) for t in tensors])
        if weight != 1.0:
            flat.mul_(weight)
        dist.all_reduce(flat, group=self.process_group)
        out, offset = [], 0
        for t in tensors:
            k = t.numel()
            out.append(flat[offset : offset + k].reshape(t.shape).to(t.device, t.dtype))
            offset += k
        return out

    @staticmethod
    def _weight(sizes: torch.Tensor, rank: int) -> float:
        total = int(sizes.sum())
        return float(int(sizes[rank]) / total) if total > 0 else 0.0

    def _tick(self, key: str, t0: float) -> float:
        now = time.perf_counter()
        self._timing[key] = self._timing.get(key, 0.0) + now - t0
        return now

    # -- construction-time agreement -----------------------------------------------------------
    def _options(self) -> dict[str, str]:
        blocks = self.blocks if isinstance(self.blocks, str) else [(b.name, b.size) for b in self.blocks]
        opts = {
            "optimizer": type(self).__name__,
            "lr": repr(self.param_groups[0]["lr"]),
            "parameters": repr([(tuple(p.shape), str(p.dtype)) for p in self._params]),
            "blocks": repr(blocks),
            "first_order": repr(self._first_order),
            "curvature": self.curvature,
            "curvature_config": repr(self.curvature_config),
            "sgd": repr((self.sgd_steps, self.sgd_lr, self.sgd_momentum)),
            "max_update_norm": repr(self.max_update_norm),
            "line_search": repr(getattr(self, "line_search", None)),
            "on_nonfinite": self.on_nonfinite,
            "balance": self.balance,
            "reduce": self.reduce,
        }
        cfg = self.scheduler.config
        for f in dataclasses.fields(cfg):
            value = getattr(cfg, f.name)
            if f.name == "classical_cost" and value is not None:  # where C is cached is local; rank 0's is shared
                value = (value.c, value.dtype, value.sizes, value.repeats)
            opts[f"scheduler.{f.name}"] = repr(value)
        return {k: re.sub(r" at 0x[0-9a-fA-F]+", "", v) for k, v in opts.items()}

    def _check_same_options(self) -> None:
        mine = self._options()
        alls = self._gather_objects(mine)
        for r, other in enumerate(alls):
            diff = [k for k in mine if other.get(k) != mine[k]]
            if diff:
                k = diff[0]

                def short(v: str | None) -> str:
                    v = str(v)
                    return v if len(v) <= 160 else v[:157] + "..."

                raise InvalidArgumentError(
                    f"the ranks built DistributedQNewton with different options: {', '.join(diff)} differ "
                    f"(rank {self.rank}: {k}={short(mine[k])}; rank {r}: {k}={short(other.get(k))}). Every rank "
                    f"must pass the same arguments and the same model."
                )

    def _share_calibration(self) -> None:
        """Every rank routes with rank 0's C (the hybrid choice compares C N^3 with the QLSA price:
        a C measured separately per process could send a block another way than in one process)."""
        model = self.scheduler.config.classical_cost
        if model is not None and model.c is not None:
            return
        payload: list[Any] = [None]
        if self.rank == 0:  # loads the cache or calibrates (a few seconds), once
            if model is not None:
                cal = model.calibration
                payload = [("given", cal.to_dict() if cal is not None else None)]
            else:
                dtype = self._params[0].dtype
                m = cholesky_cost_model(dtype)
                payload = [(m.dtype, m.calibration.to_dict() if m.calibration is not None else None)]
        _dist().broadcast_object_list(payload, src=self._global(0), group=self.process_group)
        if self.rank != 0 and payload[0] is not None and payload[0][1] is not None:
            key, cal = payload[0]
            target = (
                model if key == "given" else cholesky_cost_model(torch.float64 if key == "float64" else torch.float32)
            )
            assert target is not None
            object.__setattr__(target, "_calibration", Calibration.from_dict(cal))

    @torch.no_grad()
    def _broadcast_parameters(self) -> None:
        dist = _dist()
        for p in self._params:
            buf = p.detach().to(self._comm_device).contiguous()
            dist.broadcast(buf, src=self._global(0), group=self.process_group)
            p.copy_(buf.to(p.device))

    def _digest(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        tensors = list(self._params)
        for p in self._params:
            tensors += [v for v in self.state.get(p, {}).values() if isinstance(v, torch.Tensor)]
        for t in tensors:
            h.update(t.detach().reshape(-1).cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return h.hexdigest()

    def _verify(self, error: type[QNewtonError], when: str) -> None:
        mine = (self.step_count, len(self.decisions), self._digest())
        alls = self._gather_objects(mine)
        bad = [r for r, o in enumerate(alls) if o != alls[0]]
        if bad:
            what = []
            if any(o[0] != alls[0][0] for o in alls):
                what.append(f"step counts {[o[0] for o in alls]}")
            if any(o[1] != alls[0][1] for o in alls):
                what.append(f"decision-log lengths {[o[1] for o in alls]}")
            if any(o[2] != alls[0][2] for o in alls):
                what.append("parameter / optimizer-state values")
            raise error(
                f"ranks {bad} disagree with rank 0 {when}: {', '.join(what)}. Every rank must start from the "
                f"same parameters (keep broadcast_parameters=True) and, on resume, load the same checkpoint "
                f"(model and optimizer) on every rank."
            )

    def verify_consistency(self) -> None:
        """Check (collectively) that every rank holds the same step count, decision log length,
        parameters and optimizer state, bit for bit.

        Raises:
            CheckpointError: a rank differs (e.g. the ranks resumed from different checkpoints).
        """
        self._verify(CheckpointError, "on verify_consistency()")

    # -- the step -------------------------------------------------------------------------------
    def step(self, closure: Any = None, *, batch: Any = None) -> Any:
        """One step on this rank's shard (``batch=``) or closure; collective; returns the loss of
        the whole (all ranks') batch. See :meth:`QNewton.step`."""
        if self._verify_pending:
            self._verify_pending = False
            self._verify(CheckpointError, "after load_state_dict")
        self._timing = {}
        self._owned = ()
        loss = super().step(closure, batch=batch)
        self.history[-1]["distributed"] = {
            "rank": self.rank,
            "world_size": self.world_size,
            "owned_blocks": list(self._owned),
            "measured": dict(self._timing),
        }
        return loss

    def _local_sizes(self, batch: Any) -> tuple[int, int]:
        if batch is None:
            return 1, 1  # closures: equal weights (the closure's loss is its shard's mean)
        assert self.problem is not None  # step(batch=) needs one
        b = self.problem.batch_size(batch)
        cbs = self.curvature_config.curvature_batch_size
        return b, (b if cbs is None else min(cbs, b))

    def _sgd_gradients(self, closure, batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        t0 = time.perf_counter()
        exc, res, sizes = None, None, (1, 1)
        try:
            res = super()._sgd_gradients(closure, batch)
            sizes = self._local_sizes(batch)
        except Exception as e:  # shared with the other ranks before anyone raises
            exc = e
        t0 = self._tick("local_gradient_s", t0)
        table = self._status("gradient", exc, sizes[:1])
        t0 = self._tick("sync_wait_s", t0)
        assert res is not None
        loss, grads = res
        out = self._all_reduce_weighted([loss.reshape(1), *grads], self._weight(table[:, 0], self.rank))
        self._tick("gradient_allreduce_s", t0)
        return out[0].reshape(()), out[1:]

    def _curvature(self, closure, batch) -> tuple[torch.Tensor, list[BlockItem], list[tuple[str, Any, Any]]]:
        dist = _dist()
        t0 = time.perf_counter()
        exc, res, sizes = None, None, (1, 1)
        try:
            res = super()._curvature(closure, batch)
            sizes = self._local_sizes(batch)
        except Exception as e:
            exc = e
        t0 = self._tick("local_curvature_s", t0)
        table = self._status("curvature", exc, sizes)
        t0 = self._tick("sync_wait_s", t0)
        assert res is not None
        loss, items, first_order = res
        w = self._weight(table[:, 0], self.rank)
        wc = self._weight(table[:, 1], self.rank)
        self._loss_weight = w

        reduced = self._all_reduce_weighted(
            [loss.detach().reshape(1), *[it[3] for it in items], *[g for _, _, g in first_order]], w
        )
        loss = reduced[0].reshape(())
        grads = reduced[1 : 1 + len(items)]
        first_order = [(n, p, g) for (n, p, _), g in zip(first_order, reduced[1 + len(items) :])]
        t0 = self._tick("gradient_allreduce_s", t0)

        if self.reduce == "products":  # nothing is formed or moved: products are all-reduced when asked for
            prod = [
                (n, ps, blk, g, AllReducedBlock(it[4], wc, g, self))
                for it, g in zip(items, grads)
                for n, ps, blk in [it[:3]]
            ]
            self._owned = tuple(it[0] for it in items)
            self._tick("curvature_reduce_s", t0)
            return loss, prod, first_order
        self.assignment = self._assign([it[3].numel() for it in items])
        owners = self.assignment.owners
        # the lazy blocks are formed here: data-parallel curvature is reduced as dense blocks
        dense = [it[4].dense().detach() for it in items]
        t0 = self._tick("local_curvature_s", t0)
        bufs, handles = [], []
        for h, owner in zip(dense, owners):
            buf = h.to(self._comm_device)
            if not buf.is_contiguous():
                buf = buf.contiguous()
            if wc != 1.0:
                buf.mul_(wc)  # in place: the shard's curvature is not needed after this
            handles.append(dist.reduce(buf, dst=self._global(owner), group=self.process_group, async_op=True))
            bufs.append(buf)
        for handle in handles:
            handle.wait()
        out: list[BlockItem] = []
        for it, g, owner, buf, h in zip(items, grads, owners, bufs, dense):
            name, params, block, _, local = it
            local.release()
            # non-owners keep only the (released) local block: its owner solves it
            curv = DenseBlock(buf.to(h.device), name=name, psd=local.psd) if owner == self.rank else local
            out.append((name, params, block, g, curv))
        self._owned = tuple(it[0] for it, o in zip(items, owners) if o == self.rank)
        self._tick("curvature_reduce_s", t0)
        return loss, out, first_order

    def _batch_loss(self, closure, batch) -> float:
        """The line search's trial loss of the whole batch: each rank's shard, sample-weighted."""
        exc, value = None, math.nan
        try:
            value = super()._batch_loss(closure, batch)
        except Exception as e:
            exc = e
        self._status("line search", exc)
        t = torch.tensor([value * self._loss_weight], dtype=torch.float64, device=self._comm_device)
        _dist().all_reduce(t, group=self.process_group)
        return float(t)

    def _block_costs(self, sizes: Sequence[int]) -> list[float]:
        costs = [float(self.scheduler.classical_price(n).seconds) for n in sizes]
        if self.balance == "measured":
            # the last Newton step's records: identical on every rank, since they were gathered
            solved = [r for r in self.decisions if r.kind in ("classical", "quantum")]
            last = {r.block: r for r in solved if r.step == solved[-1].step} if solved else {}
            for i, (name, n) in enumerate(zip(self._block_names, sizes)):
                r = last.get(name)
                if r is not None and r.n == n:
                    costs[i] = r.quote_measured_s + r.solve_measured_s
        return costs

    def _assign(self, sizes: Sequence[int]) -> BlockAssignment:
        return assign_blocks(self._block_costs(sizes), self.world_size)

    def _route_blocks(self, items: list[BlockItem]) -> tuple[list[torch.Tensor], list[DecisionRecord]]:
        if self.reduce == "products":  # every rank solves every block, its products all-reduced
            t0 = time.perf_counter()
            exc: Exception | None = None
            out: tuple[list[torch.Tensor], list[DecisionRecord]] = ([], [])
            try:
                out = super()._route_blocks(items)
            except Exception as e:
                exc = e
            self._tick("local_solve_s", t0)
            self._status("solve", exc)
            return out
        dist = _dist()
        assert self.assignment is not None
        if not items:
            return [], []
        t0 = time.perf_counter()
        mine: dict[int, tuple[torch.Tensor, DecisionRecord]] = {}
        exc = None
        try:
            for i in self.assignment.blocks_of(self.rank):
                name, _params, _block, g, h = items[i]
                outcome = self.scheduler.run(BlockTask(self.step_count, i, name, h, g))
                mine[i] = (self._checked_direction(name, torch.as_tensor(outcome.direction)), outcome.record)
        except Exception as e:
            exc = e
        t0 = self._tick("local_solve_s", t0)
        self._status("solve", exc)
        t0 = self._tick("sync_wait_s", t0)

        grads = [it[3] for it in items]
        dtype = grads[0].dtype
        for g in grads[1:]:
            dtype = torch.promote_types(dtype, g.dtype)
        offsets = [0]
        for g in grads:
            offsets.append(offsets[-1] + g.numel())
        flat = torch.zeros(offsets[-1], dtype=dtype, device=self._comm_device)
        for i, (d, _) in mine.items():
            flat[offsets[i] : offsets[i + 1]] = d.reshape(-1).to(self._comm_device, dtype)
        dist.all_reduce(flat, group=self.process_group)  # one non-zero contribution per entry: exact
        directions = [flat[offsets[i] : offsets[i + 1]].to(g.device) for i, g in enumerate(grads)]
        t0 = self._tick("direction_allreduce_s", t0)

        merged: dict[int, DecisionRecord] = {}
        for part in self._gather_objects({i: rec for i, (_, rec) in mine.items()}):
            merged.update(part)
        records = [merged[i] for i in range(len(items))]
        self._tick("records_gather_s", t0)
        return directions, records

    @property
    def _block_names(self) -> list[str]:
        if isinstance(self.blocks, str):
            return [n for n, _ in self._named_params()] if self.blocks != "full" else ["full"]
        return [b.name for b in self.blocks]

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """QNewton's state plus the world size it was written with (rank 0 saves it)."""
        state = super().state_dict()
        state["qnewton"]["distributed"] = {"world_size": self.world_size, "balance": self.balance}
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load on every rank (collective). A single-process QNewton checkpoint is accepted.

        Raises:
            CheckpointError: written with another world size (and ``allow_world_size_change`` is
                off), or the ranks loaded different checkpoints (checked now for the step count and
                log, and for the parameters at the next step, after the model is loaded too).
        """
        info = (state_dict.get("qnewton") or {}).get("distributed")
        saved = None if info is None else int(info.get("world_size", 0))
        bad = saved is not None and saved != self.world_size and not self.allow_world_size_change
        exc: Exception | None = (
            CheckpointError(
                f"the checkpoint was written by {saved} processes, this run has {self.world_size}. "
                f"Resume with `--nproc_per_node {saved}`, or pass allow_world_size_change=True to accept "
                f"a trajectory that matches only to floating-point tolerance."
            )
            if bad
            else None
        )
        if exc is None:
            try:
                super().load_state_dict(state_dict)
            except Exception as e:
                exc = e
        self._status("load_state_dict", exc)
        mine = (self.step_count, len(self.decisions))
        alls = self._gather_objects(mine)
        if any(o != alls[0] for o in alls):
            raise CheckpointError(
                f"the ranks loaded different checkpoints: (step, decisions) per rank = {alls}. Load the "
                f"same file (written by rank 0) on every rank."
            )
        self._verify_pending = True

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", rank={self.rank}, world_size={self.world_size}, balance={self.balance!r})"
