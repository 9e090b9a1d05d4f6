"""``qnewton convergence``: SGD and AdamW vs Newton (layer-wise GGN with CG, or K-FAC) on a small
GPT-2, BERT or Mistral, step for step (the revised paper's Fig. 2 e). Options are the fields of
:class:`qnewton.experiments.convergence.ConvergenceConfig`; every help text shows the default."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

_HELP: dict[str, str] = {
    "model": "gpt (GPT2LMHeadModel), bert (BertForMaskedLM) or mistral",
    "corpus": "pydoc (embedded Python help texts) or wikitext (files in --data-dir)",
    "data_dir": "folder with WikiText's wiki.train.raw etc.",
    "hidden_size": "model width (the paper's Table I: 64)",
    "num_layers": "transformer layers (Table I: 4)",
    "block_size": "tokens per training sequence",
    "n_train_blocks": "training sequences, evenly spaced over the corpus",
    "n_loss_blocks": "fixed training sequences the training-loss curve is measured on",
    "n_eval_blocks": "held-out sequences (eval loss)",
    "batch_size": "sequences per step, every arm",
    "steps": "SGD's steps; its training loss at the last one is the target",
    "max_steps": "cap of the other arms (default: --steps)",
    "stop_at_target": "stop the other arms once they reach the target",
    "seeds": "one run of every arm per seed (initialization, batch order)",
    "arms": "arms to run: SGD AdamW Newton-GGN Newton-KFAC",
    "sgd_lr": "SGD learning rate",
    "sgd_momentum": "SGD momentum",
    "adamw_lr": "AdamW learning rate",
    "adamw_weight_decay": "AdamW weight decay",
    "newton_lr": "Newton step size (first try of the line search)",
    "ggn_eps": "damping eps of (GGN + eps I)",
    "kfac_eps": "damping eps of (A ⊗ G + eps I), exact damping",
    "curvature_batch_size": "sequences the curvature is computed on (first of each batch)",
    "cg_tol": "relative residual of the GGN arm's CG",
    "kfac_fisher": "K-FAC's Fisher: mc (sampled targets), empirical or type-2",
    "kfac_ema_decay": "running-average decay of the K-FAC factors",
    "kfac_update_interval": "recompute the K-FAC factors every this many steps",
    "kfac_uncovered": "blocks K-FAC does not cover: first-order, fisher, ggn or hessian",
    "first_order_lr": "step size of the Newton arms' gradient steps on blocks without curvature",
    "first_order_momentum": "momentum of those gradient steps",
    "warmup_steps": "SGD steps before the Newton arms' first Newton step",
    "line_search": "backtracking line search on the Newton steps",
    "eval_every": "steps between loss evaluations (resolution of steps to target)",
}


def _config_class() -> Any:
    from ..experiments.convergence import ConvergenceConfig

    return ConvergenceConfig


def _fields() -> list[dataclasses.Field]:
    return list(dataclasses.fields(_config_class()))


def _run(args: argparse.Namespace) -> int:
    from ..experiments.convergence import quick_config, run_convergence

    cls = _config_class()
    given = {f.name: getattr(args, f.name) for f in _fields() if getattr(args, f.name, None) is not None}
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    cfg = quick_config(**given) if args.quick else cls(**given)
    path = run_convergence(cfg, args.out, fresh=args.fresh, progress=not args.no_progress)
    print(f"report: {path / 'report.md'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convergence",
        help="Newton (GGN-CG, K-FAC) vs SGD and AdamW on GPT-2/BERT/Mistral, steps to SGD's loss (Fig. 2 e)",
        description="Training-loss curves of SGD, AdamW and Newton (layer-wise GGN with CG, or K-FAC with the "
        "exact kron-eig solve) on a small transformer from scratch, and the steps each arm needs to reach SGD's "
        "training loss at SGD's last step. Checkpointed and resumable (rerun the same command).",
    )
    defaults = {f.name: f.default for f in _fields()}
    for f in _fields():
        default = defaults[f.name]
        flag = "--" + f.name.replace("_", "-")
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        help_ = f"{_HELP.get(f.name, f.name)} (default {shown})"
        if isinstance(default, bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif isinstance(default, tuple):
            kind = int if all(isinstance(x, int) for x in default) else str
            p.add_argument(flag, dest=f.name, nargs="+", type=kind, default=None, help=help_)
        elif f.name in ("model",):
            p.add_argument(flag, dest=f.name, choices=["gpt", "bert", "mistral"], default=None, help=help_)
        elif isinstance(default, float):
            p.add_argument(flag, dest=f.name, type=float, default=None, help=help_)
        elif isinstance(default, int) or f.name in ("n_train_blocks", "max_steps"):
            p.add_argument(flag, dest=f.name, type=int, default=None, help=help_)
        else:
            p.add_argument(flag, dest=f.name, type=str, default=None, help=help_)
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
    p.set_defaults(func=_run)
