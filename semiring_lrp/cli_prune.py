"""`semiring-lrp prune`: the paper's figure 3.4, neurons of a layer ranked
by relevance in each semiring, by weight norms or at random, pruned lowest
first, with the test accuracy and loss after each step; written as a
picture and as a CSV of every number drawn.

    semiring-lrp prune                                  # shipped MLP, fc1, all seven criteria
    semiring-lrp prune --model mnist_cnn                # the CNN's conv4 filters
    semiring-lrp prune --criteria real,l1 --steps 0,100,200,250 --train-limit 10000
"""
from __future__ import annotations

import csv
import os
import time

import numpy as np

from . import datasets
from .apps.figures import pruning_figure
from .apps.progress import progress_bar
from .apps.pruning import _pruned_counts, neuron_scores, pruning_curve
from .cli_common import (PROG, UserError, add_cluster_options, add_figure_options,
                         add_mnist_model_option, check_at_least_one, check_output, dask_client,
                         int_list, mnist_network)
from .semirings import Boolean, Counting, Real, Viterbi

__all__ = ["add_parser", "run", "CRITERIA"]

#: the ranking criteria by --criteria word: neuron_scores' keyword arguments
CRITERIA = {"real": {"semiring": Real()},
            "boolean": {"semiring": Boolean(1e-9)},
            "counting": {"semiring": Counting(1e-9)},
            "viterbi": {"semiring": Viterbi()},
            "l1": {"criterion": "l1"},
            "l2": {"criterion": "l2"},
            "random": {"criterion": "random", "seed": 0}}
_DEFAULT_LAYER = {"mnist_cnn": "conv4"}
_DEFAULT_STEPS = 31
# the shares of the layer's neurons whose accuracy the printed table shows
_SHOWN_SHARES = (1 / 3, 2 / 3, 5 / 6)


def _criteria(text):
    names = [part.strip() for part in text.split(",")]
    unknown = [name for name in names if name not in CRITERIA]
    if unknown:
        raise UserError(f"unknown criterion {unknown[0]!r} in --criteria: use "
                        f"{', '.join(CRITERIA)}")
    if len(set(names)) != len(names):
        raise UserError(f"--criteria {text} names a criterion twice")
    return names


def add_parser(commands):
    prune = commands.add_parser(
        "prune", help="prune a layer's neurons by relevance and weight norms (figure 3.4)",
        description="Score the neurons (or conv filters) of a layer on MNIST training images "
                    "by mean |relevance| of the label in each semiring, by the L1 and L2 norm "
                    "of their weights, or at random; switch them off lowest score first and "
                    "measure test accuracy and loss after each step, as in the paper's figure "
                    "3.4. Writes the picture and a CSV beside it. Default: the shipped MLP's "
                    "fc1 (300 neurons), ranked on the 60,000 training images ($SEMIRING_LRP_MNIST "
                    "or --data), tested on the 10,000 shipped test digits.")
    add_mnist_model_option(prune)
    prune.add_argument("--layer", metavar="NAME",
                       help="the weighted layer pruned, by name or index (default: fc1; "
                            "conv4 for mnist_cnn)")
    prune.add_argument("--criteria", type=str, default=",".join(CRITERIA), metavar="C[,C...]",
                       help=f"ranking criteria: {', '.join(CRITERIA)} (default: all; the "
                            "semirings' relevance is the mean of |R| for the label, boolean "
                            "and counting at threshold 1e-9; random has seed 0)")
    prune.add_argument("--data", metavar="DIR",
                       help="a folder of MNIST IDX files holding the training split "
                            "(default: $SEMIRING_LRP_MNIST); the test split is the shipped one")
    prune.add_argument("--train-limit", type=int, metavar="N",
                       help="rank on the first N training images only")
    prune.add_argument("--test-limit", type=int, metavar="N",
                       help="test on the first N test images only")
    prune.add_argument("--steps", type=int_list, default=[_DEFAULT_STEPS], metavar="N|C,C,...",
                       help=f"N evenly spaced counts of pruned neurons from 0 to all (default "
                            f"{_DEFAULT_STEPS}), or the increasing counts separated by commas")
    prune.add_argument("--batch-size", type=int, default=500, metavar="N",
                       help="images per pass (default 500; the results do not depend on it)")
    add_cluster_options(prune)
    prune.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_figure_options(prune, "prune.png", "; the numbers go beside it as STEM.csv")


