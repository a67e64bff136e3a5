"""Rule parameters and thresholds are checked against the network's dtype:
a value that rounds to infinity or (non-zero) to 0, or that makes rho(w)
or a layer's denominators overflow, raises ValueError naming the rule,
the parameter, its value, the layer and the dtype, instead of giving NaN
or zeros. ZBox refuses low > high when it is made. The applications' own
numbers (a baseline value, a temperature) are checked the same way."""
import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp.rules import Epsilon, Gamma, ZBox, Zero

BIG = 1e39  # beyond float32's largest, 3.4e38


@pytest.fixture(scope="module")
def x(digits):
    return digits[0][:2].reshape(2, 1, 28, 28)


@pytest.mark.parametrize("rule,match", [
    (Gamma(BIG), r"Gamma\(gamma=1e\+39, eps=0.0\) on layer 'conv1': gamma 1e\+39 becomes "
                 r"infinite in float32"),
    (Gamma(0.25, eps=BIG), r"on layer 'conv1': eps 1e\+39 becomes infinite in float32"),
    (Epsilon(BIG), r"on layer 'conv1': eps 1e\+39 becomes infinite in float32"),
    (Epsilon(1e-50), r"on layer 'conv1': eps 1e-50 becomes 0 in float32"),
    (ZBox(-BIG, 1.0), r"on layer 'conv1': low -1e\+39 becomes infinite in float32"),
    (ZBox(0.0, [1.0, BIG]), r"on layer 'conv1': high 1e\+39 becomes infinite in float32"),
])
def test_parameters_that_do_not_survive_float32_are_named(cnn, x, rule, match):
    for semiring in (sl.Real(), sl.Viterbi(), sl.Counting(0.01)):
        with pytest.raises(ValueError, match=match):
            sl.relevance(cnn, x, target=1, rule=rule, semiring=semiring)


def test_the_same_parameters_fit_float64(cnn, x):
    net64 = cnn.astype(np.float64)
    for rule in (Gamma(BIG / 1e10), Epsilon(1e-50), ZBox(-BIG, 1.0)):
        r = sl.relevance(net64, x, target=1, rule=[rule] + [Zero()] * 5)
        assert np.all(np.isfinite(r))


@pytest.fixture(scope="module")
def heavy():
    """One Linear layer with weights up to 1e3 and down to -2e3: a gamma or a
    bound of 1e36 is finite in float32, its product with them is not."""
    weight = np.array([[1e3, 1e3, 1e3, -2e3], [0.25, -0.5, 1.0, 0.5]], dtype=np.float32)
    return sl.Network([sl.Linear(weight, np.zeros(2, np.float32))], names=["dense"])


def test_gamma_whose_rho_overflows_the_largest_weight_is_named(heavy):
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"Gamma\(gamma=1e\+36, eps=0.0\) on layer 'dense': "
                                         r"gamma 1e\+36 makes rho\(w\) = w \+ gamma \* w\^\+ "
                                         "of its largest weight 1000 overflow float32"):
        sl.relevance(heavy, x, target=0, rule=Gamma(1e36))
    # the bound is the dtype's: just below it runs, and float64 takes far more
    largest = float(np.float32(np.finfo(np.float32).max / 1e3 / 2))
    assert np.all(np.isfinite(sl.relevance(heavy, x * 0, target=0, rule=Gamma(largest))))
    assert np.all(np.isfinite(sl.relevance(heavy.astype(np.float64), x, target=0,
                                           rule=Gamma(1e36))))


def test_gamma_that_overflows_the_denominators_is_named_not_zeros(cnn, x):
    """Gamma(1e38): rho(w) is finite, the sums of a layer's inputs are not:
    the pass gave all zeros."""
    with pytest.raises(ValueError, match=r"Gamma\(gamma=1e\+38, eps=0.0\) on layer '\w+': "
                                         r"gamma 1e\+38 makes the denominators overflow "
                                         "float32 on this input"):
        sl.relevance(cnn, x, target=1, rule=Gamma(1e38))


def test_zbox_bounds_that_overflow_the_denominators_are_named(heavy):
    """Each -l * w^+ is 2e35 * 1e3 = 2e38, finite; three of them into one
    output are not."""
    with pytest.raises(ValueError, match=r"on layer 'dense': low/high \[-2e\+35, 0.0\] makes "
                                         "the denominators overflow float32"):
        sl.relevance(heavy, np.zeros(4, np.float32), target=0, rule=ZBox(-2e35, 0.0))


def test_zbox_bound_times_the_largest_weight_is_checked(heavy):
    x = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"on layer 'dense': high 1e\+36 \(in magnitude\) "
                                         r"makes h \* w\^- of its most negative weight -2000 "
                                         "overflow float32"):
        sl.relevance(heavy, x, target=0, rule=ZBox(0.0, 1e36))
    with pytest.raises(ValueError, match=r"low 1e\+36 \(in magnitude\) makes l \* w\^\+ of "
                                         "its largest weight 1000 overflow float32"):
        sl.relevance(heavy, x, target=0, rule=ZBox(-1e36, 0.0))


