"""Every built-in semiring, on its C kernel, equals the literal reference."""
import numpy as np
import pytest
from reference import literal_relevance, on_generic_path, random_mlp, relative_error

import semiring_lrp as sl
from semiring_lrp import rules

SIZES = [(13, 11, 7, 5), (9, 17, 3), (21, 3, 4), (7, 5, 6, 8, 3)]
RULES = {
    "zero": rules.Zero(),
    "eps": rules.Epsilon(0.1),
    "eps-plus": rules.Epsilon(0.05, variant="plus"),
    "gamma": rules.Gamma(0.25),
    "gamma-eps": rules.Gamma(0.5, eps=0.01),
}


def _case(seed, sizes, dtype):
    rng = np.random.default_rng(seed)
    net = random_mlp(rng, sizes, dtype)
    x = rng.normal(size=(3, sizes[0])).astype(dtype)
    targets = rng.integers(0, sizes[-1], size=3)
    return net, x, targets


def _check(net, x, targets, semiring, kind, rule_list, **ref_kwargs):
    got = sl.relevance(net, x, target=targets, semiring=semiring, rule=rule_list)
    want = literal_relevance(net, x, targets, kind, rule_list, **ref_kwargs)
    assert got.dtype == want.dtype and got.shape == want.shape
    if kind == "real":
        tol = 1e-9 if net.dtype == np.float64 else 1e-4
        assert relative_error(got, want) < tol
    elif kind == "viterbi":
        # exact but for the forward activations, which sum in another order
        rtol = 1e-12 if net.dtype == np.float64 else 1e-5
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0)
    else:
        np.testing.assert_array_equal(got, want)
    return got


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule_name", list(RULES))
@pytest.mark.parametrize("sizes", SIZES)
def test_real_and_viterbi(sizes, rule_name, dtype):
    net, x, targets = _case(1, sizes, dtype)
    rule_list = [RULES[rule_name]] * (len(sizes) - 1)
    _check(net, x, targets, sl.Real(), "real", rule_list)
    _check(net, x, targets, sl.Viterbi(), "viterbi", rule_list)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("theta", [1e-9, 0.0, 0.05, 0.3, -0.2])
@pytest.mark.parametrize("sizes", SIZES)
def test_boolean_and_counting(sizes, theta, absolute, dtype):
    net, x, targets = _case(2, sizes, dtype)
    for rule_name in ("zero", "eps", "gamma"):
        rule_list = [RULES[rule_name]] * (len(sizes) - 1)
        thetas = [theta] * (len(sizes) - 1)
        b = _check(net, x, targets, sl.Boolean(theta, absolute), "boolean", rule_list,
                   thetas=thetas, absolute=absolute)
        c = _check(net, x, targets, sl.Counting(theta, absolute), "counting", rule_list,
                   thetas=thetas, absolute=absolute)
        # a pixel has a relevant path exactly when it has at least one
        np.testing.assert_array_equal(b, c > 0)


@pytest.mark.parametrize("absolute", [False, True])
def test_per_layer_thresholds(absolute):
    sizes = (7, 5, 6, 8, 3)
    net, x, targets = _case(3, sizes, np.float64)
    thetas = [0.01, 0.2, 1e-9, 0.1]
    rule_list = [rules.Zero(), rules.Gamma(0.25), rules.Epsilon(0.01), rules.Zero()]
    for cls, kind in ((sl.Boolean, "boolean"), (sl.Counting, "counting")):
        got = _check(net, x, targets, cls(thetas, absolute), kind, rule_list,
                     thetas=thetas, absolute=absolute)
        # the per-layer list must matter: a single threshold gives another answer
        single = sl.relevance(net, x, target=targets, semiring=cls(0.2, absolute),
                              rule=rule_list)
        assert not np.array_equal(got, single)


def test_zbox_first_layer_all_semirings():
    sizes = (10, 9, 4)
    net, x, targets = _case(4, sizes, np.float64)
    x = np.abs(x)
    box = rules.ZBox(low=np.zeros(10), high=np.full(10, 3.0))
    rule_list = [box, rules.Epsilon(0.01)]
    _check(net, x, targets, sl.Real(), "real", rule_list)
    _check(net, x, targets, sl.Viterbi(), "viterbi", rule_list)
    _check(net, x, targets, sl.Boolean(0.01), "boolean", rule_list, thetas=[0.01, 0.01])
    _check(net, x, targets, sl.Counting(0.01), "counting", rule_list, thetas=[0.01, 0.01])


def test_generic_path_matches_kernels():
    """Subclasses of the built-ins overriding add run on the NumPy path;
    answers must agree."""
    net, x, targets = _case(5, (11, 13, 6), np.float64)
    rule_list = [rules.Gamma(0.3), rules.Epsilon(0.01)]
    for semiring in (sl.Real(), sl.Boolean(0.02), sl.Counting(0.02, absolute=True),
                     sl.Viterbi()):
        generic = on_generic_path(semiring)
        want = sl.relevance(net, x, target=targets, semiring=semiring, rule=rule_list)
        got = sl.relevance(net, x, target=targets, semiring=generic, rule=rule_list)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_zero_denominator_gives_zero_coefficients():
    """z_k == 0 makes every d_jk 0: no NaN, and theta <= 0 lets 0 through."""
    w1 = np.array([[1.0, -1.0], [1.0, 1.0]])
    net = sl.Network([sl.Linear(w1), sl.ReLU(), sl.Linear(np.array([[1.0, 1.0]]))])
    x = np.array([2.0, 2.0])  # first hidden neuron: z = 2 - 2 = 0
    real = sl.relevance(net, x, target=0)
    assert np.all(np.isfinite(real))
    np.testing.assert_allclose(real, [0.5, 0.5])
    assert sl.relevance(net, x, semiring=sl.Counting(0.0), target=0).tolist() == [2, 2]
    assert sl.relevance(net, x, semiring=sl.Counting(1e-9), target=0).tolist() == [1, 1]


@pytest.mark.parametrize("kind", ["boolean", "counting"])
def test_relevance_that_dies_above_leaves_zeros_below(kind):
    """Once no output holds relevance the layers below are skipped (0 absorbs);
    the answer stays the literal reference's."""
    rng = np.random.default_rng(11)
    net = random_mlp(rng, (12, 9, 7, 4), np.float32)
    x = rng.uniform(size=(3, 12)).astype(np.float32)
    targets = np.array([0, 1, 3])
    thetas = [1e-9, 1e-9, 1e9]  # nothing passes the top layer
    semiring = (sl.Boolean if kind == "boolean" else sl.Counting)(thetas)
    got, layers = sl.relevance(net, x, target=targets, semiring=semiring, return_all=True)
    want = literal_relevance(net, x, targets, kind, [rules.Zero()] * 3, thetas=thetas)
    np.testing.assert_array_equal(got, want)
    assert not got.any() and layers[-1].any()
