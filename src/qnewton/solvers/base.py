"""The one interface every linear solver implements: ``solve(H, g) -> SolveResult(x, report)``.

A solver answers H x = g for a symmetric Hessian block H. What it returns is the same for the
classical LAPACK path, the emulated QLSA and the state-vector circuit, so the scheduler and the
optimizer treat them alike, and so every time figure says what it is:

* ``measured_seconds``: wall-clock time of the computation that actually ran on this machine
  (for an emulated or simulated quantum solve, the time of the emulation/simulation itself);
* ``modeled_seconds``: the time a quantum computer would take according to a published cost model
  (query count x gate time), or ``None`` for a classical solve, which is only ever measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .._arrays import ArrayLike
from ..cost.estimate import RouteKind


@dataclass(frozen=True)
class SolveReport:
    """What a solve did and what it cost.

    Attributes:
        solver: implementation name, e.g. ``"cholesky"``, ``"emulated-noisy"``, ``"qsvt-circuit"``.
        route: ``"classical"`` or ``"quantum"``.
        n: system size N.
        measured_seconds: wall-clock seconds measured on this machine for what ran here.
        modeled_seconds: seconds a QLSA would take by the cost model (``None`` if not modeled).
        residual: relative residual ||H x - g|| / ||g|| on the system the solver was given.
        details: solver-specific facts (fallback used, query count, qubits, circuit depth, ...).
    """

    solver: str
    route: RouteKind
    n: int
    measured_seconds: float
    modeled_seconds: float | None = None
    residual: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def time_is_modeled(self) -> bool:
        """True when a modeled (query count x gate time) figure is attached."""
        return self.modeled_seconds is not None


class SolveResult(NamedTuple):
    """``x`` (same kind, dtype and device as ``g``) and the :class:`SolveReport`."""

    x: ArrayLike
    report: SolveReport


@runtime_checkable
class LinearSolver(Protocol):
    """Anything with a ``name``, a ``route`` and ``solve(H, g) -> SolveResult``."""

    name: str
    route: RouteKind

    def solve(self, H: ArrayLike, g: ArrayLike) -> SolveResult:  # pragma: no cover - protocol
        ...
