"""The propagation driver: `relevance`, the library's main entry point.

One forward pass keeps every layer's activations; then the layers are
walked backwards, one C pass (or one generic NumPy step) per weighted layer.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _core, diagnostics, generic
from . import trace as tracing
from .layers import KernelStep
from .pooling import MAXPOOL_MODES
from .inputs import as_batch, as_targets, is_tensor, tensor_like
from .memory import pooled_arrays
from .network import Network
from .rules import Rule, ZBox, Zero
from .semiring_specs import is_built_in
from .composed import ComposedSemiring
from .semirings import Real, Semiring, kernel_spec

__all__ = ["relevance", "LayerRelevance", "LayerDensity"]

_REUSES_FORWARD = (_core.RULE_ZERO, _core.RULE_EPSILON)


class _ByLayer(list):
    """A list with one entry per layer input and one for the output: entry i
    belongs to the activations entering `net.layers[i]`, the last to the
    output; also indexed by the layer's name, "input" (entry 0) and "output"
    (the last)."""

    def __init__(self, values, net, single=False):
        super().__init__(values)
        self.net = net
        self.single = single

    def __getitem__(self, key):
        if isinstance(key, str):
            key = self.net.layer_index(key, allow_ends=True)
        return super().__getitem__(key)

    def names(self):
        """The entries' names: "input", the names of layers 1 to L - 1, "output"."""
        return ["input", *self.net.names[1:], "output"]


class LayerRelevance(_ByLayer):
    """Every layer's relevance, as `relevance(return_all=True)` gives it:
    entry i is the relevance of the activations entering `net.layers[i]`,
    the last entry the output relevance. Entries are also found by the
    layer's name, "input" (entry 0) and "output" (the last).

    `relevance` builds it: values are the entries, net the `Network`,
    single whether the pass was given one sample (entries without N), zero
    the semiring's 0 (a composed semiring's may be -inf)."""

    def __init__(self, values, net, single=False, zero=0):
        super().__init__(values, net, single)
        self.zero = zero

    def density(self, per_sample=False):
        """The fraction of nonzero relevance in each entry: a `LayerDensity`,
        indexed like this list (by position, layer name, "input", "output").

        Each value is (nonzero entries) / (entries) over the whole batch, a
        float; with per_sample=True one such fraction per sample, a float64
        array (N,) (a float when the pass was given one sample). -0 counts
        as 0; a composed semiring's entries count where they are not its
        zero (MaxPlus's -inf). For Boolean and Counting it is the share of the neurons from
        which a relevant path leads to the target; `calibrate_thresholds`
        picks thresholds that set it per weighted layer."""
        per_sample = bool(per_sample) and not self.single
        return LayerDensity([diagnostics.nonzero_fraction(r, per_sample, self.zero)
                             for r in self], self.net, self.single)


class LayerDensity(_ByLayer):
    """Per-layer fractions of nonzero relevance (`LayerRelevance.density`):
    entry i belongs to the activations entering `net.layers[i]`, the last
    to the output; also indexed by layer name, "input" and "output".
    `LayerRelevance.density` builds it: values are the fractions, net the
    `Network`, single whether the pass was given one sample."""

    def as_dict(self):
        """{entry name: fraction}, from "input" to "output"."""
        return dict(zip(self.names(), self))

    def __repr__(self):
        width = max(len(name) for name in self.names())
        lines = []
        for i, (name, value) in enumerate(zip(self.names(), self)):
            shown = (f"{value:.4f}" if np.ndim(value) == 0
                     else np.array2string(np.asarray(value), precision=4))
            lines.append(f"{i:>4}  {name:<{width}}  {shown}")
        return "LayerDensity(\n" + "\n".join(lines) + "\n)"


def _tensors_for_tensors(numpy_relevance):
    """`relevance` from its NumPy form: the results as torch tensors when x is one."""
    @functools.wraps(numpy_relevance)
    def wrapper(net, x, *args, **kwargs):
        result = numpy_relevance(net, x, *args, **kwargs)
        if not is_tensor(x):
            return result
        if isinstance(result, tuple):
            r, layers = result
            return tensor_like(x, r), LayerRelevance([tensor_like(x, a) for a in layers], net,
                                                     zero=layers.zero)
        return tensor_like(x, result)
    return wrapper


