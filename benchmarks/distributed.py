"""Distributed Q-Newton: step time with 1 and 2 processes, and the block assignment at 64 ranks.

Two models, each trained for a few Newton steps (same seeded global batches, same routing: C is
fixed to this machine's calibrated value so every run prices blocks alike):

* the paper's DNN 784-16-16-10 on Fashion-MNIST (digits-784 if Fashion-MNIST is missing): six
  layer-wise blocks, one of them (fc1.weight, N = 12544) holding ~all the solve cost;
* a wider MLP 64-64-64-64-64-10 on scikit-learn digits: ten blocks, four of N = 4096.

Runs: one process with all cores' threads (the single-process baseline), one process with one
thread, and ``torchrun``-style 2 processes with one thread each (gloo, CPU). The step time is the
median measured wall-clock time of the timed steps (after one warm-up step) on rank 0; the
speedup is baseline / 2-process time. A second table splits the 2-process step per rank into its
stages (local curvature, waiting for the other rank, the collectives, local solves).

The last table is a simulation, not a measurement: the greedy largest-first assignment of the
models' real block sizes (cost C N^3, as the optimizer assigns them) over W ranks up to 64, with
the max/mean load and the idle fraction of the solve phase.

``python benchmarks/distributed.py`` (``--quick``: the wider MLP only, one timed step).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGES = [
    "local_curvature_s",
    "gradient_allreduce_s",
    "curvature_reduce_s",
    "local_solve_s",
    "direction_allreduce_s",
    "records_gather_s",
    "sync_wait_s",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(train_argv: list[str]):
    """The TrainConfig that `qnewton train` would build from these options."""
    from qnewton.cli import train as cli_train
    from qnewton.cli._options import config_from_args
    from qnewton.experiments.train import TrainConfig

    p = argparse.ArgumentParser()
    cli_train.add_arguments(p)
    return config_from_args(TrainConfig, p.parse_args(train_argv), p)


# -- worker: one run (one process, or one rank of a torchrun group) ----------------------------------
def worker(out_dir: Path, train_argv: list[str], steps: int) -> None:
    import torch

    from qnewton.data import load_image_dataset
    from qnewton.distributed import init_distributed, shard_batch, shutdown_distributed
    from qnewton.experiments import train
    from qnewton.experiments.training import BatchSampler

    cfg = _config(train_argv)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    warnings.simplefilter("ignore")
    ctx = init_distributed("gloo")
    try:
        ds = load_image_dataset(cfg.dataset, n_train=cfg.n_train, seed=cfg.seed)
        dtype = getattr(torch, cfg.dtype)
        x, y = ds.tensors("train")
        x = x.to(dtype)
        model = train._model(cfg, ds.n_features, ds.num_classes)
        opt = train._optimizer(cfg, model, ctx)
        sampler = BatchSampler(len(y), cfg.batch_size, seed=cfg.seed)
        for _ in range(steps + 1):  # one warm-up step
            idx = sampler.next()
            opt.step(batch=shard_batch((x[idx], y[idx]), ctx.rank, ctx.world_size))
        blocks = [(b.name, b.size) for b in opt.blocks]
        result = {
            "rank": ctx.rank,
            "world_size": ctx.world_size,
            "threads": torch.get_num_threads(),
            "blocks": blocks,
            "history": opt.history,
            "decisions": [r.to_dict() for r in opt.decisions],
        }
        (out_dir / f"rank{ctx.rank}.json").write_text(json.dumps(result, default=str))
    finally:
        shutdown_distributed(ctx)


def launch(world: int, threads: int, train_argv: list[str], steps: int) -> list[dict]:
    """Run the worker as 1 plain process or `world` torchrun processes; every rank's result."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as tmp:
        tail = [str(Path(__file__).resolve()), "--worker", tmp, "--steps", str(steps), "--", *train_argv]
        tail += ["--threads", str(threads)]
        if world == 1:
            cmd = [sys.executable, *tail]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={world}"]
            cmd += [f"--master_port={_free_port()}", *tail]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        return [json.loads((Path(tmp) / f"rank{r}.json").read_text()) for r in range(world)]


# -- driver ---------------------------------------------------------------------------------------------
def model_blocks(train_argv: list[str]) -> list[tuple[str, int]]:
    """The layer-wise blocks (name, N) of the model a run trains, without training it."""
    from torch import nn

    from qnewton.curvature import LossProblem, make_blocks
    from qnewton.data import load_image_dataset
    from qnewton.experiments import train

    cfg = _config(train_argv)
    ds = load_image_dataset(cfg.dataset, n_train=64, n_test=16, seed=cfg.seed)
    model = train._model(cfg, ds.n_features, ds.num_classes)
    return [(b.name, b.size) for b in make_blocks(LossProblem(model, nn.CrossEntropyLoss()), "layerwise")]


