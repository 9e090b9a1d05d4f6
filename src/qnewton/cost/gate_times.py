"""Time per query step of a quantum computer: presets and parsing (REFERENCE.md section 5).

A modeled quantum time is (query count) x (time per query step). This is an **idealized**
figure: the query counts assume fault-tolerant logical operations and a block-encoding query
that costs one step, while physical gate times belong to noisy hardware whose error correction
and oracle circuits (thousands of gates per sparse-access query) would multiply the time by
orders of magnitude. The figure says what a QLSA would cost if one query took one step of that
duration, which is how the Q-Newton paper (arXiv:2405.00252, Sec. II-E and IV-C) uses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from types import MappingProxyType

from ..errors import InvalidArgumentError

__all__ = ["GATE_TIME_PRESETS", "IBM_SHERBROOKE", "GateTime", "resolve_gate_time"]


@dataclass(frozen=True)
class GateTime:
    """A time per query step with its provenance.

    Attributes:
        name: preset name, or ``"custom"`` for a number.
        seconds: time of one query step in seconds (> 0).
        source: where the figure comes from.
        note: what a query step is taken to be, and caveats.
    """

    name: str
    seconds: float
    source: str
    note: str = ""

    @property
    def label(self) -> str:
        """Short text for plot titles and tables, e.g. ``"atto (1e-18 s)"``."""
        return f"{self.name} ({self.seconds:.3g} s)"


#: ibm_sherbrooke (IBM Eagle r3) calibration medians, seconds (REFERENCE.md section 5).
IBM_SHERBROOKE = MappingProxyType({"sx": 56.9e-9, "x": 56.9e-9, "ecr": 533e-9, "readout": 1.24e-6, "reset": 1.3e-6})

_PRESETS = (
    GateTime(
        "ibm_sherbrooke",
        589.9e-9,  # IBM_SHERBROOKE["ecr"] + IBM_SHERBROOKE["sx"], written out to avoid 5.899000000000001e-07
        "IBM ibm_sherbrooke (Eagle r3) published device properties (qiskit-ibm-runtime "
        "FakeSherbrooke snapshots, 2023-2025): ECR 533 ns median, sx/x 56.9 ns, rz virtual (0 ns)",
        "One query step = one layer of the native entangling gate plus one single-qubit layer "
        "(533 ns + 56.9 ns = 589.9 ns): a CNOT on Eagle is one ECR plus single-qubit gates, and a "
        "step of a circuit needs at least one entangling layer, so this is a floor per query. "
        "Readout (1.24 us) and reset (1.3 us) occur once per shot and are not included. "
        "Physical (noisy) gate times x logical query counts: an idealized figure.",
    ),
    GateTime(
        "ghz",
        1e-9,
        "Q-Newton paper (arXiv:2405.00252), Sec. II-E: photonic processors towards GHz",
        "Hypothetical gate speed; idealized (logical query counts x a physical gate time).",
    ),
    GateTime(
        "thz",
        1e-12,
        "Q-Newton paper (arXiv:2405.00252), Sec. II-E: photonic processors towards THz",
        "Hypothetical gate speed; idealized (logical query counts x a physical gate time).",
    ),
    GateTime(
        "atto",
        1e-18,
        "Q-Newton paper (arXiv:2405.00252), Sec. IV-C: the gate time of its tables (attosecond physics)",
        "Far beyond current technology; the paper's assumption for Tables III-IV.",
    ),
)

#: Gate-time presets by name (read-only).
GATE_TIME_PRESETS: Mapping[str, GateTime] = MappingProxyType({g.name: g for g in _PRESETS})
_ALIASES = {"sherbrooke": "ibm_sherbrooke", "ibm": "ibm_sherbrooke", "attosecond": "atto",
            "paper": "atto"}  # fmt: skip


def resolve_gate_time(gate_time: str | float | GateTime) -> GateTime:
    """A :class:`GateTime` from a preset name, a positive number of seconds, or a numeric string.

    Presets: ``ibm_sherbrooke`` (5.899e-7 s), ``ghz`` (1e-9 s), ``thz`` (1e-12 s), ``atto``
    (1e-18 s, the Q-Newton paper's); aliases ``sherbrooke``, ``ibm``, ``attosecond``, ``paper``.
    Names are case-insensitive and ``-`` equals ``_``.

    Raises:
        InvalidArgumentError: unknown name, or a number that is not finite and > 0.

    Example:
        >>> resolve_gate_time("THz").seconds
        1e-12
        >>> resolve_gate_time("2.5e-9").name
        'custom'
    """
    if isinstance(gate_time, GateTime):
        return gate_time
    if isinstance(gate_time, str):
        key = gate_time.strip().lower().replace("-", "_")
        key = _ALIASES.get(key, key)
        if key in GATE_TIME_PRESETS:
            return GATE_TIME_PRESETS[key]
        try:
            value = float(gate_time.strip())
        except ValueError:
            raise InvalidArgumentError(
                f"`gate_time` {gate_time!r} is neither a preset ({', '.join(GATE_TIME_PRESETS)}) nor "
                f"a number of seconds such as 1e-9."
            ) from None
    elif isinstance(gate_time, Real) and not isinstance(gate_time, bool):
        value = float(gate_time)
    else:
        raise InvalidArgumentError(f"`gate_time` must be a preset name or seconds as a number, got {gate_time!r}.")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgumentError(f"`gate_time` must be a finite number of seconds > 0, got {value!r}.")
    return GateTime("custom", value, "given by the caller", "Idealized: logical query counts x gate time.")
