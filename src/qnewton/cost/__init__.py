"""Cost models: what solving one Hessian block costs by the quantum and the classical route.

Quantum (modeled, nothing runs): block-encoding query counts of a QLSA (Jennings et al.
arXiv:2305.11352 v1 Theorem 1, the Q-Newton paper's model, and comparison models), the
block-encoding scale factor alpha that carries the oracle sparsity d, logical qubits, the readout
that turns |x> into a classical vector, and gate-time presets; :class:`QuantumCostModel` combines
them. :class:`FaultTolerantCostModel` prices the same solve on an error-corrected machine: the
matrix loaded by QROM/QROAM (or an assumed QRAM) on every query, |g> prepared, logical counts
turned into code distance, physical qubits and run time by Microsoft's resource estimator
(extra ``qnewton[ft]``). Classical: C N^3 with C calibrated by timing LAPACK Cholesky solves here
(:class:`ClassicalCostModel`). Both implement :class:`CostModel` and return :class:`CostEstimate`,
whose ``basis`` says whether a time is measured, modeled or a calibrated prediction.

Example:
    >>> from qnewton.cost import QuantumCostModel, ClassicalCostModel
    >>> q = QuantumCostModel(gate_time="ghz").estimate(12544, kappa=1e4, d=1000)
    >>> c = ClassicalCostModel(c=1e-11).estimate(12544)
    >>> q.basis, c.basis, q.seconds < c.seconds
    ('modeled', 'assumed-prediction', True)
"""

from __future__ import annotations

from .classical import (
    Calibration,
    ClassicalCostModel,
    EighCostModel,
    GemmCostModel,
    cache_dir,
    calibrate_classical,
    fit_cubic_constant,
    load_calibration,
    measure_cholesky_solve,
    measure_eigh,
    measure_gemm,
    save_calibration,
)
from .curves import Crossover, find_crossover
from .dataloading import DATA_LOADINGS
from .encoding import block_encoding_alpha, default_ancillas, logical_qubits, max_row_nnz
from .estimate import BASES, CostEstimate, CostModel
from .fault_tolerant import FaultTolerantCostModel, LogicalCircuit, PhysicalEstimate, estimate_physical
from .gate_times import GATE_TIME_PRESETS, GateTime, resolve_gate_time
from .hardware import FT_HARDWARE_PRESETS, FTHardware, resolve_hardware
from .quantum import READOUTS, QuantumCostModel
from .queries import (
    QUERY_MODELS,
    QueryModel,
    get_query_model,
    jennings_expected_queries,
    jennings_queries,
    jennings_state_prep_queries,
    jennings_success_probability,
    query_model_names,
)
from .readout import amplitude_estimation_calls, amplitude_estimation_iterations, tomography_copies

__all__ = [
    "BASES",
    "DATA_LOADINGS",
    "FT_HARDWARE_PRESETS",
    "GATE_TIME_PRESETS",
    "QUERY_MODELS",
    "READOUTS",
    "Calibration",
    "ClassicalCostModel",
    "CostEstimate",
    "CostModel",
    "Crossover",
    "EighCostModel",
    "FTHardware",
    "FaultTolerantCostModel",
    "GateTime",
    "GemmCostModel",
    "LogicalCircuit",
    "PhysicalEstimate",
    "QuantumCostModel",
    "QueryModel",
    "amplitude_estimation_calls",
    "amplitude_estimation_iterations",
    "block_encoding_alpha",
    "cache_dir",
    "calibrate_classical",
    "default_ancillas",
    "estimate_physical",
    "find_crossover",
    "fit_cubic_constant",
    "get_query_model",
    "jennings_expected_queries",
    "jennings_queries",
    "jennings_state_prep_queries",
    "jennings_success_probability",
    "load_calibration",
    "logical_qubits",
    "max_row_nnz",
    "measure_cholesky_solve",
    "measure_eigh",
    "measure_gemm",
    "query_model_names",
    "resolve_gate_time",
    "resolve_hardware",
    "save_calibration",
    "tomography_copies",
]
