"""A classical Newton step inside a training run, split into its phases: the default routes with the
dense blocks' Cholesky on torch's LAPACK (the default) against the same routes with scipy's.

The paper's DNN on Fashion-MNIST (digits-784 if it is missing), batch 256, Table III's settings (20
SGD steps with momentum 0.9, then eps 0.05, lr 1, Armijo backtracking, CG to 1e-3), the same seed and
batch order for both arms. After ``--skip`` steps (the warm-up and the first Newton steps with their
one-off probes), the mean **measured** seconds per step and per phase over the next ``--steps``
steps, from the optimizer's own log. The two arms alternate ``--repeats`` times in one process.

Why both: scipy's OpenBLAS keeps its thread pool spinning after each call; beside torch's pool on a
small machine, every later small operation of the step can wait for a core.

`python benchmarks/step_in_training.py [--steps 200] [--json out.json]`
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections import Counter
from pathlib import Path

import torch

from _common import BATCH, classical_qnewton, machine, markdown_table, print_machine
from qnewton.data import find_fashion_mnist_dir, load_image_dataset
from qnewton.experiments.training import BatchSampler
from qnewton.models import paper_dnn
from qnewton.routes import CGRoute, CholeskyRoute, WoodburyRoute
from qnewton.solvers import CholeskySolver


def run(backend: str, x: torch.Tensor, y: torch.Tensor, skip: int, steps: int) -> dict:
    torch.manual_seed(0)
    model = paper_dnn(seed=0)
    routes = (CholeskyRoute(solver=CholeskySolver(backend=backend)), CGRoute(), WoodburyRoute())  # type: ignore[arg-type]
    opt = classical_qnewton(model, routes)
    sampler = BatchSampler(len(y), BATCH, seed=0)
    phases: Counter[str] = Counter()
    wall = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step in range(skip + steps):
            idx = sampler.next()
            t0 = time.perf_counter()
            opt.step(batch=(x[idx], y[idx]))
            dt = time.perf_counter() - t0
            if step >= skip:
                wall += dt
                phases.update({k: v for k, v in opt.history[-1]["measured"].items() if v})
    return {"backend": backend, "wall_s_per_step": wall / steps, **{k: v / steps for k, v in phases.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip", type=int, default=40, help="steps before the timed ones (warm-up included)")
    ap.add_argument("--steps", type=int, default=200, help="timed steps per run")
    ap.add_argument("--repeats", type=int, default=2, help="runs per arm, alternated")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    info = machine()
    print_machine(info)
    name = "fashion-mnist" if find_fashion_mnist_dir() is not None else "digits-784"
    x, y = load_image_dataset(name, seed=0).tensors("train")
    results = [run(b, x, y, args.skip, args.steps) for _ in range(args.repeats) for b in ("auto", "scipy")]
    keys = ["wall_s_per_step", "curvature_s", "dense_s", "quote_s", "classical_solve_s", "line_search_s"]
    label = {"auto": "torch (default: the block is a torch tensor)", "scipy": "scipy"}
    rows = [[label[r["backend"]], *(f"{r.get(k, 0.0):.4f}" for k in keys)] for r in results]
    print(f"\n## A classical Newton step in training: mean measured seconds over {args.steps} steps\n")
    print(markdown_table(["Cholesky backend", *keys], rows))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"machine": info, "data": name, "args": vars(args) | {"json": str(args.json)}, "results": results},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
