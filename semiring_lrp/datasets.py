"""Data sets: MNIST (its test split ships with the package), the paper's
two-digit MNIST (section 3.1, figure 3.2), and `Dataset` objects that a
streaming computation reads by index range.

    images, labels = sl.datasets.mnist("test")          # the shipped split
    images, labels = sl.datasets.mnist("train")         # from $SEMIRING_LRP_MNIST
    data = sl.datasets.MNIST("test")[:1000]             # a Dataset, 1000 images
    x, labels = data.load(0, 100)                       # float32 (100, 28, 28), int64

The training split is not shipped: pass the folder holding the MNIST IDX
files as ``root=``, or name it in the environment variable
``SEMIRING_LRP_MNIST``.

A `Dataset` holds paths and parameters, never its arrays (`ArrayDataset`,
which wraps arrays you give it, excepted): pickled, it is a few hundred
bytes, and a process that receives it reads the range it is asked for
itself.
"""
from __future__ import annotations

import abc
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._integers import as_int
from .idx import load_mnist, read_idx
from .images import imagenet_input
from .inputs import _integers, as_array, is_tensor
from .models import mnist_input

__all__ = ["mnist", "two_digit_mnist", "Dataset", "Subset", "MNIST", "TwoDigitMNIST",
           "ArrayDataset", "ImageFolder", "Reshaped", "as_dataset", "shaped_for", "MNIST_ENV"]

MNIST_ENV = "SEMIRING_LRP_MNIST"
SHIPPED = "shipped"
# The package is installed as files (its C extension cannot be imported
# from a zip), so the shipped split is a folder beside this module.
_SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "mnist"
_PREFIXES = {"train": "train", "test": "t10k"}
_FILE_KINDS = ("images-idx3-ubyte", "labels-idx1-ubyte")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# (images file, labels file) -> ((size, mtime) of each, (images, labels)).
# No lock: one dict lookup and one store are atomic, and a lock held while
# reading would block a forked child or a signal handler reading the same
# split; two threads at once merely read the files twice.
_mnist_cache = {}


# --- MNIST arrays --------------------------------------------------------------

def mnist(split="test", root=None):
    """``(images, labels)`` of one MNIST split: images uint8 (N, 28, 28),
    labels int64 (N,) with values 0 to 9 (N = 60000 for "train", 10000 for
    "test").

    Where the files are read from: ``root`` when given; else, for
    ``split="test"``, the test split shipped with the package; else the
    folder named by the environment variable ``SEMIRING_LRP_MNIST``. The
    files are the standard ``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte``, each gzip-compressed (``.gz``) or not.

    Each split is read once per process: later calls return the same two
    arrays, which are read-only (``.copy()`` them to write), as long as the
    files keep their size and modification time. Raises ``ValueError`` for
    a split other than "train" or "test", ``FileNotFoundError`` naming the
    files and where to put them when they are not found.
    """
    directory = _mnist_directory(split, root)
    paths = _split_files(directory, split, _origin(split, root))
    key = tuple(str(path.resolve()) for path in paths)
    version = tuple(_file_version(path) for path in paths)
    cached = _mnist_cache.get(key)
    if cached is None or cached[0] != version:  # a changed file replaces its entry
        cached = _mnist_cache[key] = version, _read_split(directory, split)
    return cached[1]


def _file_version(path):
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def _read_split(directory, split):
    images, labels = load_mnist(directory, split)
    labels = labels.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _check_split(split):
    if split not in _PREFIXES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")


def _mnist_directory(split, root):
    """The folder a split is read from (see `mnist`), as a Path."""
    _check_split(split)
    if root is not None:
        return Path(os.fspath(root))
    if split == "test":
        return _SHIPPED_DIR
    folder = os.environ.get(MNIST_ENV)
    if not folder:
        raise FileNotFoundError(
            f"the MNIST {split} split is not shipped with semiring_lrp and no folder "
            f"holding it was given: root= is None and {MNIST_ENV} is not set. "
            f"{_where_to_put_files()}")
    return Path(folder)


def _where_to_put_files():
    names = [f"{prefix}-{kind}" for prefix in ("train", "t10k") for kind in _FILE_KINDS]
    return (f"Put the MNIST IDX files {', '.join(names[:-1])} and {names[-1]} (each "
            f"gzip-compressed with the suffix .gz, or not) in one folder, and pass "
            f"that folder as root=FOLDER or set the environment variable "
            f"{MNIST_ENV}=FOLDER.")


