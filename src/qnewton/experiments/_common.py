"""Pieces shared by the experiments: the image-classification setup, plotting, table formatting."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ..data import find_fashion_mnist_dir, load_image_dataset
from ..models import paper_dnn
from .training import TrainSetup

__all__ = ["PAPER", "default_image_dataset", "fmt", "image_setup", "new_figure"]

#: The Q-Newton paper's headline figures (REFERENCE.md section 6), shown beside our numbers.
PAPER: dict[str, Any] = {
    "table2_ms": {10: 0.1, 100: 0.7, 1000: 6.2, 10000: 13.0},
    "table3": {
        "SGD": {"steps": 1500, "s_per_step": 0.14, "total_s": 204},
        "Classical-only": {"steps": 1000, "s_per_step": 1.06, "total_s": 1064},
        "Quantum-only": {"steps": 1000, "s_per_step": 0.17, "total_s": 170},
        "Q-Newton": {"steps": 1000, "s_per_step": 0.15, "total_s": 123},
    },
    "table4": {
        "SGD": {"steps": 6200, "s_per_step": 0.1, "total_min": 11.1},
        "Classical-only": {"steps": 2000, "s_per_step": 9.8, "total_min": 334.2},
        "Quantum-only": {"steps": 2000, "s_per_step": 0.1, "total_min": 3.8},
        "Q-Newton": {"steps": 2000, "s_per_step": 0.1, "total_min": 3.5},
    },
}


def default_image_dataset() -> str:
    """Fashion-MNIST where Debian's package is installed, else the embedded digits (28 x 28)."""
    return "fashion-mnist" if find_fashion_mnist_dir() is not None else "digits-784"


def image_setup(
    dataset: str,
    data_dir: str | None,
    n_train: int | None,
    n_test: int | None,
    hidden: tuple[int, ...],
    seed: int,
    device: str = "cpu",
) -> tuple[TrainSetup, dict[str, Any]]:
    """The paper's DNN (input-hidden...-10, ReLU, cross-entropy) on an image data set.

    ``n_train``/``n_test`` are caps: a balanced, seeded subset of at most that many examples.
    ``dataset="auto"``: :func:`default_image_dataset`. The data and every model made live on
    ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:k``).
    """
    from .._device import resolve_device

    dev = resolve_device(device)
    if dataset == "auto":
        dataset = default_image_dataset()
    ds = load_image_dataset(dataset, data_dir, seed=seed)
    if (n_train is not None and n_train < len(ds.y_train)) or (n_test is not None and n_test < len(ds.y_test)):
        n_train = n_train if n_train is not None and n_train < len(ds.y_train) else None
        n_test = n_test if n_test is not None and n_test < len(ds.y_test) else None
        ds = load_image_dataset(dataset, data_dir, n_train=n_train, n_test=n_test, seed=seed)
    x, y = ds.tensors("train", device=dev)
    xt, yt = ds.tensors("test", device=dev)

    def make_model() -> nn.Module:
        return paper_dnn(input_dim=ds.n_features, hidden=hidden, num_classes=ds.num_classes, seed=seed).to(dev)

    def evaluate(model: nn.Module) -> dict[str, float]:
        logits = model(xt)
        return {
            "test_accuracy": float((logits.argmax(1) == yt).float().mean()),
            "test_loss": float(nn.functional.cross_entropy(logits, yt)),
        }

    setup = TrainSetup(
        make_model=make_model,
        take_batch=lambda idx: (x[idx.to(dev)], y[idx.to(dev)]),
        n_train=len(y),
        evaluate=evaluate,
        metric="test_accuracy",
        higher_is_better=True,
        criterion=nn.CrossEntropyLoss(),
    )
    info = {
        "dataset": ds.name,
        "source": ds.source,
        "n_train": len(y),
        "n_test": len(yt),
        "n_features": ds.n_features,
        "device": str(dev),
        "parameters": sum(p.numel() for p in make_model().parameters()),
    }
    return setup, info


def new_figure(ncols: int = 1, width: float = 5.5, height: float = 4.0):
    """A matplotlib figure on the Agg canvas (never touches the caller's backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def fmt(x: Any, digits: int = 3) -> str:
    """Compact number formatting for report tables ('-' for missing)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def block_hessian(model: nn.Module, batch: Any, block: str) -> Any:
    """The exact Hessian block of one parameter tensor (mean cross-entropy), as float64 numpy."""
    from ..curvature import LossProblem, compute_curvature

    res = compute_curvature(LossProblem(model, nn.CrossEntropyLoss()), batch, "hessian", {block: [block]})
    matrix = res[block].matrix
    assert matrix is not None  # an exact Hessian block is always dense
    return matrix.double().cpu().numpy()


def sgd_warmup(model: nn.Module, setup: TrainSetup, steps: int, batch_size: int, lr: float, seed: int) -> None:
    """Plain SGD steps (the early phase before Newton); deterministic batches from ``seed``."""
    import torch

    from .training import BatchSampler

    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sampler = BatchSampler(setup.n_train, batch_size, seed)
    for _ in range(steps):
        batch = setup.take_batch(sampler.next())
        opt.zero_grad()
        setup.loss(model, batch).backward()
        opt.step()
