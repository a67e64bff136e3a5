"""`reduce_relevance`: relevance over a dataset, reduced as it streams.

The paper's applications (section 3) combine the relevance of many images:
boolean masks per class (or / and), average relevance of neurons for
pruning (mean, mean_abs), counts. This module streams a dataset batch by
batch through `relevance` and folds each batch into chunk results (see
`chunks`), combined by a fixed tree (see `tree`), so that memory stays flat
in the number of images and the result does not depend on the batch size,
bit for bit. `distributed` runs the same reduction on a Dask cluster.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import datasets
from ..inputs import class_indices
from ..layers import Flatten, Linear, ReLU
from ..propagation import _relevance_dtype, checked_arguments, relevance_arrays
from ..semirings import Real
from ._common import _check_batch_size
from .chunks import RangeReducer
from .progress import progress_bar
from .reducers import Several, make_reduction

__all__ = ["reduce_relevance", "reduce_range", "Job", "GROUPINGS"]

#: what `by` may group the images by (None: all together)
GROUPINGS = ("label", "prediction", "target")


def reduce_relevance(net, data, semiring=None, rule=None, target=None, layer="input",
                     reduce="sum", by=None, batch_size=256, progress=None, client=None,
                     init="one", maxpool=None, return_counts=False):
    """The relevance of every image of `data`, reduced to one array (or one
    per class).

    net        a `Network`.
    data       anything `datasets.as_dataset` takes: a Dataset, (x, labels),
               an array (N, ...) or a list of images. It is read by
               `load(start, stop)` one batch at a time.
    semiring, rule, init, maxpool
               as `relevance`.
    target     None: each image's predicted class (as `relevance`);
               "label": its label; an int: that class for every image.
    layer      "input" (default), or a layer's name or index: the relevance of
               the activations entering that layer (hidden neurons), as
               `relevance(layer=...)`.
    reduce     "or" / "and": whether an image's relevance is nonzero, any /
               every image (on bool relevance, the values themselves; on
               other dtypes the nonzero test, for a composed semiring
               `!= its zero`, as MaxPlus's -inf); "sum": bool relevance counts
               images (int64), integers add in int64 (OverflowError past its
               range, never wrapping), floats add in float64; "mean" and
               "mean_abs": the sum of relevance or of its absolute value over
               the number of images, float64; "max": element-wise, in the
               relevance's dtype; "semiring": the semiring's (+) (Real: sum,
               Boolean: or, Counting: sum, Viterbi: max; a composed semiring
               or your own: its `add`, from its `zero()`, both checked, in
               the relevance's dtype). A tuple of these names, e.g.
               ("or", "and"), reduces the same relevance each way in one pass
               (their accumulators must share a dtype) and returns a dict of
               the results by name.
    by         None: one reduction over all images, shaped like one image's
               relevance. "label", "prediction" or "target": one per class of
               the network's output, shaped (n_classes, ...); a class with no
               image gets the reduction's identity (or: False, and: True,
               sum and mean: 0, max: -inf or the dtype's least value) and
               count 0. "prediction" (and "target" when target is None)
               costs one more forward pass per batch.
    batch_size images per `relevance` call (a positive int); the result does
               not depend on it.
    progress   None: a tqdm bar on stderr when stderr is a terminal; True:
               always; False: never. Without tqdm installed, no bar.
    client     a dask.distributed.Client: run the batches on its workers (see
               `apps.distributed`); the same bits as without.
    return_counts
               also return the number of images reduced: an int with
               by=None, else an int64 array (n_classes,).

    Returns the reduced array (a dict of them for several reductions), or
    (result, counts) with return_counts.
    """
    net, semiring = _checked_model(net, semiring, rule, init, maxpool, layer)
    dataset = datasets.as_dataset(data)
    count = _checked_count(dataset)
    _check_batch_size(batch_size)
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be None, True or False, not {progress!r}")
    if not isinstance(return_counts, (bool, np.bool_)):
        raise TypeError(f"return_counts must be True or False, not {return_counts!r}")
    if by is not None and (not isinstance(by, str) or by not in GROUPINGS):
        raise ValueError(f"by must be None or one of {', '.join(map(repr, GROUPINGS))}, "
                         f"not {by!r}")
    # the classes are needed to group, and to check a target or labels
    n_classes = _n_classes(net, dataset) if by is not None or target is not None else None
    target = _checked_target(target, n_classes)
    reduction = make_reduction(reduce, semiring, _relevance_dtype(semiring, net.dtype))
    job = Job(net, semiring, rule, init, maxpool, layer, target, by, reduction, n_classes)
    if client is not None:
        from .distributed import check_client

        check_client(client)
    with progress_bar(count, progress) as bar:
        if client is None:
            partial = reduce_range(job, dataset, 0, count, batch_size, bar.update)
        else:
            from .distributed import reduce_on_cluster

            partial = reduce_on_cluster(client, job, dataset, count, batch_size, bar.update)
    result, counts = job.assemble(partial)
    return (result, counts) if return_counts else result


class Job:
    """What every batch computes, on this machine or a worker: each image's
    relevance and the class it counts for. Picklable; sent to a cluster's
    workers once."""

    def __init__(self, net, semiring, rule, init, maxpool, layer, target, by, reduction,
                 n_classes):
        self.net, self.semiring, self.rule = net, semiring, rule
        self.init, self.maxpool, self.layer = init, maxpool, layer
        self.target, self.by, self.reduction = target, by, reduction
        self.n_classes = n_classes

    def relevance(self, x, labels, start):
        """(relevance (n, *shape), class per image (n,) int64) of the images
        x whose first is image `start` of the dataset."""
        count = len(x)
        if self.target == "label" or self.by == "label":
            labels = self._checked_labels(labels, count, start)
        predictions = None
        if self.by == "prediction" or (self.by == "target" and self.target is None):
            # the class `relevance` picks by default, here passed to it
            predictions = np.argmax(self.net.forward(x).reshape(count, -1), axis=1)
        if self.target is None:
            targets = predictions
        elif self.target == "label":
            targets = labels
        else:
            targets = np.full(count, self.target, dtype=np.int64)
        r = relevance_arrays(self.net, x, target=targets, semiring=self.semiring,
                             rule=self.rule, init=self.init, maxpool=self.maxpool,
                             layer=self.layer)
        groups = {None: None, "label": labels, "prediction": predictions,
                  "target": targets}[self.by]
        if groups is None:
            groups = np.zeros(count, dtype=np.int64)
        return r, np.asarray(groups, dtype=np.int64)

    def _checked_labels(self, labels, count, start):
        needs = "target='label'" if self.target == "label" else "by='label'"
        if labels is None:
            raise ValueError(f"{needs} needs labels, but the data has none (images {start} "
                             f"to {start + count - 1} came without)")
        labels = np.asarray(labels)
        if labels.shape != (count,) or labels.dtype.kind not in "iu":
            raise ValueError(f"the data's labels for images {start} to {start + count - 1} "
                             f"are {labels.dtype} {labels.shape}, not {count} integers")
        bad = np.flatnonzero((labels < 0) | (labels >= self.n_classes))
        if len(bad):
            raise ValueError(f"image {start + bad[0]} has label {labels[bad[0]]}, outside "
                             f"the network's {self.n_classes} classes (0 to "
                             f"{self.n_classes - 1})")
        return labels.astype(np.int64)

    def assemble(self, partial):
        """(result, counts) of the fixed tree's value over every chunk; with
        several reductions, result is a dict of their results by name."""
        if self.by is None:
            counts = int(partial.counts[0])
        else:
            counts = np.zeros(self.n_classes, dtype=np.int64)
            counts[partial.classes] = partial.counts
        reduction = self.reduction
        if not isinstance(reduction, Several):
            return self._finished(reduction, partial.values, partial), counts
        return {name: self._finished(part, partial.values[:, i], partial)
                for i, (name, part) in enumerate(zip(reduction.names, reduction.parts))}, counts

    def _finished(self, reduction, values, partial):
        """The result of one reduction whose accumulators per class are `values`."""
        if self.by is None:
            return reduction.finish(values[0], int(partial.counts[0]))
        shape, dtype = values.shape[1:], values.dtype
        empty = reduction.empty(shape, dtype)
        result = np.empty((self.n_classes,) + shape, dtype=empty.dtype)
        result[...] = empty
        for value, group, count in zip(values, partial.classes, partial.counts):
            result[group] = reduction.finish(value, int(count))
        return result


def reduce_range(job, dataset, lo, hi, batch_size, on_images=None):
    """The `Partial` of images [lo, hi) (lo on a chunk boundary): the fixed
    tree of their chunks. Reads `dataset.load` one batch at a time, so only
    one batch of relevance is in memory; calls on_images(n) after each."""
    reducer = RangeReducer(job.reduction, lo, hi)
    for start in range(lo, hi, batch_size):
        stop = min(start + batch_size, hi)
        x, labels = dataset.load(start, stop)
        if len(x) != stop - start:
            raise ValueError(f"the dataset's load({start}, {stop}) gave {len(x)} images, "
                             f"not {stop - start}")
        r, groups = job.relevance(x, labels, start)
        del x, labels
        reducer.add(r, groups)
        del r
        if on_images is not None:
            on_images(stop - start)
    return reducer.result()


def _checked_model(net, semiring, rule, init, maxpool, layer):
    """(net, semiring) once the arguments `relevance` takes are checked, so
    that a bad one fails here rather than on a worker."""
    semiring = Real() if semiring is None else semiring
    checked_arguments(net, semiring, rule, init, maxpool, layer)
    return net, semiring


def _checked_count(dataset):
    count = len(dataset)
    if count == 0:
        raise ValueError("data is empty: there is no image to reduce")
    return count


def _is_class(target):
    return isinstance(target, numbers.Integral) and not isinstance(target, (bool, np.bool_))


def _checked_target(target, n_classes):
    if target is None or (isinstance(target, str) and target == "label"):
        return target
    if not _is_class(target):
        raise TypeError(f"target must be None (the prediction), 'label' or a class index "
                        f"(an int), not {target!r}")
    return int(class_indices(target, n_classes, "target"))


def _n_classes(net, dataset):
    """The width of the network's output: the last Linear's when only
    ReLU and Flatten follow it, else that of a forward pass of image 0."""
    last = net.weighted_layers[-1]
    if isinstance(net.layers[last], Linear) and all(
            isinstance(layer, (ReLU, Flatten)) for layer in net.layers[last + 1:]):
        return net.layers[last].out_features
    x, _ = dataset.load(0, 1)
    return int(np.prod(net.forward(x).shape[1:]))
