"""Query counts of quantum linear-system algorithms (QLSAs): how many calls to a block encoding of
A one solve needs.

The Q-Newton paper prices its quantum route with the closed form of Jennings, Lostaglio,
Pallister, Sornborger and Subasi, arXiv:2305.11352 **v1, Theorem 1** (REFERENCE.md section 2).
The other models here (REFERENCE.md section 3) are for comparison curves; each says whether its
constant is a proven bound or a scaling law with an arbitrary constant.

Conventions shared by every model:

* ``kappa`` is the condition number of A and ``alpha >= 1`` the block-encoding scale factor
  relative to ||A||_2 (see :func:`qnewton.cost.block_encoding_alpha`); a bound stated for a
  block encoding with ||A|| <= 1 and no alpha is evaluated at ``alpha * kappa``.
* ``eps`` is the accuracy of the output *state* (not a failure probability).
* All functions are vectorized: scalars in give a float out, arrays in (broadcast together) give
  an array out. Natural logarithms throughout.
* Outside a model's proven range, ``kappa`` and ``eps`` are clamped to it with a
  :class:`~qnewton.errors.ClampedRangeWarning` (clamping can only raise the count); values that
  make no sense (``kappa < 1``, ``eps <= 0``, ``alpha < 1``, NaN/Inf) raise
  :class:`~qnewton.errors.InvalidArgumentError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ._inputs import (
    FloatOrArray,
    as_float_array,
    clamp_high,
    clamp_low,
    out,
    require_at_least,
    require_positive,
)

__all__ = [
    "COSTA_MEASURED_CONSTANT",
    "JENNINGS_V1_EPS_MAX",
    "JENNINGS_V1_KAPPA_MIN",
    "QUERY_MODELS",
    "QueryModel",
    "get_query_model",
    "jennings_expected_queries",
    "jennings_queries",
    "jennings_state_prep_queries",
    "jennings_success_probability",
    "query_model_names",
]

#: Smallest kappa for which arXiv:2305.11352v1 Theorem 1 holds (sqrt(12) = 3.464...).
JENNINGS_V1_KAPPA_MIN = math.sqrt(12.0)
#: Largest eps for which arXiv:2305.11352v1 Theorem 1 holds.
JENNINGS_V1_EPS_MAX = 0.24
#: Success coefficient of the theorem as implemented (0.204; the Q-Newton paper prints 0.201).
_JENNINGS_P0 = 0.39
_JENNINGS_P1 = 0.204
_J1 = "Jennings et al. 2023 (v1, Thm 1)"
#: Measured constant of the discrete adiabatic part (Costa, An, Babbush, Berry, arXiv:2312.07690):
#: about 1.84 kappa walk steps, ~1250x below the proven 2305 kappa of Costa et al. 2022.
COSTA_MEASURED_CONSTANT = 1.84

_KAPPA_FIX = "A condition number is >= 1 by definition; pass the estimate of lambda_max / lambda_min."
_EPS_FIX = "`eps` is the accuracy of the output state, e.g. 1e-12 (the Q-Newton paper's choice)."
_ALPHA_FIX = (
    "`alpha` is the block-encoding scale factor relative to ||A||_2 and is >= 1; compute it with "
    "qnewton.cost.block_encoding_alpha(A, d) or pass 1.0 for an ideal encoding."
)


def _prepare(
    kappa: Any, eps: Any, alpha: Any, model: str, kappa_min: float, eps_max: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Validate, clamp and broadcast (kappa, eps, alpha); also say whether all three were scalars."""
    k, ks = as_float_array(kappa, "kappa")
    e, es = as_float_array(eps, "eps")
    a, as_ = as_float_array(alpha, "alpha")
    require_at_least(k, 1.0, "kappa", _KAPPA_FIX)
    require_positive(e, "eps", _EPS_FIX)
    require_at_least(a, 1.0, "alpha", _ALPHA_FIX)
    k = clamp_low(k, kappa_min, "kappa", model)
    e = clamp_high(e, eps_max, "eps", model)
    try:
        k, e, a = np.broadcast_arrays(k, e, a)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"`kappa`, `eps` and `alpha` must broadcast together, got shapes {k.shape}, {e.shape}, {a.shape}."
        ) from exc
    return k, e, a, ks and es and as_


# --- Jennings et al. 2023, v1, Theorem 1 -------------------------------------------------------


def _jennings_q(k: np.ndarray, e: np.ndarray, a: np.ndarray) -> np.ndarray:
    L = np.log(2.0 * k + 3.0)
    adiabatic = (
        (1741.0 * math.e / 500.0)
        * a
        * np.hypot(k, 1.0)
        * ((133.0 / 125.0 + 4.0 / (25.0 * np.cbrt(k))) * math.pi * L + 1.0)
    )
    filtering_const = (351.0 / 50.0) * L * L * (np.log(451.0 * L * L / e) + 1.0)
    filtering = a * k * np.log(32.0 / e)
    return adiabatic + filtering_const + filtering