@_tensors_for_tensors
@pooled_arrays()
def relevance(net, x, target=None, semiring=None, rule=None, init="one", return_all=False,
              maxpool=None, layer="input"):
    """K-relevance of the input of `net` for class `target` (paper eq. K-LRP).

    net       a `Network` (see `from_torch`, `load`, `models`).
    x         one sample or a batch: NumPy array, nested list or torch tensor,
              any memory layout and real dtype; it is converted to the
              network's dtype. NaN or infinity raise ValueError. bfloat16
              and float8 tensors are read as float32 (exactly), GPU tensors
              copied to the CPU; meta, sparse and quantized tensors raise
              ValueError (see `inputs.from_tensor`).
    target    an int, or one int per sample, of any integer type; default:
              the predicted class. An index outside [0, classes) raises
              ValueError naming its value; bools and floats (even integral
              ones) raise TypeError.
    semiring  Real() (default), Boolean(...), Counting(...), Viterbi(), a
              composed semiring (`Semiring.compose`, MaxPlus(), MinMax(),
              FloatCounting(...), LogCounting(...)), or an instance of
              your own `Semiring` subclass.
    rule      one rule for every weighted layer (Linear, Conv2d); a list with
              one rule per weighted layer in forward order; or a dict from
              each weighted layer's name or index (see `Network`) to its rule.
              Default `rules.Zero()` (LRP-0). Pooling layers always use LRP-0.
              Parameters and thresholds are checked in the network's dtype
              (semantics.md, section 2): one that rounds to infinity or to
              0, or makes a layer's denominators overflow, raises ValueError
              naming the rule, the layer and the dtype.
    init      "one" (default): R^(L) is the semiring's 1 at the target, 0
              elsewhere (paper eq. 2.1.2). "activation": the real semiring
              starts from the target's output score, which is classical LRP
              (zennit/captum with that output as the seed).
    return_all
              also return every layer's relevance: a list whose entry i is
              the relevance of the activations entering `net.layers[i]`, the
              last entry the output relevance; it is also indexed by layer
              name ("fc2"), "input" and "output". Its `density()` gives the
              fraction of nonzero relevance of every entry.
    maxpool   "winner": max pooling passes relevance to the first arg-max of
              each window (winner-take-all); "average": as average pooling
              over the same windows (the LRP overview tutorial). Default: the
              composite's choice (see `composites`), else "winner".
    layer     whose relevance to return: "input" (default), a layer's name
              or index (the relevance of the activations entering it, shaped
              (N, ...) like them, or without N for one sample), or "output".
              The pass stops there: layers below it are not walked, and no
              other layer's relevance is kept.

    Returns an array shaped like x: bool for Boolean, int64 for Counting,
    the network's float dtype for Real and Viterbi; with return_all,
    (R, all_layers). When x is a torch tensor, every array returned is a
    torch tensor of that dtype: on the CPU sharing the result's memory
    (torch.from_numpy, no copy), for a CUDA x copied to x's device (the
    pass itself runs on the CPU); a user semiring's arrays of dtype object
    stay NumPy arrays. Your own semiring's relevance starts in
    np.result_type(zero(), one()) (the network's float dtype if that is a
    float) and widens to the dtype of every array its `add` returns: never
    a narrower one, so a float semiring whose methods keep float32 gives
    float32 on a float32 network. What its methods return is checked
    (numbers or booleans, shaped as they must be); a bad result raises a
    TypeError or ValueError naming the method, the semiring and the layer.

    Warnings (`RelevanceWarning`, semirings on the C kernels): when for
    some samples the relevance dies, every relevance entering some layer
    being 0 (and so every relevance below it), one warning per such layer
    names it, its threshold and the samples; when for Boolean or Counting
    every entry of the returned relevance is nonzero for some samples (it
    saturates), one warning says so. An integer x with values above 1 (raw
    pixels), or for the shipped MNIST models values far outside [0, 1],
    gives an `InputRangeWarning`. Silence them with
    `warnings.simplefilter("ignore", sl.RelevanceWarning)`.
    """
    _core.wake_workers()  # they wake while the arguments are checked
    semiring, rules, stop, maxpool = checked_arguments(net, semiring, rule, init, maxpool, layer)
    if return_all and stop != 0:
        raise ValueError(f"return_all gives every layer's relevance; layer={layer!r} asks "
                         "for one: give one or the other")
    batch, single, x_shape = as_batch(net, x)

    acts = net.activations(batch)
    if acts[-1].ndim != 2:
        raise ValueError(f"the network's output has shape {acts[-1].shape[1:]} per sample; "
                         "relevance needs one score per class (end with Flatten and Linear)")
    targets = as_targets(target, acts[-1])
    r0 = _initial_relevance(semiring, init, acts[-1], targets, net.dtype)

    walk = _Walk(net, semiring, rules, maxpool)
    checked = walk.spec is not None and is_built_in(walk.spec)
    r, all_layers = walk(acts, r0, stop, keep=return_all, alive=checked and not return_all)
    if checked:
        # the checks read 0 as "no relevance": a built-in's zero
        _check_health(walk, r, all_layers, stop)
    if not return_all:
        if stop == 0:
            return r.reshape(x_shape)
        return r[0] if single else r
    all_layers.reverse()

    if single:
        all_layers = [a[0] for a in all_layers]
        result = all_layers[0].reshape(x_shape)
    else:
        result = r.reshape(x_shape)
    all_layers[0] = result
    # density counts entries that are not the semiring's 0 (MaxPlus's -inf)
    zero = semiring.zero() if isinstance(semiring, ComposedSemiring) else 0
    return result, LayerRelevance(all_layers, net, single, zero)


