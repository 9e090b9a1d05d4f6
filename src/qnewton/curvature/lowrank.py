"""Exact low-rank structure of a curvature block: C = U U^T with U of shape n x r, r < n.

The generalized Gauss-Newton and the empirical Fisher of any block are sums over samples of
rank-few terms (Martens 2010; Kunstner et al. 2019), and so is the exact Hessian of a layer whose
network outputs are linear in its weights (every single layer of a ReLU MLP: d^2 f / dW^2 = 0
almost everywhere, so H_W = J^T Lambda J / B exactly; REFERENCE.md section 8):

    C = (1/B) sum_s J_s^T L_s L_s^T J_s = U U^T,   U[:, (s, c)] = J_s^T L_s[:, c] / sqrt(B),

with J_s the Jacobian of sample s's outputs with respect to the block and L_s L_s^T the Hessian
of its loss with respect to those outputs (for the empirical Fisher, L_s is the loss gradient of
sample s, one column). Two implementations share one interface:

* :class:`KroneckerLowRank`: a ``nn.Linear`` layer z = W a + b. Per sample, dz/dvec(W) =
  I_out ⊗ a^T (row-major vec), so U's columns are g_sc ⊗ a_s (weight) and g_sc (bias), with
  g_sc = J_{z,s}^T L_s[:, c] backpropagated to the layer's output. Nothing of size n x n, and
  not even U itself, is ever formed: U^T U = (G G^T) ∘ (A A^T) (ASDL's SMW natural gradient).
* :class:`ExplicitLowRank`: U stored as an n x r matrix (any block; memory n r).

Both give U^T V, U Y, U^T U, the diagonal of U U^T, the dense n x n matrix U U^T (one structured
GEMM) and the floating-point operation count of each, which the routes' cost models use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ShapeError

__all__ = ["ExplicitLowRank", "KroneckerLowRank", "LowRank"]


class LowRank:
    """C = U U^T, exactly; subclasses say how U is stored."""

    n: int
    rank: int
    dtype: torch.dtype
    device: torch.device
    form: str = ""

    def project(self, V: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """U^T V for V of shape (n, k): shape (r, k)."""
        raise NotImplementedError

    def expand(self, Y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """U Y for Y of shape (r, k): shape (n, k)."""
        raise NotImplementedError

    def gram(self) -> torch.Tensor:  # pragma: no cover - abstract
        """U^T U, shape (r, r), symmetric positive semidefinite."""
        raise NotImplementedError

    def diagonal(self) -> torch.Tensor:  # pragma: no cover - abstract
        """diag(U U^T), shape (n,)."""
        raise NotImplementedError

    def dense(self) -> torch.Tensor:  # pragma: no cover - abstract
        """U U^T as an n x n matrix (exactly symmetric)."""
        raise NotImplementedError

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """(U U^T) V."""
        return self.expand(self.project(V))

    def to(self, dtype: torch.dtype) -> LowRank:  # pragma: no cover - abstract
        """The same factor in another dtype (e.g. float64 for a Woodbury solve)."""
        raise NotImplementedError

    # floating-point operation counts (multiply-adds count 2), for the cost models
    def flops_gram(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def flops_apply(self, k: int = 1) -> float:  # pragma: no cover - abstract
        """Flops of one U^T V plus one U Y with k columns."""
        raise NotImplementedError

    def flops_dense(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def nbytes(self) -> int:  # pragma: no cover - abstract
        """Memory the factor holds."""
        raise NotImplementedError


@dataclass(eq=False)
class ExplicitLowRank(LowRank):
    """U stored densely (n x r); C = U U^T.

    Example:
        >>> import torch
        >>> U = torch.randn(5, 2, dtype=torch.float64)
        >>> lr = ExplicitLowRank(U)
        >>> bool(torch.allclose(lr.dense(), U @ U.T)), lr.rank
        (True, 2)
    """

    U: torch.Tensor
    form: str = "explicit"

    def __post_init__(self) -> None:
        if self.U.ndim != 2:
            raise ShapeError(f"`U` must be 2-D (n, r), got shape {tuple(self.U.shape)}.")
        self.n, self.rank = int(self.U.shape[0]), int(self.U.shape[1])
        self.dtype, self.device = self.U.dtype, self.U.device

    def to(self, dtype: torch.dtype) -> ExplicitLowRank:
        return ExplicitLowRank(self.U.to(dtype))

    def project(self, V: torch.Tensor) -> torch.Tensor:
        return self.U.T @ V

    def expand(self, Y: torch.Tensor) -> torch.Tensor:
        return self.U @ Y

    def gram(self) -> torch.Tensor:
        return self.U.T @ self.U

    def diagonal(self) -> torch.Tensor:
        return (self.U * self.U).sum(1)

    def dense(self) -> torch.Tensor:
        out = self.U @ self.U.T
        return (out + out.T) * 0.5  # a GEMM's two triangles can differ in the last bit

    def flops_gram(self) -> float:
        return 2.0 * self.n * self.rank**2

    def flops_apply(self, k: int = 1) -> float:
        return 4.0 * self.n * self.rank * k

    def flops_dense(self) -> float:
        return 2.0 * self.n**2 * self.rank

    def nbytes(self) -> int:
        return self.U.numel() * self.U.element_size()


@dataclass(eq=False)
class KroneckerLowRank(LowRank):
    """The low-rank factor of a ``nn.Linear`` block in Kronecker form (never forms U).

    With A (B x in) the layer's inputs and G (B x c x out) the backpropagated output-Hessian
    square roots (already scaled by 1/sqrt(B)), the block's variables are, in order, the weight
    (out x in, row-major) if ``weight`` and the bias (out) if ``bias``; U's column (s, c) is
    [vec(g_sc a_s^T); g_sc].

    Example (checked against the explicit factor):
        >>> import torch
        >>> A, G = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 2, 5, dtype=torch.float64)
        >>> k = KroneckerLowRank(A, G, weight=True, bias=True)
        >>> U = torch.cat([torch.einsum("sco,si->oisc", G, A).reshape(15, 8), G.permute(2, 0, 1).reshape(5, 8)])
        >>> bool(torch.allclose(k.dense(), U @ U.T)), bool(torch.allclose(k.gram(), U.T @ U)), k.rank
        (True, True, 8)
    """

    A: torch.Tensor
    G: torch.Tensor
    weight: bool = True
    bias: bool = False
    form: str = "kronecker"

    def __post_init__(self) -> None:
        if self.G.ndim != 3 or (self.weight and (self.A.ndim != 2 or self.A.shape[0] != self.G.shape[0])):
            raise ShapeError(
                f"`A` must be (B, in) and `G` (B, c, out) with the same B, got {tuple(self.A.shape)} and "
                f"{tuple(self.G.shape)}."
            )
        if not (self.weight or self.bias):
            raise ShapeError("a Kronecker factor needs the weight, the bias or both.")
        b, c, out = self.G.shape
        self.n_in = int(self.A.shape[1]) if self.weight else 0
        self.out = int(out)
        self.n = self.out * self.n_in * int(self.weight) + self.out * int(self.bias)
        self.rank = int(b * c)
        self.dtype, self.device = self.G.dtype, self.G.device

    def to(self, dtype: torch.dtype) -> KroneckerLowRank:
        return KroneckerLowRank(self.A.to(dtype), self.G.to(dtype), weight=self.weight, bias=self.bias)

    @property
    def _nw(self) -> int:
        return self.out * self.n_in if self.weight else 0

    def project(self, V: torch.Tensor) -> torch.Tensor:
        k = V.shape[1]
        b, c, _ = self.G.shape
        Vt = V.T  # (k, n): batched matrix products over the k columns, no einsum planning
        AW = torch.zeros((b, self.out, k), dtype=V.dtype, device=V.device)
        if self.weight:
            W = Vt[:, : self._nw].reshape(k, self.out, self.n_in)
            AW += torch.matmul(W, self.A.T).permute(2, 1, 0)  # (B, out, k): W_k a_s
        if self.bias:
            AW += Vt[:, self._nw :].T.unsqueeze(0)
        return torch.bmm(self.G, AW).reshape(b * c, k)  # g_sc^T (W_k a_s + b_k)

    def expand(self, Y: torch.Tensor) -> torch.Tensor:
        k = Y.shape[1]
        b, c, _ = self.G.shape
        GY = torch.bmm(self.G.transpose(1, 2), Y.reshape(b, c, k))  # (B, out, k): sum_c y_sc g_sc
        parts = []
        if self.weight:
            parts.append(torch.matmul(GY.permute(2, 1, 0), self.A).reshape(k, self._nw).T)
        if self.bias:
            parts.append(GY.sum(0))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def gram(self) -> torch.Tensor:
        b, c, _ = self.G.shape
        Gf = self.G.reshape(b * c, self.out)
        gg = Gf @ Gf.T  # (s c) x (t d)
        if self.weight:
            aa = self.A @ self.A.T
            if self.bias:
                aa = aa + 1.0
            gg = (gg.reshape(b, c, b, c) * aa[:, None, :, None]).reshape(b * c, b * c)
        return (gg + gg.T) * 0.5

    def diagonal(self) -> torch.Tensor:
        g2 = (self.G * self.G).sum(1)  # (B, out)
        parts = []
        if self.weight:
            parts.append((g2.T @ (self.A * self.A)).reshape(-1))
        if self.bias:
            parts.append(g2.sum(0))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def output_blocks(self) -> torch.Tensor:
        """M_s = sum_c g_sc g_sc^T per sample, (B, out, out): the block is sum_s M_s ⊗ a_s a_s^T."""
        return torch.einsum("sco,scp->sop", self.G, self.G)

    def dense(self) -> torch.Tensor:
        """sum_s M_s ⊗ a_s a_s^T by GEMMs, only the upper block triangle computed, then mirrored.

        Row-block i (the 'in' rows of output unit i) against column-blocks j >= i is one GEMM
        A^T (B x in)^T @ Z (B x (out - i) in) with Z[s, (j, b)] = M_s[i, j] a_sb: n^2 B flops in all
        (half of the full product), written straight into place; the lower triangle is copied.
        """
        M = self.output_blocks()
        n, nw, nin, out = self.n, self._nw, self.n_in, self.out
        H = torch.empty((n, n), dtype=self.dtype, device=self.device)
        if self.weight:
            At = self.A.T.contiguous()
            for i in range(out):
                Z = (M[:, i, i:, None] * self.A[:, None, :]).reshape(self.A.shape[0], (out - i) * nin)
                torch.mm(At, Z, out=H[i * nin : (i + 1) * nin, i * nin : nw])
                for j in range(i + 1, out):
                    H[j * nin : (j + 1) * nin, i * nin : (i + 1) * nin] = H[
                        i * nin : (i + 1) * nin, j * nin : (j + 1) * nin
                    ].T
                # the diagonal tile comes from one GEMM of a symmetric product: make it exact
                tile = H[i * nin : (i + 1) * nin, i * nin : (i + 1) * nin]
                tile.copy_((tile + tile.T) * 0.5)
        if self.bias:
            Mb = M.sum(0)
            H[nw:, nw:] = (Mb + Mb.T) * 0.5
            if self.weight:
                cross = torch.einsum("sij,sb->ijb", M, self.A).reshape(out, nw)  # rows: bias i
                H[nw:, :nw] = cross
                H[:nw, nw:] = cross.T
        return H

    def flops_gram(self) -> float:
        b, c, out = self.G.shape
        f = 2.0 * (b * c) ** 2 * out
        if self.weight:
            f += 2.0 * b * b * self.n_in + (b * c) ** 2
        return f

    def flops_apply(self, k: int = 1) -> float:
        b, c, out = self.G.shape
        f = 4.0 * b * c * out * k
        if self.weight:
            f += 4.0 * b * self.n_in * out * k
        return f

    def flops_dense(self) -> float:
        b = self.G.shape[0]
        return float(self._nw) ** 2 * b + 2.0 * b * self.out * self._nw + (self.n - self._nw) ** 2

    def nbytes(self) -> int:
        return self.A.numel() * self.A.element_size() + self.G.numel() * self.G.element_size()


def scale_for_mean(G: torch.Tensor, batch: int) -> torch.Tensor:
    """G / sqrt(B): the 1/B of a mean loss split between the two factors of U U^T."""
    return G / math.sqrt(batch)
