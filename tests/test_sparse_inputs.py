"""Dense layers over batches whose inputs are mostly zero (MNIST pixels)
take passes of their own (csrc/dense/dense_sparse.h) that read only the
weights of nonzero inputs. They must give the products' values exactly, on
every instruction set, and the literal definition's. The tier trace tells
which passes took them."""
import numpy as np
import pytest
from reference import ISAS, relative_error

import semiring_lrp as sl
from semiring_lrp import _core, rules
from semiring_lrp.layers import KernelStep
from semiring_lrp.semiring_specs import REAL

RULES = {"zero": rules.Zero(), "gamma": rules.Gamma(0.25)}
BOTH = ["dense.forward.sparse_inputs", "dense.real.sparse_inputs"]


def _sparse_tiers(trace):
    """The sparse-input tiers among a trace's records, in call order."""
    return [tier for _, _, tier in trace.records if tier.endswith(".sparse_inputs")]


def _sparse_batch(rng, n, inputs, share, dtype):
    """n samples with about `share` of their inputs nonzero (some negative),
    two of them all zero."""
    a = rng.uniform(-0.5, 1.5, size=(n, inputs)) * (rng.random((n, inputs)) < share)
    a[[1, n - 2]] = 0
    return a.astype(dtype)


def _layer(rng, inputs, outputs, dtype):
    w = rng.normal(size=(outputs, inputs)) * 0.3
    b = rng.normal(size=outputs) * 0.1
    return sl.Linear(w.astype(dtype), b.astype(dtype))


def _passes(layer, a, rule, r):
    z = layer.weighted_sum(a, rule)
    return z, layer.kernel_relevance(KernelStep(REAL, rule=rule, z=z), a, r)


# (samples, inputs, outputs): at least 256 (the real pass's smallest
# batch), partial groups of 4 and bands of 32, inputs past a vector and not
# a multiple of one, outputs past one block of chains (80 floats, 40
# doubles) and not a multiple of 16, the last block 1, 2, 3 or 4 vectors
# wide (floats: 83, 110, 126, 300; doubles: 83, 126, 300, 110)
SHAPES = [(261, 29, 83), (270, 200, 300), (258, 17, 5), (259, 45, 110), (263, 40, 126)]


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_sparse_passes_give_the_products_values(shape, dtype, rule, restore_kernels):
    n, inputs, outputs = shape
    rng = np.random.default_rng(inputs)
    layer, a = _layer(rng, inputs, outputs, dtype), _sparse_batch(rng, n, inputs, 0.15, dtype)
    r = rng.uniform(0.5, 1.5, size=(n, outputs)).astype(dtype)
    for isa in ISAS:
        _core.set_isa(isa)
        _core._testing.set_sparse_passes(False)
        with sl.trace_tiers() as off:
            want_z, want_r = _passes(layer, a, RULES[rule],
                                     r * layer.weighted_sum(a, RULES[rule]))
        assert _sparse_tiers(off) == [], isa
        _core._testing.set_sparse_passes(True)
        with sl.trace_tiers() as on:
            got_z, got_r = _passes(layer, a, RULES[rule], r * want_z)
        assert _sparse_tiers(on) == BOTH, isa  # both passes took them
        np.testing.assert_array_equal(got_z, want_z, err_msg=isa)
        np.testing.assert_array_equal(got_r, want_r, err_msg=isa)
        # all-zero samples: z = beta, no relevance
        np.testing.assert_array_equal(got_z[1], RULES[rule].rho(layer.bias))
        assert not got_r[[1, n - 2]].any()


def _literal(layer, a, rule, r):
    """z_k = sum_j a_j rho(w_kj) + rho(b_k), then R_j = sum_k a_j rho(w_kj) /
    z_k R_k, pair by pair."""
    T = a.dtype.type
    w, b = layer.weight, layer.bias
    n, (outputs, inputs) = len(a), w.shape
    z = np.zeros((n, outputs), dtype=a.dtype)
    out = np.zeros((n, inputs), dtype=a.dtype)
    for i in range(n):
        for k in range(outputs):
            acc = T(0)
            for j in range(inputs):
                acc += a[i, j] * rule.rho(w[k, j])
            z[i, k] = acc + rule.rho(b[k])
        for k in range(outputs):
            for j in range(inputs):
                out[i, j] += a[i, j] * rule.rho(w[k, j]) / z[i, k] * r[i, k]
    return z, out


