"""Fig. 1 right (Fig. 2(c) of the revised paper): per training step, the cost of the Hessian solves
by each route and the route Q-Newton chose; and what pruning does to the quantum route's direction.

Costs per step come from the decision log of a Q-Newton (hybrid) run that quotes every route for
every block: the paper's classical cost (dense Cholesky, C N^3 with C calibrated here), the best
classical route's (per block the cheapest of Cholesky, matrix-free CG and the exact Woodbury
solve: calibrated predictions) and the quantum route's (**modeled**: query count x gate time).

Directions: at the run's final parameters, every block's quantum-route direction is compared with
the exact classical one (cosine) in three settings that separate the two things the quantum route
does to the system: pruned to the paper's 50 %-sparsity d and shifted back to definiteness (the
default), pruned and not shifted, and not pruned at all (d = N).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .._config import Checked, option
from . import _fields as F
from ._common import image_setup, new_figure
from ._run import RunDir
from .training import ArmSpec, BatchSampler, CostSettings, TrainSetup, run_arm

__all__ = ["RoutesConfig", "direction_study", "run_routes"]


@dataclass(frozen=True)
class RoutesConfig(Checked):
    """Settings of Fig. 1 right (a CPU-sized run; the quantum cost at 1 ns gates by default)."""

    dataset: str = F.dataset()
    data_dir: str | None = F.data_dir()
    n_train: int | None = F.n_train()
    n_test: int | None = F.n_test(1000)
    warmup_steps: int = F.warmup_steps(5)
    newton_steps: int = F.newton_steps(20)
    batch_size: int = F.batch_size()
    sgd_lr: float = F.sgd_lr()
    sgd_momentum: float = F.sgd_momentum()
    newton_lr: float = F.newton_lr()
    eps: float = F.eps()
    line_search: bool = F.line_search()
    hidden: tuple[int, ...] = F.hidden()
    costs: CostSettings = option(default_factory=lambda: CostSettings(gate_time="ghz"), help="cost models")
    device: str = F.device()
    seed: int = F.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        F.check_device(self.device)
        F.check_image_data(self.dataset, self.data_dir)


_SETTINGS = (
    ("pruned to d, shifted (default)", {"pruned_indefinite": "shift"}),
    ("pruned to d, not shifted", {"pruned_indefinite": "solve"}),
    ("not pruned (d = N)", {"d_full": True}),
)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-300))


def direction_study(setup: TrainSetup, model: torch.nn.Module, batch: Any, eps: float) -> dict[str, Any]:
    """Cosines of the quantum route's direction with the exact classical one, per block and overall,
    for the settings of :data:`_SETTINGS` (same blocks, same eps, the ideal emulator)."""
    from ..cost import ClassicalCostModel
    from ..curvature import LossProblem
    from ..curvature.lazy import curvature_blocks
    from ..errors import QNewtonError
    from ..routes import BlockSystem, CholeskyRoute, QLSARoute, QuantumRouteConfig, SparsitySpec

    problem = LossProblem(model, setup.criterion)
    res = curvature_blocks(problem, batch, "hessian")
    exact = CholeskyRoute(cost=ClassicalCostModel(c=1e-11))
    rows: list[dict[str, Any]] = []
    full: dict[str, tuple[list[torch.Tensor], list[torch.Tensor]]] = {label: ([], []) for label, _ in _SETTINGS}
    for i, blk in enumerate(res):
        system = BlockSystem(0, i, blk.name, blk, res.grads[blk.name], eps)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x_ref = torch.as_tensor(exact.solve(system, exact.quote(system)).x)
            for label, opts in _SETTINGS:
                sparsity = SparsitySpec() if opts.get("d_full") else SparsitySpec(p=0.5)
                cfg = QuantumRouteConfig(sparsity=sparsity, pruned_indefinite=opts.get("pruned_indefinite", "shift"))  # type: ignore[arg-type]
                route = QLSARoute(cfg)
                q = route.quote(system)
                # an unshifted pruned block can be singular or indefinite, which the QLSA's cost
                # model prices at infinity (the route declines); the emulator still tries it, which
                # is what this study compares; a block it cannot solve counts as no direction
                try:
                    x = torch.as_tensor(route.solve(system, q).x)
                    failed = ""
                except QNewtonError as exc:
                    x, failed = torch.zeros_like(x_ref), f"{type(exc).__name__}: {exc}"
                g = res.grads[blk.name]
                rows.append(
                    {
                        "block": blk.name,
                        "n": blk.n,
                        "setting": label,
                        "route_declines": not q.applies,
                        "solve_failed": failed,
                        "d": q.record.get("d_requested"),
                        "pd_shift": q.record.get("pd_shift", 0.0),
                        "cosine": _cosine(x, x_ref) if not failed else math.nan,
                        "norm_ratio": float(x.norm() / x_ref.norm().clamp_min(1e-300)) if not failed else math.nan,
                        "descent": float(g.double() @ x.reshape(-1).double()) > 0,
                    }
                )
                full[label][0].append(x.reshape(-1))
                full[label][1].append(x_ref.reshape(-1))
        blk.release()
    overall = {label: _cosine(torch.cat(a), torch.cat(b)) for label, (a, b) in full.items()}
    return {"eps": eps, "blocks": rows, "overall_cosine": overall}


def run_routes(cfg: RoutesConfig, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    from ..scheduler import DecisionRecord, decisions_to_csv

    run = RunDir(out, "routes", asdict(cfg), fresh=fresh)
    setup, info = image_setup(cfg.dataset, cfg.data_dir, cfg.n_train, cfg.n_test, cfg.hidden, cfg.seed, cfg.device)
    ckpt = run.load_checkpoint() or {}
    spec = ArmSpec(
        "Q-Newton",
        "newton",
        policy="hybrid",
        lr=cfg.newton_lr,
        eps=cfg.eps,
        sgd_steps=cfg.warmup_steps,
        sgd_lr=cfg.sgd_lr,
        momentum=cfg.sgd_momentum,
        line_search=cfg.line_search,
        quote_all=True,
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
    state = ckpt["arms"][spec.name]
    decisions = [DecisionRecord.from_dict(d) for d in state["optimizer"]["qnewton"]["decisions"]]
    decisions_to_csv(decisions, run.register("decisions.csv"))
    steps = sorted({r.step for r in decisions})

    def quoted(r: DecisionRecord, route: str) -> float:
        q = r.quotes.get(route, {})
        return float(q["solve_s"]) if q.get("applies") and q.get("solve_s") is not None else math.nan

    per_step = []
    for s in steps:
        recs = [r for r in decisions if r.step == s]
        per_step.append(
            {
                "step": s,
                "classical_cost_s": sum(r.classical_cost_s or 0.0 for r in recs),
                "best_classical_s": sum(r.best_classical_s or 0.0 for r in recs),
                "quantum_cost_s": sum(r.quantum_cost_s or 0.0 for r in recs),
                "chosen_cost_s": sum(r.predicted_s or 0.0 for r in recs),
                "blocks_quantum": sum(r.kind == "quantum" for r in recs),
                "blocks_classical": sum(r.kind == "classical" for r in recs),
                **{f"route[{r.block}]": r.route for r in recs},
                **{f"best_classical[{r.block}]": r.best_classical_route for r in recs},
                **{f"kappa[{r.block}]": r.kappa for r in recs},
            }
        )
    run.write_csv("routes.csv", per_step)

    # the quantum route's direction at the final parameters, on a fresh batch
    model = setup.make_model()
    model.load_state_dict(state["model"])
    sampler = BatchSampler(setup.n_train, cfg.batch_size, cfg.seed + 1)
    directions = direction_study(setup, model, setup.take_batch(sampler.next()), cfg.eps)
    run.write_csv("directions.csv", directions["blocks"])
    run.write_json(
        "results.json", {"config": asdict(cfg), "data": info, "per_step": per_step, "directions": directions}
    )

    big = max(decisions, key=lambda r: r.n).block
    fig, (ax1, ax2) = new_figure(2)
    ax1.semilogy(steps, [p["classical_cost_s"] for p in per_step], "b-o", ms=3, label="dense Cholesky (paper)")
    ax1.semilogy(steps, [p["best_classical_s"] for p in per_step], "g-^", ms=3, label="best classical route")
    ax1.semilogy(steps, [p["quantum_cost_s"] for p in per_step], "r-s", ms=3, label="quantum (modeled)")
    ax1.semilogy(steps, [p["chosen_cost_s"] for p in per_step], "k:", label="Q-Newton (route taken)")
    ax1.set_xlabel("training step")
    ax1.set_ylabel("predicted / modeled cost of the step's solves [s]")
    ax1.legend(fontsize=7)
    recs = [r for r in decisions if r.block == big]
    colors = {"qlsa": "r", "cholesky": "b", "cg": "g", "woodbury": "m"}
    for route, style in (("cholesky", "b-o"), ("cg", "g-^"), ("woodbury", "m-v"), ("qlsa", "r-s")):
        ys = [quoted(r, route) for r in recs]
        if any(y == y for y in ys):
            ax2.semilogy([r.step for r in recs], ys, style, ms=3, label=route)
    taken = set()
    for r in recs:
        c = colors.get(r.route, "grey")
        ax2.axvspan(r.step - 0.5, r.step + 0.5, color=c, alpha=0.08, lw=0)
        taken.add(r.route)
    from matplotlib.patches import Patch

    handles, labels = ax2.get_legend_handles_labels()
    handles += [Patch(color=colors.get(t, "grey"), alpha=0.25) for t in sorted(taken)]
    labels += [f"shading: {t} taken" for t in sorted(taken)]
    ax2.legend(handles, labels, fontsize=6)
    ax2.set_title(f"block {big} (N = {recs[0].n})", fontsize=8)
    ax2.set_xlabel("training step")
    fig.suptitle(f"Fig. 1 right: solve costs per step and routes, gate time {cfg.costs.gate_time}", fontsize=10)
    run.save_figure(fig, "routes.png")

    lines = [
        "# Fig. 1 right: the cost of each route per step, and the route chosen",
        "",
        f"Q-Newton (hybrid) on the DNN, {info['dataset']}, eps = {cfg.eps}, gate time {cfg.costs.gate_time}, "
        f"readout {cfg.costs.readout}; every route quoted for every block. Classical costs are predictions "
        "calibrated on this machine (dense Cholesky: C N^3, the paper's classical cost; best classical route: "
        "the cheapest of Cholesky, CG and Woodbury per block); quantum costs are **modeled**.",
        "",
        "| step | dense Cholesky [s] | best classical route [s] | quantum [s] (modeled) | blocks quantum / classical |",
        "|---|---|---|---|---|",
    ]
    for p in per_step:
        lines.append(
            f"| {p['step']} | {p['classical_cost_s']:.3g} | {p['best_classical_s']:.3g} | {p['quantum_cost_s']:.3g} | "
            f"{p['blocks_quantum']} / {p['blocks_classical']} |"
        )
    lines += [
        "",
        "![routes](routes.png)",
        "",
        "## The quantum route's direction: pruning vs the shift",
        "",
        f"At the final parameters, on a fresh batch, eps = {cfg.eps}: cosine of each block's quantum-route "
        "direction (ideal emulator) with the exact classical direction. 'not pruned' solves the same system "
        "as the classical routes (cosine 1 up to round-off), so the rows above it show what pruning to d does, "
        "and the difference between the first two rows what the shift back to definiteness does.",
        "",
        "| setting | overall cosine |",
        "|---|---|",
    ]
    for label, c in directions["overall_cosine"].items():
        lines.append(f"| {label} | {c:.4f} |")
    lines += ["", "| block | N | setting | d | shift | cosine | norm ratio | descent |", "|---" * 8 + "|"]
    for r in directions["blocks"]:
        lines.append(
            f"| {r['block']} | {r['n']} | {r['setting']} | {r['d']} | {r['pd_shift']:.3g} | {r['cosine']:.4f} | "
            f"{r['norm_ratio']:.3g} | {'yes' if r['descent'] else 'no'} |"
        )
    declined = [r for r in directions["blocks"] if r.get("route_declines")]
    if declined:
        lines += [
            "",
            "Declined by the quantum route (its modeled cost is infinite: the pruned, unshifted block is singular "
            "or indefinite) but solved here by the emulator for the comparison: "
            + ", ".join(f"{r['block']} ({r['setting']})" for r in declined)
            + ". Blocks the emulator could not solve (cosine nan) count as a zero direction in the overall cosine: "
            + (", ".join(f"{r['block']}: {r['solve_failed']}" for r in declined if r.get("solve_failed")) or "none")
            + ".",
        ]
    lines += ["", "Every decision with its quotes and reasons: `decisions.csv`; directions: `directions.csv`."]
    run.write_report("\n".join(lines))
    run.complete()
    return run.root
