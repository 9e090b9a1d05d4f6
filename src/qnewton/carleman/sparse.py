r"""Sparse training with download and re-upload at model scale (`qnewton carleman-train --model resnet...`).

The scheme of Liu et al., Nat. Commun. 15, 434 (2024) ("practical training scheme"): a network
pruned to a small density is trained in windows of T steps; each window is one quantum solve of
the (Carleman-linearized) SGD recursion; at its end the parameters are downloaded by sparse-state
tomography (noisy) and re-uploaded as the start of the next window, which resets the growth of
the truncation error; with QRAM, k classical dense steps (the paper: about 10) may run between the
download and the re-upload to counteract the broadening of the Hessian spectrum.

A ResNet has no polynomial gradient, so no Carleman system can be built for it (an actual solve
raises :class:`~qnewton.errors.NotPolynomialError`). What is emulated, per window:

1. **what the solver returns**: the SGD trajectory of the window itself (masked SGD, the minibatch
   of step t fixed by (seed, t): :mod:`qnewton.carleman.scale`) -- an idealized solver; its
   truncation error is *estimated* beside it by the linearization proxy
   (:mod:`qnewton.carleman.proxy`, ours), measured, not added to the parameters;
2. **download**: the kept parameters (``readout="parameters"``, the paper's "download the
   parameters") or the window's displacement (``"displacement"``: Carleman variables centered at
   the upload, as `qnewton carleman-train` on the 9-parameter network does) are read out by
   Kerenidis-Prakash l2 tomography of a sparse state with s = kept entries, 36 s ln s / delta^2
   copies per stage with ``copies_rule="kp"`` (the theorem's guarantee), or s / (4 delta^2) with
   ``"shot-noise"`` (default: the multinomial shot noise of the amplitudes then has an l2 error of
   about delta, while the KP count, 144 ln s times more, gives errors far below delta), by
   :func:`qnewton.carleman.readout.download`: modeled noise drawn from the exact multinomial
   statistics, the norm by amplitude estimation to relative ``norm_precision``, a postselection
   probability 1/2 as with T idle copies. 0 = an exact readout. The paper quotes only how the
   precision scales (1/sqrt(copies)); the sweep over delta shows what each value does;
3. **QRAM variant** (``dense_steps`` = k > 0): k dense SGD steps on all weights (the pruned ones
   move too), then (``reprune=True``, our reading) magnitude re-pruning to the same density, before
   the re-upload (a dense vector needs QRAM to upload; the re-pruning keeps the next window
   sparse); with ``reprune=False`` the mask stays and the pruned coordinates keep the values the
   dense steps gave them;
4. **re-upload**: exact (state preparation of the downloaded vector).

Against it: plain SGD on the same pruned network from the same start with the same minibatches
(with ``delta = 0`` and no dense steps the scheme *is* that run, bit for bit: tested).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._config import Checked, option
from .._validation import check_int_range
from ..errors import InvalidArgumentError
from ..experiments import _fields as F
from ..spectrum._threads import single_thread
from . import _fields as C
from ._fields import CARLEMAN_SOLVERS
from .proxy import LinearizationProxy, require_polynomial_gradient
from .readout import download
from .scale import (
    ImageTask,
    build_model,
    evaluate,
    get_flat,
    hessian_column_nnz,
    hvp_config,
    load_image_task,
    masked_sgd_step,
    prune_model,
    set_flat,
    split_mask,
)

__all__ = [
    "COPIES_RULES",
    "READOUT_TARGETS",
    "ArmSpec",
    "ScaleTrainConfig",
    "check_density",
    "check_precision",
    "check_window",
    "run_arm",
    "run_scale_train",
]

#: What a download reads out.
READOUT_TARGETS: tuple[str, ...] = ("parameters", "displacement")
#: How many tomography copies a download of accuracy delta takes.
COPIES_RULES: tuple[str, ...] = ("shot-noise", "kp")
_COPIES_TEXT = {"shot-noise": "s / (4 delta^2), error about delta", "kp": "Kerenidis-Prakash 36 s ln s / delta^2"}


def check_density(density: Any, name: str = "density") -> float:
    """Require a density in (0, 1] (the share of weights a pruned model keeps)."""
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not (0.0 < float(density) <= 1.0):
        raise InvalidArgumentError(
            f"`{name}` must be in (0, 1]: the share of weights kept after pruning (the paper: 0.1 = 10 %; 1 = dense), "
            f"got {density!r}. Pass e.g. --{name.replace('_', '-')} 0.1."
        )
    return float(density)


def check_window(window: Any, name: str = "window") -> int:
    """Require a window length >= 1 (steps between download and re-upload)."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or int(window) < 1:
        raise InvalidArgumentError(
            f"`{name}` must be an integer >= 1: the number of SGD steps T between download and re-upload "
            f"(the paper: 100), got {window!r}. Pass e.g. --{name.replace('_', '-')} 100."
        )
    return int(window)


