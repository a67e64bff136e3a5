"""The reductions: how the relevance of many images becomes one array.

A reduction is an element-wise monoid on accumulators: `identity`, the
value of no image; `prepare`, an image's relevance as accumulator values;
`combine`, two accumulators into one; and `finish`, an accumulator and its
number of images into the result. Every step is element-wise and exact or
IEEE-rounded the same way wherever it runs, so the bits of a reduction
depend only on the order of its combines (fixed by `chunks` and `tree`).
"""
from __future__ import annotations

import numpy as np

from ..generic import checked_identity, checked_result
from ..composed import ComposedSemiring
from ..semiring_specs import is_built_in
from ..semirings import Semiring, kernel_spec

__all__ = ["REDUCTIONS", "Reduction", "Several", "make_reduction"]

#: the names `reduce_relevance(reduce=...)` takes
REDUCTIONS = ("or", "and", "sum", "mean", "mean_abs", "max", "semiring")

_INT64 = np.dtype(np.int64)
_INT64_MAX = np.iinfo(np.int64).max


class Reduction:
    """Base class: an element-wise monoid on accumulators, whose dtype
    follows from the relevance's (`accumulator_dtype`)."""

    name = ""

    def accumulator_dtype(self, relevance_dtype):
        raise NotImplementedError

    def identity(self, shape, dtype):
        """Accumulators of no image, shaped `shape`, of accumulator `dtype`."""
        raise NotImplementedError

    def prepare(self, r):
        """Relevance (k, *shape) as accumulator values."""
        raise NotImplementedError

    def combine(self, a, b):
        """a (+) b, element-wise, in a's dtype; a and b are left as they are."""
        raise NotImplementedError

    def combine_into(self, a, b):
        """a = a (+) b in place, with the bits of `combine`."""
        a[...] = self.combine(a, b)

    def finish(self, accumulator, count):
        """The result of `count` images whose accumulator this is."""
        return _positive_zeros(accumulator)

    def empty(self, shape, dtype):
        """The result for a class that no image falls in."""
        return self.finish(self.identity(shape, dtype), 0)

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


def _positive_zeros(a):
    """-0.0 becomes +0.0 (x + 0.0); other values and dtypes keep their bits.
    A sample's relevance may differ alone or in a batch only in such signs."""
    if a.dtype.kind == "f":
        return a + a.dtype.type(0)
    return a


class _Nonzero(Reduction):
    """'or' / 'and' of `relevance != zero`: on booleans, the values
    themselves. zero is 0, or a composed semiring's zero (MaxPlus's -inf:
    no path), so that "relevant" means "not the semiring's 0"."""

    def __init__(self, name, zero=0):
        self.name, self.zero = name, zero
        self._start = name == "and"
        self._op = np.logical_and if name == "and" else np.logical_or

    def accumulator_dtype(self, relevance_dtype):
        return np.dtype(np.bool_)

    def identity(self, shape, dtype):
        return np.full(shape, self._start, dtype=np.bool_)

    def prepare(self, r):
        return r != self.zero

    def combine(self, a, b):
        return self._op(a, b)

    def combine_into(self, a, b):
        self._op(a, b, out=a)


