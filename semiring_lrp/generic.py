"""K-LRP for any `Semiring` on NumPy: the path user semirings take.

A layer lists its (input j, output k) pairs in groups in which every input
appears at most once (`pair_groups`). For each group this module forms the
numerators n_jk of a batch, has the semiring annotate them, and folds
R_j = (+)_k Theta_jk (x) R_k group by group with the semiring's own `add`
and `mul`. Memory is one group, (N, group size); time is one NumPy call per
group and operation: a dense layer has one group per output, a Conv2d one
per output channel and kernel tap, a pool one per window offset.

What the semiring's methods return is checked at each call (its shape and
dtype, O(1) per call): a bad result raises a TypeError or ValueError that
names the method, the semiring and the layer. Relevance is accumulated in
the dtype the semiring's results have: a layer's relevance starts in its
output relevance's dtype and widens to `np.result_type` of it and every
array `add` returns, so no result is ever cast to a narrower dtype.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .composed import CountOverflow, NaNProduced
from .rules import ZBox, Zero
from .semirings import Contributions, Semiring

__all__ = ["numerators", "fold", "checked_result", "checked_identity", "identity_dtype"]

_POOL_RULE = Zero()

#: dtype kinds a semiring's values may have: bool, integers, floats, complex
VALUE_KINDS = "biufc"


def _method_name(semiring, method):
    return f"{type(semiring).__name__}.{method}"


def _described(value):
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"{type(value).__name__} {value!r:.60}"


def checked_result(value, method, semiring, where, shape=None, broadcast=False):
    """`value`, what `semiring.method` returned `where` (e.g. "at layer
    'fc1' (0, Linear(4, 5))"), as an array of numbers or booleans shaped
    `shape` (or broadcastable to it, when `broadcast`); shape None: a
    scalar. TypeError for None, objects, strings and ragged lists;
    ValueError for another shape."""
    wanted = ("a number or boolean" if shape is None else
              f"an array of numbers or booleans shaped {shape}"
              + (" (or broadcastable to it)" if broadcast else ""))
    try:
        result = None if value is None else np.asarray(value)
    except (TypeError, ValueError):
        result = None
    if result is None or result.dtype.kind not in VALUE_KINDS:
        got = _described(value if result is None else result)
        raise TypeError(f"{_method_name(semiring, method)} returned {got} {where}; it must "
                        f"return {wanted}")
    expected = () if shape is None else tuple(shape)
    if result.shape != expected and not (broadcast and _broadcasts(result.shape, expected)):
        raise ValueError(f"{_method_name(semiring, method)} returned an array of shape "
                         f"{result.shape} {where}; it must return {wanted}")
    return result


def _broadcasts(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def checked_identity(semiring, method, where="(the relevance starts from it)"):
    """semiring.zero() or .one() as a 0-d array of numbers or booleans."""
    return checked_result(getattr(semiring, method)(), f"{method}()", semiring, where)


def identity_dtype(semiring):
    """np.result_type of the semiring's zero() and one(), both checked."""
    return np.result_type(checked_identity(semiring, "zero"), checked_identity(semiring, "one"))


def _annotation_method(semiring, pooling):
    """The name of the semiring's method whose result a layer's annotation is."""
    cls = type(semiring)
    if pooling and cls.annotate_pooling is not Semiring.annotate_pooling:
        return "annotate_pooling"
    if cls.annotate_contributions is not Semiring.annotate_contributions:
        return "annotate_contributions"
    return "annotate"


def numerators(rule, a, w, low=None, high=None):
    """n_jk for inputs a (N, G) and weights w (G,) or (N, G), as the kernels form it."""
    if isinstance(rule, ZBox):
        return a * w - low * np.maximum(w, 0) - high * np.minimum(w, 0)
    return a * rule.rho(w)


def fold(semiring, annotate, groups, rule, a, z, bias, strongest, r_out, where, low=None,
         high=None):
    """R_j = (+)_k annotate(Contributions) (x) R_k over the pairs of `groups`.

    a (N, *in) and r_out (N, *out); z and bias (flat per output, or
    broadcastable) describe the layer's outputs; strongest() gives
    Viterbi's normaliser for every output when an annotation asks for it.
    annotate is (name of the semiring's method, callable). `where` names the
    layer in errors. The result's dtype is np.result_type of r_out's and of
    every array `add` returned (see the module's docstring).
    """
    method, annotate = annotate
    where = f"at layer {where}"
    n = a.shape[0]
    flat_a = a.reshape(n, -1)
    flat_r = r_out.reshape(n, -1)
    flat_z = z.reshape(n, -1)
    flat_low = None if low is None else low.reshape(n, -1)
    flat_high = None if high is None else high.reshape(n, -1)
    zero = checked_result(semiring.zero(), "zero()", semiring, where)
    # r_out's dtype holds zero(): it starts as np.result_type(zero(), one()) (propagation)
    acc = np.full(flat_a.shape, zero, dtype=r_out.dtype)
    cache = []

    def strongest_flat():  # one pass for the layer, only if an annotation reads it
        if not cache:
            cache.append(np.asarray(strongest()).reshape(n, -1))
        return cache[0]

    try:
        return _fold_groups(semiring, method, annotate, groups, rule, flat_a, flat_z,
                            flat_low, flat_high, bias, strongest_flat, flat_r, acc, zero,
                            where).reshape(a.shape)
    except (NaNProduced, CountOverflow) as err:
        # a composed semiring's operation knows its values, not its layer
        raise type(err)(f"{err} {where}") from None


def _fold_groups(semiring, method, annotate, groups, rule, flat_a, flat_z, flat_low,
                 flat_high, bias, strongest_flat, flat_r, acc, zero, where):
    """`fold`'s loop over the groups on flat (N, size) arrays; returns acc."""
    for j, k, w in groups:
        r_k = flat_r[:, k]
        if np.all(r_k == zero):
            continue  # 0 absorbs (x) and is neutral for (+)
        numerator = numerators(rule, flat_a[:, j], w,
                               None if flat_low is None else flat_low[:, j],
                               None if flat_high is None else flat_high[:, j])
        contributions = Contributions(
            numerator, np.broadcast_to(bias[k], numerator.shape), flat_z[:, k],
            lambda k=k: strongest_flat()[:, k])
        shape = numerator.shape
        theta = np.broadcast_to(checked_result(annotate(contributions), method, semiring,
                                               where, shape, broadcast=True), shape)
        product = checked_result(semiring.mul(theta, r_k), "mul", semiring, where, shape)
        total = checked_result(semiring.add(acc[:, j], product), "add", semiring, where, shape)
        wider = np.result_type(acc.dtype, total.dtype)
        if wider != acc.dtype:
            acc = acc.astype(wider)  # a result is never cast to a narrower dtype
        acc[:, j] = total
    return acc


def weighted_step(semiring, index, layer, rule, a, z, r_out, where, low=None, high=None):
    """One generic K-LRP step through a Linear or Conv2d layer; `where`
    names it in errors."""
    bias = layer.bias_terms(rule, z.shape)
    groups = layer.pair_groups(a.shape[1:], z.shape[1:])
    annotate = (_annotation_method(semiring, False),
                lambda c: semiring.annotate_contributions(c, index))
    return fold(semiring, annotate, groups, rule, a, z, bias,
                lambda: layer.absmax(a, rule, low, high), r_out, where, low, high)


def pooling_step(semiring, index, layer, a, r_out, maxpool, where):
    """One generic K-LRP step through a pooling layer (LRP-0, no bias);
    `where` names it in errors."""
    mode, windows, weight = layer.relevance_table(a, maxpool)
    z = _core.pool_forward(a, mode, windows, weight)
    if mode == _core.POOL_MAX:
        strongest = lambda: np.abs(z)  # noqa: E731  (the winner's own term)
    else:
        strongest = lambda: (_core.pool_forward(np.abs(a), _core.POOL_MAX, windows)  # noqa: E731
                             * np.abs(weight))
    groups = layer.pair_groups(a, maxpool)
    no_bias = np.zeros(z[0].size, dtype=a.dtype)
    annotate = (_annotation_method(semiring, True),
                lambda c: semiring.annotate_pooling(c, index))
    return fold(semiring, annotate, groups, _POOL_RULE, a, z, no_bias, strongest, r_out, where)
