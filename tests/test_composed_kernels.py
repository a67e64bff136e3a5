"""The C kernels of composed semirings (issue 21's contract), called directly
through `_core.*_relevance(descriptor, ...)`, against a literal NumPy
reference written from the contract's semantics alone: for every pair
(j, k) the source value (d = n_jk / z_k, 0 where z_k == 0, or Viterbi's
|n_jk| / (m_k + 1e-9)) in the network dtype, the annotation steps in that
dtype, the conversion to the element type, then R_j = add over ascending k
of mul(value_jk, R_k) from zero, pairs with R_k == zero skipped. The pairs
come from each layer's definition (dense: every (j, k); conv: every tap that
lands inside the input; pools: every window entry), not from the C code.

Also: the four built-in semirings re-declared by composition give the
built-in kernels' results; results do not depend on threads, batch or
instruction set; int64 overflow raises OverflowError; a NaN raises
ValueError; malformed descriptors raise naming the field."""
import os
import signal
import threading
import time

import numpy as np
import pytest
from reference import ISAS

import semiring_lrp as sl
from semiring_lrp import _core

F32, F64, I64, BOOL = (np.dtype(t).num for t in ("float32", "float64", "int64", "bool"))
INF = float("inf")
ABS = (_core.STEP_ABS, 0.0, 0.0)
LOG = (_core.STEP_LOG, 0.0, 0.0)


def clip(lo, hi):
    return (_core.STEP_CLIP, float(lo), float(hi))


def threshold(absolute=False):
    return (_core.STEP_THRESHOLD, float(absolute), 0.0)


# name: (add, mul, elem (None: the network's dtype), zero, one, source, steps)
SEMIRINGS = {
    "real": (_core.ADD_PLUS, _core.MUL_TIMES, None, 0.0, 1.0, _core.SOURCE_COEFFICIENT, ()),
    "boolean": (_core.ADD_OR, _core.MUL_AND, BOOL, 0.0, 1.0, _core.SOURCE_COEFFICIENT,
                (threshold(),)),
    "counting": (_core.ADD_PLUS, _core.MUL_TIMES, I64, 0.0, 1.0, _core.SOURCE_COEFFICIENT,
                 (threshold(True),)),
    "viterbi": (_core.ADD_MAX, _core.MUL_TIMES, None, 0.0, 1.0, _core.SOURCE_VITERBI, ()),
    "max_plus_log_abs": (_core.ADD_MAX, _core.MUL_PLUS, None, -INF, 0.0,
                         _core.SOURCE_COEFFICIENT, (ABS, LOG)),
    "max_min_abs": (_core.ADD_MAX, _core.MUL_MIN, None, 0.0, INF, _core.SOURCE_COEFFICIENT,
                    (ABS,)),
    "float_counting": (_core.ADD_PLUS, _core.MUL_TIMES, F64, 0.0, 1.0,
                       _core.SOURCE_COEFFICIENT, (threshold(),)),
    "log_counting": (_core.ADD_LOGADDEXP, _core.MUL_PLUS, F64, -INF, 0.0,
                     _core.SOURCE_COEFFICIENT, (threshold(True),)),
    "min_max_clip": (_core.ADD_MIN, _core.MUL_MAX, None, INF, -INF, _core.SOURCE_COEFFICIENT,
                     (ABS, clip(0.0, 2.0))),
    # on bool, mul max is or
    "and_or_bool": (_core.ADD_AND, _core.MUL_MAX, BOOL, 1.0, 0.0, _core.SOURCE_COEFFICIENT,
                    (threshold(),)),
    "viterbi_log_f32": (_core.ADD_MAX, _core.MUL_PLUS, F32, -INF, 0.0, _core.SOURCE_VITERBI,
                        (LOG,)),
}
# chains with a transcendental function: NumPy's log, exp and log1p may
# differ from the C library's in the last place
ROUNDED = {"max_plus_log_abs", "log_counting", "viterbi_log_f32"}
# forms whose product tier (test_composed_products.py) computes |d| as
# |rho(w)| (1 / |z|) |a|: the same value to rounding
ROUNDED |= {"max_min_abs"}

RULES = {"zero": (_core.RULE_ZERO, 0.0, _core.EPS_SIGN, 0.0),
         "epsilon": (_core.RULE_EPSILON, 0.1, _core.EPS_SIGN, 0.0),
         "gamma": (_core.RULE_GAMMA, 0.0, _core.EPS_SIGN, 0.25),
         "zbox": (_core.RULE_ZBOX, 0.0, _core.EPS_SIGN, 0.0)}
THETA = 0.05


def descriptor(name, dtype):
    add, mul, elem, zero, one, source, steps = SEMIRINGS[name]
    return (add, mul, np.dtype(dtype).num if elem is None else elem, zero, one, source, steps)


def elem_dtype(desc):
    return {F32: np.float32, F64: np.float64, I64: np.int64, BOOL: np.bool_}[desc[2]]


# ---- the literal reference ----

def _add(op, x, y):
    if op == _core.ADD_PLUS:
        return x + y if x.dtype != np.bool_ else x | y
    if op == _core.ADD_MAX:
        return np.where(y > x, y, x)
    if op == _core.ADD_MIN:
        return np.where(y < x, y, x)
    if op == _core.ADD_OR:
        return ((x != 0) | (y != 0)).astype(x.dtype)
    if op == _core.ADD_AND:
        return ((x != 0) & (y != 0)).astype(x.dtype)
    hi, lo = np.maximum(x, y), np.minimum(x, y)  # logaddexp, as the contract writes it
    with np.errstate(invalid="ignore"):
        out = hi + np.log1p(np.exp(lo - hi))
    return np.where((lo == -np.inf) | (hi == np.inf), hi, out).astype(x.dtype)


