"""Network pruning ranked by relevance or by weight norms (paper section
3.2, figure 3.4).

`neuron_scores` gives one score per output neuron of a weighted layer (a
Linear's neurons, a Conv2d's output channels, called filters here): the
mean absolute relevance of the neuron over a dataset in any semiring, the
L1 or L2 norm of its incoming weights, or a seeded random number.
`pruning_curve` switches neurons off lowest score first and measures the
accuracy and the loss on test data after each step.

    import semiring_lrp as sl
    from semiring_lrp.apps.pruning import neuron_scores, pruning_curve

    net = sl.models.mnist_mlp()
    scores = neuron_scores(net, (x_train, y_train), "fc1", semiring=sl.Viterbi())
    curve = pruning_curve(net, scores, "fc1", (x_test, y_test), steps=[0, 100, 200, 250])
    curve["accuracy"]
"""
from __future__ import annotations

import operator

import numpy as np

from .._integers import as_int, is_int
from ..inputs import from_tensor
from ..layers import Conv2d
from ._common import (_as_arrays, _batches, _check_batch_size, _check_labels, _check_target,
                      _increasing_counts, _needs_labels, _output_scores)
from .reduction import reduce_relevance

__all__ = ["neuron_scores", "pruning_curve", "CRITERIA", "REDUCTIONS"]

#: how neuron_scores ranks neurons
CRITERIA = ("relevance", "l1", "l2", "random")
#: how the relevance criterion folds the images: the mean of |R|, the mean
#: of R, the sum of R, the largest R
REDUCTIONS = ("mean_abs", "mean", "sum", "max")


def neuron_scores(net, data, layer, criterion="relevance", semiring=None, rule=None,
                  target="label", reduce="mean_abs", batch_size=256, seed=0, progress=None,
                  client=None):
    """One score per output neuron of the weighted layer `layer`: a float64
    array (n,), n its outputs (Linear) or output channels (Conv2d).

    net        a `Network`.
    data       what `datasets.as_dataset` takes: a Dataset (e.g.
               `datasets.MNIST("train")`), a pair (x, labels) of model-ready
               images and int labels, or the images alone; read batch_size
               images at a time, and only by the relevance criterion (give
               None for the others).
    layer      the weighted layer's name ("fc1", "conv4") or index in
               net.layers; any other layer raises ValueError.
    criterion  "relevance" (default): the relevance of the neuron's output,
               the relevance entering the layer after `layer`, folded over
               the images by `reduce_relevance(..., layer=next, reduce=...)`
               (streamed, the same bits whatever batch_size); a Conv2d's filter gets
               the sum over positions of the folded map, so with "mean_abs"
               its score is the mean over images of sum_positions |R|.
               "l1", "l2": the norm of the neuron's incoming weights, row k
               of a Linear weight (out, in) (the paper's column of the
               weight matrix, in its (in, out) layout), filter k of a Conv2d
               weight (out, in / groups, kh, kw); the bias is not included.
               "random": np.random.default_rng(seed).random(n), the same for
               the same seed.
    semiring   the relevance criterion's semiring (default Real()).
    rule       its rule (see `relevance`), default LRP-0.
    target     whose relevance: "label" (each image's label, the paper's
               per-class targets; default), "prediction", or one class index.
    reduce     "mean_abs" (default, the paper's), "mean", "sum" or "max",
               over the images, element by element, in float64 (boolean
               relevance counts as 0 and 1).
    batch_size images per relevance pass.
    seed       the random criterion's seed, an int >= 0.
    progress, client
               as `reduce_relevance` takes them: a bar, a Dask client.
    """
    index, _ = net.weighted_index(layer)
    weights = net.layers[index].weight
    n = weights.shape[0]
    if not isinstance(criterion, str) or criterion not in CRITERIA:
        hint = (f" ({criterion!r} is a reduction: use criterion='relevance', "
                f"reduce={criterion!r})" if criterion in REDUCTIONS else "")
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, not "
                         f"{criterion!r}{hint}")
    if criterion == "l1":
        return _weight_norms(weights, 1)
    if criterion == "l2":
        return _weight_norms(weights, 2)
    if criterion == "random":
        return np.random.default_rng(as_int(seed, "seed", 0)).random(n)
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}, not {reduce!r}")
    if data is None:
        raise ValueError("the relevance criterion reads data: give a pair (x, labels)")
    after = index + 1 if index + 1 < len(net.layers) else "output"
    target = _check_target(target)
    folded = reduce_relevance(net, _as_arrays(data), semiring=semiring, rule=rule,
                              target=None if target == "prediction" else target, layer=after,
                              reduce=reduce, batch_size=batch_size, progress=progress,
                              client=client).astype(np.float64)
    if isinstance(net.layers[index], Conv2d):
        folded = folded.sum(axis=(1, 2))
    return folded


