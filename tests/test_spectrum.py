"""qnewton.spectrum: SLQ against dense eigvalsh and exact quadrature identities; dissipativity
verdicts against hand-built spectra; Hessian SLQ of a small model against its dense Hessian."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import spd_with_spectrum
from qnewton.errors import InvalidArgumentError, NonFiniteError, ShapeError
from qnewton.spectrum import (
    VERDICTS,
    DissipativityThresholds,
    RestrictedOperator,
    dense_hessian_eigenvalues,
    dissipativity,
    flat_parameters,
    gaussian_density,
    hessian_operator,
    hessian_slq,
    lanczos_tridiagonal,
    magnitude_mask,
    slq,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # small products: see conftest.one_thread


def _sym_with(eigs: np.ndarray, seed: int) -> np.ndarray:
    return spd_with_spectrum(np.random.default_rng(seed), np.asarray(eigs, dtype=np.float64))


# --- Lanczos and Gauss quadrature ------------------------------------------------------------


def test_full_lanczos_reproduces_eigenvalues() -> None:
    eigs = np.concatenate([np.linspace(-2.0, -0.5, 5), np.linspace(0.1, 3.0, 25)])
    A = _sym_with(eigs, 1)
    tri = lanczos_tridiagonal(lambda v: A @ v, np.random.default_rng(2).standard_normal(30), 30)
    nodes, weights = tri.quadrature()
    np.testing.assert_allclose(nodes, np.sort(eigs), atol=1e-9)
    # weights = squared components of the start vector along the eigenvectors
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(8, 40), k=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_gauss_quadrature_is_exact_up_to_degree_2k_minus_1(n: int, k: int, seed: int) -> None:
    """sum_i tau_i^2 theta_i^p = v^T A^p v / |v|^2 for p <= 2k - 1 (Golub-Meurant Thm 6.2)."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    A = (M + M.T) / (2 * math.sqrt(n))
    v = rng.standard_normal(n)
    tri = lanczos_tridiagonal(lambda x: A @ x, v, k)
    nodes, weights = tri.quadrature()
    u = v / np.linalg.norm(v)
    kk = tri.steps
    for p in range(0, 2 * kk):
        exact = u @ np.linalg.matrix_power(A, p) @ u
        assert weights @ nodes**p == pytest.approx(exact, rel=1e-7, abs=1e-9)


def test_breakdown_on_invariant_subspace() -> None:
    A = np.diag([1.0, 1.0, 2.0, 2.0])
    tri = lanczos_tridiagonal(lambda v: A @ v, np.ones(4), 4)
    assert tri.breakdown and tri.steps == 2
    np.testing.assert_allclose(tri.quadrature()[0], [1.0, 2.0], atol=1e-12)


def test_lanczos_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="`v0`"):
        lanczos_tridiagonal(lambda v: v, np.zeros(3), 2)
    with pytest.raises(NonFiniteError, match="`v0`"):
        lanczos_tridiagonal(lambda v: v, np.array([1.0, np.nan]), 2)
    with pytest.raises(NonFiniteError, match="NaN"):
        lanczos_tridiagonal(lambda v: v * np.nan, np.ones(3), 2)
    with pytest.raises(ShapeError):
        lanczos_tridiagonal(lambda v: np.ones(5), np.ones(3), 2)


# --- SLQ density against the dense spectrum --------------------------------------------------


def test_slq_density_matches_dense_spectrum() -> None:
    rng = np.random.default_rng(3)
    # a Hessian-like spectrum: a bulk near zero with both signs, a few large outliers
    eigs = np.concatenate([0.05 * rng.standard_normal(280), rng.uniform(-0.8, -0.3, 8), [2.0, 3.5, 5.0, 9.0]])
    A = _sym_with(eigs, 4)
    res = slq(A, num_probes=24, steps=60, seed=5)
    assert res.lambda_min == pytest.approx(eigs.min(), abs=1e-6)
    assert res.lambda_max == pytest.approx(eigs.max(), rel=1e-8)
    sigma = 0.02 * (eigs.max() - eigs.min())
    grid = np.linspace(eigs.min() - 5 * sigma, eigs.max() + 5 * sigma, 3001)
    _, phi = res.density(grid, sigma)
    ref = gaussian_density(eigs, np.full(eigs.size, 1 / eigs.size), grid, sigma)
    assert np.trapezoid(phi, grid) == pytest.approx(1.0, abs=1e-3)
    l1 = np.trapezoid(np.abs(phi - ref), grid)
    assert l1 < 0.15, l1
    # share of eigenvalues below -0.2 (the negative outlier group: 8 / 292)
    assert res.mass(hi=-0.2) == pytest.approx(8 / eigs.size, abs=0.03)
    # the trace estimate: tr(A)/n within the Hutchinson error of 24 Rademacher probes
    assert res.moment(1) == pytest.approx(eigs.mean(), abs=0.05)


