"""User semirings on the generic path: relevance in the dtype their results
have (never a narrower one), and every result of their methods checked,
with errors that name the method, the semiring and the layer."""
import re

import numpy as np
import pytest
from reference import MaxPlus, literal_relevance, on_generic_path, random_mlp, relative_error

import semiring_lrp as sl
from semiring_lrp.apps.chunks import Partial, combine_partials
from semiring_lrp.apps.reducers import make_reduction
from semiring_lrp.rules import Zero


def _tiny_net(dtype=np.float64):
    w1 = np.array([[1.0, 1.0], [3.0, -1.0]], dtype=dtype)
    w2 = np.array([[1.0, 2.0]], dtype=dtype)
    return sl.Network([sl.Linear(w1), sl.ReLU(), sl.Linear(w2)], names=["fc1", "relu", "fc2"])


# x = (1, 2): hidden (3, 1), output 5. LRP-0 from 1 at the output: R_h = (3/5, 2/5),
# R_x0 = 1/3 * 3/5 + 3 * 2/5 = 7/5, R_x1 = 2/3 * 3/5 - 2 * 2/5 = -2/5.
_TINY_X = np.array([1.0, 2.0])
_TINY_REAL = [7 / 5, -2 / 5]


def _cnn(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    layers = [sl.Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3) * 0.1, padding=1),
              sl.ReLU(), sl.MaxPool2d(2), sl.Flatten(),
              sl.Linear(rng.normal(size=(4, 3 * 3 * 3)) / 5, rng.normal(size=4) * 0.1)]
    net = sl.Network(layers, input_shape=(2, 6, 6),
                     names=["conv", "relu", "pool", "flat", "fc"])
    return net.astype(dtype)


class IntZeroReal(sl.Real):
    """Real, with zero() the int 0 and one() the float 1.0."""

    def zero(self):
        return 0


class IntIdentitiesReal(sl.Real):
    """Real with int zero() and one(): its float annotations widen the relevance."""

    def zero(self):
        return 0

    def one(self):
        return 1


class Float64Annotations(sl.Real):
    """Real whose annotations are float64 whatever the network's dtype."""

    def annotate(self, d, layer):
        return d.astype(np.float64)


class PathCount(sl.Real):
    """Theta = 1 as a scalar: R_j = sum over k linked to j of R_k."""

    def annotate(self, d, layer):
        return 1.0


# --- dtypes ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_int_zero_float_one_accumulates_floats(dtype):
    r = sl.relevance(_tiny_net(dtype), _TINY_X.astype(dtype), target=0, semiring=IntZeroReal())
    assert r.dtype == dtype
    np.testing.assert_allclose(r, _TINY_REAL, rtol=1e-6)


def test_int_zero_float_one_equals_literal_reference_on_a_cnn():
    net = _cnn()
    x = np.random.default_rng(1).normal(size=(3, 2, 6, 6))
    targets = np.array([0, 2, 3])
    got = sl.relevance(net, x, target=targets, semiring=IntZeroReal())
    want = literal_relevance(net, x, targets, "real", [Zero(), Zero()])
    assert got.dtype == np.float64
    assert relative_error(got, want) < 1e-12


def test_int_identities_with_float_annotations_widen_to_float():
    r = sl.relevance(_tiny_net(), _TINY_X, target=0, semiring=IntIdentitiesReal())
    assert r.dtype == np.float64
    np.testing.assert_allclose(r, _TINY_REAL, rtol=1e-12)


@pytest.mark.parametrize("semiring", [MaxPlus(), on_generic_path(sl.Real())],
                         ids=["MaxPlus", "Real subclass"])
@pytest.mark.parametrize("make_net", [lambda: random_mlp(np.random.default_rng(2), (7, 6, 5, 3)),
                                      _cnn], ids=["mlp", "cnn"])