def simulate(blocks: list[tuple[str, int]], worlds=(1, 2, 4, 8, 16, 64)) -> list[dict]:
    from qnewton.distributed import assign_blocks, classical_block_costs

    costs = classical_block_costs([n for _, n in blocks])
    return [assign_blocks(costs, w).summary() for w in worlds]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2, help="timed Newton steps per run (after one warm-up)")
    ap.add_argument("--quick", action="store_true", help="the wider MLP only, one timed step")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.worker is not None:
        worker(args.worker, [a for a in rest if a != "--"], args.steps)
        return

    sys.path.insert(0, str(HERE))
    from _common import machine, markdown_table, print_machine
    from qnewton.cost import ClassicalCostModel
    from qnewton.data import find_fashion_mnist_dir

    info = machine()
    print_machine(info)
    cores = os.cpu_count() or 1
    c = ClassicalCostModel().constant  # this machine's calibrated C (cached), fixed for every run
    data784 = "fashion-mnist" if find_fashion_mnist_dir() is not None else "digits-784"
    common = ["--policy", "hybrid", "--routes", "cholesky", "qlsa", "--gate-time", "ghz", "--eps", "1.0"]
    common += ["--classical-c", repr(c), "--no-line-search"]
    models = {
        "paper DNN 784-16-16-10": ["--model", "paper-dnn", "--dataset", data784, "--n-train", "4096"],
        "wider MLP 64-64x4-10": ["--model", "mlp", "--hidden", "64", "64", "64", "64", "--dataset", "digits"],
        "paper DNN, matrix-free CG (--reduce products)": [
            "--model", "paper-dnn", "--dataset", data784, "--n-train", "4096", "--reduce", "products",
        ],
    }  # fmt: skip
    per_model = {"paper DNN, matrix-free CG (--reduce products)": ["--policy", "cg", "--routes", "cg", "--eps", "1.0"]}
    if args.quick:
        models = {k: v for k, v in models.items() if k.startswith("wider")}
        args.steps = 1
    runs = [(1, cores), (1, 1), (2, 1)]
    print(
        f"policy hybrid, gate time ghz, eps 1.0, global batch 256, C = {c:.3g} s/N^3 (fixed); "
        f"{args.steps} timed step(s) after 1 warm-up; {cores} cores\n",
        file=sys.stderr,
    )
    rows, stage_rows, sim_rows, results = [], [], [], []
    sims = {}  # before any run: the simulation needs only the block sizes
    for label, margs in models.items():
        blocks = model_blocks([*margs, *per_model.get(label, common)])
        sims[label] = (blocks, simulate(blocks))
    for label, margs in models.items():
        walls, loads = {}, {}
        for world, threads in runs:
            t0 = time.perf_counter()
            load = os.getloadavg()[0]  # another user's processes on this machine slow every run down
            ranks = launch(world, threads, [*margs, *per_model.get(label, common)], args.steps)
            loads[(world, threads)] = (load, os.getloadavg()[0])
            hist = [h for h in ranks[0]["history"] if h["phase"] == "newton"][1:]  # drop the warm-up
            wall = statistics.median(h["wall_measured_s"] for h in hist)
            walls[(world, threads)] = wall
            routes = hist[-1]["routes"]
            results.append({"model": label, "world": world, "threads": threads, "ranks": ranks})
            print(
                f"  {label}: {world} process(es) x {threads} thread(s): {wall:.2f} s/step "
                f"(run {time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )
            if world > 1:
                for r in ranks:
                    hs = [h for h in r["history"] if h["phase"] == "newton"][1:]
                    st = {k: statistics.mean(h["distributed"]["measured"].get(k, 0.0) for h in hs) for k in STAGES}
                    owned = hs[-1]["distributed"]["owned_blocks"]
                    stage_rows.append([label, r["rank"], ", ".join(owned), *[f"{st[k]:.2f}" for k in STAGES]])
        base = walls[(1, cores)]
        for (world, threads), wall in walls.items():
            nq = sum(v in ("qlsa", "qlsa-rows") for v in routes.values())
            rows.append(
                [
                    label,
                    world,
                    threads,
                    f"{wall:.2f}",
                    f"{base / wall:.2f}x",
                    f"{walls[(1, 1)] / wall:.2f}x",
                    f"{len(routes) - nq}/{nq}",
                    "{:.1f} / {:.1f}".format(*loads[(world, threads)]),
                ]
            )
        blocks, sim = sims[label]
        largest = max(n for _, n in blocks)
        volume = sum(n * n for _, n in blocks) * 4 / 2**20
        for s in sim:
            sim_rows.append(
                [
                    label,
                    s["world_size"],
                    s["blocks"],
                    s["busy_ranks"],
                    f"{s['imbalance']:.2f}",
                    f"{s['idle_fraction']:.1%}",
                    f"{s['speedup_bound']:.2f}x",
                    largest,
                    f"{volume:.0f}",
                ]
            )

    print(f"## Step time, 1 vs 2 processes (measured; median of {args.steps} step(s) after a warm-up)\n")
    print(
        markdown_table(
            [
                "model",
                "processes",
                "threads/process",
                "s/step",
                f"speedup vs 1 proc x {cores} thr",
                "speedup vs 1 proc x 1 thr",
                "routes c/q",
                "load avg before / after",
            ],
            rows,
        )
    )
    print("\n## 2 processes: where each rank's step goes (measured seconds, mean per step)\n")
    print(markdown_table(["model", "rank", "blocks solved", *[k.removesuffix("_s") for k in STAGES]], stage_rows))
    print("\n## Block assignment at W ranks (simulated from C N^3; solve phase only)\n")
    print(
        markdown_table(
            [
                "model",
                "W",
                "blocks",
                "busy ranks",
                "max/mean load",
                "idle",
                "solve speedup bound",
                "largest N",
                "curvature reduced/step [MiB fp32]",
            ],
            sim_rows,
        )
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, default=str))


if __name__ == "__main__":
    main()
