"""3x3 layers whose forward or real transposed passes go by Winograd's
F(4x4, 3x3) in float32 and F(2x2, 3x3) in float64 (at least 32 channels in,
4 out and tiles of 196 outputs per sample): against the convolution's
definition, on every instruction set, independent of threads and batch, and
the same bits in the wide and the fused form."""
import functools

import numpy as np
import pytest
from reference import ISAS, relative_error

import semiring_lrp as sl
from semiring_lrp import _core, rules
from semiring_lrp.layers import KernelStep
from semiring_lrp.semiring_specs import REAL, spec_named

RULES = {"zero": rules.Zero(), "eps": rules.Epsilon(0.05), "gamma": rules.Gamma(0.25)}


# (in, out, height, width); odd sizes but the last, so the last tiles hang
# over the edge, and channel counts that fill no micro-tile. "tall": 71 rows
# of 16 tiles of 2x2 (36 of 8 of 4x4), more than one block of 4096 outputs
# (64 or 32 tile rows) and a partial one.
# "deep": 260 input channels, past one chunk of 256 rows of the products' B.
# "narrow" and "column": one tile per row, so that the fused form's items of
# 32 to 128 tiles span many tile rows, with no tile (2 columns) or only the
# padding's column (1) inside the input row.
# "small": 7 x 8 tiles of 2x2 (4 x 4 of 4x4), near the fewest that take
# Winograd. "even": rows and columns that fill whole 4x4 tiles or half of
# the last one (the others leave 1 or 3 of its 4). "few": 32
# inputs and 5 outputs, Winograd forward, direct transposed pass; "widening":
# 4 inputs and 40 outputs, the other way round (as VGG-16's z^B layer).
SHAPES = {"wide": (130, 129, 27, 29), "tall": (65, 64, 141, 31), "deep": (260, 66, 27, 29),
          "narrow": (64, 70, 395, 2), "column": (64, 64, 393, 1), "small": (70, 64, 13, 15),
          "few": (32, 5, 19, 17), "widening": (4, 40, 19, 17), "even": (48, 40, 22, 20)}


def _deep_layer(dtype, shape="wide"):
    in_c, out_c, height, width = SHAPES[shape]
    rng = np.random.default_rng(11)
    a = np.maximum(rng.normal(size=(2, in_c, height, width)), 0).astype(dtype)
    w = (rng.normal(size=(out_c, in_c, 3, 3)) / np.sqrt(in_c * 9)).astype(dtype)
    b = (rng.normal(size=out_c) * 0.1).astype(dtype)
    return sl.Conv2d(w, b, padding=1), a, rng


def _padded(x):
    out = np.zeros(x.shape[:2] + (x.shape[2] + 2, x.shape[3] + 2))
    out[:, :, 1:-1, 1:-1] = x
    return out


def _forward_by_definition(a, w, beta):
    """z[n, k, y, x] = sum over (c, u, v) of a[n, c, y + u - 1, x + v - 1] w[k, c, u, v]
    + beta[k], in float64, tap by tap."""
    h, wd = a.shape[2:]
    x = _padded(a)
    z = np.zeros((a.shape[0], w.shape[0], h, wd))
    for u in range(3):
        for v in range(3):
            z += np.einsum("nchw,kc->nkhw", x[:, :, u:u + h, v:v + wd], w[:, :, u, v])
    return z + beta[None, :, None, None]


def _relevance_by_definition(a, w, s):
    """R[n, c, y, x] = a[n, c, y, x] * sum over (k, u, v) of w[k, c, u, v]
    s[n, k, y - u + 1, x - v + 1], in float64."""
    h, wd = a.shape[2:]
    x = _padded(s)
    t = np.zeros(a.shape)
    for u in range(3):
        for v in range(3):
            t += np.einsum("nkhw,kc->nchw", x[:, :, 2 - u:2 - u + h, 2 - v:2 - v + wd],
                           w[:, :, u, v])
    return a * t


@functools.lru_cache(maxsize=1)
def _layer_and_definition(dtype, rule_name, shape):
    """(layer, a, z by the definition; the z and r_out the real relevance
    pass takes and its relevance by the definition), the same on every
    instruction set: the pass is given z rounded from the definition's,
    stabilised. One entry: the instruction sets of one case run in a row."""
    layer, a, rng = _deep_layer(dtype, shape)
    rule = RULES[rule_name]
    w = rule.rho(layer.weight.astype(np.float64))
    beta = rule.rho(layer.bias.astype(np.float64))
    want_z = _forward_by_definition(a.astype(np.float64), w, beta)
    z = rule.stabilise(want_z.astype(dtype))
    r = (z * rng.uniform(0.5, 1.5, size=z.shape)).astype(dtype)
    s = r.astype(np.float64) / z.astype(np.float64)
    return layer, a, want_z, z, r, _relevance_by_definition(a.astype(np.float64), w, s)


