"""Composed semirings (Semiring.compose) on the generic path equal the
literal reference (tests/reference.py `literal_composed`, whose operations
are spelled out below on scalars), the four built-ins re-declared by
composition equal the built-ins' C kernels, and the ready-made ones agree
with each other where their questions meet (max-plus is the log of
max-times, log-counting the log of counting, float counting the counts)."""
import math

import numpy as np
import pytest
from reference import LiteralSemiring, literal_composed, random_mlp, relative_error

import semiring_lrp as sl
from semiring_lrp import _core, composed, rules
from semiring_lrp import annotations as an
from semiring_lrp.semirings import kernel_spec
from reference import on_generic_path

INF = math.inf
# the built-ins compared with warn where relevance dies or saturates: facts of the nets
pytestmark = pytest.mark.filterwarnings("ignore::semiring_lrp.diagnostics.RelevanceWarning")
INT64_MAX = 2**63 - 1


# ------------------------------------------------------------ scalar operations

def _int64(value):
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise OverflowError(f"{value} leaves int64")
    return value


def _logaddexp(x, y):
    """max + log1p(exp(-|x - y|)) in the scalars' own type; -inf with -inf is -inf."""
    high, low = (x, y) if x >= y else (y, x)
    if high == -INF:
        return high
    return high + np.log1p(np.exp(low - high))


LITERAL_ADD = {
    "plus": lambda x, y: x + y,
    "max": lambda x, y: y if y > x else x,
    "min": lambda x, y: y if y < x else x,
    "or": lambda x, y: x or y,
    "logaddexp": _logaddexp,
}
LITERAL_MUL = {
    "times": lambda x, y: x * y,
    "plus": lambda x, y: x + y,
    "min": lambda x, y: y if y < x else x,
    "max": lambda x, y: y if y > x else x,
    "and": lambda x, y: x and y,
}


# ------------------------------------------------------------ the compositions

def _threshold_parts(thetas, absolute):
    return dict(threshold=list(thetas), absolute=absolute, pool_threshold=1e-9)


def _compositions(T, thetas):
    """name -> (the composed semiring, its LiteralSemiring, the built-in it
    re-declares or None); T the network's scalar type, thetas one threshold
    per weighted layer."""
    f = T  # elements of dtype=None semirings: the network's dtype
    f64 = np.float64
    made = {}
    made["real"] = (
        sl.Semiring.compose(add="plus", mul="times", annotate=an.identity()),
        LiteralSemiring(LITERAL_ADD["plus"], LITERAL_MUL["times"], f(0), f(1), element=f),
        sl.Real())
    made["boolean"] = (
        sl.Semiring.compose(add="or", mul="and", annotate=an.threshold(thetas, absolute=True),
                            dtype="bool"),
        LiteralSemiring(LITERAL_ADD["or"], LITERAL_MUL["and"], False, True,
                        **_threshold_parts(thetas, True)),
        sl.Boolean(thetas, absolute=True))
    made["counting"] = (
        sl.Semiring.compose(add="plus", mul="times", annotate=an.threshold(thetas),
                            dtype="int64"),
        LiteralSemiring(lambda x, y: _int64(x + y), lambda x, y: _int64(x * y), 0, 1,
                        **_threshold_parts(thetas, False)),
        sl.Counting(thetas))
    made["viterbi"] = (
        sl.Semiring.compose(add="max", mul="times", zero=0.0, one=1.0, annotate=an.viterbi()),
        LiteralSemiring(LITERAL_ADD["max"], LITERAL_MUL["times"], f(0), f(1), source="viterbi",
                        element=f),
        sl.Viterbi())
    made["max-plus"] = (
        sl.MaxPlus(),
        LiteralSemiring(LITERAL_ADD["max"], LITERAL_MUL["plus"], f(-INF), f(0),
                        steps=[np.abs, np.log], element=f), None)
    made["min-max"] = (
        sl.MinMax(),
        LiteralSemiring(LITERAL_ADD["max"], LITERAL_MUL["min"], f(0), f(INF), steps=[np.abs],
                        element=f), None)
    made["float-counting"] = (
        sl.FloatCounting(thetas, absolute=True),
        LiteralSemiring(LITERAL_ADD["plus"], LITERAL_MUL["times"], 0.0, 1.0,
                        **_threshold_parts(thetas, True)), None)
    made["log-counting"] = (
        sl.LogCounting(thetas),
        LiteralSemiring(LITERAL_ADD["logaddexp"], LITERAL_MUL["plus"], f64(-INF), f64(0),
                        **_threshold_parts(thetas, False)), None)
    made["max-times-abs"] = (
        sl.Semiring.compose(add="max", mul="times", zero=0.0, annotate=an.abs()),
        LiteralSemiring(LITERAL_ADD["max"], LITERAL_MUL["times"], f(0), f(1), steps=[np.abs],
                        element=f), None)
    made["clipped-real-float32"] = (
        sl.Semiring.compose(add="plus", mul="times", annotate=an.clip(-0.5, 0.75),
                            dtype="float32"),
        LiteralSemiring(LITERAL_ADD["plus"], LITERAL_MUL["times"], np.float32(0), np.float32(1),
                        steps=[lambda v: np.clip(v, v.dtype.type(-0.5), v.dtype.type(0.75))],
                        element=np.float32), None)
    made["min-max-viterbi"] = (
        sl.Semiring.compose(add="min", mul="max", zero=INF, one=-INF, annotate=an.viterbi()),
        LiteralSemiring(LITERAL_ADD["min"], LITERAL_MUL["max"], f(INF), f(-INF),
                        source="viterbi", element=f), None)
    made["log-viterbi-float64"] = (
        sl.Semiring.compose(add="max", mul="plus", annotate=an.viterbi().then(an.log()),
                            dtype="float64"),
        LiteralSemiring(LITERAL_ADD["max"], LITERAL_MUL["plus"], f64(-INF), f64(0),
                        source="viterbi", steps=[np.log], element=f64), None)
    return made


