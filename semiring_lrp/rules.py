"""LRP rules: how a weighted layer splits relevance among its inputs.

Each rule is a pair (rho, stabiliser) as in semantics.md section 2:
    z_k  = stab( sum_j a_j * rho(w_jk) + rho(b_k) )
    d_jk = a_j * rho(w_jk) / z_k          (0 wherever z_k == 0)

Parameters are checked twice: when a rule is made (finite, eps and gamma
>= 0, ZBox low <= high) and, by `relevance`, against the network's dtype
and each layer's weights (`Rule.check_fits`).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core
from .inputs import from_tensor

__all__ = ["Rule", "Zero", "Epsilon", "Gamma", "ZBox"]


def _non_negative(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {value!r}")
    value = float(value)
    if not (0.0 <= value < float("inf")):
        raise ValueError(f"{name} must be finite and >= 0, not {value}")
    return value


def in_dtype(value, dtype):
    """value rounded to `dtype` as the kernels round it (beyond the dtype's
    range: infinity; below its least subnormal: 0)."""
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(value, dtype=np.float64).astype(dtype)


def survives_rounding(value, dtype):
    """Whether `value` keeps its meaning in `dtype`: a finite value stays
    finite, a non-zero one non-zero (infinities and 0 are exact anywhere)."""
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        # one number, the common case (checked once per layer and pass)
        value = float(value)
        with np.errstate(over="ignore", under="ignore"):
            rounded = float(np.dtype(dtype).type(value))
        return not ((math.isfinite(value) and not math.isfinite(rounded))
                    or (value != 0 and rounded == 0))
    value = np.asarray(value, dtype=np.float64)
    rounded = in_dtype(value, dtype).astype(np.float64)
    overflows = np.isfinite(value) & ~np.isfinite(rounded)
    underflows = (value != 0) & (rounded == 0)
    return not (np.any(overflows) or np.any(underflows))


def rounding_problem(value, dtype):
    """What rounding `value` (a number) to `dtype` does wrong, for messages."""
    info = np.finfo(dtype)
    if np.isfinite(value) and not np.isfinite(in_dtype(value, dtype)):
        return f"becomes infinite in {np.dtype(dtype)} (largest {info.max:.4g})"
    return f"becomes 0 in {np.dtype(dtype)} (least non-zero {info.smallest_subnormal:.4g})"


class Rule:
    """Base of the rules; `kernel_rule` is what the C core is told."""

    kind = _core.RULE_ZERO
    eps = 0.0
    eps_mode = _core.EPS_SIGN
    gamma = 0.0
    relative = False  # eps scaled by each sample's root mean square of z (Epsilon)

    @property
    def kernel_rule(self):
        """The rule as the C core takes it: (kind, eps, eps_mode, gamma)."""
        return (self.kind, self.eps, self.eps_mode, self.gamma)

    def rho(self, w):
        """The modified weights (LRP-gamma's w + gamma * w^+; others w)."""
        return w + self.gamma * np.maximum(w, 0) if self.gamma else w

    def stabilise(self, z, in_place=False):
        """stab(z) for a batch of denominators z (N, ...): a new array, or,
        when in_place and z is a writeable, C-ordered array of native byte
        order, z itself, changed (for a z that nothing else reads)."""
        return self.stabilise_checked(z, in_place)[0]

    def stabilise_checked(self, z, in_place=False):
        """(stab(z), whether every value of z is finite, whether every value
        of stab(z) is) for a float32 or float64 z, in one pass over the
        threads; stab(z) as `stabilise` gives it."""
        return _core.stabilise(z, self.kernel_rule, in_place and _changeable(z), self.relative)

    def check_fits(self, dtype, largest, where):
        """Raises ValueError naming the rule, the parameter, its value, the
        layer (`where`) and the dtype when a parameter cannot be used in
        `dtype`: it rounds to infinity or (non-zero) to 0, or rho turns the
        layer's weights into infinities. largest: (largest positive,
        largest negative magnitude) of the layer's weights and bias."""
        if not self.relative:  # relative eps is scaled first: checked on z
            self._check_rounding("eps", self.eps, dtype, where)

    def _check_rounding(self, name, value, dtype, where):
        if not survives_rounding(value, dtype):
            bad = _first_changed(value, dtype)
            raise ValueError(f"{self!r} on {where}: {name} {bad!r} "
                             f"{rounding_problem(bad, dtype)}")

    def _overflows(self, name, product, dtype, where, why):
        if not product <= float(np.finfo(dtype).max):
            raise ValueError(f"{self!r} on {where}: {name} makes {why} overflow "
                             f"{np.dtype(dtype)} (largest {np.finfo(dtype).max:.4g})")

    def __repr__(self):
        return f"{type(self).__name__}()"


def _first_changed(value, dtype):
    """The first entry of value that rounding to dtype changes in kind."""
    flat = np.ravel(np.asarray(value, dtype=np.float64))
    for v in flat:
        if not survives_rounding(v, dtype):
            return float(v)
    return float(flat[0])


def _changeable(z):
    """Whether stabilise may change z where it lies."""
    return (isinstance(z, np.ndarray) and z.flags.c_contiguous and z.flags.writeable
            and z.flags.aligned and z.dtype.isnative)


class Zero(Rule):
    """LRP-0: d_jk = a_j w_jk / sum_j' a_j' w_j'k. The default rule."""


class Epsilon(Rule):
    """LRP-eps: z_k + eps * sign(z_k), sign(0) = +1.

    variant="plus" adds eps without the sign (the paper's tutorial: z + eps).
    relative=True scales eps by each sample's sqrt(mean(z^2)) over the
    layer's outputs (the LRP overview's VGG-16 recipe: 0.25 * std), the
    squares summed in float64.
    """

    kind = _core.RULE_EPSILON

    def __init__(self, eps=1e-6, variant="sign", relative=False):
        self.eps = _non_negative(eps, "eps")
        if variant not in ("sign", "plus"):
            raise ValueError(f"Epsilon variant must be 'sign' or 'plus', not {variant!r}")
        self.variant = variant
        self.eps_mode = _core.EPS_SIGN if variant == "sign" else _core.EPS_PLUS
        self.relative = bool(relative)

    def __repr__(self):
        return (f"Epsilon(eps={self.eps!r}, variant={self.variant!r}"
                f"{', relative=True' if self.relative else ''})")


class Gamma(Rule):
    """LRP-gamma: rho(w) = w + gamma * max(0, w), on weights and bias alike;
    an optional eps adds the LRP-eps stabiliser."""

    kind = _core.RULE_GAMMA

    def __init__(self, gamma=0.25, eps=0.0):
        self.gamma = _non_negative(gamma, "gamma")
        self.eps = _non_negative(eps, "eps")

    def check_fits(self, dtype, largest, where):
        super().check_fits(dtype, largest, where)
        self._check_rounding("gamma", self.gamma, dtype, where)
        # rho(w) = w + gamma * w^+ is largest at the largest positive weight
        positive = largest[0]
        gamma = float(in_dtype(self.gamma, dtype))
        self._overflows(f"gamma {self.gamma!r}", positive + gamma * positive, dtype, where,
                        f"rho(w) = w + gamma * w^+ of its largest weight {positive:.4g}")

    def __repr__(self):
        return f"Gamma(gamma={self.gamma!r}, eps={self.eps!r})"


def _check_ordered(low, high):
    """low <= high wherever the two broadcast together (z^B's box)."""
    try:
        low, high = np.broadcast_arrays(low, high)
    except ValueError:
        raise ValueError(f"ZBox low of shape {low.shape} and high of shape {high.shape} do "
                         "not broadcast together") from None
    wrong = low > high
    if np.any(wrong):
        at = tuple(int(i) for i in np.argwhere(wrong)[0])
        raise ValueError(f"ZBox needs low <= high; low {float(low[at])} > high "
                         f"{float(high[at])}" + (f" at index {at}" if at else ""))


class ZBox(Rule):
    """z^B for an input layer with bounds low <= x <= high:

        d_jk = (x_j w_jk - l_j w_jk^+ - h_j w_jk^-) / sum_j' (same)

    `low` and `high` are numbers or arrays broadcastable to the network input
    (one sample, or the batch), low <= high everywhere (ValueError otherwise,
    here). The bias cancels from z^B (b - b^+ - b^- = 0).
    An optional eps adds the LRP-eps stabiliser (zennit's ZBox uses 1e-6).
    """

    kind = _core.RULE_ZBOX

    def __init__(self, low, high, eps=0.0):
        self.low = self._bound(low, "low")
        self.high = self._bound(high, "high")
        self.eps = _non_negative(eps, "eps")
        _check_ordered(self.low, self.high)

    @staticmethod
    def _bound(value, name):
        arr = np.asarray(from_tensor(value, f"ZBox {name}"))
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"ZBox {name} must be numeric, not {arr.dtype}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"ZBox {name} contains NaN or infinity")
        return arr

    def check_fits(self, dtype, largest, where):
        super().check_fits(dtype, largest, where)
        self._check_rounding("low", self.low, dtype, where)
        self._check_rounding("high", self.high, dtype, where)
        # n_jk = x_j w_jk - l_j w_jk^+ - h_j w_jk^-: each bound meets one sign of w
        positive, negative = largest
        low, high = float(np.max(np.abs(self.low))), float(np.max(np.abs(self.high)))
        self._overflows(f"low {low:.4g} (in magnitude)", low * positive, dtype, where,
                        f"l * w^+ of its largest weight {positive:.4g}")
        self._overflows(f"high {high:.4g} (in magnitude)", high * negative, dtype, where,
                        f"h * w^- of its most negative weight {-negative:.4g}")

    def bounds_for(self, shape, dtype):
        """low and high broadcast to `shape`, C-contiguous in `dtype`."""
        try:
            low = np.broadcast_to(self.low, shape)
            high = np.broadcast_to(self.high, shape)
        except ValueError:
            raise ValueError(f"ZBox bounds of shapes {self.low.shape} and {self.high.shape} "
                             f"do not broadcast to the layer input {tuple(shape)}") from None
        return (np.ascontiguousarray(low, dtype=dtype), np.ascontiguousarray(high, dtype=dtype))

    def __repr__(self):
        return f"ZBox(low={self.low!r}, high={self.high!r}, eps={self.eps!r})"
