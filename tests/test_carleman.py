"""qnewton.carleman: the Carleman map against explicit Kronecker sums, the block system against the
truncated recursion, K = 1 against linearized GD, convergence in K against exact GD, the solvers
against each other, polynomial gradients against autograd, the cost model against built systems."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qnewton.carleman import (
    CarlemanScaling,
    PolynomialGradient,
    PrunedLinearNet,
    binary_digits,
    carleman_map,
    carleman_nnz_bound,
    carleman_sparsity,
    carleman_system,
    carleman_training,
    condition_number,
    download,
    gradient_descent,
    hermitian_embedding,
    kron_power,
    lift,
    pretrain_dense,
    price_carleman_system,
    ridge_polynomial,
    solve_carleman,
)
from qnewton.cost import max_row_nnz, tomography_copies
from qnewton.errors import CircuitTooLargeError, InvalidArgumentError, NonFiniteError, ShapeError

pytestmark = pytest.mark.usefixtures("one_thread")  # small products: see conftest.one_thread


def _random_poly(n: int, m: int, seed: int, scale: float = 0.3, f0: bool = True) -> PolynomialGradient:
    rng = np.random.default_rng(seed)
    terms = [scale * rng.standard_normal(n) if f0 else None]
    terms.append(np.eye(n) + scale * rng.standard_normal((n, n)))
    for j in range(2, m + 1):
        terms.append(scale * rng.standard_normal((n, n**j)))
    return PolynomialGradient(terms)


def _reference_blocks(grad: PolynomialGradient, eta: float, K: int) -> dict[tuple[int, int], np.ndarray]:
    """A_{k,l} = sum over (j_1..j_k) with sum l of G_{j1} (x) ... (x) G_{jk}, by brute-force enumeration."""
    n, m = grad.n, grad.degree
    G = {0: -eta * grad.term(0).toarray().reshape(n, 1), 1: np.eye(n) - eta * grad.term(1).toarray()}
    for j in range(2, m + 1):
        G[j] = -eta * grad.term(j).toarray()
    blocks: dict[tuple[int, int], np.ndarray] = {}
    for k in range(1, K + 1):
        for js in itertools.product(range(m + 1), repeat=k):
            l = sum(js)
            if l > K:
                continue
            M = np.ones((1, 1))
            for j in js:
                M = np.kron(M, G[j])
            blocks[(k, l)] = blocks.get((k, l), 0) + M
    return blocks


# --- the one-step map --------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "m", "K"), [(2, 3, 3), (3, 2, 2), (1, 3, 4), (2, 1, 3)])
def test_carleman_blocks_equal_explicit_kronecker_sums(n: int, m: int, K: int) -> None:
    grad = _random_poly(n, m, seed=10 * n + m)
    eta = 0.17
    cm = carleman_map(grad, eta, K)
    ref = _reference_blocks(grad, eta, K)
    assert cm.size == sum(n**k for k in range(1, K + 1))
    for k in range(1, K + 1):
        for l in range(1, K + 1):
            expect = ref.get((k, l), np.zeros((n**k, n**l)))
            np.testing.assert_allclose(cm.block(k, l).toarray(), expect, atol=1e-14)
        np.testing.assert_allclose(cm.b[cm.offsets[k - 1] : cm.offsets[k]], ref[(k, 0)].reshape(-1), atol=1e-15)


def test_discrete_map_contains_eta_squared_terms() -> None:
    n, eta = 2, 0.3
    grad = _random_poly(n, 2, seed=3)
    F0, F1, F2 = (grad.term(j).toarray() for j in range(3))
    F0 = F0.reshape(n, 1)
    A22 = carleman_map(grad, eta, 2).block(2, 2).toarray()
    G1 = np.eye(n) - eta * F1
    np.testing.assert_allclose(A22, np.kron(G1, G1) + eta**2 * (np.kron(F0, F2) + np.kron(F2, F0)), atol=1e-14)
    # the eta^2 F1 (x) F1 term is there, and is what eta_order=1 drops
    first = carleman_map(grad, eta, 2, eta_order=1).block(2, 2).toarray()
    np.testing.assert_allclose(
        first, np.eye(n * n) - eta * (np.kron(F1, np.eye(n)) + np.kron(np.eye(n), F1)), atol=1e-14
    )
    np.testing.assert_allclose(A22 - first, eta**2 * (np.kron(F1, F1) + np.kron(F0, F2) + np.kron(F2, F0)), atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), K=st.integers(1, 3), seed=st.integers(0, 1000), eta=st.floats(0.01, 0.5))
def test_affine_update_lifts_exactly(n: int, K: int, seed: int, eta: float) -> None:
    """For a degree-1 gradient nothing is truncated: lift(G(delta)) = A lift(delta) + b exactly."""
    grad = _random_poly(n, 1, seed)
    cm = carleman_map(grad, eta, K)
    delta = np.random.default_rng(seed + 1).standard_normal(n)
    updated = delta - eta * grad(delta)
    np.testing.assert_allclose(cm.step(lift(delta, K)), lift(updated, K), rtol=1e-12, atol=1e-12)


def test_first_row_is_exact_for_the_parameters() -> None:
    """y_1(t+1) = A_{1,.} y(t) + b_1 reproduces GD exactly when K >= m (nothing of order <= K dropped)."""
    grad = _random_poly(2, 3, seed=8)
    cm = carleman_map(grad, 0.2, 3)
    delta = np.array([0.3, -0.4])
    np.testing.assert_allclose(cm.step(lift(delta, 3))[:2], delta - 0.2 * grad(delta), atol=1e-14)


def test_nnz_bound_is_an_upper_bound() -> None:
    for n, m, K in [(2, 3, 3), (3, 2, 3), (4, 3, 2)]:
        grad = _random_poly(n, m, seed=n + K)
        assert carleman_map(grad, 0.1, K).A.nnz <= carleman_nnz_bound(grad, K)


# --- the T-step system and K convergence ---------------------------------------------------------


def test_block_system_solution_is_the_truncated_recursion() -> None:
    grad = _random_poly(2, 2, seed=4)
    cm = carleman_map(grad, 0.1, 2)
    theta0 = np.array([0.2, -0.1])
    system = carleman_system(cm, theta0, 6, idle=3)
    sol = solve_carleman(system, "direct")
    y = cm.lift(theta0)
    for t in range(7):
        np.testing.assert_allclose(sol.Y[t], y, atol=1e-13)
        y = cm.step(y)
    for t in range(7, 10):  # idle copies of the final state
        np.testing.assert_allclose(sol.Y[t], sol.Y[6], atol=1e-13)
    np.testing.assert_allclose(sol.theta, cm.iterate(theta0, 6), atol=1e-13)
    assert sol.residual < 1e-13
    L = system.L.toarray()
    N = cm.size
    np.testing.assert_allclose(np.diag(L), 1.0)
    np.testing.assert_allclose(L[N : 2 * N, :N], -cm.A.toarray())
    np.testing.assert_allclose(L[8 * N : 9 * N, 7 * N : 8 * N], -np.eye(N))


@pytest.mark.parametrize("solver", ["direct", "cholesky", "emulated"])
def test_K1_equals_linearized_gradient_descent(solver: str) -> None:
    grad = _random_poly(3, 3, seed=5).recenter(np.array([0.1, 0.0, -0.2]))
    c = grad.center
    F0, F1 = grad.term(0).toarray().reshape(-1), grad.term(1).toarray()
    eta, T = 0.15, 12
    theta = np.array([0.3, -0.1, 0.05])
    expected = [theta]
    for _ in range(T):
        theta = theta - eta * (F0 + F1 @ (theta - c))
        expected.append(theta)
    sol = solve_carleman(carleman_system(carleman_map(grad, eta, 1), expected[0], T), solver)
    np.testing.assert_allclose(sol.theta, np.array(expected), atol=1e-8 if solver == "emulated" else 1e-12)


def test_error_shrinks_as_K_grows_on_a_dissipative_example() -> None:
    grad, _ = ridge_polynomial([0.5, 1.0, 1.5], cubic=0.5, quartic=0.3, seed=1)
    theta0 = np.array([0.2, -0.15, 0.1])
    eta, T = 0.1, 25
    exact = gradient_descent(grad, theta0, eta, T)
    errors = []
    for K in (1, 2, 3, 4):
        sol = solve_carleman(carleman_system(carleman_map(grad, eta, K), theta0, T))
        errors.append(float(np.abs(sol.theta - exact).max()))
    assert all(b < a for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < errors[0] / 50, errors


def test_error_grows_with_T_and_when_not_dissipative() -> None:
    theta0 = np.array([0.2, -0.15, 0.1])

    def err(eigs, T):
        g, _ = ridge_polynomial(eigs, cubic=0.5, quartic=0.3, seed=1)
        exact = gradient_descent(g, theta0, 0.1, T)
        sol = solve_carleman(carleman_system(carleman_map(g, 0.1, 2), theta0, T))
        return float(np.linalg.norm(sol.theta - exact, axis=1).max())

    # dissipative: the error is made early and then decays with the trajectory (it saturates in T)
    assert err([0.5, 1.0, 1.5], 40) == pytest.approx(err([0.5, 1.0, 1.5], 5), rel=0.5)
    # not dissipative: it keeps growing with T, and is larger than the dissipative one
    assert err([-0.3, 1.0, 1.5], 40) > 3 * err([-0.3, 1.0, 1.5], 5)
    assert err([0.5, 1.0, 1.5], 30) < err([-0.3, 1.0, 1.5], 30)


# --- solvers ---------------------------------------------------------------------------------------


def test_hermitian_embedding_keeps_the_singular_values() -> None:
    grad = _random_poly(2, 2, seed=2)
    system = carleman_system(carleman_map(grad, 0.2, 2), [0.1, 0.2], 3)
    E = hermitian_embedding(system.L).toarray()
    np.testing.assert_array_equal(E, E.T)
    s = np.linalg.svd(system.L.toarray(), compute_uv=False)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(E)), np.sort(np.concatenate([s, -s])), atol=1e-12)
    cond = condition_number(system.L)
    assert cond.kappa == pytest.approx(s[0] / s[-1], rel=1e-12)
    lanczos = condition_number(system.L, exact_max=0)
    assert lanczos.kappa == pytest.approx(cond.kappa, rel=1e-4)


def test_solvers_agree_and_quantum_routes_are_priced() -> None:
    grad, _ = ridge_polynomial([0.5, 1.0], cubic=0.4, quartic=0.2, seed=2)
    system = carleman_system(carleman_map(grad, 0.1, 2), [0.2, -0.1], 8)
    ref = solve_carleman(system, "direct")
    assert ref.form == "direct" and ref.cost is None
    chol = solve_carleman(system, "cholesky")
    assert chol.form == "normal" and chol.report.solver == "cholesky"
    np.testing.assert_allclose(chol.theta, ref.theta, atol=1e-11)
    emu = solve_carleman(system, "emulated")
    assert emu.form == "embedding" and emu.report.route == "quantum"
    np.testing.assert_allclose(emu.theta, ref.theta, atol=1e-8)
    assert emu.facts["embedding_u_norm"] < 1e-8
    E = hermitian_embedding(system.L)
    assert emu.facts["d"] == max_row_nnz(E)
    assert emu.facts["kappa"] == pytest.approx(condition_number(system.L).kappa)
    assert emu.report.modeled_seconds == pytest.approx(float(emu.cost.seconds))
    noisy = solve_carleman(system, "emulated-noisy", seed=3)
    diff = np.abs(noisy.theta - ref.theta).max()
    assert 0 < diff < 0.5 * np.abs(ref.theta).max()


def test_circuit_backend_on_a_tiny_system() -> None:
    pytest.importorskip("pennylane")
    grad = PolynomialGradient([None, np.array([[1.0]]), np.array([[0.5]])])
    system = carleman_system(carleman_map(grad, 0.2, 2), [0.5], 3)
    assert system.size == 8
    ref = solve_carleman(system, "direct")
    sol = solve_carleman(system, "circuit")
    assert sol.form == "embedding" and sol.report.solver == "qsvt-circuit"
    cos = float(sol.Y.ravel() @ ref.Y.ravel() / (np.linalg.norm(sol.Y) * np.linalg.norm(ref.Y)))
    assert cos > 0.999
    np.testing.assert_allclose(sol.theta, ref.theta, atol=5e-3)


def test_circuit_refuses_large_systems_and_other_errors() -> None:
    grad = _random_poly(2, 2, seed=1)
    system = carleman_system(carleman_map(grad, 0.1, 2), [0.1, 0.1], 30)  # 186 unknowns: embedding 372 > 256
    with pytest.raises(CircuitTooLargeError, match="embedding"):
        solve_carleman(system, "circuit")
    with pytest.raises(InvalidArgumentError, match="`solver`"):
        solve_carleman(system, "gauss-seidel")
    with pytest.raises(InvalidArgumentError, match="`system`"):
        solve_carleman(system.L, "direct")


# --- argument errors ---------------------------------------------------------------------------------


def test_typed_errors_name_the_argument() -> None:
    grad = _random_poly(2, 2, seed=1)
    for K in (0, 9, 2.5):
        with pytest.raises(InvalidArgumentError, match="`K`"):
            carleman_map(grad, 0.1, K)  # type: ignore[arg-type]
    for eta in (0.0, -0.1, math.nan, math.inf):
        with pytest.raises(InvalidArgumentError, match="`eta`"):
            carleman_map(grad, eta, 2)
    with pytest.raises(InvalidArgumentError, match="PolynomialGradient"):
        carleman_map(np.eye(2), 0.1, 2)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="max_nnz"):
        carleman_map(grad, 0.1, 3, max_nnz=100)
    cm = carleman_map(grad, 0.1, 2)
    with pytest.raises(InvalidArgumentError, match="`T`"):
        carleman_system(cm, [0.1, 0.1], 0)
    with pytest.raises(NonFiniteError, match="`theta0`"):
        carleman_system(cm, [np.nan, 0.1], 3)
    with pytest.raises(ShapeError, match="`theta0`"):
        carleman_system(cm, [0.1], 3)
    with pytest.raises(NonFiniteError, match="F_1"):
        PolynomialGradient([None, np.array([[np.inf]])])
    with pytest.raises(ShapeError, match="F_2"):
        PolynomialGradient([None, np.eye(2), np.ones((2, 3))])
    with pytest.raises(InvalidArgumentError, match="degree"):
        PolynomialGradient([None, np.eye(1), *([np.ones((1, 1))] * 6)])
    with pytest.raises(NonFiniteError, match="eta"):
        gradient_descent(PolynomialGradient([None, None, None, np.array([[-1.0]])]), [1.0], 1.0, 50)


# --- polynomial gradients ------------------------------------------------------------------------------


def test_evaluation_jacobian_and_recentering() -> None:
    grad = _random_poly(3, 3, seed=11)
    x = np.array([0.3, -0.2, 0.5])
    manual = sum(grad.term(j) @ kron_power(x, j) for j in range(4))
    np.testing.assert_allclose(grad(x), manual, atol=1e-14)
    h = 1e-6
    fd = np.column_stack([(grad(x + h * e) - grad(x - h * e)) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(grad.jacobian(x), fd, atol=1e-7)
    c = np.array([1.0, -0.5, 0.25])
    moved = grad.recenter(c)
    rng = np.random.default_rng(0)
    for _ in range(5):
        z = rng.standard_normal(3)
        np.testing.assert_allclose(moved(z), grad(z), atol=1e-12)
        np.testing.assert_allclose(moved.jacobian(z), grad.jacobian(z), atol=1e-11)
    np.testing.assert_allclose(moved.term(0).toarray().ravel(), grad(c), atol=1e-13)
    np.testing.assert_allclose(moved.term(1).toarray(), grad.jacobian(c), atol=1e-12)


def test_ridge_polynomial_is_the_gradient_of_its_loss() -> None:
    grad, loss = ridge_polynomial([0.5, -0.2, 1.0], cubic=0.7, quartic=0.4, seed=3)
    x = np.array([0.4, -0.3, 0.2])
    h = 1e-6
    fd = np.array([(loss(x + h * e) - loss(x - h * e)) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(grad(x), fd, atol=1e-8)
    np.testing.assert_allclose(np.linalg.eigvalsh(grad.jacobian(np.zeros(3))), [-0.2, 0.5, 1.0], atol=1e-12)


def test_from_loss_matches_autograd_and_rejects_non_polynomial_models() -> None:
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((20, 3)))
    y = torch.tensor(rng.standard_normal(20))

    def poly_loss(t):  # (w . x)^2-model under the squared loss: degree 4 in t
        return 0.5 * (((X @ t) ** 2 - y) ** 2).mean()

    c = np.array([0.2, -0.1, 0.3])
    grad = PolynomialGradient.from_loss(poly_loss, c, 3)
    assert grad.degree == 3
    for _ in range(3):
        z = c + rng.standard_normal(3)
        t = torch.tensor(z, requires_grad=True)
        (g,) = torch.autograd.grad(poly_loss(t), t)
        np.testing.assert_allclose(grad(z), g.numpy(), rtol=1e-10, atol=1e-12)

    def tanh_loss(t):
        return 0.5 * ((torch.tanh(X @ t) - y) ** 2).mean()

    with pytest.raises(InvalidArgumentError, match="not a polynomial"):
        PolynomialGradient.from_loss(tanh_loss, c, 3)
    with pytest.raises(InvalidArgumentError, match="not a polynomial"):
        PolynomialGradient.from_loss(poly_loss, c, 2)  # degree too low
    with pytest.raises(InvalidArgumentError, match="`degree`"):
        PolynomialGradient.from_loss(poly_loss, c, 0)


def test_pruned_linear_net_and_its_polynomial_gradient() -> None:
    data = binary_digits(4, 9)
    W1, w2, b2 = pretrain_dense(data, 2, steps=0)
    W1b, w2b, b2b = pretrain_dense(data, 2, steps=1, lr=0.05)
    full = PrunedLinearNet(np.ones((2, 64), dtype=bool), data)
    theta = full.pack(W1, w2, b2)
    np.testing.assert_allclose(full.pack(W1b, w2b, b2b), theta - 0.05 * full.gradient(theta), atol=1e-12)
    mask = PrunedLinearNet.magnitude_mask(W1, 5)
    net = PrunedLinearNet(mask, data, weight_decay=1e-2)
    assert net.n == 5 + 2 + 1 and len(net.names) == net.n
    th = net.pack(W1, w2, b2)
    grad = PolynomialGradient.from_loss(net.loss, th, 3)
    z = th + 0.3 * np.random.default_rng(1).standard_normal(net.n)
    np.testing.assert_allclose(grad(z), net.gradient(z), rtol=1e-9, atol=1e-12)
    assert 0.0 <= net.accuracy(th) <= 1.0


# --- readout, training windows, cost model ----------------------------------------------------------------


def test_download_statistics() -> None:
    rng = np.random.default_rng(0)
    x = np.array([0.3, -0.4, 0.1, 0.05])
    exact = download(x, 2.0, rng=rng, copies=0, norm_precision=1e-9)
    np.testing.assert_allclose(exact.estimate, x, rtol=1e-8)
    assert exact.postselection_probability == pytest.approx(np.dot(x, x) / 4.0)
    d = download(x, 1.0, rng=rng, delta=0.1, multiplicity=3)
    assert d.copies_per_stage == math.ceil(tomography_copies(4, 0.1, stages=1))
    assert d.postselection_probability == pytest.approx(3 * np.dot(x, x))
    assert 0 < d.relative_error < 0.1
    with pytest.raises(InvalidArgumentError, match="`total_norm`"):
        download(x, 0.1, rng=rng)


def test_training_windows_track_gradient_descent() -> None:
    grad, _ = ridge_polynomial([0.5, 1.0], cubic=0.3, quartic=0.2, seed=0)
    H = grad.term(1).toarray()
    F2 = torch.tensor(grad.term(2).toarray())
    F3 = torch.tensor(grad.term(3).toarray())
    Ht = torch.tensor(H)

    def loss(t):  # the same loss as a torch function: 1/2 t^T H t + (1/3) t.F2(t,t) + (1/4) t.F3(t,t,t)
        return 0.5 * t @ Ht @ t + (t @ (F2 @ torch.kron(t, t))) / 3 + (t @ (F3 @ torch.kron(torch.kron(t, t), t))) / 4

    theta0 = np.array([0.3, -0.2])
    res = carleman_training(loss, theta0, eta=0.1, window=5, windows=3, K=2, solver="direct", delta=0.05, seed=1)
    exact = gradient_descent(grad, theta0, 0.1, 15)
    assert len(res.windows) == 3 and res.trajectory.shape == (4, 2)
    assert np.linalg.norm(res.theta - exact[-1]) < 0.02
    for w in res.windows:
        assert len(w.in_window_error) == 6 and w.in_window_error[0] == pytest.approx(0.0, abs=1e-14)
        assert w.modeled_seconds_solve is not None and w.modeled_seconds_end_to_end > w.modeled_seconds_solve
        assert w.dissipativity["verdict"] == "fully dissipative"


def test_sparsity_model_bounds_built_systems() -> None:
    grad = _random_poly(3, 2, seed=6)
    for K in (1, 2, 3):
        A = carleman_map(grad, 0.1, K).A
        rows = np.diff(A.indptr).max()
        cols = np.diff(A.tocsc().indptr).max()
        n = 3
        r, c = carleman_sparsity(K, 2, [1, n, n**2], [n, n, n])
        assert rows <= r and cols <= c
        system = carleman_system(carleman_map(grad, 0.1, K), [0.1, 0.1, 0.1], 4, idle=4)
        _, facts = price_carleman_system(system)
        model = CarlemanScaling(degree=2, K=K, row_sparsity=n, gradient_sparsity=n)
        assert facts["d"] <= model.sparsity(n)


def test_scaling_model_shapes() -> None:
    sparse = CarlemanScaling(K=3, row_sparsity=10, gradient_sparsity=10)
    dense = CarlemanScaling(K=3, row_sparsity=10, gradient_sparsity=None)
    a, b = sparse.estimate(1e6, 100), sparse.estimate(1e12, 100)
    assert a["d"] == b["d"] and a["queries"] == b["queries"]  # polylog n: only the qubit count grows
    assert b["qubits"] > a["qubits"]
    assert dense.estimate(1e12, 100)["d"] > 1e6 * dense.estimate(1e6, 100)["d"] / 1e7  # d grows with n
    full, almost = sparse.estimate(1e6, 1000, "full"), sparse.estimate(1e6, 1000, "almost")
    assert almost["kappa"] / full["kappa"] == pytest.approx((2001 * 2002) / (2 * 2001))
    ratio = sparse.estimate(1e6, 1000)["queries"] / sparse.estimate(1e6, 100)["queries"]
    assert 10 < ratio < 16  # O(T), times Jennings' log(kappa) factor
    assert a["modeled_seconds_end_to_end"] > a["modeled_seconds_solve"]
    with pytest.raises(InvalidArgumentError, match="`regime`"):
        CarlemanScaling.kappa(10, "none")  # type: ignore[arg-type]


def test_sparse_system_is_sparse() -> None:
    """A model with a diagonal Hessian and no coupling keeps the Carleman matrix sparse."""
    n = 6
    grad = PolynomialGradient([None, sp.diags(np.linspace(0.5, 1.5, n)), None, None])
    cm = carleman_map(grad, 0.1, 3)
    assert cm.A.nnz == cm.size  # diagonal: (1 - eta lambda_i)(1 - eta lambda_j)...
