"""The Q-Newton paper's evaluation, one module per table or figure; each writes a run folder with
JSON + CSV + PNG + a Markdown report and can be resumed."""

from ._run import RunDir
from .table3 import Table3Config, run_table3
from .training import ArmResult, ArmSpec, BatchSampler, CostSettings, TrainSetup, run_arm

__all__ = [
    "ArmResult",
    "ArmSpec",
    "BatchSampler",
    "CostSettings",
    "RunDir",
    "Table3Config",
    "TrainSetup",
    "run_arm",
    "run_table3",
]
