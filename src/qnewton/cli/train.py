"""`qnewton train`: train the paper's DNN (or a wider MLP) with Q-Newton, in one process or many.

Plain::

    qnewton train --dataset fashion-mnist --steps 20 --out runs/train

Distributed (data-parallel curvature, blocks solved on the rank they are assigned to)::

    torchrun --nproc_per_node 2 -m qnewton train --dataset fashion-mnist --steps 20 --out runs/train

The options are the fields of :class:`qnewton.experiments.train.TrainConfig`; rerunning the same
command resumes from ``--out``'s checkpoint (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._options import add_config_options, config_from_args, debug_option

DESCRIPTION = (
    "Train the paper's DNN (or a wider MLP) with Q-Newton: every Hessian block routed by cost between dense "
    "Cholesky, Newton-CG, Woodbury and the emulated quantum route. Writes decisions.csv, history.json, "
    "summary.json and checkpoint.pt into --out; rerunning the same command resumes. Under torchrun "
    "(torchrun --nproc_per_node N -m qnewton train ...) the curvature is data-parallel and the blocks are "
    "solved on the rank they are assigned to."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``qnewton train`` (shared with ``benchmarks/distributed.py``)."""
    from ..experiments.train import TrainConfig

    add_config_options(p, TrainConfig)
    g = p.add_argument_group("run")
    g.add_argument("--out", type=Path, default=Path("runs/train"), help="run folder (default: runs/train)")
    g.add_argument("--fresh", action="store_true", help="start over instead of resuming --out's checkpoint")
    g.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="continue from this checkpoint.pt (every rank loads it; default: none)",
    )
    g.add_argument("--quiet", action="store_true", help="no per-step lines (default: one line per step)")
    debug_option(p)


def run(args: argparse.Namespace) -> int:
    """Train as configured; returns the exit status."""
    from ..experiments.train import TrainConfig, run_train

    cfg = config_from_args(TrainConfig, args, args._parser)
    run_train(cfg, args.out, fresh=args.fresh, resume=args.resume, quiet=args.quiet)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the paper's DNN (or a wider MLP) with Q-Newton; under torchrun, distributed",
        description=DESCRIPTION,
        epilog="example:\n  qnewton train --dataset digits --steps 10 --warmup-steps 2 --out runs/train\n\n"
        "run time: about 10 s at the defaults on a 2-core machine (digits; fashion-mnist: about 1 s per Newton step)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run, _parser=p)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qnewton.cli.train ...``: this subcommand alone (also under torchrun)."""
    from . import main as qnewton_main

    return qnewton_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
