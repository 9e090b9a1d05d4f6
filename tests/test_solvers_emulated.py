"""Emulated QLSA: the ideal mode against spsolve, the noisy mode's error model, the modeled cost."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from conftest import spd_with_spectrum
from qnewton.cost import QuantumCostModel, block_encoding_alpha
from qnewton.errors import InvalidArgumentError, NonFiniteError, ShapeError
from qnewton.linalg import prune_symmetric, regularize
from qnewton.solvers import EmulatedQLSASolver, LinearSolver
from qnewton.solvers.emulated import conjugate_gradient, kp_tomography


@pytest.fixture
def block(rng):
    h = spd_with_spectrum(rng, np.linspace(0.5, 30, 200))
    p = prune_symmetric(h, 20, sparse=True)
    return regularize(p, 3.0), rng.standard_normal(200)


def test_ideal_solves_the_pruned_system(block):
    p, g = block
    x, rep = EmulatedQLSASolver("ideal").solve(p, g, kappa=50.0, d=20)
    truth = spla.spsolve(p.tocsc(), g)
    np.testing.assert_allclose(x, truth, rtol=1e-8, atol=1e-10)
    assert rep.route == "quantum" and rep.details["method"].startswith("cg")
    assert rep.measured_seconds >= 0 and rep.modeled_seconds > 0
    x2, _ = EmulatedQLSASolver("ideal").solve(p.toarray(), g, kappa=50.0, d=20)
    np.testing.assert_allclose(x2, truth, rtol=1e-8)


def test_modeled_seconds_come_from_the_cost_model(block):
    p, g = block
    model = QuantumCostModel(eps=1e-3, gate_time="ghz")
    _, rep = EmulatedQLSASolver("ideal", cost_model=model).solve(p, g, kappa=40.0, d=20)
    alpha = block_encoding_alpha(p, 20)
    expected = model.estimate(200, kappa=40.0, d=20, alpha=alpha)
    assert rep.modeled_seconds == pytest.approx(float(expected.seconds))
    assert rep.details["alpha"] == pytest.approx(alpha)
    assert rep.details["cost"]["basis"] == "modeled"


def test_kappa_and_d_estimated_when_not_given(block):
    p, g = block
    _, rep = EmulatedQLSASolver("ideal").solve(p, g)
    dense = p.toarray()
    assert rep.details["kappa"] == pytest.approx(np.linalg.cond(dense), rel=1e-6)
    assert rep.details["d"] == int(np.count_nonzero(dense, axis=1).max())


def test_noisy_state_error_sits_at_eps(block):
    p, g = block
    solver = EmulatedQLSASolver(
        "noisy", cost_model=QuantumCostModel(eps=0.05), tomography_copies=0, norm_precision=1e-9
    )
    x, rep = solver.solve(p, g, kappa=40.0, d=20)
    truth = spla.spsolve(p.tocsc(), g)
    assert rep.details["state_error"] == pytest.approx(0.05, rel=1e-9)
    direction_error = np.linalg.norm(x / np.linalg.norm(x) - truth / np.linalg.norm(truth))
    assert direction_error == pytest.approx(0.05, rel=1e-6)
    assert np.linalg.norm(x) == pytest.approx(np.linalg.norm(truth), rel=1e-8)


def test_noisy_is_seeded_and_checkpointable(block):
    p, g = block

    def make(seed):
        return EmulatedQLSASolver(
            "noisy",
            cost_model=QuantumCostModel(eps=1e-2),
            seed=seed,
            tomography_copies=10_000,
        )

    a, b = make(1), make(1)
    np.testing.assert_array_equal(a.solve(p, g, kappa=9, d=20).x, b.solve(p, g, kappa=9, d=20).x)
    assert not np.array_equal(make(2).solve(p, g, kappa=9, d=20).x, make(1).solve(p, g, kappa=9, d=20).x)
    s = make(3)
    s.solve(p, g, kappa=9, d=20)
    state = s.state_dict()
    first = s.solve(p, g, kappa=9, d=20).x
    s2 = make(99)
    s2.load_state_dict(state)
    np.testing.assert_array_equal(s2.solve(p, g, kappa=9, d=20).x, first)


def test_noise_shrinks_with_copies_and_norm_precision(block):
    p, g = block
    truth = spla.spsolve(p.tocsc(), g)
    errs = []
    for copies in (1_000, 100_000, 10_000_000):
        s = EmulatedQLSASolver(
            "noisy",
            cost_model=QuantumCostModel(eps=1e-6),
            tomography_copies=copies,
            norm_precision=1e-6,
            seed=0,
        )
        x, _ = s.solve(p, g, kappa=9, d=20)
        errs.append(np.linalg.norm(x - truth) / np.linalg.norm(truth))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.01


def test_kp_tomography_meets_its_guarantee(rng):
    n, delta = 64, 0.1
    x = rng.standard_normal(n)
    x /= np.linalg.norm(x)
    copies = math.ceil(36 * n * math.log(n) / delta**2)
    errs = [np.linalg.norm(kp_tomography(x, copies, np.random.default_rng(s)) - x) for s in range(20)]
    assert max(errs) <= delta


def test_conjugate_gradient_flags_negative_curvature(rng):
    h = spd_with_spectrum(rng, np.linspace(-1, 4, 30))
    _, _, ok = conjugate_gradient(h, rng.standard_normal(30), 1e-10, 300)
    assert not ok
    spd = spd_with_spectrum(rng, np.linspace(1, 4, 30))
    b = rng.standard_normal(30)
    x, _, ok = conjugate_gradient(spd, b, 1e-12, 300)
    assert ok and np.allclose(spd @ x, b)


def test_indefinite_sparse_block_uses_minres(rng):
    h = sp.csr_matrix(spd_with_spectrum(rng, np.r_[-2.0, np.linspace(1, 5, 49)]))
    g = rng.standard_normal(50)
    x, rep = EmulatedQLSASolver("ideal", krylov_tol=1e-12).solve(h, g, kappa=5, d=50)
    assert rep.details["method"].startswith("minres")
    np.testing.assert_allclose(x, np.linalg.solve(h.toarray(), g), rtol=1e-6)


def test_bad_input(block):
    p, g = block
    with pytest.raises(ShapeError):
        EmulatedQLSASolver().solve(p, g[:-1])
    with pytest.raises(NonFiniteError):
        EmulatedQLSASolver().solve(p, np.full(200, np.nan))
    with pytest.raises(InvalidArgumentError, match="vector"):
        EmulatedQLSASolver().solve(p, np.ones((200, 2)))
    with pytest.raises(InvalidArgumentError):
        EmulatedQLSASolver(mode="perfect")
    assert isinstance(EmulatedQLSASolver(), LinearSolver)
