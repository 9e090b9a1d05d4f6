"""Routes: every route against the dense float64 solve, on positive definite and indefinite blocks;
routes that claim the same system solve the same system; policies, forcing, failures, user routes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from qnewton.cost import ClassicalCostModel, QuantumCostModel
from qnewton.curvature import LossProblem
from qnewton.curvature.lazy import DenseBlock, curvature_blocks
from qnewton.curvature.lowrank import ExplicitLowRank
from qnewton.errors import ConvergenceError, ConvergenceWarning, InvalidArgumentError, SingularMatrixError
from qnewton.routes import (
    BlockSystem,
    CGConfig,
    CGRoute,
    CholeskyRoute,
    QLSARoute,
    QuantumRouteConfig,
    Quote,
    SparsitySpec,
    WoodburyRoute,
)
from qnewton.scheduler import (
    BlockTask,
    RegularizationSpec,
    RouteUnavailableError,
    Scheduler,
    SchedulerConfig,
    decisions_to_csv,
    read_decisions_csv,
)
from qnewton.solvers import SolveReport, SolveResult

FIXED = ClassicalCostModel(c=1e-11)


def spectrum_matrix(n: int, low: float, high: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.linspace(low, high, n)
    a = (q * lam) @ q.T
    return (a + a.T) / 2


def lowrank_block(n: int, r: int, seed: int = 0) -> tuple[DenseBlock, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    U = torch.randn(n, r, generator=gen, dtype=torch.float64) / math.sqrt(n)

    class Block(DenseBlock):
        def _find_factor(self):
            return ExplicitLowRank(U), "explicit test factor"

    return Block(U @ U.T, name="lr"), U


def system_of(block, g, eps: float, name: str = "w") -> BlockSystem:
    return BlockSystem(0, 0, name, block, torch.as_tensor(g), eps)


def solve_with(route, block, g, eps) -> tuple[np.ndarray, SolveReport]:
    system = system_of(block, g, eps)
    quote = route.quote(system)
    assert quote.applies, quote.reason
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = route.solve(system, quote)
    return np.asarray(torch.as_tensor(res.x), dtype=np.float64), res.report


CASES = [  # (name, spectrum low, high): eps is added on top
    ("spd", 0.5, 10.0),
    ("indefinite", -2.0, 5.0),
]


@pytest.mark.parametrize("name,low,high", CASES)
@pytest.mark.parametrize("route", ["cholesky", "cg"])
def test_classical_routes_match_dense_float64_solve(name, low, high, route):
    n, eps = 80, 0.3
    h = spectrum_matrix(n, low, high)
    g = np.random.default_rng(1).standard_normal(n)
    ref = np.linalg.solve(h + eps * np.eye(n), g)
    r = CholeskyRoute(cost=FIXED) if route == "cholesky" else CGRoute(CGConfig(tol=1e-10, maxiter=2000))
    x, rep = solve_with(r, DenseBlock(torch.from_numpy(h)), g, eps)
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 1e-7
    assert rep.residual < 1e-8 and rep.route == "classical"
    if route == "cg":
        assert rep.details["method"] == ("cg" if name == "spd" else "cg -> minres (indefinite)")


def test_woodbury_matches_dense_float64_solve_and_declines_full_rank():
    block, U = lowrank_block(120, 15)
    g = np.random.default_rng(2).standard_normal(120)
    eps = 1e-3
    ref = np.linalg.solve((U @ U.T).numpy() + eps * np.eye(120), g)
    x, rep = solve_with(WoodburyRoute(), block, g, eps)
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 1e-9 and rep.details["rank"] == 15
    q = WoodburyRoute().quote(system_of(DenseBlock(torch.from_numpy(spectrum_matrix(30, 1, 2))), g[:30], 0.1))
    assert not q.applies and "U U^T" in q.reason


def test_steihaug_stops_at_negative_curvature_with_a_descent_direction():
    n = 60
    h = spectrum_matrix(n, -3.0, 4.0, seed=3)
    g = np.random.default_rng(4).standard_normal(n)
    x, rep = solve_with(CGRoute(CGConfig(indefinite="steihaug")), DenseBlock(torch.from_numpy(h)), g, 0.1)
    assert rep.details["method"] == "cg (steihaug)" and "not the system's solution" in rep.details["note"]
    assert float(g @ x) > 0  # -x is a descent direction


def real_blocks(kind: str, act: type[nn.Module] = nn.ReLU):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 20), act(), nn.Linear(20, 10), act(), nn.Linear(10, 4)).double()
    X = torch.randn(12, 30, dtype=torch.float64)
    y = torch.randint(0, 4, (12,))
    return curvature_blocks(LossProblem(model, nn.CrossEntropyLoss()), (X, y), kind)


@pytest.mark.parametrize("kind", ["hessian", "ggn", "empirical_fisher"])
def test_all_routes_agree_on_real_curvature_blocks(kind):
    """Same step, same input: every route that applies gives the dense float64 solution."""
    res = real_blocks(kind)
    eps = 1e-2
    for name in ("0.weight", "2.weight", "4.bias"):
        blk = res[name]
        g = blk.gradient.numpy()
        H = blk.dense().numpy()
        ref = np.linalg.solve(H + eps * np.eye(blk.n), g)
        routes = [CholeskyRoute(cost=FIXED), CGRoute(CGConfig(tol=1e-11, maxiter=5000)), WoodburyRoute()]
        routes.append(QLSARoute(QuantumRouteConfig(sparsity=SparsitySpec())))  # d = N: no pruning
        for r in routes:
            q = r.quote(system_of(blk, g, eps, name))
            if r.name == "woodbury" and blk.lowrank() is None:
                assert not q.applies
                continue
            x, _ = solve_with(r, blk, g, eps)
            assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 1e-6, (kind, name, r.name)


def test_quantum_route_without_pruning_equals_classical_on_indefinite_blocks():
    """The shift bug: with d = N nothing is pruned, so nothing may be shifted (any signs)."""
    n, eps = 50, 0.05
    h = spectrum_matrix(n, -1.0, 3.0, seed=5)
    g = np.random.default_rng(6).standard_normal(n)
    cfg = SchedulerConfig(
        policy="quantum",
        regularization=RegularizationSpec(eps),
        quantum=QuantumRouteConfig(sparsity=SparsitySpec(), pruned_indefinite="shift"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = Scheduler(cfg).run(BlockTask(0, 0, "w", h, g))
        c = Scheduler(
            SchedulerConfig(policy="cholesky", classical_cost=FIXED, regularization=RegularizationSpec(eps))
        ).run(BlockTask(0, 0, "w", h, g))
    assert q.record.route == "qlsa" and q.record.pd_shift == 0.0 and "shift" not in q.record.quantum_notes
    np.testing.assert_allclose(q.direction, c.direction, rtol=1e-10, atol=1e-12)


def test_pruned_psd_block_is_shifted_back_to_eps_only():
    """A positive semidefinite block pruned to d gets the least shift restoring lambda_min >= eps."""
    res = real_blocks("ggn")
    blk = res["0.weight"]
    eps = 1e-3
    cfg = SchedulerConfig(
        policy="quantum", regularization=RegularizationSpec(eps), quantum=QuantumRouteConfig(sparsity=SparsitySpec(d=5))
    )
    out = Scheduler(cfg).run(BlockTask(0, 0, blk.name, blk, blk.gradient))
    r = out.record
    assert r.d_requested == 5 and r.pd_shift > 0
    from qnewton.linalg import prune_symmetric

    p = prune_symmetric(blk.dense().numpy() + eps * np.eye(blk.n), 5) + r.pd_shift * np.eye(blk.n)
    assert np.linalg.eigvalsh(p)[0] >= eps * (1 - 1e-6)


def test_singular_block_declines_but_keeps_what_it_would_solve():
    # H + eps I singular: the QLSA's cost is infinite, so the route declines; the quote still
    # carries the matrix it would solve (the direction study solves it anyway)
    eps = 0.5
    h = np.diag([-eps, 1.0, 2.0])
    system = system_of(DenseBlock(torch.as_tensor(h), name="s"), np.array([0.0, 1.0, 1.0]), eps)
    route = QLSARoute(QuantumRouteConfig(sparsity=SparsitySpec(), pruned_indefinite="solve", kappa_method="exact"))
    quote = route.quote(system)
    assert not quote.applies and "singular" in quote.reason
    assert quote.plan is not None and np.allclose(np.diag(np.asarray(quote.plan.matrix)), [0.0, 1.5, 2.5])
    with pytest.raises(SingularMatrixError):  # the emulator refuses it, with a typed error
        route.solve(system, quote)


class StubRoute:
    """A user route: no base class, no registration."""

    kind = "classical"

    def __init__(self, name: str, seconds: float, applies: bool = True) -> None:
        self.name, self.seconds, self.applies, self.calls = name, seconds, applies, 0

    def quote(self, system: BlockSystem) -> Quote:
        if not self.applies:
            return Quote.decline(self.name, self.kind, "the stub declines")
        return Quote(
            self.name, self.kind, True, "stub price", self.seconds, "assumed-prediction", record={"notes": "stub"}
        )

    def solve(self, system: BlockSystem, quote: Quote) -> SolveResult:
        self.calls += 1
        x = system.g / (1.0 + system.eps)
        rep = SolveReport(self.name, "classical", system.n, 0.0, None, None, {"iterations": 7})
        return SolveResult(x, rep)


def test_user_route_plugs_in_and_is_chosen_when_cheapest():
    stub = StubRoute("stub", 1e-30)
    cfg = SchedulerConfig(policy="classical", routes=("cholesky", stub), classical_cost=FIXED)
    h = np.eye(4)
    out = Scheduler(cfg).run(BlockTask(0, 0, "w", h, np.ones(4)))
    assert out.record.route == "stub" and stub.calls == 1 and out.record.iterations == 7
    assert out.record.notes == "stub" and set(out.record.quotes) == {"cholesky", "stub"}
    # forced by name although dearer
    stub2 = StubRoute("slow", 1e9)
    out = Scheduler(SchedulerConfig(policy="slow", routes=("cholesky", stub2))).run(BlockTask(0, 0, "w", h, np.ones(4)))
    assert out.record.route == "slow" and out.record.reason == "policy=slow"


def test_bad_user_route_and_policies_are_typed_errors():
    with pytest.raises(InvalidArgumentError, match="not a route"):
        SchedulerConfig(routes=("cholesky", object()))
    with pytest.raises(InvalidArgumentError, match="unknown route 'lu'"):
        SchedulerConfig(routes=("lu",))
    with pytest.raises(InvalidArgumentError, match="policy"):
        SchedulerConfig(policy="woodbury", routes=("cholesky",))
    with pytest.raises(InvalidArgumentError, match="no quantum route"):
        SchedulerConfig(policy="quantum", routes=("cholesky", "cg"))
    with pytest.raises(InvalidArgumentError, match="twice"):
        SchedulerConfig(routes=("cg", "cg"))


def test_forcing_a_route_that_cannot_take_the_block_names_it_and_the_alternatives():
    cfg = SchedulerConfig(policy="woodbury", routes=("cholesky", "cg", "woodbury"), classical_cost=FIXED)
    with pytest.raises(
        RouteUnavailableError, match=r"woodbury: not of the form.*Routes that can take it: cholesky, cg"
    ):
        Scheduler(cfg).run(BlockTask(0, 0, "w", np.eye(6), np.ones(6)))


def test_cg_that_misses_its_tolerance_warns_and_falls_back_or_raises():
    h = spectrum_matrix(200, 1e-3, 1e3, seed=7)
    g = np.random.default_rng(8).standard_normal(200)
    base = dict(
        policy="classical", routes=("cg", "cholesky"), classical_cost=ClassicalCostModel(c=1.0), cg=CGConfig(maxiter=3)
    )
    with pytest.warns(ConvergenceWarning, match="CG on block"):
        out = Scheduler(SchedulerConfig(**base, regularization=RegularizationSpec(1e-3))).run(
            BlockTask(0, 0, "w", h, g)
        )
    r = out.record
    assert r.route == "cholesky" and "fell back to cholesky after cg failed" in r.reason
    assert r.extra["failed_routes"][0]["route"] == "cg" and r.extra["failed_routes"][0]["residual"] > 1e-3
    with pytest.warns(ConvergenceWarning), pytest.raises(ConvergenceError, match="route 'cg' failed"):
        Scheduler(SchedulerConfig(**base, on_failure="raise")).run(BlockTask(0, 0, "w", h, g))


def test_hybrid_takes_the_cheapest_route_and_records_both_rules_and_every_quote(tmp_path):
    res = real_blocks("ggn")
    blk = res["0.weight"]
    cfg = SchedulerConfig(
        policy="hybrid",
        classical_cost=FIXED,
        quantum=QuantumRouteConfig(cost=QuantumCostModel(gate_time=1e-3)),  # a slow quantum machine
    )
    out = Scheduler(cfg).run(BlockTask(0, 0, blk.name, blk, blk.gradient))
    r = out.record
    applicable = {k: v for k, v in r.quotes.items() if v["applies"]}
    assert set(r.quotes) == {"cholesky", "cg", "woodbury", "qlsa", "kron-eig"}
    assert not r.quotes["kron-eig"]["applies"]  # K-FAC blocks only: it changes nothing for a GGN block
    assert r.route == min(applicable, key=lambda k: applicable[k]["solve_s"]) == r.route_paper
    assert r.route_end_to_end == min(applicable, key=lambda k: applicable[k]["end_to_end_s"])
    assert r.classical_cost_s == pytest.approx(1e-11 * blk.n**3) and r.kind == "classical"
    assert r.best_classical_route in ("cholesky", "cg", "woodbury") and r.kappa is not None
    path = tmp_path / "d.csv"
    decisions_to_csv([r], path)
    back = read_decisions_csv(path)[0]
    assert back.quotes == r.quotes and back.route == r.route and back.woodbury_rank == r.woodbury_rank


def test_end_to_end_rule_charges_the_dense_block_to_every_route_that_needs_it():
    res = real_blocks("ggn")
    blk = res["0.weight"]
    cfg = SchedulerConfig(policy="hybrid", decision="end-to-end", classical_cost=FIXED)
    r = Scheduler(cfg).run(BlockTask(0, 0, blk.name, blk, blk.gradient)).record
    dense = r.dense_measured_s
    assert dense > 0
    for name in ("cholesky", "qlsa"):
        q = r.quotes[name]
        assert q["end_to_end_s"] == pytest.approx(q["solve_s"] + q["prep_measured_s"] + dense)
    assert r.route == r.route_end_to_end


def test_scheduler_state_round_trip_keeps_cg_history():
    res = real_blocks("ggn")
    blk = res["2.weight"]
    s = Scheduler(SchedulerConfig(policy="cg", cg=CGConfig(warm_start=True)))
    s.run(BlockTask(0, 0, blk.name, blk, blk.gradient))
    t = Scheduler(SchedulerConfig(policy="cg", cg=CGConfig(warm_start=True)))
    t.load_state_dict(s.state_dict())
    assert t.route("cg").state_dict()["iterations"] == s.route("cg").state_dict()["iterations"]
    torch.testing.assert_close(
        t.route("cg").state_dict()["previous"][blk.name], s.route("cg").state_dict()["previous"][blk.name]
    )


def test_the_fault_tolerant_model_prices_the_quantum_route_and_the_record_carries_physical_figures():
    """The quantum route priced end to end on a fault-tolerant machine (the 'paper' hardware preset needs
    no estimator); the hybrid then compares those seconds with the best classical route's."""
    from qnewton.cost import FaultTolerantCostModel

    res = real_blocks("ggn")
    blk = res["0.weight"]
    try:
        model = FaultTolerantCostModel(hardware="qubit_gate_ns_e4")
    except ImportError:
        pytest.skip("the fault-tolerant estimator needs the `ft` extra (qdk)")
    cfg = SchedulerConfig(policy="hybrid", classical_cost=FIXED, quantum=QuantumRouteConfig(cost=model))
    r = Scheduler(cfg).run(BlockTask(0, 0, blk.name, blk, blk.gradient)).record
    assert r.extra["ft_code_distance"] >= 3 and r.extra["ft_physical_qubits"] > 0
    assert r.quantum_cost_s == pytest.approx(r.quotes["qlsa"]["solve_s"])
    assert r.kind == "classical"  # on error-corrected hardware the classical route wins this block


