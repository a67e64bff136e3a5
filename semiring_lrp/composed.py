"""Composed semirings: (+) and (x) named from a fixed menu, Theta an
`sl.annotations` chain, elements of one NumPy dtype (GraphBLAS's way: a
semiring is data).

`Semiring.compose(add=..., mul=..., zero=..., one=..., annotate=...,
dtype=...)` checks the parts once and returns a `ComposedSemiring`. It runs
in the C core (csrc/composed/), which takes `core_descriptor`; a subclass
that overrides a value method runs on the generic NumPy path (generic.py)
with NumPy's ufuncs in its element dtype.
Ready-made: `MaxPlus`, `MinMax`, `FloatCounting`, `LogCounting`.

Every value follows docs/semantics.md, section 3: for each pair (j, k) the
chain's value is computed in the network's dtype, converted to the element
dtype (a threshold gives the semiring's one or zero), and
R_j = (+)_k value_jk (x) R_k. int64 plus and times raise OverflowError
instead of wrapping; a NaN (inf - inf under plus, 0 * inf under times) is a
ValueError naming the semiring and the layer.
"""
from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from . import annotations
from .annotations import Annotation
from .rules import survives_rounding
from .semiring_specs import SemiringSpec
from .semirings import Semiring, _LayerThresholds

__all__ = ["ComposedSemiring", "MaxPlus", "MinMax", "FloatCounting", "LogCounting",
           "ADDS", "MULS"]

# The C core exports the same values as _core.ADD_*, _core.MUL_*,
# _core.SOURCE_* and _core.STEP_* (issue 21's contract); they must stay equal.
ADD_PLUS, ADD_MAX, ADD_MIN, ADD_OR, ADD_AND, ADD_LOGADDEXP = range(6)
MUL_TIMES, MUL_PLUS, MUL_MIN, MUL_MAX, MUL_AND = range(5)
SOURCE_COEFFICIENT, SOURCE_VITERBI = 0, 1
STEP_ABS, STEP_LOG, STEP_CLIP, STEP_THRESHOLD = range(4)

#: the names of (+) and of (x), with their C core constants
ADDS = {"plus": ADD_PLUS, "max": ADD_MAX, "min": ADD_MIN, "or": ADD_OR, "and": ADD_AND,
        "logaddexp": ADD_LOGADDEXP}
MULS = {"times": MUL_TIMES, "plus": MUL_PLUS, "min": MUL_MIN, "max": MUL_MAX, "and": MUL_AND}

# each operation's identity, the default zero (add) and one (mul)
_ADD_IDENTITY = {"plus": 0.0, "max": -math.inf, "min": math.inf, "or": False, "and": True,
                 "logaddexp": -math.inf}
_MUL_IDENTITY = {"times": 1.0, "plus": 0.0, "min": math.inf, "max": -math.inf, "and": True}

_UFUNCS = {"plus": np.add, "times": np.multiply, "max": np.maximum, "min": np.minimum,
           "or": np.logical_or, "and": np.logical_and, "logaddexp": np.logaddexp}

# how pictures fold channels (`images.aggregate_channels`) under each (+)
_REDUCTIONS = {"plus": "sum", "max": "max", "min": "min", "or": "or", "and": "and",
               "logaddexp": "logaddexp"}

_ELEMENT_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.int64, np.bool_))
_INT64 = np.dtype(np.int64)
_INT64_MAX = np.iinfo(np.int64).max
_STEP_CODES = {"abs": STEP_ABS, "log": STEP_LOG, "clip": STEP_CLIP}


class NaNProduced(ValueError):
    """A composed semiring's operation produced NaN; the generic path adds
    the layer to the message."""


class CountOverflow(OverflowError):
    """An int64 plus or times left the int64 range; the generic path adds
    the layer to the message."""


def _element_dtype(dtype):
    if dtype is None:
        return None
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be None, 'float32', 'float64', 'int64' or 'bool', "
                        f"not {dtype!r}") from None
    if resolved not in _ELEMENT_DTYPES:
        raise ValueError(f"dtype {resolved} is not an element type of composed semirings: "
                         "use None (the network's float dtype), float32, float64, int64 "
                         "or bool")
    return resolved


