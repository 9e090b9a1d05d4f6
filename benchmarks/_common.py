"""Shared helpers for the benchmark scripts: machine description, timing, tables."""

from __future__ import annotations

import datetime
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable

from qnewton._machine import describe


def machine() -> dict[str, str]:
    """What ran the benchmark: CPU, cores, memory, library versions, date, commit and command."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    info = {k: str(v) for k, v in describe().items() if k not in ("platform", "torch_threads")}
    return {
        "date": datetime.date.today().isoformat(),
        **info,
        "commit": commit,
        "command": " ".join(shlex.quote(a) for a in [os.path.relpath(sys.executable), *sys.argv]),
    }


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Minimum wall-clock seconds of ``repeats`` calls (the least disturbed run)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def print_machine(info: dict[str, str]) -> None:
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items() if k != "command"))
    print(f"command: {info['command']}\n")


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
