"""Private: the inverse polynomial and its quantum signal processing (QSP) phase factors, for the
QSVT circuit backend (:mod:`qnewton.solvers.circuit`). Pure numpy (torch only for the optional
least-squares solver); PennyLane is not needed here.

Conventions (the "Wx" convention of Dong, Meng, Whaley, Lin, Phys. Rev. A 103, 042419 (2021)):

    W(x) = [[x, i sqrt(1 - x^2)], [i sqrt(1 - x^2), x]] = exp(i arccos(x) X)
    U(x, Phi) = e^{i phi_0 Z} W(x) e^{i phi_1 Z} W(x) ... W(x) e^{i phi_d Z}
    P(x, Phi) = <0| U(x, Phi) |0>

Phases are symmetric (phi_j = phi_{d-j}) and the target is f(x) = Im P(x, Phi); with all phases
zero, P = T_d(x) and Im P = 0, and to first order Im P = 2 sum_k psi_k T_{2k+1}(x) in the
reduced phases psi (odd d = 2m - 1, full phases = (psi_{m-1}, ..., psi_0, psi_0, ..., psi_{m-1})).
That linearization makes the fixed-point and Newton iterations below well posed.

Only odd targets are needed (1/x is odd), so only odd degrees are implemented.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConvergenceError, InvalidArgumentError

__all__ = [
    "ANGLE_SOLVERS",
    "InversePolynomial",
    "PhaseResult",
    "cheb_odd_eval",
    "clear_phase_cache",
    "find_phases",
    "inverse_polynomial",
    "phases_for_inverse",
    "qsp_response",
    "wx_to_qsvt_angles",
]

#: Angle solvers implemented here, tried in this order by ``"auto"``.
ANGLE_SOLVERS = ("newton", "fpi", "lbfgs")


# --- Chebyshev helpers ------------------------------------------------------------------------


def _cheb_t(k: np.ndarray, x: np.ndarray) -> np.ndarray:
    """T_k(x) for x in [-1, 1], shape (len(x), len(k)); the trigonometric form is stable at any k."""
    theta = np.arccos(np.clip(x, -1.0, 1.0))
    return np.cos(np.outer(theta, k))


def _odd_basis(x: np.ndarray, m: int) -> np.ndarray:
    """Matrix [T_1(x), T_3(x), ..., T_{2m-1}(x)], shape (len(x), m)."""
    return _cheb_t(2 * np.arange(m) + 1, np.asarray(x, dtype=np.float64))


def _half_nodes(m: int) -> np.ndarray:
    """The m positive Chebyshev-Gauss nodes of degree 2m: x_j = cos((2j+1) pi / (4m))."""
    return np.cos((2 * np.arange(m) + 1) * np.pi / (4 * m))


def cheb_odd_eval(c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Evaluate sum_k c_k T_{2k+1}(x)."""
    x = np.asarray(x, dtype=np.float64)
    return _odd_basis(x.ravel(), len(c)).dot(c).reshape(x.shape)


def _odd_coefficients(values: np.ndarray, m: int) -> np.ndarray:
    """Odd Chebyshev coefficients from values at :func:`_half_nodes` (m): exact for odd degree <= 2m-1.

    Discrete orthogonality of the Chebyshev-Gauss nodes of degree 2m, restricted to the positive
    half (the products T_a T_b of two odd polynomials are even): sum_j T_a T_b = (m/2) delta_ab.
    """
    return (2.0 / m) * _odd_basis(_half_nodes(m), m).T.dot(values)


# --- the inverse polynomial -------------------------------------------------------------------


