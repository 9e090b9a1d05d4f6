"""`qnewton inspect`: the linear-algebra core on a real Hessian from the embedded default data.

Trains nothing yet: it takes softmax regression (a Linear 64 -> 10 layer, L2 1e-3) on
scikit-learn's bundled digits, forms its exact 650 x 650 Hessian with torch.func, and shows what
Q-Newton's scheduler looks at: the condition number by each method (and its measured time), the
p%-sparsity profile, symmetric pruning to several oracle sparsities, and regularization.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _digits_hessian(seed: int) -> np.ndarray:
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


def run(args: argparse.Namespace) -> int:
    from ..linalg import estimate_condition, oracle_sparsity, prune_symmetric, quantum_sparsity, regularize

    h = _digits_hessian(args.seed)
    n = h.shape[0]
    print(f"Exact Hessian of softmax regression on scikit-learn digits: {n} x {n} (float64)\n")

    eps = 1e-2
    hr = regularize(h, eps)
    print(f"Condition number of H + {eps:g} I (times measured on this machine)")
    print(f"  {'method':<11} {'kappa':>12} {'upper bound':>12} {'time [ms]':>10}")
    for method, opts in [("exact", {}), ("lanczos", {}), ("gershgorin", {"eps": eps}), ("merikoski", {})]:
        est = estimate_condition(hr, method, **opts)
        val = f"{est.value:.4g}" if np.isfinite(est.value) else f"e^{est.log_value:.0f}"
        print(f"  {method:<11} {val:>12} {'yes' if est.upper_bound else 'no':>12} {est.seconds * 1e3:>10.2f}")

    ps = [0.5, 0.75, 0.9, 0.95]
    prof = quantum_sparsity(h, ps)
    print("\np%-sparsity of Hessian rows (fewest entries holding p of a row's |mass|)")
    for j, p in enumerate(ps):
        print(f"  p = {p:.0%}: median {int(np.median(prof[:, j])):>4}   max {int(prof[:, j].max()):>4}   of {n}")

    print("\nSymmetric pruning to oracle sparsity d (then + eps I)")
    print(f"  {'d':>5} {'d/N':>6} {'max nnz/row':>12} {'symmetric':>10} {'kappa':>10} {'time [ms]':>10}")
    for frac in (1.0, 0.4, 0.1, 0.02):
        d = max(1, int(frac * n))
        t0 = time.perf_counter()
        p = prune_symmetric(h, d)
        dt = time.perf_counter() - t0
        kappa = estimate_condition(regularize(p, eps), "exact").value
        print(
            f"  {d:>5} {frac:>6.0%} {oracle_sparsity(p):>12} {np.array_equal(p, p.T)!s:>10} "
            f"{kappa:>10.4g} {dt * 1e3:>10.2f}"
        )

    print("\nRegularization: kappa of H + eps I")
    for e in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
        print(f"  eps = {e:<7g} kappa = {estimate_condition(regularize(h, e), 'exact').value:.4g}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="the linear-algebra core on a real Hessian from the embedded digits data")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
