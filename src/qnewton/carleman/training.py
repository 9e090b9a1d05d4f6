r"""Sparse training by windows of Carleman solves with download and re-upload (Liu et al. 2024).

The scheme of Liu et al., Nat. Commun. 15, 434 (2024), "sparse training" (their Fig. 1 and the
download/re-upload discussion): the truncation error of the Carleman linearization grows with the
number of steps solved at once, so training proceeds in windows of T steps:

1. upload: the classical side holds theta_w; the polynomial gradient is expanded around it
   (:meth:`PolynomialGradient.from_loss`: exact for a polynomial model, so only the *Carleman*
   truncation, not the expansion, is approximate), the order-K Carleman system of the next T
   gradient-descent steps is built and its initial block y(0) = 0 (delta = theta - theta_w starts at 0);
2. solve: one linear-system solve for all T steps (here: one of the project's solvers, by
   default the emulated QLSA on the Hermitian embedding, priced by the cost model);
3. download: delta_T is read out of the solution state by postselection and l2 tomography with
   modeled noise (:func:`qnewton.carleman.readout.download`), theta_{w+1} = theta_w + delta_T~;
4. repeat.

Measured per window: the error of the solved trajectory against exact gradient descent from the
same start, step by step inside the window (truncation error growth), the readout error, and the
model's loss/accuracy after re-upload. Modeled per window: the QLSA cost of the solve (kappa, d,
alpha of the system) and of the download (tomography copies / postselection probability).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_fraction, check_int_range, check_positive
from ..cost import QuantumCostModel
from ..spectrum.dissipativity import dissipativity
from .linearization import carleman_map, carleman_system, gradient_descent
from .polynomial import PolynomialGradient
from .readout import download
from .solve import solve_carleman

__all__ = ["CarlemanTrainingResult", "WindowRecord", "carleman_training"]


@dataclass(frozen=True)
class WindowRecord:
    """One window of the scheme (see the module docstring). Errors are Euclidean norms."""

    index: int
    start_step: int
    steps: int
    in_window_error: list[float]
    displacement: float
    readout: dict[str, Any]
    truncation_error_final: float
    error_after_readout: float
    metrics: dict[str, float]
    dissipativity: dict[str, Any]
    solve: dict[str, Any]
    modeled_seconds_solve: float | None
    modeled_seconds_end_to_end: float | None
    measured_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CarlemanTrainingResult:
    """All windows, the final parameters and the settings."""

    windows: list[WindowRecord]
    theta: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def trajectory(self) -> np.ndarray:
        """Parameters after each re-upload, (windows + 1, n) (row 0 is theta0)."""
        return np.asarray(self.settings["uploads"])


def carleman_training(
    loss: Callable[[Any], Any],
    theta0: Any,
    *,
    eta: float,
    window: int,
    windows: int,
    K: int = 2,
    degree: int = 3,
    solver: Any = "emulated",
    idle: int | None = None,
    delta: float = 0.1,
    norm_precision: float = 0.01,
    copies: int | None = None,
    cost_model: QuantumCostModel | None = None,
    evaluate: Callable[[np.ndarray], dict[str, float]] | None = None,
    seed: int = 0,
    progress: Callable[[WindowRecord], None] | None = None,
) -> CarlemanTrainingResult:
    """Train by ``windows`` windows of ``window`` gradient-descent steps, each solved as one
    Carleman system and read out with modeled tomography noise.

    Args:
        loss: torch loss of the flat parameter vector (a polynomial: see
            :meth:`PolynomialGradient.from_loss`).
        theta0: initial (pruned) parameters.
        eta: learning rate > 0.
        window: steps T per window (between download and re-upload).
        windows: number of windows.
        K: Carleman truncation order.
        degree: polynomial degree of the gradient.
        solver: as :func:`~qnewton.carleman.solve_carleman`.
        idle: idle copies of the final state (default ``window``: the final state then holds about
            half of the solution's norm, so postselection succeeds with p ~ 1/2).
        delta: readout accuracy (see :func:`~qnewton.carleman.download`).
        norm_precision: accuracy of the norm estimate (see :func:`~qnewton.carleman.download`).
        copies: tomography copies (see :func:`~qnewton.carleman.download`).
        cost_model: QLSA cost model (default: the project's, Jennings v1, eps 1e-12, 1e-18 s).
        evaluate: theta -> metrics (loss, accuracy) recorded after each re-upload.
        seed: readout noise and solver seed.
        progress: called with each finished :class:`WindowRecord`.

    Raises:
        InvalidArgumentError: bad K, eta, window sizes; a non-polynomial loss.
    """
    eta = check_positive(eta, "eta")
    window = check_int_range(window, "window", 1, 10**6, "`window` is the number of steps T between re-uploads.")
    windows = check_int_range(windows, "windows", 1, 10**6)
    idle = window if idle is None else check_int_range(idle, "idle", 0, 10**6)
    check_fraction(delta, "delta")
    cm = cost_model or QuantumCostModel()
    rng = np.random.default_rng(seed)
    theta = np.asarray(theta0, dtype=np.float64).reshape(-1).copy()
    uploads = [theta.copy()]
    records: list[WindowRecord] = []
    for w in range(windows):
        t0 = time.perf_counter()
        poly = PolynomialGradient.from_loss(loss, theta, degree)
        exact = gradient_descent(poly, theta, eta, window)
        hess = np.linalg.eigvalsh(0.5 * (poly.term(1).toarray() + poly.term(1).toarray().T))
        diss = dissipativity(hess, eta=eta, horizon=window)
        cmap = carleman_map(poly, eta, K)
        system = carleman_system(cmap, theta, window, idle=idle)
        sol = solve_carleman(system, solver, cost_model=cm, price=True, seed=seed + w)
        err = np.linalg.norm(sol.theta - exact, axis=1)
        final_block = sol.Y[window, : poly.n]
        dl = download(
            final_block,
            float(np.linalg.norm(sol.Y)),
            rng=rng,
            delta=delta,
            copies=copies,
            norm_precision=norm_precision,
            multiplicity=1 + idle,
        )
        new_theta = theta + dl.estimate
        measured = time.perf_counter() - t0
        solve_seconds = float(sol.cost.seconds) if sol.cost is not None else None
        rec = WindowRecord(
            index=w,
            start_step=w * window,
            steps=window,
            in_window_error=err.tolist(),
            displacement=float(np.linalg.norm(exact[-1] - theta)),
            readout=dl.to_dict(),
            truncation_error_final=float(err[-1]),
            error_after_readout=float(np.linalg.norm(new_theta - exact[-1])),
            metrics=dict(evaluate(new_theta)) if evaluate is not None else {},
            dissipativity={
                "verdict": diss.verdict,
                "lambda_min": diss.lambda_min,
                "lambda_max": diss.lambda_max,
                "negative_weight": diss.negative_weight,
                "window_growth": diss.window_growth,
            },
            solve={
                "solver": sol.report.solver,
                "form": sol.form,
                "residual": sol.residual,
                "unknowns": system.size,
                "carleman_size": cmap.size,
                **{k: v for k, v in sol.facts.items() if k in ("kappa", "d", "alpha", "nnz", "embedding_n")},
                "queries": None
                if sol.cost is None or sol.cost.queries is None
                else float(np.asarray(sol.cost.queries)),
                "qubits": None if sol.cost is None else sol.cost.qubits,
            },
            modeled_seconds_solve=solve_seconds,
            modeled_seconds_end_to_end=None
            if solve_seconds is None or not math.isfinite(dl.qlsa_runs)
            else solve_seconds * dl.qlsa_runs,
            measured_seconds=measured,
        )
        records.append(rec)
        if progress is not None:
            progress(rec)
        theta = new_theta
        uploads.append(theta.copy())
    return CarlemanTrainingResult(
        windows=records,
        theta=theta,
        settings={
            "eta": eta,
            "window": window,
            "windows": windows,
            "K": K,
            "degree": degree,
            "idle": idle,
            "delta": delta,
            "norm_precision": norm_precision,
            "uploads": [u.tolist() for u in uploads],
        },
    )
