"""Table II of the Q-Newton paper: time of the condition-number estimate against the block size N,
for every estimator, beside the paper's H100 figures (N = 10 ... 1e4: 0.1, 0.7, 6.2, 13 ms).

The matrices are leading N x N principal blocks of a real Hessian block (the first layer of the
paper's DNN after a few SGD steps) + eps I, so the spectra are what the scheduler sees. Each time is
measured here (best of ``repeats``); accuracy is reported against the exact kappa (LAPACK eigvalsh
in float64) where N allows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._config import Checked, option
from ..linalg import estimate_condition
from . import _fields as F
from ._common import PAPER, block_hessian, fmt, image_setup, new_figure, sgd_warmup
from ._run import RunDir

__all__ = ["Table2Config", "run_table2"]


@dataclass(frozen=True)
class Table2Config(Checked):
    """Settings of Table II (kappa-estimation time against N)."""

    dataset: str = F.dataset()
    data_dir: str | None = F.data_dir()
    sizes: tuple[int, ...] = option(
        (10, 100, 1000, 10000), "block sizes N (leading blocks of the fc1 Hessian)", check="natural"
    )
    methods: tuple[str, ...] = option(
        ("lanczos", "gershgorin", "merikoski", "exact"),
        "condition-number methods timed",
        choices=("lanczos", "gershgorin", "merikoski", "exact"),
    )
    exact_max: int = option(4096, "largest N for the exact SVD ground truth (above it takes minutes)", check="natural")
    eps: float = option(1e-3, "regularization of the blocks (H + eps I)", check="positive")
    batch_size: int = F.batch_size()
    warmup_steps: int = F.warmup_steps()
    repeats: int = option(3, "timed repeats per point (the best counts)", check="natural")
    device: str = F.device()
    seed: int = F.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        F.check_device(self.device)
        F.check_image_data(self.dataset, self.data_dir)


def run_table2(cfg: Table2Config, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    from tqdm.auto import tqdm

    run = RunDir(out, "table2", asdict(cfg), fresh=fresh)
    setup, info = image_setup(cfg.dataset, cfg.data_dir, None, 500, (16, 16), cfg.seed, cfg.device)
    model = setup.make_model()
    sgd_warmup(model, setup, cfg.warmup_steps, cfg.batch_size, 0.1, cfg.seed)
    import torch

    idx = torch.arange(min(cfg.batch_size, setup.n_train))
    full = block_hessian(model, setup.take_batch(idx), "fc1.weight")
    rows = []
    jobs = [(n, m) for n in cfg.sizes for m in cfg.methods]
    for n, method in tqdm(jobs, desc="table2", disable=not progress, leave=False):
        if n > full.shape[0]:
            continue
        a = np.ascontiguousarray(full[:n, :n]).astype(np.float32)
        a.flat[:: n + 1] += np.float32(cfg.eps)
        truth = None
        if n <= max(cfg.exact_max, 4096):
            ev = np.linalg.eigvalsh(a.astype(np.float64))
            truth = float(np.abs(ev).max() / np.abs(ev).min())
        if method == "exact" and n > cfg.exact_max:
            continue
        opts = {"eps": cfg.eps * (1 - 1e-3)} if method == "gershgorin" else {}
        best = None
        for _ in range(cfg.repeats):
            try:
                est = estimate_condition(a, method, **opts)
            except ArithmeticError as exc:  # e.g. Lanczos on a block that is not positive definite
                best = None
                rows.append({"n": n, "method": method, "error": str(exc)})
                break
            if best is None or est.seconds < best.seconds:
                best = est
        if best is None:
            continue
        rows.append(
            {
                "n": n,
                "method": method,
                "ms_measured": best.seconds * 1e3,
                "kappa": best.value,
                "log_kappa": best.log_value,
                "upper_bound": best.upper_bound,
                "kappa_exact": truth,
                "log_ratio_to_exact": (best.log_value - math.log(truth)) if truth else None,
                "paper_h100_ms": PAPER["table2_ms"].get(n),
            }
        )
    run.write_csv("table2.csv", rows)
    run.write_json(
        "results.json",
        {
            "config": asdict(cfg),
            "data": info,
            "rows": rows,
            "matrix": f"fc1.weight Hessian block ({full.shape[0]}^2), leading N x N, + eps I",
        },
    )
    fig, (ax,) = new_figure(1)
    for method in cfg.methods:
        pts = [(r["n"], r["ms_measured"]) for r in rows if r["method"] == method and "ms_measured" in r]
        if pts:
            ax.loglog(*zip(*pts), marker="o", label=f"{method} (measured here)")
    paper = sorted(PAPER["table2_ms"].items())
    ax.loglog(*zip(*paper), "k--", marker="s", label="paper, H100 (their estimator)")
    ax.set_xlabel("block size N")
    ax.set_ylabel("time of the kappa estimate [ms]")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.suptitle("Table II: condition-number estimation time vs N", fontsize=10)
    run.save_figure(fig, "table2.png")
    lines = [
        "# Table II: condition-number estimation time vs block size",
        "",
        f"Matrices: leading N x N blocks of the exact fc1.weight Hessian of the paper's DNN on {info['dataset']} "
        f"(after {cfg.warmup_steps} SGD steps, batch {cfg.batch_size}) + {cfg.eps:g} I, float32. Times are "
        f"**measured** here (best of {cfg.repeats}); the paper's column is its H100 figure (REFERENCE.md 6).",
        "",
        "| N | method | time [ms] (measured) | kappa | upper bound | log(kappa / exact) | paper H100 [ms] |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['n']} | {r['method']} | failed: {r['error'][:60]} | | | | |")
            continue
        kap = fmt(r["kappa"], 4) if math.isfinite(r["kappa"]) else f"e^{r['log_kappa']:.0f}"
        lines.append(
            f"| {r['n']} | {r['method']} | {r['ms_measured']:.3g} | {kap} | {'yes' if r['upper_bound'] else 'no'}"
            f" | {fmt(r['log_ratio_to_exact'], 3)} | {fmt(r['paper_h100_ms'])} |"
        )
    lines += ["", "![timing](table2.png)"]
    run.write_report("\n".join(lines))
    run.complete()
    return run.root