def _mul(op, x, y):
    if op == _core.MUL_TIMES:
        return x * y if x.dtype != np.bool_ else x & y
    if op == _core.MUL_PLUS:
        return x + y if x.dtype != np.bool_ else x | y
    if op == _core.MUL_MIN:
        return np.where(y < x, y, x)
    if op == _core.MUL_MAX:
        return np.where(y > x, y, x)
    return ((x != 0) & (y != 0)).astype(x.dtype)


def _values(desc, numerator, den, T, theta):
    """Each pair's value: the source in T, the steps in T, then elem."""
    add, mul, elem, zero, one, source, steps = desc
    E = elem_dtype(desc)
    with np.errstate(divide="ignore", invalid="ignore"):
        if source == _core.SOURCE_VITERBI:
            v = np.abs(numerator) / (den + T(1e-9))
        else:
            v = np.where(den != 0, numerator / np.where(den != 0, den, T(1)), T(0))
        for kind, p1, p2 in steps:
            if kind == _core.STEP_ABS:
                v = np.abs(v)
            elif kind == _core.STEP_LOG:
                v = np.log(v)
            elif kind == _core.STEP_CLIP:
                v = np.where(v < T(p1), T(p1), np.where(v > T(p2), T(p2), v))
            else:
                passes = (np.abs(v) if p1 else v) >= T(theta)
                return np.where(passes, E(one), E(zero)).astype(E)
    return v.astype(T).astype(E)


def _combine(desc, j, k, values, r_out, size):
    """R_j = add over ascending k of mul(value_jk, R_k), from zero; pairs
    with R_k == zero skipped. Within one k every j is distinct."""
    add, mul, elem, zero, one, source, steps = desc
    E = elem_dtype(desc)
    r_in = np.full(size, E(zero), E)
    order = np.argsort(k, kind="stable")
    j, k, values = j[order], k[order], values[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], len(k)]
    for s, e in zip(starts, ends):
        rk = r_out[k[s]]
        if rk == E(zero):
            continue
        jj = j[s:e]
        with np.errstate(over="ignore", invalid="ignore"):
            r_in[jj] = _add(add, r_in[jj], _mul(mul, values[s:e], np.full(e - s, rk, E)))
    return r_in


def _numerators(rule, T, a, w, low, high):
    kind, eps, mode, gamma = rule
    zero = T(0)
    if kind == _core.RULE_ZBOX:
        return (a * w - low * np.where(w > zero, w, zero)) - high * np.where(w < zero, w, zero)
    if kind == _core.RULE_GAMMA:
        return a * (w + T(gamma) * np.where(w > zero, w, zero))
    return a * w


def dense_pairs(n, in_, out):
    """(j, k, weight index) of a dense layer over a batch: flat indices."""
    s, kk, jj = np.meshgrid(np.arange(n), np.arange(out), np.arange(in_), indexing="ij")
    return (s * in_ + jj).ravel(), (s * out + kk).ravel(), (kk * in_ + jj).ravel()


