"""`semiring-lrp mask`: class masks over a dataset (the paper's figures
3.1-3.3), written as a picture and as .npy arrays.

    semiring-lrp mask                                   # shipped MLP, shipped MNIST test digits
    semiring-lrp mask --model two_digit_mlp --by all    # figure 3.2
    semiring-lrp mask --model vgg16 --weights F --data photos/ --layer features.28
    semiring-lrp mask --workers 2                       # on a local Dask cluster
"""
from __future__ import annotations

import os
import time

import numpy as np

from . import datasets, models
from .apps.masks import class_mask
from .cli_common import (SEMIRINGS, VGG_MODELS, UserError, add_cluster_options, add_figure_options,
                         check_at_least_one, check_output, check_threshold_options, dask_client,
                         rule_list, semiring_from_args, thresholds, vgg_from_file)
from .io import load
from .viz import class_masks

__all__ = ["add_parser", "run"]

# the shipped models by --model word: (builder, the dataset class it reads)
_SHIPPED = {"mnist_mlp": (models.mnist_mlp, datasets.MNIST),
            "mnist_cnn": (models.mnist_cnn, datasets.MNIST),
            "two_digit_mlp": (models.two_digit_mlp, datasets.TwoDigitMNIST)}
_BY = {"label": "label", "prediction": "prediction", "all": None}
_COMBINE = {"or": ("or",), "and": ("and",), "both": ("or", "and")}


def add_parser(commands):
    mask = commands.add_parser(
        "mask", help="combine the relevance of a dataset into class masks",
        description="Boolean (or any semiring's) relevance of every image of a dataset, "
                    "combined per class with OR (relevant in some image) and AND (in every "
                    "image), as in the paper's figures 3.1-3.3. Writes the picture and one "
                    ".npy per combination. Default: the shipped MLP on the 10,000 shipped "
                    "MNIST test digits.")
    mask.add_argument("--model", default="mnist_mlp", metavar="NAME|FILE",
                      help=f"{', '.join(_SHIPPED)} (shipped), a VGG ({', '.join(VGG_MODELS)}; "
                           "with --weights and --data), or a network file readable by "
                           "semiring_lrp.load (default: mnist_mlp)")
    mask.add_argument("--weights", metavar="FILE",
                      help="with a VGG --model: torchvision's state_dict of that variant or "
                           "an .npz of the same names")
    mask.add_argument("--data", metavar="DIR",
                      help="a folder of MNIST IDX files (default: the shipped test split), "
                           "or with a VGG --model a folder of .jpg/.png images")
    mask.add_argument("--split", choices=("test", "train"), default="test",
                      help="MNIST split (default: test; train is read from --data or "
                           "$SEMIRING_LRP_MNIST)")
    mask.add_argument("--limit", type=int, metavar="N", help="only the first N images")
    mask.add_argument("--semiring", choices=tuple(SEMIRINGS), default="boolean",
                      help="default: boolean; other semirings count a nonzero value as "
                           "relevant")
    mask.add_argument("--threshold", type=thresholds, metavar="T[,T...]",
                      help="boolean/counting threshold: one number, or one per weighted layer "
                           "(default 1e-9)")
    mask.add_argument("--absolute", action="store_true",
                      help="boolean/counting: compare |d| with the threshold")
    mask.add_argument("--rule", type=rule_list, metavar="RULE[,RULE...]",
                      help="zero, epsilon[:EPS], gamma[:GAMMA], or one per weighted layer")
    mask.add_argument("--combine", choices=tuple(_COMBINE), default="both",
                      help="or: relevant in some image; and: in every image; both "
                           "(default)")
    mask.add_argument("--by", choices=tuple(_BY), default="label",
                      help="one mask per class by the images' labels (default) or the "
                           "network's predictions, or one mask over all images")
    mask.add_argument("--class", dest="class_", type=int, metavar="K",
                      help="draw and save class K only")
    mask.add_argument("--layer", default="input", metavar="NAME",
                      help="the layer whose input neurons are masked: input (default) or a "
                           "layer's name or index (see Network.summary)")
    mask.add_argument("--batch-size", type=int, default=1000, metavar="N",
                      help="images per relevance pass (default 1000; the masks do not "
                           "depend on it)")
    add_cluster_options(mask)
    mask.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_figure_options(mask, "mask.png",
                       "; the masks go beside it as STEM_or.npy and STEM_and.npy")


