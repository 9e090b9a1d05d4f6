"""Subcommands for the Carleman-linearization paper (Liu et al., Nat. Commun. 15, 434 (2024)):

* ``qnewton spectrum``: Hessian eigenvalue densities (SLQ) and dissipativity along training;
* ``qnewton carleman-error``: error of the discrete Carleman linearization vs K, eta, T and
  dissipativity, the system's condition number, every solver on one system;
* ``qnewton carleman-train``: sparse training by Carleman windows with download and re-upload;
* ``qnewton carleman-cost``: modeled quantum cost vs calibrated classical gradient descent over n.

Each writes JSON + CSV + PNG + report.md into ``--out``; ``--quick`` runs a seconds-long version.
With ``--model resnet<depth>`` (ResNet-8/14/20/...: :mod:`qnewton.models.resnet`) ``spectrum`` and
``carleman-train`` run the studies at model scale (:mod:`qnewton.spectrum.scale`,
:mod:`qnewton.carleman.sparse`), checkpointed and resumable (``--stop-after`` splits a long run);
``carleman-cost --from-run DIR`` prices what such a run measured (:mod:`qnewton.carleman.scale_cost`).
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


def _stopped(path: Path) -> int:
    """Exit status 3: a run stopped by --stop-after; its checkpoint is in ``path``."""
    print(f"stopped before completion (--stop-after); rerun the same command to resume from {path / 'checkpoint.pt'}")
    return 3


def _is_scale(args: argparse.Namespace, scale_only: tuple[str, ...], what: str) -> bool:
    """True for ``--model resnet...``; for the small default model, refuse options it has no use for."""
    model = getattr(args, "model", None)
    if model is not None and model.lower() not in ("mlp", "linear"):
        return True
    given = [o for o in scale_only if getattr(args, o, None) not in (None, False)]
    if given:
        from ..errors import InvalidArgumentError

        opts = ", ".join("--" + o.replace("_", "-") for o in given)
        raise InvalidArgumentError(f"{opts} apply to `--model resnet<depth>` runs only; {what} has no such setting.")
    return False


_SPECTRUM_SCALE_ONLY = (
    "width", "norm", "data_dir", "n_train", "batch_size", "horizon", "proxy_horizon", "cost_scaling", "widths",
    "stop_after",
)  # fmt: skip
_TRAIN_SCALE_ONLY = (
    "width", "norm", "dataset", "data_dir", "n_train", "batch_size", "lr", "density", "steps", "pretrain_steps",
    "delta_sweep", "window_sweep", "readout", "copies_rule", "qram", "dense_steps", "reprune", "proxy_every",
    "eval_every", "spectrum_every", "stop_after",
)  # fmt: skip


def _spectrum(args: argparse.Namespace) -> int:
    if _is_scale(args, _SPECTRUM_SCALE_ONLY, "the digits MLP study (--model mlp)"):
        if args.cost_scaling:
            from ..spectrum.scale import SlqCostConfig, run_slq_cost

            cfg = _config(SlqCostConfig, args)
            cfg = dataclasses.replace(
                cfg, image=(args.channels or cfg.image[0], args.image_size or cfg.image[1]),
                num_classes=args.num_classes or cfg.num_classes,
            )  # fmt: skip
            return _done(run_slq_cost(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))
        from ..spectrum.scale import ScaleSpectrumConfig, run_scale_spectrum

        cfg = _config(ScaleSpectrumConfig, args)
        path = run_scale_spectrum(
            cfg, args.out, fresh=args.fresh, progress=not args.no_progress, max_checkpoints=args.stop_after
        )
        return _done(path) if not (path / "checkpoint.pt").exists() else _stopped(path)
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
    if _is_scale(args, _TRAIN_SCALE_ONLY, "the 9-parameter linear network study (--model linear)"):
        from ..carleman.sparse import ScaleTrainConfig, run_scale_train

        base = ScaleTrainConfig.quick(args.seed) if args.quick else None
        values = config_values(ScaleTrainConfig, args)
        cfg = (
            dataclasses.replace(base, **values)
            if base is not None
            else ScaleTrainConfig(**{"seed": args.seed, **values})
        )
        path = run_scale_train(
            cfg, args.out, fresh=args.fresh, progress=not args.no_progress, max_windows=args.stop_after
        )
        return _done(path) if not (path / "checkpoint.pt").exists() else _stopped(path)
    from ..carleman.studies import CarlemanTrainConfig, run_carleman_train

    cfg = _config(CarlemanTrainConfig, args)
    return _done(run_carleman_train(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))


def _cost(args: argparse.Namespace) -> int:
    if args.from_run:
        from ..carleman.scale_cost import ScaleCostConfig, run_scale_cost

        cfg = ScaleCostConfig(**config_values(ScaleCostConfig, args))
        return _done(run_scale_cost(cfg, args.out, fresh=args.fresh, progress=not args.no_progress))
    if args.quantum_model is not None or args.delta is not None:
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError("--quantum-model and --delta apply with --from-run DIR only.")
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
    g = p.add_argument_group("model scale (--model resnet<depth>)")
    g.add_argument(
        "--model", default=None, help="mlp (the digits MLP, default) or resnet8/14/20/32/...: the study at model scale"
    )
    g.add_argument("--width", type=int, default=None, help="channels of the ResNet's first stage (n ~ width^2)")
    g.add_argument("--norm", choices=["none", "batch"], default=None, help="norm-free (default) or BatchNorm")
    g.add_argument("--data-dir", dest="data_dir", default=None, help="IDX folder or .npz file (e.g. CIFAR-100)")
    g.add_argument("--n-train", dest="n_train", type=int, default=None, help="cap on the training images")
    g.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    g.add_argument("--horizon", type=int, default=None, help="re-upload window T of the growth criterion (100)")
    g.add_argument("--proxy-horizon", dest="proxy_horizon", type=int, default=None, help="steps of the proxy window")
    g.add_argument("--stop-after", dest="stop_after", type=int, default=None, help="stop after N checkpoints (resume)")
    g.add_argument(
        "--cost-scaling", dest="cost_scaling", action="store_true", help="time HVPs vs n instead (SLQ cost scaling)"
    )
    g.add_argument("--widths", type=int, nargs="+", default=None, help="widths timed by --cost-scaling")
    g.add_argument("--channels", type=int, default=None, help="--cost-scaling: image channels (1)")
    g.add_argument("--image-size", dest="image_size", type=int, default=None, help="--cost-scaling: image side (28)")
    g.add_argument("--num-classes", dest="num_classes", type=int, default=None, help="--cost-scaling: classes (10)")
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
    p.add_argument(
        "--solver",
        choices=["direct", "cholesky", "emulated", "emulated-noisy", "circuit", "proxy"],
        default=None,
        help="Carleman solver (linear network); a ResNet has only the error proxy ('proxy', its default)",
    )
    p.add_argument("--keep", type=int, default=None, help="weights of W1 kept after pruning")
    p.add_argument("--positive", type=int, default=None, help="the digit labelled +1 (negative: 9)")
    p.add_argument("--delta", type=float, default=None, help="tomography l2 accuracy")
    p.add_argument("--gate-time", dest="gate_time", type=gate_time, default=None)
    g = p.add_argument_group("model scale (--model resnet<depth>)")
    g.add_argument("--model", default=None, help="linear (the 9-parameter network, default) or resnet8/14/20/...")
    g.add_argument("--width", type=int, default=None)
    g.add_argument("--norm", choices=["none", "batch"], default=None)
    g.add_argument("--dataset", default=None, help="fashion-mnist (default), digits-784, or mnist/idx/npz + --data-dir")
    g.add_argument("--data-dir", dest="data_dir", default=None)
    g.add_argument("--n-train", dest="n_train", type=int, default=None)
    g.add_argument("--batch-size", dest="batch_size", type=int, default=None)
    g.add_argument("--lr", type=float, default=None, help="SGD learning rate")
    g.add_argument("--density", type=float, default=None, help="share of weights kept by pruning (0.1)")
    g.add_argument("--steps", type=int, default=None, help="SGD steps of every arm")
    g.add_argument("--pretrain-steps", dest="pretrain_steps", type=int, default=None)
    g.add_argument("--window-sweep", dest="window_sweep", type=int, nargs="*", default=None)
    g.add_argument("--delta-sweep", dest="delta_sweep", type=float, nargs="*", default=None)
    g.add_argument("--readout", choices=["parameters", "displacement"], default=None)
    g.add_argument("--copies-rule", dest="copies_rule", choices=["shot-noise", "kp"], default=None)
    g.add_argument("--qram", action=argparse.BooleanOptionalAction, default=None, help="add the QRAM arm (default on)")
    g.add_argument("--dense-steps", dest="dense_steps", type=int, default=None, help="k of the QRAM arm (10)")
    g.add_argument(
        "--reprune",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="QRAM arm: re-prune after the dense steps",
    )
    g.add_argument("--proxy-every", dest="proxy_every", type=int, default=None)
    g.add_argument("--eval-every", dest="eval_every", type=int, default=None)
    g.add_argument("--spectrum-every", dest="spectrum_every", type=int, default=None)
    g.add_argument("--stop-after", dest="stop_after", type=int, default=None, help="stop after N windows (resume)")
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
    p.add_argument(
        "--from-run", dest="from_run", action="append", default=None,
        help="a completed `carleman-train`/`spectrum --model resnet...` run folder to price (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--quantum-model", dest="quantum_model", default=None,
        help="with --from-run: a query model (jennings-v1, ...) or module:attribute of any qnewton.cost.CostModel",
    )  # fmt: skip
    p.add_argument("--degree", type=int, default=None, help="with --from-run: notional gradient degree (3)")
    p.add_argument("--delta", type=float, default=None, help="with --from-run: tomography accuracy of a download")
    _common(p, "runs/carleman_cost")
    p.set_defaults(func=_cost)
