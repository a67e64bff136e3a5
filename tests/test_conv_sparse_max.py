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