def _check_options(args):
    check_threshold_options(args)
    check_output(args)
    check_at_least_one(args, (("limit", "--limit"), ("batch_size", "--batch-size"),
                              ("workers", "--workers")))
    if args.model in VGG_MODELS:
        if args.weights is None or args.data is None:
            raise UserError(f"--model {args.model} needs --weights FILE and --data DIR (a "
                            "folder of .jpg/.png images)")
    elif args.weights is not None:
        raise UserError("--weights applies to --model vgg16 only (or another VGG: "
                        f"{', '.join(VGG_MODELS)})")
    if args.by == "all" and args.class_ is not None:
        raise UserError("--class picks one class's mask; --by all makes one mask over all "
                        "images")


def _model_and_data(args):
    """(net, dataset, what the data is called) from --model, --data, --split."""
    if args.model in VGG_MODELS:
        net = vgg_from_file(args.model, args.weights, progress=False if args.no_progress else None)
        return net, datasets.ImageFolder(args.data), args.data
    build, dataset_class = _SHIPPED.get(args.model, (None, datasets.MNIST))
    net = build() if build is not None else load(args.model)
    data = dataset_class(args.split, root=args.data)
    where = args.data or ("the shipped test split" if args.split == "test"
                          else "$SEMIRING_LRP_MNIST")
    return net, datasets.shaped_for(net, data), f"MNIST {args.split} ({where})"


def _outputs(args, combines):
    stem, _ = os.path.splitext(args.output)
    return {combine: f"{stem}_{combine}.npy" for combine in combines}


def run(args):
    _check_options(args)
    net, data, what = _model_and_data(args)
    if args.limit is not None:
        data = data[:args.limit]
    semiring = semiring_from_args(args)
    combines = _COMBINE[args.combine]
    by = _BY[args.by]
    classes = net.layers[-1].weight.shape[0] if net.layers[-1].weighted else None
    if args.class_ is not None and (classes is None or not 0 <= args.class_ < classes):
        raise UserError(f"--class {args.class_} is out of range: the network has {classes} "
                        "classes")
    client, to_close = dask_client(args)
    start = time.perf_counter()
    try:
        masks, counts = class_mask(net, data, semiring=semiring, combine=combines, by=by,
                                   layer=args.layer, rule=args.rule,
                                   batch_size=args.batch_size,
                                   progress=False if args.no_progress else None,
                                   client=client, return_counts=True)
    finally:
        for item in to_close:
            item.close()
    seconds = time.perf_counter() - start
    title = (f"{args.semiring} relevance of {args.layer} over {len(data)} images of {what}, "
             f"{'all images' if by is None else 'by ' + by}")
    # the classes drawn: the one asked for, else those that have images
    shown = ([args.class_] if args.class_ is not None else
             None if by is None else np.flatnonzero(counts).tolist())
    class_masks(masks, path=args.output, per_class=by is not None, classes=shown, title=title,
                dpi=args.dpi)
    if args.class_ is not None:
        masks = {name: value[args.class_] for name, value in masks.items()}
    print(f"wrote {args.output}")
    for combine, path in _outputs(args, combines).items():
        np.save(path, masks[combine])
        share = float(np.mean(masks[combine]))
        print(f"wrote {path}: {combine.upper()} mask {masks[combine].dtype} "
              f"{masks[combine].shape}, {share:.1%} of the values true")
    if by is not None:
        print("images per class: " + ", ".join(f"{k}: {n}" for k, n in enumerate(counts) if n))
    print(f"{len(data)} images in {seconds:.2f} s ({len(data) / seconds:.0f} images/s)")
    return 0
