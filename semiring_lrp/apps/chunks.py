"""Chunks: the fixed grouping that makes a reduction independent of batches.

Images are grouped in chunks of CHUNK consecutive images by global index
(chunk c holds images [c CHUNK, (c + 1) CHUNK)). Within a chunk, each
class's images are combined one after the other in index order, starting
from the reduction's identity; chunk results are combined by the fixed
tree of `tree`. Neither depends on how the images were batched, so
neither do the result's bits. A chunk cut by a batch boundary carries its
accumulators over to the next batch.
"""
from __future__ import annotations

import numpy as np

from .tree import TreeStack

__all__ = ["CHUNK", "Partial", "combine_partials", "RangeReducer"]

#: images per chunk; fixed, so that results do not depend on batch_size
CHUNK = 64


class Partial:
    """The reduction of a run of images, by class: `values[g]` is the
    accumulator of the images of class g, `counts[g]` their number; only
    classes with at least one image appear (with by=None, class 0 holds
    every image)."""

    __slots__ = ("values", "counts")

    def __init__(self, values, counts):
        self.values, self.counts = values, counts

    def __repr__(self):
        return f"Partial(counts={self.counts})"


def combine_partials(reduction, left, right):
    """left (+) right, class by class; a class on one side only is taken as
    it is (the identity is neutral)."""
    values, counts = {}, {}
    for group in sorted(left.values.keys() | right.values.keys()):
        if group in left.values and group in right.values:
            values[group] = reduction.combine(left.values[group], right.values[group])
            counts[group] = left.counts[group] + right.counts[group]
        else:
            side = left if group in left.values else right
            values[group], counts[group] = side.values[group], side.counts[group]
    return Partial(values, counts)


class RangeReducer:
    """Reduces the images [lo, hi) (lo on a chunk boundary), fed batch by
    batch in index order, to the fixed tree of their chunks. Holds the
    chunk results of a `TreeStack` (O(log n)) and one open chunk."""

    def __init__(self, reduction, lo, hi):
        if lo % CHUNK:
            raise ValueError(f"a reduced range starts on a chunk boundary, not at {lo}")
        self.reduction = reduction
        self.hi = hi
        self.next = lo
        self.stack = TreeStack(lambda a, b: combine_partials(reduction, a, b))
        self.open_chunk, self.open = None, None
        self.dtype = None  # the accumulators', from the first batch's relevance

    def add(self, relevance, groups):
        """Folds the next len(relevance) images in; groups[i] is image i's class."""
        count = len(relevance)
        if count == 0:
            return
        start = self.next
        self.next += count
        chunks = np.arange(start, start + count) // CHUNK
        width = int(groups.max()) + 1
        # one slot per (chunk, class) pair of this batch, in chunk then class order
        keys, slot = np.unique((chunks - chunks[0]) * width + groups, return_inverse=True)
        slot = slot.reshape(-1)
        slot_chunk, slot_group = chunks[0] + keys // width, keys % width
        if self.dtype is None:
            self.dtype = self.reduction.accumulator_dtype(relevance.dtype)
        accumulators, counts = self._start_slots(relevance.shape[1:], slot_chunk, slot_group,
                                                 np.bincount(slot, minlength=len(keys)))
        # each slot's images one after the other, in index order: the images
        # of rank t in their slot lie in distinct slots, so one step takes them all
        for images in _by_rank(slot):
            targets = slot[images]
            accumulators[targets] = self.reduction.combine(
                accumulators[targets], self.reduction.prepare(relevance[images]))
        self._emit(accumulators, counts, slot_chunk, slot_group)

    def _start_slots(self, shape, slot_chunk, slot_group, counts):
        """Accumulators of the slots: the identity, or the open chunk's
        accumulators where this batch continues it."""
        accumulators = self.reduction.identity((len(slot_chunk),) + shape, self.dtype)
        if self.open is not None and slot_chunk[0] == self.open_chunk:
            for s in np.flatnonzero(slot_chunk == self.open_chunk):
                group = int(slot_group[s])
                if group in self.open.values:
                    accumulators[s] = self.open.values[group]
                    counts[s] += self.open.counts[group]
        return accumulators, counts

    def _emit(self, accumulators, counts, slot_chunk, slot_group):
        """Pushes the chunks this batch completes; keeps the last one open
        when it goes on in the next batch."""
        for chunk in np.unique(slot_chunk):
            chunk = int(chunk)
            values, chunk_counts = {}, {}
            if chunk == self.open_chunk:
                values, chunk_counts = dict(self.open.values), dict(self.open.counts)
            for s in np.flatnonzero(slot_chunk == chunk):
                group = int(slot_group[s])
                # a copy, so that a chunk kept in the stack does not hold the batch's array
                values[group] = accumulators[s].copy()
                chunk_counts[group] = int(counts[s])
            partial = Partial(dict(sorted(values.items())), dict(sorted(chunk_counts.items())))
            if min((chunk + 1) * CHUNK, self.hi) <= self.next:
                self.stack.push(partial)
                self.open_chunk, self.open = None, None
            else:
                self.open_chunk, self.open = chunk, partial

    def result(self):
        """The tree's value over every chunk; every image must have been added."""
        if self.next != self.hi:
            raise ValueError(f"the range ends at {self.hi} but images up to {self.next} "
                             "were added")
        return self.stack.fold()


def _by_rank(slot):
    """Index arrays, one per rank t = 0, 1, ...: the images that are the
    t-th of their slot, in index order."""
    order = np.argsort(slot, kind="stable")
    sorted_slots = slot[order]
    first = np.searchsorted(sorted_slots, sorted_slots, side="left")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(slot)) - first
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.cumsum(np.bincount(rank))
    return np.split(by_rank, bounds[:-1])