def check_precision(precision: Any, name: str = "precision") -> float:
    """Require a tomography precision delta in [0, 1] (0 = exact readout)."""
    if isinstance(precision, bool) or not isinstance(precision, (int, float)) or not (0.0 <= float(precision) <= 1.0):
        raise InvalidArgumentError(
            f"`{name}` must be in [0, 1]: the l2 accuracy delta of the tomography of the downloaded unit vector "
            f"(0 = exact readout), got {precision!r}."
        )
    return float(precision)


@dataclass(frozen=True)
class ArmSpec:
    """One training run of the study.

    Attributes:
        name: label in tables and figures.
        window: steps T per window (plain SGD: the evaluation chunk).
        precision: tomography delta (0 = exact); ignored for plain SGD.
        dense_steps: k classical dense steps after each download (the QRAM variant), 0 = none.
        plain: plain masked SGD, no downloads (the baseline).
        proxy: compute the linearization proxy in this arm's windows.
        spectrum: measure the Hessian spectrum (SLQ) at this arm's window starts.
    """

    name: str
    window: int
    precision: float = 0.1
    dense_steps: int = 0
    plain: bool = False
    proxy: bool = True
    spectrum: bool = False

    def __post_init__(self) -> None:
        check_window(self.window)
        check_precision(self.precision)
        check_int_range(self.dense_steps, "dense_steps", 0, 10**6)


