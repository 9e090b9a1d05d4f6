r"""Downloading parameters from the solved Carleman system: postselection, l2 tomography, norm.

A QLSA run on the block system prepares |Y> = Y / ||Y|| (Y = [y(0); ...; y(T); idle copies]). To
read the parameters of step t, one measures the register that labels the time block and the
Carleman order and keeps the runs that land on (t, k = 1): probability
:math:`p = \|\delta_t\|^2 / \|Y\|^2` (idle copies of the final state add up:
:math:`p = (1 + \text{idle}) \|\delta_T\|^2 / \|Y\|^2`), leaving the state
:math:`|\delta_t\rangle`. Its direction comes from Kerenidis-Prakash l2 tomography
(arXiv:1808.09266; :func:`qnewton.solvers.emulated.kp_tomography`, copies from
:func:`qnewton.cost.tomography_copies`: 36 s ln s / delta^2 per stage for a vector with s entries,
which for a pruned model is the number of kept parameters, the "sparse tomography" of Liu et al.
2024), its norm from amplitude estimation (relative error drawn uniformly within
``norm_precision``, as :class:`~qnewton.solvers.EmulatedQLSASolver` models it). Every copy is one
successful QLSA run followed by a successful postselection, so a download costs about
2 x copies / p QLSA runs plus the amplitude estimation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_finite, check_fraction, check_int_range
from ..cost import amplitude_estimation_calls, tomography_copies
from ..errors import InvalidArgumentError
from ..solvers.emulated import kp_tomography

__all__ = ["Download", "download"]


@dataclass(frozen=True)
class Download:
    """A read-out parameter block and what reading it cost (modeled).

    Attributes:
        estimate: the classical vector read out.
        exact: the block of the exact solution it estimates.
        relative_error: ||estimate - exact|| / ||exact||.
        copies_per_stage: tomography copies per stage (two stages).
        postselection_probability: p of landing on the wanted block.
        qlsa_runs: expected QLSA runs: 2 copies / p + amplitude-estimation calls / p.
        norm_relative_error: the drawn relative error of the norm.
    """

    estimate: np.ndarray
    exact: np.ndarray
    relative_error: float
    copies_per_stage: int
    postselection_probability: float
    qlsa_runs: float
    norm_relative_error: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "relative_error": self.relative_error,
            "copies_per_stage": self.copies_per_stage,
            "postselection_probability": self.postselection_probability,
            "qlsa_runs": self.qlsa_runs,
            "norm_relative_error": self.norm_relative_error,
        }


def download(
    block: np.ndarray,
    total_norm: float,
    *,
    rng: np.random.Generator,
    delta: float = 0.1,
    copies: int | None = None,
    norm_precision: float = 0.01,
    multiplicity: int = 1,
) -> Download:
    """Read ``block`` (delta_t, the k = 1 part of one time block) out of the normalized solution.

    Args:
        block: the exact block (its direction and norm are what tomography and amplitude
            estimation estimate).
        total_norm: ||Y|| of the whole solution (sets the postselection probability).
        rng: noise generator.
        delta: l2 accuracy of the tomography (copies = 36 s ln s / delta^2 per stage).
        copies: override of the copies per stage (0: exact direction).
        norm_precision: relative accuracy of the amplitude-estimated norm, in (0, 1].
        multiplicity: how many blocks of the solution hold this vector (1 + idle for the final
            step), multiplying the postselection probability.

    Raises:
        InvalidArgumentError: bad delta, copies or norm_precision; total_norm below the block's.
    """
    x = np.asarray(block, dtype=np.float64).reshape(-1)
    check_finite(x, "block")
    delta = check_fraction(delta, "delta")
    norm_precision = check_fraction(norm_precision, "norm_precision")
    multiplicity = check_int_range(multiplicity, "multiplicity", 1, 10**9)
    nrm = float(np.linalg.norm(x))
    if not total_norm >= nrm * (1 - 1e-12):
        raise InvalidArgumentError(f"`total_norm` = {total_norm!r} is below the block's norm {nrm:.6g}.")
    s = x.size
    if copies is None:
        copies = math.ceil(tomography_copies(s, delta, stages=1)) if s > 1 else 1
    copies = check_int_range(copies, "copies", 0, 2**62)
    if nrm == 0.0:
        return Download(x.copy(), x.copy(), 0.0, copies, 0.0, math.inf, 0.0)
    unit = x / nrm
    direction = kp_tomography(unit, copies, rng) if copies > 0 and s > 1 else unit
    rel = float(rng.uniform(-norm_precision, norm_precision))
    est = nrm * (1.0 + rel) * direction
    p = min(1.0, multiplicity * nrm**2 / total_norm**2) if total_norm > 0 else 0.0
    runs = (2 * copies + amplitude_estimation_calls(norm_precision)) / p if p > 0 else math.inf
    return Download(
        estimate=est,
        exact=x.copy(),
        relative_error=float(np.linalg.norm(est - x) / nrm),
        copies_per_stage=copies,
        postselection_probability=p,
        qlsa_runs=float(runs),
        norm_relative_error=rel,
    )
