"""Hardware for the fault-tolerant cost model: presets with their sources, and user-defined machines.

Two kinds of machine:

* ``"paper"``: the Q-Newton paper's (arXiv:2405.00252, Sec. IV-C): one logical block-encoding query
  takes 1e-18 s and there is no error correction. Priced without any estimator, exactly like
  :class:`qnewton.cost.QuantumCostModel` with its defaults.
* Physical qubit models priced through Microsoft's Azure Quantum Resource Estimator (the ``qdk``
  package, extra ``qnewton[ft]``): the six predefined models of Beverland, Murali, Troyer, Svore,
  Hoefler, Kliuchnikov, Low, Soeken, Sundaram, Vaschillo, "Assessing requirements to scale to
  practical quantum advantage", arXiv:2211.07629 (2022), Sec. IV / Table of qubit parameters,
  documented as the estimator's target parameters ("qubit_gate_ns_e3", ...). Their values as
  reported by the estimator (qdk 1.33) are given below; the estimator, not this module, supplies
  them at run time. The QEC scheme is the estimator's default (surface code) unless given.

User-defined machines: :class:`FTHardware` with the estimator's ``qubitParams`` (and optionally
``qecScheme``) JSON, e.g. ``FTHardware("my-ions", qubit_params={"name": "qubit_gate_us_e3",
"oneQubitGateTime": "10 us", ...})``; or ``seconds_per_query`` for another no-error-correction
machine like the paper's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["FT_HARDWARE_PRESETS", "FTHardware", "resolve_hardware"]

_BEVERLAND = (
    "Beverland et al., 'Assessing requirements to scale to practical quantum advantage', "
    "arXiv:2211.07629 (2022), predefined qubit parameters; Azure Quantum Resource Estimator "
    "target parameters (qdk.estimator.QubitParams)"
)


@dataclass(frozen=True)
class FTHardware:
    """A machine to price a fault-tolerant solve on.

    Exactly one of ``seconds_per_query`` (no error correction: one logical query = that many
    seconds, the paper's model) and ``qubit_params`` (a physical qubit model for the resource
    estimator) is set.

    Attributes:
        name: short name used in model names and tables.
        qubit_params: the estimator's ``qubitParams`` JSON object (camelCase keys, times as strings
            such as ``"50 ns"``): ``{"name": "<predefined model>"}`` or a full custom model.
        qec_scheme: the estimator's ``qecScheme`` JSON object, or None for its default (surface code).
        seconds_per_query: seconds per logical block-encoding query without error correction.
        source: where the parameters come from.
        note: what the machine stands for.
    """

    name: str
    qubit_params: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    qec_scheme: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    seconds_per_query: float | None = None
    source: str = "given by the caller"
    note: str = ""
    _key: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidArgumentError(f"`hardware.name` must be a non-empty string, got {self.name!r}.")
        if (self.qubit_params is None) == (self.seconds_per_query is None):
            raise InvalidArgumentError(
                "`hardware` needs exactly one of `qubit_params` (a physical qubit model for the resource "
                "estimator, e.g. {'name': 'qubit_gate_ns_e4'}) and `seconds_per_query` (no error "
                "correction, like the paper's 1e-18 s)."
            )
        if self.seconds_per_query is not None:
            s = self.seconds_per_query
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s <= 0:
                raise InvalidArgumentError(f"`seconds_per_query` must be a finite number > 0, got {s!r}.")
            object.__setattr__(self, "seconds_per_query", float(s))
        for attr in ("qubit_params", "qec_scheme"):
            v = getattr(self, attr)
            if v is None:
                continue
            if not isinstance(v, Mapping):
                raise InvalidArgumentError(f"`{attr}` must be a mapping (the estimator's JSON object), got {v!r}.")
            try:
                text = json.dumps(dict(v), sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(f"`{attr}` must be JSON-serializable: {exc}.") from exc
            object.__setattr__(self, attr, MappingProxyType(json.loads(text)))
        if self.qec_scheme is not None and self.qubit_params is None:
            raise InvalidArgumentError("`qec_scheme` needs `qubit_params` (error correction runs on physical qubits).")
        key = json.dumps(
            {"q": dict(self.qubit_params or {}), "c": dict(self.qec_scheme or {}), "s": self.seconds_per_query},
            sort_keys=True,
        )
        object.__setattr__(self, "_key", key)

    @property
    def error_corrected(self) -> bool:
        """True for a physical qubit model priced by the resource estimator."""
        return self.qubit_params is not None

    def estimator_params(self, error_budget: float) -> dict[str, Any]:
        """The estimator's job parameters (a JSON-serializable dict) for this machine and budget."""
        if self.qubit_params is None:
            raise InvalidArgumentError(f"hardware {self.name!r} has no error correction; there is nothing to estimate.")
        params: dict[str, Any] = {"qubitParams": dict(self.qubit_params), "errorBudget": float(error_budget)}
        if self.qec_scheme is not None:
            params["qecScheme"] = dict(self.qec_scheme)
        return params

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable description."""
        return {
            "name": self.name,
            "error_corrected": self.error_corrected,
            "qubit_params": dict(self.qubit_params) if self.qubit_params is not None else None,
            "qec_scheme": dict(self.qec_scheme) if self.qec_scheme is not None else None,
            "seconds_per_query": self.seconds_per_query,
            "source": self.source,
            "note": self.note,
        }


def _model(name: str, note: str) -> FTHardware:
    return FTHardware(name, qubit_params={"name": name}, source=_BEVERLAND, note=note)


_PRESETS = (
    FTHardware(
        "paper",
        seconds_per_query=1e-18,
        source="Q-Newton paper (arXiv:2405.00252), Sec. IV-C: 1e-18 s per query (attosecond gates)",
        note="No error correction, no data loading: one logical block-encoding query = one 1e-18 s step. "
        "Equal to QuantumCostModel's defaults.",
    ),
    _model(
        "qubit_gate_ns_e3",
        "Gate-based, nanosecond gates (superconducting transmons, spin qubits), realistic: 50 ns gates, "
        "100 ns measurement, all error rates 1e-3.",
    ),
    _model(
        "qubit_gate_ns_e4",
        "Gate-based, nanosecond gates, optimistic: 50 ns gates, 100 ns measurement, error rates 1e-4.",
    ),
    _model(
        "qubit_gate_us_e3",
        "Gate-based, microsecond gates (trapped ions), realistic: 100 us gates and measurement, Clifford "
        "error rates 1e-3, T 1e-6.",
    ),
    _model(
        "qubit_gate_us_e4",
        "Gate-based, microsecond gates (trapped ions), optimistic: 100 us gates and measurement, Clifford "
        "error rates 1e-4, T 1e-6.",
    ),
    _model(
        "qubit_maj_ns_e4",
        "Measurement-based Majorana qubits, realistic: 100 ns measurements, error 1e-4, T error 0.05.",
    ),
    _model(
        "qubit_maj_ns_e6",
        "Measurement-based Majorana qubits, optimistic: 100 ns measurements, error 1e-6, T error 0.01.",
    ),
)

#: Hardware presets by name (read-only): ``paper`` and the resource estimator's six qubit models.
FT_HARDWARE_PRESETS: Mapping[str, FTHardware] = MappingProxyType({h.name: h for h in _PRESETS})


def resolve_hardware(hardware: str | FTHardware) -> FTHardware:
    """An :class:`FTHardware` from a preset name (case-insensitive, ``-`` = ``_``) or unchanged.

    Raises:
        InvalidArgumentError: unknown preset name (the message lists them) or a wrong type.

    Example:
        >>> resolve_hardware("Qubit-Gate-NS-E4").qubit_params["name"]
        'qubit_gate_ns_e4'
        >>> resolve_hardware("paper").seconds_per_query
        1e-18
    """
    if isinstance(hardware, FTHardware):
        return hardware
    if not isinstance(hardware, str):
        raise InvalidArgumentError(
            f"`hardware` must be a preset name or an FTHardware, got {hardware!r} ({type(hardware).__name__})."
        )
    key = hardware.strip().lower().replace("-", "_")
    if key not in FT_HARDWARE_PRESETS:
        raise InvalidArgumentError(
            f"`hardware` {hardware!r} is not a preset; choose one of {', '.join(FT_HARDWARE_PRESETS)}, or pass "
            f"FTHardware(name, qubit_params={{...}}) for your own qubit model."
        )
    return FT_HARDWARE_PRESETS[key]
