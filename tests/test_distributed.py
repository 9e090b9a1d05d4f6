"""Distributed Q-Newton: the 2-process gloo run against the single-process run, the assignment, the
process-group helpers and the failure paths (every rank raises the same typed error, nothing hangs)."""

from __future__ import annotations

import itertools
import math
import os
import random
import socket
import warnings
from dataclasses import replace

import pytest
import torch
from torch import nn

from qnewton.cost import ClassicalCostModel, QuantumCostModel
from qnewton.cost.classical import calibrate_classical, save_calibration
from qnewton.data import load_digits_dataset
from qnewton.distributed import (
    DistributedQNewton,
    assign_blocks,
    classical_block_costs,
    in_torchrun,
    init_distributed,
    shard_batch,
    shard_bounds,
)
from qnewton.errors import CheckpointError, InvalidArgumentError, NonFiniteError, ShapeError
from qnewton.optim import QNewton

WORLD = 2
STEPS = 4
FIXED_C = ClassicalCostModel(c=1e-9)
BATCH = 127  # odd: the two shards have 64 and 63 samples, so the weighting is exercised


# -- assignment (pure) ---------------------------------------------------------------------------


def _makespan_optimum(costs, w):
    best = math.inf
    for owners in itertools.product(range(w), repeat=len(costs)):
        loads = [0.0] * w
        for c, o in zip(costs, owners):
            loads[o] += c
        best = min(best, max(loads))
    return best


def test_assign_blocks_is_within_grahams_bound_of_the_optimum():
    rng = random.Random(0)
    for _ in range(60):
        n, w = rng.randint(1, 7), rng.randint(1, 4)
        costs = [rng.choice([0.0, rng.random(), float(rng.randint(1, 5))]) for _ in range(n)]
        a = assign_blocks(costs, w)
        assert len(a.owners) == n and all(0 <= r < w for r in a.owners)
        loads = [sum(c for c, o in zip(costs, a.owners) if o == r) for r in range(w)]
        assert a.loads == pytest.approx(loads)
        opt = _makespan_optimum(costs, w)
        assert a.max_load <= (4 / 3 - 1 / (3 * w)) * opt + 1e-12
        assert a.max_load >= a.lower_bound - 1e-12


def test_assign_blocks_largest_first_to_least_loaded_and_deterministic():
    a = assign_blocks([1.0, 10.0, 10.0, 3.0, 2.0], 2)
    # 10 (block 1) -> 0 (tie: lower rank), 10 (block 2) -> 1, 3 -> 0, 2 -> 1 (12 < 13), 1 -> 1
    assert a.owners == (1, 0, 1, 0, 1)
    assert a.loads == (13.0, 13.0)
    assert a.blocks_of(1) == (0, 2, 4)
    assert assign_blocks([1.0, 10.0, 10.0, 3.0, 2.0], 2) == a
    one = assign_blocks([5.0, 1.0], 1)
    assert one.owners == (0, 0) and one.imbalance == 1.0 and one.idle_fraction == 0.0
    many = assign_blocks([8.0, 1.0], 4)  # more ranks than blocks: two ranks idle
    assert many.busy_ranks == 2 and many.imbalance == pytest.approx(8.0 / (9.0 / 4))
    assert many.idle_fraction == pytest.approx(1 - (9.0 / 4) / 8.0)
    assert assign_blocks([], 3).owners == ()


def test_assign_blocks_rejects_bad_input():
    for costs, w in [([1.0, -1.0], 2), ([float("nan")], 2), ([float("inf")], 1), (["x"], 1), ([1.0], 0)]:
        with pytest.raises(InvalidArgumentError):
            assign_blocks(costs, w)


def test_classical_costs_use_the_cost_model_and_c_does_not_change_the_assignment():
    sizes = [12544, 16, 256, 16, 160, 10]
    plain = classical_block_costs(sizes)
    model = classical_block_costs(sizes, ClassicalCostModel(c=3e-11))
    assert model == pytest.approx([3e-11 * n**3 for n in sizes])
    assert assign_blocks(plain, 4).owners == assign_blocks(model, 4).owners