COMPOSITIONS = list(_compositions(np.float64, [0.1]))


# ------------------------------------------------------------ the networks

def _dense(dtype):
    rng = np.random.default_rng(5)
    net = random_mlp(rng, (7, 6, 5, 4), dtype)
    return net, rng.uniform(size=(2, 7)).astype(dtype)


def _conv(pool, dtype):
    rng = np.random.default_rng(6)
    layers = [sl.Conv2d(rng.normal(size=(3, 2, 3, 3)) / 3, rng.normal(size=3) * 0.1, padding=1),
              sl.ReLU(), pool, sl.Flatten(),
              sl.Linear(rng.normal(size=(4, 27)) / 5, rng.normal(size=4) * 0.1)]
    net = sl.Network(layers, input_shape=(2, 6, 6)).astype(dtype)
    return net, rng.uniform(size=(2, 2, 6, 6)).astype(dtype)


NETS = {
    "dense": (lambda dtype: _dense(dtype), "winner"),
    "avgpool": (lambda dtype: _conv(sl.AvgPool2d(2), dtype), "winner"),
    "maxpool-winner": (lambda dtype: _conv(sl.MaxPool2d(2), dtype), "winner"),
    "maxpool-average": (lambda dtype: _conv(sl.MaxPool2d(2), dtype), "average"),
}
RULES = ("zero", "epsilon", "gamma", "zbox")
# per weighted layer: low enough that relevance reaches the input
THETAS = [0.02, 0.05, 0.01]


def _rule_list(name, count):
    if name == "zbox":  # z^B on the input layer (x lies in [0, 1)), epsilon above
        return [rules.ZBox(0.0, 1.0)] + [rules.Epsilon(0.01)] * (count - 1)
    rule = {"zero": rules.Zero(), "epsilon": rules.Epsilon(0.1), "gamma": rules.Gamma(0.25)}[name]
    return [rule] * count


def _targets(net, x):
    return np.argsort(net.forward(x), axis=1)[:, -2]  # the second-best class


def _as_array(lists, dtype, shape):
    return np.array(lists, dtype=object).astype(dtype).reshape(shape)


def _assert_close(got, want, net_dtype):
    """Equal infinities where they are, and finite values to the rounding
    of the network's dtype (sums in another order), exactly for bool and int."""
    assert got.shape == want.shape and got.dtype == want.dtype
    if got.dtype.kind in "bi":
        np.testing.assert_array_equal(got, want)
        return
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    np.testing.assert_array_equal(got[~finite], want[~finite])
    single = np.float32 in (np.dtype(net_dtype).type, got.dtype.type)
    tol = 2e-4 if single else 1e-9
    assert relative_error(got[finite], want[finite]) < tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule_name", RULES)
