"""Experiment subcommands: one per table/figure of the Q-Newton paper, plus `reproduce`.

Each writes JSON + CSV + PNG + a Markdown report into its run folder (``--out``) and resumes from
its checkpoint when rerun with the same settings (``--fresh`` starts over). Options are named after
the fields of the experiment's config dataclass (``dest=``), so :func:`_config` maps them over.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from pathlib import Path
from typing import Any

from ._options import config_values
from ._options import gate_time as parse_gate_time


def _config(cls: type, args: argparse.Namespace, **fixed: Any) -> Any:
    """The config dataclass ``cls`` from the parsed options whose names are its fields."""
    return cls(**{**config_values(cls, args), **fixed})


def _costs(args: argparse.Namespace):
    from ..experiments.training import CostSettings

    return CostSettings(gate_time=args.gate_time, readout=args.readout, classical_c=args.classical_c)


def _dataset(args: argparse.Namespace) -> str:
    from ..experiments._common import default_image_dataset

    return args.dataset or default_image_dataset()


# experiment -> (module, config class, runner); the module is imported only when the command runs
_EXPERIMENTS = {
    "table2": ("table2", "Table2Config", "run_table2"),
    "table3": ("table3", "Table3Config", "run_table3"),
    "table4": ("table4", "Table4Config", "run_table4"),
    "profile": ("sparsity_profile", "ProfileConfig", "run_profile"),
    "regularization": ("regularization", "RegularizationConfig", "run_regularization"),
    "sparsity": ("oracle_sparsity", "OracleSparsityConfig", "run_oracle_sparsity"),
    "routes": ("routes", "RoutesConfig", "run_routes"),
}


def _run(args: argparse.Namespace) -> int:
    module, cls_name, runner = _EXPERIMENTS[args.command]
    mod = importlib.import_module(f"..experiments.{module}", __package__)
    cls = getattr(mod, cls_name)
    fixed: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}
    if "costs" in names:
        fixed["costs"] = _costs(args)
    if "dataset" in names:
        fixed["dataset"] = _dataset(args)
    path = getattr(mod, runner)(_config(cls, args, **fixed), args.out, fresh=args.fresh, progress=not args.no_progress)
    print(f"report: {path / 'report.md'}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from ..experiments import reproduce as R

    costs = _costs(args)
    if args.quick:
        configs = R.quick_configs(args.dataset or "digits", costs, args.seed)
    else:
        ds = _dataset(args)
        configs = {}
        for name, (module, cls_name, _) in _EXPERIMENTS.items():
            cls = getattr(importlib.import_module(f"..experiments.{module}", __package__), cls_name)
            names = {f.name for f in dataclasses.fields(cls)}
            kw = {k: v for k, v in (("dataset", ds), ("costs", costs), ("seed", args.seed)) if k in names}
            configs["oracle_sparsity" if name == "sparsity" else name] = cls(**kw)
    only = tuple(args.only) if args.only else None
    if only and set(only) - set(R.EXPERIMENTS):
        raise SystemExit(
            f"qnewton reproduce: unknown --only {sorted(set(only) - set(R.EXPERIMENTS))}; choose from {R.EXPERIMENTS}"
        )
    path = R.run_reproduce(configs, args.out, only=only, fresh=args.fresh, progress=not args.no_progress)
    print(f"report: {path / 'report.md'}")
    return 0


# -- option groups --------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--out", type=Path, default=Path(default_out), help=f"run folder (default {default_out})")
    p.add_argument("--fresh", action="store_true", help="discard a previous run in --out instead of resuming")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _cost_options(p: argparse.ArgumentParser, gate_time: str = "atto") -> None:
    p.add_argument(
        "--gate-time",
        type=parse_gate_time,
        default=gate_time,
        help="quantum gate time: ibm_sherbrooke, ghz, thz, atto (the paper's, 1e-18 s) or seconds",
    )
    p.add_argument(
        "--readout",
        choices=["none", "tomography"],
        default="none",
        help="'none': the paper's solve-only cost; 'tomography': reading x out counted too",
    )
    p.add_argument(
        "--classical-c",
        type=float,
        default=None,
        help="fixed C of the classical cost C N^3 (default: calibrated on this machine, cached)",
    )


def _image_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="digits, digits-784, fashion-mnist, mnist or idx (default: fashion-mnist if installed)",
    )
    p.add_argument("--data-dir", dest="data_dir", default=None, help="folder with IDX files (mnist/idx)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)


def _training_options(p: argparse.ArgumentParser, eps_help: str = "regularization H + eps I") -> None:
    p.add_argument(
        "--warmup-steps", dest="warmup_steps", type=int, default=None, help="SGD steps before Newton (paper Sec. IV-B)"
    )
    p.add_argument("--newton-steps", dest="newton_steps", type=int, default=None)
    p.add_argument("--sgd-lr", dest="sgd_lr", type=float, default=None)
    p.add_argument("--lr", dest="newton_lr", type=float, default=None, help="Newton step size")
    p.add_argument("--eps", type=float, default=None, help=eps_help)
    p.add_argument(
        "--no-line-search",
        dest="line_search",
        action="store_false",
        default=None,
        help="fixed Newton step lr (the paper's Algorithm 1) instead of backtracking",
    )


def register(sub: argparse._SubParsersAction) -> None:
    eps_help = "regularization H + eps I (default 0.05; the paper used 1.0 on its data, see docs/RESULTS.md)"

    p = sub.add_parser("table2", help="paper Table II: kappa-estimation time vs block size")
    _image_options(p)
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="block sizes N (default 10 100 1000 10000)")
    p.add_argument("--exact-max", dest="exact_max", type=int, default=None, help="largest N for the SVD truth")
    p.add_argument("--eps", type=float, default=None)
    p.add_argument("--repeats", type=int, default=None)
    _common(p, "runs/table2")

    p = sub.add_parser(
        "table3",
        help="paper Table III: DNN with SGD / classical / quantum / Q-Newton",
        description="Steps to a target test accuracy, seconds per step and total time for the four "
        "methods; measured and modeled times in separate columns.",
    )
    _image_options(p)
    p.add_argument("--n-train", dest="n_train", type=int, default=None)
    p.add_argument("--n-test", dest="n_test", type=int, default=None)
    p.add_argument("--hidden", type=int, nargs="+", default=None, help="hidden sizes (default 16 16)")
    p.add_argument("--sgd-steps", dest="sgd_arm_steps", type=int, default=None, help="steps of the SGD arm")
    _training_options(p, eps_help)
    p.add_argument("--sparsity", type=float, default=None, help="oracle sparsity d/N (default: the 50%% rule)")
    p.add_argument(
        "--target",
        dest="target_accuracy",
        type=float,
        default=None,
        help="target test accuracy (default: the best the SGD arm reaches)",
    )
    p.add_argument("--eval-every", dest="eval_every", type=int, default=None)
    _cost_options(p)
    _common(p, "runs/table3")

    p = sub.add_parser("table4", help="paper Table IV: Mistral/BERT with SGD / classical / quantum / Q-Newton")
    p.add_argument("--model", choices=["mistral", "bert"], default=None)
    p.add_argument("--corpus", default=None, help="pydoc (embedded), wikitext, wikitext-2-raw, wikitext-103-raw")
    p.add_argument("--data-dir", dest="data_dir", default=None, help="folder with wiki.train.raw etc.")
    p.add_argument("--block-size", dest="block_size", type=int, default=None)
    p.add_argument("--n-train-blocks", dest="n_train_blocks", type=int, default=None)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    p.add_argument("--curvature-batch-size", dest="curvature_batch_size", type=int, default=None)
    p.add_argument("--sgd-steps", dest="sgd_arm_steps", type=int, default=None)
    _training_options(p, "regularization H + eps I (paper: 0.5 for Mistral)")
    p.add_argument("--target", dest="target_loss", type=float, default=None, help="target eval loss")
    p.add_argument("--eval-every", dest="eval_every", type=int, default=None)
    _cost_options(p)
    _common(p, "runs/table4")

    p = sub.add_parser("profile", help="paper Fig. 6: p%%-sparsity of Hessian rows at two training steps")
    _image_options(p)
    p.add_argument("--steps", type=int, nargs="+", default=None)
    _common(p, "runs/profile")

    p = sub.add_parser("regularization", help="paper Fig. 8: accuracy and kappa vs eps")
    _image_options(p)
    p.add_argument("--eps-values", dest="eps_values", type=float, nargs="+", default=None)
    _training_options(p)
    _cost_options(p)
    _common(p, "runs/regularization")

    p = sub.add_parser("sparsity", help="paper Fig. 1 left: accuracy vs oracle sparsity, symmetric vs row-wise")
    _image_options(p)
    p.add_argument("--ratios", type=float, nargs="+", default=None, help="d/N values (default 1 .6 .4 .2 .1 .05)")
    _training_options(p, eps_help)
    _cost_options(p)
    _common(p, "runs/oracle_sparsity")

    p = sub.add_parser("routes", help="paper Fig. 1 right: classical vs quantum cost per step and route")
    _image_options(p)
    _training_options(p, eps_help)
    _cost_options(p, gate_time="ghz")
    _common(p, "runs/routes")

    for name in _EXPERIMENTS:
        sub.choices[name].set_defaults(func=_run)

    p = sub.add_parser("reproduce", help="every table and figure, in one run folder (--quick: minutes)")
    p.add_argument("--quick", action="store_true", help="small sizes on the embedded data (a few minutes)")
    p.add_argument("--dataset", default=None, help="image data set (quick default: digits)")
    p.add_argument("--only", nargs="+", default=None, help="a subset of the experiments")
    _cost_options(p)
    _common(p, "runs/reproduce")
    p.set_defaults(func=_reproduce)
