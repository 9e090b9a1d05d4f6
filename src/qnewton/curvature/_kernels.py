"""Private: symmetrize a large dense block in place in one compiled, blocked pass.

For the paper's 12544 x 12544 block, torch's ``(H + H.T) / 2`` with the checks around it allocates
several n x n temporaries (0.6 GB each in float32); page-faulting them in dominated the whole
symmetrization (seconds). This kernel visits each pair of mirrored 64 x 64 tiles once, in cache,
and measures the asymmetry, the largest magnitude and the non-finite count as it goes.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

_TILE = 64
_SMALL = 256  # below this size the torch expression is cheaper than a kernel call


@numba.njit(cache=True, nogil=True)
def _sym_block_row(a, bi, tile, res):  # pragma: no cover - compiled
    n = a.shape[0]
    i0 = bi * tile
    i1 = min(n, i0 + tile)
    nbad = 0
    mx = 0.0
    sy = 0.0
    for j0 in range(i0, n, tile):
        j1 = min(n, j0 + tile)
        for i in range(i0, i1):
            for j in range(max(j0, i), j1):
                u = a[i, j]
                w = a[j, i]
                if not (np.isfinite(u) and np.isfinite(w)):
                    nbad += 1
                    continue
                mx = max(mx, abs(u), abs(w))
                sy = max(sy, abs(u - w))
                m = (u + w) * 0.5
                a[i, j] = m
                a[j, i] = m
    res[bi, 0] = nbad
    res[bi, 1] = mx
    res[bi, 2] = sy


@numba.njit(cache=True, parallel=True, nogil=True)
def _sym_inplace(a, tile):  # pragma: no cover - compiled
    nb = (a.shape[0] + tile - 1) // tile
    res = np.zeros((nb, 3), np.float64)
    for bi in numba.prange(nb):
        _sym_block_row(a, bi, tile, res)
    return int(res[:, 0].sum()), res[:, 1].max(), res[:, 2].max()


def symmetrize_inplace(H: torch.Tensor) -> tuple[int, float, float]:
    """H <- (H + H^T)/2 in place; return (#non-finite pairs, max|h_ij|, max|h_ij - h_ji|) of the input.

    The statistics are measured before symmetrizing. When the first count is nonzero the matrix
    is left partly symmetrized (the caller raises).
    """
    n = H.shape[0]
    on_cpu = H.device.type == "cpu" and H.is_contiguous()
    if on_cpu and n >= _SMALL and H.dtype in (torch.float32, torch.float64):
        nbad, amax, asym = _sym_inplace(H.numpy(), _TILE)
        return int(nbad), float(amax), float(asym)
    if not bool(torch.isfinite(H).all()):
        return int((~torch.isfinite(H)).sum()), float("nan"), float("nan")
    amax = float(H.abs().max()) if H.numel() else 0.0
    asym = float((H - H.T).abs().max()) if H.numel() else 0.0
    H.copy_((H + H.T) * 0.5)
    return 0, amax, asym
