"""The decision log: one record per block per step, readable and exportable."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DecisionRecord", "decisions_to_csv", "read_decisions_csv"]


@dataclass(frozen=True)
class DecisionRecord:
    """Why one block went the way it went, and what it cost.

    Times, each labelled by where it comes from:

    * ``*_measured_s``: wall-clock seconds on this machine;
    * ``quantum_cost_s`` / ``solve_modeled_s``: modeled (QLSA query count x gate time);
    * ``classical_cost_s``: the C N^3 prediction (``classical_cost_basis`` says calibrated or assumed).

    ``step_time_s`` is what the step is charged for this block: the measured classical solve on the
    classical route, the modeled QLSA time on the quantum route (``step_time_basis`` says which);
    the scheduling overhead (``kappa_measured_s + prune_measured_s``) is measured and kept apart.
    """

    step: int
    block: str
    n: int
    policy: str
    route: str
    reason: str
    eps: float
    pd_shift: float = 0.0
    kappa: float | None = None
    log_kappa: float | None = None
    kappa_method: str | None = None
    kappa_upper_bound: bool | None = None
    kappa_measured_s: float = 0.0
    d_requested: int | None = None
    d: int | None = None
    alpha: float | None = None
    prune_measured_s: float = 0.0
    classical_cost_s: float | None = None
    classical_cost_basis: str | None = None
    quantum_cost_s: float | None = None
    quantum_queries: float | None = None
    quantum_qubits: int | None = None
    solver: str = ""
    solve_measured_s: float = 0.0
    solve_modeled_s: float | None = None
    step_time_s: float = 0.0
    step_time_basis: str = "measured"
    residual: float | None = None
    update_norm: float | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def explain(self) -> str:
        """One line a person can read: what was chosen and why."""
        parts = [f"step {self.step} block {self.block} (N={self.n}): {self.route}"]
        parts.append(f"({self.reason})")
        if self.classical_cost_s is not None:
            parts.append(f"classical {self.classical_cost_s:.3g}s [{self.classical_cost_basis}]")
        if self.quantum_cost_s is not None:
            parts.append(
                f"quantum {self.quantum_cost_s:.3g}s [modeled; kappa={self.kappa:.3g} "
                f"({self.kappa_method}), d={self.d}, alpha={self.alpha:.3g}]"
            )
        return " ".join(parts)


_COLUMNS = [f.name for f in dataclasses.fields(DecisionRecord) if f.name != "extra"]


def decisions_to_csv(records: Iterable[DecisionRecord], path: str | os.PathLike | None = None) -> str:
    """Write the records as CSV (one row per block per step; ``extra`` as JSON); return the text."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*_COLUMNS, "extra"])
    w.writeheader()
    for r in records:
        row = {k: v for k, v in r.to_dict().items() if k != "extra"}
        row["extra"] = json.dumps(r.extra, default=str, sort_keys=True)
        w.writerow(row)
    text = buf.getvalue()
    if path is not None:
        with open(path, "w", newline="") as f:
            f.write(text)
    return text


def read_decisions_csv(path: str | os.PathLike) -> list[DecisionRecord]:
    """Read back what :func:`decisions_to_csv` wrote (numbers parsed, empty cells as None)."""
    types = {f.name: f.type for f in dataclasses.fields(DecisionRecord)}
    out: list[DecisionRecord] = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            vals: dict[str, Any] = {}
            for k, v in row.items():
                if k == "extra":
                    vals[k] = json.loads(v) if v else {}
                elif v == "":
                    vals[k] = None if "None" in str(types[k]) else v
                elif "int" in str(types[k]) and "float" not in str(types[k]):
                    vals[k] = int(v)
                elif "float" in str(types[k]):
                    vals[k] = float(v)
                elif "bool" in str(types[k]):
                    vals[k] = v == "True"
                else:
                    vals[k] = v
            out.append(DecisionRecord(**vals))
    return out


def summarize(records: Sequence[DecisionRecord]) -> dict[str, Any]:
    """Totals per route: counts, measured solve seconds, modeled seconds, scheduling overhead."""
    out: dict[str, Any] = {"blocks": len(records)}
    for route in ("classical", "quantum", "skipped"):
        rs = [r for r in records if r.route == route]
        out[route] = {
            "count": len(rs),
            "solve_measured_s": sum(r.solve_measured_s for r in rs),
            "solve_modeled_s": sum(r.solve_modeled_s or 0.0 for r in rs),
        }
    out["overhead_measured_s"] = sum(r.kappa_measured_s + r.prune_measured_s for r in records)
    return out
