"""What a cost model returns, and the protocol every cost model follows.

Every time figure says what it is (``CostEstimate.basis``):

* ``"measured"``: wall-clock seconds of something that ran on this machine (``time.perf_counter``);
* ``"modeled"``: seconds a quantum computer would take by a published query-count model times a
  gate time: a hypothetical machine, nothing ran;
* ``"calibrated-prediction"``: the classical C N^3 with C least-squares fitted to Cholesky solves
  timed on this machine: a prediction, extrapolated beyond the calibrated sizes;
* ``"assumed-prediction"``: the classical C N^3 with a C the caller supplied (not measured here).

So ``est.modeled`` is True only for the quantum route, and the three accessors
``measured_seconds`` / ``modeled_seconds`` / ``predicted_seconds`` are never set together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

__all__ = ["BASES", "Basis", "CostEstimate", "CostModel", "RouteKind"]

#: The two kinds of route a block solve can take (the solvers and routes import it from here).
RouteKind = Literal["classical", "quantum"]
Basis = Literal["measured", "modeled", "calibrated-prediction", "assumed-prediction"]
#: The allowed values of :attr:`CostEstimate.basis`, with their meaning.
BASES: Mapping[str, str] = MappingProxyType(
    {
        "measured": "wall-clock seconds measured on this machine",
        "modeled": "query count x gate time of a hypothetical quantum computer (nothing ran)",
        "calibrated-prediction": "C N^3 with C fitted to Cholesky solves timed on this machine",
        "assumed-prediction": "C N^3 with a caller-supplied C (not measured here)",
    }
)


@dataclass(frozen=True)
class CostEstimate:
    """The price of solving one N x N block by one route.

    Attributes:
        route: ``"classical"`` or ``"quantum"``.
        model: which model produced it, e.g. ``"quantum/jennings-v1"``, ``"classical/cholesky"``.
        basis: what kind of figure ``seconds`` is (see :data:`BASES`).
        seconds: the time; a float, or an array when the inputs were arrays.
        n: system size N.
        queries: total block-encoding queries (quantum route), else None.
        qubits: logical qubits (quantum route), else None.
        terms: the contributions to ``seconds`` (same unit); they add up to ``seconds``.
        details: everything else a user may want to check (alpha, clamped kappa, C, sources, ...).
    """

    route: RouteKind
    model: str
    basis: Basis
    seconds: float | np.ndarray
    n: int
    queries: float | np.ndarray | None = None
    qubits: int | None = None
    terms: Mapping[str, float | np.ndarray] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.basis not in BASES:  # pragma: no cover - programming error inside the package
            raise ValueError(f"unknown basis {self.basis!r}")

    @property
    def modeled(self) -> bool:
        """True for a quantum query-count x gate-time figure (nothing ran)."""
        return self.basis == "modeled"

    @property
    def measured(self) -> bool:
        """True for a wall-clock measurement on this machine."""
        return self.basis == "measured"

    @property
    def is_prediction(self) -> bool:
        """True for the classical C N^3 prediction (calibrated here or with an assumed C)."""
        return self.basis.endswith("-prediction")

    @property
    def modeled_seconds(self) -> float | np.ndarray | None:
        """``seconds`` when modeled, else None."""
        return self.seconds if self.modeled else None

    @property
    def predicted_seconds(self) -> float | np.ndarray | None:
        """``seconds`` when a C N^3 prediction, else None."""
        return self.seconds if self.is_prediction else None

    @property
    def measured_seconds(self) -> float | np.ndarray | None:
        """``seconds`` when measured, else None."""
        return self.seconds if self.measured else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable dict (arrays become lists)."""
        return {
            "route": self.route,
            "model": self.model,
            "basis": self.basis,
            "seconds": _plain(self.seconds),
            "n": self.n,
            "queries": _plain(self.queries),
            "qubits": self.qubits,
            "terms": {k: _plain(v) for k, v in self.terms.items()},
            "details": {k: _plain(v) for k, v in self.details.items()},
        }


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


@runtime_checkable
class CostModel(Protocol):
    """Anything that prices the solve of an N x N block: ``estimate(n, kappa, d, alpha=...)``.

    The scheduler calls every model the same way and compares ``CostEstimate.seconds``; a model
    ignores what it does not depend on (the classical Cholesky cost ignores kappa and d). Custom
    models only need ``route``, ``name`` and ``estimate``.
    """

    route: RouteKind

    @property
    def name(self) -> str:  # pragma: no cover - protocol
        ...

    def estimate(
        self, n: int, kappa: Any = None, d: Any = None, *, alpha: Any = None
    ) -> CostEstimate:  # pragma: no cover - protocol
        ...
