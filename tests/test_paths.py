"""Strongest paths: each equals the best path found by enumerating every
path from the input to the target over literal K-LRP edges, and its edges
multiply to the input's Viterbi relevance."""
import math
from collections import defaultdict

import numpy as np
import pytest
from reference import _conv_pairs, _linear_pairs, _pool_pairs, random_mlp

import semiring_lrp as sl
from semiring_lrp import rules
from semiring_lrp.path_figures import FIELD_GID, LABEL_GID, PATH_GID

RTOL = 1e-12


# ---------------------------------------------------------------- the literal twin

def _numerators(rule, a, j, w, bias, input_shape):
    """(n_jk per pair, beta_k) under `rule`, as semantics.md writes them."""
    if isinstance(rule, rules.ZBox):
        low = np.broadcast_to(rule.low, input_shape).reshape(-1)
        high = np.broadcast_to(rule.high, input_shape).reshape(-1)
        return (a[j] * w - low[j] * np.maximum(w, 0) - high[j] * np.minimum(w, 0),
                np.zeros_like(bias))
    gamma = getattr(rule, "gamma", 0.0) if isinstance(rule, rules.Gamma) else 0.0
    return a[j] * (w + gamma * np.maximum(w, 0)), bias + gamma * np.maximum(bias, 0)


def literal_edges(net, x, rule_list, maxpool="winner"):
    """For one sample x: per layer with edges, {j: [(k, edge)]} with edge =
    |n_jk| / (max(|beta_k|, max_j' |n_j'k|) + 1e-9), every (j, k) pair built
    by the layer's definition (reference.py) and the forward pass run over
    the same pairs."""
    shape, a = x.shape, x.reshape(-1).astype(np.float64)
    layers, weighted = [], 0
    for layer in net.layers:
        if isinstance(layer, sl.ReLU):
            a = np.maximum(a, 0)
            continue
        if isinstance(layer, sl.Flatten):
            shape = (a.size,)
            continue
        if isinstance(layer, sl.Linear):
            out_shape, pairs = _linear_pairs(layer, shape)
        elif isinstance(layer, sl.Conv2d):
            out_shape, pairs = _conv_pairs(layer, shape)
        else:
            out_shape, forward = _pool_pairs(layer, shape, a, "winner")
            pairs = _pool_pairs(layer, shape, a, maxpool)[1]
        size = int(np.prod(out_shape))
        if layer.weighted:
            forward, rule = pairs, rule_list[weighted]
            weighted += 1
            bias = np.repeat(layer.bias, size // len(layer.bias))
        else:
            rule, bias = rules.Zero(), np.zeros(size)
        j, k, w = pairs
        numerator, beta = _numerators(rule, a, j, w, bias, shape)
        m = np.abs(beta)
        np.fmax.at(m, k, np.abs(numerator))
        edges = defaultdict(list)
        for jj, kk, e in zip(j, k, np.abs(numerator) / (m[k] + 1e-9)):
            edges[int(jj)].append((int(kk), float(e)))
        layers.append(edges)
        fj, fk, fw = forward
        z = np.zeros(size)
        np.add.at(z, fk, a[fj] * fw)
        a, shape = z + bias, out_shape
    return layers, a


def every_path(layers, j, target, depth=0):
    """{(neuron per layer, ...): product of the edges} over every path from
    neuron j of layer `depth` to the target."""
    if depth == len(layers):
        return {(): 1.0} if j == target else {}
    paths = {}
    for k, edge in layers[depth].get(j, []):
        for rest, value in every_path(layers, k, target, depth + 1).items():
            paths[(k,) + rest] = edge * value
    return paths


def neurons(path):
    return tuple(step.neuron for step in path.steps)


# ---------------------------------------------------------------- networks

def dense_net(rng):
    return random_mlp(rng, [7, 6, 5, 4])


def conv_net(rng):
    """Grouped, strided, padded conv; overlapping max pool; dilated conv;
    overlapping adaptive windows; a classifier."""
    return sl.Network([
        sl.Conv2d(rng.normal(size=(4, 1, 3, 3)), rng.normal(size=4) * 0.1, stride=2,
                  padding=1, groups=2),
        sl.ReLU(), sl.MaxPool2d(2, stride=1),
        sl.Conv2d(rng.normal(size=(2, 4, 2, 2)), rng.normal(size=2) * 0.1, padding=1,
                  dilation=2),
        sl.ReLU(), sl.AdaptiveAvgPool2d(2), sl.Flatten(),
        sl.Linear(rng.normal(size=(3, 8)), rng.normal(size=3) * 0.1)])


def padded_pool_net(rng):
    """An average pool with padding and stride after a padded conv."""
    return sl.Network([
        sl.Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3) * 0.1, padding=1),
        sl.ReLU(), sl.AvgPool2d(3, stride=2, padding=1), sl.Flatten(),
        sl.Linear(rng.normal(size=(3, 27)), rng.normal(size=3) * 0.1)])


