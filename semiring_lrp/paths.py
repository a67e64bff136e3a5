"""Strongest paths: the chains of neurons behind a pixel's Viterbi relevance.

    paths = sl.strongest_paths(net, x, top=5)       # the 5 most relevant inputs
    paths[0].value, paths[0].steps[-1].neuron        # its strength; the target
    sl.viz.plot_paths(net, paths, x)

The Viterbi relevance R_j of a neuron (paper eq. 2.2.3) is the largest
product of edge annotations |n_jk| / (m_k + 1e-9) over the paths from it to
the target. `strongest_paths` names such a path: the neuron at every layer,
each edge's value and the running product, whose end is the input's R.
"""
from __future__ import annotations

import heapq
from typing import NamedTuple

import numpy as np

from ._integers import is_int
from .inputs import as_array, as_targets
from .layers import Conv2d, Flatten, Linear, ReLU
from .network import Network
from .pooling import PoolLayer
from .propagation import _bounds, checked_arguments, relevance_arrays
from .semirings import Viterbi

__all__ = ["strongest_paths", "Path", "Step"]

# the Viterbi denominator's guard, as the C kernels add it (csrc/kernel/tuning.h)
VITERBI_EPS = 1e-9
# layers the relevance passes through unchanged (reshaped): no edges of their own
_PASS_THROUGH = (ReLU, Flatten)


class Step(NamedTuple):
    """One edge of a `Path`: from the previous neuron into `neuron`, the
    output of a weighted or pooling layer (ReLU and Flatten pass a neuron
    on unchanged and have no step).

    layer      the layer's name (`net.names`)
    index      its index in `net.layers`
    neuron     the neuron's flat index in the layer's output of one sample
    position   the same as a tuple: (channel, y, x) for a conv activation,
               (k,) for a dense one
    edge       the edge's Viterbi annotation |n_jk| / (m_k + 1e-9) under the
               layer's rule
    product    the product of the path's edges from the input up to here
    relevance  the neuron's Viterbi relevance: the strongest product from
               it to the target (so product * relevance <= the input's
               relevance, with equality on the strongest path)
    """

    layer: str
    index: int
    neuron: int
    position: tuple
    edge: float
    product: float
    relevance: float


class Path:
    """A path from one input of one sample to the target, found by
    `strongest_paths`.

    input        the input's flat index in one sample
    position     the same as a tuple in the sample's shape, e.g. (c, y, x)
    input_shape  the sample's shape
    target       the output neuron the path ends at
    relevance    the input's Viterbi relevance (from the Viterbi pass)
    value        the product of the path's edge values; on the strongest
                 path (rank 0) the input's relevance, to rounding
    rank         0 for the input's strongest path, 1 for the next, ...
    steps        a tuple of `Step`s, from the first layer to the target;
                 empty when the input's relevance is 0 (no path carries any)
    """

    __slots__ = ("input", "position", "input_shape", "target", "relevance", "value", "rank",
                 "steps")

    def __init__(self, input, position, input_shape, target, relevance, value, rank, steps):
        self.input, self.position, self.input_shape = input, position, input_shape
        self.target, self.relevance, self.value = target, relevance, value
        self.rank, self.steps = rank, tuple(steps)

    @property
    def neurons(self):
        """The path as (layer name, neuron position) pairs, the input first
        (named "input")."""
        return [("input", self.position)] + [(s.layer, s.position) for s in self.steps]

    @property
    def edges(self):
        """The edge values along the path, a float64 array (one per step)."""
        return np.array([s.edge for s in self.steps], dtype=np.float64)

    def __repr__(self):
        head = (f"Path(input {self.position} -> target {self.target}, rank {self.rank}, "
                f"value {self.value:.7g}, input relevance {self.relevance:.7g}")
        if not self.steps:
            return head + ", no steps: its relevance is 0)"
        width = max(len(s.layer) for s in self.steps)
        rows = [f"  {s.layer:<{width}} ({s.index:>2})  {str(s.position):<16} edge {s.edge:.7g}"
                f"  product {s.product:.7g}  relevance {s.relevance:.7g}" for s in self.steps]
        return head + "\n" + "\n".join(rows) + "\n)"


