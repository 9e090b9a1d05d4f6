"""`qnewton train`: train the paper's DNN (or a wider MLP) with Q-Newton, in one process or many.

Plain::

    qnewton train --data fashion-mnist --steps 20

Distributed (data-parallel curvature, blocks solved on the rank they are assigned to)::

    torchrun --nproc_per_node 2 -m qnewton train --data fashion-mnist --steps 20

Every rank draws the same seeded global batch and keeps its contiguous share of it, so the run
follows the single-process trajectory (to floating-point tolerance). Only rank 0 prints and
writes: ``--out`` receives ``decisions.csv`` (one record per block per step), ``history.json``
(loss and measured/modeled time split per step), ``summary.json`` and ``checkpoint.pt`` (model,
optimizer, sampler; ``--resume`` it on every rank). Times are labelled measured or modeled.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._options import gate_time


def _widths(v: str) -> tuple[int, ...]:
    try:
        out = tuple(int(s) for s in v.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths such as 64,64, got {v!r}") from None
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths, got {v!r}")
    return out


def _sparsity(v: str) -> int | float:
    try:
        return int(v)
    except ValueError:
        return float(v)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``qnewton train`` (shared with ``benchmarks/distributed.py``)."""
    g = p.add_argument_group("data and model")
    g.add_argument("--data", default="digits", choices=["digits", "digits-784", "fashion-mnist"])
    g.add_argument("--n-train", type=int, default=None, help="balanced subset of the training split")
    g.add_argument(
        "--model",
        default="paper-dnn",
        choices=["paper-dnn", "mlp"],
        help="paper-dnn: input-16-16-10 ReLU (784 inputs: 13,002 parameters); mlp: a wider MLP (--hidden)",
    )
    g.add_argument("--hidden", type=_widths, default=None, help="hidden widths (paper-dnn 16,16; mlp 64,64)")
    g.add_argument("--activation", default="relu", choices=["relu", "tanh", "gelu", "sigmoid", "softplus"])
    g.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    g = p.add_argument_group("optimizer")
    g.add_argument("--steps", type=int, default=10)
    g.add_argument("--batch-size", type=int, default=256, help="global batch (split over the ranks)")
    g.add_argument("--lr", type=float, default=1.0, help="Newton step size beta")
    g.add_argument("--eps", type=float, default=1.0, help="regularization H + eps I (the paper: 1.0 for the DNN)")
    g.add_argument("--policy", default="hybrid", choices=["hybrid", "classical", "quantum"])
    g.add_argument("--curvature", default="hessian", choices=["hessian", "fisher"])
    g.add_argument("--sgd-steps", type=int, default=0, help="plain SGD steps first (the paper's early phase)")
    g.add_argument("--sgd-lr", type=float, default=0.1)
    g.add_argument("--line-search", action="store_true", help="Armijo backtracking on the step's batch")
    g.add_argument("--max-block-size", type=int, default=None, help="larger blocks take a gradient step")
    g.add_argument("--quantum-solver", default="emulated-ideal", choices=["emulated-ideal", "emulated-noisy"])
    g.add_argument("--sparsity", type=_sparsity, default=None, help="oracle sparsity d (int) or ratio of N")
    g.add_argument(
        "--gate-time", type=gate_time, default="atto", help="ibm_sherbrooke, ghz, thz, atto (paper) or seconds"
    )
    g.add_argument("--classical-c", type=float, default=None, help="fixed C of C N^3 (default: calibrated)")
    g = p.add_argument_group("distributed (under torchrun)")
    g.add_argument(
        "--balance",
        default="classical",
        choices=["classical", "measured"],
        help="block assignment cost: C N^3 prediction, or the previous step's measured work",
    )
    g.add_argument("--backend", default="auto", choices=["auto", "gloo", "nccl"])
    g.add_argument("--threads", type=int, default=None, help="torch threads per process")
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", type=Path, default=None, help="folder for decisions.csv, history.json, checkpoint.pt")
    g.add_argument("--resume", type=Path, default=None, help="checkpoint.pt to continue from (every rank loads it)")
    g.add_argument("--checkpoint-every", type=int, default=0, help="also write the checkpoint every K steps")
    g.add_argument("--quiet", action="store_true", help="no per-step lines")


def _model(args: argparse.Namespace, n_features: int, num_classes: int):
    import torch

    from ..models import MLP, paper_dnn

    hidden = args.hidden or ((16, 16) if args.model == "paper-dnn" else (64, 64))
    if args.model == "paper-dnn":
        model = paper_dnn(n_features, hidden, num_classes, args.activation, seed=args.seed)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(args.seed)
            model = MLP((n_features, *hidden, num_classes), args.activation)
    return model.to(getattr(torch, args.dtype))


def _optimizer(args: argparse.Namespace, model, ctx):
    from torch import nn

    from ..cost import ClassicalCostModel, QuantumCostModel
    from ..distributed import DistributedQNewton
    from ..optim import QNewton

    kw: dict[str, Any] = dict(
        model=model,
        criterion=nn.CrossEntropyLoss(),
        lr=args.lr,
        eps=args.eps,
        policy=args.policy,
        curvature=args.curvature,
        sgd_steps=args.sgd_steps,
        sgd_lr=args.sgd_lr,
        max_block_size=args.max_block_size,
        line_search=args.line_search,
        quantum_solver=args.quantum_solver,
        sparsity=args.sparsity,
        classical_cost=ClassicalCostModel(c=args.classical_c),
        quantum_cost=QuantumCostModel(gate_time=args.gate_time),
        seed=args.seed,
    )
    if ctx.is_distributed:
        return DistributedQNewton(model.parameters(), balance=args.balance, **kw)
    return QNewton(model.parameters(), **kw)


