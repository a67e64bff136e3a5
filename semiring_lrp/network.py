"""The network model: a chain of layers holding NumPy arrays.

A `Network` is what every pass runs on. It is built by `from_torch`, by
`load`, by `models.*`, or by hand from the layers in `layers` and `pooling`.

Every layer has a name and an index. The index is the layer's position in
`net.layers`, the one `relevance(return_all=True)` and `net.summary()` use;
the name is torchvision's module path for an imported model ("features.28"),
"fc1", "conv1"... for the shipped models, and the index as a string ("0",
"1", ...) for a network built by hand without names. Every argument that
picks a layer takes either; "input" names the network's input.
"""
from __future__ import annotations

import operator

import numpy as np

from . import trace as tracing
from ._integers import as_int, is_int
from .inputs import as_batch, from_tensor
from .layers import Conv2d, Flatten, Layer, Linear, ReLU
from .memory import pooled_arrays
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["Network", "Layer", "Linear", "Conv2d", "ReLU", "Flatten", "AvgPool2d",
           "AdaptiveAvgPool2d", "MaxPool2d"]


#: names that pick the ends of the chain rather than a layer
INPUT, OUTPUT = "input", "output"


def _layer_names(names, count):
    """One unique, non-empty string per layer; by default the indices."""
    if names is None:
        return tuple(str(i) for i in range(count))
    if isinstance(names, str):
        raise TypeError("names must be a sequence of strings, one per layer, not one string")
    names = tuple(names)
    if len(names) != count:
        raise ValueError(f"got {len(names)} names for {count} layers")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise TypeError(f"names[{i}] is {name!r}, not a non-empty string")
        if name in (INPUT, OUTPUT):
            raise ValueError(f"names[{i}] is {name!r}, which names the end of the chain")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"layer names must be unique; repeated: {', '.join(repeated)}")
    return names


# the largest size of one input axis (a C int), and the most axes a sample has
MAX_INPUT_SIZE, MAX_INPUT_AXES = 2**31 - 1, 8


def _input_shape(shape):
    """A sample's shape as a tuple of sizes (ints from 1 to 2**31 - 1, or
    None for any size): "4" or (4.5,) is refused, not read as (4,)."""
    if isinstance(shape, np.ndarray) and shape.ndim == 1:
        shape = shape.tolist()
    if not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= MAX_INPUT_AXES:
        raise TypeError(f"input_shape must be a tuple of 1 to {MAX_INPUT_AXES} sizes, not "
                        f"{shape!r}")
    return tuple(None if d is None else as_int(d, f"input_shape[{i}]", 1, MAX_INPUT_SIZE)
                 for i, d in enumerate(shape))


