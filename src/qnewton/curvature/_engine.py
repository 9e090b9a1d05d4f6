"""Private machinery shared by the Hessian, Fisher and operator code.

* :func:`loss_and_gradient_pass`: one forward + backward of the mean loss (plain autograd), which
  also measures the bytes of activations autograd saves, the input of the chunk-size heuristics;
* :class:`BlockHvp`: products H_bb V for one block, vectorized with ``vmap`` in chunks;
* :func:`per_sample_gradient_chunks`: per-sample gradients (``vmap`` over ``grad``) in chunks;
* :func:`symmetrize_`: (H + H^T)/2 in place, returning the asymmetry it removed.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.func import grad, grad_and_value, jvp, vjp, vmap

from .._validation import check_finite
from ..errors import InvalidArgumentError, NonFiniteError, QNewtonWarning, ShapeError
from ._batch import Batch, flatten, take
from ._kernels import symmetrize_inplace
from .blocks import ParamBlock
from .config import CurvatureConfig
from .problem import LossProblem

_MISSING_FORMULA = ("not implemented", "does not support", "derivative for", "does not require grad")
_SHAPE_WORDS = ("shape", "size", "mat1", "mat2", "dimension", "must match")


def curvature_context(config: CurvatureConfig) -> contextlib.AbstractContextManager[Any]:
    """Select the math backend of scaled_dot_product_attention, whose backward is differentiable.

    The fused (flash / memory-efficient) kernels implement neither double backward nor forward-mode
    AD, so exact Hessians of attention models fail with them.
    """
    if not config.math_sdpa:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


def check_finite_tensor(t: torch.Tensor, name: str) -> None:
    """Raise NonFiniteError naming ``name`` when ``t`` holds NaN or Inf.

    NaN and Inf propagate through a sum, so one reduction (no temporary as large as ``t``) clears
    the usual case; only a non-finite sum (or an overflowing one) pays for the entry-wise check.
    """
    if t.numel() == 0 or bool(torch.isfinite(t.sum())):
        return
    if not bool(torch.isfinite(t).all()):
        check_finite(t.detach().float().cpu().numpy(), name)
        raise NonFiniteError(f"`{name}` has NaN/Inf entries.")  # pragma: no cover - check_finite raised


def _shape_error(exc: Exception) -> ShapeError | None:
    msg = str(exc)
    if any(w in msg for w in _SHAPE_WORDS):
        return ShapeError(
            f"`batch` does not fit the model: {msg.splitlines()[0]} Check the inputs' feature dimensions "
            f"and that targets match the outputs."
        )
    return None


def loss_and_gradient_pass(problem: LossProblem, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
    """Loss, gradient of every variable, and bytes of the activations autograd saved.

    Uses ordinary autograd (one forward, one backward). The saved-activation count covers
    non-leaf tensors only (intermediate results; inputs and parameters are excluded), deduplicated
    by storage: it is the per-batch memory that vectorized HVPs replicate per direction.
    """
    params = {k: v.detach().requires_grad_(True) for k, v in problem.detached_params().items()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.grad_fn is not None and t.device.type != "meta":
            try:
                st = t.untyped_storage()
                saved[st.data_ptr()] = st.nbytes()
            except (RuntimeError, NotImplementedError):  # tensors without storage (wrappers)
                saved[id(t)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        try:
            loss = problem.loss(params, batch)
        except RuntimeError as exc:
            err = _shape_error(exc)
            if err is not None:
                raise err from exc
            raise
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    out = {k: (g.detach() if g is not None else torch.zeros_like(params[k])) for k, g in zip(params.keys(), grads)}
    return loss.detach(), out, sum(saved.values())


def hvp_chunk_size(config: CurvatureConfig, n: int, itemsize: int, act_bytes: int) -> int:
    """Rows of an n x n block per vectorized call, from the memory budget.

    Per direction a vectorized HVP holds its input and output rows and the intermediate
    derivatives of the second pass, about as large as the activations of one forward pass over the
    curvature batch: ``4 n * itemsize + 4 * act_bytes``. A deliberate over-estimate: measured peak
    RSS beyond the output block was 0.41 GiB of a 0.5 GiB budget for the paper's DNN (fc1.weight,
    B = 256 and 2048, benchmarks/curvature.py) and 0.1-0.35 of the budget for a 784-512-512-10
    tanh MLP (B = 1024); the time barely depends on the chunk once it holds a few directions.
    """
    if config.chunk_size is not None:
        return min(config.chunk_size, n)
    per = 4 * n * itemsize + 4 * act_bytes
    return int(max(1, min(n, config.memory_budget_bytes // max(per, 1))))


def sample_chunk_size(config: CurvatureConfig, b: int, n_total: int, itemsize: int, act_bytes: int) -> int:
    """Samples per vectorized per-sample-gradient call, from the memory budget.

    Per sample: its gradient (``n_total`` entries, twice: the result and its flattened copy) and
    the forward/backward intermediates of one sample, ``4 * act_bytes / b``.
    """
    if config.sample_chunk_size is not None:
        return min(config.sample_chunk_size, b)
    per = 2 * n_total * itemsize + 4 * act_bytes // max(b, 1)
    return int(max(1, min(b, config.memory_budget_bytes // max(per, 1))))


def _vmap_failed(exc: Exception, config: CurvatureConfig, what: str) -> None:
    """Re-raise when falling back to a loop would be wrong; otherwise warn that we fall back."""
    msg = str(exc)
    if "randomness" in msg:
        raise InvalidArgumentError(
            f"the loss is random (dropout or another random op runs inside the model), so its {what} "
            f"is not defined. Call model.eval() before computing curvature."
        ) from exc
    if config.vectorize == "vmap":
        raise exc
    warnings.warn(
        f"torch.func (vmap) could not transform the {what} ({type(exc).__name__}: "
        f"{msg.splitlines()[0][:200]}); falling back to a Python loop, which is slower. Pass "
        f"CurvatureConfig(vectorize='loop') to skip the attempt.",
        QNewtonWarning,
        stacklevel=4,
    )


class BlockHvp:
    """Products with one diagonal block of the Hessian of the mean loss, ``V -> V H_bb``.

    ``rev-rev``: ``vjp`` of ``grad`` is taken once (the gradient graph, i.e. one forward and one
    backward pass, is kept); each product then costs one more backward pass. ``fwd-rev``: ``jvp`` of
    ``grad``, recomputed per call. Rows of ``V`` are independent directions; they are processed
    with ``vmap`` (or a loop, see ``CurvatureConfig.vectorize``).

    The ``rev-rev`` loop uses plain ``torch.autograd`` (``create_graph=True``, then one
    ``autograd.grad`` per direction), so it also works for models ``torch.func`` cannot transform
    (e.g. an old-style ``autograd.Function`` without ``setup_context``).
    """

    def __init__(self, problem: LossProblem, batch: Batch, block: ParamBlock, config: CurvatureConfig):
        self.block = block
        self.config = config
        base = problem.detached_params()
        self.x0 = block.flatten(base).detach()

        def f(flat: torch.Tensor) -> torch.Tensor:
            p = dict(base)
            p.update(block.unflatten(flat))
            return problem.loss(p, batch)

        self._f = f
        self._vjp_fn: Any = None
        self._x_req: torch.Tensor | None = None  # plain-autograd path: the input and its gradient graph
        self._g_graph: torch.Tensor | None = None
        self._loss: torch.Tensor | None = None
        self._grad: torch.Tensor | None = None
        self._vectorized: bool | None = False if config.vectorize == "loop" else None

    def _build(self) -> None:
        if self._grad is not None:
            return
        with curvature_context(self.config):
            if self.config.hvp_mode == "fwd-rev":
                g, loss = grad_and_value(self._f)(self.x0)
            else:
                g = loss = None
                if self._vectorized is not False:
                    try:
                        g, self._vjp_fn, loss = vjp(grad_and_value(self._f), self.x0, has_aux=True)  # type: ignore[misc]
                    except (RuntimeError, NotImplementedError) as exc:
                        _vmap_failed(exc, self.config, "Hessian-vector products")
                        self._vectorized = False
                if g is None:
                    x = self.x0.detach().clone().requires_grad_(True)
                    loss = self._f(x)
                    (g,) = torch.autograd.grad(loss, x, create_graph=True)
                    self._x_req, self._g_graph = x, g
        self._grad, self._loss = g.detach(), loss.detach()

    @property
    def loss(self) -> torch.Tensor:
        """The mean loss at the current parameters (from the gradient pass)."""
        self._build()
        assert self._loss is not None
        return self._loss

    @property
    def gradient(self) -> torch.Tensor:
        """The block's gradient (flat, length n) of the mean loss."""
        self._build()
        assert self._grad is not None
        return self._grad

    def _one(self, v: torch.Tensor) -> torch.Tensor:
        if self.config.hvp_mode == "fwd-rev":
            return jvp(grad(self._f), (self.x0,), (v,))[1]
        if self._vjp_fn is not None:
            return self._vjp_fn(v)[0]
        assert self._g_graph is not None and self._x_req is not None
        (hv,) = torch.autograd.grad(self._g_graph, self._x_req, v, retain_graph=True)
        return hv.detach()

    def rows(self, V: torch.Tensor) -> torch.Tensor:
        """``V H`` for ``V`` of shape (k, n): row i of the result is H v_i (H is symmetric)."""
        self._build()
        with curvature_context(self.config):
            if self._vectorized is not False:
                try:
                    out = vmap(self._one)(V)
                    self._vectorized = True
                    return out
                except (RuntimeError, NotImplementedError) as exc:
                    if self._vectorized:
                        raise
                    _vmap_failed(exc, self.config, "Hessian-vector products")
                    self._vectorized = False
            try:
                return torch.stack([self._one(v) for v in V]) if len(V) else V.clone()
            except (RuntimeError, NotImplementedError) as exc:
                if not any(w in str(exc) for w in _MISSING_FORMULA):
                    raise
                other = "fwd-rev" if self.config.hvp_mode == "rev-rev" else "rev-rev"
                raise InvalidArgumentError(
                    f"an op of the model has no {self.config.hvp_mode} second-derivative formula "
                    f"({str(exc).splitlines()[0][:200]}). Try CurvatureConfig(hvp_mode={other!r}); for "
                    f"attention keep math_sdpa=True; or use the empirical Fisher, which needs first "
                    f"derivatives only."
                ) from exc

    @property
    def vectorized(self) -> bool | None:
        """Whether vmap was used (``None`` until the first product)."""
        return self._vectorized