def _origin(split, root):
    """Who named the folder a split is read from, for error messages."""
    if root is not None:
        return "given as root="
    return "the package's own data" if split == "test" else f"named by {MNIST_ENV}"


def _split_files(directory, split, origin):
    """The (images, labels) files of a split in ``directory``, ``.gz`` first
    (the order `load_mnist` looks in); ``origin`` says who named the folder."""
    prefix = _PREFIXES[split]
    found, missing = [], []
    for kind in _FILE_KINDS:
        name = f"{prefix}-{kind}"
        candidates = [p for p in (directory / f"{name}.gz", directory / name) if p.is_file()]
        if candidates:
            found.append(candidates[0])
        else:
            missing.append(f"{name}(.gz)")
    if missing:
        exists = "" if directory.is_dir() else "; no such folder"
        raise FileNotFoundError(
            f"the MNIST {split} split is not in {directory} ({origin}{exists}): "
            f"{' and '.join(missing)} missing. {_where_to_put_files()}")
    return found


# --- two-digit MNIST -------------------------------------------------------------

def two_digit_mnist(split="test", root=None, seed=0):
    """The paper's two-digit set (section 3.1): ``(images uint8 (N, 56, 28),
    labels int64 (N,))``, N the size of the MNIST split (read as `mnist`
    reads it).

    Each image is two digits of the split, one above the other, labelled by
    the upper digit; the lower one has no say in the label. Exactly::

        images, labels = mnist(split, root)
        rng = np.random.default_rng(seed)
        upper = rng.permutation(N)
        lower = rng.permutation(N)
        image i = np.concatenate([images[upper[i]], images[lower[i]]])  # along rows
        label i = labels[upper[i]]

    so every digit of the split appears once on top and once below. The same
    seed gives the same set. Returns new, writeable arrays. ``seed`` must be
    an int (``TypeError`` otherwise) and not negative (``ValueError``).
    """
    images, labels = mnist(split, root)
    upper, lower = _two_digit_pairs(len(images), seed)
    return _stack_pairs(images, upper, lower), labels[upper]


def _check_seed(seed):
    return as_int(seed, "seed", 0)


def _two_digit_pairs(n, seed):
    """(upper, lower): the source indices of the two-digit images, int64 (n,)."""
    rng = np.random.default_rng(_check_seed(seed))
    upper = rng.permutation(n)
    lower = rng.permutation(n)
    return upper, lower


def _stack_pairs(images, upper, lower):
    """images[upper[i]] above images[lower[i]], for every i: (n, 56, 28)."""
    return np.concatenate([images[upper], images[lower]], axis=1)


# --- Dataset objects -------------------------------------------------------------

class Dataset(abc.ABC):
    """Samples a computation reads by index range, shard by shard.

    ``len(dataset)`` is the number of samples; ``dataset.sample_shape`` the
    shape of one model input; ``dataset.load(start, stop)`` returns ``(x,
    labels)`` for samples ``start`` to ``stop - 1``: ``x`` the model-ready
    input, a C-contiguous float array (n, *sample_shape) (float32 but where
    an `ArrayDataset` was given float64), ``labels`` int64 (n,) or None
    when ``dataset.has_labels`` is False. ``dataset[a:b]`` is a `Subset`
    over that range (step 1 only).

    A Dataset pickles to its paths and parameters: whatever it keeps in
    memory to read faster (attributes named ``_cached...``) stays behind.
    """

    sample_shape: tuple

    @abc.abstractmethod
    def __len__(self):
        """The number of samples."""

    @property
    @abc.abstractmethod
    def has_labels(self):
        """Whether `load` returns labels (else it returns None for them)."""

    @abc.abstractmethod
    def _load(self, start, stop):
        """(x, labels) of samples start..stop-1, a range `load` has checked."""

    def load(self, start, stop):
        """``(x, labels)`` of samples ``start`` to ``stop - 1``; ``0 <= start
        <= stop <= len(self)`` (``ValueError`` otherwise)."""
        start, stop = _check_range(self, start, stop)
        return self._load(start, stop)

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise TypeError(f"a {type(self).__name__} is indexed by a slice with step 1 "
                            f"(dataset[a:b], a Subset), not by {type(index).__name__}; "
                            f"dataset.load(i, i + 1) reads sample i")
        if index.step not in (None, 1):
            raise ValueError(f"a {type(self).__name__} takes slices with step 1 only, "
                             f"not step {index.step}")
        start, stop, _ = index.indices(len(self))
        return Subset(self, start, max(start, stop))

    def __getstate__(self):
        return {key: value for key, value in self.__dict__.items()
                if not key.startswith("_cached")}


