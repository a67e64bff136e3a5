"""The product tiers of composed semirings: max-plus over log|d| as a
max-plus product ("dense.composed.max_plus", "conv.composed.max_plus_product")
and min-max over |d| as a max-min product ("dense.composed.min_max",
"conv.composed.min_max_product"), against the literal reference of
test_composed_kernels.py on layers of awkward sizes, with padding, dilation
and groups, on every instruction set; and the generic tier wherever the
product form could differ from the contract by more than rounding (a
numerator or quotient outside the normal range, an overflow, an R_k of +inf
for max-plus or NaN)."""
import numpy as np
import pytest

from semiring_lrp import _core
from test_composed_kernels import (
    RULES, THETA, assert_matches, conv_layer, conv_pairs, dense_layer, dense_pairs, descriptor,
    each_isa, reference_weighted, relevance_above)

MAX_PLUS, MIN_MAX = "max_plus_log_abs", "max_min_abs"
TIERS = {MAX_PLUS: ("dense.composed.max_plus", "conv.composed.max_plus_product"),
         MIN_MAX: ("dense.composed.min_max", "conv.composed.min_max_product")}
PRODUCT_RULES = sorted(name for name in RULES if name != "zbox")
# (stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups): unit stride, as
# the product form needs; padded taps must add no term
UNIT_STRIDE = {"plain": (1, 1, 0, 0, 1, 1, 1),
               "padded_dilated_groups": (1, 1, 1, 2, 2, 1, 2)}


def traced(call):
    """call()'s result and the tiers it noted."""
    _core.trace_start()
    try:
        result = call()
        return result, _core.trace_take()
    finally:
        _core.trace_stop()


def dense_max_plus(dtype, rule, layer, r_out, name=MAX_PLUS):
    desc = descriptor(name, dtype)
    return _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"], r_out, rule,
                                 theta=THETA, low=layer["low"], high=layer["high"])


def dense_reference(dtype, rule, layer, r_out, name=MAX_PLUS):
    desc = descriptor(name, dtype)
    pairs = dense_pairs(*layer["a"].shape, layer["w"].shape[0])
    return reference_weighted(desc, rule, layer["a"], layer["w"], layer["low"], layer["high"],
                              layer["z"], r_out, pairs, THETA)


