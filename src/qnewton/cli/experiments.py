"""Experiment subcommands: one per table/figure of the Q-Newton paper, plus `reproduce`.

Each writes JSON + CSV + PNG + a Markdown report into its run folder (``--out``) and resumes from
its checkpoint when rerun with the same settings (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _gate_time(v: str) -> str | float:
    try:
        return float(v)
    except ValueError:
        return v


def add_common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--out", type=Path, default=Path(default_out), help=f"run folder (default {default_out})")
    p.add_argument("--fresh", action="store_true", help="discard a previous run in --out instead of resuming")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_costs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--gate-time",
        type=_gate_time,
        default="atto",
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


def costs_from(args: argparse.Namespace):
    from ..experiments.training import CostSettings

    return CostSettings(gate_time=args.gate_time, readout=args.readout, classical_c=args.classical_c)


def _done(path: Path) -> int:
    print(f"report: {path / 'report.md'}")
    return 0


# -- table3 -----------------------------------------------------------------------------------------
def _table3(args: argparse.Namespace) -> int:
    from ..experiments._common import default_image_dataset
    from ..experiments.table3 import Table3Config, run_table3

    cfg = Table3Config(
        dataset=args.dataset or default_image_dataset(),
        data_dir=args.data_dir,
        n_train=args.n_train,
        n_test=args.n_test,
        batch_size=args.batch_size,
        sgd_arm_steps=args.sgd_steps,
        newton_steps=args.newton_steps,
        warmup_steps=args.warmup_steps,
        sgd_lr=args.sgd_lr,
        newton_lr=args.lr,
        eps=args.eps,
        sparsity=args.sparsity,
        target_accuracy=args.target,
        eval_every=args.eval_every,
        costs=costs_from(args),
        seed=args.seed,
        hidden=tuple(args.hidden),
    )
    return _done(run_table3(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "table3",
        help="paper Table III: DNN with SGD / classical / quantum / Q-Newton",
        description="Steps to a target test accuracy, seconds per step and total time for the "
        "four methods; measured and modeled times in separate columns.",
    )
    p.add_argument(
        "--dataset",
        default=None,
        help="digits, digits-784, fashion-mnist, mnist or idx (default: fashion-mnist if installed)",
    )
    p.add_argument("--data-dir", default=None, help="folder with IDX files (mnist/idx/fashion-mnist)")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--hidden", type=int, nargs="+", default=[16, 16])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--sgd-steps", type=int, default=300, help="steps of the SGD arm")
    p.add_argument("--newton-steps", type=int, default=40, help="Newton steps of each Newton arm")
    p.add_argument("--warmup-steps", type=int, default=20, help="SGD steps before Newton (paper Sec. IV-B)")
    p.add_argument("--sgd-lr", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1.0, help="Newton step size")
    p.add_argument("--eps", type=float, default=1.0, help="regularization H + eps I (paper: 1.0)")
    p.add_argument("--sparsity", type=float, default=None, help="oracle sparsity as a ratio of N (default p=50%%)")
    p.add_argument("--target", type=float, default=None, help="target test accuracy (default: SGD's best)")
    p.add_argument("--eval-every", type=int, default=5)
    add_costs(p)
    add_common(p, "runs/table3")
    p.set_defaults(func=_table3)