def _check_range(dataset, start, stop):
    start, stop = as_int(start, "load's start"), as_int(stop, "load's stop")
    if not 0 <= start <= stop <= len(dataset):
        raise ValueError(f"load({start}, {stop}) is out of range: it needs 0 <= start <= "
                         f"stop <= len(dataset) = {len(dataset)}")
    return start, stop


class Subset(Dataset):
    """Samples ``start`` to ``stop - 1`` of another dataset, numbered from 0
    (what ``dataset[start:stop]`` returns; a Subset of a Subset refers to
    the first dataset)."""

    def __init__(self, dataset, start, stop):
        if not isinstance(dataset, Dataset):
            raise TypeError(f"Subset takes a Dataset, not {type(dataset).__name__}")
        start, stop = _check_range(dataset, start, stop)
        if isinstance(dataset, Subset):
            dataset, start, stop = dataset.dataset, dataset.start + start, dataset.start + stop
        self.dataset, self.start, self.stop = dataset, start, stop
        self.sample_shape = dataset.sample_shape

    def __len__(self):
        return self.stop - self.start

    @property
    def has_labels(self):
        return self.dataset.has_labels

    def _load(self, start, stop):
        return self.dataset.load(self.start + start, self.start + stop)

    def __repr__(self):
        return f"{self.dataset!r}[{self.start}:{self.stop}]"


class Reshaped(Dataset):
    """The samples of another dataset, each reshaped to ``sample_shape`` (the
    same number of values): MNIST digits (28, 28) as a CNN's (1, 28, 28)."""

    def __init__(self, dataset, sample_shape):
        if not isinstance(dataset, Dataset):
            raise TypeError(f"Reshaped takes a Dataset, not {type(dataset).__name__}")
        sample_shape = tuple(int(d) for d in sample_shape)
        if math.prod(sample_shape) != math.prod(dataset.sample_shape):
            raise ValueError(f"samples of shape {dataset.sample_shape} cannot be reshaped to "
                             f"{sample_shape}: the numbers of values differ")
        self.dataset, self.sample_shape = dataset, sample_shape

    def __len__(self):
        return len(self.dataset)

    @property
    def has_labels(self):
        return self.dataset.has_labels

    def _load(self, start, stop):
        x, labels = self.dataset.load(start, stop)
        return x.reshape((len(x),) + self.sample_shape), labels

    def __repr__(self):
        return f"Reshaped({self.dataset!r}, {self.sample_shape})"


def shaped_for(net, dataset):
    """`dataset` as `net` takes its samples: as it is when their shape fits
    the network's input, `Reshaped` to it when only the axes differ (MNIST
    digits for `models.mnist_cnn`)."""
    wanted = tuple(net.input_shape)
    if None in wanted or dataset.sample_shape == wanted or (
            net.flattens_input and math.prod(dataset.sample_shape) == net.n_features):
        return dataset
    if math.prod(dataset.sample_shape) == math.prod(wanted):
        return Reshaped(dataset, wanted)
    raise ValueError(f"the dataset's samples have shape {dataset.sample_shape} but the network "
                     f"takes {wanted}")


def _resolved_root(split, root):
    """(what an MNIST dataset stores as its root, the split's two files):
    SHIPPED for the shipped test split, else the absolute path of the folder
    `mnist` reads. Raises FileNotFoundError now if the files are not there."""
    directory = _mnist_directory(split, root)
    paths = _split_files(directory, split, _origin(split, root))
    return (SHIPPED if directory == _SHIPPED_DIR else str(directory.resolve())), paths


class _MNISTSplit(Dataset):
    """What MNIST and TwoDigitMNIST share: a split, its folder resolved when
    the dataset is made, its length, and reading through `mnist`'s cache."""

    def __init__(self, split, root):
        self.split = split
        self.root, paths = _resolved_root(split, root)
        self._length = len(read_idx(paths[1]))  # the labels file alone

    def __len__(self):
        return self._length

    @property
    def has_labels(self):
        return True

    def _arrays(self):
        return mnist(self.split, None if self.root == SHIPPED else self.root)