def _weight_norms(weights, order):
    """The L1 or L2 norm of each output's incoming weights (bias excluded)."""
    rows = weights.reshape(weights.shape[0], -1).astype(np.float64)
    if order == 1:
        return np.abs(rows).sum(axis=1)
    return np.sqrt(np.square(rows).sum(axis=1))


def _pruned_counts(steps, n):
    """The numbers of neurons pruned at each step, increasing, in [0, n]."""
    if is_int(steps):
        if steps < 2:
            raise ValueError(f"steps={steps}: an int counts the evenly spaced steps from 0 to "
                             f"all {n} pruned, both included, so it must be at least 2")
        return np.unique(np.round(np.linspace(0, n, operator.index(steps))).astype(np.int64))
    return _increasing_counts(steps, n, "steps", "an int (how many evenly spaced steps) or a "
                              "sequence of neuron counts (ints)", "the layer's number of neurons")


def _check_scores(scores, n, what):
    s = np.asarray(from_tensor(scores, "scores"))
    if s.dtype.kind not in "biuf":
        raise TypeError(f"scores must be real numbers, not dtype {s.dtype}")
    if s.shape != (n,):
        raise ValueError(f"scores have shape {s.shape}; {what} has {n} neurons, one score each")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinity")
    return s


def _accuracy_and_loss(net, data, batch_size):
    """Accuracy and mean cross-entropy (softmax of the output scores, in
    float64 through logsumexp) over data."""
    correct, loss, count = 0, 0.0, 0
    for _, x, labels in _batches(data, batch_size):
        z = _output_scores(net, x).astype(np.float64)
        labels = _check_labels(_needs_labels(labels, "pruning_curve"), z.shape[1])
        rows = np.arange(len(z))
        top = z.max(axis=1)
        log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
        loss += float((log_norm - z[rows, labels]).sum())
        correct += int((np.argmax(z, axis=1) == labels).sum())
        count += len(z)
    return correct / count, loss / count


def pruning_curve(net, scores, layer, test_data, steps=11, batch_size=256, as_dataframe=False):
    """Accuracy and loss on test_data as more neurons of `layer` are
    switched off, lowest score first (paper figure 3.4).

    scores     one number per output neuron (Linear) or filter (Conv2d) of
               `layer`, e.g. from `neuron_scores`; ties go by neuron index
               (a stable sort), so equal scores prune the lower index first.
    layer      the weighted layer's name or index in net.layers.
    test_data  a pair (x, labels), read batch_size images at a time.
    steps      an int: that many evenly spaced counts from 0 to all neurons
               pruned, both included (rounded; counts that round alike are
               kept once); or an increasing sequence of counts.

    Each step runs one forward pass over test_data through a copy of the
    network in which the lowest-scored neurons are switched off
    (`Network.masked`, which copies that layer alone); `net` is not changed.

    Returns a dict of NumPy arrays, one entry per step: "pruned" (neurons
    switched off), "accuracy" (the share of images whose highest output is
    their label), "loss" (the mean cross-entropy of the softmax of the
    output scores against the labels). as_dataframe=True returns the same
    columns as a pandas DataFrame (needs pandas).
    """
    index, _ = net.weighted_index(layer)
    n = net.layers[index].weight.shape[0]
    order = np.argsort(_check_scores(scores, n, net.describe(index)), kind="stable")
    counts = _pruned_counts(steps, n)
    batch_size = _check_batch_size(batch_size)
    if as_dataframe:
        pandas = _pandas()
    data = _as_arrays(test_data)
    _needs_labels(data.load(0, 1)[1], "pruning_curve")
    accuracy, loss = np.empty(len(counts)), np.empty(len(counts))
    for step, count in enumerate(counts):
        pruned = net.masked(index, order[:count]) if count else net
        accuracy[step], loss[step] = _accuracy_and_loss(pruned, data, batch_size)
    curve = {"pruned": counts, "accuracy": accuracy, "loss": loss}
    return pandas.DataFrame(curve) if as_dataframe else curve


def _pandas():
    try:
        import pandas
    except ImportError as err:
        raise ImportError("as_dataframe=True needs pandas (pip install pandas); without it, "
                          "use the dict of NumPy arrays pruning_curve returns") from err
    return pandas
