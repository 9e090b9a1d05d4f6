"""The ``qnewton`` command line. Each subcommand lives in its own module of this package and
registers itself through a ``register(subparsers)`` function listed in ``_COMMANDS``.

Errors: a bad option or any :class:`~qnewton.errors.QNewtonError` prints one line on stderr
(``qnewton <command>: error: ...``, naming the option as typed and the fix) and exits with code 2,
without a traceback (``--debug`` shows it). A run that fails is marked ``failed`` in its manifest;
rerunning never gets refused because of that.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

# module name -> one-line summary; the module must define register(subparsers) -> None
_COMMANDS: dict[str, str] = {
    "inspect_hessian": "the linear-algebra core on a real Hessian from the embedded data",
    "costs": "classical vs quantum cost of one block solve as kappa and d grow (paper Fig. 5)",
    "experiments": "the paper's tables and figures, one subcommand each",
    "convergence": "Newton (GGN-CG, K-FAC) vs SGD and AdamW on transformers, steps to SGD's loss",
    "train": "train the paper's DNN with Q-Newton (distributed under torchrun)",
    "carleman": "Hessian spectra, dissipativity and Carleman-linearized gradient descent (Liu et al. 2024)",
    "qsvt_degree": "the QSVT circuit's measured query count vs the QLSA bounds",
}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit code 2) instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    from .. import __version__

    parser = Parser(
        prog="qnewton",
        description="Hybrid quantum-classical Newton training: every Hessian block solve routed, by cost, "
        "between classical routes (dense Cholesky, Newton-CG, Woodbury) and an emulated quantum linear solver. "
        "Times are labelled measured (on this machine) or modeled (a cost model).",
    )
    parser.add_argument("--version", action="version", version=f"qnewton {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error (default: one line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in _COMMANDS:
        importlib.import_module(f"{__name__}.{module}").register(sub)
    return parser


def _one_line(message: Any) -> str:
    return " ".join(str(message).split())


def _show_warning(
    message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    print(f"qnewton: warning: {_one_line(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qnewton`` console script and of ``python -m qnewton``."""
    from ..errors import QNewtonError
    from ..experiments._run import mark_active

    parser = build_parser()
    old_show = warnings.showwarning
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if not debug:  # deprecation notices (some raised while parsing) in one line, no source quote
        warnings.showwarning = _show_warning
    try:
        args = parser.parse_args(argv)
    except BaseException:
        warnings.showwarning = old_show
        raise
    if not getattr(args, "func", None):
        warnings.showwarning = old_show
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except QNewtonError as exc:
        mark_active("failed", exc)
        if debug:
            raise
        print(f"qnewton {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        mark_active("interrupted")
        print(f"qnewton {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BaseException as exc:
        mark_active("failed", exc)
        raise
    finally:
        warnings.showwarning = old_show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
