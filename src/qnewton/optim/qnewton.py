"""QNewton: a ``torch.optim.Optimizer`` taking Newton steps whose block solves are routed between a
classical and a quantum linear solver by estimated cost (Q-Newton paper, Algorithm 2).

Two ways to give it the curvature it needs:

1. **A loss problem** (recommended; exact Hessian blocks *or* the layer-wise empirical Fisher,
   any ``nn.Module`` through ``torch.func``)::

       opt = QNewton(model.parameters(), model=model, criterion=nn.CrossEntropyLoss(), lr=1.0)
       for x, y in loader:
           loss = opt.step(batch=(x, y))

2. **An LBFGS-style closure** (exact Hessian blocks by double backward; the closure returns the
   loss tensor *without* calling ``backward``)::

       opt = QNewton(model.parameters(), lr=1.0)
       loss = opt.step(lambda: criterion(model(x), y))

Each step: loss, gradient and curvature per block; for each block the scheduler regularizes,
prunes and estimates kappa (when the quantum route is priced), prices both routes, chooses,
solves, and logs a :class:`~qnewton.scheduler.DecisionRecord` (``optimizer.decisions``); then
``theta_b <- theta_b - lr * direction_b``. The first ``sgd_steps`` steps are plain SGD (the paper
runs SGD in the early phase, Sec. IV-B).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal

import torch
from torch import nn

from .._device import clock
from .._validation import check_int_range, check_positive
from ..cost import ClassicalCostModel, QuantumCostModel
from ..cost.classical import Calibration
from ..curvature import CurvatureConfig, LossProblem, loss_and_gradient
from ..curvature.kfac import KFACConfig, KFACState, kfac_blocks
from ..curvature.lazy import CurvatureBlock, curvature_blocks
from ..errors import InvalidArgumentError, NonFiniteError, SkippedStepWarning
from ..routes import CGConfig, KronEigConfig, QuantumRouteConfig
from ..scheduler import (
    BlockTask,
    DecisionRecord,
    RegularizationSpec,
    Scheduler,
    SchedulerConfig,
    SparsitySpec,
    decisions_to_csv,
)
from ._closure import closure_blocks

__all__ = ["BlockItem", "QNewton"]

#: One block of a Newton step: (name, its parameters, its ParamBlock or None, flat gradient, curvature
#: as a lazy :class:`~qnewton.curvature.CurvatureBlock`).
BlockItem = tuple[str, list[torch.Tensor], Any, torch.Tensor, CurvatureBlock]

#: The shortcuts that build a SchedulerConfig, with their defaults: passing one of them with a
#: different value together with ``scheduler=`` is an error (it would be ignored).
_SCHEDULER_SHORTCUTS: dict[str, Any] = {
    "eps": 1.0,
    "relative_eps": False,
    "policy": "hybrid",
    "routes": None,
    "decision": "paper",
    "sparsity": None,
    "kappa_method": "lanczos",
    "classical_cost": None,
    "quantum_cost": None,
    "quantum_solver": "emulated-ideal",
    "pruning": "symmetric",
    "pruned_indefinite": "shift",
    "cg_tol": 1e-3,
    "quote_all": False,
    "kron_damping": "exact",
    "seed": 0,
}


def _scheduler_config(
    *,
    eps: float,
    relative_eps: bool,
    policy: str,
    routes: tuple[Any, ...] | None,
    decision: str,
    sparsity: int | float | SparsitySpec | None,
    kappa_method: str,
    classical_cost: ClassicalCostModel | None,
    quantum_cost: Any,
    quantum_solver: Any,
    pruning: str,
    pruned_indefinite: Any,
    cg_tol: float,
    quote_all: bool,
    seed: int,
    kron_damping: str = "exact",
) -> SchedulerConfig:
    """The SchedulerConfig the optimizer's shortcut arguments describe (validated by the configs)."""
    if isinstance(sparsity, SparsitySpec):
        spec = sparsity
    elif sparsity is None:
        spec = SparsitySpec(p=0.5)
    elif isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)):
        raise InvalidArgumentError("`sparsity` must be an int d, a float ratio, a SparsitySpec or None.")
    elif isinstance(sparsity, int):
        spec = SparsitySpec(d=sparsity)
    else:
        spec = SparsitySpec(ratio=sparsity)
    if pruning not in ("symmetric", "rows"):
        raise InvalidArgumentError(f"`pruning` must be 'symmetric' or 'rows', got {pruning!r}.")
    if routes is None:
        routes = ("cholesky", "cg", "woodbury", "qlsa" if pruning == "symmetric" else "qlsa-rows", "kron-eig")
    elif pruning == "rows":
        raise InvalidArgumentError("`pruning='rows'` selects the quantum route; with `routes=` name 'qlsa-rows' there.")
    return SchedulerConfig(
        policy=policy,
        routes=tuple(routes),
        regularization=RegularizationSpec(eps, relative_eps),
        decision=decision,  # type: ignore[arg-type]
        classical_cost=classical_cost,
        cg=CGConfig(tol=cg_tol),
        quote_all=quote_all,
        kron=KronEigConfig(damping=kron_damping),  # type: ignore[arg-type]
        quantum=QuantumRouteConfig(
            sparsity=spec,
            kappa_method=kappa_method,
            pruned_indefinite=pruned_indefinite,
            cost=quantum_cost or QuantumCostModel(),
            solver=quantum_solver,
        ),
        seed=seed,
    )


