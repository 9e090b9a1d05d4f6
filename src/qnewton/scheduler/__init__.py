"""The hybrid scheduler: quote every route per block, choose by cost, solve, log the decision."""

from .config import POLICIES, DecisionRule, Policy, RegularizationSpec, SchedulerConfig, SparsitySpec
from .core import BlockOutcome, BlockTask, RouteUnavailableError, Scheduler
from .records import DecisionRecord, decisions_to_csv, read_decisions_csv, summarize

__all__ = [
    "POLICIES",
    "BlockOutcome",
    "BlockTask",
    "DecisionRecord",
    "DecisionRule",
    "Policy",
    "RegularizationSpec",
    "RouteUnavailableError",
    "Scheduler",
    "SchedulerConfig",
    "SparsitySpec",
    "decisions_to_csv",
    "read_decisions_csv",
    "summarize",
]
