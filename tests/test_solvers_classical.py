"""Classical route against numpy/scipy in float64."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import spd_with_spectrum
from qnewton.errors import (
    IndefiniteMatrixWarning,
    InvalidArgumentError,
    NonFiniteError,
    NotPositiveDefiniteError,
    NotSymmetricError,
    ShapeError,
    SingularMatrixError,
)
from qnewton.solvers import CholeskySolver, LinearSolver


@pytest.mark.parametrize("backend", ["scipy", "torch", "auto"])
@pytest.mark.parametrize("n", [1, 7, 120])
def test_spd_matches_numpy(rng, backend, n):
    h = spd_with_spectrum(rng, np.logspace(0, 3, n))
    g = rng.standard_normal(n)
    x, rep = CholeskySolver(backend=backend).solve(h, g)
    np.testing.assert_allclose(x, np.linalg.solve(h, g), rtol=1e-9, atol=1e-12)
    assert rep.route == "classical" and rep.modeled_seconds is None and rep.measured_seconds >= 0
    assert rep.residual < 1e-12 and rep.details["factorization"] == "cholesky" and rep.details["fallback"] is None


@settings(max_examples=60, deadline=None)
@given(
    b=st.integers(1, 12).flatmap(lambda n: arrays(np.float64, (n, n), elements=st.floats(-5, 5, width=32))),
    shift=st.floats(0.1, 10),
)
def test_property_solution_satisfies_system(b, shift):
    h = b @ b.T + shift * np.eye(b.shape[0])
    g = np.arange(1.0, b.shape[0] + 1)
    x, _rep = CholeskySolver().solve(h, g)
    np.testing.assert_allclose(h @ x, g, rtol=1e-7, atol=1e-7 * np.abs(g).max())


def test_multiple_rhs_float32_and_torch(rng):
    h = spd_with_spectrum(rng, np.linspace(1, 20, 30))
    gm = rng.standard_normal((30, 3))
    x, _ = CholeskySolver(backend="torch").solve(h, gm)
    np.testing.assert_allclose(x, np.linalg.solve(h, gm), rtol=1e-9)
    xt, _ = CholeskySolver().solve(
        torch.from_numpy(h.astype(np.float32)), torch.from_numpy(gm[:, 0].astype(np.float32))
    )
    assert isinstance(xt, torch.Tensor) and xt.dtype == torch.float32
    np.testing.assert_allclose(xt.numpy(), np.linalg.solve(h, gm[:, 0]), rtol=1e-4)
    xs, _ = CholeskySolver().solve(sp.csr_matrix(h), gm[:, 0])
    np.testing.assert_allclose(xs, np.linalg.solve(h, gm[:, 0]), rtol=1e-9)


def indefinite(rng, n=40):
    return spd_with_spectrum(rng, np.r_[-np.linspace(1, 3, 5), np.linspace(0.5, 8, n - 5)])


def test_indefinite_ldl_fallback_is_exact_newton_step(rng):
    h, g = indefinite(rng), rng.standard_normal(40)
    with pytest.warns(IndefiniteMatrixWarning, match="ldl"):
        x, rep = CholeskySolver().solve(h, g)
    np.testing.assert_allclose(x, np.linalg.solve(h, g), rtol=1e-9)
    assert rep.details["fallback"] == "ldl"


def test_indefinite_eigh_abs_fallback_is_saddle_free_descent(rng):
    h, g = indefinite(rng), rng.standard_normal(40)
    with pytest.warns(IndefiniteMatrixWarning):
        x, rep = CholeskySolver(indefinite="eigh-abs").solve(h, g)
    lam, v = np.linalg.eigh(h)
    np.testing.assert_allclose(x, v @ ((v.T @ g) / np.abs(lam)), rtol=1e-9)
    assert g @ x > 0  # a descent direction for the step -x
    assert rep.details["negative_eigenvalues"] == 5


def test_indefinite_raise(rng):
    with pytest.raises(NotPositiveDefiniteError, match="eps"):
        CholeskySolver(indefinite="raise").solve(indefinite(rng), np.ones(40))


def test_singular_is_typed():
    h = np.array([[1.0, 1.0], [1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndefiniteMatrixWarning)
        with pytest.raises(SingularMatrixError):
            CholeskySolver().solve(h, np.array([1.0, 0.0]))


@pytest.mark.parametrize(
    "h,g,err",
    [
        (np.eye(3), np.ones(4), ShapeError),
        (np.ones((2, 3)), np.ones(2), ShapeError),
        (np.eye(2), np.array([1.0, np.nan]), NonFiniteError),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), np.ones(2), NonFiniteError),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), np.ones(2), NotSymmetricError),
    ],
)
def test_bad_input(h, g, err):
    with pytest.raises(err):
        CholeskySolver().solve(h, g)


def test_config_validation_and_protocol():
    with pytest.raises(InvalidArgumentError):
        CholeskySolver(backend="magma")
    with pytest.raises(InvalidArgumentError):
        CholeskySolver(indefinite="ignore")
    assert isinstance(CholeskySolver(), LinearSolver)


def test_auto_backend_keeps_a_torch_block_on_torch_and_numpy_on_the_size_rule():
    """A torch block (a training step) is factored by torch's LAPACK, so one BLAS thread pool serves
    the whole step; numpy input keeps the measured size rule (scipy below TORCH_FROM_N). Same x."""
    from qnewton.solvers.classical import TORCH_FROM_N

    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 50))
    h = a @ a.T + 50 * np.eye(50)
    g = rng.standard_normal(50)
    x_t, rep_t = CholeskySolver().solve(torch.from_numpy(h), torch.from_numpy(g))
    x_n, rep_n = CholeskySolver().solve(h, g)
    assert rep_t.details["backend"] == "torch"
    assert rep_n.details["backend"] == ("torch" if 50 >= TORCH_FROM_N[h.dtype] else "scipy")
    np.testing.assert_allclose(np.asarray(x_t), np.linalg.solve(h, g), rtol=1e-10)
    np.testing.assert_allclose(x_n, np.linalg.solve(h, g), rtol=1e-10)
