"""sl.annotations: immutable chains with a readable repr, their domain (what
Semiring.compose checks zero and one against), and their values on a group
of contributions, each computed here from the definitions."""
import math

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp import _core
from semiring_lrp import annotations as an
from semiring_lrp.annotations import Interval


def _contributions(dtype=np.float64):
    """A group of 2 samples x 4 pairs with known numerators, bias terms,
    denominators (one of them 0) and strongest contributions."""
    numerator = np.array([[0.5, -2.0, 0.0, 3.0], [1e-3, 4.0, -0.25, 0.0]], dtype=dtype)
    bias = np.array([[0.1, 0.1, 0.2, 0.2]] * 2, dtype=dtype)
    denominator = np.array([[2.0, 0.0, 4.0, -1.0], [0.5, 8.0, 1.0, 2.0]], dtype=dtype)
    strongest = np.array([[3.0, 2.0, 1.0, 3.0], [4.0, 4.0, 1.0, 1.0]], dtype=dtype)
    return sl.Contributions(numerator, bias, denominator, strongest), numerator, denominator, \
        strongest


CHAINS = [
    an.identity(), an.viterbi(), an.abs(), an.log_abs(), an.clip(-1, 0.5),
    an.abs().then(an.clip(0.25, math.inf)).then(an.log()),
    an.viterbi().then(an.log()),
    an.viterbi().then(an.threshold(0.3, absolute=True)),
    an.threshold([0.1, 0.2]),
    an.abs().then(an.threshold({"fc1": 0.5, "fc2": 1e-9}, pool_threshold=0.25)),
]


@pytest.mark.parametrize("chain", CHAINS, ids=repr)
def test_repr_reads_back_as_the_same_chain(chain):
    names = {name: getattr(an, name) for name in an.__all__}
    again = eval(repr(chain), {**names, "inf": math.inf})
    assert again == chain and hash(again) == hash(chain)


def test_reprs_read_as_written():
    assert repr(an.abs().then(an.log())) == "abs().then(log())"
    assert repr(an.log_abs()) == "abs().then(log())"
    assert repr(an.viterbi().then(an.clip(0.0, 0.5))) == "viterbi().then(clip(0.0, 0.5))"
    assert repr(an.identity()) == "identity()"


def test_chains_are_immutable_and_then_makes_new_ones():
    chain = an.abs()
    longer = chain.then(an.log())
    assert chain.steps == (("abs",),) and longer.steps == (("abs",), ("log",))
    with pytest.raises(AttributeError):
        chain.steps = ()
    with pytest.raises(AttributeError):
        an.threshold(0.1).threshold.theta = 0.2
    assert an.abs() != an.log() and an.abs() == an.abs()


def test_what_a_chain_refuses():
    with pytest.raises(ValueError, match="threshold must be the last step"):
        an.threshold().then(an.abs())
    with pytest.raises(ValueError, match="viterbi\\(\\) is a source"):
        an.abs().then(an.viterbi())
    with pytest.raises(ValueError, match="lo <= hi"):
        an.clip(1, 0)
    with pytest.raises(ValueError, match="NaN"):
        an.clip(float("nan"), 1)
    with pytest.raises(TypeError, match="real number"):
        an.clip("0", 1)
    with pytest.raises(TypeError, match="then\\(\\) takes"):
        an.abs().then(np.log)
    with pytest.raises(TypeError, match="absolute"):
        an.threshold(0.1, absolute="yes")
    with pytest.raises(ValueError, match="NaN"):
        an.threshold(float("nan"))
    with pytest.raises(ValueError, match="empty"):
        an.threshold([])


def test_domains():
    inf = math.inf
    assert an.identity().domain() == Interval(-inf, inf, False, False)
    assert an.viterbi().domain() == Interval(0.0, 1.0)
    assert an.abs().domain() == Interval(0.0, inf, True, False)
    # log 0 = -inf is reached; log inf is not
    assert an.log_abs().domain() == Interval(-inf, inf, True, False)
    assert an.clip(-2, 3).domain() == Interval(-2.0, 3.0)
    assert an.clip(-2, 3).then(an.abs()).domain() == Interval(0.0, 3.0)
    assert an.viterbi().then(an.clip(0.5, 2)).domain() == Interval(0.5, 1.0)
    assert an.viterbi().then(an.log()).domain() == Interval(-inf, 0.0)
    # before the threshold: a threshold's values are the semiring's zero and one
    assert an.abs().then(an.threshold()).domain() == Interval(0.0, inf, True, False)
    with pytest.raises(ValueError, match="log\\(\\) in log\\(\\) may meet negative values"):
        an.log().domain()
    with pytest.raises(ValueError, match="negative"):
        an.clip(-1e-300, 1).then(an.log()).domain()


def test_interval_samples_hold_its_closed_ends_and_inner_points():
    points = Interval(0.0, math.inf, True, False).samples(1e300)
    assert 0.0 in points and 1e300 in points and math.inf not in points
    assert all(p >= 0 for p in points)
    assert Interval(0.25, 0.75).samples(1e300) == [0.25, 0.75, 0.5]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_on_contributions(dtype):
    c, n, z, m = _contributions(dtype)
    d = np.zeros_like(n)
    d[z != 0] = n[z != 0] / z[z != 0]
    viterbi = np.abs(n) / (m + dtype(_core.VITERBI_EPS))
    cases = [
        (an.identity(), d),
        (an.viterbi(), viterbi),
        (an.abs(), np.abs(d)),
        (an.clip(-1, 0.5), np.minimum(np.maximum(d, dtype(-1)), dtype(0.5))),
        (an.viterbi().then(an.clip(0.25, 0.5)), np.minimum(np.maximum(viterbi, dtype(0.25)),
                                                           dtype(0.5))),
    ]
    for chain, want in cases:
        got = chain.values(c)
        assert got.dtype == dtype, chain
        np.testing.assert_array_equal(got, want, err_msg=repr(chain))
    got = an.log_abs().values(c)
    assert got.dtype == dtype
    zero = d == 0
    assert np.all(got[zero] == -np.inf)
    np.testing.assert_allclose(got[~zero], np.log(np.abs(d[~zero]).astype(np.float64)),
                               rtol=1e-6)


def test_threshold_values_in_a_semiring():
    c, n, z, _ = _contributions()
    d = np.where(z != 0, n / np.where(z != 0, z, 1), 0)
    signed = sl.FloatCounting(0.2)
    np.testing.assert_array_equal(signed.annotate_contributions(c, 0), (d >= 0.2) * 1.0)
    absolute = sl.LogCounting(0.2, absolute=True)
    np.testing.assert_array_equal(absolute.annotate_contributions(c, 0),
                                  np.where(np.abs(d) >= 0.2, 0.0, -np.inf))
    # pooling layers read pool_threshold
    pooled = sl.FloatCounting(0.2, pool_threshold=-10.0)
    np.testing.assert_array_equal(pooled.annotate_pooling(c, 0), np.ones_like(d))
    boolean = sl.Semiring.compose(add="or", mul="and", dtype="bool",
                                  annotate=an.threshold([5.0, 0.2]))
    assert boolean.annotate_contributions(c, 0).dtype == np.bool_
    assert not boolean.annotate_contributions(c, 0).any()  # d < 5 everywhere
    np.testing.assert_array_equal(boolean.annotate_contributions(c, 1), d >= 0.2)


@pytest.mark.parametrize("chain", CHAINS, ids=repr)
def test_chains_survive_pickle_and_copy(chain):
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(chain)) == chain
    assert copy.deepcopy(chain) == chain