def conv_pairs(a_shape, w_shape, geometry):
    """(j, k, weight index) of a Conv2d by its definition, and the output shape."""
    N, C, H, W = a_shape
    O, cin_g, KH, KW = w_shape
    sh, sw, ph, pw, dh, dw, g = geometry
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    n, co, oy, ox, cl, ky, kx = (x.ravel() for x in np.indices((N, O, OH, OW, cin_g, KH, KW)))
    ci = (co // (O // g)) * cin_g + cl
    iy, ix = oy * sh - ph + ky * dh, ox * sw - pw + kx * dw
    inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
    j = (((n * C + ci) * H + iy) * W + ix)[inside]
    k = (((n * O + co) * OH + oy) * OW + ox)[inside]
    widx = (((co * cin_g + cl) * KH + ky) * KW + kx)[inside]
    return (j, k, widx), (N, O, OH, OW)


def reference_weighted(desc, rule, a, w, low, high, den, r_out, pairs, theta):
    T = a.dtype.type
    j, k, widx = pairs
    flat = lambda x: None if x is None else x.reshape(-1)  # noqa: E731
    lo, hi = flat(low), flat(high)
    numerator = _numerators(rule, T, a.reshape(-1)[j], w.reshape(-1)[widx],
                            None if lo is None else lo[j], None if hi is None else hi[j])
    values = _values(desc, numerator, den.reshape(-1)[k], T, theta)
    return _combine(desc, j, k, values, r_out.reshape(-1), a.size).reshape(a.shape)


def pool_windows(size, kernel, stride, pad, out):
    start = [max(o * stride - pad, 0) for o in range(out)]
    end = [min(o * stride - pad + kernel, size) for o in range(out)]
    return np.array(start, np.int64), np.array(end, np.int64)


def reference_pool(desc, a, r_out, mode, windows, weight, theta):
    """Window by window: n_jk (average: a_j w_k; max: a_j on the first
    arg-max in row-major order, else 0), z_k their sum in row-major order,
    m_k their largest |n_jk|."""
    T = a.dtype.type
    N, C, H, W = a.shape
    rs, re, cs, ce = windows
    OH, OW = len(rs), len(cs)
    js, ks, nums, dens = [], [], [], []
    for n in range(N):
        for c in range(C):
            for oy in range(OH):
                for ox in range(OW):
                    k = ((n * C + c) * OH + oy) * OW + ox
                    entries = [((n * C + c) * H + y) * W + x
                               for y in range(rs[oy], re[oy]) for x in range(cs[ox], ce[ox])]
                    av = a.reshape(-1)[entries]
                    if mode == _core.POOL_MAX:
                        first = int(np.argmax(av))  # the first arg-max
                        nj = np.where(np.arange(len(av)) == first, av, T(0))
                    else:
                        nj = av * weight[oy, ox]
                    z, m = T(0), T(0)
                    for v in nj:
                        z = T(z + v)
                        m = max(m, abs(v))
                    den = m if desc[5] == _core.SOURCE_VITERBI else z
                    js += entries
                    ks += [k] * len(entries)
                    nums.append(nj)
                    dens += [den] * len(entries)
    numerator = np.concatenate(nums).astype(T)
    values = _values(desc, numerator, np.array(dens, T), T, theta)
    return _combine(desc, np.array(js), np.array(ks), values, r_out.reshape(-1),
                    a.size).reshape(a.shape)


# ---- random layers ----

def relevance_above(desc, shape, rng):
    """r_out in the element type, with some entries the semiring's zero."""
    E = elem_dtype(desc)
    zero = desc[3]
    if E == np.bool_:
        r = rng.random(shape) < 0.6
    elif E == np.int64:
        r = rng.integers(0, 6, shape).astype(np.int64)
    else:
        r = rng.normal(size=shape).astype(E)
        if desc[5] == _core.SOURCE_VITERBI and desc[1] == _core.MUL_TIMES:
            r = np.abs(r)
        r.flat[::4] = zero
    return r


def stabilised(z, rule):
    T = z.dtype.type
    eps = T(rule[1])
    z = np.where(z >= 0, z + eps, z - eps).astype(z.dtype) if eps else z.copy()
    z.flat[::5] = 0  # outputs with z_k == 0: their coefficients are 0
    return z


def dense_layer(dtype, rule, n=3, in_=37, out=11, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, in_)).astype(dtype)
    a[:, ::6] = 0
    w = rng.normal(size=(out, in_)).astype(dtype)
    b = rng.normal(size=out).astype(dtype)
    low, high = (a - 1, a + 1) if rule[0] == _core.RULE_ZBOX else (None, None)
    z = stabilised(_core.dense_forward(a, w, b, rule, low, high), rule)
    m = _core.dense_absmax(a, w, b, rule, low, high)
    return dict(a=a, w=w, low=low, high=high, z=z, m=m, out_shape=(n, out), rng=rng)


GEOMETRIES = {"plain": (1, 1, 0, 0, 1, 1, 1),
              "stride_pad_dil_groups": (2, 1, 1, 2, 1, 2, 2)}


