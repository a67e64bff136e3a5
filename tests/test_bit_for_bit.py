"""Every C pass gives the same bits as the build that wrote
tests/data/bit_for_bit.json (see tests/bit_for_bit.py): a change of
structure or tuning must not change a single output."""
import json
import warnings

import pytest

import bit_for_bit
from semiring_lrp import RelevanceWarning, _core


@pytest.fixture(scope="module")
def stored():
    with open(bit_for_bit.DIGESTS_FILE) as f:
        return json.load(f)


def test_every_output_matches_the_stored_build(stored):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RelevanceWarning)
        got = bit_for_bit.digests()
    missing = sorted(set(got) - set(stored))
    assert not missing, f"cases with no stored digest: {missing[:5]}"
    differ = sorted(k for k in got if got[k] != stored[k])
    assert not differ, f"{len(differ)} of {len(got)} outputs changed, e.g. {differ[:8]}"


# (L1d, L2, L3): the sizes the products and Winograd's one-pass and wide
# forms take from them (lrp_block_sizes) change no output: an EPYC-like
# core's and two smaller ones' (inner chunk 256, 128, 64; columns 256, 128,
# 128; one-pass bytes 1 MiB, 256 KiB, 256 KiB; wide blocks within 4 MiB,
# 1 MiB and no bound)
@pytest.mark.parametrize("l1d, l2, l3", [(32768, 1 << 20, 32 << 20), (16384, 256 << 10, 8 << 20),
                                         (8192, 128 << 10, 0)])
def test_no_output_depends_on_the_cache_sizes(stored, l1d, l2, l3):
    _core._testing.set_cache_sizes(l1d, l2, l3)
    try:
        blocks = _core.block_sizes()
        assert blocks["product_kc"] == l1d // 128
        assert blocks["winograd_one_pass_bytes"] == max(l2, 256 << 10)
        assert blocks["winograd_wide_bytes"] == l3 / 8
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RelevanceWarning)
            got = bit_for_bit.digests(isas=[_core.isa()], threads=(2,))
    finally:
        _core._testing.set_cache_sizes(0, 0, 0)
    differ = sorted(k for k in got if got[k] != stored[k])
    assert not differ, f"{len(differ)} of {len(got)} outputs changed, e.g. {differ[:8]}"


def test_the_stored_digests_cover_this_cpu(stored):
    isas = {key.split("/")[0] for key in stored}
    assert isas == set(bit_for_bit.ISAS)  # written on a CPU that has every one
    assert len(stored) >= 2000


def test_a_changed_output_is_seen():
    a = bit_for_bit.values((3, 5), 1).astype("float32")
    b = a.copy()
    b.view("uint32")[1, 2] ^= 1
    assert bit_for_bit._digest(a) != bit_for_bit._digest(b)
    assert bit_for_bit._digest(a) != bit_for_bit._digest(a.astype("float64"))