class MNIST(_MNISTSplit):
    """An MNIST split as a Dataset: x is pixel / 255, float32 (n, 28, 28)
    (exactly `sl.models.mnist_input`), labels int64.

    ``root`` is resolved when the dataset is made, as `mnist` resolves it
    (``FileNotFoundError`` then if the files are not there): ``self.root``
    is "shipped" for the test split shipped with the package (each process
    reads its own copy), else an absolute folder. The files are read
    through `mnist`'s per-process cache.
    """

    sample_shape = (28, 28)

    def __init__(self, split="test", root=None):
        super().__init__(split, root)

    def _load(self, start, stop):
        images, labels = self._arrays()
        return mnist_input(images[start:stop]), labels[start:stop].copy()

    def __repr__(self):
        return f"MNIST(split={self.split!r}, root={self.root!r}, {len(self)} images)"


class TwoDigitMNIST(_MNISTSplit):
    """`two_digit_mnist` as a Dataset: x is pixel / 255, float32 (n, 56, 28),
    labels the upper digits', int64; ``root`` is resolved as by `MNIST`.
    ``load(a, b)`` equals ``mnist_input(two_digit_mnist(split, root,
    seed)[0][a:b])`` and builds only those images."""

    sample_shape = (56, 28)

    def __init__(self, split="test", root=None, seed=0):
        self.seed = _check_seed(seed)
        super().__init__(split, root)

    def _pairs(self):
        if getattr(self, "_cached_pairs", None) is None:
            self._cached_pairs = _two_digit_pairs(len(self), self.seed)
        return self._cached_pairs

    def _load(self, start, stop):
        images, labels = self._arrays()
        upper, lower = (p[start:stop] for p in self._pairs())
        return mnist_input(_stack_pairs(images, upper, lower)), labels[upper]

    def __repr__(self):
        return (f"TwoDigitMNIST(split={self.split!r}, root={self.root!r}, seed={self.seed}, "
                f"{len(self)} images)")


class ArrayDataset(Dataset):
    """Arrays in memory as a Dataset: ``x`` (N, *sample_shape) of any real
    dtype, ``labels`` integers (N,) or None. Unlike the other datasets it
    pickles with its arrays.

    ``load`` returns slices of ``x``: views where ``x`` is a C-contiguous
    float array (float64 stays float64), else a C-contiguous copy, converted
    to float32 where ``x`` holds integers or booleans; the labels as int64.
    """

    def __init__(self, x, labels=None):
        x = as_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"x must be (N, *sample_shape) with at least one axis per "
                             f"sample, not shape {x.shape}")
        self.x = x
        self.labels = None if labels is None else _checked_labels(labels, len(x))
        self.sample_shape = x.shape[1:]

    def __len__(self):
        return len(self.x)

    @property
    def has_labels(self):
        return self.labels is not None

    def _load(self, start, stop):
        x = self.x[start:stop]
        x = np.ascontiguousarray(x if x.dtype.kind == "f" else x.astype(np.float32))
        return x, None if self.labels is None else self.labels[start:stop]

    def __repr__(self):
        labelled = "with labels" if self.has_labels else "no labels"
        return f"ArrayDataset({len(self)} samples of shape {self.sample_shape}, {labelled})"


