"""What a pass tells about itself: relevance that dies or saturates, its
density per layer, and input outside the range a network was trained on.

The checks run once per pass on arrays the pass already holds: one test
per sample of the returned relevance (a scan that stops at the first
nonzero value for long rows). Only when some sample's relevance died is
the pass walked again, for those samples alone, to name the layer.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

import numpy as np

from . import _core

__all__ = ["RelevanceWarning", "InputRangeWarning", "alive_rows", "saturated_rows",
           "nonzero_fraction"]

# the dtypes whose rows the C core scans, each stopping at its first nonzero
_SCANNED = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.bool_, np.int8, np.int16,
                                           np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                                           np.uint64))
# the prefix of each row tested first for a zero: a row that is not
# saturated almost always shows one there (MNIST's first pixels are blank)
_PREFIX = 64


class RelevanceWarning(UserWarning):
    """The relevance of a pass died in some layer or saturated.

    kind      "dies": for some samples, every relevance entering `layer` is 0
              (and so is every relevance below it, towards the input);
              "saturates": for some samples, every entry of the returned
              relevance is nonzero (every input relevant).
    layer     the layer's name ("input" for the network's input)
    index     its index in `net.layers` (0 for the input)
    samples   the indices, in the batch, of the samples concerned
    batch     the number of samples in the pass
    semiring  the semiring of the pass
    threshold the threshold in force at that layer (None where none applies)

    The pass builds it; message is the warning's text, which names the
    layer and says what to change.
    """

    def __init__(self, message, kind, layer, index, samples, batch, semiring, threshold):
        super().__init__(message)
        self.kind, self.layer, self.index = kind, layer, index
        self.samples, self.batch = samples, batch
        self.semiring, self.threshold = semiring, threshold


class InputRangeWarning(UserWarning):
    """The input lies far outside the range the network takes: raw uint8
    pixels (0 to 255) given to a network that takes them scaled to [0, 1]."""


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# the wrapper of functions decorated with a context manager (pooled_arrays)
_CONTEXTLIB = contextlib.__file__


def _outside_stacklevel():
    """The stacklevel of `warnings.warn`, called from here, that names the
    first caller outside this package and its decorators (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE)
                                 or frame.f_code.co_filename == _CONTEXTLIB):
        frame, level = frame.f_back, level + 1
    return level


def _warn(warning):
    warnings.warn(warning, stacklevel=_outside_stacklevel())


def _rows(r):
    return r.reshape(len(r), -1)


def alive_rows(r):
    """Whether each sample (first axis) of relevance r holds a nonzero value
    (-0 is zero, NaN is not)."""
    rows = _rows(r)
    if rows.dtype in _SCANNED:
        return _core.rows_any_nonzero(rows)
    return rows.any(axis=1)


def saturated_rows(r):
    """Whether every entry of each sample (first axis) of r is nonzero."""
    rows = _rows(r)
    full = rows[:, :_PREFIX].all(axis=1)
    if rows.shape[1] > _PREFIX and full.any():
        full[full] = rows[full, _PREFIX:].all(axis=1)
    return full


def nonzero_fraction(r, per_sample, zero=0):
    """The fraction of entries of r that are not `zero` (the semiring's 0;
    -0 equals 0): over all of it, or per sample (first axis) as a float64
    array."""
    r = np.asarray(r)
    if zero != 0:
        r = r != zero
    if not per_sample:
        return float(np.count_nonzero(r)) / r.size if r.size else 0.0
    rows = _rows(r)
    return np.count_nonzero(rows, axis=1) / rows.shape[1]


def warn_relevance(kind, message, layer, index, samples, batch, semiring, threshold):
    """Issues a RelevanceWarning, attributed to the first caller outside the package."""
    _warn(RelevanceWarning(message, kind, layer, index, samples, batch, semiring, threshold))


def check_input_range(net, given, batch, extremes=None):
    """Warns (InputRangeWarning) when x cannot be what the network takes:
    an integer array with values above 1 (raw pixels: every network here
    takes floats), or, for a network that states its input range (the
    shipped MNIST models: [0, 1]), values outside it by more than its
    width. Booleans and integer arrays of 0 and 1 pass. `given` is x's own
    dtype, `batch` x converted to the network's (contiguous, finite),
    `extremes` its (min, max) where the caller has them."""
    if batch.size == 0:
        return
    smallest, largest = extremes if extremes is not None else (batch.min(), batch.max())
    if given.kind in "iu":
        top = largest
        if top > 1:
            _warn(InputRangeWarning(
                f"x is {given} with values up to {top:g}: the network computes on floats "
                f"and takes x as it is, so raw pixels stay 0 to 255; scale them to what the "
                f"network was trained on (the shipped MNIST models: "
                f"sl.models.mnist_input(images), pixel / 255)"))
        return
    low_high = getattr(net, "input_range", None)
    if low_high is None or given.kind != "f":
        return
    low, high = low_high
    width = high - low
    if smallest < low - width or largest > high + width:
        _warn(InputRangeWarning(
            f"x holds values from {smallest:g} to {largest:g}, but this network takes "
            f"inputs in [{low:g}, {high:g}]; raw pixels (0 to 255) must be scaled first "
            f"(the shipped MNIST models: sl.models.mnist_input(images), pixel / 255)"),
           )
