"""``qnewton costs``: classical vs quantum cost of one Hessian-block solve (the Q-Newton paper's Fig. 5),
with the paper's classical cost (dense Cholesky C N^3) and the best classical route (cg, woodbury,
measured on the paper DNN's fc1 block) side by side; ``--fault-tolerant`` adds the same block priced
on an error-corrected machine.

The options are the fields of :class:`qnewton.experiments.costs.CostsConfig` (the study lives in
:mod:`qnewton.experiments.costs`); the run folder gets a manifest, ``report.md`` and every file
atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._options import add_config_options, common_run_options, config_from_args

DESCRIPTION = (
    "One Hessian-block solve of size N, classical vs quantum, as kappa grows (d fixed) and as the oracle "
    "sparsity d grows (kappa fixed): the paper's Fig. 5. The quantum route is MODELED (query count x gate time); "
    "the paper's classical cost, dense Cholesky C N^3, is a prediction with C calibrated here (or --classical-c); "
    "the best classical route is MEASURED on the paper DNN's fc1 block (784-16-16-10 after 20 SGD steps, exact "
    "Hessian, regularized by --measure-eps): the cg and woodbury routes' solves, and cg over the kappa sweep as a "
    "calibrated prediction from the measured product time. Crossovers are root-found against both. "
    "--fault-tolerant adds crossover maps and the table 'what it would take' on error-corrected hardware, against "
    "dense Cholesky and the measured best classical route (or --best-classical-seconds). Writes costs.csv, "
    "costs.png, crossovers.json, best_classical.json, report.md and manifest.json (and ft_* files) into --out."
)
EXAMPLE = "qnewton costs --gate-time ghz atto --points 100 --out runs/costs"
RUNTIME = (
    "about 40 s at the defaults on Fashion-MNIST (measured once, the 2 cores shared with other jobs; a machine's "
    "first run adds about 20 s of one-off calibration); --best-classical none: about 10 s; --fault-tolerant with "
    "qdk: a few minutes more"
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``costs`` subcommand."""
    from ..experiments.costs import CostsConfig

    p = sub.add_parser(
        "costs",
        help="classical vs quantum cost of one block solve as kappa and d grow (paper Fig. 5), best classical beside",
        description=DESCRIPTION,
        epilog=f"example:\n  {EXAMPLE}\n\nrun time on a 2-core machine: {RUNTIME}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_options(p, CostsConfig)
    common_run_options(p, "runs/costs")
    p.set_defaults(func=run, _parser=p)


def run(args: argparse.Namespace) -> int:
    """Build the config from the options, run, print a summary."""
    from ..experiments.costs import CostsConfig, run_costs, summary_lines

    cfg = config_from_args(CostsConfig, args, args._parser)
    path = run_costs(cfg, args.out, fresh=args.fresh, progress=not args.no_progress)
    print("\n".join(summary_lines(path)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qnewton.cli.costs ...``: this subcommand alone (one-line errors, exit code 2)."""
    from . import main as qnewton_main

    return qnewton_main(["costs", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
