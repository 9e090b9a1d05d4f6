r"""Hessian spectra along training at model scale (`qnewton spectrum --model resnet...`), and what
an SLQ costs as the model grows (`qnewton spectrum --model resnet... --cost-scaling`).

Liu et al. (Nat. Commun. 15, 434 (2024)) read three things off the Hessian of a 7M-parameter
ResNet during training, and of a 103M ResNet pruned to 10 %: the spectrum is dominated by
positive (dissipative) modes early in training; it broadens as training goes on; and an error
proxy first falls and later grows, which motivates re-uploading every 100 steps. This study makes
the same measurements on a ResNet from :mod:`qnewton.models.resnet` trained by plain SGD: at each
checkpoint,

* the SLQ density of the **full** Hessian of the mean cross-entropy over a fixed set of training
  images, from Hessian-vector products of the whole model (:func:`qnewton.spectrum.hessian_slq`; no
  Hessian is formed), and of the **pruned** model (global magnitude pruning of the current weights
  to ``prune_density``, the pruned weights set to 0, the Hessian restricted to the kept
  coordinates: :class:`~qnewton.spectrum.RestrictedOperator`);
* the dissipativity diagnostics (:func:`qnewton.spectrum.dissipativity`) at the run's learning rate
  and re-upload window, with the spectral growth factor of the linear recursion over the window;
* the linearization error proxy (**ours**, :mod:`qnewton.carleman.proxy`) over ``proxy_horizon``
  steps started at the checkpoint, for the dense and the pruned network, on copies of the model
  (the main training is not disturbed).

Everything is measured; the study is checkpointed after each checkpoint and resumes when rerun.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._config import Checked, option
from ..carleman import _fields as C
from ..errors import InvalidArgumentError
from ..experiments import _fields as F
from ._threads import single_thread
from .dissipativity import dissipativity
from .hessian import hessian_slq

__all__ = [
    "ScaleSpectrumConfig",
    "SlqCostConfig",
    "forward_flops",
    "linear_growth",
    "run_scale_spectrum",
    "run_slq_cost",
]


def linear_growth(lambda_min: float, lambda_max: float, eta: float, horizon: int) -> dict[str, float]:
    r"""How fast the linearized recursion :math:`\delta \mapsto (I - \eta H)\delta` can amplify a
    displacement: :math:`g = \max(|1 - \eta\lambda_{min}|, |1 - \eta\lambda_{max}|)` per step (both ends:
    a negative mode grows by :math:`1 + \eta|\lambda_{min}|`, and a top mode beyond the stability limit
    :math:`\eta\lambda_{max} > 2` by :math:`\eta\lambda_{max} - 1`), and :math:`g^T` over a window.
    (:func:`qnewton.spectrum.dissipativity`'s ``growth_per_step`` looks at the negative end only when
    there is one.)

    Example:
        >>> linear_growth(-1.0, 30.0, 0.1, 10)["linear_growth_per_step"]
        2.0
    """
    g = max(abs(1.0 - eta * lambda_min), abs(1.0 - eta * lambda_max))
    return {
        "eta_lambda_max": eta * lambda_max,
        "linear_growth_per_step": g,
        "linear_growth_over_T": g**horizon if g > 0 else 0.0,
    }


@dataclass(frozen=True)
class ScaleSpectrumConfig(Checked):
    """Settings of :func:`run_scale_spectrum` (`qnewton spectrum --model resnet<depth>`), every
    field validated at construction.

    The network is ``model`` (resnet8/14/20/...), ``width`` channels in its first stage, ``norm``
    ``"none"`` or ``"batch"`` (:mod:`qnewton.models.resnet`); the data ``dataset`` (fashion-mnist,
    or mnist/idx/npz from ``data_dir``, e.g. CIFAR-100 as .npz) with ``eval_train`` / ``eval_test``
    evaluation subsets; at each of ``checkpoints`` (SGD steps) an SLQ of ``num_probes`` x
    ``lanczos_steps`` Hessian-vector products over ``hessian_samples`` fixed images, for the full
    and the pruned (``prune_density``) network; ``horizon`` is the re-upload window T of the growth
    criterion, ``proxy_horizon`` the steps of the error proxy at each checkpoint (0: none).
    """

    model: str = C.resnet("resnet20")
    width: int = C.width()
    norm: str = C.norm()
    dataset: str = C.scale_dataset()
    data_dir: str | None = C.scale_data_dir()
    n_train: int | None = F.n_train()
    n_test: int | None = F.n_test(None)
    eval_train: int = C.eval_subset("training")
    eval_test: int = C.eval_subset("test")
    checkpoints: tuple[int, ...] = C.checkpoints((0, 100, 300, 1000, 2000))
    lr: float = C.sgd_lr()
    batch_size: int = F.batch_size(128)
    hessian_samples: int = C.hessian_samples(128)
    num_probes: int = C.num_probes(3)
    lanczos_steps: int = C.lanczos_steps(50)
    prune_density: float | None = C.prune_density()
    horizon: int = C.horizon()
    proxy_horizon: int = option(
        100, "steps of the linearization error proxy run from each checkpoint (0: no proxy)", check="count"
    )
    seed: int = C.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        from ..models.resnet import resnet_config

        resnet_config(self.model, width=self.width, norm=self.norm)  # validates the combination
        C.check_scale_data(self.dataset, self.data_dir)

    @classmethod
    def quick(cls, seed: int = 0) -> ScaleSpectrumConfig:
        """A seconds-long version (ResNet-8 of width 2 on a few hundred images)."""
        return cls(
            model="resnet8",
            width=2,
            n_train=300,
            n_test=100,
            eval_train=100,
            eval_test=100,
            checkpoints=(0, 10),
            batch_size=32,
            hessian_samples=32,
            num_probes=2,
            lanczos_steps=12,
            horizon=10,
            proxy_horizon=6,
            seed=seed,
        )


def _pruned_copy(model: nn.Module, density: float) -> tuple[nn.Module, torch.Tensor]:
    from ..carleman.scale import prune_model

    pm = copy.deepcopy(model)
    return pm, prune_model(pm, density)


def _proxy(model: nn.Module, task: Any, cfg: ScaleSpectrumConfig, step: int, mask: Any) -> tuple[dict, float]:
    from ..carleman.proxy import LinearizationProxy
    from ..carleman.scale import get_flat, masked_sgd_step, split_mask

    m = copy.deepcopy(model)
    m.train()
    masks = split_mask(m, mask)
    t0 = time.perf_counter()
    proxy = LinearizationProxy(m, cfg.lr, mask=mask)
    for t in range(cfg.proxy_horizon):
        batch = task.batch(cfg.batch_size, cfg.seed, step + t)
        proxy.advance(batch)
        masked_sgd_step(m, batch, cfg.lr, masks)
        proxy.record(get_flat(m))
    return proxy.trace.to_dict(), time.perf_counter() - t0


@single_thread
def run_scale_spectrum(
    cfg: ScaleSpectrumConfig,
    out: str | Path,
    *,
    fresh: bool = False,
    progress: bool = True,
    max_checkpoints: int | None = None,
    figures: bool = True,
) -> Path:
    """Train, measure at each checkpoint (checkpointed and resumable), write JSON/CSV/PNG and report.md.

    ``max_checkpoints`` stops after that many checkpoints in this call (rerun to resume);
    ``figures=False`` skips the PNGs (the numbers are the same).
    """
    from ..carleman.scale import (
        build_model,
        evaluate,
        hessian_column_nnz,
        hvp_config,
        load_image_task,
        masked_sgd_step,
        split_mask,
    )
    from ..experiments._run import RunDir
    from ..models.resnet import curvature_mode

    def say(msg: str) -> None:
        if progress:
            print(f"[spectrum] {msg}", flush=True)

    run = RunDir(out, "spectrum-scale", asdict(cfg), fresh=fresh)
    task = load_image_task(
        cfg.dataset, cfg.data_dir, n_train=cfg.n_train, n_test=cfg.n_test,
        eval_train=cfg.eval_train, eval_test=cfg.eval_test, seed=cfg.seed,
    )  # fmt: skip
    model = build_model(cfg.model, task, width=cfg.width, norm=cfg.norm, seed=cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    hbatch = task.fixed_batch(cfg.hessian_samples, cfg.seed)
    ck = run.load_checkpoint() or {"step": 0, "rows": [], "densities": {}, "proxies": {}, "sgd_seconds": 0.0}
    if "model" in ck:
        model.load_state_dict(ck["model"])
    masks = split_mask(model, None)
    done = {r["step"] for r in ck["rows"]}
    measured_now = 0
    for target in sorted(set(cfg.checkpoints)):
        if target in done:
            continue
        if max_checkpoints is not None and measured_now >= max_checkpoints:
            say(f"stopped after {max_checkpoints} checkpoints; rerun the same command to resume")
            run.finish("stopped")  # resumable: the same settings resume it, other settings need --fresh
            return run.root
        model.train()
        t0 = time.perf_counter()
        while ck["step"] < target:
            masked_sgd_step(model, task.batch(cfg.batch_size, cfg.seed, ck["step"]), cfg.lr, masks)
            ck["step"] += 1
        ck["sgd_seconds"] += time.perf_counter() - t0
        metrics = evaluate(model, task)
        variants: list[tuple[str, nn.Module, Any]] = [("full", model, None)]
        if cfg.prune_density is not None:
            pm, pmask = _pruned_copy(model, cfg.prune_density)
            variants.append(("pruned", pm, pmask))
        for name, m, mask in variants:
            t0 = time.perf_counter()
            with curvature_mode(m):
                res = hessian_slq(
                    m, hbatch, nn.CrossEntropyLoss(), mask=None if mask is None else mask.numpy(),
                    num_probes=cfg.num_probes, steps=cfg.lanczos_steps, seed=cfg.seed, config=hvp_config(),
                )  # fmt: skip
            slq_seconds = time.perf_counter() - t0
            rep = dissipativity(res, eta=cfg.lr, horizon=cfg.horizon)
            nnz = hessian_column_nnz(m, hbatch, mask=mask, seed=cfg.seed)
            row: dict[str, Any] = {
                "step": target,
                "model": name,
                "n": res.n,
                **metrics,
                "slq_measured_seconds": slq_seconds,
                "seconds_per_hvp": slq_seconds / max(res.matvecs, 1),
                "matvecs": res.matvecs,
                **{k: v for k, v in rep.to_dict().items() if k not in ("thresholds", "eta", "horizon")},
                "spectral_width": rep.lambda_max - rep.lambda_min,
                **linear_growth(rep.lambda_min, rep.lambda_max, cfg.lr, cfg.horizon),
                "hessian_nnz_per_row": nnz["nnz_exact"],
                "hessian_nnz_per_row_rtol": nnz["nnz_rtol"],
            }
            if cfg.proxy_horizon:
                trace, secs = _proxy(m, task, cfg, target, mask)
                ck["proxies"][f"{name}@{target}"] = trace
                row["proxy_final_rel_error"] = trace["final_rel_error"]
                row["proxy_final_abs_error"] = trace["final_abs_error"]
                T = min(cfg.horizon, cfg.proxy_horizon)
                row["proxy_rel_error_at_horizon"] = trace["rel_error"][T - 1]
                row["proxy_measured_seconds"] = secs
            sigma = res.default_sigma()
            grid, dens = res.density(sigma=sigma, num_points=1201)
            th, w = res.flat()
            ck["densities"][f"{name}@{target}"] = {
                "grid": grid.tolist(),
                "density": dens.tolist(),
                "sigma": sigma,
                "nodes": th.tolist(),
                "weights": w.tolist(),
            }
            ck["rows"].append(row)
            say(
                f"step {target:>6} {name:>6}: n={res.n} lambda in [{rep.lambda_min:.3g}, {rep.lambda_max:.3g}], "
                f"negative weight {rep.negative_weight:.3f} -> {rep.verdict}; SLQ {slq_seconds:.1f} s"
                + (
                    f"; proxy rel. error at T={cfg.horizon}: {row['proxy_rel_error_at_horizon']:.3g}"
                    if cfg.proxy_horizon
                    else ""
                )
            )
        ck["model"] = {k: v.clone() for k, v in model.state_dict().items()}
        run.save_checkpoint(ck)
        measured_now += 1
    _write_spectrum_outputs(run, cfg, task, ck, n_params, figures)
    run.complete()
    return run.root


def _write_spectrum_outputs(
    run: Any, cfg: ScaleSpectrumConfig, task: Any, ck: dict, n_params: int, figures: bool = True
) -> None:
    from ..experiments._common import new_figure

    rows = sorted(ck["rows"], key=lambda r: (r["step"], r["model"]))
    thresholds = asdict(dissipativity([1.0]).thresholds)
    run.write_csv("spectrum.csv", rows)
    facts = {"model": cfg.model, "width": cfg.width, "norm": cfg.norm, "n": n_params, "data": task.facts()}
    run.write_json(
        "results.json",
        {
            "config": asdict(cfg),
            "facts": facts,
            "thresholds": thresholds,
            "rows": rows,
            "densities": ck["densities"],
            "proxies": ck["proxies"],
            "measured_seconds_sgd": ck["sgd_seconds"],
            "measured_seconds_per_sgd_step": ck["sgd_seconds"] / max(ck["step"], 1),
            "basis": "measured (SLQ from Hessian-vector products, proxy and training on this machine); the proxy "
            "definition is ours (qnewton.carleman.proxy)",
        },
    )
    if not figures:
        run.write_report(_spectrum_report(cfg, rows, facts, thresholds, ck))
        return
    variants = [v for v in ("full", "pruned") if any(r["model"] == v for r in rows)]
    steps = sorted({r["step"] for r in rows})
    fig, axes = new_figure(len(variants), width=5.5, height=4.0)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    for ax, name in zip(axes, variants):
        for i, s in enumerate(steps):
            d = ck["densities"].get(f"{name}@{s}")
            if d:
                ax.plot(d["grid"], np.log10(np.maximum(d["density"], 1e-8)), color=f"C{i}", lw=1.1, label=f"step {s}")
        ax.axvline(0.0, color="k", lw=0.6, ls=":")
        ax.set_ylim(-8, None)
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("log10 density (SLQ, Gaussian-smoothed)")
        n = next(r["n"] for r in rows if r["model"] == name)
        title = f"full Hessian, n = {n:,}" if name == "full" else f"pruned to {cfg.prune_density:.0%}: n = {n:,} kept"
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Hessian eigenvalue density during SGD: {cfg.model} w{cfg.width} on {task.name} (lr {cfg.lr}; measured)",
        fontsize=10,
    )
    run.save_figure(fig, "spectrum_density.png")

    fig, axes = new_figure(3, width=4.4, height=3.6)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    for name, style in (("full", "-o"), ("pruned", "--s")):
        sel = [r for r in rows if r["model"] == name]
        if not sel:
            continue
        st = [max(r["step"], 0.5) for r in sel]
        axes[0].plot(st, [r["negative_weight"] for r in sel], style, label=name)
        axes[1].plot(st, [r["spectral_width"] for r in sel], style, label=name)
        axes[2].plot(st, [r["negative_ratio"] for r in sel], style, label=name)
    axes[0].axhline(thresholds["almost_negative_share"], color="gray", ls=":", lw=0.8)
    axes[2].axhline(thresholds["almost_negative_ratio"], color="gray", ls=":", lw=0.8)
    axes[0].set_ylabel("negative weight (share of sum|lambda|)")
    axes[1].set_ylabel("lambda_max - lambda_min (broadening)")
    axes[2].set_ylabel("|lambda_min| / lambda_max")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("SGD step (0 plotted at 0.5)")
        ax.legend(fontsize=7)
    fig.suptitle("Dissipativity along training (dotted: 'almost dissipative' thresholds; measured)", fontsize=10)
    run.save_figure(fig, "dissipativity.png")

    if ck["proxies"]:
        fig, axes = new_figure(2, width=5.0, height=3.8)
        fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
        for i, s in enumerate(steps):
            for name, ls in (("full", "-"), ("pruned", "--")):
                tr = ck["proxies"].get(f"{name}@{s}")
                if tr:
                    e = np.maximum(np.asarray(tr["rel_error"]), 1e-12)
                    axes[0].semilogy(np.arange(1, e.size + 1), e, ls, color=f"C{i}", lw=1, label=f"{name}, step {s}")
        axes[0].axvline(cfg.horizon, color="k", ls=":", lw=0.7)
        axes[0].set_xlabel("steps since the checkpoint (dotted: re-upload window)")
        axes[0].set_ylabel("|theta_lin - theta| / |theta - theta_w| (ours)")
        axes[0].set_title("linearization error proxy", fontsize=9)
        axes[0].legend(fontsize=6)
        for name, style in (("full", "-o"), ("pruned", "--s")):
            sel = [r for r in rows if r["model"] == name and "proxy_rel_error_at_horizon" in r]
            if sel:
                st = [max(r["step"], 0.5) for r in sel]
                axes[1].loglog(
                    st, [max(r["proxy_rel_error_at_horizon"], 1e-12) for r in sel], style, label=f"{name}: proxy at T"
                )
                axes[1].loglog(
                    st,
                    [max(r["linear_growth_over_T"], 1e-12) for r in sel],
                    ":",
                    marker="x",
                    label=f"{name}: max|1 - eta lambda|^T",
                )
        axes[1].set_xlabel("checkpoint (SGD step; 0 at 0.5)")
        axes[1].set_title(f"at T = {cfg.horizon}: proxy vs spectral growth", fontsize=9)
        axes[1].legend(fontsize=6)
        run.save_figure(fig, "proxy.png")
    run.write_report(_spectrum_report(cfg, rows, facts, thresholds, ck))


def _spectrum_report(cfg: ScaleSpectrumConfig, rows: list, facts: dict, thresholds: dict, ck: dict) -> str:
    d = facts["data"]
    lines = [
        "# Hessian spectra, dissipativity and the error proxy along training at model scale",
        "",
        f"{facts['model']}, width {facts['width']}, norm {facts['norm']!r}: n = {facts['n']:,} parameters; "
        f"{d['dataset']} ({d['n_train']} training images); plain SGD lr {cfg.lr}, batch {cfg.batch_size}. Hessian of "
        f"the mean cross-entropy over {cfg.hessian_samples} fixed training images, by stochastic Lanczos quadrature "
        f"({cfg.num_probes} Rademacher probes x {cfg.lanczos_steps} Lanczos steps, full reorthogonalization) from "
        "Hessian-vector products of the whole model; pruned = global magnitude pruning of the current weights to "
        f"{cfg.prune_density} (pruned weights set to 0), Hessian restricted to the kept coordinates. All figures "
        f"**measured** on this machine ({ck['sgd_seconds'] / max(ck['step'], 1):.3g} s per SGD step).",
        "",
        f"Verdict thresholds: flat band |lambda| <= {thresholds['zero_tol']:g} max|lambda|; 'almost dissipative' "
        f"needs negative weight <= {thresholds['almost_negative_share']:g}, |lambda_min|/lambda_max <= "
        f"{thresholds['almost_negative_ratio']:g} and eta |lambda_min| T <= {thresholds['almost_growth']:g} "
        f"(eta = {cfg.lr}, T = {cfg.horizon}).",
        "",
        "| step | model | n | test acc | lambda_min | lambda_max | eta lambda_max | neg. weight | max|1 - eta lambda| "
        "| its T-th power | verdict | proxy at T (ours) | nnz/row | SLQ s | s/HVP |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['step']} | {r['model']} | {r['n']:,} | {r['test_accuracy']:.3f} | {r['lambda_min']:.3g} | "
            f"{r['lambda_max']:.3g} | {r['eta_lambda_max']:.3g} | {r['negative_weight']:.4f} | "
            f"{r['linear_growth_per_step']:.4g} | {r['linear_growth_over_T']:.3g} | {r['verdict']} | "
            f"{r.get('proxy_rel_error_at_horizon', float('nan')):.3g} | {r['hessian_nnz_per_row']:.4g} | "
            f"{r['slq_measured_seconds']:.3g} | {r['seconds_per_hvp']:.3g} |"
        )
    lines += [
        "",
        "Negative weight = share of sum|lambda| on negative eigenvalues (what the verdict uses); max|1 - eta lambda| "
        "= the largest factor by which one step of the linearized recursion can amplify a displacement (a negative "
        "mode, or a top mode past the stability limit eta lambda_max = 2), its T-th power the exponential part of "
        "the linearized recursion's error growth over a window. nnz/row = measured nonzeros of a Hessian row. "
        "Proxy at T (**ours**, "
        "`qnewton.carleman.proxy`) = |theta_lin - theta| / |theta - theta_w| after T steps from the checkpoint: the "
        "order-1 Carleman (linearized) recursion against the true SGD trajectory.",
        "",
        "![density](spectrum_density.png)",
        "",
        "![dissipativity](dissipativity.png)",
    ]
    if ck["proxies"]:
        lines += ["", "![proxy](proxy.png)"]
    return "\n".join(lines)


# =============================================================================================
# what an SLQ costs as n grows
# =============================================================================================


def forward_flops(model: nn.Module, image: tuple[int, int, int]) -> float:
    """Multiply-adds x 2 of one forward pass of one image through the convolutions and the linear
    layer (by hooks; elementwise operations are not counted)."""
    total = 0.0
    hooks = []

    def conv_hook(m: nn.Conv2d, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        cin = m.in_channels // m.groups
        total += 2.0 * out.numel() / out.shape[0] * cin * m.kernel_size[0] * m.kernel_size[1]

    def lin_hook(m: nn.Linear, inp: Any, out: torch.Tensor) -> None:
        nonlocal total
        total += 2.0 * m.in_features * m.out_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
    try:
        with torch.no_grad():
            model(torch.zeros(1, *image))
    finally:
        for h in hooks:
            h.remove()
    return total


@dataclass(frozen=True)
class SlqCostConfig(Checked):
    """Settings of :func:`run_slq_cost` (`qnewton spectrum --model resnet<depth> --cost-scaling`):
    short timings of Hessian-vector products at small n, every field validated at construction.

    ``model``/``norm`` fix the architecture (its depth), ``widths`` are timed (n grows like
    width^2) on random ``channels`` x ``image_size`` x ``image_size`` inputs with ``num_classes``
    outputs; the predicted SLQ is ``num_probes`` x ``lanczos_steps`` HVPs over ``hessian_samples``
    images; ``repeats`` timed HVPs per width (after a warm-up); ``budget_seconds`` the SLQ budget the
    largest affordable model is found for; ``extrapolate`` (label, width) pairs whose cost is
    extrapolated (the paper's 7M and 103M).
    """

    model: str = C.resnet("resnet20")
    norm: str = C.norm()
    widths: tuple[int, ...] = option((8, 16, 24, 32), "the widths timed (at least two)", check="natural")
    channels: int = option(1, "channels of the random input images", check="natural")
    image_size: int = option(28, "side of the random input images", check="natural")
    num_classes: int = option(10, "outputs of the network", check="natural")
    hessian_samples: int = C.hessian_samples(128)
    num_probes: int = C.num_probes(3)
    lanczos_steps: int = C.lanczos_steps(50)
    repeats: int = option(
        3, "timed HVPs per width, after one warm-up", check=lambda v: None if 1 <= v <= 100 else "must be in [1, 100]"
    )
    budget_seconds: float = option(
        600.0, "SLQ budget per checkpoint the largest affordable model is found for", check="positive"
    )
    extrapolate: tuple[tuple[str, int], ...] = option(
        (("7M (paper, width 80)", 80), ("103M (paper, width 312)", 312)),
        "(label, width) pairs extrapolated to",
        cli=False,
    )
    seed: int = C.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        from ..models.resnet import resnet_config

        if len(self.widths) < 2:
            raise InvalidArgumentError("`widths` needs at least two widths to fit the growth of the cost.")
        for w in self.widths:
            resnet_config(self.model, width=w, norm=self.norm)

    @property
    def image(self) -> tuple[int, int]:
        """(channels, side) of the input."""
        return self.channels, self.image_size

    @classmethod
    def quick(cls, seed: int = 0) -> SlqCostConfig:
        return cls(model="resnet8", widths=(2, 4), hessian_samples=16, repeats=1, seed=seed)


def _lanczos_constant() -> float:
    """Measured seconds per (n k^2) of the Lanczos bookkeeping with full reorthogonalization (a
    short run at n = 2e5, k = 30, with a free matvec): the O(k^2 n) part of an SLQ probe."""
    from .slq import lanczos_tridiagonal

    m, kk = 200_000, 30
    t0 = time.perf_counter()
    lanczos_tridiagonal(lambda v: v * 1.0001, np.random.default_rng(0).standard_normal(m), kk)
    return (time.perf_counter() - t0) / (m * kk * kk)


@single_thread
def run_slq_cost(cfg: SlqCostConfig, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    """Time HVPs of the model at the given widths, fit seconds ~ a n^b, predict one SLQ's cost and
    extrapolate to the paper's sizes; write scaling.csv, slq_cost.png, results.json and report.md."""
    from ..carleman.scale import hvp_config
    from ..experiments._common import new_figure
    from ..experiments._run import RunDir
    from ..models.resnet import resnet, resnet_config
    from .hessian import hessian_operator

    run = RunDir(out, "slq-cost", asdict(cfg), fresh=fresh)
    c, side = cfg.image
    gen = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(cfg.hessian_samples, c, side, side, generator=gen)
    y = torch.randint(0, cfg.num_classes, (cfg.hessian_samples,), generator=gen)
    rows = []
    c_lanczos = _lanczos_constant()
    for w in cfg.widths:
        rc = resnet_config(cfg.model, width=w, norm=cfg.norm, in_channels=c, num_classes=cfg.num_classes)
        model = resnet(rc, seed=cfg.seed).eval()
        n = rc.num_parameters()
        op = hessian_operator(model, (x, y), config=hvp_config())
        v = np.random.default_rng(cfg.seed).standard_normal(n)
        op.matvec(v)  # warm-up: builds the gradient graph
        t0 = time.perf_counter()
        for _ in range(cfg.repeats):
            op.matvec(v)
        hvp = (time.perf_counter() - t0) / cfg.repeats
        t0 = time.perf_counter()
        for _ in range(cfg.repeats):
            model.zero_grad()
            nn.CrossEntropyLoss()(model(x), y).backward()
        grad = (time.perf_counter() - t0) / cfg.repeats
        lanczos = c_lanczos * n * cfg.lanczos_steps**2
        probe = cfg.lanczos_steps * hvp + lanczos
        batch_flops = forward_flops(model, (c, side, side)) * cfg.hessian_samples
        rows.append(
            {
                "width": w,
                "n": n,
                "measured_seconds_per_hvp": hvp,
                "measured_seconds_per_gradient": grad,
                "hvp_per_gradient": hvp / grad,
                "forward_gflop_per_batch": batch_flops / 1e9,
                "achieved_gflops_hvp": 4.0 * batch_flops / hvp / 1e9,
                "lanczos_bookkeeping_seconds": lanczos,
                "seconds_per_probe": probe,
                "seconds_per_slq": cfg.num_probes * probe,
                "basis_memory_gb": cfg.lanczos_steps * n * 8 / 1e9,
            }
        )
        if progress:
            print(
                f"[slq-cost] width {w}: n = {n:,}, {hvp:.3f} s per HVP, SLQ {cfg.num_probes * probe:.1f} s", flush=True
            )

    # forward FLOPs are exactly quadratic in the width (convolutions ~ w^2, stem and classifier ~ w):
    # interpolate them from widths 1, 2, 3 instead of building large models
    def rc_of(w: int) -> Any:
        return resnet_config(cfg.model, width=w, norm=cfg.norm, in_channels=c, num_classes=cfg.num_classes)

    f123 = [forward_flops(resnet(rc_of(w), seed=0).eval(), (c, side, side)) for w in (1, 2, 3)]
    quad = np.polyfit([1.0, 2.0, 3.0], f123, 2)

    def flops(w: int) -> float:
        return float(np.polyval(quad, w)) * cfg.hessian_samples

    # seconds per HVP = a + b * (forward FLOPs of the batch): a fixed overhead plus work
    F = np.array([flops(int(r["width"])) for r in rows])
    t = np.array([r["measured_seconds_per_hvp"] for r in rows])
    b, a = np.polyfit(F, t, 1)
    if a < 0 or b <= 0:  # keep the model physical: no negative overhead
        a, b = 0.0, float(F @ t / (F @ F))
    best = max(r["achieved_gflops_hvp"] for r in rows) * 1e9

    def hvp_seconds(w: int) -> float:
        return a + b * flops(w)

    def slq_seconds(w: int) -> float:
        n = rc_of(w).num_parameters()
        return cfg.num_probes * (cfg.lanczos_steps * hvp_seconds(w) + c_lanczos * n * cfg.lanczos_steps**2)

    def slq_seconds_best(w: int) -> float:
        n = rc_of(w).num_parameters()
        return cfg.num_probes * (cfg.lanczos_steps * 4.0 * flops(w) / best + c_lanczos * n * cfg.lanczos_steps**2)

    # the largest width (hence n) whose predicted SLQ fits the budget
    largest = None
    for w in range(1, 4097):
        if slq_seconds(w) > cfg.budget_seconds:
            break
        largest = (w, rc_of(w).num_parameters())
    extrap = []
    for label, w in cfg.extrapolate:
        n = rc_of(w).num_parameters()
        extrap.append(
            {
                "label": label,
                "width": w,
                "n": n,
                "predicted_seconds_per_hvp_here": hvp_seconds(w),
                "predicted_seconds_per_slq_here": slq_seconds(w),
                "predicted_seconds_per_slq_at_best_throughput": slq_seconds_best(w),
                "hvp_tflop": 4.0 * flops(w) / 1e12,
                "slq_tflop": 4.0 * flops(w) * cfg.num_probes * cfg.lanczos_steps / 1e12,
                "basis_memory_gb": cfg.lanczos_steps * n * 8 / 1e9,
            }
        )
    run.write_csv("scaling.csv", rows)
    results = {
        "config": asdict(cfg),
        "rows": rows,
        "fit": {
            "a_seconds": float(a),
            "b_seconds_per_flop": float(b),
            "form": "seconds per HVP = a + b x (forward FLOPs of the Hessian batch), least squares",
            "best_measured_gflops": best / 1e9,
        },
        "lanczos_seconds_per_n_k2": c_lanczos,
        "largest_within_budget": None if largest is None else {"width": largest[0], "n": largest[1]},
        "extrapolation": extrap,
        "basis": "measured (timings on this machine); predicted_* = the fitted power law, extrapolated",
    }
    run.write_json("results.json", results)
    fig, (ax,) = new_figure(1, width=5.6, height=4.0)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    ns = np.array([r["n"] for r in rows])
    ax.loglog(ns, [r["measured_seconds_per_hvp"] for r in rows], "o", label="HVP (measured)")
    ax.loglog(
        ns,
        [r["seconds_per_slq"] for r in rows],
        "s",
        label=f"one SLQ, {cfg.num_probes} x {cfg.lanczos_steps} (measured HVPs)",
    )
    ws = np.unique(
        np.geomspace(min(cfg.widths), max([w for _, w in cfg.extrapolate] + list(cfg.widths)), 40).astype(int)
    )
    grid = np.array([rc_of(int(w)).num_parameters() for w in ws])
    ax.loglog(grid, [hvp_seconds(int(w)) for w in ws], "-", color="C0", lw=0.8, label="HVP: a + b FLOPs (fit)")
    ax.loglog(grid, [slq_seconds(int(w)) for w in ws], "-", color="C1", lw=0.8, label="SLQ predicted (fit)")
    ax.loglog(
        grid, [slq_seconds_best(int(w)) for w in ws], "--", color="C1", lw=0.8, label="SLQ at the best throughput"
    )
    ax.axhline(cfg.budget_seconds, color="k", ls=":", lw=0.8, label=f"budget {cfg.budget_seconds:g} s")
    for e in extrap:
        ax.axvline(e["n"], color="gray", ls="--", lw=0.6)
        ax.text(
            e["n"],
            0.02,
            e["label"],
            rotation=90,
            fontsize=6,
            va="bottom",
            ha="right",
            transform=ax.get_xaxis_transform(),
        )
    ax.set_xlabel("parameters n")
    ax.set_ylabel("seconds (1 thread, this machine)")
    ax.set_title(f"{cfg.model} (width varied), Hessian over {cfg.hessian_samples} images", fontsize=9)
    ax.legend(fontsize=6)
    run.save_figure(fig, "slq_cost.png")
    lines = [
        "# What one SLQ of the full Hessian costs as the model grows",
        "",
        f"{cfg.model}, widths {list(cfg.widths)}, input {c} x {side} x {side}, Hessian of the mean cross-entropy over "
        f"{cfg.hessian_samples} images; one SLQ = {cfg.num_probes} probes x {cfg.lanczos_steps} Lanczos steps (HVPs) "
        "with full reorthogonalization. Timings **measured** here with one torch thread; larger n **predicted** by "
        "the fitted power law (labelled).",
        "",
        "| width | n | s/HVP | HVP/gradient | GFLOP fwd/batch | s/probe | s/SLQ | basis GB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['width']} | {r['n']:,} | {r['measured_seconds_per_hvp']:.3g} | {r['hvp_per_gradient']:.2f} | "
            f"{r['forward_gflop_per_batch']:.3g} | {r['seconds_per_probe']:.3g} | {r['seconds_per_slq']:.3g} | "
            f"{r['basis_memory_gb']:.3g} |"
        )
    lines += [
        "",
        f"Fit: seconds per HVP = {a:.3g} + {b:.3g} x forward FLOPs of the batch (overhead + work; the FLOPs "
        f"of a width are exact, quadratic in it); best throughput measured {best / 1e9:.3g} GFLOP/s (HVP = 4 "
        "forward FLOPs).",
        "",
        (
            f"Largest {cfg.model} whose SLQ is predicted within {cfg.budget_seconds:g} s: width {largest[0]}, "
            f"n = {largest[1]:,}."
            if largest
            else f"No width fits {cfg.budget_seconds:g} s at these settings."
        ),
        "",
        "| extrapolated | n | predicted s/HVP here | predicted SLQ here (fit) | SLQ at the best throughput | "
        "TFLOP per HVP | TFLOP per SLQ | basis GB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in extrap:
        lines.append(
            f"| {e['label']} | {e['n']:,} | {e['predicted_seconds_per_hvp_here']:.3g} | "
            f"{e['predicted_seconds_per_slq_here']:.3g} s ({e['predicted_seconds_per_slq_here'] / 3600:.3g} h) | "
            f"{e['predicted_seconds_per_slq_at_best_throughput'] / 3600:.3g} h | {e['hvp_tflop']:.3g} | "
            f"{e['slq_tflop']:.3g} | {e['basis_memory_gb']:.3g} |"
        )
    lines += [
        "",
        "TFLOP per HVP = 4 x the convolution/linear FLOPs of a forward pass of the Hessian batch (a reverse-over-"
        "reverse HVP costs about 2 gradients, one gradient about 2 forwards); divide by an accelerator's sustained "
        "throughput for its time (an assumption, not measured here). The Lanczos basis (k x n float64) must fit in "
        "memory, or use fewer steps / no reorthogonalization.",
        "",
        "![cost](slq_cost.png)",
    ]
    run.write_report("\n".join(lines))
    run.complete()
    return run.root
