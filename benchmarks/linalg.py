"""Benchmark of qnewton.linalg: condition-number methods and symmetric pruning.

For N = 1024 and 4096 (and 12544, the paper's Hessian block, with --big):
  * each kappa method's measured time and its error against the known exact kappa;
  * symmetric pruning time at several oracle sparsities d against one Cholesky factorization of
    the same matrix (the faster of torch and scipy), and pruning's peak memory against the
    matrix's own size (measured in a fresh subprocess from /proc/self/status).

Two test matrices at each N:

* ``synthetic``: Q diag(lambda) Q^T with a spectrum typical of a regularized Hessian (a dense
  cluster just above eps, an exponential bulk, a few outliers up to 1e3*eps): exact kappa known
  by construction; its entries look like a dense random matrix.
* ``hessian``: the real thing: the exact Hessian block of the first layer (fc1.weight, 12544 x
  12544) of the paper's DNN 784-16-16-10 after 20 SGD steps on Fashion-MNIST (scikit-learn's
  digits enlarged to 28x28 where Debian's package is absent), batch 256, its leading N x N
  principal block for N < 12544, + eps*I with eps = 1e-3 (the block is PSD with ~80 % of its
  eigenvalues near 0, so kappa ~ lambda_max / eps); exact kappa from LAPACK eigvalsh in float64.

Not part of the test suite: `python benchmarks/linalg.py [--big]`.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from _common import best_of, machine, markdown_table, print_machine
from qnewton.linalg import estimate_condition, prune_symmetric


def hessian_like(n: int, eps: float, dtype, seed: int = 0) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    k1, k2 = int(0.6 * n), int(0.35 * n)
    lam = eps + np.concatenate(
        [
            eps * rng.uniform(-0.02, 0.02, k1),
            rng.exponential(eps, k2),
            eps * np.logspace(0, 3, n - k1 - k2),
        ]
    )
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (q * lam) @ q.T
    a = (a + a.T) / 2
    return a.astype(dtype), float(lam.max() / lam.min())


def dnn_hessian_block(seed: int = 0) -> np.ndarray:
    """The fc1.weight Hessian block of the paper's DNN (see the module docstring), float32."""
    from torch import nn

    from qnewton.curvature import LossProblem, exact_hessian
    from qnewton.data import find_fashion_mnist_dir, load_image_dataset
    from qnewton.models import paper_dnn

    name = "fashion-mnist" if find_fashion_mnist_dir() is not None else "digits-784"
    ds = load_image_dataset(name, n_train=4096, seed=seed)
    x, y = ds.tensors("train")
    model = paper_dnn(seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(20):
        idx = torch.randint(0, len(y), (256,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    res = exact_hessian(LossProblem(model, nn.CrossEntropyLoss()), (x[:256], y[:256]))
    print(f"hessian: fc1.weight block of the paper's DNN on {name}, batch 256, after 20 SGD steps", file=sys.stderr)
    return res["fc1.weight"].matrix.numpy()


def regularized_block(full: np.ndarray, n: int, dtype, eps: float) -> np.ndarray:
    """A copy of the leading n x n block of ``full`` in ``dtype``, + eps*I (the ``hessian`` test
    matrix). Always a copy: at n = N in full's own dtype a view would add eps to ``full`` itself,
    and every later block would carry it twice."""
    a = np.array(full[:n, :n], dtype=dtype, order="C", copy=True)
    a.flat[:: n + 1] += eps
    return a


def exact_kappa_symmetric(a: np.ndarray) -> float:
    ev = np.linalg.eigvalsh(a.astype(np.float64))
    return float(np.abs(ev).max() / np.abs(ev).min())


def cholesky_seconds(a: np.ndarray) -> float:
    t = torch.from_numpy(a)
    torch_s = best_of(lambda: torch.linalg.cholesky(t))
    scipy_s = best_of(lambda: scipy.linalg.cholesky(a, lower=True, check_finite=False, overwrite_a=False))
    return min(torch_s, scipy_s)


_MEM_SCRIPT = """
import sys, numpy as np
from qnewton.linalg import prune_symmetric
def rss(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
a = np.load(sys.argv[1])
prune_symmetric(a[:128, :128].copy(), 4)  # compile / load the kernels first
base = rss('VmRSS:')
prune_symmetric(a, int(sys.argv[2]))
print(rss('VmHWM:') - base, a.nbytes)
"""


def peak_memory(a: np.ndarray, d: int) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.npy"
        np.save(path, a)
        out = subprocess.run(
            [sys.executable, "-c", _MEM_SCRIPT, str(path), str(d)], capture_output=True, text=True, check=True
        ).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--big", action="store_true", help="also N = 12544 (several minutes)")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--dtypes", nargs="*", default=["float32", "float64"])
    ap.add_argument("--fractions", type=float, nargs="*", default=[0.01, 0.05, 0.25, 0.5])
    ap.add_argument("--matrices", nargs="*", default=["synthetic", "hessian"], choices=["synthetic", "hessian"])
    ap.add_argument("--eps", type=float, default=1e-3, help="regularization of the real Hessian block")
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = ap.parse_args()
    sizes = args.sizes or ([1024, 4096] + ([12544] if args.big else []))
    info = machine()
    print_machine(info)
    for dt in args.dtypes:  # compile the kernels outside the timed region
        small = np.eye(128, dtype=dt) + 0.01
        prune_symmetric(small, 4)
        for method, opts in [("lanczos", {}), ("gershgorin", {"eps": 0.5}), ("merikoski", {})]:
            estimate_condition(small, method, **opts)
    results = {"machine": info, "kappa": [], "pruning": []}
    full_hessian = dnn_hessian_block() if "hessian" in args.matrices else None
    for n in sizes:
        for kind in args.matrices:
            for dt in args.dtypes:
                if kind == "synthetic":
                    eps = 1.0
                    a, kappa = hessian_like(n, eps, np.dtype(dt))
                else:
                    eps = args.eps
                    a = regularized_block(full_hessian, n, dt, eps)
                    kappa = exact_kappa_symmetric(a)
                for method, opts in [
                    ("lanczos", {}),
                    ("gershgorin", {"eps": eps * 0.98}),
                    ("merikoski", {}),
                    ("exact", {}),
                ]:
                    if method == "exact" and n > 4096:
                        continue
                    est = estimate_condition(a, method, **opts)
                    results["kappa"].append(
                        {
                            "n": n,
                            "matrix": kind,
                            "dtype": dt,
                            "method": method,
                            "seconds": est.seconds,
                            "kappa_true": kappa,
                            "kappa_est": est.value,
                            "log_ratio": est.log_value - math.log(kappa),
                            "upper_bound": est.upper_bound,
                        }
                    )
                chol = cholesky_seconds(a)
                for frac in args.fractions:
                    d = max(1, int(frac * n))
                    # one warm-up call first (the first calls of a process page in fresh memory),
                    # then as many tries as the Cholesky baseline gets (3 torch + 3 scipy)
                    prune_symmetric(a, d)
                    s = best_of(lambda a=a, d=d: prune_symmetric(a, d), repeats=6 if n <= 4096 else 3)
                    extra, nbytes = peak_memory(a, d)
                    results["pruning"].append(
                        {
                            "n": n,
                            "matrix": kind,
                            "dtype": dt,
                            "d": d,
                            "prune_seconds": s,
                            "cholesky_seconds": chol,
                            "ratio": s / chol,
                            "peak_extra_bytes": extra,
                            "matrix_bytes": nbytes,
                            "peak_total_over_matrix": (extra + nbytes) / nbytes,
                        }
                    )
                print(f"done N={n} {kind} {dt}", file=sys.stderr, flush=True)

    print("## Condition-number methods (measured time; error vs the known exact kappa)\n")
    rows = []
    for r in results["kappa"]:
        err = f"{r['kappa_est'] / r['kappa_true'] - 1:+.2e}" if abs(r["log_ratio"]) < 5 else f"x e^{r['log_ratio']:.0f}"
        rows.append(
            [
                r["n"],
                r["matrix"],
                r["dtype"],
                r["method"],
                f"{r['seconds'] * 1e3:.1f}",
                f"{r['kappa_true']:.4g}",
                err,
                "yes" if r["upper_bound"] else "no",
            ]
        )
    header = ["N", "matrix", "dtype", "method", "time [ms]", "true kappa", "relative error", "upper bound"]
    print(markdown_table(header, rows))
    print("\n## Symmetric pruning vs one Cholesky of the same matrix (measured)\n")
    rows = [
        [
            r["n"],
            r["matrix"],
            r["dtype"],
            r["d"],
            f"{r['d'] / r['n']:.0%}",
            f"{r['prune_seconds']:.3f}",
            f"{r['cholesky_seconds']:.3f}",
            f"{r['ratio']:.2f}",
            f"{r['peak_total_over_matrix']:.2f}",
        ]
        for r in results["pruning"]
    ]
    print(
        markdown_table(
            [
                "N",
                "matrix",
                "dtype",
                "d",
                "d/N",
                "prune [s]",
                "Cholesky [s]",
                "prune / Cholesky",
                "peak memory / matrix",
            ],
            rows,
        )
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
