"""The modeled cost of solving a block with a QLSA: queries x gate time, optionally end to end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from .._validation import check_fraction, check_int_range
from ..errors import InvalidArgumentError
from ._inputs import as_float_array, out, require_at_least
from .encoding import default_ancillas, logical_qubits
from .estimate import CostEstimate, RouteKind
from .gate_times import GateTime, resolve_gate_time
from .queries import QueryModel, get_query_model
from .readout import AMPLITUDE_ESTIMATION_SUCCESS, amplitude_estimation_calls, tomography_copies

__all__ = ["READOUTS", "QuantumCostModel"]

Readout = Literal["none", "tomography"]
#: Accepted values of ``QuantumCostModel.readout``.
READOUTS: tuple[str, ...] = ("none", "tomography")

_IDEALIZED = (
    "idealized: logical (fault-tolerant) query counts x a physical gate time; one block-encoding "
    "query is taken to cost one gate step"
)


@dataclass(frozen=True)
class QuantumCostModel:
    """Modeled seconds of a QLSA solve: (block-encoding queries) x (time per query step).

    With the defaults this is the Q-Newton paper's quantum cost (arXiv:2405.00252, Sec. IV-C,
    Algorithm 2 line 6): R_q = t_g x Q* / (0.39 - 0.204 eps) with Q* of Jennings et al. v1 Thm 1,
    eps = 1e-12 and t_g = 1e-18 s. ``readout="tomography"`` prices the classical answer Newton
    needs (REFERENCE.md section 4): 2 x 36 N ln N / delta^2 successful solves for l2 tomography
    plus one amplitude estimation of the norm (2M - 1 single attempts).

    Attributes:
        query_model: a name of :data:`qnewton.cost.QUERY_MODELS` (normalized to the canonical name).
        eps: accuracy of the output state, > 0.
        gate_time: a preset name (``ibm_sherbrooke``, ``ghz``, ``thz``, ``atto``), seconds, or a
            :class:`GateTime`; normalized to a :class:`GateTime`.
        readout: ``"none"`` (solve only, the paper's model) or ``"tomography"`` (end to end).
        readout_precision: delta, the l2 accuracy of the tomographic estimate, in (0, 1].
        norm_precision: absolute accuracy of the amplitude estimate for the norm; None uses
            ``readout_precision``.
        ancillas: block-encoding ancillas for the qubit count; None uses ceil(log2 N) + 3.
        count_state_prep: also count the queries to the state preparation U_b (2 Q* per attempt
            for Jennings v1) in ``queries`` and ``seconds``; the paper counts A-queries only.

    Example:
        >>> m = QuantumCostModel(eps=1e-2, gate_time=1e-9)
        >>> est = m.estimate(1024, kappa=10, alpha=1.0)
        >>> est.basis, round(est.queries)
        ('modeled', 5693)
    """

    query_model: str | QueryModel = "jennings-v1"
    eps: float = 1e-12
    gate_time: str | float | GateTime = "atto"
    readout: Readout = "none"
    readout_precision: float = 0.1
    norm_precision: float | None = None
    ancillas: int | None = None
    count_state_prep: bool = False

    route: ClassVar[RouteKind] = "quantum"

    def __post_init__(self) -> None:
        qm = get_query_model(self.query_model)
        object.__setattr__(self, "query_model", qm.name)
        object.__setattr__(self, "gate_time", resolve_gate_time(self.gate_time))
        e, _ = as_float_array(self.eps, "eps")
        if e.ndim != 0 or not float(e) > 0:
            raise InvalidArgumentError(
                f"`eps` must be one number > 0 (the output-state accuracy, e.g. 1e-12), got {self.eps!r}."
            )
        object.__setattr__(self, "eps", float(e))
        if self.readout not in READOUTS:
            raise InvalidArgumentError(
                f"`readout` must be one of {', '.join(READOUTS)}, got {self.readout!r}: 'none' is the "
                f"paper's solve-only cost, 'tomography' adds reading x out."
            )
        delta = check_fraction(self.readout_precision, "readout_precision")
        object.__setattr__(self, "readout_precision", delta)
        if self.norm_precision is not None:
            object.__setattr__(self, "norm_precision", check_fraction(self.norm_precision, "norm_precision"))
        if self.ancillas is not None:
            check_int_range(self.ancillas, "ancillas", 0, 10**6)
        if self.count_state_prep and qm.state_prep_factor is None:
            raise InvalidArgumentError(
                f"`count_state_prep=True` needs a state-preparation count, which query model "
                f"`{qm.name}` does not give; use query_model='jennings-v1' or count_state_prep=False."
            )

    @property
    def query(self) -> QueryModel:
        """The :class:`QueryModel` object."""
        return get_query_model(self.query_model)

    @property
    def gate_time_seconds(self) -> float:
        """Seconds per query step."""
        assert isinstance(self.gate_time, GateTime)
        return self.gate_time.seconds

    @property
    def name(self) -> str:
        """``quantum/<query model>``."""
        return f"quantum/{self.query_model}"

    @property
    def label(self) -> str:
        """Human-readable description for plots and logs."""
        assert isinstance(self.gate_time, GateTime)
        return (
            f"quantum [{self.query_model}, t_g = {self.gate_time.label}, eps = {self.eps:g}, "
            f"readout = {self.readout}] (modeled)"
        )

    def estimate(self, n: int, kappa: Any = None, d: Any = None, *, alpha: Any = None) -> CostEstimate:
        """Modeled cost of one solve of an N x N system.

        Args:
            n: system size N (>= 1).
            kappa: condition number(s) of the block, >= 1 (required).
            d: oracle sparsity, nonzeros per row exposed by the oracle, in [1, N]. Needed when
                ``alpha`` is None (and always for ``hhl2009``).
            alpha: block-encoding scale factor relative to ||A||_2, >= 1 (from
                :func:`qnewton.cost.block_encoding_alpha`). ``None`` uses alpha = d, the largest
                value a d-sparse matrix can have (max|A_ij| <= ||A||_2): conservative, and the
                right proxy when only d is known (e.g. the curves of the paper's Fig. 5).

        kappa, d and alpha may be arrays (broadcast together); every array-valued field of the
        estimate then has the broadcast shape.

        Returns:
            :class:`CostEstimate` with ``basis="modeled"``, ``queries`` (block-encoding queries,
            plus U_b queries if ``count_state_prep``), ``qubits`` and ``terms`` in seconds
            (``solve``; or ``tomography`` and ``norm``; and ``state_prep`` if counted).

        Raises:
            InvalidArgumentError: kappa missing or < 1, d outside [1, N], alpha < 1, non-finite
                values, neither d nor alpha given.

        Warns:
            ClampedRangeWarning: kappa or eps outside the query model's proven range (clamped).
        """
        n = check_int_range(n, "n", 1, 2**62, "`n` is the number of rows of the block.")
        if kappa is None:
            raise InvalidArgumentError("`kappa` is required: pass the block's condition number estimate.")
        qm = self.query
        scalar = True
        d_arr = None
        if d is not None:
            d_arr, ds = as_float_array(d, "d")
            require_at_least(d_arr, 1.0, "d", "`d` is the number of nonzeros per row the oracle exposes.")
            if (d_arr > n).any():
                raise InvalidArgumentError(
                    f"`d` must be <= n = {n} (a row has at most N entries), got max {float(d_arr.max()):g}. "
                    f"Pass the oracle sparsity of the pruned block."
                )
            scalar &= ds
        if alpha is None:
            if d_arr is None:
                raise InvalidArgumentError(
                    "pass `d` (oracle sparsity) or `alpha` (block-encoding scale factor, see "
                    "qnewton.cost.block_encoding_alpha) to price a quantum solve."
                )
            alpha_arr, alpha_source = d_arr, "d (upper bound: max|A_ij| <= ||A||_2 gives alpha <= d)"
        else:
            alpha_arr, as_ = as_float_array(alpha, "alpha")
            alpha_source = "given"
            scalar &= as_
        k_arr, ks = as_float_array(kappa, "kappa")
        scalar &= ks

        per_attempt = np.asarray(qm.queries_per_attempt(k_arr, self.eps, alpha_arr, n=n, d=d_arr), dtype=np.float64)
        p = float(qm.success_probability(self.eps))
        expected = per_attempt / p
        tg = self.gate_time_seconds
        details: dict[str, Any] = {
            "query_model": qm.name,
            "query_model_source": qm.source,
            "constants": qm.constants,
            "proven_bound": qm.proven_bound,
            "eps": self.eps,
            "eps_used": min(self.eps, qm.eps_max),
            "kappa": out(np.broadcast_to(k_arr, per_attempt.shape).copy(), scalar),
            "kappa_used": out(np.maximum(np.broadcast_to(k_arr, per_attempt.shape), qm.kappa_min), scalar),
            "alpha": out(np.broadcast_to(alpha_arr, per_attempt.shape).copy(), scalar),
            "alpha_source": alpha_source,
            "success_probability": p,
            "queries_per_attempt": out(per_attempt, scalar),
            "expected_solve_queries": out(expected, scalar),
            "gate_time_s": tg,
            "gate_time_name": self.gate_time.name if isinstance(self.gate_time, GateTime) else "custom",
            "gate_time_note": _IDEALIZED,
            "readout": self.readout,
            "ancillas": self.ancillas if self.ancillas is not None else default_ancillas(n),
        }
        if self.readout == "none":
            a_queries = {"solve": expected}
        else:
            copies = tomography_copies(n, self.readout_precision)
            norm_eps = self.norm_precision if self.norm_precision is not None else self.readout_precision
            calls = amplitude_estimation_calls(norm_eps)
            a_queries = {"tomography": copies * expected, "norm": calls * per_attempt}
            details.update(
                readout_precision=self.readout_precision,
                norm_precision=norm_eps,
                tomography_copies=copies,
                amplitude_estimation_calls=calls,
                amplitude_estimation_success=AMPLITUDE_ESTIMATION_SUCCESS,
            )
        total_a: Any = sum(a_queries.values())
        terms = {k: out(v * tg, scalar) for k, v in a_queries.items()}
        total: Any = total_a
        if self.count_state_prep:
            assert qm.state_prep_factor is not None
            sp_queries = qm.state_prep_factor * total_a
            terms["state_prep"] = out(sp_queries * tg, scalar)
            details["state_prep_queries"] = out(sp_queries, scalar)
            total = total_a + sp_queries
        details["block_encoding_queries"] = out(total_a, scalar)
        return CostEstimate(
            route="quantum",
            model=self.name,
            basis="modeled",
            seconds=out(total * tg, scalar),
            n=n,
            queries=out(total, scalar),
            qubits=logical_qubits(n, self.ancillas),
            terms=terms,
            details=details,
        )
