"""Threads and instruction sets: every kernel path (AVX-512, AVX2, portable)
against the literal reference and against each other, and results that do
not depend on the thread count."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from reference import ISAS, literal_relevance, relative_error

import semiring_lrp as sl
from semiring_lrp import _core, parallel, rules
from semiring_lrp.layers import KernelStep
from semiring_lrp.semiring_specs import BOOLEAN, COUNTING, REAL, VITERBI

nn = torch.nn

SEMIRINGS = {"real": sl.Real(), "boolean": sl.Boolean(0.05), "counting": sl.Counting(1e-3),
             "viterbi": sl.Viterbi()}


def _awkward_net(dtype):
    """Channel counts that leave partial micro-tiles (9, 29, 10 rows), an inner
    size past one cache chunk (the second conv's transposed pass: 29 * 9 = 261 > 256), more output pixels than one
    column block (9 x 31 = 279 > 256), dilation and a non-square kernel."""
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 9, 3, padding=1), nn.ReLU(),
        nn.Conv2d(9, 29, 3, padding=1), nn.ReLU(),
        nn.Conv2d(29, 10, (3, 2), padding=(1, 2), dilation=(1, 2)), nn.ReLU(),
        nn.Flatten(), nn.Linear(10 * 9 * 33, 6)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.copy_(torch.randn_like(p) * 0.1)
    net = sl.from_torch(model).astype(dtype)
    x = np.random.default_rng(4).uniform(0, 1, size=(2, 3, 9, 31)).astype(dtype)
    return net, x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_instruction_set_equals_the_literal_reference(dtype, restore_kernels):
    net, x = _awkward_net(dtype)
    targets = np.array([1, 4])
    # z^B on the first layer (inputs in [0, 1]): the stacked-layer products
    rule_list = [rules.ZBox(low=0.0, high=1.0), rules.Gamma(0.25), rules.Zero(),
                 rules.Epsilon(1e-3)]
    tolerance = 1e-4 if dtype == np.float32 else 1e-11
    for kind, semiring in SEMIRINGS.items():
        thetas = [semiring.theta(i) for i in range(4)] if kind in ("boolean", "counting") else None
        want = literal_relevance(net, x, targets, kind, rule_list, thetas=thetas)
        for isa in ISAS:
            _core.set_isa(isa)
            got = sl.relevance(net, x, target=targets, semiring=semiring, rule=rule_list)
            if kind in ("boolean", "counting"):
                np.testing.assert_array_equal(got, want, err_msg=f"{isa} {kind}")
            else:
                assert relative_error(got, want) < tolerance, (isa, kind)


def _wide_layer(dtype, stride=1):
    rng = np.random.default_rng(5)
    a = np.maximum(rng.normal(size=(2, 40, 19, 45)), 0).astype(dtype)
    w = (rng.normal(size=(70, 40, 3, 3)) * 0.05).astype(dtype)
    b = (rng.normal(size=70) * 0.1).astype(dtype)
    return sl.Conv2d(w, b, stride=stride, padding=1), a, rng


def _wide_linear(dtype):
    """A batch of 67 (past the weights-first forward's 64; partial row
    tiles), 300 inputs (past one cache chunk of the forward) and 290 outputs
    (past one column block and one chunk of the transposed passes)."""
    rng = np.random.default_rng(7)
    a = np.maximum(rng.normal(size=(67, 300)), 0).astype(dtype)
    w = (rng.normal(size=(290, 300)) * 0.05).astype(dtype)
    b = (rng.normal(size=290) * 0.1).astype(dtype)
    return sl.Linear(w, b), a, rng


WIDE_LAYERS = {"conv": _wide_layer, "conv stride 2": lambda dtype: _wide_layer(dtype, 2),
               "linear": _wide_linear}


def _all_passes(layer, a, rng, rule):
    """forward, absmax and the four relevance passes of one layer."""
    z = rule.stabilise(layer.weighted_sum(a, rule))
    m = layer.absmax(a, rule)
    # ratios R / z of moderate size: a random R over a z near 0 would make the
    # comparison one of cancellation, not of kernels
    r_real = (z * rng.uniform(0.5, 1.5, size=z.shape)).astype(a.dtype)
    r_bool = rng.random(z.shape) < 0.3
    r_count = rng.integers(0, 1000, size=z.shape)
    return {
        "forward": z, "absmax": m,
        "real": layer.kernel_relevance(KernelStep(REAL, rule=rule, z=z), a, r_real),
        "viterbi": layer.kernel_relevance(KernelStep(VITERBI, rule=rule, z=m), a,
                                          np.abs(r_real)),
        "boolean": layer.kernel_relevance(KernelStep(BOOLEAN, 0.02, False, rule=rule, z=z), a,
                                          r_bool),
        "boolean |d|": layer.kernel_relevance(KernelStep(BOOLEAN, 0.02, True, rule=rule, z=z),
                                              a, r_bool),
        "counting": layer.kernel_relevance(KernelStep(COUNTING, 1e-3, False, rule=rule, z=z),
                                           a, r_count),
    }


@pytest.mark.parametrize("wide", WIDE_LAYERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_instruction_sets_agree_on_a_wide_layer(dtype, wide, restore_kernels):
    layer, a, _ = WIDE_LAYERS[wide](dtype)
    results = {}
    for isa in ISAS:
        _core.set_isa(isa)
        results[isa] = _all_passes(layer, a, np.random.default_rng(6), rules.Gamma(0.25))
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    for isa in ISAS[1:]:
        for name, want in results["portable"].items():
            got = results[isa][name]
            if name in ("forward", "real", "viterbi"):  # fused multiply-adds round once
                assert relative_error(got, want) < tolerance, (isa, name)
            else:  # maxima, comparisons and exact counts
                np.testing.assert_array_equal(got, want, err_msg=f"{isa} {name}")


def _pool_passes(maxpool):
    """A max pool over 2.4 million inputs: enough for its planes to be shared
    among threads; overlapping windows (3 x 3, stride 2)."""
    rng = np.random.default_rng(8)
    a = rng.normal(size=(2, 8, 385, 383)).astype(np.float32)
    pool = sl.MaxPool2d(3, stride=2)
    out = pool.forward(a)
    r_real = rng.uniform(0.5, 1.5, size=out.shape).astype(np.float32)
    return {
        f"pool {maxpool} real": pool.kernel_relevance(KernelStep(REAL, maxpool=maxpool), a,
                                                      r_real),
        f"pool {maxpool} viterbi": pool.kernel_relevance(KernelStep(VITERBI, maxpool=maxpool),
                                                         a, r_real),
        f"pool {maxpool} boolean": pool.kernel_relevance(
            KernelStep(BOOLEAN, 0.1, maxpool=maxpool), a, r_real > 1),
        f"pool {maxpool} counting": pool.kernel_relevance(
            KernelStep(COUNTING, 0.1, maxpool=maxpool), a, rng.integers(0, 9, size=out.shape)),
    }


@pytest.mark.parametrize("pool", ["max", "average"])
def test_2x2_pools_on_many_threads_equal_the_literal_reference(pool, restore_kernels):
    """2x2 windows of stride 2 (VGG's) take their own loops; two samples of
    4 planes of 131 x 129 (one row and one column past the last window),
    135,192 inputs, are enough work for two threads (65,536 each at least)."""
    rng = np.random.default_rng(9)
    layer = sl.MaxPool2d(2) if pool == "max" else sl.AvgPool2d(2)
    net = sl.Network([layer, sl.Flatten(),
                      sl.Linear(rng.normal(size=(3, 4 * 65 * 64)) * 0.05, rng.normal(size=3))],
                     input_shape=(4, 131, 129))
    x = rng.uniform(0, 1, size=(2, 4, 131, 129))
    targets = np.array([2, 0])
    for threads in (1, 2):
        sl.set_num_threads(threads)
        for maxpool in ("winner", "average"):
            for kind, semiring in SEMIRINGS.items():
                thetas = thetas_pool = None
                if kind in ("boolean", "counting"):
                    thetas, thetas_pool = [semiring.theta(0)], [semiring.pool_theta(0)]
                want = literal_relevance(net, x, targets, kind, [rules.Zero()], thetas=thetas,
                                         pool_thetas=thetas_pool, maxpool=maxpool)
                got = sl.relevance(net, x, target=targets, semiring=semiring, maxpool=maxpool)
                if kind in ("boolean", "counting"):
                    np.testing.assert_array_equal(got, want, err_msg=f"{kind} {maxpool}")
                    assert got.any()
                else:
                    assert relative_error(got, want) < 1e-12, (kind, maxpool)


@pytest.mark.parametrize("isa", ISAS)
def test_thread_count_changes_no_bit(isa, restore_kernels):
    _core.set_isa(isa)
    layers = {name: make(np.float32) for name, make in WIDE_LAYERS.items()}
    net, x = _awkward_net(np.float32)
    # z^B first: its Viterbi passes go pair by pair, item by item
    composite = [rules.ZBox(low=0.0, high=1.0)] + [rules.Gamma(0.1)] * 3
    outcomes = []
    # (threads, pieces per thread): 1 piece each, the default, one item a piece
    splits = ((1, 4), (2, 1), (2, 4), (3, 1024), (7, 4))
    for threads, pieces in splits:
        sl.set_num_threads(threads)
        _core._testing.set_pieces_per_thread(pieces)
        passes = {}
        for name, (layer, a, _) in layers.items():
            for pass_name, result in _all_passes(layer, a, np.random.default_rng(6),
                                                 rules.Gamma(0.25)).items():
                passes[f"{name} {pass_name}"] = result
        for kind, semiring in SEMIRINGS.items():
            passes["net " + kind] = sl.relevance(net, x, semiring=semiring, rule=composite)
        for maxpool in ("winner", "average"):
            passes.update(_pool_passes(maxpool))
        outcomes.append(passes)
    for split, passes in zip(splits[1:], outcomes[1:]):
        for name, want in outcomes[0].items():
            np.testing.assert_array_equal(passes[name], want, err_msg=f"{split} {name}")


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
@pytest.mark.parametrize("pieces", [1, 2, 4, 1024])
def test_every_item_runs_once_however_the_pieces_are_claimed(threads, pieces, restore_kernels):
    sl.set_num_threads(threads)
    _core._testing.set_pieces_per_thread(pieces)
    for items in (0, 1, 2, 3, 7, 64, 1001):
        for slow in (-1, 0, threads - 1):
            runs, workers = _core._testing.claim_probe(items, slow, 2000)
            assert runs == [1] * items, (items, slow)
            assert set(workers) <= set(range(threads)), (items, slow)


def test_rounds_in_quick_succession_each_run_every_item_once(restore_kernels):
    """Rounds of a few instant pieces: the caller mostly claims them all
    before a worker wakes, and the round then closes to that worker, which
    must skip it and still join the next."""
    sl.set_num_threads(3)
    for round_ in range(300):
        items = 1 + round_ % 7
        runs, workers = _core._testing.claim_probe(items, -1, 0)
        assert runs == [1] * items, round_
        assert set(workers) <= {0, 1, 2}, round_
    sl.set_num_threads(2)
    runs, workers = _core._testing.claim_probe(1000, 0, 200_000)
    assert runs == [1] * 1000
    assert set(workers) == {0, 1}  # the worker still joins a round that needs it


@pytest.mark.parametrize("pieces, taken_over", [(1, 0), (4, 250), (1024, 250)])
def test_a_slow_thread_costs_only_the_pieces_it_claimed(pieces, taken_over, restore_kernels):
    """The calling thread (worker 0) claims the first half of its share and
    sleeps in it: the other thread runs its own share and then the rest of
    the caller's, whole pieces only."""
    sl.set_num_threads(2)
    _core._testing.set_pieces_per_thread(pieces)
    runs, workers = _core._testing.claim_probe(1000, 0, 300_000)
    assert runs == [1] * 1000
    workers = np.array(workers)
    assert (workers[500:] == 1).all()
    assert (workers[:500 - taken_over] == 0).all()
    assert (workers[500 - taken_over:500] == 1).all()


def test_pieces_per_thread_setting(restore_kernels):
    _core._testing.set_pieces_per_thread(7)
    assert _core._testing.pieces_per_thread() == 7
    for bad in (0, -1, 1025):
        with pytest.raises(ValueError, match="1 .. 1024"):
            _core._testing.set_pieces_per_thread(bad)
    assert _core._testing.pieces_per_thread() == 7
    with pytest.raises(ValueError, match="claim_probe"):
        _core._testing.claim_probe(-1, 0, 0)


def test_thread_count_setting(restore_kernels):
    sl.set_num_threads(3)
    assert sl.get_num_threads() == 3
    for bad in (0, -1, 1025):
        with pytest.raises(ValueError, match="1 to 1024"):
            sl.set_num_threads(bad)
    for bad in (2.0, "2", True):
        with pytest.raises(TypeError):
            sl.set_num_threads(bad)
    assert sl.get_num_threads() == 3


def test_thread_count_from_environment():
    read = parallel._threads_from_environment
    assert read({"SEMIRING_LRP_NUM_THREADS": "3", "OMP_NUM_THREADS": "5"}) == 3
    assert read({"OMP_NUM_THREADS": "4,2"}) == 4
    assert read({}) == parallel._available_cpus()
    default = min(parallel._available_cpus(), 1024)
    for bad in ("zero", "0", "-2", "2000", "4.5"):
        # NumPy and torch import with such a value: a warning and the default
        with pytest.warns(RuntimeWarning, match=f"SEMIRING_LRP_NUM_THREADS='{bad}'"):
            assert read({"SEMIRING_LRP_NUM_THREADS": bad, "OMP_NUM_THREADS": "5"}) == default


_WORKER_CPUS_SCRIPT = """
import os, sys, time
import numpy as np
import semiring_lrp as sl
cpus = {int(c) for c in sys.argv[1].split(",")}
before = set(os.listdir("/proc/self/task"))  # NumPy's BLAS threads, say
os.sched_setaffinity(0, cpus)  # this thread's, inherited by the workers it starts
rng = np.random.default_rng(0)
net = sl.models.mnist_mlp()
x = rng.random((300, 28, 28)).astype(np.float32)
sl.set_num_threads(1)
alone = [sl.relevance(net, x, semiring=s) for s in (sl.Real(), sl.Viterbi())]
sl.set_num_threads(4)
for _ in range(5):
    time.sleep(0.05)  # long enough for an idle CPU to go to sleep
    shared = [sl.relevance(net, x, semiring=s) for s in (sl.Real(), sl.Viterbi())]
    assert all(np.array_equal(a, b) for a, b in zip(alone, shared))
threads = set(os.listdir("/proc/self/task")) - before
assert len(threads) == 3, threads  # the kept workers
for tid in threads:
    held = os.sched_getaffinity(int(tid))
    assert held and held <= cpus, (tid, held, cpus)
print("ok", len(threads))
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux CPU affinity calls")
@pytest.mark.parametrize("which", ["one", "all"])
def test_worker_threads_stay_on_the_cpus_the_process_may_use(which):
    """Kept workers found on their caller's CPU move to another CPU of the
    ones the caller may use: on one CPU they stay, on all they never leave
    that set; results are those of one thread."""
    allowed = sorted(os.sched_getaffinity(0))
    cpus = allowed[:1] if which == "one" else allowed
    done = subprocess.run([sys.executable, "-c", _WORKER_CPUS_SCRIPT, ",".join(map(str, cpus))],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok")


def test_waking_the_workers_from_another_thread_changes_nothing(restore_kernels):
    """lrp_wake_workers only nudges the kept workers: called at any moment,
    from any thread, while passes run, it neither blocks nor alters them."""
    import threading

    sl.set_num_threads(2)
    net = sl.models.mnist_mlp()
    x = np.random.default_rng(1).random((200, 28, 28)).astype(np.float32)
    expected = sl.relevance(net, x, semiring=sl.Viterbi())
    stop = threading.Event()

    def nudge():
        while not stop.is_set():
            _core.wake_workers()

    nudger = threading.Thread(target=nudge)
    nudger.start()
    try:
        for _ in range(20):
            assert np.array_equal(sl.relevance(net, x, semiring=sl.Viterbi()), expected)
    finally:
        stop.set()
        nudger.join(timeout=60)
    assert not nudger.is_alive()


def test_instruction_set_choice(restore_kernels):
    assert sl.instruction_set() in ISAS
    with pytest.raises(ValueError, match="unknown instruction set"):
        _core.set_isa("sse9")
    with pytest.raises(ValueError, match="SEMIRING_LRP_ISA"):
        parallel._configure({"SEMIRING_LRP_ISA": "sse9"})
    parallel._configure({"SEMIRING_LRP_ISA": "portable", "SEMIRING_LRP_NUM_THREADS": "2"})
    assert sl.instruction_set() == "portable" and sl.get_num_threads() == 2


def test_only_the_instruction_sets_this_cpu_runs_are_accepted(restore_kernels):
    """x86-64 runs portable and the AVX sets its CPU has, aarch64 portable
    and NEON: set_isa takes exactly those, whatever the names' order."""
    assert ISAS[0] == "portable"
    assert not ("neon" in ISAS and "avx2" in ISAS)
    for name in ("portable", "avx2", "avx512", "neon"):
        if name in ISAS:
            _core.set_isa(name)
            assert sl.instruction_set() == name
        else:
            with pytest.raises(ValueError, match=f"cannot run the {name} kernels"):
                _core.set_isa(name)


@pytest.mark.parametrize("kind", SEMIRINGS)
def test_a_sample_gets_the_same_bits_in_any_batch(kind):
    """Streaming a dataset in batches of any size changes no result: every
    output is one reduction in a fixed order, whatever tile or thread runs it."""
    semiring = SEMIRINGS[kind]
    images, labels = sl.models.mnist_digits()
    mlp, digits = sl.models.mnist_mlp(), sl.models.mnist_input(images)
    # past 64 samples the dense forward takes the batch-first product
    digits = np.concatenate([digits, digits * 0.5, digits ** 2, digits[:10] * 0.25])
    labels = np.concatenate([labels, labels, labels, labels[:10]])
    conv, x = _awkward_net(np.float32)
    x = np.concatenate([x, x[::-1] * 0.5, x ** 2])
    for net, batch, targets in ((mlp, digits, labels), (conv, x, np.arange(len(x)) % 6)):
        whole = sl.relevance(net, batch, target=targets, semiring=semiring)
        for i in range(len(batch)):
            alone = sl.relevance(net, batch[i:i + 1], target=targets[i:i + 1], semiring=semiring)
            np.testing.assert_array_equal(alone[0], whole[i], err_msg=f"sample {i}")
        part = sl.relevance(net, batch[3:], target=targets[3:], semiring=semiring)
        np.testing.assert_array_equal(part, whole[3:])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_passes_give_a_sample_the_same_bits_on_every_path(isa, dtype, restore_kernels):
    """A Linear layer's forward and absmax take one path for up to 8 samples
    (weights streamed; absmax up to 32 in groups of 8), another up to 64
    (weights first) and the batch-first product past that; 45 outputs leave
    partial tiles on each, and 130 and 75 inputs partial blocks of the
    few-sample forward's 16 x 16 (float) and 8 x 8 (double) turns: 2 and 11
    columns."""
    _core.set_isa(isa)
    rng = np.random.default_rng(11)
    for inputs in (130, 75):
        a = rng.normal(size=(70, inputs)).astype(dtype)
        w = rng.normal(size=(45, inputs)).astype(dtype)
        b = rng.normal(size=45).astype(dtype)
        for rule in ((_core.RULE_ZERO, 0.0, 0, 0.0), (_core.RULE_GAMMA, 0.0, 0, 0.25)):
            for name in ("dense_forward", "dense_absmax"):
                whole = getattr(_core, name)(a, w, b, rule)
                for start, stop in ((0, 1), (5, 13), (20, 28), (0, 9), (3, 20), (0, 32),
                                    (2, 35), (30, 64)):
                    part = getattr(_core, name)(a[start:stop], w, b, rule)
                    np.testing.assert_array_equal(part, whole[start:stop],
                                                  err_msg=f"{name} {rule} {inputs} inputs "
                                                          f"{start}:{stop}")


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_transposed_passes_give_a_sample_the_same_bits_on_every_path(isa, dtype,
                                                                         restore_kernels):
    """A Linear layer's real and Viterbi relevance stream the weights for up to
    8 samples (in blocks of whole vectors, at most 4096 inputs: 8229 inputs
    make 3 to 4 with a narrower last one, 130 one) and take the packed
    product past that. 45 outputs make 11 groups of 4 rows and one left over; R_k is
    zero for every sample on some rows (skipped) and for some samples only on
    others (their groups go row by row)."""
    _core.set_isa(isa)
    rng = np.random.default_rng(13)
    for inputs in (8229, 130):
        a = rng.normal(size=(70, inputs)).astype(dtype)
        w = rng.normal(size=(45, inputs)).astype(dtype)
        r_out = rng.uniform(0.5, 1, size=(70, 45)).astype(dtype)
        r_out[:, [2, 9, 10, 11, 12, 44]] = 0
        r_out[rng.random((70, 45)) < 0.2] = 0
        for rule in ((_core.RULE_ZERO, 0.0, 0, 0.0), (_core.RULE_GAMMA, 0.0, 0, 0.25)):
            b = np.zeros(45, dtype)
            passes = {"real": (_core.SEMIRING_REAL, _core.dense_forward(a, w, b, rule)),
                      "viterbi": (_core.SEMIRING_VITERBI, _core.dense_absmax(a, w, b, rule))}
            for name, (semiring, den) in passes.items():
                with sl.trace_tiers() as trace:
                    whole = _core.dense_relevance(semiring, a, w, den, r_out, rule)
                assert trace.records == [(None, None, f"dense.{name}.packed_product")]
                for start, stop in ((0, 1), (5, 13), (20, 28), (61, 64), (69, 70)):
                    with sl.trace_tiers() as trace:
                        part = _core.dense_relevance(semiring, a[start:stop], w, den[start:stop],
                                                     r_out[start:stop], rule)
                    assert trace.records == [(None, None, f"dense.{name}.few_samples")]
                    np.testing.assert_array_equal(part, whole[start:stop],
                                                  err_msg=f"{name} {rule} {inputs} inputs "
                                                          f"{start}:{stop}")


@pytest.mark.parametrize("batch, tier", [(8, "few_samples"), (9, "sample_groups"),
                                         (32, "sample_groups"), (33, "weights_first")])
def test_dense_absmax_takes_its_weights_in_sample_groups_up_to_32(batch, tier):
    rng = np.random.default_rng(12)
    a = rng.normal(size=(batch, 40))
    w = rng.normal(size=(20, 40))
    with sl.trace_tiers() as trace:
        m = _core.dense_absmax(a, w, np.zeros(20), (_core.RULE_ZERO, 0.0, 0, 0.0))
    assert trace.records == [(None, None, f"dense.absmax.{tier}")]
    want = np.abs(a)[:, None, :] * np.abs(w)[None, :, :]
    np.testing.assert_array_equal(m, want.max(axis=2))
