"""Cost curves and crossover points between two cost models (the Q-Newton paper's Fig. 5)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.optimize

from ..errors import InvalidArgumentError
from .estimate import CostModel

__all__ = ["Crossover", "find_crossover"]

Status = Literal["crossover", "quantum-cheaper-throughout", "classical-cheaper-throughout"]
_VARIES = ("kappa", "d")


@dataclass(frozen=True)
class Crossover:
    """Where two cost curves meet as ``vary`` (kappa or d) grows, the other parameter fixed.

    Attributes:
        vary: ``"kappa"`` or ``"d"``.
        value: the crossover value of ``vary`` (continuous; d is an integer in reality), or None.
        status: ``"crossover"``; or ``"quantum-cheaper-throughout"`` /
            ``"classical-cheaper-throughout"`` when the curves do not meet in [lo, hi].
        seconds: the common cost at the crossover (None without one).
        lo, hi: the searched range.
        fixed: the fixed parameters, e.g. ``{"d": 1000}`` or ``{"kappa": 1e4}``.
        quantum_cheaper_below: True when the quantum route is the cheaper one below ``value``.
    """

    vary: str
    value: float | None
    status: Status
    seconds: float | None
    lo: float
    hi: float
    fixed: dict[str, float] = field(default_factory=dict)
    quantum_cheaper_below: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form."""
        return {
            "vary": self.vary,
            "value": self.value,
            "status": self.status,
            "seconds": self.seconds,
            "lo": self.lo,
            "hi": self.hi,
            "fixed": dict(self.fixed),
            "quantum_cheaper_below": self.quantum_cheaper_below,
        }


def _log_gap(quantum: CostModel, classical: CostModel, n: int, vary: str, x: np.ndarray, fixed: float,
             alpha: Any) -> np.ndarray:  # fmt: skip
    if vary == "kappa":
        q = quantum.estimate(n, kappa=x, d=fixed, alpha=alpha)
        c = classical.estimate(n, kappa=x, d=fixed, alpha=alpha)
    else:
        q = quantum.estimate(n, kappa=fixed, d=x, alpha=alpha)
        c = classical.estimate(n, kappa=fixed, d=x, alpha=alpha)
    return np.log(np.asarray(q.seconds, dtype=np.float64)) - np.log(np.asarray(c.seconds, dtype=np.float64))


def find_crossover(
    quantum: CostModel,
    classical: CostModel,
    n: int,
    *,
    vary: str = "kappa",
    fixed: float,
    lo: float,
    hi: float,
    alpha: Any = None,
    grid: int = 256,
    rtol: float = 1e-12,
) -> Crossover:
    """The value of ``vary`` where the quantum and classical costs are equal.

    Scans ln R_q - ln R_c on a log-spaced grid of ``grid`` points in [lo, hi] and refines the first
    sign change with Brent's method in log space (to ``rtol`` relative). With the query models
    here R_q grows monotonically in kappa and in d (through alpha = d), and C N^3 does not depend
    on either, so there is at most one crossover.

    Args:
        quantum: the quantum cost model (``estimate(n, kappa=, d=, alpha=)``).
        classical: the classical cost model (the same interface).
        n: block size N.
        vary: ``"kappa"`` (d fixed) or ``"d"`` (kappa fixed).
        fixed: the value of the other parameter.
        lo: lower end of the search range of ``vary`` (0 < lo < hi).
        hi: upper end of the search range (d <= n).
        alpha: passed to both models (None: the quantum model uses alpha = d).

    Raises:
        InvalidArgumentError: bad ``vary`` or range.
    """
    if vary not in _VARIES:
        raise InvalidArgumentError(f"`vary` must be 'kappa' or 'd', got {vary!r}.")
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise InvalidArgumentError(f"need 0 < `lo` < `hi` (finite), got lo={lo!r}, hi={hi!r}.")
    other = "d" if vary == "kappa" else "kappa"
    xs = np.geomspace(lo, hi, max(int(grid), 2))
    g = _log_gap(quantum, classical, n, vary, xs, fixed, alpha)
    base: dict[str, Any] = {"vary": vary, "lo": float(lo), "hi": float(hi), "fixed": {other: float(fixed)}}
    neg = g < 0
    if neg.all():
        return Crossover(value=None, status="quantum-cheaper-throughout", seconds=None, **base)
    if not neg.any():
        return Crossover(value=None, status="classical-cheaper-throughout", seconds=None, **base)
    i = int(np.flatnonzero(neg[:-1] != neg[1:])[0])
    if g[i] == 0.0:
        root = float(xs[i])
    else:

        def f(t: float) -> float:
            return float(_log_gap(quantum, classical, n, vary, np.array(math.exp(t)), fixed, alpha))

        t = scipy.optimize.brentq(f, math.log(xs[i]), math.log(xs[i + 1]), xtol=1e-300, rtol=max(rtol, 4e-16))
        root = math.exp(t)
    if vary == "kappa":
        seconds = float(quantum.estimate(n, kappa=root, d=fixed, alpha=alpha).seconds)
    else:
        seconds = float(quantum.estimate(n, kappa=fixed, d=root, alpha=alpha).seconds)
    return Crossover(value=root, status="crossover", seconds=seconds, quantum_cheaper_below=bool(neg[i]), **base)
