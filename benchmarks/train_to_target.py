"""Training to a target test accuracy: QNewton against what a user would pick instead.

The paper's DNN (784-16-16-10) on Fashion-MNIST, batch 256, the same seed and batch order for every
arm; test accuracy on the full 10,000-image test set every ``--eval-every`` steps. Steps and
**measured** wall seconds of training (evaluation excluded) until the test accuracy first reaches
each target (0.80 and 0.84 by default). The arms:

* SGD (lr 0.1, momentum 0.9) and Adam (lr 1e-3): first-order baselines;
* torch.optim.LBFGS (strong Wolfe line search, 20 iterations per batch, history 10);
* QNewton(policy="classical") with its default routes (cheapest of dense Cholesky, CG, Woodbury
  per block), the Table III settings: 20 SGD steps (lr 0.1, momentum 0.9), then Newton steps with
  eps 0.05, lr 1 and a backtracking line search;
* a plain Newton-CG written here (the same warm-up, eps, CG tolerance 1e-3 and Armijo backtracking;
  HVPs by double backward per layer): the implementation a user would write instead;
* with ``--with-dense``: QNewton(routes=("cholesky",)), the dense baseline, capped by ``--max-seconds``.

`python benchmarks/train_to_target.py [--targets 0.80 0.84] [--json out.json]`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from _common import BATCH, EPS, MOMENTUM, SGD_LR, TOL, WARMUP, classical_qnewton, machine, markdown_table, print_machine
from qnewton.data import find_fashion_mnist_dir, load_image_dataset
from qnewton.experiments.training import BatchSampler
from qnewton.models import paper_dnn


def plain_newton_cg(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """One layer-wise Newton-CG step with Armijo backtracking on the batch; returns the loss."""
    params = list(model.parameters())
    loss = nn.functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    dirs = []
    for p, g in zip(params, grads):
        b = g.detach()
        d, r = torch.zeros_like(b), b.clone()
        s, rr = r.clone(), float((b * b).sum())
        stop = TOL**2 * rr
        for _ in range(500):
            hs = torch.autograd.grad(g, p, s, retain_graph=True)[0] + EPS * s
            alpha = rr / float((s * hs).sum())
            d += alpha * s
            r -= alpha * hs
            new = float((r * r).sum())
            if new <= stop:
                break
            s, rr = r + (new / rr) * s, new
        dirs.append(d)
    slope = sum(float((g.detach() * d).sum()) for g, d in zip(grads, dirs))
    base, t = float(loss), 1.0
    with torch.no_grad():
        for _ in range(12):
            for p, d in zip(params, dirs):
                p -= t * d
            trial = float(nn.functional.cross_entropy(model(x), y))
            if trial <= base - 1e-4 * t * slope and trial < base:
                return base
            for p, d in zip(params, dirs):
                p += t * d
            t /= 2
    return base


def make_arm(name: str, model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor, int], None]:
    crit = nn.CrossEntropyLoss()
    if name == "SGD":
        opt = torch.optim.SGD(model.parameters(), lr=SGD_LR, momentum=MOMENTUM)
    elif name == "Adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    elif name == "LBFGS":
        opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=20, history_size=10, line_search_fn="strong_wolfe")
    elif name.startswith("QNewton"):
        routes = ("cholesky",) if name.endswith("dense") else None
        q = classical_qnewton(model, routes)

        def qstep(x: torch.Tensor, y: torch.Tensor, step: int) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                q.step(batch=(x, y))

        return qstep
    else:  # the plain Newton-CG, after the same SGD warm-up
        warm = torch.optim.SGD(model.parameters(), lr=SGD_LR, momentum=MOMENTUM)

        def cgstep(x: torch.Tensor, y: torch.Tensor, step: int) -> None:
            if step < WARMUP:
                warm.zero_grad()
                crit(model(x), y).backward()
                warm.step()
            else:
                plain_newton_cg(model, x, y)

        return cgstep

    def step(x: torch.Tensor, y: torch.Tensor, _: int) -> None:
        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = crit(model(x), y)
            loss.backward()
            return loss

        opt.step(closure)

    return step


def run_arm(name: str, data, targets: list[float], args) -> dict:
    x, y, xt, yt = data
    torch.manual_seed(0)
    model = paper_dnn(seed=0)
    step_fn = make_arm(name, model)
    sampler = BatchSampler(len(y), BATCH, seed=0)
    reached: dict[str, dict] = {}
    curve = []
    train_s, step = 0.0, 0
    while step < args.max_steps and train_s < args.max_seconds and len(reached) < len(targets):
        idx = sampler.next()
        t0 = time.perf_counter()
        step_fn(x[idx], y[idx], step)
        train_s += time.perf_counter() - t0
        step += 1
        if step % args.eval_every == 0:
            with torch.no_grad():
                acc = float((model(xt).argmax(1) == yt).float().mean())
            curve.append({"step": step, "train_s": train_s, "test_accuracy": acc})
            for t in targets:
                if acc >= t and str(t) not in reached:
                    reached[str(t)] = {"steps": step, "wall_s": train_s}
    return {"arm": name, "reached": reached, "steps_run": step, "train_s": train_s, "curve": curve}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=float, nargs="+", default=[0.80, 0.84])
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--max-steps", type=int, default=3000)
    ap.add_argument("--max-seconds", type=float, default=600.0, help="cap on each arm's training seconds")
    ap.add_argument("--arms", nargs="+", default=["SGD", "Adam", "LBFGS", "QNewton", "Newton-CG"])
    ap.add_argument("--with-dense", action="store_true", help="also QNewton routes=('cholesky',)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    info = machine()
    print_machine(info)
    if find_fashion_mnist_dir() is None:
        sys.exit("Fashion-MNIST is not installed (make data); this benchmark needs it.")
    ds = load_image_dataset("fashion-mnist", seed=0)
    x, y = ds.tensors("train")
    xt, yt = ds.tensors("test")
    arms = list(args.arms) + (["QNewton-dense"] if args.with_dense else [])
    results = []
    for name in arms:
        res = run_arm(name, (x, y, xt, yt), args.targets, args)
        results.append(res)
        print(f"{name}: {res['reached']} ({res['steps_run']} steps, {res['train_s']:.1f} s)", file=sys.stderr)
    rows = []
    for r in results:
        row = [r["arm"]]
        for t in args.targets:
            hit = r["reached"].get(str(t))
            row += [
                hit["steps"] if hit else f"> {r['steps_run']}",
                f"{hit['wall_s']:.1f}" if hit else f"> {r['train_s']:.0f}",
            ]
        rows.append(row)
    header = ["arm"] + [h for t in args.targets for h in (f"steps to {t}", f"seconds to {t}")]
    print(f"## To a test accuracy (Fashion-MNIST, full test set; measured, batch {BATCH})\n")
    print(markdown_table(header, rows))
    sgd = next((r for r in results if r["arm"] == "SGD"), None)
    qn = next((r for r in results if r["arm"] == "QNewton"), None)
    if sgd and qn:
        for t in args.targets:
            a, b = qn["reached"].get(str(t)), sgd["reached"].get(str(t))
            if a and b:
                ratio = a["steps"] / b["steps"]
                print(f"\nQNewton/SGD steps to {t}: {a['steps']}/{b['steps']} = {ratio:.2f} (paper: 1000/1500)")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "args": vars(args) | {"json": str(args.json)}, "results": results}, indent=1)
        )


if __name__ == "__main__":
    main()
