"""Turning user input (arrays, tensors, targets) into what the passes need,
with an error that names the problem when it cannot be done."""
from __future__ import annotations

import numbers
import sys

import numpy as np

from .diagnostics import check_input_range

__all__ = ["as_array", "as_batch", "as_targets", "class_indices", "from_tensor", "is_tensor",
           "tensor_like"]

#: torch float dtypes that NumPy has too: read as they are
_NUMPY_FLOATS = ("float16", "float32", "float64")


def is_tensor(x):
    """Whether x is a torch tensor (torch is never imported here: a tensor
    exists only once its module is)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def from_tensor(x, name="x"):
    """x's values as a NumPy array when x is a torch tensor, else x itself.

    The one place where tensors become arrays:
    - a dense CPU tensor of a dtype NumPy has (float16/32/64, ints, bool,
      complex) shares its memory with the array (no copy);
    - bfloat16 and the float8 types, which NumPy lacks, become float32,
      which holds each of their values exactly;
    - a tensor on another device (CUDA, MPS) is copied to the CPU;
    - a tensor without values (device "meta"), a sparse or a quantized one
      raises ValueError naming `name`; a dtype neither NumPy nor float32
      can hold (packed float4, bits, sub-byte ints) raises TypeError.
    """
    if not is_tensor(x):
        return x
    import torch

    if x.device.type == "meta":
        raise ValueError(f"{name} is a 'meta' tensor, which has a shape but no values")
    if x.layout != torch.strided:
        raise ValueError(f"{name} is a {x.layout} tensor; give a dense one "
                         "(tensor.to_dense())")
    if x.is_quantized:
        raise ValueError(f"{name} is a quantized tensor ({x.dtype}); give its values "
                         "(tensor.dequantize())")
    x = x.detach().cpu().resolve_conj().resolve_neg()
    if x.is_floating_point() and str(x.dtype).rpartition(".")[2] not in _NUMPY_FLOATS:
        try:
            x = x.to(torch.float32)
        except (RuntimeError, TypeError) as err:
            raise TypeError(f"{name} has dtype {x.dtype}, which cannot be read as float32 "
                            f"({err})") from None
    try:
        return x.numpy()
    except (RuntimeError, TypeError) as err:
        raise TypeError(f"{name} has dtype {x.dtype}, which NumPy cannot hold ({err})") from None


def tensor_like(x, array):
    """A result array as a torch tensor on x's device, x being a tensor:
    on the CPU it shares the array's memory (torch.from_numpy), elsewhere
    it is copied to x's device. An array torch cannot hold (dtype object)
    is returned as it is."""
    import torch

    if array.dtype == object:
        return array
    if not array.flags.writeable or any(stride < 0 for stride in array.strides):
        array = array.copy()  # torch.from_numpy takes neither
    tensor = torch.from_numpy(array)
    return tensor if x.device.type == "cpu" else tensor.to(x.device)


def as_array(x, name="x"):
    """A NumPy array from an array, a nested list or a torch tensor (see
    `from_tensor`); TypeError unless it holds real numbers."""
    x = from_tensor(x, name)
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
    # min and max carry any NaN and meet any infinity: two passes over x,
    # which the range check below reuses, and no temporary array
    extremes = (batch.min(), batch.max()) if batch.size else (0.0, 0.0)
    if not (np.isfinite(extremes[0]) and np.isfinite(extremes[1])):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(batch))[0])
        raise ValueError(f"x contains NaN or infinity (first at batch index {bad}, "
                         f"after conversion to {net.dtype})")
    check_input_range(net, arr.dtype, batch, extremes)
    return batch, single, shape


def as_targets(target, scores):
    """One class index per sample: the predicted class by default."""
    n, classes = scores.shape
    if target is None:
        return np.argmax(scores, axis=1)
    t = class_indices(target, classes, "target")
    if t.ndim == 0:
        return np.full(n, t, dtype=np.int64)
    if t.shape != (n,):
        raise ValueError(f"target has shape {t.shape}; give one int or one per sample "
                         f"({n} here)")
    return t


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _integers(value, name):
    """value as an array of integers: an integer dtype, or object holding
    Python ints beyond int64. Bools, floats (integral or not) and anything
    else raise TypeError naming `name`."""
    value = from_tensor(value, name)
    if _is_integer(value):  # any size; np.asarray would give object for 2**70
        return np.array(value, dtype=object if not -2**63 <= value < 2**64 else None)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):
        arr = np.asarray(None)
    if arr.dtype.kind in "iu":
        return arr
    if arr.size == 0 and arr.dtype.kind == "f":  # [] : the caller's shape check names it
        return arr.astype(np.int64)
    if arr.dtype == object and arr.size and all(map(_is_integer, arr.flat)):
        return arr
    shown = f"{value!r}" if arr.ndim == 0 else f"dtype {arr.dtype}"
    raise TypeError(f"{name} must be an integer class index (or one per sample), "
                    f"not {shown[:100]}")


def class_indices(value, classes, name="target"):
    """value (one int, or an array or list of them) as int64 class indices,
    each in [0, classes). An index out of range raises ValueError naming
    its own value, whatever its type (np.uint64(2**64 - 1), 2**70); bools
    and floats raise TypeError, as do non-numbers."""
    arr = _integers(value, name)
    bad = (arr < 0) | (arr >= classes)
    if np.any(bad):
        first = arr[bad].flat[0] if arr.ndim else arr[()]
        raise ValueError(f"{name} {int(first)} is out of range for {classes} classes "
                         f"(0 to {classes - 1})")
    return arr.astype(np.int64)
