"""Symmetric pruning against an independent, obviously-correct reference implementation."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import random_symmetric
from qnewton.errors import (
    InvalidArgumentError,
    NonFiniteError,
    NotSymmetricError,
    QNewtonError,
    ShapeError,
)
from qnewton.linalg import oracle_sparsity, prune_rows, prune_symmetric


def reference_prune(a: np.ndarray, d: int) -> np.ndarray:
    """The paper's rule, literally: sort the upper triangle by |value| desc, ties by (row, col),
    accept a pair while both rows hold fewer than d entries; zeros are never accepted."""
    n = a.shape[0]
    iu, ju = np.triu_indices(n)
    vals = np.abs(a[iu, ju].astype(np.float64))
    order = sorted(range(iu.size), key=lambda k: (-vals[k], iu[k], ju[k]))
    counts = np.zeros(n, int)
    out = np.zeros_like(a)
    for k in order:
        i, j = iu[k], ju[k]
        if vals[k] == 0:
            continue
        if counts[i] < d and counts[j] < d:
            counts[i] += 1
            if i != j:
                counts[j] += 1
            out[i, j] = out[j, i] = a[i, j]
    return out


CASES = [
    # n, d, dtype, zero_frac, scale_spread
    (1, 1, np.float64, 0.0, 0.0),
    (2, 1, np.float64, 0.0, 0.0),
    (3, 3, np.float32, 0.0, 0.0),
    (17, 1, np.float64, 0.0, 0.0),
    (40, 5, np.float32, 0.3, 0.0),
    (64, 2, np.float64, 0.0, 2.0),
    (65, 64, np.float64, 0.1, 0.0),
    (100, 10, np.float32, 0.0, 3.0),
    (150, 75, np.float64, 0.0, 1.0),
    (257, 13, np.float32, 0.5, 0.0),
    (300, 300, np.float64, 0.0, 0.0),
    (400, 20, np.float64, 0.0, 2.0),
]


@pytest.mark.parametrize("n,d,dtype,zero_frac,spread", CASES)
def test_matches_reference(rng, n, d, dtype, zero_frac, spread):
    a = random_symmetric(rng, n, dtype, zero_frac, spread)
    expected = reference_prune(a, d)
    got = prune_symmetric(a, d)
    assert got.dtype == a.dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(prune_symmetric(a, d, sparse=True).toarray(), expected)


@pytest.mark.parametrize("n,d", [(30, 3), (120, 7), (200, 50)])
def test_ties_broken_by_row_then_column(rng, n, d):
    a = np.round(random_symmetric(rng, n) * 2) / 2  # many equal magnitudes
    np.testing.assert_array_equal(prune_symmetric(a, d), reference_prune(a, d))
    ones = np.ones((n, n))
    np.testing.assert_array_equal(prune_symmetric(ones, d), reference_prune(ones, d))


def test_uses_upper_triangle_when_symmetric_up_to_rounding(rng):
    a = random_symmetric(rng, 90)
    noisy = a + 1e-12 * rng.standard_normal(a.shape)
    upper = np.triu(noisy) + np.triu(noisy, 1).T
    got = prune_symmetric(noisy, 9)
    np.testing.assert_array_equal(got, reference_prune(upper, 9))
    np.testing.assert_array_equal(got, got.T)


def test_torch_in_torch_out(rng):
    a = random_symmetric(rng, 80, np.float32)
    t = torch.from_numpy(a)
    out = prune_symmetric(t, 6)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), reference_prune(a, 6))


def test_sparse_output_is_csr_with_sorted_indices(rng):
    a = random_symmetric(rng, 70)
    m = prune_symmetric(a, 4, sparse=True)
    assert sp.isspmatrix_csr(m) and m.has_sorted_indices
    assert oracle_sparsity(m) <= 4


def test_worked_example_from_paper_rule():
    a = np.array([[4.0, 3.0, 0.0], [3.0, 1.0, 2.0], [0.0, 2.0, 5.0]])
    # 5 fills row 2, 4 fills row 0, so 3 (0,1) and 2 (1,2) are refused and 1 (1,1) is taken.
    np.testing.assert_array_equal(prune_symmetric(a, 1), np.diag([4.0, 1.0, 5.0]))
    np.testing.assert_array_equal(prune_symmetric(a, 2), np.array([[4, 3, 0], [3, 0, 2], [0, 2, 5.0]]))


symmetric_matrices = (
    st.integers(1, 24)
    .flatmap(lambda n: arrays(np.float64, (n, n), elements=st.floats(-8, 8, allow_nan=False, width=16)))
    .map(lambda a: np.triu(a) + np.triu(a, 1).T)
)


@settings(max_examples=150, deadline=None)
@given(a=symmetric_matrices, data=st.data())
def test_properties(a, data):
    n = a.shape[0]
    d = data.draw(st.integers(1, n))
    p = prune_symmetric(a, d)
    np.testing.assert_array_equal(p, p.T)  # symmetric
    assert (np.count_nonzero(p, axis=1) <= d).all()  # budget per row (and per column)
    nz = p != 0
    assert np.array_equal(p[nz], a[nz])  # kept entries unchanged
    if np.abs(a).max() > 0:  # the largest entry is always kept
        i, j = np.unravel_index(np.argmax(np.abs(np.triu(a))), a.shape)
        assert p[i, j] == a[i, j]
    np.testing.assert_array_equal(prune_symmetric(p, d), p)  # idempotent
    np.testing.assert_array_equal(p, reference_prune(a, d))  # greedy order respected


@settings(max_examples=60, deadline=None)
@given(a=symmetric_matrices)
def test_within_budget_is_identity(a):
    d = max(1, int(np.count_nonzero(a, axis=1).max()))
    np.testing.assert_array_equal(prune_symmetric(a, d), a)


def test_every_rejected_entry_had_a_full_row_before_it(rng):
    a = random_symmetric(rng, 60, zero_frac=0.2, scale_spread=1.5)
    d = 5
    p = prune_symmetric(a, d)
    iu, ju = np.triu_indices(60)
    vals = np.abs(a[iu, ju])
    key = {(i, j): (-v, i, j) for i, j, v in zip(iu, ju, vals)}
    for i, j, v in zip(iu, ju, vals):
        if v == 0 or p[i, j] != 0:
            continue
        before = [(r, c) for r, c in zip(*np.nonzero(np.triu(p))) if key[(r, c)] < key[(i, j)]]
        full_i = sum(1 for r, c in before if i in (r, c)) >= d
        full_j = sum(1 for r, c in before if j in (r, c)) >= d
        assert full_i or full_j


@pytest.mark.parametrize(
    "bad,d,err",
    [
        (np.ones((3, 4)), 1, ShapeError),
        (np.ones(3), 1, ShapeError),
        (np.ones((0, 0)), 1, ShapeError),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), 1, NonFiniteError),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), 1, NonFiniteError),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), 1, NotSymmetricError),
        (np.eye(3), 0, InvalidArgumentError),
        (np.eye(3), 4, InvalidArgumentError),
        (np.eye(3), 1.5, InvalidArgumentError),
        (np.eye(3), True, InvalidArgumentError),
    ],
)
def test_bad_input(bad, d, err):
    with pytest.raises(err) as info:
        prune_symmetric(bad, d)
    assert isinstance(info.value, QNewtonError)
    assert "`" in str(info.value)  # names the argument


def test_bad_input_large_goes_through_compiled_checks(rng):
    a = random_symmetric(rng, 100)
    b = a.copy()
    b[3, 70] = np.nan
    with pytest.raises(NonFiniteError):
        prune_symmetric(b, 5)
    c = a.copy()
    c[3, 70] += 1.0
    with pytest.raises(NotSymmetricError, match="symmetry_rtol"):
        prune_symmetric(c, 5)
    assert prune_symmetric(c, 5, symmetry_rtol=1.0).shape == (100, 100)


# --- row-wise baseline -----------------------------------------------------------------------


def test_prune_rows_reference_example():
    m = np.array([[1, 2, -3], [4, -5, 6], [7, 8, -9]], dtype=np.float32)
    np.testing.assert_array_equal(prune_rows(m, 2), [[0, 2, -3], [0, -5, 6], [0, 8, -9]])


@pytest.mark.parametrize("n,d", [(5, 1), (50, 7), (129, 64), (40, 40)])
def test_prune_rows_matches_stable_sort(rng, n, d):
    a = np.round(rng.standard_normal((n, n)) * 3) / 3  # ties, not symmetric
    expected = np.zeros_like(a)
    order = np.argsort(-np.abs(a), axis=1, kind="stable")[:, :d]
    rows = np.arange(n)[:, None]
    expected[rows, order] = a[rows, order]
    np.testing.assert_array_equal(prune_rows(a, d), expected)


def test_prune_rows_is_not_symmetric_in_general(rng):
    a = random_symmetric(rng, 30, scale_spread=1.0)
    p = prune_rows(a, 3)
    assert not np.array_equal(p, p.T)
    assert (np.count_nonzero(p, axis=1) <= 3).all()


def test_float64_values_equal_in_float32_are_ordered_exactly(rng):
    # distinct float64 magnitudes that round to the same float32: the sort keys tie, the exact
    # value must still decide (and the row/column only among truly equal values)
    n = 120
    base = random_symmetric(rng, n)
    a = np.sign(base) * (1.0 + 1e-12 * np.round(np.abs(base) * 1000))
    a = np.triu(a) + np.triu(a, 1).T
    assert np.unique(a.astype(np.float32)).size < np.unique(a).size
    for d in (3, 17, 60):
        np.testing.assert_array_equal(prune_symmetric(a, d), reference_prune(a, d))
        np.testing.assert_array_equal(prune_symmetric(a, d, sparse=True).toarray(), reference_prune(a, d))


def test_heterogeneous_rows_exercise_refinement(rng):
    # rows of very different scales leave many rows open after the first band, which triggers the
    # threshold refinement; the result must still be the greedy's
    n = 400
    a = random_symmetric(rng, n, zero_frac=0.3, scale_spread=2.5)
    for d in (10, 80):
        np.testing.assert_array_equal(prune_symmetric(a, d), reference_prune(a, d))


@pytest.mark.parametrize(
    "m,key_bits", [(0, 19), (5, 19), (23, 19), (24, 19), (3000, 19), (3000, 9), (3000, 3), (3000, 0)]
)
def test_band_sort_kernel_orders_packed_candidates(rng, m, key_bits):
    # the in-bucket radix sort (insertion sort below 24) against numpy's sort of the packed words:
    # candidates arrive in (row, column) order, so sorting only the key bits stably must give the
    # full order; few key bits leave one or both radix passes with a single digit (skipped)
    from qnewton.linalg import _kernels as K

    flat = np.sort(rng.choice(1000 * 1000, size=m, replace=False))
    rows, cols = flat // 1000, flat % 1000
    keys = rng.integers(0, 1 << key_bits, size=m) << (19 - key_bits) if key_bits else np.zeros(m, int)
    packed = (
        (keys.astype(np.uint64) << np.uint64(2 * K.IBITS))
        | (rows.astype(np.uint64) << np.uint64(K.IBITS))
        | cols.astype(np.uint64)
    )
    got = packed.copy()
    K.sort_band(got, np.array([0, m]), np.array([0]), np.zeros((1, 1)), False)
    np.testing.assert_array_equal(got, np.sort(packed))


def test_refuses_more_rows_than_candidates_can_address(monkeypatch):
    from qnewton.linalg import _kernels as K

    monkeypatch.setattr(K, "MAX_N", 8)
    with pytest.raises(ShapeError, match="N <= 8"):
        prune_symmetric(np.eye(9), 1)