def test_slq_with_k_equal_n_is_exact_per_probe() -> None:
    eigs = np.array([-1.0, 0.5, 2.0, 4.0, 7.0])
    res = slq(_sym_with(eigs, 6), num_probes=3, steps=10)
    for p in range(3):
        keep = res.weights[p] > 0
        np.testing.assert_allclose(np.sort(res.nodes[p][keep]), eigs, atol=1e-10)
    assert res.moment(2) == pytest.approx((eigs**2).mean(), rel=0.5)  # stochastic weights, exact nodes


def test_slq_accepts_sparse_operator_and_callable() -> None:
    A = sp.diags(np.arange(1.0, 101.0)).tocsr()
    r1 = slq(A, num_probes=2, steps=30, seed=1)
    r2 = slq(lambda v: A @ v, n=100, num_probes=2, steps=30, seed=1)
    np.testing.assert_allclose(r1.nodes, r2.nodes)
    assert r1.lambda_max == pytest.approx(100.0, rel=1e-4)
    with pytest.raises(InvalidArgumentError, match="`probe`"):
        slq(A, probe="uniform")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="`num_probes`"):
        slq(A, num_probes=0)
    with pytest.raises(InvalidArgumentError, match="`n=`"):
        slq(lambda v: v)


@settings(max_examples=20, deadline=None)
@given(
    centers=st.lists(st.floats(-5, 5), min_size=1, max_size=6),
    sigma=st.floats(0.05, 1.0),
)
def test_gaussian_density_integrates_to_one(centers: list[float], sigma: float) -> None:
    w = np.full(len(centers), 1.0 / len(centers))
    grid = np.linspace(-12, 12, 40001)
    assert np.trapezoid(gaussian_density(np.array(centers), w, grid, sigma), grid) == pytest.approx(1.0, abs=1e-6)


# --- dissipativity ---------------------------------------------------------------------------


def test_verdicts_on_built_spectra() -> None:
    assert dissipativity([0.5, 1.0, 2.0]).verdict == "fully dissipative"
    # flat lowest modes are marginal, never "fully"
    assert dissipativity([0.0, 1.0, 2.0]).verdict == "almost dissipative"
    weak = dissipativity(np.array([-0.02, 0.5, 1.0, 2.0]))
    assert weak.verdict == "almost dissipative"
    assert weak.negative_weight == pytest.approx(0.02 / 3.52)
    assert weak.negative_mass == pytest.approx(0.25)
    # a large negative ratio fails "almost"
    strong = dissipativity([-0.5, 1.0, 2.0])
    assert strong.verdict == "not dissipative" and "lambda_min" in strong.reason
    # many small negative modes: the weight fails, the ratio passes
    many = dissipativity(np.concatenate([np.full(50, -0.05), [1.0]]))
    assert many.verdict == "not dissipative" and "negative weight" in many.reason
    assert VERDICTS == ("fully dissipative", "almost dissipative", "not dissipative")


def test_growth_criterion_uses_eta_and_horizon() -> None:
    spec = [-0.02, 1.0, 2.0]
    assert dissipativity(spec, eta=0.1, horizon=100).verdict == "almost dissipative"  # 0.1*0.02*100 = 0.2
    rep = dissipativity(spec, eta=0.1, horizon=1000)  # 2.0 > 1
    assert rep.verdict == "not dissipative" and "eta" in rep.reason
    assert rep.growth_per_step == pytest.approx(1.002)
    assert rep.window_growth == pytest.approx(1.002**1000)
    assert rep.stable
    full = dissipativity([0.5, 1.0], eta=0.5)
    assert full.growth_per_step == pytest.approx(0.75)  # max(|1 - 0.25|, |1 - 0.5|)
    assert not dissipativity([0.5, 10.0], eta=0.5).stable


