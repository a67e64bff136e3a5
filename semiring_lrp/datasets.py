"""Datasets: images (and labels) read a range at a time.

A `Dataset` has a length and `load(start, stop) -> (x, labels)`: x the
model-ready images [start, stop) as an array (n, *sample_shape), labels an
int64 array (n,) or None. Slicing gives a view of a range. `as_dataset`
turns arrays, (x, labels) pairs and lists of images into one.

This is the minimal form the applications rely on: `Dataset`,
`ArrayDataset` and `as_dataset`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Dataset", "ArrayDataset", "as_dataset"]


class Dataset:
    """Base class: subclasses define `__len__` and `load(start, stop)`."""

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def load(self, start, stop):
        """(x, labels) of the samples [start, stop)."""
        raise NotImplementedError(f"{type(self).__name__} must define load(start, stop)")

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError(f"a Dataset is sliced (ds[a:b]), not indexed by {key!r}; "
                            "use load(start, stop) for the samples")
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError(f"a Dataset view takes consecutive samples, not step {step}")
        return _View(self, start, max(start, stop))


class _View(Dataset):
    """Samples [start, stop) of another dataset."""

    def __init__(self, base, start, stop):
        self.base, self.start, self.stop = base, start, stop

    def __len__(self):
        return self.stop - self.start

    def load(self, start, stop):
        start, stop = _checked_range(start, stop, len(self))
        return self.base.load(self.start + start, self.start + stop)


class ArrayDataset(Dataset):
    """Images held in memory: x (N, *sample_shape), labels (N,) ints or None."""

    def __init__(self, x, labels=None):
        x = np.asarray(x)
        if x.ndim < 1 or x.dtype.kind not in "biuf":
            raise TypeError(f"x must be an array of real numbers (N, ...), not {x.dtype} "
                            f"of shape {x.shape}")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.dtype.kind not in "iu":
                raise TypeError(f"labels must be integers, not {labels.dtype}")
            if labels.shape != (len(x),):
                raise ValueError(f"labels has shape {labels.shape}; give one per image "
                                 f"({len(x)})")
            labels = labels.astype(np.int64)
        self.x, self.labels = x, labels

    def __len__(self):
        return len(self.x)

    def load(self, start, stop):
        start, stop = _checked_range(start, stop, len(self))
        labels = None if self.labels is None else self.labels[start:stop]
        return self.x[start:stop], labels


def _checked_range(start, stop, length):
    if not 0 <= start <= stop <= length:
        raise IndexError(f"range [{start}, {stop}) is outside the dataset's {length} samples")
    return start, stop


def as_dataset(data):
    """A Dataset as is; (x, labels), an array (N, ...) or a list of per-image
    arrays as an `ArrayDataset`."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple):
        if len(data) != 2:
            raise TypeError(f"a tuple of data is (x, labels), not {len(data)} items")
        return ArrayDataset(_images(data[0]), data[1])
    if isinstance(data, (list, np.ndarray)) or hasattr(data, "__array__"):
        return ArrayDataset(_images(data))
    raise TypeError(f"data must be a semiring_lrp.datasets.Dataset, (x, labels), an array "
                    f"(N, ...) or a list of images, not {type(data).__name__}")


def _images(x):
    if isinstance(x, list):
        return np.stack([np.asarray(image) for image in x]) if x else np.zeros((0,))
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)