def conv_layer(dtype, rule, geometry, n=2, c=4, h=7, wd=9, out_c=4, kh=3, kw=2, seed=0):
    rng = np.random.default_rng(seed)
    g = geometry[6]
    a = rng.normal(size=(n, c, h, wd)).astype(dtype)
    w = rng.normal(size=(out_c, c // g, kh, kw)).astype(dtype)
    b = rng.normal(size=out_c).astype(dtype)
    low, high = (a - 1, a + 1) if rule[0] == _core.RULE_ZBOX else (None, None)
    z = stabilised(_core.conv_forward(a, w, b, rule, geometry, low, high), rule)
    m = _core.conv_absmax(a, w, b, rule, geometry, low, high)
    return dict(a=a, w=w, low=low, high=high, z=z, m=m, out_shape=z.shape, rng=rng)


def den_of(layer, desc):
    return layer["m"] if desc[5] == _core.SOURCE_VITERBI else layer["z"]


def assert_matches(name, got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    if name in ROUNDED:
        tolerance = 1e-5 if got.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    else:  # the same operations in the same order: the same bits
        np.testing.assert_array_equal(got, want)


def each_isa(call):
    """call()'s result on every instruction set, asserting they agree bit for bit."""
    results = []
    for isa in ISAS:
        _core.set_isa(isa)
        results.append(call())
    for other in results[1:]:
        assert other.tobytes() == results[0].tobytes()
    return results[0]


# ---- against the literal reference ----

@pytest.mark.parametrize("name", sorted(SEMIRINGS))
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_equals_the_literal_reference(name, rule, dtype, restore_kernels):
    desc, rule = descriptor(name, dtype), RULES[rule]
    layer = dense_layer(dtype, rule)
    r_out = relevance_above(desc, layer["out_shape"], layer["rng"])
    got = each_isa(lambda: _core.dense_relevance(
        desc, layer["a"], layer["w"], den_of(layer, desc), r_out, rule, theta=THETA,
        low=layer["low"], high=layer["high"]))
    pairs = dense_pairs(*layer["a"].shape, layer["w"].shape[0])
    want = reference_weighted(desc, rule, layer["a"], layer["w"], layer["low"], layer["high"],
                              den_of(layer, desc), r_out, pairs, THETA)
    assert_matches(name, got, want)


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
@pytest.mark.parametrize("name", sorted(SEMIRINGS))
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_equals_the_literal_reference(name, rule, dtype, geometry, restore_kernels):
    desc, rule, geometry = descriptor(name, dtype), RULES[rule], GEOMETRIES[geometry]
    layer = conv_layer(dtype, rule, geometry)
    r_out = relevance_above(desc, layer["out_shape"], layer["rng"])
    got = each_isa(lambda: _core.conv_relevance(
        desc, layer["a"], layer["w"], den_of(layer, desc), r_out, rule, geometry,
        theta=THETA, low=layer["low"], high=layer["high"]))
    pairs, out_shape = conv_pairs(layer["a"].shape, layer["w"].shape, geometry)
    assert out_shape == layer["out_shape"]
    want = reference_weighted(desc, rule, layer["a"], layer["w"], layer["low"], layer["high"],
                              den_of(layer, desc), r_out, pairs, THETA)
    assert_matches(name, got, want)


def pool_layer(dtype, mode, seed=0):
    """A 3x3 pool of stride 2, padding 1, on a 7x8 input: overlapping windows,
    clipped at the edges; ties and a window of zeros."""
    rng = np.random.default_rng(seed)
    a = np.abs(rng.normal(size=(2, 3, 7, 8))).astype(dtype)
    a.flat[::7] = 0.5
    a[:, :, :2, :2] = 0
    rows, cols = pool_windows(7, 3, 2, 1, 4), pool_windows(8, 3, 2, 1, 4)
    windows = (*rows, *cols)
    weight = (1.0 / ((rows[1] - rows[0])[:, None] * (cols[1] - cols[0])[None]) * 0.9).astype(dtype)
    return a, windows, weight if mode == _core.POOL_AVERAGE else None, rng


@pytest.mark.parametrize("mode", ["average", "max"])
@pytest.mark.parametrize("name", sorted(SEMIRINGS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_equals_the_literal_reference(name, dtype, mode, restore_kernels):
    desc = descriptor(name, dtype)
    mode = _core.POOL_MAX if mode == "max" else _core.POOL_AVERAGE
    a, windows, weight, rng = pool_layer(dtype, mode)
    r_out = relevance_above(desc, (2, 3, 4, 4), rng)
    got = each_isa(lambda: _core.pool_relevance(desc, a, r_out, mode, windows, weight,
                                                theta=THETA))
    want = reference_pool(desc, a, r_out, mode, windows, weight, THETA)
    assert_matches(name, got, want)


# ---- the built-ins re-declared ----

BUILT_INS = {"real": _core.SEMIRING_REAL, "boolean": _core.SEMIRING_BOOLEAN,
             "counting": _core.SEMIRING_COUNTING, "viterbi": _core.SEMIRING_VITERBI}


def assert_equals_built_in(name, got, want):
    assert got.dtype == want.dtype
    if name in ("boolean", "counting"):
        np.testing.assert_array_equal(got, want)
    else:  # the built-ins factor the sum or product differently: the same to rounding
        tolerance = 1e-5 if got.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance * np.abs(want).max())


def built_in_r_out(name, desc, shape, rng):
    r = relevance_above(desc, shape, rng)
    return np.abs(r) if name == "viterbi" else r


@pytest.mark.parametrize("name", sorted(BUILT_INS))
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_built_ins_composed_equal_the_built_in_kernels(name, rule, dtype, restore_kernels):
    desc, rule = descriptor(name, dtype), RULES[rule]
    absolute = name == "counting"  # as its descriptor's threshold step
    for isa in ISAS:
        _core.set_isa(isa)
        layer = dense_layer(dtype, rule, seed=3)
        r_out = built_in_r_out(name, desc, layer["out_shape"], layer["rng"])
        args = (layer["a"], layer["w"], den_of(layer, desc), r_out, rule)
        kw = dict(theta=THETA, low=layer["low"], high=layer["high"])
        assert_equals_built_in(
            name, _core.dense_relevance(desc, *args, **kw),
            _core.dense_relevance(BUILT_INS[name], *args, absolute=absolute, **kw))
        geometry = GEOMETRIES["stride_pad_dil_groups"]
        layer = conv_layer(dtype, rule, geometry, seed=3)
        r_out = built_in_r_out(name, desc, layer["out_shape"], layer["rng"])
        args = (layer["a"], layer["w"], den_of(layer, desc), r_out, rule, geometry)
        kw = dict(theta=THETA, low=layer["low"], high=layer["high"])
        assert_equals_built_in(
            name, _core.conv_relevance(desc, *args, **kw),
            _core.conv_relevance(BUILT_INS[name], *args, absolute=absolute, **kw))
        for mode in (_core.POOL_AVERAGE, _core.POOL_MAX):
            a, windows, weight, rng = pool_layer(dtype, mode, seed=3)
            r_out = built_in_r_out(name, desc, (2, 3, 4, 4), rng)
            assert_equals_built_in(
                name, _core.pool_relevance(desc, a, r_out, mode, windows, weight, THETA),
                _core.pool_relevance(BUILT_INS[name], a, r_out, mode, windows, weight, THETA,
                                     absolute))


# ---- threads, batch ----

def big_dense(dtype=np.float64):
    rule = RULES["gamma"]
    layer = dense_layer(dtype, rule, n=6, in_=400, out=300, seed=5)
    return layer, rule


@pytest.mark.parametrize("name", ["max_plus_log_abs", "real", "counting", "log_counting",
                                  "float_counting"])
def test_one_and_two_threads_give_the_same_bits(name, restore_kernels):
    desc = descriptor(name, np.float64)
    layer, rule = big_dense()
    r_out = relevance_above(desc, layer["out_shape"], layer["rng"])
    conv = conv_layer(np.float64, rule, GEOMETRIES["plain"], n=4, c=8, h=24, wd=24, out_c=8,
                      seed=6)
    conv_r = relevance_above(desc, conv["out_shape"], conv["rng"])
    results = []
    for threads in (1, 2):
        sl.set_num_threads(threads)
        results.append((
            _core.dense_relevance(desc, layer["a"], layer["w"], den_of(layer, desc), r_out,
                                  rule, theta=THETA),
            _core.conv_relevance(desc, conv["a"], conv["w"], den_of(conv, desc), conv_r, rule,
                                 GEOMETRIES["plain"], theta=THETA)))
    for one, two in zip(*results):
        assert one.tobytes() == two.tobytes()


@pytest.mark.parametrize("name", ["max_plus_log_abs", "real", "min_max_clip"])
def test_a_sample_alone_equals_it_inside_a_batch(name):
    desc = descriptor(name, np.float32)
    rule = RULES["epsilon"]
    layer = dense_layer(np.float32, rule, n=3)
    r_out = relevance_above(desc, layer["out_shape"], layer["rng"])
    den = den_of(layer, desc)
    batch = _core.dense_relevance(desc, layer["a"], layer["w"], den, r_out, rule)
    alone = _core.dense_relevance(desc, layer["a"][1:2], layer["w"], den[1:2], r_out[1:2], rule)
    assert alone.tobytes() == batch[1:2].tobytes()
    geometry = GEOMETRIES["stride_pad_dil_groups"]
    conv = conv_layer(np.float32, rule, geometry, n=3)
    r_out = relevance_above(desc, conv["out_shape"], conv["rng"])
    den = den_of(conv, desc)
    batch = _core.conv_relevance(desc, conv["a"], conv["w"], den, r_out, rule, geometry)
    alone = _core.conv_relevance(desc, conv["a"][2:], conv["w"], den[2:], r_out[2:], rule,
                                 geometry)
    assert alone.tobytes() == batch[2:].tobytes()


# ---- errors ----

def test_int64_overflow_raises_overflow_error():
    desc = descriptor("counting", np.float64)
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule)
    r_out = np.full(layer["out_shape"], 2**62, np.int64)
    # theta -inf: every pair passes, so each R_j sums 11 counts of 2**62
    with pytest.raises(OverflowError):
        _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"], r_out, rule,
                              theta=-INF)
    small = np.ones(layer["out_shape"], np.int64)
    got = _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"], small, rule,
                                theta=-INF)
    np.testing.assert_array_equal(got, np.full(layer["a"].shape, 11))


def test_a_nan_raises_value_error_naming_the_semiring():
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule)
    # log of negative coefficients, then times: NaN
    desc = (_core.ADD_PLUS, _core.MUL_TIMES, F64, 0.0, 1.0, _core.SOURCE_COEFFICIENT, (LOG,))
    r_out = np.ones(layer["out_shape"])
    with pytest.raises(ValueError, match=r"add=plus, mul=times.*NaN"):
        _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"], r_out, rule)
    # max-plus with R_k = +inf beside log 0 = -inf: inf - inf; max would drop it
    desc = descriptor("max_plus_log_abs", np.float64)
    r_out = np.full(layer["out_shape"], np.inf)
    with pytest.raises(ValueError, match=r"add=max, mul=plus.*NaN"):
        _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"], r_out, rule)
    a, windows, weight, rng = pool_layer(np.float64, _core.POOL_AVERAGE)
    with pytest.raises(ValueError, match="NaN"):
        _core.pool_relevance(desc, a, np.full((2, 3, 4, 4), np.inf), _core.POOL_AVERAGE,
                             windows, weight)


