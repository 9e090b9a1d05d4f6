"""Benchmark of qnewton.solvers (issue 3), all times measured here, ratios within one run.

1. Classical route at N = 4096, float64: ours (regularize + Cholesky solve, the CholeskySolver's
   full call including its input checks and residual) against the public reference code's path
   (regularize + explicit inverse, then a matvec), with the faster of numpy and torch for the
   inverse. Target: ours at least 5x faster.
2. Emulated quantum route on a d-sparse block (d/N <= 5 %, CSR, conjugate gradients) against a
   dense Cholesky solve of the same block. Target: at most 0.2x.
3. Where torch's Cholesky overtakes scipy's (sets ``solvers.classical.TORCH_FROM_N``).

The test matrix is a regularized Hessian-like SPD matrix (see benchmarks/linalg.py), pruned to d
for part 2. `python benchmarks/solvers.py [--n 4096]`
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from _common import best_of, machine, markdown_table, print_machine
from linalg import hessian_like
from qnewton.cost import QuantumCostModel
from qnewton.linalg import prune_symmetric, regularize
from qnewton.solvers import CholeskySolver, EmulatedQLSASolver


def reference_path(h: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    hr = h + eps * np.eye(h.shape[0], dtype=h.dtype)
    return np.linalg.inv(hr) @ g


def reference_path_torch(h: torch.Tensor, g: torch.Tensor, eps: float) -> torch.Tensor:
    hr = h + eps * torch.eye(h.shape[0], dtype=h.dtype)
    return torch.linalg.inv(hr) @ g


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--sparsity", type=float, nargs="*", default=[0.01, 0.05])
    ap.add_argument("--crossover-sizes", type=int, nargs="*", default=[500, 1000, 2000, 3000, 4000, 6000])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    info = machine()
    print_machine(info)
    n, eps = args.n, 1.0
    h, _ = hessian_like(n, eps, np.float64)
    h = h - eps * np.eye(n)  # the unregularized "Hessian"; both paths add eps*I themselves
    rng = np.random.default_rng(0)
    g = rng.standard_normal(n)
    solver = CholeskySolver()

    def ours() -> np.ndarray:
        return solver.solve(regularize(h, eps), g).x

    x_ours = ours()
    x_ref = reference_path(h, g, eps)
    ours_s = best_of(ours)
    ref_np = best_of(lambda: reference_path(h, g, eps))
    ht, gt = torch.from_numpy(h), torch.from_numpy(g)
    ref_t = best_of(lambda: reference_path_torch(ht, gt, eps))
    ref_s = min(ref_np, ref_t)
    hr = regularize(h, eps)
    err_ours = np.linalg.norm(hr @ x_ours - g) / np.linalg.norm(g)
    err_ref = np.linalg.norm(hr @ x_ref - g) / np.linalg.norm(g)
    results = {
        "machine": info,
        "classical": {
            "n": n,
            "ours_seconds": ours_s,
            "reference_seconds_numpy": ref_np,
            "reference_seconds_torch": ref_t,
            "speedup": ref_s / ours_s,
            "residual_ours": err_ours,
            "residual_reference": err_ref,
        },
    }
    print(f"## 1. Classical route, N = {n} float64 (measured)\n")
    print(
        markdown_table(
            ["path", "seconds", "relative residual"],
            [
                [
                    "ours: regularize + CholeskySolver (checks, factor, solves, residual)",
                    f"{ours_s:.3f}",
                    f"{err_ours:.1e}",
                ],
                ["reference: regularize + inv (numpy) @ g", f"{ref_np:.3f}", f"{err_ref:.1e}"],
                ["reference: regularize + inv (torch) @ g", f"{ref_t:.3f}", ""],
            ],
        )
    )
    print(f"\nspeedup vs the faster reference path: {ref_s / ours_s:.2f}x (target >= 5x)\n")

    print("## 2. Emulated quantum route on a d-sparse block vs a dense Cholesky (measured)\n")
    dense_chol = best_of(
        lambda: scipy.linalg.cho_solve(scipy.linalg.cho_factor(hr, check_finite=False), g, check_finite=False)
    )
    dense_chol = min(
        dense_chol,
        best_of(lambda: torch.cholesky_solve(gt.reshape(-1, 1), torch.linalg.cholesky(torch.from_numpy(hr)))),
    )
    rows, emu = [], []
    for frac in args.sparsity:
        d = max(1, int(frac * n))
        block = regularize(prune_symmetric(h, d, sparse=True), eps)
        em = EmulatedQLSASolver("ideal", cost_model=QuantumCostModel())
        res = em.solve(block, g, kappa=100.0, d=d)  # kappa passed: the scheduler has estimated it
        s = best_of(lambda em=em, block=block, d=d: em.solve(block, g, kappa=100.0, d=d))
        emu.append(
            {
                "d": d,
                "d_over_n": d / n,
                "emulated_seconds": s,
                "dense_cholesky_seconds": dense_chol,
                "ratio": s / dense_chol,
                "krylov_iterations": res.report.details["krylov_iterations"],
                "residual": res.report.residual,
            }
        )
        rows.append(
            [
                d,
                f"{d / n:.0%}",
                f"{s:.3f}",
                f"{dense_chol:.3f}",
                f"{s / dense_chol:.3f}",
                res.report.details["krylov_iterations"],
                f"{res.report.residual:.1e}",
            ]
        )
    print(
        markdown_table(
            [
                "d",
                "d/N",
                "emulated solve [s]",
                "dense Cholesky [s]",
                "ratio (target <= 0.2)",
                "CG iterations",
                "residual",
            ],
            rows,
        )
    )
    results["emulated"] = emu

    print("\n## 3. Cholesky factorization: scipy vs torch by size (measured)\n")
    rows, cross = [], []
    for m in args.crossover_sizes:
        a, _ = hessian_like(m, 1.0, np.float64, seed=1) if m <= 3000 else (None, None)
        if a is None:
            b = rng.standard_normal((m, m))
            a = b @ b.T / m + np.eye(m)
        s_sc = best_of(lambda a=a: scipy.linalg.cho_factor(a, check_finite=False))
        at = torch.from_numpy(a)
        s_t = best_of(lambda at=at: torch.linalg.cholesky(at))
        cross.append({"n": m, "scipy": s_sc, "torch": s_t})
        rows.append([m, f"{s_sc * 1e3:.1f}", f"{s_t * 1e3:.1f}", "torch" if s_t < s_sc else "scipy"])
    print(markdown_table(["N", "scipy [ms]", "torch [ms]", "faster"], rows))
    results["cholesky_backends"] = cross
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