NETS = {"dense": (dense_net, (7,)), "conv": (conv_net, (2, 7, 7)),
        "padded_pool": (padded_pool_net, (2, 5, 5))}
RULES = {"zero": lambda n: rules.Zero(), "epsilon": lambda n: rules.Epsilon(0.1),
         "gamma": lambda n: rules.Gamma(0.25),
         "zbox": lambda n: [rules.ZBox(0.0, 1.0)] + [rules.Zero()] * (n - 1)}


def case(name, seed=0):
    build, shape = NETS[name]
    rng = np.random.default_rng(seed)
    return build(rng), rng.uniform(0, 1, size=shape)


def as_list(rule, net):
    count = len(net.weighted_layers)
    return list(rule) if isinstance(rule, list) else [rule] * count


# ---------------------------------------------------------------- the paths

# max pooling's two modes on the net that has one
CASES = [(net_name, "winner", rule_name) for net_name in NETS for rule_name in RULES] + \
        [("conv", "average", rule_name) for rule_name in RULES]


@pytest.mark.parametrize("net_name, maxpool, rule_name", CASES)
def test_each_strongest_path_is_the_best_by_enumeration(net_name, maxpool, rule_name):
    net, x = case(net_name)
    rule = RULES[rule_name](len(net.weighted_layers))
    r = sl.relevance(net, x, semiring=sl.Viterbi(), rule=rule, maxpool=maxpool).reshape(-1)
    target = int(np.argmax(net.forward(x)))
    layers, _ = literal_edges(net, x, as_list(rule, net), maxpool)
    found = sl.strongest_paths(net, x, inputs=range(x.size), rule=rule, maxpool=maxpool)
    assert [p.input for p in found] == list(range(x.size))
    nonzero = 0
    for path in found:
        enumerated = every_path(layers, path.input, target)
        best = max(enumerated.values())
        assert path.relevance == r[path.input]
        if r[path.input] == 0:
            assert best == 0 and path.steps == () and path.value == 0
            continue
        nonzero += 1
        assert path.target == target and path.steps[-1].neuron == target
        # the edges multiply to the input's Viterbi relevance, and to the best by enumeration
        assert math.prod(step.edge for step in path.steps) == pytest.approx(path.value, rel=RTOL)
        assert path.value == pytest.approx(r[path.input], rel=RTOL)
        assert path.value == pytest.approx(best, rel=RTOL)
        # the path is a path, of that value; the best one where no other comes close
        assert enumerated[neurons(path)] == pytest.approx(path.value, rel=RTOL)
        close = [p for p, v in enumerated.items() if v >= best * (1 - 1e-9)]
        if len(close) == 1:
            assert neurons(path) == close[0]
        # each edge as the literal twin has it, and the running product
        edges = [dict(layer[j]) for layer, j in zip(layers, (path.input,) + neurons(path))]
        for step, edge_map, product in zip(path.steps, edges,
                                           np.cumprod([s.edge for s in path.steps])):
            assert step.edge == pytest.approx(edge_map[step.neuron], rel=RTOL)
            assert step.product == pytest.approx(product, rel=RTOL)
    assert nonzero >= 3