def test_relative_eps_that_overflows_is_named(cnn, x):
    rule = Epsilon(BIG, relative=True)
    with pytest.raises(ValueError, match=r"relative=True\) on layer '\w+': eps 1e\+39 makes "
                                         "the denominators overflow float32"):
        sl.relevance(cnn, x, target=1, rule=rule)


@pytest.mark.parametrize("semiring,match", [
    (sl.Boolean(BIG), "Boolean threshold 1e\\+39 of layer 'conv1' becomes infinite in float32"),
    (sl.Counting([0.1, 0.1, 1e-50, 0.1, 0.1, 0.1]),
     "Counting threshold 1e-50 of layer 'conv3' becomes 0 in float32"),
    (sl.Boolean(pool_threshold=[1e-9, -BIG]),
     "Boolean pool_threshold -1e\\+39 of layer 'pool2' becomes infinite in float32"),
    (sl.Boolean(threshold={"conv1": 0.1, "conv2": 0.1, "conv3": 0.1, "conv4": 0.1,
                           "fc1": 0.1, "fc2": -BIG}),
     "Boolean threshold -1e\\+39 of layer 'fc2'"),
])
def test_thresholds_that_do_not_survive_float32_are_named(cnn, x, semiring, match):
    with pytest.raises(ValueError, match=match):
        sl.relevance(cnn, x, target=1, semiring=semiring)
    with pytest.raises(ValueError, match=match):
        sl.apps.reduce_relevance(cnn, x, semiring=semiring, progress=False)


def test_infinite_thresholds_are_exact_and_allowed(cnn, x):
    every = sl.relevance(cnn, x, target=1, semiring=sl.Boolean(-np.inf))
    none = sl.relevance(cnn, x, target=1, semiring=sl.Boolean(np.inf))
    assert every.any() and not none.any()


@pytest.mark.parametrize("semiring", [sl.Real(), sl.Viterbi()])
def test_a_forward_pass_that_overflows_is_named(semiring):
    net = sl.Network([sl.Linear(np.full((2, 3), 1e30, np.float32))])
    with pytest.raises(ValueError, match="the forward pass overflows float32 at layer '0'"):
        sl.relevance(net, np.full(3, 1e10, np.float32), target=0, semiring=semiring)


@pytest.mark.parametrize("low,high,match", [
    (2.0, 1.0, r"ZBox needs low <= high; low 2.0 > high 1.0$"),
    ([0.0, 3.0], [1.0, 2.0], r"low 3.0 > high 2.0 at index \(1,\)"),
    (np.zeros((3, 1, 1)), [[[1.0]], [[-1.0]], [[1.0]]], r"low 0.0 > high -1.0 at index \(1, 0, 0\)"),
    ([0.0, 0.0, 0.0], [1.0, 1.0], "low of shape \\(3,\\) and high of shape \\(2,\\) do not "
                                  "broadcast together"),
])
def test_zbox_refuses_a_reversed_box_when_made(low, high, match):
    with pytest.raises(ValueError, match=match):
        ZBox(low, high)


def test_zbox_accepts_equal_bounds():
    assert ZBox([0.0, 1.0], 1.0).high == 1.0


@pytest.fixture(scope="module")
def labelled(digits):
    x, labels = digits
    return x[:3], labels[:3]


def test_a_baseline_beyond_the_dtype_is_named(mlp, labelled):
    with pytest.raises(ValueError, match=r"^perturb 1e\+39 becomes infinite in float32"):
        sl.apps.pixel_flipping(mlp, labelled, sl.Real(), steps=2, perturb=1e39)


def test_perturbed_images_that_overflow_the_forward_pass_are_named(mlp, labelled):
    """3e38 fits float32; the first layer's sums of it do not (they gave
    scores -inf and nan, and an AOPC of nan)."""
    with pytest.raises(ValueError, match="the network's forward pass overflows float32 on "
                                         "these images"):
        sl.apps.pixel_flipping(mlp, labelled, sl.Real(), steps=2, perturb=3e38)
    with pytest.raises(ValueError, match="forward pass overflows float32"):
        sl.apps.attack_curve(mlp, labelled, sl.Real(), pixels=[0, 10],
                             perturb=lambda values: values * 0 + 3e38)


def test_a_temperature_that_overflows_the_draw_is_named(mlp, labelled):
    with pytest.raises(ValueError, match=r"^temperature 1e-320 makes R / T overflow float64"):
        sl.apps.attack_curve(mlp, labelled, sl.Real(), pixels=[0, 10], temperature=1e-320)
