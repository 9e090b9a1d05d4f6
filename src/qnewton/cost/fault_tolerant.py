"""The quantum route priced end to end on a fault-tolerant machine (REFERENCE.md section 9).

:class:`FaultTolerantCostModel` prices one solve of an N x N Hessian block with a QLSA as a
researcher using Qualtran or the Azure estimator would:

1. **Queries.** Block-encoding queries of one attempt from a query model of
   :data:`qnewton.cost.QUERY_MODELS` (Jennings et al. v1 Thm 1 by default; Costa et al.'s bound and
   measured constant; Dalzell), with alpha the block-encoding scale factor; attempts are repeated
   until one succeeds (heralded failure): 1/p attempts on average.
2. **One query** (:func:`qnewton.cost.dataloading.sparse_query_cost`): the sparse-access block
   encoding of Gilyen, Su, Low, Wiebe (arXiv:1806.01838, Lemma 48) whose row, column and entry
   oracles look the classical matrix up in a table of L = N d entries of b bits by QROM, QROAM, or
   an *assumed* QRAM; b from the precision (:func:`qnewton.cost.dataloading.entry_bits`).
3. **|g> in** by coherent alias sampling (:func:`qnewton.cost.dataloading.state_prep_cost`), twice
   per query (Jennings et al. v1: 2 Q* U_b calls per attempt; the same ratio is assumed for the other
   query models, whose walk steps reflect about |b> once per step); **x out** by l2 tomography
   (36 N ln N / delta^2 copies per stage, two stages) and the norm by amplitude estimation
   (:mod:`qnewton.cost.readout`), each copy one more successful solve.
4. **Logical -> physical** through Microsoft's Azure Quantum Resource Estimator (PyPI ``qdk``, the
   extra ``qnewton[ft]``; Beverland et al., arXiv:2211.07629): code distance, physical qubits, T
   factories and run time of one attempt's circuit (its logical counts: Toffolis as CCZ, rotations,
   measurements, logical qubits), for the estimator's qubit models or your own
   (:mod:`qnewton.cost.hardware`). The ``paper`` preset skips error correction: one query = 1e-18 s,
   equal to :class:`qnewton.cost.QuantumCostModel`'s defaults.

Every figure is **modeled** (nothing runs). The time of one solve is split between data loading,
the QLSA proper, state preparation and readout in proportion to each part's logical depth in the
estimator's layout model (Beverland et al., App. C: a Toffoli/CCZ takes 3 logical cycles, a T gate
or measurement one, a rotation 1 + its synthesis T count).

Large circuits: the estimator computes in 64-bit integers and silently wraps (or hangs) beyond
~1.8e19 ns of run time. Its model is invariant under dividing every gate count and the error
budget by the same s (required error rates, factory design, factory count, code distance and
cycle time all depend on ratios only; the run time scales by s), so a circuit deeper than 1e10
logical cycles is estimated as s smaller slices with budget/s and its run time multiplied by s.
The factor is reported (``estimator_scale``); tests check the identity against direct runs.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from .._validation import check_fraction, check_int_range
from ..errors import EstimatorError, InvalidArgumentError, MissingDependencyError
from ._inputs import as_float_array
from .dataloading import DATA_LOADINGS, QueryCost, StatePrepCost, sparse_query_cost, state_prep_cost
from .dataloading import entry_bits as _entry_bits
from .encoding import logical_qubits
from .estimate import CostEstimate, RouteKind
from .hardware import FTHardware, resolve_hardware
from .quantum import READOUTS
from .queries import QueryModel, get_query_model
from .readout import amplitude_estimation_calls, tomography_copies

__all__ = [
    "TIME_TERMS",
    "CircuitPart",
    "FaultTolerantCostModel",
    "LogicalCircuit",
    "PhysicalEstimate",
    "clear_estimator_cache",
    "estimate_physical",
    "estimator_available",
    "estimator_version",
]

#: The keys of ``CostEstimate.terms`` of the fault-tolerant model, in this order.
TIME_TERMS: tuple[str, ...] = ("data_loading", "qlsa", "state_prep", "readout")
_PARTS: tuple[str, ...] = ("data_loading", "qlsa", "state_prep")
#: Circuits deeper than this many logical cycles are estimated in slices (module docstring).
_SAFE_DEPTH = 10**10
_MAX_TS_PER_ROTATION = 60  # an upper bound of the estimator's rotation synthesis cost, for the slicing only
_FT_EXTRA = (
    "the fault-tolerant cost model needs Microsoft's resource estimator, the optional extra `ft`: "
    "`pip install qnewton[ft]` (or `pip install qdk`). Without it, use hardware='paper' (no error "
    "correction) or qnewton.cost.QuantumCostModel."
)
_LOADING_NOTE = {
    "qrom": "QROM (unary iteration, Babbush et al. 2018): L - 1 Toffolis per lookup",
    "qroam": "QROAM (select-swap, Low et al. 2018; Berry et al. 2019): ceil(L/k) + b (k - 1) Toffolis",
    "auto": "the cheaper of QROM and QROAM at each lookup",
    "qram-assumed": "ASSUMED QRAM (bucket brigade) at ceil(log2 L) Toffoli steps per lookup: an assumption, "
    "no such error-corrected QRAM exists",
}


# --- the estimator ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _estimator_module() -> Any:
    # qdk sends usage telemetry unless told not to; nothing here may reach the network. An explicit
    # user setting is respected.
    for var in ("QDK_PYTHON_TELEMETRY", "QSHARP_PYTHON_TELEMETRY"):
        os.environ.setdefault(var, "none")
    try:
        import qdk.estimator as qe
    except ImportError as exc:
        raise MissingDependencyError(_FT_EXTRA) from exc
    return qe


def require_estimator() -> None:
    """Raise :class:`~qnewton.errors.MissingDependencyError` (naming the extra ``qnewton[ft]``) when
    the resource estimator is not installed: for config checks before a run starts."""
    _estimator_module()


def refusal_reason(exc: EstimatorError) -> str:
    """The estimator's reason for refusing a run, in its own words, at most 200 characters: the
    clause after "cannot be computed:" when there is one (e.g. "The computed code distance 55 is
    too high"), else the whole message."""
    msg = str(exc)
    if "computed:" in msg:  # "...cannot be computed: The computed code distance 51 is too high; ..."
        msg = msg.split("computed:", 1)[1].split(";")[0].strip()
    return msg[:200]


def estimator_available() -> bool:
    """True when the ``qdk`` package (extra ``qnewton[ft]``) can be imported."""
    try:
        _estimator_module()
    except MissingDependencyError:
        _estimator_module.cache_clear()
        return False
    return True


def estimator_version() -> str | None:
    """Version of the installed ``qdk`` package, or None."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("qdk")
    except PackageNotFoundError:
        return None


@dataclass(frozen=True)
class CircuitPart:
    """Logical gate counts of one part of a circuit (data loading, QLSA proper, state preparation).

    Toffolis are passed to the estimator as CCZ gates (a Toffoli is a CCZ between Hadamards).
    """

    toffolis: int = 0
    t_gates: int = 0
    rotations: int = 0
    rotation_depth: int = 0
    measurements: int = 0

    def depth(self, ts_per_rotation: int) -> int:
        """Logical cycles in the estimator's layout (Beverland et al. 2022, App. C):
        3 per CCZ, 1 per T gate, measurement and rotation, plus the T gates that synthesize each
        rotation layer (``ts_per_rotation`` per layer)."""
        once = 3 * self.toffolis + self.t_gates + self.measurements + self.rotations
        return once + self.rotation_depth * ts_per_rotation

    def scaled(self, factor: float) -> CircuitPart:
        """Every count times ``factor``, rounded up."""
        return CircuitPart(*(math.ceil(v * factor) for v in (self.toffolis, self.t_gates, self.rotations,
                                                              self.rotation_depth, self.measurements)))  # fmt: skip


@dataclass(frozen=True)
class LogicalCircuit:
    """The logical resources of one circuit run (one attempt of the solve, or one norm estimation).

    Attributes:
        name: ``"solve_attempt"`` or ``"norm_estimation"``.
        num_qubits: logical qubits.
        parts: :class:`CircuitPart` per part (``data_loading``, ``qlsa``, ``state_prep``).
    """

    name: str
    num_qubits: int
    parts: Mapping[str, CircuitPart]

    def total(self) -> CircuitPart:
        """The sum of the parts."""
        ps = list(self.parts.values())
        return CircuitPart(*(sum(getattr(p, f) for p in ps) for f in ("toffolis", "t_gates", "rotations",
                                                                      "rotation_depth", "measurements")))  # fmt: skip

    def logical_counts(self) -> dict[str, int]:
        """The estimator's ``LogicalCounts`` input (``qdk.estimator.LogicalCounts(...)``), as a dict.

        Example:
            >>> c = LogicalCircuit("x", 10, {"qlsa": CircuitPart(toffolis=5, rotations=2, rotation_depth=1)})
            >>> c.logical_counts()["cczCount"], c.logical_counts()["rotationDepth"]
            (5, 1)
        """
        t = self.total()
        return {
            "numQubits": int(self.num_qubits),
            "tCount": int(t.t_gates),
            "rotationCount": int(t.rotations),
            "rotationDepth": int(t.rotation_depth),
            "cczCount": int(t.toffolis),
            "ccixCount": 0,
            "measurementCount": int(t.measurements),
        }

    def json(self) -> str:
        """:meth:`logical_counts` as JSON: load it with ``qdk.estimator.LogicalCounts(json.loads(s))``."""
        return json.dumps(self.logical_counts())


@dataclass(frozen=True)
class PhysicalEstimate:
    """Physical resources of one circuit from the Azure Quantum Resource Estimator (all modeled).

    Attributes:
        code_distance: code distance of the algorithm's logical qubits.
        physical_qubits: total (algorithm + T factories).
        physical_qubits_algorithm, physical_qubits_factories: the two shares.
        t_factories: number of T factories running in parallel.
        logical_cycle_time_s: one logical cycle (seconds).
        logical_depth: logical cycles of the run.
        runtime_s: logical_depth x logical_cycle_time_s.
        algorithmic_logical_qubits: logical qubits after the layout (Beverland et al. App. C).
        t_states: T states consumed.
        ts_per_rotation: T gates per synthesized rotation (None without rotations).
        logical_error_rate: per logical qubit and cycle at this distance.
        required_logical_error_rate: what the error budget demands.
        qec_scheme: the QEC scheme's name.
        scale: the slicing factor s (1 when the circuit was estimated directly).
        raw: the estimator's result JSON (for the sliced circuit when ``scale`` > 1).
    """

    code_distance: int
    physical_qubits: int
    physical_qubits_algorithm: int
    physical_qubits_factories: int
    t_factories: int
    logical_cycle_time_s: float
    logical_depth: float
    runtime_s: float
    algorithmic_logical_qubits: int
    t_states: float
    ts_per_rotation: int | None
    logical_error_rate: float
    required_logical_error_rate: float
    qec_scheme: str
    scale: int
    raw: str = field(repr=False, default="{}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable summary (without the raw result)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "raw"}


def _round_up(x: int, digits: int) -> int:
    """x rounded up to ``digits`` significant digits (exact below 10**digits)."""
    if x < 10**digits:
        return x
    unit = 10 ** (len(str(x)) - digits)
    return -(-x // unit) * unit


def clear_estimator_cache() -> None:
    """Forget the cached estimator results and priced points."""
    _estimate_cached.cache_clear()
    _price_cached.cache_clear()


def estimate_physical(
    counts: LogicalCircuit | Mapping[str, int],
    hardware: str | FTHardware,
    error_budget: float = 1e-3,
    *,
    digits: int = 4,
) -> PhysicalEstimate:
    """Physical resources of a logical circuit on ``hardware`` by the Azure Quantum Resource Estimator.

    Gate counts are rounded up to ``digits`` significant digits (so that nearly equal circuits share
    one cached estimate: the scheduler prices every block of every Newton step); results are kept in
    an LRU cache of 4096 entries keyed on the rounded counts, the hardware and the budget. Circuits
    deeper than 1e10 logical cycles are estimated in slices (module docstring).

    Args:
        counts: a :class:`LogicalCircuit` or the estimator's LogicalCounts dict (``numQubits``,
            ``cczCount``, ``tCount``, ``rotationCount``, ``rotationDepth``, ``measurementCount``,
            ``ccixCount``).
        hardware: a preset name with a qubit model or an :class:`FTHardware` with ``qubit_params``.
        error_budget: total failure probability allowed for the run, in (0, 1).
        digits: significant digits kept of each count (>= 3).

    Raises:
        MissingDependencyError: ``qdk`` is not installed (extra ``qnewton[ft]``).
        InvalidArgumentError: bad budget, hardware without a qubit model, negative counts.
        EstimatorError: the estimator rejected the input or failed (its message included).
    """
    hw = resolve_hardware(hardware)
    if not hw.error_corrected:
        raise InvalidArgumentError(
            f"`hardware` {hw.name!r} has no qubit model (no error correction); pick one of the estimator's "
            f"models, e.g. 'qubit_gate_ns_e4'."
        )
    budget = _check_budget(error_budget)
    digits = check_int_range(digits, "digits", 3, 19)
    raw = counts.logical_counts() if isinstance(counts, LogicalCircuit) else dict(counts)
    keys = ("tCount", "rotationCount", "rotationDepth", "cczCount", "ccixCount", "measurementCount")
    unknown = set(raw) - {"numQubits", *keys}
    if unknown:
        raise InvalidArgumentError(
            f"`counts` has unknown keys {sorted(unknown)}; use the estimator's LogicalCounts keys."
        )
    vals: dict[str, int] = {}
    for k in ("numQubits", *keys):
        v = raw.get(k, 0)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise InvalidArgumentError(f"`counts[{k!r}]` must be an integer >= 0, got {v!r}.")
        vals[k] = int(v) if k == "numQubits" else _round_up(int(v), digits)
    _estimator_module()  # MissingDependencyError before anything else
    return _estimate_cached(tuple(vals.items()), json.dumps(hw.estimator_params(budget), sort_keys=True))


@functools.lru_cache(maxsize=4096)
def _estimate_cached(counts_key: tuple[tuple[str, int], ...], params_json: str) -> PhysicalEstimate:
    qe = _estimator_module()
    counts = dict(counts_key)
    params = json.loads(params_json)
    depth_bound = (
        3 * (counts["cczCount"] + counts["ccixCount"]) + counts["tCount"] + counts["measurementCount"]
        + counts["rotationCount"] + _MAX_TS_PER_ROTATION * counts["rotationDepth"]
    )  # fmt: skip
    scale = max(1, -(-depth_bound // _SAFE_DEPTH))
    if scale > 1:
        counts = {k: (v if k == "numQubits" else -(-v // scale)) for k, v in counts.items()}
        params["errorBudget"] = params["errorBudget"] / scale
    try:
        result = qe.LogicalCounts(counts).estimate(params)
    except qe.EstimatorError as exc:  # a BaseException subclass in qdk
        raise EstimatorError(f"the Azure Quantum Resource Estimator rejected the run: {exc}") from None
    except Exception as exc:
        raise EstimatorError(f"the Azure Quantum Resource Estimator failed: {type(exc).__name__}: {exc}") from exc
    data = dict(result)
    if data.get("status") != "success":
        raise EstimatorError(f"the Azure Quantum Resource Estimator did not succeed: {json.dumps(data)[:2000]}")
    try:
        lq, pc = data["logicalQubit"], data["physicalCounts"]
        b = pc["breakdown"]
        cycle_ns = float(lq["logicalCycleTime"])
        depth = int(b["logicalDepth"])
        runtime_ns = float(pc["runtime"])
        if not math.isclose(runtime_ns, depth * cycle_ns, rel_tol=1e-9, abs_tol=1.0):
            raise EstimatorError(
                f"the estimator's run time {runtime_ns:.6g} ns differs from logical depth x cycle time "
                f"{depth * cycle_ns:.6g} ns (an integer overflow inside the estimator?); counts {counts}."
            )
        tsr = b.get("numTsPerRotation")
        return PhysicalEstimate(
            code_distance=int(lq["codeDistance"]),
            physical_qubits=int(pc["physicalQubits"]),
            physical_qubits_algorithm=int(b["physicalQubitsForAlgorithm"]),
            physical_qubits_factories=int(b["physicalQubitsForTfactories"]),
            t_factories=int(b["numTfactories"]),
            logical_cycle_time_s=cycle_ns * 1e-9,
            logical_depth=float(depth) * scale,
            runtime_s=depth * cycle_ns * 1e-9 * scale,
            algorithmic_logical_qubits=int(b["algorithmicLogicalQubits"]),
            t_states=float(b["numTstates"]) * scale,
            ts_per_rotation=None if tsr is None else int(tsr),
            logical_error_rate=float(lq["logicalErrorRate"]),
            required_logical_error_rate=float(b["requiredLogicalQubitErrorRate"]),
            qec_scheme=str(data["jobParams"]["qecScheme"]["name"]),
            scale=int(scale),
            raw=json.dumps({k: v for k, v in data.items() if k != "reportData"}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EstimatorError(f"unexpected result from the Azure Quantum Resource Estimator ({exc!r}).") from exc


# --- the cost model -----------------------------------------------------------------------------


def _check_budget(error_budget: Any) -> float:
    if (
        isinstance(error_budget, bool)
        or not isinstance(error_budget, (int, float, np.floating))
        or not math.isfinite(float(error_budget))
        or not 0.0 < float(error_budget) < 1.0
    ):
        raise InvalidArgumentError(
            f"`error_budget` must be a probability strictly between 0 and 1 (the chance that the run "
            f"fails), got {error_budget!r}; the estimator's default is 1e-3."
        )
    return float(error_budget)


@dataclass(frozen=True)
class _Point:
    """Everything priced at one (n, kappa, d, alpha)."""

    seconds: float
    queries: float
    qubits: int
    terms: dict[str, float]
    details: dict[str, Any]
    circuits: tuple[LogicalCircuit, ...]


@dataclass(frozen=True)
class FaultTolerantCostModel:
    """Modeled seconds of one QLSA solve of an N x N block on a fault-tolerant machine.

    See the module docstring for the model. Implements :class:`qnewton.cost.CostModel`.

    Attributes:
        query_model: a name of :data:`qnewton.cost.QUERY_MODELS` (canonical name kept).
        eps: accuracy of the output state (QLSA precision), in (0, 0.5].
        hardware: a preset of :data:`qnewton.cost.FT_HARDWARE_PRESETS` (``paper``, ``qubit_gate_ns_e3``,
            ``qubit_gate_ns_e4``, ``qubit_gate_us_e3``, ``qubit_gate_us_e4``, ``qubit_maj_ns_e4``,
            ``qubit_maj_ns_e6``) or an :class:`FTHardware`; normalized to an :class:`FTHardware`.
        data_loading: ``"qrom"``, ``"qroam"``, ``"auto"`` (the cheaper per lookup) or
            ``"qram-assumed"`` (an assumed O(log N) QRAM).
        error_budget: failure probability allowed per circuit run for the estimator, in (0, 1).
        readout: ``"none"`` (solve only, the paper's) or ``"tomography"`` (x read out, plus its norm).
        readout_precision: delta, l2 accuracy of the tomographic estimate, in (0, 1].
        norm_precision: absolute accuracy of the amplitude estimate of the norm; None: ``readout_precision``.
        entry_bits: bits per stored matrix entry; None derives them from eps, alpha and kappa
            (:func:`qnewton.cost.dataloading.entry_bits`).
        state_prep_per_query: U_b calls per block-encoding query; None: the query model's factor
            (Jennings v1: 2) or 2 (assumed) for models without one.
        digits: significant digits of the gate counts passed to the estimator (cache granularity).

    Example:
        >>> m = FaultTolerantCostModel(hardware="paper")
        >>> est = m.estimate(12544, kappa=1e4, d=1000)
        >>> est.basis, est.route, sorted(est.terms)
        ('modeled', 'quantum', ['data_loading', 'qlsa', 'readout', 'state_prep'])
    """

    query_model: str | QueryModel = "jennings-v1"
    eps: float = 1e-12
    hardware: str | FTHardware = "qubit_gate_ns_e4"
    data_loading: str = "auto"
    error_budget: float = 1e-3
    readout: str = "none"
    readout_precision: float = 0.1
    norm_precision: float | None = None
    entry_bits: int | None = None
    state_prep_per_query: float | None = None
    digits: int = 4

    route: ClassVar[RouteKind] = "quantum"

    def __post_init__(self) -> None:
        qm = get_query_model(self.query_model)
        object.__setattr__(self, "query_model", qm.name)
        e = self.eps
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e) or not 0 < e <= 0.5:
            raise InvalidArgumentError(
                f"`eps` must be one number in (0, 0.5] (the output-state accuracy, e.g. 1e-12), got {e!r}."
            )
        object.__setattr__(self, "eps", float(e))
        hw = resolve_hardware(self.hardware)
        object.__setattr__(self, "hardware", hw)
        if self.data_loading not in DATA_LOADINGS:
            raise InvalidArgumentError(
                f"`data_loading` must be one of {', '.join(DATA_LOADINGS)}, got {self.data_loading!r}: 'qrom' "
                f"and 'qroam' are table lookups, 'auto' the cheaper of the two, 'qram-assumed' an assumed "
                f"O(log N) QRAM."
            )
        object.__setattr__(self, "error_budget", _check_budget(self.error_budget))
        if self.readout not in READOUTS:
            raise InvalidArgumentError(
                f"`readout` must be one of {', '.join(READOUTS)}, got {self.readout!r}: 'none' prices the solve "
                f"only (the paper's), 'tomography' also reads x out."
            )
        object.__setattr__(self, "readout_precision", check_fraction(self.readout_precision, "readout_precision"))
        if self.norm_precision is not None:
            object.__setattr__(self, "norm_precision", check_fraction(self.norm_precision, "norm_precision"))
        if self.entry_bits is not None:
            check_int_range(self.entry_bits, "entry_bits", 1, 1024, "Bits per stored matrix entry.")
        if self.state_prep_per_query is not None:
            s = self.state_prep_per_query
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0:
                raise InvalidArgumentError(f"`state_prep_per_query` must be a finite number >= 0, got {s!r}.")
        check_int_range(self.digits, "digits", 3, 19)
        if hw.error_corrected:
            _estimator_module()  # raises MissingDependencyError naming qnewton[ft]

    # -- names -----------------------------------------------------------------------------------

    @property
    def query(self) -> QueryModel:
        """The :class:`QueryModel` object."""
        return get_query_model(self.query_model)

    @property
    def hw(self) -> FTHardware:
        """The hardware as an :class:`FTHardware`."""
        assert isinstance(self.hardware, FTHardware)
        return self.hardware

    @property
    def name(self) -> str:
        """``quantum-ft/<query model>/<data loading>/<hardware>``."""
        return f"quantum-ft/{self.query_model}/{self.data_loading}/{self.hw.name}"

    @property
    def label(self) -> str:
        """Human-readable description for plots and logs."""
        hw = self.hw
        machine = (
            f"{hw.name}, no error correction, {hw.seconds_per_query:.3g} s/query"
            if not hw.error_corrected
            else f"{hw.name}, error budget {self.error_budget:g}"
        )
        loading = "QRAM ASSUMED" if self.data_loading == "qram-assumed" else self.data_loading
        return (
            f"quantum fault-tolerant [{self.query_model}, eps = {self.eps:g}, data: {loading}, {machine}, "
            f"readout = {self.readout}] (modeled)"
        )

    # -- pricing ---------------------------------------------------------------------------------

    def estimate(self, n: int, kappa: Any = None, d: Any = None, *, alpha: Any = None) -> CostEstimate:
        """Modeled cost of one solve of an N x N block.

        Args:
            n: block size N, 2 <= N <= 2^60.
            kappa: condition number, finite and >= 1 (required).
            d: oracle sparsity (nonzeros per row), 1 <= d <= N (required: it sizes the table); a
                non-integer is rounded up.
            alpha: block-encoding scale factor relative to ||A||_2, >= 1; None uses alpha = d (the
                largest value for a d-sparse matrix, as :class:`QuantumCostModel` does).

        kappa, d and alpha may be arrays (broadcast together): seconds, queries and terms are then
        arrays, and ``details["points"]`` holds the details of every point.

        Returns:
            :class:`CostEstimate` with ``route="quantum"``, ``basis="modeled"``, ``terms`` = the split
            of ``seconds`` into :data:`TIME_TERMS`, ``qubits`` = logical qubits and ``details`` with
            the logical and physical resources (see the keys listed in the module docstring).

        Raises:
            InvalidArgumentError: n, d, kappa or alpha out of range or not finite.
            EstimatorError: the resource estimator failed (e.g. a code distance above its maximum).
        """
        n = check_int_range(n, "n", 2, 2**60, "`n` is the number of rows of the block (2 <= N <= 2^60).")
        if kappa is None:
            raise InvalidArgumentError("`kappa` is required: pass the block's condition number estimate.")
        if d is None:
            raise InvalidArgumentError(
                "`d` is required by the fault-tolerant model (the table of matrix entries has N d entries): "
                "pass the oracle sparsity of the pruned block."
            )
        k_arr, ks = as_float_array(kappa, "kappa")
        d_arr, ds = as_float_array(d, "d")
        if alpha is None:
            a_arr, as_ = d_arr, True
        else:
            a_arr, as_ = as_float_array(alpha, "alpha")
        if (k_arr < 1).any():
            raise InvalidArgumentError(f"`kappa` must be >= 1 (a condition number), got {float(k_arr.min())!r}.")
        if (d_arr < 1).any() or (d_arr > n).any():
            raise InvalidArgumentError(
                f"`d` must be in [1, n = {n}] (nonzeros per row of the pruned block), got "
                f"{float(d_arr.min())!r}..{float(d_arr.max())!r}."
            )
        if (a_arr < 1).any():
            raise InvalidArgumentError(
                f"`alpha` must be >= 1 (see qnewton.cost.block_encoding_alpha), got {float(a_arr.min())!r}."
            )
        try:
            k_b, d_b, a_b = np.broadcast_arrays(k_arr, d_arr, a_arr)
        except ValueError as exc:
            raise InvalidArgumentError(
                f"`kappa`, `d` and `alpha` must broadcast together, got shapes {k_arr.shape}, {d_arr.shape}, "
                f"{a_arr.shape}."
            ) from exc
        given = alpha is not None
        if ks and ds and as_:
            p = self._price(n, float(k_b), math.ceil(float(d_b) - 1e-9), float(a_b), given)
            return CostEstimate(route="quantum", model=self.name, basis="modeled", seconds=p.seconds, n=n,
                                queries=p.queries, qubits=p.qubits, terms=dict(p.terms),
                                details=copy.deepcopy(p.details))  # fmt: skip
        shape = k_b.shape
        pts = [
            self._price(n, float(k), math.ceil(float(dd) - 1e-9), float(a), given)
            for k, dd, a in zip(k_b.ravel(), d_b.ravel(), a_b.ravel())
        ]
        seconds = np.array([q.seconds for q in pts]).reshape(shape)
        queries = np.array([q.queries for q in pts]).reshape(shape)
        terms = {t: np.array([q.terms[t] for q in pts]).reshape(shape) for t in TIME_TERMS}
        return CostEstimate(route="quantum", model=self.name, basis="modeled", seconds=seconds, n=n,
                            queries=queries, qubits=max(q.qubits for q in pts), terms=terms,
                            details={"points": copy.deepcopy([q.details for q in pts])})  # fmt: skip

    def logical_circuits(
        self, n: int, kappa: float, d: float, *, alpha: float | None = None
    ) -> tuple[LogicalCircuit, ...]:
        """The logical circuits of one solve: one attempt (``solve_attempt``), and the norm estimation
        (``norm_estimation``) with ``readout="tomography"``."""
        est_n = check_int_range(n, "n", 2, 2**60, "`n` is the number of rows of the block (2 <= N <= 2^60).")
        self.estimate(est_n, kappa, d, alpha=alpha)  # validation
        a = float(d) if alpha is None else float(alpha)
        d_int = math.ceil(float(d) - 1e-9)
        return self._price(est_n, float(kappa), d_int, a, alpha is not None, physical=False).circuits

    def logical_counts_json(self, n: int, kappa: float, d: float, *, alpha: float | None = None,
                            circuit: str = "solve_attempt") -> str:  # fmt: skip
        """The estimator's ``LogicalCounts`` JSON of one circuit of the solve (see
        :meth:`logical_circuits`), to rerun or vary the estimate with the Azure tool itself::

            from qdk.estimator import LogicalCounts
            LogicalCounts(json.loads(text)).estimate({"qubitParams": {"name": "qubit_gate_ns_e4"}})
        """
        for c in self.logical_circuits(n, kappa, d, alpha=alpha):
            if c.name == circuit:
                return c.json()
        raise InvalidArgumentError(
            f"`circuit` must be 'solve_attempt' or (with readout='tomography') 'norm_estimation', got {circuit!r}."
        )

    def _price(self, n: int, kappa: float, d: int, alpha: float, alpha_given: bool, physical: bool = True) -> _Point:
        return _price_cached(self, n, kappa, d, alpha, alpha_given, physical)


@functools.lru_cache(maxsize=8192)
def _price_cached(
    m: FaultTolerantCostModel, n: int, kappa: float, d: int, alpha: float, alpha_given: bool, physical: bool
) -> _Point:
    qm = m.query
    hw = m.hw
    per_attempt = float(qm.queries_per_attempt(kappa, m.eps, alpha, n=n, d=d))
    p = float(qm.success_probability(m.eps))
    expected = per_attempt / p
    kappa_used = max(kappa, qm.kappa_min)
    b = m.entry_bits if m.entry_bits is not None else _entry_bits(alpha, kappa_used, m.eps)
    qc: QueryCost = sparse_query_cost(n, d, b, m.data_loading)
    sp: StatePrepCost = state_prep_cost(n, b, m.data_loading)
    if m.state_prep_per_query is not None:
        sp_factor, sp_source = float(m.state_prep_per_query), "given"
    elif qm.state_prep_factor is not None:
        sp_factor, sp_source = float(qm.state_prep_factor), f"{qm.name}: {qm.state_prep_factor:g} U_b calls per query"
    else:
        sp_factor, sp_source = 2.0, "ASSUMED 2 per query (one reflection about |b> per walk step, as in Jennings v1)"
    q_att = math.ceil(per_attempt)
    sp_calls = math.ceil(sp_factor * per_attempt)
    nq = logical_qubits(n, qc.ancillas) + qc.workspace_qubits + b + sp.qubits  # + b: phase-gradient register
    final_meas = (n - 1).bit_length() + qc.ancillas
    attempt = LogicalCircuit(
        "solve_attempt",
        nq,
        MappingProxyType({
            "data_loading": CircuitPart(toffolis=q_att * qc.data_toffolis, measurements=q_att * qc.measurements),
            "qlsa": CircuitPart(toffolis=q_att * qc.qlsa_toffolis, rotations=q_att * qc.rotations + b,
                                rotation_depth=q_att * qc.rotations + 1, measurements=final_meas),
            "state_prep": CircuitPart(toffolis=sp_calls * sp.toffolis, rotations=sp_calls * sp.rotations,
                                      rotation_depth=sp_calls * sp.rotations),
        }),
    )  # fmt: skip
    circuits: list[LogicalCircuit] = [attempt]
    copies = 1.0
    calls = 0
    norm_eps = m.norm_precision if m.norm_precision is not None else m.readout_precision
    if m.readout == "tomography":
        copies = tomography_copies(n, m.readout_precision)
        calls = amplitude_estimation_calls(norm_eps)
        qpe_qubits = max(int(calls).bit_length(), 1)
        circuits.append(
            LogicalCircuit("norm_estimation", nq + qpe_qubits,
                           MappingProxyType({k: v.scaled(calls) for k, v in attempt.parts.items()}))
        )  # fmt: skip
    if not physical:
        return _Point(0.0, 0.0, nq, {}, {}, tuple(circuits))

    details: dict[str, Any] = {
        "hardware": hw.to_dict(),
        "query_model": qm.name,
        "query_model_source": qm.source,
        "constants": qm.constants,
        "proven_bound": qm.proven_bound,
        "eps": m.eps,
        "kappa": kappa,
        "kappa_used": kappa_used,
        "d": d,
        "alpha": alpha,
        "alpha_source": "given" if alpha_given else "d (upper bound of d max|A_ij| / ||A||_2 when only d is known)",
        "success_probability": p,
        "attempts_expected": 1.0 / p,
        "attempts_for_99_percent": math.ceil(math.log(0.01) / math.log1p(-p)) if p < 1 else 1,
        "queries_per_attempt": per_attempt,
        "expected_solve_queries": expected,
        "entry_bits": b,
        "entry_bits_source": "given" if m.entry_bits is not None else "ceil(log2(pi alpha kappa / eps))",
        "data_loading": m.data_loading,
        "data_loading_note": _LOADING_NOTE[m.data_loading],
        "data_loading_assumed_qram": qc.assumption,
        "table_entries": n * d,
        "lookups_per_query": [
            {
                "role": role,
                "method": c.method,
                "items": c.items,
                "word_bits": c.word_bits,
                "toffolis": c.toffolis,
                "k": c.k,
                "ancillas": c.ancillas,
                "source": c.source,
            }
            for role, c in qc.lookups
        ],
        "toffolis_per_query": qc.toffolis,
        "data_loading_toffolis_per_query": qc.data_toffolis,
        "state_prep": {
            "toffolis": sp.toffolis,
            "lookup_method": sp.lookup.method,
            "calls_per_attempt": sp_calls,
            "calls_per_query_source": sp_source,
        },
        "logical_qubits": nq,
        "readout": m.readout,
        "logical_counts": {c.name: c.logical_counts() for c in circuits},
    }
    t_att = attempt.total()
    runs = copies / p  # successful solves needed x attempts per success
    details.update(
        toffolis_per_attempt=t_att.toffolis,
        rotations_per_attempt=t_att.rotations,
        t_count_per_attempt_clifford_t=4 * t_att.toffolis + t_att.t_gates,
    )
    if m.readout == "tomography":
        details.update(readout_precision=m.readout_precision, norm_precision=norm_eps, tomography_copies=copies,
                       amplitude_estimation_calls=calls)  # fmt: skip
    total_queries = expected * copies + (calls * per_attempt if m.readout == "tomography" else 0.0)

    if not hw.error_corrected:
        assert hw.seconds_per_query is not None
        tg = hw.seconds_per_query
        solve = expected * tg
        readout_s = (copies - 1.0) * solve + calls * per_attempt * tg if m.readout == "tomography" else 0.0
        terms = {"data_loading": 0.0, "qlsa": solve, "state_prep": 0.0, "readout": readout_s}
        details.update(
            basis_note="paper model: logical block-encoding queries x seconds per query; no error correction, "
            "no data loading, no state preparation counted (idealized)",
            physical_qubits=None,
            code_distance=None,
            t_factories=0,
            toffolis_total=t_att.toffolis * runs + (calls * t_att.toffolis if m.readout == "tomography" else 0),
        )
        return _Point(sum(terms.values()), total_queries, nq, terms, details, tuple(circuits))

    pa = estimate_physical(attempt, hw, m.error_budget, digits=m.digits)
    tsr = pa.ts_per_rotation or 0
    depths = {k: attempt.parts[k].depth(tsr) for k in _PARTS}
    dsum = sum(depths.values())
    solve = pa.runtime_s / p
    terms = {k: solve * depths[k] / dsum for k in _PARTS}
    readout_s = 0.0
    pb = None
    if m.readout == "tomography":
        pb = estimate_physical(circuits[1], hw, m.error_budget, digits=m.digits)
        readout_s = (copies - 1.0) * solve + pb.runtime_s
    terms["readout"] = readout_s
    t_count_attempt = pa.t_states
    details.update(
        basis_note="modeled: logical counts -> Azure Quantum Resource Estimator (surface/Floquet code, T "
        "factories); nothing ran",
        estimator=f"Azure Quantum Resource Estimator (qdk {estimator_version()}), PSSPC layout",
        estimator_scale=pa.scale,
        error_budget=m.error_budget,
        code_distance=pa.code_distance,
        physical_qubits=max(pa.physical_qubits, pb.physical_qubits if pb else 0),
        physical_qubits_algorithm=pa.physical_qubits_algorithm,
        physical_qubits_factories=pa.physical_qubits_factories,
        t_factories=pa.t_factories,
        qec_scheme=pa.qec_scheme,
        logical_cycle_time_s=pa.logical_cycle_time_s,
        logical_depth_per_attempt=pa.logical_depth,
        logical_depth_split_check=dsum / pa.logical_depth if pa.logical_depth else math.nan,
        runtime_per_attempt_s=pa.runtime_s,
        t_count_per_attempt=t_count_attempt,
        ts_per_rotation=pa.ts_per_rotation,
        toffolis_total=t_att.toffolis * runs + (calls * t_att.toffolis if pb else 0),
        t_count_total=t_count_attempt * runs + (pb.t_states if pb else 0.0),
        time_split={k: (v / sum(terms.values()) if sum(terms.values()) > 0 else 0.0) for k, v in terms.items()},
        physical_attempt=pa.to_dict(),
    )
    if pb is not None:
        details["physical_norm_estimation"] = pb.to_dict()
    return _Point(sum(terms.values()), total_queries, nq, terms, details, tuple(circuits))
