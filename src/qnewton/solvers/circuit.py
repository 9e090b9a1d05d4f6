"""A real quantum linear solver circuit for small blocks: QSVT matrix inversion, run on PennyLane's
state-vector simulator (N <= 256: 8 system qubits, 2 ancillas, and 1 more for sampled signs).

The block encoding is **matrix-level**: U_A = [[A, sqrt(I - A A^T)], [sqrt(I - A^T A), -A^T]] is built
as a dense 2m x 2m unitary and applied as one ``QubitUnitary`` per query (:func:`block_encoding_unitary`),
not compiled from oracles. Its query count (the polynomial's degree) is what a circuit with a real
sparse-access block encoding would make; what such an encoding costs per query on an error-corrected
machine is modeled in :class:`qnewton.cost.FaultTolerantCostModel`.

The circuit (wires declared in this order on the device):

* wire 0, ``real_part``: the ancilla of the linear combination (U_Phi + U_{-Phi}) / 2;
* wire 1, ``block_encoding``: the ancilla of the block encoding U_A of A = H_pad / alpha;
* wires 2 .. n+1, ``system``: |b> = g_pad / ||g|| (most significant qubit first).

    StatePrep(b) . H(real_part) . QSVT(U_A, Pi_{+-phi}) . H(real_part),  postselect both ancillas on |0>

``qml.QSVT`` with the projector phases Pi_phi = PCPhase(phi) on the block-encoding subspace
implements a *complex* polynomial P(A) whose real part is the target f(A); the phases flip sign
when ``real_part`` is |1> (a controlled PCPhase(-2 phi)), which gives P*(A), so after the final
Hadamard the |0> branch carries Re P(A) |b> = f(A) |b> exactly (the real-part construction of
Gilyen, Su, Low, Wiebe, arXiv:1806.01838: a linear combination of the phase sequences Phi and
-Phi with one extra qubit and no extra queries). Without it the postselected state would be
P(A)|b> = (f(A) + i g(A))|b>, whose fidelity with the solution measured 0.32-0.36 at N = 16.
Here f is the odd polynomial with f(x) ~ scale / (kappa x) on 1/kappa <= |x| <= 1
(:func:`qnewton.solvers._qsp.inverse_polynomial`) and the phases come from our own Newton solver
for symmetric QSP (:mod:`qnewton.solvers._qsp`).

Readout: the postselected amplitudes psi = f(A) b give the direction of H^{-1} g, and the success
probability p = ||psi||^2 gives its norm, ||H^{-1} g|| = ||g|| kappa sqrt(p) / (scale alpha): the
quantity amplitude estimation would return on hardware. With ``shots`` set, both come from
samples instead: the magnitudes and p from the counts of the circuit above, the signs from a
second, interference circuit (control qubit in |+>, the QSVT branch against a reference state
built from the first stage's magnitudes, then a Hadamard on the control: the l2 tomography of
Kerenidis and Prakash, arXiv:1808.09266; REFERENCE.md section 4).

PennyLane is the optional extra ``quantum``; it is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from .._arrays import ArrayLike, as_numpy
from .._validation import check_finite, check_symmetric_matrix
from ..errors import (
    CircuitTooLargeError,
    ConvergenceError,
    IllConditionedWarning,
    InvalidArgumentError,
    MissingDependencyError,
    ShapeError,
    SingularMatrixError,
)
from . import _qsp
from .base import RouteKind, SolveReport, SolveResult

__all__ = [
    "MAX_CIRCUIT_N",
    "QSVTCircuitConfig",
    "QSVTCircuitSolver",
    "clear_phase_cache",
]

#: Largest block the state-vector backend accepts (padded to 256 = 2^8: 10 simulated qubits, 11 with
#: the sign-readout control; one query applies a dense 512 x 512 block encoding, ~10 ms here).
MAX_CIRCUIT_N = 256

#: An eigenvalue below this multiple of ||H|| * N * machine-epsilon makes H numerically singular.
_SINGULAR_RTOL = 1.0


def clear_phase_cache() -> None:
    """Forget the cached inverse polynomials and QSP phases (and circuit resource counts)."""
    _qsp.clear_phase_cache()
    _SPECS_CACHE.clear()


def _single_thread_blas() -> contextlib.AbstractContextManager:
    """One BLAS thread for the simulation: its products are of 2^w <= 128-dimensional operands, where
    a multithreaded BLAS only adds synchronization (measured: 10 x slower on 2 busy cores)."""
    try:
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn
    except ImportError:  # pragma: no cover - scikit-learn always brings it
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _import_pennylane() -> Any:
    try:
        import pennylane as qml
    except ImportError as exc:
        raise MissingDependencyError(
            "the QSVT circuit backend needs PennyLane, the optional extra `quantum`: "
            "`pip install qnewton[quantum]` (or `pip install pennylane`). Without it, use the emulated "
            "QLSA or the classical solver."
        ) from exc
    return qml


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QSVTCircuitConfig:
    """Options of :class:`QSVTCircuitSolver`.

    Attributes:
        eps: target relative error of the solution, ||x - H^{-1} g|| <= eps ||H^{-1} g|| (exact
            state vector): 90 % of it goes to the polynomial, 10 % to the phases.
        kappa: condition number to build the polynomial for; ``None`` computes it exactly from
            the eigenvalues of H (cheap at N <= 256) and rounds it up on a grid of ratio
            1 + ``kappa_grid`` so that nearby blocks reuse cached phases. A value below the true
            kappa leaves the smallest eigenvalues outside the polynomial's domain (a warning).
        degree_cap: largest polynomial degree (= block-encoding queries) allowed.
        angle_solver: ``"auto"`` (Newton, then fixed-point, then L-BFGS), ``"newton"``,
            ``"fpi"`` or ``"lbfgs"``; see :mod:`qnewton.solvers._qsp`.
        max_abs: bound on |f| over [-1, 1] for the QSP polynomial (< 1; QSP needs a margin).
        device: PennyLane device name (``"default.qubit"``).
        shots: ``None`` for exact state-vector readout, or the number of shots per readout stage.
        seed: seed of the device's sampler (shots only).
        gate_time: seconds per block-encoding query, a preset name or a
            :class:`qnewton.cost.gate_times.GateTime`; when given, ``modeled_seconds`` = degree x it.
        kappa_grid: relative step of the kappa rounding grid (0 disables rounding).
        resources: compute ``qml.specs`` gate counts and the ``qml.estimator`` estimate (cached
            per circuit shape).
    """

    eps: float = 1e-3
    kappa: float | None = None
    degree_cap: int = 1501
    angle_solver: str = "auto"
    max_abs: float = 0.9
    device: str = "default.qubit"
    shots: int | None = None
    seed: int | None = None
    gate_time: Any = None
    kappa_grid: float = 0.02
    resources: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not 0 < self.eps <= 0.5:
            raise InvalidArgumentError(f"`eps` must be in (0, 0.5], got {self.eps!r}.")
        if self.kappa is not None and (
            isinstance(self.kappa, bool)
            or not isinstance(self.kappa, (int, float))
            or not math.isfinite(self.kappa)
            or self.kappa < 1
        ):
            raise InvalidArgumentError(
                f"`kappa` must be None (estimate from H) or a finite number >= 1, got {self.kappa!r}."
            )
        if (
            isinstance(self.degree_cap, bool)
            or not isinstance(self.degree_cap, Integral)
            or not (1 <= self.degree_cap <= 100_001)
        ):
            raise InvalidArgumentError(f"`degree_cap` must be an integer in [1, 100001], got {self.degree_cap!r}.")
        if self.angle_solver not in ("auto", *_qsp.ANGLE_SOLVERS):
            raise InvalidArgumentError(
                f"`angle_solver` must be one of {('auto', *_qsp.ANGLE_SOLVERS)}, got {self.angle_solver!r}."
            )
        if isinstance(self.max_abs, bool) or not isinstance(self.max_abs, (int, float)) or not (0 < self.max_abs < 1):
            raise InvalidArgumentError(f"`max_abs` must be in (0, 1), got {self.max_abs!r}.")
        if not isinstance(self.device, str) or not self.device:
            raise InvalidArgumentError(f"`device` must be a PennyLane device name, got {self.device!r}.")
        if self.shots is not None and (
            isinstance(self.shots, bool) or not isinstance(self.shots, Integral) or self.shots < 1
        ):
            raise InvalidArgumentError(
                f"`shots` must be None (exact state vector) or an integer >= 1, got {self.shots!r}."
            )
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, Integral)):
            raise InvalidArgumentError(f"`seed` must be None or an integer, got {self.seed!r}.")
        if self.gate_time is not None:
            from ..cost.gate_times import resolve_gate_time

            resolve_gate_time(self.gate_time)  # raises InvalidArgumentError naming `gate_time`
        if (
            isinstance(self.kappa_grid, bool)
            or not isinstance(self.kappa_grid, (int, float))
            or not (0 <= self.kappa_grid <= 1)
        ):
            raise InvalidArgumentError(f"`kappa_grid` must be in [0, 1], got {self.kappa_grid!r}.")


# --- the solver -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """The padded, scaled system and what was learned about it classically."""

    n: int
    m: int  # padded size, a power of two >= 2
    qubits: int  # log2(m)
    a: np.ndarray  # m x m, H_pad / alpha, ||a||_2 <= 1
    b: np.ndarray  # m, normalized g_pad
    g_norm: float
    alpha: float
    kappa_matrix: float
    h64: np.ndarray
    g64: np.ndarray


class QSVTCircuitSolver:
    """QSVT matrix inversion on a state-vector simulator: ``solve(H, g) -> SolveResult``.

    Implements :class:`qnewton.solvers.base.LinearSolver` with ``route = "quantum"``: H symmetric
    (definite or indefinite), N <= 256, padded to a power of two with alpha * I (alpha = ||H||_2,
    so kappa is unchanged) and g with zeros; the answer is un-padded and returned in the kind,
    dtype and device of ``g``. The circuit, the readout and the report are described in the module
    docstring. The inverse polynomial has degree ~ kappa ln(2/eps) (the number of block-encoding
    queries), so kappa <= ~100 keeps a solve around a second.

    Args:
        config: a :class:`QSVTCircuitConfig`; or give its fields as keyword arguments.

    Raises:
        InvalidArgumentError: both ``config`` and keyword arguments, or an invalid field.

    Example:
        >>> import numpy as np
        >>> from qnewton.solvers.circuit import QSVTCircuitSolver
        >>> H = np.array([[2.0, 0.5], [0.5, 1.0]]); g = np.array([1.0, -1.0])
        >>> x, report = QSVTCircuitSolver(eps=1e-3).solve(H, g)  # doctest: +SKIP
        >>> np.allclose(x, np.linalg.solve(H, g), rtol=1e-2)  # doctest: +SKIP
        True
    """

    name: str = "qsvt-circuit"
    route: RouteKind = "quantum"

    def __init__(self, config: QSVTCircuitConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise InvalidArgumentError(
                "pass either `config` or keyword options to QSVTCircuitSolver, not both "
                "(use dataclasses.replace(config, ...) to change a config)."
            )
        if config is not None and not isinstance(config, QSVTCircuitConfig):
            raise InvalidArgumentError(f"`config` must be a QSVTCircuitConfig, got {type(config).__name__}.")
        self.config = config if config is not None else QSVTCircuitConfig(**kwargs)

    def __repr__(self) -> str:
        return f"QSVTCircuitSolver({self.config!r})"

    # -- public --------------------------------------------------------------------------------

    def solve(self, H: ArrayLike, g: ArrayLike) -> SolveResult:
        """Solve H x = g with the QSVT circuit.

        Args:
            H: symmetric N x N matrix, N <= 256 (numpy, torch or array-like; float64 internally).
            g: right-hand side of length N.

        Returns:
            ``SolveResult(x, report)``: x in the kind/dtype/device of ``g``; the report's
            ``measured_seconds`` is the wall time of the solve pipeline (classical preparation,
            polynomial and phases unless cached, circuit simulation, readout), not of the optional
            diagnostics (resource counts, fidelity check), which are timed separately in
            ``details``; ``modeled_seconds`` = degree x gate time when ``gate_time`` is set.

        Raises:
            ShapeError: H not square or g not a vector of length N.
            NonFiniteError: NaN/Inf in H or g.
            NotSymmetricError: H not symmetric.
            CircuitTooLargeError: N > 256 (:data:`MAX_CIRCUIT_N`).
            SingularMatrixError: H singular (kappa infinite in float64).
            ConvergenceError: the degree needed exceeds ``degree_cap``, no angle solver reaches the
                precision, or (shots) no shot succeeded.
            MissingDependencyError: PennyLane is not installed.
        """
        t_start = time.perf_counter()
        qml = _import_pennylane()
        cfg = self.config
        prob, kind = self._prepare(H, g)
        if prob.g_norm == 0.0:
            return self._trivial(prob, kind, time.perf_counter() - t_start)

        kappa_used, kappa_source = self._kappa(prob)
        t_phase = time.perf_counter()
        poly, phases, cached = _qsp.phases_for_inverse(
            kappa_used, 0.9 * cfg.eps, cfg.degree_cap, cfg.max_abs, cfg.angle_solver
        )
        phase_seconds = time.perf_counter() - t_phase
        angles = _qsp.wx_to_qsvt_angles(phases.phases)
        u_mat = block_encoding_unitary(prob.a)

        t_sim = time.perf_counter()
        with _single_thread_blas():
            if cfg.shots is None:
                psi, read = self._exact_readout(qml, prob, u_mat, angles)
            else:
                psi, read = self._sampled_readout(qml, prob, u_mat, angles)
        sim_seconds = time.perf_counter() - t_sim

        p_succ = read["success_probability"]
        norm = prob.g_norm * poly.kappa * math.sqrt(p_succ) / (poly.scale * prob.alpha)
        direction = psi / np.linalg.norm(psi)
        x64 = norm * direction[: prob.n]
        measured = time.perf_counter() - t_start

        # -- diagnostics (not part of measured_seconds) --
        t_diag = time.perf_counter()
        residual = float(np.linalg.norm(prob.h64 @ x64 - prob.g64) / prob.g_norm)
        x_ref = np.linalg.solve(prob.h64, prob.g64)
        ref_norm = float(np.linalg.norm(x_ref))
        cosine = float(x64 @ x_ref / (np.linalg.norm(x64) * ref_norm)) if norm > 0 else 0.0
        details: dict[str, Any] = {
            "backend": f"PennyLane {qml.__version__} {cfg.device}",
            "readout": "statevector" if cfg.shots is None else "shots",
            "n_padded": prob.m,
            "wires": {"real_part": 0, "block_encoding": 1, "system": list(range(2, 2 + prob.qubits))},
            "num_wires": prob.qubits + 2 + (0 if cfg.shots is None else 1),
            "postselection": "wire 0 (real_part) = |0> and wire 1 (block_encoding) = |0>",
            "polynomial_degree": poly.degree,
            "queries": poly.degree,
            "expected_queries": poly.degree / p_succ if p_succ > 0 else math.inf,
            "kappa_used": poly.kappa,
            "kappa_matrix": prob.kappa_matrix,
            "kappa_source": kappa_source,
            "alpha": prob.alpha,
            "eps": cfg.eps,
            "polynomial_rel_error": poly.rel_error,
            "polynomial_scale": poly.scale,
            "polynomial_max_abs": poly.max_abs,
            "angle_solver": phases.method,
            "angle_iterations": phases.iterations,
            "angle_grid_error": phases.grid_error,
            "phase_seconds": 0.0 if cached else phase_seconds,
            "phases_cached": cached,
            "simulation_seconds": sim_seconds,
            "success_probability": p_succ,
            "fidelity": cosine**2,
            "cosine_vs_lapack": cosine,
            "norm_ratio_vs_lapack": norm / ref_norm if ref_norm > 0 else math.nan,
            **{k: v for k, v in read.items() if k != "success_probability"},
        }
        if cfg.resources:
            details.update(self._resources(qml, prob, u_mat, angles, poly.degree))
        details["diagnostics_seconds"] = time.perf_counter() - t_diag

        modeled = None
        if cfg.gate_time is not None:
            from ..cost.gate_times import resolve_gate_time

            gt = resolve_gate_time(cfg.gate_time)
            modeled = poly.degree * gt.seconds
            details["gate_time"] = gt.label
        report = SolveReport(
            solver=self.name,
            route=self.route,
            n=prob.n,
            measured_seconds=measured,
            modeled_seconds=modeled,
            residual=residual,
            details=details,
        )
        x_out = x64.astype(kind.dtype, copy=False)
        return SolveResult(kind.wrap(x_out), report)

    # -- steps ---------------------------------------------------------------------------------

    def _prepare(self, H: ArrayLike, g: ArrayLike) -> tuple[_Problem, Any]:
        h, _ = as_numpy(H, "H")
        gv, kind = as_numpy(g, "g")
        if h.ndim == 2 and h.shape[0] == h.shape[1] and h.shape[0] > MAX_CIRCUIT_N:
            n = h.shape[0]
            raise CircuitTooLargeError(
                f"`H` is {n} x {n}, beyond the QSVT circuit backend's limit N <= {MAX_CIRCUIT_N} (a state-"
                f"vector simulation of {math.ceil(math.log2(n)) + 2} qubits per solve). Use the emulated "
                f"QLSA solver or the classical solver for larger blocks, or split H into blocks of <= "
                f"{MAX_CIRCUIT_N}."
            )
        n = check_symmetric_matrix(h, "H")
        if gv.ndim != 1:
            raise ShapeError(f"`g` must be a vector of length N = {n}, got an array of shape {tuple(gv.shape)}.")
        if gv.shape[0] != n:
            raise ShapeError(f"`g` has length {gv.shape[0]} but `H` is {n} x {n}; pass g with N = {n} entries.")
        check_finite(gv, "g")
        h64 = np.asarray(h, dtype=np.float64)
        h64 = 0.5 * (h64 + h64.T)  # symmetric within tolerance; make it exact for the block encoding
        g64 = np.asarray(gv, dtype=np.float64)

        lam = np.linalg.eigvalsh(h64)
        absl = np.abs(lam)
        alpha = float(absl.max())
        lam_min = float(absl.min())
        if alpha == 0.0 or lam_min <= _SINGULAR_RTOL * n * np.finfo(np.float64).eps * alpha:
            raise SingularMatrixError(
                f"`H` is singular in float64 (smallest |eigenvalue| {lam_min:.3g}, largest {alpha:.3g}; "
                f"kappa = {'inf' if lam_min == 0 else f'{alpha / lam_min:.3g}'}). A QLSA needs a finite "
                f"condition number: regularize the block, H + lambda I with lambda > 0."
            )
        qubits = max(1, math.ceil(math.log2(n)))
        m = 2**qubits
        hp = np.eye(m) * alpha  # the padding block alpha I keeps kappa and ||H|| unchanged
        hp[:n, :n] = h64
        a = hp / alpha
        b = np.zeros(m)
        g_norm = float(np.linalg.norm(g64))
        if g_norm > 0:
            b[:n] = g64 / g_norm
        prob = _Problem(
            n=n, m=m, qubits=qubits, a=a, b=b, g_norm=g_norm, alpha=alpha,
            kappa_matrix=alpha / lam_min, h64=h64, g64=g64,
        )  # fmt: skip
        return prob, kind

    def _kappa(self, prob: _Problem) -> tuple[float, str]:
        cfg = self.config
        if cfg.kappa is not None:
            if cfg.kappa < prob.kappa_matrix * (1 - 1e-9):
                warnings.warn(
                    f"`kappa` = {cfg.kappa:.4g} is below the block's condition number "
                    f"{prob.kappa_matrix:.4g}: "
                    f"eigenvalues below ||H|| / kappa lie outside the inverse polynomial's domain and are "
                    f"not inverted accurately. Pass kappa=None to use the exact value.",
                    IllConditionedWarning,
                    stacklevel=3,
                )
            return max(float(cfg.kappa), 1.0 + 1e-6), "override"
        # Round up (never down) so the domain covers the spectrum; the grid lets nearby blocks share
        # cached phases. The 1e-9 margin keeps the smallest eigenvalue inside despite rounding.
        k = prob.kappa_matrix * (1 + 1e-9)
        if cfg.kappa_grid > 0:
            r = 1.0 + cfg.kappa_grid
            k = max(r ** math.ceil(math.log(k) / math.log(r) - 1e-12), k)
        return max(k, 1.0 + max(cfg.kappa_grid, 1e-6)), "eigvalsh"

    def _trivial(self, prob: _Problem, kind: Any, seconds: float) -> SolveResult:
        report = SolveReport(
            solver=self.name, route=self.route, n=prob.n, measured_seconds=seconds,
            modeled_seconds=None if self.config.gate_time is None else 0.0, residual=0.0,
            details={"note": "g = 0, so x = 0 without running a circuit", "queries": 0,
                     "kappa_matrix": prob.kappa_matrix},
        )  # fmt: skip
        return SolveResult(kind.wrap(np.zeros(prob.n, dtype=kind.dtype)), report)

    # -- circuits ------------------------------------------------------------------------------

    def _device(self, qml: Any, n_wires: int) -> Any:
        cfg = self.config
        kwargs: dict[str, Any] = {"wires": list(range(n_wires))}
        if cfg.shots is not None and cfg.seed is not None:
            kwargs["seed"] = int(cfg.seed)
        try:
            return qml.device(cfg.device, **kwargs)
        except Exception as exc:  # PennyLane raises DeviceError / TypeError for unknown names or options
            raise InvalidArgumentError(
                f"`device` {cfg.device!r} could not be created ({exc}); use a PennyLane state-vector "
                f"simulator such as 'default.qubit'."
            ) from exc

    def _exact_readout(
        self, qml: Any, prob: _Problem, u_mat: np.ndarray, angles: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any]]:
        dev = self._device(qml, prob.qubits + 2)

        @qml.qnode(dev)
        def circuit() -> Any:
            queue_real_qsvt(qml, u_mat, angles, prob.b)
            return qml.state()

        state = np.asarray(_expanded(qml, circuit)()).reshape(2, 2, prob.m)
        good = state[0, 0]
        p_succ = float(np.vdot(good, good).real)
        if not p_succ > 0:
            raise ConvergenceError("the QSVT circuit's postselected branch is empty (success probability 0).")
        return good.real.copy(), {
            "success_probability": p_succ,
            "max_imag_amplitude": float(np.abs(good.imag).max()),
            "norm_source": "success amplitude sqrt(p) of the exact state (what amplitude estimation gives)",
        }

    def _sampled_readout(
        self, qml: Any, prob: _Problem, u_mat: np.ndarray, angles: np.ndarray
    ) -> tuple[np.ndarray, dict[str, Any]]:
        assert self.config.shots is not None  # sampled readout only runs with shots
        shots = int(self.config.shots)
        nw = prob.qubits + 2
        dev = self._device(qml, nw + 1)  # one device: its seeded sampler serves both stages

        @qml.qnode(dev)
        def stage1() -> Any:
            queue_real_qsvt(qml, u_mat, angles, prob.b)
            return qml.probs(wires=list(range(nw)))

        probs = np.asarray(qml.set_shots(_expanded(qml, stage1), shots=shots)()).reshape(2, 2, prob.m)
        good = probs[0, 0]
        p_succ = float(good.sum())
        if p_succ <= 0:
            raise ConvergenceError(
                f"none of the {shots} shots passed postselection (ancillas |00>); raise `shots` or use "
                f"shots=None for the exact state vector."
            )
        mag = np.sqrt(good / p_succ)

        # Signs: (|0> V|00 b> + |1> |00 r>) / sqrt(2), then H on the control c (the last wire):
        # P(c=0, 00, i) - P(c=1, 00, i) = psi_i r_i with r_i >= 0, so sign(psi_i) = sign of the
        # difference. |b> is prepared unconditionally; the c = 1 branch maps it to |r> with the
        # Householder reflection I - 2 v v^T, v = (b - r) / ||b - r|| (a controlled unitary, so
        # no controlled state preparation is needed).
        c = nw
        sysw = list(range(2, nw))
        v = prob.b - mag  # mag is the reference |r>: real, >= 0, normalized
        vn = float(np.linalg.norm(v))
        refl = np.eye(prob.m) - (2.0 / vn**2) * np.outer(v, v) if vn > 1e-14 else np.eye(prob.m)

        @qml.qnode(dev)
        def stage2() -> Any:
            qml.StatePrep(prob.b, wires=sysw)
            qml.Hadamard(c)
            qml.ctrl(queue_real_qsvt, control=c, control_values=[0])(qml, u_mat, angles, None)
            qml.ctrl(qml.QubitUnitary(refl, wires=sysw), control=c, control_values=[1])
            qml.Hadamard(c)
            return qml.probs(wires=list(range(nw + 1)))

        p2 = np.asarray(qml.set_shots(_expanded(qml, stage2), shots=shots)()).reshape(2, 2, prob.m, 2)
        diff = p2[0, 0, :, 0] - p2[0, 0, :, 1]
        signs = np.where(diff < 0, -1.0, 1.0)
        return signs * mag * math.sqrt(p_succ), {
            "success_probability": p_succ,
            "success_probability_stderr": math.sqrt(max(p_succ * (1 - p_succ), 0.0) / shots),
            "shots": shots,
            "shots_total": 2 * shots,
            "seed": self.config.seed,
            "sign_undetermined": int(np.count_nonzero((diff == 0) & (good > 0))),
            "norm_source": "success probability estimated from shot counts",
        }

    def _resources(
        self, qml: Any, prob: _Problem, u_mat: np.ndarray, angles: np.ndarray, degree: int
    ) -> dict[str, Any]:
        key = (prob.m, degree, self.config.device)
        hit = _SPECS_CACHE.get(key)
        if hit is not None:
            return hit
        out: dict[str, Any] = {}
        dev = self._device(qml, prob.qubits + 2)

        @qml.qnode(dev)
        def circuit() -> Any:
            queue_real_qsvt(qml, u_mat, angles, prob.b)
            return qml.state()

        try:
            res = qml.specs(_expanded(qml, circuit))().resources
            out["depth"] = int(res.depth)
            out["gate_counts"] = dict(res.gate_types)
            out["gate_sizes"] = {int(k): int(v) for k, v in res.gate_sizes.items()}
            out["num_gates"] = int(res.num_gates)
            out["specs_level"] = (
                "QSVT expanded into block-encoding calls (QubitUnitary / its adjoint) and projector "
                "phases (PCPhase, controlled PCPhase for the real part); StatePrep not decomposed"
            )
        except (AttributeError, TypeError, ValueError, qml.exceptions.DecompositionUndefinedError) as exc:
            out["specs_error"] = f"qml.specs unavailable: {exc}"
        out["resource_estimate"] = _estimate(qml, prob, degree)
        _SPECS_CACHE[key] = out
        return out


_SPECS_CACHE: dict[tuple, dict[str, Any]] = {}


def block_encoding_unitary(a: np.ndarray) -> np.ndarray:
    """U_A = [[A, sqrt(I - A A^T)], [sqrt(I - A^T A), -A^T]] for ||A||_2 <= 1, without rescaling.

    ``qml.BlockEncode(A)`` divides A by max(||A A^T||_inf, ||A^T A||_inf) when that exceeds 1,
    which happens for most dense A with ||A||_2 = 1 (the infinity norm bounds the 2-norm from
    above), so the QSVT would transform a silently shrunken matrix. Its static
    ``compute_matrix`` builds the same unitary without the rescaling; it is wrapped in a
    ``qml.QubitUnitary`` instead.
    """
    qml = _import_pennylane()
    m, k = a.shape
    return np.asarray(qml.BlockEncode.compute_matrix(a, subspace=(m, k, m + k)))


def queue_real_qsvt(qml: Any, u_mat: np.ndarray, angles: np.ndarray, b: np.ndarray | None) -> None:
    """Queue [StatePrep(b)] . H(0) . QSVT(U_A; +-phi) . H(0): the |00> block of the result is Re P(A).

    Wires: 0 the real-part ancilla, 1 the block-encoding ancilla, 2 .. 1 + log2(m) the system
    (``u_mat`` is the 2m x 2m block encoding on wires 1, 2, ...). Each projector is PCPhase(phi) on
    the block-encoding subspace times a PCPhase(-2 phi) controlled by wire 0, i.e. PCPhase(+phi)
    in the |0> branch and PCPhase(-phi) in the |1> branch. For real symmetric A the -phi sequence
    implements conj(P)(A), so the Hadamards leave (P(A) + conj(P)(A))/2 = Re P(A) on |0>.
    """
    m = u_mat.shape[0] // 2
    sysw = list(range(2, 1 + m.bit_length()))  # m = 2^q: wires 2 .. q + 1
    enc = [1, *sysw]
    if b is not None:
        qml.StatePrep(b, wires=sysw)
    qml.Hadamard(0)
    ua = qml.QubitUnitary(u_mat, wires=enc)
    projectors = [
        qml.prod(
            qml.PCPhase(phi, dim=m, wires=enc),
            qml.ctrl(qml.PCPhase(-2.0 * phi, dim=m, wires=enc), control=0),
        )
        for phi in angles
    ]
    qml.QSVT(ua, projectors)
    qml.Hadamard(0)


#: The structural operations expanded before simulation, leaving the block-encoding calls, the
#: projector phases and their controlled forms. Simulating those one by one on the state costs
#: O(d 2^w) work; default.qubit would otherwise build the whole QSVT matrix (d dense products).
_STRUCTURAL = frozenset({"QSVT", "Prod", "ChangeOpBasis"})


def _keep(op: Any) -> bool:
    base = op
    while hasattr(base, "base"):  # Controlled, Adjoint, ControlledQubitUnitary wrap one base op
        base = base.base
    return base.name not in _STRUCTURAL


def _expanded(qml: Any, qnode: Any) -> Any:
    return qml.transforms.decompose(qnode, stopping_condition=_keep)


def _estimate(qml: Any, prob: _Problem, degree: int) -> dict[str, Any] | None:
    """PennyLane's logical resource estimate (``qml.estimator``, PennyLane >= 0.43) of the QSVT part:
    a dense block encoding synthesized as a generic (n+1)-qubit unitary (``QubitUnitary``), the
    projector phases, and the real-part controls; state preparation is not included."""
    try:
        import pennylane.estimator as qre
    except ImportError:
        return None
    nq = prob.qubits + 1

    def workflow() -> None:
        qre.Hadamard()
        qre.QSVT(qre.QubitUnitary(num_wires=nq), encoding_dims=prob.m, poly_deg=degree)
        for _ in range(degree + 1):
            qre.Controlled(qre.PCPhase(num_wires=nq, dim=prob.m), num_ctrl_wires=1, num_zero_ctrl=0)
        qre.Hadamard()

    try:
        res = qre.estimate(workflow)()
    except (AttributeError, TypeError, ValueError) as exc:
        return {"error": f"qml.estimator failed: {exc}"}
    return {
        "total_wires": int(res.total_wires),
        "algorithmic_wires": int(res.algo_wires),
        "total_gates": int(res.total_gates),
        "gate_counts": {str(k): int(v) for k, v in res.gate_counts.items()},
        "note": (
            "qml.estimator: block encoding priced as a generic QubitUnitary synthesis (dense A; a "
            "sparse-access oracle would be far cheaper), default rotation precision; state "
            "preparation not included"
        ),
    }
