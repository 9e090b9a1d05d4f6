"""``qnewton convergence``: SGD and AdamW vs Newton (layer-wise GGN with CG, or K-FAC) on a small
GPT-2, BERT or Mistral, step for step (the revised paper's Fig. 2 e). Options are the fields of
:class:`qnewton.experiments.convergence.ConvergenceConfig`; every help text shows the default."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ._options import add_config_options, config_from_args, debug_option, usage_error


def _run(args: argparse.Namespace) -> int:
    from ..errors import InvalidArgumentError
    from ..experiments.convergence import ConvergenceConfig, quick_config, run_convergence

    cfg = config_from_args(ConvergenceConfig, args, args._parser)
    if args.quick:  # the tiny preset, then what was given explicitly on top
        given = set(vars(args)) & {f.name for f in dataclasses.fields(ConvergenceConfig)}
        try:
            cfg = quick_config(**{k: getattr(cfg, k) for k in given})
        except InvalidArgumentError as exc:
            raise usage_error(exc, args._parser) from exc
    path = run_convergence(cfg, args.out, fresh=args.fresh, progress=not args.no_progress)
    print(f"report: {path / 'report.md'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from ..experiments.convergence import ConvergenceConfig

    p = sub.add_parser(
        "convergence",
        help="Newton (GGN-CG, K-FAC) vs SGD and AdamW on GPT-2/BERT/Mistral, steps to SGD's loss (Fig. 2 e)",
        description="Training-loss curves of SGD, AdamW and Newton (layer-wise GGN with CG, or K-FAC with the "
        "exact kron-eig solve) on a small transformer from scratch, and the steps each arm needs to reach SGD's "
        "training loss at SGD's last step. Checkpointed and resumable (rerun the same command).",
        epilog="run time on a 2-core CPU: about 8 min per seed for SGD, AdamW and Newton-KFAC at the defaults; "
        "Newton-GGN about 20 s per step",
    )
    add_config_options(p, ConvergenceConfig)
    p.add_argument(
        "--quick",
        action="store_true",
        help="a tiny setting for a try or a test (width 16, 1 layer, 16 tokens, batch 4, 6 steps; options given "
        "above override it): under a minute (default off)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/convergence"), help="run folder (default runs/convergence)")
    p.add_argument(
        "--fresh", action="store_true", help="discard a previous run in --out instead of resuming (default off)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: bars on)")
    debug_option(p)
    p.set_defaults(func=_run, _parser=p)
