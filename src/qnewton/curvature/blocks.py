"""Parameter blocks: which parameters share one Hessian (or Fisher) block.

Q-Newton inverts the curvature block by block. For the paper's DNN 784-16-16-10 the exact
Hessian is taken per parameter tensor ("layer-wise"; ``0.weight`` is 16 * 784 = 12544 variables,
Fig. 6), and for BERT/Mistral the layer-wise empirical Fisher (Sec. V-A). A block is an ordered
list of parameter tensors; its variables are their entries, flattened in that order (row-major),
concatenated.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import InvalidArgumentError, ShapeError
from .problem import LossProblem

__all__ = ["BlockSpec", "ParamBlock", "make_blocks"]


@dataclass(frozen=True)
class ParamBlock:
    """A named group of parameter tensors treated as one curvature block.

    Attributes:
        name: the block's name (a parameter name for layer-wise blocks, ``"full"`` for the single
            block of all variables, or the user's group name).
        param_names: the parameters in the block, in flattening order.
        shapes: their shapes.
        dtype, device: shared by every parameter of the block.

    Example:
        >>> import torch
        >>> b = ParamBlock("lin", ("w", "b"), ((2, 3), (2,)), torch.float32, torch.device("cpu"))
        >>> b.size, b.offsets
        (8, (0, 6, 8))
        >>> flat = b.flatten({"w": torch.ones(2, 3), "b": torch.zeros(2)})
        >>> flat.tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
        >>> {k: tuple(v.shape) for k, v in b.unflatten(flat).items()}
        {'w': (2, 3), 'b': (2,)}
    """

    name: str
    param_names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtype: torch.dtype
    device: torch.device

    def __post_init__(self) -> None:
        if not self.param_names:
            raise InvalidArgumentError(f"block {self.name!r} has no parameters.")
        if len(self.param_names) != len(self.shapes):
            raise InvalidArgumentError(f"block {self.name!r}: one shape per parameter name is required.")

    @property
    def numels(self) -> tuple[int, ...]:
        """Number of variables in each parameter of the block."""
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def size(self) -> int:
        """n, the block's number of variables (its curvature is n x n)."""
        return sum(self.numels)

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start of each parameter in the flat vector, and the end (length ``len(param_names) + 1``)."""
        out = [0]
        for k in self.numels:
            out.append(out[-1] + k)
        return tuple(out)

    def slice_of(self, param_name: str) -> slice:
        """Where ``param_name`` lies in the block's flat vector."""
        try:
            i = self.param_names.index(param_name)
        except ValueError:
            raise InvalidArgumentError(f"{param_name!r} is not in block {self.name!r}.") from None
        off = self.offsets
        return slice(off[i], off[i + 1])

    def flatten(self, tensors: Mapping[str, torch.Tensor], batch_dims: int = 0) -> torch.Tensor:
        """Concatenate the block's tensors (taken by name) into a vector of length n.

        With ``batch_dims=1`` each tensor has a leading batch dimension (e.g. per-sample
        gradients, shape ``(B, *shape)``) and the result is ``(B, n)``.
        """
        parts = []
        for k, shape in zip(self.param_names, self.shapes):
            if k not in tensors:
                raise InvalidArgumentError(f"`tensors` has no entry {k!r} (needed by block {self.name!r}).")
            t = tensors[k]
            if tuple(t.shape[batch_dims:]) != tuple(shape):
                raise ShapeError(
                    f"`tensors[{k!r}]` has shape {tuple(t.shape)}; block {self.name!r} expects "
                    f"{batch_dims} leading batch dimension(s) and then {tuple(shape)}."
                )
            parts.append(t.reshape(*t.shape[:batch_dims], -1))
        if len(parts) == 1:
            return parts[0]
        return torch.cat(parts, dim=batch_dims)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a vector of length n (or ``(..., n)``) back into parameter-shaped views."""
        if flat.shape[-1] != self.size:
            raise ShapeError(
                f"`flat` has {flat.shape[-1]} entries in its last dimension; block {self.name!r} has "
                f"{self.size} variables."
            )
        lead = tuple(flat.shape[:-1])
        parts = torch.split(flat, list(self.numels), dim=-1)
        return {k: p.reshape((*lead, *s)) for k, p, s in zip(self.param_names, parts, self.shapes)}


#: How blocks may be specified: ``"layerwise"`` (one per parameter tensor), ``"full"`` (one block),
#: ``"module"`` (one per owning module: weight and bias together), a mapping ``{block name: [names or
#: glob patterns]}``, or a sequence of :class:`ParamBlock`.
BlockSpec = str | Mapping[str, Sequence[str] | str] | Sequence[ParamBlock]


def _block(problem: LossProblem, name: str, names: Sequence[str]) -> ParamBlock:
    params = problem.params
    dtypes = {params[k].dtype for k in names}
    devices = {params[k].device for k in names}
    if len(dtypes) > 1 or len(devices) > 1:
        raise InvalidArgumentError(
            f"block {name!r} mixes dtypes {sorted(map(str, dtypes))} / devices {sorted(map(str, devices))}; "
            f"a block needs one dtype and device. Use layer-wise blocks or cast the model."
        )
    return ParamBlock(
        name=name,
        param_names=tuple(names),
        shapes=tuple(tuple(params[k].shape) for k in names),
        dtype=params[names[0]].dtype,
        device=params[names[0]].device,
    )


def make_blocks(problem: LossProblem, spec: BlockSpec = "layerwise") -> tuple[ParamBlock, ...]:
    """Partition (part of) the problem's parameters into named curvature blocks.

    Args:
        problem: the :class:`LossProblem`.
        spec: ``"layerwise"`` (default; one block per parameter tensor, named after it, as the
            paper's DNN and its layer-wise Fisher), ``"full"`` (a single block ``"full"`` with every
            variable: the whole Hessian), ``"module"`` (one block per owning module, e.g.
            ``fc1.weight`` and ``fc1.bias`` together, named after the module), a mapping
            ``{block name: names}`` where names are parameter names or ``fnmatch`` patterns
            (``"encoder.layer.0.*"``), or a sequence of ready :class:`ParamBlock` objects. A mapping
            may cover only some parameters; the others then get no curvature.

    Returns:
        The blocks, in the order given (layer-wise and module blocks follow the model's order).

    Raises:
        InvalidArgumentError: unknown spec or parameter, a pattern that matches nothing, a
            parameter in two blocks, duplicate block names, a block mixing dtypes/devices.
    """
    names = problem.param_names
    if isinstance(spec, str):
        if spec in ("layerwise", "layer-wise", "param"):
            return tuple(_block(problem, k, [k]) for k in names)
        if spec == "full":
            return (_block(problem, "full", list(names)),)
        if spec == "module":
            groups: dict[str, list[str]] = {}
            for k in names:
                owner = k.rsplit(".", 1)[0] if "." in k else "<root>"
                groups.setdefault(owner, []).append(k)
            return tuple(_block(problem, g, ks) for g, ks in groups.items())
        raise InvalidArgumentError(
            f"`blocks` = {spec!r} is not a known layout; use 'layerwise', 'full', 'module', a mapping "
            f"{{name: [parameter names or patterns]}} or a sequence of ParamBlock."
        )
    if isinstance(spec, Mapping):
        out = []
        for bname, pats in spec.items():
            if isinstance(pats, str):
                pats = [pats]
            chosen: list[str] = []
            for pat in pats:
                hit = [k for k in names if k == pat or fnmatch.fnmatchcase(k, pat)]
                if not hit:
                    raise InvalidArgumentError(
                        f"`blocks[{bname!r}]`: {pat!r} matches no variable parameter; see "
                        f"problem.param_names (frozen parameters cannot be in a block)."
                    )
                chosen.extend(k for k in hit if k not in chosen)
            out.append(_block(problem, str(bname), chosen))
        blocks = tuple(out)
    elif isinstance(spec, Sequence) and all(isinstance(b, ParamBlock) for b in spec):
        blocks = tuple(b for b in spec if isinstance(b, ParamBlock))
        params = problem.params
        for b in blocks:
            for k, s in zip(b.param_names, b.shapes):
                if k not in params:
                    raise InvalidArgumentError(f"block {b.name!r} names {k!r}, not a variable of the problem.")
                if tuple(params[k].shape) != tuple(s):
                    raise ShapeError(f"block {b.name!r}: {k!r} has shape {tuple(params[k].shape)}, not {s}.")
    else:
        raise InvalidArgumentError(
            f"`blocks` must be a layout name, a mapping or a sequence of ParamBlock, got {type(spec).__name__}."
        )
    if not blocks:
        raise InvalidArgumentError("`blocks` is empty; give at least one block.")
    seen: dict[str, str] = {}
    bnames = set()
    for b in blocks:
        if b.name in bnames:
            raise InvalidArgumentError(f"two blocks are named {b.name!r}; block names must be unique.")
        bnames.add(b.name)
        for k in b.param_names:
            if k in seen:
                raise InvalidArgumentError(
                    f"parameter {k!r} is in both block {seen[k]!r} and block {b.name!r}; blocks must not "
                    f"overlap (each is a diagonal block of the Hessian)."
                )
            seen[k] = b.name
    return blocks
