r"""Discrete Carleman linearization of gradient descent, and the block linear system over T steps.

Gradient descent on a polynomial gradient (:class:`~qnewton.carleman.PolynomialGradient`, centered
at c, variable :math:`\delta = \theta - c`) is the polynomial recursion

.. math::  \delta_{t+1} = \delta_t - \eta\, g(c + \delta_t) = \sum_{j=0}^{m} G_j \delta_t^{\otimes j},
           \quad G_0 = -\eta F_0,\ G_1 = I - \eta F_1,\ G_j = -\eta F_j\ (j \ge 2).

The Carleman variables are the tensor powers :math:`y_k = \delta^{\otimes k}`, k = 1..K. Raising the
update to the k-th tensor power (mixed-product rule
:math:`(A \otimes B)(x \otimes z) = Ax \otimes Bz`) gives the *exact* linear relation

.. math::  y_k(t+1) = \Big(\sum_j G_j \delta_t^{\otimes j}\Big)^{\otimes k}
           = \sum_{l=0}^{mk} A_{k,l}\, y_l(t), \qquad
           A_{k,l} = \sum_{j_1 + \dots + j_k = l} G_{j_1} \otimes \cdots \otimes G_{j_k},

with :math:`y_0 = 1`. Truncating at order K drops the terms with l > K: y(t+1) = A y(t) + b with
A = [A_{k,l}] (k, l = 1..K) and b = [A_{k,0}] = [G_0^{⊗k}]. Unlike the continuous-time Carleman
matrix (linear in the vector field), the discrete blocks contain every power of eta up to k: e.g.
:math:`A_{2,2} = (I - \eta F_1)^{\otimes 2} + \eta^2 (F_0 \otimes F_2 + F_2 \otimes F_0)` holds
:math:`\eta^2 F_1 \otimes F_1`, and :math:`A_{3,3}` holds :math:`\eta^3 F_1^{\otimes 3}` (Liu et al.,
Nat. Commun. 15, 434 (2024), Methods: "the discrete Carleman linearization ... higher-order terms
in the learning rate"). ``eta_order`` keeps only the terms up to a given power of eta, to measure
what those terms are worth; the default keeps them all.

The blocks are built by the recursion :math:`A_{k,l} = \sum_j A_{k-1,l-j} \otimes G_j` (the last
Kronecker factor is the newest), with G_1 split into I (eta^0) and -eta F_1 (eta^1) so each term
carries its power of eta.

T steps become one sparse linear system, the form a quantum linear solver runs (Berry, Childs,
Ostrander, Wang, CMP 356 (2017) 1057; Liu et al. PNAS 2021, Eq. (10)): unknowns
Y = [y(0); y(1); ...; y(T)] and

.. math::  \begin{pmatrix} I \\ -A & I \\ & \ddots & \ddots \\ && -A & I \end{pmatrix} Y
           = \begin{pmatrix} y_{in} \\ b \\ \vdots \\ b \end{pmatrix},

optionally followed by ``idle`` copies y(t+1) = y(t) of the final state, which raise the share of
the final state in the normalized solution (and so the postselection probability of reading it).
The matrix is unit block lower triangular, hence nonsingular, and *not* symmetric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._arrays import as_numpy
from .._validation import check_finite, check_int_range, check_positive
from ..errors import InvalidArgumentError, ShapeError
from .polynomial import PolynomialGradient, kron_power

__all__ = [
    "MAX_CARLEMAN_NNZ",
    "MAX_SYSTEM_NNZ",
    "MAX_SYSTEM_UNKNOWNS",
    "CarlemanMap",
    "CarlemanSystem",
    "carleman_map",
    "carleman_nnz_bound",
    "carleman_system",
    "gradient_descent",
    "lift",
]

#: Largest number of stored nonzeros of the one-step Carleman matrix A that is built.
MAX_CARLEMAN_NNZ = 30_000_000
#: Largest number of unknowns of the T-step block system.
MAX_SYSTEM_UNKNOWNS = 20_000_000
#: Largest number of stored nonzeros of the T-step block system (about 12 bytes each in CSR).
MAX_SYSTEM_NNZ = 100_000_000
#: Highest truncation order accepted.
MAX_ORDER = 8


def _check_K(K: int) -> int:
    return check_int_range(
        K, "K", 1, MAX_ORDER, "`K` is the Carleman truncation order (tensor powers of theta kept); try K = 1..4."
    )


def lift(delta: Any, K: int) -> np.ndarray:
    """The Carleman vector y = [delta, delta^{⊗2}, ..., delta^{⊗K}].

    Example:
        >>> lift(np.array([1.0, 2.0]), 2).tolist()
        [1.0, 2.0, 1.0, 2.0, 2.0, 4.0]
    """
    K = _check_K(K)
    x, _ = as_numpy(delta, "delta")
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    check_finite(x, "delta")
    return np.concatenate([kron_power(x, k) for k in range(1, K + 1)])


def gradient_descent(grad: PolynomialGradient, theta0: Any, eta: float, T: int) -> np.ndarray:
    """Exact gradient descent theta_{t+1} = theta_t - eta g(theta_t): the (T+1, n) trajectory.

    Raises:
        NonFiniteError: the iteration overflowed (eta too large for this gradient).
    """
    eta = check_positive(eta, "eta")
    T = check_int_range(T, "T", 0, 10**8)
    x = grad._point(theta0, "theta0").copy()
    out = np.empty((T + 1, grad.n))
    out[0] = x
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(T):
            x = x - eta * grad(x) if np.isfinite(x).all() else x
            out[t + 1] = x
    check_finite(out, "gradient descent trajectory (reduce `eta`)")
    return out


def _update_factors(grad: PolynomialGradient, eta: float) -> list[tuple[int, int, sp.csr_matrix]]:
    """(j, power of eta, factor) of the update map: G_0, I, -eta F_1, G_2, ..., zero factors left out."""
    n = grad.n
    factors: list[tuple[int, int, sp.csr_matrix]] = [(1, 0, sp.identity(n, format="csr"))]
    for j, F in enumerate(grad.terms):
        if F is None:
            continue
        factors.append((j, 1, (-eta * F).tocsr()))
    return sorted(factors, key=lambda f: (f[0], f[1]))


def carleman_nnz_bound(grad: PolynomialGradient, K: int, eta_order: int | None = None) -> int:
    """Upper bound on the stored nonzeros of A (sum over Kronecker terms of the product of the
    factors' nonzeros), computed without building anything."""
    K = _check_K(K)
    nnz = [(j, p, int(G.nnz)) for j, p, G in _update_factors(grad, 1.0)]
    max_p = K if eta_order is None else eta_order
    prev: dict[tuple[int, int], int] = {(0, 0): 1}
    total = 0
    for _k in range(1, K + 1):
        cur: dict[tuple[int, int], int] = {}
        for (l0, p0), c in prev.items():
            for j, p, z in nnz:
                l, q = l0 + j, p0 + p
                if l <= K and q <= max_p:
                    cur[(l, q)] = cur.get((l, q), 0) + c * z
        total += sum(v for (l, _), v in cur.items() if l >= 1)
        prev = cur
    return total


@dataclass(frozen=True)
class CarlemanMap:
    """One step of the truncated discrete Carleman linearization: y(t+1) = A y(t) + b.

    Attributes:
        A: (N_C x N_C) CSR matrix, N_C = n + n^2 + ... + n^K.
        b: (N_C,) constant term [G_0^{⊗k}]_k.
        n, K, eta: sizes and learning rate.
        center: expansion point c (theta = c + delta).
        eta_order: highest power of eta kept (None: all).
        offsets: start of each block y_k in y (length K + 1; offsets[K] = N_C).
    """

    A: sp.csr_matrix
    b: np.ndarray
    n: int
    K: int
    eta: float
    center: np.ndarray
    eta_order: int | None = None
    offsets: tuple[int, ...] = field(default=())

    @property
    def size(self) -> int:
        """N_C, the number of Carleman variables."""
        return int(self.A.shape[0])

    def block(self, k: int, l: int) -> sp.csr_matrix:
        """A_{k,l} (1 <= k, l <= K), the map from y_l(t) to y_k(t+1)."""
        o = self.offsets
        return self.A[o[k - 1] : o[k], o[l - 1] : o[l]].tocsr()

    def lift(self, theta: Any) -> np.ndarray:
        """y for the parameters ``theta`` (delta = theta - center)."""
        x, _ = as_numpy(theta, "theta")
        return lift(np.asarray(x, dtype=np.float64).reshape(-1) - self.center, self.K)

    def step(self, y: np.ndarray) -> np.ndarray:
        """A y + b."""
        return np.asarray(self.A @ y).reshape(-1) + self.b

    def iterate(self, theta0: Any, T: int) -> np.ndarray:
        """Run the truncated linear recursion T steps from theta0 (classically); returns the
        (T+1, n) parameter trajectory it predicts (a cross-check for the block-system solves)."""
        T = check_int_range(T, "T", 0, 10**8)
        y = self.lift(theta0)
        out = np.empty((T + 1, self.n))
        out[0] = self.center + y[: self.n]
        for t in range(T):
            y = self.step(y)
            out[t + 1] = self.center + y[: self.n]
        return out


def carleman_map(
    grad: PolynomialGradient,
    eta: float,
    K: int,
    *,
    eta_order: int | None = None,
    max_nnz: int = MAX_CARLEMAN_NNZ,
) -> CarlemanMap:
    """Build the order-K discrete Carleman matrix of gradient descent with learning rate ``eta``.

    Args:
        grad: the polynomial gradient (its center is the expansion point).
        eta: learning rate > 0.
        K: truncation order, 1 <= K <= 8 (K = 1 is gradient descent on the gradient linearized at
            the center: delta -> delta - eta (F_0 + F_1 delta)).
        eta_order: keep only terms up to eta^eta_order (None: all; 1 mimics a continuous-time
            Carleman matrix discretized by forward Euler).
        max_nnz: refuse to build an A with more stored nonzeros than this.

    Raises:
        InvalidArgumentError: bad K or eta (eta <= 0), or A too large (the message says how large
            and how to shrink it).

    Example:
        >>> g = PolynomialGradient([None, np.array([[2.0]]), np.array([[1.0]])])  # g = 2x + x^2
        >>> cm = carleman_map(g, 0.1, 2)
        >>> cm.A.toarray().round(4).tolist(), cm.b.tolist()
        ([[0.8, -0.1], [0.0, 0.64]], [0.0, 0.0])
    """
    if not isinstance(grad, PolynomialGradient):
        raise InvalidArgumentError(
            "`grad` must be a qnewton.carleman.PolynomialGradient (build one with PolynomialGradient(terms) or "
            "PolynomialGradient.from_loss(loss, center, degree)); the Carleman linearization needs a polynomial "
            "gradient."
        )
    eta = check_positive(eta, "eta")
    K = _check_K(K)
    if eta_order is not None:
        eta_order = check_int_range(eta_order, "eta_order", 0, MAX_ORDER)
    bound = carleman_nnz_bound(grad, K, eta_order)
    if bound > max_nnz:
        raise InvalidArgumentError(
            f"the order-K = {K} Carleman matrix of this gradient (n = {grad.n}, degree {grad.degree}) would hold up to "
            f"{bound:.3g} nonzeros (limit `max_nnz` = {max_nnz:.3g}): the blocks are Kronecker powers, nnz ~ "
            f"nnz(F_1)^K. Lower `K`, prune the model to fewer parameters, or sparsify its coefficients."
        )
    n = grad.n
    max_p = K if eta_order is None else eta_order
    factors = _update_factors(grad, eta)
    # P[(l, p)] = sum of k-fold Kronecker products with total input order l and eta power p
    prev: dict[tuple[int, int], sp.csr_matrix] = {(0, 0): sp.csr_matrix(np.ones((1, 1)))}
    rows: list[list[sp.csr_matrix | None]] = []
    consts: list[np.ndarray] = []
    for k in range(1, K + 1):
        cur: dict[tuple[int, int], sp.csr_matrix] = {}
        for (l0, p0), M in prev.items():
            for j, p, G in factors:
                l, q = l0 + j, p0 + p
                if l > K or q > max_p:
                    continue
                term = sp.kron(M, G, format="csr")
                cur[(l, q)] = term if (l, q) not in cur else (cur[(l, q)] + term).tocsr()
        by_l: dict[int, sp.csr_matrix] = {}
        for (l, _q), M in cur.items():
            by_l[l] = M if l not in by_l else (by_l[l] + M).tocsr()
        consts.append(by_l[0].toarray().reshape(-1) if 0 in by_l else np.zeros(n**k))
        rows.append([by_l.get(l) if by_l.get(l) is not None else None for l in range(1, K + 1)])
        prev = cur
    # bmat needs each block row/column's size fixed: put explicit empty blocks where needed
    for k in range(1, K + 1):
        for l in range(1, K + 1):
            if rows[k - 1][l - 1] is None:
                rows[k - 1][l - 1] = sp.csr_matrix((n**k, n**l))
    A = sp.bmat(rows, format="csr")
    A.eliminate_zeros()
    offsets = tuple(int(sum(n**i for i in range(1, k + 1))) for k in range(0, K + 1))
    return CarlemanMap(
        A=A,
        b=np.concatenate(consts),
        n=n,
        K=K,
        eta=eta,
        center=grad.center.copy(),
        eta_order=eta_order,
        offsets=offsets,
    )


@dataclass(frozen=True)
class CarlemanSystem:
    """The T-step block system L Y = r (see the module docstring).

    Attributes:
        L: CSR matrix of size (T + 1 + idle) N_C, unit block lower bidiagonal.
        rhs: [y_in; b; ...; b; 0; ...; 0].
        cmap: the one-step :class:`CarlemanMap`.
        T: gradient-descent steps; idle: extra copies of the final state.
        theta0: the initial parameters.
    """

    L: sp.csr_matrix
    rhs: np.ndarray
    cmap: CarlemanMap
    T: int
    idle: int
    theta0: np.ndarray

    @property
    def size(self) -> int:
        return int(self.L.shape[0])

    @property
    def blocks(self) -> int:
        """Number of time blocks, T + 1 + idle."""
        return self.T + 1 + self.idle

    def unpack(self, Y: np.ndarray) -> np.ndarray:
        """The solution as (T + 1 + idle, N_C) rows y(t)."""
        Y = np.asarray(Y, dtype=np.float64).reshape(-1)
        if Y.size != self.size:
            raise ShapeError(f"`Y` has {Y.size} entries; the system has {self.size} unknowns.")
        return Y.reshape(self.blocks, self.cmap.size)

    def trajectory(self, Y: np.ndarray) -> np.ndarray:
        """The parameters theta_t = center + y_1(t), t = 0..T, read from a solution Y: (T+1, n)."""
        rows = self.unpack(Y)
        return self.cmap.center[None, :] + rows[: self.T + 1, : self.cmap.n]

    def residual(self, Y: np.ndarray) -> float:
        """||L Y - r|| / ||r||."""
        r = np.asarray(self.L @ np.asarray(Y, dtype=np.float64).reshape(-1)).reshape(-1) - self.rhs
        nr = float(np.linalg.norm(self.rhs))
        return float(np.linalg.norm(r)) / nr if nr > 0 else float(np.linalg.norm(r))


def carleman_system(cmap: CarlemanMap, theta0: Any, T: int, *, idle: int = 0) -> CarlemanSystem:
    """The block linear system whose solution holds all T iterates of the truncated recursion.

    Args:
        cmap: the one-step map from :func:`carleman_map`.
        theta0: initial parameters (the lifted y(0) = lift(theta0 - center) is the first block of
            the right-hand side: state preparation uploads it).
        T: number of gradient-descent steps >= 1.
        idle: extra blocks y(t+1) = y(t) after step T.

    Raises:
        InvalidArgumentError: T < 1, idle < 0, more than 2e7 unknowns or 1e8 stored nonzeros.

    Example:
        >>> g = PolynomialGradient([None, np.array([[1.0]])])
        >>> sys_ = carleman_system(carleman_map(g, 0.5, 1), [2.0], 2)
        >>> sys_.L.toarray().tolist(), sys_.rhs.tolist()
        ([[1.0, 0.0, 0.0], [-0.5, 1.0, 0.0], [0.0, -0.5, 1.0]], [2.0, 0.0, 0.0])
    """
    if not isinstance(cmap, CarlemanMap):
        raise InvalidArgumentError("`cmap` must be a CarlemanMap from qnewton.carleman.carleman_map.")
    T = check_int_range(T, "T", 1, 10**7, "`T` is the number of gradient-descent steps in the system.")
    idle = check_int_range(idle, "idle", 0, 10**7)
    nb = T + 1 + idle
    if nb * cmap.size > MAX_SYSTEM_UNKNOWNS:
        raise InvalidArgumentError(
            f"the system would have (T + 1 + idle) * N_C = {nb} * {cmap.size} = {nb * cmap.size:.3g} unknowns "
            f"(limit {MAX_SYSTEM_UNKNOWNS:.0e}); lower `T`, `K` or the number of parameters."
        )
    if T * cmap.A.nnz + nb * cmap.size > MAX_SYSTEM_NNZ:
        raise InvalidArgumentError(
            f"the system would store about T * nnz(A) = {T} * {cmap.A.nnz} = {T * cmap.A.nnz:.3g} nonzeros (limit "
            f"{MAX_SYSTEM_NNZ:.0e}); lower `T` or `K`, or run the truncated recursion with CarlemanMap.iterate "
            f"(same trajectory, no system)."
        )
    x0, _ = as_numpy(theta0, "theta0")
    x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
    if x0.size != cmap.n:
        raise ShapeError(f"`theta0` has {x0.size} entries; the map acts on n = {cmap.n} parameters.")
    check_finite(x0, "theta0")
    step_rows = np.zeros(nb)
    step_rows[1 : T + 1] = 1.0  # rows t = 1..T: y(t) - A y(t-1) = b
    idle_rows = np.zeros(nb)
    idle_rows[T + 1 :] = 1.0  # rows t > T: y(t) - y(t-1) = 0
    S_A = sp.diags(step_rows[1:], -1, shape=(nb, nb), format="csr")
    blocks = sp.identity(nb * cmap.size, format="csr") - sp.kron(S_A, cmap.A, format="csr")
    if idle:
        S_I = sp.diags(idle_rows[1:], -1, shape=(nb, nb), format="csr")
        blocks = blocks - sp.kron(S_I, sp.identity(cmap.size, format="csr"), format="csr")
    blocks = blocks.tocsr()
    blocks.eliminate_zeros()
    rhs = np.zeros(nb * cmap.size)
    rhs[: cmap.size] = cmap.lift(x0)
    for t in range(1, T + 1):
        rhs[t * cmap.size : (t + 1) * cmap.size] = cmap.b
    return CarlemanSystem(L=blocks, rhs=rhs, cmap=cmap, T=T, idle=idle, theta0=x0)
