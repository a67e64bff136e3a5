"""Turning user input (arrays, tensors, targets) into what the passes need,
with an error that names the problem when it cannot be done."""
from __future__ import annotations

import numpy as np

from .diagnostics import check_input_range

__all__ = ["as_array", "as_batch", "as_targets"]


def as_array(x, name="x"):
    """A NumPy array from an array, a nested list or a torch tensor."""
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise TypeError(f"{name} cannot be read as a numeric array: {err}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, not dtype {arr.dtype}")
    return arr


def as_batch(net, x):
    """(batch, single, shape): x as a C-contiguous (N, *input) array in the
    network's dtype, whether x was one sample, and x's own shape."""
    arr = as_array(x)
    shape = arr.shape
    expected = net.input_shape

    def fits(sample):
        return len(sample) == len(expected) and all(
            want is None or got == want for got, want in zip(sample, expected))

    flat = net.flattens_input
    if fits(shape) or (flat and shape == (net.n_features,)):
        batch, single = arr.reshape((1,) + shape), True
    elif arr.ndim >= 2 and (fits(shape[1:]) or (
            flat and int(np.prod(shape[1:])) == net.n_features)):
        batch, single = arr, False
    else:
        described = "x".join("*" if d is None else str(d) for d in expected)
        features = f" ({net.n_features} features per sample)" if net.n_features else ""
        raise ValueError(f"x has shape {shape}: expected one sample of shape {described} "
                         f"or a batch (N, {described}){features}")
    if batch.shape[0] == 0:
        raise ValueError("x is an empty batch")
    with np.errstate(over="ignore", invalid="ignore"):  # reported just below
        batch = np.ascontiguousarray(batch, dtype=net.dtype)
    if not np.all(np.isfinite(batch)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(batch))[0])
        raise ValueError(f"x contains NaN or infinity (first at batch index {bad}, "
                         f"after conversion to {net.dtype})")
    check_input_range(net, arr.dtype, batch)
    return batch, single, shape


def as_targets(target, scores):
    """One class index per sample: the predicted class by default."""
    n, classes = scores.shape
    if target is None:
        return np.argmax(scores, axis=1)
    t = as_array(target, "target")
    if t.dtype.kind not in "iu":
        raise TypeError(f"target must be an integer class index, not dtype {t.dtype}")
    if t.ndim == 0:
        t = np.full(n, t, dtype=np.int64)
    elif t.shape != (n,):
        raise ValueError(f"target has shape {t.shape}; give one int or one per sample "
                         f"({n} here)")
    bad = (t < 0) | (t >= classes)
    if np.any(bad):
        raise ValueError(f"target {t[bad][0]} is out of range: the network has {classes} "
                         f"classes (0 to {classes - 1})")
    return t.astype(np.int64)
