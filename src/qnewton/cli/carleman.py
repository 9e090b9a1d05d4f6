"""Subcommands for the Carleman-linearization paper (Liu et al., Nat. Commun. 15, 434 (2024)):

* ``qnewton spectrum``: Hessian eigenvalue densities (SLQ) and dissipativity along training;
* ``qnewton carleman-error``: error of the discrete Carleman linearization vs K, eta, T and
  dissipativity, the system's condition number, every solver on one system;
* ``qnewton carleman-train``: sparse training by Carleman windows with download and re-upload;
* ``qnewton carleman-cost``: modeled quantum cost vs calibrated classical gradient descent over n.

Each writes JSON + CSV + PNG + report.md into ``--out`` through
:class:`~qnewton.experiments._run.RunDir` (manifest with the exact command, atomic writes; a failed
run is marked failed and never blocks a retry); ``--quick`` runs a seconds-long version (the
study's ``quick()`` sizes, with the options given explicitly on top).

**Options are the config's fields.** Every option of a study is generated from the fields of its
config dataclass (:func:`qnewton._config.option`; :mod:`qnewton.cli._options`), so the help, the
defaults and the checks are the config's own, and every value is validated when the config is
built, before any data is loaded.

**Two studies behind one command.** ``spectrum``, ``carleman-train`` and ``carleman-cost`` each run
one of several studies (*modes*), each with its own config class:

==================  ==================================  ==============================================
command             mode (how it is selected)           config
==================  ==================================  ==============================================
spectrum            mlp (default)                       :class:`qnewton.spectrum.SpectrumConfig`
spectrum            resnet (``--model resnet<depth>``)  :class:`qnewton.spectrum.scale.ScaleSpectrumConfig`
spectrum            cost-scaling (``--cost-scaling``)   :class:`qnewton.spectrum.scale.SlqCostConfig`
carleman-train      linear (default)                    :class:`qnewton.carleman.studies.CarlemanTrainConfig`
carleman-train      resnet (``--model resnet<depth>``)  :class:`qnewton.carleman.sparse.ScaleTrainConfig`
carleman-cost       model (default)                     :class:`qnewton.carleman.studies.CarlemanCostConfig`
carleman-cost       from-run (``--from-run DIR``)       :class:`qnewton.carleman.scale_cost.ScaleCostConfig`
==================  ==================================  ==============================================

The user types one command and sees one set of options, in argument groups: a field that several
modes share (the same name means the same thing in each: ``--checkpoints``, ``--lr``, ``--seed``,
...) is one option in the first group, its help listing each mode's default where they differ
(``default: 0 10 50 200 1000 3000; resnet: 0 100 300 1000 2000``); a field of one mode only is in
that mode's group. An option of another mode is a typed error naming it (``--width applies to
--model resnet<depth> only; the digits MLP study has no such setting``), exit status 2.

``--stop-after N`` (model-scale runs) stops after N checkpoints / windows with exit status 3; the
same command resumes from the checkpoint (``checkpoint.pt``, tensors and plain data only).
``carleman-cost --from-run DIR`` prices what such a run measured (:mod:`qnewton.carleman.scale_cost`).

Renamed options: the QLSA output precision is ``--qlsa-eps`` (``--eps`` still works, with a
deprecation warning: ``--eps`` is the regularization in the other commands); in ``carleman-cost
--from-run`` the query-count model is ``--query-model`` (as in ``qnewton costs``) and
``--quantum-model`` is ``paper`` or ``module:attribute`` (a query-model name there still works, with
a warning); ``spectrum --cost-scaling``'s ``--image-size``/``--channels`` are fields of its config.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._options import UsageError, add_config_options, common_run_options, config_from_args, gate_time

__all__ = ["COMMANDS", "Command", "Mode", "register"]


@dataclass(frozen=True)
class Mode:
    """One study of a command: its config class, runner and argument group."""

    key: str  # short name in the help ("resnet: 100")
    config: str  # "module:Class" under qnewton
    runner: str  # "module:function" under qnewton
    what: str  # "the digits MLP study (--model mlp)": used in errors
    title: str  # argument group title
    stop: str = ""  # what --stop-after counts ("" : no --stop-after), the runner's keyword after "="

    def config_class(self) -> type:
        module, _, name = self.config.partition(":")
        return getattr(importlib.import_module(f"qnewton.{module}"), name)

    def run_function(self) -> Callable[..., Path]:
        module, _, name = self.runner.partition(":")
        return getattr(importlib.import_module(f"qnewton.{module}"), name)


@dataclass(frozen=True)
class Command:
    """A subcommand: its modes (the first is the default), help, example and run times."""

    name: str
    help: str
    description: str
    examples: tuple[str, ...]
    runtime: str
    modes: tuple[Mode, ...]
    #: shared fields whose help is written here (one text for every mode); the others take the
    #: first mode's help, and the other modes' help where it differs
    shared_help: dict[str, str] = field(default_factory=dict)


_MLP_CHOICE = "mlp or resnet<depth>"

COMMANDS: dict[str, Command] = {
    "spectrum": Command(
        "spectrum",
        "Hessian eigenvalue density (SLQ) and dissipativity along training (Liu et al. 2024, Figs. 2-3)",
        "SGD on a network; at each checkpoint the SLQ density of the full Hessian from Hessian-vector products, "
        "the same for the magnitude-pruned network, and a fully / almost / not dissipative verdict. Default: the "
        "ReLU MLP on the embedded digits, its dense spectrum beside SLQ as a check. --model resnet<depth>: the study "
        "at model scale (ResNet on Fashion-MNIST, with the linearization error proxy; checkpointed, resumable, "
        "--stop-after). --model resnet<depth> --cost-scaling: what one SLQ costs as the ResNet grows, extrapolated "
        "to the paper's 7M and 103M parameters. Everything measured on this machine.",
        (
            "qnewton spectrum --quick --out runs/spectrum",
            "qnewton spectrum --model resnet8 --width 8 --checkpoints 0 100 300 --out runs/spectrum_resnet8",
            "qnewton spectrum --model resnet20 --cost-scaling --out runs/slq_cost",
        ),
        "mlp about 1 min (recorded: docs/results/spectrum, 50 s); --model resnet20 about 2 h (estimated from the "
        "measured HVP and gradient times of resnet20 width 16 in docs/results/scale-slq-cost); --cost-scaling about "
        "1.5 min (recorded: docs/results/scale-slq-cost, 88 s); --quick: seconds to a minute",
        (
            Mode(
                "mlp",
                "spectrum.study:SpectrumConfig",
                "spectrum.study:run_spectrum",
                "the digits MLP study (--model mlp)",
                "digits MLP study (default, --model mlp)",
            ),
            Mode(
                "resnet",
                "spectrum.scale:ScaleSpectrumConfig",
                "spectrum.scale:run_scale_spectrum",
                "the model-scale study (--model resnet<depth>)",
                "model scale (--model resnet<depth>)",
                stop="checkpoints=max_checkpoints",
            ),
            Mode(
                "cost-scaling",
                "spectrum.scale:SlqCostConfig",
                "spectrum.scale:run_slq_cost",
                "the SLQ cost scaling (--cost-scaling)",
                "SLQ cost scaling (--model resnet<depth> --cost-scaling)",
            ),
        ),
        {
            "model": "the network: mlp (the ReLU MLP of --hidden on --dataset) or resnet<depth>, depth 6 m + 2 "
            "(resnet8, resnet14, resnet20, ...: the study at model scale; --cost-scaling: resnet20 unless given)",
            "dataset": "image data: digits (8 x 8, embedded), digits-784 (28 x 28) or fashion-mnist (Debian's "
            "package); --model resnet: fashion-mnist, digits-784, or mnist / idx / npz with --data-dir",
        },
    ),
    "carleman-error": Command(
        "carleman-error",
        "discrete Carleman linearization of GD: error vs K, eta, T, dissipativity; kappa; all solvers",
        "Solves the T-step Carleman system of gradient descent on a polynomial-gradient problem and compares the "
        "recovered trajectory with exact gradient descent, as the truncation order K, the learning rate eta, the "
        "number of steps T and the dissipativity vary; the condition number of the system against the cost "
        "model's bounds; one system solved by every backend; the pruned digits model's window error vs K. "
        "Everything measured on this machine (the emulated QLSA's quantum time modeled, labelled).",
        ("qnewton carleman-error --quick --out runs/carleman_error", "qnewton carleman-error --Ks 1 2 3 --T 40"),
        "about 30 s (recorded: docs/results/carleman-error, 29 s); --quick: about 5 s",
        (
            Mode(
                "error",
                "carleman.studies:CarlemanErrorConfig",
                "carleman.studies:run_carleman_error",
                "carleman-error",
                "the study",
            ),
        ),
    ),
    "carleman-train": Command(
        "carleman-train",
        "sparse training by Carleman windows with download (tomography) and re-upload",
        "Default: the pruned two-layer linear network on digits (4 vs 9) trained in windows of T GD steps, each "
        "solved as one Carleman system, read out with modeled tomography noise and re-uploaded; compared with "
        "exact GD. --model resnet<depth>: the scheme at model scale (a pruned ResNet on Fashion-MNIST; each window "
        "the SGD trajectory with its truncation error estimated by the linearization proxy, downloads with "
        "modeled tomography noise, window and delta sweeps, the QRAM arm; checkpointed, resumable, --stop-after).",
        (
            "qnewton carleman-train --quick --out runs/carleman_train",
            "qnewton carleman-train --model resnet8 --width 8 --steps 400 --window 100 --out runs/train_resnet8",
        ),
        "linear about 1.5 min (recorded: docs/results/carleman-train, 77 s); --model resnet8 about 3 h (estimated "
        "from docs/results/scale-train-small: width 8, 2,000 SGD steps in all arms in 20 min; the defaults run "
        "10,500 steps at width 16, about 1.8 x the cost per step); --quick: seconds to a minute",
        (
            Mode(
                "linear",
                "carleman.studies:CarlemanTrainConfig",
                "carleman.studies:run_carleman_train",
                "the linear-network study (--model linear)",
                "linear network on digits (default, --model linear)",
            ),
            Mode(
                "resnet",
                "carleman.sparse:ScaleTrainConfig",
                "carleman.sparse:run_scale_train",
                "the model-scale study (--model resnet<depth>)",
                "model scale (--model resnet<depth>)",
                stop="windows=max_windows",
            ),
        ),
        {
            "model": "the network: linear (the 9-parameter two-layer linear network on digits) or resnet<depth>, "
            "depth 6 m + 2 (resnet8, resnet20, ...: the scheme at model scale)",
            "solver": "Carleman solver of the windows; a ResNet has no polynomial gradient, so only its error proxy "
            "(proxy)",
        },
    ),
    "carleman-cost": Command(
        "carleman-cost",
        "modeled O(T polylog n) / O(T^2 polylog n) QLSA cost vs classical O(T n) gradient descent",
        "Quantum: modeled (Jennings et al. v1 queries for the Carleman system's size, sparsity and condition number, "
        "plus tomography readout, x gate time). Classical: T n (s+1) c with c timed here (measured). The model's "
        "sparsity and kappa bounds are checked on small built systems. --from-run DIR: price what a model-scale "
        "run (`carleman-train --model resnet...` or `spectrum --model resnet...`) measured, with the paper's "
        "model or the fault-tolerant one (--quantum-model fault-tolerant: physical qubits, code distance), "
        "beside the same windows priced as if they were dissipative (an assumption, labelled).",
        (
            "qnewton carleman-cost --out runs/carleman_cost",
            "qnewton carleman-cost --from-run runs/train_resnet8 --from-run runs/spectrum_resnet8 --out runs/cost",
            "qnewton carleman-cost --from-run runs/train_resnet8 --quantum-model fault-tolerant --hardware "
            "qubit_gate_ns_e4 --out runs/cost_ft",
        ),
        "a few seconds (recorded: docs/results/carleman-cost, 1 s; --from-run: docs/results/scale-cost-small, < 1 s)",
        (
            Mode(
                "model",
                "carleman.studies:CarlemanCostConfig",
                "carleman.studies:run_carleman_cost",
                "the cost model over n (no --from-run)",
                "cost over n (default)",
            ),
            Mode(
                "from-run",
                "carleman.scale_cost:ScaleCostConfig",
                "carleman.scale_cost:run_scale_cost",
                "pricing a run (--from-run DIR)",
                "pricing a model-scale run (--from-run DIR)",
            ),
        ),
        {
            "K": "Carleman truncation order K (--from-run: notional, a ResNet has no polynomial gradient)",
            "Ts": "horizons T (gradient-descent steps), one panel each (--from-run: windows to price, none: each "
            "run's own window)",
        },
    ),
}


# --- options ---------------------------------------------------------------------------------------


def _shown(v: Any) -> str:
    if v is None or v == ():
        return "none"
    return " ".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _owners(cmd: Command) -> dict[str, list[tuple[Mode, dataclasses.Field]]]:
    """Field name -> the modes (in order) whose config has it as a command-line option."""
    out: dict[str, list[tuple[Mode, dataclasses.Field]]] = {}
    for mode in cmd.modes:
        for f in dataclasses.fields(mode.config_class()):
            if f.metadata.get("cli", True):
                out.setdefault(f.name, []).append((mode, f))
    return out


def _add_options(p: argparse.ArgumentParser, cmd: Command) -> None:
    """The options of every mode of ``cmd``, generated from the config fields, in argument groups."""
    owners = _owners(cmd)
    multi = len(cmd.modes) > 1
    shared = p.add_argument_group("options of every study (defaults per study where they differ)") if multi else None
    groups = {m.key: p.add_argument_group(m.title) for m in cmd.modes}
    actions = {}
    for name, owned in owners.items():
        first_mode, first = owned[0]
        cls = first_mode.config_class()
        in_first = first_mode is cmd.modes[0]
        group = shared if (multi and len(owned) > 1 and in_first) else groups[first_mode.key]
        add_config_options(p, cls, skip=tuple(n for n in owners if n != name), group=group)
        flag = first.metadata.get("flag") or "--" + name.replace("_", "-")
        action = p._option_string_actions[flag]
        actions[name] = action
        if name == "gate_time":
            action.type = gate_time  # the one gate-time parser of every command
        if len(owned) == 1:
            continue
        # one option for several modes: one help, each mode's default, every mode's choices
        helps = list(dict.fromkeys(f.metadata.get("help", "") for _, f in owned))
        text = cmd.shared_help.get(name) or "; ".join(
            [helps[0]]
            + [f"{m.key}: {f.metadata.get('help', '')}" for m, f in owned[1:] if f.metadata.get("help") != helps[0]]
        )
        defaults = [(m, _shown(getattr(m.config_class()(), name))) for m, _ in owned]
        shown = f"default: {defaults[0][1]}" + "".join(
            f"; {m.key}: {d}" for m, d in defaults[1:] if d != defaults[0][1] and name != "model"
        )
        if not in_first:
            shown += "; only " + ", ".join(m.key for m, _ in owned)
        action.help = f"{text.rstrip('.')} ({shown})"
        choices: list[tuple[Any, ...] | None] = [f.metadata.get("choices") for _, f in owned]
        action.choices = (
            None if any(c is None for c in choices) else list(dict.fromkeys(x for c in choices if c for x in c))
        )
    if "from_run" in actions:  # repeatable: --from-run A --from-run B (as before) or --from-run A B
        actions["from_run"].__class__ = argparse._ExtendAction
    for name in ("window_sweep", "delta_sweep"):  # given without values: no sweep
        if name in actions:
            actions[name].nargs = "*"
    for action in p._actions:  # an empty tuple as default reads "none", as a None one
        if action.help and action.help.endswith("(default: )"):
            action.help = action.help[: -len("(default: )")] + "(default: none)"
    if not multi:
        groups[cmd.modes[0].key].title = "study options"


def _mode(cmd: Command, args: argparse.Namespace) -> Mode:
    """The study the options select."""
    modes = {m.key: m for m in cmd.modes}
    given = vars(args)
    if cmd.name == "spectrum" and given.get("cost_scaling"):
        return modes["cost-scaling"]
    if cmd.name == "carleman-cost":
        return modes["from-run" if "from_run" in given else "model"]
    model = given.get("model")
    if model is None or model.lower() == cmd.modes[0].key:
        return cmd.modes[0]
    if not model.lower().startswith("resnet"):
        raise UsageError(
            f"--model must be {cmd.modes[0].key} or resnet<depth> (depth 6 m + 2: resnet8, resnet14, resnet20, ...), "
            f"got {model!r}."
        )
    return modes["resnet"]


def _config(cmd: Command, mode: Mode, args: argparse.Namespace) -> Any:
    """The mode's config from the options given (on ``--quick``'s sizes); options of another mode are errors."""
    cls = mode.config_class()
    fields = {f.name for f in dataclasses.fields(cls)}
    owners = _owners(cmd)
    given = [k for k in vars(args) if k in owners]
    for k in given:
        if k not in fields:
            parser = args._parser
            flag = next(a.option_strings[0] for a in parser._actions if a.dest == k and a.help != argparse.SUPPRESS)
            where = " / ".join(m.what for m, _ in owners[k])
            raise UsageError(f"{flag} applies to {where} only; {mode.what} has no such setting.")
    if getattr(args, "stop_after", None) is not None and not mode.stop:
        raise UsageError(
            f"--stop-after applies to the model-scale runs (--model resnet<depth>) only; {mode.what} has none."
        )
    fixed: dict[str, Any] = {}
    if getattr(args, "quick", False) and hasattr(cls, "quick"):
        quick = cls.quick()
        fixed = {f.name: getattr(quick, f.name) for f in dataclasses.fields(cls) if f.name not in given}
    if cmd.name == "carleman-error" and getattr(args, "no_circuit", False):
        base = fixed.get("solvers", getattr(args, "solvers", None) or cls().solvers)
        fixed["solvers"] = tuple(s for s in base if s != "circuit")
    return config_from_args(cls, args, args._parser, **fixed)


def _run(args: argparse.Namespace) -> int:
    cmd = COMMANDS[args.command]
    mode = _mode(cmd, args)
    cfg = _config(cmd, mode, args)
    kwargs: dict[str, Any] = {"fresh": args.fresh, "progress": not args.no_progress}
    if mode.stop:
        kwargs[mode.stop.split("=")[1]] = args.stop_after
    path = mode.run_function()(cfg, args.out, **kwargs)
    if mode.stop and (path / "checkpoint.pt").exists():
        print(
            f"stopped after {args.stop_after} {mode.stop.split('=')[0]} (--stop-after); rerun the same command to "
            f"resume from {path / 'checkpoint.pt'}"
        )
        return 3
    print(f"report: {path / 'report.md'}")
    return 0


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return v


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``spectrum``, ``carleman-error``, ``carleman-train`` and ``carleman-cost`` subcommands."""
    for name, cmd in COMMANDS.items():
        examples = "\n".join(f"  {e}" for e in cmd.examples)
        p = sub.add_parser(
            name,
            help=cmd.help,
            description=textwrap.fill(cmd.description, 100),
            epilog=f"examples:\n{examples}\n\nrun time at the defaults on a 2-core machine:\n"
            + textwrap.fill(cmd.runtime, 100, initial_indent="  ", subsequent_indent="  "),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _add_options(p, cmd)
        run = p.add_argument_group("run")
        run.add_argument(
            "--quick",
            action="store_true",
            help="a seconds-long version: small sizes (the config's quick()), options given explicitly on top "
            "(default: off)",
        )
        if name == "spectrum":
            run.add_argument(
                "--cost-scaling",
                action="store_true",
                help="time Hessian-vector products vs the ResNet's width instead (the SLQ cost scaling; default: off)",
            )
        if any(m.stop for m in cmd.modes):
            run.add_argument(
                "--stop-after",
                type=_positive_int,
                default=None,
                metavar="N",
                help="model-scale runs: stop after N checkpoints (spectrum) or windows (carleman-train) with exit "
                "status 3; the same command resumes (default: run to the end)",
            )
        if name == "carleman-error":
            run.add_argument(
                "--no-circuit", action="store_true", help="leave the QSVT circuit out of --solvers (default: off)"
            )
        common_run_options(p, f"runs/{name.replace('-', '_')}")
        p.set_defaults(func=_run, _parser=p)
