"""The linear-algebra core on a real Hessian from the embedded data (``qnewton inspect``).

Trains nothing: softmax regression (a Linear 64 -> 10 layer, L2 1e-3) on scikit-learn's bundled
digits, its exact 650 x 650 Hessian by ``torch.func``, and what Q-Newton's scheduler looks at: the
condition number of H + eps I by each estimator (with its measured time), the p%-sparsity profile
of the rows, symmetric pruning to several oracle sparsities d = ratio N, and kappa as eps grows.
Prints to stdout; writes no files.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .._config import Checked, option

__all__ = ["InspectConfig", "digits_hessian", "inspect_hessian"]


@dataclass(frozen=True)
class InspectConfig(Checked):
    """What ``qnewton inspect`` shows."""

    eps: float = option(1e-2, "regularization of the condition-number and pruning tables: H + eps I", check="positive")
    p_values: tuple[float, ...] = option(
        (0.5, 0.75, 0.9, 0.95), "fractions p of a row's |mass| for the p%%-sparsity profile", check="fraction"
    )
    d_ratios: tuple[float, ...] = option(
        (1.0, 0.4, 0.1, 0.02), "oracle sparsities d/N of the symmetric pruning table", check="fraction"
    )
    eps_values: tuple[float, ...] = option(
        (1e-4, 1e-3, 1e-2, 1e-1, 1.0), "regularizations of the kappa-vs-eps table", check="positive"
    )
    seed: int = option(0, "seed of the initial weights and the data split", check="count")


def digits_hessian(seed: int) -> np.ndarray:
    """The exact Hessian (650 x 650, float64) of L2-regularized softmax regression on the digits data."""
    from ..data import load_digits_dataset

    ds = load_digits_dataset(seed=seed)
    x = torch.from_numpy(ds.x_train).double()
    y = torch.from_numpy(ds.y_train)
    torch.manual_seed(seed)
    w0 = 0.01 * torch.randn(10, x.shape[1] + 1, dtype=torch.float64)

    def loss(w: torch.Tensor) -> torch.Tensor:
        logits = x @ w[:, :-1].T + w[:, -1]
        return torch.nn.functional.cross_entropy(logits, y) + 0.5e-3 * (w[:, :-1] ** 2).sum()

    h = torch.func.hessian(loss)(w0).reshape(w0.numel(), w0.numel())
    return ((h + h.T) / 2).numpy()


def inspect_hessian(cfg: InspectConfig, emit: Callable[[str], None] = print) -> None:
    """Print the tables of :class:`InspectConfig` (one line per ``emit`` call)."""
    from ..linalg import estimate_condition, oracle_sparsity, prune_symmetric, quantum_sparsity, regularize

    h = digits_hessian(cfg.seed)
    n = h.shape[0]
    eps = cfg.eps
    emit(f"Exact Hessian of softmax regression on scikit-learn digits: {n} x {n} (float64)\n")

    hr = regularize(h, eps)
    emit(f"Condition number of H + {eps:g} I (times measured on this machine)")
    emit(f"  {'method':<11} {'kappa':>12} {'upper bound':>12} {'time [ms]':>10}")
    for method, opts in [("exact", {}), ("lanczos", {}), ("gershgorin", {"eps": eps}), ("merikoski", {})]:
        est = estimate_condition(hr, method, **opts)
        val = f"{est.value:.4g}" if np.isfinite(est.value) else f"e^{est.log_value:.0f}"
        emit(f"  {method:<11} {val:>12} {'yes' if est.upper_bound else 'no':>12} {est.seconds * 1e3:>10.2f}")

    ps = list(cfg.p_values)
    prof = quantum_sparsity(h, ps)
    emit("\np%-sparsity of Hessian rows (fewest entries holding p of a row's |mass|)")
    for j, p in enumerate(ps):
        emit(f"  p = {p:.0%}: median {int(np.median(prof[:, j])):>4}   max {int(prof[:, j].max()):>4}   of {n}")

    emit(f"\nSymmetric pruning to oracle sparsity d (then + {eps:g} I)")
    emit(f"  {'d':>5} {'d/N':>6} {'max nnz/row':>12} {'symmetric':>10} {'kappa':>10} {'time [ms]':>10}")
    for frac in cfg.d_ratios:
        d = max(1, int(frac * n))
        t0 = time.perf_counter()
        pruned = np.asarray(prune_symmetric(h, d))
        dt = time.perf_counter() - t0
        kappa = estimate_condition(regularize(pruned, eps), "exact").value
        emit(
            f"  {d:>5} {frac:>6.0%} {oracle_sparsity(pruned):>12} {np.array_equal(pruned, pruned.T)!s:>10} "
            f"{kappa:>10.4g} {dt * 1e3:>10.2f}"
        )

    emit("\nRegularization: kappa of H + eps I")
    for e in cfg.eps_values:
        emit(f"  eps = {e:<7g} kappa = {estimate_condition(regularize(h, e), 'exact').value:.4g}")
