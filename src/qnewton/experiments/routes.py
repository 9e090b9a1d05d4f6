"""Fig. 1 right (Fig. 2(c) of the revised paper): per training step, the classical and the quantum
cost of the Hessian solves and the route Q-Newton chose. The paper: neither route wins throughout,
and the scheduler alternates. Classical costs are C N^3 predictions (C calibrated here, or given);
quantum costs are **modeled** (query count x gate time); both come from the decision log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ._common import image_setup, new_figure
from ._run import RunDir
from .training import ArmSpec, CostSettings, run_arm

__all__ = ["RoutesConfig", "run_routes"]


@dataclass(frozen=True)
class RoutesConfig:
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    n_train: int | None = None
    n_test: int | None = 1000
    warmup_steps: int = 5
    newton_steps: int = 20
    batch_size: int = 256
    sgd_lr: float = 0.1
    newton_lr: float = 1.0
    eps: float = 0.05
    line_search: bool = True
    hidden: tuple[int, ...] = (16, 16)
    costs: CostSettings = field(default_factory=lambda: CostSettings(gate_time="ghz"))
    seed: int = 0


def run_routes(cfg: RoutesConfig, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    from ..scheduler import decisions_to_csv

    run = RunDir(out, "routes", asdict(cfg), fresh=fresh)
    setup, info = image_setup(cfg.dataset, cfg.data_dir, cfg.n_train, cfg.n_test, cfg.hidden, cfg.seed)
    ckpt = run.load_checkpoint() or {}
    spec = ArmSpec(
        "Q-Newton",
        "newton",
        policy="hybrid",
        lr=cfg.newton_lr,
        eps=cfg.eps,
        sgd_steps=cfg.warmup_steps,
        sgd_lr=cfg.sgd_lr,
        line_search=cfg.line_search,
    )
    run_arm(
        spec,
        setup,
        cfg.costs,
        steps=cfg.warmup_steps + cfg.newton_steps,
        batch_size=cfg.batch_size,
        run=run,
        checkpoint=ckpt,
        eval_every=max(1, cfg.newton_steps // 4),
        seed=cfg.seed,
        progress=progress,
    )
    from ..scheduler import DecisionRecord

    decisions = [DecisionRecord.from_dict(d) for d in ckpt["arms"][spec.name]["optimizer"]["qnewton"]["decisions"]]
    decisions_to_csv(decisions, run.register("decisions.csv"))
    steps = sorted({r.step for r in decisions})
    per_step = []
    for s in steps:
        recs = [r for r in decisions if r.step == s]
        per_step.append(
            {
                "step": s,
                "classical_cost_s": sum(r.classical_cost_s or 0.0 for r in recs),
                "quantum_cost_s": sum(r.quantum_cost_s or 0.0 for r in recs),
                "chosen_cost_s": sum(min(r.classical_cost_s or 0.0, r.quantum_cost_s or 0.0) for r in recs),
                "blocks_quantum": sum(r.route == "quantum" for r in recs),
                "blocks_classical": sum(r.route == "classical" for r in recs),
                **{f"route[{r.block}]": r.route for r in recs},
                **{f"kappa[{r.block}]": r.kappa for r in recs},
            }
        )
    run.write_csv("routes.csv", per_step)
    run.write_json("results.json", {"config": asdict(cfg), "data": info, "per_step": per_step})
    big = max(decisions, key=lambda r: r.n).block
    fig, (ax1, ax2) = new_figure(2)
    ax1.semilogy(steps, [p["classical_cost_s"] for p in per_step], "b-o", ms=3, label="classical (C N^3, predicted)")
    ax1.semilogy(steps, [p["quantum_cost_s"] for p in per_step], "r-s", ms=3, label="quantum (modeled)")
    ax1.semilogy(steps, [p["chosen_cost_s"] for p in per_step], "k:", label="Q-Newton (cheaper per block)")
    ax1.set_xlabel("training step")
    ax1.set_ylabel("cost of the step's solves [s]")
    ax1.legend(fontsize=7)
    recs = [r for r in decisions if r.block == big]
    ax2.semilogy([r.step for r in recs], [r.classical_cost_s for r in recs], "b-o", ms=3, label="classical")
    ax2.semilogy([r.step for r in recs], [r.quantum_cost_s for r in recs], "r-s", ms=3, label="quantum")
    for r in recs:
        ax2.axvspan(r.step - 0.5, r.step + 0.5, color="r" if r.route == "quantum" else "b", alpha=0.08)
    ax2.set_title(f"block {big} (N = {recs[0].n}); shading = route taken", fontsize=8)
    ax2.set_xlabel("training step")
    fig.suptitle(f"Fig. 1 right: solve costs per step and routes, gate time {cfg.costs.gate_time}", fontsize=10)
    run.save_figure(fig, "routes.png")
    lines = [
        "# Fig. 1 right: classical vs quantum cost per step and the route chosen",
        "",
        f"Q-Newton (hybrid) on the DNN, {info['dataset']}, eps = {cfg.eps}, gate time {cfg.costs.gate_time}, "
        f"readout {cfg.costs.readout}. Classical: C N^3 prediction; quantum: **modeled**.",
        "",
        "| step | classical [s] | quantum [s] (modeled) | blocks quantum / classical |",
        "|---|---|---|---|",
    ]
    for p in per_step:
        lines.append(
            f"| {p['step']} | {p['classical_cost_s']:.3g} | {p['quantum_cost_s']:.3g} | "
            f"{p['blocks_quantum']} / {p['blocks_classical']} |"
        )
    lines += ["", "![routes](routes.png)", "", "Every decision with its reasons: `decisions.csv`."]
    run.write_report("\n".join(lines))
    run.complete()
    return run.root
