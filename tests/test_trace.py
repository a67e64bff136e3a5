"""`sl.trace_tiers()`: which tier of the C core each call took, attributed
to the network's layers, for the calling thread only and only while the
context is open."""
import threading
import warnings

import numpy as np
import pytest
from reference import on_generic_path

import semiring_lrp as sl
from semiring_lrp import _core, layers, pooling, rules

SPARSE = ["dense.forward.sparse_inputs", "dense.real.sparse_inputs"]
FUSED = ["conv.forward.winograd_fused", "conv.real.winograd_fused"]
NAMES = ["image", "deep", "act", "pool", "flat", "head"]


@pytest.fixture(scope="module")
def sparse_batch():
    """300 MNIST test digits as the MLP's input: about 80% of the pixels are 0."""
    images, _ = sl.datasets.mnist("test")
    return sl.models.mnist_input(images[:300])


@pytest.fixture(scope="module")
def mlp():
    return sl.models.mnist_mlp()


def _winograd_net(dtype=np.float32):
    """A 3x3 Conv2d of 70 to 64 channels over 13x15 inputs (Winograd's
    products both ways: 56 tiles of 2x2) between element-wise layers, a
    pool and a head; its layers are named NAMES."""
    rng = np.random.default_rng(4)
    conv = layers.Conv2d((rng.normal(size=(64, 70, 3, 3)) / 24).astype(dtype),
                         (rng.normal(size=64) * 0.1).astype(dtype), padding=1)
    head = layers.Linear((rng.normal(size=(5, 64 * 6 * 7)) / 50).astype(dtype))
    net = sl.Network([layers.ReLU(), conv, layers.ReLU(), pooling.MaxPool2d(2),
                      layers.Flatten(), head], names=NAMES)
    x = np.abs(rng.normal(size=(2, 70, 13, 15))).astype(dtype)
    return net, x


def _with(records, suffix):
    return [record for record in records if record[2].endswith(suffix)]


def test_mlp_first_layer_takes_the_sparse_tier(mlp, sparse_batch, restore_kernels):
    with sl.trace_tiers() as trace:
        sl.relevance(mlp, sparse_batch, rule=rules.Zero())
    fc1 = mlp.names.index("fc1")
    assert _with(trace.records, ".sparse_inputs") == [(fc1, "fc1", tier) for tier in SPARSE]
    assert [t for t in trace.tiers("fc1") if t.endswith(".sparse_inputs")] == SPARSE
    assert trace.tiers("fc1") == trace.tiers(fc1)
    _core._testing.set_sparse_passes(False)
    with sl.trace_tiers() as trace:
        sl.relevance(mlp, sparse_batch, rule=rules.Zero())
    assert _with(trace.records, ".sparse_inputs") == []


def test_winograd_fused_or_not(restore_kernels):
    net, x = _winograd_net()
    deep = NAMES.index("deep")
    _core._testing.set_winograd_fusion("always")
    with sl.trace_tiers() as fused:
        sl.relevance(net, x, target=[0, 3], rule=rules.Zero())
    # the forward pass, then the real step of the walk back
    assert _with(fused.records, ".winograd_fused") == [(deep, "deep", tier) for tier in FUSED]
    _core._testing.set_winograd_fusion("never")
    with sl.trace_tiers() as wide:
        sl.relevance(net, x, target=[0, 3], rule=rules.Zero())
    assert _with(wide.records, ".winograd_fused") == []


def test_records_name_the_layer_that_made_the_call(mlp, sparse_batch, restore_kernels):
    _core._testing.set_winograd_fusion("always")
    conv_net, x = _winograd_net()
    with sl.trace_tiers() as trace:
        mlp.forward(sparse_batch)
        sl.relevance(conv_net, x, rule=rules.Epsilon(0.1))
    families = {layers.Linear: "dense.", layers.Conv2d: "conv.", pooling.MaxPool2d: "pool."}
    assert trace.records  # at least the sparse and fused tiers
    for index, name, tier in trace.records:
        net = mlp if name in mlp.names else conv_net
        assert name == net.names[index]
        assert tier.startswith(families[type(net.layers[index])]), (name, tier)
    assert trace.tiers("fc1")[0] == "dense.forward.sparse_inputs"
    assert "conv.forward.winograd_fused" in trace.tiers("deep")


def test_calls_outside_a_network_have_no_layer(mlp, sparse_batch):
    fc1 = mlp.layers[mlp.names.index("fc1")]
    with sl.trace_tiers() as trace:
        fc1.forward(sparse_batch.reshape(len(sparse_batch), -1))
        mlp.forward(sparse_batch)  # its layers are not given the call above
    assert _with(trace.records, ".sparse_inputs") == [
        (None, None, "dense.forward.sparse_inputs"), (1, "fc1", "dense.forward.sparse_inputs")]
    assert trace.tiers(1) == ["dense.forward.sparse_inputs"]


def test_nothing_is_recorded_outside_the_context(mlp, sparse_batch):
    mlp.forward(sparse_batch)  # before: forgotten when the trace starts
    with sl.trace_tiers() as trace:
        pass
    assert trace.records == []
    assert str(trace) == "no C calls traced"
    with sl.trace_tiers() as trace:
        mlp.forward(sparse_batch)
    kept = list(trace.records)
    assert kept
    mlp.forward(sparse_batch)  # after: the C core notes nothing
    assert trace.records == kept
    assert _core.trace_take() == []


def test_another_threads_passes_are_not_recorded(mlp, sparse_batch):
    seen = {}

    def other(name):
        with sl.trace_tiers() as own:
            sl.relevance(mlp, sparse_batch, rule=rules.Zero())
        seen[name] = own.records

    with sl.trace_tiers() as trace:
        worker = threading.Thread(target=other, args=("worker",))
        worker.start()
        worker.join()
        sl.relevance(mlp, sparse_batch[:3], rule=rules.Zero())  # too few for the sparse tier
    assert _with(seen["worker"], ".sparse_inputs") == [(1, "fc1", tier) for tier in SPARSE]
    assert _with(trace.records, ".sparse_inputs") == []


