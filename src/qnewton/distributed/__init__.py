"""Scale-out: distributed curvature and block solves on ``torch.distributed``.

* :class:`DistributedQNewton`: QNewton whose curvature is data parallel (each rank's shard,
  sample-weighted averages) and whose block solves are spread over ranks by estimated cost;
* :func:`assign_blocks`: the greedy largest-first assignment (pure; also for simulations);
* :func:`init_distributed` / :func:`shutdown_distributed` / :func:`distributed`: the process group
  from the torchrun environment; :func:`shard_batch`: a rank's share of a batch.

Launch: ``torchrun --nproc_per_node N -m qnewton train ...``.
"""

from .assign import BlockAssignment, assign_blocks, classical_block_costs
from .env import (
    DistributedContext,
    distributed,
    in_torchrun,
    init_distributed,
    shard_batch,
    shard_bounds,
    shutdown_distributed,
)
from .optimizer import DistributedQNewton

__all__ = [
    "BlockAssignment",
    "DistributedContext",
    "DistributedQNewton",
    "assign_blocks",
    "classical_block_costs",
    "distributed",
    "in_torchrun",
    "init_distributed",
    "shard_batch",
    "shard_bounds",
    "shutdown_distributed",
]
