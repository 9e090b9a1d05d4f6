"""Symmetric pruning vs one Cholesky, the two calls alternated: medians, not just best-of.

``linalg.py`` reports best-of timings, which flatter whichever side had the luckier run on a
shared machine. Here each repetition times one ``prune_symmetric`` call and then one
``torch.linalg.cholesky`` of the same matrix (float32 unless told otherwise), so both sides see
the same machine state, and the table gives the median and the worst ratio as well as the best.
The matrices are ``linalg.py``'s: ``synthetic`` (Q diag(lambda) Q^T) and ``hessian`` (the real
fc1.weight block of the paper's DNN, leading N x N, + eps*I).

Not part of the test suite: `python benchmarks/prune_interleaved.py [--n 4096] [--repeats 12]`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from _common import machine, markdown_table, print_machine
from linalg import dnn_hessian_block, hessian_like, regularized_block
from qnewton.linalg import prune_symmetric


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--fractions", type=float, nargs="*", default=[0.01, 0.05, 0.25, 0.5])
    ap.add_argument("--repeats", type=int, default=12)
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = ap.parse_args()
    info = machine()
    print_machine(info)
    n, dt = args.n, np.dtype(args.dtype)
    hess = regularized_block(dnn_hessian_block(), n, dt, args.eps)
    matrices = {"synthetic": hessian_like(n, args.eps, dt)[0], "hessian": hess}
    rows, records = [], []
    for kind, a in matrices.items():
        t = torch.from_numpy(a)
        for frac in args.fractions:
            d = max(1, int(frac * n))
            prune_symmetric(a, d)  # warm-up: compiled kernels and freshly paged memory
            torch.linalg.cholesky(t)
            tp, tc = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                prune_symmetric(a, d)
                tp.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                torch.linalg.cholesky(t)
                tc.append(time.perf_counter() - t0)
            ratios = np.array(tp) / np.array(tc)
            rec = {
                "matrix": kind,
                "d": d,
                "prune_median_s": float(np.median(tp)),
                "cholesky_median_s": float(np.median(tc)),
                "ratio_of_medians": float(np.median(tp) / np.median(tc)),
                "ratio_of_minima": float(min(tp) / min(tc)),
                "worst_pair_ratio": float(ratios.max()),
            }
            records.append(rec)
            rows.append(
                [
                    kind,
                    d,
                    f"{frac:.0%}",
                    f"{rec['prune_median_s']:.3f}",
                    f"{rec['cholesky_median_s']:.3f}",
                    f"{rec['ratio_of_medians']:.2f}",
                    f"{rec['ratio_of_minima']:.2f}",
                    f"{rec['worst_pair_ratio']:.2f}",
                ]
            )
            print(f"done {kind} d={d}", flush=True)
    print(f"\n## N = {n}, {dt.name}: prune vs Cholesky, alternated {args.repeats} times (measured)\n")
    header = ["matrix", "d", "d/N", "prune median s", "Cholesky median s", "median ratio", "min ratio", "worst pair"]
    print(markdown_table(header, rows))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "pruning": records}, indent=2))


if __name__ == "__main__":
    main()
