"""Layers of a `Network`: element-wise and reshaping layers, and the
weighted layers (Linear, Conv2d) whose passes run in the C core.

Every weighted layer offers the same passes: `weighted_sum` (z before
stabilisation, for any rule), `absmax` (Viterbi's denominator),
`kernel_relevance` (one K-LRP step of a built-in semiring) and
`pair_groups` (the (input, output) pairs, for the generic NumPy path).
Pooling layers offer `kernel_relevance` with the same signature: a
`KernelStep` says what the step needs.
"""
from __future__ import annotations


import numpy as np

from . import _core
from ._integers import as_int, as_int_pair
from .inputs import from_tensor
from .rules import Rule, ZBox, Zero
from .semiring_specs import SemiringSpec

__all__ = ["Layer", "ReLU", "Flatten", "Linear", "Conv2d", "KernelStep"]

_FORWARD_RULE = Zero()


class KernelStep:
    """What one K-LRP step of a built-in semiring through a layer takes
    besides the layer's input a and its output's relevance r_out, for
    `kernel_relevance` of weighted and pooling layers alike.

    spec      the semiring's `SemiringSpec`
    theta     its threshold at this layer (0.0 for an unthresholded semiring)
    absolute  whether theta bounds |d| rather than d
    rule      weighted layers: the layer's rule (pooling layers are LRP-0)
    z         weighted layers: the stabilised z, or `absmax`'s m when
              spec.strongest (Viterbi)
    low, high weighted layers: z^B's bounds shaped like a, or None
    maxpool   pooling layers: "winner" or "average" (see `relevance`)
    """

    # slots, not a frozen dataclass: one is made per layer of every pass, and
    # a frozen dataclass's __init__ sets each field through object.__setattr__
    __slots__ = ("spec", "theta", "absolute", "rule", "z", "low", "high", "maxpool")

    def __init__(self, spec: SemiringSpec, theta: float = 0.0, absolute: bool = False,
                 rule: Rule | None = None, z: np.ndarray | None = None,
                 low: np.ndarray | None = None, high: np.ndarray | None = None,
                 maxpool: str = "winner"):
        self.spec, self.theta, self.absolute, self.rule = spec, theta, absolute, rule
        self.z, self.low, self.high, self.maxpool = z, low, high, maxpool

    def __repr__(self):
        return f"KernelStep({self.spec.name}, theta={self.theta!r}, rule={self.rule!r})"


class Layer:
    """A layer maps a batch of activations (N, ...) to the next one."""

    weighted = False
    pooling = False

    def forward(self, a):
        """The layer's output for a batch `a` (N, ...): a new array of the
        next layer's input shape; ValueError when `a`'s shape does not fit."""
        raise NotImplementedError

    def params(self):
        """Named arrays, for saving."""
        return {}

    def config(self):
        """Hyperparameters as JSON values, for saving."""
        return {}

    def astype(self, dtype):
        """The layer with its parameters in `dtype` (float32 or float64): a
        copy, or the layer itself when it has no parameters."""
        return self

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(Layer):
    """max(a, 0), element-wise (nn.ReLU). It has no parameters; relevance
    passes through it unchanged (docs/semantics.md)."""

    def forward(self, a):
        # np.maximum's values, over the threads
        if isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64):
            return _core.relu(a)
        return np.maximum(a, 0)


class Flatten(Layer):
    """Flattens every axis but the batch axis (nn.Flatten's default)."""

    def forward(self, a):
        return a.reshape(a.shape[0], -1)


# The largest stride, padding, dilation or pooling kernel a layer takes: the
# C core's bound, which keeps every product of two of them inside int64.
MAX_EXTENT = 1 << 30


def _pair(value, name, low=0, high=MAX_EXTENT):
    """An int or a pair of ints in [low, high], as PyTorch accepts them, as
    a pair of Python ints; errors name `name` (the layer and the argument)."""
    return as_int_pair(value, name, low, high)