@pytest.mark.parametrize("net_name", list(NETS))
def test_every_composition_equals_the_literal_reference(net_name, rule_name, dtype):
    build, maxpool = NETS[net_name]
    net, x = build(dtype)
    targets = _targets(net, x)
    rule_list = _rule_list(rule_name, len(net.weighted_layers))
    thetas = THETAS[:len(net.weighted_layers)]
    alive = 0
    for name, (semiring, literal, built_in) in _compositions(np.dtype(dtype).type,
                                                              thetas).items():
        element = semiring.element_dtype or np.dtype(dtype)
        want = _as_array(literal_composed(net, x, targets, literal, rule_list, maxpool),
                         element, x.shape)
        # the C kernels (its own descriptor) and the generic NumPy path
        for path, on_path in (("C", semiring), ("generic", on_generic_path(semiring))):
            got = sl.relevance(net, x, target=targets, semiring=on_path, rule=rule_list,
                               maxpool=maxpool)
            assert (kernel_spec(on_path.per_layer(net)) is not None) == (path == "C")
            try:
                _assert_close(got, want, dtype)
            except AssertionError as err:
                raise AssertionError(f"{name} on the {path} path: {err}") from None
        alive += bool(np.any(got != semiring.zero()))
        if built_in is not None:
            own = sl.relevance(net, x, target=targets, semiring=built_in, rule=rule_list,
                               maxpool=maxpool)
            try:
                _assert_close(got, own, dtype)
            except AssertionError as err:
                raise AssertionError(f"{name} against {built_in!r}: {err}") from None
    # the comparisons are about something: most compositions reach the input
    assert alive >= 10


