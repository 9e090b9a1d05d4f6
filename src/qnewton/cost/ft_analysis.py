"""What a fault-tolerant machine would need: crossover maps and the "what it would take" table.

Built on :class:`qnewton.cost.FaultTolerantCostModel` (everything quantum here is **modeled**) and
a classical reference: dense Cholesky C N^3 (:class:`qnewton.cost.ClassicalCostModel`, C calibrated
on this machine or given) and, optionally, the best classical route measured here at the block's
size, passed in as seconds (``best_classical_seconds``; ``None`` = not measured, omitted).

* :func:`crossover_maps`: for each hardware preset and data-loading method, the ratio
  quantum / classical on a grid of (kappa, d) at fixed N (the paper's N = 12544 block), and where
  the quantum route would win.
* :func:`what_it_would_take`: for given (kappa, d) pairs (e.g. the fc1 blocks of a training run),
  the logical cycle time (or, without error correction, the time per query) at which the quantum
  route would tie with each classical reference at this N, and the smallest N = 2^m ... 2^40 (kappa
  and d held fixed; Cholesky extrapolated as C N^3) at which it would first win, else
  ``"never below N = 2^40"``.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError, EstimatorError, InvalidArgumentError
from .classical import ClassicalCostModel
from .fault_tolerant import FaultTolerantCostModel, refusal_reason

__all__ = ["MAX_LOG2_N", "NOT_MEASURED", "crossover_maps", "read_decisions_csv", "what_it_would_take"]

#: Largest N searched by :func:`what_it_would_take` (2^40).
MAX_LOG2_N = 40
#: How a missing best-classical measurement is labelled.
NOT_MEASURED = "not measured"


def _check_best(best_classical_seconds: float | None) -> float | None:
    if best_classical_seconds is None:
        return None
    v = best_classical_seconds
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise InvalidArgumentError(
            f"`best_classical_seconds` must be a finite number of seconds > 0 (measured here), or None when "
            f"not measured; got {v!r}."
        )
    return float(v)


def _price(model: FaultTolerantCostModel, n: int, kappa: float, d: float) -> tuple[float | None, dict[str, Any], str]:
    """(seconds or None, details, error message)."""
    try:
        est = model.estimate(n, kappa=kappa, d=d)
    except EstimatorError as exc:
        return None, {}, str(exc).splitlines()[-1][:300]
    return float(est.seconds), dict(est.details), ""


def crossover_maps(
    models: Sequence[FaultTolerantCostModel],
    classical: ClassicalCostModel,
    *,
    n: int = 12544,
    kappas: Iterable[float] = tuple(np.geomspace(4.0, 1e8, 12)),
    ds: Iterable[float] | None = None,
    best_classical_seconds: float | None = None,
) -> dict[str, Any]:
    """Quantum / classical cost ratios on a (kappa, d) grid for each model, at block size N.

    Args:
        models: fault-tolerant models (one per hardware preset and data-loading method).
        classical: the dense Cholesky reference (C N^3).
        n: block size N.
        kappas, ds: grid values (d defaults to 12 log-spaced values from 1 to N, rounded up).
        best_classical_seconds: seconds of the best classical route measured here at this N, or None.

    Returns:
        ``{"rows": [...], "summary": [...], "classical": {...}}``: a row per (model, kappa, d) with the
        modeled quantum seconds (None where the estimator refused, with its message), the code distance,
        physical qubits and the two ratios; a summary per model (points where the quantum route wins;
        for each d the largest kappa on the grid where it wins against Cholesky).

    Raises:
        InvalidArgumentError: empty grid, d outside [1, N], bad ``best_classical_seconds``.
    """
    best = _check_best(best_classical_seconds)
    kap = [float(k) for k in kappas]
    dd = sorted({math.ceil(float(x)) for x in (ds if ds is not None else np.geomspace(1, n, 12))})
    if not kap or not dd:
        raise InvalidArgumentError("`kappas` and `ds` must not be empty.")
    if dd[0] < 1 or dd[-1] > n:
        raise InvalidArgumentError(f"`ds` must lie in [1, n = {n}], got {dd[0]}..{dd[-1]}.")
    c_est = classical.estimate(n)
    tc = float(c_est.seconds)
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    for m in models:
        wins_c = wins_b = 0
        kappa_max_win: dict[int, float | None] = {}
        for d in dd:
            kappa_max_win[d] = None
            for k in kap:
                tq, det, err = _price(m, n, k, d)
                r_c = tq / tc if tq is not None else None
                r_b = tq / best if (tq is not None and best is not None) else None
                if r_c is not None and r_c < 1:
                    wins_c += 1
                    kappa_max_win[d] = k if kappa_max_win[d] is None else max(kappa_max_win[d] or k, k)
                if r_b is not None and r_b < 1:
                    wins_b += 1
                rows.append(
                    {
                        "hardware": m.hw.name,
                        "data_loading": m.data_loading,
                        "n": n,
                        "kappa": k,
                        "d": d,
                        "quantum_modeled_seconds": tq,
                        "code_distance": det.get("code_distance"),
                        "physical_qubits": det.get("physical_qubits"),
                        "logical_qubits": det.get("logical_qubits"),
                        "data_loading_fraction": (det.get("time_split") or {}).get("data_loading"),
                        "cholesky_seconds": tc,
                        "ratio_vs_cholesky": r_c,
                        "best_classical_seconds": best if best is not None else NOT_MEASURED,
                        "ratio_vs_best_classical": r_b,
                        "estimator_error": err,
                    }
                )
        summary.append(
            {
                "hardware": m.hw.name,
                "data_loading": m.data_loading,
                "model": m.name,
                "points": len(kap) * len(dd),
                "quantum_wins_vs_cholesky": wins_c,
                "quantum_wins_vs_best_classical": wins_b if best is not None else NOT_MEASURED,
                "largest_winning_kappa_per_d": {str(d): v for d, v in kappa_max_win.items()},
            }
        )
    classical_info = {"cholesky_seconds": tc, "basis": c_est.basis, "c": c_est.details.get("c"),
                      "best_classical_seconds": best if best is not None else NOT_MEASURED}  # fmt: skip
    return {"rows": rows, "summary": summary, "classical": classical_info, "kappas": kap, "ds": dd, "n": n}


def read_decisions_csv(path: str | os.PathLike[str]) -> list[tuple[float, float]]:
    """(kappa, d) pairs from a CSV with columns ``kappa`` and ``d`` (others ignored; a header row).

    Raises:
        DataFormatError: unreadable file, missing columns, a value that is not a finite number >= 1,
            or no rows.
    """
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
            if "kappa" not in cols or "d" not in cols:
                raise DataFormatError(
                    f"{p}: needs columns `kappa` and `d` (one row per block solve), found {reader.fieldnames}."
                )
            pairs = []
            for i, row in enumerate(reader, start=2):
                try:
                    k, d = float(row[cols["kappa"]]), float(row[cols["d"]])
                except (TypeError, ValueError):
                    raise DataFormatError(f"{p}, line {i}: `kappa` and `d` must be numbers, got {row}.") from None
                if not (math.isfinite(k) and math.isfinite(d) and k >= 1 and d >= 1):
                    raise DataFormatError(f"{p}, line {i}: `kappa` and `d` must be finite and >= 1, got {k}, {d}.")
                pairs.append((k, d))
    except OSError as exc:
        raise DataFormatError(f"cannot read the decisions CSV {p}: {exc}") from exc
    if not pairs:
        raise DataFormatError(f"{p}: no rows.")
    return pairs


def _first_win_n(
    m: FaultTolerantCostModel, classical: ClassicalCostModel, n0: int, kappa: float, d: float, max_log2_n: int
) -> tuple[int | None, str]:
    """Smallest N >= n0 (to 1 % in N) at which the quantum route beats C N^3, kappa and d fixed."""

    def gap(n: int) -> float | None:
        tq, _, err = _price(m, n, kappa, d)
        if tq is None:
            raise EstimatorError(err)
        return math.log(tq) - math.log(float(classical.estimate(n).seconds))

    lo = None
    ns = [n0] + [2**j for j in range(max(n0.bit_length(), 1), max_log2_n + 1) if 2**j > n0]
    try:
        for n in ns:
            g = gap(n)
            assert g is not None
            if g < 0:
                if lo is None:
                    return n, "wins already at this N"
                a, b = lo, n  # gap(a) >= 0 > gap(b): bisect in log N
                while b > a * 1.01 and b - a > 1:
                    mid = round(math.sqrt(a * b))
                    gm = gap(mid)
                    assert gm is not None
                    if gm < 0:
                        b = mid
                    else:
                        a = mid
                return b, "first N (to 1 %) where the quantum route is cheaper than C N^3"
            lo = n
    except EstimatorError as exc:
        return None, f"estimator refuses from N = {n:.3g} ({refusal_reason(exc)})"
    return None, f"never below N = 2^{max_log2_n}"


def what_it_would_take(
    pairs: Iterable[tuple[float, float]],
    models: Sequence[FaultTolerantCostModel],
    classical: ClassicalCostModel,
    *,
    n: int = 12544,
    best_classical_seconds: float | None = None,
    max_log2_n: int = MAX_LOG2_N,
) -> list[dict[str, Any]]:
    """For each (kappa, d) and model: what would make the quantum route win.

    * ``required_cycle_time_vs_cholesky_s`` (``..._vs_best_s``): the logical cycle time at which the
      modeled quantum time equals the classical one at this N. The code distance depends on the error
      rates and counts, not on the cycle time, so the run time scales linearly in it:
      t* = t_cycle x T_classical / T_quantum. Without error correction (``paper``), the same for the
      seconds per query.
    * ``first_winning_n``: the smallest N in [n, 2^max_log2_n] (to 1 %) at which the quantum route
      is cheaper than C N^3 with kappa and d held fixed, or None with ``first_winning_n_note``
      ``"never below N = 2^40"`` (or the estimator's refusal, e.g. a code distance over its maximum);
      ``seconds_at_first_winning_n`` is the (equal) time of either route there.

    Raises:
        InvalidArgumentError: no pairs, bad pair values, bad ``best_classical_seconds``.
    """
    best = _check_best(best_classical_seconds)
    pairs = [(float(k), float(d)) for k, d in pairs]
    if not pairs:
        raise InvalidArgumentError("`pairs` is empty: pass (kappa, d) of at least one block.")
    if not 1 <= max_log2_n <= 60:
        raise InvalidArgumentError(f"`max_log2_n` must be in [1, 60], got {max_log2_n!r}.")
    tc = float(classical.estimate(n).seconds)
    out: list[dict[str, Any]] = []
    for kappa, d in pairs:
        for m in models:
            tq, det, err = _price(m, n, kappa, min(d, n))
            row: dict[str, Any] = {
                "hardware": m.hw.name,
                "data_loading": m.data_loading,
                "n": n,
                "kappa": kappa,
                "d": d,
                "quantum_modeled_seconds": tq,
                "cholesky_seconds": tc,
                "best_classical_seconds": best if best is not None else NOT_MEASURED,
                "estimator_error": err,
            }
            if tq is not None:
                unit = det.get("logical_cycle_time_s") if m.hw.error_corrected else m.hw.seconds_per_query
                row["time_unit"] = "logical cycle" if m.hw.error_corrected else "seconds per query (no QEC)"
                row["current_time_unit_s"] = unit
                row["speedup_needed_vs_cholesky"] = tq / tc
                row["required_time_unit_vs_cholesky_s"] = unit * tc / tq if unit else None
                row["required_time_unit_vs_best_s"] = unit * best / tq if (unit and best) else None
                row["code_distance"] = det.get("code_distance")
                row["physical_qubits"] = det.get("physical_qubits")
            first, note = _first_win_n(m, classical, n, kappa, min(d, n), max_log2_n)
            row["first_winning_n"] = first
            row["seconds_at_first_winning_n"] = float(classical.estimate(first).seconds) if first else None
            row["first_winning_n_note"] = note
            out.append(row)
    return out


def models_for(
    hardware: Sequence[str], loadings: Sequence[str], base: FaultTolerantCostModel
) -> list[FaultTolerantCostModel]:
    """One model per (hardware, data loading), other settings from ``base``."""
    return [replace(base, hardware=h, data_loading=dl) for h in hardware for dl in loadings]
