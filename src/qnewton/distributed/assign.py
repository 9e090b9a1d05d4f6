"""Which process solves which Hessian block: greedy longest-processing-time assignment by cost.

A Newton step's block solves are independent (the scheduler seeds the emulated QLSA by
(seed, step, block index), so a block gives the same result on any process). They are spread over
the ``W`` ranks the way kfac-pytorch spreads its factor inversions: blocks sorted by estimated cost,
largest first, each to the rank with the least load so far (Graham's LPT rule; its makespan is at
most 4/3 - 1/(3W) times the optimum, Graham 1969). The cost is the scheduler's own prediction, by
default the classical route's C N^3 (REFERENCE.md section 7), so a 12544-variable block weighs
(12544/256)^3 ~ 1.2e5 times a 256-variable one.

Everything here is pure (no process group), so it can be unit-tested and used to simulate how the
assignment behaves at a world size one does not have (``benchmarks/distributed.py``: 64 ranks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .._validation import check_int_range
from ..errors import InvalidArgumentError

__all__ = ["BlockAssignment", "assign_blocks", "classical_block_costs"]


@dataclass(frozen=True)
class BlockAssignment:
    """The owner rank of every block and the load it gives each rank.

    Attributes:
        owners: ``owners[i]`` is the rank that prices, routes and solves block ``i``.
        loads: ``loads[r]``: the summed cost of rank ``r``'s blocks (the unit of the costs given).
        costs: the per-block costs the assignment was made from.
        world_size: the number of ranks W.
    """

    owners: tuple[int, ...]
    loads: tuple[float, ...]
    costs: tuple[float, ...]
    world_size: int

    def blocks_of(self, rank: int) -> tuple[int, ...]:
        """The block indices ``rank`` owns, in block order."""
        return tuple(i for i, r in enumerate(self.owners) if r == rank)

    @property
    def max_load(self) -> float:
        """The busiest rank's load: the step's critical path through the solves."""
        return max(self.loads)

    @property
    def mean_load(self) -> float:
        """Total cost / W: the load of a perfect split."""
        return sum(self.loads) / self.world_size

    @property
    def imbalance(self) -> float:
        """max / mean load (1 is perfect; W means one rank does everything)."""
        mean = self.mean_load
        return self.max_load / mean if mean > 0 else 1.0

    @property
    def idle_fraction(self) -> float:
        """Share of the W x max-load rank-time spent waiting: 1 - mean/max (0 is perfect)."""
        top = self.max_load
        return 1.0 - self.mean_load / top if top > 0 else 0.0

    @property
    def busy_ranks(self) -> int:
        """Ranks that own at least one block."""
        return len(set(self.owners))

    @property
    def lower_bound(self) -> float:
        """No assignment can beat max(largest block, mean load)."""
        return max(max(self.costs, default=0.0), self.mean_load)

    def summary(self) -> dict[str, float | int]:
        """The numbers a table reports: W, blocks, busy ranks, max/mean load, idle fraction."""
        return {
            "world_size": self.world_size,
            "blocks": len(self.owners),
            "busy_ranks": self.busy_ranks,
            "max_load": self.max_load,
            "mean_load": self.mean_load,
            "imbalance": self.imbalance,
            "idle_fraction": self.idle_fraction,
            "speedup_bound": (sum(self.costs) / self.max_load) if self.max_load > 0 else 1.0,
        }


def assign_blocks(costs: Sequence[float], world_size: int) -> BlockAssignment:
    """Greedy LPT assignment of blocks to ranks: largest cost first, each to the least-loaded rank.

    Ties are broken deterministically (equal costs: lower block index first; equal loads: lower
    rank), so every process computes the same assignment from the same costs.

    Args:
        costs: one finite, non-negative estimated cost per block (any unit, e.g. the C N^3
            prediction in seconds).
        world_size: number of ranks W >= 1.

    Returns:
        :class:`BlockAssignment`.

    Raises:
        InvalidArgumentError: a cost is negative or not finite, or ``world_size`` < 1.

    Example:
        >>> a = assign_blocks([8.0, 1.0, 4.0, 4.0], 2)
        >>> a.owners, a.loads
        ((0, 0, 1, 1), (9.0, 8.0))
        >>> round(a.imbalance, 3), round(a.idle_fraction, 3)
        (1.059, 0.056)
    """
    world_size = check_int_range(world_size, "world_size", 1, 2**31 - 1)
    vals = []
    for i, c in enumerate(costs):
        try:
            v = float(c)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"`costs[{i}]` must be a number, got {c!r}.") from None
        if not math.isfinite(v) or v < 0:
            raise InvalidArgumentError(f"`costs[{i}]` must be finite and >= 0, got {c!r}.")
        vals.append(v)
    loads = [0.0] * world_size
    owners = [0] * len(vals)
    for i in sorted(range(len(vals)), key=lambda k: (-vals[k], k)):
        r = min(range(world_size), key=lambda q: (loads[q], q))
        owners[i] = r
        loads[r] += vals[i]
    return BlockAssignment(tuple(owners), tuple(loads), tuple(vals), world_size)


def classical_block_costs(sizes: Sequence[int], cost_model=None) -> list[float]:
    """Predicted classical solve seconds, C N^3, per block size N (the default balancing cost).

    ``cost_model`` is a :class:`qnewton.cost.ClassicalCostModel` (default: C = 1, i.e. plain N^3;
    the greedy assignment only depends on the ratios, so C does not change it).

    >>> classical_block_costs([10, 20])
    [1000.0, 8000.0]
    """
    out = []
    for i, n in enumerate(sizes):
        n = check_int_range(n, f"sizes[{i}]", 1, 2**62)
        out.append(float(n) ** 3 if cost_model is None else float(cost_model.estimate(n).seconds))
    return out
