"""Examine and reshape Hessian blocks: condition numbers, sparsity, pruning, regularization.

Every function accepts numpy arrays and torch tensors (float32 or float64) and returns results in
the input's kind; bad input raises the typed errors of :mod:`qnewton.errors`.
"""

from .condition import (
    CONDITION_METHODS,
    ConditionEstimate,
    estimate_condition,
    qlsa_condition,
    register_condition_method,
)
from .lanczos import LanczosResult, lanczos_extremes, spectral_norm
from .pruning import prune_rows, prune_symmetric
from .regularize import regularization_shift, regularize
from .sparsity import oracle_sparsity, quantum_sparsity, row_nnz

__all__ = [
    "CONDITION_METHODS",
    "ConditionEstimate",
    "LanczosResult",
    "estimate_condition",
    "lanczos_extremes",
    "oracle_sparsity",
    "prune_rows",
    "prune_symmetric",
    "qlsa_condition",
    "quantum_sparsity",
    "register_condition_method",
    "regularization_shift",
    "regularize",
    "row_nnz",
    "spectral_norm",
]
