"""Conv2d max products over the nonzero inputs only (conv_sparse_max.h:
Viterbi's absmax m and its transposed pass, 3x3 float32 layers on AVX-512):
against the definition computed literally, tap by tap in NumPy; the same
bits as the packed product (sparse passes off, and every other instruction
set); independent of threads and batch."""
import numpy as np
import pytest
from reference import ISAS

import semiring_lrp as sl
from semiring_lrp import _core, rules
from semiring_lrp.layers import KernelStep
from semiring_lrp.semiring_specs import VITERBI

SPARSE = "avx512" in ISAS  # the tier's instruction set
BEST = ISAS[-1]

# (in_c, out_c, height, width, padding, dilation): channel counts that fill
# no block of 32 lanes or chunk of 32 inputs, and either way round (the
# transposed pass's lanes are the layer's inputs); padding 0 (the taps'
# reach past the edge), 1, 2 with dilation 2, and 3 with dilation 1 (output
# pixels no input reaches).
SHAPES = {"odd": (35, 37, 9, 11, 1, 1), "dilated": (33, 70, 13, 7, 2, 2),
          "unpadded": (70, 40, 8, 12, 0, 1), "wide_padding": (40, 33, 5, 6, 3, 1),
          "one_input": (1, 32, 6, 7, 1, 1), "tall": (96, 64, 41, 3, 1, 1)}
RULES = {"eps": rules.Epsilon(0.1), "gamma": rules.Gamma(0.25)}


def _layer(shape, seed=3, batch=3, zeros=0.5):
    in_c, out_c, height, width, padding, dilation = SHAPES[shape]
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(out_c, in_c, 3, 3)).astype(np.float32)
    b = (rng.normal(size=out_c) * 0.1).astype(np.float32)
    a = rng.normal(size=(batch, in_c, height, width)).astype(np.float32)
    a[rng.uniform(size=a.shape) < zeros] = 0
    return sl.Conv2d(w, b, padding=padding, dilation=dilation), a, rng


def _taps(layer, shape):
    """(ky, kx, input rows, input columns, output rows, output columns) of
    each tap with any pair: out[oy, ox] takes in[oy - p + ky d, ox - p + kx d]."""
    (p, _), (d, _) = layer.padding, layer.dilation
    height, width = shape
    out_h, out_w = height + 2 * p - 2 * d, width + 2 * p - 2 * d
    for ky in range(3):
        for kx in range(3):
            oy = [o for o in range(out_h) if 0 <= o - p + ky * d < height]
            ox = [o for o in range(out_w) if 0 <= o - p + kx * d < width]
            if oy and ox:
                yield (ky, kx, slice(oy[0] - p + ky * d, oy[-1] - p + ky * d + 1),
                       slice(ox[0] - p + kx * d, ox[-1] - p + kx * d + 1),
                       slice(oy[0], oy[-1] + 1), slice(ox[0], ox[-1] + 1))


def _absmax_by_definition(layer, a, rule):
    """m[n, k, oy, ox] = max(|rho(b_k)|, max over (c, ky, kx) of
    |a[n, c, iy, ix]| * |rho(w[k, c, ky, kx])|), each product one float32
    multiplication, as the definition rounds it."""
    w = np.abs(rule.rho(layer.weight))
    n, _, height, width = a.shape
    (p, _), (d, _) = layer.padding, layer.dilation
    m = np.zeros((n, w.shape[0], height + 2 * p - 2 * d, width + 2 * p - 2 * d), np.float32)
    for ky, kx, iy, ix, oy, ox in _taps(layer, a.shape[2:]):
        for c in range(a.shape[1]):
            terms = np.abs(a[:, c, iy, ix])[:, None] * w[None, :, c, ky, kx, None, None]
            m[:, :, oy, ox] = np.maximum(m[:, :, oy, ox], terms)
    beta = np.abs(rule.rho(layer.bias)).astype(np.float32)
    return np.maximum(m, beta[None, :, None, None])


