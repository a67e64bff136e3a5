"""`reduce_relevance(client=...)`: the same reduction on a Dask cluster.

The images are split into shards, aligned blocks of 2**s chunks; since the
fixed tree splits at powers of two, a shard's chunks form one of its
subtrees. Each task reduces one shard (reading its images on the worker
with `dataset.load`) to that subtree's value; the client combines the
shard values in shard order by the same tree. The result therefore has
the bits of the local run.

The job (network, semiring, rule) is scattered to every worker once, and
the dataset once (workers fetch it from each other, not through the
scheduler): tasks depend on those futures instead of carrying them. Shard
results are keyed by shard index and taken once: a task whose worker dies
is rerun elsewhere by Dask, and one whose scattered inputs died with a
worker is submitted again with the inputs scattered again.
"""
from __future__ import annotations

import math
import uuid
from concurrent.futures import CancelledError

from .chunks import CHUNK, combine_partials
from .reduction import reduce_range
from .tree import TreeStack

__all__ = ["check_client", "reduce_on_cluster", "shard_size"]

#: shards per worker thread, so that a slow or lost worker delays a small part
SHARDS_PER_THREAD = 4
#: submissions of one shard after its scattered inputs were lost, before giving up
MAX_RESUBMITS = 3


def _import_distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError("reduce_relevance(client=...) needs dask.distributed: "
                          "pip install 'semiring_lrp[dask]' (dask[distributed])") from err
    return distributed


def check_client(client):
    """TypeError unless `client` is a dask.distributed.Client."""
    distributed = _import_distributed()
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a dask.distributed.Client, not "
                        f"{type(client).__name__}")


def shard_size(chunks, threads):
    """Chunks per shard, 2**s: the largest that still leaves at least
    SHARDS_PER_THREAD shards per worker thread (1 when there are too few chunks)."""
    wanted = SHARDS_PER_THREAD * max(threads, 1)
    size = 1
    while math.ceil(chunks / (2 * size)) >= wanted:
        size *= 2
    return size


def _reduce_shard(job, dataset, lo, hi, batch_size):
    """A task: the `Partial` of images [lo, hi), read on the worker."""
    return reduce_range(job, dataset, lo, hi, batch_size)


class _Inputs:
    """The job and the dataset, scattered once; scattered again (a new
    `generation`) only when a worker's death lost them."""

    def __init__(self, client, job, dataset):
        self.client, self.job, self.dataset = client, job, dataset
        self.futures, self.generation = None, -1
        self.scatter()

    def scatter(self):
        self.release()
        job = self.client.scatter(self.job, broadcast=True, hash=False)
        dataset = self.client.scatter(self.dataset, hash=False)
        self.futures = (job, dataset)
        self.generation += 1

    def lost(self):
        return any(future.status != "finished" for future in self.futures)

    def release(self):
        if self.futures is not None:
            for future in self.futures:
                future.release()
            self.futures = None


def reduce_on_cluster(client, job, dataset, count, batch_size, on_images=None):
    """The `Partial` of images [0, count) of `dataset`, computed shard by
    shard on the client's workers; on_images(n) after each shard."""
    distributed = _import_distributed()
    chunks = math.ceil(count / CHUNK)
    per_shard = shard_size(chunks, sum(client.nthreads().values()))
    shards = [(lo, min(lo + per_shard * CHUNK, count))
              for lo in range(0, count, per_shard * CHUNK)]
    inputs = _Inputs(client, job, dataset)
    token = uuid.uuid4().hex
    attempts, generations = [0] * len(shards), [0] * len(shards)

    def submit(index):
        lo, hi = shards[index]
        generations[index] = inputs.generation
        key = f"reduce_relevance-shard-{token}-{index}-{attempts[index]}"
        return client.submit(_reduce_shard, *inputs.futures, lo, hi, batch_size, key=key)

    owners = {submit(index): index for index in range(len(shards))}
    stack = TreeStack(lambda a, b: combine_partials(job.reduction, a, b))
    done, waiting, next_index = set(), {}, 0
    try:
        completed = distributed.as_completed(list(owners))
        for future in completed:
            index = owners.pop(future)
            try:
                value = future.result()
            except CancelledError:  # a dependency (the scattered inputs) was lost
                stale = generations[index] < inputs.generation
                if attempts[index] >= MAX_RESUBMITS or not (stale or inputs.lost()):
                    raise
                if not stale:
                    inputs.scatter()
                attempts[index] += 1
                future = submit(index)
                owners[future] = index
                completed.add(future)
                continue
            future.release()
            if index in done:  # taken once, whatever Dask reports twice
                continue
            done.add(index)
            waiting[index] = value
            if on_images is not None:
                on_images(shards[index][1] - shards[index][0])
            # the tree combines in shard order: push each as its turn comes
            while next_index in waiting:
                lo, hi = shards[next_index]
                stack.push(waiting.pop(next_index), size=math.ceil((hi - lo) / CHUNK))
                next_index += 1
    finally:
        client.cancel(list(owners))
        inputs.release()
    return stack.fold()
