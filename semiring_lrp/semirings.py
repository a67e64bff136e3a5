"""Semirings: the paper's (K, (+), (x), 0, 1) with an annotation Theta per layer.

Built-in semirings run in the C core, and so do their subclasses that keep
every method defining the semiring's values (`kernel_spec`). Any other
`Semiring` subclass runs on a generic NumPy path that evaluates K-LRP
literally: slower, same answers.
"""
from __future__ import annotations

import copy
import numbers

import weakref

import numpy as np

from . import _core
from .rules import rounding_problem, survives_rounding
from .semiring_specs import BOOLEAN, COUNTING, REAL, VITERBI

__all__ = ["Semiring", "Contributions", "Real", "Boolean", "Counting", "Viterbi", "kernel_spec",
           "family_spec"]


class Contributions:
    """What an annotation may look at: a group of (input j, output k) pairs
    of one layer for a chunk of samples, all arrays of one shape (N, G).

    numerator    n_jk = a_j * rho(w_jk) (z^B: x_j w_jk - l_j w_jk^+ - h_j w_jk^-)
    bias         beta_k, the bias neuron's term rho(b_k) of output k
    denominator  the stabilised z_k
    strongest    max(|beta_k|, max_j' |n_j'k|), Viterbi's normaliser (computed
                 when first read)
    d            n_jk / z_k, and 0 where z_k == 0
    """

    def __init__(self, numerator, bias, denominator, strongest):
        self.numerator = numerator
        self.bias = bias
        self.denominator = denominator
        self._strongest = strongest

    @property
    def strongest(self):
        """max(|beta_k|, max_j' |n_j'k|) per output, shaped like `numerator`
        (Viterbi's normaliser), computed on first read and kept."""
        if callable(self._strongest):
            self._strongest = self._strongest()
        return self._strongest

    @property
    def d(self):
        """The coefficients d_jk = n_jk / z_k as a new array, 0 where z_k == 0."""
        z = self.denominator
        return np.divide(self.numerator, z, out=np.zeros_like(self.numerator), where=z != 0)


