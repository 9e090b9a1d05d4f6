"""What reading the answer out of a QLSA costs (REFERENCE.md section 4).

A QLSA prepares the normalized state |x> = A^-1 |b> / ||A^-1 |b>||. Newton's method needs the
classical vector, so an end-to-end cost adds

* l2 vector-state tomography (Kerenidis and Prakash, arXiv:1808.09266):
  36 N ln N / delta^2 copies of |x> per stage, two stages (magnitudes, then signs), for an
  estimate with ||x~ - x||_2 <= delta; every copy is one successful run of the solver;
* the norm ||A^-1 b|| by amplitude estimation (Brassard, Hoyer, Mosca, Tapp,
  arXiv:quant-ph/0005055, Theorem 12): M Grover iterations for absolute error eps_abs on the
  amplitude a, M >= pi / (sqrt(a(1-a) + eps_abs) - sqrt(a(1-a))), success >= 8 / pi^2.

The Q-Newton paper's cost (arXiv:2405.00252, Sec. IV-C) counts the solve only.
"""

from __future__ import annotations

import math

from .._validation import check_fraction, check_int_range, check_positive
from ..errors import InvalidArgumentError

__all__ = [
    "AMPLITUDE_ESTIMATION_SUCCESS",
    "TOMOGRAPHY_COPIES_PER_STAGE_CONSTANT",
    "amplitude_estimation_calls",
    "amplitude_estimation_iterations",
    "tomography_copies",
]

#: The constant 36 of Kerenidis and Prakash's l2 tomography (copies per stage = 36 N ln N / delta^2).
TOMOGRAPHY_COPIES_PER_STAGE_CONSTANT = 36.0
#: Success probability lower bound of one amplitude estimation (BHMT Theorem 12): 8 / pi^2.
AMPLITUDE_ESTIMATION_SUCCESS = 8.0 / math.pi**2


def tomography_copies(n: int, delta: float, stages: int = 2) -> float:
    """Copies of |x> that l2 vector-state tomography needs: stages * 36 N ln N / delta^2.

    Source: Kerenidis and Prakash, arXiv:1808.09266 (REFERENCE.md section 4): each of
    the two stages (amplitudes, then signs) uses 36 N ln N / delta^2 copies for
    ||x~ - x||_2 <= delta. N = 1 needs no tomography (0 copies).

    Args:
        n: vector length N >= 1.
        delta: l2 accuracy of the unit vector, in (0, 1].
        stages: 2 for the full algorithm; 1 counts a single stage.

    Returns:
        The number of copies (a float: it can exceed 2^53 for large N and small delta).

    Example:
        >>> f"{tomography_copies(2**20, 0.1, stages=1):.2e}"
        '5.23e+10'
    """
    n = check_int_range(n, "n", 1, 2**62, "`n` is the length of the solution vector.")
    delta = check_fraction(delta, "delta")
    stages = check_int_range(stages, "stages", 1, 2, "Kerenidis-Prakash tomography has two stages.")
    return stages * TOMOGRAPHY_COPIES_PER_STAGE_CONSTANT * n * math.log(n) / delta**2


def amplitude_estimation_iterations(eps_abs: float, amplitude: float = 0.5) -> int:
    """Grover iterations M for amplitude estimation to absolute error ``eps_abs`` on ``a``.

    Brassard, Hoyer, Mosca, Tapp, Theorem 12 (k = 1): |a~ - a| <= 2 pi sqrt(a(1-a)) / M + pi^2 / M^2
    with probability >= 8 / pi^2; making the right side equal eps_abs gives
    M = ceil(pi / (sqrt(a(1-a) + eps_abs) - sqrt(a(1-a)))). The default a = 1/2 is the worst case
    (M is largest there), for when a is unknown.

    Args:
        eps_abs: absolute error on the amplitude a, > 0.
        amplitude: the (expected) amplitude a in [0, 1].

    Example:
        >>> amplitude_estimation_iterations(0.01, amplitude=0.0)
        32
        >>> amplitude_estimation_iterations(0.01)
        318
    """
    eps_abs = check_positive(eps_abs, "eps_abs")
    if isinstance(amplitude, bool) or not isinstance(amplitude, (int, float)) or not 0.0 <= amplitude <= 1.0:
        raise InvalidArgumentError(f"`amplitude` must be a number in [0, 1], got {amplitude!r}.")
    s = amplitude * (1.0 - amplitude)
    # sqrt(s + e) - sqrt(s) written without cancellation: e / (sqrt(s + e) + sqrt(s))
    gap = eps_abs / (math.sqrt(s + eps_abs) + math.sqrt(s))
    return max(1, math.ceil(math.pi / gap - 1e-9))


def amplitude_estimation_calls(eps_abs: float, amplitude: float = 0.5) -> int:
    """Calls to the state-preparation algorithm in one amplitude estimation: 2M - 1.

    BHMT's Est_Amp applies Lambda_M(Q), i.e. up to M - 1 Grover iterates Q = -A S_0 A^-1 S_chi
    (two calls each), after one call to prepare A|0>. M is :func:`amplitude_estimation_iterations`.

    Example:
        >>> amplitude_estimation_calls(0.01, amplitude=0.0)
        63
    """
    return 2 * amplitude_estimation_iterations(eps_abs, amplitude) - 1