def test_nested_traces_both_record_the_inner_calls(mlp, sparse_batch):
    with sl.trace_tiers() as outer:
        mlp.forward(sparse_batch)
        with sl.trace_tiers() as inner:
            sl.relevance(mlp, sparse_batch, rule=rules.Zero())
        mlp.forward(sparse_batch)
    forward = (1, "fc1", "dense.forward.sparse_inputs")
    inner_sparse = _with(inner.records, ".sparse_inputs")
    assert inner_sparse == [(1, "fc1", tier) for tier in SPARSE]
    assert _with(outer.records, ".sparse_inputs") == [forward, *inner_sparse, forward]


def test_the_numpy_path_is_named(restore_kernels):
    net, x = _winograd_net(np.float64)
    _core._testing.set_winograd_fusion("always")
    with sl.trace_tiers() as trace:
        sl.relevance(net, x[:1], target=1, semiring=on_generic_path(sl.Real()))
    for name in ("deep", "pool", "head"):
        assert trace.tiers(name)[-1] == "numpy", name
    for name in ("image", "act", "flat"):
        assert "numpy" not in trace.tiers(name), name
    # the forward pass is the C core's whatever the semiring
    assert trace.tiers("deep")[0] == "conv.forward.winograd_fused"
    with sl.trace_tiers() as kernel:
        sl.relevance(net, x[:1], target=1, semiring=sl.Real())
    assert all(tier != "numpy" for _, _, tier in kernel.records)


def test_table_and_lookups(mlp, sparse_batch):
    with sl.trace_tiers() as trace:
        mlp.forward(sparse_batch)
    lines = str(trace).splitlines()
    assert lines[0].split() == ["index", "layer", "tier"]
    assert ["1", "fc1", "dense.forward.sparse_inputs"] in [line.split() for line in lines]
    assert len(lines) == 1 + len(trace.records)
    with pytest.raises(TypeError, match="index .* or name"):
        trace.tiers(1.0)


def test_notes_past_the_capacity_are_reported():
    rng = np.random.default_rng(2)
    layer = layers.Linear(rng.normal(size=(8, 40)).astype(np.float32))
    a = (rng.random((64, 40)) < 0.1).astype(np.float32)  # the sparse tier notes every call
    with pytest.warns(RuntimeWarning, match="not kept"):
        with sl.trace_tiers() as trace:
            for _ in range(300):
                layer.forward(a)
    assert len(trace.records) == 256


_PASSES = {"dense_forward": "dense.forward", "dense_absmax": "dense.absmax",
           "conv_forward": "conv.forward", "conv_absmax": "conv.absmax",
           "pool_forward": "pool.forward", "dense_relevance": "dense",
           "conv_relevance": "conv", "pool_relevance": "pool"}
_SEMIRING_NAMES = {_core.SEMIRING_REAL: "real", _core.SEMIRING_BOOLEAN: "boolean",
                   _core.SEMIRING_COUNTING: "counting", _core.SEMIRING_VITERBI: "viterbi"}


def test_every_pass_of_the_core_notes_exactly_its_one_tier(monkeypatch, restore_kernels):
    """Every dense, conv and pool pass, on networks that reach every tier
    (tests/bit_for_bit.py), notes one tier of its own family and pass."""
    import bit_for_bit

    expected = []

    def counted(name, fn):
        def call(*args, **kwargs):
            family = _PASSES[name]
            if name.endswith("_relevance"):
                semiring = kwargs.get("semiring", args[0] if args else None)
                family += "." + _SEMIRING_NAMES[semiring]
            expected.append(family)
            return fn(*args, **kwargs)
        return call

    for name in _PASSES:
        monkeypatch.setattr(_core, name, counted(name, getattr(_core, name)))
    seen = []
    for switch, apply in bit_for_bit._switches():
        apply()
        for dtype in (np.float32, np.float64):
            for case, net, x, target in bit_for_bit.cases(dtype):
                for rule in bit_for_bit.rule_sets(net).values():
                    for semiring in bit_for_bit.semirings(
                            isinstance(net.layers[0], layers.Conv2d)).values():
                        before = len(expected)
                        _core.trace_start()
                        try:
                            with warnings.catch_warnings():
                                warnings.simplefilter("ignore", sl.RelevanceWarning)
                                sl.relevance(net, x, target=target, semiring=semiring,
                                             rule=rule)
                            notes = _core.trace_take()
                        finally:
                            _core.trace_stop()
                        calls = expected[before:]
                        assert len(notes) == len(calls), (switch, case, semiring, calls, notes)
                        for call, note in zip(calls, notes):
                            assert note.startswith(call + "."), (case, call, note)
                        seen.extend(notes)
        bit_for_bit._restore()
    tiers = set(seen)
    # the tiers the issue names are all reached by these networks
    for tier in ("dense.forward.few_samples", "dense.forward.weights_first",
                 "dense.forward.sparse_inputs", "dense.forward.packed_product",
                 "dense.forward.zbox", "dense.boolean.intervals", "conv.forward.winograd",
                 "conv.forward.winograd_fused", "conv.real.direct", "conv.real.packed_product",
                 "conv.real.spread_packed_product", "conv.viterbi.spread_packed_product",
                 "conv.boolean.spread_intervals", "conv.counting.spread_intervals",
                 "conv.counting.intervals", "pool.real.rows_2x2", "pool.forward.windows"):
            assert tier in tiers, (tier, sorted(tiers))