@pytest.mark.parametrize("net_name", NETS)
def test_k_paths_are_the_k_best_by_enumeration(net_name):
    net, x = case(net_name, seed=1)
    k = 6
    target = int(np.argmax(net.forward(x)))
    layers, _ = literal_edges(net, x, [rules.Zero()] * len(net.weighted_layers))
    r = sl.relevance(net, x, semiring=sl.Viterbi()).reshape(-1)
    chosen = [int(i) for i in np.flatnonzero(r)[:5]]
    found = sl.strongest_paths(net, x, inputs=chosen, k=k)
    assert [p.input for p in found] == [j for j in chosen for _ in range(k)]
    for n, j in enumerate(chosen):
        paths = found[n * k:(n + 1) * k]
        enumerated = every_path(layers, j, target)
        ranked = sorted(enumerated.items(), key=lambda item: -item[1])[:k]
        assert [p.rank for p in paths] == list(range(k))
        assert len({neurons(p) for p in paths}) == k
        np.testing.assert_allclose([p.value for p in paths], [v for _, v in ranked], rtol=RTOL)
        for p in paths:
            assert enumerated[neurons(p)] == pytest.approx(p.value, rel=RTOL)
        # where a value stands apart from its neighbours, the same path
        values = [v for _, v in ranked] + [0.0]
        for rank, (p, (want, value)) in enumerate(zip(paths, ranked)):
            apart = all(abs(value - other) > 1e-9 * value
                        for other in values[max(rank - 1, 0):rank] + values[rank + 1:rank + 2])
            if apart:
                assert neurons(p) == want
        # the first of k paths is the k = 1 path's value
        single = sl.strongest_paths(net, x, inputs=[j])[0]
        assert paths[0].value == pytest.approx(single.value, rel=RTOL)


def test_fewer_paths_than_k_where_fewer_have_a_value():
    net, x = case("dense", seed=2)
    target = int(np.argmax(net.forward(x)))
    layers, _ = literal_edges(net, x, [rules.Zero()] * 3)
    r = sl.relevance(net, x, semiring=sl.Viterbi())
    j = int(np.argmax(r))
    count = sum(v > 0 for v in every_path(layers, j, target).values())
    found = sl.strongest_paths(net, x, inputs=[j], k=count + 7)
    assert len(found) == count
    assert all(a.value >= b.value * (1 - RTOL) for a, b in zip(found, found[1:]))


def test_top_picks_the_inputs_of_largest_relevance():
    net, x = case("conv", seed=3)
    r = sl.relevance(net, x, semiring=sl.Viterbi()).reshape(-1)
    found = sl.strongest_paths(net, x, top=6)
    picked = [p.input for p in found]
    assert len(set(picked)) == 6
    assert [p.relevance for p in found] == sorted(r[picked], reverse=True)
    assert min(r[picked]) >= max(np.delete(r, picked))
    # past the inputs of nonzero relevance, only those
    many = sl.strongest_paths(net, x, top=x.size)
    assert sorted(p.input for p in many) == sorted(np.flatnonzero(r).tolist())
    assert np.count_nonzero(r) < x.size


def test_positions_batches_and_a_given_target():
    net, x = case("conv", seed=4)
    batch = np.stack([x, case("conv", seed=5)[1]])
    r = sl.relevance(net, batch, target=[1, 2], semiring=sl.Viterbi())
    j = int(np.argmax(r[0]))
    position = tuple(int(c) for c in np.unravel_index(j, x.shape))
    by_position = sl.strongest_paths(net, x, target=1, inputs=[position], k=2)
    by_index = sl.strongest_paths(net, x, target=1, inputs=j, k=2)
    assert [neurons(p) for p in by_position] == [neurons(p) for p in by_index]
    assert by_position[0].position == position and by_position[0].input == j
    assert by_position[0].target == 1 and by_position[0].steps[-1].neuron == 1
    assert by_position[0].value == pytest.approx(r[0].reshape(-1)[j], rel=RTOL)
    per_sample = sl.strongest_paths(net, batch, target=[1, 2], top=3)
    assert len(per_sample) == 2
    for n, target in enumerate([1, 2]):
        alone = sl.strongest_paths(net, batch[n], target=target, top=3)
        assert [(p.input, neurons(p), p.value) for p in per_sample[n]] == \
               [(p.input, neurons(p), p.value) for p in alone]