def test_dissipativity_from_slq_matches_dense() -> None:
    eigs = np.concatenate([np.linspace(0.01, 1.0, 150), np.linspace(-0.03, -0.01, 10), [6.0]])
    dense = dissipativity(eigs)
    res = slq(_sym_with(eigs, 7), num_probes=16, steps=60, seed=3)
    est = dissipativity(res)
    assert est.verdict == dense.verdict == "almost dissipative"
    assert est.lambda_min == pytest.approx(dense.lambda_min, abs=1e-6)
    assert est.negative_weight == pytest.approx(dense.negative_weight, abs=0.01)


def test_dissipativity_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="`eta`"):
        dissipativity([1.0], eta=0.0)
    with pytest.raises(InvalidArgumentError, match="`horizon`"):
        dissipativity([1.0], eta=0.1, horizon=0)
    with pytest.raises(NonFiniteError):
        dissipativity([1.0, np.nan])
    with pytest.raises(InvalidArgumentError, match="empty"):
        dissipativity([])
    with pytest.raises(InvalidArgumentError, match="`zero_tol`"):
        DissipativityThresholds(zero_tol=-1.0)


# --- Hessian of a model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tanh_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 10), nn.Tanh(), nn.Linear(10, 3)).double()
    x = torch.randn(64, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (64,))
    return model, (x, y)


def test_hessian_slq_matches_dense_hessian(tanh_model) -> None:
    model, batch = tanh_model
    lam = dense_hessian_eigenvalues(model, batch)
    res = hessian_slq(model, batch, num_probes=12, steps=50, seed=1)
    assert res.n == lam.size == sum(p.numel() for p in model.parameters())
    assert res.lambda_min == pytest.approx(lam.min(), abs=1e-6 * abs(lam).max())
    assert res.lambda_max == pytest.approx(lam.max(), rel=1e-8)
    sigma = res.default_sigma()
    grid = np.linspace(lam.min() - 5 * sigma, lam.max() + 5 * sigma, 2001)
    l1 = np.trapezoid(
        np.abs(res.density(grid, sigma)[1] - gaussian_density(lam, np.full(lam.size, 1 / lam.size), grid, sigma)), grid
    )
    assert l1 < 0.3, l1
    assert dissipativity(res).negative_weight == pytest.approx(dissipativity(lam).negative_weight, abs=0.03)
    # the dense Hessian of this loss is the autograd Hessian
    params = [p for p in model.parameters()]
    flat = torch.tensor(flat_parameters(model))

    def loss_of(t):
        chunks, i = [], 0
        for p in params:
            chunks.append(t[i : i + p.numel()].reshape(p.shape))
            i += p.numel()
        h = torch.tanh(batch[0] @ chunks[0].T + chunks[1])
        return nn.functional.cross_entropy(h @ chunks[2].T + chunks[3], batch[1])

    H = torch.autograd.functional.hessian(loss_of, flat).numpy()
    np.testing.assert_allclose(np.linalg.eigvalsh((H + H.T) / 2), lam, atol=1e-10)


def test_restricted_operator_and_mask(tanh_model) -> None:
    model, batch = tanh_model
    mask = magnitude_mask(model, 0.3)
    weights = [p for p in model.parameters() if p.ndim > 1]
    n_w = sum(p.numel() for p in weights)
    n_b = sum(p.numel() for p in model.parameters() if p.ndim == 1)
    assert mask.sum() == round(0.3 * n_w) + n_b
    kept_w = np.abs(flat_parameters(model))[mask & ~_bias_mask(model)]
    dropped = np.abs(flat_parameters(model))[~mask]
    assert kept_w.min() >= dropped.max()
    op = hessian_operator(model, batch)
    H = op @ np.eye(op.shape[0])
    idx = np.flatnonzero(mask)
    R = RestrictedOperator(op, mask)
    np.testing.assert_allclose(R @ np.eye(idx.size), H[np.ix_(idx, idx)], atol=1e-12)
    lam = dense_hessian_eigenvalues(model, batch, mask=mask)
    np.testing.assert_allclose(lam, np.linalg.eigvalsh((H[np.ix_(idx, idx)] + H[np.ix_(idx, idx)].T) / 2), atol=1e-10)
    with pytest.raises(InvalidArgumentError, match="`mask`"):
        RestrictedOperator(op, np.zeros(op.shape[0], bool))
    with pytest.raises(ShapeError):
        RestrictedOperator(op, np.ones(3, bool))


def _bias_mask(model) -> np.ndarray:
    return np.concatenate([np.full(p.numel(), p.ndim == 1) for p in model.parameters()])
