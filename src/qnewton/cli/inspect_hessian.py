"""`qnewton inspect`: the linear-algebra core on a real Hessian from the embedded default data.

The options are the fields of :class:`qnewton.experiments.inspect_hessian.InspectConfig`; the study
is :func:`qnewton.experiments.inspect_hessian.inspect_hessian`. Prints to stdout, writes no files.
"""

from __future__ import annotations

import argparse

from ._options import add_config_options, config_from_args, debug_option

DESCRIPTION = (
    "Trains nothing: forms the exact 650 x 650 Hessian of softmax regression (Linear 64 -> 10, L2 1e-3) on "
    "scikit-learn's bundled digits and prints what Q-Newton's scheduler looks at: the condition number of "
    "H + eps I by each estimator (exact, Lanczos, Gershgorin, Merikoski) with its measured time, the p%%-sparsity "
    "profile of the rows, symmetric pruning to oracle sparsities d = ratio N, and kappa as eps grows."
)
EXAMPLE = "qnewton inspect --eps 0.1 --d-ratios 1 0.5 0.05"
RUNTIME = (
    "about 35 s at the defaults (measured once, the 2 cores shared with other jobs); the first run also compiles "
    "the numba kernels: about 2 min"
)


def run(args: argparse.Namespace) -> int:
    from ..experiments.inspect_hessian import InspectConfig, inspect_hessian

    inspect_hessian(config_from_args(InspectConfig, args, args._parser))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from ..experiments.inspect_hessian import InspectConfig

    p = sub.add_parser(
        "inspect",
        help="the linear-algebra core on a real Hessian from the embedded digits data",
        description=DESCRIPTION,
        epilog=f"example:\n  {EXAMPLE}\n\nrun time on a 2-core machine: {RUNTIME}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_options(p, InspectConfig)
    debug_option(p)
    p.set_defaults(func=run, _parser=p)
