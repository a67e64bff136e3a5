"""Bad input gets an exception naming the problem; odd layouts still work."""
import numpy as np
import pytest
import torch
from reference import random_mlp

import semiring_lrp as sl


@pytest.fixture
def net():
    return random_mlp(np.random.default_rng(0), (12, 8, 5), np.float64)


@pytest.fixture
def x():
    return np.random.default_rng(1).uniform(0, 1, size=(4, 12))


@pytest.mark.parametrize("bad,match", [
    (np.zeros((4, 11)), "12 features"),
    (np.zeros(13), r"shape \(13,\)"),
    (np.zeros((0, 12)), "empty batch"),
])
def test_wrong_shapes(net, bad, match):
    with pytest.raises(ValueError, match=match):
        sl.relevance(net, bad)


@pytest.mark.parametrize("bad,match", [
    (np.array(["a"] * 12), "real numbers"),
    (np.zeros(12, dtype=complex), "complex"),
    (np.zeros(12, dtype=object), "object"),
])
def test_wrong_dtypes(net, bad, match):
    with pytest.raises(TypeError, match=match):
        sl.relevance(net, bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input(net, x, value):
    x[2, 5] = value
    with pytest.raises(ValueError, match=r"NaN or infinity \(first at batch index \(2, 5\)"):
        sl.relevance(net, x)


def test_float64_input_overflowing_float32_is_reported(x):
    net32 = random_mlp(np.random.default_rng(0), (12, 8, 5), np.float32)
    x[0, 0] = 1e300
    with pytest.raises(ValueError, match="float32"):
        sl.relevance(net32, x)


@pytest.mark.parametrize("target,error,match", [
    (5, ValueError, "out of range"),
    (-1, ValueError, "out of range"),
    ([0, 1, 2], ValueError, "one per sample"),
    (1.5, TypeError, "integer"),
    (True, TypeError, "integer"),
])
def test_bad_targets(net, x, target, error, match):
    with pytest.raises(error, match=match):
        sl.relevance(net, x, target=target)


def test_unknown_semiring(net, x):
    with pytest.raises(TypeError, match="unknown semiring"):
        sl.relevance(net, x, semiring="boolean")


def test_threshold_list_length_checked(net, x):
    with pytest.raises(ValueError, match="3 thresholds but the network has 2 weighted"):
        sl.relevance(net, x, semiring=sl.Boolean([0.1, 0.2, 0.3]))


@pytest.mark.parametrize("make,error", [
    (lambda: sl.Boolean(threshold=float("nan")), ValueError),
    (lambda: sl.Counting(threshold="0.1"), TypeError),
    (lambda: sl.Boolean(absolute="yes"), TypeError),
    (lambda: sl.rules.Epsilon(-1.0), ValueError),
    (lambda: sl.rules.Gamma(float("inf")), ValueError),
    (lambda: sl.rules.ZBox(low=[0.0, np.nan], high=1.0), ValueError),
])
def test_bad_parameters(make, error):
    with pytest.raises(error):
        make()


def test_rule_list_length_checked(net, x):
    with pytest.raises(ValueError, match="3 rules for 2 weighted layers"):
        sl.relevance(net, x, rule=[sl.rules.Zero()] * 3)
    with pytest.raises(TypeError, match="not a semiring_lrp.rules rule"):
        sl.relevance(net, x, rule=[sl.rules.Zero(), "eps"])


def test_init_checked(net, x):
    with pytest.raises(ValueError, match="init must be"):
        sl.relevance(net, x, init="ones")
    with pytest.raises(ValueError, match="needs the real semiring"):
        sl.relevance(net, x, semiring=sl.Boolean(), init="activation")


def test_layouts_and_dtypes_give_the_same_answer(net, x):
    want = sl.relevance(net, x, target=2, semiring=sl.Counting(0.01))
    fortran = np.asfortranarray(x)
    strided = np.zeros((8, 24))
    strided[::2, ::2] = x
    variants = [fortran, strided[::2, ::2], x.astype(np.float32).astype(np.float64),
                x.tolist(), torch.tensor(x)]
    for variant in variants:
        got = sl.relevance(net, variant, target=2, semiring=sl.Counting(0.01))
        np.testing.assert_array_equal(got, want)
    # a float32 input to a float64 network is the float32 values, exactly
    got32 = sl.relevance(net, x.astype(np.float32), target=2)
    np.testing.assert_array_equal(got32, sl.relevance(net, x.astype(np.float32).astype(
        np.float64), target=2))


def test_float32_network(net, x):
    net32 = net.astype(np.float32)
    r32 = sl.relevance(net32, x, target=1)
    r64 = sl.relevance(net, x, target=1)
    assert r32.dtype == np.float32
    np.testing.assert_allclose(r32, r64, rtol=1e-4, atol=1e-5 * np.abs(r64).max())


def test_single_sample_and_batch_agree(net, x):
    batch = sl.relevance(net, x, target=[0, 1, 2, 3], semiring=sl.Viterbi())
    for i in range(4):
        single = sl.relevance(net, x[i], target=i, semiring=sl.Viterbi())
        assert single.shape == (12,)
        np.testing.assert_array_equal(single, batch[i])


def test_default_target_is_prediction(net, x):
    predicted = net.forward(x).argmax(axis=1)
    np.testing.assert_array_equal(sl.relevance(net, x), sl.relevance(net, x, target=predicted))


def test_inputs_are_not_modified(net, x):
    copy = x.copy()
    weights = [layer.weight.copy() for layer in net.layers if layer.weighted]
    sl.relevance(net, x, semiring=sl.Counting(), rule=sl.rules.Gamma(0.25))
    np.testing.assert_array_equal(x, copy)
    for layer, w in zip([layer for layer in net.layers if layer.weighted], weights):
        np.testing.assert_array_equal(layer.weight, w)
        assert not layer.weight.flags.writeable


def test_return_all_shapes(net, x):
    r, layers = sl.relevance(net, x[0], semiring=sl.Boolean(), return_all=True)
    assert [a.shape for a in layers] == [(12,), (8,), (8,), (5,)]
    assert layers[0] is r
    assert layers[-1].sum() == 1


def test_bad_network_construction():
    with pytest.raises(ValueError, match="expects 5 inputs but receives 4"):
        sl.Network([sl.Linear(np.ones((4, 3))), sl.ReLU(), sl.Linear(np.ones((2, 5)))])
    with pytest.raises(ValueError, match="NaN"):
        sl.Linear(np.array([[np.nan]]))
    with pytest.raises(TypeError, match="float32 or float64"):
        sl.Linear(np.ones((2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="one dtype"):
        sl.Network([sl.Linear(np.ones((4, 3))), sl.Linear(np.ones((2, 4), np.float32))])


def test_core_rejects_bad_arrays_directly():
    from semiring_lrp import _core
    rule = (0, 0.0, 0, 0.0)
    a, w, b = np.ones((2, 3)), np.ones((4, 3)), np.ones(4)
    with pytest.raises(TypeError, match="w must have dtype float64"):
        _core.dense_forward(a, w.astype(np.float32), b, rule)
    with pytest.raises(ValueError, match="w has 2 input columns, expected 3"):
        _core.dense_forward(a, np.ones((4, 2)), b, rule)
    with pytest.raises(ValueError, match="unknown semiring 7"):
        _core.dense_relevance(7, a, w, np.ones((2, 4)), np.ones((2, 4)), rule)
    with pytest.raises(ValueError, match="needs low and high"):
        _core.dense_forward(a, w, b, (3, 0.0, 0, 0.0))
    with pytest.raises(ValueError, match="negative count"):
        _core.dense_relevance(_core.SEMIRING_COUNTING, a, w, np.ones((2, 4)),
                              -np.ones((2, 4), dtype=np.int64), rule)


@pytest.mark.parametrize("rule", [sl.rules.Epsilon(0.5), sl.rules.Epsilon(0.5, variant="plus"),
                                  sl.rules.Epsilon(0.5, relative=True), sl.rules.Gamma(0.25, eps=0.5)])
def test_stabilise_in_place_changes_z_itself_and_nothing_else(rule):
    z = np.array([[-1.0, 0.0, 2.0, -0.0], [3.0, -4.0, 0.5, 1.0]], dtype=np.float32)
    sign = np.where(z >= 0, 1.0, -1.0) if getattr(rule, "variant", "sign") == "sign" else 1.0
    eps = 0.5 * (np.sqrt(np.mean(z.astype(np.float64) ** 2, axis=1, keepdims=True))
                 if getattr(rule, "relative", False) else 1.0)
    want = z + np.asarray(eps * sign).astype(np.float32)
    copy = rule.stabilise(z)
    np.testing.assert_array_equal(copy, want)
    assert copy is not z and z[0, 0] == -1.0
    same = rule.stabilise(z, in_place=True)
    assert same is z
    np.testing.assert_array_equal(z, want)
    # a view that is not C-ordered is copied, not changed
    z2 = np.zeros((4, 2), dtype=np.float32).T
    out = rule.stabilise(z2, in_place=True)
    assert out is not z2 and not z2.any()
