"""Condition-number estimates against SVD ground truth in float64 and closed forms."""

import dataclasses
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import spd_with_spectrum
from qnewton.errors import InvalidArgumentError, NonFiniteError, NotPositiveDefiniteError, ShapeError
from qnewton.linalg import (
    CONDITION_METHODS,
    ConditionEstimate,
    estimate_condition,
    lanczos_extremes,
    register_condition_method,
    spectral_norm,
)


def true_kappa(a) -> float:
    return float(np.linalg.cond(np.asarray(a, dtype=np.float64), 2))


# --- Merikoski bound ---------------------------------------------------------------------------


def test_merikoski_pinned_value():
    # REFERENCE.md section 1: the public reference implementation returns NaN here.
    est = estimate_condition([[1, 2], [3, 4]], "merikoski")
    assert est.value == pytest.approx(14.933034373659265, rel=1e-12)
    assert est.upper_bound and est.method == "merikoski"


@pytest.mark.parametrize("seed", range(5))
def test_merikoski_exact_for_2x2(seed):
    a = np.random.default_rng(seed).standard_normal((2, 2))
    assert estimate_condition(a, "merikoski").value == pytest.approx(true_kappa(a), rel=1e-9)


@pytest.mark.parametrize("n", [3, 5, 12])
def test_merikoski_tight_case(rng, n):
    s1, sn = 7.0, 0.5
    s = np.full(n, math.sqrt((s1**2 + sn**2) / 2))
    s[0], s[-1] = s1, sn
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (u * s) @ v.T
    assert estimate_condition(a, "merikoski").value == pytest.approx(s1 / sn, rel=1e-8)


square = st.integers(2, 12).flatmap(
    lambda n: arrays(np.float64, (n, n), elements=st.floats(-10, 10, allow_nan=False, width=32))
)


@settings(max_examples=200, deadline=None)
@given(a=square)
def test_merikoski_never_below_true_kappa_and_never_nan(a):
    est = estimate_condition(a, "merikoski")
    assert not math.isnan(est.value) and not math.isnan(est.log_value)
    s = np.linalg.svd(a, compute_uv=False)
    if s[-1] > 1e-8 * s[0]:  # numerically nonsingular: compare with the truth
        assert est.value >= (s[0] / s[-1]) * (1 - 1e-7)


def test_merikoski_log_finite_when_value_overflows(rng):
    a = rng.standard_normal((1500, 1500))
    est = estimate_condition(a, "merikoski")
    assert est.value == math.inf
    assert math.isfinite(est.log_value) and est.log_value > 709
    assert est.log_value > math.log(true_kappa(a))


def test_merikoski_float32_spd_and_singular(rng):
    a = spd_with_spectrum(rng, np.linspace(1, 10, 50)).astype(np.float32)
    assert estimate_condition(a, "merikoski").value >= 10 * (1 - 1e-4)
    sing = np.ones((4, 4))
    est = estimate_condition(sing, "merikoski")
    assert est.value == math.inf and est.log_value == math.inf


# --- Gershgorin bound --------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    b=st.integers(2, 10).flatmap(lambda n: arrays(np.float64, (n, n + 3), elements=st.floats(-3, 3, width=32))),
    eps=st.floats(1e-3, 10),
)
def test_gershgorin_is_an_upper_bound_for_psd_plus_eps(b, eps):
    a = b @ b.T + eps * np.eye(b.shape[0])
    est = estimate_condition(a, "gershgorin", eps=eps)
    assert est.upper_bound
    assert est.value >= true_kappa(a) * (1 - 1e-9)


def test_gershgorin_closed_form():
    a = np.array([[5.0, -1.0, 2.0], [-1.0, 4.0, 0.0], [2.0, 0.0, 3.0]])
    rowsum, fro = 8.0, np.linalg.norm(a)
    assert estimate_condition(a, "gershgorin", eps=0.5).value == pytest.approx(min(rowsum, fro) / 0.5)
    assert estimate_condition(sp.csr_matrix(a), "gershgorin", eps=0.5).value == pytest.approx(min(rowsum, fro) / 0.5)


@pytest.mark.parametrize("eps", [None, 0.0, -1.0, float("nan")])
def test_gershgorin_requires_positive_eps(eps):
    with pytest.raises(InvalidArgumentError, match="eps"):
        estimate_condition(np.eye(3), "gershgorin", eps=eps)


# --- Lanczos -----------------------------------------------------------------------------------


def hessian_like_spectrum(rng, n, eps, negative=0.0):
    """Regularized-Hessian spectrum: a dense cluster near eps, a decaying bulk, a few outliers."""
    k1, k2 = int(0.6 * n), int(0.35 * n)
    lam = np.concatenate(
        [
            eps * rng.uniform(-0.02, 0.02, k1),
            rng.exponential(eps, k2),
            eps * np.logspace(0, 3, n - k1 - k2),
        ]
    )
    return eps + lam - negative


