"""K-LRP for any `Semiring` on NumPy: the path user semirings take.

A layer lists its (input j, output k) pairs in groups in which every input
appears at most once (`pair_groups`). For each group this module forms the
numerators n_jk of a batch, has the semiring annotate them, and folds
R_j = (+)_k Theta_jk (x) R_k group by group with the semiring's own `add`
and `mul`. Memory is one group, (N, group size); time is one NumPy call per
group and operation: a dense layer has one group per output, a Conv2d one
per output channel and kernel tap, a pool one per window offset.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .rules import ZBox, Zero
from .semirings import Contributions

__all__ = ["numerators", "fold"]

_POOL_RULE = Zero()


def numerators(rule, a, w, low=None, high=None):
    """n_jk for inputs a (N, G) and weights w (G,) or (N, G), as the kernels form it."""
    if isinstance(rule, ZBox):
        return a * w - low * np.maximum(w, 0) - high * np.minimum(w, 0)
    return a * rule.rho(w)


def fold(semiring, annotate, groups, rule, a, z, bias, strongest, r_out, low=None, high=None):
    """R_j = (+)_k annotate(Contributions) (x) R_k over the pairs of `groups`.

    a (N, *in) and r_out (N, *out); z and bias (flat per output, or
    broadcastable) describe the layer's outputs; strongest() gives
    Viterbi's normaliser for every output when an annotation asks for it.
    """
    n = a.shape[0]
    flat_a = a.reshape(n, -1)
    flat_r = r_out.reshape(n, -1)
    flat_z = z.reshape(n, -1)
    flat_low = None if low is None else low.reshape(n, -1)
    flat_high = None if high is None else high.reshape(n, -1)
    zero = semiring.zero()
    acc = np.full(flat_a.shape, zero)
    cache = []

    def strongest_flat():  # one pass for the layer, only if an annotation reads it
        if not cache:
            cache.append(np.asarray(strongest()).reshape(n, -1))
        return cache[0]

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
        theta = np.broadcast_to(annotate(contributions), numerator.shape)
        acc[:, j] = semiring.add(acc[:, j], semiring.mul(theta, r_k))
    return np.asarray(acc).reshape(a.shape)


def weighted_step(semiring, index, layer, rule, a, z, r_out, low=None, high=None):
    """One generic K-LRP step through a Linear or Conv2d layer."""
    bias = layer.bias_terms(rule, z.shape)
    groups = layer.pair_groups(a.shape[1:], z.shape[1:])
    return fold(semiring, lambda c: semiring.annotate_contributions(c, index), groups, rule,
                a, z, bias, lambda: layer.absmax(a, rule, low, high), r_out, low, high)


def pooling_step(semiring, index, layer, a, r_out, maxpool):
    """One generic K-LRP step through a pooling layer (LRP-0, no bias)."""
    mode, windows, weight = layer.relevance_table(a, maxpool)
    z = _core.pool_forward(a, mode, windows, weight)
    if mode == _core.POOL_MAX:
        strongest = lambda: np.abs(z)  # noqa: E731  (the winner's own term)
    else:
        strongest = lambda: (_core.pool_forward(np.abs(a), _core.POOL_MAX, windows)  # noqa: E731
                             * np.abs(weight))
    groups = layer.pair_groups(a, maxpool)
    no_bias = np.zeros(z[0].size, dtype=a.dtype)
    return fold(semiring, lambda c: semiring.annotate_pooling(c, index), groups, _POOL_RULE,
                a, z, no_bias, strongest, r_out)