def _atomic_save(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _evaluate(model, x, y) -> dict[str, float]:
    import torch
    from torch import nn

    with torch.no_grad():
        logits = model(x)
        return {
            "test_loss": float(nn.functional.cross_entropy(logits, y)),
            "test_accuracy": float((logits.argmax(1) == y).double().mean()),
        }


def run(args: argparse.Namespace) -> int:
    """Train as configured; returns the exit status."""
    import torch

    from ..data import load_image_dataset
    from ..distributed import init_distributed, shard_batch, shutdown_distributed
    from ..errors import InvalidArgumentError
    from ..experiments.training import BatchSampler

    if args.steps < 0 or args.batch_size < 1 or args.checkpoint_every < 0:
        raise InvalidArgumentError("`--steps` and `--checkpoint-every` must be >= 0 and `--batch-size` >= 1.")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    ctx = init_distributed(None if args.backend == "auto" else args.backend)
    try:
        main = ctx.is_main
        if not main:
            warnings.simplefilter("ignore")  # rank 0 reports; the others would repeat it
        say = print if main else (lambda *a, **k: None)
        if args.batch_size < ctx.world_size:
            raise InvalidArgumentError(f"`--batch-size` {args.batch_size} < {ctx.world_size} processes.")
        ds = load_image_dataset(args.data, n_train=args.n_train, seed=args.seed)
        dtype = getattr(torch, args.dtype)
        x, y = ds.tensors("train", device=ctx.device)
        x = x.to(dtype)
        xt, yt = ds.tensors("test", device=ctx.device)
        xt = xt.to(dtype)
        model = _model(args, ds.n_features, ds.num_classes).to(ctx.device)
        opt = _optimizer(args, model, ctx)
        sampler = BatchSampler(len(y), args.batch_size, seed=args.seed)
        start = 0
        if args.resume is not None:
            ck = torch.load(args.resume, map_location=ctx.device, weights_only=False)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sampler.load_state_dict(ck["sampler"])
            start = int(ck["step"])
        nparams = sum(p.numel() for p in model.parameters())
        blocks = [(b.name, b.size) for b in opt.blocks] if not isinstance(opt.blocks, str) else []
        say(
            f"qnewton train: {args.model} {tuple(getattr(model, 'sizes', ()))} ({nparams} parameters, "
            f"{len(blocks)} blocks, largest {max((n for _, n in blocks), default=0)}) on {args.data} "
            f"({len(y)} train / {len(yt)} test); {ctx.world_size} process(es)"
            + (f", backend {ctx.backend}" if ctx.is_distributed else "")
            + f"; global batch {args.batch_size}; policy {args.policy}; {torch.get_num_threads()} thread(s)/process"
        )
        out = args.out
        if main and out is not None:
            out.mkdir(parents=True, exist_ok=True)

        def save(step: int) -> None:
            state = {  # rank 0 writes; the barrier keeps the others from reading a half-written file
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "sampler": sampler.state_dict(),
                "step": step,
                "args": {k: str(v) for k, v in vars(args).items() if k != "func"},
            }
            if main and out is not None:
                _atomic_save(state, out / "checkpoint.pt")
            if ctx.is_distributed:
                import torch.distributed as dist

                dist.barrier()

        loss = None
        t_run = time.perf_counter()
        for step in range(start, args.steps):
            idx = sampler.next().to(ctx.device)
            batch = shard_batch((x[idx], y[idx]), ctx.rank, ctx.world_size)
            loss = opt.step(batch=batch)
            h = opt.history[-1]
            if not args.quiet:
                routes = list(h.get("routes", {}).values())
                r = f"routes c:{routes.count('classical')} q:{routes.count('quantum')}" if routes else h["phase"]
                extra = ""
                if "distributed" in h and getattr(opt, "assignment", None) is not None and h["phase"] == "newton":
                    a = opt.assignment
                    extra = f"; block load max/mean {a.imbalance:.2f} over {a.busy_ranks} rank(s)"
                say(f"step {step:>4}  loss {float(loss):.5f}  wall {h['wall_measured_s']:.2f} s (measured)  {r}{extra}")
            if args.checkpoint_every and (step + 1) % args.checkpoint_every == 0 and out is not None:
                save(step + 1)
        wall = time.perf_counter() - t_run
        if out is not None:
            save(max(args.steps, start))
        metrics = _evaluate(model, xt, yt)
        say(
            f"done: {max(0, args.steps - start)} steps in {wall:.2f} s (measured); test loss "
            f"{metrics['test_loss']:.4f}, accuracy {metrics['test_accuracy']:.4f}"
        )
        if main and out is not None:
            from ..experiments._run import jsonable

            opt.decisions_to_csv(str(out / "decisions.csv"))
            (out / "history.json").write_text(json.dumps(jsonable(opt.history), indent=1))
            summary = {
                "world_size": ctx.world_size,
                "backend": ctx.backend,
                "steps": args.steps,
                "wall_measured_s": wall,
                "final_loss": float(loss) if loss is not None else math.nan,
                **metrics,
                "args": {k: str(v) for k, v in vars(args).items() if k != "func"},
            }
            (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=1))
            say(f"wrote {out}/decisions.csv, history.json, summary.json, checkpoint.pt")
        return 0
    finally:
        shutdown_distributed(ctx)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the paper's DNN (or a wider MLP) with Q-Newton; under torchrun, distributed",
        description=__doc__.split("\n\n")[0],
    )
    add_arguments(p)
    p.set_defaults(func=run)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qnewton.cli.train ...``: this subcommand alone (also under torchrun)."""
    parser = argparse.ArgumentParser(prog="qnewton-train")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
