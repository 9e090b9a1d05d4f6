"""`qnewton train`: train the paper's DNN (or a wider MLP) with Q-Newton, in one process or many.

One :class:`TrainConfig` describes the run (validated before anything is loaded); rank 0 writes the
run folder: ``manifest.json``, ``decisions.csv`` (one record per block per step), ``history.json``
(loss and measured/modeled time split per step), ``summary.json`` and ``checkpoint.pt`` (model,
optimizer, sampler). Rerunning the same command resumes from that checkpoint (``--fresh`` starts
over); ``--resume FILE`` continues from another run's checkpoint. Under ``torchrun`` every rank
draws the same seeded global batch and keeps its contiguous share of it, so the run follows the
single-process trajectory (to floating-point tolerance).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from .._config import Checked, option
from . import _fields as F
from .training import CostSettings

__all__ = ["TrainConfig", "run_train"]

ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid", "softplus")


@dataclass(frozen=True)
class TrainConfig(Checked):
    """Everything ``qnewton train`` does, in one validated object."""

    dataset: str = option(
        "digits",
        "image data: digits (embedded), digits-784, fashion-mnist (Debian's package), mnist or idx (with --data-dir)",
        choices=("digits", "digits-784", "fashion-mnist", "mnist", "idx"),
        aliases={"--data": "renamed to --dataset like every other command"},
    )
    data_dir: str | None = F.data_dir()
    n_train: int | None = F.n_train()
    model: Literal["paper-dnn", "mlp"] = option(
        "paper-dnn", "paper-dnn: input-16-16-10 ReLU (784 inputs: 13,002 parameters); mlp: a wider MLP (--hidden)"
    )
    hidden: tuple[int, ...] | None = option(
        None, "hidden widths (none: 16 16 for paper-dnn, 64 64 for mlp)", check="natural"
    )
    activation: str = option("relu", "activation of the hidden layers", choices=ACTIVATIONS)
    dtype: Literal["float32", "float64"] = option("float32", "parameter precision")
    device: str = option("auto", "auto (CUDA when available), cpu, cuda or cuda:<k>")
    steps: int = option(10, "optimizer steps in all (the warm-up included)", check="count")
    batch_size: int = option(256, "global batch (split over the ranks)", check="natural")
    lr: float = option(1.0, "Newton step size beta", check="positive")
    eps: float = F.eps()
    policy: str = option("hybrid", "routing policy: hybrid, classical, quantum, or a route's name")
    routes: tuple[str, ...] | None = option(
        None,
        "routes considered (none: cholesky cg woodbury qlsa kron-eig; kron-eig takes only K-FAC blocks)",
        choices=("cholesky", "cg", "woodbury", "qlsa", "qlsa-rows", "kron-eig"),
    )
    decision: Literal["paper", "end-to-end"] = option(
        "paper", "compare the routes' solve seconds (the paper's rule) or with their classical pre-processing"
    )
    curvature: Literal["hessian", "ggn", "fisher", "kfac"] = option(
        "hessian",
        "curvature of each block: exact Hessian, generalized Gauss-Newton, empirical Fisher or K-FAC (A ⊗ G per "
        "Linear layer, default KFACConfig, solved by the kron-eig route; one process only)",
    )
    warmup_steps: int = option(
        0,
        "plain SGD steps first (the paper's early phase, Sec. IV-B)",
        check="count",
        aliases={"--sgd-steps": "the SGD phase is --warmup-steps in every command"},
    )
    sgd_lr: float = F.sgd_lr()
    sgd_momentum: float = option(
        0.0, "SGD momentum of the warm-up", check=lambda v: None if 0 <= v < 1 else "must be in [0, 1)"
    )
    line_search: bool = F.line_search()
    max_block_size: int | None = option(None, "blocks larger than this take a gradient step", check="natural")
    quantum_solver: Literal["emulated-ideal", "emulated-noisy", "circuit"] = option(
        "emulated-ideal", "what runs the quantum route's solve"
    )
    d: int | None = option(
        None,
        "oracle sparsity d: nonzeros kept per row by the quantum route's pruning",
        check="natural",
        aliases={"--sparsity": "an integer meant d here, a fraction d/N; use --d or --d-ratio"},
    )
    d_ratio: float | None = option(
        None, "oracle sparsity as a fraction of N (neither: the paper's 50%%-sparsity rule)", check="fraction"
    )
    cg_tol: float = option(1e-3, "relative residual of the cg route", check="open-unit")
    costs: CostSettings = option(default_factory=CostSettings, help="cost models")
    balance: Literal["classical", "measured"] = option(
        "classical", "distributed block assignment cost: C N^3 prediction, or the previous step's measured work"
    )
    backend: Literal["auto", "gloo", "nccl"] = option("auto", "torch.distributed backend under torchrun")
    reduce: Literal["dense", "products"] = option(
        "dense",
        "under torchrun: dense = reduce each block's dense curvature to the rank that solves it; products = keep "
        "the blocks matrix-free and all-reduce each product (one route for all ranks, e.g. --policy cg)",
    )
    threads: int | None = option(None, "torch threads per process (none: torch's default)", check="natural")
    checkpoint_every: int = option(0, "also write the checkpoint every K steps (0: at the end only)", check="count")
    seed: int = F.seed()

    def __post_init__(self) -> None:
        super().__post_init__()
        F.check_image_data(self.dataset, self.data_dir)
        F.sparsity_of(self.d, self.d_ratio)
        from .._device import resolve_device

        resolve_device(self.device)
        from ..scheduler import POLICIES

        if self.policy not in POLICIES and self.policy not in (
            self.routes or ("cholesky", "cg", "woodbury", "qlsa", "kron-eig")
        ):
            from ..errors import InvalidArgumentError

            raise InvalidArgumentError(
                f"`policy` must be hybrid, classical, quantum or the name of an enabled route, got {self.policy!r}."
            )

    @property
    def widths(self) -> tuple[int, ...]:
        return self.hidden or ((16, 16) if self.model == "paper-dnn" else (64, 64))


def _model(cfg: TrainConfig, n_features: int, num_classes: int) -> Any:
    import torch

    from ..models import MLP, paper_dnn

    if cfg.model == "paper-dnn":
        model = paper_dnn(n_features, cfg.widths, num_classes, cfg.activation, seed=cfg.seed)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = MLP((n_features, *cfg.widths, num_classes), cfg.activation)
    return model.to(getattr(torch, cfg.dtype))


def _optimizer(cfg: TrainConfig, model: Any, ctx: Any) -> Any:
    from torch import nn

    from ..distributed import DistributedQNewton
    from ..optim import QNewton

    classical, quantum = cfg.costs.models()
    kw: dict[str, Any] = dict(
        model=model,
        criterion=nn.CrossEntropyLoss(),
        lr=cfg.lr,
        eps=cfg.eps,
        policy=cfg.policy,
        routes=cfg.routes,
        decision=cfg.decision,
        curvature=cfg.curvature,
        sgd_steps=cfg.warmup_steps,
        sgd_lr=cfg.sgd_lr,
        sgd_momentum=cfg.sgd_momentum,
        max_block_size=cfg.max_block_size,
        line_search=cfg.line_search,
        quantum_solver=cfg.quantum_solver,
        sparsity=F.sparsity_of(cfg.d, cfg.d_ratio),
        classical_cost=classical,
        quantum_cost=quantum,
        cg_tol=cfg.cg_tol,
        seed=cfg.seed,
    )
    if ctx.is_distributed:
        return DistributedQNewton(model.parameters(), balance=cfg.balance, reduce=cfg.reduce, **kw)
    return QNewton(model.parameters(), **kw)


def _evaluate(model: Any, x: Any, y: Any) -> dict[str, float]:
    import torch
    from torch import nn

    with torch.no_grad():
        logits = model(x)
        return {
            "test_loss": float(nn.functional.cross_entropy(logits, y)),
            "test_accuracy": float((logits.argmax(1) == y).double().mean()),
        }


def _load(path: Path, model: Any, opt: Any, sampler: Any) -> int:
    """Restore a checkpoint into the run; the file is read with weights_only=True."""
    from .._io import load_torch
    from ..errors import CheckpointError

    fix = "Pass the checkpoint.pt of a `qnewton train` run with the same model, or --fresh to start over."
    ck = load_torch(path, fix=fix)
    if not isinstance(ck, dict) or not {"model", "optimizer", "sampler", "step"} <= set(ck):
        raise CheckpointError(f"checkpoint {path} is not a `qnewton train` checkpoint. {fix}")
    try:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sampler.load_state_dict(ck["sampler"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(f"checkpoint {path} does not fit this run ({first}). {fix}") from exc
    return int(ck["step"])


def run_train(
    cfg: TrainConfig,
    out: str | Path | None,
    *,
    fresh: bool = False,
    resume: str | Path | None = None,
    quiet: bool = False,
    say: Any = print,
) -> dict[str, Any]:
    """Train as configured; returns the summary (also written to ``out/summary.json``)."""
    import torch

    from .._device import clock, resolve_device
    from ..data import load_image_dataset
    from ..distributed import init_distributed, shard_batch, shutdown_distributed
    from ..errors import InvalidArgumentError
    from ._run import RunDir, jsonable
    from .training import BatchSampler

    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    ctx = init_distributed(None if cfg.backend == "auto" else cfg.backend)
    try:
        main = ctx.is_main
        if not main:
            warnings.simplefilter("ignore")  # rank 0 reports; the others would repeat it
            say = lambda *a, **k: None  # noqa: E731
        if cfg.batch_size < ctx.world_size:
            raise InvalidArgumentError(f"`batch_size` {cfg.batch_size} < {ctx.world_size} processes.")
        # a rerun with more --steps continues the same run: the step count is not part of its identity
        identity = {k: v for k, v in asdict(cfg).items() if k not in ("steps", "checkpoint_every", "threads")}
        run = RunDir(out, "train", identity, fresh=fresh) if (main and out is not None) else None
        dev = ctx.device if ctx.is_distributed else device
        ds = load_image_dataset(cfg.dataset, cfg.data_dir, n_train=cfg.n_train, seed=cfg.seed)
        dtype = getattr(torch, cfg.dtype)
        x, y = ds.tensors("train", device=dev)
        xt, yt = ds.tensors("test", device=dev)
        x, xt = x.to(dtype), xt.to(dtype)
        model = _model(cfg, ds.n_features, ds.num_classes).to(dev)
        opt = _optimizer(cfg, model, ctx)
        sampler = BatchSampler(len(y), cfg.batch_size, seed=cfg.seed)
        start = 0
        own = Path(out) / "checkpoint.pt" if out is not None else None
        if resume is not None:
            start = _load(Path(resume), model, opt, sampler)
        elif own is not None and own.exists() and not fresh:
            start = _load(own, model, opt, sampler)
            say(f"resuming from {own} at step {start}")
        nparams = sum(p.numel() for p in model.parameters())
        blocks = [(b.name, b.size) for b in opt.blocks] if not isinstance(opt.blocks, str) else []
        say(
            f"qnewton train: {cfg.model} {tuple(getattr(model, 'sizes', ()))} ({nparams} parameters, "
            f"{len(blocks)} blocks, largest {max((n for _, n in blocks), default=0)}) on {cfg.dataset} "
            f"({len(y)} train / {len(yt)} test); {ctx.world_size} process(es) on {dev}"
            + (f", backend {ctx.backend}" if ctx.is_distributed else "")
            + f"; global batch {cfg.batch_size}; policy {cfg.policy}; {torch.get_num_threads()} thread(s)/process"
        )

        def save(step: int) -> None:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "sampler": sampler.state_dict()}
            state["step"] = step
            if run is not None:
                run.save_checkpoint(state)
            if ctx.is_distributed:
                import torch.distributed as dist

                dist.barrier()  # the others must not read a half-written file

        loss = None
        t_run = clock(dev)
        for step in range(start, cfg.steps):
            idx = sampler.next().to(dev)
            batch = shard_batch((x[idx], y[idx]), ctx.rank, ctx.world_size)
            loss = opt.step(batch=batch)
            h = opt.history[-1]
            if not quiet:
                routes = list(h.get("routes", {}).values())
                r = " ".join(f"{k}:{routes.count(k)}" for k in sorted(set(routes))) if routes else h["phase"]
                extra = ""
                if "distributed" in h and getattr(opt, "assignment", None) is not None and h["phase"] == "newton":
                    a = opt.assignment
                    extra = f"; block load max/mean {a.imbalance:.2f} over {a.busy_ranks} rank(s)"
                say(f"step {step:>4}  loss {float(loss):.5f}  wall {h['wall_measured_s']:.2f} s (measured)  {r}{extra}")
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0:
                save(step + 1)
        wall = clock(dev) - t_run
        save(max(cfg.steps, start))
        metrics = _evaluate(model, xt, yt)
        say(
            f"done: {max(0, cfg.steps - start)} steps in {wall:.2f} s (measured); test loss "
            f"{metrics['test_loss']:.4f}, accuracy {metrics['test_accuracy']:.4f}"
        )
        summary = {
            "world_size": ctx.world_size,
            "backend": ctx.backend,
            "device": str(dev),
            "steps": cfg.steps,
            "steps_this_run": max(0, cfg.steps - start),
            "wall_measured_s": wall,
            "final_loss": float(loss) if loss is not None else math.nan,
            **metrics,
            "config": asdict(cfg),
        }
        if run is not None:
            from ..scheduler import decisions_to_csv

            run.register("decisions.csv")
            from .._io import atomic_write

            atomic_write(run.path("decisions.csv"), decisions_to_csv(opt.decisions))
            run.write_json("history.json", opt.history)
            run.write_json("summary.json", summary)
            run.register("checkpoint.pt")
            run.finish("complete")  # the checkpoint stays: it is the trained model, and a rerun resumes it
            say(f"wrote {run.root}/decisions.csv, history.json, summary.json, checkpoint.pt")
        return jsonable(summary)
    finally:
        shutdown_distributed(ctx)
