"""Private: symmetrize a large dense block in place in one compiled, blocked pass.

For the paper's 12544 x 12544 block, torch's ``(H + H.T) / 2`` with the checks around it allocates
several n x n temporaries (0.6 GB each in float32); page-faulting them in dominated the whole
symmetrization (seconds). This kernel visits each pair of mirrored 64 x 64 tiles once, in cache,
and measures the asymmetry, the largest magnitude and the non-finite count as it goes.
"""

from __future__ import annotations

import torch

from .._validation import scan_symmetric

_TILE = 64
_SMALL = 256  # below this size the torch expression is cheaper than a kernel call


def symmetrize_inplace(H: torch.Tensor) -> tuple[int, float, float]:
    """H <- (H + H^T)/2 in place; return (#non-finite pairs, max|h_ij|, max|h_ij - h_ji|) of the input.

    The statistics are measured before symmetrizing. When the first count is nonzero the matrix
    is left partly symmetrized (the caller raises).
    """
    n = H.shape[0]
    on_cpu = H.device.type == "cpu" and H.is_contiguous()
    if on_cpu and n >= _SMALL and H.dtype in (torch.float32, torch.float64):
        nbad, amax, asym = scan_symmetric(H.numpy(), _TILE, True)
        return int(nbad), float(amax), float(asym)
    if not bool(torch.isfinite(H).all()):
        return int((~torch.isfinite(H)).sum()), float("nan"), float("nan")
    amax = float(H.abs().max()) if H.numel() else 0.0
    asym = float((H - H.T).abs().max()) if H.numel() else 0.0
    H.copy_((H + H.T) * 0.5)
    return 0, amax, asym
