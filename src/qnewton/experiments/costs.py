"""Classical vs quantum cost of one Hessian-block solve (the Q-Newton paper's Fig. 5), with the
paper's classical cost and the best classical route side by side.

Two sweeps for a block of size N (default 12544, the paper DNN's fc1 block): the cost as the
condition number kappa grows at oracle sparsity d = 1000, and as d grows at kappa = 1e4 (the
settings of the paper's Fig. 5). Three kinds of figure, never mixed in one field:

* the quantum route: **modeled** (query count x gate time, an idealized figure);
* the paper's classical cost, dense Cholesky C N^3: a **prediction** whose C is calibrated on this
  machine (or given with ``--classical-c``);
* the best classical route (issue 12): the ``cg`` (Newton-CG) and ``woodbury`` routes **measured**
  on the paper DNN's real fc1 block (784-16-16-10 after SGD warm-up, exact Hessian, regularized
  H + eps I), and CG over the kappa sweep as a **calibrated prediction from the measured product
  time**: (sqrt(kappa) / 2) ln(2 / tol) iterations x the measured seconds per iteration (CG's cost
  grows with kappa; Woodbury's exact low-rank solve does not depend on kappa).

Crossovers are found by root finding, not read off the grid, against the paper's classical cost and
against the best classical route. ``fault_tolerant.enabled`` adds the quantum route priced on an
error-corrected machine (:class:`qnewton.cost.FaultTolerantCostModel`): crossover maps over
(kappa, d) at N for each hardware preset and data-loading method against dense Cholesky and the
best classical route (measured here unless a number is given), and the table "what it would take".

Everything is written through :class:`~qnewton.experiments._run.RunDir` (manifest with the exact
command, versions and machine; atomic files, mode 0644): ``costs.csv``, ``costs.png``,
``crossovers.json``, ``best_classical.json``, ``report.md``; with the fault-tolerant part also
``ft_maps.csv``, ``ft_maps.png``, ``ft_what_it_would_take.csv``, ``ft.json`` and
``ft_logical_counts.json``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._config import Checked, option
from ..cost import (
    DATA_LOADINGS,
    FT_HARDWARE_PRESETS,
    GATE_TIME_PRESETS,
    QUERY_MODELS,
    READOUTS,
    ClassicalCostModel,
    FaultTolerantCostModel,
    GateTime,
    QuantumCostModel,
    find_crossover,
    ft_analysis,
    get_query_model,
    resolve_gate_time,
)
from ..cost.fault_tolerant import estimator_available, estimator_version
from ..cost.queries import JENNINGS_V1_KAPPA_MIN
from ..errors import InvalidArgumentError, QNewtonError
from . import _fields as F
from ._run import RunDir

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_FT_PAIRS",
    "FT_MAP_COLUMNS",
    "FT_TABLE_COLUMNS",
    "BestClassicalOptions",
    "CostsConfig",
    "FaultTolerantOptions",
    "cg_predicted_seconds",
    "compute_costs",
    "compute_fault_tolerant",
    "measure_best_classical",
    "run_costs",
    "summary_lines",
]

#: Columns of ``costs.csv`` (one row per sweep point and gate time).
CSV_COLUMNS: tuple[str, ...] = (
    "sweep", "kappa", "d", "alpha", "n", "query_model", "eps", "readout", "gate_time_name", "gate_time_s",
    "quantum_queries", "quantum_modeled_seconds", "classical_seconds", "classical_basis", "cheaper",
    "cg_predicted_seconds", "woodbury_measured_seconds", "cheapest",
)  # fmt: skip
DEFAULT_GATE_TIMES: tuple[str, ...] = ("ibm_sherbrooke", "ghz", "thz", "atto")
#: Data-loading methods of the fault-tolerant maps by default (``auto`` is the cheaper of the first two).
DEFAULT_FT_LOADINGS: tuple[str, ...] = ("qrom", "qroam", "qram-assumed")
#: (kappa, d) of the "what it would take" table when no decisions CSV is given: ILLUSTRATIVE points,
#: not measured blocks (the paper's Fig. 5 settings, a denser block, and a well-conditioned sparse one).
DEFAULT_FT_PAIRS: tuple[tuple[float, float], ...] = ((1e4, 1000.0), (1e3, 12544.0), (100.0, 100.0))
#: Columns of ``ft_maps.csv``.
FT_MAP_COLUMNS: tuple[str, ...] = (
    "hardware", "data_loading", "n", "kappa", "d", "quantum_modeled_seconds", "code_distance", "physical_qubits",
    "logical_qubits", "data_loading_fraction", "cholesky_seconds", "ratio_vs_cholesky", "best_classical_seconds",
    "ratio_vs_best_classical", "estimator_error",
)  # fmt: skip
#: Columns of ``ft_what_it_would_take.csv``.
FT_TABLE_COLUMNS: tuple[str, ...] = (
    "hardware", "data_loading", "n", "kappa", "d", "quantum_modeled_seconds", "cholesky_seconds",
    "best_classical_seconds", "speedup_needed_vs_cholesky", "time_unit", "current_time_unit_s",
    "required_time_unit_vs_cholesky_s", "required_time_unit_vs_best_s", "code_distance", "physical_qubits",
    "first_winning_n", "seconds_at_first_winning_n", "first_winning_n_note", "estimator_error",
)  # fmt: skip
#: The metavar of a (LO, HI) range option (argparse takes a tuple).
_LOHI: Any = ("LO", "HI")
_IDEALIZED = "quantum: modeled, idealized (logical query counts x physical gate time)"
#: How the CG curve over the kappa sweep is labelled wherever it appears.
CG_PREDICTION = "calibrated prediction from the measured product time"


# --- configuration --------------------------------------------------------------------------------


def _gate_time_check(v: Any) -> str | None:
    try:
        resolve_gate_time(v)
    except InvalidArgumentError:
        return f"must be a preset ({', '.join(GATE_TIME_PRESETS)}) or a number of seconds > 0"
    return None


def _query_model_check(v: Any) -> str | None:
    try:
        get_query_model(v)
    except InvalidArgumentError:
        return f"must be one of {', '.join(QUERY_MODELS)}"
    return None


def _file_check(v: Any) -> str | None:
    return None if Path(v).is_file() else "must be an existing CSV file with columns kappa and d"


def _range(name: str, values: tuple[float, ...] | None, lo_min: float = 0.0) -> None:
    if values is None:
        return
    if len(values) != 2 or not (lo_min <= values[0] < values[1]):
        got = " ".join(f"{v:g}" for v in values)
        bound = f"{lo_min:g} <= LO < HI" if lo_min > 0 else "LO < HI"
        raise InvalidArgumentError(f"`{name}` must be two numbers {bound}, got {got}.", argument=name)


@dataclass(frozen=True)
class BestClassicalOptions(Checked):
    """The best classical route measured on the paper DNN's fc1 block (issue 12, item 7)."""

    best_classical: Literal["measure", "none"] = option(
        "measure",
        "measure: time the cg and woodbury routes on the paper DNN's fc1 block (784-16-16-10, exact Hessian) and "
        "show them beside the paper's dense Cholesky cost; none: the paper's comparison only",
    )
    dataset: str = F.dataset()
    data_dir: str | None = F.data_dir()
    warmup_steps: int = option(20, "plain SGD steps before the block is taken (issue 12: 20)", check="count")
    sgd_lr: float = option(0.1, "SGD learning rate of the warm-up", check="positive")
    batch_size: int = option(256, "batch of the measured block (its Hessian has rank <= 10 x batch)", check="natural")
    eps: float = option(
        F.DEFAULT_EPS["mlp"],
        "regularization of the measured system (H + eps I) x = g (what --eps means in the training commands; here "
        "--eps is still the deprecated spelling of --qlsa-eps)",
        check="positive",
        flag="--measure-eps",
    )
    cg_tol: float = option(1e-3, "relative residual of the cg route", check="open-unit")
    cg_maxiter: int = option(2000, "iteration cap of the cg route", check="natural")
    repeats: int = option(3, "timed runs per route (the best counts)", check="natural")
    seed: int = F.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        F.check_image_data(self.dataset, self.data_dir)


