"""reduce_relevance(client=...) on a real LocalCluster of two worker
processes: the same bits as the local run, also when workers are killed
mid-run."""
import os
import signal
import threading
import time

import numpy as np
import pytest
from reference import perturbed_digits

import semiring_lrp as sl
from semiring_lrp.apps import distributed as sl_distributed

distributed = pytest.importorskip("distributed")

COUNT = 3000  # 47 chunks: shards of 4 chunks and a short last one
HIDDEN = 3  # the input of fc2


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        # the workers import this package, not an installed copy elsewhere
        assert set(client.run(lambda: sl.__file__).values()) == {sl.__file__}
        yield client


@pytest.fixture(scope="module")
def net():
    return sl.models.mnist_mlp()


@pytest.fixture(scope="module")
def data():
    return perturbed_digits(COUNT, seed=1)


CASES = [(sl.Real(), "sum"), (sl.Real(), "mean"), (sl.Boolean(1e-9), "or"),
         (sl.Boolean(1e-9), "and"), (sl.Counting(1e-9), "sum"), (sl.Viterbi(), "max")]


@pytest.mark.parametrize("semiring, reduce", CASES, ids=lambda v: str(v).split("(")[0])
@pytest.mark.parametrize("layer", ["input", HIDDEN])
@pytest.mark.parametrize("by", [None, "label"])
def test_the_cluster_gives_the_local_bits(client, net, data, semiring, reduce, layer, by):
    kwargs = dict(semiring=semiring, reduce=reduce, layer=layer, by=by, return_counts=True)
    got, counts = sl.apps.reduce_relevance(net, data, client=client, batch_size=100, **kwargs)
    want, want_counts = sl.apps.reduce_relevance(net, data, batch_size=1000, **kwargs)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    np.testing.assert_array_equal(counts, want_counts)


def test_shards_are_aligned_powers_of_two_chunks():
    assert sl_distributed.shard_size(47, 2) == 4  # 12 shards, at least 8
    assert sl_distributed.shard_size(64, 2) == 8
    assert sl_distributed.shard_size(5, 2) == 1  # fewer chunks than wanted shards
    assert sl_distributed.shard_size(20000, 400) == 8  # 2500 shards, at least 1600


def test_an_error_on_a_worker_reaches_the_caller(client, net, data):
    x, labels = data
    labels = labels.copy()
    labels[2500] = 11
    with pytest.raises(ValueError, match="image 2500 has label 11"):
        sl.apps.reduce_relevance(net, (x, labels), by="label", client=client)


class SlowDataset(sl.datasets.Dataset):
    """Images that take `delay` seconds per load, so that a run lasts long
    enough to kill a worker in the middle of it."""

    def __init__(self, x, labels, delay):
        self.x, self.labels, self.delay = x, labels, delay

    def __len__(self):
        return len(self.x)

    sample_shape = (28, 28)

    @property
    def has_labels(self):
        return True

    def _load(self, start, stop):
        time.sleep(self.delay)
        return self.x[start:stop], self.labels[start:stop]


def _shard_states(dask_scheduler):
    return {str(key): (task.state, task.processing_on.address if task.processing_on else None)
            for key, task in dask_scheduler.tasks.items()
            if str(key).startswith("reduce_relevance-shard")}


def _removals(dask_scheduler):
    """The workers removed so far: (address, shard keys it was running,
    scattered keys lost with it)."""
    return [(event["worker"], [str(k) for k in event.get("processing-tasks", ())],
             [str(k) for k in event.get("lost-scattered-tasks", ())])
            for _, event in dask_scheduler.get_events("all")
            if event.get("action") == "remove-worker"]


def _workers_busy_once_some_shards_are_done(client, timeout=30):
    """Addresses of the workers running a shard, once another has finished."""
    seen, deadline = set(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = client.run_on_scheduler(_shard_states)
        seen |= states.keys()
        finished = (seen - states.keys()) | {k for k, (s, _) in states.items() if s == "memory"}
        busy = {worker for state, worker in states.values() if state == "processing"}
        if finished and busy:
            return busy
        time.sleep(0.02)
    raise AssertionError("no shard finished while others ran")


def _run_in_thread(function):
    result = {}

    def run():
        try:
            result["value"] = function()
        except BaseException as err:  # re-raised by the test
            result["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _killed_mid_run(client, net, data, pick_victims):
    """(reduced by the cluster while pick_victims(busy workers) are killed
    with SIGKILL, reduced locally)."""
    x, labels = data
    slow = SlowDataset(x, labels, delay=0.05)
    kwargs = dict(semiring=sl.Counting(1e-9), reduce="sum", by="label", batch_size=64)
    want = sl.apps.reduce_relevance(net, (x, labels), **kwargs)
    thread, result = _run_in_thread(
        lambda: sl.apps.reduce_relevance(net, slow, client=client, **kwargs))
    busy = _workers_busy_once_some_shards_are_done(client)
    pids = client.run(os.getpid)
    victims = pick_victims(busy, pids)
    for worker in victims:
        os.kill(pids[worker], signal.SIGKILL)
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    client.wait_for_workers(2, timeout=30)
    removed = [event for event in client.run_on_scheduler(_removals) if event[0] in victims]
    assert removed, "the killed workers were not removed"
    return result["value"], want, removed


def test_a_worker_killed_mid_run_loses_no_shard(client, net, data):
    got, want, removed = _killed_mid_run(client, net, data,
                                         lambda busy, pids: [sorted(busy)[0]])
    assert got.tobytes() == want.tobytes()
    # it died in the middle of a shard, which ran again elsewhere
    assert any(key.startswith("reduce_relevance-shard") for _, running, _ in removed
               for key in running)


def test_every_worker_killed_mid_run_loses_no_shard(client, net, data):
    """Both workers die: the scattered network and dataset die with them, and
    the shards that needed them are submitted again with them scattered again."""
    got, want, removed = _killed_mid_run(client, net, data, lambda busy, pids: list(pids))
    assert got.tobytes() == want.tobytes()
    assert any(lost for _, _, lost in removed)
