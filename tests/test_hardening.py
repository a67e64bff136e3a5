"""Failure modes made boring: interrupts, threads, fork, leaks, purity, sizes."""
import gc
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest
from reference import random_mlp

import semiring_lrp as sl
from semiring_lrp import _core, rules
from semiring_lrp.layers import KernelStep
from semiring_lrp.semiring_specs import VITERBI

ZERO = (0, 0.0, 0, 0.0)
GEOMETRY = (1, 1, 1, 1, 1, 1, 1)


def _conv_call(channels, size):
    """One kernel call: a boolean pass through a 3x3 conv of `channels` in and
    out on size x size pixels, whose threshold no pair passes, so that no
    pixel stops early."""
    rng = np.random.default_rng(0)
    a = rng.random((1, channels, size, size), dtype=np.float32)
    w = rng.normal(size=(channels, channels, 3, 3)).astype(np.float32)
    z = _core.conv_forward(a, w, np.zeros(channels, np.float32), ZERO, GEOMETRY)
    r = np.ones(z.shape, dtype=bool)
    return lambda: _core.conv_relevance(_core.SEMIRING_BOOLEAN, a, w, z, r, ZERO, GEOMETRY, 1e30)


@pytest.fixture(scope="module")
def big_conv_call():
    """A kernel call of seconds, for the tests that interrupt it."""
    return _conv_call(128, 256)


def _resident_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_ctrl_c_stops_a_long_kernel_call(big_conv_call):
    call = big_conv_call
    start = time.perf_counter()
    call()
    uninterrupted = time.perf_counter() - start
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        call()
    stopped_after = time.perf_counter() - start
    timer.join()
    # it stops between channel planes, within a second, long before the call would end
    assert stopped_after < 0.3 + 1.0
    assert stopped_after < uninterrupted / 2


def test_ctrl_c_in_relevance_leaves_the_network_usable(big_conv_call):
    net = random_mlp(np.random.default_rng(1), (30, 20, 5), np.float64)
    x = np.random.default_rng(2).uniform(size=(4, 30))
    before = sl.relevance(net, x, semiring=sl.Counting())
    call = big_conv_call
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        call()
    timer.join()
    np.testing.assert_array_equal(sl.relevance(net, x, semiring=sl.Counting()), before)


def test_kernels_release_the_gil():
    """While one thread is inside a long kernel call, Python code keeps running."""
    # a 16th of the interrupted call's pairs: a tenth of a second or more,
    # millions of turns of the loop below while the GIL is free
    call = _conv_call(64, 128)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (call(), done.set()))
    worker.start()
    iterations = 0
    while not done.is_set():
        iterations += 1
    worker.join()
    # holding the GIL for seconds would leave this loop a handful of turns
    assert iterations > 100_000


