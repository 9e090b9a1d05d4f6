"""Training arms (SGD and the three Newton policies) with checkpointed, resumable loops and a
per-step time ledger that keeps measured and modeled seconds apart.

Per step, every arm records:

* ``wall_s``: wall-clock seconds of the whole step on this machine (**measured**);
* for Newton arms, the parts of it: curvature, scheduling overhead (kappa estimation, pruning),
  classical solves and the *emulation* of quantum solves (all **measured**), and
  ``quantum_modeled_s``: the QLSA time by the cost model (**modeled**: query count x gate time);
* ``model_time_s`` = wall - emulation + modeled: the step's time if the quantum solves took their
  modeled time instead of this machine's emulation time. That is how the Q-Newton paper reports
  its quantum and hybrid arms; it mixes measured and modeled seconds, and is labelled so.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from .._config import Checked, option
from .._validation import check_int_range
from ..cost import ClassicalCostModel, QuantumCostModel
from ..curvature._batch import call_model
from ..curvature.kfac import KFACConfig
from ..errors import InvalidArgumentError, QNewtonWarning
from ..optim import QNewton
from ..scheduler import SparsitySpec
from . import _fields as F
from ._run import RunDir

__all__ = ["ArmResult", "ArmSpec", "BatchSampler", "CostSettings", "TrainSetup", "run_arm"]


@dataclass(frozen=True)
class ArmSpec:
    """One training arm: SGD, AdamW, or Newton with a routing policy (the paper's four methods).

    ``curvature="kfac"`` takes its options from ``kfac`` (a :class:`~qnewton.curvature.kfac.KFACConfig`);
    ``weight_decay`` is AdamW's; ``cg_tol`` and ``kron_damping`` go to the ``cg`` and ``kron-eig`` routes.
    """

    name: str
    optimizer: Literal["sgd", "adamw", "newton"]
    policy: str = "hybrid"
    routes: tuple[Any, ...] | None = None  # route names or route objects
    lr: float = 1.0
    momentum: float = 0.0
    sgd_steps: int = 0
    sgd_lr: float = 0.1
    eps: float = 1.0
    relative_eps: bool = False
    sparsity: float | int | None = None
    kappa_method: str = "lanczos"
    curvature: Literal["hessian", "ggn", "fisher", "kfac"] = "hessian"
    curvature_batch_size: int | None = None
    blocks: str = "layerwise"
    quantum_solver: str = "emulated-ideal"
    pruning: Literal["symmetric", "rows"] = "symmetric"
    max_update_norm: float | None = None
    max_block_size: int | None = None
    line_search: bool = True
    quote_all: bool = False
    weight_decay: float = 0.0
    kfac: KFACConfig | None = None
    cg_tol: float = 1e-3
    kron_damping: Literal["exact", "factored"] = "exact"
    first_order_momentum: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adamw", "newton"):
            raise InvalidArgumentError(f"`optimizer` must be 'sgd', 'adamw' or 'newton', got {self.optimizer!r}.")


#: The paper's four methods and, beside them, Newton on the best classical route.
ARMS = ("SGD", "Classical-only", "Best-classical", "Quantum-only", "Q-Newton")
#: What each Newton arm routes with: (policy, routes). "Classical-only" is the paper's baseline, the
#: dense Cholesky (LU) of every block; "Best-classical" the cheapest classical route per block
#: (matrix-free CG, exact Woodbury or Cholesky); Q-Newton chooses among all routes.
_POLICIES: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "Classical-only": ("classical", ("cholesky",)),
    "Best-classical": ("classical", ("cholesky", "cg", "woodbury")),
    "Quantum-only": ("quantum", None),
    "Q-Newton": ("hybrid", None),
}
#: How the arms are labelled in reports.
ARM_LABELS = {
    "SGD": "SGD",
    "Classical-only": "Classical-only (dense Cholesky)",
    "Best-classical": "Newton, best classical route",
    "Quantum-only": "Quantum-only",
    "Q-Newton": "Q-Newton (hybrid)",
}


def paper_arms(names: Iterable[str], *, sgd_lr: float, momentum: float, **newton: Any) -> list[ArmSpec]:
    """The arms named (from :data:`ARMS`): plain SGD with ``sgd_lr`` and ``momentum``, and Newton
    under the classical, quantum or hybrid routing policy, whose SGD warm-up uses the same
    ``sgd_lr`` and ``momentum``; ``newton`` holds the Newton arms' other :class:`ArmSpec` fields."""
    specs = {"SGD": ArmSpec("SGD", "sgd", lr=sgd_lr, momentum=momentum)}
    for name, (policy, routes) in _POLICIES.items():
        specs[name] = ArmSpec(name, "newton", policy=policy, routes=routes, sgd_lr=sgd_lr, momentum=momentum, **newton)
    return [specs[a] for a in names]


@dataclass(frozen=True)
class CostSettings(Checked):
    """The cost models every Newton arm prices with (shared so the arms are comparable)."""

    gate_time: str | float = option(
        "atto",
        "time per QLSA query step of the paper's model: ibm_sherbrooke, ghz, thz, atto (the paper's, 1e-18 s) or "
        "seconds",
    )
    readout: Literal["none", "tomography"] = option(
        "none", "none: the paper's solve-only quantum cost; tomography: reading x out counted too"
    )
    qlsa_eps: float = option(1e-12, "precision of the QLSA's output state (the paper's 1e-12)", check="open-unit")
    quantum_model: Literal["paper", "fault-tolerant"] = F.quantum_model()
    hardware: str = F.hardware()
    data_loading: Literal["auto", "qrom", "qroam", "qram-assumed"] = F.data_loading()
    classical_c: float | None = option(
        None, "fixed C of the dense Cholesky cost C N^3 (none: calibrated on this machine, cached)", check="positive"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.models()  # an unknown gate-time preset or hardware fails here, before anything runs

    def models(self) -> tuple[ClassicalCostModel | None, Any]:
        """(the Cholesky route's C N^3 model, or None for calibrated per dtype; the quantum cost model)."""
        c = ClassicalCostModel(c=self.classical_c) if self.classical_c is not None else None
        if self.quantum_model == "fault-tolerant":
            from ..cost import FaultTolerantCostModel

            return c, FaultTolerantCostModel(
                eps=self.qlsa_eps, hardware=self.hardware, data_loading=self.data_loading, readout=self.readout
            )
        return c, QuantumCostModel(eps=self.qlsa_eps, gate_time=self.gate_time, readout=self.readout)

    def quantum_label(self) -> str:
        """Short description of the quantum cost model for titles."""
        where = f"gate time {self.gate_time}" if self.quantum_model == "paper" else f"hardware {self.hardware}"
        return f"{self.quantum_model} quantum cost, {where}, readout {self.readout}"

    def classical_label(self) -> str:
        c, _ = self.models()
        return c.label if c is not None else "dense Cholesky C N^3, C calibrated on this machine in each block's dtype"


class BatchSampler:
    """Seeded mini-batch indices (a fresh permutation per epoch); its state is checkpointable, so
    every arm sees the same batches and a resumed run continues the same sequence."""

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        self.n = check_int_range(n, "n", 1, 2**62)
        self.batch_size = check_int_range(batch_size, "batch_size", 1, 2**31)
        self.gen = torch.Generator().manual_seed(int(seed))
        self._perm = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def next(self) -> torch.Tensor:
        out = []
        need = min(self.batch_size, self.n)
        while need:
            if self._pos >= self._perm.numel():
                self._perm = torch.randperm(self.n, generator=self.gen)
                self._pos = 0
            take = self._perm[self._pos : self._pos + need]
            self._pos += take.numel()
            need -= take.numel()
            out.append(take)
        return torch.cat(out)

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "perm": self._perm.clone(), "pos": self._pos}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.gen.set_state(s["gen"])
        self._perm = s["perm"]
        self._pos = int(s["pos"])


@dataclass
class TrainSetup:
    """What an arm trains: a fresh model, its loss, its data and how it is evaluated.

    Attributes:
        make_model: builds the model (same seed for every arm, so all start alike).
        criterion / forward_loss: the loss (one of them).
        take_batch: ``take_batch(indices) -> batch`` for the optimizer and the loss.
        n_train: number of training examples (for the sampler).
        evaluate: ``evaluate(model) -> {metric: value}`` on held-out data.
        metric: the metric the target refers to; ``higher_is_better`` its direction.
    """

    make_model: Callable[[], nn.Module]
    take_batch: Callable[[torch.Tensor], Any]
    n_train: int
    evaluate: Callable[[nn.Module], dict[str, float]]
    metric: str
    higher_is_better: bool = True
    criterion: Callable[..., torch.Tensor] | None = None
    forward_loss: Callable[[nn.Module, Any], torch.Tensor] | None = None

    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        if self.forward_loss is not None:
            return self.forward_loss(model, batch)
        assert self.criterion is not None  # one of the two is required
        inputs, targets = batch
        return self.criterion(call_model(model, inputs), targets)  # a dict of inputs: keyword arguments


@dataclass
class ArmResult:
    """The logs of one arm: one row per step, one per evaluation, and the totals."""

    name: str
    spec: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    steps_to_target: int | None = None
    complete: bool = False
    #: the arm ended at its wall-clock budget before its planned step count (see ``run_arm``)
    stopped_at_budget: bool = False

    def totals(self) -> dict[str, Any]:
        n = len(self.steps)
        wall = sum(s["wall_s"] for s in self.steps)
        model = sum(s["model_time_s"] for s in self.steps)
        upto = self.steps[: self.steps_to_target] if self.steps_to_target else self.steps
        routes: dict[str, int] = {}
        kinds: dict[str, int] = {}
        for s in self.steps:
            for r, c in s.get("route_counts", {}).items():
                routes[r] = routes.get(r, 0) + c
            for r, c in s.get("kind_counts", {}).items():
                kinds[r] = kinds.get(r, 0) + c
        return {
            "steps": n,
            "steps_to_target": self.steps_to_target,
            "wall_s_total": wall,
            "wall_s_per_step": wall / n if n else math.nan,
            "model_time_s_total": model,
            "model_time_s_per_step": model / n if n else math.nan,
            "wall_s_to_target": sum(s["wall_s"] for s in upto) if self.steps_to_target else None,
            "model_time_s_to_target": sum(s["model_time_s"] for s in upto) if self.steps_to_target else None,
            "quantum_modeled_s_total": sum(s.get("quantum_modeled_s", 0.0) for s in self.steps),
            "emulation_s_total": sum(s.get("emulation_s", 0.0) for s in self.steps),
            "final": self.evals[-1] if self.evals else None,
            "route_counts": routes,
            "kind_counts": kinds,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": self.spec,
            "steps": self.steps,
            "evals": self.evals,
            "steps_to_target": self.steps_to_target,
            "complete": self.complete,
            "stopped_at_budget": self.stopped_at_budget,
            "totals": self.totals(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArmResult:
        return cls(
            d["name"],
            d["spec"],
            d["steps"],
            d["evals"],
            d["steps_to_target"],
            d["complete"],
            d.get("stopped_at_budget", False),
        )


def _make_optimizer(spec: ArmSpec, model: nn.Module, setup: TrainSetup, costs: CostSettings, seed: int):
    params = [p for p in model.parameters() if p.requires_grad]
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum)
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    classical, quantum = costs.models()
    sparsity = spec.sparsity if spec.sparsity is not None else SparsitySpec(p=0.5)
    return QNewton(
        params,
        model=model,
        criterion=setup.criterion,
        forward_loss=setup.forward_loss,
        lr=spec.lr,
        eps=spec.eps,
        relative_eps=spec.relative_eps,
        sgd_steps=spec.sgd_steps,
        sgd_lr=spec.sgd_lr,
        sgd_momentum=spec.momentum,
        curvature=spec.curvature,
        kfac=spec.kfac if spec.curvature == "kfac" else None,
        curvature_batch_size=spec.curvature_batch_size,
        blocks=spec.blocks,
        policy=spec.policy,
        routes=spec.routes if spec.pruning == "symmetric" else None,
        sparsity=sparsity,
        kappa_method=spec.kappa_method,
        classical_cost=classical,
        quantum_cost=quantum,
        quantum_solver=spec.quantum_solver,  # type: ignore[arg-type]
        pruning=spec.pruning,
        max_update_norm=spec.max_update_norm,
        max_block_size=spec.max_block_size,
        line_search=spec.line_search,
        first_order_momentum=spec.first_order_momentum,
        quote_all=spec.quote_all,
        cg_tol=spec.cg_tol,
        kron_damping=spec.kron_damping,
        seed=seed,
    )


def _reached(value: float, target: float | None, higher: bool) -> bool:
    if target is None or value != value:
        return False
    return value >= target if higher else value <= target


def run_arm(
    spec: ArmSpec,
    setup: TrainSetup,
    costs: CostSettings,
    *,
    steps: int,
    batch_size: int,
    run: RunDir,
    checkpoint: dict[str, Any],
    eval_every: int = 5,
    target: float | None = None,
    stop_at_target: bool = False,
    seed: int = 0,
    checkpoint_every: int = 5,
    progress: bool = True,
    time_budget_s: float | None = None,
) -> ArmResult:
    """Train one arm for ``steps`` steps (or until ``target`` when ``stop_at_target``).

    ``time_budget_s`` ends the arm early once its steps' **measured** wall time (summed over every
    session of a resumed run; evaluations not counted) reaches it: the arm is then complete with
    ``stopped_at_budget`` set, and how many steps fit depends on the machine.

    ``checkpoint`` is the experiment's checkpoint dict; this arm's partial state lives under
    ``checkpoint["arms"][spec.name]`` and is saved every ``checkpoint_every`` steps, so an
    interrupted run resumes mid-arm with identical batches and parameters.
    """
    from tqdm.auto import tqdm

    arms = checkpoint.setdefault("arms", {})
    state = arms.get(spec.name)
    torch.manual_seed(seed)
    model = setup.make_model()
    opt = _make_optimizer(spec, model, setup, costs, seed)
    sampler = BatchSampler(setup.n_train, batch_size, seed)
    result = ArmResult(spec.name, asdict(spec))
    if state is not None:
        if state["result"]["complete"]:
            return ArmResult.from_dict(state["result"])
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        result = ArmResult.from_dict(state["result"])

    def save() -> None:
        arms[spec.name] = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "sampler": sampler.state_dict(),
            "result": result.to_dict(),
        }
        run.save_checkpoint(checkpoint)

    def evaluate(step: int) -> None:
        model.eval()
        with torch.no_grad():
            metrics = setup.evaluate(model)
        model.train()
        result.evals.append({"step": step, **metrics})
        if result.steps_to_target is None and _reached(
            metrics.get(setup.metric, math.nan), target, setup.higher_is_better
        ):
            result.steps_to_target = step

    if not result.evals:
        evaluate(0)
    bar = tqdm(total=steps, initial=len(result.steps), desc=spec.name, disable=not progress, leave=False)
    while len(result.steps) < steps:
        if stop_at_target and result.steps_to_target is not None:
            break
        if time_budget_s is not None and sum(s["wall_s"] for s in result.steps) >= time_budget_s:
            result.stopped_at_budget = True
            if result.evals[-1]["step"] != len(result.steps):  # the last step reached is evaluated
                evaluate(len(result.steps))
            break
        step = len(result.steps) + 1
        batch = setup.take_batch(sampler.next())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", QNewtonWarning)  # recorded in the decision log instead
            row = _one_step(spec, opt, model, setup, batch)
        row["step"] = step
        result.steps.append(row)
        if step % eval_every == 0 or step == steps:
            evaluate(step)
        if step % checkpoint_every == 0:
            save()
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}")
    bar.close()
    result.complete = True
    save()
    return result


