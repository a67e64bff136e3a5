"""Annotations as data: the Theta of a composed semiring, a chain of named steps.

A chain starts from a source, the value each pair (j, k) of a layer gives:

    identity()   d_jk = n_jk / z_k, 0 where z_k == 0 (semantics.md, section 2)
    viterbi()    |n_jk| / (m_k + 1e-9), m_k = max(|beta_k|, max_j' |n_j'k|)

and applies transforms in order, each in the network's dtype:

    abs()                 |v|
    log()                 natural log, log 0 = -inf (only on a non-negative domain)
    log_abs()             abs().then(log())
    clip(lo, hi)          min(max(v, lo), hi)
    threshold(theta, absolute=False, pool_threshold=1e-9)
                          the semiring's one where v >= theta (|v| >= theta with
                          absolute), else its zero; the last step of a chain

`a.then(b)` appends b's transforms to a; `abs()`, `log()` and the other
transforms alone mean `identity().then(...)`. Chains are immutable and
compare equal when their steps are equal. `domain()` is the set of values a
chain can produce, which `Semiring.compose` checks zero and one against.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core

__all__ = ["Annotation", "identity", "viterbi", "abs", "log", "log_abs", "clip",
           "threshold"]

_SOURCES = ("identity", "viterbi")


class Interval:
    """A set of reals [lo, hi] whose ends may be open (lo_closed, hi_closed
    False): what a chain without threshold can produce."""

    __slots__ = ("lo", "hi", "lo_closed", "hi_closed")

    def __init__(self, lo, hi, lo_closed=True, hi_closed=True):
        self.lo, self.hi = float(lo), float(hi)
        self.lo_closed, self.hi_closed = bool(lo_closed), bool(hi_closed)

    def samples(self, finite_max):
        """Points of the interval for identity checks: its closed ends, the
        largest finite values `finite_max` standing in for an open infinite
        end, and the points -1, -0.5, 0, 0.5, 1, 2 and the midpoint that lie inside."""
        points = []
        for end, closed, sign in ((self.lo, self.lo_closed, -1.0), (self.hi, self.hi_closed, 1.0)):
            if closed:
                points.append(end)
            elif math.isinf(end):
                points.append(sign * finite_max)
        inner = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
        if math.isfinite(self.lo) and math.isfinite(self.hi):
            inner.append((self.lo + self.hi) / 2)
        points.extend(p for p in inner if self.contains(p))
        return list(dict.fromkeys(points))  # each point once, in this order

    def contains(self, value):
        above = value > self.lo or (self.lo_closed and value == self.lo)
        below = value < self.hi or (self.hi_closed and value == self.hi)
        return above and below

    def __eq__(self, other):
        return isinstance(other, Interval) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self):
        return (f"{'[' if self.lo_closed else '('}{self.lo:g}, {self.hi:g}"
                f"{']' if self.hi_closed else ')'}")


class Threshold:
    """The threshold step: theta per weighted layer (a number, a list in
    forward order or a dict by layer name or index, as `sl.Boolean`'s),
    `absolute` (compare |v|), pool_threshold per pooling layer."""

    __slots__ = ("theta", "absolute", "pool_threshold")

    def __init__(self, theta=1e-9, absolute=False, pool_threshold=1e-9):
        from .semirings import _thresholds  # the one parser of per-layer thresholds

        if not isinstance(absolute, (bool, np.bool_)):
            raise TypeError(f"threshold's absolute must be True or False, not {absolute!r}")
        object.__setattr__(self, "theta", _thresholds(theta, "threshold theta"))
        object.__setattr__(self, "absolute", bool(absolute))
        object.__setattr__(self, "pool_threshold", _thresholds(pool_threshold, "pool_threshold"))

    def __setattr__(self, name, value):
        raise AttributeError("a threshold step is immutable")

    def __reduce__(self):  # pickle and copy build it again through __init__
        return (Threshold, (self.theta, self.absolute, self.pool_threshold))

    def __eq__(self, other):
        return isinstance(other, Threshold) and (self.theta, self.absolute, self.pool_threshold) \
            == (other.theta, other.absolute, other.pool_threshold)

    def __hash__(self):
        return hash(repr(self))

    def __repr__(self):
        return (f"threshold({self.theta!r}, absolute={self.absolute}, "
                f"pool_threshold={self.pool_threshold!r})")


def _bound(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"clip's {name} must be a real number, not {value!r}")
    if math.isnan(value):
        raise ValueError(f"clip's {name} must not be NaN")
    return float(value)


class Annotation:
    """An immutable chain: a source ("identity" or "viterbi") and steps, a
    tuple of transforms, each ("abs",), ("log",), ("clip", lo, hi) or a
    `Threshold` (the last one only). Build one with this module's functions."""

    __slots__ = ("source", "steps")

    def __init__(self, source="identity", steps=()):
        if source not in _SOURCES:
            raise ValueError(f"unknown annotation source {source!r}: use one of {_SOURCES}")
        steps = tuple(steps)
        for i, step in enumerate(steps[:-1]):
            if isinstance(step, Threshold):
                raise ValueError(f"threshold must be the last step of an annotation; "
                                 f"{_steps_text(steps[i + 1:])} follows it")
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "steps", steps)

    def __setattr__(self, name, value):
        raise AttributeError("an Annotation is immutable: build another with .then(...)")

    def __reduce__(self):  # pickle and copy build it again through __init__
        return (Annotation, (self.source, self.steps))

    def then(self, other):
        """This chain followed by the transforms of `other` (whose source
        must be identity(): a source can only start a chain)."""
        if not isinstance(other, Annotation):
            raise TypeError(f"then() takes an sl.annotations chain, not {other!r}")
        if other.source != "identity":
            raise ValueError(f"{other.source}() is a source: it can only start a chain, "
                             f"not follow {self!r}")
        return Annotation(self.source, self.steps + other.steps)

    @property
    def threshold(self):
        """The chain's `Threshold` step, or None."""
        return self.steps[-1] if self.steps and isinstance(self.steps[-1], Threshold) else None

    def domain(self):
        """What the chain's transforms before any threshold can produce, an
        `Interval`; ValueError when log() meets a possibly negative value."""
        if self.source == "identity":
            interval = Interval(-math.inf, math.inf, False, False)
        else:
            interval = Interval(0.0, 1.0)
        for step in self.steps:
            if isinstance(step, Threshold):
                break
            interval = _STEP_DOMAINS[step[0]](interval, step, self)
        return interval

    def values(self, contributions):
        """The chain before any threshold on a `semirings.Contributions`
        group, in the numerators' dtype, as the built-ins form d and
        Viterbi's value."""
        if self.source == "identity":
            v = contributions.d
        else:
            strength = np.abs(contributions.numerator)
            v = strength / (contributions.strongest
                            + np.asarray(_core.VITERBI_EPS, dtype=strength.dtype))
        return self.transformed(v)

    def transformed(self, v):
        """The transforms before any threshold applied to the source values v."""
        for step in self.steps:
            if isinstance(step, Threshold):
                break
            if step[0] == "abs":
                v = np.abs(v)
            elif step[0] == "log":
                with np.errstate(divide="ignore"):
                    v = np.log(v)  # log 0 = -inf; the domain is non-negative
            else:
                v = np.clip(v, np.asarray(step[1], dtype=v.dtype),
                            np.asarray(step[2], dtype=v.dtype))
        return v

    def __eq__(self, other):
        return (isinstance(other, Annotation) and self.source == other.source
                and self.steps == other.steps)

    def __hash__(self):
        return hash((self.source, repr(self.steps)))

    def __repr__(self):
        steps = list(self.steps)
        parts = ([_step_text(steps.pop(0))] if self.source == "identity" and steps
                 else [f"{self.source}()"])
        parts.extend(f"then({_step_text(step)})" for step in steps)
        return ".".join(parts)


