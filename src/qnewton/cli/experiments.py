"""Experiment subcommands: one per table/figure of the Q-Newton paper, plus `reproduce`.

Each writes JSON + CSV + PNG + a Markdown report into its run folder (``--out``) and resumes from
its checkpoint when rerun with the same settings (``--fresh`` starts over). The options of each
command are generated from the fields of its config dataclass (``qnewton.cli._options``), so the
help, the defaults and the checks are the config's own.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass, fields
from typing import Any

from ._options import add_config_options, common_run_options, config_from_args


@dataclass(frozen=True)
class Command:
    """A subcommand: its experiment module, config class, runner and help."""

    module: str
    config: str
    runner: str
    help: str
    description: str
    example: str
    runtime: str

    def config_class(self) -> type:
        return getattr(importlib.import_module(f"qnewton.experiments.{self.module}"), self.config)


#: Subcommand name -> what it runs. The names are those of `reproduce --only` too.
COMMANDS: dict[str, Command] = {
    "table2": Command(
        "table2",
        "Table2Config",
        "run_table2",
        "paper Table II: kappa-estimation time vs block size",
        "Times each condition-number estimator on leading blocks of a real Hessian (the DNN's fc1 block) "
        "beside the paper's H100 figures, with each estimate's error against the exact SVD.",
        "qnewton table2 --sizes 10 100 1000 --out runs/table2",
        "about 1 min at the defaults",
    ),
    "table3": Command(
        "table3",
        "Table3Config",
        "run_table3",
        "paper Table III: the DNN with SGD / classical / best classical / quantum / Q-Newton",
        "Trains the paper's DNN with SGD and the Newton arms (dense Cholesky, the best classical route, the "
        "quantum route, the hybrid); steps to SGD's best test accuracy, seconds per step and in total, measured "
        "and modeled times in separate columns. --paper-scale: the paper's batch 2048, 1500 SGD and 1000 Newton "
        "steps, eps 1.0 (hours).",
        "qnewton table3 --newton-steps 10 --out runs/table3",
        "about 30 min at the defaults (--paper-scale: about 2 h)",
    ),
    "table4": Command(
        "table4",
        "Table4Config",
        "run_table4",
        "paper Table IV: Mistral/BERT with SGD / classical / quantum / Q-Newton",
        "Trains a small transformers Mistral (or BERT) from scratch on the embedded corpus with the same arms, "
        "layer-wise empirical Fisher curvature; evaluation loss against steps and time.",
        "qnewton table4 --model bert --newton-steps 5 --out runs/table4",
        "about 10 min at the defaults",
    ),
    "profile": Command(
        "sparsity_profile",
        "ProfileConfig",
        "run_profile",
        "paper Fig. 6: p%-sparsity of Hessian rows at two training steps",
        "How many entries of each Hessian row carry p% of its absolute mass, at the given SGD steps.",
        "qnewton profile --steps 0 10 --out runs/profile",
        "about 1 min at the defaults",
    ),
    "regularization": Command(
        "regularization",
        "RegularizationConfig",
        "run_regularization",
        "paper Fig. 8: accuracy and kappa vs eps",
        "Newton runs at several regularizations eps: test accuracy and the blocks' condition numbers.",
        "qnewton regularization --eps-values 0.01 0.1 1 --newton-steps 5 --out runs/regularization",
        "about 15 min at the defaults",
    ),
    "sparsity": Command(
        "oracle_sparsity",
        "OracleSparsityConfig",
        "run_oracle_sparsity",
        "paper Fig. 1 left: accuracy vs oracle sparsity, symmetric vs row-wise pruning",
        "Quantum-route Newton runs with the blocks pruned to d = ratio N, the paper's symmetric pruning against "
        "the reference code's row-wise top-d.",
        "qnewton sparsity --ratios 1 0.4 0.1 --newton-steps 5 --out runs/sparsity",
        "about 30 min at the defaults",
    ),
    "routes": Command(
        "routes",
        "RoutesConfig",
        "run_routes",
        "paper Fig. 1 right: each route's cost per step, the route taken, pruning vs shift",
        "A Q-Newton run quoting every route for every block: dense Cholesky (the paper's classical cost), the "
        "best classical route and the quantum route per step; and the quantum route's direction with and "
        "without pruning and the definiteness shift.",
        "qnewton routes --newton-steps 10 --out runs/routes",
        "about 5 min at the defaults",
    ),
}


def _run(args: argparse.Namespace) -> int:
    cmd = COMMANDS[args.command]
    cls = cmd.config_class()
    cfg = config_from_args(cls, args, args._parser)
    if getattr(args, "paper_scale", False):  # the preset, then what was given explicitly on top
        given = {k.split(".")[0] for k in vars(args)} & {f.name for f in fields(cls)}
        cfg = cls.paper_scale(**{k: getattr(cfg, k) for k in given})  # type: ignore[attr-defined]
    runner = getattr(importlib.import_module(f"qnewton.experiments.{cmd.module}"), cmd.runner)
    path = runner(cfg, args.out, fresh=args.fresh, progress=not args.no_progress)
    print(f"report: {path / 'report.md'}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from ..experiments import reproduce as R
    from ..experiments.training import CostSettings

    costs = config_from_args(CostSettings, args, args._parser, prefix="costs.")
    if args.quick:
        configs, skips, guide = (
            R.quick_configs(args.dataset or "digits", costs, args.seed),
            R.QUICK_SKIPS,
            R.QUICK_GUIDE,
        )
    else:
        configs, skips, guide = R.full_configs(costs, args.seed, args.dataset), {}, ""
    only = tuple(args.only) if args.only else None
    path = R.run_reproduce(
        configs, args.out, only=only, fresh=args.fresh, progress=not args.no_progress, skips=skips, guide=guide
    )
    print(f"report: {path / 'report.md'}")
    return 0


def _parser(sub: argparse._SubParsersAction, name: str, help: str, description: str, example: str, runtime: str) -> Any:
    return sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=f"example:\n  {example}\n\nrun time: {runtime} on a 2-core machine (measured; see docs/RESULTS.md)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def register(sub: argparse._SubParsersAction) -> None:
    for name, cmd in COMMANDS.items():
        p = _parser(sub, name, cmd.help, cmd.description, cmd.example, cmd.runtime)
        add_config_options(p, cmd.config_class())
        if name == "table3":
            p.add_argument(
                "--paper-scale",
                action="store_true",
                help="the paper's setting: batch 2048, --sgd-arm-steps 1500, --newton-steps 1000, --eps 1.0, "
                "--eval-every 25, full test set, --newton-budget-min 25 (each Newton arm stops after 25 min of step "
                "time: about 2 h in all on 2 cores); options given explicitly still win (default: off)",
            )
        common_run_options(p, f"runs/{name}")
        p.set_defaults(func=_run, _parser=p)

    from ..experiments.reproduce import EXPERIMENTS

    p = _parser(
        sub,
        "reproduce",
        "every table and figure of the paper into one run folder (--quick: about 2 min)",
        "Runs every experiment command (and the cost, spectrum and Carleman studies) into one folder with an "
        "index report. --quick: small sizes on the embedded data; the main demo (`make demo`).",
        "qnewton reproduce --quick --out runs/demo",
        "about 2 min with --quick; several hours at full size",
    )
    p.add_argument("--quick", action="store_true", help="small sizes on the embedded data (default: full size)")
    p.add_argument(
        "--dataset",
        default=None,
        choices=("digits", "digits-784", "fashion-mnist"),
        help="image data set of the image experiments (default: digits with --quick, else auto)",
    )
    p.add_argument("--only", nargs="+", default=None, choices=EXPERIMENTS, help="run only these (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of every experiment (default: 0)")
    from ..experiments.training import CostSettings

    add_config_options(p, CostSettings, prefix="costs.", group=p.add_argument_group("cost models"))
    common_run_options(p, "runs/reproduce")
    p.set_defaults(func=_reproduce, _parser=p)
