"""Tests of the QSVT circuit backend (qnewton.solvers.circuit) and its QSP phase finder
(qnewton.solvers._qsp), against float64 LAPACK, closed forms and PennyLane's own angle solver."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev as npcheb

qml = pytest.importorskip("pennylane")

from qnewton.errors import (  # noqa: E402
    CircuitTooLargeError,
    ConvergenceError,
    IllConditionedWarning,
    InvalidArgumentError,
    MissingDependencyError,
    NonFiniteError,
    NotSymmetricError,
    ShapeError,
    SingularMatrixError,
)
from qnewton.solvers import _qsp  # noqa: E402
from qnewton.solvers.base import LinearSolver  # noqa: E402
from qnewton.solvers.circuit import (  # noqa: E402
    MAX_CIRCUIT_N,
    QSVTCircuitConfig,
    QSVTCircuitSolver,
    block_encoding_unitary,
    queue_real_qsvt,
)

pytestmark = pytest.mark.quantum


def _sym(n: int, eigenvalues: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    h = q @ np.diag(eigenvalues) @ q.T
    return 0.5 * (h + h.T)


def _spd(n: int, kappa: float, seed: int, scale: float = 1.0) -> np.ndarray:
    return _sym(n, scale * np.geomspace(1.0, kappa, n), seed)


def _cos(x: np.ndarray, y: np.ndarray) -> float:
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


# --- the full solver against LAPACK -----------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "kappa", "scale"),
    [(2, 3.0, 1.0), (3, 10.0, 0.05), (5, 7.0, 20.0), (8, 10.0, 1.0), (11, 4.0, 3.0), (16, 10.0, 0.5)],
)
def test_spd_matches_lapack(n: int, kappa: float, scale: float) -> None:
    h = _spd(n, kappa, seed=n, scale=scale)
    g = np.random.default_rng(100 + n).standard_normal(n)
    x, rep = QSVTCircuitSolver(eps=1e-2).solve(h, g)
    ref = np.linalg.solve(h, g)
    assert x.shape == (n,) and x.dtype == np.float64
    assert _cos(x, ref) >= 0.99
    assert np.linalg.norm(x) == pytest.approx(np.linalg.norm(ref), rel=0.03)
    assert rep.residual == pytest.approx(np.linalg.norm(h @ x - g) / np.linalg.norm(g), rel=1e-9)
    assert rep.details["n_padded"] == 2 ** int(np.ceil(np.log2(n)))
    assert rep.details["kappa_matrix"] == pytest.approx(kappa, rel=1e-8)


def test_default_precision_is_tighter() -> None:
    h = _spd(6, 8.0, seed=1)
    g = np.random.default_rng(2).standard_normal(6)
    x, rep = QSVTCircuitSolver().solve(h, g)  # eps = 1e-3
    ref = np.linalg.solve(h, g)
    assert np.linalg.norm(x - ref) <= 1e-3 * np.linalg.norm(ref)
    assert rep.details["polynomial_rel_error"] <= 0.9e-3


def test_indefinite_symmetric() -> None:
    h = _sym(7, np.array([-3.0, -1.0, -0.4, 0.5, 0.9, 2.0, 4.0]), seed=3)
    g = np.random.default_rng(4).standard_normal(7)
    x, rep = QSVTCircuitSolver(eps=1e-2).solve(h, g)
    ref = np.linalg.solve(h, g)
    assert _cos(x, ref) >= 0.99
    assert np.linalg.norm(x) == pytest.approx(np.linalg.norm(ref), rel=0.03)
    assert rep.details["kappa_matrix"] == pytest.approx(10.0)


def test_one_by_one_and_identity() -> None:
    x, _ = QSVTCircuitSolver().solve(np.array([[-2.5]]), np.array([5.0]))
    assert x[0] == pytest.approx(-2.0, rel=1e-3)
    x, _ = QSVTCircuitSolver().solve(3.0 * np.eye(4), np.arange(1.0, 5.0))
    np.testing.assert_allclose(x, np.arange(1.0, 5.0) / 3.0, rtol=1e-3)


def test_torch_float32_in_torch_float32_out() -> None:
    h = torch.tensor(_spd(5, 6.0, seed=5), dtype=torch.float32)
    g = torch.randn(5, generator=torch.Generator().manual_seed(0))
    x, _ = QSVTCircuitSolver().solve(h, g)
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.device == g.device
    ref = np.linalg.solve(h.double().numpy(), g.double().numpy())
    assert _cos(x.double().numpy(), ref) >= 0.999


def test_zero_rhs_gives_zero() -> None:
    x, rep = QSVTCircuitSolver().solve(_spd(3, 2.0, seed=6), np.zeros(3))
    assert np.array_equal(x, np.zeros(3)) and rep.details["queries"] == 0


def test_report_and_protocol() -> None:
    solver = QSVTCircuitSolver(eps=1e-2, gate_time=1e-9)
    assert isinstance(solver, LinearSolver)
    assert solver.name == "qsvt-circuit" and solver.route == "quantum"
    h = _spd(16, 5.0, seed=7)
    g = np.random.default_rng(8).standard_normal(16)
    x, rep = solver.solve(h, g)
    d = rep.details
    assert rep.route == "quantum" and rep.solver == "qsvt-circuit" and rep.n == 16
    assert rep.measured_seconds > 0
    assert d["queries"] == d["polynomial_degree"] and d["polynomial_degree"] % 2 == 1
    assert rep.modeled_seconds == pytest.approx(d["polynomial_degree"] * 1e-9)
    assert d["num_wires"] == 6 and d["wires"]["system"] == [2, 3, 4, 5]
    # one block-encoding call (U or U^dagger) per degree, one projector phase pair per call + 1
    gc = d["gate_counts"]
    assert gc["QubitUnitary"] + gc["Adjoint(QubitUnitary)"] == d["polynomial_degree"]
    assert gc["PCPhase"] == d["polynomial_degree"] + 1
    assert d["depth"] >= d["polynomial_degree"]
    est = d["resource_estimate"]
    assert est is None or "error" in est or est["total_gates"] > d["polynomial_degree"]
    assert 0 < d["success_probability"] <= 1
    assert d["fidelity"] >= 0.99 and d["max_imag_amplitude"] < 1e-10
    # the norm comes from the success amplitude and the known scalings
    norm = np.linalg.norm(g) * d["kappa_used"] * np.sqrt(d["success_probability"])
    norm /= d["polynomial_scale"] * d["alpha"]
    assert np.linalg.norm(x) == pytest.approx(norm, rel=1e-12)
    assert QSVTCircuitSolver().solve(h, g).report.modeled_seconds is None


def test_phases_are_cached() -> None:
    solver = QSVTCircuitSolver(eps=2e-2)
    h = _spd(4, 3.0, seed=9)
    solver.solve(h, np.ones(4))
    _, rep = solver.solve(1.5 * h, np.arange(4.0))  # same kappa, so the same key
    assert rep.details["phases_cached"] is True


def test_sampled_readout_seeded() -> None:
    h = _spd(8, 4.0, seed=10)
    g = np.random.default_rng(11).standard_normal(8)
    ref = np.linalg.solve(h, g)
    x1, rep = QSVTCircuitSolver(eps=1e-2, shots=20000, seed=3).solve(h, g)
    x2, _ = QSVTCircuitSolver(eps=1e-2, shots=20000, seed=3).solve(h, g)
    x3, _ = QSVTCircuitSolver(eps=1e-2, shots=20000, seed=4).solve(h, g)
    assert np.array_equal(x1, x2) and not np.array_equal(x1, x3)
    assert _cos(x1, ref) >= 0.98
    assert np.linalg.norm(x1) == pytest.approx(np.linalg.norm(ref), rel=0.1)
    assert rep.details["readout"] == "shots" and rep.details["shots_total"] == 40000
    assert rep.details["num_wires"] == 3 + 2 + 1  # system, two ancillas, the sign control


@pytest.mark.slow
def test_kappa_100_sixteen() -> None:
    h = _spd(16, 100.0, seed=12)
    g = np.random.default_rng(13).standard_normal(16)
    x, rep = QSVTCircuitSolver(eps=1e-3).solve(h, g)
    ref = np.linalg.solve(h, g)
    assert _cos(x, ref) >= 0.9999
    assert np.linalg.norm(x) == pytest.approx(np.linalg.norm(ref), rel=2e-3)
    assert rep.details["polynomial_degree"] > 500


# --- the inverse polynomial and the phase finder ---------------------------------------------


@pytest.mark.parametrize(("kappa", "eps"), [(1.5, 1e-2), (10.0, 1e-3), (40.0, 1e-6)])
def test_inverse_polynomial_bounds(kappa: float, eps: float) -> None:
    poly = _qsp.inverse_polynomial(kappa, eps, max_abs=0.9)
    full = np.zeros(poly.degree + 1)
    full[1::2] = poly.coeffs
    x = np.linspace(1.0 / kappa, 1.0, 20001)
    rel = np.abs(kappa * x * npcheb.chebval(x, full) / poly.scale - 1.0)
    assert rel.max() <= eps and rel.max() == pytest.approx(poly.rel_error, rel=1e-3)
    xs = np.linspace(-1.0, 1.0, 40001)
    assert np.abs(npcheb.chebval(xs, full)).max() <= 0.9 + 1e-6
    # the degree is the smallest that reaches eps: one Chebyshev step less does not
    a = 1.0 / kappa
    q0 = (1 + a * a) / (1 - a * a)
    n = (poly.degree + 1) // 2
    assert 1.0 / np.cosh(n * np.arccosh(q0)) <= eps < 1.0 / np.cosh((n - 1) * np.arccosh(q0)) or n == 1


@pytest.mark.parametrize(
    ("method", "kappa", "eps"), [("newton", 30.0, 1e-4), ("fpi", 10.0, 1e-3), ("lbfgs", 5.0, 1e-2)]
)
def test_phase_finder_reproduces_polynomial(method: str, kappa: float, eps: float) -> None:
    poly = _qsp.inverse_polynomial(kappa, eps)
    res = _qsp.find_phases(poly.coeffs, method=method, tol=1e-10)
    assert res.method == method and len(res.phases) == poly.degree + 1
    np.testing.assert_allclose(res.phases, res.phases[::-1])  # symmetric
    full = np.zeros(poly.degree + 1)
    full[1::2] = poly.coeffs
    x = np.random.default_rng(0).uniform(-1, 1, 3000)  # not the solver's nodes
    p = _qsp.qsp_response(res.phases, x)
    assert np.abs(p.imag - npcheb.chebval(x, full)).max() <= 1e-9
    assert np.abs(p).max() <= 1 + 1e-12  # a matrix element of a unitary


def test_qsp_response_is_the_matrix_product() -> None:
    phases = np.random.default_rng(1).uniform(-1, 1, 6)
    for x in (-0.7, 0.2, 0.95):
        s = np.sqrt(1 - x * x)
        w = np.array([[x, 1j * s], [1j * s, x]])

        def rz(p: float) -> np.ndarray:
            return np.diag([np.exp(1j * p), np.exp(-1j * p)])

        u = rz(phases[0])
        for p in phases[1:]:
            u = u @ w @ rz(p)
        assert _qsp.qsp_response(phases, np.array([x]))[0] == pytest.approx(u[0, 0], abs=1e-14)


def test_phase_finder_raises_when_impossible() -> None:
    with pytest.raises(ConvergenceError, match="no QSP angle solver"):
        _qsp.find_phases(np.array([1.2, 0.0]), method="newton")  # |f(1)| = 1.2 > 1
    with pytest.raises(InvalidArgumentError, match="angle_solver"):
        _qsp.find_phases(np.array([0.5]), method="bogus")


def test_degree_cap_raises() -> None:
    with pytest.raises(ConvergenceError, match="degree_cap"):
        QSVTCircuitSolver(degree_cap=31).solve(_spd(4, 50.0, seed=14), np.ones(4))


# --- the circuit: conventions checked on matrices ---------------------------------------------


def _block(ops_fn, n_wires: int, m: int) -> np.ndarray:
    mat = qml.matrix(ops_fn, wire_order=list(range(n_wires)))()
    return mat[:m, :m]  # rows/cols with wire 0 = wire 1 = |0>


def test_qsvt_block_equals_polynomial_of_diagonal_matrix() -> None:
    lam = np.array([0.9, -0.5, 0.3, -0.12, 0.12, -1.0, 0.6, 0.25])
    poly = _qsp.inverse_polynomial(1.0 / 0.12, 1e-3)
    res = _qsp.find_phases(poly.coeffs, "newton", 1e-11)
    angles = _qsp.wx_to_qsvt_angles(res.phases)
    u = block_encoding_unitary(np.diag(lam))
    block = _block(lambda: queue_real_qsvt(qml, u, angles, None), 5, 8)
    np.testing.assert_allclose(block, np.diag(poly(lam)), atol=1e-10)
    # and f(lam) ~ scale / (kappa lam): the inverse, up to the known factor
    np.testing.assert_allclose(poly(lam) * poly.kappa * lam / poly.scale, 1.0, atol=1e-3)
    # without the real-part ancilla, qml.QSVT's block is the complex P(A): Re P = f, Im P != 0
    projectors = [qml.PCPhase(a, dim=8, wires=[0, 1, 2, 3]) for a in angles]

    def bare() -> None:
        qml.QSVT(qml.QubitUnitary(u, wires=[0, 1, 2, 3]), projectors)

    b2 = qml.matrix(bare, wire_order=[0, 1, 2, 3])()[:8, :8]
    np.testing.assert_allclose(b2.real, np.diag(poly(lam)), atol=1e-10)
    assert np.abs(b2.imag).max() > 0.1


def test_angle_convention_matches_pennylane_solver() -> None:
    # PennyLane's own angles (root-finding, fine at low degree) for the same odd polynomial give
    # the same real part of the QSVT block as ours.
    c = np.array([0.4, -0.2, 0.15])  # Chebyshev T1, T3, T5 coefficients
    full = np.zeros(6)
    full[1::2] = c
    mono = npcheb.cheb2poly(full)
    lam = np.array([0.8, -0.3, 0.45, -0.95])
    ours = _qsp.wx_to_qsvt_angles(_qsp.find_phases(c, "newton", 1e-12).phases)
    theirs = qml.poly_to_angles(mono, "QSVT")
    for angles in (ours, theirs):
        projectors = [qml.PCPhase(a, dim=4, wires=[0, 1, 2]) for a in angles]

        def f(angles: np.ndarray = angles, projectors: list = projectors) -> None:
            qml.QSVT(qml.BlockEncode(np.diag(lam), wires=[0, 1, 2]), projectors)

        blk = qml.matrix(f, wire_order=[0, 1, 2])()[:4, :4]
        np.testing.assert_allclose(np.diag(blk).real, npcheb.chebval(lam, full), atol=1e-9)


def test_block_encoding_is_not_rescaled() -> None:
    a = _spd(8, 5.0, seed=15)
    a /= np.linalg.norm(a, 2)
    # the pitfall: qml.BlockEncode divides by max(||AA^T||_inf, ...) > 1 although ||A||_2 = 1
    assert qml.BlockEncode(a, wires=range(4)).hyperparameters["norm"] > 1.0
    u = block_encoding_unitary(a)
    np.testing.assert_allclose(u[:8, :8], a, atol=1e-12)
    np.testing.assert_allclose(u @ u.conj().T, np.eye(16), atol=1e-10)


# --- errors -----------------------------------------------------------------------------------


def test_error_paths() -> None:
    s = QSVTCircuitSolver()
    h = _spd(4, 3.0, seed=16)
    with pytest.raises(ShapeError, match="`g`"):
        s.solve(h, np.ones(3))
    with pytest.raises(ShapeError, match="`g`"):
        s.solve(h, np.ones((4, 1)))
    with pytest.raises(ShapeError, match="`H`"):
        s.solve(np.ones((4, 3)), np.ones(4))
    bad = h.copy()
    bad[1, 2] = bad[2, 1] = np.nan
    with pytest.raises(NonFiniteError, match="`H`"):
        s.solve(bad, np.ones(4))
    with pytest.raises(NonFiniteError, match="`g`"):
        s.solve(h, np.array([1.0, np.inf, 0.0, 0.0]))
    asym = h.copy()
    asym[0, 1] += 0.1
    with pytest.raises(NotSymmetricError, match="`H`"):
        s.solve(asym, np.ones(4))
    with pytest.raises(SingularMatrixError, match="singular"):
        s.solve(np.diag([1.0, 2.0, 0.0, 3.0]), np.ones(4))
    with pytest.raises(SingularMatrixError):
        s.solve(np.zeros((3, 3)), np.ones(3))
    with pytest.raises(CircuitTooLargeError, match=str(MAX_CIRCUIT_N)):
        s.solve(np.eye(MAX_CIRCUIT_N + 1), np.ones(MAX_CIRCUIT_N + 1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"eps": 0.0}, {"eps": 0.7}, {"kappa": 0.5}, {"kappa": float("inf")}, {"degree_cap": 0},
        {"angle_solver": "root-finding"}, {"max_abs": 1.0}, {"shots": 0}, {"shots": 1.5},
        {"seed": "a"}, {"gate_time": -1.0}, {"gate_time": "warp"}, {"kappa_grid": -0.1}, {"device": ""},
    ],
)  # fmt: skip
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        QSVTCircuitConfig(**kwargs)


def test_config_and_kwargs_exclusive_and_unknown_device() -> None:
    with pytest.raises(InvalidArgumentError, match="not both"):
        QSVTCircuitSolver(QSVTCircuitConfig(), eps=1e-2)
    with pytest.raises(InvalidArgumentError, match="`device`"):
        QSVTCircuitSolver(device="no.such.device").solve(np.eye(2), np.ones(2))


def test_kappa_override_below_true_warns() -> None:
    h = _spd(4, 8.0, seed=17)
    with pytest.warns(IllConditionedWarning, match="kappa"):
        QSVTCircuitSolver(kappa=2.0, eps=1e-2).solve(h, np.ones(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, rep = QSVTCircuitSolver(kappa=12.0, eps=1e-2).solve(h, np.ones(4))
    assert rep.details["kappa_source"] == "override" and rep.details["kappa_used"] == 12.0


def test_missing_pennylane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pennylane", None)  # makes `import pennylane` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"qnewton\[quantum\]"):
        QSVTCircuitSolver().solve(np.eye(2), np.ones(2))
