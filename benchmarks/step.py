"""One Newton step of the paper's DNN (784-16-16-10, exact layer-wise Hessian): the routes compared.

Part 1, the classical side (issue 12's targets), the same step (same parameters, same batch) for:

* ``QNewton(policy="classical")`` with the default routes (cholesky, cg, woodbury: the cheapest
  classical route per block by the routes' calibrated predictions);
* ``QNewton(policy="classical", routes=("cholesky",))``: the dense block + LAPACK Cholesky, the
  paper's classical baseline;
* a plain Newton-CG written below (about 40 lines: Hessian-vector products by double backward and
  conjugate gradients per layer block to the same relative residual), what a user would write.

Every time is **measured** on this machine: wall seconds of the whole step (loss, gradient,
curvature, solves, update), best of ``--repeats`` runs, the three alternated. QNewton's time is
its step in a running training (its second step: the one-off probes of the first are done), with
the first step (construction included) beside it. The directions are
compared block by block (cosine against the dense Cholesky solve). Part 2 splits one step of
each policy (classical, quantum, hybrid) into phases from the optimizer's log, with each route's
predicted seconds beside the measured ones; the quantum route's QLSA time is **modeled**.

`python benchmarks/step.py [--batches 256 2048] [--json out.json]`
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from _common import machine, markdown_table, print_machine
from qnewton.cost import QuantumCostModel
from qnewton.data import find_fashion_mnist_dir, load_image_dataset
from qnewton.models import paper_dnn
from qnewton.optim import QNewton

EPS, TOL = 0.05, 1e-3


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


# --- the plain Newton-CG baseline: what a user writes without qnewton --------------------------
def plain_newton_cg_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, tol: float
) -> list[torch.Tensor]:
    """theta_b <- theta_b - (H_bb + eps I)^{-1} g_b for every parameter tensor b, by CG on HVPs."""
    params = list(model.parameters())
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    directions = []
    for p, g in zip(params, grads):
        b = g.detach()

        def hvp(v: torch.Tensor, p: torch.Tensor = p, g: torch.Tensor = g) -> torch.Tensor:
            return torch.autograd.grad(g, p, v, retain_graph=True)[0] + eps * v

        d = torch.zeros_like(b)
        r = b.clone()
        s = r.clone()
        rr = float((r * r).sum())
        stop = (tol**2) * rr
        for _ in range(500):
            hs = hvp(s)
            alpha = rr / float((s * hs).sum())
            d += alpha * s
            r -= alpha * hs
            rr_new = float((r * r).sum())
            if rr_new <= stop:
                break
            s = r + (rr_new / rr) * s
            rr = rr_new
        directions.append(d)
    with torch.no_grad():
        for p, d in zip(params, directions):
            p -= d
    return directions


def qnewton_step(model: nn.Module, batch, **kw) -> tuple[QNewton, list[torch.Tensor]]:
    before = [p.detach().clone() for p in model.parameters()]
    opt = QNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), lr=1.0, eps=EPS, cg_tol=TOL, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.step(batch=batch)
    return opt, [b - p.detach() for b, p in zip(before, model.parameters())]


def fresh(base: nn.Module) -> nn.Module:
    m = paper_dnn(seed=0)
    m.load_state_dict(base.state_dict())
    return m


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.reshape(-1).double(), b.reshape(-1).double()
    return float(a @ b / (a.norm() * b.norm()).clamp_min(1e-300))


def part1(base: nn.Module, batch, repeats: int, warm_batch) -> dict:
    """The step a training run takes at step k > 1: each repeat builds the default-routes optimizer,
    takes one untimed step on ``warm_batch`` (its one-off costs: the Lanczos probe that predicts CG's
    iterations, the product timing), then times its next step on ``batch``. The plain Newton-CG and
    the dense Cholesky step start from the same parameters. The first step (construction included)
    is timed too, as ``first_step``."""
    names = [n for n, _ in base.named_parameters()]
    times: dict[str, list[float]] = {"routes": [], "first_step": [], "cholesky": [], "plain": []}
    dirs: dict[str, list[torch.Tensor]] = {}
    opts: dict[str, QNewton] = {}
    for rep in range(repeats):
        m = fresh(base)
        t0 = time.perf_counter()
        opt, _ = qnewton_step(m, warm_batch, policy="classical")
        times["first_step"].append(time.perf_counter() - t0)
        start = {k: v.clone() for k, v in m.state_dict().items()}
        before = [p.detach().clone() for p in m.parameters()]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.step(batch=batch)
        times["routes"].append(time.perf_counter() - t0)
        dirs["routes"] = [b - p.detach() for b, p in zip(before, m.parameters())]
        opts["routes"] = opt
        for arm in ("plain", "cholesky"):
            if arm == "cholesky" and rep >= max(1, repeats // 2):
                continue  # ten seconds a run: fewer repeats
            m = fresh(base)
            m.load_state_dict(start)
            t0 = time.perf_counter()
            if arm == "plain":
                d = plain_newton_cg_step(m, *batch, EPS, TOL)
            else:
                opts[arm], d = qnewton_step(m, batch, policy="classical", routes=("cholesky",))
            times[arm].append(time.perf_counter() - t0)
            dirs[arm] = d
    best = {k: min(v) for k, v in times.items()}
    per_block = []
    for i, name in enumerate(names):
        rec = next(r for r in reversed(opts["routes"].decisions) if r.block == name)
        per_block.append(
            {
                "block": name,
                "n": rec.n,
                "route": rec.route,
                "predicted_s": rec.predicted_s,
                "predicted_basis": rec.predicted_basis,
                "solve_measured_s": rec.solve_measured_s,
                "iterations": rec.iterations,
                "cos_routes_vs_cholesky": cosine(dirs["routes"][i], dirs["cholesky"][i]),
                "cos_plain_vs_cholesky": cosine(dirs["plain"][i], dirs["cholesky"][i]),
            }
        )
    return {
        "seconds_best": best,
        "seconds_all": times,
        "speedup_vs_cholesky": best["cholesky"] / best["routes"],
        "ratio_vs_plain_cg": best["routes"] / best["plain"],
        "min_cosine": min(b["cos_routes_vs_cholesky"] for b in per_block),
        "blocks": per_block,
    }


def part2(base: nn.Module, batch, gate_time: str) -> list[dict]:
    rows = []
    for policy in ("classical", "quantum", "hybrid"):
        m = fresh(base)
        opt, _ = qnewton_step(m, batch, policy=policy, quantum_cost=QuantumCostModel(gate_time=gate_time))
        h = opt.history[-1]
        rows.append(
            {
                "policy": policy,
                **{f"measured_{k}": v for k, v in h["measured"].items()},
                **{f"modeled_{k}": v for k, v in h["modeled"].items()},
                "wall_measured_s": h["wall_measured_s"],
                "routes": h["routes"],
                "records": [
                    {
                        k: getattr(r, k)
                        for k in (
                            "block",
                            "route",
                            "predicted_s",
                            "predicted_basis",
                            "solve_measured_s",
                            "solve_modeled_s",
                            "classical_cost_s",
                            "best_classical_route",
                            "best_classical_s",
                            "quantum_cost_s",
                            "route_end_to_end",
                        )
                    }
                    for r in opt.decisions
                ],
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--gate-time", default="ghz", help="quantum gate-time preset for part 2")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    info = machine()
    print_machine(info)
    name = "fashion-mnist" if find_fashion_mnist_dir() is not None else "digits-784"
    ds = load_image_dataset(name, n_train=max(4096, max(args.batches)), seed=0)
    x, y = ds.tensors("train")
    base = warm_model(x, y, 20, 0)
    # warm-up: numba kernels, calibrations (cached), first-call allocations
    qnewton_step(fresh(base), (x[:64], y[:64]), policy="hybrid")
    out = {"machine": info, "data": name, "eps": EPS, "tol": TOL, "batches": {}}
    for b in args.batches:
        batch = (x[:b], y[:b])
        p1 = part1(base, batch, args.repeats, (x[b : 2 * b], y[b : 2 * b]))
        p2 = part2(base, batch, args.gate_time)
        out["batches"][str(b)] = {"part1": p1, "part2": p2}
        s = p1["seconds_best"]
        print(f"## Batch {b}: one classical Newton step (wall seconds, measured; best of {args.repeats})\n")
        print(
            markdown_table(
                [
                    "QNewton default routes (step k > 1)",
                    "its first step",
                    "QNewton routes=('cholesky',)",
                    "plain Newton-CG",
                    "speedup vs Cholesky",
                    "vs plain CG",
                    "min cosine",
                ],
                [
                    [
                        f"{s['routes']:.3f}",
                        f"{s['first_step']:.3f}",
                        f"{s['cholesky']:.2f}",
                        f"{s['plain']:.3f}",
                        f"{p1['speedup_vs_cholesky']:.1f}x",
                        f"{p1['ratio_vs_plain_cg']:.2f}x",
                        f"{p1['min_cosine']:.6f}",
                    ]
                ],
            )
        )
        print()
        print(
            markdown_table(
                [
                    "block",
                    "n",
                    "route",
                    "predicted s",
                    "measured s",
                    "pred/meas",
                    "iterations",
                    "cos vs Cholesky",
                    "plain CG cos",
                ],
                [
                    [
                        r["block"],
                        r["n"],
                        r["route"],
                        f"{r['predicted_s']:.3g}",
                        f"{r['solve_measured_s']:.3g}",
                        f"{r['predicted_s'] / max(r['solve_measured_s'], 1e-12):.2f}",
                        r["iterations"] if r["iterations"] is not None else "",
                        f"{r['cos_routes_vs_cholesky']:.6f}",
                        f"{r['cos_plain_vs_cholesky']:.6f}",
                    ]
                    for r in p1["blocks"]
                ],
            )
        )
        print(f"\n## Batch {b}: one step per policy, phases (seconds; quantum solve **modeled** at {args.gate_time})\n")
        rows = []
        for r in p2:
            rows.append(
                [
                    r["policy"],
                    f"{r['measured_curvature_s']:.3f}",
                    f"{r['measured_dense_s']:.3f}",
                    f"{r['measured_prune_s']:.3f}",
                    f"{r['measured_kappa_s']:.3f}",
                    f"{r['measured_classical_solve_s']:.3f}",
                    f"{r['measured_quantum_emulation_s']:.3f}",
                    f"{r['modeled_quantum_solve_s']:.3g}",
                    f"{r['wall_measured_s']:.2f}",
                    " ".join(f"{k}:{v}" for k, v in r["routes"].items()),
                ]
            )
        print(
            markdown_table(
                [
                    "policy",
                    "loss+grad",
                    "dense block",
                    "prune",
                    "kappa",
                    "classical solves",
                    "quantum emulation",
                    "quantum modeled",
                    "wall",
                    "routes",
                ],
                rows,
            )
        )
        print()
        sys.stdout.flush()
    if args.json:
        args.json.write_text(
            json.dumps(out, indent=1, default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o))
        )


if __name__ == "__main__":
    main()
