"""Private: compile (or load from numba's on-disk cache) every compiled kernel before any timed region.

The kernels behind pruning, sparsity profiles, Gershgorin bounds and the symmetry scans are numba
functions with ``cache=True``: the first run on a machine compiles them (tens of seconds), later
runs load them from ``__pycache__`` (or ``NUMBA_CACHE_DIR``) in milliseconds. :func:`warm_up` runs
each one once on a small matrix in both precisions, so that no measured time (a route's pruning
seconds, a benchmark row) ever includes compilation; it says so on stderr when it has to compile.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

_DONE = False


def kernels() -> Iterator[Any]:
    """Every numba dispatcher of the package."""
    from . import _validation
    from .linalg import _kernels

    for mod in (_kernels, _validation):
        for obj in vars(mod).values():
            if hasattr(obj, "py_func") and hasattr(obj, "signatures"):
                yield obj


def _cached_on_disk(disp: Any) -> bool:
    try:
        return os.path.exists(disp._cache._cache_file._index_path)
    except AttributeError:  # pragma: no cover - numba internals moved: assume not cached
        return False


def warm_up(*, verbose: bool = True) -> float:
    """Compile or load every kernel for float32 and float64 inputs; returns the seconds it took.

    Idempotent and cheap after the first call in a process.
    """
    global _DONE
    if _DONE:
        return 0.0
    t0 = time.perf_counter()
    # inlined helpers are compiled into their callers only, never cached on their own
    entry = [k for k in kernels() if k.targetoptions.get("inline") != "always"]
    if verbose and not all(_cached_on_disk(k) for k in entry):
        print(
            "qnewton: compiling the numba kernels (first run on this machine only, about 30-60 s; cached after)...",
            file=sys.stderr,
            flush=True,
        )
    from .curvature._kernels import symmetrize_inplace
    from .linalg import estimate_condition, prune_rows, prune_symmetric, quantum_sparsity

    rng = np.random.default_rng(0)
    n = 300  # above every size threshold below which the torch/numpy paths are taken
    for dtype in (np.float32, np.float64):
        g = rng.standard_normal((n, n))
        a = ((g + g.T) / 2).astype(dtype)
        for d in (1, 7, 60):
            prune_symmetric(a, d)
            prune_symmetric(a, d, sparse=True)
        prune_rows(a, 5)
        quantum_sparsity(a, [0.5, 0.9])
        estimate_condition(a + np.asarray(n * np.eye(n), dtype=dtype), "gershgorin", eps=1.0)
        import torch

        symmetrize_inplace(torch.from_numpy(a.copy()))
    _DONE = True
    return time.perf_counter() - t0
