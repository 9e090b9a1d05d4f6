"""Shared helpers for the benchmark scripts: machine description, timing, tables, and the classical
QNewton the training benchmarks time."""

from __future__ import annotations

import datetime
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from qnewton._machine import describe

#: Settings of the training benchmarks (paper DNN): SGD warm-up steps, SGD lr and momentum, the
#: regularization eps, the CG tolerance and the batch size.
WARMUP, SGD_LR, MOMENTUM, EPS, TOL, BATCH = 20, 0.1, 0.9, 0.05, 1e-3, 256


def classical_qnewton(model: Any, routes: Any = None) -> Any:
    """``QNewton(policy="classical")`` with the benchmarks' settings (Armijo line search after the
    SGD warm-up); ``routes`` as QNewton takes them (None: the default routes)."""
    from torch import nn

    from qnewton.optim import QNewton

    return QNewton(
        model.parameters(),
        model=model,
        criterion=nn.CrossEntropyLoss(),
        lr=1.0,
        eps=EPS,
        line_search=True,
        sgd_steps=WARMUP,
        sgd_lr=SGD_LR,
        sgd_momentum=MOMENTUM,
        policy="classical",
        routes=routes,
        cg_tol=TOL,
    )


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