def _operation(name, table, what):
    if not isinstance(name, str):
        raise TypeError(f"{what} must be an operation's name, one of {', '.join(table)}; "
                        f"not {name!r}")
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}: use one of {', '.join(table)}")
    return name


def _number(value, what):
    if not isinstance(value, (bool, np.bool_, numbers.Real)):
        raise TypeError(f"{what} must be a number or a bool, not {value!r}")
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if math.isnan(value):
        raise ValueError(f"{what} must not be NaN")
    return float(value)


def _in_dtype(value, dtype, what):
    """`value` (a float or bool) as a scalar of element dtype `dtype`;
    ValueError when it is not one of its values."""
    if dtype == np.bool_:
        if value not in (0, 1) and not (isinstance(value, float) and math.isinf(value)):
            raise ValueError(f"{what}={value!r} is no bool: give False or True for dtype bool")
        # -inf and inf are the bottom and top of the bool lattice (max/min identities)
        return np.bool_(value > 0)
    if dtype == _INT64:
        if not (math.isfinite(value) and value == int(value) and abs(value) <= 2.0**63 - 1024):
            raise ValueError(f"{what}={value!r} is no int64 value: give an integer"
                             + (" (int64 has no infinity; give zero= and one= explicitly)"
                                if isinstance(value, float) and math.isinf(value) else ""))
        return np.int64(int(value))
    if not survives_rounding(float(value), dtype):
        raise ValueError(f"{what}={value!r} does not keep its value in {dtype}")
    return dtype.type(value)


