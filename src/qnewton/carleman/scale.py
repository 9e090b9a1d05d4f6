r"""Training pieces shared by the Carleman studies at model scale (ResNets on image data).

* :class:`ImageTask`: the data (train/test tensors, fixed evaluation subsets) and the model built
  from a name (``resnet8``, ``resnet20``, ...: :mod:`qnewton.models.resnet`; ``mlp`` for the
  paper DNN), both seeded;
* :func:`batch_indices`: the minibatch of SGD step t is a function of (seed, t) only, so two
  trainings that share a seed see the same batches at the same step (the plain-SGD baseline and
  the windowed scheme) and a resumed run sees the batches an uninterrupted one would have;
* :func:`masked_sgd_step`: plain SGD, :math:`\theta \leftarrow \theta - \eta\, m \odot \nabla L_B(\theta)`
  with a 0/1 mask m (a pruned network keeps its pruned weights at zero); no momentum, no weight
  decay: the recursion the Carleman linearization of Liu et al. (Nat. Commun. 15, 434 (2024))
  describes;
* :func:`flat_mask` / :func:`prune_model`: global magnitude pruning of the weights (biases and
  scalar gains are kept), as the paper prunes its 103M ResNet to 10 % density;
* :func:`evaluate`: loss and accuracy on the fixed evaluation subsets (eval mode).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import check_fraction, check_int_range
from ..errors import InvalidArgumentError

__all__ = [
    "ImageTask",
    "batch_indices",
    "build_model",
    "evaluate",
    "flat_mask",
    "get_flat",
    "hessian_column_nnz",
    "hvp_config",
    "load_image_task",
    "masked_sgd_step",
    "prune_model",
    "set_flat",
    "split_mask",
]

#: Hessian-vector products one vector at a time by plain autograd (``vectorize="loop"``): Lanczos
#: asks for one product at a time, and vmap over a single vector costs 12x more on tiny models
#: (measured here: 0.18 s vs 0.014 s for a 346-parameter ResNet) and the same on large ones.
HVP_CONFIG_KW = {"vectorize": "loop"}

#: Seed stride between steps (a prime, so (seed, step) pairs do not collide for any realistic run).
_STEP_STRIDE = 1_000_003


def batch_indices(n_samples: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """Indices of the minibatch of SGD step ``step``: ``batch_size`` draws with replacement from
    ``range(n_samples)`` by a generator seeded with (seed, step) alone.

    Example:
        >>> bool(torch.equal(batch_indices(100, 8, 0, 5), batch_indices(100, 8, 0, 5)))
        True
        >>> bool(torch.equal(batch_indices(100, 8, 0, 5), batch_indices(100, 8, 0, 6)))
        False
    """
    check_int_range(n_samples, "n_samples", 1, 2**62)
    check_int_range(batch_size, "batch_size", 1, 2**31)
    gen = torch.Generator().manual_seed(int(seed) * _STEP_STRIDE + int(step) + 1)
    return torch.randint(0, n_samples, (batch_size,), generator=gen)


def get_flat(model: nn.Module) -> torch.Tensor:
    """The trainable parameters as one detached vector (``model.parameters()`` order, the order of
    :func:`qnewton.spectrum.flat_parameters` and of the full :class:`~qnewton.curvature.HessianOperator`)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad]).clone()


def set_flat(model: nn.Module, flat: torch.Tensor) -> None:
    """Write a flat vector back into the trainable parameters (in place)."""
    params = [p for p in model.parameters() if p.requires_grad]
    n = sum(p.numel() for p in params)
    if flat.numel() != n:
        raise InvalidArgumentError(f"`flat` has {flat.numel()} entries, the model has {n} trainable parameters.")
    off = 0
    with torch.no_grad():
        for p in params:
            p.copy_(flat[off : off + p.numel()].reshape(p.shape))
            off += p.numel()


def split_mask(model: nn.Module, mask: torch.Tensor | np.ndarray | None) -> list[torch.Tensor | None]:
    """A flat boolean mask cut into one tensor per trainable parameter (float, 0/1), or Nones."""
    params = [p for p in model.parameters() if p.requires_grad]
    if mask is None:
        return [None] * len(params)
    m = torch.as_tensor(np.asarray(mask, dtype=bool) if not isinstance(mask, torch.Tensor) else mask)
    if m.numel() != sum(p.numel() for p in params):
        raise InvalidArgumentError(f"`mask` has {m.numel()} entries, the model has {sum(p.numel() for p in params)}.")
    out: list[torch.Tensor | None] = []
    off = 0
    for p in params:
        out.append(m.reshape(-1)[off : off + p.numel()].reshape(p.shape).to(dtype=p.dtype, device=p.device))
        off += p.numel()
    return out


