import os

import numpy as np
import pytest

# Keep numba/torch thread pools small: CI machines have 2 cores and several test workers.
os.environ.setdefault("NUMBA_NUM_THREADS", "2")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def random_symmetric(
    rng: np.random.Generator, n: int, dtype=np.float64, zero_frac: float = 0.0, scale_spread: float = 0.0
) -> np.ndarray:
    """A symmetric test matrix: Gaussian entries, optional exact zeros and row-scale spread."""
    a = rng.standard_normal((n, n))
    if zero_frac:
        a[rng.random((n, n)) < zero_frac] = 0.0
    if scale_spread:
        s = np.exp(scale_spread * rng.standard_normal(n))
        a = a * s[:, None] * s[None, :]
    a = np.triu(a)
    a = a + np.triu(a, 1).T
    return a.astype(dtype)


def spd_with_spectrum(rng: np.random.Generator, eigenvalues: np.ndarray) -> np.ndarray:
    """Q diag(eigenvalues) Q^T with a random orthogonal Q (float64, exactly symmetrized)."""
    n = eigenvalues.size
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = (q * eigenvalues) @ q.T
    return (a + a.T) / 2


@pytest.fixture(scope="module")
def one_thread():
    """One torch and one BLAS thread for a module of small products, restored afterwards (two
    threads on the shared 2-core machine made them 20x slower). Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1, user_api="blas"):
        yield
    torch.set_num_threads(threads)
