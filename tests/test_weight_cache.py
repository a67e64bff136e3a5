"""The weight cache: what the passes prepare from a layer's weights (rho(W)
packed for the products, Winograd's U) is kept between calls and must give
the bits that preparing it per call gives, on every path."""
import pickle
import threading

import numpy as np
import pytest
from reference import ISAS

import semiring_lrp as sl
from semiring_lrp import _core, layers, rules

RULES = (rules.Zero(), rules.Gamma(0.25))


def _conv_cases(dtype):
    """Layers of each product that packs weights: the Winograd products (64
    channels in and out, 14 x 15 tiles), the direct products both ways (8
    channels, 9 x 11) and at stride 2 the forward's and the spread real
    pass's. Square layers: a kernel and its flipped transpose have the same
    shape, so only the entries' keys tell them apart."""
    rng = np.random.default_rng(5)

    def case(out_c, in_c, size, **geometry):
        layer = layers.Conv2d(rng.normal(size=(out_c, in_c, 3, 3)).astype(dtype),
                              rng.normal(size=out_c).astype(dtype), **geometry)
        return layer, np.maximum(rng.normal(size=(2, in_c) + size), 0).astype(dtype)

    return {"winograd": case(64, 64, (27, 29), padding=1),
            "direct": case(8, 8, (9, 11), padding=1),
            "strided": case(13, 6, (11, 9), stride=2, padding=1)}


def _passes(layer, a, rule, cache):
    """forward, absmax, real and Viterbi relevance, all with `cache`."""
    geometry = layer._geometry()
    kernel_rule = rule.kernel_rule
    z = _core.conv_forward(a, layer.weight, layer.bias, kernel_rule, *geometry, cache=cache)
    m = _core.conv_absmax(a, layer.weight, layer.bias, kernel_rule, *geometry, cache=cache)
    r = np.random.default_rng(9).normal(size=z.shape).astype(a.dtype)
    zs = rules.Epsilon(1e-3).stabilise(z)
    real = _core.conv_relevance(_core.SEMIRING_REAL, a, layer.weight, zs, r, kernel_rule,
                                *geometry, cache=cache)
    viterbi = _core.conv_relevance(_core.SEMIRING_VITERBI, a, layer.weight, m, np.abs(r),
                                   kernel_rule, *geometry, cache=cache)
    return {"forward": z, "absmax": m, "real": real, "viterbi": viterbi}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kept_weights_give_the_bits_of_weights_prepared_per_call(isa, dtype, restore_kernels):
    _core.set_isa(isa)
    for name, (layer, a) in _conv_cases(dtype).items():
        cache = layer._weight_cache()
        for rule in RULES:
            fresh = _passes(layer, a, rule, None)
            first = _passes(layer, a, rule, cache)
            entries = _core.weight_cache_size(cache)[0]
            again = _passes(layer, a, rule, cache)
            # the second round builds nothing: every entry it needs is there
            assert _core.weight_cache_size(cache)[0] == entries
            for pass_name, want in fresh.items():
                np.testing.assert_array_equal(first[pass_name], want,
                                              err_msg=f"{name} {rule} {pass_name}")
                np.testing.assert_array_equal(again[pass_name], want,
                                              err_msg=f"{name} {rule} {pass_name} again")
        # per rule: rho(W) for the forward (Winograd's U; the direct LRP-0
        # forward reads W itself), rho(W) flipped for the real pass, |rho(W)|
        # packed both ways for absmax and Viterbi (8 input channels: Viterbi's
        # maxima go tap by tap over a copy made per call); at stride 2 the
        # real pass takes the product of the layer at unit stride (its
        # spread ratios), Viterbi's transposed pass no product
        assert layer.weight_cache_size()[0] == {"winograd": 8, "direct": 5, "strided": 5}[name]


