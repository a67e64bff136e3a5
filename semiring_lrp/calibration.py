"""Thresholds chosen for a density: `calibrate_thresholds`.

A Boolean or Counting threshold decides, per weighted layer, which
contributions d_jk pass (docs/semantics.md, section 3): too high and the
relevance dies before it reaches the input, too low and every neuron is
relevant. The paper picks them by hand (its section 4.3); here they are
picked so that a given fraction of each layer's input neurons stays
relevant on a given data set.

Relevance flows from the output, so the layers are calibrated from the
output towards the input: each weighted layer's density depends on its own
threshold and on the thresholds above it, which are fixed by then. For one
layer, the density is a non-increasing step function of its threshold,
searched by bisection on log2(threshold) over [2**-100, 2**100], each probe
a Boolean pass of that layer over the data (a Counting value is nonzero
exactly where the Boolean one is true, so both share the thresholds).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from ._integers import as_int
from .datasets import as_dataset, shaped_for
from .inputs import as_batch, as_targets
from .memory import pooled_arrays
from .propagation import _Walk, checked_arguments
from .semiring_specs import BOOLEAN, COUNTING
from .semirings import Boolean, Counting, Semiring, family_spec

__all__ = ["calibrate_thresholds", "CalibratedThresholds", "CalibrationWarning"]

# the threshold is searched over 2**LOW to 2**HIGH
LOG2_LOW, LOG2_HIGH = -100.0, 100.0
# the bisection stops when the bracket is this narrow in log2 (a ratio of 1 + 1e-6)
LOG2_PRECISION = np.log2(1 + 1e-6)


class CalibrationWarning(UserWarning):
    """A layer's target density cannot be met within the tolerance: the
    density jumps past it, or it lies beyond what any positive threshold
    gives on the data."""


class CalibratedThresholds(dict):
    """{weighted layer name: threshold}, in forward order: what
    `calibrate_thresholds` returns, accepted as it is by
    `Boolean(threshold=...)` and `Counting(threshold=...)`.

    density   {name: the fraction of that layer's input neurons that are
              relevant on the calibration data under these thresholds}
    target    {name: the density asked for, None where the threshold was
              kept from the semiring}
    rtol      the relative tolerance the search aimed at
    samples   the number of samples calibrated on
    semiring  Counting if a Counting was given, else Boolean, with these
              thresholds and the given `absolute` and `pool_threshold`
    """

    def __init__(self, thresholds, density, target, rtol, samples, semiring):
        super().__init__(thresholds)
        self.density, self.target = density, target
        self.rtol, self.samples, self.semiring = rtol, samples, semiring

    def __repr__(self):
        rows = [f"  {name}: {theta:.4g}  (density {self.density[name]:.4f}"
                + (f", target {self.target[name]:g})" if self.target[name] is not None
                   else ", kept)") for name, theta in self.items()]
        return ("CalibratedThresholds(\n" + "\n".join(rows)
                + f"\n  on {self.samples} samples, rtol {self.rtol:g}\n)")


def calibrate_thresholds(net, data, semiring=None, density=0.1, target=None, rule=None,
                         maxpool=None, rtol=0.01, batch_size=256):
    """Per-layer thresholds that keep a target fraction of each weighted
    layer's input neurons relevant on `data` (Boolean and Counting).

    net        a `Network`.
    data       what `datasets.as_dataset` takes: a Dataset (`datasets.MNIST()`,
               `ImageFolder`...), an array (N, ...) of model-ready inputs, or a
               pair (x, labels); shaped for the network as `datasets.shaped_for`
               does. It is read batch_size samples at a time.
    semiring   Boolean(...) (default Boolean()) or Counting(...): its
               `absolute` and `pool_threshold` are used as they are, and its
               thresholds for the layers not calibrated.
    density    the fraction, in (0, 1], of the neurons entering each weighted
               layer that should be relevant: one number for every weighted
               layer; a list with one per weighted layer in forward order
               (None keeps the semiring's threshold there); or a dict from
               weighted layers (names or indices) to fractions, the others
               kept.
    target     the class explained: None (the predicted class), "label" (the
               data's labels), an int, or one int per sample.
    rule       the rules, as `relevance` takes them (default LRP-0).
    maxpool    as `relevance` takes it.
    rtol       the relative tolerance on each layer's density (default 0.01).
    batch_size samples per forward pass (default 256).

    Layers are calibrated from the output towards the input, each with the
    thresholds above it already chosen. For each, the density is the share
    of the entries (neurons, over all samples) of the activations entering
    it whose relevance is nonzero; the threshold is searched by bisection on
    its logarithm over [2**-100, 2**100] until the density lies within
    rtol * target of the target. Only positive thresholds are searched (a
    threshold <= 0 would make zero contributions relevant), so a layer's
    density cannot exceed the share of its inputs with a positive
    contribution (signed) or a nonzero one (absolute) to a relevant output:
    on MNIST, about 19% of the pixels are not blank. Where the target lies
    beyond what the data allows, or the density jumps across the tolerance
    band (many equal contributions), the closest density is taken and a
    `CalibrationWarning` names the layer, the target and the density.

    Memory: one weighted layer's input and output activations for all of
    `data` are held at a time (a few hundred MNIST digits or a few dozen
    224x224 images are enough to calibrate on).

    Returns a `CalibratedThresholds`, a dict {weighted layer name: threshold}
    for `Boolean(threshold=...)` or `Counting(threshold=...)`, whose
    `density` gives the density each layer reaches on `data` (the same as
    `relevance(..., return_all=True)[1].density()` over the same samples).
    """
    resolved, rules, maxpool = _checked_semiring(net, semiring, rule, maxpool)
    goals = _densities(net, density)
    rtol = _checked_rtol(rtol)
    dataset = shaped_for(net, as_dataset(data))
    if len(dataset) == 0:
        raise ValueError("data holds no samples to calibrate on")
    batches = _Batches(net, dataset, as_int(batch_size, "batch_size", 1), target)
    described = [net.describe(i) for i in net.weighted_layers]

    weighted = net.weighted_layers
    thresholds = list(resolved.threshold) if isinstance(resolved.threshold, list) \
        else [resolved.threshold] * len(weighted)
    reached = [None] * len(weighted)
    for k in reversed(range(len(weighted))):
        layer = _LayerProbe(net, weighted[k], rules, resolved, maxpool, batches)
        if goals[k] is not None:
            thresholds[k] = _search(layer, goals[k], rtol, described[k], thresholds[k])
        reached[k] = layer.settle(thresholds[k])

    names = [net.names[i] for i in weighted]
    result = dict(zip(names, thresholds))
    semiring_type = Counting if isinstance(semiring, Counting) else Boolean
    made = semiring_type(threshold=dict(result), absolute=resolved.absolute,
                         pool_threshold=resolved.pool_threshold)
    return CalibratedThresholds(result, dict(zip(names, reached)), dict(zip(names, goals)),
                                rtol, len(dataset), made)


def _checked_semiring(net, semiring, rule, maxpool):
    """(the semiring with its thresholds as lists, one rule per weighted
    layer, the max pooling mode), checked as `relevance` checks them."""
    if semiring is None:
        semiring = Boolean()
    if isinstance(semiring, type) and issubclass(semiring, Semiring):
        raise TypeError(f"semiring is the class {semiring.__name__}; give an instance, e.g. "
                        f"{semiring.__name__}(absolute=True)")
    spec = family_spec(semiring)
    if spec is not BOOLEAN and spec is not COUNTING:
        raise TypeError(f"calibrate_thresholds chooses Boolean and Counting thresholds; "
                        f"{semiring!r} is neither (a composed semiring's threshold step "
                        "takes the thresholds Boolean's calibration gives)")
    resolved, rules, _, maxpool = checked_arguments(net, semiring, rule, "one", maxpool,
                                                    "input")
    return resolved, rules, maxpool


def _densities(net, density):
    """One target density (or None: keep) per weighted layer."""
    count = len(net.weighted_layers)
    if isinstance(density, dict):
        if not density:
            raise ValueError("the density dict is empty: name at least one weighted layer")
        goals = [None] * count
        for key, value in density.items():
            _, position = net.weighted_index(key)
            if goals[position] is not None:
                raise ValueError(f"the density dict names layer "
                                 f"{net.describe(net.weighted_layers[position])} twice")
            goals[position] = _density_value(value, f"density[{key!r}]")
        return goals
    if isinstance(density, (list, tuple)):
        if len(density) != count:
            raise ValueError(f"got {len(density)} densities for {count} weighted layers; give "
                             "one number, or one per weighted layer in forward order")
        goals = [None if value is None else _density_value(value, f"density[{i}]")
                 for i, value in enumerate(density)]
        if all(goal is None for goal in goals):
            raise ValueError("every density is None: there is no layer to calibrate")
        return goals
    return [_density_value(density, "density")] * count


def _density_value(value, what):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a fraction in (0, 1], not {value!r}")
    if not 0 < value <= 1:
        raise ValueError(f"{what} is {value!r}: a density is a fraction in (0, 1] of the "
                         "layer's input neurons")
    return float(value)


def _checked_rtol(rtol):
    if isinstance(rtol, (bool, np.bool_)) or not isinstance(rtol, numbers.Real):
        raise TypeError(f"rtol must be a number in (0, 1), not {rtol!r}")
    if not 0 < rtol < 1:
        raise ValueError(f"rtol is {rtol!r}: give a relative tolerance in (0, 1)")
    return float(rtol)


class _Batches:
    """The data as model-ready batches, each with its current relevance: the
    relevance entering layer `frontier` (at first the output's, one-hot at
    the target) as booleans."""

    def __init__(self, net, dataset, batch_size, target):
        self.net, self.dataset = net, dataset
        self.ranges = [(start, min(start + batch_size, len(dataset)))
                       for start in range(0, len(dataset), batch_size)]
        target = _checked_target(target, len(dataset))
        self.frontier = len(net.layers)
        self.relevance = []
        for start, stop in self.ranges:
            batch, labels = self.inputs(start, stop)
            scores = net.activations(batch)[-1]
            if scores.ndim != 2:
                raise ValueError(f"the network's output has shape {scores.shape[1:]} per "
                                 "sample; calibration needs one score per class")
            t = _batch_targets(target, labels, scores, start, stop)
            r = np.zeros(scores.shape, dtype=bool)
            r[np.arange(len(r)), t] = True
            self.relevance.append(r)

    def inputs(self, start, stop):
        """(batch (n, ...) in the network's dtype, labels or None)."""
        x, labels = self.dataset.load(start, stop)
        batch, _, _ = as_batch(self.net, x)
        return batch, labels


def _checked_target(target, n):
    if target is None or isinstance(target, str):
        if target not in (None, "label", "prediction"):
            raise ValueError(f"target must be None, 'label', 'prediction', a class index or "
                             f"one per sample, not {target!r}")
        return target
    t = np.asarray(target)
    if t.ndim > 1 or (t.ndim == 1 and len(t) != n):
        raise ValueError(f"target has shape {t.shape} for {n} samples; give one int or one "
                         "per sample")
    return t


def _batch_targets(target, labels, scores, start, stop):
    if isinstance(target, str) and target == "label":
        if labels is None:
            raise ValueError("target='label' needs labels: give data as a pair (x, labels) or "
                             "a Dataset with labels")
        return as_targets(np.asarray(labels), scores)
    if target is None or isinstance(target, str):
        return as_targets(None, scores)
    return as_targets(target if target.ndim == 0 else target[start:stop], scores)


class _LayerProbe:
    """Weighted layer `index` (k-th weighted layer) and, for every batch,
    what its Boolean step needs: its input and output activations and the
    relevance of its output, walked down from the relevance the batches hold
    through the layers between (pooling layers with their pool thresholds)."""

    def __init__(self, net, index, rules, semiring, maxpool, batches):
        self.net, self.index, self.rules, self.maxpool = net, index, rules, maxpool
        self.semiring, self.batches = semiring, batches
        self.cached, self.entries = [], 0
        pools = _Walk(net, Boolean(absolute=semiring.absolute,
                                   pool_threshold=semiring.pool_threshold), rules, maxpool)
        with pooled_arrays():
            for (start, stop), r in zip(batches.ranges, batches.relevance):
                batch, _ = batches.inputs(start, stop)
                acts = [batch]
                for layer in net.layers[:batches.frontier]:
                    acts.append(layer.forward(acts[-1]))
                for j in reversed(range(index + 1, batches.frontier)):
                    if net.layers[j].pooling:
                        r = pools.step(j, acts[j], acts[j + 1], r, batch.shape)
                    else:
                        r = r.reshape(acts[j].shape)
                self.cached.append((acts[index], acts[index + 1], r, batch.shape))
                self.entries += acts[index].size

    def _steps(self, theta):
        """The relevance entering the layer, per batch, with threshold theta."""
        walk = _Walk(self.net, Boolean(threshold=theta, absolute=self.semiring.absolute),
                     self.rules, self.maxpool)
        with pooled_arrays():
            for a, z, r, batch_shape in self.cached:
                yield walk.step(self.index, a, z, r, batch_shape)

    def density_at(self, theta):
        """The share of the layer's input entries that are relevant at theta."""
        return sum(int(np.count_nonzero(r)) for r in self._steps(theta)) / self.entries

    def settle(self, theta):
        """Fixes the layer's threshold: the batches then hold the relevance
        entering it. Returns its density."""
        self.batches.relevance = list(self._steps(theta))
        self.batches.frontier = self.index
        self.cached = []
        return sum(int(np.count_nonzero(r)) for r in self.batches.relevance) / self.entries


def _search(probe, goal, rtol, described, kept):
    """The threshold whose density is within rtol * goal of goal, by
    bisection on log2(threshold); the closest one found where none is (a
    CalibrationWarning says so). `kept` where no positive threshold lets
    any relevance through."""
    lo, hi = LOG2_LOW, LOG2_HIGH
    d_lo, d_hi = probe.density_at(2.0 ** lo), probe.density_at(2.0 ** hi)
    if d_lo == 0:
        warnings.warn(CalibrationWarning(
            f"no relevance reaches layer {described} at any positive threshold on this data "
            f"(the layers above let none through); its threshold stays {kept:g}"),
            stacklevel=3)
        return kept
    aim = min(max(goal, d_hi), d_lo)
    while hi - lo > LOG2_PRECISION:
        mid = (lo + hi) / 2
        d = probe.density_at(2.0 ** mid)
        if abs(d - aim) <= rtol * aim:
            lo, d_lo = mid, d
            break
        if d >= aim:
            lo, d_lo = mid, d
        else:
            hi, d_hi = mid, d
    theta, reached = (lo, d_lo) if abs(d_lo - aim) <= abs(d_hi - aim) else (hi, d_hi)
    if abs(reached - goal) > rtol * goal:
        bound = ("the most any positive threshold gives" if aim < goal
                 else "the least any threshold up to 2**100 gives" if aim > goal
                 else "the density jumps across the target there")
        warnings.warn(CalibrationWarning(
            f"layer {described}: density {reached:.4g} instead of the target {goal:g} "
            f"({bound}; tolerance {rtol:g} relative)"), stacklevel=3)
    return 2.0 ** theta
