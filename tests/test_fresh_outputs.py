"""The C passes write every value of their outputs, which start uninitialised.

Under `_core._testing.set_poison(True)` a new output starts as 0xFF bytes (NaN, -1,
an invalid bool) instead of whatever memory held; every pass must then give
the same bits as with poison off. (The sanitized CI run sets
SEMIRING_LRP_POISON=1 for the whole suite.)
"""
import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp import _core, layers, pooling, rules

SEMIRINGS = {
    "real": sl.Real(),
    "boolean": sl.Boolean(1e-3, absolute=True),
    "counting": sl.Counting(1e-3),
    "viterbi": sl.Viterbi(),
}


@pytest.fixture
def poison_switch():
    before = _core._testing.poison()
    yield
    _core._testing.set_poison(before)


def _conv_net(rng, dtype):
    def conv(cin, cout, **geometry):
        w = rng.standard_normal((cout, cin, 3, 3)) * 0.2
        return layers.Conv2d(w.astype(dtype), rng.standard_normal(cout).astype(dtype) * 0.1,
                             **geometry)
    # a 3-channel first layer (direct loops), a strided one, Winograd's
    # layers (32+ channels, 14x14+ tiles), pools of both kinds, a dense head
    return sl.Network([
        conv(3, 8, padding=1), layers.ReLU(),
        conv(8, 32, padding=1), layers.ReLU(),
        conv(32, 33, padding=1), layers.ReLU(),
        pooling.MaxPool2d(2),
        conv(33, 12, stride=2, padding=1), layers.ReLU(),
        pooling.AvgPool2d(3, stride=2, padding=1),
        layers.Flatten(),
        layers.Linear((rng.standard_normal((10, 12 * 4 * 4)) * 0.2).astype(dtype)),
    ])


def _dense_net(rng, dtype):
    sizes = [50, 31, 17, 5]
    net = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.standard_normal((n_out, n_in)) * 0.3
        net.append(layers.Linear(w.astype(dtype), rng.standard_normal(n_out).astype(dtype) * 0.1))
        if i + 2 < len(sizes):
            net.append(layers.ReLU())
    return sl.Network(net)


def _relevance_bits(net, x, semiring, rule):
    r, every = sl.relevance(net, x, semiring=semiring, rule=rule, return_all=True)
    acts = net.activations(x)
    return [a.tobytes() for a in [r, *every, *acts]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("semiring", sorted(SEMIRINGS))
@pytest.mark.parametrize("kind", ["conv", "dense few", "dense batch", "dense sparse"])
def test_passes_write_every_output_value(poison_switch, kind, semiring, dtype):
    rng = np.random.default_rng(7)
    if kind == "conv":
        net = _conv_net(rng, dtype)
        x = rng.standard_normal((2, 3, 29, 30)).astype(dtype)
        low, high = np.full(x.shape[1:], -3.0), np.full(x.shape[1:], 3.0)
        rule = [rules.ZBox(low, high), rules.Gamma(0.25), rules.Epsilon(0.1), rules.Zero(),
                rules.Epsilon(1e-3)]
    else:
        net = _dense_net(rng, dtype)
        n = {"dense few": 3, "dense batch": 40, "dense sparse": 300}[kind]
        x = rng.standard_normal((n, 50)).astype(dtype)
        if kind == "dense sparse":  # most inputs zero: the sparse-input passes
            x[rng.random(x.shape) < 0.9] = 0
        rule = [rules.Gamma(0.25), rules.Epsilon(0.1), rules.Zero()]
    _core._testing.set_poison(False)
    with sl.trace_tiers() as trace:
        clean = _relevance_bits(net, x, SEMIRINGS[semiring], rule)
    # the first layer's inputs are x; past a ReLU, about half are zero,
    # which the boolean, counting and Viterbi passes may take as sparse
    sparse = any(tier.endswith(".sparse_inputs") for tier in trace.tiers(0))
    assert sparse == (kind == "dense sparse")
    _core._testing.set_poison(True)
    assert _core._testing.poison()
    poisoned = _relevance_bits(net, x, SEMIRINGS[semiring], rule)
    assert len(clean) == len(poisoned)
    for i, (a, b) in enumerate(zip(clean, poisoned)):
        assert a == b, f"array {i} differs when outputs start as 0xFF bytes"