def strongest_paths(net, x, target=None, inputs=None, top=10, k=1, rule=None, maxpool=None):
    """The chains of neurons through which inputs' Viterbi relevance reaches
    the target: for each input, its k strongest paths.

    net      a `Network` of Linear, Conv2d, the pooling layers, ReLU and Flatten
    x        one sample or a batch, as `relevance` takes it
    target   an int or one per sample; default: the predicted class
    inputs   which inputs: a sequence whose entries are flat indices into
             one sample (ints) or positions in its shape (tuples, e.g.
             (c, y, x) for a conv net's input); a single int is one input.
             The same inputs for every sample. Default: the `top` inputs of
             each sample by Viterbi relevance.
    top      how many inputs when `inputs` is None (at least 1): the inputs
             with the largest Viterbi relevance, largest first (ties: the
             lower index first), among those whose relevance is not 0
    k        paths per input (at least 1): its k strongest distinct paths,
             strongest first; fewer when fewer paths of nonzero value exist
    rule     the rules, as `relevance` takes them (default LRP-0)
    maxpool  "winner" or "average", as `relevance` takes it

    Returns, for one sample, a list of `Path`s: for each input in turn its
    paths by rank; for a batch, one such list per sample. The product of a
    path's edge values is its `value`; on each input's strongest path it is
    the input's Viterbi relevance, to rounding. An input whose relevance is
    0 gets one Path of value 0 with no steps.

    Method. One Viterbi pass (`relevance(..., semiring=Viterbi(),
    return_all=True)`) keeps R for every layer: R_k is the exact strongest
    product from neuron k to the target. From neuron j of layer l the
    strongest path goes on to argmax_k edge_jk * R_k (the first k on ties),
    and its edges are formed only for the neurons on the paths asked for,
    over j's fan-out (all outputs of a dense layer; the channels and
    positions a convolution's taps reach; the windows holding j), from the
    network's activations, the layer's rule and Viterbi's denominators m_k
    (`absmax`). With k > 1 a best-first search over partial paths, in the
    order of (product so far) * R of the path's last neuron, which is the
    exact value of its best completion, gives the paths in decreasing value;
    each popped partial path adds only its next-best sibling and its own
    best continuation to the queue. R comes from the kernels in the
    network's dtype, so paths whose values agree to that rounding may come
    in either order.

    Memory: back-pointers are derived along the asked paths alone, from the
    kept per-layer relevance, instead of being stored for every neuron: the
    extra memory is that relevance (one value per neuron and sample, as
    return_all keeps it) and, for the sample being searched, the weighted
    layers' denominators m (one value per neuron of one sample; with k = 1
    one layer's at a time), never a value per (input, output) pair.

    Raises ValueError for k or top below 1 or an input out of range;
    TypeError for inputs that are not integers or tuples of them and for a
    layer other than Linear, Conv2d, a pool, ReLU or Flatten; and what `relevance` raises for a bad x,
    target, rule or maxpool.
    """
    k = _count(k, "k")
    top = _count(top, "top")
    _check_layers(net)
    _, rules, _, maxpool = checked_arguments(net, Viterbi(), rule, "one", maxpool, "input")
    _, layers = relevance_arrays(net, x, target=target, semiring=Viterbi(), rule=rules,
                                 return_all=True, maxpool=maxpool)
    single = layers.single
    sample_shape = tuple(layers[0].shape if single else layers[0].shape[1:])
    # x as the pass took it: its values in the network's dtype, one row per sample
    batch = np.ascontiguousarray(as_array(x), dtype=net.dtype).reshape((-1,) + sample_shape)
    kept = [r[None] if single else r for r in layers]
    asked = None if inputs is None else _asked_inputs(inputs, sample_shape)
    acts = net.activations(batch)
    targets = as_targets(target, acts[-1])
    results = []
    for n in range(len(batch)):
        search = _SampleSearch(net, acts, kept, n, int(targets[n]), rules, maxpool)
        chosen = asked if asked is not None else search.top_inputs(top)
        results.append(search.paths(chosen, k))
    return results[0] if single else results


def _count(value, name):
    if not is_int(value):
        raise TypeError(f"{name} must be an int (at least 1), not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")
    return int(value)