@pytest.mark.parametrize("name", sorted(TIERS))
@pytest.mark.parametrize("rule", PRODUCT_RULES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_products_equal_the_literal_reference(name, rule, dtype, restore_kernels):
    rule = RULES[rule]
    # 11 samples (a group of 8 and 3), 1037 inputs (two blocks of 512 and 13)
    layer = dense_layer(dtype, rule, n=11, in_=1037, out=13, seed=3)
    r_out = relevance_above(descriptor(name, dtype), layer["out_shape"], layer["rng"])
    got, notes = traced(lambda: each_isa(lambda: dense_max_plus(dtype, rule, layer, r_out,
                                                                name)))
    assert set(notes) == {TIERS[name][0]}
    want = dense_reference(dtype, rule, layer, r_out, name)
    zero = descriptor(name, dtype)[3]
    assert (want == zero).any() and (want != zero).any()
    assert_matches(name, got, want)


@pytest.mark.parametrize("name", sorted(TIERS))
@pytest.mark.parametrize("geometry", sorted(UNIT_STRIDE))
@pytest.mark.parametrize("rule", PRODUCT_RULES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_products_equal_the_literal_reference(name, rule, dtype, geometry,
                                                   restore_kernels):
    desc, rule, geometry = descriptor(name, dtype), RULES[rule], UNIT_STRIDE[geometry]
    # 8 input channels in 2 groups of 4, 6 outputs, 9 x 13 images
    layer = conv_layer(dtype, rule, geometry, n=3, c=8, h=9, wd=13, out_c=6, kh=3, kw=2,
                       seed=4)
    r_out = relevance_above(desc, layer["out_shape"], layer["rng"])
    got, notes = traced(lambda: each_isa(lambda: _core.conv_relevance(
        desc, layer["a"], layer["w"], layer["z"], r_out, rule, geometry, theta=THETA)))
    assert set(notes) == {TIERS[name][1]}
    pairs, _ = conv_pairs(layer["a"].shape, layer["w"].shape, geometry)
    want = reference_weighted(desc, rule, layer["a"], layer["w"], None, None, layer["z"],
                              r_out, pairs, THETA)
    assert_matches(name, got, want)


def test_max_plus_products_ignore_dead_inputs_and_outputs(restore_kernels):
    # a_j = 0: every d_jk is 0 and R_j is -inf; R_k = -inf everywhere: R_j
    # is -inf; z_k = 0: d_jk = 0, the pair adds nothing
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule, n=2, in_=40, out=9, seed=8)
    r_out = relevance_above(descriptor(MAX_PLUS, np.float64), layer["out_shape"], layer["rng"])
    r_out[1] = -np.inf
    layer["z"][0, :4] = 0
    got, notes = traced(lambda: dense_max_plus(np.float64, rule, layer, r_out))
    assert notes == ["dense.composed.max_plus"]
    assert np.isneginf(got[1]).all()
    assert np.isneginf(got[0, ::6]).all() and np.isfinite(got[0, 1:6]).all()
    assert_matches(MAX_PLUS, got, dense_reference(np.float64, rule, layer, r_out))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numerators_outside_the_normal_range_take_the_generic_tier(dtype, restore_kernels):
    # a_j rho(w_jk) below the least normal number: the contract's log|d| is
    # that of a subnormal or 0, which log|a| + log|w| - log|z| is not
    rule = RULES["zero"]
    tiny = np.finfo(dtype).tiny
    layer = dense_layer(dtype, rule, n=2, in_=40, out=9, seed=9)
    layer["a"][0, 1] = dtype(tiny * 0.5)
    r_out = relevance_above(descriptor(MAX_PLUS, dtype), layer["out_shape"], layer["rng"])
    got, notes = traced(lambda: dense_max_plus(dtype, rule, layer, r_out))
    assert notes == ["dense.composed.blocks"]
    assert_matches(MAX_PLUS, got, dense_reference(dtype, rule, layer, r_out))
    # and the same layer with a normal value there runs as a product
    layer["a"][0, 1] = dtype(0.5)
    _, notes = traced(lambda: dense_max_plus(dtype, rule, layer, r_out))
    assert notes == ["dense.composed.max_plus"]


def test_quotients_outside_the_normal_range_take_the_generic_tier(restore_kernels):
    # z_k so small that d_jk = n_jk / z_k overflows float32
    dtype, rule = np.float32, RULES["zero"]
    geometry = UNIT_STRIDE["plain"]
    desc = descriptor(MAX_PLUS, dtype)
    layer = conv_layer(dtype, rule, geometry, n=1, c=4, h=6, wd=6, out_c=4, seed=10)
    layer["z"].flat[5] = dtype(1e-44)
    r_out = relevance_above(desc, layer["out_shape"], layer["rng"])
    r_out.flat[5] = 0.0
    got, notes = traced(lambda: _core.conv_relevance(desc, layer["a"], layer["w"], layer["z"],
                                                     r_out, rule, geometry))
    assert notes == ["conv.composed.planes"]
    pairs, _ = conv_pairs(layer["a"].shape, layer["w"].shape, geometry)
    with np.errstate(over="ignore"):
        want = reference_weighted(desc, rule, layer["a"], layer["w"], None, None, layer["z"],
                                  r_out, pairs, THETA)
    assert np.isposinf(want).any()  # the contract's log of an overflowed quotient
    assert_matches(MAX_PLUS, got, want)


def test_an_infinite_r_k_takes_the_generic_tier(restore_kernels):
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule, n=2, in_=40, out=9, seed=11)
    layer["a"][:, ::6] = 1.0  # no log 0 beside the +inf: no NaN
    r_out = relevance_above(descriptor(MAX_PLUS, np.float64), layer["out_shape"], layer["rng"])
    r_out[0, 2] = np.inf
    got, notes = traced(lambda: dense_max_plus(np.float64, rule, layer, r_out))
    assert notes == ["dense.composed.blocks"]
    assert np.isposinf(got[0]).all() and np.isfinite(got[1]).any()
    assert_matches(MAX_PLUS, got, dense_reference(np.float64, rule, layer, r_out))


def test_min_max_product_takes_one_for_r_k_and_skips_dead_pairs(restore_kernels):
    # R_k = inf (min-max's one): min(d, inf) = d; R_k = 0 and z_k = 0 add 0
    rule = RULES["epsilon"]
    layer = dense_layer(np.float32, rule, n=2, in_=40, out=9, seed=14)
    r_out = relevance_above(descriptor(MIN_MAX, np.float32), layer["out_shape"], layer["rng"])
    r_out[0, :3] = np.inf
    layer["z"][1, 2:5] = 0
    got, notes = traced(lambda: dense_max_plus(np.float32, rule, layer, r_out, MIN_MAX))
    assert notes == ["dense.composed.min_max"]
    want = dense_reference(np.float32, rule, layer, r_out, MIN_MAX)
    assert np.isfinite(want).all() and (want[:, ::6] == 0).all()
    assert_matches(MIN_MAX, got, want)