# isa varies fastest, so that the cases of one layer share its definition
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("rule_name", RULES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_deep_layer_equals_the_definition(dtype, rule_name, shape, isa, restore_kernels):
    _core.set_isa(isa)
    layer, a, want_z, z, r, want = _layer_and_definition(dtype, rule_name, shape)
    rule = RULES[rule_name]
    tolerance = 1e-5 if dtype == np.float32 else 1e-13

    got_z = layer.weighted_sum(a, rule)
    assert got_z.dtype == dtype and got_z.shape == want_z.shape
    assert relative_error(got_z, want_z) < tolerance

    got = layer.kernel_relevance(KernelStep(REAL, rule=rule, z=z), a, r)
    assert got.dtype == dtype and got.shape == a.shape
    assert relative_error(got, want) < tolerance


@pytest.mark.parametrize("shape", SHAPES)
def test_deep_layer_results_do_not_depend_on_threads_or_batch(shape, restore_kernels):
    layer, a, rng = _deep_layer(np.float32, shape)
    rule = rules.Gamma(0.25)
    runs = []
    for threads in (1, 2, 3):
        sl.set_num_threads(threads)
        z = rule.stabilise(layer.weighted_sum(a, rule))
        r = (z * np.random.default_rng(1).uniform(0.5, 1.5, size=z.shape)).astype(np.float32)
        runs.append((z, layer.kernel_relevance(KernelStep(REAL, rule=rule, z=z), a, r), r))
    for z, rel, _ in runs[1:]:
        np.testing.assert_array_equal(z, runs[0][0])
        np.testing.assert_array_equal(rel, runs[0][1])
    z, rel, r = runs[0]
    alone_z = layer.weighted_sum(a[1:], rule)
    np.testing.assert_array_equal(rule.stabilise(alone_z), z[1:])
    np.testing.assert_array_equal(
        layer.kernel_relevance(KernelStep(REAL, rule=rule, z=z[1:]), a[1:], r[1:]), rel[1:])


def _passes(layer, a, rule):
    z = rule.stabilise(layer.weighted_sum(a, rule))
    r = (z * np.random.default_rng(1).uniform(0.5, 1.5, size=z.shape)).astype(z.dtype)
    return layer.forward(a), z, layer.kernel_relevance(KernelStep(REAL, rule=rule, z=z), a, r)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("isa", ISAS)
def test_fused_and_wide_forms_give_the_same_bits(isa, dtype, shape, restore_kernels):
    """The fused form (one thread per block of tiles through all three
    steps) sums as the wide form (each step over all threads, the tiles as
    the micro-kernel's rows) does; forced on every shape, including "deep",
    whose 260 + 66 channels the automatic choice leaves to the wide form in
    float64, and "few", whose 5 outputs fill one column strip in part."""
    _core.set_isa(isa)
    layer, a, _ = _deep_layer(dtype, shape)
    rule = rules.Gamma(0.25)
    runs = {}
    for mode in ("never", "always", "auto"):
        _core._testing.set_winograd_fusion(mode)
        runs[mode] = _passes(layer, a, rule)
    for mode in ("always", "auto"):
        for got, want in zip(runs[mode], runs["never"]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("isa", ISAS)
def test_short_tiles_give_the_bits_of_whole_tiles(isa, dtype, restore_kernels):
    """A last block of fewer rows than a micro-tile's goes by short tiles of
    4, 2 and 1 rows where the instruction set has them, else by a whole tile
    through a copy: the same bits. The wide form's rows are a sample's tiles
    (float32: 99 for "narrow", 30 for "even", 25 for "few"; float64: 210,
    110, 90), the fused form's the output channels (129, 70, 66, 5) or,
    transposed, the input channels (130, 70, 260): last blocks of 1 to 6 of
    AVX-512's 8 rows and 1 to 5 of AVX2's 6."""
    _core.set_isa(isa)
    for shape in ("wide", "small", "even", "narrow", "deep", "few"):
        layer, a, _ = _deep_layer(dtype, shape)
        for fusion in ("never", "always"):
            _core._testing.set_winograd_fusion(fusion)
            runs = {}
            for short in (True, False):
                _core._testing.set_short_tiles(short)
                assert _core._testing.short_tiles() is short
                runs[short] = _passes(layer, a, rules.Gamma(0.25))
            for got, want in zip(runs[True], runs[False]):
                np.testing.assert_array_equal(got, want, err_msg=f"{shape} {fusion}")


def _wide_blocks(dtype, shape, l3):
    """Blocks per sample of the wide form under an L3 of l3 bytes (0:
    unknown), as conv_winograd.h's winograd_block_rows cuts them: whole tile
    rows, 4096 outputs at most, and V and M (p^2 values per tile and
    channel, in and out) within an eighth of L3 where U (in x out x p^2)
    fits four times that."""
    in_c, out_c, height, width = SHAPES[shape]
    m = 4 if dtype == np.float32 else 2
    xi, size = (m + 2) ** 2, np.dtype(dtype).itemsize
    tile_rows, tw = -(-height // m), -(-width // m)
    rows = 4096 // (m * m) // tw
    budget = l3 / 8
    if budget > 0 and in_c * out_c * xi * size <= 4 * budget:
        rows = min(rows, int(budget / ((in_c + out_c) * xi * size * tw)))
    rows = min(max(rows, 1), tile_rows)
    return -(-tile_rows // rows)


@pytest.mark.parametrize("shape", ["wide", "tall", "deep", "narrow"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wide_blocks_cut_to_the_l3_give_the_same_bits(dtype, shape, restore_kernels):
    """The wide form's blocks, cut to fit an eighth of L3, sum every tile as
    one block per sample does (L3 unknown, or large enough), forward and
    transposed: 8 MiB of L3 cuts these layers into 2 to 24 blocks per
    sample."""
    _core._testing.set_winograd_fusion("never")
    layer, a, _ = _deep_layer(dtype, shape)
    rule = rules.Gamma(0.25)
    runs = {}
    for l3 in (0, 8 << 20):
        _core._testing.set_cache_sizes(32768, 1 << 20, l3)
        assert _core.block_sizes()["winograd_wide_bytes"] == l3 / 8
        runs[l3] = _passes(layer, a, rule)
    assert _wide_blocks(dtype, shape, 8 << 20) >= 2
    assert _wide_blocks(dtype, shape, 0) < _wide_blocks(dtype, shape, 8 << 20)
    for got, want in zip(runs[8 << 20], runs[0]):
        np.testing.assert_array_equal(got, want)


def _fused(trace):
    """The Winograd fused tiers among a trace's records, in call order."""
    return [tier for _, _, tier in trace.records if tier.endswith(".winograd_fused")]


def test_fused_form_is_chosen_where_its_buffers_fit(restore_kernels):
    """auto fuses where V and M of 32 tiles at least fit in a core's L2: with
    1 MiB, 64 + 70 channels in float32 (F(4x4, 3x3): 36 x 136 x 4 bytes per
    tile, 627 KB for 32), not 260 + 66 (36 x 332 x 4: 1.53 MB), nor in
    float64 (F(2x2, 3x3): 16 x 332 x 8, 1.36 MB), whatever the instruction
    set's micro-tile (its rows round 66 up to 72 at most); with 2 MiB, those
    two as well; with 512 KiB, none."""
    _core._testing.set_winograd_fusion("auto")
    for l2, shape, dtype, fused in [(1 << 20, "narrow", np.float32, True),
                                    (1 << 20, "deep", np.float32, False),
                                    (1 << 20, "deep", np.float64, False),
                                    (512 << 10, "narrow", np.float32, False),
                                    (2 << 20, "deep", np.float32, True),
                                    (2 << 20, "deep", np.float64, True)]:
        _core._testing.set_cache_sizes(32768, l2, 0)
        layer, a, _ = _deep_layer(dtype, shape)
        with sl.trace_tiers() as trace:
            layer.forward(a)
        assert _fused(trace) == (["conv.forward.winograd_fused"] if fused else []), (shape, dtype)
    _core._testing.set_winograd_fusion("never")
    with sl.trace_tiers() as trace:
        _passes(*_deep_layer(np.float32, "narrow")[:2], rules.Gamma(0.25))
    assert _fused(trace) == []
    _core._testing.set_winograd_fusion("always")
    with sl.trace_tiers() as trace:
        _passes(*_deep_layer(np.float32, "narrow")[:2], rules.Gamma(0.25))
    # layer.forward, weighted_sum (forward passes) and kernel_relevance (real)
    assert _fused(trace) == ["conv.forward.winograd_fused"] * 2 + ["conv.real.winograd_fused"]


def test_fusion_mode_switch(restore_kernels):
    for mode in ("never", "always", "auto"):
        _core._testing.set_winograd_fusion(mode)
        assert _core._testing.winograd_fusion() == mode
    with pytest.raises(ValueError, match="fusion mode 'sometimes'"):
        _core._testing.set_winograd_fusion("sometimes")
    with pytest.raises(TypeError, match="must be a str"):
        _core._testing.set_winograd_fusion(1)
    assert _core._testing.winograd_fusion() == "auto"


# (in, out, height, width, stride): strided 3x3 layers, whose real pass goes
# by the layer at unit stride over the ratios spread to its outputs with
# zeros between; Winograd's sizes (32 outputs and more) and a small one, odd
# and even sizes (an even one leaves its last row and column to no window of
# stride 2), strides along rows only
STRIDED = {"halving": (64, 48, 29, 27, (2, 2)), "even": (40, 64, 30, 28, (2, 2)),
           "rows": (36, 33, 25, 21, (2, 1)), "small": (8, 6, 9, 7, (2, 2))}


def _strided_case(dtype, shape):
    """(layer, a, z, r, the real relevance by the definition) at gamma 0.25:
    the ratios r / z at the strided outputs' places among the unit-stride
    layer's outputs, zeros elsewhere, through `_relevance_by_definition`."""
    in_c, out_c, height, width, stride = STRIDED[shape]
    rng = np.random.default_rng(12)
    a = np.maximum(rng.normal(size=(2, in_c, height, width)), 0).astype(dtype)
    w = (rng.normal(size=(out_c, in_c, 3, 3)) / np.sqrt(in_c * 9)).astype(dtype)
    layer = sl.Conv2d(w, (rng.normal(size=out_c) * 0.1).astype(dtype), stride=stride, padding=1)
    rule = RULES["gamma"]
    z = rule.stabilise(layer.weighted_sum(a, rule))
    r = (z * rng.uniform(0.5, 1.5, size=z.shape)).astype(dtype)
    spread = np.zeros((2, out_c, height, width))
    spread[:, :, ::stride[0], ::stride[1]] = r.astype(np.float64) / z.astype(np.float64)
    want = _relevance_by_definition(a.astype(np.float64), rule.rho(w.astype(np.float64)),
                                    spread)
    return layer, a, z, r, want


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", STRIDED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_strided_real_pass_equals_the_definition(dtype, shape, isa, restore_kernels):
    _core.set_isa(isa)
    layer, a, z, r, want = _strided_case(dtype, shape)
    step = KernelStep(REAL, rule=RULES["gamma"], z=z)
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    runs = []
    for fusion in ("never", "always"):
        _core._testing.set_winograd_fusion(fusion)
        with sl.trace_tiers() as trace:
            got = layer.kernel_relevance(step, a, r)
        assert got.dtype == dtype and got.shape == a.shape
        assert relative_error(got, want) < tolerance
        tier = trace.records[-1][2]
        assert tier.startswith("conv.real.spread_"), tier
        assert ("winograd" in tier) == (shape != "small"), tier
        runs.append(got)
    np.testing.assert_array_equal(runs[0].view(np.uint8), runs[1].view(np.uint8))
    for threads in (1, 3):  # and the bits of one sample alone
        sl.set_num_threads(threads)
        np.testing.assert_array_equal(layer.kernel_relevance(step, a, r), got)
    alone = KernelStep(REAL, rule=RULES["gamma"], z=z[1:])
    np.testing.assert_array_equal(layer.kernel_relevance(alone, a[1:], r[1:]), got[1:])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", STRIDED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_strided_viterbi_pass_equals_the_definition(dtype, shape, isa, restore_kernels):
    """R_j = |a_j| max_k |w_jk| q_k, q = R / (m + 1e-9) with m = absmax, the
    maximum over the unit-stride layer's outputs with q spread there."""
    _core.set_isa(isa)
    layer, a, _, _, _ = _strided_case(dtype, shape)
    stride = layer.stride
    rule = rules.Zero()
    m = layer.absmax(a, rule)
    r = np.abs(np.random.default_rng(13).normal(size=m.shape)).astype(dtype)
    r.flat[::3] = 0
    q = np.zeros((2, m.shape[1]) + a.shape[2:])
    q[:, :, ::stride[0], ::stride[1]] = r.astype(np.float64) / (m.astype(np.float64) + 1e-9)
    h, wd = a.shape[2:]
    padded, w = _padded(q), np.abs(layer.weight.astype(np.float64))
    best = np.zeros(a.shape)
    for u in range(3):
        for v in range(3):
            window = padded[:, :, 2 - u:2 - u + h, 2 - v:2 - v + wd]  # (n, k, h, w)
            terms = window[:, :, None] * w[None, :, :, u, v, None, None]  # (n, k, c, h, w)
            best = np.maximum(best, terms.max(axis=1))
    want = np.abs(a.astype(np.float64)) * best
    with sl.trace_tiers() as trace:
        got = layer.kernel_relevance(KernelStep(spec_named("viterbi"), rule=rule, z=m), a, r)
    assert trace.records[-1][2].startswith("conv.viterbi.spread_"), trace.records
    assert got.dtype == dtype and got.shape == a.shape and want.max() > 0
    assert relative_error(got, want) < (1e-5 if dtype == np.float32 else 1e-13)
