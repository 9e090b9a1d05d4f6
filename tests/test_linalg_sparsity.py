"""p%-sparsity and oracle sparsity against a sort + cumsum reference in float64."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qnewton.errors import InvalidArgumentError, NonFiniteError, ShapeError
from qnewton.linalg import oracle_sparsity, quantum_sparsity, row_nnz


def reference(a: np.ndarray, p: float) -> np.ndarray:
    out = []
    for row in np.abs(np.asarray(a, dtype=np.float64)):
        vals = np.sort(row)[::-1]
        total = vals.sum()
        if total == 0:
            out.append(0)
            continue
        csum = np.cumsum(vals)
        hit = csum >= p * total
        # cumsum and sum round differently: at p = 1 the running sum can stay a hair short
        out.append(int(np.argmax(hit)) + 1 if hit.any() else int(np.count_nonzero(vals)))
    return np.array(out)


def assert_minimal(a: np.ndarray, p: float, k: np.ndarray) -> None:
    """k is the fewest count reaching p of the row total, up to float64 rounding of the sums."""
    for row, ki in zip(np.abs(a.astype(np.float64)), k):
        vals = np.sort(row)[::-1]
        target = p * vals.sum()
        if target == 0:
            assert ki == 0
            continue
        tol = 1e-12 * vals.sum()
        assert vals[:ki].sum() >= target - tol
        assert ki == 0 or vals[: ki - 1].sum() < target + tol


@pytest.mark.parametrize("p", [0.5, 0.75, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("shape,dtype", [((50, 50), np.float64), ((300, 300), np.float32), ((20, 700), np.float64)])
def test_matches_sort_cumsum(rng, p, shape, dtype):
    a = (rng.standard_normal(shape) * np.exp(2 * rng.standard_normal(shape))).astype(dtype)
    a[rng.random(shape) < 0.2] = 0
    k = quantum_sparsity(a, p)
    assert k.dtype == np.int64 and k.shape == (shape[0],)
    assert_minimal(a, p, k)
    ref = reference(a, p)
    assert np.mean(k == ref) > 0.99  # identical except where float rounding sits on the boundary


def test_closed_forms():
    a = np.array([[4.0, -3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0, 0, 0, 7.0]])
    np.testing.assert_array_equal(quantum_sparsity(a, 0.5), [2, 2, 0, 1])
    np.testing.assert_array_equal(quantum_sparsity(a, 1.0), [4, 4, 0, 1])
    np.testing.assert_array_equal(quantum_sparsity(a, 0.1), [1, 1, 0, 1])
    np.testing.assert_array_equal(quantum_sparsity(a, [0.5, 1.0]), [[2, 4], [2, 4], [0, 0], [1, 1]])


def test_uniform_row_needs_ceil_pn():
    n = 1000
    k = quantum_sparsity(np.ones((3, n)), [0.5, 0.75, 0.9, 0.95])
    np.testing.assert_array_equal(k[0], [500, 750, 900, 950])


@settings(max_examples=150, deadline=None)
@given(
    a=st.integers(1, 8).flatmap(lambda r: arrays(np.float64, (r, 30), elements=st.floats(-1e3, 1e3, width=32))),
    p=st.floats(0.01, 1.0),
)
def test_property_minimal_count(a, p):
    assert_minimal(a, p, quantum_sparsity(a, p))


def test_torch_and_sparse_inputs(rng):
    a = rng.standard_normal((40, 40))
    a[np.abs(a) < 1] = 0
    expected = quantum_sparsity(a, 0.75)
    np.testing.assert_array_equal(quantum_sparsity(torch.from_numpy(a), 0.75), expected)
    np.testing.assert_array_equal(quantum_sparsity(sp.csr_matrix(a), 0.75), expected)


def test_oracle_sparsity_and_row_nnz():
    a = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    assert oracle_sparsity(a) == 2
    np.testing.assert_array_equal(row_nnz(a), [2, 1, 0])
    m = sp.csr_matrix(a)
    m.data[0] = 0.0  # an explicitly stored zero is not a nonzero
    np.testing.assert_array_equal(row_nnz(m), [1, 1, 0])
    assert oracle_sparsity(torch.eye(5)) == 1


@pytest.mark.parametrize("p", [0.0, -0.1, 1.01, float("nan")])
def test_bad_p(p):
    with pytest.raises(InvalidArgumentError, match="`p`"):
        quantum_sparsity(np.eye(3), p)


def test_bad_matrix():
    with pytest.raises(ShapeError):
        quantum_sparsity(np.ones(4))
    with pytest.raises(NonFiniteError):
        quantum_sparsity(np.array([[1.0, np.inf]]))
