"""The scheduler: routing by policy and price, what each route solves, the decision log."""

import numpy as np
import pytest

from conftest import spd_with_spectrum
from qnewton.cost import ClassicalCostModel, QuantumCostModel
from qnewton.errors import InvalidArgumentError
from qnewton.linalg import prune_symmetric, quantum_sparsity, regularize
from qnewton.routes import QuantumRouteConfig
from qnewton.scheduler import (
    BlockTask,
    DecisionRecord,
    RegularizationSpec,
    Scheduler,
    SchedulerConfig,
    SparsitySpec,
    decisions_to_csv,
    read_decisions_csv,
    summarize,
)


def psd_block(rng, n=120, rank=40):
    b = rng.standard_normal((n, rank))
    return b @ b.T / rank


def config(**kw):
    """The paper's two-route scheduler (dense Cholesky vs the pruned QLSA), quantum options flat."""
    q = {"cost": QuantumCostModel(gate_time="ghz")}
    for key, name in (
        ("sparsity", "sparsity"),
        ("kappa_method", "kappa_method"),
        ("pruned_indefinite", "pruned_indefinite"),
        ("quantum_solver", "solver"),
    ):
        if key in kw:
            q[name] = kw.pop(key)
    base = dict(
        classical_cost=ClassicalCostModel(c=1e-11), routes=("cholesky", "qlsa"), quantum=QuantumRouteConfig(**q)
    )
    base.update(kw)
    return SchedulerConfig(**base)


def test_sparsity_spec_resolution():
    assert SparsitySpec(d=7).resolve(5) == 5 and SparsitySpec(d=3).resolve(50) == 3
    assert SparsitySpec(ratio=0.1).resolve(95) == 10
    prof = np.array([3, 9, 4, 5])
    assert SparsitySpec(p=0.5).resolve(100, prof) == 9
    assert SparsitySpec(p=0.5, reduce="median").resolve(100, prof) == 5
    assert SparsitySpec(p=0.5, reduce=0.25).resolve(100, prof) == 4
    assert SparsitySpec().resolve(100) == 100 and not SparsitySpec().prunes
    with pytest.raises(InvalidArgumentError):
        SparsitySpec(d=3, ratio=0.5)
    with pytest.raises(InvalidArgumentError):
        SparsitySpec(p=1.5)


def test_config_validation():
    with pytest.raises(InvalidArgumentError, match="policy"):
        SchedulerConfig(policy="fastest")
    with pytest.raises(InvalidArgumentError, match="kappa_method"):
        QuantumRouteConfig(kappa_method="guess")
    with pytest.raises(InvalidArgumentError, match="eps"):
        RegularizationSpec(eps=0.0)


def test_classical_policy_solves_the_regularized_block(rng):
    h, g = psd_block(rng), rng.standard_normal(120)
    out = Scheduler(config(policy="classical", regularization=RegularizationSpec(0.5))).run(BlockTask(3, 0, "w", h, g))
    np.testing.assert_allclose(out.direction, np.linalg.solve(h + 0.5 * np.eye(120), g), rtol=1e-9)
    r = out.record
    assert (r.route, r.kind, r.step, r.block, r.n) == ("cholesky", "classical", 3, "w", 120)
    assert r.reason.startswith("policy=classical: cholesky cheapest classical route")
    assert r.quantum_cost_s is None and r.kappa is None  # not priced: the classical baseline is not slowed
    assert r.step_time_basis == "measured" and r.step_time_s == r.solve_measured_s


def test_relative_regularization(rng):
    h, g = psd_block(rng), rng.standard_normal(120)
    cfg = config(policy="classical", regularization=RegularizationSpec(0.01, relative=True))
    out = Scheduler(cfg).run(BlockTask(0, 0, "w", h, g))
    shift = 0.01 * np.abs(h).max()
    assert out.record.eps == pytest.approx(shift)
    np.testing.assert_allclose(out.direction, np.linalg.solve(h + shift * np.eye(120), g), rtol=1e-9)


@pytest.mark.parametrize("mode", ["shift", "solve"])
def test_quantum_policy_solves_the_pruned_regularized_block(rng, mode):
    h, g = psd_block(rng), rng.standard_normal(120)
    cfg = config(
        policy="quantum",
        regularization=RegularizationSpec(1.0),
        sparsity=SparsitySpec(ratio=0.1),
        pruned_indefinite=mode,
    )
    out = Scheduler(cfg).run(BlockTask(0, 0, "w", h, g))
    r = out.record
    p = prune_symmetric(regularize(h, 1.0), 12)
    lam = np.linalg.eigvalsh(p)
    if mode == "solve" or lam[0] >= 1.0:
        assert r.pd_shift == 0.0
    else:  # pruning pushed eigenvalues below eps: the shift restores lambda_min >= eps
        assert r.pd_shift > 0 and lam[0] + r.pd_shift >= 1.0 * (1 - 1e-9)
        assert "shifted" in r.quantum_notes
    q = p + r.pd_shift * np.eye(120)
    np.testing.assert_allclose(out.direction, np.linalg.solve(q, g), rtol=1e-7)
    assert r.route == "qlsa" and r.kind == "quantum" and r.d_requested == 12 and r.d <= 13
    assert r.kappa == pytest.approx(np.linalg.cond(q), rel=1e-2)
    assert r.step_time_basis == "modeled" and r.step_time_s == r.solve_modeled_s == r.quantum_cost_s
    assert r.alpha >= 1 and r.quantum_queries > 0 and r.quantum_qubits > 0


