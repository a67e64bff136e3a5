"""The array pool (semiring_lrp.memory): NumPy allocates from it while a pass
runs; freed blocks of 1 MiB or more are kept up to a limit and handed out
again, zeroed where NumPy asks for zeros."""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import semiring_lrp as sl
from semiring_lrp import memory

try:
    from numpy._core.multiarray import get_handler_name
except ImportError:  # NumPy 1.x
    from numpy.core.multiarray import get_handler_name

MIB = 1 << 20


@pytest.fixture
def pool():
    """An empty pool with the default limit, and the same left behind."""
    limit = memory.array_pool_limit()
    memory.clear_array_pool()
    yield
    memory.set_array_pool_limit(limit)
    memory.clear_array_pool()


def test_the_handler_is_set_inside_only_and_put_back_after_an_error(pool):
    default = get_handler_name()
    with memory.pooled_arrays():
        inside = np.ones(10)
        assert get_handler_name() == "semiring_lrp_array_pool"
    assert get_handler_name() == default
    assert get_handler_name(inside) == "semiring_lrp_array_pool"
    with pytest.raises(ValueError, match="target"):
        sl.relevance(sl.models.mnist_mlp(), np.zeros(784), target=10)
    assert get_handler_name() == default


def test_freed_blocks_are_kept_and_handed_out_again(pool):
    with memory.pooled_arrays():
        a = np.full(3 * MIB // 8, 7.0)
        small = np.ones(1000)
    del small  # below 1 MiB: freed, not kept
    assert memory.array_pool_bytes() == 0
    del a
    assert memory.array_pool_bytes() == 3 * MIB
    with memory.pooled_arrays():
        # 2.5 MiB takes the kept 3 MiB (wasting a quarter at most)
        b = np.empty(5 * MIB // 2 // 8)
        assert memory.array_pool_bytes() == 0
        # and zeros are zeros, whatever the block held
        del b
        z = np.zeros(3 * MIB // 8)
        assert memory.array_pool_bytes() == 0
        assert not z.any()
        del z
        # much smaller: a fresh block, the kept one stays
        c = np.empty(MIB // 8 * 2)
        assert memory.array_pool_bytes() == 3 * MIB
    del c
    assert memory.array_pool_bytes() == 5 * MIB


def mapping_flags(address):
    """The VmFlags of the mapping of this process holding `address`
    (/proc/self/smaps), as a set of two-letter flags."""
    inside = False
    for line in open("/proc/self/smaps"):
        first = line.split()[0]
        if "-" in first and not first.endswith(":"):
            low, high = (int(part, 16) for part in first.split("-"))
            inside = low <= address < high
        elif inside and first == "VmFlags:":
            return set(line.split()[1:])
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="no /proc/self/smaps (not Linux)")
def test_blocks_of_4_mib_and_more_start_at_a_huge_page_and_ask_for_huge_pages(pool):
    with memory.pooled_arrays():
        big = np.ones(4 * MIB // 8)
        small = np.ones(3 * MIB // 8)
    # the pool's 64-byte header, then the data
    assert big.ctypes.data % (2 * MIB) == 64
    assert "hg" in mapping_flags(big.ctypes.data)  # MADV_HUGEPAGE
    assert "hg" not in mapping_flags(small.ctypes.data)


def test_the_limit_bounds_what_is_kept(pool):
    memory.set_array_pool_limit(4 * MIB)
    with memory.pooled_arrays():
        arrays = [np.ones(3 * MIB // 8) for _ in range(3)]
    del arrays
    assert memory.array_pool_bytes() == 3 * MIB
    memory.set_array_pool_limit(2 * MIB)  # lowering it frees what is past it
    assert memory.array_pool_bytes() == 0
    memory.set_array_pool_limit(0)
    with memory.pooled_arrays():
        a = np.ones(2 * MIB)
    del a
    assert memory.array_pool_bytes() == 0
    memory.set_array_pool_limit(64 * MIB)
    with memory.pooled_arrays():
        a = np.ones(2 * MIB)
    del a
    assert memory.array_pool_bytes() == 16 * MIB
    memory.clear_array_pool()
    assert memory.array_pool_bytes() == 0


@pytest.mark.parametrize("bad, error", [(-1, ValueError), (2**70, ValueError), (1.5, TypeError),
                                        ("1", TypeError), (True, TypeError), (None, TypeError)])
def test_bad_limits_are_refused(bad, error, pool):
    # the package's rule: a value of the wrong type is a TypeError, out of range a ValueError
    before = memory.array_pool_limit()
    with pytest.raises(error, match="the array pool's limit"):
        memory.set_array_pool_limit(bad)
    assert memory.array_pool_limit() == before


def usable_memory_here():
    """The physical memory, or the cgroup's limit where that is less (v2's
    memory.max, v1's memory.limit_in_bytes), read here independently."""
    usable = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < usable:
            usable = int(text)
    return usable


@pytest.mark.skipif(not hasattr(os, "sysconf") or "SC_PHYS_PAGES" not in os.sysconf_names,
                    reason="the OS gives no physical memory size (sysconf SC_PHYS_PAGES)")
def test_the_default_limit_is_an_eighth_of_the_usable_memory_and_512_mib_at_least():
    usable = usable_memory_here()
    assert memory.usable_memory() == usable
    assert memory.default_array_pool_limit() == max(512 * MIB, usable // 8)
    # a process that never set a limit has the default
    script = ("from semiring_lrp import memory; "
              "print(memory.array_pool_limit(), memory.default_array_pool_limit())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(max(512 * MIB, usable // 8))] * 2


def test_a_grown_array_keeps_its_values(pool):
    with memory.pooled_arrays():
        a = np.arange(MIB // 8, dtype=np.float64)
        a.resize(3 * MIB // 8, refcheck=False)
        np.testing.assert_array_equal(a[:MIB // 8], np.arange(MIB // 8))
        a.resize(1000, refcheck=False)
        np.testing.assert_array_equal(a, np.arange(1000))


def test_threads_share_the_pool(pool):
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(200):
                with memory.pooled_arrays():
                    n = int(rng.integers(MIB // 8, 3 * MIB // 8))
                    a = np.full(n, float(seed))
                    b = np.zeros(n)
                if a.sum() != seed * n or b.any():
                    errors.append(seed)
        except Exception as exc:  # reported below, with the seed
            errors.append((seed, exc))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert memory.array_pool_bytes() <= memory.array_pool_limit()


def test_passes_give_the_same_values_with_and_without_the_pool(pool):
    net = sl.models.mnist_mlp()
    x = np.random.default_rng(0).uniform(0, 1, (1000, 784)).astype(np.float32)
    memory.set_array_pool_limit(0)
    want = [sl.relevance(net, x, semiring=s) for s in (sl.Real(), sl.Viterbi())]
    memory.set_array_pool_limit(512 * MIB)
    for _ in range(2):  # the second pass runs on kept blocks
        got = [sl.relevance(net, x, semiring=s) for s in (sl.Real(), sl.Viterbi())]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    assert memory.array_pool_bytes() > 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_can_use_the_pool_while_threads_were_using_it(pool):
    """Forks while other threads allocate and free through the pool: each
    child must find the pool usable (a child inheriting its lock held, or
    its free list half changed, would hang or crash)."""
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            with memory.pooled_arrays():
                a = np.ones(MIB // 4)
            del a

    threads = [threading.Thread(target=churn) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(20):
            pid = os.fork()
            if pid == 0:  # the child: one allocation through the pool, then out
                code = 1
                try:
                    with memory.pooled_arrays():
                        ok = np.full(MIB // 4, 3.0).sum() == 3.0 * (MIB // 4)
                    code = 0 if ok else 1
                finally:
                    os._exit(code)
            deadline = time.monotonic() + 30
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    pytest.fail("a forked child hung in the array pool")
                time.sleep(0.01)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        stop.set()
        for t in threads:
            t.join()