@pytest.mark.parametrize("rule", list(RULES))
def test_sparse_passes_equal_the_definition(rule, restore_kernels):
    rng = np.random.default_rng(3)
    layer, a = _layer(rng, 23, 19, np.float64), _sparse_batch(rng, 256, 23, 0.2, np.float64)
    with sl.trace_tiers() as trace:
        z = layer.weighted_sum(a, RULES[rule])
        r = z * rng.uniform(0.5, 1.5, size=z.shape)
        got = layer.kernel_relevance(KernelStep(REAL, rule=RULES[rule], z=z), a, r)
    assert _sparse_tiers(trace) == BOTH
    want_z, want = _literal(layer, a, RULES[rule], r)
    assert relative_error(z, want_z) < 1e-13
    assert relative_error(got, want) < 1e-10  # test_reference.py allows 1e-9


def test_a_sample_gets_the_same_bits_alone_and_in_a_sparse_batch():
    rng = np.random.default_rng(5)
    layer, a = _layer(rng, 150, 60, np.float32), _sparse_batch(rng, 256, 150, 0.15, np.float32)
    with sl.trace_tiers() as trace:
        z = layer.weighted_sum(a, rules.Zero())
        r = z * rng.uniform(0.5, 1.5, size=z.shape).astype(np.float32)
        got = layer.kernel_relevance(KernelStep(REAL, rule=rules.Zero(), z=z), a, r)
    assert _sparse_tiers(trace) == BOTH
    for i in (0, 5, 33, 255):  # alone, a batch of 1 goes to the products
        alone = layer.weighted_sum(a[i:i + 1], rules.Zero())
        np.testing.assert_array_equal(alone[0], z[i])
        np.testing.assert_array_equal(
            layer.kernel_relevance(KernelStep(REAL, rule=rules.Zero(), z=z[i:i + 1]),
                                   a[i:i + 1], r[i:i + 1])[0],
            got[i])


def test_dense_batches_and_small_ones_keep_the_products():
    rng = np.random.default_rng(6)
    layer = _layer(rng, 40, 30, np.float32)
    dense = _sparse_batch(rng, 300, 40, 0.6, np.float32)  # 60% nonzero
    small = _sparse_batch(rng, 255, 40, 0.1, np.float32)
    with sl.trace_tiers() as trace:
        layer.weighted_sum(dense, rules.Zero())
        layer.weighted_sum(small[:63], rules.Zero())  # the forward takes 64 samples at least
    assert _sparse_tiers(trace) == []
    with sl.trace_tiers() as trace:
        z = layer.weighted_sum(small, rules.Zero())
    assert _sparse_tiers(trace) == ["dense.forward.sparse_inputs"]
    with sl.trace_tiers() as trace:
        layer.kernel_relevance(KernelStep(REAL, rule=rules.Zero(), z=z), small, z)  # the real pass 256
        # past 4,194,304 weights the transposed copy of the weights is not made
        big = sl.Linear(np.zeros((2049, 2048), np.float32), np.zeros(2049, np.float32))
        big.weighted_sum(_sparse_batch(rng, 64, 2048, 0.1, np.float32), rules.Zero())
    assert _sparse_tiers(trace) == []


def test_mnist_mlp_relevance_with_and_without_sparse_passes(restore_kernels):
    images, _ = sl.datasets.mnist("test")
    x = sl.models.mnist_input(images[:300])
    net = sl.models.mnist_mlp()
    targets = net.forward(x).argmax(axis=1)
    with sl.trace_tiers() as trace:
        got = sl.relevance(net, x, target=targets, semiring=sl.Real(), rule=rules.Zero())
    assert _sparse_tiers(trace) == BOTH  # the first layer's two passes
    assert [tier for tier in trace.tiers("fc1") if tier.endswith("sparse_inputs")] == BOTH
    _core._testing.set_sparse_passes(False)
    with sl.trace_tiers() as trace:
        want = sl.relevance(net, x, target=targets, semiring=sl.Real(), rule=rules.Zero())
    assert _sparse_tiers(trace) == []
    np.testing.assert_array_equal(got, want)
