"""Newton vs SGD on transformers, step for step (the revised paper's Fig. 2 e: Newton's method needs
56 % fewer training steps than SGD on BERT and 66 % fewer on GPT).

Small BERT (masked LM), GPT-2 or Mistral (causal LM) at hidden 64, 4 layers (Table I sizes, byte
vocabulary) trained from scratch on the embedded corpus (Python's help texts) or WikiText
(``data_dir``), with these arms (``arms``):

* ``SGD`` (momentum), ``AdamW`` (the practitioner's choice);
* ``Newton-GGN``: layer-wise (one block per module: weight and bias) generalized Gauss-Newton blocks,
  matrix-free (Jacobian-vector products),
  solved by the ``cg`` route (Hessian-free optimization, Martens 2010);
* ``Newton-KFAC``: K-FAC blocks A ⊗ G per Linear / Conv1D layer (Martens and Grosse 2015; sampled
  Fisher, running averages), solved exactly by the ``kron-eig`` route; the blocks K-FAC does not
  cover (embeddings, norms) take ``kfac_uncovered``.

Every arm starts from the same initialization and sees the same batches (per seed). The curve is
the **training loss on a fixed set of training blocks** (``n_loss_blocks``; deterministic, unlike
the batch loss), evaluated every ``eval_every`` steps, with the held-out loss beside it. The target
is SGD's training loss at its last step (``steps``); each arm's *steps to target* is the first
evaluated step at which its training loss is at or below it (resolution ``eval_every``), and its
*reduction* is 1 - steps / SGD's steps to the same target. Wall-clock seconds are measured on this
machine (the Newton arms' include their curvature and solves). Newton arms are cut at
``max_steps`` (default ``steps``) or, with ``stop_at_target``, as soon as they reach the target.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .._config import Checked, option
from ..curvature.kfac import KFACBlock, KFACConfig
from ..errors import InvalidArgumentError
from ..routes import BlockSystem, CGConfig, CGRoute, Quote
from ._common import fmt, new_figure
from ._run import RunDir
from .training import ArmResult, ArmSpec, CostSettings, TrainSetup, run_arm

__all__ = ["ARMS", "PAPER_REDUCTION", "ConvergenceConfig", "arm_specs", "lm_convergence_setup", "run_convergence"]

#: The arms, in the order they run (SGD first: its last loss is everyone's target).
ARMS = ("SGD", "AdamW", "Newton-GGN", "Newton-KFAC")
#: The revised paper's Fig. 2 e: Newton's training-step reduction against SGD.
PAPER_REDUCTION = {"bert": 0.56, "gpt": 0.66}
_MODELS = ("gpt", "bert", "mistral")


@dataclass(frozen=True)
class ConvergenceConfig(Checked):
    """Settings of ``qnewton convergence`` (defaults: the paper's model sizes, a CPU-sized run).

    Every field is an :func:`~qnewton._config.option` (its help text is the command line's); the
    arms' details: ``newton_lr`` is the first try of the backtracking line search; ``ggn_eps`` /
    ``kfac_eps`` damp (C + eps I) for the two Newton arms; ``first_order_lr`` /
    ``first_order_momentum`` are the heavy-ball steps on the blocks without curvature (K-FAC's
    uncovered blocks with ``kfac_uncovered="first-order"``), by default SGD's settings; the K-FAC
    options are :class:`~qnewton.curvature.kfac.KFACConfig`'s.
    """

    model: str = option("gpt", "gpt (GPT2LMHeadModel), bert (BertForMaskedLM) or mistral", choices=_MODELS)
    corpus: str = option(
        "pydoc", "pydoc (embedded Python help texts) or wikitext (files in --data-dir)", choices=("pydoc", "wikitext")
    )
    data_dir: str | None = option(None, "folder with WikiText's wiki.train.raw etc.")
    hidden_size: int = option(64, "model width (the paper's Table I: 64)", check="natural")
    num_layers: int = option(4, "transformer layers (Table I: 4)", check="natural")
    block_size: int = option(64, "tokens per training sequence", check="natural")
    n_train_blocks: int | None = option(2048, "training sequences, evenly spaced over the corpus", check="natural")
    n_loss_blocks: int = option(64, "fixed training sequences the training-loss curve is measured on", check="natural")
    n_eval_blocks: int = option(64, "held-out sequences (eval loss)", check="natural")
    batch_size: int = option(16, "sequences per step, every arm", check="natural")
    steps: int = option(200, "SGD's steps; its training loss at the last one is the target", check="natural")
    max_steps: int | None = option(None, "cap of the other arms (none: --steps)", check="natural")
    stop_at_target: bool = option(True, "stop the other arms once they reach the target")
    seeds: tuple[int, ...] = option((0,), "one run of every arm per seed (initialization, batch order)", check="count")
    arms: tuple[str, ...] = option(ARMS, "arms to run", choices=ARMS)
    sgd_lr: float = option(0.03, "SGD learning rate", check="positive")
    sgd_momentum: float = option(0.9, "SGD momentum", check="nonnegative")
    adamw_lr: float = option(1e-3, "AdamW learning rate", check="positive")
    adamw_weight_decay: float = option(0.01, "AdamW weight decay", check="nonnegative")
    newton_lr: float = option(1.0, "Newton step size (first try of the line search)", check="positive")
    ggn_eps: float = option(0.01, "damping eps of (GGN + eps I)", check="positive")
    kfac_eps: float = option(0.01, "damping eps of (A ⊗ G + eps I), exact damping", check="positive")
    curvature_batch_size: int = option(
        4, "sequences the curvature is computed on (first of each batch)", check="natural"
    )
    cg_tol: float = option(0.1, "relative residual of the GGN arm's CG", check="open-unit")
    kfac_fisher: str = option(
        "mc", "K-FAC's Fisher: mc (sampled targets), empirical or type-2", choices=("mc", "empirical", "type-2")
    )
    kfac_ema_decay: float = option(0.95, "running-average decay of the K-FAC factors", check="nonnegative")
    kfac_update_interval: int = option(1, "recompute the K-FAC factors every this many steps", check="natural")
    kfac_uncovered: str = option(
        "first-order",
        "blocks K-FAC does not cover: first-order, fisher, ggn or hessian",
        choices=("first-order", "fisher", "ggn", "hessian"),
    )
    first_order_lr: float = option(
        0.03, "step size of the Newton arms' gradient steps on blocks without curvature", check="positive"
    )
    first_order_momentum: float = option(0.9, "momentum of those gradient steps", check="nonnegative")
    warmup_steps: int = option(0, "SGD steps before the Newton arms' first Newton step", check="count")
    line_search: bool = option(True, "backtracking line search on the Newton steps")
    eval_every: int = option(5, "steps between loss evaluations (resolution of steps to target)", check="natural")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.seeds:
            raise InvalidArgumentError("`seeds` is empty; give at least one seed, e.g. (0,).", argument="seeds")
        if not self.arms:
            raise InvalidArgumentError(f"`arms` is empty; give some of {', '.join(ARMS)}.", argument="arms")
        KFACConfig(
            fisher=self.kfac_fisher,  # type: ignore[arg-type]
            ema_decay=self.kfac_ema_decay,
            update_interval=self.kfac_update_interval,
            uncovered=self.kfac_uncovered,  # type: ignore[arg-type]
        )

    @property
    def newton_steps(self) -> int:
        return self.max_steps if self.max_steps is not None else self.steps


def quick_config(model: str = "gpt", **overrides: Any) -> ConvergenceConfig:
    """A setting that runs in seconds (tests, ``--quick``): a 1-layer, width-16 model on short
    sequences, a few steps of every arm."""
    base: dict[str, Any] = dict(
        model=model,
        hidden_size=16,
        num_layers=1,
        block_size=16,
        n_train_blocks=64,
        n_loss_blocks=8,
        n_eval_blocks=8,
        batch_size=4,
        steps=6,
        curvature_batch_size=2,
        eval_every=2,
        sgd_lr=0.1,
        adamw_lr=1e-2,
    )
    base.update(overrides)
    return ConvergenceConfig(**base)


def lm_convergence_setup(cfg: ConvergenceConfig, seed: int) -> tuple[TrainSetup, dict[str, Any]]:
    """The model (as logits, :class:`~qnewton.models.LMLogits`), its token cross-entropy, batches of
    ``(inputs, labels)``, and the loss on the fixed training sequences and the held-out ones."""
    from ..data import causal_lm_blocks, load_text_corpus, masked_lm_blocks
    from ..models import LMLogits, TokenCrossEntropy, make_bert, make_gpt2, make_mistral

    corpus = (
        load_text_corpus(cfg.corpus, cfg.data_dir, seed=0)
        if cfg.corpus == "pydoc"
        else load_text_corpus(cfg.corpus, cfg.data_dir)
    )
    positions = max(128, cfg.block_size)
    if cfg.model == "bert":
        train = masked_lm_blocks(corpus.train, cfg.block_size, seed=seed, max_blocks=cfg.n_train_blocks)
        valid = masked_lm_blocks(corpus.valid, cfg.block_size, seed=seed + 1, max_blocks=cfg.n_eval_blocks)
    else:
        train = causal_lm_blocks(corpus.train, cfg.block_size, max_blocks=cfg.n_train_blocks)
        valid = causal_lm_blocks(corpus.valid, cfg.block_size, max_blocks=cfg.n_eval_blocks)
    criterion = TokenCrossEntropy(shift=cfg.model != "bert")

    def make_model() -> torch.nn.Module:
        if cfg.model == "gpt":
            lm = make_gpt2(seed=seed, n_embd=cfg.hidden_size, n_layer=cfg.num_layers, n_positions=positions)
        elif cfg.model == "bert":
            lm = make_bert(
                seed=seed, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                intermediate_size=4 * cfg.hidden_size, max_position_embeddings=positions,
            )  # fmt: skip
        else:
            lm = make_mistral(
                seed=seed, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
                intermediate_size=7 * cfg.hidden_size // 2, max_position_embeddings=positions,
            )  # fmt: skip
        return LMLogits(lm)

    def as_batch(d: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return {"input_ids": d["input_ids"], "attention_mask": d["attention_mask"]}, d["labels"]

    n_loss = min(cfg.n_loss_blocks, len(train))
    loss_idx = torch.linspace(0, len(train) - 1, n_loss).round().long()
    loss_batch = as_batch(train.batch(loss_idx))
    eval_batch = as_batch(valid.batch())

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        out = {}
        for key, (inp, lab) in (("train_loss", loss_batch), ("eval_loss", eval_batch)):
            out[key] = float(criterion(model(**inp), lab))
        return out

    setup = TrainSetup(
        make_model=make_model,
        take_batch=lambda idx: as_batch(train.batch(idx)),
        n_train=len(train),
        evaluate=evaluate,
        metric="train_loss",
        higher_is_better=False,
        criterion=criterion,
    )
    info = {
        "model": cfg.model,
        "corpus": cfg.corpus,
        "train_blocks": len(train),
        "loss_blocks": n_loss,
        "eval_blocks": len(valid),
        "block_size": cfg.block_size,
        "parameters": sum(p.numel() for p in make_model().parameters()),
        "train_characters": len(corpus.train),
    }
    return setup, info


def arm_specs(cfg: ConvergenceConfig) -> list[ArmSpec]:
    """The arms of ``cfg.arms`` as :class:`ArmSpec` (names without the seed)."""
    newton: dict[str, Any] = dict(
        optimizer="newton",
        policy="classical",
        lr=cfg.newton_lr,
        sgd_steps=cfg.warmup_steps,
        sgd_lr=cfg.first_order_lr if cfg.warmup_steps == 0 else cfg.sgd_lr,
        momentum=cfg.sgd_momentum if cfg.warmup_steps else 0.0,
        curvature_batch_size=cfg.curvature_batch_size,
        line_search=cfg.line_search,
        first_order_momentum=cfg.first_order_momentum,
    )
    kfac = KFACConfig(
        fisher=cfg.kfac_fisher,  # type: ignore[arg-type]
        ema_decay=cfg.kfac_ema_decay,
        update_interval=cfg.kfac_update_interval,
        uncovered=cfg.kfac_uncovered,  # type: ignore[arg-type]
    )
    specs = {
        "SGD": ArmSpec("SGD", "sgd", lr=cfg.sgd_lr, momentum=cfg.sgd_momentum),
        "AdamW": ArmSpec("AdamW", "adamw", lr=cfg.adamw_lr, weight_decay=cfg.adamw_weight_decay),
        "Newton-GGN": ArmSpec(
            "Newton-GGN", curvature="ggn", routes=("cg",), eps=cfg.ggn_eps, blocks="module", cg_tol=cfg.cg_tol, **newton
        ),
        "Newton-KFAC": ArmSpec(
            "Newton-KFAC",
            curvature="kfac",
            kfac=kfac,
            # K-FAC blocks: always the exact eigendecomposition solve; uncovered blocks: Woodbury
            # (empirical Fisher) or CG (GGN, Hessian)
            routes={"first-order": ("kron-eig",), "fisher": ("kron-eig", "woodbury")}.get(
                cfg.kfac_uncovered, ("kron-eig", UncoveredCG(CGConfig(tol=cfg.cg_tol)))
            ),
            eps=cfg.kfac_eps,
            blocks="module",
            cg_tol=cfg.cg_tol,  # CG on the uncovered blocks' GGN / Hessian
            **newton,
        ),
    }
    return [specs[a] for a in cfg.arms]


class UncoveredCG(CGRoute):
    """The ``cg`` route for the blocks K-FAC does not cover: it declines K-FAC blocks, which the
    K-FAC arm solves exactly by ``kron-eig`` (CG, often priced lower on a small Kronecker block,
    would solve them only to its tolerance)."""

    def quote(self, system: BlockSystem) -> Quote:
        if isinstance(system.curvature, KFACBlock):
            return Quote.decline(self.name, self.kind, "K-FAC blocks take the exact kron-eig route in this arm")
        return super().quote(system)


def _steps_to(evals: list[dict[str, Any]], target: float) -> int | None:
    return next(
        (int(e["step"]) for e in evals if e["train_loss"] == e["train_loss"] and e["train_loss"] <= target), None
    )


def run_convergence(cfg: ConvergenceConfig, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    """Run (or resume) every arm for every seed; write results.json, convergence.csv, curves.csv,
    convergence.png and report.md into ``out``; return the run folder."""
    run = RunDir(out, "convergence", asdict(cfg), fresh=fresh)
    ckpt = run.load_checkpoint() or {}
    targets: dict[str, float] = ckpt.setdefault("targets", {})
    costs = CostSettings()
    specs = arm_specs(cfg)
    sgd_first = sorted(specs, key=lambda s: s.name != "SGD")
    results: dict[int, dict[str, ArmResult]] = {}
    info: dict[str, Any] = {}
    for seed in cfg.seeds:
        setup, info = lm_convergence_setup(cfg, seed)
        results[seed] = {}
        for spec in sgd_first:
            key = str(seed)
            target = targets.get(key)
            named = replace(spec, name=f"{spec.name} seed {seed}")
            is_sgd = spec.name == "SGD"
            res = run_arm(
                named,
                setup,
                costs,
                steps=cfg.steps if is_sgd else cfg.newton_steps,
                batch_size=cfg.batch_size,
                run=run,
                checkpoint=ckpt,
                eval_every=cfg.eval_every,
                target=None if is_sgd else target,
                stop_at_target=cfg.stop_at_target and not is_sgd and target is not None,
                seed=seed,
                progress=progress,
            )
            if is_sgd and key not in targets:
                targets[key] = float(res.evals[-1]["train_loss"])
                run.save_checkpoint(ckpt)
            results[seed][spec.name] = res
    rows = _rows(cfg, results, targets)
    _write(run, cfg, info, results, targets, rows)
    run.complete()
    return run.root


def _rows(cfg: ConvergenceConfig, results: dict[int, dict[str, ArmResult]], targets: dict[str, float]) -> list[dict]:
    rows = []
    for seed, arms in results.items():
        target = targets.get(str(seed))
        sgd = arms.get("SGD")
        sgd_steps = _steps_to(sgd.evals, target) if sgd is not None and target is not None else None
        for name, res in arms.items():
            t = res.totals()
            steps = _steps_to(res.evals, target) if target is not None else None
            upto = res.steps[:steps] if steps else []
            rows.append(
                {
                    "seed": seed,
                    "arm": name,
                    "target_train_loss": target,
                    "steps_run": t["steps"],
                    "steps_to_target": steps,
                    "sgd_steps_to_target": sgd_steps,
                    "reduction_vs_sgd": reduction(steps, sgd_steps),
                    "wall_s_to_target": sum(s["wall_s"] for s in upto) if steps else None,
                    "wall_s_per_step": t["wall_s_per_step"],
                    "final_train_loss": res.evals[-1]["train_loss"] if res.evals else None,
                    "final_eval_loss": res.evals[-1]["eval_loss"] if res.evals else None,
                    "routes": t["route_counts"],
                }
            )
    return rows


def _summary(rows: list[dict]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(r["arm"] for r in rows):
        rs = [r for r in rows if r["arm"] == arm]
        steps = [r["steps_to_target"] for r in rs if r["steps_to_target"] is not None]
        red = [r["reduction_vs_sgd"] for r in rs if r["reduction_vs_sgd"] is not None]
        out[arm] = {
            "seeds": len(rs),
            "reached": len(steps),
            "steps_to_target_mean": statistics.fmean(steps) if steps else None,
            "reduction_mean": statistics.fmean(red) if len(red) == len(rs) and red else None,
            "reduction_min": min(red) if red else None,
            "reduction_max": max(red) if red else None,
            "wall_s_per_step_mean": statistics.fmean(r["wall_s_per_step"] for r in rs),
        }
    return out


def _write(
    run: RunDir,
    cfg: ConvergenceConfig,
    info: dict[str, Any],
    results: dict[int, dict[str, ArmResult]],
    targets: dict[str, float],
    rows: list[dict],
) -> None:
    summary = _summary(rows)
    run.write_csv("convergence.csv", rows)
    run.write_csv(
        "curves.csv",
        [{"seed": s, "arm": a, **e} for s, arms in results.items() for a, r in arms.items() for e in r.evals],
    )
    run.write_json(
        "results.json",
        {
            "config": asdict(cfg),
            "data": info,
            "targets": targets,
            "paper_reduction": PAPER_REDUCTION.get(cfg.model),
            "summary": summary,
            "table": rows,
            "arms": {str(s): {a: r.to_dict() for a, r in arms.items()} for s, arms in results.items()},
        },
    )
    fig, (ax,) = new_figure(1, width=6.5, height=4.5)
    colors = dict(zip(ARMS, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for s, arms in results.items():
        for a, r in arms.items():
            ax.plot(
                [e["step"] for e in r.evals],
                [e["train_loss"] for e in r.evals],
                color=colors[a],
                lw=1.2,
                alpha=1.0 if s == cfg.seeds[0] else 0.4,
                label=a if s == cfg.seeds[0] else None,
            )
        t = targets.get(str(s))
        if t is not None:
            ax.axhline(t, color="grey", ls=":", lw=1)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"training loss ({info.get('loss_blocks', '?')} fixed training sequences)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(
        f"{cfg.model} on {cfg.corpus}: training loss, {len(cfg.seeds)} seed(s); dotted: SGD's loss at step {cfg.steps}",
        fontsize=9,
    )
    run.save_figure(fig, "convergence.png")
    paper = PAPER_REDUCTION.get(cfg.model)
    lines = [
        f"# Newton vs SGD on {cfg.model}: steps to SGD's training loss at its last step",
        "",
        f"{cfg.model} (hidden {cfg.hidden_size}, {cfg.num_layers} layers, {info.get('parameters')} parameters, byte "
        f"vocabulary) from scratch on {cfg.corpus} ({info.get('train_blocks')} training sequences of "
        f"{cfg.block_size} tokens), batch {cfg.batch_size}, seeds {', '.join(map(str, cfg.seeds))}. Target: SGD's "
        f"training loss (on {info.get('loss_blocks')} fixed training sequences) at step {cfg.steps}; steps to target "
        f"at a resolution of {cfg.eval_every} steps; reduction = 1 - steps / SGD's steps to the same loss. "
        f"SGD lr {cfg.sgd_lr} momentum {cfg.sgd_momentum}; AdamW lr {cfg.adamw_lr} wd {cfg.adamw_weight_decay}; "
        f"Newton-GGN: layer-wise GGN on {cfg.curvature_batch_size} sequences, CG to {cfg.cg_tol}, eps {cfg.ggn_eps}; "
        f"Newton-KFAC: K-FAC ({cfg.kfac_fisher} Fisher, decay {cfg.kfac_ema_decay}, update every "
        f"{cfg.kfac_update_interval}), exact damping eps {cfg.kfac_eps}, uncovered blocks: {cfg.kfac_uncovered} "
        f"(lr {cfg.first_order_lr}); Newton arms with {'a backtracking line search' if cfg.line_search else 'lr'} "
        f"from {cfg.newton_lr}" + (f", after {cfg.warmup_steps} SGD steps" if cfg.warmup_steps else "") + ".",
        "",
        f"The paper (revised, Fig. 2 e): Newton needs {fmt(paper * 100 if paper else None)} % fewer steps than SGD"
        + (" on this model." if paper else " (no figure for this model)."),
        "",
        "**wall** = measured on this machine.",
        "",
        "| arm | seeds reaching target | mean steps to target | reduction vs SGD (mean; min-max) | wall s/step |",
        "|---|---|---|---|---|",
    ]
    for arm, sm in summary.items():
        red = (
            f"{fmt(100 * sm['reduction_mean'] if sm['reduction_mean'] is not None else None)} % "
            f"({fmt(100 * sm['reduction_min'] if sm['reduction_min'] is not None else None)}-"
            f"{fmt(100 * sm['reduction_max'] if sm['reduction_max'] is not None else None)} %)"
        )
        lines.append(
            f"| {arm} | {sm['reached']}/{sm['seeds']} | {fmt(sm['steps_to_target_mean'])} | {red} | "
            f"{fmt(sm['wall_s_per_step_mean'])} |"
        )
    lines += [
        "",
        "Per seed:",
        "",
        "| seed | arm | target | steps run | steps to target | reduction | wall s to target "
        "| final train / eval loss |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        red = fmt(100 * row["reduction_vs_sgd"]) + " %" if row["reduction_vs_sgd"] is not None else "-"
        lines.append(
            f"| {row['seed']} | {row['arm']} | {fmt(row['target_train_loss'], 4)} | {row['steps_run']} | "
            f"{fmt(row['steps_to_target'])} | {red} | {fmt(row['wall_s_to_target'])} | "
            f"{fmt(row['final_train_loss'], 4)} / {fmt(row['final_eval_loss'], 4)} |"
        )
    lines += ["", "![training loss](convergence.png)"]
    run.write_report("\n".join(lines))


def reduction(steps: int | None, sgd_steps: int | None) -> float | None:
    """1 - steps / sgd_steps (the paper's "training step reduction"), None when either is missing.

    >>> reduction(34, 100)
    0.66
    """
    if not steps or not sgd_steps:
        return None
    return round(1.0 - steps / sgd_steps, 12)