def jennings_queries(kappa: Any, eps: Any, alpha: Any = 1.0) -> FloatOrArray:
    """Block-encoding queries Q* of one attempt of the QLSA of Jennings et al.

    Source: arXiv:2305.11352 **v1, Theorem 1** (REFERENCE.md section 2); natural logs::

        L  = ln(2 kappa + 3)
        Q* = (1741 alpha e / 500) sqrt(kappa^2 + 1) ((133/125 + 4 / (25 kappa^(1/3))) pi L + 1)
           + (351/50) L^2 (ln(451 L^2 / eps) + 1)
           + alpha kappa ln(32 / eps)

    Q* is *linear* in ``alpha`` (the public reference code's alpha^2 is a bug, not reproduced).
    One attempt succeeds with probability >= :func:`jennings_success_probability`; failure is
    heralded, so the expected count is :func:`jennings_expected_queries`.

    Args:
        kappa: condition number(s), >= 1; clamped up to sqrt(12) (the theorem's range).
        eps: output-state accuracy, > 0; clamped down to 0.24.
        alpha: block-encoding scale factor relative to ||A||_2, >= 1.

    Returns:
        Q* as a float (all inputs scalar) or an array of the broadcast shape.

    Raises:
        InvalidArgumentError: kappa < 1, eps <= 0, alpha < 1, or a non-finite value.

    Warns:
        ClampedRangeWarning: kappa < sqrt(12) or eps > 0.24 (clamped; the count can only grow).

    Example:
        >>> round(jennings_queries(10, 1e-2))
        2209
    """
    k, e, a, scalar = _prepare(kappa, eps, alpha, _J1, JENNINGS_V1_KAPPA_MIN, JENNINGS_V1_EPS_MAX)
    return out(_jennings_q(k, e, a), scalar)


def jennings_success_probability(eps: Any) -> FloatOrArray:
    """Lower bound on the success probability of one attempt: p = 0.39 - 0.204 eps.

    Source: arXiv:2305.11352 v1, Theorem 1 (REFERENCE.md section 2). The Q-Newton paper
    (arXiv:2405.00252, Sec. II-E) prints 0.201; two of three implementations of the theorem use
    0.204, which is used here (the difference is below 0.2 % of the cost). ``eps`` is clamped to
    0.24 like in :func:`jennings_queries`.

    Example:
        >>> round(jennings_success_probability(0.1), 12)
        0.3696
    """
    e, scalar = as_float_array(eps, "eps")
    require_positive(e, "eps", _EPS_FIX)
    e = clamp_high(e, JENNINGS_V1_EPS_MAX, "eps", _J1)
    return out(_JENNINGS_P0 - _JENNINGS_P1 * e, scalar)


def jennings_expected_queries(kappa: Any, eps: Any, alpha: Any = 1.0) -> FloatOrArray:
    """Expected block-encoding queries until success: Q* / (0.39 - 0.204 eps).

    Repeat-until-success with a heralded failure, so the number of attempts is geometric with
    mean 1/p. Unlike Q*, this is not monotone in eps at the top of the range: above eps ~ 3e-3
    (large kappa, where the eps-free term dominates Q*) to ~0.1 (kappa near sqrt(12)), p falls
    faster than Q*, so a looser eps costs slightly more.

    Source: arXiv:2305.11352 v1, Theorem 1; the Q-Newton paper (arXiv:2405.00252, Sec. II-E) uses
    this expected count but prints the coefficient as 0.201 instead of 0.204.

    Args/Raises/Warns: as :func:`jennings_queries`.

    Example:
        >>> round(jennings_expected_queries(10, 1e-2))
        5693
    """
    k, e, a, scalar = _prepare(kappa, eps, alpha, _J1, JENNINGS_V1_KAPPA_MIN, JENNINGS_V1_EPS_MAX)
    return out(_jennings_q(k, e, a) / (_JENNINGS_P0 - _JENNINGS_P1 * e), scalar)


def jennings_state_prep_queries(kappa: Any, eps: Any, alpha: Any = 1.0) -> FloatOrArray:
    """Queries to the state preparation U_b of one attempt: 2 Q*.

    Source: arXiv:2305.11352 v1, Theorem 1 (REFERENCE.md section 2). Divide by
    :func:`jennings_success_probability` for the expected count until success.

    Example:
        >>> jennings_state_prep_queries(10, 1e-2) == 2 * jennings_queries(10, 1e-2)
        True
    """
    k, e, a, scalar = _prepare(kappa, eps, alpha, _J1, JENNINGS_V1_KAPPA_MIN, JENNINGS_V1_EPS_MAX)
    return out(2.0 * _jennings_q(k, e, a), scalar)


