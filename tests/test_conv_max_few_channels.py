"""Viterbi's transposed max product for layers of 4 to 8 input channels
(csrc/conv/conv_max_few_channels.h; z^B's stacked layers, 2 to 8, in
test_conv_sparse_max.py) against the packed product it stands in for. A layer with zero-valued input channels added (9 and more in all, so
the packed product runs) has the same maxima on its first channels: the
added channels only add rows to the product's output, and their inputs are
0. So the tier must give the packed product's bits on those channels."""
import numpy as np
import pytest
from reference import ISAS

import semiring_lrp as sl
from semiring_lrp import _core

RULES = {"zero": (_core.RULE_ZERO, 0.0, 0, 0.0), "gamma": (_core.RULE_GAMMA, 0.0, 0, 0.25)}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_c, kernel, pad", [(4, (3, 3), (1, 1)), (5, (2, 4), (0, 2)),
                                               (8, (3, 3), (2, 0)), (6, (1, 1), (0, 0))])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_few_channels_give_the_packed_products_bits(isa, dtype, in_c, kernel, pad, rule,
                                                    restore_kernels):
    _core.set_isa(isa)
    rng = np.random.default_rng(in_c * 100 + kernel[1])
    n, out_c, h, w = 2, 6, 7, 37  # 37 columns: two blocks of 16 and a partial one
    a = rng.normal(size=(n, in_c, h, w)).astype(dtype)
    a[rng.uniform(size=a.shape) < 0.3] = 0
    weight = rng.normal(size=(out_c, in_c) + kernel).astype(dtype)
    bias = np.zeros(out_c, dtype)
    geometry = (1, 1, pad[0], pad[1], 1, 1, 1)
    m = _core.conv_absmax(a, weight, bias, RULES[rule], geometry)
    r_out = rng.uniform(size=m.shape).astype(dtype)
    r_out[rng.uniform(size=m.shape) < 0.4] = 0

    with sl.trace_tiers() as trace:
        got = _core.conv_relevance(_core.SEMIRING_VITERBI, a, weight, m, r_out, RULES[rule],
                                   geometry)
    assert trace.records == [(None, None, "conv.viterbi.few_channels")]

    extra = 9 - in_c + 2
    a_wide = np.concatenate([a, np.zeros((n, extra, h, w), dtype)], axis=1)
    w_wide = np.concatenate([weight, rng.normal(size=(out_c, extra) + kernel).astype(dtype)],
                            axis=1)
    with sl.trace_tiers() as trace:
        want = _core.conv_relevance(_core.SEMIRING_VITERBI, a_wide, w_wide, m, r_out,
                                    RULES[rule], geometry)
    assert trace.records in ([(None, None, "conv.viterbi.packed_product")],
                             [(None, None, "conv.viterbi.sparse_inputs")])
    np.testing.assert_array_equal(got, want[:, :in_c])
    assert got.any() and (got >= 0).all()