def _checked_labels(labels, n):
    labels = _label_integers(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional (N,), not shape {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"x holds {n} samples but labels holds {len(labels)}: give one "
                         "label per sample")
    return labels.astype(np.int64)


def _label_integers(labels):
    """labels as an integer array that int64 holds: a label beyond it (a
    uint64 near 2**64, a Python int of any size) is no class of any network,
    and is named with its own value rather than wrapped."""
    try:
        labels = _integers(labels, "labels")
    except TypeError:
        shown = as_array(labels, "labels").dtype  # non-numbers: as_array's error
        raise TypeError(f"labels must be integers, not dtype {shown}") from None
    beyond = (labels < _INT64.min) | (labels > _INT64.max)
    if np.any(beyond):
        index = int(np.flatnonzero(beyond.ravel())[0])
        raise ValueError(f"label {int(labels.flat[index])} (index {index}) is beyond "
                         "int64: no network has that many classes")
    return labels


_INT64 = np.iinfo(np.int64)


class ImageFolder(Dataset):
    """Every .jpg, .jpeg and .png file below ``root`` (any depth, case
    ignored), in sorted order of their paths relative to ``root``, each read
    with `sl.images.imagenet_input` (VGG-16's input: float32 (3, size,
    size): the shorter side resized to ``resize``, the centre ``size`` x
    ``size`` cropped; reading needs Pillow).

    ``paths`` lists the files. Labels: where every image lies in a direct
    subfolder of ``root`` named by an integer (``root/7/a.png``), that
    integer; else none (``has_labels`` is False).
    """

    def __init__(self, root, size=224, resize=256):
        self.root = str(Path(os.fspath(root)).resolve())
        self.size, self.resize = _check_sizes(size, resize)
        relative = _image_files(self.root)
        self.paths = [os.path.join(self.root, *name.split("/")) for name in relative]
        self.labels = _folder_labels(relative)
        self.sample_shape = (3, self.size, self.size)

    def __len__(self):
        return len(self.paths)

    @property
    def has_labels(self):
        return self.labels is not None

    def _load(self, start, stop):
        x = np.empty((stop - start,) + self.sample_shape, np.float32)
        for i, path in enumerate(self.paths[start:stop]):
            x[i] = imagenet_input(path, self.size, self.resize)[0]
        return x, None if self.labels is None else self.labels[start:stop].copy()

    def __repr__(self):
        return f"ImageFolder({self.root!r}, {len(self)} images)"


def _check_sizes(size, resize):
    size, resize = as_int(size, "size", 1), as_int(resize, "resize", 1)
    if resize < size:
        raise ValueError(f"resize ({resize}) must be at least size ({size}): the centre "
                         f"crop is taken from the resized image")
    return size, resize


def _image_files(root):
    """The image files below root, as sorted '/'-joined relative paths."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no such folder: {root}")
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        relative = os.path.relpath(folder, root)
        for name in files:
            if name.lower().endswith(_IMAGE_SUFFIXES):
                path = name if relative == "." else os.path.join(relative, name)
                found.append(Path(path).as_posix())
    if not found:
        raise ValueError(f"{root} holds no image file ({', '.join(_IMAGE_SUFFIXES)}) "
                         f"at any depth")
    return sorted(found)


def _folder_labels(relative):
    """int64 labels from integer-named direct subfolders, or None."""
    parts = [name.split("/") for name in relative]
    if all(len(p) == 2 and re.fullmatch(r"-?[0-9]+", p[0]) for p in parts):
        return np.array([int(p[0]) for p in parts], dtype=np.int64)
    return None


# --- what users pass -------------------------------------------------------------

def as_dataset(data):
    """A Dataset from `data`, what a user passes: a Dataset (returned as is); a pair
    ``(x, labels)`` (a tuple of two arrays, labels one integer per sample of
    x) -> ``ArrayDataset(x, labels)``; one array (N, ...) ->
    ``ArrayDataset(x)``; a list or other sequence of per-sample arrays of
    one shape -> ``ArrayDataset(np.stack(...))``. Arrays may be NumPy arrays
    or torch tensors. Raises ``TypeError`` for anything else."""
    if isinstance(data, Dataset):
        return data
    if _is_array(data):
        return ArrayDataset(data)
    if _is_labelled_pair(data):
        return ArrayDataset(*data)
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes, bytearray)):
        return ArrayDataset(_stack_samples(data))
    raise TypeError(f"as_dataset takes a Dataset, an array (N, ...), a pair (x, labels) "
                    f"of arrays with one integer label per sample, or a list of per-sample "
                    f"arrays, not {type(data).__name__}")


def _is_array(value):
    return isinstance(value, np.ndarray) or is_tensor(value)


def _is_labelled_pair(data):
    if not (isinstance(data, tuple) and len(data) == 2 and all(map(_is_array, data))):
        return False
    # one integer label per row: a length that differs from x's is the
    # ArrayDataset's error to name, not a reason to read two samples
    x, labels = data
    if labels.ndim != 1 or len(x.shape) < 2:
        return False
    try:
        _integers(labels, "labels")  # Python ints beyond int64 too: ArrayDataset names them
    except TypeError:
        return False
    return True


def _stack_samples(samples):
    if len(samples) == 0:
        raise ValueError("as_dataset was given an empty sequence: no samples")
    arrays = [as_array(sample, f"sample {i}") for i, sample in enumerate(samples)]
    for i, array in enumerate(arrays):
        if array.shape != arrays[0].shape:
            raise ValueError(f"sample {i} has shape {array.shape} but sample 0 has "
                             f"{arrays[0].shape}: the samples of a dataset share one shape")
    return np.stack(arrays)
