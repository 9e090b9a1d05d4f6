"""The hybrid quantum-classical scheduler: price both routes per block, choose, solve, log."""

from .config import Policy, RegularizationSpec, SchedulerConfig, SparsitySpec
from .core import BlockOutcome, BlockTask, QuantumPlan, Scheduler
from .records import DecisionRecord, decisions_to_csv, read_decisions_csv, summarize

__all__ = [
    "BlockOutcome",
    "BlockTask",
    "DecisionRecord",
    "Policy",
    "QuantumPlan",
    "RegularizationSpec",
    "Scheduler",
    "SchedulerConfig",
    "SparsitySpec",
    "decisions_to_csv",
    "read_decisions_csv",
    "summarize",
]