class _Walk:
    """The backward walk of one pass's settings: from an output relevance
    down to the relevance entering `net.layers[stop]`, on the C kernels of
    `spec` (`kernel_spec(semiring)`) or, where that is None, on the generic
    NumPy path."""

    def __init__(self, net, semiring, rules, maxpool):
        self.net, self.semiring, self.rules, self.maxpool = net, semiring, rules, maxpool
        self.spec = kernel_spec(semiring)
        # each weighted (pooling) layer's position among the weighted (pooling) layers
        self.position = {i: k for layers in (net.weighted_layers, net.pooling_layers)
                         for k, i in enumerate(layers)}

    def __call__(self, acts, r, stop, keep, alive=False):
        """(relevance entering layers[stop], with keep every layer's relevance
        from the output down, else None); acts are the forward's activations.
        With alive, self.alive lists which samples hold relevance, for the
        output and then each layer's input from the output down (the health
        check reads it where the relevance died, instead of a second walk)."""
        kept = [r] if keep else None
        self.alive = [diagnostics.alive_rows(r)] if alive else None
        net = self.net
        traces = tracing.open_traces()
        if traces:
            tracing.record(traces, None, None)  # calls before this walk are no layer's
        for i in reversed(range(stop, len(net.layers))):
            if i in self.position:
                r = self.step(i, acts[i], acts[i + 1], r, acts[0].shape)
            else:
                r = r.reshape(acts[i].shape)
            if traces:
                tracing.record(traces, i, net.names[i],
                               numpy=self.spec is None and i in self.position)
            if keep:
                kept.append(r)
            if alive:
                self.alive.append(diagnostics.alive_rows(r))
        return r, kept

    def step(self, i, a, preactivation, r_out, batch_shape):
        """The relevance entering weighted or pooling layer i, from r_out,
        the relevance of its output: a is the layer's input and
        preactivation its output in the forward pass, batch_shape the
        network input's shape. The same call for every such layer: a
        `KernelStep` carries what the layer's kernel needs."""
        if self.spec is not None and is_built_in(self.spec) and not _core.any_nonzero(r_out):
            # 0 absorbs (x) and is neutral for (+), so every input gets 0
            # (semantics.md, section 3): no denominators to form. Built-in
            # semirings only: their 0 is a plain 0 of the relevance array.
            return np.zeros(a.shape, dtype=r_out.dtype)
        if self.spec is None:
            return self._generic_step(i, a, preactivation, r_out, batch_shape)
        step = self._kernel_step(i, a, preactivation, batch_shape)
        if is_built_in(self.spec):
            return self.net.layers[i].kernel_relevance(step, a, r_out)
        try:
            return self.net.layers[i].kernel_relevance(step, a, r_out)
        except (ValueError, OverflowError) as err:
            # the C core knows the composed semiring's values, not the layer
            raise type(err)(f"{self.semiring!r}: {err} at layer {self.net.describe(i)}") from None

    def _kernel_step(self, i, a, preactivation, batch_shape):
        """The `KernelStep` of weighted or pooling layer i."""
        layer = self.net.layers[i]
        if layer.pooling:
            return KernelStep(self.spec, *self._kernel_threshold(i), maxpool=self.maxpool)
        rule = self.rules[self.position[i]]
        low, high = _bounds(rule, a, batch_shape)
        z = _denominators(self.spec, rule, layer, a, preactivation, low, high, self.net.names[i])
        return KernelStep(self.spec, *self._kernel_threshold(i), rule=rule, z=z, low=low,
                          high=high)

    def _kernel_threshold(self, i):
        """(theta, absolute) of layer i as the kernels take them: (0.0, False)
        for an unthresholded semiring."""
        if not self.spec.thresholded:
            return 0.0, False
        k, semiring = self.position[i], self.semiring
        theta = (semiring.checked_pool_theta(k) if self.net.layers[i].pooling
                 else semiring.checked_theta(k))
        return theta, semiring.absolute

    def _generic_step(self, i, a, preactivation, r_out, batch_shape):
        """`step` on the generic NumPy path (generic.py)."""
        layer, k = self.net.layers[i], self.position[i]
        # how errors of a user semiring's methods name the layer
        where = self.net.describe(i)
        if layer.pooling:
            return generic.pooling_step(self.semiring, k, layer, a, r_out, self.maxpool, where)
        rule = self.rules[k]
        low, high = _bounds(rule, a, batch_shape)
        z = _denominators(None, rule, layer, a, preactivation, low, high, self.net.names[i])
        return generic.weighted_step(self.semiring, k, layer, rule, a, z, r_out, where, low,
                                     high)

    def threshold(self, i):
        """The threshold the semiring applies at layer i, or None (for
        warnings; the kernel path only)."""
        if not self.spec.thresholded or i not in self.position:
            return None
        k = self.position[i]
        return (self.semiring.pool_theta(k) if self.net.layers[i].pooling
                else self.semiring.theta(k))


