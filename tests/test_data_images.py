"""Image data sets: scikit-learn digits (the embedded default), Fashion-MNIST from Debian, subsets,
normalization and torch outputs. References: scikit-learn's own loader and split, numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import qnewton.data.images as images_mod
from qnewton.data import (
    ImageDataset,
    available_image_datasets,
    balanced_subset,
    find_fashion_mnist_dir,
    load_image_dataset,
    write_idx,
)
from qnewton.errors import InvalidArgumentError, MissingDependencyError


def test_registry_names():
    assert set(available_image_datasets()) >= {"digits", "digits-784", "fashion-mnist", "mnist", "idx"}
    with pytest.raises(InvalidArgumentError, match="name"):
        load_image_dataset("cifar10")


def test_digits_matches_sklearn_split():
    ds = load_image_dataset("digits", seed=7)
    bunch = load_digits()
    xtr, xte, ytr, yte = train_test_split(
        bunch.data, bunch.target, test_size=0.2, random_state=7, stratify=bunch.target
    )
    assert isinstance(ds, ImageDataset)
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_allclose(ds.x_train, xtr / 16.0, rtol=1e-6)
    np.testing.assert_allclose(ds.x_test, xte / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_train, ytr)
    np.testing.assert_array_equal(ds.y_test, yte)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() == 1.0
    # stratified: each class's share of the test split is its share of the data, +- one sample
    full = np.bincount(bunch.target)
    assert np.all(np.abs(np.bincount(ds.y_test) - full * 0.2) <= 1)


def test_digits_determinism_and_seed_dependence():
    a = load_image_dataset("digits", seed=1)
    b = load_image_dataset("digits", seed=1)
    c = load_image_dataset("digits", seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)
    # train and test are a partition of the 1797 images, whatever the seed
    rows = np.concatenate([c.x_train, c.x_test]) * 16
    ref = load_digits().data
    assert sorted(map(bytes, rows.astype(np.uint8))) == sorted(map(bytes, ref.astype(np.uint8)))


def test_digits_784_is_replicated_and_padded():
    small = load_image_dataset("digits", seed=3, flatten=False)
    big = load_image_dataset("digits-784", seed=3, flatten=False)
    assert big.x_train.shape == (1437, 1, 28, 28) and big.n_features == 784
    assert big.image_shape == (28, 28)
    x = big.x_train[:, 0]
    border = np.ones((28, 28), bool)
    border[2:26, 2:26] = False
    assert np.all(x[:, border] == 0)
    inner = x[:, 2:26, 2:26].reshape(-1, 8, 3, 8, 3)
    # each 3x3 block is constant and equals the original pixel
    np.testing.assert_array_equal(inner.max(axis=(2, 4)), inner.min(axis=(2, 4)))
    np.testing.assert_allclose(inner.mean(axis=(2, 4)), small.x_train[:, 0], rtol=1e-6)
    flat = load_image_dataset("digits", image_size=28, seed=3)
    assert flat.x_train.shape == (1437, 784)


def test_standardize_uses_training_statistics():
    ds = load_image_dataset("digits", normalization="standardize")
    assert abs(float(ds.x_train.mean())) < 1e-5
    assert abs(float(ds.x_train.std()) - 1.0) < 1e-5
    raw = load_image_dataset("digits", normalization="none")
    assert raw.x_train.max() == 16.0
    expect = (raw.x_test / 16.0 - ds.stats["mean"]) / ds.stats["std"]
    np.testing.assert_allclose(ds.x_test, expect, rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="normalization"):
        load_image_dataset("digits", normalization="zscore")


def test_balanced_subset_properties():
    y = np.repeat(np.arange(10), [50, 60, 70, 80, 90, 100, 110, 120, 130, 5])
    idx = balanced_subset(y, 95, seed=0)
    assert len(np.unique(idx)) == 95
    counts = np.bincount(y[idx], minlength=10)
    assert counts[9] == 5 and counts[:9].max() - counts[:9].min() <= 1  # class 9 runs out at 5
    np.testing.assert_array_equal(balanced_subset(y, 40, seed=0), idx[:40])  # nested
    np.testing.assert_array_equal(balanced_subset(y, 95, seed=0), idx)  # deterministic
    assert not np.array_equal(balanced_subset(y, 95, seed=1), idx)
    with pytest.raises(InvalidArgumentError, match="`n`"):
        balanced_subset(y, len(y) + 1)


def test_subset_option():
    ds = load_image_dataset("digits", n_train=100, n_test=30, seed=5)
    assert ds.x_train.shape == (100, 64) and ds.x_test.shape == (30, 64)
    assert np.bincount(ds.y_train).tolist() == [10] * 10
    again = load_image_dataset("digits", n_train=100, n_test=30, seed=5)
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    full = load_image_dataset("digits", seed=5)
    # the subset rows are rows of the full training split
    assert {bytes(r) for r in ds.x_train} <= {bytes(r) for r in full.x_train}


def test_torch_outputs_and_seeded_loader():
    ds = load_image_dataset("digits", n_train=64)
    x, y = ds.tensors("train")
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (64, 64)
    tds = ds.tensor_dataset("test")
    assert len(tds) == 360
    b1 = [yb.tolist() for _, yb in ds.loader("train", batch_size=16, seed=3)]
    b2 = [yb.tolist() for _, yb in ds.loader("train", batch_size=16, seed=3)]
    b3 = [yb.tolist() for _, yb in ds.loader("train", batch_size=16, seed=4)]
    assert b1 == b2 and b1 != b3
    assert sorted(v for b in b1 for v in b) == sorted(ds.y_train.tolist())
    with pytest.raises(InvalidArgumentError, match="split"):
        ds.arrays("valid")


def test_digits_rejects_bad_options():
    with pytest.raises(InvalidArgumentError, match="image_size"):
        load_image_dataset("digits", image_size=16)
    with pytest.raises(InvalidArgumentError, match="test_fraction"):
        load_image_dataset("digits", test_fraction=1.0)
    with pytest.raises(InvalidArgumentError, match="data_dir"):
        load_image_dataset("digits", data_dir="/tmp")


# --- Fashion-MNIST ------------------------------------------------------------------------------


def test_fashion_mnist_missing_gives_install_hint(monkeypatch):
    monkeypatch.setattr(images_mod, "find_fashion_mnist_dir", lambda: None)
    with pytest.raises(MissingDependencyError, match="apt-get install dataset-fashion-mnist"):
        load_image_dataset("fashion-mnist")


def test_fashion_mnist_from_data_dir(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (30, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", (np.arange(30) % 10).astype(np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    ds = load_image_dataset("fashion-mnist", data_dir=tmp_path)
    assert ds.name == "fashion-mnist" and ds.class_names[9] == "Ankle boot"
    assert ds.x_train.shape == (30, 784)


@pytest.fixture(scope="module")
def debian_fashion():
    d = find_fashion_mnist_dir()
    if d is None:
        pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    return d


def test_fashion_mnist_from_debian(debian_fashion):
    ds = load_image_dataset("fashion-mnist", normalization="unit")
    assert ds.source == str(debian_fashion)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    # published statistics of the Fashion-MNIST training images: mean 0.2860, std 0.3530
    assert abs(float(ds.x_train.mean(dtype=np.float64)) - 0.2860) < 5e-4
    assert abs(float(ds.x_train.std(dtype=np.float64)) - 0.3530) < 5e-4
    sub = load_image_dataset("fashion-mnist", n_train=200, n_test=50, seed=1)
    assert np.bincount(sub.y_train).tolist() == [20] * 10 and sub.x_test.shape == (50, 784)