def _dense_case(dtype):
    """A Linear layer whose products take two inner chunks both ways (300
    inputs, 290 outputs, past the 256 of a 32 KiB L1d) and end in a partial
    strip both ways (the edge kernels), over a batch past the weights-first
    forward's 64 samples, every input nonzero (no sparse pass)."""
    rng = np.random.default_rng(8)
    layer = layers.Linear(rng.normal(size=(290, 300)).astype(dtype) * 0.05,
                          rng.normal(size=290).astype(dtype) * 0.1)
    return layer, rng.uniform(0.1, 1.0, size=(67, 300)).astype(dtype)


def _dense_passes(layer, a, rule, cache):
    """forward, absmax, real and Viterbi relevance of a Linear layer, all
    with `cache`, and the tiers they took."""
    kernel_rule = rule.kernel_rule
    with sl.trace_tiers() as trace:
        z = _core.dense_forward(a, layer.weight, layer.bias, kernel_rule, cache=cache)
        m = _core.dense_absmax(a, layer.weight, layer.bias, kernel_rule, cache=cache)
        r = np.random.default_rng(9).normal(size=z.shape).astype(a.dtype)
        zs = rules.Epsilon(1e-3).stabilise(z)
        real = _core.dense_relevance(_core.SEMIRING_REAL, a, layer.weight, zs, r, kernel_rule,
                                     cache=cache)
        viterbi = _core.dense_relevance(_core.SEMIRING_VITERBI, a, layer.weight, m, np.abs(r),
                                        kernel_rule, cache=cache)
    passes = {"forward": z, "absmax": m, "real": real, "viterbi": viterbi}
    return passes, [tier for _, _, tier in trace.records]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kept_dense_weights_give_the_bits_of_weights_packed_per_call(isa, dtype,
                                                                     restore_kernels):
    _core.set_isa(isa)
    layer, a = _dense_case(dtype)
    cache = layer._weight_cache()
    for count, rule in enumerate(RULES, start=1):
        fresh, tiers = _dense_passes(layer, a, rule, None)
        assert tiers == ["dense.forward.packed_product", "dense.absmax.packed_product",
                         "dense.real.packed_product", "dense.viterbi.packed_product"]
        first, _ = _dense_passes(layer, a, rule, cache)
        again, _ = _dense_passes(layer, a, rule, cache)
        # per rule: rho(W)^T packed for the forward, |rho(W)|^T for absmax,
        # rho(W) and |rho(W)| for the transposed passes; the second round
        # builds nothing
        assert layer.weight_cache_size()[0] == 4 * count
        for pass_name, want in fresh.items():
            np.testing.assert_array_equal(first[pass_name], want,
                                          err_msg=f"{rule} {pass_name}")
            np.testing.assert_array_equal(again[pass_name], want,
                                          err_msg=f"{rule} {pass_name} again")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kept_transposed_weights_give_one_or_two_samples_the_forwards_bits(isa, dtype,
                                                                           restore_kernels):
    """The forward of 1 or 2 samples through a layer of at least 65,536
    weights streams rho(W)^T, kept in the cache from the second such call
    on, over the nonzero inputs: the bits of the turned tiles without a
    cache and of the product's whole batch. Sample 0's zero inputs are not
    all sample 1's (their rows go one by one); 300 outputs leave a partial
    vector at every block's end."""
    _core.set_isa(isa)
    rng = np.random.default_rng(14)
    layer = layers.Linear(rng.normal(size=(300, 250)).astype(dtype),
                          rng.normal(size=300).astype(dtype))
    a = np.maximum(rng.normal(size=(70, 250)), 0).astype(dtype)
    a[:, 40:90] = 0
    cache = layer._weight_cache()
    for count, rule in enumerate(RULES, start=1):
        kernel_rule = rule.kernel_rule
        whole = _core.dense_forward(a, layer.weight, layer.bias, kernel_rule)
        with sl.trace_tiers() as trace:
            first = _core.dense_forward(a[:1], layer.weight, layer.bias, kernel_rule,
                                        cache=cache)
        assert trace.records == [(None, None, "dense.forward.few_samples")]
        assert layer.weight_cache_size()[0] == count - 1
        np.testing.assert_array_equal(first, whole[:1])
        for start, stop in ((0, 1), (3, 5), (69, 70)):
            part = a[start:stop]
            with sl.trace_tiers() as trace:
                turned = _core.dense_forward(part, layer.weight, layer.bias, kernel_rule)
                streamed = _core.dense_forward(part, layer.weight, layer.bias, kernel_rule,
                                               cache=cache)
            assert [tier for _, _, tier in trace.records] == [
                "dense.forward.few_samples", "dense.forward.few_streamed"]
            for got in (turned, streamed):
                np.testing.assert_array_equal(got, whole[start:stop],
                                              err_msg=f"{rule} {start}:{stop}")
        # rho(W)^T, one entry per rule
        assert layer.weight_cache_size()[0] == count
    with sl.trace_tiers() as trace:
        _core.dense_forward(a[:3], layer.weight, layer.bias, RULES[0].kernel_rule, cache=cache)
    assert trace.records == [(None, None, "dense.forward.few_samples")]


