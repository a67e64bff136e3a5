"""A semiring as data: each built-in semiring's `SemiringSpec` agrees with
what the library does with it, and the path a pass takes (C kernels or the
generic NumPy path) follows from the methods a subclass overrides, not from
its class's identity."""
import functools

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp import _core, generic, viz
from semiring_lrp.semiring_specs import SPECS, spec_named
from semiring_lrp.semirings import _VALUE_METHODS, family_spec, kernel_spec

BUILT_INS = [sl.Real(), sl.Boolean(0.01), sl.Counting(0.01), sl.Viterbi()]
IDS = [type(s).__name__ for s in BUILT_INS]
KERNELS = ("dense_relevance", "conv_relevance", "pool_relevance")


def _cnn(dtype=np.float64):
    """A net with every kind of C relevance pass: conv, pooling and dense."""
    rng = np.random.default_rng(0)
    layers = [sl.Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3) * 0.1, padding=1),
              sl.ReLU(), sl.MaxPool2d(2), sl.Flatten(),
              sl.Linear(rng.normal(size=(4, 27)) / 5, rng.normal(size=4) * 0.1)]
    return sl.Network(layers, input_shape=(2, 6, 6)).astype(dtype)


_X = np.random.default_rng(1).uniform(size=(3, 2, 6, 6))


def _subclass(semiring, overrides):
    """A subclass of the built-in `semiring`'s class (thresholds copied)
    whose class defines `overrides` (name: function)."""
    cls = type("My" + type(semiring).__name__, (type(semiring),), dict(overrides))
    mine = cls()
    mine.__dict__.update(semiring.__dict__)
    return mine


def _delegating(base, name):
    """An override of method `name` that calls the built-in's own."""
    method = getattr(base, name)

    def override(self, *args):
        return method(self, *args)
    return override


