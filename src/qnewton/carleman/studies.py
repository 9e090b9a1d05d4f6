"""The Carleman studies behind `qnewton carleman-error`, `carleman-train` and `carleman-cost`.

Each writes, into a run folder (:class:`qnewton.experiments._run.RunDir`), ``results.json``, a CSV
of its rows, PNG figures and ``report.md``; measured and modeled figures are labelled and kept in
separate fields.

* :func:`run_carleman_error`: error of the solved trajectory against exact gradient descent vs
  the truncation order K, the learning rate eta (all eta orders vs the O(eta) part only), the
  number of steps T and how dissipative the problem is; kappa(L) vs T against the cost model's
  bounds; the same system solved by every backend (sparse LU, Cholesky on the normal equations,
  the emulated QLSA ideal and noisy, the QSVT circuit on a tiny system); and the real digits
  model's window error vs K.
* :func:`run_carleman_train`: the windowed sparse-training scheme with download/re-upload on the
  pruned two-layer linear network (digits 4 vs 9), against exact gradient descent.
* :func:`run_carleman_cost`: modeled quantum cost (solve only and end to end) vs the calibrated
  classical O(T n) over n, for fully and almost dissipative regimes and sparse or dense gradients,
  with the model's sparsity and kappa bounds checked on small built systems.
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._config import Checked, option
from ..cost import QuantumCostModel
from ..errors import InvalidArgumentError
from ..spectrum._threads import single_thread
from ..spectrum.dissipativity import dissipativity
from . import _fields as C
from ._fields import CARLEMAN_SOLVERS
from .cost import CarlemanScaling, calibrate_sparse_gradient
from .linearization import carleman_map, carleman_system, gradient_descent
from .models import PrunedLinearNet, binary_digits, pretrain_dense
from .polynomial import PolynomialGradient, ridge_polynomial
from .solve import condition_number, price_carleman_system, solve_carleman
from .training import carleman_training

__all__ = [
    "CarlemanCostConfig",
    "CarlemanErrorConfig",
    "CarlemanTrainConfig",
    "digits_setup",
    "run_carleman_cost",
    "run_carleman_error",
    "run_carleman_train",
]


def _rel_error(theta: np.ndarray, exact: np.ndarray) -> float:
    """max_t ||theta_t - exact_t|| / max_t ||exact_t|| (the trajectory's own scale)."""
    scale = float(np.linalg.norm(exact, axis=1).max())
    return float(np.linalg.norm(theta - exact, axis=1).max() / max(scale, 1e-300))


# =============================================================================================
# carleman-error
# =============================================================================================


@dataclass(frozen=True)
class CarlemanErrorConfig(Checked):
    """Settings of :func:`run_carleman_error` (`qnewton carleman-error`), every field validated at
    construction.

    The synthetic problem is :func:`~qnewton.carleman.ridge_polynomial` (a loss with a cubic
    gradient and a critical point at 0 with Hessian eigenvalues ``eigenvalues``), started at a
    random point of norm ``radius``; ``eta`` and ``T`` are the base learning rate and number of
    steps, ``Ks``, ``etas``, ``Ts`` and ``lambda_mins`` the sweeps (the last over how dissipative
    the problem is, ``dissipativity_T`` steps long); ``kappa_Ts`` / ``kappa_K`` the kappa(L)
    measurement; ``solvers`` the backends of the cross-check (the circuit runs on a 1-parameter,
    K = 2, T = 3 system); ``real_model`` adds the digits model's window error vs ``real_Ks`` over
    ``real_window`` steps.
    """

    eigenvalues: tuple[float, ...] = option(
        (0.5, 1.0, 1.5),
        "Hessian eigenvalues at the critical point of the base problem (> 0: dissipative)",
        check=C.finite,
    )
    cubic: float = option(0.5, "strength of the cubic ridge terms of the loss", check=C.finite)
    quartic: float = option(0.3, "strength of the quartic ridge terms of the loss", check=C.finite)
    radius: float = option(0.5, "norm of the starting point theta_0", check="positive")
    eta: float = option(0.1, "base learning rate of gradient descent", check="positive")
    T: int = option(20, "base number of gradient-descent steps", check="natural")
    Ks: tuple[int, ...] = option((1, 2, 3, 4, 5), "truncation orders K of the sweeps", check=C.order)
    etas: tuple[float, ...] = option((0.02, 0.05, 0.1, 0.2, 0.4), "learning rates of the eta sweep", check="positive")
    Ts: tuple[int, ...] = option((5, 10, 20, 40, 80), "step counts of the T sweep", check="natural")
    lambda_mins: tuple[float, ...] = option(
        (0.5, 0.2, 0.05, 0.0, -0.05, -0.1, -0.2),
        "smallest Hessian eigenvalue of the dissipativity sweep (the others fixed)",
        check=C.finite,
    )
    dissipativity_T: int = option(
        60, "steps of the dissipativity sweep (long enough for a negative mode to grow)", check="natural"
    )
    kappa_Ts: tuple[int, ...] = option((5, 10, 20, 40, 80), "T values of the kappa(L) measurement", check="natural")
    kappa_K: int = C.K(2, "truncation order of the kappa(L) measurement")
    solvers: tuple[str, ...] = option(
        CARLEMAN_SOLVERS,
        "backends of the solver cross-check (circuit: the QSVT circuit on a tiny system, needs qnewton[quantum])",
        choices=CARLEMAN_SOLVERS,
    )
    real_model: bool = option(True, "also the pruned digits model's window error vs K")
    real_Ks: tuple[int, ...] = option((1, 2, 3), "truncation orders of the digits model's window", check=C.order)
    real_window: int = option(10, "steps of the digits model's window", check="natural")
    seed: int = C.seed()

    @classmethod
    def quick(cls, seed: int = 0) -> CarlemanErrorConfig:
        """Seconds-long version for tests."""
        return cls(
            Ks=(1, 2, 3),
            etas=(0.05, 0.2),
            Ts=(5, 20),
            lambda_mins=(0.5, 0.0, -0.2),
            dissipativity_T=20,
            kappa_Ts=(5, 10, 20),
            solvers=("direct", "cholesky", "emulated", "emulated-noisy"),
            real_Ks=(1, 2),
            real_window=5,
            seed=seed,
        )


def _theta0(n: int, radius: float, seed: int) -> np.ndarray:
    u = np.random.default_rng(seed + 1).standard_normal(n)
    return radius * u / np.linalg.norm(u)


def _trajectory_error(grad: PolynomialGradient, theta0: np.ndarray, eta: float, T: int, K: int, **kw) -> dict:
    exact = gradient_descent(grad, theta0, eta, T)
    cmap = carleman_map(grad, eta, K, **kw)
    sol = solve_carleman(carleman_system(cmap, theta0, T), "direct")
    err = np.linalg.norm(sol.theta - exact, axis=1)
    return {
        "rel_error": _rel_error(sol.theta, exact),
        "abs_error_final": float(err[-1]),
        "abs_error_max": float(err.max()),
        "carleman_size": cmap.size,
        "nnz_A": int(cmap.A.nnz),
        "residual": sol.residual,
    }


def digits_setup(
    positive: int = 4,
    negative: int = 9,
    hidden: int = 2,
    keep: int = 6,
    weight_decay: float = 1e-3,
    pretrain_steps: int = 1500,
    seed: int = 0,
) -> tuple[PrunedLinearNet, np.ndarray, dict[str, Any]]:
    """The pruned two-layer linear network of :mod:`qnewton.carleman.models` on digits, pre-trained
    dense and pruned to ``keep`` weights of W_1 by magnitude; returns (net, theta0, facts)."""
    data = binary_digits(positive, negative, seed=seed)
    W1, w2, b2 = pretrain_dense(data, hidden, steps=pretrain_steps, seed=seed)
    dense = PrunedLinearNet(np.ones_like(np.asarray(W1), dtype=bool), data, weight_decay)
    theta_dense = dense.pack(W1, w2, b2)
    mask = PrunedLinearNet.magnitude_mask(W1, keep)
    net = PrunedLinearNet(mask, data, weight_decay)
    theta0 = net.pack(W1, w2, b2)
    facts = {
        "data": data.source,
        "n_train": int(data.y_train.numel()),
        "n_test": int(data.y_test.numel()),
        "hidden": hidden,
        "dense_parameters": dense.n,
        "pruned_parameters": net.n,
        "kept": list(net.names),
        "weight_decay": weight_decay,
        "pretrain_steps": pretrain_steps,
        "dense_test_accuracy": dense.accuracy(theta_dense),
        "dense_train_loss": dense.loss_value(theta_dense),
        "pruned_test_accuracy_before_training": net.accuracy(theta0),
        "pruned_train_loss_before_training": net.loss_value(theta0),
    }
    return net, theta0, facts


@single_thread
def run_carleman_error(
    cfg: CarlemanErrorConfig, out: str | Path, *, fresh: bool = False, progress: bool = True
) -> Path:
    """Carleman trajectory error vs K, eta, T and dissipativity; kappa vs T; solver cross-check."""
    from ..experiments._common import new_figure
    from ..experiments._run import RunDir

    def say(msg: str) -> None:
        if progress:
            print(f"[carleman-error] {msg}", flush=True)

    run = RunDir(out, "carleman-error", asdict(cfg), fresh=fresh)
    n = len(cfg.eigenvalues)
    base, _ = ridge_polynomial(cfg.eigenvalues, cubic=cfg.cubic, quartic=cfg.quartic, seed=cfg.seed)
    theta0 = _theta0(n, cfg.radius, cfg.seed)
    base_verdict = dissipativity(np.asarray(cfg.eigenvalues), eta=cfg.eta, horizon=cfg.T).verdict
    rows: list[dict[str, Any]] = []

    # (a) error vs K, per eta, all eta orders and O(eta) only
    for eta in cfg.etas:
        for K in cfg.Ks:
            for order, label in ((None, "all eta orders"), (1, "O(eta) terms only")):
                if order == 1 and K == 1:
                    continue  # identical at K = 1
                r = _trajectory_error(base, theta0, eta, cfg.T, K, eta_order=order)
                rows.append({"sweep": "K x eta", "eta": eta, "T": cfg.T, "K": K, "terms": label, **r})
    say("error vs K and eta done")
    # (b) error vs T
    for T in cfg.Ts:
        for K in cfg.Ks:
            r = _trajectory_error(base, theta0, cfg.eta, T, K)
            rows.append({"sweep": "T", "eta": cfg.eta, "T": T, "K": K, "terms": "all eta orders", **r})
    say("error vs T done")
    # (c) error vs dissipativity
    for lmin in cfg.lambda_mins:
        eig = (lmin, *cfg.eigenvalues[1:])
        grad, _ = ridge_polynomial(eig, cubic=cfg.cubic, quartic=cfg.quartic, seed=cfg.seed)
        rep = dissipativity(np.asarray(eig), eta=cfg.eta, horizon=cfg.dissipativity_T)
        for K in cfg.Ks:
            try:
                r = _trajectory_error(grad, theta0, cfg.eta, cfg.dissipativity_T, K)
            except ArithmeticError as exc:  # GD itself diverged: record it
                r = {"rel_error": math.inf, "error": str(exc)}
            rows.append(
                {
                    "sweep": "dissipativity",
                    "eta": cfg.eta,
                    "T": cfg.dissipativity_T,
                    "K": K,
                    "lambda_min": lmin,
                    "lambda_ratio": lmin / max(cfg.eigenvalues[1:]),
                    "verdict": rep.verdict,
                    "terms": "all eta orders",
                    **r,
                }
            )
    say("error vs dissipativity done")

    # (d) kappa(L) vs T, measured, for three regimes, against the cost model's bounds
    kappa_rows: list[dict[str, Any]] = []
    forcing = 0.1 * _theta0(n, 1.0, cfg.seed + 7)  # a constant gradient term drives the flat mode
    for name, lmin in (("fully dissipative", cfg.eigenvalues[0]), ("marginal (almost)", 0.0), ("not", -0.1)):
        eig = (lmin, *cfg.eigenvalues[1:])
        g, _ = ridge_polynomial(eig, cubic=cfg.cubic, quartic=cfg.quartic, seed=cfg.seed)
        g = PolynomialGradient([forcing, *g.terms[1:]])
        verdict = dissipativity(np.asarray(eig), eta=cfg.eta, horizon=max(cfg.kappa_Ts)).verdict
        for T in cfg.kappa_Ts:
            system = carleman_system(carleman_map(g, cfg.eta, cfg.kappa_K), 0.2 * theta0, T)
            cond = condition_number(system.L)
            kappa_rows.append(
                {
                    "regime": name,
                    "verdict": verdict,
                    "lambda_min": lmin,
                    "T": T,
                    "K": cfg.kappa_K,
                    "kappa": cond.kappa,
                    "kappa_method": cond.method,
                    "bound_full": float(CarlemanScaling.kappa(T + 1, "full")),
                    "bound_almost": float(CarlemanScaling.kappa(T + 1, "almost")),
                }
            )
    say("kappa vs T done")

    # (e) every backend on one system
    solver_rows: list[dict[str, Any]] = []
    Ksolve, Tsolve = min(2, max(cfg.Ks)), min(10, cfg.T)
    system = carleman_system(carleman_map(base, cfg.eta, Ksolve), theta0, Tsolve)
    exact = gradient_descent(base, theta0, cfg.eta, Tsolve)
    reference = solve_carleman(system, "direct")
    cost_model = QuantumCostModel(eps=1e-3, gate_time="ghz")
    for name in cfg.solvers:
        if name == "circuit":
            continue
        t0 = time.perf_counter()
        sol = solve_carleman(system, name, cost_model=cost_model, seed=cfg.seed)
        solver_rows.append(_solver_row(name, sol, reference, exact, time.perf_counter() - t0, system.size))
    if "circuit" in cfg.solvers and importlib.util.find_spec("pennylane") is not None:
        tiny, _ = ridge_polynomial([1.0], cubic=cfg.cubic, seed=cfg.seed)
        tiny_sys = carleman_system(carleman_map(tiny, cfg.eta, 2), [0.5], 3)
        tiny_exact = gradient_descent(tiny, [0.5], cfg.eta, 3)
        tiny_ref = solve_carleman(tiny_sys, "direct")
        for name in ("direct", "circuit"):
            t0 = time.perf_counter()
            sol = solve_carleman(tiny_sys, name, cost_model=cost_model)
            row = _solver_row(name, sol, tiny_ref, tiny_exact, time.perf_counter() - t0, tiny_sys.size)
            row["system"] = "n = 1, K = 2, T = 3 (embedding 16 x 16)"
            if name == "circuit":
                row["circuit_degree"] = sol.report.details.get("polynomial_degree")
                row["circuit_kappa"] = sol.report.details.get("kappa_matrix")
            solver_rows.append(row)
    say("solver cross-check done")

    # (f) the real model: one window from the pruned start
    real: dict[str, Any] = {}
    if cfg.real_model:
        net, th0, facts = digits_setup(seed=cfg.seed)
        grad = PolynomialGradient.from_loss(net.loss, th0, 3)
        hess = np.linalg.eigvalsh(grad.term(1).toarray())
        eta_real = 0.1
        rep = dissipativity(hess, eta=eta_real, horizon=cfg.real_window)
        exact = gradient_descent(grad, th0, eta_real, cfg.real_window)
        real_rows = []
        for K in cfg.real_Ks:
            cmap = carleman_map(grad, eta_real, K)
            sol = solve_carleman(carleman_system(cmap, th0, cfg.real_window), "direct")
            err = np.linalg.norm(sol.theta - exact, axis=1)
            real_rows.append(
                {
                    "K": K,
                    "carleman_size": cmap.size,
                    "nnz_A": int(cmap.A.nnz),
                    "abs_error_final": float(err[-1]),
                    "abs_error_by_step": err.tolist(),
                    "displacement": float(np.linalg.norm(exact[-1] - th0)),
                }
            )
        real = {
            "model": facts,
            "eta": eta_real,
            "window": cfg.real_window,
            "hessian_eigenvalues": hess.tolist(),
            "verdict": rep.verdict,
            "rows": real_rows,
        }
        say("real model done")

    run.write_csv("errors.csv", rows)
    run.write_csv("kappa.csv", kappa_rows)
    run.write_csv("solvers.csv", solver_rows)
    results = {
        "config": asdict(cfg),
        "problem": {
            "kind": "ridge_polynomial (cubic gradient)",
            "n": n,
            "theta0": theta0.tolist(),
            "base_verdict": base_verdict,
        },
        "errors": rows,
        "kappa": kappa_rows,
        "solvers": solver_rows,
        "real_model": real,
        "basis": "measured (solves and errors on this machine); modeled_seconds fields are QLSA models",
    }
    run.write_json("results.json", results)
    _error_figures(run, cfg, rows, kappa_rows, real, new_figure)
    run.write_report(_error_report(cfg, rows, kappa_rows, solver_rows, real, base_verdict))
    run.complete()
    return run.root


def _solver_row(name, sol, reference, exact, seconds, size) -> dict[str, Any]:
    return {
        "solver": name,
        "reported_solver": sol.report.solver,
        "form": sol.form,
        "unknowns": size,
        "max_diff_vs_lu": float(np.abs(sol.theta - reference.theta).max()),
        "max_error_vs_gd": float(np.abs(sol.theta - exact).max()),
        "residual": sol.residual,
        "kappa": sol.facts.get("kappa"),
        "d": sol.facts.get("d"),
        "alpha": sol.facts.get("alpha"),
        "measured_seconds": seconds,
        "modeled_seconds": sol.report.modeled_seconds,
    }


def _error_figures(run, cfg, rows, kappa_rows, real, new_figure) -> None:
    fig, axes = new_figure(4, width=4.2, height=3.6)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    ax = axes[0]
    for i, eta in enumerate(cfg.etas):
        for label, ls in (("all eta orders", "-o"), ("O(eta) terms only", ":x")):
            sel = [r for r in rows if r["sweep"] == "K x eta" and r["eta"] == eta and r["terms"] == label]
            if label != "all eta orders":
                sel = [r for r in rows if r["sweep"] == "K x eta" and r["eta"] == eta and r["K"] == 1] + sel
            if sel:
                tag = f"eta {eta}" + ("" if label == "all eta orders" else " (O(eta) only)")
                errs = [max(r["rel_error"], 1e-17) for r in sel]
                ax.semilogy([r["K"] for r in sel], errs, ls, color=f"C{i}", label=tag, ms=4)
    ax.set_xlabel("truncation order K")
    ax.set_ylabel("max_t |theta_C - theta_GD| / max_t |theta_GD|")
    ax.set_title(f"vs K (T = {cfg.T})", fontsize=9)
    ax.legend(fontsize=6)
    ax = axes[1]
    for K in cfg.Ks:
        sel = [r for r in rows if r["sweep"] == "T" and r["K"] == K]
        ax.loglog([r["T"] for r in sel], [max(r["rel_error"], 1e-17) for r in sel], "-o", ms=4, label=f"K = {K}")
    ax.set_xlabel("steps T")
    ax.set_title(f"vs T (eta = {cfg.eta})", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2]
    for K in cfg.Ks:
        sel = [r for r in rows if r["sweep"] == "dissipativity" and r["K"] == K and math.isfinite(r["rel_error"])]
        ax.semilogy(
            [r["lambda_ratio"] for r in sel], [max(r["rel_error"], 1e-17) for r in sel], "-o", ms=4, label=f"K = {K}"
        )
    ax.axvline(0.0, color="k", lw=0.6, ls=":")
    ax.invert_xaxis()
    ax.set_xlabel("lambda_min / lambda_max (right: less dissipative)")
    ax.set_title(f"vs dissipativity (eta {cfg.eta}, T {cfg.dissipativity_T})", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[3]
    for i, regime in enumerate(dict.fromkeys(r["regime"] for r in kappa_rows)):
        sel = [r for r in kappa_rows if r["regime"] == regime]
        ax.loglog([r["T"] for r in sel], [r["kappa"] for r in sel], "-o", ms=4, color=f"C{i}", label=regime)
    Ts = [r["T"] for r in kappa_rows if r["regime"] == kappa_rows[0]["regime"]]
    ax.loglog(Ts, [CarlemanScaling.kappa(t + 1, "full") for t in Ts], "k--", lw=0.8, label="model bound 2(T+1)")
    ax.loglog(Ts, [CarlemanScaling.kappa(t + 1, "almost") for t in Ts], "k:", lw=0.8, label="model bound (T+1)(T+2)")
    ax.set_xlabel("steps T")
    ax.set_ylabel("kappa(L) (measured)")
    ax.set_title(f"condition number of the system (K = {cfg.kappa_K})", fontsize=9)
    ax.legend(fontsize=6)
    fig.suptitle("Discrete Carleman linearization of GD: error of the solved trajectory (measured)", fontsize=10)
    run.save_figure(fig, "carleman_error.png")
    if real:
        fig, (ax,) = new_figure(1, width=5.0, height=3.6)
        fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
        for r in real["rows"]:
            err = np.maximum(np.asarray(r["abs_error_by_step"]), 1e-17)
            ax.semilogy(range(len(err)), err, "-o", ms=3, label=f"K = {r['K']} (N_C = {r['carleman_size']})")
        ax.set_xlabel("step inside the window")
        ax.set_ylabel("|theta_C - theta_GD|")
        ax.set_title(f"pruned digits model (n = {real['model']['pruned_parameters']}), eta {real['eta']}", fontsize=9)
        ax.legend(fontsize=7)
        run.save_figure(fig, "carleman_error_digits.png")


def _error_report(cfg, rows, kappa_rows, solver_rows, real, base_verdict) -> str:
    def table(sel, cols, heads):
        out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        for r in sel:
            out.append("| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |")
        return out

    n = len(cfg.eigenvalues)
    lines = [
        "# Discrete Carleman linearization of gradient descent: error and conditioning",
        "",
        f"Synthetic problem: `ridge_polynomial` loss in n = {n} parameters, Hessian eigenvalues "
        f"{list(cfg.eigenvalues)} at its critical point 0 ({base_verdict}), cubic {cfg.cubic}, quartic "
        f"{cfg.quartic} (gradient of degree 3), start |theta_0| = {cfg.radius}. Error = max over steps of "
        "|theta_Carleman - theta_GD| relative to max |theta_GD| (exact GD on the same polynomial). The block "
        "system of all T steps is solved at once (sparse LU unless stated). Everything in this report is "
        "**measured** on this machine, except fields named modeled.",
        "",
        f"## Error vs truncation order K (T = {cfg.T}); 'O(eta) only' drops the eta^2, eta^3, ... terms",
        "",
    ]
    sel = [r for r in rows if r["sweep"] == "K x eta"]
    lines += table(
        sel,
        ["eta", "K", "terms", "rel_error", "carleman_size", "nnz_A"],
        ["eta", "K", "terms", "rel. error", "N_C", "nnz(A)"],
    )
    lines += ["", f"## Error vs steps T (eta = {cfg.eta})", ""]
    lines += table([r for r in rows if r["sweep"] == "T"], ["T", "K", "rel_error"], ["T", "K", "rel. error"])
    lines += ["", f"## Error vs dissipativity (eta = {cfg.eta}, T = {cfg.dissipativity_T})", ""]
    lines += table(
        [r for r in rows if r["sweep"] == "dissipativity"],
        ["lambda_min", "verdict", "K", "rel_error"],
        ["lambda_min", "verdict at 0", "K", "rel. error"],
    )
    lines += [
        "",
        f"## Condition number of the T-step system (K = {cfg.kappa_K}), measured vs the cost model's bounds",
        "",
    ]
    lines += table(
        kappa_rows,
        ["regime", "T", "kappa", "bound_full", "bound_almost"],
        ["regime", "T", "kappa(L)", "2(T+1)", "(T+1)(T+2)"],
    )
    lines += ["", "## The same system through every backend", ""]
    lines += table(
        solver_rows,
        [
            "solver",
            "form",
            "unknowns",
            "max_diff_vs_lu",
            "max_error_vs_gd",
            "kappa",
            "d",
            "alpha",
            "measured_seconds",
            "modeled_seconds",
        ],
        [
            "solver",
            "form",
            "N",
            "max diff vs LU",
            "max err vs GD",
            "kappa",
            "d",
            "alpha",
            "measured s",
            "modeled s (QLSA, eps 1e-3, 1 ns/query)",
        ],
    )
    lines += [
        "",
        "Forms: direct = sparse LU on L; normal = CholeskySolver on L^T L; embedding = [[0, L], [L^T, 0]] "
        "(symmetric indefinite, kappa unchanged) for the emulated QLSA (MINRES inside) and the QSVT circuit. "
        "emulated-noisy adds the QLSA's eps error and l2 tomography of the whole solution vector.",
    ]
    if real:
        m = real["model"]
        lines += [
            "",
            "## Real model: one window of the pruned digits network",
            "",
            f"{m['data']}; two-layer linear network, {m['dense_parameters']} parameters dense, pruned to "
            f"{m['pruned_parameters']}; Hessian at the pruned start: lambda in "
            f"[{min(real['hessian_eigenvalues']):.3g}, {max(real['hessian_eigenvalues']):.3g}] ({real['verdict']}); "
            f"eta {real['eta']}, window {real['window']}.",
            "",
        ]
        lines += table(
            real["rows"],
            ["K", "carleman_size", "nnz_A", "abs_error_final", "displacement"],
            ["K", "N_C", "nnz(A)", "|theta_C - theta_GD| at T", "|theta_T - theta_0|"],
        )
        lines += ["", "![digits](carleman_error_digits.png)"]
    lines += ["", "![errors](carleman_error.png)"]
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.3g}"
    return str(v)


# =============================================================================================
# carleman-train
# =============================================================================================


@dataclass(frozen=True)
class CarlemanTrainConfig(Checked):
    """Settings of :func:`run_carleman_train` (`qnewton carleman-train`; see
    :mod:`qnewton.carleman.training`), every field validated at construction.

    The two-layer linear network (``hidden`` units, ``keep`` entries of W_1 kept after pruning,
    weight decay ``weight_decay``) separates digit ``positive`` from ``negative`` after
    ``pretrain_steps`` dense GD steps; ``windows`` windows of ``window`` GD steps at learning rate
    ``eta``, each solved as one order-``K`` Carleman system by ``solver`` and read out with
    tomography accuracy ``delta`` (the norm to ``norm_precision``); the first window is also solved
    ``long_window`` steps long for each of ``long_Ks`` (error growth); ``qlsa_eps`` and ``gate_time``
    set the modeled QLSA cost. ``model`` is always ``"linear"`` (``--model resnet<depth>`` selects
    :class:`qnewton.carleman.sparse.ScaleTrainConfig` on the command line).
    """

    model: str = option(
        "linear",
        "the network: linear (the 9-parameter two-layer linear network on digits) or resnet<depth> (resnet8, "
        "resnet20, ...: the scheme at model scale, with the options of its group)",
        choices=("linear",),
    )
    positive: int = option(4, "the digit labelled +1", choices=tuple(range(10)))
    negative: int = option(9, "the digit labelled -1", choices=tuple(range(10)))
    hidden: int = option(2, "hidden units of the two-layer linear network", check="natural")
    keep: int = option(6, "entries of W_1 kept after pruning", check="natural")
    weight_decay: float = option(1e-3, "weight decay lambda of the squared loss", check="nonnegative")
    pretrain_steps: int = C.pretrain_steps(1500)
    eta: float = option(0.1, "gradient-descent learning rate", check="positive")
    window: int = C.window(10)
    windows: int = option(30, "number of windows", check="natural")
    K: int = C.K(2)
    solver: str = option(
        "emulated",
        "Carleman solver of the windows (proxy: the only one a ResNet has, its error proxy)",
        choices=CARLEMAN_SOLVERS,
    )
    delta: float = C.delta()
    norm_precision: float = C.norm_precision()
    long_window: int = option(60, "steps of the long first window (error growth with T)", check="natural")
    long_Ks: tuple[int, ...] = option((1, 2, 3), "truncation orders of the long window", check=C.order)
    gate_time: str | float = C.gate_time()
    qlsa_eps: float = C.qlsa_eps()
    seed: int = C.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.positive == self.negative:
            raise InvalidArgumentError(
                f"`positive` and `negative` are both {self.positive}; pass two different digits.", argument="negative"
            )
        if self.keep > 64 * self.hidden:
            raise InvalidArgumentError(
                f"`keep` = {self.keep} exceeds the {64 * self.hidden} entries of W_1 (hidden x 64 pixels).",
                argument="keep",
            )

    @classmethod
    def quick(cls, seed: int = 0) -> CarlemanTrainConfig:
        return cls(pretrain_steps=600, window=5, windows=3, long_window=15, long_Ks=(1, 2), seed=seed)


@single_thread
def run_carleman_train(
    cfg: CarlemanTrainConfig, out: str | Path, *, fresh: bool = False, progress: bool = True
) -> Path:
    """Windowed Carleman training with download/re-upload vs exact gradient descent."""
    from ..experiments._common import new_figure
    from ..experiments._run import RunDir

    run = RunDir(out, "carleman-train", asdict(cfg), fresh=fresh)
    net, theta0, facts = digits_setup(
        cfg.positive, cfg.negative, cfg.hidden, cfg.keep, cfg.weight_decay, cfg.pretrain_steps, cfg.seed
    )

    def evaluate(theta: np.ndarray) -> dict[str, float]:
        return {
            "train_loss": net.loss_value(theta),
            "train_accuracy": net.accuracy(theta, "train"),
            "test_accuracy": net.accuracy(theta, "test"),
        }

    def report_window(rec) -> None:
        if progress:
            print(
                f"[carleman-train] window {rec.index + 1}/{cfg.windows}: truncation error "
                f"{rec.truncation_error_final:.2e}, after readout {rec.error_after_readout:.2e}, train loss "
                f"{rec.metrics['train_loss']:.4f}, test acc {rec.metrics['test_accuracy']:.3f}",
                flush=True,
            )

    cost_model = QuantumCostModel(eps=cfg.qlsa_eps, gate_time=cfg.gate_time)
    t0 = time.perf_counter()
    result = carleman_training(
        net.loss,
        theta0,
        eta=cfg.eta,
        window=cfg.window,
        windows=cfg.windows,
        K=cfg.K,
        solver=cfg.solver,
        delta=cfg.delta,
        norm_precision=cfg.norm_precision,
        cost_model=cost_model,
        evaluate=evaluate,
        seed=cfg.seed,
        progress=report_window,
    )
    scheme_seconds = time.perf_counter() - t0
    # exact classical GD over the same horizon, from the same pruned start
    total = cfg.window * cfg.windows
    grad = PolynomialGradient.from_loss(net.loss, theta0, 3)
    t0 = time.perf_counter()
    gd = gradient_descent(grad, theta0, cfg.eta, total)
    gd_seconds = time.perf_counter() - t0
    gd_curve = [{"step": s, **evaluate(gd[s])} for s in range(0, total + 1, cfg.window)]
    scheme_curve = [{"step": 0, **evaluate(theta0)}] + [
        {"step": (w.index + 1) * cfg.window, **w.metrics} for w in result.windows
    ]
    deviation = [float(np.linalg.norm(np.asarray(u) - gd[i * cfg.window])) for i, u in enumerate(result.trajectory)]
    # error growth in one long first window, per K
    long_rows = []
    exact_long = gradient_descent(grad, theta0, cfg.eta, cfg.long_window)
    for K in cfg.long_Ks:
        # the truncated recursion run step by step: the same trajectory as solving the block system
        # (tests/test_carleman.py checks the equality), without forming T * nnz(A) nonzeros
        try:
            traj = carleman_map(grad, cfg.eta, K).iterate(theta0, cfg.long_window)
        except InvalidArgumentError as exc:  # too large a map for this K: say so in the results
            long_rows.append({"K": K, "skipped": str(exc)})
            continue
        err = np.linalg.norm(traj - exact_long, axis=1)
        long_rows.append({"K": K, "abs_error_by_step": err.tolist()})

    window_rows = []
    for w in result.windows:
        window_rows.append(
            {
                "window": w.index,
                "start_step": w.start_step,
                "truncation_error_final": w.truncation_error_final,
                "readout_relative_error": w.readout["relative_error"],
                "error_after_readout": w.error_after_readout,
                "displacement": w.displacement,
                "verdict": w.dissipativity["verdict"],
                "lambda_min": w.dissipativity["lambda_min"],
                "lambda_max": w.dissipativity["lambda_max"],
                "kappa": w.solve.get("kappa"),
                "d": w.solve.get("d"),
                "alpha": w.solve.get("alpha"),
                "unknowns": w.solve["unknowns"],
                "queries_per_solve": w.solve.get("queries"),
                "copies_per_stage": w.readout["copies_per_stage"],
                "postselection_probability": w.readout["postselection_probability"],
                "qlsa_runs": w.readout["qlsa_runs"],
                "modeled_seconds_solve": w.modeled_seconds_solve,
                "modeled_seconds_end_to_end": w.modeled_seconds_end_to_end,
                "measured_seconds": w.measured_seconds,
                **w.metrics,
            }
        )
    run.write_csv("windows.csv", window_rows)
    final = result.windows[-1].metrics
    gd_final = gd_curve[-1]
    summary = {
        "scheme_final": final,
        "gd_final": gd_final,
        "final_parameter_deviation_from_gd": deviation[-1],
        "max_truncation_error": max(w.truncation_error_final for w in result.windows),
        "max_readout_relative_error": max(w.readout["relative_error"] for w in result.windows),
        "measured_seconds_scheme_emulation": scheme_seconds,
        "measured_seconds_classical_gd": gd_seconds,
        "modeled_seconds_solves": sum(w.modeled_seconds_solve or 0.0 for w in result.windows),
        "modeled_seconds_end_to_end": sum(w.modeled_seconds_end_to_end or 0.0 for w in result.windows),
        "verdicts": sorted({w.dissipativity["verdict"] for w in result.windows}),
    }
    run.write_json(
        "results.json",
        {
            "config": asdict(cfg),
            "model": facts,
            "summary": summary,
            "windows": [w.to_dict() for w in result.windows],
            "gd_curve": gd_curve,
            "scheme_curve": scheme_curve,
            "deviation_from_gd": deviation,
            "long_window": long_rows,
            "cost_model": cost_model.label,
            "basis": "errors, accuracies and measured_seconds measured here; modeled_seconds from the QLSA cost model",
        },
    )
    _train_figures(run, cfg, result, gd_curve, scheme_curve, long_rows, new_figure)
    run.write_report(_train_report(cfg, facts, summary, window_rows, long_rows, cost_model))
    run.complete()
    return run.root


def _train_figures(run, cfg, result, gd_curve, scheme_curve, long_rows, new_figure) -> None:
    fig, axes = new_figure(4, width=4.0, height=3.5)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    ax = axes[0]
    for w in result.windows:
        err = np.maximum(np.asarray(w.in_window_error), 1e-17)
        ax.semilogy(np.arange(len(err)) + w.start_step, err, "-", color="C0", lw=1)
        ax.semilogy([w.start_step + cfg.window], [max(w.error_after_readout, 1e-17)], "x", color="C3", ms=4)
    ax.set_xlabel("GD step")
    ax.set_ylabel("|theta - theta_GD from the window start|")
    ax.set_title(f"inside each window (K = {cfg.K}); x: after readout", fontsize=9)
    for ax, key, label in ((axes[1], "train_loss", "training loss"), (axes[2], "test_accuracy", "test accuracy")):
        ax.plot([r["step"] for r in gd_curve], [r[key] for r in gd_curve], "k-", label="exact GD")
        ax.plot(
            [r["step"] for r in scheme_curve], [r[key] for r in scheme_curve], "o--", ms=3, label="Carleman windows"
        )
        ax.set_xlabel("GD step")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    axes[1].set_yscale("log")
    axes[1].set_title("training loss", fontsize=9)
    axes[2].set_title("test accuracy", fontsize=9)
    ax = axes[3]
    for r in long_rows:
        if "abs_error_by_step" in r:
            ax.semilogy(np.maximum(np.asarray(r["abs_error_by_step"]), 1e-17), label=f"K = {r['K']}")
    ax.axvline(cfg.window, color="k", ls=":", lw=0.7)
    ax.set_xlabel("steps solved at once (dotted: the window used)")
    ax.set_ylabel("|theta_C - theta_GD|")
    ax.set_title("error growth of one long window", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(
        f"Sparse Carleman training, digits {cfg.positive} vs {cfg.negative} (measured errors; modeled readout noise)",
        fontsize=10,
    )
    run.save_figure(fig, "carleman_train.png")


def _train_report(cfg, facts, summary, window_rows, long_rows, cost_model) -> str:
    f, g = summary["scheme_final"], summary["gd_final"]
    lines = [
        "# Sparse training by Carleman windows with download and re-upload",
        "",
        f"Model: two-layer linear network f(x) = w2 . (W1 x) + b2 on {facts['data']} ({facts['n_train']} train / "
        f"{facts['n_test']} test images), squared loss with +-1 labels and weight decay {cfg.weight_decay}: its "
        "gradient is an exact cubic polynomial of the parameters. Dense pre-training "
        f"({facts['dense_parameters']} parameters, {cfg.pretrain_steps} GD steps, test accuracy "
        f"{facts['dense_test_accuracy']:.3f}), then magnitude pruning to {cfg.keep} weights of W1: "
        f"n = {facts['pruned_parameters']} parameters (test accuracy right after pruning "
        f"{facts['pruned_test_accuracy_before_training']:.3f}).",
        "",
        f"Scheme: {cfg.windows} windows of T = {cfg.window} GD steps (eta {cfg.eta}); each window expands the "
        f"gradient around the uploaded parameters, builds the order-K = {cfg.K} Carleman system (with T idle "
        f"copies of the final state), solves it with `{cfg.solver}` and downloads delta_T by postselection + "
        f"Kerenidis-Prakash tomography (delta = {cfg.delta}, copies 36 n ln n / delta^2 per stage) + a norm of "
        f"relative accuracy {cfg.norm_precision}; the readout noise is sampled (modeled), the solves and errors "
        "are measured.",
        "",
        "| | train loss | train acc | test acc |",
        "|---|---|---|---|",
        f"| pruned start | {facts['pruned_train_loss_before_training']:.4f} | - | "
        f"{facts['pruned_test_accuracy_before_training']:.3f} |",
        f"| Carleman windows + readout | {f['train_loss']:.4f} | {f['train_accuracy']:.3f} | "
        f"{f['test_accuracy']:.3f} |",
        f"| exact GD, same steps | {g['train_loss']:.4f} | {g['train_accuracy']:.3f} | {g['test_accuracy']:.3f} |",
        "",
        f"Largest truncation error at the end of a window: {summary['max_truncation_error']:.3g}; largest relative "
        f"readout error: {summary['max_readout_relative_error']:.3g}; final parameters differ from exact GD by "
        f"{summary['final_parameter_deviation_from_gd']:.3g}. Dissipativity verdicts at the window starts: "
        f"{', '.join(summary['verdicts'])}.",
        "",
        "Modeled cost (" + cost_model.label + "): solves "
        f"{summary['modeled_seconds_solves']:.3g} s in total, end to end with the downloads "
        f"{summary['modeled_seconds_end_to_end']:.3g} s; measured here: emulation of the scheme "
        f"{summary['measured_seconds_scheme_emulation']:.3g} s, exact classical GD "
        f"{summary['measured_seconds_classical_gd']:.3g} s.",
        "",
        "| window | trunc. err | readout rel. err | verdict | lambda_min | kappa | d | queries/solve | "
        "copies/stage | p(post) | modeled s e2e | test acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in window_rows:
        lines.append(
            f"| {r['window']} | {_fmt(r['truncation_error_final'])} | {_fmt(r['readout_relative_error'])} | "
            f"{r['verdict']} | {_fmt(r['lambda_min'])} | {_fmt(r['kappa'])} | {_fmt(r['d'])} | "
            f"{_fmt(r['queries_per_solve'])} | {r['copies_per_stage']} | {_fmt(r['postselection_probability'])} | "
            f"{_fmt(r['modeled_seconds_end_to_end'])} | {_fmt(r['test_accuracy'])} |"
        )
    lines += [
        "",
        f"Error growth of one long first window ({cfg.long_window} steps of the truncated recursion, the trajectory "
        "the block system's solution holds):",
        "",
    ]
    lines += ["| K | error at T = window | error at T = long window |", "|---|---|---|"]
    for r in long_rows:
        if "abs_error_by_step" in r:
            e = r["abs_error_by_step"]
            lines.append(f"| {r['K']} | {_fmt(e[min(cfg.window, len(e) - 1)])} | {_fmt(e[-1])} |")
        else:
            lines.append(f"| {r['K']} | skipped: {r['skipped'][:80]} | |")
    lines += ["", "![training](carleman_train.png)"]
    return "\n".join(lines)


# =============================================================================================
# carleman-cost
# =============================================================================================


@dataclass(frozen=True)
class CarlemanCostConfig(Checked):
    """Settings of :func:`run_carleman_cost` (`qnewton carleman-cost`; see
    :mod:`qnewton.carleman.cost`), every field validated at construction.

    ``points`` model sizes n from 10^``n_min_log10`` to 10^``n_max_log10``, one panel per horizon of
    ``Ts``; order ``K``, gradient degree ``degree``, ``row_sparsity`` nonzeros per Hessian row;
    ``qlsa_eps``, ``gate_time``, ``readout_precision`` and ``parameter_density`` set the quantum
    model; ``calibration_sizes`` are the timed sparse gradient evaluations (classical constant);
    ``check_n`` / ``check_T`` the small built systems the model's d and kappa are checked on.
    """

    n_min_log10: float = option(2.0, "smallest model size n, as log10", check="nonnegative")
    n_max_log10: float = option(12.0, "largest model size n, as log10", check="positive")
    points: int = option(41, "model sizes on the grid", check=lambda v: None if v >= 2 else "must be an integer >= 2")
    Ts: tuple[int, ...] = option((100, 1000), "horizons T (gradient-descent steps), one panel each", check="natural")
    K: int = C.K(3)
    degree: int = option(
        3, "degree of the polynomial gradient", check=lambda v: None if 1 <= v <= 6 else "must be in [1, 6]"
    )
    row_sparsity: int = option(10, "nonzeros per Hessian row", check="natural")
    qlsa_eps: float = C.qlsa_eps()
    gate_time: str | float = C.gate_time()
    readout_precision: float = option(0.1, "tomography accuracy of the parameter readout", check="open-unit")
    parameter_density: float = option(0.1, "share of the n parameters that are kept (read out)", check="fraction")
    calibration_sizes: tuple[int, ...] = option(
        (20_000, 80_000, 320_000),
        "sizes of the timed sparse gradient evaluations (the classical constant)",
        check="natural",
    )
    check_n: int = option(
        3, "parameters of the small built systems the model's d and kappa are checked on", check="natural"
    )
    check_T: int = option(8, "steps of those systems", check="natural")
    seed: int = C.seed()
    extra: dict[str, Any] = option(default_factory=dict, cli=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.n_max_log10 > self.n_min_log10:
            raise InvalidArgumentError(
                f"`n_max_log10` = {self.n_max_log10} must exceed `n_min_log10` = {self.n_min_log10}.",
                argument="n_max_log10",
            )

    @classmethod
    def quick(cls, seed: int = 0) -> CarlemanCostConfig:
        return cls(points=11, Ts=(100,), calibration_sizes=(5_000, 20_000), check_T=4, seed=seed)


@single_thread
def run_carleman_cost(cfg: CarlemanCostConfig, out: str | Path, *, fresh: bool = False, progress: bool = True) -> Path:
    """Modeled quantum cost vs calibrated classical cost over n; the model's bounds checked."""
    from ..experiments._common import new_figure
    from ..experiments._run import RunDir

    run = RunDir(out, "carleman-cost", asdict(cfg), fresh=fresh)
    cal = calibrate_sparse_gradient(cfg.calibration_sizes, cfg.row_sparsity, seed=cfg.seed)
    c = cal["c"]
    ns = np.logspace(cfg.n_min_log10, cfg.n_max_log10, cfg.points)
    variants = {
        "full, sparse gradient": ("full", cfg.row_sparsity),
        "almost, sparse gradient": ("almost", cfg.row_sparsity),
        "full, dense gradient": ("full", None),
    }
    rows: list[dict[str, Any]] = []
    models = {}
    for label, (_regime, s0) in variants.items():
        models[label] = CarlemanScaling(
            degree=cfg.degree,
            K=cfg.K,
            row_sparsity=cfg.row_sparsity,
            gradient_sparsity=s0,
            eps=cfg.qlsa_eps,
            gate_time=cfg.gate_time,
            readout_precision=cfg.readout_precision,
            parameter_density=cfg.parameter_density,
        )
    for T in cfg.Ts:
        for n in ns:
            classical = T * n * (cfg.row_sparsity + 1) * c
            for label, (regime, _) in variants.items():
                est = models[label].estimate(n, T, regime)  # type: ignore[arg-type]
                rows.append({"variant": label, **est, "classical_seconds": classical})
    # crossovers (first n where the modeled quantum time drops below the classical prediction)
    crossovers = []
    for T in cfg.Ts:
        for label in variants:
            for key in ("modeled_seconds_solve", "modeled_seconds_end_to_end"):
                sel = [r for r in rows if r["T"] == T and r["variant"] == label]
                hit = next((r["n"] for r in sel if r[key] < r["classical_seconds"]), None)
                crossovers.append({"T": T, "variant": label, "quantum": key, "first_n_quantum_cheaper": hit})

    # the model's d and kappa against small systems built for real
    checks = []
    n = cfg.check_n
    grad, _ = ridge_polynomial(np.linspace(0.5, 1.5, n), cubic=0.5, quartic=0.3, seed=cfg.seed)
    grad = PolynomialGradient([0.1 * np.ones(n), *grad.terms[1:]])
    for K in sorted({1, 2, min(cfg.K, 3)}):
        system = carleman_system(carleman_map(grad, 0.1, K), 0.1 * np.ones(n), cfg.check_T, idle=cfg.check_T)
        built, facts = price_carleman_system(system, QuantumCostModel(eps=cfg.qlsa_eps, gate_time=cfg.gate_time))
        model = CarlemanScaling(degree=grad.degree, K=K, row_sparsity=n, gradient_sparsity=n)
        checks.append(
            {
                "K": K,
                "n": n,
                "T": cfg.check_T,
                "unknowns": system.size,
                "d_measured": facts["d"],
                "d_model_bound": model.sparsity(n),
                "alpha_measured": facts["alpha"],
                "kappa_measured": facts["kappa"],
                "kappa_model_full": float(CarlemanScaling.kappa(2 * cfg.check_T + 1, "full")),
                "queries_measured_system": float(np.asarray(built.queries, dtype=float)),
            }
        )
    if progress:
        print(f"[carleman-cost] classical constant {c:.3g} s per nonzero (measured); {len(rows)} modeled points")
    run.write_csv("cost.csv", rows)
    run.write_json(
        "results.json",
        {
            "config": asdict(cfg),
            "classical_calibration": cal,
            "models": {k: m.to_dict() for k, m in models.items()},
            "rows": rows,
            "crossovers": crossovers,
            "model_checks": checks,
            "basis": "quantum: modeled (Jennings v1 queries x gate time); classical: calibrated prediction "
            "(T n (s+1) x a per-nonzero time measured here)",
        },
    )
    fig, axes = new_figure(len(cfg.Ts), width=5.4, height=4.2)
    fig.set_layout_engine("constrained")  # room for the suptitle and every panel's labels
    styles = {"full, sparse gradient": "C0", "almost, sparse gradient": "C1", "full, dense gradient": "C3"}
    for ax, T in zip(axes, cfg.Ts):
        sel = [r for r in rows if r["T"] == T]
        first = [r for r in sel if r["variant"] == "full, sparse gradient"]
        ax.loglog(
            [r["n"] for r in first],
            [r["classical_seconds"] for r in first],
            "k-",
            lw=2,
            label="classical GD, T n (s+1) c (calibrated)",
        )
        for label, color in styles.items():
            v = [r for r in sel if r["variant"] == label]
            ax.loglog(
                [r["n"] for r in v],
                [r["modeled_seconds_solve"] for r in v],
                "-",
                color=color,
                label=f"QLSA solve only: {label}",
            )
            ax.loglog(
                [r["n"] for r in v],
                [r["modeled_seconds_end_to_end"] for r in v],
                "--",
                color=color,
                lw=0.9,
                label=f"+ tomography readout: {label}",
            )
        ax.set_xlabel("parameters n")
        ax.set_ylabel("seconds")
        ax.set_title(f"T = {T} steps, K = {cfg.K}, s = {cfg.row_sparsity}", fontsize=9)
        ax.legend(fontsize=6)
    gt = models["full, sparse gradient"].gate_time
    fig.suptitle(f"Carleman QLSA (modeled, {gt.label} per query, idealized) vs classical GD", fontsize=10)
    run.save_figure(fig, "carleman_cost.png")
    run.write_report(_cost_report(cfg, rows, crossovers, checks, cal, gt))
    run.complete()
    return run.root


def _cost_report(cfg, rows, crossovers, checks, cal, gt) -> str:
    lines = [
        "# Carleman QLSA cost vs classical gradient descent (modeled)",
        "",
        f"Quantum: **modeled** with `qnewton.carleman.CarlemanScaling`: order K = {cfg.K} Carleman system of a "
        f"degree-{cfg.degree} gradient, s = {cfg.row_sparsity} nonzeros per Hessian row, T idle copies, Hermitian "
        f"embedding; Jennings et al. v1 Thm 1 expected queries at eps = {cfg.qlsa_eps} with alpha = d; {gt.label} per "
        "query (logical queries x a physical gate time: idealized). Readout: l2 tomography of the final "
        f"parameters (density {cfg.parameter_density}, delta {cfg.readout_precision}) / postselection 1/2. "
        f"Classical: **calibrated prediction** T n (s+1) c with c = {cal['c']:.3g} s per stored nonzero of a "
        "sparse gradient evaluation, measured here.",
        "",
        "| T | variant | n | qubits | d | kappa | queries | QLSA solve s | end-to-end s | classical s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    picks = {float(x) for x in np.logspace(cfg.n_min_log10, cfg.n_max_log10, cfg.points)[:: max(1, cfg.points // 5)]}
    for r in rows:
        if r["n"] in picks:
            lines.append(
                f"| {r['T']} | {r['variant']} | {r['n']:.3g} | {r['qubits']} | {r['d']:.3g} | {r['kappa']:.3g} | "
                f"{r['queries']:.3g} | {r['modeled_seconds_solve']:.3g} | {r['modeled_seconds_end_to_end']:.3g} | "
                f"{r['classical_seconds']:.3g} |"
            )
    lines += ["", "First n (on the grid) where the modeled quantum time is below the classical prediction:", ""]
    lines += ["| T | variant | quantum figure | first n |", "|---|---|---|---|"]
    for x in crossovers:
        first = x["first_n_quantum_cheaper"]
        hit = f"none up to 1e{cfg.n_max_log10:g}" if first is None else f"{first:.3g}"
        lines.append(f"| {x['T']} | {x['variant']} | {x['quantum']} | {hit} |")
    lines += [
        "",
        "Model checked on small systems built for real (dense n = "
        f"{cfg.check_n} polynomial, T = {cfg.check_T}, T idle copies): the model's d is an upper bound of the "
        "measured d, and kappa stays below the fully dissipative bound 2 (2T+1):",
        "",
        "| K | unknowns | d measured | d model | alpha measured | kappa measured | kappa bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        lines.append(
            f"| {c['K']} | {c['unknowns']} | {c['d_measured']} | {c['d_model_bound']:.0f} | {c['alpha_measured']:.3g} "
            f"| {c['kappa_measured']:.3g} | {c['kappa_model_full']:.3g} |"
        )
    lines += ["", "![cost](carleman_cost.png)"]
    return "\n".join(lines)