@pytest.mark.parametrize("n,eps", [(200, 1.0), (600, 1.0), (600, 0.01), (1000, 0.1)])
def test_lanczos_within_one_percent_on_regularized_hessian_spectra(rng, n, eps):
    ev = hessian_like_spectrum(rng, n, eps)
    a = spd_with_spectrum(rng, ev)
    est = estimate_condition(a, "lanczos")
    truth = ev.max() / ev.min()
    assert est.value == pytest.approx(truth, rel=1e-2)
    assert est.value <= truth * (1 + 1e-9)  # Ritz values lie inside the spectrum
    assert not est.upper_bound


@pytest.mark.parametrize("spectrum", [np.linspace(1, 50, 300), np.logspace(0, 4, 300), np.r_[np.ones(299), 1e3]])
def test_lanczos_on_classic_spectra(rng, spectrum):
    a = spd_with_spectrum(rng, spectrum)
    assert estimate_condition(a, "lanczos").value == pytest.approx(spectrum.max() / spectrum.min(), rel=1e-2)


def test_lanczos_matrix_free_forms_agree(rng):
    ev = hessian_like_spectrum(rng, 300, 0.5)
    a = spd_with_spectrum(rng, ev)
    dense = estimate_condition(a, "lanczos").value
    op = spla.aslinearoperator(a)
    assert estimate_condition(op, "lanczos").value == pytest.approx(dense, rel=1e-10)
    assert estimate_condition(lambda v: a @ v, "lanczos", n=300).value == pytest.approx(dense, rel=1e-10)
    assert estimate_condition(sp.csr_matrix(a), "lanczos").value == pytest.approx(dense, rel=1e-10)
    t = torch.from_numpy(a.astype(np.float32))
    assert estimate_condition(t, "lanczos").value == pytest.approx(dense, rel=1e-3)
    with pytest.raises(InvalidArgumentError, match="n="):
        estimate_condition(lambda v: a @ v, "lanczos")


def test_lanczos_rejects_indefinite(rng):
    a = spd_with_spectrum(rng, np.linspace(-1, 5, 100))
    with pytest.raises(NotPositiveDefiniteError, match="eps"):
        estimate_condition(a, "lanczos")


def test_lanczos_extremes_details(rng):
    ev = np.linspace(2, 9, 80)
    r = lanczos_extremes(spd_with_spectrum(rng, ev))
    assert r.converged
    assert r.lambda_min == pytest.approx(2, rel=1e-4) and r.lambda_max == pytest.approx(9, rel=1e-6)
    assert r.residual_min >= 0 and r.steps <= 80


def test_lanczos_nonfinite_matvec():
    with pytest.raises(NonFiniteError):
        lanczos_extremes(lambda v: v * np.nan, n=5)


# --- spectral norm -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [10, 400])
def test_spectral_norm(rng, n):
    a = rng.standard_normal((n, n))
    s = a + a.T
    assert spectral_norm(s) == pytest.approx(np.abs(np.linalg.eigvalsh(s)).max(), rel=1e-4)
    assert spectral_norm(a, symmetric=False) == pytest.approx(np.linalg.norm(a, 2), rel=1e-4)
    assert spectral_norm(sp.csr_matrix(s)) == pytest.approx(np.abs(np.linalg.eigvalsh(s)).max(), rel=1e-4)


# --- exact, dispatch, errors -------------------------------------------------------------------


def test_exact_matches_numpy(rng):
    a = rng.standard_normal((30, 30))
    est = estimate_condition(a, "exact")
    assert est.exact and est.value == pytest.approx(true_kappa(a), rel=1e-12)
    assert est.log_value == pytest.approx(math.log(true_kappa(a)), rel=1e-12)
    assert estimate_condition(np.diag([1.0, 0.0]), "exact").value == math.inf


def test_estimate_fields_and_timing(rng):
    est = estimate_condition(np.diag([1.0, 3.0]), "exact")
    assert isinstance(est, ConditionEstimate) and est.seconds >= 0.0 and float(est) == pytest.approx(3.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.value = 1.0  # type: ignore[misc]


def test_unknown_method_and_registry():
    with pytest.raises(InvalidArgumentError, match="method"):
        estimate_condition(np.eye(2), "magic")
    register_condition_method("identity", lambda A, **kw: ConditionEstimate(1.0, 0.0, "identity", False))
    try:
        assert estimate_condition(np.eye(2), "identity").value == 1.0
    finally:
        CONDITION_METHODS.pop("identity")


@pytest.mark.parametrize("method", ["exact", "merikoski", "lanczos"])
@pytest.mark.parametrize(
    "bad,err", [(np.ones((2, 3)), ShapeError), (np.array([[1.0, np.nan], [np.nan, 1.0]]), NonFiniteError)]
)
def test_bad_matrices(method, bad, err):
    with pytest.raises(err):
        estimate_condition(bad, method)