GOOD = (_core.ADD_MAX, _core.MUL_PLUS, F64, -INF, 0.0, _core.SOURCE_COEFFICIENT, (ABS, LOG))


def _with(index, value):
    return GOOD[:index] + (value,) + GOOD[index + 1:]


@pytest.mark.parametrize("desc, error, match", [
    (GOOD[:6], TypeError, "7 items"),
    (_with(0, 6), ValueError, "add"),
    (_with(0, 1.0), TypeError, "add"),
    (_with(1, -1), ValueError, "mul"),
    (_with(2, np.dtype("int32").num), ValueError, "elem"),
    (_with(3, float("nan")), ValueError, "zero"),
    (_with(4, "0"), TypeError, "one"),
    (_with(5, 2), ValueError, "source"),
    (_with(6, [ABS]), TypeError, "steps"),
    (_with(6, ((9, 0.0, 0.0),)), ValueError, "step 0's kind"),
    (_with(6, ((_core.STEP_CLIP, 2.0),)), TypeError, "step 0"),
    (_with(6, (clip(2, 1),)), ValueError, "lo must be <= hi"),
    (_with(6, (clip(float("nan"), 1),)), ValueError, "step 0's p1"),
    (_with(6, (threshold(), ABS)), ValueError, "last step"),
    (_with(6, ((_core.STEP_THRESHOLD, 0.5, 0.0),)), ValueError, "absolute"),
    (_with(6, (ABS,) * 9), ValueError, "at most 8"),
    ((_core.ADD_PLUS, _core.MUL_TIMES, I64, 0.0, 1.0, 0, (ABS,)), ValueError, "threshold"),
    ((_core.ADD_PLUS, _core.MUL_TIMES, I64, 0.5, 1.0, 0, (threshold(),)), ValueError, "exact"),
    ((_core.ADD_OR, _core.MUL_AND, BOOL, 0.0, 2.0, 0, (threshold(),)), ValueError, "exact"),
    ((_core.ADD_MAX, _core.MUL_PLUS, F32, 1e300, 0.0, 0, (ABS,)), ValueError, "exact"),
    ((_core.ADD_LOGADDEXP, _core.MUL_PLUS, I64, 0.0, 1.0, 0, (threshold(),)), ValueError,
     "logaddexp"),
])
def test_malformed_descriptors_raise_naming_the_field(desc, error, match):
    layer = dense_layer(np.float64, RULES["zero"])
    r_out = np.zeros(layer["out_shape"])
    with pytest.raises(error, match=match):
        _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"], r_out, RULES["zero"])
    a, windows, weight, _ = pool_layer(np.float64, _core.POOL_AVERAGE)
    with pytest.raises(error, match=match):
        _core.pool_relevance(desc, a, np.zeros((2, 3, 4, 4)), _core.POOL_AVERAGE, windows,
                             weight)