def run_arms(
    specs: Iterable[ArmSpec],
    setup: TrainSetup,
    costs: CostSettings,
    *,
    sgd_arm_steps: int,
    newton_arm_steps: int,
    batch_size: int,
    run: RunDir,
    eval_every: int,
    target: float | None,
    seed: int,
    progress: bool = True,
    newton_time_budget_s: float | None = None,
) -> tuple[dict[str, ArmResult], float | None]:
    """Run (or resume) every arm of a table and fill in each arm's steps to the target. The SGD
    arm runs ``sgd_arm_steps`` steps, a Newton arm ``newton_arm_steps`` (its warm-up included).

    Without a given ``target``, the target is the best ``setup.metric`` the SGD arm reaches over
    its whole run (the paper's criterion: the step count at which each method reaches the same
    performance); it is kept in the checkpoint so a resumed run uses the same one.
    """
    ckpt = run.load_checkpoint() or {}
    results: dict[str, ArmResult] = {}
    best = max if setup.higher_is_better else min
    for spec in specs:
        res = run_arm(
            spec,
            setup,
            costs,
            steps=sgd_arm_steps if spec.optimizer == "sgd" else newton_arm_steps,
            batch_size=batch_size,
            run=run,
            checkpoint=ckpt,
            eval_every=eval_every,
            target=target,
            seed=seed,
            progress=progress,
            time_budget_s=newton_time_budget_s if spec.optimizer == "newton" else None,
        )
        if target is None and spec.optimizer == "sgd":
            target = best(e[setup.metric] for e in res.evals)
            ckpt["target"] = target
        results[spec.name] = res
    target = ckpt.get("target", target)
    for res in results.values():  # steps to target, now that the target is known
        res.steps_to_target = next(
            (e["step"] for e in res.evals if _reached(e[setup.metric], target, setup.higher_is_better)), None
        )
    return results, target


