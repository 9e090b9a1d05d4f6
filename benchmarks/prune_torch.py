"""Symmetric pruning and the p%-sparsity profile: the torch path on each device vs the numba path.

For each N and d: ``prune_symmetric`` of the same float32 matrix by the numba kernels (numpy in,
the CPU path) and by the torch implementation on every available device (forced with
``_backend="torch"`` on the CPU; a CUDA tensor takes it by default), best-of and median of
``--repeats`` calls (CUDA timed with ``torch.cuda.synchronize``), the bands, rounds and tail of the
torch path, and a check that both results are bit for bit equal. Then ``quantum_sparsity`` the
same way.

Matrices: ``random`` (symmetric Gaussian with row scales exp(N(0, 1)): heterogeneous rows like
a Hessian's, the hard case for the rounds) and ``hessian`` (the real fc1.weight block of the
paper's DNN from ``linalg.py``, leading N x N; slow to form on a CPU).

Not part of the test suite: `python benchmarks/prune_torch.py [--n 1024 4096] [--d 16 0.125]
[--matrix random|hessian] [--repeats 3]`; a d below 1 is a fraction of N.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from _common import machine, markdown_table, print_machine
from qnewton.linalg import _torch_prune as TP
from qnewton.linalg import prune_symmetric, quantum_sparsity


def timed(device: str, repeats: int, fn, *args, **kwargs) -> tuple[float, float, object]:
    """(best, median) seconds of ``repeats`` calls ``fn(*args, **kwargs)`` after one warm-up, and
    the last result."""
    out = fn(*args, **kwargs)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def matrix(kind: str, n: int, seed: int = 0) -> np.ndarray:
    if kind == "hessian":
        from linalg import dnn_hessian_block

        return np.ascontiguousarray(dnn_hessian_block(seed)[:n, :n], dtype=np.float32)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n))
    s = np.exp(rng.standard_normal(n))
    a = np.triu(a * s[:, None] * s[None, :])
    return (a + np.triu(a, 1).T).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="*", default=[1024, 4096])
    ap.add_argument("--d", type=float, nargs="*", default=[16, 0.125])
    ap.add_argument("--matrix", default="random", choices=["random", "hessian"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print_machine(machine())
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if "cuda" in devices:
        print(f"GPU: {torch.cuda.get_device_name()}\n")
    rows = []
    for n in args.n:
        a = matrix(args.matrix, n)
        for dv in args.d:
            d = max(1, min(n, int(dv * n) if dv < 1 else int(dv)))
            best_n, med_n, ref = timed("cpu", args.repeats, prune_symmetric, a, d)
            for dev in devices:
                t = torch.from_numpy(a).to(dev)
                best_t, med_t, got = timed(dev, args.repeats, prune_symmetric, t, d, _backend="torch")
                same = np.array_equal(got.cpu().numpy().view(np.uint32), ref.view(np.uint32))
                st = TP.last_stats
                rows.append(
                    [
                        n,
                        d,
                        f"torch {dev}",
                        f"{best_t * 1e3:.1f} / {med_t * 1e3:.1f}",
                        f"{best_n * 1e3:.1f} / {med_n * 1e3:.1f}",
                        f"{best_t / best_n:.2f}",
                        f"{len(st)} / {sum(s['rounds'] for s in st)} / {sum(s['tail'] for s in st)}",
                        same,
                    ]
                )
                print(" | ".join(str(c) for c in rows[-1]), flush=True)
        ps = [0.5, 0.9]
        best_n, _, ref_p = timed("cpu", args.repeats, quantum_sparsity, a, ps)
        for dev in devices:
            t = torch.from_numpy(a).to(dev)
            best_t, _, got_p = timed(dev, args.repeats, quantum_sparsity, t, ps, _backend="torch")
            same = np.array_equal(got_p.cpu().numpy(), ref_p)
            rows.append([n, "p 0.5, 0.9", f"torch {dev}", f"{best_t * 1e3:.1f}", f"{best_n * 1e3:.1f}", "", "", same])
            print(" | ".join(str(c) for c in rows[-1]), flush=True)
    header = ["N", "d", "path", "torch ms (best / median)", "numba ms", "torch/numba", "bands / rounds / tail", "equal"]
    print("\n" + markdown_table(header, rows))


if __name__ == "__main__":
    main()