class QNewton(torch.optim.Optimizer):
    """Hybrid quantum-classical Newton optimizer.

    Args:
        params: the parameters to train (as for any optimizer). With ``model=`` they must be
            parameters of that model.
        model: the model of the loss problem (see the module docstring); or pass a ready
            :class:`qnewton.curvature.LossProblem` as ``problem``. Without any of them, use
            ``step(closure)``.
        criterion: ``criterion(model(inputs), targets)``, the mean loss (one of criterion and
            forward_loss).
        forward_loss: ``forward_loss(model, batch)`` instead of a criterion.
        problem: a ready :class:`qnewton.curvature.LossProblem`.
        lr: Newton step size beta (theta <- theta - beta H^-1 g).
        eps: regularization, H + eps*I (``relative_eps=True``: eps * max|H|). Must be > 0; it does
            not move Newton's fixed point g = 0, only the path (the paper: 1.0 for the DNN).
        sgd_steps: the early SGD phase: the first ``sgd_steps`` steps are SGD.
        sgd_lr: its learning rate (and that of the first-order steps of uncovered parameters).
        sgd_momentum: its momentum.
        curvature: ``"hessian"`` (exact blocks), ``"ggn"`` (generalized Gauss-Newton J^T H_f J,
            positive semidefinite; needs ``criterion=``), ``"fisher"`` (empirical Fisher) or ``"kfac"``
            (Kronecker-factored A ⊗ G per Linear layer, Martens and Grosse 2015, solved exactly by the
            ``kron-eig`` route; options in ``kfac``). Blocks are lazy: a route forms only what it needs
            (products, an exact low-rank factor, or the dense block).
        kfac: a :class:`~qnewton.curvature.kfac.KFACConfig` for ``curvature="kfac"`` (which Fisher,
            running-average decay, factor update interval, what blocks K-FAC does not cover take).
            The running factors are part of :meth:`state_dict`.
        curvature_batch_size: compute the curvature on the first samples of each batch only.
        blocks: ``"layerwise"`` (one block per parameter tensor), ``"full"``, ``"module"``, or a
            mapping ``{name: [parameter names or patterns]}``.
        policy: ``"hybrid"`` (Q-Newton: the cheapest route per block), ``"classical"`` (the cheapest
            classical route), ``"quantum"`` (the quantum route), or a route's name to force it.
        routes: the routes considered (default: ``cholesky``, ``cg``, ``woodbury``, ``qlsa``; see
            :mod:`qnewton.routes`); names or route objects.
        decision: ``"paper"`` (compare solve seconds, the paper's rule) or ``"end-to-end"`` (with each
            route's classical pre-processing).
        sparsity: the quantum route's oracle sparsity: an int d, a float ratio of N, a
            :class:`~qnewton.scheduler.SparsitySpec`, or None for the paper's 50 %-sparsity rule.
        kappa_method: ``"lanczos"`` (default), ``"merikoski"``, ``"gershgorin"`` or ``"exact"``.
        classical_cost: the dense Cholesky route's C N^3 model (default: calibrated here per dtype
            and device).
        quantum_cost: the quantum route's cost model (default: Jennings et al. with the paper's
            eps = 1e-12 and attosecond gates; or a FaultTolerantCostModel).
        quantum_solver: ``"emulated-ideal"``, ``"emulated-noisy"`` or ``"circuit"``.
        pruning: ``"symmetric"`` (the paper's quantum route ``qlsa``) or ``"rows"`` (the reference
            code's row-pruned baseline ``qlsa-rows`` as the quantum route).
        pruned_indefinite: see :class:`~qnewton.routes.QuantumRouteConfig`.
        cg_tol: relative residual of the ``cg`` route.
        kron_damping: the ``kron-eig`` route's damping of a K-FAC block: ``"exact"`` ((A ⊗ G + eps I)
            x = g exactly) or ``"factored"`` ((A + pi sqrt(eps) I) ⊗ (G + sqrt(eps)/pi I), Martens and
            Grosse's approximation).
        quote_all: quote every route for every block, whatever the policy (for reports; the quantum
            quote costs a pruning and a kappa estimate per block).
        max_update_norm: if set, a block's Newton step is scaled down to at most this norm.
        max_block_size: blocks with more variables than this get no curvature; their parameters
            (and any parameter in no block) take a plain gradient step with ``sgd_lr``, logged as
            route ``"first-order"``. For models whose embedding tables are too large for a dense
            block (needs ``model=``/``problem=``). The gradient steps are applied after the line
            search, which judges the Newton directions alone.
        first_order_momentum: heavy-ball momentum of those gradient steps in the Newton phase (0:
            plain gradient steps); its buffers are the optimizer's state.
        line_search: backtracking (Armijo) line search on the step's own batch: try the step sizes
            lr, lr/2, lr/4, ... (at most 12) until the loss decreases by at least 1e-4 x the
            predicted decrease g.d; costs one forward pass per try (measured, logged in
            ``history``). Block-diagonal Newton on a non-convex network with small eps takes
            huge steps along near-singular or negative-curvature directions; this keeps it stable.
            If no step size decreases the loss, the step is not taken.
        on_nonfinite: ``"raise"`` (NonFiniteError) or ``"skip"`` (warn, log, leave the
            parameters unchanged) when the loss, gradient, curvature or update has NaN/Inf.
        seed: seed of the noisy emulator (per step and block).
        scheduler: a full :class:`~qnewton.scheduler.SchedulerConfig` instead of the shortcuts above
            (giving both is an error).
        curvature_config: options of the curvature computation (chunking, memory budget, ...).

    Attributes:
        decisions: every :class:`~qnewton.scheduler.DecisionRecord`, in order.
        history: one dict per step: phase, loss, and the step's time split into measured
            (curvature, scheduling overhead, classical solves, emulation) and modeled (QLSA) parts.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        *,
        model: nn.Module | None = None,
        criterion: Callable[..., torch.Tensor] | None = None,
        forward_loss: Callable[[nn.Module, Any], torch.Tensor] | None = None,
        problem: LossProblem | None = None,
        lr: float = 1.0,
        eps: float = 1.0,
        relative_eps: bool = False,
        sgd_steps: int = 0,
        sgd_lr: float = 0.1,
        sgd_momentum: float = 0.0,
        curvature: Literal["hessian", "ggn", "fisher", "kfac"] = "hessian",
        kfac: KFACConfig | None = None,
        curvature_batch_size: int | None = None,
        blocks: Any = "layerwise",
        policy: str = "hybrid",
        routes: tuple[Any, ...] | None = None,
        decision: Literal["paper", "end-to-end"] = "paper",
        sparsity: int | float | SparsitySpec | None = None,
        kappa_method: str = "lanczos",
        classical_cost: ClassicalCostModel | None = None,
        quantum_cost: QuantumCostModel | None = None,
        quantum_solver: Literal["emulated-ideal", "emulated-noisy", "circuit"] = "emulated-ideal",
        pruning: Literal["symmetric", "rows"] = "symmetric",
        pruned_indefinite: Literal["shift", "solve"] = "shift",
        cg_tol: float = 1e-3,
        kron_damping: Literal["exact", "factored"] = "exact",
        quote_all: bool = False,
        max_update_norm: float | None = None,
        max_block_size: int | None = None,
        line_search: bool = False,
        first_order_momentum: float = 0.0,
        on_nonfinite: Literal["raise", "skip"] = "raise",
        seed: int = 0,
        scheduler: SchedulerConfig | None = None,
        curvature_config: CurvatureConfig | None = None,
    ) -> None:
        check_positive(lr, "lr")
        check_positive(sgd_lr, "sgd_lr")
        if not 0.0 <= float(sgd_momentum) < 1.0:
            raise InvalidArgumentError(f"`sgd_momentum` must be in [0, 1), got {sgd_momentum!r}.")
        if not 0.0 <= float(first_order_momentum) < 1.0:
            raise InvalidArgumentError(f"`first_order_momentum` must be in [0, 1), got {first_order_momentum!r}.")
        check_int_range(sgd_steps, "sgd_steps", 0, 2**62)
        if curvature not in ("hessian", "ggn", "fisher", "kfac"):
            raise InvalidArgumentError(f"`curvature` must be 'hessian', 'ggn', 'fisher' or 'kfac', got {curvature!r}.")
        if kfac is not None and not isinstance(kfac, KFACConfig):
            raise InvalidArgumentError(f"`kfac` must be a KFACConfig, got {type(kfac).__name__}.")
        if kfac is not None and curvature != "kfac":
            raise InvalidArgumentError("`kfac=` options need curvature='kfac'.")
        if on_nonfinite not in ("raise", "skip"):
            raise InvalidArgumentError(f"`on_nonfinite` must be 'raise' or 'skip', got {on_nonfinite!r}.")
        if max_update_norm is not None:
            check_positive(max_update_norm, "max_update_norm")
        try:
            super().__init__(params, {"lr": float(lr)})
        except ValueError as exc:  # "optimizer got an empty parameter list"
            raise InvalidArgumentError(f"`params`: {exc}; pass the model's trainable parameters.") from exc
        plist = [p for group in self.param_groups for p in group["params"]]
        for i, p in enumerate(plist):
            if not p.requires_grad:
                raise InvalidArgumentError(
                    f"`params`: parameter {i} (shape {tuple(p.shape)}) does not require grad; leave frozen "
                    f"parameters out of the optimizer."
                )
        if len(self.param_groups) > 1 and len({g["lr"] for g in self.param_groups}) > 1:
            raise InvalidArgumentError("per-group learning rates are not supported: one Newton step size `lr`.")

        if problem is None and model is not None:
            if (criterion is None) == (forward_loss is None):
                raise InvalidArgumentError("with `model=`, pass exactly one of `criterion=` or `forward_loss=`.")
            problem = LossProblem(model, criterion, forward_loss=forward_loss, params=plist)
        elif problem is not None and (model is not None or criterion is not None or forward_loss is not None):
            raise InvalidArgumentError("pass either `problem=` or `model=` with a loss, not both.")
        if problem is not None:
            ids = {id(p) for p in problem.params.values()}
            if ids != {id(p) for p in plist}:
                raise InvalidArgumentError(
                    "`params` must be exactly the problem's trainable parameters (build the problem with "
                    "params=... or pass the same parameters to the optimizer)."
                )
        self.problem = problem
        self.curvature = curvature
        self.kfac_state = KFACState(kfac) if curvature == "kfac" else None
        self._first_order_why: dict[str, str] = {}
        # block -> Hessian = GGN verified (a property of the architecture: checked once per block)
        self._structure_memo: dict[str, bool] = {}
        self.curvature_config = curvature_config or CurvatureConfig(curvature_batch_size=curvature_batch_size)
        if curvature_batch_size is not None and curvature_config is not None:
            self.curvature_config = replace(curvature_config, curvature_batch_size=curvature_batch_size)
        self.blocks = blocks
        self.block_spec = blocks
        self._first_order: list[str] = []
        if max_block_size is not None:
            check_int_range(max_block_size, "max_block_size", 1, 2**62)
            if problem is None:
                raise InvalidArgumentError("`max_block_size` needs `model=` (with a loss) or `problem=`.")
        if problem is not None:
            from ..curvature import make_blocks

            resolved = make_blocks(problem, blocks)
            if max_block_size is not None:
                kept = tuple(b for b in resolved if b.size <= max_block_size)
                if not kept:
                    smallest = min(resolved, key=lambda b: b.size)
                    raise InvalidArgumentError(
                        f"`max_block_size` = {max_block_size} leaves no block with curvature: the smallest, "
                        f"{smallest.name!r}, has n = {smallest.size}, so every parameter would take a plain gradient "
                        f"step. Raise max_block_size to at least {smallest.size}, or train with a first-order "
                        "optimizer."
                    )
                resolved = kept
            covered = {n for b in resolved for n in b.param_names}
            self._first_order = [n for n in problem.param_names if n not in covered]
            self.blocks = resolved
        self.sgd_steps = int(sgd_steps)
        self.sgd_lr = float(sgd_lr)
        self.sgd_momentum = float(sgd_momentum)
        self.first_order_momentum = float(first_order_momentum)
        self.max_update_norm = max_update_norm
        self.line_search = bool(line_search)
        self.on_nonfinite = on_nonfinite
        given: dict[str, Any] = {
            "eps": eps, "relative_eps": relative_eps, "policy": policy, "routes": routes, "decision": decision,
            "sparsity": sparsity, "kappa_method": kappa_method, "classical_cost": classical_cost,
            "quantum_cost": quantum_cost, "quantum_solver": quantum_solver, "pruning": pruning,
            "pruned_indefinite": pruned_indefinite, "cg_tol": cg_tol, "quote_all": quote_all, "seed": seed,
            "kron_damping": kron_damping,
        }  # fmt: skip
        if scheduler is not None:
            clash = [k for k, v in given.items() if v is not _SCHEDULER_SHORTCUTS[k] and v != _SCHEDULER_SHORTCUTS[k]]
            if clash:
                raise InvalidArgumentError(
                    f"pass either `scheduler=` or the shortcuts {', '.join(f'`{k}`' for k in clash)}, not both: "
                    f"with a SchedulerConfig they would be ignored. Put them into the SchedulerConfig instead."
                )
            if not isinstance(scheduler, SchedulerConfig):
                raise InvalidArgumentError(f"`scheduler` must be a SchedulerConfig, got {type(scheduler).__name__}.")
        else:
            scheduler = _scheduler_config(**given)
        self.scheduler = Scheduler(scheduler)
        self.decisions: list[DecisionRecord] = []
        self.history: list[dict[str, Any]] = []
        self.step_count = 0

    # -- the step -----------------------------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        """The device of the parameters (timers synchronize it)."""
        return self.param_groups[0]["params"][0].device

    @property
    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None, *, batch: Any = None) -> Any:
        """One optimization step (SGD in the early phase, Newton after); returns the loss.

        Pass ``batch=`` when the optimizer knows the loss problem, or a ``closure`` that returns the
        loss (with its graph, no backward) otherwise.
        """
        if batch is None and closure is None:
            raise InvalidArgumentError("step() needs `batch=` (with a loss problem) or a `closure`.")
        if batch is not None and self.problem is None:
            raise InvalidArgumentError("step(batch=...) needs `model=`+loss or `problem=` at construction.")
        t0 = clock(self._device)
        phase = "sgd" if self.step_count < self.sgd_steps else "newton"
        try:
            with torch.enable_grad():
                if phase == "sgd":
                    loss, info = self._sgd_step(closure, batch)
                else:
                    loss, info = self._newton_step(closure, batch)
        except NonFiniteError as exc:
            if self.on_nonfinite == "raise":
                raise
            warnings.warn(f"step {self.step_count} skipped: {exc}", SkippedStepWarning, stacklevel=2)
            rec = DecisionRecord(
                step=self.step_count,
                block="*",
                n=0,
                policy=self.scheduler.config.policy,
                route="skipped",
                reason=f"non-finite: {exc}",
                eps=0.0,
            )
            self.decisions.append(rec)
            loss, info = torch.tensor(float("nan")), {"skipped": True}
        info.update(step=self.step_count, phase=phase, loss=float(loss), wall_measured_s=clock(self._device) - t0)
        self.history.append(info)
        self.step_count += 1
        return loss

    def _named_params(self) -> list[tuple[str, torch.Tensor]]:
        if self.problem is not None:
            return list(self.problem.params.items())
        return [(f"param{i}", p) for i, p in enumerate(self._params)]

    def _sgd_gradients(self, closure, batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The loss and one gradient per parameter (in ``_named_params`` order) for an SGD step;
        a stage of its own so a distributed subclass can average them over processes."""
        if batch is not None:
            assert self.problem is not None  # step() checked it
            res = loss_and_gradient(self.problem, batch, "layerwise", config=self.curvature_config)
            return res.loss, [res.param_grads[name] for name, _ in self._named_params()]
        loss = closure()
        grads = list(torch.autograd.grad(loss, self._params, allow_unused=True))
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(self._params, grads)]
        if not torch.isfinite(loss) or not all(torch.isfinite(g).all() for g in grads):
            raise NonFiniteError("NaN/Inf in the loss or the gradient of the SGD step.")
        return loss, grads

    def _sgd_step(self, closure, batch) -> tuple[torch.Tensor, dict[str, Any]]:
        t0 = clock(self._device)
        loss, grads = self._sgd_gradients(closure, batch)
        grad_s = clock(self._device) - t0
        with torch.no_grad():
            for (_, p), g in zip(self._named_params(), grads):
                d = g.detach()
                if self.sgd_momentum:
                    buf = self.state[p].get("momentum_buffer")
                    buf = d.clone() if buf is None else buf.mul_(self.sgd_momentum).add_(d)
                    self.state[p]["momentum_buffer"] = buf
                    d = buf
                p.add_(d, alpha=-self.sgd_lr)
        return loss.detach(), {"measured": {"loss_and_gradient_s": grad_s}, "modeled": {}}

    def _newton_step(self, closure, batch) -> tuple[torch.Tensor, dict[str, Any]]:
        t0 = clock(self._device)
        loss, items, first_order = self._curvature(closure, batch)
        curvature_s = clock(self._device) - t0
        try:
            directions, records = self._route_blocks(items)
        finally:
            for item in items:  # the step's dense blocks and graphs are not needed after it
                item[4].release()
        for name, p, grad in first_order:
            if not torch.isfinite(grad).all():
                raise NonFiniteError(f"the gradient of {name!r} has NaN/Inf entries.")
            why = self._first_order_why.get(name, "no curvature block (in no block, or larger than max_block_size)")
            records.append(
                DecisionRecord(
                    step=self.step_count,
                    block=name,
                    n=p.numel(),
                    policy=self.scheduler.config.policy,
                    route="first-order",
                    reason=f"{why}: gradient step with sgd_lr={self.sgd_lr}",
                    eps=0.0,
                    update_norm=float(grad.norm()),
                )
            )
        lr = self.param_groups[0]["lr"]
        ls_info: dict[str, Any] = {}
        with torch.no_grad():  # applied only once every block has succeeded
            if self.line_search:  # on the Newton directions alone, from the step's own loss
                lr, ls_info = self._backtrack(closure, batch, loss, items, directions, lr)
            for item, direction in zip(items, directions):
                self._apply(item, direction, lr)
            for _name, p, grad in first_order:  # then the gradient steps, whatever the line search chose
                d = grad.to(p.dtype)
                if self.first_order_momentum:
                    buf = self.state[p].get("first_order_buffer")
                    buf = d.clone() if buf is None else buf.mul_(self.first_order_momentum).add_(d)
                    self.state[p]["first_order_buffer"] = buf
                    d = buf
                p.add_(d, alpha=-self.sgd_lr)
        self.decisions.extend(records)
        solved = [r for r in records if r.kind]
        measured = {
            "curvature_s": curvature_s,
            "dense_s": sum(r.dense_measured_s for r in solved),
            "quote_s": sum(r.quote_measured_s for r in solved),
            "kappa_s": sum(r.kappa_measured_s for r in solved),
            "prune_s": sum(r.prune_measured_s for r in solved),
            "classical_solve_s": sum(r.solve_measured_s for r in solved if r.kind == "classical"),
            "quantum_emulation_s": sum(r.solve_measured_s for r in solved if r.kind == "quantum"),
        }
        modeled = {"quantum_solve_s": sum(r.solve_modeled_s or 0.0 for r in solved if r.kind == "quantum")}
        routes = {r.block: r.route for r in records}
        kinds = {r.block: r.kind or r.route for r in records}  # first-order blocks have no route kind
        info = {"measured": measured, "modeled": modeled, "routes": routes, "kinds": kinds}
        if ls_info:
            measured["line_search_s"] = ls_info.pop("seconds")
            info["line_search"] = ls_info
        return loss.detach(), info

    def _batch_loss(self, closure, batch) -> float:
        if batch is not None:
            assert self.problem is not None  # step() checked it
            return float(self.problem.loss(dict(self.problem.params), batch))
        return float(closure())

    def _backtrack(self, closure, batch, loss, items, directions, lr: float) -> tuple[float, dict[str, Any]]:
        """Armijo backtracking along the Newton directions (parameters restored before returning)."""
        t0 = clock(self._device)
        slope = sum(float(item[3].to(torch.float64) @ d.to(torch.float64)) for item, d in zip(items, directions))
        base = float(loss)
        t, tries, accepted = lr, 0, False
        while tries < 12:
            tries += 1
            for item, d in zip(items, directions):
                self._apply(item, d, t)
            trial = self._batch_loss(closure, batch)
            for item, d in zip(items, directions):
                self._apply(item, d, -t)  # undo
            if trial == trial and trial <= base - 1e-4 * t * max(slope, 0.0) and trial < base:
                accepted = True
                break
            t *= 0.5
        if not accepted:
            t = 0.0
        return t, {
            "step_size": t,
            "tries": tries,
            "accepted": accepted,
            "directional_derivative": slope,
            "seconds": clock(self._device) - t0,
        }

    # -- the three stages of a Newton step, separate so a subclass can distribute them ---------------
    def _curvature(self, closure, batch) -> tuple[torch.Tensor, list[BlockItem], list[tuple[str, Any, Any]]]:
        """Loss, one :data:`BlockItem` (name, params, ParamBlock or None, gradient, lazy curvature
        block) per block, and the (name, parameter, gradient) of the parameters that take a
        first-order step. Nothing of size n x n is formed here: routes ask the blocks for it."""
        if batch is not None and self.kfac_state is not None:
            return self._kfac_curvature(batch)
        if batch is not None:
            assert self.problem is not None
            kind: Literal["hessian", "ggn", "empirical_fisher"] = (
                "empirical_fisher" if self.curvature == "fisher" else "ggn" if self.curvature == "ggn" else "hessian"
            )
            res = curvature_blocks(
                self.problem,
                batch,
                kind,
                self.blocks,
                config=self.curvature_config,
                structure_memo=self._structure_memo,
            )
            params = self.problem.params
            items: list[BlockItem] = [
                (
                    blk.name,
                    [params[n] for n in (blk.block.param_names if blk.block is not None else ())],
                    blk.block,
                    res.grads[blk.name],
                    blk,
                )
                for blk in res
            ]
            first_order = [(n, self.problem.params[n], res.param_grads[n]) for n in self._first_order]
            return res.loss, items, first_order
        if self.curvature != "hessian":
            raise InvalidArgumentError(
                f"curvature={self.curvature!r} needs the loss split into samples (and outputs): use `batch=` "
                f"with a loss problem; a closure gives the exact Hessian only."
            )
        named = self._named_params()
        spec = self.blocks if isinstance(self.blocks, str) else ""
        loss, blocks = closure_blocks(closure, self._params, [n for n, _ in named], spec)
        return loss, [(name, ps, None, g, blk) for name, ps, g, blk in blocks], []

    def _kfac_curvature(self, batch) -> tuple[torch.Tensor, list[BlockItem], list[tuple[str, Any, Any]]]:
        """K-FAC blocks (and the uncovered blocks' curvature or first-order steps), factors updated
        every ``update_interval`` steps into the running averages of ``kfac_state``."""
        assert self.problem is not None and self.kfac_state is not None
        res, fo_blocks = kfac_blocks(
            self.problem, batch, self.blocks, state=self.kfac_state, config=self.curvature_config
        )
        items: list[BlockItem] = [
            (
                blk.name,
                [self.problem.params[n] for n in (blk.block.param_names if blk.block is not None else ())],
                blk.block,
                res.grads[blk.name],
                blk,
            )
            for blk in res
        ]
        self._first_order_why = {}
        names = list(self._first_order)
        for b in self.blocks:
            if b.name in fo_blocks:
                for n in b.param_names:
                    names.append(n)
                    self._first_order_why[n] = fo_blocks[b.name]
        first_order = [(n, self.problem.params[n], res.param_grads[n]) for n in names]
        return res.loss, items, first_order

    def _route_blocks(self, items: list[BlockItem]) -> tuple[list[torch.Tensor], list[DecisionRecord]]:
        """Price, route and solve every block (in order); the Newton directions and the records."""
        directions, records = [], []
        for index, (name, _params, _block, g, h) in enumerate(items):
            out = self.scheduler.run(BlockTask(self.step_count, index, name, h, g))
            directions.append(self._checked_direction(name, torch.as_tensor(out.direction)))
            records.append(out.record)
        return directions, records

    def _checked_direction(self, name: str, direction: torch.Tensor) -> torch.Tensor:
        if not torch.isfinite(direction).all():
            raise NonFiniteError(f"the Newton direction of block {name!r} has NaN/Inf entries.")
        norm = float(direction.norm())
        if self.max_update_norm is not None and norm > self.max_update_norm:
            direction = direction * (self.max_update_norm / norm)
        return direction

    @staticmethod
    def _apply(item: BlockItem, direction: torch.Tensor, lr: float) -> None:
        _name, params, block, _g, _h = item
        if block is not None:
            parts = block.unflatten(direction.to(params[0].dtype))
            for p, pname in zip(params, block.param_names):
                p.add_(parts[pname], alpha=-lr)
            return
        offset = 0
        for p in params:
            k = p.numel()
            p.add_(direction[offset : offset + k].reshape(p.shape).to(p.dtype), alpha=-lr)
            offset += k

    # -- logs and checkpoints -------------------------------------------------------------------
    def decisions_to_csv(self, path: str | None = None) -> str:
        """The decision log as CSV (written to ``path`` if given); see :class:`DecisionRecord`."""
        return decisions_to_csv(self.decisions, path)

    def explain(self, last: int | None = None) -> str:
        """The decision log as readable lines (the last ``last`` records)."""
        recs = self.decisions if last is None else self.decisions[-last:]
        return "\n".join(r.explain() for r in recs)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        cal = self.scheduler.config.classical_cost
        calibration = (
            cal.calibration.to_dict() if cal is not None and cal.c is None and cal.calibration is not None else None
        )
        state["qnewton"] = {
            "step_count": self.step_count,
            "decisions": [r.to_dict() for r in self.decisions],
            "history": list(self.history),
            "classical_calibration": calibration,
            "routes": self.scheduler.state_dict(),
        }
        if self.kfac_state is not None:
            state["qnewton"]["kfac"] = self.kfac_state.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        extra = state_dict.get("qnewton")
        base = {k: v for k, v in state_dict.items() if k != "qnewton"}
        super().load_state_dict(base)
        if extra is None:
            return
        self.step_count = int(extra["step_count"])
        self.decisions = [DecisionRecord.from_dict(d) for d in extra["decisions"]]
        self.history = list(extra["history"])
        self.scheduler.load_state_dict(extra.get("routes", {}))
        if self.kfac_state is not None and extra.get("kfac") is not None:
            self.kfac_state.load_state_dict(extra["kfac"])
        cal = extra.get("classical_calibration")
        model = self.scheduler.config.classical_cost
        if cal is not None and model is not None and model.c is None:
            # the same C as before the checkpoint, so the resumed run routes blocks identically
            object.__setattr__(model, "_calibration", Calibration.from_dict(cal))

    def __repr__(self) -> str:
        cfg = self.scheduler.config
        return (
            f"QNewton(lr={self.param_groups[0]['lr']}, policy={cfg.policy!r}, eps={cfg.regularization.eps}, "
            f"curvature={self.curvature!r}, blocks={self.block_spec!r}, sgd_steps={self.sgd_steps}, "
            f"step={self.step_count})"
        )
