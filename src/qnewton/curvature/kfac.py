"""K-FAC: Kronecker-factored curvature blocks for Linear layers (Martens and Grosse, ICML 2015).

For a layer z = W a (+ b) the Fisher of its weights is approximated by a Kronecker product of two
small matrices (REFERENCE.md section 8):

    A = E[a a^T]   (in x in; in + 1 with the bias folded in as a constant-1 input),
    G = E[g g^T]   (out x out; g the gradient of the loss with respect to the pre-activations z).

**Ordering.** Martens and Grosse write F ~ A ⊗ G for the *column-major* vec of W. This package
flattens a weight row-major (:class:`~qnewton.curvature.ParamBlock`): an ``nn.Linear`` weight
(out x in) has its variables ordered (out, in), so its block is ``torch.kron(G, A)``
(entry [(o, i), (o', i')] = G[o, o'] A[i, i']), and a product is vec_r(G X A) for X the (out x in)
matrix of the vector. transformers' ``Conv1D`` (GPT-2) stores its weight (in x out): its block is
``torch.kron(A, G)``. When a block holds a Linear layer's weight *and* bias, the bias is the extra
input column, and the block's variables (weight row-major, then bias) are a permutation of the
(out, in + 1) matrix [W | b]; :class:`KFACBlock` maps between the two.

**Which Fisher** (``KFACConfig.fisher``):

* ``"mc"`` (default; "K-FAC Fisher", kfac-pytorch's and Martens and Grosse's choice): g is the
  gradient of the loss on targets *sampled from the model's predictive distribution* (categorical
  for cross-entropy, Gaussian for the squared error, or the criterion's own ``sample_targets``);
  its expectation is the GGN / Fisher. ``mc_samples`` draws per update.
* ``"empirical"``: g from the true targets (the empirical Fisher; biased, Kunstner et al. 2019).
* ``"type-2"``: the exact expectation, backpropagating every column of the output Hessian's
  square root (criteria with a closed form: cross-entropy over (B, C) logits, squared error).

**Sequences** (inputs (B, T, in), the transformers' Linear layers): K-FAC "expand" (Eschenhagen et
al., NeurIPS 2023): the positions are extra samples, A = mean over the B T positions of a a^T and
G = (1/M) sum over positions of g g^T, with M the number of loss terms (tokens with a label; the B C
squared errors of ``nn.MSELoss``; B for any other per-sample loss) and g the gradient of the *sum*
of the sampled losses. With this M the expectation of the empirical and of the sampled Fisher is
the GGN (the convention of curvlinops, against which the tests check). For one sample and one
position this is exact: the GGN / Fisher of a single Linear layer on one input is A ⊗ G.

**Running averages and update interval** (what kfac-pytorch users expect): every
``update_interval`` Newton steps the factors are recomputed on the curvature batch and folded into
exponential moving averages, F <- decay F + (1 - decay) F_new (the first update sets them); between
updates the stored factors are reused and no extra pass is made. The state (factors, counters, the
sampling generator) lives in :class:`KFACState`, checkpointed with the optimizer
(``QNewton.state_dict()``; tensors and plain data, loadable with ``torch.load(weights_only=True)``).

**What K-FAC does not cover** (embeddings, LayerNorm/RMSNorm, attention parameters that are not
Linear modules, tied weights, blocks spanning several modules): ``KFACConfig.uncovered`` chooses
their curvature: ``"fisher"`` (the empirical Fisher block: per-sample gradients, low rank, exact by
Woodbury), ``"ggn"`` (the matrix-free GGN block, solved by CG), ``"hessian"``, or
``"first-order"`` (a gradient step). The block's ``stats["curvature_note"]`` says why and which,
and the scheduler copies it into the decision record.

Solving (A ⊗ G + eps I) x = g is the ``kron-eig`` route's job (:mod:`qnewton.routes.kronecker`),
exactly through the eigendecompositions of the two factors.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from .._validation import check_int_range
from ..errors import InvalidArgumentError
from ._batch import Batch
from ._engine import check_finite_tensor, loss_and_gradient_pass, sub_batch
from .blocks import BlockSpec, ParamBlock, make_blocks
from .config import CurvatureConfig
from .lazy import (
    CurvatureBlock,
    EmpiricalFisherBlock,
    GGNBlock,
    HessianBlock,
    LazyCurvature,
    _SharedGradientGraph,
)
from .problem import LossProblem

__all__ = [
    "KFACBlock",
    "KFACConfig",
    "KFACSite",
    "KFACState",
    "kfac_blocks",
    "kfac_sites",
]

KFACFisher = Literal["mc", "empirical", "type-2"]
Uncovered = Literal["fisher", "ggn", "hessian", "first-order"]
Layout = Literal["out-in", "in-out"]


@dataclass(frozen=True)
class KFACConfig:
    """Options of ``curvature="kfac"`` (see the module docstring).

    Attributes:
        fisher: ``"mc"`` (targets sampled from the model; default), ``"empirical"`` (true targets)
            or ``"type-2"`` (exact expectation, closed-form criteria only).
        mc_samples: sampled targets per factor update (``fisher="mc"``).
        ema_decay: running-average weight of the old factors, in [0, 1): F <- decay F + (1 - decay)
            F_new (0: only the latest batch; kfac-pytorch's default ``factor_decay`` is 0.95).
        update_interval: recompute the factors every this many Newton steps; reuse them between.
        uncovered: curvature of the blocks K-FAC does not cover: ``"fisher"`` (empirical Fisher
            block), ``"ggn"`` (matrix-free GGN, needs a criterion), ``"hessian"`` or
            ``"first-order"`` (gradient step with the optimizer's ``sgd_lr``).
        seed: seed of the target sampling (a ``torch.Generator`` on the model's device, checkpointed).

    Example:
        >>> KFACConfig(ema_decay=0.9, update_interval=10).fisher
        'mc'
    """

    fisher: KFACFisher = "mc"
    mc_samples: int = 1
    ema_decay: float = 0.95
    update_interval: int = 1
    uncovered: Uncovered = "fisher"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fisher not in ("mc", "empirical", "type-2"):
            raise InvalidArgumentError(f"`fisher` must be 'mc', 'empirical' or 'type-2', got {self.fisher!r}.")
        check_int_range(self.mc_samples, "mc_samples", 1, 10**6)
        check_int_range(self.update_interval, "update_interval", 1, 2**62)
        if not (isinstance(self.ema_decay, (int, float)) and 0.0 <= float(self.ema_decay) < 1.0):
            raise InvalidArgumentError(f"`ema_decay` must be in [0, 1), got {self.ema_decay!r}; e.g. 0.95.")
        if self.uncovered not in ("fisher", "ggn", "hessian", "first-order"):
            raise InvalidArgumentError(
                f"`uncovered` must be 'fisher', 'ggn', 'hessian' or 'first-order', got {self.uncovered!r}."
            )
        if not isinstance(self.seed, int):
            raise InvalidArgumentError(f"`seed` must be an int, got {self.seed!r}.")


# -- which blocks K-FAC covers ------------------------------------------------------------------
@dataclass(frozen=True)
class KFACSite:
    """A block made of one Linear-like module's weight, bias, or weight then bias.

    Attributes:
        block: the block's name; module_name / module: the layer.
        weight, bias: which of the layer's parameters the block holds (in this order).
        layout: ``"out-in"`` (``nn.Linear``, weight out x in) or ``"in-out"`` (transformers'
            ``Conv1D``, weight in x out).
        n_in, n_out: the layer's input and output sizes; has_bias: the layer adds a bias (then
            A carries the constant-1 input, whether or not the block holds the bias).
    """

    block: str
    module_name: str
    module: nn.Module = field(repr=False, compare=False)
    weight: bool
    bias: bool
    layout: Layout
    n_in: int
    n_out: int
    has_bias: bool


def _linear_like(mod: nn.Module) -> tuple[Layout, int, int] | None:
    """(layout, in, out) of an ``nn.Linear`` or a transformers ``Conv1D``; None otherwise."""
    if isinstance(mod, nn.Linear):
        return "out-in", int(mod.in_features), int(mod.out_features)
    w = getattr(mod, "weight", None)
    if (
        type(mod).__name__ == "Conv1D"
        and isinstance(w, torch.Tensor)
        and w.ndim == 2
        and w.shape[1] == getattr(mod, "nf", None)
    ):
        return "in-out", int(w.shape[0]), int(w.shape[1])
    return None


def kfac_sites(problem: LossProblem, blocks: Sequence[ParamBlock]) -> tuple[dict[str, KFACSite], dict[str, str]]:
    """The blocks K-FAC covers (``{block: KFACSite}``) and, for the others, why not."""
    model = problem.model
    owners: dict[int, set[str]] = {}
    for mname, m in model.named_modules(remove_duplicate=False):
        for p in m.parameters(recurse=False):
            owners.setdefault(id(p), set()).add(mname)
    sites: dict[str, KFACSite] = {}
    reasons: dict[str, str] = {}
    for blk in blocks:
        prefixes = {n.rsplit(".", 1)[0] if "." in n else "" for n in blk.param_names}
        if len(prefixes) != 1:
            reasons[blk.name] = "the block spans several modules"
            continue
        prefix = prefixes.pop()
        try:
            mod = model.get_submodule(prefix) if prefix else model
        except AttributeError:
            reasons[blk.name] = f"no module {prefix!r}"
            continue
        lin = _linear_like(mod)
        if lin is None:
            reasons[blk.name] = f"not a Linear layer ({type(mod).__name__})"
            continue
        leaves = tuple(n.rsplit(".", 1)[-1] for n in blk.param_names)
        if leaves not in (("weight",), ("bias",), ("weight", "bias")):
            reasons[blk.name] = f"holds {leaves} of its Linear layer (K-FAC takes weight, bias or weight then bias)"
            continue
        shared = sorted(o for p in mod.parameters(recurse=False) for o in owners.get(id(p), ()) if o != prefix)
        if shared:
            reasons[blk.name] = f"tied weights (shared with {', '.join(shared)})"
            continue
        layout, n_in, n_out = lin
        sites[blk.name] = KFACSite(
            blk.name, prefix, mod, "weight" in leaves, "bias" in leaves, layout, n_in, n_out, mod.bias is not None
        )
    return sites, reasons


# -- the block --------------------------------------------------------------------------------------
class KFACBlock(CurvatureBlock):
    """A Kronecker-factored block A ⊗ G (in the repository's variable order; module docstring).

    Internally the block's vector is a matrix X of shape (p, q) and C v = vec_r(L X R): for an
    ``nn.Linear`` (layout ``"out-in"``) X is (out, in') with L = G and R = A; for a ``Conv1D``
    (``"in-out"``) X is (in', out) with L = A and R = G (in' = in + 1 when the block holds the
    bias). Products never form the n x n matrix; :meth:`dense` is the Kronecker product (for the
    dense routes); :meth:`eigh` the factors' eigendecompositions (cached per dtype; for the
    ``kron-eig`` route).

    Args:
        name: the block's name.
        A: the input factor, (in x in), or (in + 1 x in + 1) with the constant-1 input last when
            ``bias_in_A``; G: the output factor (out x out). Both symmetric PSD.
        weight, bias: which parameters the block holds (weight first).
        layout: ``"out-in"`` or ``"in-out"``.
        bias_in_A: A carries the constant-1 input as its last row/column.

    Example (checked against torch.kron):
        >>> import torch
        >>> a, g = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
        >>> blk = KFACBlock("w", a.T @ a, g.T @ g)
        >>> v = torch.randn(6, dtype=torch.float64)
        >>> bool(torch.allclose(blk @ v, torch.kron(g.T @ g, a.T @ a) @ v)), blk.psd
        (True, True)
    """

    kind = "kfac"

    def __init__(
        self,
        name: str,
        A: torch.Tensor,
        G: torch.Tensor,
        *,
        weight: bool = True,
        bias: bool = False,
        layout: Layout = "out-in",
        bias_in_A: bool | None = None,
        block: ParamBlock | None = None,
        gradient: torch.Tensor | None = None,
        config: CurvatureConfig | None = None,
        eig_cache: dict[Any, Any] | None = None,
        cache_key: Any = None,
    ) -> None:
        if A.ndim != 2 or A.shape[0] != A.shape[1] or G.ndim != 2 or G.shape[0] != G.shape[1]:
            raise InvalidArgumentError(f"`A` and `G` must be square, got {tuple(A.shape)} and {tuple(G.shape)}.")
        if not (weight or bias):
            raise InvalidArgumentError("a K-FAC block needs the weight, the bias or both.")
        if layout not in ("out-in", "in-out"):
            raise InvalidArgumentError(f"`layout` must be 'out-in' or 'in-out', got {layout!r}.")
        if bias_in_A is None:
            bias_in_A = bias
        if bias and not bias_in_A:
            raise InvalidArgumentError("a block with the bias needs A with the constant-1 input (`bias_in_A`).")
        n_out = int(G.shape[0])
        n_in = int(A.shape[0]) - int(bias_in_A)
        if weight and bias:
            A_blk = A
        elif weight:
            A_blk = A[:n_in, :n_in]
        else:
            A_blk = A[n_in:, n_in:]
        self.n_in, self.n_out, self.layout = n_in, n_out, layout
        self.has_weight, self.has_bias = weight, bias
        self.A, self.G = A_blk, G
        n = n_out * (n_in * int(weight) + int(bias))
        super().__init__(name, n, G.dtype, G.device, config=config, block=block, gradient=gradient)
        self.psd = True
        L, R = (G, A_blk) if layout == "out-in" else (A_blk, G)
        self.left, self.right = L, R
        self._eig: dict[str, tuple[torch.Tensor, ...]] = {}
        self._eig_cache = eig_cache
        self._cache_key = cache_key
        self._perm: torch.Tensor | None = None
        self.stats["structure"] = f"K-FAC: {tuple(L.shape)} ⊗ {tuple(R.shape)} ({layout})"

    # -- vectors <-> the (p, q) matrix ---------------------------------------------------------
    @property
    def _interleaved(self) -> bool:
        return self.layout == "out-in" and self.has_weight and self.has_bias

    @property
    def shape_pq(self) -> tuple[int, int]:
        """(p, q): the block's vector as a p x q matrix X, C v = vec_r(L X R)."""
        return int(self.left.shape[0]), int(self.right.shape[0])

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A, G): the block's input and output factors (A with the constant-1 input when the
        block holds the bias)."""
        return self.A, self.G

    def to_matrix(self, V: torch.Tensor) -> torch.Tensor:
        """V of shape (n, k) as k matrices X (k, p, q) with C v = vec_r(L X R)."""
        k = V.shape[1]
        p, q = self.shape_pq
        Vt = V.T
        if not self._interleaved:
            return Vt.reshape(k, p, q)
        nw = self.n_out * self.n_in
        W = Vt[:, :nw].reshape(k, self.n_out, self.n_in)
        b = Vt[:, nw:].reshape(k, self.n_out, 1)
        return torch.cat([W, b], 2)

    def from_matrix(self, X: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_matrix`: (k, p, q) -> (n, k)."""
        k = X.shape[0]
        if not self._interleaved:
            return X.reshape(k, -1).T
        W = X[:, :, : self.n_in].reshape(k, -1)
        b = X[:, :, self.n_in]
        return torch.cat([W, b], 1).T

    def permutation(self) -> torch.Tensor:
        """perm with v = vec_r(X)[perm]: where each of the block's variables sits in vec_r(X)."""
        if self._perm is None:
            p, q = self.shape_pq
            idx = torch.arange(p * q, device=self.device).reshape(1, p, q).to(torch.float64)
            self._perm = self.from_matrix(idx)[:, 0].round().long()
        return self._perm

    # -- the operator ---------------------------------------------------------------------------
    def _products(self, V: torch.Tensor) -> torch.Tensor:
        X = self.to_matrix(V.to(self.torch_dtype))
        return self.from_matrix(self.left @ X @ self.right)

    def _find_factor(self) -> tuple[Any, str]:
        return None, str(self.stats["structure"]) + ": Kronecker-factored, not a low-rank U U^T"

    def _form_dense(self) -> tuple[torch.Tensor, str]:
        K = torch.kron(self.left, self.right)
        if self._interleaved:
            perm = self.permutation()
            K = K[perm][:, perm]
        K = (K + K.T) * 0.5
        return K, "Kronecker product of the K-FAC factors"

    def dense_cost(self) -> dict[str, float]:
        if self.dense_formed:
            return {"flops": 0.0, "matvecs": 0.0}
        return {"flops": float(self.n) ** 2, "matvecs": 0.0}

    def diagonal(self) -> torch.Tensor:
        d = torch.outer(self.left.diagonal(), self.right.diagonal()).reshape(-1)
        return d[self.permutation()] if self._interleaved else d

    def eigh(self, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(lambda_L, Q_L, lambda_R, Q_R): eigendecompositions of the two factors in ``dtype``
        (default float64), eigenvalues clamped at 0 (the factors are PSD; round-off is not).
        Cached on the block and, for blocks of a :class:`KFACState`, across steps until the factors
        change."""
        dtype = dtype or torch.float64
        key = str(dtype)
        if key not in self._eig:
            shared = self._eig_cache.get((self._cache_key, key)) if self._eig_cache is not None else None
            if shared is not None:
                self._eig[key] = shared
            else:
                t0 = time.perf_counter()
                out = []
                for M in (self.left, self.right):
                    lam, Q = torch.linalg.eigh(M.to(dtype))
                    out += [lam.clamp_min(0), Q]
                self._eig[key] = tuple(out)
                self.stats["eigh_s"] = self.stats.get("eigh_s", 0.0) + time.perf_counter() - t0
                if self._eig_cache is not None:
                    self._eig_cache[(self._cache_key, key)] = self._eig[key]
        lamL, QL, lamR, QR = self._eig[key]
        return lamL, QL, lamR, QR

    def eigh_cached(self, dtype: torch.dtype | None = None) -> bool:
        """Whether :meth:`eigh` in ``dtype`` is already computed (then it costs nothing)."""
        key = str(dtype or torch.float64)
        return key in self._eig or (self._eig_cache is not None and (self._cache_key, key) in self._eig_cache)

    def damping_split(self) -> tuple[float, float]:
        """pi of factored damping (Martens and Grosse 2015, Sec. 6.3): sqrt of the ratio of the
        factors' average eigenvalues, pi = sqrt((tr A / dim A) / (tr G / dim G)); returned as the
        multipliers (of sqrt(eps)) added to L and to R: (A + pi sqrt(eps) I) ⊗ (G + sqrt(eps)/pi I)."""
        ta = float(self.A.diagonal().sum()) / self.A.shape[0]
        tg = float(self.G.diagonal().sum()) / self.G.shape[0]
        pi = math.sqrt(ta / tg) if ta > 0 and tg > 0 else 1.0
        return (1.0 / pi, pi) if self.layout == "out-in" else (pi, 1.0 / pi)


# -- the factors' state across steps ------------------------------------------------------------
class KFACState:
    """Running K-FAC factors per layer, counters and the sampling generator (checkpointable).

    Attributes:
        config: the :class:`KFACConfig`.
        factors: ``{module name: {"A": tensor, "G": tensor}}`` (running averages).
        versions: how many times each module's factors were updated (invalidates eigh caches).
        calls: Newton steps seen; updates: factor updates made.
    """

    def __init__(self, config: KFACConfig | None = None) -> None:
        self.config = config or KFACConfig()
        self.factors: dict[str, dict[str, torch.Tensor]] = {}
        self.versions: dict[str, int] = {}
        self.calls = 0
        self.updates = 0
        self.eig_cache: dict[Any, Any] = {}
        self._gen: torch.Generator | None = None
        self._gen_state: torch.Tensor | None = None

    def generator(self, device: torch.device) -> torch.Generator:
        """The sampling generator on ``device`` (seeded, or restored from a checkpoint)."""
        if self._gen is None or self._gen.device != device:
            gen = torch.Generator(device=device).manual_seed(self.config.seed)
            if self._gen_state is not None:
                gen.set_state(self._gen_state)
            self._gen = gen
        return self._gen

    def due(self) -> bool:
        """Whether this call recomputes the factors (every ``update_interval`` calls)."""
        return self.calls % self.config.update_interval == 0

    def fold(self, module: str, A: torch.Tensor, G: torch.Tensor) -> None:
        """F <- decay F + (1 - decay) F_new (the first update sets F)."""
        d = float(self.config.ema_decay)
        old = self.factors.get(module)
        if old is None or old["A"].shape != A.shape or old["G"].shape != G.shape:
            self.factors[module] = {"A": A.clone(), "G": G.clone()}
        else:
            old["A"].mul_(d).add_(A, alpha=1.0 - d)
            old["G"].mul_(d).add_(G, alpha=1.0 - d)
        self.versions[module] = self.versions.get(module, 0) + 1
        for k in [k for k in self.eig_cache if k[0][0][0] == module]:  # key ((module, variant), version), dtype
            del self.eig_cache[k]

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain data only (``torch.load(weights_only=True)`` reads it)."""
        gen = self._gen.get_state() if self._gen is not None else self._gen_state
        return {
            "factors": {m: {k: v.detach().clone() for k, v in f.items()} for m, f in self.factors.items()},
            "versions": dict(self.versions),
            "calls": self.calls,
            "updates": self.updates,
            "generator": gen.clone() if gen is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.factors = {
            str(m): {k: torch.as_tensor(v).clone() for k, v in f.items()} for m, f in state["factors"].items()
        }
        self.versions = {str(k): int(v) for k, v in state.get("versions", {}).items()}
        self.calls = int(state.get("calls", 0))
        self.updates = int(state.get("updates", 0))
        self.eig_cache = {}
        gen = state.get("generator")
        self._gen_state = torch.as_tensor(gen).clone() if gen is not None else None
        self._gen = None


# -- computing new factors ----------------------------------------------------------------------
def _sample_targets(criterion: Any, f: torch.Tensor, targets: Any, gen: torch.Generator) -> Any:
    """Targets drawn from the model's predictive distribution at outputs ``f`` (detached)."""
    sampler = getattr(criterion, "sample_targets", None)
    if callable(sampler):
        return sampler(f, targets, gen)
    f = f.detach()
    if (
        isinstance(criterion, nn.CrossEntropyLoss)
        and criterion.weight is None
        and criterion.label_smoothing == 0.0
        and isinstance(targets, torch.Tensor)
        and not targets.is_floating_point()
    ):
        logits = f.movedim(1, -1).reshape(-1, f.shape[1]) if f.ndim > 2 else f
        probs = torch.softmax(logits.float(), -1)
        draw = torch.multinomial(probs, 1, generator=gen)[:, 0].reshape(targets.shape)
        keep = targets == criterion.ignore_index
        return torch.where(keep, targets, draw.to(targets.dtype))
    if isinstance(criterion, nn.MSELoss):
        # each entry's (f - y)^2 is the negative log-likelihood of a Gaussian of variance 1/2
        noise = torch.randn(f.shape, generator=gen, dtype=f.dtype, device=f.device)
        return f + noise * math.sqrt(0.5)
    raise InvalidArgumentError(
        f"KFACConfig(fisher='mc') samples targets from the model's predictive distribution, which is known for "
        f"nn.CrossEntropyLoss, nn.MSELoss and criteria with a `sample_targets(outputs, targets, generator)` "
        f"method; {type(criterion).__name__} has none. Use KFACConfig(fisher='empirical') or give the criterion "
        f"that method."
    )


def _num_terms(criterion: Any, f: torch.Tensor, targets: Any, b: int) -> int:
    """M, the number of loss terms the mean loss averages over (tokens with a label, or samples)."""
    counter = getattr(criterion, "num_terms", None)
    if callable(counter):
        return max(1, int(counter(f, targets)))
    if isinstance(criterion, nn.CrossEntropyLoss) and isinstance(targets, torch.Tensor):
        if not targets.is_floating_point():
            return max(1, int((targets != criterion.ignore_index).sum()))
    if isinstance(criterion, nn.MSELoss):
        return max(1, f.numel())  # every squared error is a loss term (curvlinops' convention)
    return b


def _factor_pass(
    problem: LossProblem,
    batch: Batch,
    sites: Mapping[str, KFACSite],
    cfg: KFACConfig,
    state: KFACState,
    want_grads: bool,
) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None, dict[str, tuple[torch.Tensor, torch.Tensor]], dict[str, str]]:
    """One forward with hooks, the backward(s) K-FAC needs; returns (loss, gradients of every
    variable or None, new factors per module, why a module got none)."""
    modules = {s.module_name: s for s in sites.values()}
    seen: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {m: [] for m in modules}

    def hook_for(name: str) -> Callable[..., None]:
        def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            seen[name].append((inp[0].detach(), out))

        return hook

    params = {k: v.detach().requires_grad_(True) for k, v in problem.detached_params().items()}
    handles = [s.module.register_forward_hook(hook_for(m)) for m, s in modules.items()]
    inputs, targets = batch if problem.criterion is not None else (batch, None)
    try:
        with torch.enable_grad():
            if problem.criterion is not None:
                f = problem.outputs(params, inputs)
                loss = problem.criterion(f, targets)
            else:
                f = None
                loss = problem.loss(params, batch)
    finally:
        for h in handles:
            h.remove()
    b = problem.batch_size(batch)
    reasons: dict[str, str] = {}
    used = [m for m in modules if seen[m]]
    for m in modules:
        if not seen[m]:
            reasons[m] = "its layer did not run in the forward pass"
    zs = [out for m in used for _, out in seen[m]]
    pvals = list(params.values())
    grads: dict[str, torch.Tensor] | None = None
    deltas: list[list[torch.Tensor | None]] = []  # per draw: one gradient per z
    M = b
    # G = weight * sum over draws and positions of delta delta^T, with delta = dL/dz of the mean
    # (sampled) loss: g = M delta is the gradient of the summed loss, and G = (1/M) sum g g^T
    weight = 1.0
    if cfg.fisher == "empirical" or f is None:
        if cfg.fisher != "empirical":
            raise InvalidArgumentError(
                f"KFACConfig(fisher={cfg.fisher!r}) needs the network's outputs and the loss on them separately: "
                f"build the problem with `criterion=`, or use KFACConfig(fisher='empirical') with `forward_loss`."
            )
        if f is not None:
            M = _num_terms(problem.criterion, f, targets, b)
        out = torch.autograd.grad(loss, [*pvals, *zs] if want_grads else zs, allow_unused=True)
        if want_grads:
            grads = _grad_dict(params, out[: len(pvals)])
            out = out[len(pvals) :]
        deltas.append(list(out))
        weight = float(M)
    elif cfg.fisher == "mc":
        M = _num_terms(problem.criterion, f, targets, b)
        if want_grads:
            grads = _grad_dict(params, torch.autograd.grad(loss, pvals, retain_graph=True, allow_unused=True))
        gen = state.generator(f.device)
        criterion = problem.criterion
        assert criterion is not None
        for draw in range(cfg.mc_samples):
            y_hat = _sample_targets(criterion, f, targets, gen)
            loss_hat = criterion(f, y_hat)
            out = torch.autograd.grad(loss_hat, zs, retain_graph=draw + 1 < cfg.mc_samples, allow_unused=True)
            deltas.append(list(out))
        weight = float(M) / cfg.mc_samples
    else:  # type-2: every column of the output Hessian's square root
        from ._factors import output_hessian_sqrt

        assert problem.criterion is not None
        L = output_hessian_sqrt(problem.criterion, f, targets)
        if L is None:
            raise InvalidArgumentError(
                "KFACConfig(fisher='type-2') needs the loss's Hessian with respect to the outputs in closed form "
                "(cross-entropy over (B, C) logits, squared error); use fisher='mc'."
            )
        if want_grads:
            grads = _grad_dict(params, torch.autograd.grad(loss, pvals, retain_graph=True, allow_unused=True))
        cols = L.shape[2]
        for c in range(cols):
            # L_s[:, c] is the per-sample loss's root: its backpropagation is g of sample s's own loss
            out = torch.autograd.grad(f, zs, grad_outputs=L[:, :, c].reshape(f.shape), retain_graph=True)
            deltas.append(list(out))
        weight = 1.0 / b  # the roots are of the per-sample losses l_s (mean loss = (1/B) sum l_s)
    new: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    i = 0
    for m in used:
        site = modules[m]
        calls = len(seen[m])
        a = torch.cat([inp.reshape(-1, site.n_in) for inp, _ in seen[m]])
        if site.has_bias:
            a = torch.cat([a, torch.ones_like(a[:, :1])], 1)
        A = a.T @ a / a.shape[0]
        G = torch.zeros((site.n_out, site.n_out), dtype=a.dtype, device=a.device)
        ok = False
        for d in deltas:
            parts = [t for t in d[i : i + calls] if t is not None]
            if parts:
                g = torch.cat([p.reshape(-1, site.n_out) for p in parts])
                G += g.T @ g
                ok = True
        i += calls
        if not ok:
            reasons[m] = "the loss does not depend on its layer's outputs"
            continue
        G *= weight
        A, G = (A + A.T) * 0.5, (G + G.T) * 0.5
        check_finite_tensor(A, f"K-FAC A[{m}]")
        check_finite_tensor(G, f"K-FAC G[{m}]")
        new[m] = (A.detach(), G.detach())
    return loss.detach(), grads, new, reasons


def _grad_dict(params: Mapping[str, torch.Tensor], grads: Sequence[torch.Tensor | None]) -> dict[str, torch.Tensor]:
    return {k: (g.detach() if g is not None else torch.zeros_like(p)) for (k, p), g in zip(params.items(), grads)}


def kfac_blocks(
    problem: LossProblem,
    batch: Batch,
    blocks: BlockSpec = "layerwise",
    *,
    state: KFACState,
    config: CurvatureConfig | None = None,
) -> tuple[LazyCurvature, dict[str, str]]:
    """Loss, gradient and one curvature block per block: :class:`KFACBlock` where K-FAC covers it,
    ``state.config.uncovered``'s block elsewhere.

    Every ``update_interval``-th call recomputes the factors on the curvature batch (one forward,
    one or ``mc_samples`` + 1 backward passes, fused with the gradient when the curvature batch is
    the whole batch) and folds them into ``state``'s running averages.

    Returns:
        ``(curvature, first_order)``: the :class:`~qnewton.curvature.lazy.LazyCurvature` (kind
        ``"kfac"``) and, with ``uncovered="first-order"``, ``{block name: why}`` for the blocks that
        take a gradient step instead (they are not in ``curvature.blocks``).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> torch.manual_seed(0) and None
        >>> model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
        >>> X, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
        >>> st = KFACState(KFACConfig())
        >>> res, fo = kfac_blocks(LossProblem(model, nn.CrossEntropyLoss()), (X, y), "module", state=st)
        >>> [(b.name, b.kind, b.n) for b in res], st.updates
        ([('0', 'kfac', 15), ('2', 'kfac', 8)], 1)
    """
    cfg = state.config
    config = config or CurvatureConfig()
    t0 = time.perf_counter()
    blks = make_blocks(problem, blocks)
    sites, reasons = kfac_sites(problem, blks)
    b = problem.batch_size(batch)
    cbatch, bc = sub_batch(problem, batch, b, config)
    due = state.due() or any(s.module_name not in state.factors for s in sites.values())
    state.calls += 1
    module_reasons: dict[str, str] = {}
    new: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    pgrads: dict[str, torch.Tensor] | None = None
    if due and sites and bc == b:  # one forward for the loss, the gradient and the factors
        loss, pgrads, new, module_reasons = _factor_pass(problem, batch, sites, cfg, state, want_grads=True)
    if pgrads is None:
        loss, pgrads, _ = loss_and_gradient_pass(problem, batch)
        if due and sites:
            _, _, new, module_reasons = _factor_pass(problem, cbatch, sites, cfg, state, want_grads=False)
    if due and sites:
        for m, (A, G) in new.items():
            state.fold(m, A, G)
        state.updates += 1
    if config.check_finite:
        check_finite_tensor(loss, "loss")
    grads: dict[str, torch.Tensor] = {}
    for blk in blks:
        g = blk.flatten(pgrads)
        if config.check_finite:
            check_finite_tensor(g, f"gradient[{blk.name}]")
        grads[blk.name] = g
    t1 = time.perf_counter()
    out: dict[str, CurvatureBlock] = {}
    first_order: dict[str, str] = {}
    graph = None
    for blk in blks:
        site = sites.get(blk.name)
        if site is not None and site.module_name in state.factors:
            fac = state.factors[site.module_name]
            variant = ("w" if site.weight else "") + ("b" if site.bias else "")
            out[blk.name] = KFACBlock(
                blk.name,
                fac["A"].to(blk.dtype),
                fac["G"].to(blk.dtype),
                weight=site.weight,
                bias=site.bias,
                layout=site.layout,
                bias_in_A=site.has_bias,
                block=blk,
                gradient=grads[blk.name],
                config=config,
                eig_cache=state.eig_cache,
                cache_key=((site.module_name, variant), state.versions.get(site.module_name, 0)),
            )
            continue
        why = reasons.get(blk.name) or module_reasons.get(site.module_name if site else "", "no K-FAC factors")
        kind = cfg.uncovered
        if kind == "ggn" and problem.criterion is None:
            kind = "fisher"
            why += "; the GGN needs a criterion problem, so the empirical Fisher"
        note = f"K-FAC does not cover this block ({why}); uncovered={cfg.uncovered!r}"
        if kind == "first-order":
            first_order[blk.name] = note
            continue
        common: dict[str, Any] = {"config": config, "gradient": grads[blk.name]}
        fb: CurvatureBlock
        if kind == "fisher":
            fb = EmpiricalFisherBlock(problem, cbatch, blk, **common)
        elif kind == "ggn":
            fb = GGNBlock(problem, cbatch, blk, **common)
        else:
            graph = graph or _SharedGradientGraph(problem, cbatch)
            fb = HessianBlock(problem, cbatch, blk, graph=graph, **common)
        fb.stats["curvature_note"] = f"{note}: {fb.kind} block"
        out[blk.name] = fb
    res = LazyCurvature(
        kind="kfac",
        loss=loss,
        grads=grads,
        param_grads=pgrads,
        blocks=out,
        batch_size=b,
        curvature_batch_size=bc,
        measured_seconds={"loss_gradient_and_factors": t1 - t0, "factors_updated": float(due and bool(sites))},
    )
    return res, first_order
