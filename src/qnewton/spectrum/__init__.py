"""Hessian spectra and dissipativity (Liu et al., "Towards provably efficient quantum algorithms for
large-scale machine-learning models", Nat. Commun. 15, 434 (2024)).

* :func:`slq`: eigenvalue density of a symmetric operator by stochastic Lanczos quadrature, from
  matrix-vector products only (our own Lanczos with full reorthogonalization, Gauss quadrature,
  Gaussian smoothing); :func:`hessian_slq` applies it to a model's Hessian through
  :class:`qnewton.curvature.HessianOperator`, optionally restricted to a pruning mask.
* :func:`dissipativity`: positive vs negative spectral weight, the most negative eigenvalue and a
  verdict (fully / almost / not dissipative) with documented thresholds.
* :func:`run_spectrum`: the `qnewton spectrum` study (densities at several training steps).

Example:
    >>> import numpy as np
    >>> from qnewton.spectrum import slq, dissipativity
    >>> res = slq(np.diag(np.linspace(-0.01, 1.0, 50)), num_probes=4, steps=50)
    >>> dissipativity(res).verdict
    'almost dissipative'
"""

from .dissipativity import VERDICTS, DissipativityReport, DissipativityThresholds, dissipativity
from .hessian import (
    MAX_DENSE_N,
    RestrictedOperator,
    dense_hessian,
    dense_hessian_eigenvalues,
    flat_parameters,
    hessian_operator,
    hessian_slq,
    magnitude_mask,
)
from .slq import LanczosTridiagonal, SLQResult, gaussian_density, lanczos_tridiagonal, slq
from .study import SpectrumConfig, run_spectrum

__all__ = [
    "MAX_DENSE_N",
    "VERDICTS",
    "DissipativityReport",
    "DissipativityThresholds",
    "LanczosTridiagonal",
    "RestrictedOperator",
    "SLQResult",
    "SpectrumConfig",
    "dense_hessian",
    "dense_hessian_eigenvalues",
    "dissipativity",
    "flat_parameters",
    "gaussian_density",
    "hessian_operator",
    "hessian_slq",
    "lanczos_tridiagonal",
    "magnitude_mask",
    "run_spectrum",
    "slq",
]
