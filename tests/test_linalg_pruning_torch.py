"""The torch implementations of symmetric pruning and the sparsity profiles (``linalg._torch_prune``)
against the numba kernels, bit for bit, on every available device (CPU here; the CUDA cases skip
with a reason when there is no GPU)."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import random_symmetric
from qnewton.errors import InvalidArgumentError, NonFiniteError, NotSymmetricError, QNewtonError, ShapeError
from qnewton.linalg import _torch_prune as TP
from qnewton.linalg import oracle_sparsity, prune_symmetric, quantum_sparsity, row_nnz

pytestmark = pytest.mark.usefixtures("one_thread")

HAS_CUDA = torch.cuda.is_available()
CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU on this machine"))
DEVICES = ["cpu", CUDA]


def numba_prune(a: np.ndarray, d: int, sparse: bool = False, **kw):
    return prune_symmetric(a, d, sparse, _backend="numba", **kw)


def torch_prune(a: np.ndarray, d: int, device: str, sparse: bool = False, **kw) -> torch.Tensor:
    out = prune_symmetric(torch.from_numpy(a).to(device), d, sparse, _backend="torch", **kw)
    assert isinstance(out, torch.Tensor) and out.device.type == device
    return out


def assert_bits_equal(got: torch.Tensor, ref: np.ndarray) -> None:
    """Same dtype and the same bits (so +0.0 and -0.0 differ too)."""
    g = got.cpu().numpy()
    assert g.dtype == ref.dtype
    uint = np.uint32 if ref.dtype == np.float32 else np.uint64
    if not np.array_equal(g.view(uint), ref.view(uint)):
        bad = np.argwhere(g.view(uint) != ref.view(uint))
        raise AssertionError(
            f"{len(bad)} entries differ, first at {tuple(bad[0])}: {g[tuple(bad[0])]} vs {ref[tuple(bad[0])]}"
        )


def assert_same_prune(a: np.ndarray, d: int, device: str, **kw) -> np.ndarray:
    """The torch path's dense and sparse outputs equal the numba path's; returns the result."""
    ref = numba_prune(a, d, **kw)
    assert_bits_equal(torch_prune(a, d, device, **kw), ref)
    csr = torch_prune(a, d, device, sparse=True, **kw)
    ref_csr = numba_prune(a, d, sparse=True, **kw)
    assert csr.layout == torch.sparse_csr
    np.testing.assert_array_equal(csr.crow_indices().cpu().numpy(), ref_csr.indptr)
    np.testing.assert_array_equal(csr.col_indices().cpu().numpy(), ref_csr.indices)
    assert_bits_equal(csr.values(), ref_csr.data)
    return ref


CASES = [
    # n, d, dtype, zero_frac, scale_spread
    (1, 1, np.float64, 0.0, 0.0),
    (2, 1, np.float32, 0.0, 0.0),
    (2, 2, np.float64, 0.0, 0.0),
    (17, 1, np.float64, 0.0, 0.0),
    (40, 5, np.float32, 0.3, 0.0),
    (64, 2, np.float64, 0.0, 2.0),
    (65, 64, np.float64, 0.1, 0.0),
    (100, 10, np.float32, 0.0, 3.0),
    (150, 75, np.float64, 0.0, 1.0),
    (257, 13, np.float32, 0.5, 0.0),
    (300, 300, np.float64, 0.0, 0.0),
    (400, 20, np.float64, 0.0, 2.0),
    (600, 4, np.float32, 0.0, 1.5),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n,d,dtype,zero_frac,spread", CASES)
def test_matches_numba_bit_for_bit(rng, device, n, d, dtype, zero_frac, spread):
    assert_same_prune(random_symmetric(rng, n, dtype, zero_frac, spread), d, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_d_from_1_to_n(rng, device, dtype):
    n = 33
    a = random_symmetric(rng, n, dtype, zero_frac=0.2, scale_spread=1.0)
    ties = (np.round(random_symmetric(rng, n) * 2) / 2).astype(dtype)
    for d in range(1, n + 1):
        assert_same_prune(a, d, device)
        assert_same_prune(ties, d, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n,d", [(30, 3), (120, 7), (200, 50), (257, 1)])
def test_integer_ties(rng, device, n, d):
    a = np.round(random_symmetric(rng, n) * 2) / 2  # many equal magnitudes, many exact zeros
    assert_same_prune(a, d, device)
    assert_same_prune(np.ones((n, n)), d, device)  # one tie class: the order is (row, column) alone
    assert_same_prune(np.ones((n, n), np.float32), d, device)


@pytest.mark.parametrize("device", DEVICES)
def test_float64_values_that_tie_in_float32(rng, device):
    n = 150
    base = random_symmetric(rng, n)
    a = np.sign(base) * (1.0 + 1e-12 * np.round(np.abs(base) * 1000))
    a = np.triu(a) + np.triu(a, 1).T
    assert np.unique(a.astype(np.float32)).size < np.unique(a).size
    for d in (1, 3, 17, 60, n):
        assert_same_prune(a, d, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype,noise", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_symmetric_only_up_to_rounding_uses_the_upper_triangle(rng, device, dtype, noise):
    for n in (40, 130):  # below and above the numba path's n >= 64 switch
        a = random_symmetric(rng, n, dtype, scale_spread=1.0)
        noisy = (a + noise * rng.standard_normal(a.shape)).astype(dtype)
        assert not np.array_equal(noisy, noisy.T)
        for d in (2, 9, n):
            ref = assert_same_prune(noisy, d, device)
            np.testing.assert_array_equal(ref, ref.T)


@pytest.mark.parametrize("device", DEVICES)
def test_hessian_like_kronecker_block(rng, device):
    # a Linear layer's GGN block, X^T X (kron) M with zero input features: float32, exact zero rows,
    # symmetric only up to the rounding of the float32 products
    x = rng.standard_normal((48, 24)).astype(np.float32)
    x[:, rng.random(24) < 0.25] = 0
    j = rng.standard_normal((48, 6, 6)).astype(np.float32)
    m = np.einsum("sab,scb->sac", j, j)
    h = np.einsum("si,sj,sab->iajb", x, x, m).reshape(144, 144) / 48
    h = h.astype(np.float32)
    for d in (1, 6, 30, 144):
        assert_same_prune(h, d, device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "mode,settings_",
    [
        ("rounds only", {"_TAIL_PAIRS": 0, "_ROUNDS_BEFORE_TAIL": 10**9}),
        ("tail after one round", {"_TAIL_PAIRS": 10**12}),
        ("tail when slow", {"_TAIL_PAIRS": 0, "_ROUNDS_BEFORE_TAIL": 1, "_TAIL_SHRINK": 0.0}),
        ("many small bands", {"_BAND_FACTOR": 0.05, "_TAIL_PAIRS": 0}),
    ],
)
def test_rounds_tail_and_bands_all_give_the_greedy(rng, monkeypatch, device, mode, settings_):
    for k, v in settings_.items():
        monkeypatch.setattr(TP, k, v)
    cases = [
        (random_symmetric(rng, 300, scale_spread=2.0), 8),
        (random_symmetric(rng, 200, np.float32, zero_frac=0.3), 40),
        (np.round(random_symmetric(rng, 150) * 2) / 2, 5),
        (np.ones((80, 80)), 3),
    ]
    bands, tails = [], []
    for a, d in cases:
        assert_same_prune(a, d, device)
        bands.append(len(TP.last_stats))
        tails.append(sum(s["tail"] for s in TP.last_stats))
    if mode == "rounds only":
        assert not any(tails)
    elif mode == "many small bands":
        assert bands[0] > 3
    else:
        assert all(tails)


def test_all_equal_matrix_is_a_long_chain_that_the_tail_finishes(monkeypatch):
    # the greedy's dependency chain has length ~N here: rounds alone would take ~N of them
    a = np.ones((120, 120))
    monkeypatch.setattr(TP, "_TAIL_PAIRS", 0)
    ref = assert_same_prune(a, 1, "cpu")
    np.testing.assert_array_equal(ref, np.eye(120))
    assert TP.last_stats[0]["rounds"] == TP._ROUNDS_BEFORE_TAIL and TP.last_stats[0]["tail"] > 0


def test_worked_example():
    a = torch.tensor([[4.0, 3.0, 0.0], [3.0, 1.0, 2.0], [0.0, 2.0, 5.0]])
    torch.testing.assert_close(prune_symmetric(a, 1, _backend="torch"), torch.diag(torch.tensor([4.0, 1.0, 5.0])))


def test_dtypes_follow_the_array_policy(rng):
    a = random_symmetric(rng, 20)
    for t, dt in [
        (torch.from_numpy(a).half(), torch.float32),
        (torch.from_numpy(a).bfloat16(), torch.float32),
        (torch.from_numpy(np.round(a * 3)).to(torch.int64), torch.float64),
        (torch.from_numpy(a).float().requires_grad_(), torch.float32),
    ]:
        got = prune_symmetric(t, 4, _backend="torch")
        assert got.dtype == dt and not got.requires_grad
        assert_bits_equal(got, prune_symmetric(t, 4, _backend="numba").numpy())
    np.testing.assert_array_equal(prune_symmetric(a, 4, _backend="torch"), prune_symmetric(a, 4))  # numpy in, out


@pytest.mark.parametrize(
    "bad,d",
    [
        (np.ones((3, 4)), 1),
        (np.ones(3), 1),
        (np.ones((0, 0)), 1),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), 1),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), 1),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), 1),
        (np.array([[1.0, 2.0], [0.0, np.nan]]), 1),  # NaN is reported before the asymmetry
        (np.eye(3), 0),
        (np.eye(3), 4),
        (np.eye(3), 1.5),
        (np.eye(3), True),
    ],
)
def test_same_errors_as_numba(bad, d):
    with pytest.raises(QNewtonError) as ref:
        prune_symmetric(torch.from_numpy(bad), d, _backend="numba")
    with pytest.raises(type(ref.value)) as got:
        prune_symmetric(torch.from_numpy(bad), d, _backend="torch")
    assert str(got.value) == str(ref.value)


def test_same_errors_as_numba_on_large_blocks(rng):
    a = random_symmetric(rng, 100, np.float32)
    b = a.copy()
    b[3, 70] = np.nan
    c = a.copy()
    c[3, 70] += 1.0
    for m, err, kw in [
        (b, NonFiniteError, {}),
        (c, NotSymmetricError, {}),
        (c, NotSymmetricError, {"symmetry_rtol": 1e-9}),
    ]:
        with pytest.raises(err) as ref:
            prune_symmetric(m, 5, _backend="numba", **kw)
        with pytest.raises(err) as got:
            prune_symmetric(torch.from_numpy(m), 5, _backend="torch", **kw)
        assert str(got.value) == str(ref.value)
    assert_same_prune(c, 5, "cpu", symmetry_rtol=1.0)  # tolerated: the upper triangle's values


def test_refuses_what_the_numba_path_refuses(monkeypatch):
    from qnewton.linalg import _kernels as K

    monkeypatch.setattr(K, "MAX_N", 8)
    with pytest.raises(ShapeError, match="N <= 8"):
        prune_symmetric(torch.eye(9), 1, _backend="torch")
    with pytest.raises(InvalidArgumentError, match="complex"):
        prune_symmetric(torch.eye(3, dtype=torch.complex64), 1, _backend="torch")


@pytest.mark.parametrize("device", DEVICES)
def test_deterministic_mode_is_supported(rng, device):
    # users who enable torch's deterministic algorithms must not get a RuntimeError here
    a = random_symmetric(rng, 120, np.float32, scale_spread=1.0)
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        assert_same_prune(a, 7, device)
        got = quantum_sparsity(torch.from_numpy(a).to(device), PS, _backend="torch")
        assert got.device.type == device
        np.testing.assert_array_equal(got.cpu().numpy(), quantum_sparsity(a, PS))
    finally:
        torch.use_deterministic_algorithms(prev)


# --- dispatch --------------------------------------------------------------------------------------


def test_cpu_inputs_keep_the_numba_path(rng, monkeypatch):
    from qnewton.linalg import pruning

    def boom(*args, **kwargs):
        raise AssertionError("the torch path ran")

    monkeypatch.setattr(pruning, "prune_symmetric_torch", boom)
    a = random_symmetric(rng, 30)
    assert isinstance(prune_symmetric(a, 3), np.ndarray)
    out = prune_symmetric(torch.from_numpy(a), 3)
    assert isinstance(out, torch.Tensor) and out.device.type == "cpu"
    assert sp.isspmatrix_csr(prune_symmetric(torch.from_numpy(a), 3, sparse=True))
    with pytest.raises(AssertionError, match="torch path ran"):
        prune_symmetric(a, 3, _backend="torch")


def test_bad_backend():
    with pytest.raises(InvalidArgumentError, match="`_backend`"):
        prune_symmetric(np.eye(3), 1, _backend="cupy")
    with pytest.raises(InvalidArgumentError, match="`_backend`"):
        quantum_sparsity(np.eye(3), 0.5, _backend="jax")


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU on this machine")
def test_cuda_tensors_are_pruned_on_their_device(rng):
    a = random_symmetric(rng, 500, np.float32, scale_spread=1.0)
    out = prune_symmetric(torch.from_numpy(a).cuda(), 12)  # default dispatch
    assert out.is_cuda and out.dtype == torch.float32
    assert_bits_equal(out, prune_symmetric(a, 12))
    csr = prune_symmetric(torch.from_numpy(a).cuda(), 12, sparse=True)
    assert csr.is_cuda and csr.layout == torch.sparse_csr
    prof = quantum_sparsity(torch.from_numpy(a).cuda(), [0.5, 0.9])
    assert prof.is_cuda and prof.dtype == torch.int64
    counts = row_nnz(out)
    assert counts.is_cuda
    assert oracle_sparsity(out) == oracle_sparsity(csr) == int(counts.max()) <= 12


# --- properties ------------------------------------------------------------------------------------

symmetric_matrices = (
    st.integers(1, 24)
    .flatmap(lambda n: arrays(np.float64, (n, n), elements=st.floats(-8, 8, allow_nan=False, width=16)))
    .map(lambda a: np.triu(a) + np.triu(a, 1).T)
)


@settings(max_examples=120, deadline=None)
@given(a=symmetric_matrices, data=st.data())
def test_properties(a, data):
    n = a.shape[0]
    d = data.draw(st.integers(1, n))
    t = prune_symmetric(torch.from_numpy(a), d, _backend="torch")
    p = t.numpy()
    np.testing.assert_array_equal(p, p.T)  # symmetric
    assert (np.count_nonzero(p, axis=1) <= d).all()  # at most d per row (and column)
    nz = p != 0
    assert np.array_equal(p[nz], a[nz])  # kept entries unchanged
    np.testing.assert_array_equal(prune_symmetric(t, d, _backend="torch").numpy(), p)  # idempotent
    assert_bits_equal(t, numba_prune(a, d))


# --- sparsity profiles -----------------------------------------------------------------------------


def profile_reference(a: np.ndarray, ps) -> np.ndarray:
    """Sort + cumsum in float64, one row at a time (numpy), the numba kernel's rule at p = 1."""
    out = np.zeros((a.shape[0], len(ps)), np.int64)
    for i, row in enumerate(np.abs(a.astype(np.float64))):
        vals = np.sort(row)[::-1]
        csum = np.cumsum(vals)
        for q, p in enumerate(ps):
            target = p * row.sum()
            if target > 0:
                hit = np.flatnonzero(csum >= target)
                out[i, q] = hit[0] + 1 if hit.size else np.count_nonzero(row)
    return out


