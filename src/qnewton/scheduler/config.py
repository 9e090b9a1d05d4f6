"""Configuration of the hybrid scheduler: typed, validated, frozen dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .._validation import check_positive
from ..cost import ClassicalCostModel
from ..errors import InvalidArgumentError
from ..routes import BUILTIN_ROUTES, DEFAULT_ROUTES, CGConfig, KronEigConfig, QuantumRouteConfig, SparsitySpec
from ..solvers import CholeskySolver

__all__ = ["POLICIES", "DecisionRule", "Policy", "RegularizationSpec", "SchedulerConfig", "SparsitySpec"]

#: ``"hybrid"``, ``"classical"``, ``"quantum"``, or the name of one enabled route.
Policy = str
#: The routing policies that are not a route's name.
POLICIES: tuple[str, ...] = ("hybrid", "classical", "quantum")
DecisionRule = Literal["paper", "end-to-end"]


@dataclass(frozen=True)
class RegularizationSpec:
    """H + eps*I (``relative=False``) or H + eps*max|H|*I (the reference code's variant).

    The paper uses eps = 1.0 for the DNN and 0.5 for Mistral (Sec. V-B). Adding eps*I does not move
    the fixed point of Newton's method (g = 0), only the path to it.
    """

    eps: float = 1.0
    relative: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_positive(self.eps, "eps"))


def _route_name(route: Any) -> str:
    return route if isinstance(route, str) else str(getattr(route, "name", ""))


@dataclass(frozen=True)
class SchedulerConfig:
    """Everything the scheduler needs to route and solve a block.

    Attributes:
        policy: ``"hybrid"`` (the cheapest applicable route: Q-Newton), ``"classical"`` (the
            cheapest classical route), ``"quantum"`` (the quantum route; the paper's quantum-only
            baseline), or the name of an enabled route to force it.
        routes: the routes considered: built-in names (``"cholesky"``, ``"cg"``, ``"woodbury"``,
            ``"qlsa"``, ``"qlsa-rows"``, ``"kron-eig"``) and/or route objects (anything with ``name``, ``kind``,
            ``quote`` and ``solve``; see :mod:`qnewton.routes`). None: ``DEFAULT_ROUTES`` (every
            built-in route but the ``qlsa-rows`` baseline); a route that cannot take a block
            declines it with a reason in the record.
        regularization: the H + eps*I every route solves.
        decision: ``"paper"`` (compare the solve seconds: QLSA modeled vs classical predicted, the
            paper's rule) or ``"end-to-end"`` (add each route's classical pre-processing: forming
            the dense block, pruning, kappa estimation). The record holds the choice of both.
        on_failure: a route that fails mid-solve (CG at its iteration cap): ``"fallback"`` to the
            next cheapest applicable route (logged) or ``"raise"``.
        quote_all: quote every enabled route even when the policy restricts the choice (the
            records then compare all routes; the quantum quote costs a pruning and a kappa estimate).
        classical_cost: the ``cholesky`` route's C N^3 model (also the record's
            ``classical_cost_s``, the paper's classical cost); None: calibrated here in each
            block's dtype.
        cholesky: the ``cholesky`` route's solver (backend, indefinite fallback).
        cg: options of the ``cg`` route.
        quantum: options of the quantum routes (sparsity d, kappa method, shift, cost model,
            solver).
        kron: options of the ``kron-eig`` route (K-FAC blocks: exact or factored damping).
        seed: seed of the quantum route's noise; each (step, block) gets its own stream, so results
            do not depend on the order blocks are solved in (or on which process solves them).
    """

    policy: Policy = "hybrid"
    routes: tuple[Any, ...] | None = None
    regularization: RegularizationSpec = field(default_factory=RegularizationSpec)
    decision: DecisionRule = "paper"
    on_failure: Literal["fallback", "raise"] = "fallback"
    quote_all: bool = False
    classical_cost: ClassicalCostModel | None = None
    cholesky: CholeskySolver = field(default_factory=CholeskySolver)
    cg: CGConfig = field(default_factory=CGConfig)
    quantum: QuantumRouteConfig = field(default_factory=QuantumRouteConfig)
    kron: KronEigConfig = field(default_factory=KronEigConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        routes = DEFAULT_ROUTES if self.routes is None else self.routes
        if isinstance(routes, (str, bytes)) or not isinstance(routes, Sequence):
            raise InvalidArgumentError(
                f"`routes` must be a sequence of route names or route objects, got {routes!r}; e.g. "
                f"routes=('cholesky', 'cg')."
            )
        routes = tuple(routes)
        if not routes:
            raise InvalidArgumentError(f"`routes` is empty; name at least one of {', '.join(BUILTIN_ROUTES)}.")
        names = []
        for r in routes:
            if isinstance(r, str):
                if r not in BUILTIN_ROUTES:
                    raise InvalidArgumentError(
                        f"`routes`: unknown route {r!r}; the built-in routes are {', '.join(BUILTIN_ROUTES)} "
                        f"(or pass a route object)."
                    )
            else:
                missing = [m for m in ("quote", "solve") if not callable(getattr(r, m, None))]
                kind = getattr(r, "kind", None)
                if missing or not isinstance(getattr(r, "name", None), str) or kind not in ("classical", "quantum"):
                    raise InvalidArgumentError(
                        f"`routes`: {r!r} is not a route: it needs a str `name`, a `kind` of 'classical' or "
                        f"'quantum', and methods quote(system) and solve(system, quote)"
                        + (f" (missing: {', '.join(missing)})" if missing else "")
                        + "."
                    )
            names.append(_route_name(r))
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InvalidArgumentError(f"`routes` names {', '.join(dup)} twice; route names must be unique.")
        object.__setattr__(self, "routes", routes)
        kinds = {_route_name(r): (r.kind if not isinstance(r, str) else _BUILTIN_KINDS[r]) for r in routes}
        if self.policy not in POLICIES and self.policy not in kinds:
            raise InvalidArgumentError(
                f"`policy` must be one of {', '.join(POLICIES)} or the name of an enabled route "
                f"({', '.join(kinds)}), got {self.policy!r}."
            )
        for pol in ("classical", "quantum"):
            if self.policy == pol and pol not in kinds.values():
                raise InvalidArgumentError(
                    f"`policy`={pol!r} but no {pol} route is enabled in `routes` ({', '.join(kinds)}); add one, "
                    f"e.g. {'cholesky' if pol == 'classical' else 'qlsa'}."
                )
        if self.decision not in ("paper", "end-to-end"):
            raise InvalidArgumentError(f"`decision` must be 'paper' or 'end-to-end', got {self.decision!r}.")
        if self.on_failure not in ("fallback", "raise"):
            raise InvalidArgumentError(f"`on_failure` must be 'fallback' or 'raise', got {self.on_failure!r}.")
        for name, typ in (
            ("regularization", RegularizationSpec),
            ("cholesky", CholeskySolver),
            ("cg", CGConfig),
            ("quantum", QuantumRouteConfig),
            ("kron", KronEigConfig),
        ):
            if not isinstance(getattr(self, name), typ):
                raise InvalidArgumentError(f"`{name}` must be a {typ.__name__}.")
        if self.classical_cost is not None and not isinstance(self.classical_cost, ClassicalCostModel):
            raise InvalidArgumentError("`classical_cost` must be a ClassicalCostModel or None.")
        if not isinstance(self.quote_all, bool):
            raise InvalidArgumentError(f"`quote_all` must be True or False, got {self.quote_all!r}.")

    @property
    def route_names(self) -> tuple[str, ...]:
        """The enabled routes' names, in order."""
        assert self.routes is not None
        return tuple(_route_name(r) for r in self.routes)


_BUILTIN_KINDS = {
    "cholesky": "classical",
    "cg": "classical",
    "woodbury": "classical",
    "qlsa": "quantum",
    "qlsa-rows": "quantum",
    "kron-eig": "classical",
}