@dataclass(frozen=True)
class ScaleTrainConfig(Checked):
    """Settings of :func:`run_scale_train` (`qnewton carleman-train --model resnet...`), every
    field validated at construction.

    Attributes:
        model, width, norm: the network (:func:`qnewton.models.resnet_config`: resnet8/14/20/...).
        dataset, data_dir, n_train, n_test, eval_train, eval_test: the data and evaluation subsets.
        batch_size, lr: SGD minibatch and learning rate (plain SGD: no momentum, no weight decay).
        pretrain_steps: dense SGD steps before pruning (the classical pre-training).
        density: share of weights kept by magnitude pruning (the paper: 0.1).
        steps: SGD steps of every arm.
        window, delta: the main arm's window T (the paper: 100) and tomography l2 accuracy delta
            (0 = exact readout).
        norm_precision: relative accuracy of the amplitude-estimated norm of a download.
        readout: ``"parameters"`` or ``"displacement"`` (see the module docstring).
        copies_rule: ``"shot-noise"`` (s / (4 delta^2) copies: error about delta) or ``"kp"``
            (36 s ln s / delta^2: Kerenidis-Prakash's guarantee, error far below delta).
        window_sweep, delta_sweep: further arms (one value changed from the main arm each).
        qram, dense_steps: add the QRAM arm with k = ``dense_steps`` dense steps per download.
        reprune: after the dense steps, prune again by magnitude to ``density`` (a new mask; the
            next window is sparse again); False keeps the mask and leaves the pruned coordinates at
            the values the dense steps gave them (frozen during the windows: constants of the
            next window's system, uploaded by QRAM).
        solver: ``"proxy"`` (the only one for a ResNet; anything else raises NotPolynomialError).
        proxy_every: compute the proxy in every m-th window of the main, window-sweep and QRAM
            arms (0: never).
        eval_every: steps between evaluations inside a window.
        spectrum_every: SLQ of the pruned network's Hessian every m-th window of the plain, main
            and QRAM arms (0: never); slq_probes, slq_steps, hessian_samples: its settings.
        seed: initialization, batches, pruning, readout noise, probes.
    """

    model: str = C.resnet("resnet8")
    width: int = C.width()
    norm: str = C.norm()
    dataset: str = C.scale_dataset()
    data_dir: str | None = C.scale_data_dir()
    n_train: int | None = F.n_train()
    n_test: int | None = F.n_test(None)
    eval_train: int = C.eval_subset("training")
    eval_test: int = C.eval_subset("test")
    batch_size: int = F.batch_size(128)
    lr: float = option(0.1, "SGD learning rate (plain SGD: no momentum, no weight decay)", check="positive")
    pretrain_steps: int = C.pretrain_steps(300)
    density: float = option(0.1, "share of weights kept by magnitude pruning (the paper: 0.1)", check="fraction")
    steps: int = option(1500, "SGD steps of every arm", check="natural")
    window: int = C.window(100)
    delta: float = C.delta()
    norm_precision: float = C.norm_precision()
    readout: str = option(
        "parameters",
        "what a download reads out: parameters (the paper's) or displacement (since the window's start)",
        choices=READOUT_TARGETS,
    )
    copies_rule: str = option(
        "shot-noise",
        "tomography copies per download: shot-noise (s / (4 delta^2): error about delta) or kp (Kerenidis-Prakash "
        "36 s ln s / delta^2)",
        choices=COPIES_RULES,
    )
    window_sweep: tuple[int, ...] = option(
        (50, 200), "windows T of further arms (given without values: none)", check="natural"
    )
    delta_sweep: tuple[float, ...] = option(
        (0.03, 0.3), "tomography accuracies of further arms (given without values: none)", check=C.unit_closed
    )
    qram: bool = option(True, "add the QRAM arm: --dense-steps dense SGD steps after each download")
    dense_steps: int = option(10, "k dense steps per download of the QRAM arm (the paper: about 10)", check="count")
    reprune: bool = option(True, "QRAM arm: prune again by magnitude after the dense steps (off: keep the mask)")
    solver: str = option(
        "proxy",
        "Carleman solver: a ResNet has no polynomial gradient, so only its error proxy (proxy)",
        choices=("proxy", *CARLEMAN_SOLVERS),
    )
    proxy_every: int = option(2, "the error proxy in every m-th window of the scheme's arms (0: never)", check="count")
    eval_every: int = option(25, "SGD steps between evaluations inside a window", check="natural")
    spectrum_every: int = option(
        5, "SLQ of the pruned network's Hessian every m-th window of the plain, main and QRAM arms (0: never)",
        check="count",
    )  # fmt: skip
    slq_probes: int = option(2, "SLQ probes of those spectra", check="natural")
    slq_steps: int = option(32, "SLQ Lanczos steps of those spectra", check="natural")
    hessian_samples: int = C.hessian_samples(128)
    seed: int = C.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        from ..models.resnet import resnet, resnet_config

        tiny = resnet(resnet_config(self.model, width=1, norm=self.norm), seed=0)  # validates model and norm
        if self.solver != "proxy":
            require_polynomial_gradient(tiny, nn.CrossEntropyLoss(), name=f"{self.model} (--solver {self.solver})")
            raise InvalidArgumentError(f"`solver` must be 'proxy' for a ResNet, got {self.solver!r}.")
        C.check_scale_data(self.dataset, self.data_dir)
        for w in (self.window, *self.window_sweep):
            if w > self.steps:
                raise InvalidArgumentError(
                    f"a window of {w} steps is longer than `steps` = {self.steps}; raise --steps or shorten the "
                    "window.",
                    argument="steps",
                )
        if self.qram and self.dense_steps < 1:
            raise InvalidArgumentError(
                "`dense_steps` must be >= 1 for the QRAM arm; pass --dense-steps 10 or --no-qram.",
                argument="dense_steps",
            )

    @classmethod
    def quick(cls, seed: int = 0) -> ScaleTrainConfig:
        """A seconds-long version (tiny ResNet-8, a few hundred images) for tests and smoke runs."""
        return cls(
            width=4,
            n_train=1000,
            n_test=200,
            eval_train=200,
            eval_test=200,
            batch_size=32,
            pretrain_steps=40,
            steps=32,
            window=8,
            window_sweep=(4,),
            delta_sweep=(0.3,),
            dense_steps=2,
            eval_every=4,
            spectrum_every=2,
            slq_probes=1,
            slq_steps=8,
            hessian_samples=64,
            seed=seed,
        )

    def arms(self) -> list[ArmSpec]:
        """Plain SGD, the main arm, the sweeps and the QRAM arm, in the order they run."""
        main = f"T={self.window}, delta={self.delta:g}"
        out = [
            ArmSpec("plain SGD", self.window, 0.0, plain=True, proxy=False, spectrum=True),
            ArmSpec(main, self.window, self.delta, spectrum=True),
        ]
        out += [
            ArmSpec(f"T={w}, delta={self.delta:g}", w, self.delta)
            for w in dict.fromkeys(self.window_sweep)
            if w != self.window
        ]
        out += [
            ArmSpec(f"T={self.window}, delta={p:g}", self.window, p, proxy=False)
            for p in dict.fromkeys(self.delta_sweep)
            if p != self.delta
        ]
        if self.qram:
            out.append(
                ArmSpec(f"{main}, QRAM k={self.dense_steps}", self.window, self.delta, self.dense_steps, spectrum=True)
            )
        return out


# =============================================================================================
# one arm, one window at a time
# =============================================================================================


def _new_arm_state(start: dict[str, Any], index: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, 104_729, index])
    return {
        "model": {k: v.clone() for k, v in start["model"].items()},
        "mask": start["mask"].clone(),
        "step": 0,
        "window": 0,
        "rng": rng.bit_generator.state,
        "curve": [{"step": 0, "phase": "start", **start["metrics"]}],
        "windows": [],
        "sgd_seconds": 0.0,
        "sgd_steps": 0,
        "done": False,
    }


