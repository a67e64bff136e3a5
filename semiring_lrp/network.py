"""The network model: a chain of layers holding NumPy arrays.

A `Network` is what every pass runs on. It is built by `from_torch`, by
`load`, by `models.*`, or by hand from the layers in `layers` and `pooling`.
"""
from __future__ import annotations

import numpy as np

from .inputs import as_batch
from .layers import Conv2d, Flatten, Layer, Linear, ReLU
from .memory import pooled_arrays
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["Network", "Layer", "Linear", "Conv2d", "ReLU", "Flatten", "AvgPool2d",
           "AdaptiveAvgPool2d", "MaxPool2d"]


class Network:
    """A chain of layers.

    input_shape is the shape of one sample; for a network that starts with a
    convolution it defaults to (in_channels, None, None), any image size.
    When the network starts by flattening (a Flatten or a Linear layer), a
    sample may also be given flat, and a batch as any (N, ...) array with the
    right number of features per sample.
    """

    def __init__(self, layers, input_shape=None):
        self.layers = tuple(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layer {i} is {layer!r}, not a semiring_lrp Layer")
        weighted = [self.layers[i] for i in self.weighted_layers]
        if not weighted:
            raise ValueError("a Network needs at least one weighted layer (Linear or Conv2d)")
        dtypes = {layer.weight.dtype for layer in weighted}
        if len(dtypes) != 1:
            raise TypeError(f"all layers must share one dtype, found {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop()
        first = weighted[0]
        if input_shape is None:
            input_shape = ((first.in_features,) if isinstance(first, Linear)
                           else (first.in_channels, None, None))
        self.input_shape = tuple(None if d is None else int(d) for d in input_shape)
        if any(d is not None and d < 1 for d in self.input_shape):
            raise ValueError(f"input_shape {self.input_shape} has a size below 1")
        self._check_chain()

    def _check_chain(self):
        """Widths must meet where they are known without an input: Linear to
        Linear (through element-wise layers) and Conv2d to Conv2d."""
        width = self.n_features if self.flattens_input else None
        channels = self.input_shape[0] if len(self.input_shape) == 3 else None
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Linear):
                if width is not None and layer.in_features != width:
                    raise ValueError(f"layer {i} {layer!r} expects {layer.in_features} inputs "
                                     f"but receives {width}")
                width = layer.out_features
            elif isinstance(layer, Conv2d):
                if channels is not None and layer.in_channels != channels:
                    raise ValueError(f"layer {i} {layer!r} expects {layer.in_channels} "
                                     f"channels but receives {channels}")
                channels, width = layer.out_channels, None
            elif isinstance(layer, Flatten):
                channels = None

    @property
    def weighted_layers(self):
        """Indices into `layers` of the weighted layers (Linear, Conv2d), in forward order."""
        return [i for i, layer in enumerate(self.layers) if layer.weighted]

    @property
    def pooling_layers(self):
        """Indices into `layers` of the pooling layers, in forward order."""
        return [i for i, layer in enumerate(self.layers) if layer.pooling]

    @property
    def n_features(self):
        """Values per sample, when the input shape is fixed."""
        if None in self.input_shape:
            return None
        return int(np.prod(self.input_shape))

    @property
    def flattens_input(self):
        return isinstance(self.layers[0], (Flatten, Linear)) and self.n_features is not None

    def activations(self, batch):
        """The activations entering each layer, then the output: len(layers) + 1 arrays."""
        with pooled_arrays():
            return self._activations(batch)

    def _activations(self, batch):
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
        neurons: indices of its outputs (Linear) or output channels (Conv2d),
        or a boolean mask over them.
        """
        weighted = self.weighted_layers
        if not isinstance(layer, (int, np.integer)) or not -len(weighted) <= layer < len(weighted):
            raise ValueError(f"layer must index one of the {len(weighted)} weighted layers, "
                             f"not {layer!r}")
        position = weighted[layer]
        target = self.layers[position]
        keep = np.ones(target.weight.shape[0], dtype=bool)
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
        shape = (-1,) + (1,) * (target.weight.ndim - 1)
        layers = list(self.layers)
        layers[position] = type(target)(target.weight * keep.reshape(shape).astype(target.weight.dtype),
                                        target.bias * keep.astype(target.bias.dtype),
                                        **target.config())
        return Network(layers, self.input_shape)

    def weight_cache_size(self):
        """(entries, bytes) of prepared weights the layers keep between calls:
        rho(W) packed for the products and Winograd's U, one entry per layer,
        rule and direction used so far (VGG-16 after a real pass: 27 entries,
        142 MiB)."""
        sizes = [layer.weight_cache_size() for layer in self.layers if layer.weighted]
        return sum(s[0] for s in sizes), sum(s[1] for s in sizes)

    def clear_weight_cache(self):
        """Frees every layer's prepared weights; later passes prepare them again."""
        for layer in self.layers:
            if layer.weighted:
                layer.clear_weight_cache()

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
        inner = ",\n  ".join(map(repr, self.layers))
        return f"Network([\n  {inner}\n], input_shape={self.input_shape}, dtype={self.dtype})"