# --- comparison models -------------------------------------------------------------------------


def _costa(k, e, a, n, d):
    ak = a * k
    return 2305.0 * ak + ak * np.log(1.0 / e)


def _costa_measured(k, e, a, n, d):
    ak = a * k
    return COSTA_MEASURED_CONSTANT * ak + ak * np.log(1.0 / e)


def _dalzell(k, e, a, n, d):
    ak = a * k
    return 56.0 * ak + 1.05 * ak * np.log(1.0 / e)


def _jennings_v3(k, e, a, n, d):
    return 837.0 * a * k * (np.log(1.0 / e) / math.log(1e10))


def _hhl(k, e, a, n, d):
    return max(math.log2(n), 1.0) * d * d * k * k / e


def _jennings_v1(k, e, a, n, d):
    return _jennings_q(k, e, a)


@dataclass(frozen=True)
class QueryModel:
    """A QLSA query-count model: its formula, source and range of validity.

    Attributes:
        name: registry key (``get_query_model(name)``).
        title: short label for plots.
        source: paper, arXiv id, theorem.
        constants: ``"proven bound"``, ``"scaling only"`` or a sentence saying what the numbers are.
        proven_bound: True when the count is a proven upper bound (up to what ``constants`` says).
        kappa_min, eps_max: the proven range; inputs outside are clamped (with a warning).
        needs_size: the formula uses N and d (HHL); ``n`` and ``d`` must be passed.
        state_prep_factor: U_b queries per attempt as a multiple of the A queries, if the source
            gives one, else None.
        formula: one-line formula as documented.
    """

    name: str
    title: str
    source: str
    constants: str
    proven_bound: bool
    kappa_min: float
    eps_max: float
    formula: str
    needs_size: bool = False
    state_prep_factor: float | None = None
    _per_attempt: Callable[..., np.ndarray] | None = None
    _p0: float = 1.0
    _p1: float = 0.0

    def _args(self, kappa, eps, alpha, n, d):
        k, e, a, scalar = _prepare(kappa, eps, alpha, self.title, self.kappa_min, self.eps_max)
        if self.needs_size:
            if n is None or d is None:
                raise InvalidArgumentError(
                    f"query model `{self.name}` depends on the size and sparsity: pass `n=` (matrix "
                    f"size N) and `d=` (nonzeros per row)."
                )
            dd, ds = as_float_array(d, "d")
            require_at_least(dd, 1.0, "d", "`d` is the number of nonzeros per row of A.")
            if isinstance(n, bool) or not float(n) >= 1 or not math.isfinite(float(n)):
                raise InvalidArgumentError(f"`n` must be a matrix size >= 1, got {n!r}.")
            k, e, a, dd = np.broadcast_arrays(k, e, a, dd)
            return k, e, a, float(n), dd, scalar and ds
        return k, e, a, n, d, scalar

    def success_probability(self, eps: Any) -> FloatOrArray:
        """Per-attempt success probability (1 for models that count a deterministic procedure or
        whose bound already includes repetitions)."""
        e, scalar = as_float_array(eps, "eps")
        require_positive(e, "eps", _EPS_FIX)
        e = np.minimum(e, self.eps_max)
        return out(self._p0 - self._p1 * e, scalar)

    def queries_per_attempt(
        self, kappa: Any, eps: Any, alpha: Any = 1.0, *, n: int | None = None, d: Any = None
    ) -> FloatOrArray:
        """Block-encoding queries of one attempt (vectorized like :func:`jennings_queries`)."""
        k, e, a, n_, d_, scalar = self._args(kappa, eps, alpha, n, d)
        assert self._per_attempt is not None
        return out(np.asarray(self._per_attempt(k, e, a, n_, d_), dtype=np.float64), scalar)

    def expected_queries(
        self, kappa: Any, eps: Any, alpha: Any = 1.0, *, n: int | None = None, d: Any = None
    ) -> FloatOrArray:
        """Expected block-encoding queries until one success: per-attempt count / success probability."""
        k, e, a, n_, d_, scalar = self._args(kappa, eps, alpha, n, d)
        assert self._per_attempt is not None
        q = np.asarray(self._per_attempt(k, e, a, n_, d_), dtype=np.float64) / (self._p0 - self._p1 * e)
        return out(q, scalar)