def test_cg_probe_is_reused_until_it_expires_and_survives_a_checkpoint():
    """A block CG never solves (another route keeps winning it) is probed once, not at every quote;
    the prediction is the probe's until PROBE_REUSE quotes later, then the block is probed again."""
    from qnewton.routes.cg import PROBE_REUSE

    blk = DenseBlock(spectrum_matrix(60, 0.5, 50.0), name="w")
    route = CGRoute(CGConfig(probe_steps=5))
    system = system_of(blk, np.ones(60), 0.1)
    first = route.quote(system)
    assert first.prep_measured_s > 0 and "Lanczos probe" in first.reason
    for k in range(1, PROBE_REUSE + 1):
        q = route.quote(system)
        assert q.prep_measured_s == 0.0 and q.solve_s == first.solve_s and f"probed {k} quote(s) ago" in q.reason
    again = route.quote(system)
    assert again.prep_measured_s > 0 and "ago" not in again.reason
    restored = CGRoute(CGConfig(probe_steps=5))
    restored.load_state_dict(route.state_dict())
    assert restored.quote(system).prep_measured_s == 0.0


@pytest.mark.parametrize("act,verified", [(nn.ReLU, {"0.weight", "2.weight"}), (nn.Tanh, {"2.weight"})])
def test_structure_memo_checks_each_block_once_and_keeps_the_verdict(act, verified):
    """With a memo the Hessian = GGN check runs at the first step only; later steps reuse the
    verdict (no product), and the blocks are the same matrices as without a memo."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), act(), nn.Linear(4, 3)).double()
    problem = LossProblem(model, nn.CrossEntropyLoss())
    memo: dict[str, bool] = {}
    for step in range(2):
        x, y = torch.randn(12, 5, dtype=torch.float64), torch.randint(0, 3, (12,))
        lazy = curvature_blocks(problem, (x, y), "hessian", structure_memo=memo)
        plain = curvature_blocks(problem, (x, y), "hessian")
        for name in ("0.weight", "2.weight"):
            blk = lazy[name]
            assert (blk.factor() is not None) == (name in verified)
            assert ("earlier step" in blk.stats["structure"]) == (step > 0), blk.stats["structure"]
            torch.testing.assert_close(blk.dense(), plain[name].dense(), rtol=1e-9, atol=1e-12)
        assert {k for k, v in memo.items() if v} == verified