class Semiring:
    """Base class for semirings, written the paper's way.

    Subclasses define `zero()`, `one()`, `add(a, b)`, `mul(a, b)` and
    `annotate(d, layer)`; `add`, `mul` and `annotate` work element-wise on
    NumPy arrays, and `layer` is the index of the weighted layer (Linear, and
    later Conv2d) in forward order. `zero` must be neutral for `add` and
    absorbing for `mul`: the propagation skips outputs whose relevance is 0.

    An annotation that needs more than the coefficients d (Viterbi's needs
    the raw contributions) overrides `annotate_contributions` instead.
    Pooling layers call `annotate_pooling(contributions, pool)`, with `pool`
    the index of the pooling layer among the pooling layers; by default it
    is `annotate(d, None)`.

    `zero()` and `one()` return a number or boolean; the annotations an
    array of numbers or booleans shaped like d (or broadcastable to it),
    `add` and `mul` one shaped like their arguments; any other result
    raises a TypeError or ValueError naming the method and the layer.
    Relevance starts in np.result_type(zero(), one()) (the network's float
    dtype for floats) and widens to the dtype of what `add` returns: it is
    never held in a narrower dtype than the semiring's results
    (docs/semantics.md, section 3).

    A subclass of a built-in semiring (Real, Boolean, Counting, Viterbi)
    that overrides none of zero, one, add, mul, annotate,
    annotate_contributions and annotate_pooling runs on the built-in's C
    kernels; one that overrides any of them runs on the NumPy path
    (`kernel_spec`).
    """

    #: the built-in semiring's `SemiringSpec` (None here): what it is to the
    #: library; `kernel_spec` says whether an instance runs on its kernels
    spec = None

    def check_complete(self):
        """Raises NotImplementedError naming every method a subclass left out."""
        missing = [f"{name}()" for name in ("zero", "one", "add", "mul")
                   if getattr(type(self), name) is getattr(Semiring, name)]
        if (type(self).annotate is Semiring.annotate
                and type(self).annotate_contributions is Semiring.annotate_contributions):
            missing.append("annotate()")
        if missing:
            raise NotImplementedError(f"{type(self).__name__} must define "
                                      f"{', '.join(missing)}")

    def zero(self):
        """The semiring's 0: neutral for `add`, absorbing for `mul` (a number
        or a NumPy scalar; its dtype with `one()`'s is the relevance's)."""
        raise NotImplementedError(f"{type(self).__name__} must define zero()")

    def one(self):
        """The semiring's 1: neutral for `mul`; the relevance a pass starts
        from at the target (`init="one"`)."""
        raise NotImplementedError(f"{type(self).__name__} must define one()")

    def add(self, a, b):
        """a (+) b for two arrays a and b of one shape, element-wise; returns
        an array of that shape (paper: the sum over a layer's outputs k)."""
        raise NotImplementedError(f"{type(self).__name__} must define add(a, b)")

    def mul(self, a, b):
        """a (x) b for two arrays a and b of one shape, element-wise; returns
        an array of that shape (paper: annotation times the relevance of output k)."""
        raise NotImplementedError(f"{type(self).__name__} must define mul(a, b)")

    def annotate(self, d, layer):
        """Theta: the semiring's value of each coefficient d_jk (an array,
        docs/semantics.md section 2) of weighted layer `layer` (its position
        among the weighted layers, or None for a pooling layer); returns an
        array shaped like d (or broadcastable to it)."""
        raise NotImplementedError(f"{type(self).__name__} must define annotate(d, layer)")

    def annotate_contributions(self, contributions: Contributions, layer: int):
        """Theta from a `Contributions` group of weighted layer `layer`; by
        default `annotate(contributions.d, layer)`. Override it when the
        annotation needs more than d (Viterbi's does)."""
        return self.annotate(contributions.d, layer)

    def annotate_pooling(self, contributions: Contributions, pool: int):
        """Theta of pooling layer `pool` (its position among the pooling
        layers); by default `annotate_contributions(contributions, None)`."""
        return self.annotate_contributions(contributions, None)

    @classmethod
    def compose(cls, add, mul, zero=None, one=None, annotate=None, dtype=None):
        """A semiring from named parts (GraphBLAS's way): a `ComposedSemiring`.

        add       (+): "plus", "max", "min", "or", "and" or "logaddexp"
        mul       (x): "times", "plus", "min", "max" or "and"
        zero, one numbers or bools; default the identities of add and mul
                  (plus/times: 0/1, max/plus: -inf/0, or/and: False/True)
        annotate  an `sl.annotations` chain (default identity(): d)
        dtype     None (the network's float dtype), "float32", "float64",
                  "int64" or "bool" (int64 and bool need a chain ending in
                  threshold)

        zero must be neutral for add and absorbing for mul, one neutral for
        mul, on the values the chain can produce; each failed check, an
        unknown name or a dtype that does not fit the parts raises a
        ValueError or TypeError naming it. Example: max-plus over log|d|,
        ``sl.Semiring.compose(add="max", mul="plus", zero=-np.inf, one=0.0,
        annotate=sl.annotations.log_abs())``.
        """
        from .composed import ComposedSemiring

        return ComposedSemiring(add, mul, zero, one, annotate, dtype)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Real(Semiring):
    """(R, +, x, 0, 1) with Theta(d) = d: classical LRP."""

    spec = REAL

    def zero(self):
        return 0.0

    def one(self):
        return 1.0

    def add(self, a, b):
        return np.add(a, b)

    def mul(self, a, b):
        return np.multiply(a, b)

    def annotate(self, d, layer):
        return d


def _check_threshold_value(value, what):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, not {value!r}")
    if np.isnan(value):
        raise ValueError(f"{what} must not be NaN")
    return float(value)