_MODELS = (
    QueryModel(
        name="jennings-v1",
        title=_J1,
        source="Jennings, Lostaglio, Pallister, Sornborger, Subasi, arXiv:2305.11352 v1, Theorem 1",
        constants="proven bound (explicit constants); expected count = Q* / (0.39 - 0.204 eps)",
        proven_bound=True,
        kappa_min=JENNINGS_V1_KAPPA_MIN,
        eps_max=JENNINGS_V1_EPS_MAX,
        formula="Q*(kappa, eps, alpha) / (0.39 - 0.204 eps), Q* of v1 Theorem 1",
        state_prep_factor=2.0,
        _per_attempt=_jennings_v1,
        _p0=_JENNINGS_P0,
        _p1=_JENNINGS_P1,
    ),
    QueryModel(
        name="jennings-v3",
        title="Jennings et al. 2023 (v2/v3)",
        source="Jennings et al., arXiv:2305.11352 v2/v3 (a different algorithm from v1)",
        constants=(
            "proven bound only at eps = 1e-10 (837 alpha kappa, Hermitian A); other eps follow the "
            "O(kappa ln(1/eps)) scaling, so away from 1e-10 it is a scaling estimate"
        ),
        proven_bound=False,
        kappa_min=1.0,
        eps_max=0.5,
        formula="837 alpha kappa ln(1/eps) / ln(1e10)",
        _per_attempt=_jennings_v3,
    ),
    QueryModel(
        name="costa2022",
        title="Costa et al. 2022 (discrete adiabatic)",
        source="Costa, An, Sanders, Su, Babbush, Berry, arXiv:2111.08152 (PRX Quantum 3, 040303)",
        constants=(
            "proven bound 2305 alpha kappa for the adiabatic part; the eigenstate-filtering part is "
            "taken as alpha kappa ln(1/eps) (its leading order). In practice ~1200x below the "
            "bound (arXiv:2312.07690)"
        ),
        proven_bound=True,
        kappa_min=1.0,
        eps_max=0.5,
        formula="2305 alpha kappa + alpha kappa ln(1/eps)",
        _per_attempt=_costa,
    ),
    QueryModel(
        name="costa2023-measured",
        title="Costa et al. 2023 (measured constant)",
        source=(
            "Costa, An, Babbush, Berry, arXiv:2312.07690 (measured constant of the discrete adiabatic "
            "walk of arXiv:2111.08152)"
        ),
        constants=(
            "measured, not proven: 1.84 alpha kappa walk steps for the adiabatic part (fitted to "
            "numerical simulations, about 1250x below the 2305 bound); eigenstate filtering taken as "
            "alpha kappa ln(1/eps), as in costa2022"
        ),
        proven_bound=False,
        kappa_min=1.0,
        eps_max=0.5,
        formula="1.84 alpha kappa + alpha kappa ln(1/eps)",
        _per_attempt=_costa_measured,
    ),
    QueryModel(
        name="dalzell2024",
        title="Dalzell 2024 (kernel reflection)",
        source="Dalzell, arXiv:2406.12086",
        constants="as stated: proven bound up to the o(kappa) term, which is dropped",
        proven_bound=True,
        kappa_min=1.0,
        eps_max=0.5,
        formula="56 alpha kappa + 1.05 alpha kappa ln(1/eps)",
        _per_attempt=_dalzell,
    ),
    QueryModel(
        name="hhl2009",
        title="HHL 2009 (scaling only)",
        source="Harrow, Hassidim, Lloyd, arXiv:0811.3171 (PRL 103, 150502)",
        constants="scaling only: O(log N s^2 kappa^2 / eps) with the constant set to 1",
        proven_bound=False,
        kappa_min=1.0,
        eps_max=0.5,
        formula="log2(N) d^2 kappa^2 / eps (alpha unused: the sparsity enters as d^2)",
        needs_size=True,
        _per_attempt=_hhl,
    ),
)

#: Registry of query models by name (read-only).
QUERY_MODELS: Mapping[str, QueryModel] = MappingProxyType({m.name: m for m in _MODELS})
_ALIASES = {"jennings": "jennings-v1", "jennings-v2": "jennings-v3", "costa": "costa2022",
            "costa-measured": "costa2023-measured", "costa2023": "costa2023-measured",
            "dalzell": "dalzell2024", "hhl": "hhl2009"}  # fmt: skip


def query_model_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_query_model` (aliases not included)."""
    return tuple(QUERY_MODELS)


def get_query_model(name: str | QueryModel) -> QueryModel:
    """Look a query model up by name (case-insensitive; ``_`` and ``-`` interchangeable; aliases
    ``jennings``, ``jennings-v2``, ``costa``, ``costa-measured``, ``costa2023``, ``dalzell``, ``hhl``).
    A :class:`QueryModel` is returned unchanged.

    Raises:
        InvalidArgumentError: unknown name (the message lists the known ones).

    Example:
        >>> get_query_model("Dalzell").name
        'dalzell2024'
    """
    if isinstance(name, QueryModel):
        return name
    if not isinstance(name, str):
        raise InvalidArgumentError(f"`query_model` must be a model name (str), got {name!r}.")
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in QUERY_MODELS:
        raise InvalidArgumentError(f"`query_model` {name!r} is unknown; choose one of {', '.join(QUERY_MODELS)}.")
    return QUERY_MODELS[key]