def _viterbi_by_definition(layer, a, rule, m, r):
    """R[n, c, iy, ix] = max over (k, ky, kx) of |a w| / (m + 1e-9) * R, in
    float64, the pairs of each tap at once."""
    w = np.abs(rule.rho(layer.weight.astype(np.float64)))
    q = r.astype(np.float64) / (m.astype(np.float64) + _core.VITERBI_EPS)
    out = np.zeros(a.shape)
    for ky, kx, iy, ix, oy, ox in _taps(layer, a.shape[2:]):
        for k in range(w.shape[0]):
            terms = w[None, k, :, ky, kx, None, None] * q[:, k, None, oy, ox]
            out[:, :, iy, ix] = np.maximum(out[:, :, iy, ix], terms)
    return np.abs(a.astype(np.float64)) * out


def _tiers(trace):
    return [tier for _, _, tier in trace.records]


def _forms(layer, sparse):
    """The tiers of _passes: the transposed pass's lanes are the layer's
    inputs, and fewer than 4 of them leave it to the direct tier."""
    in_c = layer.weight.shape[1]
    form = "sparse_inputs" if sparse else "packed_product"
    return [f"conv.absmax.{form}", f"conv.viterbi.{form if in_c >= 4 else 'direct'}"]


def _passes(layer, a, rule, rng_seed=5):
    m = layer.absmax(a, rule)
    r = np.random.default_rng(rng_seed).uniform(size=m.shape).astype(np.float32)
    r[np.random.default_rng(rng_seed + 1).uniform(size=m.shape) < 0.5] = 0
    relevance = layer.kernel_relevance(KernelStep(VITERBI, rule=rule, z=m), a, r)
    return m, r, relevance


