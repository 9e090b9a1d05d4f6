"""Routes: the ways one block's Newton system (C + eps I) x = g can be solved, each with its price.

| route | kind | needs | price (basis) |
|---|---|---|---|
| ``cholesky`` | classical | the dense block | C N^3, C calibrated here (the paper's LU cost) |
| ``cg`` | classical | products C v only | iterations x measured product time |
| ``woodbury`` | classical | an exact factor C = U U^T, rank r < N | factor flops x GEMM rate + C r^3 |
| ``qlsa`` | quantum | the dense block (pruned to d) | QLSA queries x gate time (modeled) |
| ``qlsa-rows`` | quantum | the dense block | as qlsa; the reference code's row pruning (baseline) |

A route is any object with ``name``, ``kind``, ``quote(system) -> Quote`` and
``solve(system, quote) -> SolveResult`` (:class:`Route`); the scheduler quotes the enabled ones,
chooses, and solves (:mod:`qnewton.scheduler`).
"""

from .base import BlockSystem, Quote, Route, RouteFailedError, RouteKind, predict_dense_seconds
from .cg import CGConfig, CGRoute
from .cholesky import CholeskyRoute
from .quantum import QLSARoute, QuantumRouteConfig, RowPrunedRoute, SparsitySpec
from .woodbury import WoodburyRoute

#: The built-in routes by name (``qlsa-rows`` is a reference baseline, not in the default set).
BUILTIN_ROUTES: tuple[str, ...] = ("cholesky", "cg", "woodbury", "qlsa", "qlsa-rows")
#: The routes a scheduler considers unless told otherwise.
DEFAULT_ROUTES: tuple[str, ...] = ("cholesky", "cg", "woodbury", "qlsa")

__all__ = [
    "BUILTIN_ROUTES",
    "DEFAULT_ROUTES",
    "BlockSystem",
    "CGConfig",
    "CGRoute",
    "CholeskyRoute",
    "QLSARoute",
    "QuantumRouteConfig",
    "Quote",
    "Route",
    "RouteFailedError",
    "RouteKind",
    "RowPrunedRoute",
    "SparsitySpec",
    "WoodburyRoute",
    "predict_dense_seconds",
]
