"""What the applications share: data read a batch at a time, the target of
each image, relevance per batch (given or computed), and the network's
output scores for batches of perturbed images.

Data reaches every application through `_as_arrays`, which gives a
`semiring_lrp.datasets.Dataset`: `len()` and `load(start, stop) -> (x,
labels)`, one batch at a time, so memory does not grow with the dataset.
"""
from __future__ import annotations

import numpy as np

from .._integers import as_int
from ..datasets import as_dataset
from ..inputs import as_array, as_batch, class_indices
from ..propagation import relevance_arrays as _relevance
from ..semirings import Semiring

TARGETS = ("label", "prediction")


def _as_arrays(data):
    """`data` as the applications read it, a `datasets.Dataset`: len() and
    load(start, stop) -> (x, labels). Whatever `datasets.as_dataset` takes
    (a Dataset, a pair (x, labels), the images alone); it must hold images."""
    dataset = as_dataset(data)
    if len(dataset) == 0:
        raise ValueError("data holds no images")
    return dataset


def _increasing_counts(values, limit, name, described, unit):
    """`values` as an increasing int64 array of counts in [0, limit]; the
    errors name the argument, what it should be and what it counts."""
    try:
        counts = np.asarray(values)
    except (TypeError, ValueError):
        counts = np.asarray([], dtype=object)
    if counts.ndim != 1 or counts.size == 0 or counts.dtype.kind not in "iu":
        raise TypeError(f"{name} must be {described}, not {values!r}")
    if np.any((counts < 0) | (counts > limit)):
        raise ValueError(f"{name} {counts.tolist()} go beyond 0 to {limit}, {unit}")
    if np.any(np.diff(counts) <= 0):
        raise ValueError(f"{name} {counts.tolist()} must be increasing")
    return counts.astype(np.int64)


def _check_batch_size(batch_size):
    return as_int(batch_size, "batch_size", 1)


def _batches(data, batch_size):
    """Yields (start, x, labels) for consecutive ranges of batch_size images."""
    batch_size = _check_batch_size(batch_size)
    for start in range(0, len(data), batch_size):
        x, labels = data.load(start, min(start + batch_size, len(data)))
        yield start, np.asarray(x), labels


def _needs_labels(labels, what):
    if labels is None:
        raise ValueError(f"{what} needs labels: give data as a pair (x, labels)")
    return labels


def _output_scores(net, x):
    """The network's output scores (n, classes) for a batch x (n, ...)."""
    batch, single, _ = as_batch(net, x)
    if single:
        raise ValueError(f"images of shape {x.shape} are one sample of the network's input "
                         f"{net.input_shape}: give a batch (N, ...) with a leading image axis")
    scores = net.activations(batch)[-1]
    if scores.ndim != 2:
        raise ValueError(f"the network's output has shape {scores.shape[1:]} per image; "
                         "these applications need one score per class")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"the network's forward pass overflows {scores.dtype} on these "
                         "images (a score is infinite or NaN): the images, or the values "
                         "that perturb them, are too large for the network")
    return scores


def _check_labels(labels, classes):
    bad = (labels < 0) | (labels >= classes)
    if np.any(bad):
        raise ValueError(f"label {labels[bad][0]} is out of range: the network has {classes} "
                         f"classes (0 to {classes - 1})")
    return labels


def _check_target(target):
    """target: "label", "prediction" or one class index."""
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(f"target must be 'label', 'prediction' or a class index, "
                             f"not {target!r}")
    elif isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be 'label', 'prediction' or a class index (int), "
                        f"not {target!r}")
    return target


def _targets(target, labels, scores):
    """One class per image: its label, the class it is predicted as (from
    scores, the unperturbed output), or the one class given."""
    n, classes = scores.shape
    if isinstance(target, str) and target == "label":
        return _check_labels(_needs_labels(labels, "target='label'"), classes)
    if isinstance(target, str):
        return np.argmax(scores, axis=1).astype(np.int64)
    return np.full(n, class_indices(target, classes, "target"), dtype=np.int64)


def _relevance_target(target, labels):
    """What `relevance(target=...)` takes for target: the labels, None (the
    predicted class) or the one class index."""
    if isinstance(target, str) and target == "label":
        return _needs_labels(labels, "target='label'")
    return None if isinstance(target, str) else target


def _check_relevance_source(relevance, data):
    """relevance: a semiring (computed per batch) or an array with one map
    per image of data (its first axis the image axis)."""
    if isinstance(relevance, Semiring):
        return relevance
    if isinstance(relevance, type) and issubclass(relevance, Semiring):
        raise TypeError(f"relevance is the class {relevance.__name__}; give an instance, "
                        f"e.g. {relevance.__name__}()")
    r = as_array(relevance, "relevance")
    if r.ndim < 1 or len(r) != len(data):
        raise ValueError(f"relevance has shape {r.shape}: give one map per image "
                         f"({len(data)} images) or a semiring to compute them")
    return r


def _batch_relevance(net, x, relevance, start, targets):
    """The relevance maps of the images x[0:n] = data[start:start + n]: a
    slice of the given array, or computed for `targets` with the semiring."""
    if isinstance(relevance, Semiring):
        return _relevance(net, x, target=targets, semiring=relevance)
    r = np.asarray(relevance[start:start + len(x)])
    if not np.all(np.isfinite(r)):
        raise ValueError(f"relevance contains NaN or infinity (images {start} to "
                         f"{start + len(x) - 1})")
    return r


def _per_call(block, batch_size):
    """How many perturbed copies of a block of images one forward pass
    takes, so that a pass holds about batch_size images (at least one copy)."""
    return max(1, batch_size // block)


def _scores_of_variants(net, variants, per_call):
    """Yields the output scores (n, classes) of each array that `variants`
    yields (perturbed copies of one block of n images, all of one shape),
    running per_call of them in one forward pass."""
    chunk = []
    for variant in variants:
        chunk.append(variant)
        if len(chunk) == per_call:
            yield from _split_scores(net, chunk)
            chunk = []
    if chunk:
        yield from _split_scores(net, chunk)


def _split_scores(net, chunk):
    n = len(chunk[0])
    scores = _output_scores(net, np.concatenate(chunk) if len(chunk) > 1 else chunk[0])
    for i in range(len(chunk)):
        yield scores[i * n:(i + 1) * n]


def _apply_perturb(perturb, values):
    """perturb(values) for a callable, checked to keep the shape and be finite."""
    out = np.asarray(perturb(values))
    if out.shape != values.shape:
        raise ValueError(f"perturb turned values of shape {values.shape} into shape "
                         f"{out.shape}; it must keep the shape")
    if out.dtype.kind not in "biuf" or not np.all(np.isfinite(out)):
        raise ValueError("perturb must return finite real numbers")
    return out