def _one_step(spec: ArmSpec, opt, model: nn.Module, setup: TrainSetup, batch: Any) -> dict[str, Any]:
    if spec.optimizer in ("sgd", "adamw"):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = setup.loss(model, batch)
        loss.backward()
        opt.step()
        wall = time.perf_counter() - t0
        return {"phase": spec.optimizer, "loss": float(loss.detach()), "wall_s": wall, "model_time_s": wall}
    loss = opt.step(batch=batch)
    h = opt.history[-1]
    wall = float(h["wall_measured_s"])
    m, q = h.get("measured", {}), h.get("modeled", {})
    emulation = float(m.get("quantum_emulation_s", 0.0))
    modeled = float(q.get("quantum_solve_s", 0.0))
    counts: dict[str, int] = {}
    for r in h.get("routes", {}).values():
        counts[r] = counts.get(r, 0) + 1
    kinds: dict[str, int] = {}
    for k in h.get("kinds", {}).values():
        kinds[k] = kinds.get(k, 0) + 1
    return {
        "phase": h["phase"],
        "loss": float(loss),
        "wall_s": wall,
        "curvature_s": float(m.get("curvature_s", m.get("loss_and_gradient_s", 0.0))),
        "overhead_s": float(m.get("quote_s", 0.0)),
        "dense_s": float(m.get("dense_s", 0.0)),
        "classical_solve_s": float(m.get("classical_solve_s", 0.0)),
        "emulation_s": emulation,
        "quantum_modeled_s": modeled,
        "model_time_s": wall - emulation + modeled,
        "step_size": float(h.get("line_search", {}).get("step_size", spec.lr)),
        "route_counts": counts,
        "kind_counts": kinds,
    }