@pytest.fixture
def calls(monkeypatch):
    """Counts of the C relevance passes and of the generic path's folds
    during the test, by name."""
    counts = dict.fromkeys((*KERNELS, "fold"), 0)

    def counted(name, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    for name in KERNELS:
        monkeypatch.setattr(_core, name, counted(name, getattr(_core, name)))
    monkeypatch.setattr(generic, "fold", counted("fold", generic.fold))
    return counts


def _on_kernels(counts):
    return all(counts[name] > 0 for name in KERNELS) and counts["fold"] == 0


def _on_generic_path(counts):
    return all(counts[name] == 0 for name in KERNELS) and counts["fold"] > 0


# --- which path ----------------------------------------------------------------


@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_built_ins_take_the_kernels(semiring, calls):
    sl.relevance(_cnn(), _X, target=1, semiring=semiring)
    assert _on_kernels(calls)


@pytest.mark.parametrize("overrides", [{}, {"__repr__": lambda self: "mine"}],
                         ids=["nothing", "__repr__"])
@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_subclass_keeping_the_methods_takes_the_kernels(semiring, overrides, calls):
    mine = _subclass(semiring, overrides)
    assert kernel_spec(mine) is type(semiring).spec
    got = sl.relevance(_cnn(), _X, target=1, semiring=mine)
    assert _on_kernels(calls)
    want = sl.relevance(_cnn(), _X, target=1, semiring=semiring)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_subclass_overriding_add_takes_the_generic_path(semiring, calls):
    mine = _subclass(semiring, {"add": _delegating(type(semiring), "add")})
    assert kernel_spec(mine) is None
    got = sl.relevance(_cnn(), _X, target=1, semiring=mine)
    assert _on_generic_path(calls)
    want = sl.relevance(_cnn(), _X, target=1, semiring=semiring)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", _VALUE_METHODS)
@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_overriding_any_value_method_leaves_the_kernels(semiring, method):
    mine = _subclass(semiring, {method: _delegating(type(semiring), method)})
    assert kernel_spec(mine) is None
    assert family_spec(mine) is type(semiring).spec  # still drawn as its family


def test_a_threshold_subclass_keeps_the_kernels_and_its_theta(calls):
    class PerLayer(sl.Boolean):
        def theta(self, layer):
            return (0.05, 0.002)[layer]

    got = sl.relevance(_cnn(), _X, target=1, semiring=PerLayer())
    assert _on_kernels(calls)
    want = sl.relevance(_cnn(), _X, target=1, semiring=sl.Boolean([0.05, 0.002]))
    np.testing.assert_array_equal(got, want)


def test_semirings_of_your_own_have_no_spec():
    class Tropical(sl.Semiring):
        pass

    assert kernel_spec(Tropical()) is None and family_spec(Tropical()) is None
    assert kernel_spec(object()) is None


# --- each spec agrees with the library -----------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_spec_dtype_is_the_relevance_dtype(semiring, dtype):
    spec = type(semiring).spec
    r = sl.relevance(_cnn(dtype), _X, target=1, semiring=semiring)
    assert r.dtype == spec.relevance_dtype(dtype)
    assert (r.dtype == dtype) == (spec.dtype is None)


@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_spec_reduction_is_the_semirings_add(semiring):
    spec = type(semiring).spec
    rng = np.random.default_rng(2)
    r = rng.integers(0, 5, size=(3, 4, 5)).astype(spec.relevance_dtype(np.float64))
    by_add = functools.reduce(semiring.add, list(r))
    np.testing.assert_array_equal(sl.aggregate_channels(r, semiring), by_add)
    np.testing.assert_array_equal(sl.aggregate_channels(r, spec.reduction), by_add)


@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_spec_thresholded_is_having_thresholds(semiring):
    spec = type(semiring).spec
    assert spec.thresholded == all(hasattr(semiring, name) for name in
                                   ("theta", "pool_theta", "absolute"))


@pytest.mark.filterwarnings("ignore::semiring_lrp.RelevanceWarning")  # 2 inputs saturate
@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_spec_core_id_runs_its_kernel(semiring):
    """Each id selects the kernel of its semiring: the ids are distinct and
    a layer's step with the id gives the pass's own relevance."""
    spec = type(semiring).spec
    net = sl.Network([sl.Linear(np.array([[1.0, -2.0], [0.5, 3.0]])), sl.ReLU(),
                      sl.Linear(np.array([[1.0, 1.0]]))])
    x = np.array([[1.0, 0.25]])  # both hidden neurons positive: relevance reaches both
    _, every = sl.relevance(net, x, target=0, semiring=semiring, return_all=True)
    a = x
    layer = net.layers[0]
    z = layer.absmax(a, sl.rules.Zero()) if spec.strongest else layer.forward(a)
    theta = semiring.theta(0) if spec.thresholded else 0.0
    got = _core.dense_relevance(spec.core_id, a, layer.weight, z, every[1],
                                sl.rules.Zero().kernel_rule, theta)
    np.testing.assert_array_equal(got, every[0])
    assert len({s.core_id for s in SPECS}) == len(SPECS)


@pytest.mark.parametrize("semiring", BUILT_INS, ids=IDS)
def test_pictures_read_the_spec(semiring):
    spec = type(semiring).spec
    assert viz.kind_of(semiring) == spec.kind
    assert viz.describe(spec.kind) == spec.label
    r = sl.relevance(_cnn(), _X[0], target=1, semiring=semiring)
    image = _X[0, 0]
    fig = viz.heatmap(image, sl.aggregate_channels(r, semiring), semiring)
    assert any(ax.get_title().startswith(spec.label) for ax in fig.axes)


def test_specs_are_listed_once_by_name_and_kind():
    assert viz.KINDS == tuple(spec.kind for spec in SPECS)
    assert [spec_named(spec.name) for spec in SPECS] == list(SPECS)
    assert [cls.spec for cls in (sl.Real, sl.Boolean, sl.Counting, sl.Viterbi)] == list(SPECS)
    with pytest.raises(KeyError):
        spec_named("tropical")


# --- the C core's ids ------------------------------------------------------------


def _dense_call(semiring):
    a, w, z = np.ones((1, 2)), np.ones((2, 2)), np.ones((1, 2))
    return _core.dense_relevance(semiring, a, w, z, z, (_core.RULE_ZERO, 0.0, 0, 0.0))


def _conv_call(semiring):
    a, w, z = np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1))
    return _core.conv_relevance(semiring, a, w, z, z, (_core.RULE_ZERO, 0.0, 0, 0.0),
                                (1, 1, 0, 0, 1, 1, 1))


def _pool_call(semiring):
    a = np.ones((1, 1, 2, 2))
    windows = (np.array([0]), np.array([2]), np.array([0]), np.array([2]))
    return _core.pool_relevance(semiring, a, np.ones((1, 1, 1, 1)), _core.POOL_MAX, windows)


@pytest.mark.parametrize("call", [_dense_call, _conv_call, _pool_call],
                         ids=["dense", "conv", "pool"])
@pytest.mark.parametrize("semiring", [-1, 4, 99, 2 ** 64])
def test_unknown_semiring_id_is_a_valueerror_naming_it(call, semiring):
    with pytest.raises(ValueError, match=rf"unknown semiring {semiring}; the kernels know "
                                         r"SEMIRING_REAL \(0\)"):
        call(semiring)


@pytest.mark.parametrize("call", [_dense_call, _conv_call, _pool_call],
                         ids=["dense", "conv", "pool"])
def test_semiring_names_are_no_longer_taken(call):
    with pytest.raises(TypeError, match="the semiring must be an int, not str"):
        call("real")
    assert call(np.int64(_core.SEMIRING_REAL)).shape == call(_core.SEMIRING_REAL).shape
