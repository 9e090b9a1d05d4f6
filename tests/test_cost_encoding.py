"""Block-encoding alpha and logical qubits against matrices with known norms (REFERENCE.md §2)."""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from qnewton.cost import block_encoding_alpha, default_ancillas, logical_qubits, max_row_nnz
from qnewton.errors import (
    ClampedRangeWarning,
    InvalidArgumentError,
    NonFiniteError,
    ShapeError,
    SingularMatrixError,
)


def laplacian(n: int) -> np.ndarray:
    """tridiag(-1, 2, -1): ||A||_2 = 2 + 2 cos(pi / (n + 1)), max|A_ij| = 2, 3 nonzeros per row."""
    return 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)


def laplacian_norm(n: int) -> float:
    return 2 + 2 * math.cos(math.pi / (n + 1))


@pytest.mark.parametrize("d", [3, 5, 50])
def test_alpha_of_laplacian_closed_form(d):
    n = 50
    expected = d * 2 / laplacian_norm(n)
    assert block_encoding_alpha(laplacian(n), d, norm2=laplacian_norm(n)) == pytest.approx(expected, rel=1e-14)
    # norm computed inside (qnewton.linalg.spectral_norm, or the numpy fallback)
    assert block_encoding_alpha(laplacian(n), d) == pytest.approx(expected, rel=1e-6)


def test_alpha_scales_linearly_with_d():
    a = laplacian(30)
    a3 = block_encoding_alpha(a, 3)
    assert block_encoding_alpha(a, 12) == pytest.approx(4 * a3, rel=1e-12)


def test_alpha_is_one_for_a_diagonal_with_d_1():
    assert block_encoding_alpha(np.diag([1.0, -3.0, 2.0]), 1) == 1.0


def test_alpha_of_dense_all_ones():
    # J_n: max|a| = 1, ||J||_2 = n, d = n: the encoding is exact, alpha = 1
    assert block_encoding_alpha(np.ones((7, 7)), 7) == pytest.approx(1.0)


def test_alpha_inputs_sparse_torch_float32_agree():
    torch = pytest.importorskip("torch")
    n = 40
    dense = laplacian(n)
    ref = block_encoding_alpha(dense, 3, norm2=laplacian_norm(n))
    assert block_encoding_alpha(sp.csr_matrix(dense), 3, norm2=laplacian_norm(n)) == pytest.approx(ref)
    assert block_encoding_alpha(torch.from_numpy(dense), 3, norm2=laplacian_norm(n)) == pytest.approx(ref)
    assert block_encoding_alpha(dense.astype(np.float32), 3, norm2=laplacian_norm(n)) == pytest.approx(ref)
    # norm computed for the sparse and torch inputs too
    assert block_encoding_alpha(sp.csr_matrix(dense), 3) == pytest.approx(ref, rel=1e-5)
    assert block_encoding_alpha(torch.from_numpy(dense), 3) == pytest.approx(ref, rel=1e-5)


def test_alpha_of_large_sparse_matrix_uses_iterative_norm():
    n = 600
    a = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    assert block_encoding_alpha(a, 3) == pytest.approx(6 / laplacian_norm(n), rel=1e-4)


def test_alpha_d_none_uses_row_sparsity():
    a = laplacian(20)
    assert max_row_nnz(a) == 3
    assert max_row_nnz(sp.csr_matrix(a)) == 3
    assert block_encoding_alpha(a, norm2=laplacian_norm(20)) == pytest.approx(6 / laplacian_norm(20))


def test_explicit_zeros_are_not_counted_as_nonzeros():
    m = sp.csr_matrix((np.array([1.0, 0.0, 2.0]), np.array([0, 1, 1]), np.array([0, 2, 3])), shape=(2, 2))
    assert max_row_nnz(m) == 1