def test_streamed_forward_needs_a_kept_copy_and_finite_rho():
    """Where the cache is full (the forward then keeps no copy), or where
    some rho(w) overflows (a zero input's term is then NaN, not zero), the
    forward of one sample turns tiles on its second call as on its first."""
    rng = np.random.default_rng(15)
    weight = rng.normal(size=(260, 256)).astype(np.float32)
    layer = layers.Linear(weight, np.zeros(260, np.float32))
    a = np.maximum(rng.normal(size=(1, 256)), 0).astype(np.float32)
    a[0, 9] = 0
    cache = layer._weight_cache()
    tiers = []
    for gamma in np.linspace(0.0, 0.2, 11):
        rule = rules.Gamma(float(gamma)).kernel_rule
        want = _core.dense_forward(a, layer.weight, layer.bias, rule)
        for _ in range(2):
            with sl.trace_tiers() as trace:
                got = _core.dense_forward(a, layer.weight, layer.bias, rule, cache=cache)
            tiers.append(trace.records[0][2].split(".")[-1])
            np.testing.assert_array_equal(got, want)
    assert tiers == ["few_samples", "few_streamed"] * 10 + ["few_samples"] * 2
    assert layer.weight_cache_size()[0] == 10

    weight[7, 9] = 3e38  # gamma 0.25 makes it 3.75e38: inf in float32
    overflowing = layers.Linear(weight, np.zeros(260, np.float32))
    rule = rules.Gamma(0.25).kernel_rule
    with sl.trace_tiers() as trace:
        for _ in range(2):
            got = _core.dense_forward(a, overflowing.weight, overflowing.bias, rule,
                                      cache=overflowing._weight_cache())
    assert trace.records == [(None, None, "dense.forward.few_samples")] * 2
    assert np.isnan(got[0, 7])  # 0 * inf, as the product computes it
    np.testing.assert_array_equal(got, _core.dense_forward(np.repeat(a, 70, axis=0),
                                                           overflowing.weight,
                                                           overflowing.bias, rule)[:1])


def test_entries_are_kept_per_instruction_set(restore_kernels):
    layer, a = _conv_cases(np.float32)["winograd"]
    rule = rules.Gamma(0.25)
    counts = []
    for isa in ISAS:
        _core.set_isa(isa)
        z = layer.weighted_sum(a, rule)
        np.testing.assert_array_equal(
            z, _core.conv_forward(a, layer.weight, layer.bias, rule.kernel_rule,
                                  *layer._geometry()), err_msg=isa)
        counts.append(layer.weight_cache_size()[0])
    # one U per instruction set: a set's roundings and tile rows may differ
    assert counts == list(range(1, len(ISAS) + 1))


def test_a_cache_serves_only_its_own_array():
    layer, a = _conv_cases(np.float32)["winograd"]
    twin = layers.Conv2d(layer.weight * 2, layer.bias, padding=1)
    cache = layer._weight_cache()
    rule = rules.Gamma(0.25)
    got = _core.conv_forward(a, twin.weight, twin.bias, rule.kernel_rule, *twin._geometry(),
                             cache=cache)
    np.testing.assert_array_equal(got, twin.weighted_sum(a, rule))
    assert _core.weight_cache_size(cache) == (0, 0)


