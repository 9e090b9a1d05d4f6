r"""Modeled cost of T gradient-descent steps by a QLSA on the Carleman system, against classical GD.

Liu et al. (Nat. Commun. 15, 434 (2024), Theorems 1-2) claim O(T polylog n) quantum time for
fully dissipative and O(T^2 polylog n) for almost dissipative sparse models, against O(T n) for
classical gradient descent. This module puts numbers on that with the project's cost models;
everything here is **modeled** (nothing runs), except the classical constant, which is timed on
this machine. What is modeled, and how:

* **System.** Order-K Carleman vector of N_C = n + n^2 + ... + n^K entries, T steps plus T idle
  copies of the final state: N = (2T + 1) N_C unknowns; Hermitian embedding of size 2N
  (:mod:`qnewton.carleman.solve`); qubits = system register ceil(log2 2N) + the sparse-access
  ancillas ceil(log2 2N) + 3 + Jennings' 6 (REFERENCE.md section 2).
* **Sparsity d** of the embedding = the larger of the row and column counts of L. A row of the
  Kronecker product has the product of the factors' row counts, a column the product of column
  counts. Model sparsity s = nonzeros per row of the Hessian F_1 (G_1 = I - eta F_1: s + 1 per
  row and column), F_j (j >= 2): s^j per row and s per column; the gradient at the expansion point
  F_0 (an n x 1 column) has one entry per row and s_0 entries in its column: s_0 = s for a sparse
  gradient, s_0 = n for a dense one. Because F_0 sits in the blocks A_{k,l<k} (G_0 (x) G_1, ...),
  **a dense gradient makes the columns of L, hence the oracle sparsity d, grow like n**, which a
  sparse-access block encoding pays for linearly (alpha <= d): the polylog(n) claim needs the
  gradient at the expansion point to be sparse too, not only the model.
* **alpha** = d (the conservative proxy of :class:`qnewton.cost.QuantumCostModel` when only d is
  known: max|L_ij| = 1 from the identity blocks and ||L||_2 >= 1).
* **kappa(L)**: ||L|| <= 1 + ||A|| and ||L^-1|| <= sum_t ||A^t||. Fully dissipative: ||A^t|| <= 1,
  kappa <= 2 (2T + 1) (O(T)). Almost dissipative: marginal (flat) modes driven by the constant
  term grow linearly, ||A^t|| <= 1 + t, kappa <= (2T + 1)(2T + 2) (O(T^2)). These bounds are
  checked against kappa(L) measured on small systems by `qnewton carleman-error`.
* **Queries**: Jennings et al. v1 Thm 1 expected count (:func:`qnewton.cost.jennings_expected_queries`)
  at (kappa, eps, alpha); time = queries x gate time (idealized: logical queries x a physical gate
  time, REFERENCE.md section 5).
* **Readout** (end to end): Kerenidis-Prakash tomography of the final parameters, a sparse state
  with s_theta = density x n entries: 2 x 36 s_theta ln s_theta / delta^2 copies; each needs a
  successful solve and a postselection on the final block (p = 1/2 with T idle copies) plus an
  amplitude estimation of the norm; the paper's O(T polylog n) counts the solve only.
* **Classical**: T x n x (s + 1) x c, c = seconds per stored nonzero of a CSR gradient
  evaluation, timed here (:func:`calibrate_sparse_gradient`): a calibrated prediction.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .._validation import check_fraction, check_int_range, check_positive
from ..cost import amplitude_estimation_calls, jennings_expected_queries, resolve_gate_time
from ..cost.readout import TOMOGRAPHY_COPIES_PER_STAGE_CONSTANT
from ..errors import ClampedRangeWarning, InvalidArgumentError

__all__ = ["REGIMES", "CarlemanScaling", "calibrate_sparse_gradient", "carleman_sparsity"]

Regime = Literal["full", "almost"]
#: Dissipation regimes of the kappa model.
REGIMES: tuple[str, str] = ("full", "almost")


def carleman_sparsity(K: int, degree: int, row: list[float], col: list[float]) -> tuple[float, float]:
    """(max row count, max column count) of the one-step Carleman matrix A, from the row and column
    counts of the update factors G_0..G_m (``row[j]``, ``col[j]``), summed over all Kronecker
    terms (an upper bound: terms may overlap).

    Example:
        >>> carleman_sparsity(2, 1, [1, 2], [3, 2])   # G_0 column of 3 entries, G_1 2 per row/column
        (8.0, 14.0)
    """
    K = check_int_range(K, "K", 1, 16)
    m = check_int_range(degree, "degree", 0, 16)
    prev_r: dict[int, float] = {0: 1.0}
    prev_c: dict[int, float] = {0: 1.0}
    row_max, col_by_l = 0.0, dict.fromkeys(range(1, K + 1), 0.0)
    for _k in range(1, K + 1):
        cur_r: dict[int, float] = {}
        cur_c: dict[int, float] = {}
        for l0 in prev_r:
            for j in range(m + 1):
                l = l0 + j
                if l > K:
                    continue
                cur_r[l] = cur_r.get(l, 0.0) + prev_r[l0] * row[j]
                cur_c[l] = cur_c.get(l, 0.0) + prev_c[l0] * col[j]
        row_max = max(row_max, sum(v for l, v in cur_r.items() if l >= 1))
        for l, v in cur_c.items():
            if l >= 1:
                col_by_l[l] += v
        prev_r, prev_c = cur_r, cur_c
    return float(row_max), float(max(col_by_l.values()))


@dataclass(frozen=True)
class CarlemanScaling:
    """The modeled quantum cost of T GD steps on an n-parameter model (see the module docstring).

    Attributes:
        degree: polynomial degree m of the gradient.
        K: Carleman truncation order.
        row_sparsity: s, nonzeros per row of the Hessian (model sparsity).
        gradient_sparsity: s_0, nonzeros of the gradient at the expansion point; None = dense (n).
        eps: QLSA output-state accuracy.
        gate_time: seconds per query step or a preset (``ghz``, ``thz``, ``atto``, ``ibm_sherbrooke``).
        readout_precision: delta of the tomography of the final parameters.
        parameter_density: share of nonzero parameters (entries the tomography must resolve).
        postselection: probability of landing on the final block (1/2 with T idle copies).
    """

    degree: int = 3
    K: int = 3
    row_sparsity: int = 10
    gradient_sparsity: int | None = 10
    eps: float = 1e-3
    gate_time: Any = "ghz"
    readout_precision: float = 0.1
    parameter_density: float = 0.1
    postselection: float = 0.5

    def __post_init__(self) -> None:
        check_int_range(self.degree, "degree", 1, 6)
        check_int_range(self.K, "K", 1, 16)
        check_int_range(self.row_sparsity, "row_sparsity", 1, 10**9)
        if self.gradient_sparsity is not None:
            check_int_range(self.gradient_sparsity, "gradient_sparsity", 1, 10**18)
        check_positive(self.eps, "eps")
        check_fraction(self.readout_precision, "readout_precision")
        check_fraction(self.parameter_density, "parameter_density")
        check_fraction(self.postselection, "postselection")
        object.__setattr__(self, "gate_time", resolve_gate_time(self.gate_time))

    def sparsity(self, n: float) -> float:
        """Oracle sparsity d of the embedded T-step system for an n-parameter model."""
        s = float(self.row_sparsity)
        s0 = float(n if self.gradient_sparsity is None else min(self.gradient_sparsity, n))
        row = [1.0, min(s + 1, n)] + [min(s**j, float(n) ** j) for j in range(2, self.degree + 1)]
        col = [s0, min(s + 1, n)] + [min(s, n)] * (self.degree - 1)
        r, c = carleman_sparsity(self.K, self.degree, row, col)
        return 1.0 + max(r, c)  # + the identity block of L

    @staticmethod
    def kappa(blocks: Any, regime: Regime = "full") -> np.ndarray:
        """Modeled kappa(L) of a system of ``blocks`` time blocks (2T + 1 with T idle copies):
        2 blocks (fully dissipative, ||A^t|| <= 1) or blocks (blocks + 1) (almost, ||A^t|| <= 1 + t)."""
        b = np.asarray(blocks, dtype=np.float64)
        if regime == "full":
            return 2.0 * b
        if regime == "almost":
            return b * (b + 1)
        raise InvalidArgumentError(f"`regime` must be 'full' or 'almost', got {regime!r}.")

    def estimate(self, n: float, T: int, regime: Regime = "full") -> dict[str, float]:
        """Modeled figures for one (n, T): sizes, d, alpha, kappa, queries, seconds (solve only and
        end to end with the download of the final parameters)."""
        if not n >= 1:
            raise InvalidArgumentError(f"`n` must be >= 1 parameters, got {n!r}.")
        T = check_int_range(T, "T", 1, 10**12)
        n = float(n)
        log2_nc = math.log2(sum(n**k for k in range(1, self.K + 1)))
        log2_N = log2_nc + math.log2(2 * T + 1)
        log2_NE = log2_N + 1
        d = self.sparsity(n)
        alpha = d
        kappa = float(self.kappa(2 * T + 1, regime))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClampedRangeWarning)  # kappa >= sqrt(12) is clamped up
            queries = float(jennings_expected_queries(kappa, self.eps, alpha))
        tg = self.gate_time.seconds
        solve = queries * tg
        s_theta = max(2.0, self.parameter_density * n)
        copies = 2 * TOMOGRAPHY_COPIES_PER_STAGE_CONSTANT * s_theta * math.log(s_theta) / self.readout_precision**2
        runs = (copies + amplitude_estimation_calls(self.readout_precision)) / self.postselection
        qubits = 2 * math.ceil(log2_NE) + 3 + 6
        return {
            "n": n,
            "T": T,
            "regime": regime,
            "log2_unknowns": log2_N,
            "qubits": qubits,
            "d": d,
            "alpha": alpha,
            "kappa": kappa,
            "queries": queries,
            "modeled_seconds_solve": solve,
            "tomography_copies": copies,
            "qlsa_runs": runs,
            "modeled_seconds_end_to_end": solve * runs,
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gate_time"] = {"name": self.gate_time.name, "seconds": self.gate_time.seconds}
        return d


def calibrate_sparse_gradient(
    sizes: tuple[int, ...] = (20_000, 80_000, 320_000), row_sparsity: int = 10, repeats: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Seconds per stored nonzero of a sparse gradient evaluation g = F_1 theta + F_0 (CSR, s
    nonzeros per row), timed on this machine (minimum of ``repeats``), least-squares fit through 0.

    Returns ``{"c": seconds per nonzero, "sizes", "seconds", "basis": "measured"}``.
    """
    rng = np.random.default_rng(seed)
    secs = []
    nnzs = []
    for n in sizes:
        check_int_range(n, "sizes", 2, 10**8)
        cols = rng.integers(0, n, size=(n, row_sparsity))
        F1 = sp.csr_matrix(
            (rng.standard_normal(n * row_sparsity), cols.reshape(-1), np.arange(0, n * row_sparsity + 1, row_sparsity)),
            shape=(n, n),
        )
        F0 = rng.standard_normal(n)
        x = rng.standard_normal(n)
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            x = x - 1e-3 * (F1 @ x + F0)
            best = min(best, time.perf_counter() - t0)
        secs.append(best)
        nnzs.append(F1.nnz + n)
    a = np.asarray(nnzs, dtype=np.float64)
    b = np.asarray(secs)
    c = float(a @ b / (a @ a))
    return {
        "c": c,
        "sizes": list(sizes),
        "seconds": secs,
        "nnz": nnzs,
        "basis": "measured",
        "row_sparsity": row_sparsity,
    }