def _thresholds(value, name):
    """A number, a non-empty list of numbers (one per layer), or a non-empty
    dict from layers (names or indices, checked against a network later) to
    numbers."""
    if isinstance(value, dict):
        if not value:
            raise ValueError(f"{name} dict is empty: give one number per layer")
        return {key: _check_threshold_value(v, f"{name}[{key!r}]") for key, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        values = list(np.ravel(np.asarray(value, dtype=object)))
        if not values:
            raise ValueError(f"{name} list is empty: give one number per layer")
        return [_check_threshold_value(v, f"{name}[{i}]") for i, v in enumerate(values)]
    return _check_threshold_value(value, name)


def _per_position(values, position, name):
    if isinstance(values, dict):
        raise ValueError(f"{name} is given by layer; resolve it against the network first "
                         "with per_layer(net)")
    return values[position] if isinstance(values, list) else values


class _LayerThresholds:
    """Thresholds per layer, shared by every thresholded semiring (Boolean,
    Counting, a composed semiring whose annotation ends in a threshold):
    `threshold` per weighted layer, `pool_threshold` per pooling layer (a
    number, a list or a dict by layer as `_thresholds` parses them) and
    `absolute`, set by the semiring's __init__."""

    def theta(self, layer: int) -> float:
        """The threshold of weighted layer `layer` (its position among the
        weighted layers)."""
        return _per_position(self.threshold, layer, "threshold")

    def pool_theta(self, pool: int) -> float:
        """The threshold of pooling layer `pool` (its position among the
        pooling layers)."""
        return _per_position(self.pool_threshold, pool, "pool_threshold")

    def per_layer(self, net):
        """A copy whose thresholds are checked against `net`: dicts by layer
        become lists in forward order, list lengths must match its layers."""
        self.check_layers(len(net.weighted_layers), len(net.pooling_layers))
        resolved = copy.copy(self)
        for attribute, pooling in (("threshold", False), ("pool_threshold", True)):
            values = getattr(self, attribute)
            if isinstance(values, dict):
                values = net.per_layer_list(values, f"{type(self).__name__}'s {attribute} dict",
                                            pooling=pooling)
            setattr(resolved, attribute, values)
        return resolved

    def check_layers(self, weighted_layers: int, pooling_layers: int = 0):
        """Checks the lengths of threshold lists (dicts are checked by
        `per_layer`, against the network's names)."""
        for values, count, what in ((self.threshold, weighted_layers, "weighted"),
                                    (self.pool_threshold, pooling_layers, "pooling")):
            if isinstance(values, list) and len(values) != count:
                raise ValueError(
                    f"{type(self).__name__} has {len(values)} {'pool_' if what == 'pooling' else ''}"
                    f"thresholds but the network has {count} {what} layers; give one per "
                    f"{what} layer")

    def check_fits(self, net):
        """Raises ValueError naming the threshold, its value, the layer and
        the network's dtype when a threshold does not keep its meaning in
        that dtype: a finite one that becomes infinite, a non-zero one that
        becomes 0 (d >= 0 would then pass every zero coefficient).
        Infinite thresholds are exact in every dtype and allowed."""
        for attribute, positions, get in (
                ("threshold", net.weighted_layers, self.theta),
                ("pool_threshold", net.pooling_layers, self.pool_theta)):
            for k, position in enumerate(positions):
                value = get(k)
                if not survives_rounding(value, net.dtype):
                    raise ValueError(
                        f"{type(self).__name__} {attribute} {value!r} of layer "
                        f"{net.names[position]!r} {rounding_problem(value, net.dtype)}")

    def checked_theta(self, layer: int) -> float:
        """`theta(layer)` as a float; TypeError or ValueError naming it when
        it is no real number or NaN (a subclass's `theta` may return anything)."""
        return _check_threshold_value(self.theta(layer),
                                      f"{type(self).__name__}.theta({layer}) (weighted layer)")

    def checked_pool_theta(self, pool: int) -> float:
        """`pool_theta(pool)` as a float, checked as `checked_theta` checks."""
        return _check_threshold_value(self.pool_theta(pool),
                                      f"{type(self).__name__}.pool_theta({pool}) (pooling layer)")


class _ThresholdSemiring(_LayerThresholds, Semiring):
    """Theta(d) = [d >= theta] (or [|d| >= theta] when absolute), per layer.

    threshold: one number; a list with one per weighted layer (Linear,
    Conv2d) in forward order; or a dict from every weighted layer's name or
    index (see `Network`) to its number. pool_threshold: the same over the
    pooling layers (default 1e-9), signed or absolute as `absolute`.
    """

    def __init__(self, threshold=1e-9, absolute=False, pool_threshold=1e-9):
        self.threshold = _thresholds(threshold, "threshold")
        self.pool_threshold = _thresholds(pool_threshold, "pool_threshold")
        if not isinstance(absolute, (bool, np.bool_)):
            raise TypeError(f"absolute must be True or False, not {absolute!r}")
        self.absolute = bool(absolute)

    def _passes(self, d, theta):
        theta = np.asarray(theta, dtype=d.dtype)
        return (np.abs(d) if self.absolute else d) >= theta

    def annotate(self, d, layer):
        return self._passes(d, self.checked_theta(layer))

    def annotate_pooling(self, contributions, pool):
        return self._passes(contributions.d, self.checked_pool_theta(pool))

    def __repr__(self):
        return (f"{type(self).__name__}(threshold={self.threshold!r}, absolute={self.absolute}"
                f", pool_threshold={self.pool_threshold!r})")


_THRESHOLD_PARAMETERS = """
    Parameters
    ----------
    threshold : float, list of float or dict, default 1e-9
        theta of the weighted layers (Linear, Conv2d): a pair (j, k) is
        relevant when d_jk >= theta, d_jk being the rule's coefficient
        n_jk / z_k (0 where z_k = 0; docs/semantics.md). One number for
        every weighted layer (1e-9 is the paper's MNIST value); a list with
        one number per weighted layer in forward order (the paper's
        Theta^(l)); or a dict naming every weighted layer (name or index,
        see `Network`) once.
    absolute : bool, default False
        Compare |d_jk| >= theta instead of the signed d_jk (the paper's
        VGG-16 experiments); applies to `threshold` and `pool_threshold`.
    pool_threshold : float, list of float or dict, default 1e-9
        theta of the pooling layers (MaxPool2d, AvgPool2d,
        AdaptiveAvgPool2d), given like `threshold` but per pooling layer.

    Raises
    ------
    TypeError
        A threshold that is not a real number (bools included), or an
        `absolute` that is not a bool.
    ValueError
        A NaN threshold or an empty list or dict; at `relevance` time, a
        list whose length is not the network's number of such layers, a
        dict naming a layer that is not one of them or leaving one out,
        or a threshold that loses its meaning in the network's dtype (a
        finite one that rounds to infinity, a non-zero one that rounds to
        0); inf and -inf are allowed.
"""


class Boolean(_ThresholdSemiring):
    __doc__ = """({F, T}, or, and, F, T): is there a relevant path from an input
    to the target? Results are bool.

    R_j = OR_k ([d_jk >= theta] AND R_k), layer by layer from the target
    (which starts True) to the input: an input is True when a chain of
    pairs, each passing its layer's threshold, links it to the target.
""" + _THRESHOLD_PARAMETERS + """
    Example: ``sl.relevance(net, x, semiring=sl.Boolean(threshold=1e-9))``.
    """

    spec = BOOLEAN

    def zero(self):
        return np.False_

    def one(self):
        return np.True_

    def add(self, a, b):
        return np.logical_or(a, b)

    def mul(self, a, b):
        return np.logical_and(a, b)


_INT64_MAX = np.iinfo(np.int64).max


class Counting(_ThresholdSemiring):
    __doc__ = """(N, +, x, 0, 1): how many relevant paths? Exact int64 counts; a
    count past 2**63 - 1 raises OverflowError instead of wrapping.

    R_j = sum_k [d_jk >= theta] * R_k, from 1 at the target: the number of
    chains of pairs, each passing its layer's threshold, from input j to the
    target. It is nonzero exactly where `Boolean` with the same thresholds
    is True.
""" + _THRESHOLD_PARAMETERS + """
    Example: ``sl.relevance(net, x, semiring=sl.Counting(threshold=1e-9))``.
    """

    spec = COUNTING

    def zero(self):
        return np.int64(0)

    def one(self):
        return np.int64(1)

    def add(self, a, b):
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if np.any(a > _INT64_MAX - b):
            raise OverflowError("a relevance count exceeds the int64 range (2**63 - 1)")
        return a + b

    def mul(self, a, b):
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        limit = np.where(b > 0, _INT64_MAX // np.maximum(b, 1), _INT64_MAX)
        if np.any(a > limit):
            raise OverflowError("a relevance count exceeds the int64 range (2**63 - 1)")
        return a * b

    def annotate(self, d, layer):
        return super().annotate(d, layer).astype(np.int64)

    def annotate_pooling(self, contributions, pool):
        return super().annotate_pooling(contributions, pool).astype(np.int64)


class Viterbi(Semiring):
    """([0, 1], max, x, 0, 1): the strength of the best path (paper eq. 2.2.3).

    Theta_jk = |n_jk| / (max(|beta_k|, max_j' |n_j'k|) + 1e-9): a contribution
    relative to the strongest one into neuron k, the bias neuron included.
    """

    spec = VITERBI

    def zero(self):
        return 0.0

    def one(self):
        return 1.0

    def add(self, a, b):
        return np.maximum(a, b)

    def mul(self, a, b):
        return np.multiply(a, b)

    def annotate(self, d, layer):
        raise TypeError("Viterbi's annotation depends on the contributions a_j * w_jk, not on "
                        "d alone; it is computed by annotate_contributions")

    def annotate_contributions(self, contributions, layer):
        strength = np.abs(contributions.numerator)
        return strength / (contributions.strongest + np.asarray(_core.VITERBI_EPS, dtype=strength.dtype))


_BUILT_INS = (Real, Boolean, Counting, Viterbi)
# the methods that define a semiring's values: the C kernels compute the
# built-in's own, so a subclass overriding one of them needs the NumPy path
_VALUE_METHODS = ("zero", "one", "add", "mul", "annotate", "annotate_contributions",
                  "annotate_pooling")


def _built_in_class(semiring):
    """The built-in semiring class `semiring` is an instance of, or None."""
    return next((cls for cls in type(semiring).__mro__ if cls in _BUILT_INS), None)


def family_spec(semiring):
    """The `SemiringSpec` of the built-in semiring `semiring` derives from
    (whatever it overrides), a composed semiring's own spec, or None: what
    pictures draw it as."""
    cls = _built_in_class(semiring)
    if cls is not None:
        return cls.spec
    from .composed import ComposedSemiring

    return semiring.spec if isinstance(semiring, ComposedSemiring) else None


def kernel_spec(semiring):
    """The `SemiringSpec` whose C kernels compute `semiring`, or None for
    the generic NumPy path: a built-in semiring, or a subclass of one that
    overrides none of zero, one, add, mul, annotate, annotate_contributions
    and annotate_pooling (a changed __repr__ or theta keeps the kernels).
    Decided once per class, when its first instance is asked about. A
    composed semiring (`Semiring.compose`, the ready-mades, a subclass that
    overrides none of those methods) runs its own `core_descriptor` in the
    C core once its element dtype is fixed (`per_layer(net)`, which every
    pass calls)."""
    own = type(semiring)
    try:
        spec = _KERNEL_SPECS[own]
    except KeyError:
        spec = _KERNEL_SPECS[own] = _class_kernel_spec(semiring)
    if spec is _COMPOSED:
        # its own descriptor, once its element dtype is fixed (per_layer)
        return semiring.spec if semiring.element_dtype is not None else None
    return spec


def _class_kernel_spec(semiring):
    """kernel_spec's answer for every instance of type(semiring): a built-in
    spec, _COMPOSED (each instance's own), or None."""
    own = type(semiring)
    cls = _built_in_class(semiring)
    if cls is None:
        from .composed import ComposedSemiring

        if isinstance(semiring, ComposedSemiring):
            cls = ComposedSemiring
    if cls is None or not all(getattr(own, name) is getattr(cls, name)
                              for name in _VALUE_METHODS):
        return None
    return _COMPOSED if cls.__name__ == "ComposedSemiring" else cls.spec


# kernel_spec's mark for a class whose instances run their own descriptor
_COMPOSED = object()


# kernel_spec's answer per class; classes are few, and a pass asks twice
_KERNEL_SPECS = weakref.WeakKeyDictionary()