def test_min_max_products_that_could_overflow_take_the_generic_tier(restore_kernels):
    # |rho(w)| (1 / |z|) |a| past float32's range for the largest of each:
    # 0 * inf would be a NaN inside the product
    dtype, rule, geometry = np.float32, RULES["zero"], UNIT_STRIDE["plain"]
    desc = descriptor(MIN_MAX, dtype)
    layer = conv_layer(dtype, rule, geometry, n=1, c=4, h=6, wd=6, out_c=4, seed=15)
    layer["w"].flat[0] = dtype(1e30)
    layer["z"].flat[3] = dtype(1e-20)
    r_out = relevance_above(desc, layer["out_shape"], layer["rng"])
    got, notes = traced(lambda: _core.conv_relevance(desc, layer["a"], layer["w"], layer["z"],
                                                     r_out, rule, geometry))
    assert notes == ["conv.composed.planes"]
    pairs, _ = conv_pairs(layer["a"].shape, layer["w"].shape, geometry)
    with np.errstate(over="ignore"):
        want = reference_weighted(desc, rule, layer["a"], layer["w"], None, None, layer["z"],
                                  r_out, pairs, THETA)
    assert_matches(MIN_MAX, got, want)
    layer["z"].flat[3] = dtype(1.0)
    _, notes = traced(lambda: _core.conv_relevance(desc, layer["a"], layer["w"], layer["z"],
                                                   r_out, rule, geometry))
    assert notes == ["conv.composed.min_max_product"]


@pytest.mark.parametrize("name", sorted(TIERS))
def test_a_nan_r_k_raises_value_error(name, restore_kernels):
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule, n=2, in_=40, out=9, seed=16)
    r_out = relevance_above(descriptor(name, np.float64), layer["out_shape"], layer["rng"])
    r_out[1, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dense_max_plus(np.float64, rule, layer, r_out, name)


@pytest.mark.parametrize("name", sorted(TIERS))
def test_products_do_not_depend_on_threads_or_batch(name, restore_kernels):
    import semiring_lrp as sl

    dtype, rule = np.float32, RULES["gamma"]
    geometry = UNIT_STRIDE["padded_dilated_groups"]
    desc = descriptor(name, dtype)
    dense = dense_layer(dtype, rule, n=9, in_=700, out=300, seed=12)
    dense_r = relevance_above(desc, dense["out_shape"], dense["rng"])
    conv = conv_layer(dtype, rule, geometry, n=3, c=8, h=30, wd=30, out_c=8, seed=13)
    conv_r = relevance_above(desc, conv["out_shape"], conv["rng"])

    def both(n):
        return (_core.dense_relevance(desc, dense["a"][n], dense["w"], dense["z"][n],
                                      dense_r[n], rule),
                _core.conv_relevance(desc, conv["a"][n], conv["w"], conv["z"][n], conv_r[n],
                                     rule, geometry))
    results = []
    for threads in (1, 2):
        sl.set_num_threads(threads)
        results.append(both(slice(None)))
    alone = both(slice(2, 3))
    for one, two, single in zip(*results, alone):
        assert one.tobytes() == two.tobytes()
        assert single.tobytes() == one[2:3].tobytes()


@pytest.mark.parametrize("name", sorted(TIERS))
def test_the_switch_sends_every_call_to_the_generic_tier_with_the_same_values(name,
                                                                             restore_kernels):
    dtype, rule = np.float64, RULES["gamma"]
    geometry = UNIT_STRIDE["padded_dilated_groups"]
    desc = descriptor(name, dtype)
    dense = dense_layer(dtype, rule, n=5, in_=300, out=70, seed=17)
    dense_r = relevance_above(desc, dense["out_shape"], dense["rng"])
    conv = conv_layer(dtype, rule, geometry, n=2, c=8, h=12, wd=10, out_c=8, seed=18)
    conv_r = relevance_above(desc, conv["out_shape"], conv["rng"])

    def both():
        return (_core.dense_relevance(desc, dense["a"], dense["w"], dense["z"], dense_r, rule),
                _core.conv_relevance(desc, conv["a"], conv["w"], conv["z"], conv_r, rule,
                                     geometry))
    fast, fast_notes = traced(both)
    _core._testing.set_composed_fast_tiers(False)
    generic, generic_notes = traced(both)
    assert fast_notes == list(TIERS[name])
    assert generic_notes == ["dense.composed.blocks", "conv.composed.planes"]
    for got, want in zip(fast, generic):
        assert_matches(name, got, want)
