"""The fields the Carleman and spectrum study configs share, declared once (one name, one meaning,
one help text), like :mod:`qnewton.experiments._fields` for the Q-Newton experiments.

Each function returns a fresh ``dataclasses.Field`` (see :func:`qnewton._config.option`); the
command line (``qnewton spectrum``, ``carleman-error``, ``carleman-train``, ``carleman-cost``) is
generated from them by :mod:`qnewton.cli.carleman`.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from .._config import option

#: Image data sets of the model-scale (ResNet) studies: :func:`qnewton.carleman.scale.load_image_task`.
SCALE_DATASETS = ("fashion-mnist", "digits-784", "mnist", "idx", "npz")
#: Carleman solvers of the linear-network studies (:func:`qnewton.carleman.solve_carleman`).
CARLEMAN_SOLVERS = ("direct", "cholesky", "emulated", "emulated-noisy", "circuit")
#: The highest truncation order K accepted (the system grows like n^K).
MAX_K = 8


def _is_int(v: Any) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def finite(v: Any) -> str | None:
    """Check: a finite real number."""
    return None if isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(float(v)) else "must be finite"


def order(v: Any) -> str | None:
    """Check: a Carleman truncation order K in [1, MAX_K]."""
    return None if _is_int(v) and 1 <= int(v) <= MAX_K else f"must be an integer in [1, {MAX_K}]"


def unit_closed(v: Any) -> str | None:
    """Check: a number in [0, 1] (a tomography accuracy; 0 = exact readout)."""
    return None if isinstance(v, Real) and not isinstance(v, bool) and 0 <= float(v) <= 1 else "must be in [0, 1]"


def gate_time_check(v: Any) -> str | None:
    """Check: a gate-time preset name or a number of seconds > 0 (:func:`qnewton.cost.resolve_gate_time`)."""
    from ..cost import GATE_TIME_PRESETS, resolve_gate_time
    from ..errors import InvalidArgumentError

    try:
        resolve_gate_time(v)
    except (InvalidArgumentError, TypeError, ValueError):
        return f"must be a preset ({', '.join(GATE_TIME_PRESETS)}) or a number of seconds > 0 such as 1e-9"
    return None


def resnet_name(v: Any) -> str | None:
    """Check: ``resnet<depth>`` with depth 6 m + 2 (8, 14, 20, 32, ...)."""
    from ..errors import InvalidArgumentError
    from ..models.resnet import resnet_config

    try:
        resnet_config(v)
    except (InvalidArgumentError, TypeError, ValueError):
        return "must be resnet<depth> with depth 6 m + 2 (resnet8, resnet14, resnet20, resnet32, ...)"
    return None


# --- every study --------------------------------------------------------------------------------


def seed() -> Any:
    return option(
        0, "seed of the data split, the initialization, the batches, the probes and modeled noise", check="count"
    )


# --- the quantum cost model -------------------------------------------------------------------


def qlsa_eps(default: float = 1e-3) -> Any:
    return option(
        default,
        "precision of the QLSA's output state in the modeled query count",
        check="open-unit",
        aliases={"--eps": "--eps is the regularization (H + eps I) in the other commands"},
    )


def gate_time(default: str | float = "ghz") -> Any:
    return option(
        default,
        "time per QLSA query step: ibm_sherbrooke, ghz, thz, atto (the Q-Newton paper's 1e-18 s) or seconds",
        check=gate_time_check,
        metavar="PRESET_OR_SECONDS",
    )


# --- Carleman ---------------------------------------------------------------------------------


def K(default: int, help: str = "Carleman truncation order K") -> Any:
    return option(default, help, check=order)


def delta(default: float | None = 0.1) -> Any:
    return option(
        default, "l2 accuracy delta of the tomography of a downloaded window (0: exact readout)", check=unit_closed
    )


def norm_precision() -> Any:
    return option(0.01, "relative accuracy of the amplitude-estimated norm of a download", check="fraction")


def window(default: int) -> Any:
    return option(
        default, "SGD/GD steps T per window, between download and re-upload (the paper: 100)", check="natural"
    )


def pretrain_steps(default: int) -> Any:
    return option(default, "dense classical (S)GD steps before pruning", check="count")


# --- the ResNet studies ---------------------------------------------------------------------------


def resnet(default: str) -> Any:
    return option(
        default, "the network: resnet<depth>, depth 6 m + 2 (resnet8, resnet14, resnet20, ...)", check=resnet_name
    )


def width(default: int = 16) -> Any:
    return option(default, "channels of the ResNet's first stage (n grows like width^2)", check="natural")


def norm() -> Any:
    return option(
        "none", "normalization of the ResNet: none (norm-free) or batch (BatchNorm)", choices=("none", "batch")
    )


def scale_dataset(default: str = "fashion-mnist") -> Any:
    return option(
        default,
        "image data: fashion-mnist (Debian's package), digits-784, or mnist / idx / npz (with --data-dir)",
        choices=SCALE_DATASETS,
    )


def scale_data_dir() -> Any:
    return option(None, "folder of IDX files (--dataset mnist/idx) or the .npz file (--dataset npz)", metavar="PATH")


def eval_subset(which: str) -> Any:
    return option(1000, f"{which} images of the accuracy/loss evaluations (a seeded subset)", check="natural")


def check_scale_data(dataset: str, data_dir: str | None) -> None:
    """--dataset mnist/idx/npz read --data-dir (checked before anything is loaded)."""
    from ..errors import InvalidArgumentError

    if dataset in ("mnist", "idx", "npz") and not data_dir:
        raise InvalidArgumentError(
            f"`dataset` {dataset!r} reads its files from `data_dir`; pass --data-dir PATH (nothing is downloaded).",
            argument="data_dir",
        )


# --- the spectrum studies ---------------------------------------------------------------------


def checkpoints(default: tuple[int, ...]) -> Any:
    return option(default, "SGD steps at which the spectrum is measured", check="count")


def sgd_lr(default: float = 0.1) -> Any:
    return option(default, "SGD learning rate (also the eta of the dissipativity verdict)", check="positive")


def hessian_samples(default: int) -> Any:
    return option(default, "fixed training images the Hessian is the mean loss over", check="natural")


def num_probes(default: int) -> Any:
    return option(default, "SLQ: Rademacher probes", check="natural")


def lanczos_steps(default: int) -> Any:
    return option(default, "SLQ: Lanczos steps (Hessian-vector products) per probe", check="natural")


def prune_density() -> Any:
    return option(
        0.1,
        "share of weights kept by magnitude pruning for the pruned model's spectrum (the paper: 0.1)",
        check="fraction",
    )


def horizon() -> Any:
    return option(
        100, "re-upload window T of the dissipativity verdict's growth criterion (the paper: 100)", check="natural"
    )