def _check_health(walk, r, kept, stop):
    """Warns (RelevanceWarning) when, for some samples, the relevance died
    in a layer (naming each such layer) or, for Boolean and Counting, is
    nonzero everywhere in the returned relevance r; kept is every layer's
    relevance where the walk kept it, else the walk tracked which samples
    stay alive."""
    net, semiring = walk.net, walk.semiring
    n = len(r)
    ends = (walk.alive[0], walk.alive[-1]) if kept is None else \
        (diagnostics.alive_rows(kept[0]), diagnostics.alive_rows(r))
    dead = np.flatnonzero(ends[0] & ~ends[1])
    if dead.size:
        alive = walk.alive if kept is None else [diagnostics.alive_rows(k) for k in kept]
        _warn_deaths(walk, alive, dead, stop, n)
    if walk.spec.thresholded:
        full = np.flatnonzero(diagnostics.saturated_rows(r))
        if full.size:
            where = "the input" if stop == 0 else f"layer {net.describe(stop)}"
            diagnostics.warn_relevance(
                "saturates",
                f"relevance saturates: every entry of the relevance entering {where} is "
                f"nonzero for {full.size} of {n} samples under {semiring!r}, so it singles "
                "nothing out; raise the thresholds (sl.calibrate_thresholds picks them for a "
                "target density)",
                "input" if stop == 0 else net.names[stop], stop, full, n, semiring,
                walk.threshold(stop) if stop < len(net.layers) else None)


def _warn_deaths(walk, alive, samples, stop, n):
    """One warning per layer where some of `samples` died; alive[t] says
    which samples hold relevance, from the output (t = 0) down."""
    net, semiring = walk.net, walk.semiring
    died_at = np.full(len(samples), -1)
    # alive[0] is of the output relevance, alive[t] of the relevance entering layer L - t
    for t in range(1, len(alive)):
        i = len(net.layers) - t
        newly = (died_at < 0) & ~alive[t][samples]
        died_at[newly] = i
    for i in sorted(set(died_at.tolist()), reverse=True):
        which = samples[died_at == i]
        theta = walk.threshold(i)
        if theta is None:
            cause = f"under {semiring!r}"
        else:
            kind = "threshold" if net.layers[i].weighted else "pool_threshold"
            cause = (f"under {type(semiring).__name__} with {kind} {theta:g} there "
                     f"(absolute={semiring.absolute}); a lower threshold lets more through")
        diagnostics.warn_relevance(
            "dies",
            f"relevance dies at layer {net.describe(i)}: for {which.size} of {n} samples "
            f"every relevance entering it is 0, and so is every relevance below it, {cause}",
            net.names[i], i, which, n, semiring, theta)