def test_shard_bounds_match_tensor_split():
    for n, w in [(0, 1), (5, 2), (127, 2), (10, 4), (3, 3), (64, 7)]:
        bounds = [shard_bounds(n, r, w) for r in range(w)]
        ref = torch.tensor_split(torch.arange(n), w)
        assert [b - a for a, b in bounds] == [len(t) for t in ref]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(bounds[i][1] == bounds[i + 1][0] for i in range(w - 1))
    x, y = torch.arange(10).reshape(5, 2), torch.arange(5)
    xs, ys = shard_batch((x, y), 1, 2)
    assert torch.equal(xs, x[3:]) and torch.equal(ys, y[3:])
    with pytest.raises(InvalidArgumentError):
        shard_batch((x, y), 0, 6)
    with pytest.raises(InvalidArgumentError):
        shard_bounds(4, 2, 2)


def test_init_without_torchrun_is_a_single_process(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    assert not in_torchrun()
    ctx = init_distributed()
    assert (ctx.rank, ctx.world_size, ctx.backend, ctx.is_distributed, ctx.is_main) == (0, 1, None, False, True)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(InvalidArgumentError, match="MASTER_ADDR"):
        init_distributed()
    with pytest.raises(InvalidArgumentError, match="backend"):
        init_distributed("mpi")


def test_distributed_optimizer_needs_a_process_group():
    model = nn.Linear(3, 2)
    with pytest.raises(InvalidArgumentError, match="process group"):
        DistributedQNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss())


# -- the 2-process runs --------------------------------------------------------------------------


def _data():
    ds = load_digits_dataset(seed=0)
    x = torch.from_numpy(ds.x_train).double()
    y = torch.from_numpy(ds.y_train)
    return [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, STEPS * BATCH, BATCH)]


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 10)).double()


def _options(name):
    if name == "hybrid":  # both routes, the noisy emulator (seeded per step and block), SGD phase
        return dict(
            lr=0.5,
            eps=0.5,
            policy="hybrid",
            routes=("cholesky", "qlsa"),  # the distributed run reduces dense blocks: compare like with like
            quantum_solver="emulated-noisy",
            classical_cost=ClassicalCostModel(c=1e-9),
            quantum_cost=QuantumCostModel(gate_time="ghz", eps=1e-3),
            sparsity=0.25,
            seed=7,
            sgd_steps=1,
            sgd_momentum=0.5,
        )
    if name == "products":  # matrix-free: CG on all-reduced products, every rank in lockstep
        # a fixed C: the recorded paper cost must not depend on which process calibrated first
        return dict(
            lr=0.5,
            eps=0.5,
            policy="cg",
            routes=("cg",),
            cg_tol=1e-10,
            line_search=True,
            classical_cost=ClassicalCostModel(c=1e-9),
        )
    if name == "fisher":
        return dict(
            lr=2.0,
            eps=0.1,
            policy="classical",
            routes=("cholesky",),
            curvature="fisher",
            line_search=True,
            classical_cost=ClassicalCostModel(c=1e-9),
        )
    raise KeyError(name)


def _single(name, batches):
    model = _model()
    opt = QNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), **_options(name))
    params, losses = [], []
    for b in batches:
        losses.append(float(opt.step(batch=b)))
        params.append([p.detach().clone() for p in model.parameters()])
    return params, losses, opt.decisions, [h.get("line_search", {}).get("step_size") for h in opt.history]