def test_r_out_must_have_the_element_dtype():
    layer = dense_layer(np.float64, RULES["zero"])
    desc = descriptor("counting", np.float64)
    with pytest.raises(TypeError, match="r_out must have dtype int64"):
        _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"],
                              np.zeros(layer["out_shape"]), RULES["zero"])


def test_the_contract_constants():
    assert [_core.ADD_PLUS, _core.ADD_MAX, _core.ADD_MIN, _core.ADD_OR, _core.ADD_AND,
            _core.ADD_LOGADDEXP] == list(range(6))
    assert [_core.MUL_TIMES, _core.MUL_PLUS, _core.MUL_MIN, _core.MUL_MAX,
            _core.MUL_AND] == list(range(5))
    assert [_core.SOURCE_COEFFICIENT, _core.SOURCE_VITERBI] == [0, 1]
    assert [_core.STEP_ABS, _core.STEP_LOG, _core.STEP_CLIP, _core.STEP_THRESHOLD] == [0, 1, 2, 3]


# ---- tier notes, Ctrl-C ----

def test_each_call_notes_its_one_tier():
    desc = descriptor("min_max_clip", np.float64)
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule)
    conv = conv_layer(np.float64, rule, GEOMETRIES["plain"])
    a, windows, weight, _ = pool_layer(np.float64, _core.POOL_MAX)
    _core.trace_start()
    try:
        _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"],
                              np.ones(layer["out_shape"]), rule)
        _core.conv_relevance(desc, conv["a"], conv["w"], conv["z"], np.ones(conv["out_shape"]),
                             rule, GEOMETRIES["plain"])
        _core.pool_relevance(desc, a, np.ones((2, 3, 4, 4)), _core.POOL_MAX, windows)
        notes = _core.trace_take()
    finally:
        _core.trace_stop()
    assert notes == ["dense.composed.blocks", "conv.composed.planes", "pool.composed.windows"]


def test_ctrl_c_stops_a_long_composed_call():
    desc = descriptor("log_counting", np.float64)
    rule = RULES["zero"]
    rng = np.random.default_rng(7)
    # 4 x 64 x 48 x 48 x 64 x 9 pairs of logaddexp: seconds of work
    a = rng.normal(size=(4, 64, 48, 48))
    w = rng.normal(size=(64, 64, 3, 3))
    geometry = (1, 1, 1, 1, 1, 1, 1)
    z = np.ones((4, 64, 48, 48))
    r_out = np.zeros((4, 64, 48, 48))
    # log-counts spread past LOG_COUNTING_SPREAD: the generic tier (the
    # intervals tier would finish this within the timer's 0.2 s)
    r_out[0, 0, 0, 0] = -700.0
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        _core.conv_relevance(desc, a, w, z, r_out, rule, geometry, theta=-INF)
    timer.join()
    assert time.perf_counter() - start < 0.2 + 1.5  # it stops between planes


# ---- float counting and log-counting by the intervals tier ----
# composed_counting.h: plus/times (float counting) and logaddexp/plus
# (log-counting) over float64 of a lone threshold run by the built-in
# Counting's intervals tier, dense (rules but z^B) and unit-stride conv.

COUNTING_FORMS = ("float_counting", "log_counting")
# a spread of log-counts past which log-counting takes the generic tier
# (LOG_COUNTING_SPREAD in composed_counting.h)
LOG_COUNTING_SPREAD = 600.0
# unit stride with padding 1 x 2, dilation 2 x 1 and two groups
UNIT_STRIDE_GEOMETRY = (1, 1, 1, 2, 2, 1, 2)


def counting_descriptor(name, absolute):
    add, mul, elem, zero, one, source, _ = SEMIRINGS[name]
    return (add, mul, elem, zero, one, source, (threshold(absolute),))


def traced(call):
    """call()'s result and the tiers it noted."""
    _core.trace_start()
    try:
        result = call()
        notes = _core.trace_take()
    finally:
        _core.trace_stop()
    return result, notes


def counting_r_out(desc, shape, rng):
    """relevance_above's values (some the zero), the last sample's all the
    zero (log-counting: every R_k -inf)."""
    r = relevance_above(desc, shape, rng)
    r[-1] = desc[3]
    return r


def assert_counting_matches(name, got, want):
    """Float counting adds the same R_k in the same order as the reference:
    the same bits. Log-counting sums exp(R_k - M) instead of chaining
    logaddexp: the same to rounding (atol: an R_j that cancels to near 0)."""
    assert got.dtype == want.dtype == np.float64 and got.shape == want.shape
    if name == "float_counting":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def dense_counting(name, desc, rule, layer, r_out, theta):
    return traced(lambda: each_isa(lambda: _core.dense_relevance(
        desc, layer["a"], layer["w"], layer["z"], r_out, rule, theta=theta, low=layer["low"],
        high=layer["high"])))


