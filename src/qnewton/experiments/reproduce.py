"""Run every experiment of the paper's evaluation, at full size or ``quick`` (minutes, on the
embedded digits data and Python's help texts), and write an index report linking them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..carleman.studies import (
    CarlemanCostConfig,
    CarlemanErrorConfig,
    CarlemanTrainConfig,
    run_carleman_cost,
    run_carleman_error,
    run_carleman_train,
)
from ..spectrum.study import SpectrumConfig, run_spectrum
from ._run import RunDir
from .convergence import ConvergenceConfig, run_convergence
from .costs import CostsConfig, run_costs
from .oracle_sparsity import OracleSparsityConfig, run_oracle_sparsity
from .qsvt_degree import QSVTDegreeConfig, run_qsvt_degree
from .regularization import RegularizationConfig, run_regularization
from .routes import RoutesConfig, run_routes
from .sparsity_profile import ProfileConfig, run_profile
from .table2 import Table2Config, run_table2
from .table3 import Table3Config, run_table3
from .table4 import Table4Config, run_table4
from .training import CostSettings

__all__ = ["EXPERIMENTS", "quick_configs", "run_reproduce"]

#: The experiments, by their subcommand names (``qnewton <name>``, ``reproduce --only <name>``).
EXPERIMENTS = (
    "table2",
    "table3",
    "table4",
    "profile",
    "regularization",
    "sparsity",
    "routes",
    "convergence",
    "costs",
    "qsvt-degree",
    "spectrum",
    "carleman-error",
    "carleman-train",
    "carleman-cost",
)
_RUNNERS: dict[str, Callable[..., Path]] = {
    "table2": run_table2,
    "table3": run_table3,
    "table4": run_table4,
    "profile": run_profile,
    "regularization": run_regularization,
    "sparsity": run_oracle_sparsity,
    "routes": run_routes,
    "convergence": run_convergence,
    "costs": run_costs,
    "qsvt-degree": run_qsvt_degree,
    "spectrum": run_spectrum,
    "carleman-error": run_carleman_error,
    "carleman-train": run_carleman_train,
    "carleman-cost": run_carleman_cost,
}
_TITLES = {
    "table2": "Table II: kappa-estimation time vs N",
    "table3": "Table III: DNN, SGD / classical / quantum / Q-Newton",
    "table4": "Table IV: language model, the same four arms",
    "profile": "Fig. 6: p%-sparsity of Hessian rows",
    "regularization": "Fig. 8: accuracy and kappa vs eps",
    "sparsity": "Fig. 1 left: accuracy vs oracle sparsity",
    "routes": "Fig. 1 right: costs per step and routes",
    "convergence": "Fig. 2 e (revised paper): Newton vs SGD/AdamW on GPT-2, steps to SGD's loss",
    "costs": "Fig. 5 and beyond: classical vs quantum cost of one block solve (paper's and fault-tolerant models)",
    "qsvt-degree": "the QSVT circuit's own query count vs kappa and eps",
    "spectrum": "Carleman paper: Hessian spectra and dissipativity along training",
    "carleman-error": "Carleman paper: linearization error vs truncation order",
    "carleman-train": "Carleman paper: sparse training with download/re-upload",
    "carleman-cost": "Carleman paper: modeled quantum cost vs measured classical time",
}


def quick_configs(dataset: str = "digits", costs: CostSettings | None = None, seed: int = 0) -> dict[str, Any]:
    """Small settings for every image experiment: seconds each on two CPU cores (``make demo``).

    ``digits`` (8x8, 64 features) keeps the DNN's first-layer block at 1024 x 1024 instead of the
    paper's 12544 x 12544; everything else is the full pipeline. The Newton runs start after 40 SGD
    steps (test accuracy about 0.7), so that what Newton, pruning and eps change is larger than the
    run-to-run noise of a few steps on 360 test images. Table IV (a language model) is not in the
    quick set: it does not learn anything in seconds (run ``qnewton table4``, about 10 minutes).
    """
    costs = costs or CostSettings()
    common: dict[str, Any] = dict(dataset=dataset, seed=seed)
    return {
        "table2": Table2Config(sizes=(10, 100, 1000), exact_max=1000, repeats=2, warmup_steps=5, **common),
        "table3": Table3Config(
            n_test=None, sgd_arm_steps=80, warmup_steps=40, newton_steps=10, eval_every=5, costs=costs, **common
        ),
        "profile": ProfileConfig(steps=(0, 10), **common),
        "regularization": RegularizationConfig(
            n_test=None, eps_values=(1e-2, 1e-1, 1.0, 10.0), warmup_steps=40, newton_steps=6, costs=costs, **common
        ),
        "sparsity": OracleSparsityConfig(
            n_test=None, ratios=(1.0, 0.4, 0.1), warmup_steps=40, newton_steps=6, costs=costs, **common
        ),
        "routes": RoutesConfig(
            n_test=None,
            warmup_steps=10,
            newton_steps=8,
            costs=replace(costs, gate_time="ghz") if costs.gate_time == "atto" else costs,
            **common,
        ),
        "costs": CostsConfig(),
        "qsvt-degree": QSVTDegreeConfig.quick(),
        "spectrum": SpectrumConfig.quick(seed=seed),
        "carleman-error": CarlemanErrorConfig.quick(seed=seed),
        "carleman-train": CarlemanTrainConfig.quick(seed=seed),
        "carleman-cost": CarlemanCostConfig.quick(seed=seed),
    }


#: What the quick run leaves out, and why (listed in its index report).
QUICK_SKIPS = {
    "table4": "a transformer does not learn anything in seconds; run `qnewton table4` (about 10 min)",
    "convergence": "a transformer trained for 200 steps per arm; run `qnewton convergence --quick` (about a minute) "
    "or `qnewton convergence` (about 8 min per seed and arm set)",
}


QUICK_GUIDE = (
    "On the embedded digits (8 x 8 images, a 1024 x 1024 first-layer block), after 40 SGD steps: Table III's "
    "Newton arms on the classical routes reach the accuracy of SGD's 80 steps in fewer steps than SGD but take "
    "longer per step (measured), while the quantum arm's pruned direction lags behind them; the best classical "
    "route's step costs a fraction of the dense Cholesky one. Fig. 1 left: accuracy falls as d/N shrinks. "
    "Fig. 8: kappa falls by orders of magnitude as eps grows. Fig. 1 right: the modeled quantum cost against "
    "the predicted classical costs per step, and how far pruning turns the quantum route's direction away from "
    "the exact one (cosines). Quantum times are modeled, never measured."
)


def full_configs(costs: CostSettings | None = None, seed: int = 0, dataset: str | None = None) -> dict[str, Any]:
    """Every experiment at its defaults (the image ones on ``dataset``, default auto)."""
    costs = costs or CostSettings()
    image: dict[str, Any] = {"dataset": dataset or "auto", "seed": seed}
    return {
        "table2": Table2Config(**image),
        "table3": Table3Config(costs=costs, **image),
        "table4": Table4Config(costs=costs, seed=seed),
        "profile": ProfileConfig(**image),
        "regularization": RegularizationConfig(costs=costs, **image),
        "sparsity": OracleSparsityConfig(costs=costs, **image),
        "routes": RoutesConfig(costs=replace(costs, gate_time="ghz") if costs.gate_time == "atto" else costs, **image),
        "convergence": ConvergenceConfig(seeds=(seed,)),
        "costs": CostsConfig(),
        "qsvt-degree": QSVTDegreeConfig(),
        "spectrum": SpectrumConfig(seed=seed),
        "carleman-error": CarlemanErrorConfig(seed=seed),
        "carleman-train": CarlemanTrainConfig(seed=seed),
        "carleman-cost": CarlemanCostConfig(seed=seed),
    }


def run_reproduce(
    configs: dict[str, Any],
    out: str | Path,
    *,
    only: tuple[str, ...] | None = None,
    fresh: bool = False,
    progress: bool = True,
    skips: dict[str, str] | None = None,
    guide: str = "",
) -> Path:
    """Run the experiments in ``configs`` (all of :data:`EXPERIMENTS` by default) into ``out/<name>``;
    the index report lists ``skips`` (name -> why) and ends with ``guide`` (what a reader should see)."""
    names = [n for n in EXPERIMENTS if n in configs and (only is None or n in only)]
    index = RunDir(
        out, "reproduce", {"experiments": names, "configs": {n: repr(configs[n]) for n in names}}, fresh=fresh
    )
    done: list[dict[str, Any]] = []
    for name in names:
        t0 = time.perf_counter()
        if progress:
            print(f"[{len(done) + 1}/{len(names)}] {_TITLES[name]} ...", flush=True)
        path = _RUNNERS[name](configs[name], Path(out) / name, fresh=fresh, progress=progress)
        done.append(
            {
                "experiment": name,
                "title": _TITLES[name],
                "report": str(Path(name) / "report.md"),
                "seconds_measured": time.perf_counter() - t0,
                "folder": str(path),
            }
        )
    skipped = {n: why for n, why in (skips or {}).items() if only is None or n in only}
    index.write_json("results.json", {"experiments": done, "skipped": skipped})
    lines = [
        "# Reproduction of the Q-Newton paper's evaluation",
        "",
        "Each experiment has its own folder with JSON, CSV, PNG and a Markdown report. Wall times are "
        "measured on this machine; quantum solve times in the reports are modeled (query count x gate "
        "time) and labelled so.",
        "",
        "| experiment | report | wall time [s] (measured) |",
        "|---|---|---|",
    ]
    for d in done:
        lines.append(f"| {d['title']} | [{d['report']}]({d['report']}) | {d['seconds_measured']:.1f} |")
    for name, why in skipped.items():
        lines.append(f"| {_TITLES.get(name, name)} | not run: {why} | |")
    if guide:
        lines += ["", "## What to look for", "", guide]
    index.write_report("\n".join(lines))
    index.complete()
    return index.root
