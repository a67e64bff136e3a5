"""The `semiring-lrp` command.

    semiring-lrp explain [--semiring boolean --threshold 1e-9] [--image digit.png] ...
    semiring-lrp explain --model vgg16 --weights vgg16-397923af.pth --image cat.jpg ...
    semiring-lrp mask [--model two_digit_mlp] [--workers 2] ...
    semiring-lrp prune [--model mnist_cnn] [--criteria real,l1] ...
    semiring-lrp perturb [--limit 1000] ...

`explain` explains one image (by default the first shipped MNIST digit, a
0, on the shipped MLP; or a photo on VGG-16 with weights the user gives) and
writes the heatmap in the format --output's name ends in (.png, .pdf, .svg,
...); `mask` (cli_mask.py) combines the relevance of a whole dataset into
class masks; `prune` (cli_prune.py) and `perturb`
(cli_perturb.py) reproduce the paper's figures 3.4 and 3.5-3.6.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from . import __version__, cli_mask, cli_perturb, cli_prune, composites, images, models
from .cli_common import (
    INTERRUPTED,
    MALFORMED_FILE_ERRORS,
    PROG,
    SEMIRINGS,
    USER_ERRORS,
    VGG16,
    Parser,
    UserError,
    add_figure_options,
    check_output,
    check_threshold_options,
    rule_list,
    semiring_from_args,
    thresholds,
    vgg16_from_file,
)
from .images import aggregate_channels
from .io import _read_npy_file, load
from .layers import Linear
from .propagation import relevance
from .viz import heatmap, kind_of

__all__ = ["main"]

_VGG16_IMAGES = (".jpg", ".jpeg", ".png")
# how a conv net's relevance folds its colour channels, by default per semiring
# (as aggregate_channels(r, semiring) does); --channels picks another
_CHANNELS = ("or", "and", "sum", "max")
_DEFAULT_CHANNELS = {"real": "sum", "boolean": "or", "counting": "sum", "viterbi": "max"}


def _parser():
    parser = Parser(prog=PROG, description="Layer-wise Relevance Propagation in semirings.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    explain = commands.add_parser(
        "explain", help="explain one image and write its heatmap",
        description="Explain one image and write the input beside its relevance as a "
                    "picture (PNG, PDF, SVG, ...: the format --output's name ends in). "
                    "Default: the shipped MNIST MLP on the first shipped digit.")
    explain.add_argument("--semiring", choices=tuple(SEMIRINGS), default="real",
                         help="default: real")
    explain.add_argument("--threshold", type=thresholds, metavar="T[,T...]",
                         help="boolean/counting threshold: one number, or one per weighted "
                              "layer (default 1e-9; write --threshold=-1,... for negatives)")
    explain.add_argument("--absolute", action="store_true",
                         help="boolean/counting: compare |d| with the threshold")
    explain.add_argument("--rule", type=rule_list, metavar="RULE[,RULE...]",
                         help="zero, epsilon[:EPS], gamma[:GAMMA], or one per weighted "
                              "layer, e.g. gamma:0.25,epsilon:1e-6,zero (default: zero; "
                              "for vgg16 in the real semiring the LRP overview's recipe)")
    explain.add_argument("--init", choices=("one", "activation"), default="one",
                         help="output relevance: the semiring's one (default) or, for real, "
                              "the target's score (classical LRP)")
    explain.add_argument("--target", type=int, metavar="N",
                         help="output neuron to explain (default: the predicted class)")
    source = explain.add_mutually_exclusive_group()
    source.add_argument("--digit", type=int, metavar="I",
                        help="index of the shipped digit (two per class, in class order; "
                             "default 0); not with --model vgg16")
    source.add_argument("--image", metavar="FILE",
                        help="a .npy array (uint8 or floats in [0, 1]) or a .png image; "
                             "with --model vgg16 a .jpg, .jpeg or .png photo (required)")
    explain.add_argument("--model", metavar="FILE|vgg16",
                         help="a network file readable by semiring_lrp.load (.npz or a "
                              "PyTorch MLP state_dict; default: the shipped MLP), or the word "
                              "vgg16 for torchvision's VGG-16 with --weights (write ./vgg16 "
                              "for a file of that name)")
    explain.add_argument("--weights", metavar="FILE",
                         help="with --model vgg16: torchvision's VGG-16 state_dict "
                              "(vgg16-397923af.pth) or an .npz of the same names")
    explain.add_argument("--maxpool", choices=("winner", "average"),
                         help="how max pooling passes relevance (default: the rule "
                              "composite's choice, else winner)")
    explain.add_argument("--channels", choices=_CHANNELS,
                         help="with --model vgg16: how the colour channels of the relevance "
                              "fold into one map (default: the semiring's: or for boolean, "
                              "max for viterbi, sum otherwise)")
    add_figure_options(explain, "explain.png")
    explain.add_argument("--dtype", choices=("float32", "float64"),
                         help="compute in this precision (default: the model's)")
    cli_mask.add_parser(commands)
    cli_prune.add_parser(commands)
    cli_perturb.add_parser(commands)
    return parser


def _check_options(args):
    check_threshold_options(args)
    check_output(args)
    if args.init == "activation" and args.semiring != "real":
        raise UserError(f"--init activation needs --semiring real, not {args.semiring}")
    if args.model == VGG16:
        if args.weights is None:
            raise UserError("--model vgg16 needs --weights FILE (torchvision's VGG-16 "
                            "state_dict, e.g. vgg16-397923af.pth, or an .npz of it)")
        if args.digit is not None:
            raise UserError("--digit picks a shipped MNIST digit; --model vgg16 needs "
                            "--image FILE (.jpg, .jpeg or .png)")
        if args.image is None:
            raise UserError("--model vgg16 needs --image FILE (.jpg, .jpeg or .png)")
        if os.path.splitext(args.image)[1].lower() not in _VGG16_IMAGES:
            raise UserError(f"{args.image}: --image for --model vgg16 must be a .jpg, .jpeg "
                            "or .png file")
    else:
        for given, option in ((args.weights is not None, "--weights"),
                              (args.channels is not None, "--channels")):
            if given:
                raise UserError(f"{option} applies to --model vgg16 only")


def _read_npy(path, net):
    # the header's claim is checked against the file before anything is allocated
    return _read_npy_file(path)


def _read_png(path, net):
    """The PNG's pixels (H, W, 3) in [0, 1] (as images.read_image scales
    each mode); its size is checked from its header, before decoding."""
    width, height = images.image_size(path)
    if width * height != net.n_features:
        raise ValueError(_size_mismatch(net, path, height, width))
    return images.read_image(path)


_IMAGE_READERS = {".npy": _read_npy, ".png": _read_png}


def _read_image(path, net):
    """A 2-D float image for `net` from a .npy array or a PNG: uint8 pixels
    / 255, floats as they are (PNG gives [0, 1]); RGB(A) becomes gray."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in _IMAGE_READERS:
        raise ValueError(f"{path}: --image must be a .npy or .png file "
                         "(.jpg is for --model vgg16)")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: --image is a folder, not a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        pixels = _IMAGE_READERS[extension](path, net)
    except (ValueError, OSError, EOFError, SyntaxError) as err:
        if str(err).startswith(path) or isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f"{path}: cannot be read as a {extension} file ({err})") from None
    if pixels.dtype == np.uint8:
        pixels = pixels.astype(np.float64) / 255
    elif pixels.dtype.kind != "f":
        raise ValueError(f"{path}: pixels must be uint8 or floats, not {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        # alpha carries no brightness: average the colour channels only
        pixels = pixels[..., :3].mean(axis=-1)
    if pixels.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D grayscale (or RGB/RGBA) image, "
                         f"not an array of shape {pixels.shape}")
    return pixels


