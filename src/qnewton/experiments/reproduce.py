"""Run every experiment of the paper's evaluation, at full size or ``quick`` (minutes, on the
embedded digits data and Python's help texts), and write an index report linking them."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._run import RunDir
from .oracle_sparsity import OracleSparsityConfig, run_oracle_sparsity
from .regularization import RegularizationConfig, run_regularization
from .routes import RoutesConfig, run_routes
from .sparsity_profile import ProfileConfig, run_profile
from .table2 import Table2Config, run_table2
from .table3 import Table3Config, run_table3
from .table4 import Table4Config, run_table4
from .training import CostSettings

__all__ = ["EXPERIMENTS", "quick_configs", "run_reproduce"]

#: The experiments, by their subcommand names (``qnewton <name>``, ``reproduce --only <name>``).
EXPERIMENTS = ("table2", "table3", "table4", "profile", "regularization", "sparsity", "routes")
_RUNNERS = {
    "table2": run_table2,
    "table3": run_table3,
    "table4": run_table4,
    "profile": run_profile,
    "regularization": run_regularization,
    "sparsity": run_oracle_sparsity,
    "routes": run_routes,
}
_TITLES = {
    "table2": "Table II: kappa-estimation time vs N",
    "table3": "Table III: DNN, SGD / classical / quantum / Q-Newton",
    "table4": "Table IV: language model, the same four arms",
    "profile": "Fig. 6: p%-sparsity of Hessian rows",
    "regularization": "Fig. 8: accuracy and kappa vs eps",
    "sparsity": "Fig. 1 left: accuracy vs oracle sparsity",
    "routes": "Fig. 1 right: costs per step and routes",
}


def quick_configs(dataset: str = "digits", costs: CostSettings | None = None, seed: int = 0) -> dict[str, Any]:
    """Small settings for every experiment: seconds to a minute each on two CPU cores.

    ``digits`` (8x8, 64 features) keeps the DNN's first-layer block at 1024 x 1024 instead of the
    paper's 12544 x 12544; everything else is the full pipeline.
    """
    costs = costs or CostSettings()
    common = dict(dataset=dataset, seed=seed)
    return {
        "table2": Table2Config(sizes=(10, 100, 1000), exact_max=1000, repeats=2, warmup_steps=5, **common),
        "table3": Table3Config(
            n_test=None, sgd_arm_steps=60, warmup_steps=10, newton_steps=8, eval_every=2, costs=costs, **common
        ),
        "table4": Table4Config(
            model="mistral",
            hidden_size=32,
            num_layers=2,
            block_size=32,
            n_train_blocks=256,
            n_eval_blocks=16,
            batch_size=8,
            curvature_batch_size=8,
            sgd_arm_steps=30,
            warmup_steps=5,
            newton_steps=4,
            eval_every=3,
            max_block_size=4096,
            costs=costs,
            seed=seed,
        ),
        "profile": ProfileConfig(steps=(0, 10), **common),
        "regularization": RegularizationConfig(
            n_test=None, eps_values=(1e-2, 1e-1, 1.0, 10.0), warmup_steps=10, newton_steps=5, costs=costs, **common
        ),
        "sparsity": OracleSparsityConfig(
            n_test=None, ratios=(1.0, 0.4, 0.1), warmup_steps=10, newton_steps=5, costs=costs, **common
        ),
        "routes": RoutesConfig(
            n_test=None,
            warmup_steps=3,
            newton_steps=8,
            costs=replace(costs, gate_time="ghz") if costs.gate_time == "atto" else costs,
            **common,
        ),
    }


def full_configs(costs: CostSettings | None = None, seed: int = 0, dataset: str | None = None) -> dict[str, Any]:
    """Every experiment at its defaults (the image ones on ``dataset``, default auto)."""
    costs = costs or CostSettings()
    image = {"dataset": dataset or "auto", "seed": seed}
    return {
        "table2": Table2Config(**image),
        "table3": Table3Config(costs=costs, **image),
        "table4": Table4Config(costs=costs, seed=seed),
        "profile": ProfileConfig(**image),
        "regularization": RegularizationConfig(costs=costs, **image),
        "sparsity": OracleSparsityConfig(costs=costs, **image),
        "routes": RoutesConfig(costs=replace(costs, gate_time="ghz") if costs.gate_time == "atto" else costs, **image),
    }


def run_reproduce(
    configs: dict[str, Any],
    out: str | Path,
    *,
    only: tuple[str, ...] | None = None,
    fresh: bool = False,
    progress: bool = True,
) -> Path:
    """Run the experiments in ``configs`` (all of :data:`EXPERIMENTS` by default) into ``out/<name>``."""
    names = [n for n in EXPERIMENTS if n in configs and (only is None or n in only)]
    index = RunDir(
        out, "reproduce", {"experiments": names, "configs": {n: repr(configs[n]) for n in names}}, fresh=fresh
    )
    done = []
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
    index.write_json("results.json", {"experiments": done})
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
    index.write_report("\n".join(lines))
    index.complete()
    return index.root
