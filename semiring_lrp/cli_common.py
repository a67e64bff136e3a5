"""What the `semiring-lrp` commands share: the program's name, how a usage
error is reported, the option types and builders for semirings, rules,
VGG-16 weights and the MNIST networks, and the Dask cluster options."""
from __future__ import annotations

import argparse
import math
import pickle
import sys
import zipfile

from . import models, rules
from .io import load
from .semiring_specs import spec_named
from .semirings import Boolean, Counting, Real, Viterbi
from .viz import DEFAULT_DPI, FORMATS, file_format

PROG = "semiring-lrp"
# the --semiring words: each built-in semiring's spec name
SEMIRINGS = {cls.spec.name: cls for cls in (Real, Boolean, Counting, Viterbi)}
RULES = {"zero": rules.Zero, "epsilon": rules.Epsilon, "gamma": rules.Gamma, "zbox": rules.ZBox}
RULE_SYNTAX = "zero, epsilon[:EPS], gamma[:GAMMA] or zbox:LOW:HIGH"
# the --model words for torchvision's VGG variants (with --weights FILE); any
# value that is no model word is a network file
VGG_MODELS = models.VGG_VARIANTS
# what the library raises for a bad file, image, target or count: reported
# as a usage error, since the fix is in the command line, not in the code
USER_ERRORS = (ValueError, TypeError, OSError, OverflowError, ImportError)
# what a malformed file makes a reader raise where no library check caught
# it first (a truncated stream, a broken archive, a pickle, an image bomb)
MALFORMED_FILE_ERRORS = (EOFError, zipfile.BadZipFile, pickle.UnpicklingError)
INTERRUPTED = 130  # the shell's status for a command ended by Ctrl-C (128 + SIGINT)


class UserError(Exception):
    """A bad combination of arguments, found after parsing."""


class Parser(argparse.ArgumentParser):
    # subcommand parsers would otherwise prefix errors with "semiring-lrp explain"
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}\n")


def number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def int_list(text):
    """Whole numbers separated by commas, as a list."""
    try:
        return [int(part.strip()) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of whole numbers separated by commas") from None


def thresholds(text):
    values = [number(part.strip()) for part in text.split(",")]
    return values[0] if len(values) == 1 else values


def _zbox(text, bounds):
    """rules.ZBox from "LOW:HIGH": two finite numbers, LOW below HIGH."""
    low, has_high, high = bounds.partition(":")
    if not has_high or ":" in high:
        raise argparse.ArgumentTypeError(
            f"rule {text!r}: zbox takes the input's bounds as zbox:LOW:HIGH, e.g. zbox:0:1")
    low, high = number(low), number(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise argparse.ArgumentTypeError(f"rule {text!r}: the bounds must be finite numbers")
    if not low < high:
        raise argparse.ArgumentTypeError(f"rule {text!r}: LOW ({low:g}) must be below "
                                         f"HIGH ({high:g})")
    return rules.ZBox(low, high)


def _one_rule(text):
    text = text.strip()
    name, has_param, param = text.partition(":")
    cls = RULES.get(name)
    if cls is None:
        raise argparse.ArgumentTypeError(f"unknown rule {name!r}: use {RULE_SYNTAX}")
    if cls is rules.ZBox:
        return _zbox(text, param)
    if not has_param:
        return cls()
    if cls is rules.Zero:
        raise argparse.ArgumentTypeError("rule zero takes no parameter")
    try:
        return cls(number(param))
    except (TypeError, ValueError) as err:
        raise argparse.ArgumentTypeError(f"rule {text!r}: {err}") from None


def rule_list(text):
    parsed = [_one_rule(part) for part in text.split(",")]
    return parsed[0] if len(parsed) == 1 else parsed


def check_threshold_options(args):
    """--threshold and --absolute belong to the thresholded semirings."""
    if not spec_named(args.semiring).thresholded:
        for given, option in ((args.threshold is not None, "--threshold"),
                              (args.absolute, "--absolute")):
            if given:
                raise UserError(f"{option} applies to --semiring boolean or counting, "
                                f"not {args.semiring}")


def semiring_from_args(args):
    cls = SEMIRINGS[args.semiring]
    if not cls.spec.thresholded:
        return cls()
    kwargs = {"absolute": args.absolute}
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    return cls(**kwargs)


def vgg_from_file(variant, path, progress=False):
    """The VGG `variant` from a weights file; a file of another variant is
    refused before its tensors are read, naming the --model it needs; every
    failure to read it names the file."""
    try:
        held = models.vgg_variant(path)
        if held is not None and held != variant:
            raise UserError(f"{path}: holds the weights of {held}, not {variant}; "
                            f"give --model {held}")
        return models.vgg(variant, path, progress=progress)
    except (ValueError, TypeError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        message = str(err)
        raise UserError(message if path in message else
                        f"{path}: cannot be read as {variant} weights ({message})") from None


def dpi(text):
    """--dpi: a positive number of dots per inch."""
    value = number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of dots per inch")
    return value


def add_figure_options(parser, default, beside=""):
    """--output FILE (its format from the file name's ending; `beside`
    names what else is written next to it) and --dpi N."""
    parser.add_argument("--output", default=default, metavar="FILE",
                        help=f"picture to write (default {default}), in the format its name "
                             f"ends in: {', '.join('.' + name for name in FORMATS)}{beside}")
    parser.add_argument("--dpi", type=dpi, default=DEFAULT_DPI, metavar="N",
                        help=f"dots per inch of the picture (default {DEFAULT_DPI})")


def check_output(args):
    """--output names a picture format, checked before any work."""
    try:
        file_format(args.output)
    except ValueError as err:
        raise UserError(f"--output: {err}") from None


def check_at_least_one(args, options):
    """Each of the given options (attribute name, option) is None or >= 1."""
    for name, option in options:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"{option} must be at least 1, not {value}")


# the MNIST networks by --model word, for the commands that read MNIST digits
MNIST_MODELS = {"mnist_mlp": models.mnist_mlp, "mnist_cnn": models.mnist_cnn}


def mnist_network(model, command):
    """The network --model names for a command over MNIST digits: a shipped
    MNIST network or a network file; the word vgg16 is refused."""
    if model in VGG_MODELS:
        raise UserError(f"--model {model} is not supported by {command}: it reads MNIST "
                        f"digits; give {', '.join(MNIST_MODELS)} or a network file")
    build = MNIST_MODELS.get(model)
    return build() if build is not None else load(model)


def add_mnist_model_option(parser):
    """--model for the commands over MNIST digits (see `mnist_network`)."""
    parser.add_argument("--model", default="mnist_mlp", metavar="NAME|FILE",
                        help=f"{', '.join(MNIST_MODELS)} (shipped) or a network file readable "
                             "by semiring_lrp.load (default: mnist_mlp)")


def add_cluster_options(parser):
    """--workers N / --scheduler ADDRESS, one or the other."""
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=int, metavar="N",
                         help="start a local Dask cluster of N worker processes")
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="use a running Dask cluster, e.g. tcp://scheduler:8786")


def dask_client(args):
    """A Dask client for --workers or --scheduler (None for neither), and
    what closes it, in closing order."""
    if args.workers is None and args.scheduler is None:
        return None, []
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UserError('--workers and --scheduler need Dask: pip install '
                        '"semiring_lrp[dask]"') from None
    if args.scheduler is not None:
        client = Client(args.scheduler)
        return client, [client]
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    return client, [client, cluster]