def test_steps_name_their_layers_and_positions():
    net, x = case("conv", seed=6)
    path = sl.strongest_paths(net, x, top=1)[0]
    assert [s.index for s in path.steps] == [0, 2, 3, 5, 7]
    assert [s.layer for s in path.steps] == [net.names[i] for i in (0, 2, 3, 5, 7)]
    shapes = [(4, 4, 4), (4, 3, 3), (2, 3, 3), (2, 2, 2), (3,)]
    for step, shape in zip(path.steps, shapes):
        assert len(step.position) == len(shape)
        assert np.ravel_multi_index(step.position, shape) == step.neuron
    # R of each neuron times the product so far is the input's relevance on the best path
    for step in path.steps:
        assert step.product * step.relevance == pytest.approx(path.value, rel=1e-9)
    assert "edge" in repr(path) and str(path.position) in repr(path)
    assert path.neurons[0] == ("input", path.position) and len(path.edges) == 5


def test_float32_products_to_rounding():
    rng = np.random.default_rng(7)
    net = conv_net(rng).astype(np.float32)
    x = rng.uniform(0, 1, size=(2, 7, 7)).astype(np.float32)
    r = sl.relevance(net, x, semiring=sl.Viterbi()).reshape(-1)
    for path in sl.strongest_paths(net, x, top=5, k=2):
        assert math.prod(s.edge for s in path.steps) == pytest.approx(path.value, rel=1e-6)
        if path.rank == 0:
            assert path.value == pytest.approx(float(r[path.input]), rel=1e-5)


def test_bad_arguments_are_named():
    net, x = case("conv")
    for name, value in (("k", 0), ("top", 0), ("k", -2)):
        with pytest.raises(ValueError, match=f"{name} must be at least 1"):
            sl.strongest_paths(net, x, **{name: value})
    with pytest.raises(TypeError, match="k must be an int"):
        sl.strongest_paths(net, x, k=1.5)
    with pytest.raises(ValueError, match="input index 98 is out of range"):
        sl.strongest_paths(net, x, inputs=[0, 98])
    with pytest.raises(ValueError, match="input index -1 is out of range"):
        sl.strongest_paths(net, x, inputs=[-1])
    with pytest.raises(ValueError, match=r"position \(0, 7, 1\) is out of range"):
        sl.strongest_paths(net, x, inputs=[(0, 7, 1)])
    with pytest.raises(ValueError, match=r"position \(0, 1\) is out of range"):
        sl.strongest_paths(net, x, inputs=[(0, 1)])
    with pytest.raises(TypeError, match="an input is a flat index"):
        sl.strongest_paths(net, x, inputs=[1.0])
    with pytest.raises(ValueError, match="inputs is empty"):
        sl.strongest_paths(net, x, inputs=[])
    with pytest.raises(ValueError, match="maxpool"):
        sl.strongest_paths(net, x, maxpool="median")
    with pytest.raises(ValueError, match="target"):
        sl.strongest_paths(net, x, target=3)

    class Tanh(sl.network.Layer):
        def forward(self, a):
            return np.tanh(a)

    odd = sl.Network([net.layers[0], Tanh(), *net.layers[2:]])
    with pytest.raises(TypeError, match=r"layer '1' \(1, Tanh\(\)\) is none of them"):
        sl.strongest_paths(odd, x)


# ---------------------------------------------------------------- pictures

