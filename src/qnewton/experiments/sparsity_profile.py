"""Fig. 6 (Fig. 3 of the revised paper): the p%-sparsity of the Hessian's rows, p = 50, 75, 90,
95 %, at two points of training (steps 0 and 10 in the paper), for the 12544 x 12544 first-layer
block of the DNN. p%-sparsity of a row = fewest entries holding p of the row's absolute mass
(:func:`qnewton.linalg.quantum_sparsity`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .._config import Checked, option
from ..linalg import quantum_sparsity
from . import _fields as F
from ._common import block_hessian, image_setup, new_figure
from ._run import RunDir
from .training import BatchSampler

__all__ = ["ProfileConfig", "run_profile"]


@dataclass(frozen=True)
class ProfileConfig(Checked):
    """Settings of Fig. 6 (p%-sparsity of Hessian rows at training steps)."""

    dataset: str = F.dataset()
    data_dir: str | None = F.data_dir()
    steps: tuple[int, ...] = option((0, 10), "SGD steps at which the Hessian block is profiled", check="count")
    ps: tuple[float, ...] = option((0.5, 0.75, 0.9, 0.95), "the p of the p%-sparsity", check="fraction")
    block: str = option("fc1.weight", "the parameter block whose Hessian is profiled")
    batch_size: int = F.batch_size()
    lr: float = option(0.1, "SGD learning rate between the profiled steps", check="positive", flag="--sgd-lr")
    hidden: tuple[int, ...] = F.hidden()
    device: str = F.device()
    seed: int = F.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        F.check_device(self.device)
        F.check_image_data(self.dataset, self.data_dir)


def run_profile(cfg: ProfileConfig, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    run = RunDir(out, "profile", asdict(cfg), fresh=fresh)
    setup, info = image_setup(cfg.dataset, cfg.data_dir, None, 500, cfg.hidden, cfg.seed, cfg.device)
    model = setup.make_model()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    sampler = BatchSampler(setup.n_train, cfg.batch_size, cfg.seed)
    probe = setup.take_batch(torch.arange(min(cfg.batch_size, setup.n_train)))  # one fixed batch
    profiles: dict[int, np.ndarray] = {}
    step = 0
    for target in sorted(cfg.steps):
        while step < target:
            opt.zero_grad()
            setup.loss(model, setup.take_batch(sampler.next())).backward()
            opt.step()
            step += 1
        h = block_hessian(model, probe, cfg.block)
        profiles[target] = quantum_sparsity(h, list(cfg.ps))
    n = next(iter(profiles.values())).shape[0]
    rows = []
    for s, prof in profiles.items():
        for j, p in enumerate(cfg.ps):
            col = prof[:, j]
            rows.append(
                {
                    "step": s,
                    "p": p,
                    "n": n,
                    "min": int(col.min()),
                    "median": float(np.median(col)),
                    "mean": float(col.mean()),
                    "p90": float(np.quantile(col, 0.9)),
                    "max": int(col.max()),
                    "zero_rows": int((col == 0).sum()),
                }
            )
    run.write_csv("profile_summary.csv", rows)
    run.write_csv(
        "profile_rows.csv",
        [
            {"step": s, "row": i, **{f"p{int(p * 100)}": int(prof[i, j]) for j, p in enumerate(cfg.ps)}}
            for s, prof in profiles.items()
            for i in range(n)
        ],
    )
    run.write_json("results.json", {"config": asdict(cfg), "data": info, "block_size": n, "summary": rows})
    fig, axes = new_figure(len(cfg.ps), width=3.6, height=3.2)
    for j, (ax, p) in enumerate(zip(axes, cfg.ps)):
        for s, prof in profiles.items():
            col = prof[:, j]
            ax.hist(col[col > 0], bins=50, alpha=0.6, label=f"step {s}")
        ax.set_title(f"p = {int(p * 100)} %", fontsize=9)
        ax.set_xlabel("p%-sparsity of a row")
        ax.set_yscale("log")
    axes[0].set_ylabel("rows")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Fig. 6: p%-sparsity of the {cfg.block} Hessian rows ({n} x {n}), {info['dataset']}", fontsize=10)
    run.save_figure(fig, "profile.png")
    lines = [
        "# Fig. 6: p%-sparsity of Hessian rows during training",
        "",
        f"Block {cfg.block} ({n} x {n}) of the DNN on {info['dataset']}, exact Hessian on a fixed batch of "
        f"{cfg.batch_size}, SGD (lr {cfg.lr}) between the snapshots. Rows whose mass is zero (inputs that are "
        "always 0) have p%-sparsity 0 and are left out of the histograms.",
        "",
        "| step | p | median | mean | 90th pct | max | zero rows |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['step']} | {int(r['p'] * 100)} % | {r['median']:.0f} | {r['mean']:.1f} | {r['p90']:.0f} "
            f"| {r['max']} | {r['zero_rows']} |"
        )
    lines += ["", "![profile](profile.png)", "", "Per-row values: `profile_rows.csv`."]
    run.write_report("\n".join(lines))
    run.complete()
    return run.root