@pytest.mark.parametrize("rule_name", RULES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sparse_max_products_equal_the_definition(shape, rule_name, restore_kernels):
    _core.set_isa(BEST)
    _core._testing.set_sparse_passes(True)
    layer, a, _ = _layer(shape)
    rule = RULES[rule_name]
    with sl.trace_tiers() as trace:
        m, r, relevance = _passes(layer, a, rule)
    assert _tiers(trace) == _forms(layer, SPARSE)
    np.testing.assert_array_equal(m, _absmax_by_definition(layer, a, rule))
    want = _viterbi_by_definition(layer, a, rule, m, r)
    np.testing.assert_allclose(relevance, want, rtol=2e-6, atol=0)
    assert relevance.max() <= r.max()  # each term is at most its R_k


@pytest.mark.parametrize("shape", SHAPES)
def test_sparse_max_products_give_the_packed_products_bits(shape, restore_kernels):
    layer, a, _ = _layer(shape, seed=4)
    rule = RULES["gamma"]
    _core.set_isa(BEST)
    _core._testing.set_sparse_passes(True)
    sparse = _passes(layer, a, rule)
    for isa in ISAS:
        _core.set_isa(isa)
        _core._testing.set_sparse_passes(False)
        with sl.trace_tiers() as trace:
            packed = _passes(layer, a, rule)
        assert _tiers(trace) == _forms(layer, False)
        for got, want in zip(sparse, packed):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("spread", [0.0, 3.0])
@pytest.mark.parametrize("shape", SHAPES)
def test_sparse_max_products_do_not_depend_on_the_first_pass(shape, spread, restore_kernels):
    """Whatever share of the largest inputs the first pass takes (0: none,
    the second pass takes every input its bound of 0 lets through; 100: all,
    no second pass), the bits are the packed product's: the second pass
    skips only inputs that cannot raise a maximum. Inputs of one scale, and
    spread over e^(+-9) (most products far below the largest)."""
    layer, a, rng = _layer(shape, seed=11)
    a *= np.exp(spread * rng.normal(size=a.shape)).astype(np.float32)
    rule = RULES["eps"]
    _core._testing.set_sparse_passes(False)
    packed = _passes(layer, a, rule)
    _core._testing.set_sparse_passes(True)
    _core.set_isa(BEST)
    for lead in (0, 1, 15, 50, 100):
        _core._testing.set_sparse_max_lead(lead)
        assert _core._testing.sparse_max_lead() == lead
        with sl.trace_tiers() as trace:
            got = _passes(layer, a, rule)
        assert _tiers(trace) == _forms(layer, SPARSE)
        for g, want in zip(got, packed):
            np.testing.assert_array_equal(g, want, err_msg=f"first pass {lead}%")


def test_sparse_max_lead_takes_a_percent(restore_kernels):
    for wrong in (-1, 101):
        with pytest.raises(ValueError, match=r"\[0, 100\]"):
            _core._testing.set_sparse_max_lead(wrong)
    assert _core._testing.sparse_max_lead() == 15


@pytest.mark.parametrize("shape", ["odd", "unpadded", "tall"])
def test_sparse_max_products_do_not_depend_on_the_chunk(shape, restore_kernels):
    """Lists of 16 input channels (an L1d under 48 KiB) give the bits of
    lists of 32."""
    layer, a, _ = _layer(shape, seed=9)
    rule = RULES["gamma"]
    _core._testing.set_cache_sizes(49152, 2 << 20, 0)
    assert _core.block_sizes()["sparse_max_chunk"] == 32
    wide = _passes(layer, a, rule)
    _core._testing.set_cache_sizes(32768, 1 << 20, 0)
    assert _core.block_sizes()["sparse_max_chunk"] == 16
    with sl.trace_tiers() as trace:
        narrow = _passes(layer, a, rule)
    assert _tiers(trace) == _forms(layer, SPARSE)
    for got, want in zip(narrow, wide):
        np.testing.assert_array_equal(got, want)


def test_sparse_max_products_do_not_depend_on_threads_or_batch(restore_kernels):
    layer, a, _ = _layer("tall", batch=4)
    rule = RULES["eps"]
    runs = []
    for threads in (1, 2, 3):
        sl.set_num_threads(threads)
        runs.append(_passes(layer, a, rule))
    for run in runs[1:]:
        for got, want in zip(run, runs[0]):
            np.testing.assert_array_equal(got, want)
    m, r, relevance = runs[0]
    np.testing.assert_array_equal(layer.absmax(a[2:], rule), m[2:])
    alone = layer.kernel_relevance(KernelStep(VITERBI, rule=rule, z=m[2:]), a[2:], r[2:])
    np.testing.assert_array_equal(alone, relevance[2:])


def test_all_zero_and_dense_inputs(restore_kernels):
    """No nonzero input leaves m at |beta| and R at 0; none zero is the
    packed product's result as well."""
    layer, a, _ = _layer("odd", zeros=0.0)
    rule = RULES["eps"]
    dense = _passes(layer, a, rule)
    _core._testing.set_sparse_passes(False)
    for got, want in zip(dense, _passes(layer, a, rule)):
        np.testing.assert_array_equal(got, want)
    _core._testing.set_sparse_passes(True)
    m, _, relevance = _passes(layer, np.zeros_like(a), rule)
    beta = np.abs(rule.rho(layer.bias))
    np.testing.assert_array_equal(m, np.broadcast_to(beta[None, :, None, None], m.shape))
    assert not relevance.any()


@pytest.mark.parametrize("what", ["float64", "stride", "kernel", "narrow"] + ISAS[:-1])
def test_other_layers_take_the_packed_products(what, restore_kernels):
    """The tier takes float32 3x3 unit-stride layers of 32 lanes at least on
    AVX-512; the rest, and every other instruction set, stay with the packed
    products."""
    rng = np.random.default_rng(0)
    in_c, out_c, k, stride = 40, 36, 3, 1
    dtype = np.float64 if what == "float64" else np.float32
    if what == "stride":
        stride = 2
    if what == "kernel":
        k = 5
    if what == "narrow":
        in_c, out_c = 8, 31
    if what in ISAS:
        _core.set_isa(what)
    layer = sl.Conv2d(rng.normal(size=(out_c, in_c, k, k)).astype(dtype),
                      rng.normal(size=out_c).astype(dtype), stride=stride, padding=1)
    a = np.maximum(rng.normal(size=(2, in_c, 11, 10)), 0).astype(dtype)
    with sl.trace_tiers() as trace:
        layer.absmax(a, RULES["eps"])
    assert _tiers(trace) == ["conv.absmax.packed_product"]


def _zbox_layer(in_c, out_c, seed=6):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(out_c, in_c, 3, 3)).astype(np.float32)
    layer = sl.Conv2d(w, rng.normal(size=out_c).astype(np.float32), padding=1)
    a = rng.normal(size=(2, in_c, 10, 9)).astype(np.float32)
    low = (a - rng.uniform(0, 2, size=a.shape)).astype(np.float32)
    high = (a + rng.uniform(0, 2, size=a.shape)).astype(np.float32)
    low[0, 0, 0, :3] = a[0, 0, 0, :3]  # on the box's edge: one of the terms is 0
    high[1, -1, -1, -2:] = a[1, -1, -1, -2:]
    rule = rules.ZBox(-5.0, 5.0)
    return layer, a, low, high, rule