def _artists(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_plot_paths_over_an_mlp(tmp_path):
    pytest.importorskip("matplotlib")
    net, x = case("dense", seed=8)
    paths = sl.strongest_paths(net, x, top=3, k=2)
    fig = sl.viz.plot_paths(net, paths, x, path=tmp_path / "paths.png")
    ax = fig.axes[0]
    assert len(_artists(ax, PATH_GID)) == len(paths)
    on_paths = {("input", p.input) for p in paths} | {(s.index, s.neuron)
                                                      for p in paths for s in p.steps}
    assert len(_artists(ax, LABEL_GID)) == len(on_paths)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["input", "0", "2", "4"]
    assert (tmp_path / "paths.png").stat().st_size > 0
    # one path, into a given Axes, without x
    from matplotlib.figure import Figure
    given = Figure().subplots()
    assert sl.viz.plot_paths(net, paths[0], ax=given) is given
    assert len(_artists(given, PATH_GID)) == 1


def test_plot_paths_as_receptive_fields():
    pytest.importorskip("matplotlib")
    net, x = case("conv", seed=9)
    paths = sl.strongest_paths(net, x, top=2, k=3)
    ax = sl.viz.plot_paths(net, paths, x).axes[0]
    assert len(_artists(ax, PATH_GID)) == len(paths)
    fields = _artists(ax, FIELD_GID)
    # every step whose neuron has a (c, y, x): the two convs and two pools
    assert len(fields) == 4 * len(paths)
    for rect in fields:
        assert -0.5 <= rect.get_x() and rect.get_x() + rect.get_width() <= 6.5
        assert -0.5 <= rect.get_y() and rect.get_y() + rect.get_height() <= 6.5
    # the first conv's field of output (c, y, x): rows 2y - 1 .. 2y + 1, inside the image
    (_, y, xx), rect = paths[0].steps[0].position, fields[0]
    assert rect.get_y() == max(2 * y - 1, 0) - 0.5
    assert rect.get_height() == min(2 * y + 1, 6) - max(2 * y - 1, 0) + 1
    assert rect.get_x() == max(2 * xx - 1, 0) - 0.5


def test_plot_paths_refuses_what_it_cannot_draw():
    pytest.importorskip("matplotlib")
    net, x = case("conv")
    paths = sl.strongest_paths(net, x, top=2)
    with pytest.raises(TypeError, match="non-empty list"):
        sl.viz.plot_paths(net, [])
    with pytest.raises(TypeError, match="one sample's list"):
        sl.viz.plot_paths(net, [paths])
    with pytest.raises(ValueError, match="the network they were found on"):
        sl.viz.plot_paths(case("dense")[0], paths)


# ---------------------------------------------------------------- the shipped MLP

def test_the_shipped_mlp_on_a_test_digit(mnist_dir):
    images, labels = sl.datasets.mnist("test", root=mnist_dir)
    net = sl.models.mnist_mlp(np.float64)
    x = sl.models.mnist_input(images[:1])[0].astype(np.float64)
    r = sl.relevance(net, x, target=int(labels[0]), semiring=sl.Viterbi())
    paths = sl.strongest_paths(net, x, target=int(labels[0]), top=5, k=3)
    assert len(paths) == 15
    for n in range(5):
        three = paths[3 * n:3 * n + 3]
        assert three[0].value == pytest.approx(r[three[0].position], rel=RTOL)
        assert three[0].value >= three[1].value >= three[2].value > 0
        assert [s.layer for s in three[0].steps] == ["fc1", "fc2", "fc3"]
        assert three[0].steps[-1].neuron == labels[0]
        assert x[three[0].position] > 0   # a blank pixel has no path of any value
    assert [p.relevance for p in paths[::3]] == sorted(np.sort(r.ravel())[-5:], reverse=True)


# ---------------------------------------------------------------- VGG-16

@pytest.mark.slow
def test_ten_pixels_on_vgg16_with_random_weights():
    torch = pytest.importorskip("torch")
    from reference import vgg_with_narrow_classifier

    torch.manual_seed(0)
    net = sl.from_torch(vgg_with_narrow_classifier("vgg16").eval())
    x = np.random.default_rng(0).normal(size=(3, 224, 224)).astype(np.float32)
    r = sl.relevance(net, x, semiring=sl.Viterbi())
    paths = sl.strongest_paths(net, x, top=10)
    assert len(paths) == 10
    edge_layers = [i for i, layer in enumerate(net.layers) if layer.weighted or layer.pooling]
    for path in paths:
        assert [s.index for s in path.steps] == edge_layers
        # float32 edges over 22 layers: the product to float32 rounding
        assert path.value == pytest.approx(float(r[path.position]), rel=1e-5)
    assert [p.relevance for p in paths] == sorted(np.sort(r.ravel())[-10:], reverse=True)
