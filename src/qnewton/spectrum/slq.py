r"""Eigenvalue density of a symmetric operator by stochastic Lanczos quadrature (SLQ).

Only matrix-vector products are used, so the operator can be a Hessian applied by
Hessian-vector products (:class:`qnewton.curvature.HessianOperator`) that is never formed.

For a unit probe vector v, k steps of Lanczos on (A, v) give the tridiagonal
:math:`T_k = Q_k^T A Q_k = U \Theta U^T`. Its eigenvalues :math:`\theta_i` (Ritz values) and the
squared first components :math:`\tau_i^2 = U_{1i}^2` are the nodes and weights of the k-point
Gauss quadrature of the spectral measure of A seen from v:

.. math::  v^T f(A) v = \sum_j (q_j^T v)^2 f(\lambda_j) \approx \sum_{i=1}^k \tau_i^2 f(\theta_i),

exact for polynomials f of degree <= 2k - 1 (Golub and Meurant, *Matrices, Moments and
Quadrature*, 2010, Thm 6.2). For a random probe with E[v v^T] = I / n (a normalized Rademacher or
Gaussian vector), E[v^T f(A) v] = tr f(A) / n, so averaging the quadratures of ``num_probes``
probes estimates the spectral density :math:`\phi(t) = \frac1n \sum_j \delta(t - \lambda_j)`
(Lin, Saad, Yang, SIAM Review 58 (2016) 34-65, Sec. 3.2; Ubaru, Chen, Saad, SIMAX 38 (2017)
1075-1099). The delta peaks are smoothed by a Gaussian kernel of width sigma, as in Ghorbani,
Krishnan, Xiao, "An investigation into neural net optimization via Hessian eigenvalue density",
ICML 2019, Sec. 2:

.. math::  \phi_\sigma(t) = \frac{1}{P} \sum_{p=1}^{P} \sum_{i=1}^{k}
           \tau_{p,i}^2 \, \frac{1}{\sigma\sqrt{2\pi}} e^{-(t - \theta_{p,i})^2 / (2\sigma^2)}.

Lanczos runs with full reorthogonalization (twice, Parlett's "twice is enough"): without it the
Ritz values acquire ghost copies that distort the density. The basis costs k x n floats per probe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.linalg

from .._validation import check_int_range, check_positive
from ..errors import InvalidArgumentError, NonFiniteError, ShapeError
from ..linalg.lanczos import as_matvec

__all__ = [
    "LanczosTridiagonal",
    "SLQResult",
    "gaussian_density",
    "lanczos_tridiagonal",
    "slq",
]

Probe = Literal["rademacher", "gaussian"]

#: Relative size of beta_k below which the Krylov space is taken as invariant (Lanczos stops).
_BREAKDOWN_RTOL = 1e-12


@dataclass(frozen=True)
class LanczosTridiagonal:
    """The Lanczos tridiagonal T_k of (A, v): diagonal ``alphas`` (k) and off-diagonal ``betas`` (k-1).

    ``breakdown`` is True when the Krylov space became invariant before the requested number of
    steps (then the quadrature of this probe is exact for every f).
    """

    alphas: np.ndarray
    betas: np.ndarray
    breakdown: bool

    @property
    def steps(self) -> int:
        return int(self.alphas.size)

    def quadrature(self) -> tuple[np.ndarray, np.ndarray]:
        """Gauss nodes (Ritz values, ascending) and weights (squared first eigenvector components)."""
        if self.steps == 1:
            return self.alphas.copy(), np.ones(1)
        theta, u = scipy.linalg.eigh_tridiagonal(self.alphas, self.betas, lapack_driver="stev")
        w = u[0, :] ** 2
        return theta, w / w.sum()


def lanczos_tridiagonal(
    matvec: Callable[[np.ndarray], np.ndarray], v0: np.ndarray, steps: int, *, reorthogonalize: bool = True
) -> LanczosTridiagonal:
    r"""k = ``steps`` Lanczos iterations on (A, v0/||v0||) in float64, returning T_k.

    Recurrence: :math:`\beta_{j} q_{j+1} = A q_j - \alpha_j q_j - \beta_{j-1} q_{j-1}`,
    :math:`\alpha_j = q_j^T A q_j`; with ``reorthogonalize`` each new vector is orthogonalized
    against every previous one, twice (Paige's loss of orthogonality otherwise creates spurious
    copies of converged Ritz values).

    Args:
        matvec: v -> A v for a symmetric A (float64 in, float64 out).
        v0: start vector (nonzero, finite).
        steps: number of iterations k >= 1 (capped at len(v0)).
        reorthogonalize: full reorthogonalization (default True).

    Raises:
        InvalidArgumentError: v0 is zero. NonFiniteError: v0 or a product has NaN/Inf.

    Example:
        >>> import numpy as np
        >>> tri = lanczos_tridiagonal(lambda v: np.array([1.0, 2.0, 3.0]) * v, np.ones(3), 3)
        >>> np.round(tri.quadrature()[0], 10).tolist()
        [1.0, 2.0, 3.0]
    """
    v = np.asarray(v0, dtype=np.float64).reshape(-1)
    n = v.size
    steps = min(check_int_range(steps, "steps", 1, 10**7), n)
    if not np.all(np.isfinite(v)):
        raise NonFiniteError("`v0` has NaN/Inf entries; pass a finite start vector.")
    nrm = float(np.linalg.norm(v))
    if nrm == 0.0:
        raise InvalidArgumentError("`v0` is the zero vector; pass a nonzero start vector (e.g. Rademacher).")
    Q = np.empty((steps, n)) if reorthogonalize else None
    q = v / nrm
    q_prev = np.zeros(n)
    beta_prev = 0.0
    alphas: list[float] = []
    betas: list[float] = []
    breakdown = False
    for j in range(steps):
        if Q is not None:
            Q[j] = q
        w = np.asarray(matvec(q), dtype=np.float64).reshape(-1)
        if w.shape != (n,):
            raise ShapeError(f"the matvec returned shape {w.shape}, expected ({n},); `A` must be square n x n.")
        if not np.all(np.isfinite(w)):
            raise NonFiniteError(
                "the operator returned NaN/Inf in a Lanczos product; check the model's loss and parameters "
                "(a diverged step) or the operator."
            )
        alpha = float(q @ w)
        alphas.append(alpha)
        if j == steps - 1:
            break
        w -= alpha * q + beta_prev * q_prev
        if Q is not None:
            for _ in range(2):
                w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta = float(np.linalg.norm(w))
        scale = max(abs(alpha), beta_prev, 1e-300)
        if beta <= _BREAKDOWN_RTOL * scale:
            breakdown = True
            break
        betas.append(beta)
        q_prev, q, beta_prev = q, w / beta, beta
    return LanczosTridiagonal(np.array(alphas), np.array(betas), breakdown)


def gaussian_density(
    nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float, *, block: int = 4096
) -> np.ndarray:
    r"""The smoothed density :math:`\sum_i w_i \, N(t; \theta_i, \sigma^2)` on ``grid``.

    ``weights`` should sum to 1 (then the density integrates to 1 over the real line). Use it with
    the eigenvalues of a dense matrix and weights 1/n for the exact reference density.

    Example:
        >>> import numpy as np
        >>> t = np.linspace(-10, 10, 20001)
        >>> round(float(np.trapezoid(gaussian_density(np.array([0.0]), np.array([1.0]), t, 1.0), t)), 6)
        1.0
    """
    sigma = check_positive(sigma, "sigma")
    th = np.asarray(nodes, dtype=np.float64).reshape(-1)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if th.shape != w.shape:
        raise ShapeError(f"`nodes` and `weights` must have the same size, got {th.size} and {w.size}.")
    keep = w > 0
    th, w = th[keep], w[keep]
    t = np.asarray(grid, dtype=np.float64).reshape(-1)
    out = np.zeros_like(t)
    norm = 1.0 / (sigma * math.sqrt(2.0 * math.pi))
    for i0 in range(0, th.size, block):  # bounded memory for many nodes (dense reference spectra)
        d = (t[:, None] - th[None, i0 : i0 + block]) / sigma
        out += np.exp(-0.5 * d * d) @ w[i0 : i0 + block]
    return out * norm


@dataclass(frozen=True)
class SLQResult:
    """Gauss quadrature nodes and weights from ``num_probes`` Lanczos runs (one row per probe).

    Attributes:
        nodes: (P, k) Ritz values; a probe that stopped early (invariant subspace) is padded with
            zero-weight entries.
        weights: (P, k) Gauss weights; each row sums to 1.
        n: size of the operator.
        steps: (P,) Lanczos steps taken per probe.
        probe: ``"rademacher"`` or ``"gaussian"``.
        matvecs: operator products used.
        measured_seconds: wall-clock time of the whole estimate on this machine.
    """

    nodes: np.ndarray
    weights: np.ndarray
    n: int
    steps: np.ndarray
    probe: str
    matvecs: int
    measured_seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def num_probes(self) -> int:
        return int(self.nodes.shape[0])

    @property
    def lambda_min(self) -> float:
        """Smallest Ritz value over all probes (approaches lambda_min(A) from above)."""
        return float(self.nodes[self.weights > 0].min())

    @property
    def lambda_max(self) -> float:
        """Largest Ritz value over all probes (approaches lambda_max(A) from below)."""
        return float(self.nodes[self.weights > 0].max())

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """All nodes and their weights divided by the number of probes (weights sum to 1)."""
        keep = self.weights > 0
        return self.nodes[keep], self.weights[keep] / self.num_probes

    def moment(self, p: int) -> float:
        r"""Estimate of :math:`\mathrm{tr}(A^p) / n` (exact per probe for p <= 2k - 1)."""
        p = check_int_range(p, "p", 0, 10**6)
        th, w = self.flat()
        return float(w @ th**p)

    def trace(self) -> float:
        """Hutchinson-type estimate of tr(A) = n * moment(1)."""
        return self.n * self.moment(1)

    def mass(self, lo: float = -math.inf, hi: float = math.inf) -> float:
        """Estimated share of the eigenvalues in (lo, hi) (the unsmoothed quadrature measure)."""
        th, w = self.flat()
        return float(w[(th > lo) & (th < hi)].sum())

    def default_sigma(self, relative: float = 0.01) -> float:
        """Kernel width: ``relative`` times the spread of the Ritz values (never 0)."""
        span = self.lambda_max - self.lambda_min
        return relative * (span if span > 0 else max(abs(self.lambda_max), 1.0))

    def density(
        self, grid: np.ndarray | None = None, sigma: float | None = None, *, num_points: int = 801
    ) -> tuple[np.ndarray, np.ndarray]:
        """The Gaussian-smoothed density (grid, phi) (see the module docstring).

        Args:
            grid: points t; default ``num_points`` points from lambda_min - 5 sigma to
                lambda_max + 5 sigma.
            sigma: kernel width; default :meth:`default_sigma` (1 % of the spread).
        """
        s = self.default_sigma() if sigma is None else check_positive(sigma, "sigma")
        if grid is None:
            check_int_range(num_points, "num_points", 2, 10**7)
            grid = np.linspace(self.lambda_min - 5 * s, self.lambda_max + 5 * s, num_points)
        th, w = self.flat()
        return np.asarray(grid, dtype=np.float64), gaussian_density(th, w, grid, s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "num_probes": self.num_probes,
            "steps": self.steps.tolist(),
            "probe": self.probe,
            "matvecs": self.matvecs,
            "measured_seconds": self.measured_seconds,
            "lambda_min": self.lambda_min,
            "lambda_max": self.lambda_max,
            "nodes": self.nodes.tolist(),
            "weights": self.weights.tolist(),
            **self.details,
        }


def _probe(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=n)
    return rng.standard_normal(n)


def slq(
    A: Any,
    *,
    n: int | None = None,
    num_probes: int = 8,
    steps: int = 80,
    probe: Probe = "rademacher",
    seed: int = 0,
    reorthogonalize: bool = True,
) -> SLQResult:
    r"""Stochastic Lanczos quadrature of a symmetric A: nodes and weights of its spectral density.

    Args:
        A: symmetric matrix (numpy/torch/scipy sparse), ``scipy.sparse.linalg.LinearOperator``
            (e.g. :class:`qnewton.curvature.HessianOperator` with ``numpy_dtype=np.float64``) or a
            callable matvec (then ``n`` is required).
        n: size, for a plain callable only.
        num_probes: number of random probes P (the density's variance falls as 1/P).
        steps: Lanczos steps k per probe (capped at n); k = n reproduces the exact eigenvalues.
        probe: ``"rademacher"`` (+-1 entries; lower variance for the trace) or ``"gaussian"``.
        seed: seed of the probes.
        reorthogonalize: full reorthogonalization (keep True unless memory forbids k x n).

    Returns:
        :class:`SLQResult`; ``result.density()`` gives the smoothed density.

    Raises:
        InvalidArgumentError: bad counts or probe kind. NonFiniteError: NaN/Inf products.

    Example:
        >>> import numpy as np
        >>> res = slq(np.diag(np.arange(1.0, 11.0)), num_probes=4, steps=10)
        >>> round(res.lambda_min, 8), round(res.lambda_max, 8), round(res.moment(1), 8)
        (1.0, 10.0, 5.5)
    """
    matvec, size = as_matvec(A, n)
    num_probes = check_int_range(num_probes, "num_probes", 1, 10**6)
    steps = check_int_range(steps, "steps", 1, 10**7)
    if probe not in ("rademacher", "gaussian"):
        raise InvalidArgumentError(f"`probe` must be 'rademacher' or 'gaussian', got {probe!r}.")
    k = min(steps, size)
    rng = np.random.default_rng(seed)
    nodes = np.zeros((num_probes, k))
    weights = np.zeros((num_probes, k))
    taken = np.zeros(num_probes, dtype=np.int64)
    t0 = time.perf_counter()
    for p in range(num_probes):
        tri = lanczos_tridiagonal(matvec, _probe(rng, size, probe), k, reorthogonalize=reorthogonalize)
        th, w = tri.quadrature()
        nodes[p, : th.size] = th
        weights[p, : w.size] = w
        taken[p] = tri.steps
    return SLQResult(
        nodes=nodes,
        weights=weights,
        n=size,
        steps=taken,
        probe=probe,
        matvecs=int(taken.sum()),
        measured_seconds=time.perf_counter() - t0,
    )
