"""K-LRP for any `Semiring` on NumPy: the path user semirings take.

It forms the coefficients of a chunk of samples, (n, in, out) at a time,
annotates them with the semiring's own `annotate`, and folds
R_j = (+)_k Theta_jk (x) R_k with the semiring's `add` and `mul`. Memory is
bounded by the chunk; time is about `out` NumPy calls per chunk.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .semirings import Contributions

__all__ = ["dense_numerators", "dense_relevance"]

_CHUNK_ELEMENTS = 1 << 22


def dense_numerators(rule, a, weight, low=None, high=None):
    """n[n, j, k] for a (n, in) and weight (out, in), exactly as the kernels form it."""
    w = weight.T[None, :, :]
    if low is not None:
        return (a[:, :, None] * w - low[:, :, None] * np.maximum(w, 0)
                - high[:, :, None] * np.minimum(w, 0))
    return a[:, :, None] * rule.rho(w)


def bias_terms(rule, bias):
    """rho(b_k); 0 under z^B, where the bias cancels."""
    if rule.kind == _core.RULE_ZBOX:
        return np.zeros_like(bias)
    return rule.rho(bias)


def _fold(semiring, theta, r_out):
    """R_j = (+)_k theta[:, j, k] (x) R_k, skipping outputs whose relevance is 0."""
    zero = semiring.zero()
    acc = np.full(theta.shape[:2], zero)
    for k in range(theta.shape[2]):
        col = r_out[:, k]
        if np.all(col == zero):
            continue
        acc = semiring.add(acc, semiring.mul(theta[:, :, k], col[:, None]))
    return np.asarray(acc)


def dense_relevance(semiring, layer_index, rule, a, layer, z, r_out, low=None, high=None):
    """One K-LRP step through a Linear layer for batch a (N, in) and r_out (N, out)."""
    n, width = a.shape
    per_sample = max(1, width * layer.out_features)
    step = max(1, _CHUNK_ELEMENTS // per_sample)
    beta = bias_terms(rule, layer.bias)
    parts = []
    for start in range(0, n, step):
        rows = slice(start, start + step)
        numerator = dense_numerators(rule, a[rows], layer.weight,
                                     None if low is None else low[rows],
                                     None if high is None else high[rows])
        bias = np.broadcast_to(beta, (numerator.shape[0], beta.shape[0]))
        theta = semiring.annotate_contributions(Contributions(numerator, bias, z[rows]),
                                                layer_index)
        theta = np.broadcast_to(theta, numerator.shape)
        parts.append(_fold(semiring, theta, np.asarray(r_out[rows])))
    return np.concatenate(parts, axis=0)
