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
    * ``predicted_s``, ``classical_cost_s``, ``best_classical_s``: predictions of the routes' cost
      models (``predicted_basis`` / ``classical_cost_basis`` say calibrated or assumed);
    * ``end_to_end_s``: the chosen route's prediction plus its classical pre-processing.

    ``route`` is the route that solved the block (``"cholesky"``, ``"cg"``, ``"woodbury"``,
    ``"qlsa"``, ``"qlsa-rows"``, a user route; ``"first-order"`` / ``"skipped"`` for blocks that got no
    solve) and ``kind`` its kind (``"classical"`` / ``"quantum"``). ``classical_cost_s`` is always the
    paper's classical cost (dense Cholesky, C N^3); ``best_classical_*`` the cheapest classical route
    quoted. ``route_paper`` and ``route_end_to_end`` are what each decision rule picks from the same
    quotes; ``quotes`` holds every quote (seconds, basis, whether it applied, why).

    ``step_time_s`` is what the step is charged for this block: the measured solve on a classical
    route, the modeled QLSA time on the quantum route (``step_time_basis`` says which); the
    pre-processing (forming the dense block, pruning, kappa estimation) is measured and kept apart.
    """

    step: int
    block: str
    n: int
    policy: str
    route: str
    reason: str
    eps: float
    kind: str = ""
    decision_rule: str = "paper"
    solver: str = ""
    solve_measured_s: float = 0.0
    solve_modeled_s: float | None = None
    step_time_s: float = 0.0
    step_time_basis: str = "measured"
    predicted_s: float | None = None
    predicted_basis: str | None = None
    end_to_end_s: float | None = None
    prep_measured_s: float = 0.0
    quote_measured_s: float = 0.0
    dense_measured_s: float = 0.0
    classical_cost_s: float | None = None
    classical_cost_basis: str | None = None
    best_classical_route: str | None = None
    best_classical_s: float | None = None
    route_paper: str | None = None
    route_end_to_end: str | None = None
    iterations: int | None = None
    predicted_iterations: int | None = None
    woodbury_rank: int | None = None
    residual: float | None = None
    update_norm: float | None = None
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
    quantum_cost_s: float | None = None
    quantum_queries: float | None = None
    quantum_qubits: int | None = None
    quantum_notes: str = ""
    notes: str = ""
    quotes: dict[str, Any] = field(default_factory=dict, compare=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DecisionRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def fields_of(cls, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Split ``values`` into (record fields, the rest) so a route's quote can contribute any
        of its own facts: known ones become fields, others go to ``extra``."""
        names = {f.name for f in dataclasses.fields(cls)}
        return {k: v for k, v in values.items() if k in names}, {k: v for k, v in values.items() if k not in names}

    def explain(self) -> str:
        """One line a person can read: what was chosen and why."""
        parts = [f"step {self.step} block {self.block} (N={self.n}): {self.route}"]
        parts.append(f"({self.reason})")
        if self.classical_cost_s is not None:
            parts.append(f"dense Cholesky {self.classical_cost_s:.3g}s [{self.classical_cost_basis}]")
        if self.best_classical_route is not None and self.best_classical_s is not None:
            parts.append(f"best classical {self.best_classical_route} {self.best_classical_s:.3g}s")
        if self.quantum_cost_s is not None and self.kappa is not None and self.alpha is not None:
            parts.append(
                f"quantum {self.quantum_cost_s:.3g}s [modeled; kappa={self.kappa:.3g} "
                f"({self.kappa_method}), d={self.d}, alpha={self.alpha:.3g}]"
            )
        return " ".join(parts)


_JSON = ("quotes", "extra")
_COLUMNS = [f.name for f in dataclasses.fields(DecisionRecord) if f.name not in _JSON]


def decisions_to_csv(records: Iterable[DecisionRecord], path: str | os.PathLike | None = None) -> str:
    """Write the records as CSV (one row per block per step; ``extra`` as JSON); return the text."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*_COLUMNS, *_JSON])
    w.writeheader()
    for r in records:
        row = {k: v for k, v in r.to_dict().items() if k not in _JSON}
        for k in _JSON:
            row[k] = json.dumps(getattr(r, k), default=str, sort_keys=True)
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
                if k not in types:  # a column of another version of the record
                    continue
                if k in _JSON:
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
    """Totals per kind and per route: counts, measured solve seconds, modeled seconds, overhead."""
    out: dict[str, Any] = {"blocks": len(records)}
    for kind in ("classical", "quantum"):
        rs = [r for r in records if r.kind == kind]
        out[kind] = {
            "count": len(rs),
            "solve_measured_s": sum(r.solve_measured_s for r in rs),
            "solve_modeled_s": sum(r.solve_modeled_s or 0.0 for r in rs),
        }
    out["routes"] = {}
    for r in records:
        e = out["routes"].setdefault(r.route, {"count": 0, "solve_measured_s": 0.0})
        e["count"] += 1
        e["solve_measured_s"] += r.solve_measured_s
    out["overhead_measured_s"] = sum(r.quote_measured_s for r in records)
    return out
