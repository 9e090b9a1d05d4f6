"""Option helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any


def gate_time(v: str) -> str | float:
    """``--gate-time``: seconds as a number, or a preset name (resolved by the cost model)."""
    try:
        return float(v)
    except ValueError:
        return v


def config_values(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The parsed options named after fields of the config dataclass ``cls`` that were given
    (not None); list values become tuples, as the frozen configs hold them."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        v = getattr(args, f.name, None)
        if v is not None:
            out[f.name] = tuple(v) if isinstance(v, list) else v
    return out
