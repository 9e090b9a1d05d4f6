"""``qnewton costs``: classical vs quantum cost of one Hessian-block solve (the Q-Newton paper's Fig. 5).

Two sweeps for a block of size N (default 12544, the paper's DNN Hessian block): the cost as the
condition number kappa grows at oracle sparsity d = 1000, and as d grows at kappa = 1e4 (the
settings of the paper's Fig. 5). The quantum cost is **modeled** (query count x gate time, an
idealized figure); the classical cost is C N^3, a **prediction** whose C is calibrated on this
machine (or given with ``--classical-c``). Crossovers are found by root finding, not read off the
grid. Writes ``costs.csv``, ``costs.png``, ``crossovers.json`` and ``report.md`` into ``--out``.

``--fault-tolerant`` adds the quantum route priced on an error-corrected machine
(:class:`qnewton.cost.FaultTolerantCostModel`: the matrix loaded by QROM / QROAM / an assumed QRAM
on every query, logical counts -> Azure Quantum Resource Estimator): crossover maps over (kappa, d)
at N for each hardware preset and data-loading method against dense Cholesky and, if given with
``--best-classical-seconds``, the best classical route measured here; and the table "what it would
take" for (kappa, d) pairs (``--decisions`` CSV, or illustrative defaults): the logical cycle time
at which the quantum route would tie, and the first N at which it would win, or "never below
N = 2^40". Writes ``ft_maps.csv``, ``ft_maps.png``, ``ft_what_it_would_take.csv``, ``ft.json`` and
``ft_logical_counts.json`` (the estimator's LogicalCounts input, to rerun with that tool).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_FT_PAIRS",
    "FT_MAP_COLUMNS",
    "FT_TABLE_COLUMNS",
    "compute_costs",
    "compute_fault_tolerant",
    "main",
    "register",
    "run",
    "write_ft_outputs",
    "write_outputs",
]

#: Columns of ``costs.csv`` (one row per sweep point and gate time).
CSV_COLUMNS: tuple[str, ...] = (
    "sweep",
    "kappa",
    "d",
    "alpha",
    "n",
    "query_model",
    "eps",
    "readout",
    "gate_time_name",
    "gate_time_s",
    "quantum_queries",
    "quantum_modeled_seconds",
    "classical_seconds",
    "classical_basis",
    "cheaper",
)
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
_IDEALIZED = "quantum: modeled, idealized (logical query counts x physical gate time)"


def _gate_time_arg(text: str) -> GateTime:
    try:
        return resolve_gate_time(text)
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _query_model_arg(text: str) -> str:
    try:
        return get_query_model(text).name
    except InvalidArgumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return v


def register(subparsers: Any) -> None:
    """Add the ``costs`` subcommand to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "costs",
        help="classical vs quantum cost of one block solve as kappa and d grow (paper Fig. 5)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=_positive_int, default=12544, help="block size N (default 12544, the paper's)")
    p.add_argument(
        "--gate-time",
        type=_gate_time_arg,
        action="append",
        metavar="PRESET|SECONDS",
        help=f"time per query step; repeat for several curves. Presets: {', '.join(GATE_TIME_PRESETS)} "
        f"(default: all four)",
    )
    p.add_argument(
        "--readout",
        choices=READOUTS,
        default="none",
        help="none: the paper's solve-only cost; tomography: end to end (copies + norm)",
    )
    p.add_argument(
        "--readout-precision",
        type=_positive_float,
        default=0.1,
        help="l2 accuracy delta of the tomographic estimate (default 0.1)",
    )
    p.add_argument(
        "--query-model",
        type=_query_model_arg,
        default="jennings-v1",
        help=f"one of {', '.join(QUERY_MODELS)} (default jennings-v1)",
    )
    p.add_argument(
        "--eps",
        type=_positive_float,
        default=1e-12,
        help="output-state accuracy (default 1e-12, the paper's)",
    )
    p.add_argument(
        "--classical-c",
        type=_positive_float,
        default=None,
        metavar="C",
        help="fixed seconds per N^3; default: calibrate here (cached)",
    )
    p.add_argument("--recalibrate", action="store_true", help="measure C again instead of using the cache")
    p.add_argument("--d-fixed", type=_positive_float, default=1000.0, help="d of the kappa sweep (1000)")
    p.add_argument("--kappa-fixed", type=_positive_float, default=1e4, help="kappa of the d sweep (1e4)")
    p.add_argument(
        "--kappa-range",
        type=_positive_float,
        nargs=2,
        metavar=("LO", "HI"),
        default=(JENNINGS_V1_KAPPA_MIN, 1e16),
        help="kappa range (sqrt(12) .. 1e16)",
    )
    p.add_argument(
        "--d-range",
        type=_positive_float,
        nargs=2,
        metavar=("LO", "HI"),
        default=None,
        help="d sweep range (default 1 .. N)",
    )
    p.add_argument("--points", type=_positive_int, default=200, help="points per sweep (200)")
    p.add_argument("--out", type=Path, default=Path("results/costs"), help="output directory")
    ftg = p.add_argument_group(
        "fault-tolerant machine",
        "the quantum route priced on an error-corrected machine (modeled; needs qnewton[ft] except for "
        "--hardware paper)",
    )
    ftg.add_argument("--fault-tolerant", action="store_true", help="add the fault-tolerant maps and table")
    ftg.add_argument(
        "--hardware",
        action="append",
        choices=list(FT_HARDWARE_PRESETS),
        help="hardware preset; repeat for several (default: all, or only 'paper' without qdk)",
    )
    ftg.add_argument(
        "--data-loading",
        action="append",
        choices=list(DATA_LOADINGS),
        help=f"how the matrix is loaded per query; repeat (default: {' '.join(DEFAULT_FT_LOADINGS)})",
    )
    ftg.add_argument("--error-budget", type=_positive_float, default=1e-3, help="estimator error budget (1e-3)")
    ftg.add_argument(
        "--best-classical-seconds",
        type=_positive_float,
        default=None,
        metavar="S",
        help="seconds of the best classical route measured here for this N (default: not measured, omitted)",
    )
    ftg.add_argument(
        "--decisions",
        type=Path,
        default=None,
        metavar="CSV",
        help="(kappa, d) of real blocks, a CSV with columns kappa and d (default: illustrative points)",
    )
    ftg.add_argument("--map-points", type=_positive_int, default=12, help="grid points per axis of the maps (12)")
    ftg.add_argument(
        "--map-kappa-range",
        type=_positive_float,
        nargs=2,
        metavar=("LO", "HI"),
        default=(4.0, 1e8),
        help="kappa range of the maps (4 .. 1e8)",
    )
    ftg.add_argument(
        "--max-log2-n", type=_positive_int, default=ft_analysis.MAX_LOG2_N, help="largest N = 2^k searched (40)"
    )
    p.set_defaults(func=run)


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
) -> dict[str, Any]:
    """Both sweeps and their crossovers; returns ``{"rows", "crossovers", "settings", "classical"}``.

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
    kappas = np.geomspace(kappa_range[0], kappa_range[1], points)
    ds = np.geomspace(d_range[0], d_range[1], points)
    rows: list[dict[str, Any]] = []
    crossovers: list[dict[str, Any]] = []
    for sweep, xs in (("kappa", kappas), ("d", ds)):
        kappa_arg = xs if sweep == "kappa" else kappa_fixed
        d_arg = d_fixed if sweep == "kappa" else xs
        fixed = d_fixed if sweep == "kappa" else kappa_fixed
        lo, hi = kappa_range if sweep == "kappa" else d_range
        for m in models:
            q = m.estimate(n, kappa=kappa_arg, d=d_arg)
            qs = np.broadcast_to(np.asarray(q.seconds), xs.shape)
            qq = np.broadcast_to(np.asarray(q.queries), xs.shape)
            alpha = np.broadcast_to(np.asarray(q.details["alpha"]), xs.shape)
            gt = m.gate_time
            assert isinstance(gt, GateTime)
            for i, x in enumerate(xs):
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
                    }
                )
            cx = find_crossover(m, classical, n, vary=sweep, fixed=fixed, lo=lo, hi=hi)
            crossovers.append({"gate_time_name": gt.name, "gate_time_s": gt.seconds, **cx.to_dict()})
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
        "labels": {"quantum": _IDEALIZED, "classical": c_est.basis},
    }
    classical_info = {"seconds": c_est.seconds, "basis": c_est.basis, **c_est.details}
    return {"rows": rows, "crossovers": crossovers, "settings": settings, "classical": classical_info}


def write_outputs(result: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write ``costs.csv``, ``crossovers.json`` and ``costs.png`` into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "costs.csv", "json": out / "crossovers.json", "png": out / "costs.png"}
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in result["rows"]:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(
            {k: result[k] for k in ("settings", "classical", "crossovers")},
            f,
            indent=2,
            default=_json_default,
        )
        f.write("\n")
    _plot(result, paths["png"])
    return paths


def _json_default(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def _plot(result: dict[str, Any], path: Path) -> None:
    # The Agg canvas directly, not pyplot: no global backend switch in the caller's session.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    s, c = result["settings"], result["classical"]
    rows = result["rows"]
    fig = Figure(figsize=(13, 5.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, sweep in zip(axes, ("kappa", "d"), strict=True):
        sel = [r for r in rows if r["sweep"] == sweep]
        missing: list[str] = []
        names = list(dict.fromkeys(r["gate_time_name"] + f"@{r['gate_time_s']!r}" for r in sel))
        xs_all = sorted({r[sweep] for r in sel})
        how = "calibrated here" if c["basis"] == "calibrated-prediction" else "given C"
        ax.plot(xs_all, [c["seconds"]] * len(xs_all), color="black", lw=2,
                label=f"classical C·N³ = {c['seconds']:.3g} s ({c['basis']}, {how})")  # fmt: skip
        for j, key in enumerate(names):
            pts = [r for r in sel if r["gate_time_name"] + f"@{r['gate_time_s']!r}" == key]
            color = colors[j % len(colors)]
            label = f"quantum, t_g = {pts[0]['gate_time_s']:.3g} s ({pts[0]['gate_time_name']}; modeled)"
            ys = [r["quantum_modeled_seconds"] for r in pts]
            ax.plot([r[sweep] for r in pts], ys, "--", color=color, label=label)
            for cx in result["crossovers"]:
                if cx["vary"] == sweep and cx["gate_time_name"] + f"@{cx['gate_time_s']!r}" == key:
                    if cx["status"] == "crossover":
                        ax.plot([cx["value"]], [cx["seconds"]], "o", color=color, ms=8, mec="black")
                        ax.axvline(cx["value"], color=color, ls=":", lw=1)
                        # label on the side with more room (log scale), so it is never clipped
                        right = math.log(cx["value"]) < 0.5 * (math.log(cx["lo"]) + math.log(cx["hi"]))
                        ax.annotate(f"{'κ' if sweep == 'kappa' else 'd'}* = {cx['value']:.3g}",
                                    (cx["value"], cx["seconds"]), textcoords="offset points",
                                    xytext=(6 if right else -6, -14), ha="left" if right else "right",
                                    fontsize=8, color=color)  # fmt: skip
                    else:
                        missing.append(f"{cx['gate_time_name']}: {cx['status'].replace('-', ' ')}")
        if missing:
            ax.text(0.99, 0.02, "no crossover in range: " + "; ".join(missing), transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7.5, color="dimgray", wrap=True)  # fmt: skip
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
        ax.legend(fontsize=7.5, loc="upper left")
    gts = ", ".join(f"{g['name']} {g['seconds']:.3g} s" for g in s["gate_times"])
    readout = s["readout"] + (f" (δ = {s['readout_precision']:g})" if s["readout"] == "tomography" else "")
    fig.suptitle(
        f"One N = {s['n']} solve: classical vs quantum "
        f"[{s['query_model']}, ε = {s['eps']:g}, readout: {readout}]\n"
        f"gate time: {gts}\n"
        f"quantum = modeled (idealized: logical query counts × gate time); classical = {c['basis']}",
        fontsize=10,
    )
    fig.savefig(path, dpi=120)


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
            "best_classical": (
                "measured here (given)" if best_classical_seconds is not None else ft_analysis.NOT_MEASURED
            ),
        },
        "notes": notes,
    }
    return {"settings": settings, "maps": maps, "table": table, "examples": examples, "logical_counts": counts}


def write_ft_outputs(result: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write ``ft_maps.csv``, ``ft_maps.png``, ``ft_what_it_would_take.csv``, ``ft.json`` and
    ``ft_logical_counts.json`` into ``out``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "maps_csv": out / "ft_maps.csv",
        "maps_png": out / "ft_maps.png",
        "table_csv": out / "ft_what_it_would_take.csv",
        "json": out / "ft.json",
        "logical_counts": out / "ft_logical_counts.json",
    }
    for key, cols, rows in (("maps_csv", FT_MAP_COLUMNS, result["maps"]["rows"]),
                            ("table_csv", FT_TABLE_COLUMNS, result["table"])):  # fmt: skip
        with open(paths[key], "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else (repr(r[k]) if isinstance(r.get(k), float) else r[k]))
                            for k in cols})  # fmt: skip
    doc = {k: result[k] for k in ("settings", "table", "examples")}
    doc["map_summary"] = result["maps"]["summary"]
    doc["classical"] = result["maps"]["classical"]
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, default=_json_default)
        f.write("\n")
    with open(paths["logical_counts"], "w", encoding="utf-8") as f:
        note = (
            "qdk.estimator.LogicalCounts input per data-loading method (key 'logical_counts'). The estimator "
            "computes run times in 64-bit nanoseconds: above ~1e17 CCZ its run time wraps around or it does not "
            "return; qnewton estimates such circuits in slices (qnewton.cost.fault_tolerant)."
        )
        json.dump({"note": note, **result["logical_counts"]}, f, indent=2)
        f.write("\n")
    _plot_maps(result, paths["maps_png"])
    return paths


def _log_edges(v: np.ndarray) -> np.ndarray:
    """Cell edges of a log-spaced grid: geometric midpoints, extended by half a step at both ends."""
    lv = np.log(np.asarray(v, dtype=float))
    if lv.size == 1:
        return np.exp(np.array([lv[0] - 0.5, lv[0] + 0.5]))
    mid = 0.5 * (lv[1:] + lv[:-1])
    return np.exp(np.concatenate([[lv[0] - (mid[0] - lv[0])], mid, [lv[-1] + (lv[-1] - mid[-1])]]))


def _plot_maps(result: dict[str, Any], path: Path) -> None:
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
            if np.nanmin(z) < 0 < np.nanmax(z):
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
        f"best classical measured here: {best if isinstance(best, str) else f'{best:.3g} s (dashed)'}\n"
        f"quantum: MODELED [{s['query_model']}, ε = {s['eps']:g}, error budget {s['error_budget']:g}, "
        f"readout {s['readout']}]; grey: the estimator refused (e.g. code distance > its maximum)",
        fontsize=10,
    )
    fig.savefig(path, dpi=100)


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.3g}"
    return str(x)


def write_report(result: dict[str, Any], ft: dict[str, Any] | None, out: Path, command: str) -> Path:
    """``report.md``: the Fig. 5 crossovers and, with ``ft``, the fault-tolerant summary and table."""
    from .._machine import describe

    s, c = result["settings"], result["classical"]
    lines = [
        "# qnewton costs",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {describe().get('cpu')} ({describe().get('cpu_count')} cores). Classical C N^3: "
        f"{c['basis']} (C = {c['c']:.4g} s/N^3). Every quantum time below is **modeled** (nothing ran).",
        "",
        f"## Fig. 5: queries x gate time (idealized), N = {s['n']}, {s['query_model']}, eps = {s['eps']:g}",
        "",
        "| gate time | fixed | crossover |",
        "|---|---|---|",
    ]
    for cx in result["crossovers"]:
        where = f"{cx['vary']}* = {cx['value']:.4g}" if cx["status"] == "crossover" else cx["status"]
        fixed = ", ".join(f"{k} = {v:g}" for k, v in cx["fixed"].items())
        lines.append(f"| {cx['gate_time_name']} ({cx['gate_time_s']:.3g} s) | {fixed} | {where} |")
    if ft is not None:
        fs, maps = ft["settings"], ft["maps"]
        best = maps["classical"]["best_classical_seconds"]
        lines += [
            "",
            f"## Fault-tolerant machine (modeled), N = {fs['n']}",
            "",
            f"Query model {fs['query_model']}, eps = {fs['eps']:g}, error budget {fs['error_budget']:g}, readout "
            f"{fs['readout']}, alpha = d. Estimator: {fs['estimator'] or 'not installed'}. Dense Cholesky: "
            f"{maps['classical']['cholesky_seconds']:.4g} s ({maps['classical']['basis']}); best classical route "
            f"measured here: {best if isinstance(best, str) else f'{best:.4g} s'}.",
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
    path = Path(out) / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(args: argparse.Namespace) -> int:
    """The ``costs`` command: compute, write the files, print a summary."""
    gate_times = args.gate_time or [resolve_gate_time(g) for g in DEFAULT_GATE_TIMES]
    try:
        classical = (
            ClassicalCostModel(c=args.classical_c)
            if args.classical_c is not None
            else ClassicalCostModel(recalibrate=args.recalibrate)
        )
        result = compute_costs(
            args.n,
            gate_times,
            readout=args.readout,
            readout_precision=args.readout_precision,
            query_model=args.query_model,
            eps=args.eps,
            classical=classical,
            d_fixed=args.d_fixed,
            kappa_fixed=args.kappa_fixed,
            kappa_range=tuple(args.kappa_range),
            d_range=tuple(args.d_range) if args.d_range else None,
            points=args.points,
        )
    except QNewtonError as exc:
        print(f"qnewton costs: error: {exc}", file=sys.stderr)
        return 2
    ft = None
    if getattr(args, "fault_tolerant", False):
        try:
            pairs, source = None, "illustrative (not measured blocks)"
            if args.decisions is not None:
                pairs = ft_analysis.read_decisions_csv(args.decisions)
                source = f"from {args.decisions}"
            ft = compute_fault_tolerant(
                args.n,
                args.hardware,
                args.data_loading or DEFAULT_FT_LOADINGS,
                classical=classical,
                query_model=args.query_model,
                eps=args.eps,
                error_budget=args.error_budget,
                readout=args.readout,
                readout_precision=args.readout_precision,
                best_classical_seconds=args.best_classical_seconds,
                pairs=pairs,
                pairs_source=source,
                map_points=args.map_points,
                map_kappa_range=tuple(args.map_kappa_range),
                max_log2_n=args.max_log2_n,
            )
        except (QNewtonError, ImportError) as exc:
            print(f"qnewton costs: error: {exc}", file=sys.stderr)
            return 2
    paths = write_outputs(result, args.out)
    if ft is not None:
        paths.update(write_ft_outputs(ft, args.out))
    from ..experiments._run import environment

    paths["report"] = write_report(result, ft, args.out, environment()["command"])
    c = result["classical"]
    print(f"classical: {c['seconds']:.4g} s per solve ({c['basis']}, C = {c['c']:.4g} s/N^3)")
    for cx in result["crossovers"]:
        where = f"{cx['vary']}* = {cx['value']:.4g}" if cx["status"] == "crossover" else cx["status"]
        fixed = ", ".join(f"{k} = {v:g}" for k, v in cx["fixed"].items())
        print(f"  {cx['gate_time_name']:>14} ({cx['gate_time_s']:.3g} s), {fixed}: {where}")
    if ft is not None:
        print("fault-tolerant (modeled): grid points where the quantum route is cheaper than Cholesky")
        for sm in ft["maps"]["summary"]:
            wins = f"{sm['quantum_wins_vs_cholesky']} of {sm['points']}"
            print(f"  {sm['hardware']:>17} / {sm['data_loading']:<12}: {wins}")
        for note in ft["settings"]["notes"]:
            print(f"note: {note}")
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qnewton costs`` standalone (for tests and ``python -m qnewton.cli.costs``)."""
    parser = argparse.ArgumentParser(prog="qnewton")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["costs", *(argv or [])])
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