def test_float_semiring_keeps_float32(semiring, make_net):
    net64 = make_net()
    net32 = net64.astype(np.float32)
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(4,) + net64.input_shape)
    targets = np.array([0, 1, 2, 1])
    want = sl.relevance(net64, x, target=targets, semiring=semiring)
    got = sl.relevance(net32, x.astype(np.float32), target=targets, semiring=semiring)
    assert want.dtype == np.float64 and got.dtype == np.float32
    finite = np.isfinite(want)
    assert np.array_equal(finite, np.isfinite(got))
    assert np.array_equal(want[~finite], got[~finite])  # MaxPlus's -inf: no path
    np.testing.assert_allclose(got[finite], want[finite], rtol=2e-4, atol=2e-5)


def test_wider_results_widen_the_relevance():
    net64 = random_mlp(np.random.default_rng(4), (5, 4, 3))
    x = np.random.default_rng(5).normal(size=(2, 5))
    got = sl.relevance(net64.astype(np.float32), x.astype(np.float32), target=1,
                       semiring=Float64Annotations())
    assert got.dtype == np.float64
    want = sl.relevance(net64, x, target=1)
    assert relative_error(got, want) < 1e-5


def test_scalar_annotation_broadcasts():
    r = sl.relevance(_tiny_net(), _TINY_X, target=0, semiring=PathCount())
    np.testing.assert_array_equal(r, [2.0, 2.0])


# --- bad results of each method ---------------------------------------------------


def _bad(kind, good):
    """A bad version of the result `good`."""
    good = np.asarray(good)
    if kind == "None":
        return None
    if kind == "object":
        return np.asarray(good, dtype=object) if good.ndim else object()
    if kind == "string":
        return good.astype(str)
    return np.concatenate([good.reshape(-1)] * 2)  # "shape": twice as many values


_BAD = ["shape", "None", "object", "string"]
# method: the layer (name and index) whose pass calls it first on _cnn
_METHODS = {
    "annotate": "'fc' (4",
    "annotate_contributions": "'fc' (4",
    "annotate_pooling": "'pool' (2",
    "mul": "'fc' (4",
    "add": "'fc' (4",
}


def _semiring_returning(method, kind):
    def spoiled(self, *args):
        return _bad(kind, getattr(sl.Real, method)(self, *args))

    return type(f"Bad{method.title().replace('_', '')}", (sl.Real,), {method: spoiled})()


@pytest.mark.parametrize("kind", _BAD)
@pytest.mark.parametrize("method", list(_METHODS))
def test_bad_result_names_method_semiring_and_layer(method, kind):
    semiring = _semiring_returning(method, kind)
    error = ValueError if kind == "shape" else TypeError
    name = type(semiring).__name__
    match = rf"{name}\.{method} returned .* at layer {re.escape(_METHODS[method])}, "
    x = np.random.default_rng(6).normal(size=(2, 2, 6, 6))
    with pytest.raises(error, match=match):
        sl.relevance(_cnn(), x, target=1, semiring=semiring)


def test_add_returning_none_is_not_nan():
    with pytest.raises(TypeError, match=r"BadAdd\.add returned None at layer 'fc2' \(2"):
        sl.relevance(_tiny_net(), _TINY_X, target=0, semiring=_semiring_returning("add", "None"))


@pytest.mark.parametrize("kind", _BAD)
@pytest.mark.parametrize("method", ["zero", "one"])
def test_bad_identity_names_method_and_semiring(method, kind):
    semiring = _semiring_returning(method, kind)
    error = ValueError if kind == "shape" else TypeError
    with pytest.raises(error, match=rf"{type(semiring).__name__}\.{method}\(\) returned "):
        sl.relevance(_tiny_net(), _TINY_X, target=0, semiring=semiring)


def test_ragged_list_is_a_type_error():
    class Ragged(sl.Real):
        def mul(self, a, b):
            return [[1.0], [1.0, 2.0]]

    with pytest.raises(TypeError, match=r"Ragged\.mul returned list .* at layer 'fc2'"):
        sl.relevance(_tiny_net(), _TINY_X, target=0, semiring=Ragged())


def test_threshold_subclass_theta_is_checked():
    class NoTheta(sl.Boolean):
        def theta(self, layer):
            return None

    with pytest.raises(TypeError, match=r"NoTheta\.theta\(1\) \(weighted layer\) must be a "
                                        r"real number, not None"):
        sl.relevance(_tiny_net(), _TINY_X, target=0, semiring=NoTheta())