def _zbox_terms(layer, a, low, high):
    """Each tap's |a w - l w+ - h w-| in float64, as (n, out_c, in_c, oy, ox)
    arrays with the input and output windows of _taps."""
    w = layer.weight.astype(np.float64)
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    a64, l64, h64 = (v.astype(np.float64) for v in (a, low, high))
    for ky, kx, iy, ix, oy, ox in _taps(layer, a.shape[2:]):
        n = (a64[:, None, :, iy, ix] * w[None, :, :, ky, kx, None, None]
             - l64[:, None, :, iy, ix] * wp[None, :, :, ky, kx, None, None]
             - h64[:, None, :, iy, ix] * wn[None, :, :, ky, kx, None, None])
        yield iy, ix, oy, ox, np.abs(n)


def _zbox_by_definition(layer, a, low, high, r):
    """(m, R) of z^B's Viterbi pass in float64: m_k = max_j |n_jk| (no bias
    term), R_j = max_k |n_jk| / (m_k + 1e-9) R_k."""
    n_out = layer.weight.shape[0]
    m = np.zeros((a.shape[0], n_out) + a.shape[2:])
    for _, _, oy, ox, n in _zbox_terms(layer, a, low, high):
        m[:, :, oy, ox] = np.maximum(m[:, :, oy, ox], n.max(axis=2))
    q = r.astype(np.float64) / (m + _core.VITERBI_EPS)
    out = np.zeros(a.shape)
    for iy, ix, oy, ox, n in _zbox_terms(layer, a, low, high):
        terms = (n * q[:, :, None, oy, ox]).max(axis=1)
        out[:, :, iy, ix] = np.maximum(out[:, :, iy, ix], terms)
    return m, out


@pytest.mark.parametrize("in_c, out_c", [(3, 40), (5, 8), (33, 36)])
def test_zbox_max_products_equal_the_definition(in_c, out_c, restore_kernels):
    """z^B's |n_jk| as w+ (a - l) + |w-| (h - a): the stacked layer's max
    products, inputs inside the box (some on its edge)."""
    _core.set_isa(BEST)
    layer, a, low, high, rule = _zbox_layer(in_c, out_c)
    with sl.trace_tiers() as trace:
        m = layer.absmax(a, rule, low, high)
        r = np.random.default_rng(7).uniform(size=m.shape).astype(np.float32)
        r[np.random.default_rng(8).uniform(size=m.shape) < 0.5] = 0
        got = layer.kernel_relevance(KernelStep(VITERBI, rule=rule, z=m, low=low, high=high),
                                     a, r)
    absmax_form = "sparse_inputs" if SPARSE and out_c >= 32 else "packed_product"
    viterbi_form = ("sparse_inputs" if SPARSE and 2 * in_c >= 32
                    else "few_channels" if 2 * in_c <= 8 else "packed_product")
    assert _tiers(trace) == [f"conv.absmax.zbox_{absmax_form}", f"conv.viterbi.zbox_{viterbi_form}"]
    want_m, want = _zbox_by_definition(layer, a, low, high, r)
    np.testing.assert_allclose(m, want_m, rtol=1e-6, atol=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7 * r.max())
    assert got.max() <= r.max()


def test_zbox_inputs_outside_the_box_go_pair_by_pair(restore_kernels):
    layer, a, low, high, rule = _zbox_layer(3, 40)
    high[1, 2, 5, 4] = a[1, 2, 5, 4] - 0.5  # one input above its box
    with sl.trace_tiers() as trace:
        m = layer.absmax(a, rule, low, high)
        r = np.ones_like(m)
        got = layer.kernel_relevance(KernelStep(VITERBI, rule=rule, z=m, low=low, high=high),
                                     a, r)
    assert _tiers(trace) == ["conv.absmax.direct", "conv.viterbi.direct"]
    want_m, want = _zbox_by_definition(layer, a, low, high, r)
    np.testing.assert_allclose(m, want_m, rtol=1e-6, atol=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