def _spectrum(model: nn.Module, mask: torch.Tensor, task: ImageTask, cfg: ScaleTrainConfig, window: int) -> dict:
    from ..models.resnet import curvature_mode
    from ..spectrum import dissipativity, hessian_slq

    t0 = time.perf_counter()
    with curvature_mode(model):
        res = hessian_slq(
            model,
            task.fixed_batch(cfg.hessian_samples, cfg.seed),
            nn.CrossEntropyLoss(),
            mask=mask.numpy(),
            num_probes=cfg.slq_probes,
            steps=cfg.slq_steps,
            seed=cfg.seed,
            config=hvp_config(),
        )
    rep = dissipativity(res, eta=cfg.lr, horizon=window)
    th, w = res.flat()
    nnz = hessian_column_nnz(model, task.fixed_batch(cfg.hessian_samples, cfg.seed), mask=mask, seed=cfg.seed)
    from ..spectrum.scale import linear_growth

    return {
        **{k: v for k, v in rep.to_dict().items() if k != "thresholds"},
        **linear_growth(rep.lambda_min, rep.lambda_max, cfg.lr, window),
        "hessian_nnz_per_row": nnz["nnz_exact"],
        "hessian_nnz_per_row_rtol": nnz["nnz_rtol"],
        "n": res.n,
        "nodes": th.tolist(),
        "weights": w.tolist(),
        "measured_seconds": time.perf_counter() - t0,
    }


def run_arm(
    model: nn.Module,
    task: ImageTask,
    arm: ArmSpec,
    state: dict[str, Any],
    cfg: ScaleTrainConfig,
    *,
    max_windows: int | None = None,
    on_window: Any = None,
) -> int:
    """Advance one arm window by window (``state`` is updated in place, see :func:`_new_arm_state`)
    until it has taken ``cfg.steps`` steps or ``max_windows`` windows ran; returns the windows run.

    ``on_window(state)`` is called after each window (the study saves its checkpoint there).
    """
    model.load_state_dict(state["model"])
    model.train()
    mask: torch.Tensor = state["mask"]
    masks = split_mask(model, mask)
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    crit = nn.CrossEntropyLoss()
    ran = 0
    while not state["done"] and (max_windows is None or ran < max_windows):
        w = state["window"]
        start_step = state["step"]
        T = min(arm.window, cfg.steps - start_step)
        theta_w = get_flat(model)
        record: dict[str, Any] = {"index": w, "start_step": start_step, "steps": T}
        if arm.spectrum and cfg.spectrum_every and w % cfg.spectrum_every == 0:
            record["spectrum"] = _spectrum(model, mask, task, cfg, arm.window)
        proxy = None
        if arm.proxy and not arm.plain and cfg.proxy_every and w % cfg.proxy_every == 0:
            proxy = LinearizationProxy(model, cfg.lr, mask=mask)
        t_proxy = 0.0
        for t in range(T):
            batch = task.batch(cfg.batch_size, cfg.seed, state["step"])
            if proxy is not None:
                t0 = time.perf_counter()
                proxy.advance(batch)
                t_proxy += time.perf_counter() - t0
            t0 = time.perf_counter()
            masked_sgd_step(model, batch, cfg.lr, masks, crit)
            state["sgd_seconds"] += time.perf_counter() - t0
            state["sgd_steps"] += 1
            state["step"] += 1
            if proxy is not None:
                proxy.record(get_flat(model))
            if t < T - 1 and (state["step"] % cfg.eval_every == 0):
                state["curve"].append({"step": state["step"], "phase": "train", **evaluate(model, task)})
        before = evaluate(model, task)
        state["curve"].append({"step": state["step"], "phase": "end of window", **before})
        if proxy is not None:
            record["proxy"] = proxy.trace.to_dict()
            record["proxy_measured_seconds"] = t_proxy
        if not arm.plain:
            theta_T = get_flat(model)
            kept = mask.reshape(-1)
            vec = theta_T[kept] - (theta_w[kept] if cfg.readout == "displacement" else 0.0)
            if arm.precision == 0.0:
                record["readout"] = {"exact": True, "relative_error": 0.0}
            else:
                v64 = vec.double().numpy()
                nrm = float(np.linalg.norm(v64))
                dl = download(
                    v64,
                    math.sqrt(2.0) * nrm,  # postselection p = 1/2: T idle copies of the final state
                    rng=rng,
                    delta=arm.precision,
                    norm_precision=cfg.norm_precision,
                    copies=max(1, math.ceil(v64.size / (4 * arm.precision**2)))
                    if cfg.copies_rule == "shot-noise"
                    else None,
                )
                noisy = theta_T.clone()
                noisy[kept] = theta_T[kept] + torch.from_numpy(dl.estimate - v64).to(theta_T.dtype)
                set_flat(model, noisy)
                record["readout"] = {
                    "exact": False,
                    **dl.to_dict(),
                    "entries": int(kept.sum()),
                    "noise_l2": float(torch.linalg.vector_norm((noisy - theta_T).double())),
                    "parameter_l2": float(torch.linalg.vector_norm(theta_T.double())),
                }
            after = evaluate(model, task)
            state["curve"].append({"step": state["step"], "phase": "after download", **after})
            record["dip_train_accuracy"] = before["train_accuracy"] - after["train_accuracy"]
            record["dip_test_accuracy"] = before["test_accuracy"] - after["test_accuracy"]
            if arm.dense_steps and state["step"] < cfg.steps:
                dense = [None] * len(masks)
                for _ in range(arm.dense_steps):
                    batch = task.batch(cfg.batch_size, cfg.seed, state["step"])
                    t0 = time.perf_counter()
                    masked_sgd_step(model, batch, cfg.lr, dense, crit)
                    state["sgd_seconds"] += time.perf_counter() - t0
                    state["sgd_steps"] += 1
                    state["step"] += 1
                state["curve"].append({"step": state["step"], "phase": "after dense steps", **evaluate(model, task)})
                if cfg.reprune:
                    new_mask = prune_model(model, cfg.density)
                    record["mask_changed"] = float((new_mask != mask).double().mean())
                    mask = new_mask
                    masks = split_mask(model, mask)
                    state["curve"].append(
                        {"step": state["step"], "phase": "after dense steps + re-prune", **evaluate(model, task)}
                    )
        state["windows"].append(record)
        state["window"] = w + 1
        state["done"] = state["step"] >= cfg.steps
        state["mask"] = mask
        state["model"] = {k: v.clone() for k, v in model.state_dict().items()}
        state["rng"] = rng.bit_generator.state
        ran += 1
        if on_window is not None:
            on_window(state)
    return ran


