"""IDX reader/writer and MNIST-format loading, on files the tests write.

Reference: the IDX layout written by hand with ``struct`` (magic 00 00 <code> <ndim>, big-endian
uint32 dims, big-endian data), independent of ``write_idx``.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from qnewton.data import (
    find_idx_files,
    load_idx_dataset,
    load_idx_pair,
    load_image_dataset,
    read_idx,
    write_idx,
)
from qnewton.errors import DataFormatError, InvalidArgumentError, QNewtonError

CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def _hand_idx(a: np.ndarray) -> bytes:
    """IDX bytes built by hand, not by write_idx."""
    code = CODES[a.dtype.type]
    header = bytes([0, 0, code, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def _sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 1, 3, 2)])
def test_read_matches_hand_written_bytes(tmp_path, dtype, shape):
    a = _sample(dtype, shape)
    f = tmp_path / "x-idx"
    f.write_bytes(_hand_idx(a))
    b = read_idx(f)
    assert b.dtype == np.dtype(dtype)  # native byte order, the header's type
    assert b.dtype.isnative
    np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_write_read_round_trip(tmp_path, dtype, suffix):
    a = _sample(dtype, (5, 3, 2), seed=1)
    f = tmp_path / f"data-idx3-ubyte{suffix}"
    write_idx(f, a)
    raw = f.read_bytes()
    if suffix:
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    assert raw == _hand_idx(a)  # the writer produces the reference layout byte for byte
    np.testing.assert_array_equal(read_idx(f), a)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    f = tmp_path / "no-suffix"
    write_idx(f, a, compress=True)
    np.testing.assert_array_equal(read_idx(f), a)
    g = tmp_path / "plain.gz"
    write_idx(g, a, compress=False)  # named .gz but stored raw
    np.testing.assert_array_equal(read_idx(g), a)


def test_big_endian_is_respected(tmp_path):
    f = tmp_path / "be"
    f.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + struct.pack(">ii", 1, -2))
    np.testing.assert_array_equal(read_idx(f), np.array([1, -2], dtype=np.int32))


def test_write_rejects_unstorable_dtype(tmp_path):
    with pytest.raises(InvalidArgumentError, match="array"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(InvalidArgumentError):
        write_idx(tmp_path / "x", np.zeros(3, dtype=bool))
    with pytest.raises(InvalidArgumentError):
        write_idx(tmp_path / "x", np.float32(1.0))  # 0-d


# --- every DataFormatError path ----------------------------------------------------------------


def _expect(tmp_path, data: bytes, match: str):
    f = tmp_path / "bad-idx"
    f.write_bytes(data)
    with pytest.raises(DataFormatError, match=match) as ei:
        read_idx(f)
    assert "bad-idx" in str(ei.value)  # names the file
    assert isinstance(ei.value, (QNewtonError, ValueError))


def test_truncated_body(tmp_path):
    good = _hand_idx(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    _expect(tmp_path, good[:-1], "truncated")
    _expect(tmp_path, good[:20], "truncated")


def test_truncated_header(tmp_path):
    good = _hand_idx(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    _expect(tmp_path, good[:10], "header")
    _expect(tmp_path, good[:3], "truncated")
    _expect(tmp_path, b"", "truncated")


def test_wrong_magic(tmp_path):
    _expect(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(100), "magic")
    _expect(tmp_path, b"hello world, not an idx file", "magic")


def test_unknown_dtype_code_and_zero_dims(tmp_path):
    _expect(tmp_path, bytes([0, 0, 0x0A, 1]) + struct.pack(">I", 1) + b"\x00", "dtype code 0x0A")
    _expect(tmp_path, bytes([0, 0, 0x08, 0]), "0 dimensions")


def test_trailing_bytes(tmp_path):
    good = _hand_idx(np.arange(6, dtype=np.uint8))
    _expect(tmp_path, good + b"\x00\x00", "after the data")


def test_corrupt_gzip(tmp_path):
    payload = gzip.compress(_hand_idx(_sample(np.uint8, (20, 28, 28))), mtime=0)
    corrupt = bytearray(payload)
    for i in range(20, 60):
        corrupt[i] ^= 0xA5
    _expect(tmp_path, bytes(corrupt), "gzip")
    _expect(tmp_path, payload[: len(payload) // 2], "gzip")  # truncated gzip stream
    bad_crc = bytearray(payload)
    bad_crc[-6] ^= 0xFF  # CRC32 field of the gzip trailer
    _expect(tmp_path, bytes(bad_crc), "gzip")


def test_missing_file_is_an_argument_error(tmp_path):
    with pytest.raises(InvalidArgumentError, match="no such file"):
        read_idx(tmp_path / "nope")


# --- images + labels pairs ---------------------------------------------------------------------


def _write_mnist_dir(root, n_train=40, n_test=20, classes=10, gz=True, seed=0, size=28, dotted=False):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train-labels": (np.arange(n_train) % classes).astype(np.uint8),
        "t10k-images": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "t10k-labels": (np.arange(n_test) % classes).astype(np.uint8),
    }
    for stem, a in arrays.items():
        nd = 3 if "images" in stem else 1
        sep = "." if dotted else "-"
        write_idx(root / f"{stem}{sep}idx{nd}-ubyte{'.gz' if gz else ''}", a)
    return arrays


def test_pair_errors(tmp_path):
    arrays = _write_mnist_dir(tmp_path)
    f = find_idx_files(tmp_path)
    imgs, labs = load_idx_pair(f["train_images"], f["train_labels"], 10)
    np.testing.assert_array_equal(imgs, arrays["train-images"])
    assert labs.dtype == np.int64
    with pytest.raises(DataFormatError, match="labels file"):
        load_idx_pair(f["train_labels"], f["train_labels"])  # labels passed as images
    with pytest.raises(DataFormatError, match="looks like images"):
        load_idx_pair(f["train_images"], f["train_images"])  # images passed as labels
    with pytest.raises(DataFormatError, match="not a pair"):
        load_idx_pair(f["train_images"], f["test_labels"])  # 40 images, 20 labels
    with pytest.raises(DataFormatError, match="outside"):
        load_idx_pair(f["train_images"], f["train_labels"], num_classes=5)  # labels up to 9
    neg = tmp_path / "neg-labels"
    write_idx(neg, -np.ones(40, dtype=np.int8))
    with pytest.raises(DataFormatError, match="outside"):
        load_idx_pair(f["train_images"], neg)
    flt = tmp_path / "float-labels"
    write_idx(flt, np.zeros(40, dtype=np.float32))
    with pytest.raises(DataFormatError, match="integers"):
        load_idx_pair(f["train_images"], flt)
    flat = tmp_path / "flat-images"
    write_idx(flat, np.zeros((40, 784), dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"\(n, height, width\)"):
        load_idx_pair(flat, f["train_labels"])


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dotted", [True, False])
def test_mnist_dir_loads_and_normalizes(tmp_path, gz, dotted):
    arrays = _write_mnist_dir(tmp_path / "raw", gz=gz, dotted=dotted)  # the torchvision 'raw' layout
    ds = load_image_dataset("mnist", data_dir=tmp_path)
    assert ds.x_train.shape == (40, 784) and ds.x_test.shape == (20, 784)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_allclose(ds.x_train, arrays["train-images"].reshape(40, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels"])
    assert ds.num_classes == 10 and ds.image_shape == (28, 28)
    img = load_image_dataset("mnist", data_dir=tmp_path, flatten=False, normalization="none")
    assert img.x_train.shape == (40, 1, 28, 28)
    np.testing.assert_array_equal(img.x_train[:, 0], arrays["train-images"].astype(np.float32))


def test_idx_infers_classes_and_mnist_checks_them(tmp_path):
    _write_mnist_dir(tmp_path, classes=13, size=10)
    ds = load_image_dataset("idx", data_dir=tmp_path)
    assert ds.num_classes == 13 and ds.n_features == 100
    with pytest.raises(DataFormatError, match="outside"):
        load_image_dataset("mnist", data_dir=tmp_path)


def test_missing_files_and_dirs(tmp_path):
    with pytest.raises(InvalidArgumentError, match="data_dir"):
        load_image_dataset("mnist")
    with pytest.raises(InvalidArgumentError, match="not a directory"):
        load_idx_dataset(tmp_path / "nowhere")
    _write_mnist_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InvalidArgumentError, match="t10k-labels-idx1-ubyte"):
        load_image_dataset("idx", data_dir=tmp_path)


def test_train_and_test_shapes_must_agree(tmp_path):
    _write_mnist_dir(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((20, 8, 8), np.uint8))
    with pytest.raises(DataFormatError, match="different data sets"):
        load_image_dataset("mnist", data_dir=tmp_path)