@dataclass(frozen=True)
class InversePolynomial:
    """An odd polynomial f(x) = sum_k coeffs_k T_{2k+1}(x) with f(x) ~ scale / (kappa x) on
    1/kappa <= |x| <= 1 and |f(x)| <= max_abs on [-1, 1].

    Attributes:
        coeffs: odd Chebyshev coefficients (length (degree + 1) / 2).
        degree: polynomial degree (odd) = number of block-encoding queries in QSVT.
        kappa: the condition number the domain was built for.
        scale: f(x) = scale * p(x) / kappa with p(x) ~ 1/x; f(1/kappa) ~ scale.
        rel_error: max over the domain of |kappa x f(x) / scale - 1| (the bound 1/T_n(q0)).
        max_abs: max |f| on [-1, 1] (measured on a fine grid).
    """

    coeffs: np.ndarray
    degree: int
    kappa: float
    scale: float
    rel_error: float
    max_abs: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return cheb_odd_eval(self.coeffs, x)


def inverse_degree(kappa: float, eps: float) -> int:
    """Smallest odd degree 2n - 1 whose optimal residual 1/T_n(q0) is <= eps (see inverse_polynomial)."""
    a = 1.0 / kappa
    q0 = (1.0 + a * a) / (1.0 - a * a)
    n = max(1, math.ceil(math.acosh(1.0 / eps) / math.acosh(q0) - 1e-12))
    return 2 * n - 1


def inverse_polynomial(kappa: float, eps: float, max_abs: float = 0.9, degree_cap: int = 1501) -> InversePolynomial:
    r"""The minimax-relative-error odd polynomial for 1/x on 1/kappa <= |x| <= 1, scaled for QSP.

    With a = 1/kappa and q(x) = (1 + a^2 - 2 x^2) / (1 - a^2) (which maps |x| in [a, 1] onto
    [-1, 1] and x = 0 onto q0 = (1 + a^2)/(1 - a^2) > 1),

        p(x) = (1 - T_n(q(x)) / T_n(q0)) / x,     degree 2n - 1,
        |x p(x) - 1| = |T_n(q(x))| / T_n(q0) <= 1 / T_n(q0)   on the domain,

    the Chebyshev-optimal residual polynomial on two intervals symmetric about 0 (the residual
    polynomial of Chebyshev acceleration, e.g. Y. Saad, *Iterative Methods for Sparse Linear
    Systems*, 2nd ed., 2003; used for QLSAs by Gribling, Kerenidis, Szilagyi, "An optimal
    linear-combination-of-unitaries-based quantum linear system solver", 2023). For H = alpha A this gives
    ||p(A) b - A^{-1} b|| <= eps ||A^{-1} b|| with eps = 1/T_n(q0). n is the smallest with
    1/T_n(q0) <= eps, so degree ~ kappa ln(2/eps). p overshoots 1/a in the gap |x| < a (by ~1.1 to
    1.8); the returned f = max_abs * p / max|p| keeps |f| <= max_abs on [-1, 1].

    Args:
        kappa: condition number (> 1) of the block-encoded matrix, ||A|| <= 1.
        eps: target relative error of the polynomial on the domain, in (0, 0.5].
        max_abs: bound on |f| over [-1, 1] (< 1, as QSP requires).
        degree_cap: largest allowed degree.

    Returns:
        :class:`InversePolynomial`.

    Raises:
        ConvergenceError: the degree needed exceeds ``degree_cap``.
    """
    if not kappa > 1.0:
        kappa = 1.0 + 1e-9  # a multiple of the identity: any a < 1 works
    a = 1.0 / kappa
    q0 = (1.0 + a * a) / (1.0 - a * a)
    degree = inverse_degree(kappa, eps)
    if degree > degree_cap:
        raise ConvergenceError(
            f"the inverse polynomial for kappa = {kappa:.4g} at precision `eps` = {eps:.2g} needs degree "
            f"{degree} > `degree_cap` = {degree_cap} (degree ~ kappa ln(2/eps)). Raise `degree_cap`, relax "
            f"`eps`, or regularize the block (H + lambda I) to lower kappa."
        )
    n = (degree + 1) // 2
    tq0 = math.cosh(n * math.acosh(q0))

    def tn(q: np.ndarray) -> np.ndarray:
        out = np.empty_like(q)
        inside = np.abs(q) <= 1.0
        out[inside] = np.cos(n * np.arccos(q[inside]))
        qo = q[~inside]
        out[~inside] = np.sign(qo) ** n * np.cosh(n * np.arccosh(np.abs(qo)))
        return out

    def p(x: np.ndarray) -> np.ndarray:
        q = (1.0 + a * a - 2.0 * x * x) / (1.0 - a * a)
        return (1.0 - tn(q) / tq0) / x

    m = n
    c = _odd_coefficients(p(_half_nodes(m)), m)  # exact: p is odd of degree 2m - 1
    # max |p| on [0, 1] (p is odd): a grid dense near the gap, where the maximum sits, then a
    # local refinement around the best grid point.
    knee = min(2.0 * a, 1.0)
    grid = np.concatenate([np.linspace(0.0, knee, 40 * m + 200), np.linspace(knee, 1.0, 20 * m + 200)])
    vals = np.abs(cheb_odd_eval(c, grid))
    i = int(np.argmax(vals))
    local = np.linspace(grid[max(i - 2, 0)], grid[min(i + 2, len(grid) - 1)], 2001)
    pmax = float(max(vals[i], np.abs(cheb_odd_eval(c, local)).max()))
    # f = (max_abs / pmax) p ~ (max_abs / pmax) / x = scale / (kappa x)
    return InversePolynomial(
        coeffs=c * (max_abs / pmax),
        degree=degree,
        kappa=float(kappa),
        scale=float(max_abs * kappa / pmax),
        rel_error=float(1.0 / tq0),
        max_abs=float(max_abs),
    )