def dense_block(engine: BlockHvp, chunk: int) -> tuple[torch.Tensor, int]:
    """Form the n x n block row-chunk by row-chunk: rows i0..i0+c are H e_i, i in the chunk.

    Memory: the output, one c x n chunk of basis vectors and the chunk's working set.
    Returns (H, number of chunks).
    """
    n = engine.block.size
    x0 = engine.x0
    H = torch.empty((n, n), dtype=x0.dtype, device=x0.device)
    E = torch.zeros((min(chunk, n), n), dtype=x0.dtype, device=x0.device)
    count = 0
    for i0 in range(0, n, chunk):
        c = min(chunk, n - i0)
        idx = torch.arange(c, device=x0.device)
        E[idx, i0 + idx] = 1
        H[i0 : i0 + c] = engine.rows(E[:c])
        E[idx, i0 + idx] = 0
        count += 1
    return H, count


def symmetrize_(H: torch.Tensor, name: str, check: bool = True) -> tuple[float, float]:
    """Replace H by (H + H^T)/2 in place; return (max |h_ij - h_ji|, max |h_ij|) measured before.

    One compiled pass on the CPU (see ``_kernels``) that also finds NaN/Inf.

    Raises:
        NonFiniteError: ``H`` holds NaN/Inf (when ``check``), naming ``name``.
    """
    nbad, amax, asym = symmetrize_inplace(H)
    if nbad and check:
        raise NonFiniteError(
            f"`{name}` has {nbad} NaN/Inf entries (counting mirrored pairs). Check the loss upstream "
            f"(a diverged step, log(0), an overflow) or compute in float64."
        )
    return asym, amax


