"""Linear solvers behind one interface: ``solver.solve(H, g) -> SolveResult(x, report)``.

* :class:`CholeskySolver`: the classical route (LAPACK Cholesky, indefinite fallbacks).
* :class:`EmulatedQLSASolver`: the quantum route, emulated (ideal or noisy readout), with the
  modeled QLSA time from :mod:`qnewton.cost`.
* :class:`QSVTCircuitSolver` (needs the ``quantum`` extra): a real QSVT circuit on PennyLane's
  state-vector simulator for N <= 256.
"""

from .base import LinearSolver, RouteKind, SolveReport, SolveResult
from .circuit import MAX_CIRCUIT_N, QSVTCircuitConfig, QSVTCircuitSolver
from .classical import CholeskySolver
from .emulated import EmulatedQLSASolver

__all__ = [
    "MAX_CIRCUIT_N",
    "CholeskySolver",
    "EmulatedQLSASolver",
    "LinearSolver",
    "QSVTCircuitConfig",
    "QSVTCircuitSolver",
    "RouteKind",
    "SolveReport",
    "SolveResult",
]