def masked_sgd_step(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    lr: float,
    masks: Sequence[torch.Tensor | None],
    criterion: nn.Module | None = None,
) -> float:
    """One step of plain SGD on the masked parameters; returns the minibatch loss (before the step).

    theta <- theta - lr * m * grad L_B(theta); entries with m = 0 do not move (a pruned weight
    stays 0). ``masks`` from :func:`split_mask` (Nones: dense).
    """
    crit = criterion if criterion is not None else nn.CrossEntropyLoss()
    params = [p for p in model.parameters() if p.requires_grad]
    loss = crit(model(batch[0]), batch[1])
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p, g, m in zip(params, grads, masks):
            p.sub_(lr * (g if m is None else g * m))
    return float(loss.detach())


def flat_mask(model: nn.Module, density: float) -> torch.Tensor:
    """Global magnitude pruning mask: the ``density`` share of the weights (parameters with >= 2
    dimensions) with the largest |value|; biases and scalar gains always kept
    (:func:`qnewton.spectrum.magnitude_mask`). A flat bool tensor over :func:`get_flat`."""
    from ..spectrum.hessian import magnitude_mask

    return torch.as_tensor(magnitude_mask(model, check_fraction(density, "density")))


def prune_model(model: nn.Module, density: float) -> torch.Tensor:
    """Zero all but the ``density`` share of the weights by magnitude; returns the flat mask."""
    mask = flat_mask(model, density)
    flat = get_flat(model)
    set_flat(model, torch.where(mask, flat, torch.zeros_like(flat)))
    return mask