def _log_pair_net(dtype):
    return _conv(sl.MaxPool2d(2), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule_name", RULES)
def test_max_plus_is_the_log_of_max_times(rule_name, dtype):
    for net, x in (_dense(dtype), _log_pair_net(dtype)):
        rule_list = _rule_list(rule_name, len(net.weighted_layers))
        targets = _targets(net, x)
        max_plus = sl.relevance(net, x, target=targets, semiring=sl.MaxPlus(), rule=rule_list)
        max_times_abs = sl.Semiring.compose(add="max", mul="times", zero=0.0, one=1.0,
                                            annotate=an.abs())
        max_times = sl.relevance(net, x, target=targets, rule=rule_list,
                                 semiring=max_times_abs)
        assert max_plus.dtype == max_times.dtype == dtype
        # no path where the product is 0, and only there (no product underflows here)
        np.testing.assert_array_equal(max_plus == -np.inf, max_times == 0)
        some = max_times > 0
        assert some.any()
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(max_plus[some], np.log(max_times[some]), rtol=tol,
                                   atol=tol * 10)


def _counting_case(seed, dtype):
    rng = np.random.default_rng(seed)
    net = random_mlp(rng, (9, 12, 12, 12, 5), dtype)
    return net, rng.uniform(size=(3, 9)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("absolute", [False, True])
@pytest.mark.parametrize("theta", [1e-9, 0.01, -np.inf])
def test_log_and_float_counting_agree_with_exact_counting(theta, absolute, dtype):
    net, x = _counting_case(7, dtype)
    counts = sl.relevance(net, x, target=1, semiring=sl.Counting(theta, absolute))
    logs = sl.relevance(net, x, target=1, semiring=sl.LogCounting(theta, absolute))
    floats = sl.relevance(net, x, target=1, semiring=sl.FloatCounting(theta, absolute))
    assert counts.max() < 2**53 and counts.max() > 1
    assert logs.dtype == floats.dtype == np.float64
    np.testing.assert_array_equal(floats, counts.astype(np.float64))
    np.testing.assert_array_equal(logs == -np.inf, counts == 0)
    some = counts > 0
    np.testing.assert_allclose(logs[some], np.log(counts[some].astype(np.float64)), rtol=1e-12,
                               atol=1e-12)


def test_every_path_counts_past_int64_in_float_and_log_counting():
    # threshold -inf passes every pair: an input has prod(hidden widths) paths
    widths = [40] * 13
    net = random_mlp(np.random.default_rng(8), [5, *widths, 3])
    x = np.random.default_rng(9).uniform(size=(1, 5))
    paths = 40**13  # > 2**63
    assert paths > INT64_MAX
    with pytest.raises(OverflowError):
        sl.relevance(net, x, target=0, semiring=sl.Counting(-np.inf))
    counting = sl.Semiring.compose(add="plus", mul="times", annotate=an.threshold(-np.inf),
                                   dtype="int64")
    with pytest.raises(OverflowError, match="int64") as caught:
        sl.relevance(net, x, target=0, semiring=counting)
    # the message names the layer where the count left the range
    assert "layer" in str(caught.value)
    logs = sl.relevance(net, x, target=0, semiring=sl.LogCounting(-np.inf))
    np.testing.assert_allclose(logs, 13 * math.log(40), rtol=1e-12)
    floats = sl.relevance(net, x, target=0, semiring=sl.FloatCounting(-np.inf))
    np.testing.assert_allclose(floats, float(paths), rtol=1e-12)


def test_a_nan_names_the_semiring_and_the_layer():
    # fc2's z is 1e-10 from terms of +-1e300: its d are +inf and -inf, and
    # fc1 adds 0.5 * inf and 0.5 * -inf under plus
    fc1 = sl.Linear(np.ones((2, 2)), np.zeros(2))
    fc2 = sl.Linear(np.array([[1e300, -1e300]]), np.array([1e-10]))
    net = sl.Network([fc1, sl.ReLU(), fc2], names=["fc1", "relu", "fc2"])
    real = sl.Semiring.compose(add="plus", mul="times")
    with np.errstate(over="ignore"), pytest.raises(ValueError, match="NaN") as caught:
        sl.relevance(net, np.array([[1.0, 1.0]]), target=0, semiring=real)
    message = str(caught.value)
    assert "Semiring.compose(add='plus', mul='times'" in message and "'fc1'" in message


# ------------------------------------------------------------ compose-time checks

@pytest.mark.parametrize("kwargs, error, words", [
    (dict(add="sum", mul="times"), ValueError, "unknown add 'sum'"),
    (dict(add="plus", mul="divide"), ValueError, "unknown mul 'divide'"),
    (dict(add=np.add, mul="times"), TypeError, "add must be an operation's name"),
    (dict(add="plus", mul="times", dtype="int64"), TypeError, "ends in threshold"),
    (dict(add="or", mul="and", dtype="bool"), TypeError, "ends in threshold"),
    (dict(add="plus", mul="times", dtype="float16"), ValueError, "float16"),
    (dict(add="plus", mul="times", dtype=object()), TypeError, "dtype must be"),
    (dict(add="logaddexp", mul="plus", annotate=an.threshold(), dtype="int64"), TypeError,
     "logaddexp"),
    (dict(add="or", mul="and", annotate=an.threshold()), TypeError, "dtype='bool'"),
    (dict(add="plus", mul="times", zero=1.0), ValueError, "zero=1.0 must be neutral for add"),
    (dict(add="max", mul="times", annotate=an.viterbi()), ValueError,
     "zero=-inf must absorb mul 'times'"),
    (dict(add="plus", mul="times", one=2.0), ValueError, "one=2.0 must be neutral for mul"),
    (dict(add="max", mul="plus", annotate=an.log()), ValueError, "negative"),
    (dict(add="max", mul="plus", annotate=an.clip(-1, 1).then(an.log())), ValueError,
     "negative"),
    # 0 * log 0 = 0 * -inf: the domain of log|d| holds -inf, which zero cannot absorb
    (dict(add="plus", mul="times", annotate=an.log_abs()), ValueError, "must absorb"),
    (dict(add="max", mul="times", annotate=an.threshold(), dtype="int64"), ValueError,
     "int64 has no infinity"),
    (dict(add="plus", mul="times", zero=float("nan")), ValueError, "NaN"),
    (dict(add="plus", mul="times", zero="0"), TypeError, "number or a bool"),
    (dict(add="plus", mul="times", one=1e300, dtype="float32"), ValueError, "float32"),
    (dict(add="plus", mul="times", annotate=np.abs), TypeError, "sl.annotations chain"),
])
def test_compose_refuses_what_does_not_fit(kwargs, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        sl.Semiring.compose(**kwargs)


def test_what_compose_accepts():
    # log after clip(0, ...) is on a non-negative domain; min-max's identities
    sl.Semiring.compose(add="max", mul="plus", annotate=an.clip(0, 1).then(an.log()))
    assert isinstance(sl.Semiring.compose(add="max", mul="min", zero=0.0, one=np.inf,
                                          annotate=an.abs()), sl.ComposedSemiring)
    # defaults: the ops' own identities, in the element dtype
    counting = sl.Semiring.compose(add="plus", mul="times", annotate=an.threshold(),
                                   dtype=np.int64)
    assert counting.zero() == 0 and counting.one() == 1
    assert counting.zero().dtype == counting.one().dtype == np.int64
    boolean = sl.Semiring.compose(add="or", mul="and", annotate=an.threshold(), dtype="bool")
    assert boolean.zero() is np.False_ and boolean.one() is np.True_
    log_sum = sl.Semiring.compose(add="logaddexp", mul="plus")
    assert log_sum.zero() == -np.inf and log_sum.one() == 0


def test_float32_net_float64_elements_and_the_networks_dtype():
    net, x = _dense(np.float32)
    wide = sl.Semiring.compose(add="plus", mul="times", dtype="float64")
    own = sl.Semiring.compose(add="plus", mul="times")
    assert sl.relevance(net, x, target=0, semiring=wide).dtype == np.float64
    assert sl.relevance(net, x, target=0, semiring=own).dtype == np.float32
    assert sl.relevance(net, x, target=0, semiring=sl.MaxPlus()).dtype == np.float32
    assert sl.relevance(net, x, target=0, semiring=sl.LogCounting()).dtype == np.float64


def test_the_core_descriptor_is_the_contracts_tuple():
    # the constants as issue 21's contract numbers them
    assert (composed.ADD_PLUS, composed.ADD_MAX, composed.ADD_MIN, composed.ADD_OR,
            composed.ADD_AND, composed.ADD_LOGADDEXP) == tuple(range(6))
    assert (composed.MUL_TIMES, composed.MUL_PLUS, composed.MUL_MIN, composed.MUL_MAX,
            composed.MUL_AND) == tuple(range(5))
    assert (composed.SOURCE_COEFFICIENT, composed.SOURCE_VITERBI) == (0, 1)
    assert (composed.STEP_ABS, composed.STEP_LOG, composed.STEP_CLIP,
            composed.STEP_THRESHOLD) == (0, 1, 2, 3)
    for name in ("ADD_PLUS", "ADD_LOGADDEXP", "MUL_AND", "SOURCE_VITERBI", "STEP_THRESHOLD"):
        # the C core, once it exports them, says the same
        assert getattr(_core, name, getattr(composed, name)) == getattr(composed, name)
    net, _ = _dense(np.float32)
    max_plus = sl.MaxPlus().per_layer(net)
    assert max_plus.core_descriptor == (1, 1, np.dtype(np.float32).num, -np.inf, 0.0, 0,
                                        ((0, 0.0, 0.0), (1, 0.0, 0.0)))
    log_counting = sl.LogCounting(0.5, absolute=True)
    assert log_counting.core_descriptor == (5, 1, np.dtype(np.float64).num, -np.inf, 0.0, 0,
                                            ((3, 1.0, 0.0),))
    clipped = sl.Semiring.compose(add="max", mul="times", zero=0.0, dtype="float32",
                                  annotate=an.viterbi().then(an.clip(0.25, 0.5)))
    assert clipped.core_descriptor == (1, 0, np.dtype(np.float32).num, 0.0, 1.0, 1,
                                       ((2, 0.25, 0.5),))
    counting = sl.Semiring.compose(add="plus", mul="times", annotate=an.threshold(),
                                   dtype="int64")
    assert counting.core_descriptor[2:5] == (np.dtype(np.int64).num, 0.0, 1.0)
    with pytest.raises(ValueError, match="per_layer"):
        _ = sl.MaxPlus().core_descriptor  # dtype=None: the network's, unknown yet


# ------------------------------------------------------------ the library's entry points

def test_return_all_and_layer_and_the_initial_relevance():
    net, x = _conv(sl.MaxPool2d(2), np.float64)
    targets = np.array([1, 3])
    for semiring in (sl.MaxPlus(), sl.LogCounting(0.01), sl.MinMax()):
        r, layers = sl.relevance(net, x, target=targets, semiring=semiring, return_all=True)
        np.testing.assert_array_equal(layers[0], r)
        # R^(L): one at the target, zero elsewhere (-inf for max-plus and log-counting)
        out = layers["output"]
        expected = np.full(out.shape, semiring.zero())
        expected[np.arange(2), targets] = semiring.one()
        np.testing.assert_array_equal(out, expected)
        for name in net.names[1:]:
            alone = sl.relevance(net, x, target=targets, semiring=semiring, layer=name)
            np.testing.assert_array_equal(alone, layers[name])


def test_reducers_fold_with_the_semirings_add():
    net, x = _dense(np.float64)
    x = np.random.default_rng(10).uniform(size=(6, 7))
    for semiring, fold in ((sl.MaxPlus(), np.maximum), (sl.LogCounting(0.01), np.logaddexp),
                           (sl.MinMax(), np.maximum)):
        each = sl.relevance(net, x, target=0, semiring=semiring)
        got = sl.apps.reduce_relevance(net, x, semiring=semiring, target=0, reduce="semiring",
                                       batch_size=4)
        np.testing.assert_allclose(got, fold.reduce(each, axis=0), rtol=1e-12)
    counting = sl.FloatCounting(0.01)
    each = sl.relevance(net, x, target=0, semiring=counting)
    got = sl.apps.reduce_relevance(net, x, semiring=counting, target=0, reduce="sum")
    np.testing.assert_array_equal(got, each.sum(axis=0))


def test_channels_fold_with_the_semirings_add():
    r = np.random.default_rng(11).normal(size=(2, 3, 4, 4))
    np.testing.assert_allclose(sl.aggregate_channels(r, sl.LogCounting()),
                               np.logaddexp(np.logaddexp(r[:, 0], r[:, 1]), r[:, 2]))
    np.testing.assert_array_equal(sl.aggregate_channels(r, sl.MinMax()), r.max(axis=1))
    minimum = sl.Semiring.compose(add="min", mul="max", zero=np.inf, one=-np.inf,
                                  annotate=an.viterbi())
    np.testing.assert_array_equal(sl.aggregate_channels(r, minimum), r.min(axis=1))


def test_pictures_of_composed_semirings(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    assert sl.viz.kind_of(sl.Semiring.compose(add="or", mul="and", annotate=an.threshold(),
                                              dtype="bool")) == "boolean"
    assert sl.viz.kind_of(sl.FloatCounting()) == "counting"
    assert sl.viz.kind_of(sl.Semiring.compose(add="max", mul="times", zero=0.0,
                                              annotate=an.viterbi())) == "viterbi"
    assert sl.viz.kind_of(sl.MaxPlus()) == "real"
    assert "threshold 0.25" in sl.viz.describe(sl.LogCounting(0.25))
    net, x = _conv(sl.AvgPool2d(2), np.float64)
    path = tmp_path / "grid.png"
    # MaxPlus and LogCounting maps hold -inf (no path): drawn at their lowest finite value
    sl.viz.compare(net, x, targets=0, path=str(path),
                   semirings=[sl.MaxPlus(), sl.MinMax(), sl.LogCounting(0.01),
                              sl.FloatCounting(0.01)])
    assert path.stat().st_size > 0
    sl.viz.compare(net, x, targets=0, semiring=sl.LogCounting(), thresholds=[0.01, 0.1])


def test_features_that_cannot_apply_say_so():
    net, x = _dense(np.float64)
    with pytest.raises(ValueError, match="init='activation'"):
        sl.relevance(net, x, target=0, semiring=sl.MaxPlus(), init="activation")
    with pytest.raises(TypeError, match="calibrate_thresholds"):
        sl.calibrate_thresholds(net, x, sl.FloatCounting(), density=0.5)
    with pytest.raises(TypeError, match="thresholds="):
        sl.viz.compare(net, x, targets=0, semiring=sl.MaxPlus(), thresholds=[0.1])


def test_per_layer_thresholds_resolve_as_booleans_do():
    net, x = _counting_case(7, np.float64)
    thetas = [0.01, 0.2, 1e-9, 0.05]
    names = [net.names[i] for i in net.weighted_layers]
    by_name = dict(zip(names, thetas))
    listed = sl.relevance(net, x, target=0, semiring=sl.FloatCounting(thetas))
    named = sl.relevance(net, x, target=0, semiring=sl.FloatCounting(by_name))
    np.testing.assert_array_equal(listed, named)
    assert listed.max() > 1
    single = sl.relevance(net, x, target=0, semiring=sl.FloatCounting(0.05))
    assert not np.array_equal(listed, single)  # the per-layer values matter here
    boolean = sl.relevance(net, x, target=0, semiring=sl.Boolean(by_name))
    np.testing.assert_array_equal(named > 0, boolean)
    with pytest.raises(ValueError, match="has 2 thresholds but the network has 4 weighted"):
        sl.relevance(net, x, target=0, semiring=sl.FloatCounting(thetas[:2]))
    with pytest.raises(ValueError):
        sl.relevance(net, x, target=0, semiring=sl.FloatCounting({"nope": 0.1}))
    with pytest.raises(ValueError, match="float32"):
        net32, x32 = _dense(np.float32)
        sl.relevance(net32, x32, target=0, semiring=sl.LogCounting(1e-60))


def test_ready_made_semirings_are_their_compositions():
    net, x = _conv(sl.AvgPool2d(2), np.float64)
    pairs = [
        (sl.MaxPlus(), sl.Semiring.compose(add="max", mul="plus", zero=-np.inf, one=0.0,
                                           annotate=an.log_abs())),
        (sl.MinMax(), sl.Semiring.compose(add="max", mul="min", zero=0.0, one=np.inf,
                                          annotate=an.abs())),
        (sl.FloatCounting(0.01, True), sl.Semiring.compose(
            add="plus", mul="times", annotate=an.threshold(0.01, absolute=True),
            dtype="float64")),
        (sl.LogCounting(0.01), sl.Semiring.compose(
            add="logaddexp", mul="plus", zero=-np.inf, one=0.0, annotate=an.threshold(0.01),
            dtype="float64")),
    ]
    for ready, spelled in pairs:
        np.testing.assert_array_equal(sl.relevance(net, x, target=2, semiring=ready),
                                      sl.relevance(net, x, target=2, semiring=spelled))
        assert ready.__doc__ and "Semiring.compose" in ready.__doc__
        assert repr(ready).startswith(type(ready).__name__ + "(")


def test_a_pickled_semiring_gives_the_same_relevance():
    # what a Dask worker gets: the semiring pickled, its chain and thresholds included
    import pickle

    net, x = _counting_case(7, np.float64)
    for semiring in (sl.MaxPlus(), sl.LogCounting({"0": 0.01, "2": 0.2, "4": 1e-9, "6": 0.05}),
                     sl.Semiring.compose(add="max", mul="times", zero=0.0,
                                         annotate=an.viterbi().then(an.clip(0.1, 0.5)))):
        again = pickle.loads(pickle.dumps(semiring))
        assert repr(again) == repr(semiring)
        np.testing.assert_array_equal(sl.relevance(net, x, target=0, semiring=again),
                                      sl.relevance(net, x, target=0, semiring=semiring))


def test_masks_read_relevant_as_not_the_semirings_zero():
    # MaxPlus's and LogCounting's 0 is -inf: a pixel is relevant where it is not -inf
    net, x = _counting_case(7, np.float64)
    x[0, :4] = 0.0  # inputs of 0 have d = 0 everywhere: log 0 = -inf, no path
    for semiring in (sl.MaxPlus(), sl.LogCounting(0.05)):
        each = sl.relevance(net, x, target=0, semiring=semiring)
        assert np.any(each == -np.inf) and np.any(each != -np.inf)
        masks = sl.apps.reduce_relevance(net, x, semiring=semiring, target=0,
                                         reduce=("or", "and"))
        np.testing.assert_array_equal(masks["or"], np.any(each != -np.inf, axis=0))
        np.testing.assert_array_equal(masks["and"], np.all(each != -np.inf, axis=0))


def test_density_counts_what_is_not_the_semirings_zero():
    net, x = _counting_case(7, np.float64)
    x[0, :4] = 0.0
    for semiring in (sl.MaxPlus(), sl.MinMax(), sl.LogCounting(0.05)):
        _, layers = sl.relevance(net, x, target=0, semiring=semiring, return_all=True)
        density = layers.density()
        for name, r in zip(layers.names(), layers):
            assert density[name] == np.mean(r != semiring.zero())
        per_sample = layers.density(per_sample=True)["input"]
        np.testing.assert_array_equal(per_sample, np.mean(layers[0] != semiring.zero(), axis=1))


@pytest.mark.slow
def test_log_counting_answers_on_vgg16_where_counting_overflows():
    # the paper's VGG-16 threshold 1e-9 (absolute): the counts pass 2**63
    torch = pytest.importorskip("torch")
    from reference import vgg_with_narrow_classifier

    torch.manual_seed(0)
    net = sl.from_torch(vgg_with_narrow_classifier("vgg16").eval())
    x = np.random.default_rng(0).normal(size=(3, 224, 224)).astype(np.float32)
    with pytest.raises(OverflowError, match="int64"):
        sl.relevance(net, x, target=3, semiring=sl.Counting(1e-9, absolute=True))
    log_counts = sl.relevance(net, x, target=3, semiring=sl.LogCounting(1e-9, absolute=True))
    assert log_counts.dtype == np.float64
    assert np.all(np.isfinite(log_counts))
    # some input has more relevant paths than int64 holds: why counting raised
    assert log_counts.max() > math.log(INT64_MAX)


class _ReadmeMaxPlus(sl.Semiring):
    """The README's "Your own semiring" example, word for word."""
    def zero(self): return -np.inf
    def one(self): return 0.0
    def add(self, a, b): return np.maximum(a, b)
    def mul(self, a, b): return a + b
    def annotate(self, d, layer):
        with np.errstate(divide="ignore"):
            return np.log(np.abs(d))


class _OwnMinMax(sl.Semiring):
    def zero(self): return 0.0
    def one(self): return np.inf
    def add(self, a, b): return np.maximum(a, b)
    def mul(self, a, b): return np.minimum(a, b)
    def annotate(self, d, layer): return np.abs(d)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rule_name", ["zero", "epsilon", "gamma"])
def test_own_semirings_on_numpy_equal_the_ready_made_product_tiers(rule_name, dtype):
    # six and five channels: the second conv and the linear layers take the
    # product tiers, the first conv (3 input channels) the generic one
    rng = np.random.default_rng(21)
    layers = [sl.Conv2d(rng.normal(size=(6, 3, 3, 3)) / 3, rng.normal(size=6) * 0.1, padding=1),
              sl.ReLU(),
              sl.Conv2d(rng.normal(size=(5, 6, 3, 3)) / 4, rng.normal(size=5) * 0.1, padding=1),
              sl.ReLU(), sl.MaxPool2d(2), sl.Flatten(),
              sl.Linear(rng.normal(size=(4, 45)) / 5, rng.normal(size=4) * 0.1)]
    net = sl.Network(layers, input_shape=(3, 6, 6)).astype(dtype)
    x = rng.uniform(size=(3, 3, 6, 6)).astype(dtype)
    rule = _rule_list(rule_name, 3)
    for ready, own, tier in ((sl.MaxPlus(), _ReadmeMaxPlus(), "max_plus"),
                             (sl.MinMax(), _OwnMinMax(), "min_max")):
        with sl.trace_tiers() as fast:
            got = sl.relevance(net, x, target=_targets(net, x), rule=rule, semiring=ready)
        with sl.trace_tiers() as numpy_path:
            want = sl.relevance(net, x, target=_targets(net, x), rule=rule, semiring=own)
        assert {"conv.composed." + tier + "_product", "dense.composed." + tier} <= {
            record[2] for record in fast.records}
        assert {record[2] for record in numpy_path.records if "forward" not in record[2]} == {
            "numpy"}
        _assert_close(got, want, dtype)
