"""Subcommands for the Carleman-linearization paper (Liu et al., Nat. Commun. 15, 434 (2024)):

* ``qnewton spectrum``: Hessian eigenvalue densities (SLQ) and dissipativity along training;
* ``qnewton carleman-error``: error of the discrete Carleman linearization vs K, eta, T and
  dissipativity, the system's condition number, every solver on one system;
* ``qnewton carleman-train``: sparse training by Carleman windows with download and re-upload;
* ``qnewton carleman-cost``: modeled quantum cost vs calibrated classical gradient descent over n.

Each writes JSON + CSV + PNG + report.md into ``--out``; ``--quick`` runs a seconds-long version.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ._options import config_values, gate_time


def _common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--quick", action="store_true", help="a seconds-long version (small sizes)")
    p.add_argument("--out", type=Path, default=Path(default_out), help=f"run folder (default {default_out})")
    p.add_argument("--fresh", action="store_true", help="overwrite a previous run with other settings in --out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress lines")


def _config(cls: type, args: argparse.Namespace) -> Any:
    """The study's config: the defaults (or ``--quick``'s sizes) with the given options on top."""
    base = cls.quick(args.seed) if args.quick else cls(seed=args.seed)
    return dataclasses.replace(base, **config_values(cls, args))


def _done(path: Path) -> int:
    print(f"report: {path / 'report.md'}")
    return 0


def _spectrum(args: argparse.Namespace) -> int:
    from ..spectrum import SpectrumConfig, run_spectrum

    cfg = _config(SpectrumConfig, args)
    return _done(run_spectrum(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _error(args: argparse.Namespace) -> int:
    from ..carleman.studies import CarlemanErrorConfig, run_carleman_error

    cfg = _config(CarlemanErrorConfig, args)
    if args.no_circuit:
        cfg = dataclasses.replace(cfg, solvers=tuple(s for s in cfg.solvers if s != "circuit"))
    return _done(run_carleman_error(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _train(args: argparse.Namespace) -> int:
    from ..carleman.studies import CarlemanTrainConfig, run_carleman_train

    cfg = _config(CarlemanTrainConfig, args)
    return _done(run_carleman_train(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _cost(args: argparse.Namespace) -> int:
    from ..carleman.studies import CarlemanCostConfig, run_carleman_cost

    cfg = _config(CarlemanCostConfig, args)
    return _done(run_carleman_cost(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``spectrum``, ``carleman-error``, ``carleman-train`` and ``carleman-cost`` subcommands."""
    p = sub.add_parser(
        "spectrum",
        help="Hessian eigenvalue density (SLQ) and dissipativity along training (Liu et al. 2024, Figs. 2-3)",
        description="SGD on the digits MLP; at each checkpoint the SLQ density of the full Hessian from "
        "Hessian-vector products, the dense spectrum for comparison, the pruned model's spectrum and a "
        "fully/almost/not dissipative verdict. All figures measured.",
    )
    p.add_argument("--dataset", default=None, help="digits (64 features, default) or digits-784 (the paper DNN input)")
    p.add_argument("--hidden", type=int, nargs="+", default=None, help="hidden widths of the ReLU MLP")
    p.add_argument("--checkpoints", type=int, nargs="+", default=None, help="SGD steps to measure at")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--num-probes", dest="num_probes", type=int, default=None)
    p.add_argument("--lanczos-steps", dest="lanczos_steps", type=int, default=None)
    p.add_argument("--prune-density", dest="prune_density", type=float, default=None)
    p.add_argument("--hessian-samples", dest="hessian_samples", type=int, default=None)
    _common(p, "runs/spectrum")
    p.set_defaults(func=_spectrum)

    p = sub.add_parser(
        "carleman-error",
        help="discrete Carleman linearization of GD: error vs K, eta, T, dissipativity; kappa; all solvers",
        description="Solves the T-step Carleman system of gradient descent on a polynomial-gradient problem and "
        "compares the recovered trajectory with exact gradient descent (measured).",
    )
    p.add_argument("--Ks", type=int, nargs="+", default=None, help="truncation orders")
    p.add_argument("--etas", type=float, nargs="+", default=None, help="learning rates of the eta sweep")
    p.add_argument("--Ts", type=int, nargs="+", default=None, help="step counts of the T sweep")
    p.add_argument("--eta", type=float, default=None, help="base learning rate")
    p.add_argument("--T", type=int, default=None, help="base number of steps")
    p.add_argument("--no-circuit", action="store_true", help="skip the QSVT circuit backend")
    _common(p, "runs/carleman_error")
    p.set_defaults(func=_error)

    p = sub.add_parser(
        "carleman-train",
        help="sparse training by Carleman windows with download (tomography) and re-upload",
        description="Pruned two-layer linear network on digits (4 vs 9): windows of T GD steps, each solved as one "
        "Carleman system, read out with modeled tomography noise and re-uploaded; compared with exact GD.",
    )
    p.add_argument("--eta", type=float, default=None)
    p.add_argument("--window", type=int, default=None, help="steps per window (between re-uploads)")
    p.add_argument("--windows", type=int, default=None)
    p.add_argument("--K", type=int, default=None, help="Carleman truncation order")
    p.add_argument("--solver", choices=["direct", "cholesky", "emulated", "emulated-noisy", "circuit"], default=None)
    p.add_argument("--keep", type=int, default=None, help="weights of W1 kept after pruning")
    p.add_argument("--positive", type=int, default=None, help="the digit labelled +1 (negative: 9)")
    p.add_argument("--delta", type=float, default=None, help="tomography l2 accuracy")
    p.add_argument("--gate-time", dest="gate_time", type=gate_time, default=None)
    _common(p, "runs/carleman_train")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "carleman-cost",
        help="modeled O(T polylog n) / O(T^2 polylog n) QLSA cost vs classical O(T n) gradient descent",
        description="Quantum: modeled (Jennings v1 queries for the Carleman system's size, sparsity and condition "
        "number, plus tomography readout). Classical: T n (s+1) c with c timed here.",
    )
    p.add_argument("--Ts", type=int, nargs="+", default=None)
    p.add_argument("--K", type=int, default=None)
    p.add_argument("--row-sparsity", dest="row_sparsity", type=int, default=None)
    p.add_argument("--eps", type=float, default=None)
    p.add_argument("--gate-time", dest="gate_time", type=gate_time, default=None)
    p.add_argument("--parameter-density", dest="parameter_density", type=float, default=None)
    _common(p, "runs/carleman_cost")
    p.set_defaults(func=_cost)
