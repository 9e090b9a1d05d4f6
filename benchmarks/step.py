"""One Newton step of the paper's DNN (784-16-16-10, exact layer-wise Hessian), split into phases.

For each policy (classical-only, quantum-only, Q-Newton hybrid) the same step (same parameters,
same batch) is timed, phase by phase, from the optimizer's own log:

* curvature: loss, gradient and the six exact Hessian blocks (fc1.weight is 12544 x 12544);
* estimate: condition-number estimation of the quantum route's blocks (Lanczos by default);
* prune: p%-sparsity profile and symmetric pruning to d;
* classical solve: LAPACK Cholesky solves of the routes that went classical;
* quantum emulation: the classical emulation of the QLSA (measured here, not a quantum time);
* quantum modeled: the QLSA time by the cost model (query count x gate time): **modeled**.

Everything but the last column is measured on this machine. `python benchmarks/step.py`
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from _common import machine, markdown_table, print_machine
from qnewton.cost import ClassicalCostModel, QuantumCostModel
from qnewton.data import find_fashion_mnist_dir, load_image_dataset
from qnewton.models import paper_dnn
from qnewton.optim import QNewton


def warm_model(x, y, steps: int, seed: int) -> nn.Module:
    model = paper_dnn(seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (256,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--gate-time", default="ghz", help="preset or seconds (the paper's tables use 'atto')")
    ap.add_argument("--eps", type=float, default=1e-3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    info = machine()
    print_machine(info)
    name = "fashion-mnist" if find_fashion_mnist_dir() is not None else "digits-784"
    ds = load_image_dataset(name, n_train=max(4096, args.batch), seed=0)
    x, y = ds.tensors("train")
    base = warm_model(x, y, 20, 0)
    batch = (x[: args.batch], y[: args.batch])
    classical = ClassicalCostModel()
    print(
        f"data: {name}; batch {args.batch}; eps {args.eps}; gate time {args.gate_time}; "
        f"classical C = {classical.constant:.3g} s/N^3 ({classical.basis})\n",
        file=sys.stderr,
    )
    rows, results = [], []
    for policy in ("classical", "quantum", "hybrid"):
        best = None
        for _ in range(args.repeats):
            model = paper_dnn(seed=0)
            model.load_state_dict(base.state_dict())
            opt = QNewton(
                model.parameters(),
                model=model,
                criterion=nn.CrossEntropyLoss(),
                lr=1.0,
                eps=args.eps,
                policy=policy,
                classical_cost=classical,
                quantum_cost=QuantumCostModel(gate_time=args.gate_time),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt.step(batch=batch)
            h = opt.history[-1]
            if best is None or h["wall_measured_s"] < best["wall_measured_s"]:
                best = {**h, "routes": dict(h["routes"])}
        m, q = best["measured"], best["modeled"]
        results.append({"policy": policy, **best})
        rows.append(
            [
                policy,
                f"{m['curvature_s']:.2f}",
                f"{m['kappa_s']:.2f}",
                f"{m['prune_s']:.2f}",
                f"{m['classical_solve_s']:.3f}",
                f"{m['quantum_emulation_s']:.3f}",
                f"{q['quantum_solve_s']:.3g}",
                f"{best['wall_measured_s']:.2f}",
                " ".join(f"{k.split('.')[0]}.{k.split('.')[1][0]}:{v[0]}" for k, v in best["routes"].items()),
            ]
        )
    print(f"## One Newton step, paper DNN, batch {args.batch} (seconds; best of {args.repeats})\n")
    print(
        markdown_table(
            [
                "policy",
                "curvature",
                "estimate",
                "prune",
                "classical solve",
                "quantum emulation",
                "quantum modeled",
                "wall (measured)",
                "routes (c/q)",
            ],
            rows,
        )
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=1, default=str))


if __name__ == "__main__":
    main()
