"""The quantum route, emulated: what a QLSA plus readout would return, and what it would cost.

No quantum computer is attached. As in the Q-Newton paper (Sec. VI-A: "our simulations are
conducted using classical algorithms"), the emulator solves the pruned, regularized block
classically and then models what a fault-tolerant QLSA would hand back:

* ``mode="ideal"``: the exact solution of the (pruned) system, i.e. a perfect QLSA with perfect
  readout: the paper's own model.
* ``mode="noisy"``: the QLSA's output state is only within ``eps`` of the true normalized solution
  (Jennings et al.'s guarantee ``|| |x~> - |x> || <= eps``; the emulator puts the error at that
  bound, in a random direction orthogonal to |x>); the classical vector is then read out by
  Kerenidis-Prakash l2 tomography with a finite number of copies (magnitudes from computational-
  basis counts, signs from the interference stage, both sampled from the exact multinomial
  statistics), and the norm ||H^-1 g|| comes from an amplitude estimate with relative error drawn
  uniformly within ``norm_precision``. Seeded and reproducible; the generator state travels in
  ``state_dict()``.

Sparse (CSR) blocks are solved by a Krylov method (conjugate gradients, MINRES if CG meets
negative curvature); dense blocks by a Cholesky or symmetric-indefinite factorization. The report
carries both times, kept apart: ``measured_seconds`` is the emulation's own wall time on this
machine, ``modeled_seconds`` the QLSA time from the cost model (query count x gate time).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from .._device import accelerated, clock
from .._validation import check_fraction, check_int_range, check_positive
from ..cost import CostEstimate, QuantumCostModel, block_encoding_alpha, tomography_copies
from ..errors import ConvergenceWarning, InvalidArgumentError, SingularMatrixError
from ..linalg import estimate_condition, oracle_sparsity
from ..linalg.krylov import conjugate_gradient as torch_cg
from ..linalg.krylov import minres
from ._system import as_system, check_torch_system, relative_residual
from .base import RouteKind, SolveReport, SolveResult
from .classical import TORCH_FROM_N, _cholesky_solve

__all__ = ["EmulatedQLSASolver"]

Mode = Literal["ideal", "noisy"]


@dataclass
class EmulatedQLSASolver:
    """Emulated QLSA: ``solve(H, g, kappa=None, d=None) -> SolveResult``.

    Attributes:
        mode: ``"ideal"`` or ``"noisy"`` (see the module docstring).
        cost_model: prices the solve (modeled seconds); its ``eps`` is also the output-state
            error of the noisy mode.
        tomography_copies: copies per tomography stage in the noisy mode; None derives them from
            the cost model's ``readout_precision`` delta (36 N ln N / delta^2, Kerenidis-Prakash);
            0 skips tomography (the state is read out exactly).
        norm_precision: relative error bound of the amplitude-estimated norm (noisy mode); None
            uses the cost model's ``norm_precision`` or ``readout_precision``.
        krylov_tol: relative residual tolerance of the Krylov solve of sparse blocks.
        krylov_maxiter: iteration cap (None: 10 N).
        seed: seed of the noise generator.
    """

    mode: Mode = "ideal"
    cost_model: QuantumCostModel = field(default_factory=QuantumCostModel)
    tomography_copies: int | None = None
    norm_precision: float | None = None
    krylov_tol: float = 1e-10
    krylov_maxiter: int | None = None
    seed: int = 0

    route: ClassVar[RouteKind] = "quantum"

    def __post_init__(self) -> None:
        if self.mode not in ("ideal", "noisy"):
            raise InvalidArgumentError(f"`mode` must be 'ideal' or 'noisy', got {self.mode!r}.")
        if not isinstance(self.cost_model, QuantumCostModel):
            raise InvalidArgumentError("`cost_model` must be a qnewton.cost.QuantumCostModel.")
        if self.tomography_copies is not None:
            check_int_range(self.tomography_copies, "tomography_copies", 0, 2**62)
        if self.norm_precision is not None:
            check_fraction(self.norm_precision, "norm_precision")
        check_positive(self.krylov_tol, "krylov_tol")
        self._rng = np.random.default_rng(self.seed)

    @property
    def name(self) -> str:
        return f"emulated-{self.mode}"

    # -- checkpointing of the noise stream ---------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The noise generator's state, so a resumed run draws the same noise."""
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["rng"]

    # -- the solve ------------------------------------------------------------------------------
    def solve(
        self,
        H,
        g,
        *,
        kappa: float | None = None,
        d: int | None = None,
        norm2: float | None = None,
        rng: np.random.Generator | None = None,
        cost: CostEstimate | None = None,
    ) -> SolveResult:
        """Emulate a QLSA solve of H x = g for a vector g.

        Args:
            H: the block as the quantum route sees it (already pruned and regularized), dense or CSR.
            g: right-hand side, shape (N,).
            kappa: condition number for the cost model (estimated here when None: Lanczos for an
                SPD block, SVD for small ones).
            d: oracle sparsity (None: the block's largest row count of nonzeros).
            norm2: ||H||_2 if known (for the block-encoding alpha).
            rng: noise generator for this solve (noisy mode); None uses the solver's own stream.
            cost: the modeled cost if the caller has already priced this block (the scheduler
                has); then kappa, d and norm2 are not needed.

        A torch ``H`` on an accelerator (dense, or sparse CSR/COO) is solved on its device (torch
        Cholesky / LDL, or CG and MINRES with sparse products); only the noise of the noisy mode,
        drawn for one N-vector, is generated on the host.
        """
        if accelerated(H):
            return self._solve_torch(H, g, rng, cost)
        sys_ = as_system(H, g)
        if sys_.b.ndim != 1:
            raise InvalidArgumentError("`g` must be a vector (N,): a QLSA prepares one state |g> per run.")
        t0 = time.perf_counter()
        x, method, iters = self._exact_solution(sys_.h, sys_.b)
        details: dict[str, Any] = {"mode": self.mode, "method": method, "krylov_iterations": iters}
        out = x
        if self.mode == "noisy":
            out = self._noisy_readout(x, details, rng if rng is not None else self._rng)
        measured = time.perf_counter() - t0
        if cost is None:
            cost = self._price(sys_.h, sys_.n, kappa, d, norm2, details)
        residual = relative_residual(sys_.h, out.astype(sys_.h.dtype), sys_.b)
        report = SolveReport(
            self.name,
            "quantum",
            sys_.n,
            measured,
            float(cost.seconds),
            residual,
            {
                **details,
                "measured_is": "classical emulation of the QLSA",
                "modeled_is": cost.model + " (query count x gate time)",
                "cost": cost.to_dict(),
            },
        )
        return SolveResult(sys_.wrap(out), report)

    def _solve_torch(
        self, H: torch.Tensor, g: Any, rng: np.random.Generator | None, cost: CostEstimate | None
    ) -> SolveResult:
        if cost is None:
            raise InvalidArgumentError(
                "a device-resident block needs its price: pass `cost=` (the scheduler's quantum quote)."
            )
        sparse = H.layout != torch.strided
        h = H if sparse else check_torch_system(H, "H")
        n = h.shape[0]
        b = torch.as_tensor(g).to(device=h.device, dtype=h.dtype).reshape(-1)
        if b.numel() != n:
            raise InvalidArgumentError("`g` must be a vector (N,): a QLSA prepares one state |g> per run.")
        t0 = clock(h.device)
        if sparse:

            def mv(v: torch.Tensor) -> torch.Tensor:
                return (h @ v[:, None])[:, 0]

            maxiter = self.krylov_maxiter or 10 * n
            res = torch_cg(mv, b, tol=self.krylov_tol, maxiter=maxiter)
            method = "cg (torch sparse)"
            if res.status == "negative-curvature":
                res = minres(mv, b, tol=self.krylov_tol, maxiter=maxiter)
                method = "minres (torch sparse, indefinite)"
            if not res.converged:
                warnings.warn(
                    f"{method} stopped before krylov_tol ({res.status}); the emulated solution is approximate.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
            x, iters = res.x, res.iterations
        else:
            factor, info = torch.linalg.cholesky_ex(h)
            if int(info) == 0:
                x, method = torch.cholesky_solve(b[:, None], factor)[:, 0], "cholesky (torch dense)"
            else:
                ld, piv, info2 = torch.linalg.ldl_factor_ex(h)
                if int(info2) != 0:
                    raise SingularMatrixError("`H` is singular; regularize it (H + eps*I).")
                x, method = torch.linalg.ldl_solve(ld, piv, b[:, None])[:, 0], "ldl (torch dense, indefinite)"
            iters = None
        details: dict[str, Any] = {"mode": self.mode, "method": method, "krylov_iterations": iters}
        out = x
        if self.mode == "noisy":  # the noise of one N-vector is drawn on the host (numpy's streams)
            noisy = self._noisy_readout(x.double().cpu().numpy(), details, rng if rng is not None else self._rng)
            out = torch.from_numpy(noisy).to(device=h.device, dtype=h.dtype)
        measured = clock(h.device) - t0
        r = (h @ out[:, None])[:, 0] - b
        residual = float(r.double().norm() / b.double().norm().clamp_min(1e-300))
        report = SolveReport(
            self.name,
            "quantum",
            n,
            measured,
            float(cost.seconds),
            residual,
            {
                **details,
                "measured_is": "classical emulation of the QLSA (on the block's device)",
                "modeled_is": cost.model + " (query count x gate time)",
                "cost": cost.to_dict(),
            },
        )
        return SolveResult(out.to(g.device) if isinstance(g, torch.Tensor) else out.cpu().numpy(), report)

    def _exact_solution(self, h, b: np.ndarray) -> tuple[np.ndarray, str, int | None]:
        if sp.issparse(h):
            maxiter = self.krylov_maxiter or 10 * h.shape[0]
            x, iters, ok = conjugate_gradient(h, b, self.krylov_tol, maxiter)
            if ok:
                return x, "cg (csr)", iters
            x, info = spla.minres(h, b.astype(np.float64), rtol=self.krylov_tol, maxiter=maxiter)
            if info != 0:
                warnings.warn(
                    f"MINRES stopped before krylov_tol (info={info}); the emulated solution is approximate.",
                    ConvergenceWarning,
                    stacklevel=3,
                )
            return x, "minres (csr, indefinite)", None
        backend = "torch" if h.shape[0] >= TORCH_FROM_N.get(h.dtype, 10**9) else "scipy"
        xc = _cholesky_solve(h, b, backend)
        if xc is not None:
            x = xc
            return x, "cholesky (dense)", None
        try:
            return (
                scipy.linalg.solve(h, b, assume_a="sym", check_finite=False),
                "ldl (dense, indefinite)",
                None,
            )
        except np.linalg.LinAlgError as exc:
            raise SingularMatrixError(f"`H` is singular ({exc}); regularize it (H + eps*I).") from exc

    def _noisy_readout(self, x: np.ndarray, details: dict[str, Any], gen: np.random.Generator) -> np.ndarray:
        n = x.size
        norm = float(np.linalg.norm(x))
        if norm == 0.0:
            details.update(state_error=0.0, tomography_copies=0, norm_relative_error=0.0)
            return x
        psi = x.astype(np.float64) / norm
        # 1. QLSA output state at its error bound eps, in a random direction orthogonal to |x>.
        eps = min(self.cost_model.eps, 2.0)
        if n > 1:
            u = gen.standard_normal(n)
            u -= (u @ psi) * psi
            u /= np.linalg.norm(u)
            theta = 2.0 * math.asin(eps / 2.0)  # || cos(t) psi + sin(t) u - psi || = eps
            state = math.cos(theta) * psi + math.sin(theta) * u
        else:
            state = psi
        # 2. l2 tomography of the state (Kerenidis-Prakash), from exact multinomial statistics.
        copies = self.tomography_copies
        if copies is None:
            copies = int(min(tomography_copies(n, self.cost_model.readout_precision, stages=1), 2**62))
        estimate = kp_tomography(state, copies, gen) if copies > 0 else state
        # 3. The norm from amplitude estimation, relative error uniform within its bound.
        delta = self.norm_precision or self.cost_model.norm_precision or self.cost_model.readout_precision
        rel = float(gen.uniform(-delta, delta))
        details.update(
            state_error=float(np.linalg.norm(state - psi)),
            tomography_copies=copies,
            tomography_error=float(np.linalg.norm(estimate - state)),
            norm_relative_error=rel,
            fidelity=float(abs(estimate @ psi) / max(float(np.linalg.norm(estimate)), 1e-300)),
        )
        return norm * (1.0 + rel) * estimate

    def _price(self, h, n: int, kappa, d, norm2, details: dict[str, Any]):
        if d is None:
            d = oracle_sparsity(h)
        if kappa is None:
            kappa = _estimate_kappa(h)
            details["kappa_source"] = "estimated by the emulator"
        d = max(1, int(d))
        alpha = block_encoding_alpha(h, d, norm2=norm2)
        details.update(kappa=float(kappa), d=d, alpha=alpha)
        return self.cost_model.estimate(n, kappa=max(float(kappa), 1.0), d=d, alpha=alpha)


def _estimate_kappa(h) -> float:
    n = h.shape[0]
    if n <= 400:
        return estimate_condition(h.toarray() if sp.issparse(h) else h, "exact").value
    try:
        return estimate_condition(h, "lanczos").value
    except ArithmeticError:  # indefinite: Lanczos extremes do not give kappa_2
        return estimate_condition(h.toarray() if sp.issparse(h) else h, "exact").value


def conjugate_gradient(h, b: np.ndarray, rtol: float, maxiter: int) -> tuple[np.ndarray, int, bool]:
    """Plain CG in float64 on a symmetric operator; ok=False on negative curvature or no convergence."""
    b64 = b.astype(np.float64)
    x = np.zeros_like(b64)
    r = b64.copy()
    p = r.copy()
    rr = float(r @ r)
    target = (rtol * math.sqrt(rr)) ** 2
    if rr == 0.0:
        return x, 0, True
    for k in range(1, maxiter + 1):
        hp = np.asarray(h @ p, dtype=np.float64)
        curv = float(p @ hp)
        if curv <= 0.0:
            return x, k, False
        step = rr / curv
        x += step * p
        r -= step * hp
        rr_new = float(r @ r)
        if rr_new <= target:
            return x, k, True
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, maxiter, False


def kp_tomography(state: np.ndarray, copies: int, rng: np.random.Generator) -> np.ndarray:
    """Kerenidis-Prakash l2 vector-state tomography (arXiv:1808.09266, Algorithm 4.1), emulated.

    Stage 1 measures ``copies`` copies of |x> in the computational basis: |x~_i| = sqrt(n_i / N).
    Stage 2 measures ``copies`` copies of (|0>|x> + |1>|x~>)/sqrt(2) with a Hadamard on the first
    qubit; outcome (0, i) has probability (x_i + x~_i)^2 / 4, and the sign of x_i is taken as +
    when its count exceeds 0.4 x~_i^2 N (the paper's rule). Both stages draw the exact
    multinomial statistics of those measurements. Returns the unit-norm estimate.
    """
    p = state**2
    p = p / p.sum()
    counts = rng.multinomial(copies, p)
    mag = np.sqrt(counts / copies)
    # stage 2: joint outcome probabilities over (0, i) and (1, i)
    p0 = (state + mag) ** 2 / 4.0
    p1 = (state - mag) ** 2 / 4.0
    probs = np.concatenate([p0, p1])
    probs = probs / probs.sum()
    c2 = rng.multinomial(copies, probs)[: state.size]
    sign = np.where(c2 > 0.4 * mag**2 * copies, 1.0, -1.0)
    est = sign * mag
    nrm = np.linalg.norm(est)
    return est / nrm if nrm > 0 else est
