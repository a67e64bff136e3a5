"""`semiring-lrp perturb`: the paper's figures 3.5 (the accuracy drop when
one patch of every test image is inverted, per class) and 3.6 (accuracy as
pixels drawn by relevance or uniformly are inverted), each written as a
picture and a CSV of every number drawn.

    semiring-lrp perturb                                # shipped MLP, 10,000 shipped test digits
    semiring-lrp perturb --limit 1000 --pixels 0,50,200 --output-prefix quick
"""
from __future__ import annotations

import csv
import time

import numpy as np

from . import datasets
from .apps.figures import attack_figure, occlusion_figure
from .apps.perturbation import _check_pixels, attack_curve, occlusion_map
from .apps.progress import progress_bar
from .cli_common import (PROG, UserError, add_mnist_model_option, check_at_least_one,
                         int_list, mnist_network, number)
from .semirings import Boolean, Counting, Real, Viterbi

__all__ = ["add_parser", "run", "DRAWS"]

_RELEVANCE = {"real": Real(), "boolean": Boolean(1e-9), "counting": Counting(1e-9),
              "viterbi": Viterbi()}
#: the attack curves drawn: (distribution, relevance by semiring word or None)
DRAWS = tuple([("softmax(-R)", name) for name in _RELEVANCE]
              + [("softmax(R)", "real"), ("uniform", None)])
_DEFAULT_PIXELS = (0, 25, 50, 100, 150, 200, 300)
_SHOWN_PIXELS = (50, 200)


def add_parser(commands):
    perturb = commands.add_parser(
        "perturb", help="perturb test images against relevance (figures 3.5 and 3.6)",
        description="On MNIST test digits, inverting pixels (x -> 1 - x): the accuracy drop "
                    "when one patch of every image is inverted, per class (the paper's figure "
                    "3.5), and the accuracy as more pixels are inverted, drawn with "
                    "probability softmax(-R) of each semiring's relevance of the label, "
                    "softmax(R) of real relevance, or uniformly (figure 3.6). Writes "
                    "PREFIX_occlusion.png/.csv and PREFIX_attack.png/.csv. Default: the "
                    "shipped MLP on the 10,000 shipped test digits (10 s on 2 cores).")
    add_mnist_model_option(perturb)
    perturb.add_argument("--limit", type=int, metavar="N",
                         help="only the first N test images (default: all 10,000)")
    perturb.add_argument("--patch", type=int, default=4, metavar="P",
                         help="occluded regions of P x P pixels (default 4)")
    perturb.add_argument("--pixels", type=int_list, default=list(_DEFAULT_PIXELS),
                         metavar="C,C,...",
                         help="increasing counts of inverted pixels (default "
                              f"{','.join(map(str, _DEFAULT_PIXELS))})")
    perturb.add_argument("--temperature", type=number, default=1.0, metavar="T",
                         help="softmax temperature of the draws (default 1)")
    perturb.add_argument("--seed", type=int, default=0, metavar="S",
                         help="seed of the draws (default 0)")
    perturb.add_argument("--batch-size", type=int, default=500, metavar="N",
                         help="images per pass (default 500; the results do not depend on it)")
    perturb.add_argument("--no-progress", action="store_true", help="no progress bar")
    perturb.add_argument("--output-prefix", default="perturb", metavar="PREFIX",
                         help="files to write: PREFIX_occlusion.png, PREFIX_occlusion.csv, "
                              "PREFIX_attack.png, PREFIX_attack.csv (default: perturb)")


def draw_name(distribution, relevance):
    """The name of an attack curve in the figure and the table."""
    return distribution if relevance is None else f"{distribution} {relevance}"


def _attack_relevance(relevance, test):
    """attack_curve's relevance: the semiring, or for the uniform draw, which
    reads none, zeros shaped like the images (a view, no memory)."""
    if relevance is not None:
        return _RELEVANCE[relevance]
    x, _ = test.load(0, 1)
    return np.broadcast_to(np.zeros((), dtype=np.float32), (len(test),) + x.shape[1:])


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def _occlusion_rows(drop):
    """(class, row, col, drop) for every entry of a (classes, rows, cols) map."""
    return [[k, i, j, float(drop[k, i, j])] for k, i, j in np.ndindex(drop.shape)]


def _attack_rows(curves):
    """(distribution, relevance, pixels, accuracy) for every point of every curve."""
    return [[distribution, relevance or "none", int(p), float(a)]
            for (distribution, relevance), curve in curves.items()
            for p, a in zip(curve["pixels"], curve["accuracy"])]


def _print_table(curves, pixels):
    shown = [p for p in _SHOWN_PIXELS if p in pixels]
    if not shown:
        return
    names = {key: draw_name(*key) for key in curves}
    width = max(map(len, names.values()))
    print("accuracy with pixels inverted")
    print("draw".ljust(width) + "".join(f"  {p:>4d} px" for p in shown))
    for key, curve in curves.items():
        columns = [int(np.flatnonzero(curve["pixels"] == p)[0]) for p in shown]
        print(names[key].ljust(width) + "".join(f"  {curve['accuracy'][c]:7.4f}"
                                                for c in columns))


def _check_options(args):
    check_at_least_one(args, (("limit", "--limit"), ("batch_size", "--batch-size"),
                              ("patch", "--patch")))
    if args.seed < 0:
        raise UserError(f"--seed must be 0 or more, not {args.seed}")
    if not np.isfinite(args.temperature) or args.temperature <= 0:
        raise UserError(f"--temperature must be a finite number above 0, not "
                        f"{args.temperature:g}")


def _attacks(args, net, test, bar):
    curves = {}
    for distribution, relevance in DRAWS:
        curves[distribution, relevance] = attack_curve(
            net, test, _attack_relevance(relevance, test), pixels=args.pixels,
            distribution=distribution, temperature=args.temperature, seed=args.seed,
            batch_size=args.batch_size)
        bar.update(1)
    return curves


def run(args):
    _check_options(args)
    net = mnist_network(args.model, f"{PROG} perturb")
    test = datasets.shaped_for(net, datasets.MNIST("test"))
    if args.limit is not None:
        test = test[:args.limit]
    _check_pixels(args.pixels, int(np.prod(test.load(0, 1)[0].shape[-2:])))
    start = time.perf_counter()
    with progress_bar(1 + len(DRAWS), False if args.no_progress else None,
                      desc="perturbations", unit="curve") as bar:
        drop = occlusion_map(net, test, patch=args.patch, by="label",
                             batch_size=args.batch_size)
        bar.update(1)
        curves = _attacks(args, net, test, bar)
    seconds = time.perf_counter() - start
    prefix = args.output_prefix
    occlusion_figure(drop, path=f"{prefix}_occlusion.png")
    _write_csv(f"{prefix}_occlusion.csv", ["class", "row", "col", "drop"], _occlusion_rows(drop))
    attack_figure({draw_name(*key): curve for key, curve in curves.items()},
                  baseline="uniform", path=f"{prefix}_attack.png")
    _write_csv(f"{prefix}_attack.csv", ["distribution", "relevance", "pixels", "accuracy"],
               _attack_rows(curves))
    print(f"wrote {prefix}_occlusion.png, {prefix}_occlusion.csv, {prefix}_attack.png and "
          f"{prefix}_attack.csv")
    print(f"{len(test)} test images, {args.patch}x{args.patch} patches, seed {args.seed}, "
          f"temperature {args.temperature:g}")
    _print_table(curves, args.pixels)
    print(f"perturbations took {seconds:.1f} s")
    return 0
