"""``qnewton qsvt-degree``: the QSVT circuit's own query count (its inverse polynomial's degree),
measured, beside the published QLSA query counts; and the circuit (N = 256) on pruned real Hessian
blocks of the digits network against the emulated QLSA and LAPACK.

Writes ``qsvt_degree.csv``, ``hessian_blocks.csv``, ``qsvt_degree.png``, ``results.json``,
``manifest.json`` and ``report.md`` into ``--out``. Degrees are counts (nothing is a time);
solve times are measured wall clock here (the circuit's is a state-vector simulation); the
fault-tolerant column is modeled.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``qsvt-degree`` subcommand."""
    p = subparsers.add_parser(
        "qsvt-degree",
        help="QSVT inversion degree (measured queries) vs QLSA bounds; the circuit on real Hessian blocks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kappas", type=float, nargs="+", default=None, help="condition numbers (2 .. 1e4)")
    p.add_argument("--eps", dest="eps_values", type=float, nargs="+", default=None,
                   help="precisions (1e-2 1e-3 1e-6 1e-12)")  # fmt: skip
    p.add_argument("--angle-cap", type=int, default=None, help="largest degree whose phases are computed (1501)")
    p.add_argument("--angle-solver", choices=("newton", "auto", "fpi", "lbfgs"), default=None)
    p.add_argument("--no-hessian", action="store_true", help="skip the real Hessian blocks (part 2)")
    p.add_argument("--blocks", type=int, nargs="+", default=None, help="diagonal 256-blocks of fc1 (0 1 2 3)")
    p.add_argument("--block-size", type=int, default=None, help="block size, <= 256 (256)")
    p.add_argument("--prune-ratios", type=float, nargs="+", default=None, help="d/N of the pruning (1.0 0.4)")
    p.add_argument("--shifts", type=float, nargs="+", default=None, help="regularizations H + shift I")
    p.add_argument("--circuit-eps", type=float, default=None, help="precision of the circuit solves (1e-3)")
    p.add_argument("--warmup-steps", type=int, default=None, help="SGD steps before the Hessian (20)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="a small run (seconds): few kappas, one small block")
    p.add_argument("--out", type=Path, default=Path("results/qsvt_degree"), help="output directory")
    p.add_argument("--fresh", action="store_true", help="overwrite a previous run in --out")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the config from the options, run, print where the report is."""
    from ..errors import QNewtonError
    from ..experiments.qsvt_degree import QSVTDegreeConfig, run_qsvt_degree

    kw: dict[str, Any] = {}
    if args.quick:
        kw.update(kappas=(2.0, 10.0, 1e4), eps_values=(1e-2, 1e-3), angle_cap=301, blocks=(0,), block_size=16,
                  prune_ratios=(1.0,), shifts=(0.05,), warmup_steps=2)  # fmt: skip
    for name in ("kappas", "eps_values", "blocks", "prune_ratios", "shifts"):
        v = getattr(args, name)
        if v is not None:
            kw[name] = tuple(v)
    for name in ("angle_cap", "angle_solver", "block_size", "circuit_eps", "warmup_steps", "seed"):
        v = getattr(args, name)
        if v is not None:
            kw[name] = v
    if args.no_hessian:
        kw["hessian"] = False
    try:
        cfg = QSVTDegreeConfig(**kw)
        path = run_qsvt_degree(cfg, args.out, fresh=args.fresh, progress=not args.no_progress)
    except QNewtonError as exc:
        print(f"qnewton qsvt-degree: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {path / 'report.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``qnewton qsvt-degree`` standalone (tests, ``python -m qnewton.cli.qsvt_degree``)."""
    parser = argparse.ArgumentParser(prog="qnewton")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["qsvt-degree", *(argv or [])])
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
