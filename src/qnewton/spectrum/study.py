"""The `qnewton spectrum` study: Hessian eigenvalue densities and dissipativity along training.

Liu et al. (Nat. Commun. 15, 434 (2024), Fig. 2-3) show Hessian spectra of a 7M-parameter ResNet
during training, and of a 103M ResNet pruned to 10 % density, and read off that early training is
dominated by positive (dissipative) modes. We do the same measurement on the project's DNN on
scikit-learn's digits: SGD on the cross-entropy, and at each checkpoint

* the SLQ density of the full Hessian (all parameters, cross-layer blocks included) from
  Hessian-vector products;
* the dense spectrum (``eigvalsh``) of the same Hessian when the model is small enough, and how far
  the SLQ estimate is from it (L1 distance of the two smoothed densities, error of lambda_min and of
  the negative weight): SLQ is validated in every run, not only in the tests;
* the same for the pruned model (magnitude pruning to ``prune_density`` at that checkpoint: the
  Hessian restricted to the kept parameters);
* the dissipativity verdict (:mod:`qnewton.spectrum.dissipativity`) at the run's learning rate and
  re-upload window.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._config import Checked, option
from ..carleman import _fields as C
from ..experiments import _fields as F
from ._threads import single_thread
from .dissipativity import dissipativity
from .hessian import MAX_DENSE_N, dense_hessian, dense_hessian_eigenvalues, hessian_slq, magnitude_mask
from .slq import gaussian_density

__all__ = ["MLP_DATASETS", "SpectrumConfig", "run_spectrum"]

#: Data sets of the MLP study.
MLP_DATASETS = ("digits", "digits-784", "fashion-mnist")


@dataclass(frozen=True)
class SpectrumConfig(Checked):
    """Settings of :func:`run_spectrum` (`qnewton spectrum`), every field validated at construction.

    The digits MLP study: ``model`` is always ``"mlp"`` (``--model resnet<depth>`` selects
    :class:`qnewton.spectrum.scale.ScaleSpectrumConfig` on the command line). ``hidden`` are the
    hidden widths of the ReLU MLP (``paper_dnn`` with the data's input size); the Hessian is the
    mean loss over ``hessian_samples`` fixed training images; ``prune_density`` is the share of
    weights kept for the pruned model's spectrum; ``horizon`` the re-upload window T of the
    verdict's growth criterion (the paper: 100); ``dense_check`` also computes the dense spectrum
    when n <= 4096.
    """

    model: str = option(
        "mlp",
        "the network: mlp (the ReLU MLP of --hidden on --dataset) or resnet<depth> (resnet8, resnet20, ...: the "
        "study at model scale, with the options of its group)",
        choices=("mlp",),
    )
    dataset: str = option(
        "digits",
        "image data: digits (8 x 8, embedded), digits-784 (28 x 28, the paper DNN's input) or fashion-mnist",
        choices=MLP_DATASETS,
    )
    hidden: tuple[int, ...] = F.hidden()
    checkpoints: tuple[int, ...] = C.checkpoints((0, 10, 50, 200, 1000, 3000))
    lr: float = C.sgd_lr()
    batch_size: int = F.batch_size(64)
    hessian_samples: int = C.hessian_samples(1000)
    n_train: int | None = F.n_train()
    n_test: int | None = F.n_test(None)
    num_probes: int = C.num_probes(8)
    lanczos_steps: int = C.lanczos_steps(80)
    prune_density: float | None = C.prune_density()
    horizon: int = C.horizon()
    dense_check: bool = option(True, "also the dense spectrum (eigvalsh) when n <= 4096, to validate SLQ")
    seed: int = C.seed()

    @classmethod
    def quick(cls, seed: int = 0) -> SpectrumConfig:
        """A seconds-long version for tests and smoke runs."""
        return cls(
            hidden=(8,),
            checkpoints=(0, 60),
            lr=0.5,
            n_train=300,
            n_test=200,
            hessian_samples=200,
            num_probes=3,
            lanczos_steps=30,
            seed=seed,
        )


def _dense_comparison(res, lam: np.ndarray) -> dict[str, float]:
    sigma = res.default_sigma()
    lo = min(res.lambda_min, float(lam.min())) - 5 * sigma
    hi = max(res.lambda_max, float(lam.max())) + 5 * sigma
    grid = np.linspace(lo, hi, 2001)
    _, phi = res.density(grid, sigma)
    ref = gaussian_density(lam, np.full(lam.size, 1.0 / lam.size), grid, sigma)
    d_slq = dissipativity(res)
    d_ref = dissipativity(lam)
    return {
        "density_l1": float(np.trapezoid(np.abs(phi - ref), grid)),
        "lambda_min_dense": float(lam.min()),
        "lambda_max_dense": float(lam.max()),
        "lambda_min_abs_error": abs(res.lambda_min - float(lam.min())),
        "lambda_max_rel_error": abs(res.lambda_max - float(lam.max())) / max(abs(float(lam.max())), 1e-300),
        "negative_weight_dense": d_ref.negative_weight,
        "negative_weight_abs_error": abs(d_slq.negative_weight - d_ref.negative_weight),
        "verdict_dense": d_ref.verdict,
        "sigma": sigma,
    }


@single_thread
def run_spectrum(cfg: SpectrumConfig, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    """Train, measure the Hessian spectrum at each checkpoint, write JSON/CSV/PNG and report.md.

    Runs with one torch and one BLAS thread (restored afterwards; see ``spectrum._threads``).
    """
    from ..data import load_image_dataset
    from ..experiments._common import new_figure
    from ..experiments._run import RunDir
    from ..models import paper_dnn

    run = RunDir(out, "spectrum", asdict(cfg), fresh=fresh)
    kwargs: dict[str, Any] = {"seed": cfg.seed}
    if cfg.n_train is not None:
        kwargs["n_train"] = cfg.n_train
    if cfg.n_test is not None:
        kwargs["n_test"] = cfg.n_test
    ds = load_image_dataset(cfg.dataset, **kwargs)
    x, y = ds.tensors("train")
    xt, yt = ds.tensors("test")
    x, xt = x.double(), xt.double()
    model = paper_dnn(input_dim=ds.n_features, hidden=cfg.hidden, num_classes=ds.num_classes, seed=cfg.seed).double()
    n_params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(cfg.seed)
    hidx = torch.randperm(len(y), generator=gen)[: min(cfg.hessian_samples, len(y))]
    hbatch = (x[hidx], y[hidx])
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    loss_fn = nn.CrossEntropyLoss()
    dense = cfg.dense_check and n_params <= MAX_DENSE_N

    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[int, tuple[np.ndarray, np.ndarray, float]]] = {"full": {}, "pruned": {}}
    dense_eigs: dict[int, np.ndarray] = {}
    step = 0
    for target in sorted(set(cfg.checkpoints)):
        while step < target:
            idx = torch.randint(0, len(y), (cfg.batch_size,), generator=gen)
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            step += 1
        with torch.no_grad():
            train_loss = float(loss_fn(model(hbatch[0]), hbatch[1]))
            test_acc = float((model(xt).argmax(1) == yt).double().mean())
        h_dense = dense_hessian(model, hbatch, loss_fn) if dense else None
        variants: list[tuple[str, np.ndarray | None]] = [("full", None)]
        if cfg.prune_density is not None:
            variants.append(("pruned", magnitude_mask(model, cfg.prune_density)))
        for name, mask in variants:
            t0 = time.perf_counter()
            res = hessian_slq(
                model, hbatch, loss_fn, mask=mask, num_probes=cfg.num_probes, steps=cfg.lanczos_steps, seed=cfg.seed
            )
            rep = dissipativity(res, eta=cfg.lr, horizon=cfg.horizon)
            row: dict[str, Any] = {
                "step": target,
                "model": name,
                "n": res.n,
                "train_loss": train_loss,
                "test_accuracy": test_acc,
                "slq_measured_seconds": time.perf_counter() - t0,
                "matvecs": res.matvecs,
                **{k: v for k, v in rep.to_dict().items() if k not in ("thresholds", "eta", "horizon")},
            }
            if dense:
                lam = dense_hessian_eigenvalues(model, hbatch, loss_fn, mask=mask, hessian=h_dense)
                row.update(_dense_comparison(res, lam))
                if name == "full":
                    dense_eigs[target] = lam
            rows.append(row)
            sigma = res.default_sigma()
            curves[name][target] = (*res.density(sigma=sigma, num_points=1201), sigma)
            if progress:
                print(
                    f"[spectrum] step {target:>6} {name:>6}: n={res.n} lambda in [{rep.lambda_min:.3g}, "
                    f"{rep.lambda_max:.3g}], negative weight {rep.negative_weight:.3f} -> {rep.verdict}",
                    flush=True,
                )

    thresholds = asdict(dissipativity([1.0]).thresholds)
    run.write_csv("spectrum.csv", rows)
    run.write_json(
        "results.json",
        {
            "config": asdict(cfg),
            "data": {"dataset": ds.name, "n_train": len(y), "n_test": len(yt), "source": ds.source},
            "model": {"sizes": [ds.n_features, *cfg.hidden, ds.num_classes], "activation": "relu", "n": n_params},
            "thresholds": thresholds,
            "rows": rows,
            "densities": {
                name: {str(s): {"grid": g.tolist(), "density": d.tolist(), "sigma": sg} for s, (g, d, sg) in c.items()}
                for name, c in curves.items()
            },
            "dense_eigenvalues": {str(s): lam.tolist() for s, lam in dense_eigs.items()},
            "basis": "measured (SLQ and eigvalsh on this machine)",
        },
    )

    panels = [k for k in ("full", "pruned") if curves[k]]
    fig, axes = new_figure(len(panels), width=5.5, height=4.0)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    for ax, name in zip(axes, panels):
        for i, (s, (g, d, sg)) in enumerate(sorted(curves[name].items())):
            color = f"C{i}"
            ax.plot(g, np.log10(np.maximum(d, 1e-8)), color=color, label=f"step {s}", lw=1.2)
            if name == "full" and s in dense_eigs:
                lam = dense_eigs[s]
                ref = gaussian_density(lam, np.full(lam.size, 1.0 / lam.size), g, sg)
                ax.plot(g, np.log10(np.maximum(ref, 1e-8)), color=color, lw=0.8, ls="--")
        if name == "full":
            ax.set_title(f"full Hessian (n = {n_params}; dashed: dense eigvalsh)", fontsize=9)
        else:
            ax.set_title(f"pruned to {cfg.prune_density:.0%} of weights", fontsize=9)
        ax.axvline(0.0, color="k", lw=0.6, ls=":")
        ax.set_ylim(-8, None)
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("log10 density (SLQ, Gaussian-smoothed)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Hessian eigenvalue density during SGD ({ds.name}, lr {cfg.lr})", fontsize=10)
    run.save_figure(fig, "spectrum_density.png")

    fig, axes = new_figure(2, width=5.0, height=3.6)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    for name, style in (("full", "-o"), ("pruned", "--s")):
        sel = [r for r in rows if r["model"] == name]
        if not sel:
            continue
        st = [max(r["step"], 0.5) for r in sel]
        axes[0].plot(st, [r["negative_weight"] for r in sel], style, label=f"{name}: negative weight")
        axes[1].plot(st, [r["negative_ratio"] for r in sel], style, label=f"{name}: |lambda_min| / lambda_max")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("SGD step (0 plotted at 0.5)")
        ax.legend(fontsize=7)
    axes[0].axhline(thresholds["almost_negative_share"], color="gray", ls=":", lw=0.8)
    axes[1].axhline(thresholds["almost_negative_ratio"], color="gray", ls=":", lw=0.8)
    axes[0].set_ylabel("share of sum |lambda| on lambda < 0")
    axes[1].set_ylabel("|lambda_min| / lambda_max")
    fig.suptitle("Dissipativity along training (dotted: 'almost dissipative' thresholds)", fontsize=10)
    run.save_figure(fig, "dissipativity.png")

    run.write_report(_report(cfg, rows, n_params, ds.name, len(y), thresholds, dense))
    run.complete()
    return run.root


def _report(cfg, rows, n_params, dataset, n_train, thresholds, dense) -> str:
    lines = [
        "# Hessian spectra and dissipativity along training",
        "",
        f"ReLU MLP {dataset} ({n_params} parameters, hidden {list(cfg.hidden)}), SGD lr {cfg.lr}, batch "
        f"{cfg.batch_size}, {n_train} training images; Hessian of the mean cross-entropy over "
        f"{cfg.hessian_samples} fixed training images. Spectral densities by stochastic Lanczos quadrature "
        f"({cfg.num_probes} Rademacher probes x {cfg.lanczos_steps} Lanczos steps, full reorthogonalization) "
        "from Hessian-vector products. All figures are **measured** on this machine.",
        "",
        f"Verdict thresholds: flat band |lambda| <= {thresholds['zero_tol']:g} max|lambda|; 'almost dissipative' "
        f"needs negative weight <= {thresholds['almost_negative_share']:g}, |lambda_min|/lambda_max <= "
        f"{thresholds['almost_negative_ratio']:g} and eta |lambda_min| T <= {thresholds['almost_growth']:g} "
        f"(eta = {cfg.lr}, T = {cfg.horizon}); see `qnewton.spectrum.dissipativity`.",
        "",
        "| step | model | n | test acc | lambda_min | lambda_max | neg. mass | neg. weight | growth/step | "
        "verdict |" + (" SLQ-vs-dense L1 | dense lambda_min |" if dense else ""),
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if dense else ""),
    ]
    for r in rows:
        line = (
            f"| {r['step']} | {r['model']} | {r['n']} | {r['test_accuracy']:.3f} | {r['lambda_min']:.3g} | "
            f"{r['lambda_max']:.3g} | {r['negative_mass']:.3f} | {r['negative_weight']:.4f} | "
            f"{r['growth_per_step']:.4g} | {r['verdict']} |"
        )
        if dense:
            line += f" {r['density_l1']:.3f} | {r['lambda_min_dense']:.3g} |"
        lines.append(line)
    lines += [
        "",
        "![density](spectrum_density.png)",
        "",
        "![dissipativity](dissipativity.png)",
        "",
        "Negative mass = share of eigenvalues below the flat band; negative weight = share of sum|lambda| on "
        "negative eigenvalues (what the verdict uses). growth/step = 1 + eta |lambda_min| when lambda_min < 0 "
        "(else the contraction factor max|1 - eta lambda|).",
    ]
    if dense:
        lines.append(
            "SLQ-vs-dense L1 = integral of |phi_SLQ - phi_dense| with the same Gaussian kernel (0 = identical, 2 = "
            "disjoint); dense = LAPACK eigvalsh of the formed Hessian."
        )
    return "\n".join(lines)
