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
    """The reduction of a run of images, by class: `classes` (sorted int64,
    the classes with at least one image; with by=None, class 0 holds every
    image), `values` (one accumulator per class, stacked) and `counts` (their
    numbers of images)."""

    __slots__ = ("classes", "values", "counts")

    def __init__(self, classes, values, counts):
        self.classes, self.values, self.counts = classes, values, counts

    def __repr__(self):
        return f"Partial(classes={self.classes.tolist()}, counts={self.counts.tolist()})"


def combine_partials(reduction, left, right):
    """left (+) right, class by class; a class on one side only is taken as
    it is (the identity is neutral)."""
    if left.values.dtype != right.values.dtype:
        raise TypeError(f"two runs of images reduced to {left.values.dtype} and "
                        f"{right.values.dtype} accumulators: a semiring's methods must "
                        "return one dtype for every batch")
    if np.array_equal(left.classes, right.classes):
        return Partial(left.classes, reduction.combine(left.values, right.values),
                       left.counts + right.counts)
    classes = np.union1d(left.classes, right.classes)
    at_left = np.searchsorted(classes, left.classes)
    at_right = np.searchsorted(classes, right.classes)
    both_left = np.isin(left.classes, right.classes)
    both_right = np.isin(right.classes, left.classes)
    values = np.empty((len(classes),) + left.values.shape[1:], dtype=left.values.dtype)
    values[at_left] = left.values
    values[at_right] = right.values
    values[at_left[both_left]] = reduction.combine(left.values[both_left],
                                                   right.values[both_right])
    counts = np.zeros(len(classes), dtype=np.int64)
    counts[at_left] += left.counts
    counts[at_right] += right.counts
    return Partial(classes, values, counts)


def _continued(earlier, later):
    """The open chunk after a batch went on with it: `later`'s classes
    continued `earlier`'s accumulators; classes `later` did not see stay."""
    classes = np.union1d(earlier.classes, later.classes)
    values = np.empty((len(classes),) + later.values.shape[1:], dtype=later.values.dtype)
    counts = np.empty(len(classes), dtype=np.int64)
    for part in (earlier, later):
        at = np.searchsorted(classes, part.classes)
        values[at], counts[at] = part.values, part.counts
    return Partial(classes, values, counts)


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
        self.relevance_dtype = None  # the first batch's; every batch must have it

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
            self.relevance_dtype = relevance.dtype
        elif relevance.dtype != self.relevance_dtype:
            raise TypeError(f"the relevance of images {start} to {start + count - 1} is "
                            f"{relevance.dtype}, that of the images before "
                            f"{self.relevance_dtype}: a semiring's methods must return one "
                            "dtype for every batch")
        accumulators = self._fold(relevance, slot, self._start(relevance.shape[1:], slot_chunk,
                                                              slot_group))
        self._emit(accumulators, np.bincount(slot, minlength=len(keys)), slot_chunk,
                   slot_group)

    def _start(self, shape, slot_chunk, slot_group):
        """The slots' accumulators before this batch: the identity, or the
        open chunk's where this batch continues it."""
        accumulators = self.reduction.identity((len(slot_chunk),) + shape, self.dtype)
        if self.open is not None and slot_chunk[0] == self.open_chunk:
            continuing = np.flatnonzero(slot_chunk == self.open_chunk)
            known = np.isin(slot_group[continuing], self.open.classes)
            at = np.searchsorted(self.open.classes, slot_group[continuing[known]])
            accumulators[continuing[known]] = self.open.values[at]
        return accumulators

    def _fold(self, relevance, slot, accumulators):
        """Each slot's images combined into its accumulator one after the
        other, in index order. Step t takes the t-th image of every slot
        that has one; with the slots ordered by their number of images,
        those are a prefix, combined in place in one call."""
        sizes = np.bincount(slot, minlength=len(accumulators))
        order = np.argsort(slot, kind="stable")  # images by slot, in index order within one
        first = np.cumsum(sizes) - sizes
        busiest = np.argsort(-sizes, kind="stable")
        folded = accumulators[busiest]
        for step in range(int(sizes.max())):
            active = busiest[:np.count_nonzero(sizes[busiest] > step)]
            images = order[first[active] + step]
            self.reduction.combine_into(folded[:len(active)],
                                        self.reduction.prepare(relevance[images]))
        accumulators[busiest] = folded
        return accumulators

    def _emit(self, accumulators, sizes, slot_chunk, slot_group):
        """Pushes the chunks this batch completes; keeps the last one open
        when it goes on in the next batch."""
        bounds = np.flatnonzero(np.diff(slot_chunk)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(slot_chunk)]):
            chunk = int(slot_chunk[lo])
            # a copy, so that a chunk kept in the stack does not hold the batch's array
            partial = Partial(slot_group[lo:hi].copy(), accumulators[lo:hi].copy(),
                              sizes[lo:hi].astype(np.int64))
            if chunk == self.open_chunk:
                partial = _continued(self.open, Partial(
                    partial.classes, partial.values,
                    partial.counts + self._open_counts(partial.classes)))
            if min((chunk + 1) * CHUNK, self.hi) <= self.next:
                self.stack.push(partial)
                self.open_chunk, self.open = None, None
            else:
                self.open_chunk, self.open = chunk, partial

    def _open_counts(self, classes):
        """The open chunk's image counts of `classes` (0 where it has none)."""
        counts = np.zeros(len(classes), dtype=np.int64)
        known = np.isin(classes, self.open.classes)
        counts[known] = self.open.counts[np.searchsorted(self.open.classes, classes[known])]
        return counts

    def result(self):
        """The tree's value over every chunk; every image must have been added."""
        if self.next != self.hi:
            raise ValueError(f"the range ends at {self.hi} but images up to {self.next} "
                             "were added")
        return self.stack.fold()