# =============================================================================================
# the study
# =============================================================================================


@single_thread
def run_scale_train(
    cfg: ScaleTrainConfig,
    out: str | Path,
    *,
    fresh: bool = False,
    progress: bool = True,
    max_windows: int | None = None,
    figures: bool = True,
) -> Path:
    """Run every arm of ``cfg`` (checkpointed after each window; a rerun resumes), then write
    results.json, curves.csv, windows.csv, the figures and report.md.

    ``max_windows`` stops after that many windows in this call (the run stays resumable): for
    splitting a long run, and for the resume test. ``figures=False`` skips the PNGs.
    """
    from ..experiments._run import RunDir

    def say(msg: str) -> None:
        if progress:
            print(f"[carleman-train] {msg}", flush=True)

    run = RunDir(out, "carleman-train-scale", asdict(cfg), fresh=fresh)
    task = load_image_task(
        cfg.dataset,
        cfg.data_dir,
        n_train=cfg.n_train,
        n_test=cfg.n_test,
        eval_train=cfg.eval_train,
        eval_test=cfg.eval_test,
        seed=cfg.seed,
    )
    model = build_model(cfg.model, task, width=cfg.width, norm=cfg.norm, seed=cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    arms = cfg.arms()
    ck = run.load_checkpoint()
    if ck is None:
        t0 = time.perf_counter()
        dense = [None] * len(list(model.parameters()))
        model.train()
        for s in range(cfg.pretrain_steps):  # classical dense pre-training, its own batch stream
            masked_sgd_step(model, task.batch(cfg.batch_size, cfg.seed + 1, s), cfg.lr, dense)
        pre = evaluate(model, task)
        mask = prune_model(model, cfg.density)
        start: dict[str, Any] = {
            "model": {k: v.clone() for k, v in model.state_dict().items()},
            "mask": mask,
            "metrics": evaluate(model, task),
            "dense_metrics": pre,
            "pretrain_measured_seconds": time.perf_counter() - t0,
        }
        ck = {"start": start, "arms": {}}
        say(
            f"{cfg.model} w{cfg.width}: n = {n_params}, pruned to {int(mask.sum())} kept "
            f"(density {cfg.density}); test acc {pre['test_accuracy']:.3f} dense -> "
            f"{start['metrics']['test_accuracy']:.3f} pruned"
        )
        run.save_checkpoint(ck)
    start = ck["start"]
    budget = max_windows
    for i, arm in enumerate(arms):
        state = ck["arms"].get(arm.name) or _new_arm_state(start, i, cfg.seed)
        ck["arms"][arm.name] = state
        if state["done"]:
            continue

        def save(st: dict[str, Any], arm: ArmSpec = arm) -> None:
            run.save_checkpoint(ck)
            last = st["curve"][-1]
            rec = st["windows"][-1]
            extra = ""
            if "proxy" in rec:
                extra += f", proxy rel. error {rec['proxy']['final_rel_error']:.3g}"
            if "dip_test_accuracy" in rec:
                extra += f", dip {rec['dip_test_accuracy']:+.3f}"
            say(
                f"{arm.name}: window {rec['index'] + 1}, step {st['step']}, test acc {last['test_accuracy']:.3f}{extra}"
            )

        ran = run_arm(model, task, arm, state, cfg, max_windows=budget, on_window=save)
        if budget is not None:
            budget -= ran
        if not state["done"]:
            say(f"stopped after {max_windows} windows (--stop-after); rerun the same command to resume")
            run.finish("stopped")  # resumable: the same settings resume it, other settings need --fresh
            return run.root
    _write_train_outputs(run, cfg, task, ck, arms, n_params, figures)
    run.complete()
    return run.root


def _arm_summary(cfg: ScaleTrainConfig, arm: ArmSpec, st: dict[str, Any]) -> dict[str, Any]:
    wins = st["windows"]
    final = st["curve"][-1]
    dips = [w["dip_test_accuracy"] for w in wins if "dip_test_accuracy" in w]
    prox = [w["proxy"]["final_rel_error"] for w in wins if "proxy" in w]
    rel = [w["readout"]["relative_error"] for w in wins if "readout" in w]
    return {
        "arm": arm.name,
        "window": arm.window,
        "precision": None if arm.plain else arm.precision,
        "dense_steps": arm.dense_steps,
        "plain": arm.plain,
        "steps": st["step"],
        "windows": len(wins),
        "final_train_accuracy": final["train_accuracy"],
        "final_test_accuracy": final["test_accuracy"],
        "final_train_loss": final["train_loss"],
        "mean_dip_test_accuracy": float(np.mean(dips)) if dips else None,
        "max_dip_test_accuracy": float(np.max(dips)) if dips else None,
        "mean_proxy_rel_error": float(np.mean(prox)) if prox else None,
        "max_proxy_rel_error": float(np.max(prox)) if prox else None,
        "mean_readout_relative_error": float(np.mean(rel)) if rel else None,
        "measured_seconds_per_sgd_step": st["sgd_seconds"] / max(st["sgd_steps"], 1),
    }


def _write_train_outputs(
    run: Any, cfg: ScaleTrainConfig, task: ImageTask, ck: dict, arms: list[ArmSpec], n: int, figures: bool = True
) -> None:
    from ..experiments._common import new_figure

    start = ck["start"]
    states = {a.name: ck["arms"][a.name] for a in arms}
    summary = [_arm_summary(cfg, a, states[a.name]) for a in arms]
    kept = int(start["mask"].sum())
    curves = [{"arm": a.name, **row} for a in arms for row in states[a.name]["curve"]]
    window_rows = []
    for a in arms:
        for w in states[a.name]["windows"]:
            row: dict[str, Any] = {
                "arm": a.name,
                "window": w["index"],
                "start_step": w["start_step"],
                "steps": w["steps"],
            }
            if "proxy" in w:
                row["proxy_final_abs_error"] = w["proxy"]["final_abs_error"]
                row["proxy_final_rel_error"] = w["proxy"]["final_rel_error"]
            if "readout" in w:
                r = w["readout"]
                row.update(
                    readout_relative_error=r.get("relative_error"),
                    copies_per_stage=r.get("copies_per_stage"),
                    qlsa_runs=r.get("qlsa_runs"),
                )
            for k in ("dip_train_accuracy", "dip_test_accuracy", "mask_changed"):
                if k in w:
                    row[k] = w[k]
            if "spectrum" in w:
                s = w["spectrum"]
                row.update(
                    lambda_min=s["lambda_min"],
                    lambda_max=s["lambda_max"],
                    negative_weight=s["negative_weight"],
                    verdict=s["verdict"],
                    growth_per_step=s["growth_per_step"],
                    linear_growth_per_step=s.get("linear_growth_per_step"),
                    hessian_nnz_per_row=s["hessian_nnz_per_row"],
                    slq_measured_seconds=s["measured_seconds"],
                )
            window_rows.append(row)
    run.write_csv("curves.csv", curves)
    run.write_csv("windows.csv", window_rows)
    run.write_csv("arms.csv", summary)
    facts = {
        "model": cfg.model,
        "width": cfg.width,
        "norm": cfg.norm,
        "n": n,
        "kept": kept,
        "density": cfg.density,
        "data": task.facts(),
        "dense_metrics_before_pruning": start["dense_metrics"],
        "pruned_metrics_at_start": start["metrics"],
        "pretrain_measured_seconds": start["pretrain_measured_seconds"],
    }
    run.write_json(
        "results.json",
        {
            "config": asdict(cfg),
            "facts": facts,
            "arms": summary,
            "windows": {a.name: states[a.name]["windows"] for a in arms},
            "curves": {a.name: states[a.name]["curve"] for a in arms},
            "basis": "accuracies, losses, proxy, spectra and measured_seconds measured here; the readout noise is "
            "modeled (Kerenidis-Prakash tomography statistics sampled), as are copies and qlsa_runs",
        },
    )
    if figures:
        _train_figures(run, cfg, arms, states, facts, new_figure)
    run.write_report(_train_report(cfg, arms, states, summary, facts))


def _train_figures(run: Any, cfg: ScaleTrainConfig, arms: list[ArmSpec], states: dict, facts: dict, new_figure: Any):
    main = arms[1].name
    shown = [a for a in arms if a.plain or a.name == main or a.dense_steps]
    fig, axes = new_figure(2, width=6.0, height=4.0)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    for ax, key, label in (
        (axes[0], "train_accuracy", "training accuracy"),
        (axes[1], "test_accuracy", "test accuracy"),
    ):
        for i, a in enumerate(shown):
            c = states[a.name]["curve"]
            ax.plot([r["step"] for r in c], [r[key] for r in c], "-", color=f"C{i}", lw=1.1, label=a.name)
            d = [r for r in c if r["phase"] == "after download"]
            if d:
                ax.plot([r["step"] for r in d], [r[key] for r in d], "v", color=f"C{i}", ms=4)
        for w in states[main]["windows"][1:]:
            ax.axvline(w["start_step"], color="gray", lw=0.4, ls=":")
        ax.set_xlabel("SGD step")
        ax.set_ylabel(f"{label} (fixed subset of {facts['data']['eval_' + key.split('_')[0]]})")
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Sparse training with download/re-upload: {facts['model']} w{facts['width']} (n = {facts['n']:,}, "
        f"{facts['kept']:,} kept) on {facts['data']['dataset']}; v = right after a noisy download (measured; "
        "readout noise modeled)",
        fontsize=9,
    )
    run.save_figure(fig, "carleman_train.png")

    fig, axes = new_figure(3, width=4.4, height=3.6)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    ax = axes[0]
    for i, a in enumerate(arms):
        wins = [w for w in states[a.name]["windows"] if "proxy" in w]
        if wins:
            ax.semilogy(
                [w["start_step"] for w in wins],
                [max(w["proxy"]["final_rel_error"], 1e-12) for w in wins],
                "o-",
                ms=3,
                color=f"C{i}",
                label=a.name,
            )
    ax.set_xlabel("window start (SGD step)")
    ax.set_ylabel("proxy (ours) at the window end:\n|theta_lin - theta| / |theta - theta_w|")
    ax.set_title("truncation-error proxy per window", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[1]
    wins = [w for w in states[main]["windows"] if "proxy" in w]
    for j, w in enumerate(wins[:: max(1, len(wins) // 6)]):
        e = np.maximum(np.asarray(w["proxy"]["abs_error"]), 1e-12)
        ax.semilogy(np.arange(1, len(e) + 1), e, "-", color=f"C{j}", lw=1, label=f"window at step {w['start_step']}")
    ax.set_xlabel("step inside the window")
    ax.set_ylabel("|theta_lin - theta| (ours)")
    ax.set_title(f"proxy inside windows ({main})", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[2]
    sweep_w = [a for a in arms if not a.plain and not a.dense_steps and a.precision == cfg.delta]
    sweep_p = [a for a in arms if not a.plain and not a.dense_steps and a.window == cfg.window]
    final = {a.name: states[a.name]["curve"][-1]["test_accuracy"] for a in arms}
    plain_acc = final[arms[0].name]
    ax.plot(
        [a.window for a in sorted(sweep_w, key=lambda a: a.window)],
        [final[a.name] for a in sorted(sweep_w, key=lambda a: a.window)],
        "o-",
        label=f"vs window T (delta {cfg.delta:g})",
    )
    ax2 = ax.twiny()
    ax2.plot(
        [a.precision for a in sorted(sweep_p, key=lambda a: a.precision)],
        [final[a.name] for a in sorted(sweep_p, key=lambda a: a.precision)],
        "s--",
        color="C1",
        label=f"vs precision delta (T {cfg.window})",
    )
    ax.axhline(plain_acc, color="k", lw=0.8, ls=":", label="plain SGD")
    ax.set_xlabel("window T (circles)")
    ax2.set_xlabel("tomography delta (squares)")
    ax.set_ylabel("final test accuracy")
    ax.legend(fontsize=6, loc="lower left")
    ax2.legend(fontsize=6, loc="lower right")
    run.save_figure(fig, "carleman_train_proxy.png")

    spec_arms = [a for a in arms if any("spectrum" in w for w in states[a.name]["windows"])]
    if spec_arms:
        fig, axes = new_figure(2, width=5.0, height=3.6)
        fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
        for i, a in enumerate(spec_arms):
            ws = [w for w in states[a.name]["windows"] if "spectrum" in w]
            axes[0].plot(
                [w["start_step"] for w in ws],
                [w["spectrum"]["negative_weight"] for w in ws],
                "o-",
                color=f"C{i}",
                label=a.name,
            )
            axes[1].plot(
                [w["start_step"] for w in ws],
                [w["spectrum"]["lambda_max"] - w["spectrum"]["lambda_min"] for w in ws],
                "o-",
                color=f"C{i}",
                label=a.name,
            )
        axes[0].set_ylabel("negative weight (share of sum|lambda|)")
        axes[1].set_ylabel("spectral width lambda_max - lambda_min")
        for ax in axes:
            ax.set_xlabel("SGD step")
            ax.legend(fontsize=6)
        fig.suptitle("Hessian of the pruned network along sparse training (SLQ, measured)", fontsize=9)
        run.save_figure(fig, "carleman_train_spectrum.png")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _train_report(cfg: ScaleTrainConfig, arms: list[ArmSpec], states: dict, summary: list, facts: dict) -> str:
    d = facts["data"]
    lines = [
        "# Sparse training with download and re-upload at model scale",
        "",
        f"Model: {facts['model']}, width {facts['width']}, norm {facts['norm']!r} (n = {facts['n']:,} parameters); "
        f"data: {d['dataset']} ({d['n_train']} train / {d['n_test']} test images, accuracy on fixed subsets of "
        f"{d['eval_train']} / {d['eval_test']}). Dense SGD pre-training ({cfg.pretrain_steps} steps, test accuracy "
        f"{facts['dense_metrics_before_pruning']['test_accuracy']:.3f}), then global magnitude pruning to density "
        f"{cfg.density}: {facts['kept']:,} parameters kept (test accuracy "
        f"{facts['pruned_metrics_at_start']['test_accuracy']:.3f} right after pruning). Every arm: {cfg.steps} plain "
        f"SGD steps (lr {cfg.lr}, batch {cfg.batch_size}; the same minibatch at the same step in every arm).",
        "",
        "Each window returns the window's SGD trajectory (an idealized solver; a ResNet has no polynomial gradient, "
        "so no Carleman system is built); its truncation error is **estimated** by the linearization proxy "
        "(**ours**: order-1 Carleman recursion at the window start vs the true trajectory, "
        "`qnewton.carleman.proxy`); the download reads the kept "
        f"{cfg.readout} by l2 tomography of a sparse state (**modeled** noise, copies per stage by the "
        f"{cfg.copies_rule!r} rule: {_COPIES_TEXT[cfg.copies_rule]}, "
        f"norm to {cfg.norm_precision:g} relative); the re-upload is exact. QRAM arm: k dense steps after each "
        "download, then re-pruning to the same density.",
        "",
        "| arm | windows | final train acc | final test acc | mean dip (test acc) | max dip | proxy rel. err "
        "(mean / max) | readout rel. err | s per SGD step (measured) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['arm']} | {s['windows']} | {s['final_train_accuracy']:.3f} | {s['final_test_accuracy']:.3f} | "
            f"{_fmt(s['mean_dip_test_accuracy'])} | {_fmt(s['max_dip_test_accuracy'])} | "
            f"{_fmt(s['mean_proxy_rel_error'])} / {_fmt(s['max_proxy_rel_error'])} | "
            f"{_fmt(s['mean_readout_relative_error'])} | {s['measured_seconds_per_sgd_step']:.3g} |"
        )
    lines += [
        "",
        "Dip = accuracy at the end of a window minus accuracy right after the noisy download (positive: a drop). "
        "Proxy rel. err = |theta_lin - theta| / |theta - theta_w| at the end of the window.",
        "",
        "![training](carleman_train.png)",
        "",
        "![proxy and sweeps](carleman_train_proxy.png)",
    ]
    spec = [(a, w) for a in arms for w in states[a.name]["windows"] if "spectrum" in w]
    if spec:
        lines += [
            "",
            f"Hessian of the pruned network at window starts (SLQ, {cfg.slq_probes} probes x {cfg.slq_steps} Lanczos "
            f"steps over {cfg.hessian_samples} fixed training images; **measured**):",
            "",
            "| arm | step | lambda_min | lambda_max | negative weight | growth/step | verdict | SLQ s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for a, w in spec:
            s = w["spectrum"]
            lines.append(
                f"| {a.name} | {w['start_step']} | {s['lambda_min']:.3g} | {s['lambda_max']:.3g} | "
                f"{s['negative_weight']:.3f} | {_fmt(s['growth_per_step'])} | {s['verdict']} | "
                f"{s['measured_seconds']:.3g} |"
            )
        lines += ["", "![spectrum](carleman_train_spectrum.png)"]
    return "\n".join(lines)
