"""Routes: the ways one block's Newton system (C + eps I) x = g can be solved, each with its price.

| route | kind | needs | price (basis) |
|---|---|---|---|
| ``cholesky`` | classical | the dense block | C N^3, C calibrated here (the paper's LU cost) |
| ``cg`` | classical | products C v only | iterations x measured product time |
| ``woodbury`` | classical | an exact factor C = U U^T, rank r < N | factor flops x GEMM rate + C r^3 |
| ``qlsa`` | quantum | the dense block (pruned to d) | QLSA queries x gate time (modeled) |
| ``qlsa-rows`` | quantum | the dense block | as qlsa; the reference code's row pruning (baseline) |
| ``kron-eig`` | classical | a K-FAC block A ⊗ G | C_eig (in^3 + out^3) + GEMM flops (exact damping) |

A route is any object with ``name``, ``kind``, ``quote(system) -> Quote`` and
``solve(system, quote) -> SolveResult`` (:class:`Route`); the scheduler quotes the enabled ones,
chooses, and solves (:mod:`qnewton.scheduler`).
"""

from .base import BlockSystem, Quote, Route, RouteFailedError, RouteKind, predict_dense_seconds
from .cg import CGConfig, CGRoute
from .cholesky import CholeskyRoute
from .kronecker import KronEigConfig, KronEigRoute
from .quantum import QLSARoute, QuantumRouteConfig, RowPrunedRoute, SparsitySpec
from .woodbury import WoodburyRoute

#: The built-in routes by name (``qlsa-rows`` is a reference baseline, not in the default set).
BUILTIN_ROUTES: tuple[str, ...] = ("cholesky", "cg", "woodbury", "qlsa", "qlsa-rows", "kron-eig")
#: The routes a scheduler considers unless told otherwise (``kron-eig`` takes only K-FAC blocks and
#: declines every other block, so it changes nothing for the other curvatures).
DEFAULT_ROUTES: tuple[str, ...] = ("cholesky", "cg", "woodbury", "qlsa", "kron-eig")

__all__ = [
    "BUILTIN_ROUTES",
    "DEFAULT_ROUTES",
    "BlockSystem",
    "CGConfig",
    "CGRoute",
    "CholeskyRoute",
    "KronEigConfig",
    "KronEigRoute",
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
