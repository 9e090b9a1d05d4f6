import numpy as np
import pytest
import scipy.sparse as sp
import torch

from conftest import random_symmetric
from qnewton.errors import InvalidArgumentError, NonFiniteError, ShapeError
from qnewton.linalg import estimate_condition, regularization_shift, regularize


def test_adds_eps_identity_and_shifts_spectrum(rng):
    a = random_symmetric(rng, 30)
    r = regularize(a, 0.7)
    np.testing.assert_allclose(r, a + 0.7 * np.eye(30))
    np.testing.assert_allclose(np.linalg.eigvalsh(r), np.linalg.eigvalsh(a) + 0.7, atol=1e-12)
    assert r is not a and not np.shares_memory(r, a)


def test_relative_is_reference_variant(rng):
    a = random_symmetric(rng, 10)
    r = regularize(a, 5e-3, relative=True)
    np.testing.assert_allclose(r, a + 5e-3 * np.abs(a).max() * np.eye(10))
    assert regularization_shift(a, 5e-3, relative=True) == pytest.approx(5e-3 * np.abs(a).max())


def test_kinds_preserved(rng):
    a = random_symmetric(rng, 8, np.float32)
    t = regularize(torch.from_numpy(a), 1.0)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    s = regularize(sp.csr_matrix(a), 1.0)
    assert sp.issparse(s) and s.format == "csr"
    np.testing.assert_allclose(s.toarray(), a + np.eye(8), rtol=1e-6)


def test_regularization_reduces_kappa_of_psd_matrix(rng):
    b = rng.standard_normal((50, 10))
    h = b @ b.T  # rank 10: singular
    k1 = estimate_condition(regularize(h, 1e-3), "exact").value
    k2 = estimate_condition(regularize(h, 1.0), "exact").value
    assert k1 > 100 * k2


@pytest.mark.parametrize("eps", [0.0, -1.0, float("inf"), float("nan"), "1"])
def test_bad_eps(eps):
    with pytest.raises(InvalidArgumentError, match="`eps`"):
        regularize(np.eye(2), eps)


def test_bad_matrix():
    with pytest.raises(ShapeError):
        regularize(np.ones((2, 3)), 1.0)
    with pytest.raises(NonFiniteError):
        regularize(np.array([[np.nan]]), 1.0)
