"""Discrete Carleman linearization of gradient descent (Liu et al., "Towards provably efficient
quantum algorithms for large-scale machine-learning models", Nat. Commun. 15, 434 (2024)).

Supported class: gradient descent theta_{t+1} = theta_t - eta grad L(theta_t) on a loss whose
gradient is an exact polynomial of degree m <= 6 in the parameters, grad L(theta) =
sum_j F_j (theta - c)^{⊗j} (:class:`PolynomialGradient`; from a torch loss with
:meth:`PolynomialGradient.from_loss`, which rejects non-polynomial models).

* :func:`carleman_map`: the order-K discrete Carleman matrix (tensor powers of theta up to K, all
  powers of eta included), :func:`carleman_system`: the block linear system of T steps;
* :func:`solve_carleman`: solve it with the project's solvers (sparse LU, Cholesky on the normal
  equations, the emulated QLSA or the QSVT circuit on the Hermitian embedding [[0, L], [L^T, 0]]),
  priced by the cost model;
* :func:`carleman_training`: sparse training by windows with download (modeled tomography) and
  re-upload, on e.g. the pruned two-layer linear network of :mod:`qnewton.carleman.models`;
* :class:`CarlemanScaling`: modeled O(T polylog n) / O(T^2 polylog n) cost vs classical O(T n);
* the studies behind `qnewton carleman-error`, `carleman-train` and `carleman-cost`.

Example:
    >>> import numpy as np
    >>> from qnewton.carleman import ridge_polynomial, carleman_map, carleman_system, solve_carleman
    >>> from qnewton.carleman import gradient_descent
    >>> grad, _ = ridge_polynomial([1.0, 2.0], cubic=0.5, quartic=0.2)
    >>> theta0 = np.array([0.2, -0.1])
    >>> sol = solve_carleman(carleman_system(carleman_map(grad, 0.1, 3), theta0, 10))
    >>> bool(np.abs(sol.theta - gradient_descent(grad, theta0, 0.1, 10)).max() < 1e-4)
    True
"""

from .cost import REGIMES, CarlemanScaling, calibrate_sparse_gradient, carleman_sparsity
from .linearization import (
    MAX_CARLEMAN_NNZ,
    MAX_SYSTEM_NNZ,
    MAX_SYSTEM_UNKNOWNS,
    CarlemanMap,
    CarlemanSystem,
    carleman_map,
    carleman_nnz_bound,
    carleman_system,
    gradient_descent,
    lift,
)
from .models import BinaryData, PrunedLinearNet, binary_digits, pretrain_dense
from .polynomial import MAX_DEGREE, PolynomialGradient, kron_power, ridge_polynomial
from .readout import Download, download
from .solve import (
    SOLVERS,
    CarlemanSolution,
    Conditioning,
    condition_number,
    hermitian_embedding,
    price_carleman_system,
    solve_carleman,
)
from .training import CarlemanTrainingResult, WindowRecord, carleman_training

__all__ = [
    "MAX_CARLEMAN_NNZ",
    "MAX_DEGREE",
    "MAX_SYSTEM_NNZ",
    "MAX_SYSTEM_UNKNOWNS",
    "REGIMES",
    "SOLVERS",
    "BinaryData",
    "CarlemanMap",
    "CarlemanScaling",
    "CarlemanSolution",
    "CarlemanSystem",
    "CarlemanTrainingResult",
    "Conditioning",
    "Download",
    "PolynomialGradient",
    "PrunedLinearNet",
    "WindowRecord",
    "binary_digits",
    "calibrate_sparse_gradient",
    "carleman_map",
    "carleman_nnz_bound",
    "carleman_sparsity",
    "carleman_system",
    "carleman_training",
    "condition_number",
    "download",
    "gradient_descent",
    "hermitian_embedding",
    "kron_power",
    "lift",
    "pretrain_dense",
    "price_carleman_system",
    "ridge_polynomial",
    "solve_carleman",
]
