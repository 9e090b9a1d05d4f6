"""Process-group set-up from the ``torchrun`` environment, and batch sharding.

``torchrun --nproc_per_node N -m qnewton train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set;
:func:`init_distributed` reads them (``init_method="env://"``) and picks the backend: NCCL when
this process has a GPU, gloo on CPU. Without those variables it creates nothing and reports a
single process, so the same script runs plainly or under torchrun.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from .._validation import check_int_range
from ..curvature._batch import batch_size as _batch_size
from ..curvature._batch import take
from ..errors import InvalidArgumentError

__all__ = [
    "DistributedContext",
    "distributed",
    "in_torchrun",
    "init_distributed",
    "shard_batch",
    "shard_bounds",
    "shutdown_distributed",
]

_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands.

    Attributes:
        rank, world_size, local_rank: from the process group (0, 1, 0 for a plain process).
        backend: ``"gloo"``, ``"nccl"``, or None without a process group.
        device: the device this process computes on (``cuda:LOCAL_RANK`` with NCCL, else CPU).
        initialized_here: :func:`init_distributed` created the group (so
            :func:`shutdown_distributed` destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    initialized_here: bool = False

    @property
    def is_distributed(self) -> bool:
        """A process group exists (even of one process)."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that prints and writes files."""
        return self.rank == 0


def in_torchrun() -> bool:
    """The torchrun/``env://`` variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) are all set."""
    return all(os.environ.get(k) for k in _ENV)


def _current_context(initialized_here: bool) -> DistributedContext:
    import torch.distributed as dist

    backend = str(dist.get_backend())
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, backend, device, initialized_here)


def init_distributed(backend: str | None = None, *, timeout_s: float = 1800.0) -> DistributedContext:
    """Join the process group described by the torchrun environment, if there is one.

    Args:
        backend: ``"gloo"``, ``"nccl"`` or None (NCCL when CUDA and NCCL are available, else gloo).
        timeout_s: how long a collective may wait for the other ranks before failing.

    Returns:
        :class:`DistributedContext`: of the existing group if one is already initialized; of a
        single plain process when the torchrun variables are absent.

    Raises:
        InvalidArgumentError: ``backend`` unknown or unavailable here, or the environment is
            incomplete (e.g. ``RANK`` set without ``MASTER_PORT``).
    """
    import torch.distributed as dist

    if backend not in (None, "gloo", "nccl"):
        raise InvalidArgumentError(f"`backend` must be 'gloo', 'nccl' or None (automatic), got {backend!r}.")
    if not dist.is_available():
        if in_torchrun():
            raise InvalidArgumentError("this torch build has no torch.distributed; run a single process.")
        return DistributedContext()
    if dist.is_initialized():
        return _current_context(False)
    present = [k for k in _ENV if os.environ.get(k)]
    if not present:
        return DistributedContext()
    if len(present) != len(_ENV):
        missing = [k for k in _ENV if k not in present]
        raise InvalidArgumentError(
            f"the process-group environment is incomplete: {', '.join(missing)} unset. Launch with "
            f"`torchrun --nproc_per_node N -m qnewton ...`, which sets all of {', '.join(_ENV)}."
        )
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        if not (torch.cuda.is_available() and dist.is_nccl_available()):
            raise InvalidArgumentError("`backend`='nccl' needs CUDA and an NCCL build of torch; use 'gloo' on CPU.")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    elif not dist.is_gloo_available():
        raise InvalidArgumentError("`backend`='gloo' is not available in this torch build.")
    dist.init_process_group(backend, init_method="env://", timeout=datetime.timedelta(seconds=float(timeout_s)))
    return _current_context(True)


def shutdown_distributed(context: DistributedContext | None = None) -> None:
    """Destroy the process group if ``context`` created it (or, with None, if one exists)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if context is None or context.initialized_here:
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed(backend: str | None = None, *, timeout_s: float = 1800.0) -> Iterator[DistributedContext]:
    """``with distributed() as ctx:`` :func:`init_distributed`, then :func:`shutdown_distributed`."""
    ctx = init_distributed(backend, timeout_s=timeout_s)
    try:
        yield ctx
    finally:
        shutdown_distributed(ctx)


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of rank's contiguous share of ``n`` samples; sizes differ by at most one
    (the first ``n mod W`` ranks take one more), as ``torch.tensor_split``.

    Examples:
        >>> [shard_bounds(5, r, 2) for r in range(2)]
        [(0, 3), (3, 5)]
    """
    n = check_int_range(n, "n", 0, 2**62)
    world_size = check_int_range(world_size, "world_size", 1, 2**31 - 1)
    rank = check_int_range(rank, "rank", 0, world_size - 1)
    q, extra = divmod(n, world_size)
    start = rank * q + min(rank, extra)
    return start, start + q + (1 if rank < extra else 0)


def shard_batch(batch: Any, rank: int | None = None, world_size: int | None = None) -> Any:
    """This rank's contiguous share of a batch (every tensor leaf sliced along dimension 0).

    ``rank``/``world_size`` default to the process group's (0 and 1 without one). Shards may
    differ in size by one; :class:`DistributedQNewton` weights each rank by its sample count, so
    the averaged loss, gradient and curvature are those of the whole batch.

    Raises:
        InvalidArgumentError: the batch has fewer samples than ranks (a rank would get none).
    """
    if rank is None or world_size is None:
        import torch.distributed as dist

        on = dist.is_available() and dist.is_initialized()
        rank = dist.get_rank() if on and rank is None else (rank or 0)
        world_size = dist.get_world_size() if on and world_size is None else (world_size or 1)
    b = _batch_size(batch)
    if b < world_size:
        raise InvalidArgumentError(
            f"`batch` has {b} samples for {world_size} ranks; every rank needs at least one. Use a "
            f"batch size >= the number of processes."
        )
    start, stop = shard_bounds(b, rank, world_size)
    return take(batch, slice(start, stop))