@dataclass(frozen=True)
class FaultTolerantOptions(Checked):
    """The quantum route priced on an error-corrected machine (modeled)."""

    enabled: bool = option(
        False,
        "add the fault-tolerant maps and the table 'what it would take' (needs qnewton[ft] except for --hardware "
        "paper)",
        flag="--fault-tolerant",
    )
    hardware: tuple[str, ...] | None = option(
        None,
        "hardware presets (none: all of them when qdk is installed, else only 'paper')",
        choices=tuple(FT_HARDWARE_PRESETS),
    )
    data_loading: tuple[str, ...] = option(
        DEFAULT_FT_LOADINGS, "how the matrix is loaded per query", choices=DATA_LOADINGS
    )
    error_budget: float = option(1e-3, "the resource estimator's error budget", check="open-unit")
    best_classical_seconds: float | None = option(
        None,
        "seconds of the best classical route at this N, given (none: the one measured here, with --best-classical "
        "measure; else not measured)",
        check="positive",
        metavar="S",
    )
    decisions: str | None = option(
        None,
        "(kappa, d) of real blocks: a CSV with columns kappa and d, e.g. a train run's decisions.csv (none: "
        "illustrative points)",
        check=_file_check,
        metavar="CSV",
    )
    map_points: int = option(12, "grid points per axis of the maps", check="natural")
    map_kappa_range: tuple[float, ...] = option(
        (4.0, 1e8),
        "kappa range of the maps",
        check="positive",
        metavar=_LOHI,
    )
    max_log2_n: int = option(
        ft_analysis.MAX_LOG2_N,
        "largest N = 2^k searched for the first winning N",
        check=lambda v: None if isinstance(v, int) and 1 <= v <= 60 else "must be an integer in [1, 60]",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _range("map_kappa_range", self.map_kappa_range, lo_min=1.0)
        if not self.data_loading:
            raise InvalidArgumentError("`data_loading` is empty; pass at least one method.", argument="data_loading")


@dataclass(frozen=True)
class CostsConfig(Checked):
    """Everything ``qnewton costs`` computes, validated before anything runs."""

    n: int = option(12544, "block size N (12544: the paper DNN's fc1 block, 784 x 16)", check="natural")
    gate_times: tuple[str | float, ...] = option(
        DEFAULT_GATE_TIMES,
        f"time per QLSA query step, one curve each: a preset ({', '.join(GATE_TIME_PRESETS)}) or seconds",
        check=_gate_time_check,
        flag="--gate-time",
        metavar="PRESET|SECONDS",
    )
    readout: Literal["none", "tomography"] = option(
        "none", "none: the paper's solve-only quantum cost; tomography: end to end (copies + norm)", choices=READOUTS
    )
    readout_precision: float = option(0.1, "l2 accuracy delta of the tomographic estimate", check="open-unit")
    query_model: str = option(
        "jennings-v1", f"QLSA query count: {', '.join(QUERY_MODELS)}", check=_query_model_check, metavar="MODEL"
    )
    qlsa_eps: float = option(
        1e-12,
        "precision of the QLSA's output state (the paper's 1e-12)",
        check="open-unit",
        aliases={"--eps": "--eps is the regularization in every other command"},
    )
    classical_c: float | None = option(
        None, "fixed C of the dense Cholesky cost C N^3 (none: calibrated on this machine, cached)", check="positive",
        metavar="C",
    )  # fmt: skip
    recalibrate: bool = option(False, "measure C again instead of reading the cached calibration")
    d_fixed: float = option(1000.0, "oracle sparsity d of the kappa sweep (the paper's 1000)", check="positive")
    kappa_fixed: float = option(1e4, "condition number of the d sweep (the paper's 1e4)", check="positive")
    kappa_range: tuple[float, ...] = option(
        (JENNINGS_V1_KAPPA_MIN, 1e16),
        "kappa range of the sweep (from sqrt(12))",
        check="positive",
        metavar=_LOHI,
    )
    d_range: tuple[float, ...] | None = option(
        None,
        "d range of the sweep (none: 1 .. N)",
        check="positive",
        metavar=_LOHI,
    )
    points: int = option(200, "points per sweep", check="natural")
    best: BestClassicalOptions = option(
        default_factory=BestClassicalOptions,
        help="best classical route, measured on the paper DNN's fc1 block (--best-classical none: skip)",
    )
    fault_tolerant: FaultTolerantOptions = option(
        default_factory=FaultTolerantOptions,
        help="fault-tolerant machine (modeled; --fault-tolerant turns it on)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.gate_times:
            raise InvalidArgumentError("`gate_times` is empty; pass at least one preset or number of seconds.")
        _range("kappa_range", self.kappa_range)
        _range("d_range", self.d_range)
        top = self.d_range[1] if self.d_range else 1.0
        if top > self.n or self.d_fixed > self.n:
            raise InvalidArgumentError(
                f"d can be at most N = {self.n} (a row has N entries), got `d_fixed` {self.d_fixed:g}"
                + (f" and `d_range` up to {top:g}" if self.d_range else "")
                + "; lower them or raise `n`.",
                argument="d_fixed",
            )

    def classical_model(self) -> ClassicalCostModel:
        """The paper's classical cost: dense Cholesky C N^3 (C given, or calibrated here)."""
        if self.classical_c is not None:
            return ClassicalCostModel(c=self.classical_c)
        return ClassicalCostModel(recalibrate=self.recalibrate)


# --- the best classical route, measured -------------------------------------------------------------


def cg_predicted_seconds(kappa: Any, tol: float, seconds_per_iteration: float) -> np.ndarray:
    """CG's cost as kappa grows: ceil((sqrt(kappa) / 2) ln(2 / tol)) iterations x the measured seconds
    per iteration (the CG bound, Nocedal and Wright Thm 5.5; what the ``cg`` route quotes).

    >>> float(cg_predicted_seconds(100.0, 1e-3, 0.01))
    0.39
    """
    k = np.asarray(kappa, dtype=np.float64)
    iters = np.maximum(np.ceil(0.5 * np.sqrt(k) * math.log(2.0 / tol)), 1.0)
    return iters * seconds_per_iteration


def _paper_block(opts: BestClassicalOptions) -> tuple[Any, Any, dict[str, Any]]:
    """The paper DNN after ``warmup_steps`` SGD steps, its lazy curvature blocks on one batch."""
    import torch
    from torch import nn

    from ..curvature import LossProblem
    from ..curvature.lazy import curvature_blocks
    from ..data import load_image_dataset
    from ..models import paper_dnn
    from ._common import default_image_dataset

    name = default_image_dataset() if opts.dataset == "auto" else opts.dataset
    ds = load_image_dataset(name, opts.data_dir, seed=opts.seed)
    x, y = ds.tensors("train")
    model = paper_dnn(input_dim=ds.n_features, hidden=(16, 16), num_classes=ds.num_classes, seed=opts.seed)
    criterion = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(opts.seed)
    sgd = torch.optim.SGD(model.parameters(), lr=opts.sgd_lr)
    for _ in range(opts.warmup_steps):
        idx = torch.randint(0, len(y), (min(opts.batch_size, len(y)),), generator=gen)
        sgd.zero_grad()
        criterion(model(x[idx]), y[idx]).backward()
        sgd.step()
    idx = torch.randint(0, len(y), (min(opts.batch_size, len(y)),), generator=gen)
    batch = (x[idx], y[idx])
    res = curvature_blocks(LossProblem(model, criterion), batch, "hessian")
    parameters = sum(p.numel() for p in model.parameters())
    info = {"dataset": ds.name, "n_features": ds.n_features, "batch": len(idx), "parameters": parameters}
    return res, batch, info


def measure_best_classical(opts: BestClassicalOptions) -> dict[str, Any]:
    """Time the ``cg`` and ``woodbury`` routes on the paper DNN's fc1 block (best of ``repeats`` runs).

    The block is the exact Hessian of ``fc1.weight`` (formed lazily, never as an n x n matrix) of the
    paper's DNN after ``warmup_steps`` SGD steps, regularized: (H + eps I) x = g. Measured: each
    route's solve seconds (``qnewton._device.clock``; the route's quote, i.e. the kappa probe and
    the factor extraction, is measured apart as pre-processing), CG's iterations and seconds per
    iteration, and the block's kappa (Lanczos estimate of lambda_max; the block is PSD with rank
    <= 10 x batch, so lambda_min(H + eps I) = eps).

    Returns:
        A JSON-able dict; ``best_seconds`` is the faster converged route's measured solve seconds.
    """
    import torch

    from .._device import clock
    from ..errors import ConvergenceWarning
    from ..linalg import lanczos_extremes
    from ..routes import BlockSystem, CGConfig, CGRoute, RouteFailedError, WoodburyRoute

    res, _, info = _paper_block(opts)
    blk = res["fc1.weight"]
    g = res.grads["fc1.weight"]
    system = BlockSystem(0, 0, blk.name, blk, g, opts.eps, seed=opts.seed)
    out: dict[str, Any] = {
        "basis": "measured",
        "block": "fc1.weight",
        "n": blk.n,
        "dtype": str(blk.torch_dtype).replace("torch.", ""),
        "eps": opts.eps,
        "warmup_steps": opts.warmup_steps,
        "sgd_lr": opts.sgd_lr,
        "repeats": opts.repeats,
        **info,
    }
    solutions: dict[str, torch.Tensor] = {}

    # woodbury: the quote finds the exact factor (measured apart as pre-processing)
    wb = WoodburyRoute()
    t0 = clock(blk.device)
    q = wb.quote(system)
    prep = clock(blk.device) - t0
    if q.applies:
        wruns: list[float] = []
        for _ in range(opts.repeats):
            t0 = clock(blk.device)
            wr = wb.solve(system, q)
            wruns.append(clock(blk.device) - t0)
        solutions["woodbury"] = torch.as_tensor(wr.x).reshape(-1).double()
        lr = blk.lowrank()
        out["woodbury"] = {
            "applies": True,
            "measured_seconds": min(wruns),
            "runs_seconds": wruns,
            "prep_measured_seconds": prep,
            "rank": lr.rank if lr is not None else None,
            "relative_residual": wr.report.residual,
            "structure": str(blk.stats.get("structure", "")),
            "quote": q.reason,
        }
    else:
        out["woodbury"] = {"applies": False, "reason": q.reason}

    # kappa of the block (Lanczos on the products; PSD: lambda_min(H + eps I) >= eps)
    t0 = clock(blk.device)
    ext = lanczos_extremes(blk, max_steps=min(30, blk.n), tol=1e-2)
    lo = opts.eps if blk.psd else ext.lambda_min + opts.eps
    kappa = (ext.lambda_max + opts.eps) / lo if lo > 0 else math.inf
    out["kappa"] = {
        "value": kappa,
        "lambda_max": ext.lambda_max,
        "lambda_min": 0.0 if blk.psd else ext.lambda_min,
        "psd": bool(blk.psd),
        "measured_seconds": clock(blk.device) - t0,
        "how": "Lanczos estimate of lambda_max; lambda_min(H) >= 0 (PSD: an exact factor), taken as 0"
        if blk.psd
        else "Lanczos estimates of both extremes",
    }

    cg = CGRoute(CGConfig(tol=opts.cg_tol, maxiter=opts.cg_maxiter))
    t0 = clock(blk.device)
    q = cg.quote(system)
    prep = clock(blk.device) - t0
    runs: list[float] = []
    failed: str | None = None
    r: Any = None
    for _ in range(opts.repeats):
        t0 = clock(blk.device)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                r = cg.solve(system, q)
        except RouteFailedError as exc:
            failed, r = str(exc), exc.result
        runs.append(clock(blk.device) - t0)
    assert r is not None
    iters = int(r.report.details.get("iterations", 0))
    per_iter = min(runs) / max(iters, 1)
    matvecs = int(r.report.details.get("matvecs", 0))
    per_product = float(r.report.details.get("matvec_s", 0.0)) / matvecs if matvecs else None
    out["cg"] = {
        "measured_seconds": min(runs),
        "runs_seconds": runs,
        "prep_measured_seconds": prep,
        "iterations": iters,
        "method": r.report.details.get("method"),
        "tol": opts.cg_tol,
        "relative_residual": r.report.residual,
        "converged": failed is None,
        "error": failed,
        "seconds_per_iteration": per_iter,
        "seconds_per_product": per_product,
        "predicted_iterations_at_block_kappa": int(cg_predicted_seconds(kappa, opts.cg_tol, 1.0))
        if math.isfinite(kappa)
        else None,
        "prediction": f"(sqrt(kappa)/2) ln(2/tol) iterations x {per_iter:.3g} s per iteration "
        f"(one product + vector work, measured): {CG_PREDICTION}",
    }
    if failed is None:
        solutions["cg"] = torch.as_tensor(r.x).reshape(-1).double()
    if len(solutions) == 2:
        a, b = solutions["cg"], solutions["woodbury"]
        out["cosine_cg_woodbury"] = float(a @ b / (a.norm() * b.norm()).clamp_min(1e-300))
    candidates = {"cg": out["cg"]["measured_seconds"]} if failed is None else {}
    if out["woodbury"]["applies"]:
        candidates["woodbury"] = out["woodbury"]["measured_seconds"]
    if candidates:
        best = min(candidates, key=lambda k: candidates[k])
        out["best_route"], out["best_seconds"] = best, candidates[best]
    else:
        out["best_route"], out["best_seconds"] = None, None
    blk.release()
    return out


class _BestClassicalCurve:
    """The best classical route as a cost model over kappa, for :func:`qnewton.cost.find_crossover`:
    the cheapest of dense Cholesky (C N^3), CG (calibrated prediction from the measured product time)
    and Woodbury (measured; does not depend on kappa)."""

    route = "classical"
    name = "best classical route"

    def __init__(self, best: dict[str, Any], cholesky_seconds: float = math.inf):
        self.cg = best["cg"] if best["cg"]["converged"] else None
        self.wb = best["woodbury"]["measured_seconds"] if best["woodbury"]["applies"] else math.inf
        self.cholesky = cholesky_seconds

    def seconds(self, kappa: Any) -> np.ndarray:
        k = np.asarray(kappa, dtype=np.float64)
        cg = cg_predicted_seconds(k, self.cg["tol"], self.cg["seconds_per_iteration"]) if self.cg else np.inf
        return np.minimum(np.minimum(cg, self.wb), self.cholesky) * np.ones_like(k)

    def estimate(self, n: int, kappa: Any = None, d: Any = None, alpha: Any = None) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(seconds=self.seconds(kappa))


# --- Fig. 5 -----------------------------------------------------------------------------------------


def compute_costs(
    n: int = 12544,
    gate_times: Sequence[str | float | GateTime] = DEFAULT_GATE_TIMES,
    *,
    readout: str = "none",
    readout_precision: float = 0.1,
    query_model: str = "jennings-v1",
    eps: float = 1e-12,
    classical: ClassicalCostModel | None = None,
    d_fixed: float = 1000.0,
    kappa_fixed: float = 1e4,
    kappa_range: tuple[float, float] = (JENNINGS_V1_KAPPA_MIN, 1e16),
    d_range: tuple[float, float] | None = None,
    points: int = 200,
    best: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Both sweeps and their crossovers; returns ``{"rows", "crossovers", "settings", "classical"}``.

    ``eps`` is the QLSA's output-state precision. ``best``: the measured best classical route
    (:func:`measure_best_classical`) of a block of this size, or None.

    Raises:
        InvalidArgumentError: a setting outside its range (e.g. d > N), with the fix.
    """
    if not gate_times:
        raise InvalidArgumentError("`gate_times` is empty; pass at least one preset or number of seconds.")
    classical = classical or ClassicalCostModel()
    d_range = d_range or (1.0, float(n))
    for name, (lo, hi) in (("kappa_range", kappa_range), ("d_range", d_range)):
        if not lo < hi:
            raise InvalidArgumentError(f"`{name}` must be LO < HI, got {lo:g} {hi:g}.")
    if d_range[1] > n or d_fixed > n:
        raise InvalidArgumentError(
            f"d can be at most N = {n} (a row has N entries), got d range up to {d_range[1]:g} and fixed "
            f"d = {d_fixed:g}; lower them or raise --n."
        )
    models = [
        QuantumCostModel(
            query_model=query_model,
            eps=eps,
            gate_time=g,
            readout=readout,  # type: ignore[arg-type]
            readout_precision=readout_precision,
        )
        for g in gate_times
    ]
    c_est = classical.estimate(n)
    curve = _BestClassicalCurve(best, float(c_est.seconds)) if best is not None and best.get("n") == n else None
    kappas = np.geomspace(kappa_range[0], kappa_range[1], points)
    ds = np.geomspace(d_range[0], d_range[1], points)
    wb = None
    if curve is not None and math.isfinite(curve.wb):
        wb = curve.wb
    cg_ok = curve is not None and curve.cg is not None
    rows: list[dict[str, Any]] = []
    crossovers: list[dict[str, Any]] = []
    for sweep, xs in (("kappa", kappas), ("d", ds)):
        kappa_arg = xs if sweep == "kappa" else kappa_fixed
        d_arg = d_fixed if sweep == "kappa" else xs
        fixed = d_fixed if sweep == "kappa" else kappa_fixed
        lo, hi = kappa_range if sweep == "kappa" else d_range
        cg = None
        if cg_ok:
            assert curve is not None and curve.cg is not None
            cg_kappas = xs if sweep == "kappa" else np.full(xs.shape, kappa_fixed)
            cg = cg_predicted_seconds(cg_kappas, curve.cg["tol"], curve.cg["seconds_per_iteration"])
        for m in models:
            q = m.estimate(n, kappa=kappa_arg, d=d_arg)
            qs = np.broadcast_to(np.asarray(q.seconds), xs.shape)
            qq = np.broadcast_to(np.asarray(q.queries), xs.shape)
            alpha = np.broadcast_to(np.asarray(q.details["alpha"]), xs.shape)
            gt = m.gate_time
            assert isinstance(gt, GateTime)
            for i, x in enumerate(xs):
                costs = {"quantum": float(qs[i]), "cholesky": float(c_est.seconds)}
                if cg is not None:
                    costs["cg"] = float(cg[i])
                if wb is not None:
                    costs["woodbury"] = wb
                rows.append(
                    {
                        "sweep": sweep,
                        "kappa": float(x) if sweep == "kappa" else float(kappa_fixed),
                        "d": float(d_fixed) if sweep == "kappa" else float(x),
                        "alpha": float(alpha[i]),
                        "n": n,
                        "query_model": m.query_model,
                        "eps": m.eps,
                        "readout": m.readout,
                        "gate_time_name": gt.name,
                        "gate_time_s": gt.seconds,
                        "quantum_queries": float(qq[i]),
                        "quantum_modeled_seconds": float(qs[i]),
                        "classical_seconds": float(c_est.seconds),
                        "classical_basis": c_est.basis,
                        "cheaper": "quantum" if qs[i] < c_est.seconds else "classical",
                        "cg_predicted_seconds": float(cg[i]) if cg is not None else None,
                        "woodbury_measured_seconds": wb,
                        "cheapest": min(costs, key=lambda k: costs[k]),
                    }
                )
            cx = find_crossover(m, classical, n, vary=sweep, fixed=fixed, lo=lo, hi=hi)  # type: ignore[arg-type]
            entry = {"gate_time_name": gt.name, "gate_time_s": gt.seconds, **cx.to_dict()}
            if curve is not None and (cg_ok or wb is not None):
                cb = find_crossover(m, curve, n, vary=sweep, fixed=fixed, lo=lo, hi=hi)  # type: ignore[arg-type]
                entry["vs_best_classical"] = cb.to_dict()
            crossovers.append(entry)
    qm = get_query_model(query_model)
    settings = {
        "n": n,
        "query_model": qm.name,
        "query_model_source": qm.source,
        "query_model_constants": qm.constants,
        "eps": float(eps),
        "readout": readout,
        "readout_precision": readout_precision if readout == "tomography" else None,
        "gate_times": [
            {"name": m.gate_time.name, "seconds": m.gate_time.seconds, "source": m.gate_time.source}  # type: ignore[union-attr]
            for m in models
        ],
        "kappa_sweep": {"d": d_fixed, "range": list(kappa_range), "points": points},
        "d_sweep": {"kappa": kappa_fixed, "range": list(d_range), "points": points},
        "alpha": "alpha = d (upper bound of d max|A_ij| / ||A||_2 when only d is known)",
        "labels": {
            "quantum": _IDEALIZED,
            "classical": f"the paper's classical cost, dense Cholesky C N^3: {c_est.basis}",
            "cg_predicted_seconds": f"cg route: {CG_PREDICTION} (at kappa_fixed in the d sweep)",
            "woodbury_measured_seconds": "woodbury route: measured on the fc1 block (does not depend on kappa)",
        },
    }
    classical_info = {"seconds": c_est.seconds, "basis": c_est.basis, **c_est.details}
    at_block = []  # the quantum route priced at the measured block's kappa (d of the kappa sweep)
    if curve is not None and math.isfinite(best["kappa"]["value"]):  # type: ignore[index]
        kb = float(best["kappa"]["value"])  # type: ignore[index]
        for m in models:
            q = m.estimate(n, kappa=kb, d=d_fixed)
            gt = m.gate_time
            assert isinstance(gt, GateTime)
            at_block.append({"gate_time_name": gt.name, "gate_time_s": gt.seconds, "kappa": kb, "d": float(d_fixed),
                             "quantum_modeled_seconds": float(q.seconds)})  # fmt: skip
    return {"rows": rows, "crossovers": crossovers, "settings": settings, "classical": classical_info,
            "at_measured_block": at_block}  # fmt: skip


def _plot(result: dict[str, Any], best: dict[str, Any] | None) -> Any:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s, c = result["settings"], result["classical"]
    rows = result["rows"]
    fig = Figure(figsize=(14, 8.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    use_best = best is not None and best.get("n") == s["n"]
    for ax, sweep in zip(axes, ("kappa", "d"), strict=True):
        sel = [r for r in rows if r["sweep"] == sweep]
        missing: list[str] = []
        names = list(dict.fromkeys(r["gate_time_name"] + f"@{r['gate_time_s']!r}" for r in sel))
        xs_all = sorted({r[sweep] for r in sel})
        how = "C calibrated here" if c["basis"] == "calibrated-prediction" else "C given"
        ax.plot(xs_all, [c["seconds"]] * len(xs_all), color="black", lw=2.2,
                label=f"dense Cholesky C·N³, the paper's classical cost: {c['seconds']:.3g} s "
                      f"({c['basis']}, {how})")  # fmt: skip
        if use_best:
            assert best is not None
            first = [r for r in sel if r["gate_time_name"] + f"@{r['gate_time_s']!r}" == names[0]]
            if best["woodbury"]["applies"]:
                ax.plot(xs_all, [best["woodbury"]["measured_seconds"]] * len(xs_all), "-", color="0.6", lw=2.2,
                        label=f"woodbury route, MEASURED on fc1: {best['woodbury']['measured_seconds']:.3g} s "
                              f"(exact, rank {best['woodbury']['rank']}; independent of κ)")  # fmt: skip
            if best["cg"]["converged"]:
                at = "" if sweep == "kappa" else f" at κ = {s['d_sweep']['kappa']:g}"
                ax.plot([r[sweep] for r in first], [r["cg_predicted_seconds"] for r in first], "-.", color="black",
                        lw=1.4, label=f"cg route{at}: PREDICTED, {CG_PREDICTION} "
                        f"({best['cg']['seconds_per_iteration']:.3g} s/iteration)")  # fmt: skip
                if sweep == "kappa" and math.isfinite(best["kappa"]["value"]):
                    cgm, kv = best["cg"], best["kappa"]["value"]
                    measured = (f"cg route, MEASURED on fc1: {cgm['measured_seconds']:.3g} s, "
                                f"{cgm['iterations']} iterations at κ ≈ {kv:.3g}")  # fmt: skip
                    ax.plot([best["kappa"]["value"]], [best["cg"]["measured_seconds"]], "^", color="white", ms=9,
                            mec="black", mew=1.5, label=measured)  # fmt: skip
        for j, key in enumerate(names):
            pts = [r for r in sel if r["gate_time_name"] + f"@{r['gate_time_s']!r}" == key]
            color = colors[j % len(colors)]
            label = f"quantum, t_g = {pts[0]['gate_time_s']:.3g} s ({pts[0]['gate_time_name']}): MODELED"
            ys = [r["quantum_modeled_seconds"] for r in pts]
            ax.plot([r[sweep] for r in pts], ys, "--", color=color, label=label)
            for cx in result["crossovers"]:
                if cx["vary"] == sweep and cx["gate_time_name"] + f"@{cx['gate_time_s']!r}" == key:
                    if cx["status"] == "crossover":
                        ax.plot([cx["value"]], [cx["seconds"]], "o", color=color, ms=8, mec="black")
                        ax.axvline(cx["value"], color=color, ls=":", lw=1)
                        # label on the side with more room (log scale), staggered so labels never overlap
                        right = math.log(cx["value"]) < 0.5 * (math.log(cx["lo"]) + math.log(cx["hi"]))
                        ax.annotate(f"{'κ' if sweep == 'kappa' else 'd'}* = {cx['value']:.3g}",
                                    (cx["value"], cx["seconds"]), textcoords="offset points",
                                    xytext=(6 if right else -6, -14 - 11 * j), ha="left" if right else "right",
                                    fontsize=8, color=color)  # fmt: skip
                    else:
                        missing.append(f"{cx['gate_time_name']}: {cx['status'].replace('-', ' ')}")
        if missing:
            ax.text(0.98, 0.02, "no crossover with Cholesky in range:\n" + "\n".join(missing), transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7.5, color="dimgray")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        if sweep == "kappa":
            ax.set_xlabel("condition number κ")
            ax.set_title(f"cost vs κ at oracle sparsity d = {s['kappa_sweep']['d']:g}", fontsize=10)
        else:
            ax.set_xlabel("quantum oracle sparsity d (α = d)")
            ax.set_title(f"cost vs d at κ = {s['d_sweep']['kappa']:g}", fontsize=10)
        ax.set_ylabel("seconds per solve")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    gts = ", ".join(f"{g['name']} {g['seconds']:.3g} s" for g in s["gate_times"])
    readout = s["readout"] + (f" (δ = {s['readout_precision']:g})" if s["readout"] == "tomography" else "")
    title = [
        f"One N = {s['n']} solve: classical vs quantum [{s['query_model']}, QLSA ε = {s['eps']:g}, readout: {readout}]",
        f"gate time: {gts}; quantum = modeled (idealized: logical query counts × gate time)",
    ]
    if use_best:
        assert best is not None
        title.append(f"cg / woodbury: measured on the paper DNN's fc1 block ({best['dataset']}, batch {best['batch']}, "
                     f"H + {best['eps']:g} I); cg over κ: calibrated prediction")  # fmt: skip
    elif best is not None:
        title.append(f"best classical route measured at N = {best['n']} (not this N): see report.md")
    fig.suptitle("\n".join(title), fontsize=10)
    return fig


# --- fault-tolerant machine ---------------------------------------------------------------------------


def compute_fault_tolerant(
    n: int = 12544,
    hardware: Sequence[str] | None = None,
    loadings: Sequence[str] = DEFAULT_FT_LOADINGS,
    *,
    classical: ClassicalCostModel,
    query_model: str = "jennings-v1",
    eps: float = 1e-12,
    error_budget: float = 1e-3,
    readout: str = "none",
    readout_precision: float = 0.1,
    best_classical_seconds: float | None = None,
    best_classical_label: str | None = None,
    pairs: Sequence[tuple[float, float]] | None = None,
    pairs_source: str = "illustrative (not measured blocks)",
    map_points: int = 12,
    map_kappa_range: tuple[float, float] = (4.0, 1e8),
    max_log2_n: int = ft_analysis.MAX_LOG2_N,
) -> dict[str, Any]:
    """The fault-tolerant maps, the "what it would take" table and one example point per model.

    ``hardware`` None means every preset when ``qdk`` is installed, else ``paper`` only (noted).

    Raises:
        MissingDependencyError: a hardware preset that needs ``qdk`` without it.
        InvalidArgumentError: a bad setting.
    """
    notes: list[str] = []
    if hardware is None:
        if estimator_available():
            hardware = list(FT_HARDWARE_PRESETS)
        else:
            hardware = ["paper"]
            notes.append("qdk (extra qnewton[ft]) is not installed: only the 'paper' preset (no error correction).")
    if not hardware or not loadings:
        raise InvalidArgumentError("pass at least one `--hardware` and one `--data-loading`.")
    lo, hi = map_kappa_range
    if not lo < hi or lo < 1:
        raise InvalidArgumentError(f"`map_kappa_range` must be 1 <= LO < HI, got {lo:g} {hi:g}.")
    base = FaultTolerantCostModel(
        query_model=query_model, eps=eps, hardware="paper", error_budget=error_budget, readout=readout,
        readout_precision=readout_precision,
    )  # fmt: skip
    models = ft_analysis.models_for(hardware, loadings, base)
    kappas = np.geomspace(lo, hi, map_points)
    ds = np.geomspace(1.0, float(n), map_points)
    maps = ft_analysis.crossover_maps(models, classical, n=n, kappas=kappas, ds=ds,
                                      best_classical_seconds=best_classical_seconds)  # fmt: skip
    pairs = list(pairs) if pairs is not None else list(DEFAULT_FT_PAIRS)
    table = ft_analysis.what_it_would_take(pairs, models, classical, n=n,
                                           best_classical_seconds=best_classical_seconds,
                                           max_log2_n=max_log2_n)  # fmt: skip
    k0, d0 = pairs[0]
    d0 = min(d0, n)
    examples = []
    counts: dict[str, Any] = {}
    for m in models:
        try:
            est = m.estimate(n, kappa=k0, d=d0)
        except QNewtonError as exc:
            examples.append({"model": m.name, "kappa": k0, "d": d0, "error": str(exc)})
            continue
        examples.append({"model": m.name, "label": m.label, "kappa": k0, "d": d0, **est.to_dict()})
        counts.setdefault(m.data_loading, {"n": n, "kappa": k0, "d": d0,
                                           "logical_counts": est.details["logical_counts"]})  # fmt: skip
    if best_classical_seconds is None:
        best_label = ft_analysis.NOT_MEASURED
    else:
        best_label = best_classical_label or "measured here (given)"
    settings = {
        "n": n,
        "hardware": [FT_HARDWARE_PRESETS[h].to_dict() for h in hardware],
        "data_loadings": list(loadings),
        "query_model": get_query_model(query_model).name,
        "eps": eps,
        "error_budget": error_budget,
        "readout": readout,
        "readout_precision": readout_precision if readout == "tomography" else None,
        "alpha": "alpha = d (upper bound of d max|A_ij| / ||A||_2 when only d is known)",
        "pairs_source": pairs_source,
        "map_kappa_range": [lo, hi],
        "map_points": map_points,
        "max_log2_n": max_log2_n,
        "estimator": f"Azure Quantum Resource Estimator, qdk {estimator_version()}" if estimator_available() else None,
        "labels": {
            "quantum": "modeled (logical counts -> estimator; nothing ran)",
            "cholesky": maps["classical"]["basis"],
            "best_classical": best_label,
        },
        "notes": notes,
    }
    return {"settings": settings, "maps": maps, "table": table, "examples": examples, "logical_counts": counts}


def _log_edges(v: np.ndarray) -> np.ndarray:
    """Cell edges of a log-spaced grid: geometric midpoints, extended by half a step at both ends."""
    lv = np.log(np.asarray(v, dtype=float))
    if lv.size == 1:
        return np.exp(np.array([lv[0] - 0.5, lv[0] + 0.5]))
    mid = 0.5 * (lv[1:] + lv[:-1])
    return np.exp(np.concatenate([[lv[0] - (mid[0] - lv[0])], mid, [lv[-1] + (lv[-1] - mid[-1])]]))


def _plot_maps(result: dict[str, Any]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    maps = result["maps"]
    rows = maps["rows"]
    hws = list(dict.fromkeys(r["hardware"] for r in rows))
    lds = list(dict.fromkeys(r["data_loading"] for r in rows))
    kap, ds = np.array(maps["kappas"]), np.array(maps["ds"], dtype=float)
    fig = Figure(figsize=(4.2 * len(lds) + 1.2, 3.2 * len(hws) + 1.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(len(hws), len(lds), squeeze=False))
    index = {(r["hardware"], r["data_loading"], r["kappa"], r["d"]): r for r in rows}
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-20.0, vmax=20.0)
    mesh = None
    for i, hw in enumerate(hws):
        for j, ld in enumerate(lds):
            ax = axes[i, j]
            z = np.full((len(ds), len(kap)), np.nan)
            zb = np.full_like(z, np.nan)
            for a, d in enumerate(maps["ds"]):
                for b, k in enumerate(maps["kappas"]):
                    r = index.get((hw, ld, k, d))
                    if r and r["ratio_vs_cholesky"]:
                        z[a, b] = math.log10(r["ratio_vs_cholesky"])
                    if r and r["ratio_vs_best_classical"]:
                        zb[a, b] = math.log10(r["ratio_vs_best_classical"])
            ke, de = _log_edges(kap), _log_edges(ds)
            mesh = ax.pcolormesh(ke, de, np.clip(z, -20, 20), norm=norm, cmap="RdBu_r", shading="flat")
            if np.isnan(z).any():
                ax.pcolormesh(ke, de, np.where(np.isnan(z), 1.0, np.nan), cmap="Greys", vmin=0, vmax=2,
                              shading="flat")  # fmt: skip
            if np.isfinite(z).any() and np.nanmin(z) < 0 < np.nanmax(z):
                ax.contour(kap, ds, z, levels=[0.0], colors="black", linewidths=1.5)
            if np.isfinite(zb).any() and np.nanmin(zb) < 0 < np.nanmax(zb):
                ax.contour(kap, ds, zb, levels=[0.0], colors="black", linewidths=1.2, linestyles="--")
            ax.set_xscale("log")
            ax.set_yscale("log")
            tag = " (ASSUMED QRAM)" if ld == "qram-assumed" else ""
            ax.set_title(f"{hw} / {ld}{tag}", fontsize=9)
            if i == len(hws) - 1:
                ax.set_xlabel("κ")
            if j == 0:
                ax.set_ylabel("d (α = d)")
    if mesh is not None:
        cb = fig.colorbar(mesh, ax=axes, shrink=0.6)
        cb.set_label("log10(quantum / Cholesky seconds); blue: quantum cheaper")
    s = result["settings"]
    best = maps["classical"]["best_classical_seconds"]
    fig.suptitle(
        f"One N = {s['n']} solve on a fault-tolerant machine vs dense Cholesky "
        f"({maps['classical']['cholesky_seconds']:.3g} s, {maps['classical']['basis']}); "
        f"best classical route: {best if isinstance(best, str) else f'{best:.3g} s (dashed)'} "
        f"[{s['labels']['best_classical']}]\n"
        f"quantum: MODELED [{s['query_model']}, ε = {s['eps']:g}, error budget {s['error_budget']:g}, "
        f"readout {s['readout']}]; grey: the estimator refused (e.g. code distance > its maximum)",
        fontsize=10,
    )
    return fig


# --- report -------------------------------------------------------------------------------------------


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def _where(cx: dict[str, Any]) -> str:
    return f"{cx['vary']}* = {cx['value']:.4g}" if cx["status"] == "crossover" else cx["status"]


def _best_section(result: dict[str, Any], best: dict[str, Any] | None, ft_best: dict[str, Any]) -> list[str]:
    s, c = result["settings"], result["classical"]
    lines = [
        "",
        f"## The paper's classical cost and the best classical route, side by side (N = {s['n']})",
        "",
    ]
    if best is None:
        lines.append("Best classical route: not measured (`--best-classical none`).")
        return lines
    if best["n"] != s["n"]:
        lines.append(
            f"Note: the measured block ({best['dataset']}, fc1) has N = {best['n']}, not --n {s['n']}: its times "
            "are listed below but left out of the sweep, the crossovers and the fault-tolerant comparison."
        )
        lines.append("")
    cg, wb, kp = best["cg"], best["woodbury"], best["kappa"]
    basis = "C N^3 with C calibrated on this machine" if c["basis"] == "calibrated-prediction" else (
        "C N^3 with C given (assumed)")  # fmt: skip
    lines += [
        f"The paper DNN ({best['n_features']}-16-16-10 on {best['dataset']}, {best['parameters']} parameters) after "
        f"{best['warmup_steps']} SGD steps (lr {best['sgd_lr']:g}); the exact Hessian of fc1.weight on a batch of "
        f"{best['batch']}, formed lazily (never as an N x N matrix), regularized H + {best['eps']:g} I "
        f"({best['dtype']}); kappa ~ {kp['value']:.3g} ({kp['how']}). Measured: best of {best['repeats']} solves "
        "(each route's quote, i.e. its kappa probe or factor extraction, measured apart).",
        "",
        "| route | seconds per solve | basis |",
        "|---|---|---|",
        f"| dense Cholesky C N^3 (the paper's classical cost, LU/Cholesky) | {c['seconds']:.4g} | PREDICTED: {basis}, "
        f"C = {c['c']:.4g} s/N^3 |",
    ]
    if cg["converged"]:
        lines.append(
            f"| cg (Newton-CG, tol {cg['tol']:g}) on the fc1 block | {cg['measured_seconds']:.4g} | MEASURED: "
            f"{cg['iterations']} iterations ({cg['method']}), {cg['seconds_per_iteration']:.3g} s per iteration |"
        )
        lines.append(
            f"| cg over the kappa sweep | (sqrt(kappa)/2) ln(2/tol) x {cg['seconds_per_iteration']:.3g} s | "
            f"PREDICTED: {CG_PREDICTION} ({cg['predicted_iterations_at_block_kappa']} iterations predicted at the "
            f"block's kappa, {cg['iterations']} measured) |"
        )
    else:
        lines.append(f"| cg on the fc1 block | did not converge | MEASURED: {cg['error']} |")
    if wb["applies"]:
        lines.append(
            f"| woodbury (exact, rank {wb['rank']}) on the fc1 block | {wb['measured_seconds']:.4g} | MEASURED "
            f"(factor extraction {wb['prep_measured_seconds']:.3g} s apart); independent of kappa |"
        )
    else:
        lines.append(f"| woodbury | declines | {wb['reason']} |")
    if best["best_seconds"] is not None:
        ratio = c["seconds"] / best["best_seconds"]
        lines += [
            f"| **best classical route: {best['best_route']}** | **{best['best_seconds']:.4g}** | MEASURED; the "
            f"paper's C N^3 is {ratio:.3g}x this |",
        ]
    for q in result.get("at_measured_block", []):
        lines.append(
            f"| quantum route, t_g = {q['gate_time_s']:.3g} s ({q['gate_time_name']}), at the block's kappa and "
            f"d = {q['d']:g} | {q['quantum_modeled_seconds']:.4g} | MODELED: queries x gate time (idealized) |"
        )
    if "cosine_cg_woodbury" in best:
        lines += ["", f"cg and woodbury agree: cosine {best['cosine_cg_woodbury']:.6f} between their solutions."]
    lines += ["", f"Fault-tolerant comparison uses: {ft_best['label']}."]
    vs = [cx for cx in result["crossovers"] if "vs_best_classical" in cx]
    if vs:
        lines += [
            "",
            "Crossovers of the modeled quantum route with the paper's classical cost and with the best classical "
            "route (the cheapest of dense Cholesky C N^3, cg's calibrated prediction and woodbury's measured "
            "seconds):",
            "",
            "| gate time | fixed | vs dense Cholesky (paper) | vs best classical route |",
            "|---|---|---|---|",
        ]
        for cx in vs:
            fixed = ", ".join(f"{k} = {v:g}" for k, v in cx["fixed"].items())
            lines.append(f"| {cx['gate_time_name']} ({cx['gate_time_s']:.3g} s) | {fixed} | {_where(cx)} | "
                         f"{_where(cx['vs_best_classical'])} |")  # fmt: skip
    return lines


def _report(result: dict[str, Any], best: dict[str, Any] | None, ft: dict[str, Any] | None,
            ft_best: dict[str, Any]) -> str:  # fmt: skip
    s, c = result["settings"], result["classical"]
    lines = [
        "# qnewton costs: one Hessian-block solve, classical vs quantum (paper Fig. 5)",
        "",
        f"Dense Cholesky C N^3, the paper's classical cost: {c['basis']} (C = {c['c']:.4g} s/N^3). Every quantum "
        "time below is **modeled** (nothing ran); best-classical times are **measured** here or, for cg over "
        "kappa, a calibrated prediction from the measured product time.",
        "",
        f"## Fig. 5: queries x gate time (idealized), N = {s['n']}, {s['query_model']}, QLSA eps = {s['eps']:g}",
        "",
        "| gate time | fixed | crossover with dense Cholesky |",
        "|---|---|---|",
    ]
    for cx in result["crossovers"]:
        fixed = ", ".join(f"{k} = {v:g}" for k, v in cx["fixed"].items())
        lines.append(f"| {cx['gate_time_name']} ({cx['gate_time_s']:.3g} s) | {fixed} | {_where(cx)} |")
    lines += _best_section(result, best, ft_best)
    if ft is not None:
        fs, maps = ft["settings"], ft["maps"]
        best_s = maps["classical"]["best_classical_seconds"]
        lines += [
            "",
            f"## Fault-tolerant machine (modeled), N = {fs['n']}",
            "",
            f"Query model {fs['query_model']}, eps = {fs['eps']:g}, error budget {fs['error_budget']:g}, readout "
            f"{fs['readout']}, alpha = d. Estimator: {fs['estimator'] or 'not installed'}. Dense Cholesky: "
            f"{maps['classical']['cholesky_seconds']:.4g} s ({maps['classical']['basis']}); best classical route: "
            f"{best_s if isinstance(best_s, str) else f'{best_s:.4g} s'} ({fs['labels']['best_classical']}).",
            "'qram-assumed' rests on an ASSUMED O(log N) QRAM; 'paper' has no error correction and no data loading.",
            *[f"Note: {x}" for x in fs["notes"]],
            "",
            f"### Maps: grid points (of {maps['summary'][0]['points'] if maps['summary'] else 0}) where the quantum "
            f"route is cheaper (kappa {fs['map_kappa_range'][0]:g}..{fs['map_kappa_range'][1]:g}, d 1..N)",
            "",
            "| hardware | data loading | vs Cholesky | vs best classical |",
            "|---|---|---|---|",
        ]
        for sm in maps["summary"]:
            lines.append(f"| {sm['hardware']} | {sm['data_loading']} | {sm['quantum_wins_vs_cholesky']} | "
                         f"{sm['quantum_wins_vs_best_classical']} |")  # fmt: skip
        ex = [e for e in ft["examples"] if "seconds" in e]
        if ex:
            k0, d0 = ex[0]["kappa"], ex[0]["d"]
            lines += [
                "",
                f"### One solve at kappa = {k0:g}, d = {d0:g} (modeled)",
                "",
                "| model | seconds | logical qubits | Toffolis/attempt | code distance | physical qubits | T factories "
                "| data loading share |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for e in ex:
                dt = e["details"]
                share = (dt.get("time_split") or {}).get("data_loading")
                lines.append(
                    f"| {e['model']} | {_fmt(e['seconds'])} | {dt.get('logical_qubits')} | "
                    f"{_fmt(float(dt.get('toffolis_per_attempt', 0)))} | {_fmt(dt.get('code_distance'))} | "
                    f"{_fmt(dt.get('physical_qubits'))} | {_fmt(dt.get('t_factories'))} | {_fmt(share)} |"
                )
        lines += [
            "",
            f"### What it would take ({fs['pairs_source']})",
            "",
            "Required time unit: the logical cycle time (or, for 'paper', seconds per query) at which the quantum "
            "route would tie at this N. First winning N: kappa and d held fixed, dense Cholesky extrapolated as "
            "C N^3 (a dense solver ignores the sparsity d, so at large N this reference is weak).",
            "",
            "| kappa | d | hardware | data loading | quantum s | speed-up needed | time unit now | needed vs Cholesky "
            "| needed vs best | first winning N (seconds there) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in ft["table"]:
            first = (
                f"{r['first_winning_n']:.3g} ({r['seconds_at_first_winning_n']:.2g} s)"
                if r["first_winning_n"]
                else r["first_winning_n_note"]
            )
            lines.append(
                f"| {r['kappa']:g} | {r['d']:g} | {r['hardware']} | {r['data_loading']} | "
                f"{_fmt(r['quantum_modeled_seconds'])} | {_fmt(r.get('speedup_needed_vs_cholesky'))} | "
                f"{_fmt(r.get('current_time_unit_s'))} | {_fmt(r.get('required_time_unit_vs_cholesky_s'))} | "
                f"{_fmt(r.get('required_time_unit_vs_best_s'))} | {first} |"
            )
    return "\n".join(lines) + "\n"


# --- the run --------------------------------------------------------------------------------------------


def _ft_best(cfg: CostsConfig, best: dict[str, Any] | None) -> dict[str, Any]:
    """The best-classical seconds fed to the fault-tolerant maps: given, else measured at this N."""
    given = cfg.fault_tolerant.best_classical_seconds
    if given is not None:
        return {"seconds": given, "label": "given (--best-classical-seconds)"}
    if best is not None and best["best_seconds"] is not None and best["n"] == cfg.n:
        return {
            "seconds": best["best_seconds"],
            "label": f"measured here: the {best['best_route']} route on the paper DNN's fc1 block (kappa ~ "
            f"{best['kappa']['value']:.3g}; cg's cost grows with kappa, woodbury's does not)",
        }
    if best is not None and best["n"] != cfg.n:
        return {"seconds": None, "label": f"not measured at N = {cfg.n} (the measured block has N = {best['n']})"}
    return {"seconds": None, "label": ft_analysis.NOT_MEASURED}


def run_costs(cfg: CostsConfig, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    """Compute everything and write the run folder; returns it.

    Raises:
        QNewtonError: a setting the models reject at run time (e.g. a hardware preset without qdk),
            an unreadable decisions CSV; the manifest is then marked failed.
    """
    run = RunDir(out, "costs", asdict(cfg), fresh=fresh)
    classical = cfg.classical_model()
    best = None
    if cfg.best.best_classical == "measure":
        if progress:
            print("measuring the best classical route on the paper DNN's fc1 block ...", flush=True)
        best = measure_best_classical(cfg.best)
        run.write_json("best_classical.json", best)
    ft_best = _ft_best(cfg, best)
    result = compute_costs(
        cfg.n,
        cfg.gate_times,
        readout=cfg.readout,
        readout_precision=cfg.readout_precision,
        query_model=cfg.query_model,
        eps=cfg.qlsa_eps,
        classical=classical,
        d_fixed=cfg.d_fixed,
        kappa_fixed=cfg.kappa_fixed,
        kappa_range=(cfg.kappa_range[0], cfg.kappa_range[1]),
        d_range=(cfg.d_range[0], cfg.d_range[1]) if cfg.d_range else None,
        points=cfg.points,
        best=best,
    )
    ft = None
    fto = cfg.fault_tolerant
    if fto.enabled:
        pairs, source = None, "illustrative (not measured blocks)"
        if fto.decisions is not None:
            pairs = ft_analysis.read_decisions_csv(fto.decisions)
            source = f"from {fto.decisions}"
        ft = compute_fault_tolerant(
            cfg.n,
            fto.hardware,
            fto.data_loading,
            classical=classical,
            query_model=cfg.query_model,
            eps=cfg.qlsa_eps,
            error_budget=fto.error_budget,
            readout=cfg.readout,
            readout_precision=cfg.readout_precision,
            best_classical_seconds=ft_best["seconds"],
            best_classical_label=ft_best["label"],
            pairs=pairs,
            pairs_source=source,
            map_points=fto.map_points,
            map_kappa_range=(fto.map_kappa_range[0], fto.map_kappa_range[1]),
            max_log2_n=fto.max_log2_n,
        )
    run.write_csv("costs.csv", ({k: r.get(k) for k in CSV_COLUMNS} for r in result["rows"]))
    run.write_json(
        "crossovers.json",
        {
            **{k: result[k] for k in ("settings", "classical", "crossovers", "at_measured_block")},
            "best_classical": best,
            "best_classical_for_fault_tolerant": ft_best,
        },
    )
    run.save_figure(_plot(result, best), "costs.png")
    if ft is not None:
        run.write_csv("ft_maps.csv", ({k: r.get(k) for k in FT_MAP_COLUMNS} for r in ft["maps"]["rows"]))
        run.write_csv("ft_what_it_would_take.csv", ({k: r.get(k) for k in FT_TABLE_COLUMNS} for r in ft["table"]))
        doc = {k: ft[k] for k in ("settings", "table", "examples")}
        doc["map_summary"] = ft["maps"]["summary"]
        doc["classical"] = ft["maps"]["classical"]
        run.write_json("ft.json", doc)
        note = (
            "qdk.estimator.LogicalCounts input per data-loading method (key 'logical_counts'). The estimator "
            "computes run times in 64-bit nanoseconds: above ~1e17 CCZ its run time wraps around or it does not "
            "return; qnewton estimates such circuits in slices (qnewton.cost.fault_tolerant)."
        )
        run.write_json("ft_logical_counts.json", {"note": note, **ft["logical_counts"]})
        run.save_figure(_plot_maps(ft), "ft_maps.png")
    run.write_report(_report(result, best, ft, ft_best))
    run.complete()
    return run.root


def summary_lines(out: str | Path) -> list[str]:
    """A few lines for the terminal from a finished run folder."""
    import json

    root = Path(out)
    doc = json.loads((root / "crossovers.json").read_text())
    c = doc["classical"]
    lines = [f"dense Cholesky (the paper's classical cost): {c['seconds']:.4g} s per solve ({c['basis']}, "
             f"C = {c['c']:.4g} s/N^3)"]  # fmt: skip
    best = doc.get("best_classical")
    if best:
        cg, wb = best["cg"], best["woodbury"]
        parts = [f"cg {cg['measured_seconds']:.3g} s ({cg['iterations']} iterations)" if cg["converged"]
                 else "cg did not converge"]  # fmt: skip
        parts.append(f"woodbury {wb['measured_seconds']:.3g} s" if wb["applies"] else "woodbury declines")
        lines.append(f"best classical route on the fc1 block (N = {best['n']}, measured): " + ", ".join(parts))
    lines.append("crossovers of the modeled quantum route with dense Cholesky:")
    for cx in doc["crossovers"]:
        fixed = ", ".join(f"{k} = {v:g}" for k, v in cx["fixed"].items())
        extra = f"; vs best classical: {_where(cx['vs_best_classical'])}" if "vs_best_classical" in cx else ""
        lines.append(f"  {cx['gate_time_name']:>14} ({cx['gate_time_s']:.3g} s), {fixed}: {_where(cx)}{extra}")
    if (root / "ft.json").exists():
        ft = json.loads((root / "ft.json").read_text())
        lines.append("fault-tolerant (modeled): grid points where the quantum route is cheaper than Cholesky")
        for sm in ft["map_summary"]:
            lines.append(f"  {sm['hardware']:>17} / {sm['data_loading']:<12}: {sm['quantum_wins_vs_cholesky']} of "
                         f"{sm['points']}")  # fmt: skip
        lines += [f"note: {x}" for x in ft["settings"]["notes"]]
    lines.append(f"report: {root / 'report.md'}")
    return lines
