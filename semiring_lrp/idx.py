"""Read IDX files, the format of the MNIST distribution, into NumPy arrays.

An IDX file is a 4-byte magic (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the items in C order,
big-endian.  Files may be gzip-compressed; that is detected from the gzip
magic bytes, not from the file name.

``read_idx`` treats its input as untrusted: every inconsistency between the
header and the data raises ``ValueError`` naming the file, and no buffer is
sized from the header before the claimed size has been checked against what
the file can actually hold.  ``load_mnist`` reads one MNIST split.

This module depends on NumPy only and has no package-relative imports, so
scripts can load it from its file without importing ``semiring_lrp`` (whose
``__init__`` may need the compiled C extension).
"""

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "load_mnist"]

# Item types by IDX type code, big-endian as stored on disk.
_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_MAX_DIMS = 8
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data by more than 1032:1, so a gzip file can never
# decompress to more than this many bytes per compressed byte; a header that
# claims more is a lie we can reject before decompressing anything.
_MAX_GZIP_RATIO = 1032
_CHUNK_BYTES = 1 << 20
# MNIST file names start with these prefixes, by split.
_SPLIT_PREFIXES = {"train": "train", "test": "t10k"}


def read_idx(path):
    """Return the array stored in the IDX file ``path`` (gzip or not).

    The result has the shape given in the header and its type in native
    byte order.  Raises ``FileNotFoundError`` if the file does not exist and
    ``ValueError`` (message starting with the path) if it is malformed.
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        file_size = os.fstat(raw.fileno()).st_size
        if file_size == 0:
            raise ValueError(f"{path}: file is empty")
        is_gzip = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not is_gzip:
            return _parse(raw, path, max_bytes=file_size)
        try:
            with gzip.GzipFile(fileobj=raw) as stream:
                return _parse(stream, path, max_bytes=file_size * _MAX_GZIP_RATIO)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({error})") from None


def _parse(stream, path, max_bytes):
    """Parse an IDX stream that can hold at most ``max_bytes`` bytes in all."""
    magic = _read_at_most(stream, 4)
    if len(magic) < 4:
        raise ValueError(f"{path}: file too short for the 4-byte IDX magic")
    if magic[0] != 0 or magic[1] != 0:
        raise ValueError(
            f"{path}: bad magic {magic.hex()}, an IDX file starts with two zero bytes"
        )
    type_code, ndim = magic[2], magic[3]
    if type_code not in _DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02x}")
    if not 1 <= ndim <= _MAX_DIMS:
        raise ValueError(f"{path}: number of dimensions is {ndim}, expected 1 to {_MAX_DIMS}")

    dims_bytes = _read_at_most(stream, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise ValueError(f"{path}: header truncated, {ndim} dimensions announced")
    shape = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))

    # Python integers do not overflow, so this is the true claimed size even
    # for absurd dimensions; compare it before allocating anything.
    dtype = _DTYPES[type_code]
    claimed = dtype.itemsize * math.prod(shape)
    available = max_bytes - 4 - 4 * ndim
    if claimed > available:
        raise ValueError(
            f"{path}: header claims shape {shape} ({claimed} bytes of data) "
            f"but the file cannot hold more than {available} bytes"
        )

    # One byte past the claim is enough to detect trailing garbage while
    # keeping memory bounded when the rest of the stream is huge.
    data = _read_at_most(stream, claimed + 1)
    if len(data) < claimed:
        raise ValueError(
            f"{path}: data truncated, header claims {claimed} bytes but only "
            f"{len(data)} are present"
        )
    if len(data) > claimed:
        raise ValueError(f"{path}: trailing garbage after the {claimed} bytes of data")
    try:
        array = np.frombuffer(data, dtype=dtype).reshape(shape)
    except ValueError as error:  # e.g. a zero dimension beside absurd ones
        raise ValueError(f"{path}: shape {shape} does not fit its data ({error})") from None
    return array.astype(dtype.newbyteorder("="), copy=False)


def _read_at_most(stream, size):
    """Read up to ``size`` bytes, stopping early only at end of stream."""
    # Reading in chunks keeps a lying size from becoming one giant buffer.
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(min(size - len(data), _CHUNK_BYTES))
        if not chunk:
            break
        data += chunk
    return data


def load_mnist(root, split="test"):
    """Return ``(images, labels)`` of one MNIST split from directory ``root``.

    ``split`` is ``"train"`` or ``"test"``.  Images are uint8 of shape
    (N, 28, 28), labels uint8 of shape (N,) with values 0 to 9.  The files
    may be gzip-compressed (``.gz``) or not.
    """
    if split not in _SPLIT_PREFIXES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    prefix = _SPLIT_PREFIXES[split]
    images_path = _find_file(root, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_file(root, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path)
    labels = read_idx(labels_path)

    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(
            f"{labels_path}: expected uint8 labels of shape (N,), "
            f"got {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but "
            f"{labels_path} holds {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: label {labels.max()} is not a digit 0-9")
    return images, labels


def _find_file(root, name):
    """Return ``root/name.gz`` or ``root/name``, whichever exists."""
    candidates = [Path(root) / f"{name}.gz", Path(root) / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"neither {candidates[0]} nor {candidates[1]} exists")