def test_shift_makes_an_indefinite_pruned_block_definite(rng):
    # strongly coupled variables (a near rank-one PSD block): pruning to d = 3 keeps the diagonal and
    # two large couplings per row, a matrix with eigenvalues near 1 + eps - 2 < 0
    b = 1.0 + 0.01 * rng.standard_normal((80, 2))
    h = b @ b.T / 2
    cfg = config(policy="quantum", regularization=RegularizationSpec(0.05), sparsity=SparsitySpec(d=3))
    r = Scheduler(cfg).run(BlockTask(0, 0, "w", h, rng.standard_normal(80))).record
    p = prune_symmetric(regularize(h, 0.05), 3)
    assert np.linalg.eigvalsh(p)[0] < 0  # the premise: pruning broke definiteness
    assert r.pd_shift > 0 and np.linalg.eigvalsh(p + r.pd_shift * np.eye(80))[0] >= 0.05 * (1 - 1e-6)


def test_p_sparsity_rule_sets_d(rng):
    h, g = psd_block(rng), rng.standard_normal(120)
    cfg = config(policy="quantum", sparsity=SparsitySpec(p=0.5))
    r = Scheduler(cfg).run(BlockTask(0, 0, "w", h, g)).record
    assert r.d_requested == int(quantum_sparsity(regularize(h, 1.0), 0.5).max())


@pytest.mark.parametrize("c,expected", [(1e-15, "classical"), (1e-3, "quantum")])
def test_hybrid_takes_the_cheaper_route(rng, c, expected):
    h, g = psd_block(rng), rng.standard_normal(120)
    out = Scheduler(config(classical_cost=ClassicalCostModel(c=c))).run(BlockTask(0, 0, "w", h, g))
    r = out.record
    assert r.kind == expected and "cheapest" in r.reason
    cheaper = min(r.classical_cost_s, r.quantum_cost_s)
    assert (r.classical_cost_s if expected == "classical" else r.quantum_cost_s) == cheaper
    assert "quantum" in r.explain() and "classical" in r.explain() and "Cholesky" in r.explain()


def test_indefinite_pruned_block_falls_back_to_exact_kappa(rng):
    h = spd_with_spectrum(rng, np.r_[-3.0, -2.0, np.linspace(0.1, 4, 58)])
    cfg = config(
        policy="quantum",
        regularization=RegularizationSpec(0.01),
        sparsity=SparsitySpec(d=10),
        pruned_indefinite="solve",
    )
    r = Scheduler(cfg).run(BlockTask(0, 0, "w", h, rng.standard_normal(60))).record
    assert r.kappa_method == "exact" and "indefinite" in r.quantum_notes
    p = prune_symmetric(regularize(h, 0.01), 10)
    assert r.kappa == pytest.approx(np.linalg.cond(p), rel=1e-6)


def test_noisy_route_is_seeded_per_step_and_block(rng):
    h, g = psd_block(rng), rng.standard_normal(120)
    cfg = config(policy="quantum", quantum_solver="emulated-noisy", seed=5)
    a = Scheduler(cfg)
    b = Scheduler(cfg)
    t1, t2 = BlockTask(1, 0, "a", h, g), BlockTask(1, 1, "b", h, g)
    xa1, xa2 = a.run(t1).direction, a.run(t2).direction
    xb2, xb1 = b.run(t2).direction, b.run(t1).direction  # other order, same results
    np.testing.assert_array_equal(xa1, xb1)
    np.testing.assert_array_equal(xa2, xb2)
    assert not np.array_equal(xa1, xa2)
    rec = Scheduler(cfg).run(t1).record
    block = prune_symmetric(regularize(h, 1.0), rec.d_requested) + rec.pd_shift * np.eye(120)
    exact = np.linalg.solve(block, g)
    assert 0 < np.linalg.norm(xa1 - exact) / np.linalg.norm(exact) < 0.5


def test_decision_log_round_trip(tmp_path, rng):
    h, g = psd_block(rng), rng.standard_normal(120)
    s = Scheduler(config())
    recs = [s.run(BlockTask(k, i, f"b{i}", h, g)).record for k in range(2) for i in range(2)]
    path = tmp_path / "log.csv"
    decisions_to_csv(recs, path)
    back = read_decisions_csv(path)
    assert back == recs  # `extra` is excluded from equality; every other field survives
    assert all(isinstance(r, DecisionRecord) for r in back)
    summ = summarize(recs)
    assert summ["blocks"] == 4 and summ["classical"]["count"] + summ["quantum"]["count"] == 4


def test_hopelessly_ill_conditioned_block_goes_classical(rng):
    h = np.zeros((20, 20))
    h[0, 0] = 1.0
    cfg = config(regularization=RegularizationSpec(1e-300), sparsity=SparsitySpec(d=1), pruned_indefinite="solve")
    r = Scheduler(cfg).run(BlockTask(0, 0, "w", h, np.ones(20))).record
    assert r.kappa == pytest.approx(1e300, rel=1e-6)
    assert r.kind == "classical" and r.quantum_cost_s > 1e250