def test_pool_theta_is_checked():
    class NanPoolTheta(sl.Counting):
        def pool_theta(self, pool):
            return float("nan")

    x = np.random.default_rng(7).normal(size=(1, 2, 6, 6))
    with pytest.raises(ValueError, match=r"NanPoolTheta\.pool_theta\(0\) \(pooling layer\) "
                                         "must not be NaN"):
        sl.relevance(_cnn(), x, target=0, semiring=NanPoolTheta())


def test_per_layer_must_return_a_semiring():
    class Lost(sl.Boolean):
        def per_layer(self, net):
            return None

    with pytest.raises(TypeError, match=r"Lost\.per_layer\(net\) returned None"):
        sl.relevance(_tiny_net(), _TINY_X, target=0, semiring=Lost())


def test_kind_of_checks_zero():
    class NoneZero(sl.Semiring):
        def zero(self):
            return None

        def one(self):
            return 1

    with pytest.raises(TypeError, match=r"NoneZero\.zero\(\) returned None"):
        sl.viz.kind_of(NoneZero())


# --- reductions of a user semiring's relevance ------------------------------------


@pytest.mark.parametrize("kind", _BAD)
def test_reduce_semiring_checks_add(kind):
    semiring = _semiring_returning("add", kind)
    reduction = make_reduction("semiring", semiring, np.float64)
    a = np.zeros((3, 4))
    error = ValueError if kind == "shape" else TypeError
    with pytest.raises(error, match=r"BadAdd\.add returned .* in reduce='semiring'"):
        reduction.combine(a, a)


def test_reduce_semiring_refuses_a_wider_add():
    class WideAdd(sl.Real):
        def add(self, a, b):
            return np.add(a, b, dtype=np.float64)

    reduction = make_reduction("semiring", WideAdd(), np.float32)
    a = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(TypeError, match=r"WideAdd\.add returned float64 for two float32"):
        reduction.combine(a, a)


def test_reduce_semiring_checks_zero():
    reduction = make_reduction("semiring", _semiring_returning("zero", "string"), np.float64)
    with pytest.raises(TypeError, match=r"BadZero\.zero\(\) returned .* in reduce='semiring'"):
        reduction.identity((2,), np.dtype(np.float64))


class WidensLater(sl.Real):
    """float64 annotations once `wide` is set, the network's dtype before."""

    wide = False

    def annotate(self, d, layer):
        return d.astype(np.float64) if self.wide else d


class WidensFromSecondBatch(sl.datasets.ArrayDataset):
    """Sets its semiring's `wide` for every batch after the first."""

    def __init__(self, x, semiring):
        super().__init__(x)
        self.semiring = semiring

    def load(self, start, stop):
        self.semiring.wide = start > 0
        return super().load(start, stop)


def test_reduce_refuses_batches_of_another_dtype():
    net = random_mlp(np.random.default_rng(8), (5, 4, 3), dtype=np.float32)
    x = np.random.default_rng(9).normal(size=(6, 5)).astype(np.float32)
    semiring = WidensLater()
    with pytest.raises(TypeError, match="relevance of images 3 to 5 is float64, that of the "
                                        "images before float32"):
        sl.apps.reduce_relevance(net, WidensFromSecondBatch(x, semiring), semiring=semiring,
                                 reduce="max", batch_size=3, progress=False)


def test_partials_of_another_dtype_are_not_combined():
    reduction = make_reduction("max", sl.Real(), np.float32)
    classes, counts = np.array([0]), np.array([1])
    left = Partial(classes, np.zeros((1, 2), dtype=np.float32), counts)
    right = Partial(classes, np.zeros((1, 2), dtype=np.float64), counts)
    with pytest.raises(TypeError, match="float32 and float64 accumulators"):
        combine_partials(reduction, left, right)


class ComplexReal(sl.Real):
    def zero(self):
        return 0j

    def one(self):
        return 1 + 0j

    def annotate(self, d, layer):
        return d.astype(np.complex128)


def test_complex_semiring_runs():
    r = sl.relevance(_tiny_net(), _TINY_X, target=0, semiring=ComplexReal())
    assert r.dtype == np.complex128
    np.testing.assert_allclose(r, _TINY_REAL, rtol=1e-12)