def conv_counting(name, desc, rule, layer, r_out, theta, geometry=UNIT_STRIDE_GEOMETRY):
    return traced(lambda: each_isa(lambda: _core.conv_relevance(
        desc, layer["a"], layer["w"], layer["z"], r_out, rule, geometry, theta=theta,
        low=layer["low"], high=layer["high"])))


def dense_reference(desc, rule, layer, r_out, theta):
    pairs = dense_pairs(*layer["a"].shape, layer["w"].shape[0])
    return reference_weighted(desc, rule, layer["a"], layer["w"], layer["low"], layer["high"],
                              layer["z"], r_out, pairs, theta)


def conv_reference(desc, rule, layer, r_out, theta, geometry=UNIT_STRIDE_GEOMETRY):
    pairs, _ = conv_pairs(layer["a"].shape, layer["w"].shape, geometry)
    return reference_weighted(desc, rule, layer["a"], layer["w"], layer["low"], layer["high"],
                              layer["z"], r_out, pairs, theta)


# theta 0: every pair of a positive d passes; 0.05 and 0.7: some fail; -0.3:
# all but the most negative d pass (without absolute)
COUNTING_THETAS = (0.0, 0.05, 0.7, -0.3)


@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("name", COUNTING_FORMS)
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_counting_forms_take_the_intervals_tier_and_equal_the_reference(
        name, rule, dtype, absolute, restore_kernels):
    desc, rule_name, rule = counting_descriptor(name, absolute), rule, RULES[rule]
    # dense: 9 samples (past a group of 8), 531 inputs (past a block of 512)
    dense = dense_layer(dtype, rule, n=9, in_=531, out=13, seed=11)
    # conv: rows of 19 inputs (past 16 lanes)
    conv = conv_layer(dtype, rule, UNIT_STRIDE_GEOMETRY, n=2, c=4, h=6, wd=19, out_c=6, kh=3,
                      kw=3, seed=12)
    dense_r = counting_r_out(desc, dense["out_shape"], dense["rng"])
    conv_r = counting_r_out(desc, conv["out_shape"], conv["rng"])
    passed = failed = 0
    for theta in COUNTING_THETAS:
        want = dense_reference(desc, rule, dense, dense_r, theta)
        got, notes = dense_counting(name, desc, rule, dense, dense_r, theta)
        assert_counting_matches(name, got, want)
        tier = "dense.composed.blocks" if rule_name == "zbox" else f"dense.composed.{name}"
        assert notes == [tier] * len(ISAS)
        want = conv_reference(desc, rule, conv, conv_r, theta)
        got, notes = conv_counting(name, desc, rule, conv, conv_r, theta)
        assert_counting_matches(name, got, want)
        assert notes == [f"conv.composed.{name}"] * len(ISAS)
        # the verdicts behind the sums: some R_j summed nothing, some something
        zero = desc[3]
        passed += np.count_nonzero(want != zero)
        failed += np.count_nonzero(want[:-1] == zero)
    assert passed > 0 and failed > 0


@pytest.mark.parametrize("rule", ["zero", "gamma"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_counting_sums_whole_fields_where_every_pair_passes(rule, dtype, restore_kernels):
    # absolute threshold: an input j with |a_j| times its channel's least
    # |rho(w)| at or above every output's least passing |n| passes with its
    # whole field, summed channel by channel (conv_thresholds.h); beside it
    # in the same 16 lanes, inputs small enough to fail some pairs, a
    # channel with a zero weight (never whole) and an output at z = 0 (no
    # pair passes)
    desc, rule = counting_descriptor("log_counting", True), RULES[rule]
    layer = conv_layer(dtype, rule, UNIT_STRIDE_GEOMETRY, n=2, c=8, h=7, wd=21, out_c=6, kh=3,
                       kw=3, seed=19)
    a, rng = layer["a"], layer["rng"]
    a[...] = np.where(rng.random(a.shape) < 0.3, a * dtype(1e-4), a)
    a[:, :, :, ::5] = 0
    layer["w"][1, 2, 0, 0] = 0  # input channel 2 (group 0) has a zero weight
    layer["z"][0, 3, 2, 4] = 0
    r_out = counting_r_out(desc, layer["out_shape"], rng)
    r_out[0, 3, 2, 4] = 1.5
    theta = 2e-3
    want = conv_reference(desc, rule, layer, r_out, theta)
    got, notes = conv_counting("log_counting", desc, rule, layer, r_out, theta)
    assert notes == ["conv.composed.log_counting"] * len(ISAS)
    assert_counting_matches("log_counting", got, want)
    # both kinds of inputs are there: small ones that lose pairs, large ones
    every = np.isfinite(want[0]) & (np.abs(a[0]) > 1e-2)
    assert every.sum() > 50 and (np.isfinite(want[0]) & (np.abs(a[0]) < 1e-3)).sum() > 10


def test_a_strided_conv_takes_the_generic_tier_with_the_same_bits(restore_kernels):
    desc = counting_descriptor("float_counting", True)
    rule = RULES["zero"]
    geometry = GEOMETRIES["stride_pad_dil_groups"]
    conv = conv_layer(np.float64, rule, geometry, seed=13)
    r_out = counting_r_out(desc, conv["out_shape"], conv["rng"])
    got, notes = conv_counting("float_counting", desc, rule, conv, r_out, THETA, geometry)
    assert notes == ["conv.composed.planes"] * len(ISAS)
    assert_counting_matches("float_counting", got,
                            conv_reference(desc, rule, conv, r_out, THETA, geometry))


@pytest.mark.parametrize("spread, tier", [(LOG_COUNTING_SPREAD - 1, "log_counting"),
                                          (LOG_COUNTING_SPREAD + 1, None)])
def test_log_counting_spread_past_600_takes_the_generic_tier(spread, tier, restore_kernels):
    desc = counting_descriptor("log_counting", True)
    rule = RULES["epsilon"]
    dense = dense_layer(np.float64, rule, seed=14)
    conv = conv_layer(np.float64, rule, UNIT_STRIDE_GEOMETRY, seed=15)
    for family, layer, run, reference, generic in (
            ("dense", dense, dense_counting, dense_reference, "blocks"),
            ("conv", conv, conv_counting, conv_reference, "planes")):
        r_out = layer["rng"].normal(size=layer["out_shape"]) + 3.0
        r_out[0].flat[::3] = -np.inf
        # one sample's finite log-counts spread `spread`: the call's tier
        r_out[-1].flat[1] = r_out[-1].max() - spread
        got, notes = run("log_counting", desc, rule, layer, r_out, -INF)
        assert notes == [f"{family}.composed.{tier or generic}"] * len(ISAS)
        want = reference(desc, rule, layer, r_out, -INF)
        assert_counting_matches("log_counting", got, want)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_log_counting_with_an_r_k_of_inf_or_nan_raises_value_error(bad):
    # the generic tier: -inf (a failing pair) + inf, or a NaN R_k
    desc = counting_descriptor("log_counting", False)
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule)
    r_out = np.zeros(layer["out_shape"])
    r_out[0, 1] = bad
    with pytest.raises(ValueError, match="NaN"):
        _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"], r_out, rule,
                              theta=THETA)