def test_threads_share_a_network_and_agree_with_serial_calls():
    net = sl.models.mnist_mlp()
    images, labels = sl.models.mnist_digits()
    x = sl.models.mnist_input(images)
    semirings = [sl.Real(), sl.Boolean(), sl.Counting(), sl.Viterbi()] * 2
    serial = [sl.relevance(net, x, target=labels, semiring=s) for s in semirings]
    results = [None] * len(semirings)

    def work(i):
        results[i] = sl.relevance(net, x, target=labels, semiring=semirings[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(semirings))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        np.testing.assert_array_equal(got, want)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX only")
def test_fork_is_safe():
    """A forked child, which inherits none of the thread pool's workers, runs
    passes (on a pool of its own) and gets the parent's answers."""
    net = sl.models.mnist_mlp()
    images, labels = sl.models.mnist_digits()
    # 200 samples: passes large enough for the parent's pool to have started
    x = np.tile(sl.models.mnist_input(images), (10, 1, 1))
    labels = np.tile(labels, 10)
    threads = sl.get_num_threads()
    sl.set_num_threads(2)
    try:
        want = sl.relevance(net, x, target=labels, semiring=sl.Counting())
        pid = os.fork()
        if pid == 0:  # the child: exit status says whether it got the same answer
            ok = np.array_equal(sl.relevance(net, x, target=labels, semiring=sl.Counting()),
                                want)
            os._exit(0 if ok else 1)
    finally:
        sl.set_num_threads(threads)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_ten_thousand_calls_keep_memory_flat():
    rng = np.random.default_rng(3)
    net = random_mlp(rng, (20, 16, 4), np.float32)
    conv = sl.Network([sl.Conv2d(rng.normal(size=(3, 2, 3, 3)).astype(np.float32), padding=1),
                       sl.ReLU(), sl.MaxPool2d(2), sl.Flatten(),
                       sl.Linear(rng.normal(size=(2, 3 * 3 * 3)).astype(np.float32))])
    x = rng.uniform(size=(2, 20)).astype(np.float32)
    image = rng.uniform(size=(2, 2, 6, 6)).astype(np.float32)
    semirings = [sl.Real(), sl.Boolean(), sl.Counting(), sl.Viterbi()]

    def calls(count):
        for i in range(count):
            semiring = semirings[i % 4]
            sl.relevance(net, x, semiring=semiring, rule=sl.rules.Gamma(0.25))
            sl.relevance(conv, image, semiring=semiring)

    calls(1000)  # warm every cache and free list
    gc.collect()
    before = _resident_bytes()
    calls(10_000)
    gc.collect()
    growth = _resident_bytes() - before
    assert growth < 1 << 20, f"resident memory grew by {growth} bytes"


def test_inputs_and_networks_are_left_as_they_were():
    rng = np.random.default_rng(4)
    conv = sl.Network([sl.Conv2d(rng.normal(size=(3, 2, 3, 3)), padding=1), sl.ReLU(),
                       sl.AvgPool2d(2), sl.Flatten(), sl.Linear(rng.normal(size=(2, 27)))])
    image = rng.uniform(size=(2, 2, 6, 6))
    copy = image.copy()
    weights = [layer.weight.copy() for layer in conv.layers if layer.weighted]
    references = sys.getrefcount(image)
    for semiring in (sl.Real(), sl.Boolean(), sl.Counting(), sl.Viterbi()):
        sl.relevance(conv, image, semiring=semiring, rule=sl.rules.ZBox(0.0, 1.0),
                     return_all=True)
    assert sys.getrefcount(image) == references
    np.testing.assert_array_equal(image, copy)
    for layer, w in zip([layer for layer in conv.layers if layer.weighted], weights):
        np.testing.assert_array_equal(layer.weight, w)


def test_core_leaves_reference_counts_unchanged():
    a = np.ones((2, 3))
    w = np.ones((4, 3))
    b = np.zeros(4)
    counts = [sys.getrefcount(v) for v in (a, w, b)]
    for _ in range(100):
        z = _core.dense_forward(a, w, b, ZERO)
        _core.dense_relevance(_core.SEMIRING_REAL, a, w, z, z, ZERO)
        with pytest.raises(ValueError):
            _core.dense_relevance(99, a, w, z, z, ZERO)
    assert [sys.getrefcount(v) for v in (a, w, b)] == counts


def test_requests_too_big_for_memory_raise_memory_error():
    net = sl.models.mnist_mlp()
    huge = np.broadcast_to(np.float32(0.5), (10**9, 784))  # 3 TB once materialised
    with pytest.raises(MemoryError):
        sl.relevance(net, huge)
    a = np.broadcast_to(np.float32(1), (1, 1, 1 << 20, 1 << 20))  # 4 TB as a C array
    with pytest.raises(MemoryError):
        _core.conv_forward(a, np.ones((1, 1, 1, 1), np.float32), np.zeros(1, np.float32),
                           ZERO, GEOMETRY)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_viterbi_product_form_overflow_takes_the_exact_path(kind, dtype):
    """With zero inputs m_k = 0, so R_k / (m_k + 1e-9) is 1e9 R_k, and huge
    weights carry the product form's max_k |w| q_k past the largest float
    (0 * inf = NaN), where the paper's |a w| / (m + 1e-9) R is 0: every input
    must get 0, and the finite inputs of a mixed batch their usual value."""
    big = np.finfo(dtype).max / 1e3
    rng = np.random.default_rng(3)
    if kind == "dense":
        layer = sl.Linear(np.full((5, 7), big, dtype=dtype), np.zeros(5, dtype=dtype))
        a = np.zeros((2, 7), dtype=dtype)
        a[1] = rng.uniform(0.5, 1.0, size=7)
    else:
        layer = sl.Conv2d(np.full((6, 4, 3, 3), big, dtype=dtype), np.zeros(6, dtype=dtype),
                          padding=1)
        a = np.zeros((2, 4, 5, 6), dtype=dtype)
        a[1] = rng.uniform(0.5, 1.0, size=(4, 5, 6))
    m = layer.absmax(a, rules.Zero())
    r = np.ones(m.shape, dtype=dtype)
    got = layer.kernel_relevance(KernelStep(VITERBI, rule=rules.Zero(), z=m), a, r)
    assert np.all(np.isfinite(got))
    assert np.all(got[0] == 0)
    # sample 1 by the paper's form, pair by pair: each term is at most R = 1
    assert np.all((got[1] > 0) & (got[1] <= 1))