class _Sum(Reduction):
    """Sum: booleans count images (int64), integers add in int64 with an
    OverflowError past its range, floats add in float64."""

    def __init__(self, name):
        self.name = name

    def accumulator_dtype(self, relevance_dtype):
        _check_real(self.name, relevance_dtype)
        return _INT64 if np.dtype(relevance_dtype).kind in "biu" else np.dtype(np.float64)

    def identity(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def prepare(self, r):
        if r.dtype.kind in "iu":
            return _as_int64(r)
        # floats are added to float64 accumulators, which converts them exactly
        return r.astype(_INT64) if r.dtype.kind == "b" else r

    def combine(self, a, b):
        total = np.add(a, b)
        # two's complement: the sum wrapped iff its sign differs from both terms'
        if total.dtype.kind == "i" and np.any((a ^ total) & (b ^ total) < 0):
            raise OverflowError(f"reduce={self.name!r}: a sum of relevance exceeds the "
                                "int64 range (2**63 - 1)")
        return total

    def combine_into(self, a, b):
        if a.dtype.kind == "f":
            np.add(a, b, out=a)
        else:
            a[...] = self.combine(a, b)


class _Mean(_Sum):
    """mean / mean_abs: the exact or float64 sum, divided by the number of
    images at the very end (float64; 0 for no image)."""

    def __init__(self, name):
        super().__init__(name)
        self.absolute = name == "mean_abs"

    def prepare(self, r):
        values = super().prepare(r)
        if not self.absolute:
            return values
        if values.dtype.kind == "i" and np.any(values == np.iinfo(np.int64).min):
            raise OverflowError(f"reduce={self.name!r}: |-2**63| exceeds the int64 range")
        return np.abs(values)

    def finish(self, accumulator, count):
        if count == 0:
            return np.zeros(accumulator.shape, dtype=np.float64)
        return _positive_zeros(accumulator / np.float64(count))


class _Max(Reduction):
    """Element-wise max in the relevance's own dtype (identity -inf, the
    dtype's least integer, or False)."""

    name = "max"

    def accumulator_dtype(self, relevance_dtype):
        _check_real(self.name, relevance_dtype)
        return np.dtype(relevance_dtype)

    def identity(self, shape, dtype):
        if dtype.kind == "f":
            start = -np.inf
        elif dtype.kind in "iu":
            start = np.iinfo(dtype).min
        else:
            start = False
        return np.full(shape, start, dtype=dtype)

    def prepare(self, r):
        return _positive_zeros(r)

    def combine(self, a, b):
        return np.maximum(a, b)

    def combine_into(self, a, b):
        np.maximum(a, b, out=a)


class _SemiringAdd(Reduction):
    """A user semiring's (+), from its zero(), in the relevance's dtype;
    what `zero` and `add` return is checked (numbers or booleans, shaped
    as their arguments, never of a wider dtype than the accumulators)."""

    name = "semiring"
    _where = "in reduce='semiring'"

    def __init__(self, semiring):
        self.semiring = semiring

    def accumulator_dtype(self, relevance_dtype):
        return np.dtype(relevance_dtype)

    def identity(self, shape, dtype):
        return np.full(shape, checked_identity(self.semiring, "zero", self._where), dtype=dtype)

    def prepare(self, r):
        return _positive_zeros(r)

    def combine(self, a, b):
        total = checked_result(self.semiring.add(a, b), "add", self.semiring, self._where,
                               a.shape)
        if np.result_type(a.dtype, total.dtype) != a.dtype:
            raise TypeError(f"{type(self.semiring).__name__}.add returned {total.dtype} for "
                            f"two {a.dtype} arrays {self._where}; the relevance is "
                            f"{a.dtype}, and a sum of it must fit that dtype")
        return total.astype(a.dtype, copy=False)


class Several(Reduction):
    """Several reductions of the same images in one pass (`reduce=("or",
    "and")`): an image's accumulator holds one value per part along the axis
    after the slot axis, (n, parts, *shape). The parts must share their
    accumulators' dtype, so that one array holds them all; each part keeps
    its own bits, as if it ran alone."""

    def __init__(self, names, parts):
        self.names, self.parts = tuple(names), tuple(parts)
        self.name = self.names

    def accumulator_dtype(self, relevance_dtype):
        dtypes = {part.accumulator_dtype(relevance_dtype) for part in self.parts}
        if len(dtypes) != 1:
            raise TypeError(f"reduce={self.names!r} combines reductions whose accumulators "
                            f"differ in dtype ({', '.join(sorted(map(str, dtypes)))}) on "
                            f"{np.dtype(relevance_dtype)} relevance; reduce them in separate "
                            "calls")
        return dtypes.pop()

    def identity(self, shape, dtype):
        return np.stack([part.identity(shape, dtype) for part in self.parts], axis=1)

    def prepare(self, r):
        return np.stack([part.prepare(r) for part in self.parts], axis=1)

    def combine(self, a, b):
        return np.stack([part.combine(a[:, i], b[:, i]) for i, part in enumerate(self.parts)],
                        axis=1)

    def combine_into(self, a, b):
        for i, part in enumerate(self.parts):
            part.combine_into(a[:, i], b[:, i])


def _check_real(name, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise TypeError(f"reduce={name!r} works on bool, integer and float relevance, not "
                        f"{dtype} (use reduce='semiring' for your semiring's (+))")


def _as_int64(r):
    """Integer relevance as int64; uint64 values past its range raise."""
    if r.dtype.kind == "u" and r.dtype.itemsize >= 8 and np.any(r > _INT64_MAX):
        raise OverflowError("a relevance value exceeds the int64 range (2**63 - 1)")
    return r.astype(_INT64)


def make_reduction(reduce, semiring, relevance_dtype):
    """The reduction named `reduce` for relevance from `semiring`, whose
    dtype is expected to be `relevance_dtype` (its kind is checked here, the
    dtype itself where the relevance is made); ValueError for an unknown
    name, TypeError for a dtype it cannot reduce. A tuple or list of names
    is a `Several` of them."""
    if isinstance(reduce, (tuple, list)):
        names = tuple(reduce)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"reduce={reduce!r} must name each reduction once, and at "
                             "least one")
        parts = [make_reduction(name, semiring, relevance_dtype) for name in names]
        several = Several(names, parts)
        several.accumulator_dtype(relevance_dtype)
        return several
    if not isinstance(reduce, str) or reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {', '.join(map(repr, REDUCTIONS))}, "
                         f"not {reduce!r}")
    relevance_dtype = np.dtype(relevance_dtype)
    if reduce == "semiring":
        # a built-in semiring on the C kernels has its (+) as a named reduction
        spec = kernel_spec(semiring)
        if spec is None or not is_built_in(spec):
            if not isinstance(semiring, Semiring):
                raise TypeError(f"reduce='semiring' needs a semiring_lrp.Semiring, "
                                f"not {semiring!r}")
            return _SemiringAdd(semiring)
        reduce = spec.reduction
    _check_real(reduce, relevance_dtype)
    if reduce in ("or", "and"):
        composed = isinstance(semiring, ComposedSemiring)
        return _Nonzero(reduce, semiring.zero() if composed else 0)
    if reduce == "sum":
        return _Sum(reduce)
    if reduce in ("mean", "mean_abs"):
        return _Mean(reduce)
    return _Max()
