"""The fields every experiment config shares, declared once: one name, one meaning, one help text.

Each function returns a fresh ``dataclasses.Field`` (a field object cannot be shared between
classes); the experiment configs call them with their own defaults. The command line is generated
from these fields (``qnewton.cli._options``), so every subcommand spells and explains an option the
same way.
"""

from __future__ import annotations

from typing import Any

from .._config import option

#: Image data sets an experiment can train on (``auto``: Fashion-MNIST when Debian's package is
#: installed, else the embedded digits at 28 x 28).
IMAGE_DATASETS = ("auto", "digits", "digits-784", "fashion-mnist", "mnist", "idx")
#: The default regularization eps per model family (docs/RESULTS.md, Fig. 8 and Table IV): the
#: paper's 1.0 on our normalized inputs swamps the MLP's Hessian (entries ~1e-3).
DEFAULT_EPS = {"mlp": 0.05, "transformer": 0.5}


def dataset(default: str = "auto") -> Any:
    return option(
        default,
        "image data: auto (fashion-mnist if installed, else digits-784), digits, digits-784, fashion-mnist, "
        "mnist or idx (the last two need --data-dir)",
        choices=IMAGE_DATASETS,
    )


def data_dir() -> Any:
    return option(None, "folder with the IDX files of --dataset mnist/idx (gzip or raw)", metavar="DIR")


def n_train(default: int | None = None) -> Any:
    return option(default, "use a balanced, seeded subset of at most this many training images", check="natural")


def n_test(default: int | None = 2000) -> Any:
    return option(default, "evaluate on at most this many test images (balanced, seeded)", check="natural")


def hidden(default: tuple[int, ...] = (16, 16)) -> Any:
    return option(default, "hidden layer widths of the DNN (the paper's: 16 16)", check="natural")


def batch_size(default: int = 256) -> Any:
    return option(default, "mini-batch size", check="natural")


def warmup_steps(default: int = 20) -> Any:
    return option(
        default, "plain SGD steps before the Newton steps (the paper's early phase, Sec. IV-B)", check="count"
    )


def newton_steps(default: int = 20) -> Any:
    return option(default, "Newton steps after the warm-up", check="count")


def sgd_lr(default: float = 0.1) -> Any:
    return option(default, "SGD learning rate (the SGD arm and the Newton arms' warm-up)", check="positive")


def sgd_momentum(default: float = 0.9) -> Any:
    return option(default, "SGD momentum", check=lambda v: None if 0 <= v < 1 else "must be in [0, 1)")


def newton_lr(default: float = 1.0) -> Any:
    return option(default, "Newton step size beta (the line search starts from it)", check="positive", flag="--lr")


def eps(default: float = DEFAULT_EPS["mlp"]) -> Any:
    return option(
        default,
        "regularization: every route solves (H + eps I) x = g (the paper used 1.0 on its data; see docs/RESULTS.md)",
        check="positive",
    )


def line_search(default: bool = True) -> Any:
    return option(default, "Armijo backtracking on the step's batch (off: the paper's fixed step lr)")


def d() -> Any:
    return option(None, "oracle sparsity d: nonzeros kept per row by the quantum route's pruning", check="natural")


def d_ratio() -> Any:
    return option(
        None,
        "oracle sparsity as a fraction of N: d = ceil(ratio N); 1 keeps every entry (neither --d nor --d-ratio: "
        "the paper's 50%%-sparsity rule)",
        check="fraction",
        aliases={"--sparsity": "it meant d/N here but d in `train`"},
    )


def eval_every(default: int = 5) -> Any:
    return option(default, "evaluate every this many steps", check="natural")


def seed() -> Any:
    return option(0, "seed of the model, the batches and the quantum route's noise", check="count")


def check_image_data(dataset_name: str, data_dir_value: str | None) -> None:
    """--dataset mnist/idx need --data-dir (checked before anything is loaded)."""
    from ..errors import InvalidArgumentError

    if dataset_name in ("mnist", "idx") and not data_dir_value:
        raise InvalidArgumentError(
            f"`dataset` {dataset_name!r} reads IDX files from `data_dir`; pass --data-dir DIR (nothing is downloaded).",
            argument="data_dir",
        )


def sparsity_of(d_value: int | None, ratio: float | None) -> int | float | None:
    """The optimizer's ``sparsity=`` from --d / --d-ratio (None: the 50 %-sparsity rule)."""
    from ..errors import InvalidArgumentError

    if d_value is not None and ratio is not None:
        raise InvalidArgumentError("`d` and `d_ratio` both given; pass one of them.", argument="d")
    return d_value if d_value is not None else ratio


def quantum_model() -> Any:
    return option(
        "paper",
        "paper: logical queries x gate time; fault-tolerant: data loading, error correction and physical "
        "resources through the Azure Quantum Resource Estimator (needs qnewton[ft])",
    )


def hardware() -> Any:
    return option("qubit_gate_ns_e4", "fault-tolerant hardware preset (with --quantum-model fault-tolerant)")


def data_loading() -> Any:
    return option("auto", "how the fault-tolerant model loads the matrix (qram-assumed is an assumption, labelled)")


def device() -> Any:
    return option("auto", "where the model, data and curvature live: auto (CUDA when available), cpu, cuda or cuda:<k>")


def check_device(value: str) -> None:
    """An unknown or absent device fails at construction (before anything is loaded)."""
    from .._device import resolve_device

    resolve_device(value)