class Network:
    """A chain of layers.

    layers is a sequence of `Layer`s (Linear, Conv2d, ReLU, Flatten and the
    pooling layers), applied in order; at least one is weighted, and every
    weighted layer has one dtype (float32 or float64: the network's). A
    layer of another type raises TypeError, widths that do not meet
    ValueError.

    names gives each layer a unique, non-empty name ("input" and "output"
    name the ends of the chain and are refused); default: the indices as
    strings. Every argument that picks a layer takes its name or index.

    input_shape is the shape of one sample, a tuple of ints from 1 to 2**31 - 1
    (None for any size); for a network that starts with a convolution it
    defaults to (in_channels, None, None), any image size.
    When the network starts by flattening (a Flatten or a Linear layer), a
    sample may also be given flat, and a batch as any (N, ...) array with the
    right number of features per sample.

    input_range, when not None, is the (low, high) range the network's
    inputs were trained in: the shipped MNIST models set (0.0, 1.0), and
    `relevance` and `forward` warn (InputRangeWarning) about inputs far
    outside it. It is kept by `astype` and `masked`, not by `save`.
    """

    #: the (low, high) range of the inputs the network was trained on, or None
    input_range = None

    def __init__(self, layers, input_shape=None, names=None):
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
        self.input_shape = _input_shape(input_shape)
        self.names = _layer_names(names, len(self.layers))
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

    def layer_index(self, layer, allow_ends=False):
        """The index in `layers` of `layer`, given as its name or its index
        (negative indices count from the end). With allow_ends, "input" is 0
        (the input of the first layer) and "output" is len(layers) (the
        network's output), as in the list `relevance(return_all=True)` gives.
        """
        count = len(self.layers)
        if isinstance(layer, str):
            if allow_ends and layer in (INPUT, OUTPUT):
                return 0 if layer == INPUT else count
            if layer in self.names:
                return self.names.index(layer)
            ends = f'"{INPUT}", "{OUTPUT}" or ' if allow_ends else ""
            raise ValueError(f"no layer is named {layer!r}; use {ends}one of "
                             f"{', '.join(self.names)} (or an index 0 to {count - 1})")
        if not is_int(layer):
            raise TypeError(f"a layer is picked by its name (a str) or its index in "
                            f"net.layers (an int), not {layer!r}")
        if not -count <= layer < count:
            raise ValueError(f"layer index {layer} is out of range: the network has {count} "
                             f"layers (0 to {count - 1}; names {', '.join(self.names)})")
        return operator.index(layer) % count

    def weighted_index(self, layer):
        """(index in `layers`, position among the weighted layers) of a
        weighted layer given by name or index; another layer raises ValueError."""
        index = self.layer_index(layer)
        weighted = self.weighted_layers
        if index not in weighted:
            raise ValueError(f"layer {self.describe(index)} has no weights; the weighted layers "
                             f"are {', '.join(self.describe(i) for i in weighted)}")
        return index, weighted.index(index)

    def pooling_index(self, layer):
        """(index in `layers`, position among the pooling layers) of a pooling
        layer given by name or index; another layer raises ValueError."""
        index = self.layer_index(layer)
        pools = self.pooling_layers
        if index not in pools:
            listed = ", ".join(self.describe(i) for i in pools) or "none"
            raise ValueError(f"layer {self.describe(index)} is not a pooling layer; the "
                             f"pooling layers are {listed}")
        return index, pools.index(index)

    def per_layer_list(self, mapping, what, pooling=False):
        """`mapping`, a dict from weighted layers (or, with pooling=True,
        pooling layers), by name or index, to values, as a list in forward
        order over those layers; each of them must have exactly one entry,
        else ValueError (a key of the wrong type: TypeError). `what` names
        the argument in errors."""
        resolve, layers = ((self.pooling_index, self.pooling_layers) if pooling
                           else (self.weighted_index, self.weighted_layers))
        values = {}
        for key, value in mapping.items():
            try:
                index, position = resolve(key)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{what}: {err}") from None
            if position in values:
                raise ValueError(f"{what} names layer {self.describe(index)} twice "
                                 "(by name and by index)")
            values[position] = value
        missing = [self.describe(i) for k, i in enumerate(layers) if k not in values]
        if missing:
            raise ValueError(f"{what} gives no entry for {', '.join(missing)}: give one for "
                             f"every {'pooling' if pooling else 'weighted'} layer")
        return [values[k] for k in range(len(layers))]

    def describe(self, index):
        """Layer `index` as error messages and tables name it, a string:
        'fc2' (3, Linear(300, 100))."""
        return f"{self.names[index]!r} ({index}, {self.layers[index]!r})"

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
        """Whether the network starts with Flatten or Linear and has a fixed
        input shape, so that a sample may be given flat or in that shape."""
        return isinstance(self.layers[0], (Flatten, Linear)) and self.n_features is not None

    def activations(self, batch):
        """The activations entering each layer, then the output: len(layers) + 1
        arrays, for `batch`, an (N, ...) array already in the network's dtype."""
        with pooled_arrays():
            return self._activations(batch)

    def _activations(self, batch):
        acts = [batch]
        traces = tracing.open_traces()
        if traces:
            tracing.record(traces, None, None)  # calls before this pass are no layer's
        for i, layer in enumerate(self.layers):
            acts.append(layer.forward(acts[-1]))
            if traces:
                tracing.record(traces, i, self.names[i])
        return acts

    def forward(self, x):
        """Output scores for `x`, one sample or a batch as `relevance` takes
        it (NumPy array, list or torch tensor): (C,) or (N, C) NumPy arrays in
        the network's dtype. A shape that fits neither, NaN or infinity
        raise ValueError."""
        batch, single, _ = as_batch(self, x)
        out = self.activations(batch)[-1]
        return out[0] if single else out

    def __call__(self, x):
        """`net(x)` is `net.forward(x)`: output scores (C,) or (N, C)."""
        return self.forward(x)

    def masked(self, layer, neurons):
        """A copy in which some output neurons of a weighted layer are switched
        off: their weights and bias become 0, so they output 0 (before and
        after ReLU) and no relevance flows through them.

        layer: the weighted layer's name ("fc1") or its index in `layers`
        (what `summary()` lists); any other layer raises ValueError.
        neurons: indices of its outputs (Linear) or output channels (Conv2d),
        or a boolean mask over them.
        """
        position, _ = self.weighted_index(layer)
        target = self.layers[position]
        keep = np.ones(target.weight.shape[0], dtype=bool)
        index = np.asarray(from_tensor(neurons, "neurons"))
        if index.dtype == np.bool_:
            if index.shape != keep.shape:
                raise ValueError(f"a boolean mask for {target!r} needs {keep.size} entries, "
                                 f"not {index.shape}")
            keep &= ~index
        elif index.dtype.kind in "iu" or index.size == 0:
            index = index.ravel()
            # checked in their own dtype: a uint64 near 2**64 must not wrap to -1
            bad = (index < -keep.size) | (index >= keep.size)
            if np.any(bad):
                raise ValueError(f"neuron index {index[bad][0]} is out of range for {target!r} "
                                 f"({keep.size} neurons)")
            keep[index.astype(np.int64)] = False
        else:
            raise TypeError(f"neurons must be integer indices or a boolean mask, not {index.dtype}")
        shape = (-1,) + (1,) * (target.weight.ndim - 1)
        layers = list(self.layers)
        layers[position] = type(target)(target.weight * keep.reshape(shape).astype(target.weight.dtype),
                                        target.bias * keep.astype(target.bias.dtype),
                                        **target.config())
        return self._like(Network(layers, self.input_shape, self.names))

    def _like(self, other):
        """other, with this network's input_range."""
        other.input_range = self.input_range
        return other

    def summary(self, input_shape=None, file=None):
        """Prints one line per layer: its index, name, type, the shape of its
        output for one sample, its parameter count and which entry of a
        per-layer rule or threshold list it takes (rule[k] and threshold[k]
        for the k-th weighted layer, pool_threshold[p] for the p-th pooling
        layer); then the total parameter count.

        input_shape: one sample's shape, for networks whose input size is
        open (a conv net takes any image size); without it their shapes are
        shown as "?". file: where to print (default sys.stdout).
        """
        shapes = self._output_shapes(input_shape)
        weighted, pools = self.weighted_layers, self.pooling_layers
        rows = [("index", "name", "layer", "output shape", "parameters", "rule / threshold")]
        total = 0
        for i, layer in enumerate(self.layers):
            count = sum(int(value.size) for value in layer.params().values())
            total += count
            entry = ""
            if i in weighted:
                k = weighted.index(i)
                entry = f"rule[{k}], threshold[{k}]"
            elif i in pools:
                entry = f"pool_threshold[{pools.index(i)}]"
            rows.append((str(i), self.names[i], repr(layer), shapes[i], f"{count:,}", entry))
        widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
        align = ("rjust", "ljust", "ljust", "ljust", "rjust", "ljust")
        lines = ["  ".join(getattr(cell, how)(width) for cell, how, width
                           in zip(row, align, widths)).rstrip() for row in rows]
        shape = self.input_shape if input_shape is None else tuple(input_shape)
        hint = ("; output shapes need summary(input_shape=...)" if None in shape else "")
        lines.append(f"input shape {self._shape_text(shape)}, {total:,} parameters, "
                     f"dtype {self.dtype}{hint}")
        print("\n".join(lines), file=file)

    @staticmethod
    def _shape_text(shape):
        return "(" + ", ".join("?" if d is None else str(d) for d in shape) + \
            ("," if len(shape) == 1 else "") + ")"

    def _output_shapes(self, input_shape):
        """Each layer's output shape for one sample, as text: from a forward
        pass of one zero sample, or "?" where the input size is open."""
        shape = self.input_shape if input_shape is None else tuple(input_shape)
        if None in shape:
            return ["?"] * len(self.layers)
        batch, _, _ = as_batch(self, np.zeros(shape, dtype=self.dtype))
        return [self._shape_text(a.shape[1:]) for a in self.activations(batch)[1:]]

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
        """A copy of the network with its weights in `dtype`, float32 or
        float64 (another raises TypeError)."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"a Network is float32 or float64, not {dtype}")
        return self._like(Network([layer.astype(dtype) for layer in self.layers],
                                  self.input_shape, self.names))

    def save(self, path):
        """Writes the network, its layer names included, to the .npz file
        `path` (no pickle); `load` reads it back."""
        from .io import save_network
        save_network(self, path)

    def __repr__(self):
        inner = ",\n  ".join(f"{name}: {layer!r}" for name, layer in zip(self.names, self.layers))
        return f"Network([\n  {inner}\n], input_shape={self.input_shape}, dtype={self.dtype})"