def _check_layers(net):
    """TypeError unless every layer has Viterbi edges here or passes relevance on."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a semiring_lrp.Network, not {type(net).__name__}")
    for i, layer in enumerate(net.layers):
        if not isinstance(layer, (Linear, Conv2d, PoolLayer) + _PASS_THROUGH):
            raise TypeError(f"strongest_paths follows Linear, Conv2d, pooling, ReLU and "
                             f"Flatten layers; layer {net.describe(i)} is none of them")


def _asked_inputs(inputs, shape):
    """The asked inputs as a list of flat indices into a sample of `shape`."""
    size = int(np.prod(shape))
    if is_int(inputs):
        inputs = [inputs]
    elif isinstance(inputs, np.ndarray):
        if inputs.dtype.kind not in "iu" or inputs.ndim not in (1, 2):
            raise TypeError(f"inputs must be integer indices (n,) or positions (n, "
                            f"{len(shape)}), not an array of {inputs.dtype} shaped "
                            f"{inputs.shape}")
        inputs = inputs.tolist()
    if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"inputs must be a sequence of flat indices or positions, not "
                        f"{inputs!r}")
    flat = []
    for entry in inputs:
        if is_int(entry):
            if not 0 <= entry < size:
                raise ValueError(f"input index {entry} is out of range: a sample has {size} "
                                 f"inputs (0 to {size - 1})")
            flat.append(int(entry))
        elif isinstance(entry, (tuple, list)) and all(is_int(c) for c in entry):
            if len(entry) != len(shape) or not all(0 <= c < d for c, d in zip(entry, shape)):
                raise ValueError(f"input position {tuple(entry)} is out of range for a sample "
                                 f"of shape {shape}")
            flat.append(int(np.ravel_multi_index(tuple(int(c) for c in entry), shape)))
        else:
            raise TypeError(f"an input is a flat index (int) or a position (a tuple of ints "
                            f"of length {len(shape)}), not {entry!r}")
    if not flat:
        raise ValueError("inputs is empty: give at least one input, or None for the top ones")
    return flat


class _Node(NamedTuple):
    """A partial path: its last neuron, reached by edge `edge` of edge layer
    `depth` (-1 for the input itself) with product `product`."""
    parent: object
    depth: int
    neuron: int
    edge: float
    product: float


class _Continuations:
    """A node's continuations one edge layer on, by decreasing priority
    (product * R of the next neuron; the first neuron on ties), those of
    priority 0 left out."""

    __slots__ = ("node", "neurons", "edges", "products", "priorities")

    def __init__(self, node, neurons, edges, products, priorities):
        self.node, self.neurons, self.edges = node, neurons, edges
        self.products, self.priorities = products, priorities


class _SampleSearch:
    """The edges and searches of sample n: fan-outs formed on demand from
    the activations, the rules and the denominators m of each weighted layer
    (computed for this sample when first needed)."""

    def __init__(self, net, acts, kept, n, target, rules, maxpool):
        self.net, self.n, self.target, self.maxpool = net, n, target, maxpool
        self.dtype = np.dtype(net.dtype)
        # the layers with edges, in forward order, and each one's rule
        self.layers = [i for i, layer in enumerate(net.layers) if layer.weighted or layer.pooling]
        weighted = net.weighted_layers
        self.rules = {i: rules[weighted.index(i)] for i in weighted}
        self.inputs = [acts[i][n:n + 1] for i in self.layers]  # each layer's input (1, ...)
        self.out_shapes = [acts[i + 1].shape[1:] for i in self.layers]
        self.input_shape = tuple(acts[0].shape[1:])
        self.batch_shape = (1,) + self.input_shape
        self.input_relevance = kept[0][n].reshape(-1)
        # R of every edge layer's output, flat (what follows passes it on unchanged)
        self.relevance = [kept[i + 1][n].reshape(-1) for i in self.layers]
        self._m = {}

    # ---------------------------------------------------------------- edges

    def _denominators(self, t):
        """m_k of edge layer t's outputs for this sample, flat."""
        if t not in self._m:
            i = self.layers[t]
            a, rule = self.inputs[t], self.rules[i]
            low, high = _bounds(rule, a, self.batch_shape)
            self._m[t] = self.net.layers[i].absmax(a, rule, low, high).reshape(-1)
        return self._m[t]

    def forget(self, t):
        """Drops edge layer t's denominators."""
        self._m.pop(t, None)

    def fanout(self, t, j):
        """(outputs k, edge values |n_jk| / (m_k + 1e-9) in the network's
        dtype) of input neuron j of edge layer t."""
        layer = self.net.layers[self.layers[t]]
        if isinstance(layer, Linear):
            return self._dense_fanout(t, layer, j)
        if isinstance(layer, Conv2d):
            return self._conv_fanout(t, layer, j)
        return self._pool_fanout(t, layer, j)

    def _numerators(self, t, j, w):
        """n_jk = a_j * rho(w_jk), or under z^B x_j w - l_j w^+ - h_j w^-."""
        i = self.layers[t]
        rule, a = self.rules[i], self.inputs[t]
        aj = a.reshape(-1)[j]
        low, high = _bounds(rule, a, self.batch_shape)
        if low is None:
            return aj * rule.rho(w)
        zero = self.dtype.type(0)
        return (aj * w - low.reshape(-1)[j] * np.maximum(w, zero)
                - high.reshape(-1)[j] * np.minimum(w, zero))

    def _edges(self, t, k, numerators):
        m = self._denominators(t)[k]
        return np.abs(numerators) / (m + self.dtype.type(VITERBI_EPS))

    def _dense_fanout(self, t, layer, j):
        k = np.arange(layer.out_features)
        return k, self._edges(t, k, self._numerators(t, j, layer.weight[:, j]))

    def _conv_fanout(self, t, layer, j):
        """Every output (co, oy, ox) one of the kernel's taps links to input
        (ci, iy, ix): iy = oy * stride - padding + ky * dilation, and co in
        ci's group."""
        in_shape = self.inputs[t].shape[1:]
        _, out_h, out_w = self.out_shapes[t]
        ci, iy, ix = np.unravel_index(j, in_shape)
        cin_g = layer.weight.shape[1]
        cout_g = layer.out_channels // layer.groups
        channels = (ci // cin_g) * cout_g + np.arange(cout_g)
        taps = []
        for at, size, kernel, s, p, d in zip((iy, ix), (out_h, out_w), layer.kernel_size,
                                             layer.stride, layer.padding, layer.dilation):
            tap = np.arange(kernel)
            offset = at + p - tap * d  # = o * s for the output o this tap links
            hits = (offset >= 0) & (offset % s == 0) & (offset // s < size)
            taps.append((tap[hits], offset[hits] // s))
        (ky, oy), (kx, ox) = taps
        w = layer.weight[channels][:, ci % cin_g][:, ky][:, :, kx]
        k = ((channels[:, None, None] * out_h + oy[None, :, None]) * out_w
             + ox[None, None, :]).reshape(-1)
        return k, self._edges(t, k, self._numerators(t, j, w.reshape(-1)))

    def _pool_fanout(self, t, layer, j):
        """The windows holding input j, LRP-0 over each (no bias): n = a_j w
        with w the window's 1/divisor, or for winner-take-all 1 on the
        window's first arg-max and 0 elsewhere; m the window's largest |n|."""
        a = self.inputs[t]
        _, (rs, re, cs, ce), weight = layer.relevance_table(a, self.maxpool)
        _, out_h, out_w = self.out_shapes[t]
        c, iy, ix = np.unravel_index(j, a.shape[1:])
        plane = a[0, c]
        winner_take_all = weight is None
        ks, edges = [], []
        eps = self.dtype.type(VITERBI_EPS)
        for oy in np.flatnonzero((rs <= iy) & (iy < re)):
            for ox in np.flatnonzero((cs <= ix) & (ix < ce)):
                window = plane[rs[oy]:re[oy], cs[ox]:ce[ox]]
                if winner_take_all:
                    first = np.unravel_index(np.argmax(window), window.shape)
                    wins = (iy - rs[oy], ix - cs[ox]) == tuple(int(f) for f in first)
                    n_j = plane[iy, ix] if wins else self.dtype.type(0)
                    m = np.abs(window[first])
                else:
                    n_j = plane[iy, ix] * weight[oy, ox]
                    m = np.max(np.abs(window * weight[oy, ox]))
                ks.append((c * out_h + oy) * out_w + ox)
                edges.append(np.abs(n_j) / (m + eps))
        return np.array(ks, dtype=np.int64), np.array(edges, dtype=self.dtype)

    # ---------------------------------------------------------------- searches

    def top_inputs(self, top):
        """The `top` inputs of largest relevance (ties: lower index first), nonzero only."""
        r = self.input_relevance
        order = np.argsort(-r.astype(np.float64), kind="stable")[:top]
        return [int(i) for i in order if r[i] != 0]

    def paths(self, inputs, k):
        """Each input's k strongest paths, input by input."""
        if k == 1:
            return self._best_paths(inputs)
        return [path for j in inputs for path in self._k_best(j, k)]

    def _make_path(self, j, node, rank):
        steps = []
        while node is not None and node.depth >= 0:
            t = node.depth
            i = self.layers[t]
            shape = self.out_shapes[t]
            steps.append(Step(self.net.names[i], i, int(node.neuron),
                              tuple(int(c) for c in np.unravel_index(node.neuron, shape)),
                              float(node.edge), float(node.product),
                              float(self.relevance[t][node.neuron])))
            node = node.parent
        steps.reverse()
        shape = self.input_shape
        value = steps[-1].product if steps else 0.0
        return Path(j, tuple(int(c) for c in np.unravel_index(j, shape)), shape,
                    self.target, float(self.input_relevance[j]), value, rank, steps)

    def _continue(self, t, j):
        """(outputs, edges, priorities edge * R_k in float64) of neuron j at
        edge layer t; at the last layer only the target."""
        k, edges = self.fanout(t, j)
        if t == len(self.layers) - 1:
            keep = k == self.target
            k, edges = k[keep], edges[keep]
        return k, edges, edges.astype(np.float64) * self.relevance[t][k]

    def _best_paths(self, inputs):
        """k = 1: from every asked input, the back-pointer argmax_k edge_jk R_k
        layer by layer, all inputs together, each layer's m dropped after it."""
        nodes = [_Node(None, -1, j, 1.0, 1.0) if self.input_relevance[j] != 0 else None
                 for j in inputs]
        for t in range(len(self.layers)):
            for a, node in enumerate(nodes):
                if node is None:
                    continue
                k, edges, priorities = self._continue(t, node.neuron)
                best = int(np.argmax(priorities))  # the first on ties
                nodes[a] = _Node(node, t, int(k[best]), edges[best],
                                 node.product * float(edges[best]))
            self.forget(t)
        return [self._make_path(j, node, 0) for j, node in zip(inputs, nodes)]

    def _expand(self, node):
        """The continuations of `node`, or None where it has none of nonzero priority."""
        t = node.depth + 1
        k, edges, priorities = self._continue(t, node.neuron)
        priorities = node.product * priorities
        order = np.argsort(-priorities, kind="stable")
        order = order[priorities[order] > 0]
        if not len(order):
            return None
        return _Continuations(node, k[order], edges[order],
                              node.product * edges[order].astype(np.float64),
                              priorities[order])

    def _k_best(self, j, k):
        """The k strongest paths from input j, best first: A* over partial
        paths with the exact heuristic R; ties go to the deeper path, then to
        the earlier one queued."""
        if self.input_relevance[j] == 0:
            return [self._make_path(j, None, 0)]
        last = len(self.layers) - 1
        queue, counter, found = [], 0, []

        def push(continuations, rank):
            nonlocal counter
            if continuations is not None and rank < len(continuations.neurons):
                depth = continuations.node.depth + 1
                heapq.heappush(queue, (-continuations.priorities[rank], -depth, counter,
                                       continuations, rank))
                counter += 1

        push(self._expand(_Node(None, -1, j, 1.0, 1.0)), 0)
        while queue and len(found) < k:
            _, _, _, continuations, rank = heapq.heappop(queue)
            push(continuations, rank + 1)
            node = _Node(continuations.node, continuations.node.depth + 1,
                         int(continuations.neurons[rank]), continuations.edges[rank],
                         float(continuations.products[rank]))
            if node.depth == last:
                found.append(self._make_path(j, node, len(found)))
            else:
                push(self._expand(node), 0)
        return found