# --- QSP response and its Jacobian ------------------------------------------------------------


def reduced_to_full(psi: np.ndarray) -> np.ndarray:
    """Symmetric full phases (odd degree 2m - 1) from m reduced phases."""
    return np.concatenate([psi[::-1], psi])


def qsp_response(phases: np.ndarray, x: np.ndarray) -> np.ndarray:
    """P(x, Phi) = <0| e^{i phi_0 Z} prod_k W(x) e^{i phi_k Z} |0> for each x (complex array).

    Propagates the row vector <0| U through the sequence: O(d len(x)), vectorized over x.
    """
    x = np.asarray(x, dtype=np.float64)
    s = 1j * np.sqrt(np.clip(1.0 - x * x, 0.0, None))
    v0 = np.full(x.shape, np.exp(1j * phases[0]), dtype=np.complex128)
    v1 = np.zeros(x.shape, dtype=np.complex128)
    for phi in phases[1:]:
        v0, v1 = v0 * x + v1 * s, v0 * s + v1 * x
        v0 = v0 * np.exp(1j * phi)
        v1 = v1 * np.exp(-1j * phi)
    return v0


def _response_and_gradient(phases: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(x) and dP/dphi_j for all j, shape (len(x),) and (len(x), d + 1).

    dP/dphi_j = L_j (i Z) R_j with L_j = <0| e^{i phi_0 Z} W ... W e^{i phi_j Z} and
    R_j = W e^{i phi_{j+1} Z} ... W e^{i phi_d Z} |0>; both sweeps are stored.
    """
    d = len(phases) - 1
    nx = len(x)
    s = 1j * np.sqrt(np.clip(1.0 - x * x, 0.0, None))
    e = np.exp(1j * phases)
    left = np.empty((d + 1, 2, nx), dtype=np.complex128)
    v0 = np.full(nx, e[0], dtype=np.complex128)
    v1 = np.zeros(nx, dtype=np.complex128)
    left[0, 0], left[0, 1] = v0, v1
    for j in range(1, d + 1):
        v0, v1 = (v0 * x + v1 * s) * e[j], (v0 * s + v1 * x) / e[j]
        left[j, 0], left[j, 1] = v0, v1
    right = np.empty((d + 1, 2, nx), dtype=np.complex128)
    w0 = np.ones(nx, dtype=np.complex128)
    w1 = np.zeros(nx, dtype=np.complex128)
    right[d, 0], right[d, 1] = w0, w1
    for j in range(d - 1, -1, -1):
        u0, u1 = w0 * e[j + 1], w1 / e[j + 1]
        w0, w1 = x * u0 + s * u1, s * u0 + x * u1
        right[j, 0], right[j, 1] = w0, w1
    grad = 1j * (left[:, 0] * right[:, 0] - left[:, 1] * right[:, 1])  # (d + 1, nx)
    return left[d, 0], grad.T


# --- phase solvers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseResult:
    """Symmetric Wx phases reproducing an odd target f = Im P.

    Attributes:
        phases: full Wx phases (length degree + 1).
        method: the solver that produced them.
        iterations: iterations it used.
        coeff_error: sum_k |Chebyshev coefficient of Im P - target coefficient| (an upper bound
            on the error on [-1, 1], since |T_k| <= 1).
        grid_error: max |Im P(x) - f(x)| on a uniform grid of [-1, 1] (the independent check).
        seconds: wall-clock seconds spent (measured).
    """

    phases: np.ndarray
    method: str
    iterations: int
    coeff_error: float
    grid_error: float
    seconds: float


def _newton(c: np.ndarray, tol: float, maxiter: int) -> tuple[np.ndarray, int, float]:
    """Newton's method on F(psi) = c, F = odd Chebyshev coefficients of Im P (Dong, Lin, Ni, Wang,
    "Robust iterative method for symmetric quantum signal processing in all parameter regimes",
    SIAM J. Sci. Comput. 2024). Starts from the linearization psi = c / 2; damped when a full
    step does not reduce the residual."""
    m = len(c)
    x = _half_nodes(m)
    basis = (2.0 / m) * _odd_basis(x, m)  # (nx, m): coefficients = basis.T @ values
    psi = c / 2.0
    err = np.inf
    for it in range(1, maxiter + 1):
        p, grad = _response_and_gradient(reduced_to_full(psi), x)
        r = basis.T.dot(p.imag) - c
        err = float(np.abs(r).sum())
        if err <= tol:
            return psi, it - 1, err
        g = grad.imag  # (nx, 2m): d Im P / d phi_j
        g_red = g[:, m - 1 :: -1] + g[:, m:]  # d/d psi_k = d/d phi_{m-1-k} + d/d phi_{m+k}
        jac = basis.T.dot(g_red)
        try:
            step = np.linalg.solve(jac, r)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        for _ in range(20):
            trial = psi - t * step
            rt = basis.T.dot(qsp_response(reduced_to_full(trial), x).imag) - c
            if np.abs(rt).sum() < err or t < 1e-3:
                break
            t *= 0.5
        psi = trial
    return psi, maxiter, err


def _fpi(c: np.ndarray, tol: float, maxiter: int) -> tuple[np.ndarray, int, float]:
    """Fixed-point iteration psi <- psi - (F(psi) - c)/2 (Dong, Lin, Ni, Wang, "Infinite quantum
    signal processing", 2022): linear convergence, proven for small max|f|; measured here to
    converge for the inverse polynomials up to max|f| = 0.999 (437 iterations there, 40 at 0.9)."""
    m = len(c)
    x = _half_nodes(m)
    basis = (2.0 / m) * _odd_basis(x, m)
    psi = c / 2.0
    err = np.inf
    for it in range(1, maxiter + 1):
        r = basis.T.dot(qsp_response(reduced_to_full(psi), x).imag) - c
        err = float(np.abs(r).sum())
        if err <= tol:
            return psi, it - 1, err
        if not np.isfinite(err) or err > 1e3:
            break
        psi = psi - 0.5 * r
    return psi, maxiter, err


def _lbfgs(c: np.ndarray, tol: float, maxiter: int) -> tuple[np.ndarray, int, float]:
    """Least squares on Chebyshev nodes, sum_j (Im P(x_j) - f(x_j))^2, by torch L-BFGS with
    autograd through the QSP product (Dong, Meng, Whaley, Lin 2021, optimization approach)."""
    import torch

    m = len(c)
    xn = _half_nodes(m)
    basis = (2.0 / m) * _odd_basis(xn, m)
    target = torch.from_numpy(_odd_basis(xn, m).dot(c))
    x = torch.from_numpy(xn)
    s = 1j * torch.sqrt(torch.clamp(1.0 - x * x, min=0.0))
    psi = torch.tensor(c / 2.0, dtype=torch.float64, requires_grad=True)

    def imag_p(psi_t: torch.Tensor) -> torch.Tensor:
        phases = torch.cat([psi_t.flip(0), psi_t])
        v0 = torch.exp(1j * phases[0]) * torch.ones_like(s)
        v1 = torch.zeros_like(s)
        for k in range(1, len(phases)):
            e = torch.exp(1j * phases[k])
            v0, v1 = (v0 * x + v1 * s) * e, (v0 * s + v1 * x) / e
        return v0.imag

    opt = torch.optim.LBFGS(
        [psi], lr=1.0, max_iter=25, tolerance_grad=0.0, tolerance_change=0.0, history_size=50,
        line_search_fn="strong_wolfe",
    )  # fmt: skip
    # The loss is divided by tol^2 so that L-BFGS's internal stopping tests do not fire on the
    # tiny absolute values near the solution.
    weight = 1.0 / max(tol, 1e-15) ** 2

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = weight * ((imag_p(psi) - target) ** 2).sum()
        loss.backward()
        return loss

    def coeff_error(p: np.ndarray) -> float:
        return float(np.abs(basis.T.dot(qsp_response(reduced_to_full(p), xn).imag) - c).sum())

    rounds = max(1, maxiter // 25)
    err = np.inf
    for it in range(rounds):
        opt.step(closure)
        out = psi.detach().numpy().copy()
        err = coeff_error(out)
        if err <= tol or not np.isfinite(err):
            return out, 25 * (it + 1), err
    return psi.detach().numpy().copy(), 25 * rounds, err


_SOLVERS: dict[str, Callable[[np.ndarray, float, int], tuple[np.ndarray, int, float]]] = {
    "newton": _newton,
    "fpi": _fpi,
    "lbfgs": _lbfgs,
}
_MAXITER = {"newton": 50, "fpi": 2000, "lbfgs": 500}


def check_phases(phases: np.ndarray, c: np.ndarray, n_grid: int | None = None) -> float:
    """max |Im P(x, phases) - f(x)| on a uniform grid of [-1, 1] (independent of the solver's nodes)."""
    n_grid = n_grid or max(2001, 8 * len(phases) + 1)
    x = np.linspace(-1.0, 1.0, n_grid)
    return float(np.abs(qsp_response(phases, x).imag - cheb_odd_eval(c, x)).max())


def find_phases(c: np.ndarray, method: str = "auto", tol: float = 1e-12) -> PhaseResult:
    """Symmetric Wx phases with Im P(x, Phi) = sum_k c_k T_{2k+1}(x) on [-1, 1].

    Args:
        c: odd Chebyshev coefficients of the target (max |f| < 1 on [-1, 1]).
        method: ``"newton"``, ``"fpi"``, ``"lbfgs"`` or ``"auto"`` (each in that order until one
            reaches ``tol``).
        tol: required max error on [-1, 1]: the l1 norm of the Chebyshev coefficient error
            (a bound on the sup error) must reach it, and the independent uniform-grid check must
            agree (allowed tol plus a rounding floor of 1e-14 * degree).

    Returns:
        :class:`PhaseResult` (the grid error is measured independently of the solver's nodes).

    Raises:
        InvalidArgumentError: unknown ``method``.
        ConvergenceError: no solver reached ``tol``; the message lists what each reached.
    """
    if method != "auto" and method not in _SOLVERS:
        raise InvalidArgumentError(f"`angle_solver` must be one of {('auto', *ANGLE_SOLVERS)}, got {method!r}.")
    c = np.asarray(c, dtype=np.float64)
    order = ANGLE_SOLVERS if method == "auto" else (method,)
    grid_tol = tol + 1e-14 * (2 * len(c))
    tried = []
    for name in order:
        t0 = time.perf_counter()
        with np.errstate(all="ignore"):
            psi, iters, err = _SOLVERS[name](c, tol, _MAXITER[name])
        phases = reduced_to_full(psi)
        gerr = check_phases(phases, c) if np.isfinite(err) else np.inf
        seconds = time.perf_counter() - t0
        if err <= tol and gerr <= grid_tol:
            return PhaseResult(phases, name, iters, err, gerr, seconds)
        tried.append(f"{name}: coefficient error {err:.2g}, grid error {gerr:.2g} after {iters} iterations")
    raise ConvergenceError(
        f"no QSP angle solver reached tolerance {tol:.1g} for the degree-{2 * len(c) - 1} polynomial "
        f"({'; '.join(tried)}). Lower `max_abs` of the polynomial (QSP needs |f| < 1 with margin), relax "
        f"`eps`, or lower the degree (smaller kappa)."
    )


# --- PennyLane QSVT angle convention ------------------------------------------------------------


def wx_to_qsvt_angles(phases: np.ndarray) -> np.ndarray:
    """PennyLane ``qml.QSVT`` projector angles (``PCPhase``) whose block's real part is Im P.

    PennyLane's QSP convention is the same Wx product but with target Re P; subtracting pi/4 from
    both end phases multiplies P by -i, turning Im P into Re P. Then the QSP -> QSVT map of
    Martyn, Rossi, Tan, Chuang, "Grand unification of quantum algorithms", PRX Quantum 2, 040203
    (2021), App. A.2 (the same offsets as ``qml.transform_angles``): phi_0 += 3pi/4 - (3 + (d+1) mod 4) pi/2,
    interior += pi/2, phi_d -= pi/4. Verified numerically in tests/test_solvers_circuit.py.
    """
    qsp = np.array(phases, dtype=np.float64)
    qsp[0] -= np.pi / 4
    qsp[-1] -= np.pi / 4
    n = len(qsp)
    offs = np.full(n, np.pi / 2)
    offs[0] = 3 * np.pi / 4 - (3 + n % 4) * np.pi / 2
    offs[-1] = -np.pi / 4
    return qsp + offs


# --- cache ------------------------------------------------------------------------------------

_CACHE: dict[tuple, tuple[InversePolynomial, PhaseResult]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 64


def clear_phase_cache() -> None:
    """Forget cached polynomials and phases."""
    with _CACHE_LOCK:
        _CACHE.clear()


def phases_for_inverse(
    kappa: float, eps: float, degree_cap: int, max_abs: float, method: str
) -> tuple[InversePolynomial, PhaseResult, bool]:
    """Inverse polynomial and its phases, cached per (kappa, eps, degree_cap, max_abs, method).

    Returns ``(polynomial, phases, cache_hit)``. The phase tolerance is set so the phase error adds
    at most eps/10 relative error to the solution: |delta f| <= 0.1 eps min_domain |f|, which is
    0.1 eps scale / kappa (and at most 1e-10).
    """
    key = (float(kappa), float(eps), int(degree_cap), float(max_abs), method)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit[0], hit[1], True
    poly = inverse_polynomial(kappa, eps, max_abs=max_abs, degree_cap=degree_cap)
    tol = min(1e-10, 0.1 * eps * poly.scale / poly.kappa)
    res = find_phases(poly.coeffs, method=method, tol=tol)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = (poly, res)
    return poly, res, False
