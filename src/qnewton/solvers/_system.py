"""Validation of a linear system (H, g) shared by the solvers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .._arrays import ArrayKind, as_numpy
from .._validation import check_finite, check_square, check_symmetric_matrix, raise_if_asymmetric
from ..errors import NonFiniteError, NotSymmetricError, ShapeError


@dataclass(frozen=True)
class System:
    """A validated system: ``h`` dense ndarray or CSR, ``b`` 1-D or 2-D ndarray in h's dtype."""

    h: np.ndarray | sp.csr_matrix
    b: np.ndarray
    kind: ArrayKind  # of g: the solution goes back in this kind and dtype
    n: int

    @property
    def sparse(self) -> bool:
        return sp.issparse(self.h)

    def wrap(self, x: np.ndarray):
        return self.kind.wrap(x.astype(self.kind.dtype, copy=False))


def as_system(H, g, *, symmetry_rtol: float | None = None, check_symmetry: bool = True) -> System:
    """Check H (square, finite, symmetric; dense or scipy sparse) and g (length N, finite)."""
    if sp.issparse(H):
        h = H.tocsr()
        if h.shape[0] != h.shape[1] or h.shape[0] == 0:
            raise ShapeError(f"`H` must be a non-empty square matrix, got shape {h.shape}.")
        check_finite(h.data, "H")
        if check_symmetry and h.nnz:
            asym = abs(h - h.T).max()
            tol = (symmetry_rtol if symmetry_rtol is not None else 1e-9) * abs(h).max()
            if asym > tol:
                raise NotSymmetricError(
                    f"`H` is not symmetric: max |h_ij - h_ji| = {asym:.3g} > {tol:.3g}. Symmetrize it."
                )
        n = h.shape[0]
        dtype = h.dtype if h.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        h = h.astype(dtype, copy=False)
    else:
        h, _ = as_numpy(H, "H")
        n = check_square(h, "H")
        if check_symmetry:
            check_symmetric_matrix(h, "H", symmetry_rtol)
        else:
            check_finite(h, "H")
        dtype = h.dtype
    b, kind = as_numpy(g, "g")
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ShapeError(f"`g` must have shape ({n},) or ({n}, k) to match `H` ({n} x {n}), got {tuple(b.shape)}.")
    check_finite(b, "g")
    return System(h, b.astype(dtype, copy=False), kind, n)


def relative_residual(h, x: np.ndarray, b: np.ndarray, shift: float = 0.0) -> float:
    """||(H + shift I) x - b|| / ||b|| in float64 (0 when b = 0 and x = 0)."""
    r = np.asarray(h @ x, dtype=np.float64) - b.astype(np.float64)
    if shift:
        r += shift * x.astype(np.float64)
    nb = float(np.linalg.norm(b.astype(np.float64)))
    nr = float(np.linalg.norm(r))
    return nr / nb if nb > 0 else nr


def check_torch_system(H: torch.Tensor, name: str = "H", symmetry_rtol: float | None = None) -> torch.Tensor:
    """The device-native twin of the numpy checks: a square, finite, symmetric float tensor (on its device)."""
    if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] == 0:
        raise ShapeError(f"`{name}` must be a non-empty square matrix, got shape {tuple(H.shape)}.")
    h = H.detach()
    if not h.is_floating_point() or h.dtype in (torch.float16, torch.bfloat16):
        h = h.to(torch.float32 if h.is_floating_point() else torch.float64)
    if not bool(torch.isfinite(h.sum())) and not bool(torch.isfinite(h).all()):
        raise NonFiniteError(f"`{name}` has NaN/Inf entries.")
    amax = float(h.abs().max())
    asym = float((h - h.T).abs().max())
    raise_if_asymmetric(asym, amax, np.dtype(str(h.dtype).replace("torch.", "")), name, symmetry_rtol)
    return h