def _size_mismatch(net, what, height, width):
    shape = "x".join(map(str, net.input_shape))
    return (f"{what} is {height}x{width} but the model takes inputs of shape {shape} "
            f"({net.n_features} values)")


def _model_input(net, image, what):
    """The image reshaped to the network's input; the sizes must agree."""
    if image.size != net.n_features:
        raise ValueError(_size_mismatch(net, what, image.shape[0], image.shape[1]))
    return image.reshape(net.input_shape)


def _mnist_case(args):
    """(net, x, image shown, name shown, rule) for a network file or the shipped MLP."""
    net = load(args.model) if args.model else models.mnist_mlp()
    if args.image:
        image, what = _read_image(args.image, net), args.image
        shown_as = os.path.basename(args.image)
    else:
        digit = 0 if args.digit is None else args.digit
        digits, labels = models.mnist_digits()
        if not 0 <= digit < len(digits):
            raise UserError(f"--digit must be between 0 and {len(digits) - 1}, not {digit}")
        image = models.mnist_input(digits[digit])
        what = shown_as = f"shipped digit {digit} (a {labels[digit]})"
    return net, _model_input(net, image, what), image, shown_as, args.rule


def _vgg16_case(args):
    """(net, x, crop shown, name shown, rule) for VGG-16: the photo is read
    first, then the weights, both cheap beside a pass."""
    x, crop = images.imagenet_input(args.image)
    net = vgg16_from_file(args.weights)
    rule = args.rule
    if rule is None and args.semiring == "real":
        rule = composites.lrp_overview_vgg16(net)
    return net, x, crop, f"{os.path.basename(args.image)} on VGG-16", rule