#: `relevance` with NumPy results whatever x is: what the applications use
relevance_arrays = relevance.__wrapped__


def checked_arguments(net, semiring, rule, init, maxpool, layer):
    """What `relevance` makes of its arguments before any pass, each checked
    against `net`: (the semiring with its thresholds per layer, one rule
    per weighted layer, the index where the backward walk stops, the max
    pooling mode). Raises the TypeError or ValueError that names a bad one,
    including a rule parameter or threshold that does not fit the
    network's dtype."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a semiring_lrp.Network, not {type(net).__name__}; "
                        "convert a PyTorch model with semiring_lrp.from_torch")
    semiring = Real() if semiring is None else semiring
    if not isinstance(semiring, Semiring):
        raise TypeError(f"unknown semiring {semiring!r}: use Real(), Boolean(), Counting(), "
                        "Viterbi() or an instance of a semiring_lrp.Semiring subclass")
    semiring.check_complete()
    if hasattr(semiring, "per_layer"):
        resolved = semiring.per_layer(net)
        if not isinstance(resolved, Semiring):
            raise TypeError(f"{type(semiring).__name__}.per_layer(net) returned {resolved!r}; "
                            "it must return a semiring_lrp.Semiring")
        semiring = resolved
    rules = _rules_per_layer(rule, net)
    _check_values_fit(net, semiring, rules)
    stop = net.layer_index(layer, allow_ends=True)
    if not (isinstance(init, str) and init in ("one", "activation")):
        raise ValueError(f"init must be 'one' or 'activation', not {init!r}")
    if init == "activation" and not isinstance(semiring, Real):
        raise ValueError(f"init='activation' starts classical LRP from the output score; "
                         f"it needs the real semiring, not {semiring!r} (use init='one')")
    if maxpool is None:
        maxpool = getattr(rule, "maxpool", "winner")
    if maxpool not in MAXPOOL_MODES:
        raise ValueError(f"maxpool must be one of {MAXPOOL_MODES}, not {maxpool!r}")
    return semiring, rules, stop, maxpool


def _rules_per_layer(rule, net):
    """One rule per weighted layer, in forward order."""
    count = len(net.weighted_layers)
    if isinstance(rule, dict):
        rule = net.per_layer_list(rule, "the rule dict")
    if rule is None:
        return [Zero()] * count
    if isinstance(rule, Rule):
        return [rule] * count
    if isinstance(rule, (list, tuple)):
        if len(rule) != count:
            raise ValueError(f"got {len(rule)} rules for {count} weighted layers; give one "
                             "rule, or one per weighted layer in forward order")
        for i, r in enumerate(rule):
            if not isinstance(r, Rule):
                raise TypeError(f"rule[{i}] is {r!r}, not a semiring_lrp.rules rule")
        return list(rule)
    raise TypeError(f"rule must be a semiring_lrp.rules rule or a list of them, not {rule!r}")


def _check_values_fit(net, semiring, rules):
    """Every rule parameter and threshold keeps its meaning in the network's
    dtype (see `Rule.check_fits`, `Boolean.check_fits`): refused here, before
    any pass, rather than giving NaN or zeros."""
    for position, rule in zip(net.weighted_layers, rules):
        layer = net.layers[position]
        rule.check_fits(net.dtype, layer.largest_weights(), f"layer {net.names[position]!r}")
    if hasattr(semiring, "check_fits"):
        semiring.check_fits(net)


def _check_finite(values, rule, name, parameter):
    """Raises ValueError when a layer's denominators (z, or Viterbi's m)
    hold infinity or NaN: the rule's `parameter` (None: the forward pass
    itself) made them overflow on this input. One pass over the threads, no
    temporary array (a rule's own stabilise may return another dtype: min
    and max carry any NaN)."""
    if values.dtype in (np.float32, np.float64):
        if _core.all_finite(values):
            return
    elif values.size == 0 or (np.isfinite(values.min()) and np.isfinite(values.max())):
        return
    _raise_not_finite(values.dtype, rule, name, parameter)


def _raise_not_finite(dtype, rule, name, parameter):
    """The ValueError of `_check_finite` for denominators of `dtype`."""
    if parameter is None:
        raise ValueError(f"the forward pass overflows {dtype} at layer {name!r} on this input "
                         f"(largest {np.finfo(dtype).max:.4g})")
    raise ValueError(f"{rule!r} on layer {name!r}: {parameter} {_shown(rule, parameter)} "
                     f"makes the denominators overflow {dtype} on this input (largest "
                     f"{np.finfo(dtype).max:.4g}); give a smaller {parameter}")


def _rule_parameter(rule):
    """The parameter of `rule` that scales its fresh denominators."""
    return {_core.RULE_GAMMA: "gamma", _core.RULE_ZBOX: "low/high"}.get(rule.kind)


def _shown(rule, parameter):
    """The value of a rule's parameter as a message shows it; the bounds
    as the interval [least low, largest high]."""
    if parameter == "low/high":
        return f"[{np.min(rule.low)}, {np.max(rule.high)}]"
    return repr(getattr(rule, parameter))


def _relevance_dtype(semiring, net_dtype):
    """The dtype of the output relevance: its spec's for a semiring on the
    C kernels or a composed one, else np.result_type(zero(), one()) (both checked), the
    network's dtype for floats. A user semiring's layers may widen it (see generic.fold)."""
    spec = kernel_spec(semiring)
    if spec is None and isinstance(semiring, ComposedSemiring):
        spec = semiring.spec  # its element dtype, on either path
    if spec is not None:
        return spec.relevance_dtype(net_dtype)
    dtype = generic.identity_dtype(semiring)
    return np.dtype(net_dtype) if dtype.kind == "f" else dtype


def _initial_relevance(semiring, init, scores, targets, net_dtype):
    n, classes = scores.shape
    rows = np.arange(n)
    dtype = _relevance_dtype(semiring, net_dtype)
    r = np.full((n, classes), generic.checked_identity(semiring, "zero"), dtype=dtype)
    if init == "one":
        r[rows, targets] = generic.checked_identity(semiring, "one")
    else:  # "activation", with the real semiring (checked_arguments)
        r[rows, targets] = scores[rows, targets]
    return r


def _zbox_bounds(rule, a, batch_shape):
    """Bounds shaped like the layer input a (N, in): broadcast against the
    network input when a is a reshaped network input, else against a."""
    shapes = [a.shape]
    if a.size == int(np.prod(batch_shape)):
        shapes.insert(0, batch_shape)
    for shape in shapes:
        try:
            low, high = rule.bounds_for(shape, a.dtype)
        except ValueError:
            if shape is shapes[-1]:
                raise
            continue
        return low.reshape(a.shape), high.reshape(a.shape)


def _bounds(rule, a, batch_shape):
    """(low, high) of a z^B rule shaped like the layer input a, else (None, None)."""
    if isinstance(rule, ZBox):
        return _zbox_bounds(rule, a, batch_shape)
    return None, None


def _denominators(spec, rule, layer, a, preactivation, low, high, name):
    """What weighted layer `name` divides by: m_k (`absmax`) for a spec
    whose kernels take the strongest contribution, else z_k under `rule`,
    stabilised; the forward's `preactivation` is z where the rule reuses it.
    ValueError naming the rule and the layer where they overflow."""
    fresh = rule.kind not in _REUSES_FORWARD
    parameter = _rule_parameter(rule) if fresh else None
    if spec is not None and spec.strongest:
        m = layer.absmax(a, rule, low, high)
        _check_finite(m, rule, name, parameter)
        return m
    z = layer.weighted_sum(a, rule, low, high) if fresh else preactivation
    # the forward's preactivation is kept for the layers below; a fresh z is
    # this step's alone and is stabilised where it lies. The built-in
    # stabiliser with eps = 0 is the identity and the C kernels only read z;
    # a Python semiring gets a copy it may change.
    built_in = type(rule).stabilise is Rule.stabilise
    if spec is not None and built_in and rule.eps == 0 and not rule.relative:
        _check_finite(z, rule, name, parameter)
        return z
    if built_in and z.dtype in (np.float32, np.float64):
        # stabilised and both checks in one pass over z
        z, z_finite, finite = rule.stabilise_checked(z, in_place=fresh)
        if not z_finite:
            _raise_not_finite(z.dtype, rule, name, parameter)
        if not finite:
            _raise_not_finite(z.dtype, rule, name, "eps")
        return z
    _check_finite(z, rule, name, parameter)
    z = rule.stabilise(z, in_place=fresh)
    _check_finite(z, rule, name, "eps")
    return z