def test_weight_cache_refuses_arrays_that_could_change():
    writeable = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="read-only"):
        _core.weight_cache(writeable)
    frozen = np.ones((4, 3), np.float32)
    frozen.flags.writeable = False
    view = frozen[1:]
    with pytest.raises(ValueError, match="owns its data"):
        _core.weight_cache(view)
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.weight_cache(np.ones(3, np.int32))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        _core.weight_cache([1.0, 2.0])
    assert _core.weight_cache_size(_core.weight_cache(frozen)) == (0, 0)
    layer = layers.Linear(np.ones((2, 3), np.float32))
    for bad in (object(), frozen):
        with pytest.raises(TypeError, match="weight_cache"):
            _core.dense_forward(np.ones((1, 3), np.float32), layer.weight, layer.bias,
                                rules.Zero().kernel_rule, cache=bad)
        with pytest.raises(TypeError, match="weight_cache"):
            _core.weight_cache_size(bad)


def test_a_replaced_or_writeable_weight_gets_no_stale_entries():
    layer, a = _conv_cases(np.float64)["winograd"]
    rule = rules.Gamma(0.25)
    before = layer.weighted_sum(a, rule)
    assert layer.weight_cache_size()[0] == 1
    layer.weight = np.array(layer.weight * -1.0)  # writeable: no cache
    np.testing.assert_array_equal(layer.weighted_sum(a, rule),
                                  _core.conv_forward(a, layer.weight, layer.bias,
                                                     rule.kernel_rule, *layer._geometry()))
    assert layer.weight_cache_size() == (0, 0)
    assert not np.array_equal(layer.weighted_sum(a, rule), before)


def test_network_cache_size_clear_and_pickle():
    layer, a = _conv_cases(np.float32)["winograd"]
    net = sl.Network([layer, layers.ReLU(), layers.Flatten(),
                      layers.Linear(np.full((3, 64 * 27 * 29), 1e-3, np.float32))])
    want = sl.relevance(net, a, target=[0, 2], rule=rules.Gamma(0.25))
    entries, size = net.weight_cache_size()
    assert entries >= 2 and size >= 2 * layer.weight.nbytes
    copy = pickle.loads(pickle.dumps(net))
    assert copy.weight_cache_size() == (0, 0)
    assert not copy.layers[0].weight.flags.writeable
    np.testing.assert_array_equal(sl.relevance(copy, a, target=[0, 2], rule=rules.Gamma(0.25)),
                                  want)
    net.clear_weight_cache()
    assert net.weight_cache_size() == (0, 0)
    np.testing.assert_array_equal(sl.relevance(net, a, target=[0, 2], rule=rules.Gamma(0.25)),
                                  want)


def test_threads_building_the_same_entries_agree():
    layer, a = _conv_cases(np.float32)["winograd"]
    rule = rules.Gamma(0.25)
    want = _passes(layer, a, rule, None)
    results, errors = [None] * 4, []
    start = threading.Barrier(4)

    def work(i):
        try:
            start.wait()
            results[i] = _passes(layer, a, rule, layer._weight_cache())
        except Exception as err:  # reported below, with the thread's index
            errors.append((i, err))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got in results:
        for pass_name in want:
            np.testing.assert_array_equal(got[pass_name], want[pass_name])


def test_a_cache_keeps_at_most_ten_entries():
    """A sweep over many gammas keeps the first ten rules' weights and
    prepares the others per call, with the same results."""
    layer, a = _conv_cases(np.float32)["winograd"]
    for i, gamma in enumerate(np.linspace(0.0, 1.0, 13)):
        rule = rules.Gamma(float(gamma))
        want = _core.conv_forward(a, layer.weight, layer.bias, rule.kernel_rule,
                                  *layer._geometry())
        np.testing.assert_array_equal(layer.weighted_sum(a, rule), want, err_msg=f"gamma {gamma}")
        assert layer.weight_cache_size()[0] == min(i + 1, 10)
