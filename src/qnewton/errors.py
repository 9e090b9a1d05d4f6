"""Typed errors and warnings raised by qnewton.

Every error derives from :class:`QNewtonError`, so ``except QNewtonError`` catches anything the
library raises on purpose. Each one also derives from the built-in exception that callers
already catch for that kind of problem (``ValueError`` for bad arguments, ``ArithmeticError`` for
numerical failures, ``ImportError`` for a missing optional dependency), so code that is not
qnewton-aware keeps working.

Warnings derive from :class:`QNewtonWarning` and can be filtered as a family or one by one::

    import warnings
    from qnewton.errors import IllConditionedWarning
    warnings.simplefilter("ignore", IllConditionedWarning)

Messages name the offending argument and say how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CircuitTooLargeError",
    "ClampedRangeWarning",
    "ConvergenceError",
    "ConvergenceWarning",
    "DataFormatError",
    "EstimatorError",
    "IllConditionedWarning",
    "IndefiniteMatrixWarning",
    "InvalidArgumentError",
    "MemoryBudgetError",
    "MissingDependencyError",
    "NonFiniteError",
    "NotPolynomialError",
    "NotPositiveDefiniteError",
    "NotSymmetricError",
    "QNewtonError",
    "QNewtonWarning",
    "ShapeError",
    "SingularMatrixError",
    "SkippedStepWarning",
]


class QNewtonError(Exception):
    """Base class of every error qnewton raises on purpose."""


# --- bad arguments (ValueError) ---------------------------------------------------------------


class InvalidArgumentError(QNewtonError, ValueError):
    """An argument is outside its allowed range or of the wrong kind (e.g. ``d > N``, ``eps <= 0``).

    ``argument`` names the offending argument (a parameter or config field) when known, so a
    front end can name it as the user typed it (the command line maps it to its option).
    """

    def __init__(self, message: str = "", *, argument: str | None = None) -> None:
        super().__init__(message)
        if argument is None:  # messages name the argument in backticks: `eps` must be > 0
            import re

            m = re.match(r"\s*`([A-Za-z_][A-Za-z0-9_.]*)", message)
            argument = m.group(1) if m else None
        self.argument = argument


class ShapeError(InvalidArgumentError):
    """An array has the wrong shape: not square, empty, or not matching another argument."""


class NotSymmetricError(InvalidArgumentError):
    """A matrix that must be symmetric (a Hessian block) is not, within the stated tolerance."""


class NotPolynomialError(InvalidArgumentError):
    """A model without an explicit polynomial gradient was asked for an actual Carleman solve; only
    the error proxy (:mod:`qnewton.carleman.proxy`) is available for it."""


class CircuitTooLargeError(InvalidArgumentError):
    """A problem is too large for the state-vector circuit backend."""


class DataFormatError(QNewtonError, ValueError):
    """A data file is truncated, corrupt or not in the format its name or header claims."""


class CheckpointError(QNewtonError, ValueError):
    """A checkpoint cannot be read or does not match the run it is resumed into."""


# --- numerical failures (ArithmeticError) ------------------------------------------------------


class NonFiniteError(QNewtonError, ArithmeticError):
    """NaN or Inf where finite numbers are required (a matrix, a gradient, a loss)."""


class SingularMatrixError(QNewtonError, ArithmeticError):
    """A matrix is singular (or numerically so) where a nonsingular one is required."""


class NotPositiveDefiniteError(QNewtonError, ArithmeticError):
    """A matrix that must be positive definite is not (Cholesky failed, negative eigenvalue)."""


class ConvergenceError(QNewtonError, ArithmeticError):
    """An iterative method (Lanczos, CG, an angle solver) did not reach its tolerance."""


# --- environment -------------------------------------------------------------------------------


class MemoryBudgetError(QNewtonError, MemoryError):
    """A dense matrix would not fit the memory budget; the message names it and the ways out."""


class EstimatorError(QNewtonError, RuntimeError):
    """An external resource estimator (Microsoft's Azure Quantum Resource Estimator from the ``qdk``
    package) rejected its input or failed; the message carries the estimator's own message and code,
    e.g. a code distance above its maximum or a T-factory that cannot reach the required error rate."""


class MissingDependencyError(QNewtonError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


# --- warnings ----------------------------------------------------------------------------------


class QNewtonWarning(UserWarning):
    """Base class of every warning qnewton issues."""


class IllConditionedWarning(QNewtonWarning):
    """A block's condition number is so large that its solve is unreliable."""


class IndefiniteMatrixWarning(QNewtonWarning):
    """A block that should be positive definite is not; a documented fallback was used."""


class ConvergenceWarning(QNewtonWarning):
    """An iterative method stopped before its tolerance; the result is returned but approximate."""


class ClampedRangeWarning(QNewtonWarning):
    """An input was outside a cost model's range of validity and was clamped to it."""


class SkippedStepWarning(QNewtonWarning):
    """An optimizer step was skipped (NaN/Inf in the loss, gradient, curvature or update) and the
    parameters were left unchanged, as configured with ``on_nonfinite="skip"``."""