@dataclass(frozen=True, eq=False)
class ImageTask:
    """Image data for the studies at scale, as tensors, with fixed evaluation subsets.

    Attributes:
        name, source: data set name and where it was read from.
        x_train, y_train, x_test, y_test: float32 images (N, C, H, W) and int64 labels.
        eval_train, eval_test: indices of the fixed subsets accuracy and loss are measured on.
        num_classes, channels, image_size: shape facts the model is built from.
    """

    name: str
    source: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    eval_train: torch.Tensor
    eval_test: torch.Tensor
    num_classes: int
    channels: int
    image_size: int

    def batch(self, batch_size: int, seed: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The minibatch of step ``step`` (:func:`batch_indices`)."""
        idx = batch_indices(len(self.y_train), batch_size, seed, step)
        return self.x_train[idx], self.y_train[idx]

    def fixed_batch(self, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed set of ``size`` training samples (the batch a Hessian is taken over)."""
        gen = torch.Generator().manual_seed(int(seed) + 7)
        idx = torch.randperm(len(self.y_train), generator=gen)[: min(size, len(self.y_train))]
        return self.x_train[idx], self.y_train[idx]

    def to(self, dtype: torch.dtype) -> ImageTask:
        """The same task with images in ``dtype`` (float64 for dense-Hessian checks)."""
        return ImageTask(**{**self.__dict__, "x_train": self.x_train.to(dtype), "x_test": self.x_test.to(dtype)})

    def facts(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "source": self.source,
            "n_train": len(self.y_train),
            "n_test": len(self.y_test),
            "eval_train": len(self.eval_train),
            "eval_test": len(self.eval_test),
            "num_classes": self.num_classes,
            "image": [self.channels, self.image_size, self.image_size],
        }


def load_image_task(
    dataset: str = "fashion-mnist",
    data_dir: str | None = None,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    eval_train: int = 2000,
    eval_test: int = 2000,
    seed: int = 0,
) -> ImageTask:
    """Load an image data set (:func:`qnewton.data.load_image_dataset`: fashion-mnist, digits-784,
    mnist/idx/npz from ``data_dir``) as (N, C, H, W) tensors, standardized by the training mean and
    standard deviation, with seeded evaluation subsets of ``eval_train`` / ``eval_test`` samples."""
    from ..data import load_image_dataset

    kwargs: dict[str, Any] = {"seed": seed, "flatten": False, "normalization": "standardize"}
    if n_train is not None:
        kwargs["n_train"] = n_train
    if n_test is not None:
        kwargs["n_test"] = n_test
    ds = load_image_dataset(dataset, data_dir, **kwargs)
    if ds.image_shape[0] != ds.image_shape[1]:
        raise InvalidArgumentError(f"`dataset` {dataset!r} has {ds.image_shape} images; the ResNets take square ones.")
    x, y = ds.tensors("train")
    xt, yt = ds.tensors("test")
    if x.ndim == 3:
        x, xt = x[:, None], xt[:, None]
    gen = torch.Generator().manual_seed(int(seed) + 11)
    ev_tr = torch.randperm(len(y), generator=gen)[: min(check_int_range(eval_train, "eval_train", 1, 10**8), len(y))]
    ev_te = torch.randperm(len(yt), generator=gen)[: min(check_int_range(eval_test, "eval_test", 1, 10**8), len(yt))]
    return ImageTask(
        name=ds.name,
        source=ds.source,
        x_train=x.contiguous(),
        y_train=y,
        x_test=xt.contiguous(),
        y_test=yt,
        eval_train=ev_tr,
        eval_test=ev_te,
        num_classes=ds.num_classes,
        channels=int(x.shape[1]),
        image_size=int(x.shape[-1]),
    )


def build_model(name: str, task: ImageTask, *, width: int = 16, norm: str = "none", seed: int = 0) -> nn.Module:
    """The model of a study: ``resnet<depth>`` (:func:`qnewton.models.resnet`) sized to the task."""
    from ..models.resnet import resnet, resnet_config

    cfg = resnet_config(name, width=width, in_channels=task.channels, num_classes=task.num_classes, norm=norm)
    return resnet(cfg, seed=seed)


@torch.no_grad()
def evaluate(
    model: nn.Module, task: ImageTask, *, chunk: int = 500, criterion: nn.Module | None = None
) -> dict[str, float]:
    """Training loss and accuracy on the fixed training subset, test accuracy on the test subset
    (eval mode, restored afterwards)."""
    crit = criterion if criterion is not None else nn.CrossEntropyLoss(reduction="sum")
    was = model.training
    model.eval()
    try:
        out: dict[str, float] = {}
        for split, x, y, idx in (
            ("train", task.x_train, task.y_train, task.eval_train),
            ("test", task.x_test, task.y_test, task.eval_test),
        ):
            loss, correct = 0.0, 0
            for i0 in range(0, len(idx), chunk):
                j = idx[i0 : i0 + chunk]
                logits = model(x[j])
                loss += float(crit(logits, y[j]))
                correct += int((logits.argmax(1) == y[j]).sum())
            out[f"{split}_loss"] = loss / len(idx)
            out[f"{split}_accuracy"] = correct / len(idx)
        return out
    finally:
        model.train(was)


def hvp_config() -> Any:
    """The :class:`~qnewton.curvature.CurvatureConfig` of the studies' Hessian-vector products."""
    from ..curvature import CurvatureConfig

    return CurvatureConfig(vectorize=HVP_CONFIG_KW["vectorize"])  # type: ignore[arg-type]


def hessian_column_nnz(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    *,
    mask: Any = None,
    columns: int = 4,
    rtol: float = 1e-6,
    seed: int = 0,
) -> dict[str, float]:
    """Measured row sparsity of the (pruned) Hessian: nonzeros of ``columns`` random columns
    H e_i (one Hessian-vector product each; H is symmetric, so rows and columns agree), restricted
    to the kept coordinates. ``nnz_exact`` counts exact nonzeros, ``nnz_rtol`` the entries above
    ``rtol`` x the column's largest |entry| (rounding makes "zero" fuzzy in float32).

    This is the model sparsity s the Carleman cost model needs (nonzeros per row of F_1): a
    network's Hessian couples every pair of weights through the loss, so expect s close to n.
    """
    from ..models.resnet import curvature_mode
    from ..spectrum.hessian import hessian_operator

    check_int_range(columns, "columns", 1, 10**4)
    with curvature_mode(model):
        op = hessian_operator(
            model, batch, mask=None if mask is None else np.asarray(mask, dtype=bool), config=hvp_config()
        )
        n = op.shape[0]
        rng = np.random.default_rng(seed)
        exact, rel = [], []
        for i in rng.choice(n, size=min(columns, n), replace=False):
            e = np.zeros(n)
            e[i] = 1.0
            col = np.abs(np.asarray(op.matvec(e)))
            exact.append(int(np.count_nonzero(col)))
            top = float(col.max())
            rel.append(int(np.count_nonzero(col > rtol * top)) if top > 0 else 0)
    return {
        "n": int(n),
        "columns": len(exact),
        "nnz_exact": float(np.mean(exact)),
        "nnz_rtol": float(np.mean(rel)),
        "rtol": rtol,
        "density_exact": float(np.mean(exact)) / n,
        "basis": "measured (Hessian-vector products with unit vectors)",
    }
