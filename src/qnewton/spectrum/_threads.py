"""Run a study with one torch thread and one BLAS thread, restoring both afterwards.

The studies multiply small matrices (Hessian-vector products of small models, LAPACK on
matrices of a few hundred rows): a second thread only adds synchronization. Measured on the
shared 2-core machines here: Hessian-vector products 20x and ``eigvalsh`` of a 610 x 610 matrix
about 25x slower with two threads while another process is busy.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def single_thread(fn: F) -> F:
    """Decorator: call ``fn`` with torch and BLAS limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            from threadpoolctl import threadpool_limits

            ctx: contextlib.AbstractContextManager = threadpool_limits(limits=1, user_api="blas")
        except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
            ctx = contextlib.nullcontext()
        try:
            with ctx:
                return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper  # type: ignore[return-value]
