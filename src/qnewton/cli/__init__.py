"""The ``qnewton`` command line. Each subcommand lives in its own module of this package and
registers itself through a ``register(subparsers)`` function listed in ``_COMMANDS``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module name -> one-line summary; the module must define register(subparsers) -> None
_COMMANDS: dict[str, str] = {
    "inspect_hessian": "the linear-algebra core on a real Hessian from the embedded data",
    "costs": "classical vs quantum cost of one block solve as kappa and d grow (paper Fig. 5)",
    "experiments": "the paper's tables and figures, one subcommand each",
    "convergence": "Newton (GGN-CG, K-FAC) vs SGD and AdamW on transformers, steps to SGD's loss",
    "train": "train the paper's DNN with Q-Newton (distributed under torchrun)",
    "carleman": "Hessian spectra, dissipativity and Carleman-linearized gradient descent (Liu et al. 2024)",
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="qnewton",
        description="Hybrid quantum-classical Newton training: every Hessian solve routed by cost. "
        "Times are labelled measured (on this machine) or modeled (query count x gate time).",
    )
    parser.add_argument("--version", action="version", version=f"qnewton {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMANDS:
        importlib.import_module(f"{__name__}.{module}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qnewton`` console script and of ``python -m qnewton``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
