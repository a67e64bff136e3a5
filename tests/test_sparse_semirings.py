"""Boolean, counting and Viterbi passes of Linear layers whose inputs are
mostly zero (csrc/dense/dense_sparse_semirings.h) run each sample's nonzero
inputs along rows of rho(W)^T and settle its zero inputs once. They must
give the other tiers' values bit for bit on every instruction set (boolean
and counting the intervals', Viterbi the packed products'), and the literal
definition's; the tier trace tells which passes took them."""
import numpy as np
import pytest
from reference import ISAS
from test_sparse_inputs import _layer

import semiring_lrp as sl
from semiring_lrp import _core, rules
from semiring_lrp.layers import KernelStep
from semiring_lrp.semiring_specs import BOOLEAN, COUNTING, VITERBI

RULES = {"zero": rules.Zero(), "gamma": rules.Gamma(0.25)}
# (theta, absolute): zero inputs pass nowhere; zero inputs pass where
# z_k > 0 ... everywhere d >= 0 holds (theta 0, signed)
THRESHOLDS = [(1e-3, True), (0.02, False), (0.0, False)]


def _sparse_batch(rng, n, inputs, share, dtype):
    """n samples with about `share` of their inputs nonzero (some negative),
    one of them all zero."""
    a = rng.uniform(-0.5, 1.5, size=(n, inputs)) * (rng.random((n, inputs)) < share)
    a[n // 2] = 0
    return a.astype(dtype)


def _r_out(rng, spec, n, outputs):
    """R_k of the layer's outputs, a few of them zero."""
    if spec is BOOLEAN:
        return rng.random((n, outputs)) < 0.8
    return rng.integers(0, 1000, size=(n, outputs)) * (rng.random((n, outputs)) < 0.8)


def _step(layer, a, spec, rule, theta, absolute, r):
    z = layer.weighted_sum(a, rule)
    step = KernelStep(spec, theta=theta, absolute=absolute, rule=rule, z=z)
    with sl.trace_tiers() as trace:
        got = layer.kernel_relevance(step, a, r)
    return got, [tier for _, _, tier in trace.records]


# (samples, inputs, outputs): the fewest samples the tier takes (4), items
# of 4 samples and a partial one, outputs short of a vector (5), past one
# and not a multiple of one (83, 300)
SHAPES = [(4, 29, 83), (13, 200, 300), (9, 17, 5)]


@pytest.mark.parametrize("spec", [BOOLEAN, COUNTING], ids=["boolean", "counting"])
@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_sparse_semirings_give_the_intervals_values(shape, dtype, rule, spec, restore_kernels):
    n, inputs, outputs = shape
    rng = np.random.default_rng(inputs)
    layer, a = _layer(rng, inputs, outputs, dtype), _sparse_batch(rng, n, inputs, 0.3, dtype)
    r = _r_out(rng, spec, n, outputs)
    sparse, intervals = f"dense.{spec.name}.sparse_inputs", f"dense.{spec.name}.intervals"
    for isa in ISAS:
        _core.set_isa(isa)
        for theta, absolute in THRESHOLDS:
            _core._testing.set_sparse_passes(False)
            want, off = _step(layer, a, spec, RULES[rule], theta, absolute, r)
            _core._testing.set_sparse_passes(True)
            got, on = _step(layer, a, spec, RULES[rule], theta, absolute, r)
            assert off == [intervals] and on == [sparse], (isa, theta)
            np.testing.assert_array_equal(got, want, err_msg=f"{isa} {theta} {absolute}")
            # the all-zero sample's inputs all take the verdict of n = 0
            assert (got[n // 2] == got[n // 2, 0]).all()
        assert got.any()  # theta 0: relevance passes


def _literal(layer, a, rule, theta, absolute, r):
    """R_j = sum_k [Theta(a_j rho(w_kj) / z_k)] R_k pair by pair, d = 0 where
    z_k = 0 (semantics.md), in the layer's dtype."""
    w, T = layer.weight, a.dtype.type
    z = layer.weighted_sum(a, rule)
    n, (outputs, inputs) = len(a), w.shape
    out = np.zeros((n, inputs), dtype=np.int64)
    for i in range(n):
        for k in range(outputs):
            for j in range(inputs):
                d = T(a[i, j] * rule.rho(w[k, j])) / z[i, k] if z[i, k] != 0 else T(0)
                if (abs(d) if absolute else d) >= theta:
                    out[i, j] += r[i, k]
    return out


@pytest.mark.parametrize("theta, absolute", THRESHOLDS)
def test_sparse_counting_equals_the_definition(theta, absolute, restore_kernels):
    rng = np.random.default_rng(7)
    layer, a = _layer(rng, 23, 19, np.float64), _sparse_batch(rng, 6, 23, 0.3, np.float64)
    r = _r_out(rng, COUNTING, 6, 19)
    got, tiers = _step(layer, a, COUNTING, rules.Zero(), theta, absolute, r)
    assert tiers == ["dense.counting.sparse_inputs"]
    np.testing.assert_array_equal(got, _literal(layer, a, rules.Zero(), theta, absolute, r))
    boolean, tiers = _step(layer, a, BOOLEAN, rules.Zero(), theta, absolute, r != 0)
    assert tiers == ["dense.boolean.sparse_inputs"]
    np.testing.assert_array_equal(boolean, got != 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_counting_past_32_bits(dtype, restore_kernels):
    """Sums run in integers as wide as the dtype only where a sample's total
    fits them: totals past 2^31 take int64 (and give the same counts)."""
    rng = np.random.default_rng(10)
    layer, a = _layer(rng, 200, 300, dtype), _sparse_batch(rng, 6, 200, 0.3, dtype)
    r = rng.integers(2 ** 36, 2 ** 37, size=(6, 300)) * (rng.random((6, 300)) < 0.8)
    r[2] = rng.integers(0, 1000, size=300)  # one sample small enough for 32 bits
    results = {}
    for on in (True, False):
        _core._testing.set_sparse_passes(on)
        results[on], tiers = _step(layer, a, COUNTING, rules.Zero(), 1e-3, True, r)
        assert tiers == ["dense.counting." + ("sparse_inputs" if on else "intervals")]
    np.testing.assert_array_equal(results[True], results[False])
    assert results[True].max() > 2 ** 40 and 0 < results[True][2].max() < 2 ** 20


def test_dense_or_small_batches_keep_the_intervals():
    rng = np.random.default_rng(8)
    layer = _layer(rng, 40, 30, np.float32)
    r = _r_out(rng, COUNTING, 9, 30)
    dense = _sparse_batch(rng, 9, 40, 0.7, np.float32)  # 70% nonzero
    small = _sparse_batch(rng, 9, 40, 0.2, np.float32)[:3]
    assert _step(layer, dense, COUNTING, rules.Zero(), 1e-3, True, r)[1] == \
        ["dense.counting.intervals"]
    assert _step(layer, small, COUNTING, rules.Zero(), 1e-3, True, r[:3])[1] == \
        ["dense.counting.intervals"]


def test_mnist_mlp_semirings_with_and_without_sparse_passes(restore_kernels):
    images, _ = sl.datasets.mnist("test")
    x = sl.models.mnist_input(images[:100])
    net = sl.models.mnist_mlp()
    targets = net.forward(x).argmax(axis=1)
    for semiring in (sl.Boolean(1e-9), sl.Counting(1e-9), sl.Counting(0.05), sl.Viterbi()):
        name = type(semiring).__name__.lower()
        with sl.trace_tiers() as trace:
            got = sl.relevance(net, x, target=targets, semiring=semiring)
        assert f"dense.{name}.sparse_inputs" in trace.tiers("fc1")
        _core._testing.set_sparse_passes(False)
        want = sl.relevance(net, x, target=targets, semiring=semiring)
        _core._testing.set_sparse_passes(True)
        np.testing.assert_array_equal(got, want)
        assert got.any()


def _viterbi(layer, a, rule, r):
    """m, R_in and the tiers they took."""
    with sl.trace_tiers() as trace:
        m = layer.absmax(a, rule)
        got = layer.kernel_relevance(KernelStep(VITERBI, rule=rule, z=m), a, r)
    return m, got, [tier for _, _, tier in trace.records]


# past DENSE_FEW_SAMPLES (8), whose loops take smaller batches
VITERBI_SHAPES = [(9, 29, 83), (13, 200, 300), (17, 17, 5)]


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", VITERBI_SHAPES)
def test_sparse_viterbi_gives_the_products_values(shape, dtype, rule, restore_kernels):
    n, inputs, outputs = shape
    rng = np.random.default_rng(inputs + 1)
    layer, a = _layer(rng, inputs, outputs, dtype), _sparse_batch(rng, n, inputs, 0.3, dtype)
    r = (rng.uniform(0.5, 1.5, size=(n, outputs)) * (rng.random((n, outputs)) < 0.8)).astype(dtype)
    for isa in ISAS:
        _core.set_isa(isa)
        _core._testing.set_sparse_passes(False)
        want_m, want, off = _viterbi(layer, a, RULES[rule], r)
        _core._testing.set_sparse_passes(True)
        m, got, on = _viterbi(layer, a, RULES[rule], r)
        assert on == ["dense.absmax.sparse_inputs", "dense.viterbi.sparse_inputs"], isa
        assert "sparse_inputs" not in " ".join(off), isa
        np.testing.assert_array_equal(m, want_m, err_msg=isa)
        np.testing.assert_array_equal(got, want, err_msg=isa)
        np.testing.assert_array_equal(m[n // 2], np.abs(RULES[rule].rho(layer.bias)))
        assert not got[n // 2].any() and got.any()


def test_sparse_viterbi_where_its_bound_overflows(restore_kernels):
    """q_0 = 1e30 meets only weights of 1e-3 and the weights of 1e10 only
    small q: every term is finite, but max q * max |w| overflows float32, so
    the zero inputs' maxima are computed too; the products agree."""
    n, inputs, outputs = 12, 20, 3
    rng = np.random.default_rng(9)
    w = np.full((outputs, inputs), 1e-3, np.float32)
    w[1] = 1e10
    layer = sl.Linear(w, np.zeros(outputs, np.float32))
    a = _sparse_batch(rng, n, inputs, 0.3, np.float32)
    m = np.ones((n, outputs), np.float32)
    r = np.array([1e30, 1e-12, 1.0], np.float32) * np.ones((n, 1), np.float32)
    step = KernelStep(VITERBI, rule=rules.Zero(), z=m)
    got = {}
    for on in (True, False):
        _core._testing.set_sparse_passes(on)
        with sl.trace_tiers() as trace:
            got[on] = layer.kernel_relevance(step, a, r)
        assert (trace.records[0][2] == "dense.viterbi.sparse_inputs") == on
    np.testing.assert_array_equal(got[True], got[False])
    assert np.isfinite(got[True]).all() and got[True].any()