def _layer_and_counts(args, net):
    """(layer, its number of neurons, the counts pruned), checked before any pass."""
    layer = args.layer or _DEFAULT_LAYER.get(args.model, "fc1")
    index, _ = net.weighted_index(layer)
    n = net.layers[index].weight.shape[0]
    try:
        counts = _pruned_counts(args.steps[0] if len(args.steps) == 1 else args.steps, n)
    except (TypeError, ValueError) as err:
        raise UserError(f"--steps: {err}") from None
    return layer, n, counts


def _data(args, net):
    """(training images, test images), shaped for the network and cut to the limits."""
    if args.data is None and not os.environ.get(datasets.MNIST_ENV):
        raise UserError(f"the MNIST training split is not shipped: give --data DIR, a folder "
                        f"holding train-images-idx3-ubyte and train-labels-idx1-ubyte (.gz "
                        f"or not), or set {datasets.MNIST_ENV}=DIR")
    train = datasets.shaped_for(net, datasets.MNIST("train", root=args.data))
    test = datasets.shaped_for(net, datasets.MNIST("test"))
    if args.train_limit is not None:
        train = train[:args.train_limit]
    if args.test_limit is not None:
        test = test[:args.test_limit]
    return train, test


def _all_scores(args, net, train, layer, criteria):
    """One score array per criterion; the relevance passes show a bar each."""
    client, to_close = dask_client(args)
    progress = False if args.no_progress else None
    try:
        return {name: neuron_scores(net, train, layer, batch_size=args.batch_size,
                                    progress=progress, client=client, **CRITERIA[name])
                for name in criteria}
    finally:
        for item in to_close:
            item.close()


def _all_curves(args, net, scores, layer, test, counts):
    progress = False if args.no_progress else None
    curves = {}
    with progress_bar(len(scores), progress, desc="pruning curves", unit="curve") as bar:
        for name, s in scores.items():
            curves[name] = pruning_curve(net, s, layer, test, steps=counts.tolist(),
                                         batch_size=args.batch_size)
            bar.update(1)
    return curves


def _write_csv(path, curves):
    """One row per (criterion, pruned): the accuracy and the loss."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["criterion", "pruned", "accuracy", "loss"])
        for name, curve in curves.items():
            for row in zip(curve["pruned"], curve["accuracy"], curve["loss"]):
                writer.writerow([name, int(row[0]), float(row[1]), float(row[2])])


def _shown_columns(counts, n):
    """Positions of the counts nearest 1/3, 2/3 and 5/6 of the neurons, each once."""
    nearest = [int(np.argmin(np.abs(counts - share * n))) for share in _SHOWN_SHARES]
    return sorted(set(nearest))


def _print_table(curves, counts, n):
    columns = _shown_columns(counts, n)
    names = list(curves)
    width = max(len("criterion"), *map(len, names))
    print("test accuracy after pruning")
    print("criterion".ljust(width) + "".join(f"  {counts[c]:>6d}" for c in columns))
    for name in names:
        print(name.ljust(width) + "".join(f"  {curves[name]['accuracy'][c]:6.4f}"
                                          for c in columns))


def run(args):
    check_output(args)
    check_at_least_one(args, (("train_limit", "--train-limit"), ("test_limit", "--test-limit"),
                              ("batch_size", "--batch-size"), ("workers", "--workers")))
    criteria = _criteria(args.criteria)
    net = mnist_network(args.model, f"{PROG} prune")
    layer, n, counts = _layer_and_counts(args, net)
    train, test = _data(args, net)
    start = time.perf_counter()
    scores = _all_scores(args, net, train, layer, criteria)
    scored = time.perf_counter()
    curves = _all_curves(args, net, scores, layer, test, counts)
    done = time.perf_counter()
    pruning_figure(curves, path=args.output, dpi=args.dpi)
    stem, _ = os.path.splitext(args.output)
    _write_csv(f"{stem}.csv", curves)
    print(f"wrote {args.output} and {stem}.csv")
    print(f"{layer}: {n} neurons ranked on {len(train)} training images, tested on "
          f"{len(test)} test images at {len(counts)} counts")
    _print_table(curves, counts, n)
    print(f"scores took {scored - start:.1f} s, curves {done - scored:.1f} s")
    return 0