class ComposedSemiring(_LayerThresholds, Semiring):
    """A semiring from named parts; build it with `Semiring.compose` (see
    there for the checks): add and mul name (+) and (x), zero and one are
    numbers or bools (None: the operations' identities), annotate is an
    `sl.annotations` chain (None: identity()), dtype the element dtype.

    Attributes:
    add_name, mul_name
                 the names of (+) and (x)
    annotation   the `sl.annotations` chain (Theta)
    dtype        the element dtype given (None: the network's float dtype,
                 fixed by `per_layer(net)` when a pass starts)
    threshold, pool_threshold, absolute
                 the chain's threshold step, per layer as `sl.Boolean`'s
                 (None, None, False without one)
    """

    def __init__(self, add, mul, zero=None, one=None, annotate=None, dtype=None):
        self.add_name = _operation(add, ADDS, "add")
        self.mul_name = _operation(mul, MULS, "mul")
        chain = annotations.identity() if annotate is None else annotate
        if not isinstance(chain, Annotation):
            raise TypeError(f"annotate must be an sl.annotations chain (e.g. "
                            f"sl.annotations.abs()), not {annotate!r}")
        self.annotation = chain
        self.dtype = _element_dtype(dtype)
        self._check_dtype_fits()
        self.domain = chain.domain()  # ValueError for log on a possibly negative domain
        step = chain.threshold
        self.thresholded = step is not None
        self.threshold = step.theta if step else None
        self.pool_threshold = step.pool_threshold if step else None
        self.absolute = step.absolute if step else False
        self._given = (zero, one)
        self.zero_value = self._default(zero, _ADD_IDENTITY[self.add_name], "zero")
        self.one_value = self._default(one, _MUL_IDENTITY[self.mul_name], "one")
        self._resolve(self.dtype)

    # ------------------------------------------------------------ checks

    def _check_dtype_fits(self):
        dtype, add, mul = self.dtype, self.add_name, self.mul_name
        if dtype is not None and dtype.kind in "bi" and self.annotation.threshold is None:
            raise TypeError(f"dtype {dtype} holds no coefficient: an {dtype} semiring needs an "
                            f"annotation that ends in threshold(...), not {self.annotation!r}")
        if add == "logaddexp" and dtype is not None and dtype.kind != "f":
            raise TypeError(f"add 'logaddexp' works on floats, not dtype {dtype}")
        for what, name in (("add", add), ("mul", mul)):
            if name in ("or", "and") and dtype != np.bool_:
                raise TypeError(f"{what} {name!r} works on bools: give dtype='bool' "
                                f"(not {dtype if dtype is not None else 'None, a float dtype'})")

    def _default(self, value, identity, what):
        if value is None:
            return identity
        return _number(value, what)

    def _resolve(self, dtype):
        """Fixes the element dtype (None: float64 for the checks, the
        network's dtype later) and checks zero and one in it."""
        self._elem = dtype
        check_dtype = dtype if dtype is not None else np.dtype(np.float64)
        self._zero = _in_dtype(self.zero_value, check_dtype, "zero")
        self._one = _in_dtype(self.one_value, check_dtype, "one")
        self._check_identities(check_dtype)

    def _check_identities(self, dtype):
        """add(zero, x) == x, mul(zero, x) == zero and mul(one, x) == x for
        sample points x of the chain's domain, zero and one, in `dtype`."""
        if self.thresholded:
            points = []
        else:
            big = np.finfo(dtype).max if dtype.kind == "f" else 2.0**62
            points = [_in_dtype(p, dtype, "a point of the domain") for p in
                      self.domain.samples(float(big))]
        points += [self._zero, self._one]
        add, mul = _UFUNCS[self.add_name], _UFUNCS[self.mul_name]
        where = (f"on the values {self.annotation!r} can produce"
                 + ("" if self.thresholded else f", {self.domain!r},") + " with zero and one")
        laws = ((f"zero={self.zero_value!r} must be neutral for add {self.add_name!r}",
                 lambda x: add(self._zero, x), lambda x: x),
                (f"zero={self.zero_value!r} must absorb mul {self.mul_name!r}",
                 lambda x: mul(self._zero, x), lambda x: self._zero),
                (f"one={self.one_value!r} must be neutral for mul {self.mul_name!r}",
                 lambda x: mul(self._one, x), lambda x: x))
        with np.errstate(all="ignore"):
            for law, apply, expected in laws:
                for x in points:
                    x = np.asarray(x, dtype=dtype)
                    got, want = apply(x), expected(x)
                    if not got == want:
                        raise ValueError(f"{law} {where}: for x = {x.item()!r} it gives "
                                         f"{np.asarray(got).item()!r}, not "
                                         f"{np.asarray(want).item()!r}")

    # ------------------------------------------------------------ the semiring

    def zero(self):
        return self._zero if self._elem is not None else float(self._zero)

    def one(self):
        return self._one if self._elem is not None else float(self._one)

    def add(self, a, b):
        return self._apply(self.add_name, a, b)

    def mul(self, a, b):
        return self._apply(self.mul_name, a, b)

    def _apply(self, name, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if name in ("plus", "times") and a.dtype == _INT64 and b.dtype == _INT64:
            return self._checked_int64(name, a, b)
        with np.errstate(invalid="ignore"):
            result = _UFUNCS[name](a, b)
        if result.dtype.kind == "f":
            bad = np.isnan(result)
            if bad.any():
                a, b = np.broadcast_arrays(a, b)
                raise NaNProduced(f"{self!r} produced NaN: {name}({a[bad].flat[0]!r}, "
                                  f"{b[bad].flat[0]!r})")
        return result

    def _checked_int64(self, name, a, b):
        a, b = np.broadcast_arrays(a, b)
        with np.errstate(over="ignore"):
            result = np.add(a, b) if name == "plus" else np.multiply(a, b)
        if name == "plus":
            # signed overflow: both operands' signs differ from the result's
            wrapped = ((a ^ result) & (b ^ result)) < 0
        else:
            suspect = np.abs(a.astype(np.float64)) * np.abs(b.astype(np.float64)) >= 2.0**62
            wrapped = np.zeros(a.shape, dtype=bool)
            if suspect.any():
                exact = a[suspect].astype(object) * b[suspect].astype(object)
                wrapped[suspect] = [not (-_INT64_MAX - 1 <= v <= _INT64_MAX) for v in exact]
        if wrapped.any():
            raise CountOverflow(f"{self!r}: {name} of {a[wrapped].flat[0]} and "
                                f"{b[wrapped].flat[0]} exceeds the int64 range (2**63 - 1)")
        return result

    def annotate(self, d, layer):
        """The chain on the coefficients d of weighted layer `layer` (a
        chain from identity() only)."""
        if self.annotation.source != "identity":
            raise TypeError(f"{self.annotation!r} reads the contributions a_j * w_jk, not d "
                            "alone; it is computed by annotate_contributions")
        theta = self.checked_theta(layer) if self.thresholded and layer is not None else None
        return self._finish(self.annotation.transformed(np.asarray(d)), theta)

    def annotate_contributions(self, contributions, layer):
        theta = self.checked_theta(layer) if self.thresholded else None
        return self._finish(self.annotation.values(contributions), theta)

    def annotate_pooling(self, contributions, pool):
        theta = self.checked_pool_theta(pool) if self.thresholded else None
        return self._finish(self.annotation.values(contributions), theta)

    def _finish(self, values, theta):
        """Values in the network's dtype as elements: one where they pass
        `theta` (a threshold), zero elsewhere; else converted."""
        if theta is not None:
            compared = np.abs(values) if self.absolute else values
            passes = compared >= np.asarray(theta, dtype=values.dtype)
            return np.where(passes, self.one(), self.zero()) if self._elem is not None else \
                np.where(passes, values.dtype.type(self._one), values.dtype.type(self._zero))
        return values if self._elem is None else values.astype(self._elem, copy=False)

    # ------------------------------------------------------------ per network

    def per_layer(self, net):
        """A copy checked against `net`: thresholds by layer resolved (as
        `sl.Boolean`'s) and, for dtype=None, the network's float dtype as
        the element dtype."""
        resolved = super().per_layer(net) if self.thresholded else copy.copy(self)
        if self.dtype is None:
            resolved._resolve(np.dtype(net.dtype))
        return resolved

    def check_layers(self, weighted_layers, pooling_layers=0):
        if self.thresholded:
            super().check_layers(weighted_layers, pooling_layers)

    def check_fits(self, net):
        """Thresholds as `sl.Boolean.check_fits`; zero and one must keep
        their value in the element dtype (the network's, for dtype=None)."""
        if self.thresholded:
            super().check_fits(net)
        if self.dtype is None:
            for what, value in (("zero", self.zero_value), ("one", self.one_value)):
                _in_dtype(value, np.dtype(net.dtype), what)

    # ------------------------------------------------------------ as data

    @property
    def element_dtype(self):
        """The element dtype: the one given, the network's once resolved
        (`per_layer`), else None."""
        return self._elem

    @property
    def spec(self):
        """Its `SemiringSpec`: what pictures, reducers and the relevance's
        dtype read (core_id: `core_descriptor`, None while unresolved)."""
        return SemiringSpec(self._name(), self.core_descriptor if self._elem is not None else None,
                            self._elem, thresholded=self.thresholded,
                            strongest=self.annotation.source == "viterbi",
                            reduction=_REDUCTIONS[self.add_name], kind=self._kind(),
                            label=f"{self._name()}-relevance")

    def _name(self):
        own = type(self)
        return own.__name__.lower() if own is not ComposedSemiring else \
            f"{self.add_name}-{self.mul_name}"

    def _kind(self):
        """The heatmap kind: boolean, counting for int64 and non-negative
        floats, viterbi for values in [0, 1] under max and times (or min),
        else real."""
        elem = self._elem
        if elem == np.bool_:
            return "boolean"
        if elem == _INT64:
            return "counting"
        values = ([self.zero_value, self.one_value] if self.thresholded else
                  [self.domain.lo, self.domain.hi, self.zero_value, self.one_value])
        low, high = min(map(float, values)), max(map(float, values))
        if low < 0:
            return "real"
        if high <= 1 and self.add_name in ("max", "min") and self.mul_name in ("times", "min"):
            return "viterbi"
        return "counting"

    @property
    def core_descriptor(self):
        """The semiring as the C core takes it: (add, mul, element type
        number, zero, one, source, steps) with steps ((step, p1, p2), ...);
        ValueError for dtype=None before `per_layer(net)` fixed it."""
        if self._elem is None:
            raise ValueError(f"{self!r} has dtype=None: its element type is the network's; "
                             "resolve it first with per_layer(net)")
        steps = []
        for step in self.annotation.steps:
            if isinstance(step, annotations.Threshold):
                steps.append((STEP_THRESHOLD, 1.0 if step.absolute else 0.0, 0.0))
            elif step[0] == "clip":
                steps.append((STEP_CLIP, step[1], step[2]))
            else:
                steps.append((_STEP_CODES[step[0]], 0.0, 0.0))
        source = SOURCE_VITERBI if self.annotation.source == "viterbi" else SOURCE_COEFFICIENT
        return (ADDS[self.add_name], MULS[self.mul_name], self._elem.num, float(self._zero),
                float(self._one), source, tuple(steps))

    def __repr__(self):
        zero, one = self._given
        parts = [f"add={self.add_name!r}", f"mul={self.mul_name!r}"]
        parts += [f"{name}={value!r}" for name, value in (("zero", zero), ("one", one))
                  if value is not None]
        parts.append(f"annotate={self.annotation!r}")
        if self.dtype is not None:
            parts.append(f"dtype={str(self.dtype)!r}")
        return f"Semiring.compose({', '.join(parts)})"


class MaxPlus(ComposedSemiring):
    """Max-plus over log|d|: the log of the strongest path's product of
    |coefficients| from an input to the target (-inf: no path with a
    nonzero product). It never underflows where the product itself would.

    Semiring.compose(add="max", mul="plus", zero=-inf, one=0,
    annotate=sl.annotations.log_abs()); the network's float dtype.
    """

    def __init__(self):
        super().__init__("max", "plus", -math.inf, 0.0, annotations.log_abs())

    def __repr__(self):
        return "MaxPlus()"


class MinMax(ComposedSemiring):
    """Max-min over |d|: the strongest path's weakest link, the largest b
    such that some path from the input to the target has |d_jk| >= b at
    every step.

    Semiring.compose(add="max", mul="min", zero=0, one=inf,
    annotate=sl.annotations.abs()); the network's float dtype.
    """

    def __init__(self):
        super().__init__("max", "min", 0.0, math.inf, annotations.abs())

    def __repr__(self):
        return "MinMax()"


class _ThresholdReadyMade(ComposedSemiring):
    """A ready-made semiring over threshold(threshold, absolute, pool_threshold)."""

    def __repr__(self):
        step = self.annotation.threshold
        return (f"{type(self).__name__}(threshold={self.threshold!r}, absolute={step.absolute}"
                f", pool_threshold={self.pool_threshold!r})")


class FloatCounting(_ThresholdReadyMade):
    """How many relevant paths, approximately: `sl.Counting`'s sum over
    paths whose every pair passes the threshold, in float64, so counts far
    past 2**63 are given (rounded to 53 bits) instead of raising.

    Semiring.compose(add="plus", mul="times", zero=0, one=1,
    annotate=sl.annotations.threshold(threshold, absolute, pool_threshold),
    dtype="float64"). Thresholds as `sl.Counting`'s.
    """

    def __init__(self, threshold=1e-9, absolute=False, pool_threshold=1e-9):
        super().__init__("plus", "times", 0.0, 1.0,
                         annotations.threshold(threshold, absolute, pool_threshold), "float64")


class LogCounting(_ThresholdReadyMade):
    """The natural log of the number of relevant paths (-inf: none), by
    log-sum-exp: exact to rounding and never overflowing, where
    `sl.Counting` raises OverflowError (VGG-16 at 1e-9).

    Semiring.compose(add="logaddexp", mul="plus", zero=-inf, one=0,
    annotate=sl.annotations.threshold(threshold, absolute, pool_threshold),
    dtype="float64"). Thresholds as `sl.Counting`'s.
    """

    def __init__(self, threshold=1e-9, absolute=False, pool_threshold=1e-9):
        super().__init__("logaddexp", "plus", -math.inf, 0.0,
                         annotations.threshold(threshold, absolute, pool_threshold), "float64")