def test_d_below_row_sparsity_warns_and_clamps_to_one():
    with pytest.warns(ClampedRangeWarning, match=r"`d` = 1 is below the row sparsity"):
        assert block_encoding_alpha(laplacian(10), 1) == 1.0
    with pytest.warns(ClampedRangeWarning, match="`norm2`"):
        assert block_encoding_alpha(laplacian(10), 3, norm2=100.0) == 1.0


def test_alpha_is_at_least_one_for_valid_d(rng):
    for _ in range(5):
        a = rng.standard_normal((25, 25))
        a = a + a.T
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert block_encoding_alpha(a, 25) >= 1.0


@pytest.mark.parametrize(
    ("args", "kwargs", "err", "match"),
    [
        ((np.eye(3), 0), {}, InvalidArgumentError, "`d`"),
        ((np.eye(3), 4), {}, InvalidArgumentError, r"`d` must be in \[1, 3\]"),
        ((np.eye(3), 2.5), {}, InvalidArgumentError, "`d`"),
        ((np.eye(3), 1), {"norm2": 0.0}, InvalidArgumentError, "`norm2`"),
        ((np.eye(3), 1), {"norm2": float("nan")}, InvalidArgumentError, "`norm2`"),
        ((np.ones((2, 3)), 1), {}, ShapeError, "square"),
        ((np.zeros((3, 3)), 1), {}, SingularMatrixError, "zero matrix"),
        ((np.array([[1.0, np.nan], [np.nan, 1.0]]), 1), {}, NonFiniteError, "NaN"),
        ((sp.csr_matrix(np.array([[1.0, np.inf], [0.0, 1.0]])), 1), {}, NonFiniteError, "NaN/Inf"),
    ],
)
def test_alpha_bad_input(args, kwargs, err, match):
    with pytest.raises(err, match=match):
        block_encoding_alpha(*args, **kwargs)


@pytest.mark.parametrize(
    ("n", "ancillas", "expected"),
    [
        (12544, None, (14 + 3) + 6 + 14),  # the paper's block: ceil(log2 12544) = 14
        (1024, None, (10 + 3) + 6 + 10),  # exact power of two: ceil(log2 1024) = 10
        (1025, None, (11 + 3) + 6 + 11),
        (1, None, 3 + 6 + 0),
        (2, 0, 0 + 6 + 1),
        (784, 5, 5 + 6 + 10),
    ],
)
def test_logical_qubits(n, ancillas, expected):
    assert logical_qubits(n, ancillas) == expected
    assert logical_qubits(n, ancillas) == (
        (ancillas if ancillas is not None else math.ceil(math.log2(n)) + 3) + 6 + math.ceil(math.log2(n))
    )


def test_default_ancillas():
    assert default_ancillas(12544) == 17
    assert default_ancillas(2**20) == 23


@pytest.mark.parametrize(("n", "ancillas"), [(0, None), (10, -1), (10, 1.5), (2.0, None), (True, None)])
def test_logical_qubits_bad_input(n, ancillas):
    with pytest.raises(InvalidArgumentError):
        logical_qubits(n, ancillas)


@pytest.mark.parametrize("sparse", [False, True])
def test_alpha_norm_fallback_without_linalg(monkeypatch, sparse):
    # block_encoding_alpha works (numpy/scipy norm) when qnewton.linalg.spectral_norm is unavailable
    import sys

    monkeypatch.setitem(sys.modules, "qnewton.linalg", None)
    monkeypatch.setitem(sys.modules, "qnewton.linalg.lanczos", None)
    n = 300 if sparse else 40
    a = laplacian(n)
    got = block_encoding_alpha(sp.csr_matrix(a) if sparse else a, 3)
    assert got == pytest.approx(6 / laplacian_norm(n), rel=1e-8)
    got_ns = block_encoding_alpha(sp.csr_matrix(a) if sparse else a, 3, symmetric=False)
    assert got_ns == pytest.approx(6 / laplacian_norm(n), rel=1e-8)