class WeightedLayer(Layer):
    """Shared checks and passes of Linear and Conv2d."""

    weighted = True
    _ndim = 2
    _kernel = "dense"

    def __init__(self, weight, bias):
        name = type(self).__name__
        weight = np.asarray(from_tensor(weight, f"{name} weight"))
        if weight.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} weight must be float32 or float64, not {weight.dtype}")
        if weight.ndim != self._ndim or 0 in weight.shape:
            raise ValueError(f"{name} weight must be a non-empty {self._ndim}-D array, "
                             f"not shape {weight.shape}")
        if bias is None:
            bias = np.zeros(weight.shape[0], dtype=weight.dtype)
        bias = np.asarray(from_tensor(bias, f"{name} bias"))
        if bias.dtype != weight.dtype:
            raise TypeError(f"{name} bias dtype {bias.dtype} differs from weight dtype "
                            f"{weight.dtype}")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{name} bias has shape {bias.shape}, expected ({weight.shape[0]},)")
        if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
            raise ValueError(f"{name} weight or bias contains NaN or infinity")
        # private read-only copies: no caller can change a Network behind its back
        self.weight = np.array(weight, order="C")
        self.bias = np.array(bias, order="C")
        self.weight.flags.writeable = False
        self.bias.flags.writeable = False

    def _geometry(self):
        return ()

    def _weight_cache(self):
        """The C core's cache of what the passes prepare from these weights
        (rho(W) packed, Winograd's U): made on first use, tied to this weight
        array (a new array, or a writeable one, gets none)."""
        kept = self.__dict__.get("_kept")
        if kept is not None and kept[0] is self.weight:
            return kept[1]
        cache = None if self.weight.flags.writeable else _core.weight_cache(self.weight)
        self._kept = (self.weight, cache)
        return cache

    def largest_weights(self):
        """(largest positive, largest negative magnitude) among the weights
        and the bias, 0 where there is none: what bounds rho(w) and the z^B
        terms (`Rule.check_fits`). Found once per weight array."""
        kept = self.__dict__.get("_largest")
        if kept is None or kept[0] is not self.weight:
            low = min(float(self.weight.min()), float(self.bias.min()), 0.0)
            high = max(float(self.weight.max()), float(self.bias.max()), 0.0)
            kept = self._largest = (self.weight, (high, -low))
        return kept[1]

    def weight_cache_size(self):
        """(entries, bytes) of prepared weights this layer keeps for its passes."""
        kept = self.__dict__.get("_kept")
        if kept is None or kept[1] is None:
            return 0, 0
        return _core.weight_cache_size(kept[1])

    def clear_weight_cache(self):
        """Frees the prepared weights (the next passes prepare them again)."""
        self.__dict__.pop("_kept", None)

    def __getstate__(self):
        # the cache is the C core's memory, rebuilt on demand: never pickled
        state = dict(self.__dict__)
        state.pop("_kept", None)
        state.pop("_largest", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # unpickled arrays are writeable views of pickle's buffer: private
        # read-only copies again, as __init__ makes
        for name in ("weight", "bias"):
            array = np.array(getattr(self, name), order="C")
            array.flags.writeable = False
            setattr(self, name, array)

    def weighted_sum(self, a, rule, low=None, high=None):
        """z = sum_j n_jk + beta_k under `rule`, before stabilisation."""
        forward = getattr(_core, f"{self._kernel}_forward")
        return forward(a, self.weight, self.bias, rule.kernel_rule, *self._geometry(), low, high,
                       self._weight_cache())

    def absmax(self, a, rule, low=None, high=None):
        """Viterbi's denominator: max(|beta_k|, max_j |n_jk|)."""
        absmax = getattr(_core, f"{self._kernel}_absmax")
        return absmax(a, self.weight, self.bias, rule.kernel_rule, *self._geometry(), low, high,
                      self._weight_cache())

    def kernel_relevance(self, step, a, r_out):
        """The relevance of the layer's input `a` from that of its output
        `r_out`: one K-LRP step of the built-in semiring `step.spec` in the
        C core, with the rule, z (or m), bounds and threshold of `step`."""
        kernel = getattr(_core, f"{self._kernel}_relevance")
        return kernel(step.spec.core_id, a, self.weight, step.z, r_out, step.rule.kernel_rule,
                      *self._geometry(), step.theta, step.absolute, step.low, step.high,
                      self._weight_cache())

    def forward(self, a):
        return self.weighted_sum(a, _FORWARD_RULE)

    def bias_terms(self, rule, out_shape):
        """beta_k for every output of one sample, flat: rho(b) of k's channel,
        0 under z^B (where the bias cancels)."""
        beta = np.zeros_like(self.bias) if isinstance(rule, ZBox) else rule.rho(self.bias)
        per_channel = int(np.prod(out_shape[1:], dtype=np.int64))
        return np.repeat(beta, per_channel)

    def params(self):
        return {"weight": self.weight, "bias": self.bias}


class Linear(WeightedLayer):
    """z = a @ weight.T + bias, weight shaped (out, in) as in PyTorch."""

    def __init__(self, weight, bias=None):
        super().__init__(weight, bias)

    @property
    def in_features(self):
        """The number of inputs, weight.shape[1]."""
        return self.weight.shape[1]

    @property
    def out_features(self):
        """The number of outputs, weight.shape[0]."""
        return self.weight.shape[0]

    def forward(self, a):
        if a.ndim != 2:
            raise ValueError(f"{self!r} needs (N, {self.in_features}) input, got "
                             f"{a.shape[1:]} per sample; flatten first")
        if a.shape[1] != self.in_features:
            raise ValueError(f"{self!r} got {a.shape[1]} input features")
        return super().forward(a)

    def pair_groups(self, in_shape, out_shape):
        """One group per output k: every input j, with weight w_jk."""
        inputs = np.arange(self.in_features)
        for k in range(self.out_features):
            yield inputs, np.full(self.in_features, k), self.weight[k]

    def astype(self, dtype):
        return Linear(self.weight.astype(dtype), self.bias.astype(dtype))

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"


class Conv2d(WeightedLayer):
    """A 2-D convolution as in PyTorch (NCHW, zero padding), weight shaped
    (out_channels, in_channels / groups, k_h, k_w), bias (out_channels,) or
    None for zeros. stride and dilation are
    ints (or pairs) from 1 to 2**30, padding from 0 to 2**30, groups an int
    dividing out_channels; NumPy integers are taken, bools and floats not."""

    _ndim = 4
    _kernel = "conv"

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        super().__init__(weight, bias)
        self.stride = _pair(stride, "Conv2d stride", 1)
        self.padding = _pair(padding, "Conv2d padding", 0)
        self.dilation = _pair(dilation, "Conv2d dilation", 1)
        self.groups = as_int(groups, "Conv2d groups", 1, self.out_channels)
        if self.out_channels % self.groups:
            raise ValueError(f"groups={self.groups} does not divide {self.out_channels} "
                             "output channels")

    @property
    def in_channels(self):
        """Input channels: weight.shape[1] times groups."""
        return self.weight.shape[1] * self.groups

    @property
    def out_channels(self):
        """Output channels, weight.shape[0]."""
        return self.weight.shape[0]

    @property
    def kernel_size(self):
        """(k_h, k_w), weight.shape[2:]."""
        return self.weight.shape[2:]

    def _geometry(self):
        return ((*self.stride, *self.padding, *self.dilation, self.groups),)

    def forward(self, a):
        if a.ndim != 4 or a.shape[1] != self.in_channels:
            raise ValueError(f"{self!r} needs (N, {self.in_channels}, H, W) input, got "
                             f"{a.shape[1:]} per sample")
        return super().forward(a)

    def output_size(self, height, width):
        """The (H, W) this layer makes of an (height, width) input."""
        sizes = []
        for size, k, s, p, d in zip((height, width), self.kernel_size, self.stride,
                                    self.padding, self.dilation):
            sizes.append((size + 2 * p - d * (k - 1) - 1) // s + 1)
        return tuple(sizes)

    def pair_groups(self, in_shape, out_shape):
        """One group per (output channel, kernel tap): the shifted, strided
        grid of pairs that tap links, over the channels of the group."""
        channels, height, width = in_shape
        _, out_h, out_w = out_shape
        cin_g = self.weight.shape[1]
        cout_g = self.out_channels // self.groups
        axes = []
        for k in range(2):
            size, out, s, p, d = ((height, width)[k], (out_h, out_w)[k], self.stride[k],
                                  self.padding[k], self.dilation[k])
            o = np.arange(out)
            axes.append([(o[(o * s - p + t * d >= 0) & (o * s - p + t * d < size)], s, p, d, t)
                         for t in range(self.kernel_size[k])])
        for co in range(self.out_channels):
            inputs = (co // cout_g) * cin_g + np.arange(cin_g)
            for oy, sy, py, dy, ky in axes[0]:
                for ox, sx, px, dx, kx in axes[1]:
                    iy, ix = oy * sy - py + ky * dy, ox * sx - px + kx * dx
                    j = (inputs[:, None, None] * height + iy[None, :, None]) * width + ix
                    k = (co * out_h + oy[:, None]) * out_w + ox[None, :]
                    w = np.broadcast_to(self.weight[co, :, ky, kx][:, None, None], j.shape)
                    yield j.ravel(), np.broadcast_to(k, j.shape).ravel(), w.ravel()

    def config(self):
        return {"stride": list(self.stride), "padding": list(self.padding),
                "dilation": list(self.dilation), "groups": self.groups}

    def astype(self, dtype):
        return Conv2d(self.weight.astype(dtype), self.bias.astype(dtype), **self.config())

    def __repr__(self):
        extra = "".join(f", {name}={value}" for name, value, default in (
            ("stride", self.stride, (1, 1)), ("padding", self.padding, (0, 0)),
            ("dilation", self.dilation, (1, 1)), ("groups", self.groups, 1))
            if value != default)
        return (f"Conv2d({self.in_channels}, {self.out_channels}, "
                f"kernel_size={tuple(self.kernel_size)}{extra})")
