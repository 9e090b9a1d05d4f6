"""Image classification data: scikit-learn's bundled digits, Fashion-MNIST from Debian, and any
MNIST-format (IDX) data at a path the user gives. Nothing is downloaded.

Every loader returns an :class:`ImageDataset`: float32 features (normalized), int64 labels, a train
and a test split, and helpers that give torch tensors, a ``TensorDataset`` or a seeded
``DataLoader``.

Sources:

* ``"digits"``: :func:`sklearn.datasets.load_digits` (1797 8x8 images, 16 grey levels, 10 classes),
  shipped inside scikit-learn, so it is always there; the embedded default. No official split, so
  a stratified, seeded split (``test_fraction``, default 0.2) is made.
* ``"digits-784"``: the same images brought to MNIST's 28x28 = 784 features so the Q-Newton paper's
  784-16-16-10 DNN (Sec. V-A, Table I) runs on them unchanged: each pixel is replicated into a 3x3
  block (8x8 -> 24x24, nearest-neighbour, so averaging the blocks gives the original back) and a
  2-pixel zero border is added (24x24 -> 28x28), like MNIST's empty border. Note for curvature
  work: every 784-feature image is a linear function of 64 numbers, so the input covariance has
  rank <= 64 and the first layer's Hessian block (12544 x 12544) is far more singular than on
  MNIST; regularize (the paper's epsilon * I, Sec. V-E) before inverting it.
* ``"fashion-mnist"``: Debian's ``dataset-fashion-mnist`` (gzipped IDX files found with
  ``dpkg -L dataset-fashion-mnist``, normally under ``/usr/share/datasets/fashion-mnist``), or
  ``data_dir``.
* ``"mnist"`` / ``"idx"``: the four standard IDX files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or
  ``.gz``; the ``train-images.idx3-ubyte`` spelling is accepted too) in ``data_dir`` or
  ``data_dir/raw``. ``"mnist"`` checks for 10 classes; ``"idx"`` infers the class count.
* ``"npz"``: any image set saved as one NumPy ``.npz`` (:func:`load_npz_dataset`): grey or colour
  images (e.g. CIFAR-100, 32x32x3, 100 classes, converted once by the user; see there).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from .._validation import check_fraction, check_int_range
from ..errors import DataFormatError, InvalidArgumentError, MissingDependencyError
from .idx import read_idx

__all__ = [
    "FASHION_MNIST_CLASSES",
    "ImageDataset",
    "available_image_datasets",
    "balanced_subset",
    "find_fashion_mnist_dir",
    "find_idx_files",
    "load_digits_dataset",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_idx_pair",
    "load_image_dataset",
    "load_npz_dataset",
    "upsample_digits_to_28",
]

Normalization = Literal["unit", "standardize", "none"]
Split = Literal["train", "test"]

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
_DEBIAN_PACKAGE = "dataset-fashion-mnist"
_IDX_KEYS = {
    "train_images": ("train", "images", 3),
    "train_labels": ("train", "labels", 1),
    "test_images": ("t10k", "images", 3),
    "test_labels": ("t10k", "labels", 1),
}


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A normalized image-classification data set with a train and a test split.

    Attributes:
        name: registry name (``"digits"``, ``"fashion-mnist"``, ...).
        x_train, x_test: float32 features, shape (n, C*H*W) when flattened, else (n, C, H, W).
        y_train, y_test: int64 labels in [0, num_classes).
        num_classes: number of classes.
        image_shape: (H, W) of one image.
        source: where the data came from (a path or the scikit-learn function).
        normalization: ``"unit"``, ``"standardize"`` or ``"none"`` (see :func:`load_image_dataset`).
        class_names: one name per class.
        stats: facts about the preparation (scale, mean, std, split seed, subset sizes).
        channels: C, colour channels per image (1 for grey images, 3 for RGB).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    image_shape: tuple[int, int]
    source: str
    normalization: str
    class_names: tuple[str, ...] = ()
    stats: dict[str, float | int | str | None] = field(default_factory=dict)
    channels: int = 1

    @property
    def n_features(self) -> int:
        """Features per sample (C*H*W): 64 for digits, 784 for MNIST-format data, 3072 for CIFAR."""
        return int(self.channels * self.image_shape[0] * self.image_shape[1])

    def arrays(self, split: Split = "train") -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` numpy arrays of ``split`` (``"train"`` or ``"test"``)."""
        if split == "train":
            return self.x_train, self.y_train
        if split == "test":
            return self.x_test, self.y_test
        raise InvalidArgumentError(f"`split` must be 'train' or 'test', got {split!r}.")

    def tensors(
        self, split: Split = "train", device: str | torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` torch tensors (float32, int64) of ``split``, on ``device``."""
        x, y = self.arrays(split)
        return torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)

    def tensor_dataset(self, split: Split = "train") -> TensorDataset:
        """A ``TensorDataset`` of ``(x, y)``: each item is one image and its label."""
        return TensorDataset(*self.tensors(split))

    def loader(
        self,
        split: Split = "train",
        batch_size: int = 128,
        shuffle: bool | None = None,
        seed: int = 0,
        drop_last: bool = False,
    ) -> DataLoader:
        """A ``DataLoader`` of ``(x, y)`` batches; shuffled (train split by default) by a generator
        seeded with ``seed``, so two loaders with one seed give the same batches."""
        check_int_range(batch_size, "batch_size", 1, 2**31 - 1)
        if shuffle is None:
            shuffle = split == "train"
        gen = torch.Generator().manual_seed(int(seed))
        return DataLoader(
            self.tensor_dataset(split),
            batch_size=batch_size,
            shuffle=shuffle,
            generator=gen,
            drop_last=drop_last,
        )


# --- IDX files -----------------------------------------------------------------------------------


def load_idx_pair(
    images_path: str | os.PathLike[str],
    labels_path: str | os.PathLike[str],
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read one images file and its labels file and check that they belong together.

    Args:
        images_path: IDX file of shape (n, H, W).
        labels_path: IDX file of shape (n,), integer dtype.
        num_classes: labels must lie in [0, num_classes); ``None`` only requires labels >= 0.

    Returns:
        ``(images, labels)``: images in the file's dtype (uint8 for MNIST), labels as int64.

    Raises:
        DataFormatError: any :func:`read_idx` error; a labels file passed as images or the other
            way round; label count != image count; labels out of range or not integers.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim == 1:
        raise DataFormatError(
            f"{str(images_path)!r} holds a 1-D array of {images.shape[0]} values, which is what a "
            f"labels file holds; pass the images file (e.g. train-images-idx3-ubyte) as `images_path`."
        )
    if images.ndim != 3:
        raise DataFormatError(
            f"{str(images_path)!r} holds an array of shape {images.shape}; an images file holds (n, height, width)."
        )
    if labels.ndim != 1:
        raise DataFormatError(
            f"{str(labels_path)!r} holds an array of shape {labels.shape}, which looks like images; "
            f"pass the labels file (e.g. train-labels-idx1-ubyte, shape (n,)) as `labels_path`."
        )
    if labels.dtype.kind not in "iu":
        raise DataFormatError(f"{str(labels_path)!r} holds {labels.dtype} values; labels must be integers.")
    if labels.shape[0] != images.shape[0]:
        raise DataFormatError(
            f"{str(labels_path)!r} holds {labels.shape[0]} labels but {str(images_path)!r} holds "
            f"{images.shape[0]} images; the two files are not a pair (train vs t10k mixed up?)."
        )
    labels = labels.astype(np.int64)
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        top = num_classes if num_classes is not None else None
        if lo < 0 or (top is not None and hi >= top):
            rng = f"[0, {top})" if top is not None else ">= 0"
            raise DataFormatError(
                f"{str(labels_path)!r} holds labels from {lo} to {hi}, outside {rng}. Is it the "
                f"labels file of this data set (or is `num_classes` wrong)?"
            )
    return images, labels


def find_idx_files(data_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Locate the four standard MNIST-format files in ``data_dir`` (or ``data_dir/raw``).

    Accepted names, each raw or ``.gz``: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, and the same with ``.idx`` for
    ``-idx`` (``train-images.idx3-ubyte``).

    Returns:
        ``{"train_images", "train_labels", "test_images", "test_labels"} -> Path``.

    Raises:
        InvalidArgumentError: ``data_dir`` is not a directory or a file is missing.
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(f"`data_dir` {str(root)!r} is not a directory.")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, (prefix, kind, nd) in _IDX_KEYS.items():
        names = [f"{prefix}-{kind}-idx{nd}-ubyte", f"{prefix}-{kind}.idx{nd}-ubyte"]
        cands = [d / (n + s) for d in (root, root / "raw") for n in names for s in ("", ".gz")]
        hit = next((c for c in cands if c.is_file()), None)
        if hit is None:
            missing.append(f"{names[0]}[.gz]")
        else:
            found[key] = hit
    if missing:
        raise InvalidArgumentError(
            f"`data_dir` {str(root)!r} lacks {', '.join(missing)}. Pass the directory that holds the "
            f"four MNIST-format files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; raw or .gz)."
        )
    return found


@functools.lru_cache(maxsize=1)
def _dpkg_fashion_dir() -> Path | None:
    if shutil.which("dpkg") is None:
        return None
    try:
        out = subprocess.run(["dpkg", "-L", _DEBIAN_PACKAGE], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    for line in out.stdout.splitlines():
        p = Path(line.strip())
        if p.name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"):
            return p.parent
    return None


def find_fashion_mnist_dir() -> Path | None:
    """Directory of Debian's Fashion-MNIST files, or ``None`` when the package is not installed.

    Asks ``dpkg -L dataset-fashion-mnist`` first, then looks at the package's usual directory
    ``/usr/share/datasets/fashion-mnist`` (for systems without dpkg that copied the files there).
    """
    d = _dpkg_fashion_dir()
    if d is not None and d.is_dir():
        return d
    if (FASHION_MNIST_DEFAULT_DIR / "train-images-idx3-ubyte.gz").is_file():
        return FASHION_MNIST_DEFAULT_DIR
    return None


# --- shared preparation --------------------------------------------------------------------------


def balanced_subset(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` samples, classes as balanced as the data allow, chosen by ``seed``.

    The samples are shuffled by ``seed`` and then dealt round-robin over the classes (the first of
    every class, then the second of every class, ...), and the first ``n`` are taken. So class
    counts differ by at most one while every class has enough samples, and the subsets for one
    seed are nested: the subset of size n is a prefix of the subset of size n + k.

    >>> balanced_subset(np.array([0, 0, 0, 0, 1, 1]), 4, seed=0).size
    4
    """
    y = np.asarray(labels)
    check_int_range(n, "n", 1, max(1, y.shape[0]), "It cannot exceed the number of samples in the split.")
    perm = np.random.default_rng(seed).permutation(y.shape[0])
    yp = y[perm]
    rank = np.empty(yp.shape[0], dtype=np.int64)
    for c in np.unique(yp):
        where = np.flatnonzero(yp == c)
        rank[where] = np.arange(where.size)
    order = np.lexsort((np.arange(yp.shape[0]), rank))
    return perm[order[:n]]


def _finish(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    max_value: float,
    num_classes: int,
    source: str,
    normalization: Normalization,
    n_train: int | None,
    n_test: int | None,
    seed: int,
    flatten: bool,
    class_names: tuple[str, ...] = (),
    extra_stats: dict | None = None,
) -> ImageDataset:
    """Normalize (statistics from the whole training split), take subsets, shape, wrap.

    Images are (n, H, W) grey or (n, C, H, W) channels-first."""
    if normalization not in ("unit", "standardize", "none"):
        raise InvalidArgumentError(f"`normalization` must be 'unit', 'standardize' or 'none', got {normalization!r}.")
    channels = int(x_train.shape[1]) if x_train.ndim == 4 else 1
    image_shape = (int(x_train.shape[-2]), int(x_train.shape[-1]))
    scale = float(max_value) if normalization != "none" else 1.0
    xtr = x_train.astype(np.float32) / np.float32(scale)
    xte = x_test.astype(np.float32) / np.float32(scale)
    mean: float | None = None
    std: float | None = None
    if normalization == "standardize":
        # one scalar mean/std from the whole training split, the usual MNIST recipe (0.1307/0.3081)
        mean = float(xtr.mean(dtype=np.float64))
        std = float(xtr.std(dtype=np.float64)) or 1.0
        xtr = (xtr - np.float32(mean)) / np.float32(std)
        xte = (xte - np.float32(mean)) / np.float32(std)
    ytr, yte = y_train.astype(np.int64), y_test.astype(np.int64)
    if n_train is not None:
        idx = balanced_subset(ytr, n_train, seed=seed)
        xtr, ytr = xtr[idx], ytr[idx]
    if n_test is not None:
        idx = balanced_subset(yte, n_test, seed=seed + 1)
        xte, yte = xte[idx], yte[idx]
    if flatten:
        xtr, xte = xtr.reshape(xtr.shape[0], -1), xte.reshape(xte.shape[0], -1)
    elif channels == 1 and xtr.ndim == 3:
        xtr, xte = xtr[:, None], xte[:, None]
    stats: dict[str, float | int | str | None] = {
        "scale": scale,
        "mean": mean,
        "std": std,
        "seed": seed,
        "n_train": len(ytr),
        "n_test": len(yte),
    }
    stats.update(extra_stats or {})
    return ImageDataset(
        name=name,
        x_train=np.ascontiguousarray(xtr),
        y_train=ytr,
        x_test=np.ascontiguousarray(xte),
        y_test=yte,
        num_classes=num_classes,
        image_shape=image_shape,
        source=source,
        normalization=normalization,
        class_names=class_names or tuple(str(i) for i in range(num_classes)),
        stats=stats,
        channels=channels,
    )


def _dtype_max(a: np.ndarray) -> float:
    """The value 'unit' normalization divides by: the dtype's maximum for integers (255 for
    uint8), 1 for floats (assumed already scaled)."""
    if a.dtype.kind in "iu":
        return float(np.iinfo(a.dtype).max)
    return 1.0


# --- loaders -------------------------------------------------------------------------------------


def upsample_digits_to_28(images: np.ndarray) -> np.ndarray:
    """8x8 digits -> 28x28: 3x3 pixel replication (24x24) and a 2-pixel zero border."""
    up = np.repeat(np.repeat(images, 3, axis=1), 3, axis=2)
    return np.pad(up, ((0, 0), (2, 2), (2, 2)))


def load_digits_dataset(
    *,
    image_size: int = 8,
    test_fraction: float = 0.2,
    normalization: Normalization = "unit",
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    flatten: bool = True,
) -> ImageDataset:
    """scikit-learn's bundled digits (1797 images, 10 classes), split by ``seed``.

    Args:
        image_size: 8 (the raw 64 features) or 28 (784 features, for the paper's 784-16-16-10 DNN;
            see the module docstring for how the images are enlarged).
        test_fraction: share of the images in the test split; the split is stratified by class
            (:func:`sklearn.model_selection.train_test_split` with ``random_state=seed``).
        normalization: ``"unit"`` divides by 16 (the digits' grey levels are 0..16);
            ``"standardize"`` then subtracts the training mean and divides by the training std.
        n_train: keep a balanced, seeded subset of this many training samples.
        n_test: keep a balanced, seeded subset of this many test samples.
        seed: split and subset seed.
        flatten: (n, H*W) features if True, (n, 1, H, W) images if False.

    Raises:
        InvalidArgumentError: a bad ``image_size``, fraction or subset size.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if image_size not in (8, 28):
        raise InvalidArgumentError(f"`image_size` must be 8 or 28, got {image_size!r}.")
    check_fraction(test_fraction, "test_fraction")
    if test_fraction >= 1.0:
        raise InvalidArgumentError(f"`test_fraction` must be < 1, got {test_fraction!r}.")
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # integer grey levels 0..16, stored as float64
    y = bunch.target.astype(np.int64)
    if image_size == 28:
        images = upsample_digits_to_28(images)
    xtr, xte, ytr, yte = train_test_split(
        images, y, test_size=test_fraction, random_state=seed, stratify=y, shuffle=True
    )
    return _finish(
        "digits" if image_size == 8 else "digits-784",
        xtr,
        ytr,
        xte,
        yte,
        max_value=16.0,
        num_classes=10,
        source="sklearn.datasets.load_digits" + (" (3x3 replicated, 2-px border, 28x28)" * (image_size == 28)),
        normalization=normalization,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        flatten=flatten,
        extra_stats={"test_fraction": test_fraction},
    )


def load_idx_dataset(
    data_dir: str | os.PathLike[str],
    *,
    name: str = "idx",
    num_classes: int | None = None,
    normalization: Normalization = "unit",
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    flatten: bool = True,
    class_names: tuple[str, ...] = (),
) -> ImageDataset:
    """MNIST-format data from the four standard IDX files in ``data_dir`` (official train/test
    split; ``seed`` only picks the subsets).

    Args:
        data_dir: directory with the files (see :func:`find_idx_files`).
        name: name recorded in the result.
        num_classes: expected class count (labels are checked against it); ``None`` infers
            max(label) + 1 over both splits.
        normalization: ``"unit"`` divides by the dtype's maximum (255 for uint8; floats are left
            as they are); ``"standardize"`` then applies the training mean/std.
        n_train: as in :func:`load_digits_dataset`.
        n_test: as in :func:`load_digits_dataset`.
        seed: as in :func:`load_digits_dataset`.
        flatten: as in :func:`load_digits_dataset`.

    Raises:
        InvalidArgumentError: the directory or a file is missing.
        DataFormatError: a file is truncated, corrupt, mislabelled or out of range.
    """
    files = find_idx_files(data_dir)
    if num_classes is not None:
        check_int_range(num_classes, "num_classes", 1, 2**31 - 1)
    xtr, ytr = load_idx_pair(files["train_images"], files["train_labels"], num_classes)
    xte, yte = load_idx_pair(files["test_images"], files["test_labels"], num_classes)
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataFormatError(
            f"train images are {xtr.shape[1:]} but test images are {xte.shape[1:]} in "
            f"{str(data_dir)!r}; the files come from different data sets."
        )
    if num_classes is None:
        num_classes = int(max(ytr.max(initial=-1), yte.max(initial=-1))) + 1
    return _finish(
        name,
        xtr,
        ytr,
        xte,
        yte,
        max_value=_dtype_max(xtr),
        num_classes=num_classes,
        source=str(Path(data_dir).expanduser()),
        normalization=normalization,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        flatten=flatten,
        class_names=class_names,
    )


#: Key pairs :func:`load_npz_dataset` accepts, in the order it tries them.
NPZ_SPLIT_KEYS = (
    ("x_train", "y_train", "x_test", "y_test"),
    ("train_images", "train_labels", "test_images", "test_labels"),
)
NPZ_SINGLE_KEYS = (("images", "labels"), ("x", "y"), ("data", "labels"))


def _channels_first(images: np.ndarray, where: str) -> np.ndarray:
    """(n, H, W) stays; (n, H, W, C) with C in 1..4 becomes (n, C, H, W); (n, C, H, W) stays."""
    if images.ndim == 3:
        return images
    if images.ndim != 4:
        raise DataFormatError(
            f"{where} holds images of shape {images.shape}; expected (n, H, W), (n, H, W, C) or (n, C, H, W)."
        )
    if images.shape[-1] in (1, 2, 3, 4) and images.shape[1] not in (1, 2, 3, 4):
        images = np.moveaxis(images, -1, 1)
    if images.shape[1] == 1:
        return images[:, 0]
    return np.ascontiguousarray(images)


def load_npz_dataset(
    path: str | os.PathLike[str],
    *,
    name: str = "npz",
    num_classes: int | None = None,
    normalization: Normalization = "unit",
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    flatten: bool = True,
    test_fraction: float = 0.2,
    class_names: tuple[str, ...] = (),
) -> ImageDataset:
    """An image classification set stored in one NumPy ``.npz`` file (nothing is downloaded).

    Accepted contents: ``x_train, y_train, x_test, y_test`` (or ``train_images, train_labels,
    test_images, test_labels``): the file's own split; or one set ``images, labels`` (or ``x, y``;
    ``data, labels``), split stratified by ``seed`` with ``test_fraction``. Images may be (n, H, W),
    (n, H, W, C) or (n, C, H, W) (uint8, or floats already in [0, 1]); labels integers in
    [0, num_classes). Optional ``class_names``: an array of strings.

    CIFAR-100 (Krizhevsky 2009), python version (``cifar-100-python.tar.gz``), converts once with::

        import pickle, numpy as np
        d = {s: pickle.load(open(f"cifar-100-python/{s}", "rb"), encoding="bytes") for s in ("train", "test")}
        np.savez("cifar100.npz", **{f"x_{s}": d[s][b"data"].reshape(-1, 3, 32, 32) for s in d},
                 **{f"y_{s}": np.array(d[s][b"fine_labels"]) for s in d})

    (unpickling runs code from the file: do it only on the official archive) and then loads with
    ``load_image_dataset("npz", "cifar100.npz")`` (32 x 32 x 3 = 3072 features, 100 classes).

    Args:
        path: the ``.npz`` file, or a directory holding exactly one.
        name: as in :func:`load_idx_dataset`.
        num_classes: as in :func:`load_idx_dataset`.
        normalization: as in :func:`load_idx_dataset`.
        n_train: as in :func:`load_idx_dataset`.
        n_test: as in :func:`load_idx_dataset`.
        seed: as in :func:`load_idx_dataset`.
        flatten: as in :func:`load_idx_dataset`.
        class_names: as in :func:`load_idx_dataset`.
        test_fraction: share held out when the file has no split.

    Raises:
        InvalidArgumentError: no such file, or a directory without exactly one ``.npz``.
        DataFormatError: missing keys, mismatched counts, bad shapes or labels.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        files = sorted(p.glob("*.npz"))
        if len(files) != 1:
            raise InvalidArgumentError(
                f"`data_dir` {str(p)!r} holds {len(files)} .npz files; pass the file itself "
                "(e.g. --data-dir cifar100.npz)."
            )
        p = files[0]
    if not p.is_file():
        raise InvalidArgumentError(f"`data_dir` {str(p)!r} is not a .npz file or a directory holding one.")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{str(p)!r} is not a readable NumPy .npz file ({exc}).") from exc
    where = repr(str(p))
    keys = next((ks for ks in NPZ_SPLIT_KEYS if all(k in arrays for k in ks)), None)
    if keys is not None:
        xtr, ytr, xte, yte = (arrays[k] for k in keys)
    else:
        single = next((ks for ks in NPZ_SINGLE_KEYS if all(k in arrays for k in ks)), None)
        if single is None:
            raise DataFormatError(
                f"{where} holds the arrays {sorted(arrays)}; expected x_train, y_train, x_test, y_test "
                "(or images, labels)."
            )
        from sklearn.model_selection import train_test_split

        check_fraction(test_fraction, "test_fraction")
        x_all, y_all = arrays[single[0]], arrays[single[1]]
        if x_all.shape[0] != y_all.reshape(-1).shape[0]:
            raise DataFormatError(f"{where}: {x_all.shape[0]} images but {y_all.size} labels.")
        xtr, xte, ytr, yte = train_test_split(
            x_all, y_all.reshape(-1), test_size=test_fraction, random_state=seed, stratify=y_all.reshape(-1)
        )
    xtr, xte = _channels_first(xtr, where), _channels_first(xte, where)
    ytr, yte = np.asarray(ytr).reshape(-1), np.asarray(yte).reshape(-1)
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataFormatError(f"{where}: train images are {xtr.shape[1:]}, test images {xte.shape[1:]}.")
    for x, y, split in ((xtr, ytr, "train"), (xte, yte, "test")):
        if y.dtype.kind not in "iu":
            raise DataFormatError(f"{where}: the {split} labels are {y.dtype}; labels must be integers.")
        if x.shape[0] != y.shape[0]:
            raise DataFormatError(f"{where}: {x.shape[0]} {split} images but {y.shape[0]} labels.")
    top = int(max(ytr.max(initial=-1), yte.max(initial=-1))) + 1
    if num_classes is None:
        num_classes = top
    check_int_range(num_classes, "num_classes", 1, 2**31 - 1)
    if min(ytr.min(initial=0), yte.min(initial=0)) < 0 or top > num_classes:
        raise DataFormatError(f"{where}: labels outside [0, {num_classes}).")
    if not class_names and "class_names" in arrays:
        class_names = tuple(str(c) for c in arrays["class_names"].reshape(-1))
    return _finish(
        name,
        xtr,
        ytr,
        xte,
        yte,
        max_value=_dtype_max(xtr),
        num_classes=num_classes,
        source=str(p),
        normalization=normalization,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        flatten=flatten,
        class_names=class_names,
    )


def load_fashion_mnist(data_dir: str | os.PathLike[str] | None = None, **kwargs) -> ImageDataset:
    """Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60000 + 10000 28x28 images, 10 classes.

    Read from ``data_dir`` when given, else from Debian's ``dataset-fashion-mnist`` package
    (REFERENCE.md section 7). Keyword arguments go to :func:`load_idx_dataset`.

    Raises:
        MissingDependencyError: no ``data_dir`` and the Debian package is not installed.
    """
    if data_dir is None:
        data_dir = find_fashion_mnist_dir()
        if data_dir is None:
            raise MissingDependencyError(
                "Fashion-MNIST is not installed: run `apt-get install dataset-fashion-mnist` "
                "(Debian/Ubuntu; the files land in /usr/share/datasets/fashion-mnist), or pass "
                "`data_dir` pointing at the four IDX files (train-images-idx3-ubyte.gz, ...)."
            )
    return load_idx_dataset(data_dir, name="fashion-mnist", num_classes=10, class_names=FASHION_MNIST_CLASSES, **kwargs)


def _load_mnist(data_dir: str | os.PathLike[str] | None = None, **kwargs) -> ImageDataset:
    if data_dir is None:
        raise InvalidArgumentError(
            "`data_dir` is required for 'mnist': nothing is downloaded. Pass the directory holding "
            "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] "
            "and t10k-labels-idx1-ubyte[.gz]."
        )
    kwargs.setdefault("num_classes", 10)
    return load_idx_dataset(data_dir, name="mnist", **kwargs)


def _load_idx(data_dir: str | os.PathLike[str] | None = None, **kwargs) -> ImageDataset:
    if data_dir is None:
        raise InvalidArgumentError("`data_dir` is required for 'idx': the directory of the four IDX files.")
    return load_idx_dataset(data_dir, **kwargs)


def _load_npz(data_dir: str | os.PathLike[str] | None = None, **kwargs) -> ImageDataset:
    if data_dir is None:
        raise InvalidArgumentError("`data_dir` is required for 'npz': the .npz file (or a directory holding one).")
    return load_npz_dataset(data_dir, **kwargs)


def _load_digits(data_dir=None, **kwargs) -> ImageDataset:
    if data_dir is not None:
        raise InvalidArgumentError("`data_dir` is not used by 'digits' (bundled with scikit-learn); omit it.")
    return load_digits_dataset(**kwargs)


def _load_digits_784(data_dir=None, **kwargs) -> ImageDataset:
    kwargs.setdefault("image_size", 28)
    return _load_digits(data_dir, **kwargs)


_REGISTRY: dict[str, tuple[Callable[..., ImageDataset], str]] = {
    "digits": (_load_digits, "scikit-learn's bundled 8x8 digits, 64 features (embedded default)"),
    "digits-784": (_load_digits_784, "the digits enlarged to 28x28 = 784 features (paper DNN input)"),
    "fashion-mnist": (load_fashion_mnist, "Fashion-MNIST from Debian's dataset-fashion-mnist or data_dir"),
    "mnist": (_load_mnist, "MNIST from the four IDX files in data_dir (required)"),
    "idx": (_load_idx, "any MNIST-format IDX data in data_dir (class count inferred)"),
    "npz": (_load_npz, "images/labels in one NumPy .npz at data_dir (e.g. CIFAR-100, 32x32x3)"),
}


def available_image_datasets() -> dict[str, str]:
    """Registry names -> one-line descriptions."""
    return {k: v[1] for k, v in _REGISTRY.items()}


def load_image_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, **kwargs) -> ImageDataset:
    """Load an image data set by registry name.

    Args:
        name: ``"digits"``, ``"digits-784"``, ``"fashion-mnist"``, ``"mnist"``, ``"idx"`` or ``"npz"``.
        data_dir: directory of IDX files (required for mnist/idx, optional for fashion-mnist), or
            the ``.npz`` file for npz.
        **kwargs: ``normalization`` ("unit" | "standardize" | "none"), ``n_train``, ``n_test``,
            ``seed``, ``flatten``; digits also ``image_size``, ``test_fraction``; idx also
            ``num_classes``.

    Returns:
        An :class:`ImageDataset`.

    Raises:
        InvalidArgumentError: unknown name, missing ``data_dir``, bad option.
        MissingDependencyError: Fashion-MNIST is not installed and no ``data_dir`` was given.
        DataFormatError: a data file is malformed.

    >>> ds = load_image_dataset("digits", n_train=100, n_test=50)
    >>> ds.x_train.shape, ds.x_test.shape, ds.num_classes
    ((100, 64), (50, 64), 10)
    """
    key = name.lower().replace("_", "-")
    if key not in _REGISTRY:
        raise InvalidArgumentError(f"`name` must be one of {sorted(_REGISTRY)}, got {name!r}.")
    return _REGISTRY[key][0](data_dir, **kwargs)