def per_sample_gradient_chunks(
    problem: LossProblem,
    batch: Batch,
    names: Sequence[str],
    b: int,
    chunk: int,
    config: CurvatureConfig,
    status: dict[str, bool | None] | None = None,
) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
    """Yield ``(s0, s1, {name: per-sample gradients of shape (s1 - s0, *shape)})`` chunk by chunk.

    The per-sample loss is the problem's loss on a batch holding that one sample. ``status``
    (optional) receives ``"vectorized"``: whether vmap was used.
    """
    base = problem.detached_params()
    p0 = {k: base[k] for k in names}
    leaves, rebuild = flatten(batch)
    tidx = [i for i, x in enumerate(leaves) if isinstance(x, torch.Tensor)]

    def one(p: dict[str, torch.Tensor], *ts: torch.Tensor) -> torch.Tensor:
        new = list(leaves)
        for i, t in zip(tidx, ts):
            new[i] = t.unsqueeze(0)
        merged = dict(base)
        merged.update(p)
        return problem.loss(merged, rebuild(new))

    def plain(*ts: torch.Tensor) -> dict[str, torch.Tensor]:
        """One sample's gradient with ordinary autograd (works where torch.func does not)."""
        p = {k: v.detach().requires_grad_(True) for k, v in p0.items()}
        gs = torch.autograd.grad(one(p, *ts), list(p.values()), allow_unused=True)
        return {k: (g if g is not None else torch.zeros_like(p[k])) for k, g in zip(p, gs)}

    vg = vmap(grad(one), in_dims=(None,) + (0,) * len(tidx))
    state: dict[str, bool | None] = {"vec": False if config.vectorize == "loop" else None}
    if status is None:
        status = {}
    with curvature_context(config):
        for s0 in range(0, b, chunk):
            s1 = min(b, s0 + chunk)
            ts = [leaves[i][s0:s1] for i in tidx]
            out = None
            if state["vec"] is not False:
                try:
                    out = vg(p0, *ts)
                    state["vec"] = True
                except (RuntimeError, NotImplementedError) as exc:
                    if state["vec"]:
                        raise
                    _vmap_failed(exc, config, "per-sample gradients")
                    state["vec"] = False
            if out is None:
                rows = [plain(*[t[j] for t in ts]) for j in range(s1 - s0)]
                out = {k: torch.stack([r[k] for r in rows]) for k in names}
            status["vectorized"] = bool(state["vec"])
            yield s0, s1, out


def sub_batch(problem: LossProblem, batch: Batch, b: int, config: CurvatureConfig) -> tuple[Batch, int]:
    """The curvature batch: the first ``curvature_batch_size`` samples (all when None or >= B)."""
    bc = config.curvature_batch_size
    if bc is None or bc >= b:
        return batch, b
    return take(batch, slice(0, bc)), bc