def test_float_counting_with_inf_on_a_failing_pair_raises_value_error():
    desc = counting_descriptor("float_counting", False)
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule)
    a, z = layer["a"], layer["z"]
    assert np.all(a[:, 0] == 0)  # input 0 fails at every output (d = 0 < THETA)
    r_out = np.ones(layer["out_shape"])
    r_out[0, 1] = np.inf  # 0 * inf
    with pytest.raises(ValueError, match=r"add=plus, mul=times.*NaN"):
        _core.dense_relevance(desc, a, layer["w"], z, r_out, rule, theta=THETA)
    conv = conv_layer(np.float64, rule, UNIT_STRIDE_GEOMETRY)
    r_out = np.ones(conv["out_shape"])
    r_out[1, 2, 3, 4] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        _core.conv_relevance(desc, conv["a"], conv["w"], conv["z"], r_out, rule,
                             UNIT_STRIDE_GEOMETRY, theta=10.0)
    r_out[1, 2, 3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _core.conv_relevance(desc, conv["a"], conv["w"], conv["z"], r_out, rule,
                             UNIT_STRIDE_GEOMETRY, theta=-INF)


def test_float_counting_with_inf_where_the_intervals_tier_skips_pairs(restore_kernels):
    desc = counting_descriptor("float_counting", False)
    rule = RULES["zero"]
    layer = dense_layer(np.float64, rule)
    # z_k = 0 gives every pair of output 0 d = 0, which THETA fails: no pair
    # of it passes, the intervals tier skips it, the generic tier forms 0 * inf
    assert layer["z"][0, 0] == 0
    r_out = np.ones(layer["out_shape"])
    r_out[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        _core.dense_relevance(desc, layer["a"], layer["w"], layer["z"], r_out, rule,
                              theta=THETA)
    # theta -inf: every pair passes, R_j is inf without a NaN
    got, notes = dense_counting("float_counting", desc, rule, layer, r_out, -INF)
    assert notes == ["dense.composed.blocks"] * len(ISAS)
    assert np.all(got[0] == np.inf) and np.all(np.isfinite(got[1:]))
    assert_counting_matches("float_counting", got,
                            dense_reference(desc, rule, layer, r_out, -INF))


@pytest.mark.parametrize("name", COUNTING_FORMS)
def test_counting_forms_depend_on_neither_threads_nor_batch(name, restore_kernels):
    desc = counting_descriptor(name, True)
    rule = RULES["gamma"]
    dense = dense_layer(np.float64, rule, n=10, in_=1100, out=70, seed=16)
    conv = conv_layer(np.float64, rule, UNIT_STRIDE_GEOMETRY, n=3, c=6, h=20, wd=37, out_c=8,
                      seed=17)
    dense_r = counting_r_out(desc, dense["out_shape"], dense["rng"])
    conv_r = counting_r_out(desc, conv["out_shape"], conv["rng"])

    def both(rows):
        return (_core.dense_relevance(desc, dense["a"][rows], dense["w"], dense["z"][rows],
                                      dense_r[rows], rule, theta=THETA),
                _core.conv_relevance(desc, conv["a"][rows], conv["w"], conv["z"][rows],
                                     conv_r[rows], rule, UNIT_STRIDE_GEOMETRY, theta=THETA))

    results = []
    for threads in (1, 2):
        sl.set_num_threads(threads)
        result, notes = traced(lambda: both(slice(None)))
        assert notes == [f"dense.composed.{name}", f"conv.composed.{name}"]
        results.append(result)
    for one, two in zip(*results):
        assert one.tobytes() == two.tobytes()
    for one, alone in zip(results[0], both(slice(1, 2))):
        assert one[1:2].tobytes() == alone.tobytes()
