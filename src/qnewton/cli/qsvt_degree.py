"""``qnewton qsvt-degree``: the QSVT circuit's own query count (its inverse polynomial's degree),
measured, beside the published QLSA query counts; and the circuit (N = 256) on pruned real Hessian
blocks of the digits network against the emulated QLSA and LAPACK.

The options are the fields of :class:`qnewton.experiments.qsvt_degree.QSVTDegreeConfig`; the run
folder (``--out``) gets a manifest, ``report.md`` and every file atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._options import add_config_options, common_run_options, config_from_args

DESCRIPTION = (
    "Part 1: the QSVT circuit's query count (the degree of its inverse polynomial) for each kappa and QLSA "
    "precision, MEASURED by computing the QSP phases and checking the response on the domain, beside the query "
    "counts of Jennings et al., Costa et al. and Dalzell (counts, not times). Part 2 (--hessian): the circuit "
    "(N <= 256, a state-vector simulation) on pruned, regularized diagonal blocks of the digits DNN's fc1 "
    "Hessian against the emulated QLSA and LAPACK: cosine and error against numpy, wall-clock seconds measured "
    "here, the fault-tolerant model's time modeled. Writes qsvt_degree.csv, hessian_blocks.csv, qsvt_degree.png, "
    "results.json, report.md and manifest.json into --out."
)
EXAMPLE = "qnewton qsvt-degree --quick --out runs/qsvt-degree"
RUNTIME = (
    "about 5 min at the defaults (estimated from the recorded docs/results/qsvt_degree manifest: created 06:48:51, "
    "updated 06:54:02); --quick: about 25 s (measured once, machine shared)"
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``qsvt-degree`` subcommand."""
    from ..experiments.qsvt_degree import QSVTDegreeConfig

    p = sub.add_parser(
        "qsvt-degree",
        help="QSVT inversion degree (measured queries) vs QLSA bounds; the circuit on real Hessian blocks",
        description=DESCRIPTION,
        epilog=f"example:\n  {EXAMPLE}\n\nrun time on a 2-core machine: {RUNTIME}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_options(p, QSVTDegreeConfig)
    p.add_argument(
        "--quick",
        action="store_true",
        help="a run of seconds: kappas 2 10 1e4, --qlsa-eps 1e-2 1e-3, --angle-cap 301, one 16 x 16 block, "
        "--warmup-steps 2; options given explicitly still win (default: off)",
    )
    common_run_options(p, "runs/qsvt-degree")
    p.set_defaults(func=run, _parser=p)


def run(args: argparse.Namespace) -> int:
    """Build the config from the options (``--quick`` first, given options on top), run."""
    from dataclasses import fields

    from ..experiments.qsvt_degree import QSVTDegreeConfig, run_qsvt_degree

    cfg = config_from_args(QSVTDegreeConfig, args, args._parser)
    if args.quick:
        given = set(vars(args)) & {f.name for f in fields(QSVTDegreeConfig)}
        cfg = QSVTDegreeConfig.quick(**{k: getattr(cfg, k) for k in given})
    path = run_qsvt_degree(cfg, args.out, fresh=args.fresh, progress=not args.no_progress)
    print(f"report: {path / 'report.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qnewton.cli.qsvt_degree ...``: this subcommand alone (one-line errors, exit code 2)."""
    from . import main as qnewton_main

    return qnewton_main(["qsvt-degree", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