PS = [0.1, 0.5, 0.75, 0.9, 0.95, 1.0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,dtype", [((50, 50), np.float64), ((300, 300), np.float32), ((20, 700), np.float64)])
def test_profile_matches_numba(rng, device, shape, dtype):
    a = (rng.standard_normal(shape) * np.exp(2 * rng.standard_normal(shape))).astype(dtype)
    a[rng.random(shape) < 0.2] = 0
    a[3] = 0  # a zero row needs 0
    got = quantum_sparsity(torch.from_numpy(a).to(device), PS, _backend="torch")
    assert isinstance(got, torch.Tensor) and got.device.type == device and got.dtype == torch.int64
    ref = quantum_sparsity(a, PS)
    np.testing.assert_array_equal(got.cpu().numpy(), ref)
    np.testing.assert_array_equal(got.cpu().numpy(), profile_reference(a, PS))
    scalar = quantum_sparsity(torch.from_numpy(a).to(device), 0.9, _backend="torch")
    assert scalar.shape == (shape[0],)
    np.testing.assert_array_equal(scalar.cpu().numpy(), ref[:, 3])


@pytest.mark.parametrize("device", DEVICES)
def test_profile_integer_rows_are_exact(device):
    # integer magnitudes: every sum is exact in float64, so the counts must agree exactly, also
    # where a running sum lands exactly on p * total
    rng = np.random.default_rng(7)
    a = rng.integers(-6, 7, size=(200, 64)).astype(np.float64)
    ps = [0.25, 0.5, 0.75, 1.0]
    got = quantum_sparsity(torch.from_numpy(a).to(device), ps, _backend="torch").cpu().numpy()
    np.testing.assert_array_equal(got, quantum_sparsity(a, ps))
    n = 1000
    np.testing.assert_array_equal(
        quantum_sparsity(torch.ones(3, n, device=device), [0.5, 0.75, 0.9, 0.95], _backend="torch")[0].cpu().numpy(),
        [500, 750, 900, 950],
    )


@settings(max_examples=100, deadline=None)
@given(
    a=st.integers(1, 8).flatmap(lambda r: arrays(np.float64, (r, 30), elements=st.floats(-1e3, 1e3, width=32))),
    p=st.floats(0.01, 1.0),
)
def test_profile_property_equals_numba(a, p):
    got = quantum_sparsity(torch.from_numpy(a), p, _backend="torch").numpy()
    np.testing.assert_array_equal(got, quantum_sparsity(a, p))


def test_profile_errors_match():
    for bad, p in [(np.ones(4), 0.5), (np.ones((0, 3)), 0.5), (np.array([[1.0, np.inf]]), 0.5), (np.eye(3), 0.0)]:
        with pytest.raises(QNewtonError) as ref:
            quantum_sparsity(bad, p)
        with pytest.raises(type(ref.value)) as got:
            quantum_sparsity(torch.from_numpy(bad), p, _backend="torch")
        assert str(got.value) == str(ref.value)


@pytest.mark.parametrize("device", DEVICES)
def test_row_nnz_and_oracle_sparsity_on_tensors(rng, device):
    a = random_symmetric(rng, 60, zero_frac=0.5)
    ref = row_nnz(a)
    t = torch.from_numpy(a).to(device)
    counts = TP.row_nnz_torch(t)
    assert counts.device.type == device
    np.testing.assert_array_equal(counts.cpu().numpy(), ref)
    coo = t.to_sparse_coo()
    np.testing.assert_array_equal(np.asarray(row_nnz(coo.cpu())), ref)
    csr = prune_symmetric(t, 5, sparse=True, _backend="torch")
    assert oracle_sparsity(csr) == oracle_sparsity(numba_prune(a, 5, sparse=True))
    stored_zero = torch.sparse_coo_tensor(
        torch.tensor([[0, 1], [0, 1]]), torch.tensor([0.0, 2.0]), (2, 2), check_invariants=True
    ).to(device)
    np.testing.assert_array_equal(TP.row_nnz_torch(stored_zero).cpu().numpy(), [0, 1])  # stored zeros do not count
    assert TP.oracle_sparsity_torch(t) == oracle_sparsity(a)


# --- a real Hessian block --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_digits_mlp_hessian_blocks(device):
    from torch import nn

    from qnewton.curvature import LossProblem, exact_hessian
    from qnewton.data import load_image_dataset
    from qnewton.models import paper_dnn

    ds = load_image_dataset("digits", n_train=64, n_test=16)
    model = paper_dnn(input_dim=64)
    x = torch.as_tensor(ds.x_train, dtype=torch.float32)
    y = torch.as_tensor(ds.y_train)
    res = exact_hessian(
        LossProblem(model, nn.CrossEntropyLoss()), (x, y), blocks={"fc1": ["fc1.weight"], "fc2": ["fc2.weight"]}
    )
    for name in ("fc1", "fc2"):
        h = res[name].matrix.numpy()
        n = h.shape[0]
        assert h.dtype == np.float32 and (h == 0).any()  # zero pixels: exact zero rows
        for d in (1, 8, n // 16, n // 2, n):
            assert_same_prune(h, d, device)
            assert_same_prune(h.astype(np.float64), d, device)
        np.testing.assert_array_equal(
            quantum_sparsity(torch.from_numpy(h).to(device), PS, _backend="torch").cpu().numpy(),
            quantum_sparsity(h, PS),
        )
