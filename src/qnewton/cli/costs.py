"""``qnewton costs``: classical vs quantum cost of one Hessian-block solve (the Q-Newton paper's Fig. 5).

Two sweeps for a block of size N (default 12544, the paper's DNN Hessian block): the cost as the
condition number kappa grows at oracle sparsity d = 1000, and as d grows at kappa = 1e4 (the
settings of the paper's Fig. 5). The quantum cost is **modeled** (query count x gate time, an
idealized figure); the classical cost is C N^3, a **prediction** whose C is calibrated on this
machine (or given with ``--classical-c``). Crossovers are found by root finding, not read off the
grid. Writes ``costs.csv``, ``costs.png`` and ``crossovers.json`` into ``--out``.
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
    GATE_TIME_PRESETS,
    QUERY_MODELS,
    READOUTS,
    ClassicalCostModel,
    GateTime,
    QuantumCostModel,
    find_crossover,
    get_query_model,
    resolve_gate_time,
)
from ..cost.queries import JENNINGS_V1_KAPPA_MIN
from ..errors import InvalidArgumentError, QNewtonError

__all__ = ["CSV_COLUMNS", "compute_costs", "main", "register", "run", "write_outputs"]

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
    paths = write_outputs(result, args.out)
    c = result["classical"]
    print(f"classical: {c['seconds']:.4g} s per solve ({c['basis']}, C = {c['c']:.4g} s/N^3)")
    for cx in result["crossovers"]:
        where = f"{cx['vary']}* = {cx['value']:.4g}" if cx["status"] == "crossover" else cx["status"]
        fixed = ", ".join(f"{k} = {v:g}" for k, v in cx["fixed"].items())
        print(f"  {cx['gate_time_name']:>14} ({cx['gate_time_s']:.3g} s), {fixed}: {where}")
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