def _semiring_for(args, net):
    if args.model == VGG16 and args.semiring == "boolean" and args.threshold is None:
        return composites.paper_vgg16_boolean(net)
    return semiring_from_args(args)


def _check_counts(net, semiring, rule):
    """Rules and thresholds per layer must match the network: checked here,
    before the forward pass, which takes seconds on VGG-16."""
    weighted = len(net.weighted_layers)
    if isinstance(rule, list) and len(rule) != weighted:
        raise UserError(f"--rule gives {len(rule)} rules but the model has {weighted} weighted "
                        "layers; give one rule, or one per weighted layer")
    if hasattr(semiring, "check_layers"):
        semiring.check_layers(weighted, len(net.pooling_layers))


def _check_target(net, target):
    last = net.layers[-1]
    if target is not None and isinstance(last, Linear):
        classes = last.out_features
        if not 0 <= target < classes:
            raise UserError(f"target {target} is out of range: the network has {classes} "
                            f"classes (0 to {classes - 1})")


def _folded(r, semiring, how):
    """A conv net's (C, H, W) relevance folded to (H, W), and the heatmap kind
    to draw it: a truth value as boolean, a count of true channels as counting."""
    folded = aggregate_channels(r, how)
    kind = kind_of(semiring)
    if folded.dtype == np.bool_:
        return folded, "boolean"
    return folded, ("counting" if kind == "boolean" else kind)


def _explain(args):
    _check_options(args)
    vgg = args.model == VGG16
    net, x, image, shown_as, rule = (_vgg16_case if vgg else _mnist_case)(args)
    if args.dtype:
        net = net.astype(args.dtype)
    semiring = _semiring_for(args, net)
    _check_counts(net, semiring, rule)
    _check_target(net, args.target)

    # everything above is cheap; the forward and relevance passes follow
    scores = net.forward(x)
    predicted = int(np.argmax(scores))
    target = predicted if args.target is None else args.target
    start = time.perf_counter()
    r = relevance(net, x, target=target, semiring=semiring, rule=rule, init=args.init,
                  maxpool=args.maxpool)
    seconds = time.perf_counter() - start
    title = f"{shown_as}, {args.semiring} semiring"
    if vgg:
        how = args.channels or _DEFAULT_CHANNELS[args.semiring]
        shown, kind = _folded(r, semiring, how)
        title += f", {how} over channels"
    else:
        shown, kind = r.reshape(image.shape), semiring
    heatmap(image, shown, kind, path=args.output, target=target, title=title, dpi=args.dpi)
    print(f"wrote {args.output}")
    print(f"predicted class {predicted}, target {target}")
    print(f"relevance pass took {seconds:.2f} s")
    return 0


def _malformed_file_errors():
    """MALFORMED_FILE_ERRORS plus PIL's image bomb error when PIL is loaded
    (it is no OSError; PIL is imported by the readers that need it)."""
    pil = sys.modules.get("PIL.Image")
    bomb = getattr(pil, "DecompressionBombError", None)
    return MALFORMED_FILE_ERRORS + ((bomb,) if bomb is not None else ())


def error_line(err, command):
    """The one line `semiring-lrp: error: ...` for a user-caused error: what
    went wrong and, where the message alone does not say, which file or step."""
    message = str(err).strip() or type(err).__name__
    if isinstance(err, MemoryError):
        return (f"{PROG}: error: not enough memory for {PROG} {command}: "
                f"{str(err).strip() or 'an allocation failed'}")
    filename = getattr(err, "filename", None)
    if isinstance(err, OSError) and filename is not None:
        # "[Errno 2] No such file or directory: 'x.png'" as "x.png: No such file or directory"
        message = f"{os.fsdecode(filename)}: {err.strerror or message}"
    elif not isinstance(err, (UserError, *USER_ERRORS)):
        message = f"{type(err).__name__}: {message}"
    return f"{PROG}: error: {' '.join(message.split())}"


def main(argv=None) -> int:
    """Runs the command line `argv` (default sys.argv[1:]); returns the exit
    status: 0, 2 for a usage error or any error the user's arguments, files
    or memory caused (one line `semiring-lrp: error: ...` on stderr), 130
    when interrupted (Ctrl-C). Other exceptions are bugs and propagate with
    their traceback."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # usage errors, --help, --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return INTERRUPTED
    run = {"explain": _explain, "mask": cli_mask.run, "prune": cli_prune.run,
           "perturb": cli_perturb.run}[args.command]
    try:
        return run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: error: {PROG} {args.command} interrupted", file=sys.stderr)
        return INTERRUPTED
    except (UserError, MemoryError, *USER_ERRORS, *_malformed_file_errors()) as err:
        print(error_line(err, args.command), file=sys.stderr)
        return 2
