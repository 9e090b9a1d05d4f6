"""Benchmark of qnewton.solvers (issue 3), all times measured here, ratios within one run.

1. Classical route at N = 4096, float64: ours (CholeskySolver with shift = eps: its input checks,
   the regularized copy, the factorization in place, the solves and the residual) against the
   public reference code's path (regularize + explicit inverse, then a matvec), the faster of numpy
   and torch for the inverse.
   Target: ours at least 5x faster.
2. Emulated quantum route on a d-sparse block (d/N <= 5 %, CSR, conjugate gradients) against a
   dense Cholesky solve of the unpruned block. Target: at most 0.2x. The block is what the scheduler
   hands the quantum route: the Hessian block pruned to d and, where pruning left an eigenvalue below
   eps, shifted back to positive definite (``SchedulerConfig.pruned_indefinite="shift"``).
3. Cholesky factorization, scipy vs torch, by size and dtype (sets ``solvers.classical.TORCH_FROM_N``).

The test matrix is the leading N x N block of the real fc1.weight Hessian of the paper's DNN (see
benchmarks/linalg.py), regularized with eps = 1e-3. `python benchmarks/solvers.py [--n 4096]`
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from _common import best_of, machine, markdown_table, print_machine
from linalg import dnn_hessian_block
from qnewton.cost import ClassicalCostModel, QuantumCostModel
from qnewton.linalg import regularize
from qnewton.scheduler import Scheduler, SchedulerConfig, SparsitySpec
from qnewton.solvers import CholeskySolver, EmulatedQLSASolver


def reference_path(h: np.ndarray, g: np.ndarray, eps: float) -> np.ndarray:
    return np.linalg.inv(h + eps * np.eye(h.shape[0], dtype=h.dtype)) @ g


def reference_path_torch(h: torch.Tensor, g: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.linalg.inv(h + eps * torch.eye(h.shape[0], dtype=h.dtype)) @ g


def dense_cholesky_seconds(a: np.ndarray, g: np.ndarray) -> float:
    sc = best_of(lambda: scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, check_finite=False), g, check_finite=False))
    at, gt = torch.from_numpy(a), torch.from_numpy(g).reshape(-1, 1)
    th = best_of(lambda: torch.cholesky_solve(gt, torch.linalg.cholesky(at)))
    return min(sc, th)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--sparsity", type=float, nargs="*", default=[0.01, 0.05])
    ap.add_argument("--crossover-sizes", type=int, nargs="*", default=[1000, 2000, 3000, 4096, 6000])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    info = machine()
    print_machine(info)
    n, eps = args.n, args.eps
    h = np.ascontiguousarray(dnn_hessian_block()[:n, :n], dtype=np.float64)  # both paths add eps*I themselves
    g = np.random.default_rng(0).standard_normal(n)
    solver = CholeskySolver()

    def ours() -> np.ndarray:
        return solver.solve(h, g, shift=eps).x  # regularize + Cholesky solve, one copy of H

    x_ours, x_ref = ours(), reference_path(h, g, eps)
    ours_s = best_of(ours)
    ref_np = best_of(lambda: reference_path(h, g, eps))
    ht, gt = torch.from_numpy(h), torch.from_numpy(g)
    ref_t = best_of(lambda: reference_path_torch(ht, gt, eps))
    ref_s = min(ref_np, ref_t)
    hr = regularize(h, eps)
    err_ours = float(np.linalg.norm(hr @ x_ours - g) / np.linalg.norm(g))
    err_ref = float(np.linalg.norm(hr @ x_ref - g) / np.linalg.norm(g))
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
                    "ours: CholeskySolver(shift=eps): checks, regularized copy, factor in place, solves, residual",
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
    dense = dense_cholesky_seconds(hr, g)
    rows, emu = [], []
    for frac in args.sparsity:
        d = max(1, int(frac * n))
        sched = Scheduler(SchedulerConfig(sparsity=SparsitySpec(d=d), classical_cost=ClassicalCostModel(c=1e-11)))
        plan = sched.quantum_plan(hr, eps)  # prune (CSR), shift back to definite, kappa, price
        em = EmulatedQLSASolver("ideal", cost_model=QuantumCostModel())
        res = em.solve(plan.matrix, g, cost=plan.cost)
        s = best_of(lambda em=em, plan=plan: em.solve(plan.matrix, g, cost=plan.cost))
        it = res.report.details["krylov_iterations"]
        emu.append(
            {
                "d": d,
                "d_over_n": d / n,
                "nnz": int(plan.matrix.nnz),
                "kappa": plan.kappa.value,
                "pd_shift": plan.pd_shift,
                "emulated_seconds": s,
                "dense_cholesky_seconds": dense,
                "ratio": s / dense,
                "krylov_iterations": it,
                "residual": res.report.residual,
            }
        )
        rows.append(
            [
                d,
                f"{d / n:.0%}",
                plan.matrix.nnz,
                f"{plan.kappa.value:.3g}",
                f"{plan.pd_shift:.2g}",
                f"{s:.4f}",
                f"{dense:.3f}",
                f"{s / dense:.3f}",
                it,
                f"{res.report.residual:.1e}",
            ]
        )
    print(
        markdown_table(
            [
                "d",
                "d/N",
                "nnz",
                "kappa",
                "shift",
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

    print("\n## 3. Cholesky factorization: scipy vs torch by size (measured, best of 3)\n")
    rng = np.random.default_rng(1)
    rows, cross = [], []
    for m in args.crossover_sizes:
        b = rng.standard_normal((m, m))
        a64 = b @ b.T / m + np.eye(m)
        for dt in (np.float64, np.float32):
            a = a64.astype(dt)
            at = torch.from_numpy(a)
            s_sc = best_of(lambda a=a: scipy.linalg.cho_factor(a, check_finite=False))
            s_t = best_of(lambda at=at: torch.linalg.cholesky(at))
            cross.append({"n": m, "dtype": np.dtype(dt).name, "scipy": s_sc, "torch": s_t})
            rows.append(
                [m, np.dtype(dt).name, f"{s_sc * 1e3:.1f}", f"{s_t * 1e3:.1f}", "torch" if s_t < s_sc else "scipy"]
            )
    print(markdown_table(["N", "dtype", "scipy [ms]", "torch [ms]", "faster"], rows))
    results["cholesky_backends"] = cross
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