def _step_text(step):
    if isinstance(step, Threshold):
        return repr(step)
    if step[0] == "clip":
        return f"clip({step[1]!r}, {step[2]!r})"
    return f"{step[0]}()"


def _steps_text(steps):
    return ", ".join(_step_text(step) for step in steps)


def _abs_domain(interval, step, chain):
    lo, hi = interval.lo, interval.hi
    if lo >= 0:
        return interval
    if hi <= 0:
        return Interval(-hi, -lo, interval.hi_closed, interval.lo_closed)
    top, closed = ((-lo, interval.lo_closed) if -lo > hi else
                   (hi, interval.hi_closed or (-lo == hi and interval.lo_closed)))
    return Interval(0.0, top, True, closed)


def _log_domain(interval, step, chain):
    if interval.lo < 0:
        raise ValueError(f"log() in {chain!r} may meet negative values (its input lies in "
                         f"{interval!r}); take abs() or clip(0, ...) first")
    with np.errstate(divide="ignore"):
        lo, hi = float(np.log(interval.lo)), float(np.log(interval.hi))
    return Interval(lo, hi, interval.lo_closed, interval.hi_closed)


def _clip_domain(interval, step, chain):
    _, lo, hi = step
    new_lo, new_hi = min(max(interval.lo, lo), hi), min(max(interval.hi, lo), hi)
    return Interval(new_lo, new_hi, interval.lo_closed or new_lo != interval.lo,
                    interval.hi_closed or new_hi != interval.hi)


_STEP_DOMAINS = {"abs": _abs_domain, "log": _log_domain, "clip": _clip_domain}


def identity():
    """The coefficient d_jk = n_jk / z_k (0 where z_k == 0); domain (-inf, inf)."""
    return Annotation("identity")


def viterbi():
    """Viterbi's value |n_jk| / (m_k + 1e-9), m_k the strongest contribution
    into k with the bias neuron's; domain [0, 1]."""
    return Annotation("viterbi")


def abs():  # the chain's word, as in the contract; builtins.abs is not used here
    """|v|: identity().then(abs()) alone."""
    return Annotation("identity", (("abs",),))


def log():
    """The natural log, log 0 = -inf; a chain whose values may be negative
    before it is refused when a semiring is composed."""
    return Annotation("identity", (("log",),))


def log_abs():
    """log |v|: abs().then(log())."""
    return Annotation("identity", (("abs",), ("log",)))


def clip(lo, hi):
    """min(max(v, lo), hi), lo <= hi (finite or infinite)."""
    lo, hi = _bound(lo, "lo"), _bound(hi, "hi")
    if lo > hi:
        raise ValueError(f"clip needs lo <= hi, not lo={lo!r} > hi={hi!r}")
    return Annotation("identity", (("clip", lo, hi),))


def threshold(theta=1e-9, absolute=False, pool_threshold=1e-9):
    """The semiring's one where v >= theta (|v| >= theta when absolute), its
    zero elsewhere: theta per weighted layer (a number, a list in forward
    order, or a dict by layer name or index), pool_threshold per pooling
    layer, as `sl.Boolean` takes them. It must be the chain's last step."""
    return Annotation("identity", (Threshold(theta, absolute, pool_threshold),))

