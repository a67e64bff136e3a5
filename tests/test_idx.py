"""Tests of the IDX reader, the shipped MNIST files and digits, and the
training script."""

import gzip
import hashlib
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp.idx import load_mnist, read_idx

# the package's own data, in the checkout or where it is installed
PACKAGE_DATA = Path(sl.__file__).resolve().parent / "data"
SHIPPED_MNIST = PACKAGE_DATA / "mnist"  # the test split
DIGITS_NPZ = PACKAGE_DATA / "mnist_digits.npz"

TYPE_CODES = {"u1": 0x08, "i1": 0x09, ">i2": 0x0B, ">i4": 0x0C, ">f4": 0x0D, ">f8": 0x0E}


def idx_header(type_code, shape):
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def write_file(path, content, compress=False):
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def write_idx(path, array, compress=False):
    """Write ``array`` (of a big-endian or one-byte dtype) as an IDX file."""
    header = idx_header(TYPE_CODES[array.dtype.str.replace("|", "")], array.shape)
    return write_file(path, header + array.tobytes(), compress)


def assert_rejected(path, problem):
    with pytest.raises(ValueError, match=problem) as error:
        read_idx(path)
    assert str(path) in str(error.value)


# --- the real MNIST files ------------------------------------------------------

def test_real_test_split():
    images, labels = load_mnist(SHIPPED_MNIST, split="test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    histogram = np.bincount(labels, minlength=10)
    assert len(histogram) == 10 and histogram.sum() == 10000
    assert (histogram > 0).all()


def test_mnist_files_match_sha256sums(mnist_dir):
    lines = (mnist_dir / "SHA256SUMS").read_text().split("\n")
    expected = dict(reversed(line.split()) for line in lines if line.strip())
    assert len(expected) == 4
    for name, digest in expected.items():
        assert hashlib.sha256((mnist_dir / name).read_bytes()).hexdigest() == digest, name
    shipped = sorted(path.name for path in SHIPPED_MNIST.iterdir())
    assert shipped == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for name in shipped:
        digest = hashlib.sha256((SHIPPED_MNIST / name).read_bytes()).hexdigest()
        assert digest == expected[name], f"shipped {name}"


def test_gzip_and_uncompressed_agree(tmp_path):
    gz_path = SHIPPED_MNIST / "t10k-images-idx3-ubyte.gz"
    raw_path = write_file(tmp_path / "images.idx", gzip.decompress(gz_path.read_bytes()))
    np.testing.assert_array_equal(read_idx(raw_path), read_idx(gz_path))


def test_shipped_digits_are_test_images():
    images, labels = load_mnist(SHIPPED_MNIST, split="test")
    with np.load(DIGITS_NPZ, allow_pickle=False) as digits:
        indices = digits["indices"]
        assert indices.dtype == np.int64 and indices.shape == (20,)
        assert digits["images"].dtype == np.uint8 and digits["labels"].dtype == np.uint8
        np.testing.assert_array_equal(digits["images"], images[indices])
        np.testing.assert_array_equal(digits["labels"], labels[indices])
    np.testing.assert_array_equal(np.sort(labels[indices]), np.repeat(np.arange(10), 2))


# --- hand-built files ------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)], ids=["1d", "3d"])
@pytest.mark.parametrize("dtype", list(TYPE_CODES))
def test_round_trip(tmp_path, dtype, shape, compress):
    values = np.arange(np.prod(shape)).reshape(shape) - 7
    if dtype == "u1":
        values = values + 7
    if dtype.endswith("f4") or dtype.endswith("f8"):
        values = values * 0.25 - 1e-3
    expected = values.astype(dtype)
    result = read_idx(write_idx(tmp_path / "a.idx", expected, compress))
    assert result.dtype == np.dtype(dtype).newbyteorder("=") and result.dtype.isnative
    assert result.shape == shape
    np.testing.assert_array_equal(result, expected)


def test_big_endian_bytes_are_decoded(tmp_path):
    content = idx_header(0x0C, (2,)) + bytes.fromhex("00000102 fffffffe")
    np.testing.assert_array_equal(read_idx(write_file(tmp_path / "a.idx", content)), [258, -2])


def test_missing_file_names_path(tmp_path):
    path = tmp_path / "absent.idx"
    with pytest.raises(FileNotFoundError, match="absent.idx"):
        read_idx(path)


# --- malformed files -------------------------------------------------------

VALID_DATA = bytes(range(6))
MALFORMED = {
    "bad magic": (b"\x01\x00\x08\x01" + struct.pack(">I", 6) + VALID_DATA, "bad magic"),
    "unknown type": (b"\x00\x00\x0a\x01" + struct.pack(">I", 6) + VALID_DATA, "unknown IDX type"),
    "zero dims": (b"\x00\x00\x08\x00" + VALID_DATA, "number of dimensions is 0"),
    "too many dims": (b"\x00\x00\x08\x40" + VALID_DATA, "number of dimensions is 64"),
    "short header": (b"\x00\x00\x08", "too short"),
    "truncated dims": (idx_header(0x08, (2, 3))[:10], "header truncated"),
    "more data claimed": (idx_header(0x08, (7,)) + VALID_DATA, "data truncated|cannot hold"),
    "trailing garbage": (idx_header(0x08, (5,)) + VALID_DATA, "trailing garbage"),
}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_file_rejected(tmp_path, case, compress):
    content, problem = MALFORMED[case]
    assert_rejected(write_file(tmp_path / "bad.idx", content, compress), problem)


def test_empty_file_rejected(tmp_path):
    assert_rejected(write_file(tmp_path / "empty.idx", b""), "empty")


def test_truncated_gzip_stream_rejected(tmp_path):
    compressed = gzip.compress(idx_header(0x08, (1000,)) + bytes(range(250)) * 4)
    path = write_file(tmp_path / "cut.idx.gz", compressed[: len(compressed) // 2])
    assert_rejected(path, "gzip")


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("shape", [(0xFFFFFFFF,) * 4, (1000, 1000, 1000)], ids=["2^128", "1GB"])
def test_huge_claimed_size_rejected_without_allocating(tmp_path, shape, compress):
    path = write_file(tmp_path / "huge.idx", idx_header(0x08, shape) + VALID_DATA, compress)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        assert_rejected(path, "cannot hold")
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak_bytes < 1 << 20


def test_gzip_bomb_read_is_capped(tmp_path):
    # 1 MB of zeros compresses to about 1 kB, while the header claims 10 bytes.
    path = write_file(tmp_path / "bomb.idx", idx_header(0x08, (10,)) + bytes(1 << 20), True)
    tracemalloc.start()
    try:
        assert_rejected(path, "trailing garbage")
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_bytes < 1 << 18


# --- load_mnist ---------------------------------------------------------------

def write_mnist_split(root, n_images, n_labels, prefix="t10k"):
    write_idx(root / f"{prefix}-images-idx3-ubyte", np.zeros((n_images, 28, 28), np.uint8))
    write_idx(root / f"{prefix}-labels-idx1-ubyte", np.arange(n_labels, dtype=np.uint8) % 10,
              compress=True)


def test_load_mnist_accepts_mixed_compression(tmp_path):
    write_mnist_split(tmp_path, 3, 3, prefix="train")
    images, labels = load_mnist(tmp_path, split="train")
    assert images.shape == (3, 28, 28) and labels.tolist() == [0, 1, 2]


def test_load_mnist_count_mismatch_rejected(tmp_path):
    write_mnist_split(tmp_path, 3, 4)
    with pytest.raises(ValueError, match="3 images .* 4 labels"):
        load_mnist(tmp_path)


def test_load_mnist_bad_split_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, split="validation")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path)


# --- the training script ----------------------------------------------------

@pytest.mark.slow
def test_training_script_tiny_run(tmp_path, mnist_dir, source_scripts):
    import torch  # noqa: F401  the script needs it; fail here, not in the subprocess

    out, script = tmp_path / "m.npz", source_scripts / "train_mnist_mlp.py"
    subprocess.run(
        [sys.executable, str(script), "--data", str(mnist_dir), "--epochs", "1",
         "--limit", "2000", "--out", str(out)],
        check=True, timeout=300, cwd=tmp_path,
    )
    expected_shapes = {
        "fc1.weight": (300, 784), "fc1.bias": (300,),
        "fc2.weight": (100, 300), "fc2.bias": (100,),
        "fc3.weight": (10, 100), "fc3.bias": (10,),
    }
    with np.load(out, allow_pickle=False) as model:
        for name, shape in expected_shapes.items():
            assert model[name].shape == shape and model[name].dtype == np.float32, name
        assert model["test_accuracy"].dtype == np.float64 and model["test_accuracy"].shape == ()
        assert model["test_accuracy"] > 0.80
        assert model["seed"].dtype == np.int64 and model["seed"].shape == ()
