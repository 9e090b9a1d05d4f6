r"""Polynomial gradients: the class of models the discrete Carleman linearization supports.

Supported class: gradient maps that are **exact polynomials of degree m <= 6** in the parameters,
given as a sum of tensor terms around a center c,

.. math::  g(\theta) = \nabla L(\theta) = \sum_{j=0}^{m} F_j \, (\theta - c)^{\otimes j},
           \qquad F_j \in \mathbb{R}^{n \times n^j},

with :math:`x^{\otimes j}` the j-fold Kronecker power (numpy's ``kron`` order: the last factor's
index runs fastest) and :math:`x^{\otimes 0} = 1`, so F_0 = g(c) is the gradient at the center and
F_1 the Hessian there. This is the form of Liu et al., Nat. Commun. 15, 434 (2024), Methods
("the gradient as a sum of tensor terms"), and of the continuous-time Carleman algorithm of Liu
et al., PNAS 118 (2021) e2026805118, Eq. (1), there with m = 2.

Which models have polynomial gradients: a loss that is a polynomial in the parameters, e.g. a
network with polynomial (here: identity or square) activations under the squared loss, or a
polynomial loss of a linear model. Smooth non-polynomial models (tanh, softmax cross-entropy)
are *not* in the class: their Taylor series does not terminate, and
:meth:`PolynomialGradient.from_loss` rejects them after checking the truncated series at random
points (:class:`~qnewton.errors.InvalidArgumentError` naming ``loss``).

Coefficient tensors are stored as scipy CSR matrices (the Carleman matrix is built from their
Kronecker products), with dense views for evaluation. Sizes are kept small on purpose: F_j has
n^(j+1) entries.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._arrays import as_numpy
from .._validation import check_finite, check_int_range, check_positive
from ..errors import InvalidArgumentError, NonFiniteError, ShapeError

__all__ = [
    "MAX_DEGREE",
    "MAX_TENSOR_ENTRIES",
    "PolynomialGradient",
    "kron_power",
    "ridge_polynomial",
]

#: Highest polynomial degree m of a gradient accepted.
MAX_DEGREE = 6
#: Largest number of entries n^(j+1) of one coefficient tensor F_j that is formed.
MAX_TENSOR_ENTRIES = 20_000_000


def kron_power(x: np.ndarray, j: int) -> np.ndarray:
    """x^{⊗j} (numpy ``kron`` order; ``j = 0`` gives ``[1.0]``).

    Example:
        >>> kron_power(np.array([1.0, 2.0]), 2).tolist()
        [1.0, 2.0, 2.0, 4.0]
    """
    out = np.ones(1)
    for _ in range(j):
        out = np.kron(out, x)
    return out


def _as_term(F: Any, n: int | None, j: int) -> sp.csr_matrix | None:
    if F is None:
        return None
    if sp.issparse(F):
        m = sp.csr_matrix(F, dtype=np.float64)
    else:
        a, _ = as_numpy(F, f"terms[{j}]")
        a = np.asarray(a, dtype=np.float64)
        if j == 0 and a.ndim == 1:
            a = a.reshape(-1, 1)
        if a.ndim != 2:
            a = a.reshape(a.shape[0], -1)
        m = sp.csr_matrix(a)
    if not np.isfinite(m.data).all():
        raise NonFiniteError(f"`terms[{j}]` (F_{j}) has NaN/Inf entries; check how the coefficients were computed.")
    rows = m.shape[0]
    if n is not None and rows != n:
        raise ShapeError(f"`terms[{j}]` has {rows} rows; every F_j must have n = {n} rows.")
    if m.shape[1] != rows**j:
        raise ShapeError(
            f"`terms[{j}]` (F_{j}) must be n x n^{j} = {rows} x {rows**j} (acting on theta^(kron {j})), "
            f"got {m.shape[0]} x {m.shape[1]}."
        )
    m.eliminate_zeros()
    return m


class PolynomialGradient:
    r"""g(theta) = sum_j F_j (theta - center)^{⊗j}: an exactly polynomial gradient (see module docs).

    Args:
        terms: ``[F_0, F_1, ..., F_m]``; F_0 of shape (n,) or (n, 1), F_j of shape (n, n^j) (dense
            numpy/torch or scipy sparse); ``None`` for a zero term. At least F_1 or a higher term
            must fix n.
        center: the expansion point c (default 0).

    Raises:
        ShapeError: inconsistent shapes. NonFiniteError: NaN/Inf coefficients.
        InvalidArgumentError: degree above :data:`MAX_DEGREE`, or no term.

    Example:
        >>> g = PolynomialGradient([None, np.eye(2), None, np.zeros((2, 8))])
        >>> g.n, g.degree, g(np.array([1.0, -2.0])).tolist()
        (2, 1, [1.0, -2.0])
    """

    def __init__(self, terms: Sequence[Any], center: Any = None) -> None:
        terms = list(terms)
        if not terms or all(t is None for t in terms):
            raise InvalidArgumentError("`terms` is empty; pass [F_0, F_1, ...] with at least one nonzero term.")
        if len(terms) - 1 > MAX_DEGREE:
            raise InvalidArgumentError(
                f"`terms` has degree {len(terms) - 1} > {MAX_DEGREE}: the Carleman system of such a gradient is "
                f"too large to build. Use a lower-degree model (e.g. identity or square activations)."
            )
        n = None
        for j, t in enumerate(terms):
            if t is not None and j >= 1:
                n = (t.shape[0]) if hasattr(t, "shape") else np.asarray(t).shape[0]
                break
        if n is None:
            f0 = np.asarray(terms[0] if not sp.issparse(terms[0]) else terms[0].toarray()).reshape(-1)
            n = f0.size
        converted = [_as_term(t, n, j) for j, t in enumerate(terms)]
        # drop trailing zero terms: the degree is that of the highest nonzero coefficient
        while len(converted) > 1 and (converted[-1] is None or converted[-1].nnz == 0):
            converted.pop()
        self._terms: tuple[sp.csr_matrix | None, ...] = tuple(
            None if (t is None or t.nnz == 0) else t for t in converted
        )
        self.n = int(n)
        if center is None:
            self.center = np.zeros(self.n)
        else:
            c, _ = as_numpy(center, "center")
            c = np.asarray(c, dtype=np.float64).reshape(-1)
            if c.size != self.n:
                raise ShapeError(f"`center` has {c.size} entries, the gradient acts on n = {self.n}.")
            check_finite(c, "center")
            self.center = c.copy()

    # -- basic facts -------------------------------------------------------------------------
    @property
    def degree(self) -> int:
        """m: the highest j with F_j != 0."""
        return len(self._terms) - 1

    @property
    def terms(self) -> tuple[sp.csr_matrix | None, ...]:
        """``(F_0, ..., F_m)`` as CSR matrices (``None`` for zero terms)."""
        return self._terms

    def term(self, j: int) -> sp.csr_matrix:
        """F_j as CSR (an explicit zero matrix when the term is absent)."""
        if 0 <= j < len(self._terms) and self._terms[j] is not None:
            return self._terms[j]
        return sp.csr_matrix((self.n, self.n**j))

    def dense_term(self, j: int) -> np.ndarray:
        """F_j as a dense array of shape (n, n, ..., n) (j + 1 axes)."""
        return self.term(j).toarray().reshape((self.n,) * (j + 1))

    def __repr__(self) -> str:
        nnz = [0 if t is None else int(t.nnz) for t in self._terms]
        return f"PolynomialGradient(n={self.n}, degree={self.degree}, nnz per term={nnz})"

    # -- evaluation --------------------------------------------------------------------------
    def __call__(self, theta: Any) -> np.ndarray:
        """g(theta) in float64."""
        x = self._point(theta, "theta") - self.center
        out = np.zeros(self.n)
        for j, F in enumerate(self._terms):
            if F is not None:
                out += F @ kron_power(x, j)
        return out

    def jacobian(self, theta: Any) -> np.ndarray:
        r"""Dg(theta), the n x n Jacobian; for a gradient of a loss this is the Hessian.

        :math:`\partial_x F_j x^{\otimes j}
        = \sum_{p=1}^{j} F_j (x^{\otimes (p-1)} \otimes I \otimes x^{\otimes(j-p)})`.
        """
        x = self._point(theta, "theta") - self.center
        J = np.zeros((self.n, self.n))
        for j, F in enumerate(self._terms):
            if F is None or j == 0:
                continue
            T = self.dense_term(j)
            for p in range(j):
                M = T
                # contract x into every input axis except axis p+1; contract from the last axis back
                for ax in range(j, 0, -1):
                    if ax != p + 1:
                        M = np.tensordot(M, x, axes=([ax], [0]))
                J += M
        return J

    def _point(self, theta: Any, name: str) -> np.ndarray:
        x, _ = as_numpy(theta, name)
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if x.size != self.n:
            raise ShapeError(f"`{name}` has {x.size} entries, the gradient acts on n = {self.n}.")
        check_finite(x, name)
        return x

    # -- re-centering ------------------------------------------------------------------------
    def recenter(self, center: Any) -> PolynomialGradient:
        r"""The same gradient expanded around a new center c': coefficients
        :math:`F'_i = \sum_{j \ge i} \sum_{|S| = i} F_j` with :math:`s = c' - c` contracted into the
        j - i input slots outside S (binomial expansion of :math:`(s + \delta)^{\otimes j}`)."""
        new = self._point(center, "center")
        s = new - self.center
        m = self.degree
        out: list[np.ndarray | None] = [None] * (m + 1)
        for j in range(m + 1):
            if self._terms[j] is None:
                continue
            T = self.dense_term(j)
            for i in range(j + 1):
                acc = np.zeros((self.n,) * (i + 1))
                for S in itertools.combinations(range(j), i):
                    M = T
                    for ax in range(j, 0, -1):  # input axis ax corresponds to slot ax - 1
                        if (ax - 1) not in S:
                            M = np.tensordot(M, s, axes=([ax], [0]))
                    acc = acc + M
                prev = out[i]
                out[i] = acc if prev is None else prev + acc
        flat = [None if t is None else t.reshape(self.n, -1) for t in out]
        return PolynomialGradient(flat, center=new)

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def from_loss(
        cls,
        loss: Callable[[Any], Any],
        center: Any,
        degree: int,
        *,
        check_points: int = 3,
        check_radius: float = 1.0,
        rtol: float = 1e-6,
        seed: int = 0,
    ) -> PolynomialGradient:
        r"""Taylor coefficients :math:`F_j = \frac{1}{j!} D^j \nabla L(c)` of a torch loss, checked.

        ``loss(theta)`` takes a 1-D float64 torch tensor and returns a scalar tensor; derivatives
        come from ``torch.func`` (``grad`` nested in ``degree`` forward-mode ``jacfwd``). The
        series is then compared with the true gradient at ``check_points`` random points
        c + r u (|u| = 1, r = ``check_radius`` (1 + |c|)): a gradient that is not a polynomial of
        degree <= ``degree`` fails the check.

        Raises:
            InvalidArgumentError: ``degree`` outside [1, 6]; a coefficient tensor too large
                (n^(degree+1) > 2e7); the gradient is not a polynomial of that degree (the message
                gives the relative mismatch; use a polynomial model or raise ``degree``).
            NonFiniteError: NaN/Inf in the loss or its derivatives.
        """
        import torch
        from torch.func import grad, jacfwd

        degree = check_int_range(degree, "degree", 1, MAX_DEGREE, "The gradient's polynomial degree m.")
        check_positive(check_radius, "check_radius")
        c, _ = as_numpy(center, "center")
        c = np.asarray(c, dtype=np.float64).reshape(-1)
        check_finite(c, "center")
        n = c.size
        if n ** (degree + 1) > MAX_TENSOR_ENTRIES:
            raise InvalidArgumentError(
                f"F_{degree} would have n^{degree + 1} = {n ** (degree + 1):.3g} entries (n = {n}); the limit is "
                f"{MAX_TENSOR_ENTRIES:.0e}. Prune the model to fewer parameters or use a lower `degree`."
            )

        def scalar_loss(t):
            out = loss(t)
            if not isinstance(out, torch.Tensor) or out.numel() != 1:
                raise InvalidArgumentError("`loss(theta)` must return a scalar torch tensor.")
            return out.reshape(())

        ct = torch.as_tensor(c, dtype=torch.float64)
        fn = grad(scalar_loss)
        terms: list[np.ndarray] = []
        d = fn
        for j in range(degree + 1):
            val = d(ct).detach().cpu().numpy().astype(np.float64)
            if not np.isfinite(val).all():
                raise NonFiniteError(
                    f"the {j}-th derivative of the gradient of `loss` at `center` has NaN/Inf; check the loss."
                )
            terms.append(val.reshape(n, -1) / math.factorial(j))
            if j < degree:
                d = jacfwd(d)
        poly = cls(terms, center=c)
        rng = np.random.default_rng(seed)
        radius = check_radius * (1.0 + float(np.linalg.norm(c)))
        for _ in range(check_points):
            u = rng.standard_normal(n)
            x = c + radius * u / np.linalg.norm(u)
            true = fn(torch.as_tensor(x, dtype=torch.float64)).detach().cpu().numpy()
            approx = poly(x)
            err = float(np.linalg.norm(approx - true)) / max(float(np.linalg.norm(true)), 1e-300)
            if not err <= rtol:
                raise InvalidArgumentError(
                    f"the gradient of `loss` is not a polynomial of degree <= {degree} in the parameters: its "
                    f"degree-{degree} Taylor series around `center` misses the gradient by {err:.3g} (relative) at "
                    f"distance {radius:.3g}. The discrete Carleman linearization needs an exactly polynomial "
                    f"gradient: use polynomial activations (identity or square) with the squared loss, or pass "
                    f"the right `degree`."
                )
        return poly


def ridge_polynomial(
    eigenvalues: Any,
    *,
    cubic: float = 0.0,
    quartic: float = 0.0,
    ridges: int | None = None,
    seed: int = 0,
) -> tuple[PolynomialGradient, Callable[[np.ndarray], float]]:
    r"""A synthetic loss with a prescribed Hessian at its critical point 0, and its gradient.

    .. math::  L(\theta) = \tfrac12 \theta^T H \theta + \tfrac{a}{3} \sum_r (w_r\cdot\theta)^3
               + \tfrac{b}{4} \sum_r (u_r\cdot\theta)^4,

    H = Q diag(eigenvalues) Q^T (Q random orthogonal), w_r and u_r random unit vectors (``ridges``
    of each, default n), a = ``cubic``, b = ``quartic``. The gradient
    :math:`H\theta + a\sum_r (w_r\cdot\theta)^2 w_r + b\sum_r (u_r\cdot\theta)^3 u_r` is a polynomial of
    degree 3 (2 without the quartic term), so GD on it is exactly in the Carleman class; the sign
    of the eigenvalues sets how dissipative the dynamics near 0 are.

    Returns:
        ``(gradient, loss)`` with ``loss`` a numpy function of theta.

    Example:
        >>> g, L = ridge_polynomial([1.0, 2.0], cubic=0.5, quartic=0.1)
        >>> g.degree, np.allclose(g.jacobian(np.zeros(2)), g.jacobian(np.zeros(2)).T)
        (3, True)
    """
    lam, _ = as_numpy(eigenvalues, "eigenvalues")
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    check_finite(lam, "eigenvalues")
    n = lam.size
    if n == 0:
        raise InvalidArgumentError("`eigenvalues` is empty; pass the n eigenvalues of the Hessian at 0.")
    r = n if ridges is None else check_int_range(ridges, "ridges", 1, 10**4)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = (q * lam) @ q.T
    H = 0.5 * (H + H.T)
    W = rng.standard_normal((r, n))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    U = rng.standard_normal((r, n))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    terms: list[Any] = [None, H]
    if cubic or quartic:
        terms.append(cubic * np.einsum("ri,rj,rk->ijk", W, W, W).reshape(n, -1) if cubic else None)
    if quartic:
        terms.append(quartic * np.einsum("ri,rj,rk,rl->ijkl", U, U, U, U).reshape(n, -1))

    def loss(theta: np.ndarray) -> float:
        t = np.asarray(theta, dtype=np.float64).reshape(-1)
        return float(0.5 * t @ H @ t + cubic / 3 * np.sum((W @ t) ** 3) + quartic / 4 * np.sum((U @ t) ** 4))

    return PolynomialGradient(terms), loss
