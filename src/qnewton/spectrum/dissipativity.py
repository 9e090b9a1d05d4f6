r"""Is gradient descent dissipative here? Diagnostics from the Hessian spectrum.

Near a point theta_0, one step of gradient descent with learning rate eta acts on a displacement
delta as :math:`\delta \mapsto (I - \eta H)\delta` to first order, H the Hessian there. A mode with
eigenvalue :math:`\lambda > 0` contracts by :math:`|1 - \eta\lambda| < 1` (for
:math:`\eta\lambda < 2`), a mode with :math:`\lambda < 0` grows by :math:`1 + \eta|\lambda|` per step.
Liu et al. (Nat. Commun. 15, 434 (2024)) call the training dynamics *dissipative* when the Hessian
spectrum is dominated by positive modes: their Theorem 1 (O(T polylog n)) assumes fully
dissipative dynamics, Theorem 2 (O(T^2 polylog n)) *almost* dissipative dynamics, and the Carleman
truncation error is controlled only then (the same condition, Re(lambda) < 0 of the linear part, as
for the continuous-time Carleman algorithm of Liu et al., PNAS 118 (2021) e2026805118).

The paper states the criterion qualitatively; the thresholds here are ours, documented in
:class:`DissipativityThresholds`, and every report carries the numbers behind its verdict so a
reader can apply other thresholds. With lambda_max the largest eigenvalue:

* eigenvalues with :math:`|\lambda| \le` ``zero_tol`` :math:`\cdot \max|\lambda|` are *flat* (neutral: no
  growth, no decay; dead inputs and symmetries give exact zeros);
* **fully dissipative**: every eigenvalue is positive beyond the flat band,
  :math:`\lambda_{min} >` ``zero_tol`` :math:`\cdot \max|\lambda|`: every mode contracts;
* **almost dissipative**: negative modes exist but are weak: their share of the spectral weight
  :math:`\sum_{\lambda<0}|\lambda| / \sum|\lambda|` is at most ``almost_negative_share``, the most
  negative eigenvalue is at most ``almost_negative_ratio`` of lambda_max in size, and, when a learning
  rate and a horizon T are given, the worst mode grows by at most
  :math:`e^{\text{almost\_growth}}` over T steps (:math:`\eta|\lambda_{min}| T \le` ``almost_growth``).
  A spectrum whose lowest modes are flat (no negative ones) is also "almost": a flat mode does not
  decay, and driven by a constant gradient component it drifts linearly, which is what makes the
  Carleman system's condition number grow like T^2 (measured by `qnewton carleman-error`); exact
  zero modes are common (weights of always-zero inputs), so real networks are at best "almost";
* **not dissipative** otherwise.

Two shares are reported: the *mass* (share of eigenvalues, the count the density integrates to)
and the *weight* (share of :math:`\sum|\lambda|`). The weight discounts the near-zero bulk of a
network Hessian, whose sign flickers, and is what the verdict uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._arrays import as_numpy
from .._validation import check_finite, check_int_range, check_positive
from ..errors import InvalidArgumentError
from .slq import SLQResult

__all__ = ["VERDICTS", "DissipativityReport", "DissipativityThresholds", "dissipativity"]

#: The three verdicts, most to least favourable for the Carleman algorithm.
VERDICTS: tuple[str, str, str] = ("fully dissipative", "almost dissipative", "not dissipative")


@dataclass(frozen=True)
class DissipativityThresholds:
    """Thresholds of the verdict (see the module docstring).

    Attributes:
        zero_tol: flat band, relative to max|lambda| (default 1e-3).
        almost_negative_share: largest |lambda|-weighted share of negative eigenvalues for
            "almost dissipative" (default 0.05).
        almost_negative_ratio: largest |lambda_min| / lambda_max for "almost" (default 0.1).
        almost_growth: largest eta |lambda_min| T for "almost" when eta and T are known
            (default 1.0: the worst mode grows at most e-fold over the window).
    """

    zero_tol: float = 1e-3
    almost_negative_share: float = 0.05
    almost_negative_ratio: float = 0.1
    almost_growth: float = 1.0

    def __post_init__(self) -> None:
        for name in ("zero_tol", "almost_negative_share", "almost_negative_ratio", "almost_growth"):
            check_positive(getattr(self, name), name)
        if self.zero_tol >= 1:
            raise InvalidArgumentError(f"`zero_tol` must be < 1 (a fraction of max|lambda|), got {self.zero_tol}.")


@dataclass(frozen=True)
class DissipativityReport:
    """The numbers behind a dissipativity verdict.

    Attributes:
        lambda_min, lambda_max: extreme eigenvalues (Ritz values for SLQ).
        negative_mass, flat_mass, positive_mass: shares of eigenvalues below, inside and above the
            flat band (sum to 1).
        negative_weight, positive_weight: shares of sum|lambda| on negative / positive eigenvalues.
        negative_ratio: |min(lambda_min, 0)| / max(lambda_max, tiny).
        verdict: one of :data:`VERDICTS`; ``reason`` says which threshold decided it.
        eta, horizon: learning rate and window length, if given.
        growth_per_step: 1 + eta |lambda_min| for lambda_min < 0, else max |1 - eta lambda| over
            the spectrum's ends (the contraction factor); None without eta.
        window_growth: growth_per_step ** horizon (None without both).
        stable: eta * lambda_max < 2 (gradient descent does not blow up along the top mode).
    """

    lambda_min: float
    lambda_max: float
    negative_mass: float
    flat_mass: float
    positive_mass: float
    negative_weight: float
    positive_weight: float
    negative_ratio: float
    verdict: str
    reason: str
    thresholds: DissipativityThresholds
    eta: float | None = None
    horizon: int | None = None
    growth_per_step: float | None = None
    window_growth: float | None = None
    stable: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["thresholds"] = asdict(self.thresholds)
        return d


def _nodes_weights(spectrum: Any) -> tuple[np.ndarray, np.ndarray, float, float]:
    if isinstance(spectrum, SLQResult):
        th, w = spectrum.flat()
        return th, w, spectrum.lambda_min, spectrum.lambda_max
    lam, _ = as_numpy(spectrum, "spectrum")
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    if lam.size == 0:
        raise InvalidArgumentError("`spectrum` is empty; pass eigenvalues or an SLQResult.")
    check_finite(lam, "spectrum")
    return lam, np.full(lam.size, 1.0 / lam.size), float(lam.min()), float(lam.max())


def dissipativity(
    spectrum: SLQResult | Any,
    *,
    eta: float | None = None,
    horizon: int | None = None,
    thresholds: DissipativityThresholds | None = None,
) -> DissipativityReport:
    r"""Positive/negative spectral weight, the most negative eigenvalue and a verdict.

    Args:
        spectrum: an :class:`SLQResult` (quadrature nodes and weights) or the eigenvalues of a
            dense Hessian (each of weight 1/n).
        eta: learning rate, for the per-step growth and the T-step growth criterion.
        horizon: window length T (steps between download and re-upload).
        thresholds: :class:`DissipativityThresholds` (defaults documented there).

    Returns:
        :class:`DissipativityReport`.

    Raises:
        InvalidArgumentError: eta <= 0, horizon < 1, empty spectrum. NonFiniteError: NaN/Inf.

    Example:
        >>> dissipativity([1.0, 2.0, 3.0]).verdict
        'fully dissipative'
        >>> dissipativity([-0.01, 0.0, 1.0, 2.0]).verdict
        'almost dissipative'
        >>> dissipativity([-1.0, 1.0]).verdict
        'not dissipative'
    """
    th = thresholds or DissipativityThresholds()
    if not isinstance(th, DissipativityThresholds):
        raise InvalidArgumentError("`thresholds` must be a DissipativityThresholds.")
    if eta is not None:
        eta = check_positive(eta, "eta")
    if horizon is not None:
        horizon = check_int_range(horizon, "horizon", 1, 10**12, "`horizon` is the number of steps T of a window.")
    lam, w, lmin, lmax = _nodes_weights(spectrum)
    scale = max(abs(lmin), abs(lmax))
    band = th.zero_tol * scale
    neg = lam < -band
    pos = lam > band
    negative_mass = float(w[neg].sum())
    positive_mass = float(w[pos].sum())
    flat_mass = max(0.0, 1.0 - negative_mass - positive_mass)
    absw = w * np.abs(lam)
    total = float(absw.sum())
    negative_weight = float(absw[lam < 0].sum() / total) if total > 0 else 0.0
    positive_weight = float(absw[lam > 0].sum() / total) if total > 0 else 0.0
    negative_ratio = max(0.0, -lmin) / lmax if lmax > 0 else (math.inf if lmin < 0 else 0.0)

    growth = window = None
    stable = None
    if eta is not None:
        if lmin < 0:
            growth = 1.0 + eta * (-lmin)
        else:
            growth = max(abs(1.0 - eta * lmin), abs(1.0 - eta * lmax))
        stable = eta * lmax < 2.0
        if horizon is not None:
            window = growth**horizon if growth > 0 else 0.0

    if lmin > band:
        verdict, reason = VERDICTS[0], f"lambda_min = {lmin:.3g} > zero_tol * max|lambda| = {band:.3g}"
    elif lmin >= -band:
        verdict, reason = VERDICTS[1], f"lowest modes flat (|lambda_min| = {abs(lmin):.3g} <= {band:.3g}): marginal"
    else:
        fails = []
        if negative_weight > th.almost_negative_share:
            fails.append(f"negative weight {negative_weight:.3g} > {th.almost_negative_share:g}")
        if negative_ratio > th.almost_negative_ratio:
            fails.append(f"|lambda_min|/lambda_max = {negative_ratio:.3g} > {th.almost_negative_ratio:g}")
        if eta is not None and horizon is not None and eta * (-lmin) * horizon > th.almost_growth:
            fails.append(f"eta |lambda_min| T = {eta * (-lmin) * horizon:.3g} > {th.almost_growth:g}")
        if fails:
            verdict, reason = VERDICTS[2], "; ".join(fails)
        else:
            verdict, reason = VERDICTS[1], "negative modes present but within every 'almost' threshold"
    return DissipativityReport(
        lambda_min=lmin,
        lambda_max=lmax,
        negative_mass=negative_mass,
        flat_mass=flat_mass,
        positive_mass=positive_mass,
        negative_weight=negative_weight,
        positive_weight=positive_weight,
        negative_ratio=negative_ratio,
        verdict=verdict,
        reason=reason,
        thresholds=th,
        eta=eta,
        horizon=horizon,
        growth_per_step=growth,
        window_growth=window,
        stable=stable,
    )