def _worker(rank, port, out_dir):  # runs in a spawned process
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    import torch.distributed as dist

    ctx = init_distributed("gloo", timeout_s=120)
    assert (ctx.rank, ctx.world_size, ctx.backend) == (rank, WORLD, "gloo")
    batches = _data()
    crit = nn.CrossEntropyLoss()
    res = {}

    def make(name, model, **kw):
        return DistributedQNewton(model.parameters(), model=model, criterion=crit, **_options(name), **kw)

    # the main runs; rank 1 starts from other weights: the constructor broadcasts rank 0's
    for name, kw in [("hybrid", {}), ("fisher", {"balance": "measured"}), ("products", {"reduce": "products"})]:
        model = _model(seed=rank)
        opt = make(name, model, **kw)
        params, losses = [], []
        for i, b in enumerate(batches):
            losses.append(float(opt.step(batch=shard_batch(b))))
            params.append([p.detach().clone() for p in model.parameters()])
            if name == "hybrid" and i == 1:
                if rank == 0:  # rank 0 writes, every rank loads
                    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, f"{out_dir}/ckpt.pt")
                dist.barrier()
        res[name] = {
            "params": params,
            "losses": losses,
            "decisions": opt.decisions,
            "owned": [h.get("distributed", {}).get("owned_blocks") for h in opt.history],
            "step_sizes": [h.get("line_search", {}).get("step_size") for h in opt.history],
        }

    # resume from the checkpoint on every rank (fresh model with other weights)
    ck = torch.load(f"{out_dir}/ckpt.pt", weights_only=False)
    model = _model(seed=100 + rank)
    opt = make("hybrid", model)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    for b in batches[2:]:
        opt.step(batch=shard_batch(b))
    res["resumed"] = [p.detach().clone() for p in model.parameters()]
    res["resumed_decisions"] = len(opt.decisions)

    # a checkpoint from another world size is refused on every rank
    ck["opt"]["qnewton"]["distributed"]["world_size"] = 3
    try:
        make("hybrid", _model()).load_state_dict(ck["opt"])
        res["world_size_error"] = None
    except CheckpointError as e:
        res["world_size_error"] = str(e)

    # ranks that resumed from different checkpoints are caught at the next step
    model = _model()
    opt = make("hybrid", model)
    opt.load_state_dict(ck["opt"] | {"qnewton": ck["opt"]["qnewton"] | {"distributed": None}})
    with torch.no_grad():
        model[0].weight[0, 0] += rank  # rank 1's parameters now differ
    try:
        opt.step(batch=shard_batch(batches[0]))
        res["divergence_error"] = None
    except CheckpointError as e:
        res["divergence_error"] = str(e)

    # a NaN in rank 1's shard only: every rank skips (or raises), nobody hangs
    bad_x, bad_y = batches[0][0].clone(), batches[0][1]
    bad_x[-1, 0] = float("nan")
    for mode in ("skip", "raise"):
        model = _model()
        opt = DistributedQNewton(
            model.parameters(),
            model=model,
            criterion=crit,
            lr=0.5,
            eps=0.5,
            policy="classical",
            on_nonfinite=mode,
            classical_cost=FIXED_C,
        )
        before = [p.detach().clone() for p in model.parameters()]
        try:
            opt.step(batch=shard_batch((bad_x, bad_y)))
            res[f"nan_{mode}"] = (
                [r.route for r in opt.decisions],
                all(torch.equal(p, q) for p, q in zip(before, model.parameters())),
            )
        except NonFiniteError as e:
            res[f"nan_{mode}"] = ("raised", str(e))

    # options that differ between ranks, and unequal parameters without the broadcast
    for label, kw in [("lr", {"lr": 0.5 + rank}), ("params", {"broadcast_parameters": False})]:
        model = _model(seed=rank)
        try:
            DistributedQNewton(model.parameters(), model=model, criterion=crit, classical_cost=FIXED_C, **kw)
            res[f"bad_{label}"] = None
        except InvalidArgumentError as e:
            res[f"bad_{label}"] = str(e)

    # the closure path (equal shards: a closure's loss is weighted equally), with a calibrated C
    # that only rank 0 has in its cache: every rank must route with rank 0's C
    cache = f"{out_dir}/cache{rank}"
    if rank == 0:
        save_calibration(replace(calibrate_classical((4, 8), measure=lambda *a: 1.0), c=1.25e-10), cache)
    model = _model(seed=rank)
    cost = ClassicalCostModel(sizes=(4, 8), cache_dir=cache)
    opt = DistributedQNewton(
        model.parameters(), lr=0.5, eps=0.5, policy="classical", routes=("cholesky",), classical_cost=cost
    )
    res["shared_c"] = cost.constant
    xb, yb = batches[0][0][:126], batches[0][1][:126]
    for _ in range(2):
        xs, ys = shard_batch((xb, yb))
        opt.step(lambda xs=xs, ys=ys: crit(model(xs), ys))
    res["closure"] = [p.detach().clone() for p in model.parameters()]
    # a malformed shard on rank 1 only: every rank raises the same typed error (ShapeError)
    model = _model()
    opt = DistributedQNewton(model.parameters(), model=model, criterion=crit, classical_cost=FIXED_C)
    xs, ys = shard_batch(batches[0])
    try:
        opt.step(batch=(xs, ys[:-1] if rank == 1 else ys))
        res["bad_shard"] = None
    except ShapeError as e:
        res["bad_shard"] = (type(e).__name__, str(e))
    torch.save(res, f"{out_dir}/rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    import torch.multiprocessing as mp

    out = tmp_path_factory.mktemp("dist")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def _strip(records):  # what must not depend on the process count (measured times may)
    keep = ("step", "block", "n", "policy", "route", "solver", "kappa_method", "d", "d_requested")
    return [{k: getattr(r, k) for k in keep} for r in records]


@pytest.mark.parametrize("name", ["hybrid", "fisher", "products"])
def test_two_processes_match_one_process(two_ranks, name):
    params, losses, decisions, step_sizes = _single(name, _data())
    r0, r1 = two_ranks[0][name], two_ranks[1][name]
    assert r0["step_sizes"] == r1["step_sizes"] == step_sizes  # the line search agrees everywhere
    if name == "fisher":
        assert all(t is not None for t in step_sizes) and any(t < 2.0 for t in step_sizes)
    for step, ref in enumerate(params):
        for p0, p1, q in zip(r0["params"][step], r1["params"][step], ref):
            assert torch.equal(p0, p1)  # every rank holds identical parameters
            torch.testing.assert_close(p0, q, rtol=1e-9, atol=1e-11)
    assert r0["losses"] == pytest.approx(losses, rel=1e-12)
    assert r1["losses"] == r0["losses"]
    # the decision log: every block once per Newton step, in block order, on every rank
    for r in (r0, r1):
        assert _strip(r["decisions"]) == _strip(decisions)
        for got, ref in zip(r["decisions"], decisions):
            for field in ("eps", "kappa", "classical_cost_s", "quantum_cost_s", "update_norm"):
                a, b = getattr(got, field), getattr(ref, field)
                assert (a is None) == (b is None) and (a is None or a == pytest.approx(b, rel=1e-6)), field
    if name == "hybrid":
        assert {d.kind for d in decisions} == {"classical", "quantum"}
    newton = [h for h in r0["owned"] if h is not None]
    for own0, own1 in zip(r0["owned"], r1["owned"]):
        if name == "products":  # every rank solves every block, in lockstep
            assert own0 == own1
        elif own0 is not None and (own0 or own1):  # the blocks are split, each solved once
            assert not set(own0) & set(own1) and own0 and own1
    assert newton
    if name == "products":
        assert {d.route for d in decisions} == {"cg"}


def test_resume_is_bit_identical_and_checks_the_world_size(two_ranks):
    for res in two_ranks:
        final = res["hybrid"]["params"][-1]
        assert all(torch.equal(p, q) for p, q in zip(res["resumed"], final))
        assert res["resumed_decisions"] == len(res["hybrid"]["decisions"])
        assert "written by 3 processes" in res["world_size_error"]
        assert "disagree with rank 0 after load_state_dict" in res["divergence_error"]


def test_a_nan_on_one_rank_skips_or_raises_on_every_rank(two_ranks):
    for res in two_ranks:
        routes, unchanged = res["nan_skip"]
        assert routes == ["skipped"] and unchanged
        assert res["nan_raise"][0] == "raised" and "rank" in res["nan_raise"][1]


def test_mismatched_ranks_are_refused(two_ranks):
    for res in two_ranks:
        assert "lr differ" in res["bad_lr"]
        assert "disagree with rank 0" in res["bad_params"]


@pytest.mark.filterwarnings("ignore::qnewton.errors.IndefiniteMatrixWarning")
def test_closure_path_matches_one_process(two_ranks):
    batches = _data()
    crit = nn.CrossEntropyLoss()
    model = _model()
    opt = QNewton(model.parameters(), lr=0.5, eps=0.5, policy="classical", routes=("cholesky",))
    xb, yb = batches[0][0][:126], batches[0][1][:126]
    for _ in range(2):
        opt.step(lambda: crit(model(xb), yb))
    for res in two_ranks:
        assert res["shared_c"] == 1.25e-10
        for p, q in zip(res["closure"], model.parameters()):
            torch.testing.assert_close(p, q.detach(), rtol=1e-9, atol=1e-11)


def test_an_error_on_one_rank_is_raised_with_its_type_on_every_rank(two_ranks):
    for res in two_ranks:
        name, msg = res["bad_shard"]
        assert name == "ShapeError" and "1 of 2 ranks" in msg and "rank" in msg and "batch" in msg


# -- the `train` command ---------------------------------------------------------------------------


def _train_parser():
    import argparse

    from qnewton.cli import train

    parser = argparse.ArgumentParser(prog="qnewton")
    train.register(parser.add_subparsers(dest="command"))
    return parser


TRAIN_ARGS = ["--steps", "2", "--batch-size", "64", "--n-train", "400", "--classical-c", "1e-10", "--quiet"]


def test_train_command_runs_plainly_and_resumes(tmp_path, capsys, monkeypatch):
    import csv
    import json

    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    parser = _train_parser()
    fast = [*TRAIN_ARGS, "--policy", "classical"]
    args = parser.parse_args(["train", *fast, "--out", str(tmp_path / "a")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "1 process(es)" in out and "test loss" in out
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["world_size"] == 1 and 0.0 <= summary["test_accuracy"] <= 1.0
    with open(tmp_path / "a" / "decisions.csv") as f:
        rows = list(csv.DictReader(f))
    layers = [f"fc{i}.{k}" for i in (1, 2, 3) for k in ("weight", "bias")]
    assert [r["block"] for r in rows] == layers * 2
    # 1 step, checkpoint, then 1 more from the checkpoint == 2 steps straight
    args = parser.parse_args(["train", *fast, "--steps", "1", "--out", str(tmp_path / "b")])
    args.func(args)
    ck = str(tmp_path / "b" / "checkpoint.pt")
    args = parser.parse_args(["train", *fast, "--resume", ck, "--out", str(tmp_path / "c")])
    args.func(args)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    c = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], c["model"][k]) for k in a["model"])
    assert c["step"] == 2 and len(c["optimizer"]["qnewton"]["decisions"]) == 12


@pytest.mark.slow
def test_train_command_under_torchrun_matches_the_plain_run(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    common = [*TRAIN_ARGS, "--dtype", "float64"]
    subprocess.run(
        [sys.executable, "-m", "qnewton.cli.train", *common, "--out", str(tmp_path / "one")],
        check=True,
        env=env,
        capture_output=True,
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(_free_port()),
            "-m",
            "qnewton.cli.train",
            *common,
            "--out",
            str(tmp_path / "two"),
        ],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.stdout.count("2 process(es) on cpu, backend gloo") == 1  # only rank 0 prints
    one = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=False)
    two = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=False)
    for k in one["model"]:
        torch.testing.assert_close(two["model"][k], one["model"][k], rtol=1e-9, atol=1e-11)
    assert two["optimizer"]["qnewton"]["distributed"]["world_size"] == 2
    blocks = [d["block"] for d in two["optimizer"]["qnewton"]["decisions"]]
    assert blocks == [d["block"] for d in one["optimizer"]["qnewton"]["decisions"]]
