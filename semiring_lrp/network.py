"""The network model: a chain of layers holding NumPy arrays.

A `Network` is what every pass runs on. It is built by `from_torch`, by
`load`, by `models.*`, or by hand from `Linear`, `ReLU` and `Flatten`.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .inputs import as_batch

__all__ = ["Layer", "Linear", "ReLU", "Flatten", "Network"]

_ZERO_RULE = (_core.RULE_ZERO, 0.0, _core.EPS_SIGN, 0.0)


class Layer:
    """A layer maps a batch of activations (N, ...) to the next one."""

    weighted = False

    def forward(self, a):
        raise NotImplementedError

    def params(self):
        """Named arrays, for saving."""
        return {}

    def astype(self, dtype):
        return self

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(Layer):
    def forward(self, a):
        return np.maximum(a, 0)


class Flatten(Layer):
    """Flattens every axis but the batch axis (nn.Flatten's default)."""

    def forward(self, a):
        return a.reshape(a.shape[0], -1)


class Linear(Layer):
    """z = a @ weight.T + bias, weight shaped (out, in) as in PyTorch."""

    weighted = True

    def __init__(self, weight, bias=None):
        weight = np.asarray(weight)
        if weight.dtype not in (np.float32, np.float64):
            raise TypeError(f"Linear weight must be float32 or float64, not {weight.dtype}")
        if weight.ndim != 2 or 0 in weight.shape:
            raise ValueError(f"Linear weight must be a non-empty (out, in) matrix, "
                             f"not shape {weight.shape}")
        if bias is None:
            bias = np.zeros(weight.shape[0], dtype=weight.dtype)
        bias = np.asarray(bias)
        if bias.dtype != weight.dtype:
            raise TypeError(f"Linear bias dtype {bias.dtype} differs from weight dtype "
                            f"{weight.dtype}")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"Linear bias has shape {bias.shape}, expected ({weight.shape[0]},)")
        if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
            raise ValueError("Linear weight or bias contains NaN or infinity")
        # private read-only copies: no caller can change a Network behind its back
        self.weight = np.array(weight, order="C")
        self.bias = np.array(bias, order="C")
        self.weight.flags.writeable = False
        self.bias.flags.writeable = False

    @property
    def in_features(self):
        return self.weight.shape[1]

    @property
    def out_features(self):
        return self.weight.shape[0]

    def forward(self, a):
        if a.ndim != 2:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) needs (N, "
                             f"{self.in_features}) input, got {a.shape[1:]} per sample; "
                             "flatten first")
        if a.shape[1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}) got "
                             f"{a.shape[1]} input features")
        return _core.dense_forward(a, self.weight, self.bias, _ZERO_RULE)

    def params(self):
        return {"weight": self.weight, "bias": self.bias}

    def astype(self, dtype):
        return Linear(self.weight.astype(dtype), self.bias.astype(dtype))

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features})"


class Network:
    """A chain of layers.

    input_shape is the shape of one sample. When the network starts by
    flattening (a Flatten or a Linear layer), a sample may also be given
    flat, and a batch as any (N, ...) array with the right number of
    features per sample.
    """

    def __init__(self, layers, input_shape=None):
        self.layers = tuple(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is {layer!r}, not a semiring_lrp Layer")
        weighted = [layer for layer in self.layers if layer.weighted]
        if not weighted:
            raise ValueError("a Network needs at least one weighted layer (Linear)")
        dtypes = {layer.weight.dtype for layer in weighted}
        if len(dtypes) != 1:
            raise TypeError(f"all layers must share one dtype, found {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop()
        first = weighted[0]
        if input_shape is None:
            input_shape = (first.in_features,)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.n_features = int(np.prod(self.input_shape))
        self._check_chain()

    def _check_chain(self):
        """Linear layers must meet: out of one == in of the next."""
        width = self.n_features
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Linear):
                if layer.in_features != width:
                    raise ValueError(f"layer {i} {layer!r} expects {layer.in_features} inputs "
                                     f"but receives {width}")
                width = layer.out_features

    @property
    def weighted_layers(self):
        """Indices into `layers` of the weighted layers, in forward order."""
        return [i for i, layer in enumerate(self.layers) if layer.weighted]

    @property
    def n_classes(self):
        return self.layers[self.weighted_layers[-1]].out_features

    @property
    def flattens_input(self):
        first = self.layers[0]
        return isinstance(first, (Flatten, Linear))

    def activations(self, batch):
        """The activations entering each layer, then the output: len(layers) + 1 arrays."""
        acts = [batch]
        for layer in self.layers:
            acts.append(layer.forward(acts[-1]))
        return acts

    def forward(self, x):
        """Output scores for one sample (C,) or a batch (N, C)."""
        batch, single, _ = as_batch(self, x)
        out = self.activations(batch)[-1]
        return out[0] if single else out

    def masked(self, layer, neurons):
        """A copy in which some output neurons of a weighted layer are switched
        off: their weights and bias become 0, so they output 0 (before and
        after ReLU) and no relevance flows through them.

        layer: the index of the weighted layer among the weighted layers
        (the same index a per-layer threshold or rule list uses).
        neurons: indices of its output neurons, or a boolean mask over them.
        """
        weighted = self.weighted_layers
        if not isinstance(layer, (int, np.integer)) or not -len(weighted) <= layer < len(weighted):
            raise ValueError(f"layer must index one of the {len(weighted)} weighted layers, "
                             f"not {layer!r}")
        position = weighted[layer]
        target = self.layers[position]
        keep = np.ones(target.out_features, dtype=bool)
        index = np.asarray(neurons)
        if index.dtype == np.bool_:
            if index.shape != keep.shape:
                raise ValueError(f"a boolean mask for {target!r} needs {keep.size} entries, "
                                 f"not {index.shape}")
            keep &= ~index
        elif index.dtype.kind in "iu" or index.size == 0:
            index = index.astype(np.int64).ravel()
            if np.any((index < -keep.size) | (index >= keep.size)):
                raise ValueError(f"neuron indices out of range for {target!r}")
            keep[index] = False
        else:
            raise TypeError(f"neurons must be integer indices or a boolean mask, not {index.dtype}")
        weight = target.weight * keep[:, None].astype(target.weight.dtype)
        bias = target.bias * keep.astype(target.bias.dtype)
        layers = list(self.layers)
        layers[position] = Linear(weight, bias)
        return Network(layers, self.input_shape)

    def astype(self, dtype):
        """A copy of the network in float32 or float64."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"a Network is float32 or float64, not {dtype}")
        return Network([layer.astype(dtype) for layer in self.layers], self.input_shape)

    def save(self, path):
        """Writes the network to one .npz file (no pickle); `load` reads it back."""
        from .io import save_network
        save_network(self, path)

    def __repr__(self):
        inner = ", ".join(map(repr, self.layers))
        return f"Network([{inner}], input_shape={self.input_shape}, dtype={self.dtype})"
