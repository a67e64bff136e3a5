"""The `semiring-lrp` command.

    semiring-lrp explain [--semiring boolean --threshold 1e-9] [--image digit.png] ...
    semiring-lrp explain --model mnist_cnn --images digits/ --output heatmaps/
    semiring-lrp explain --model vgg16 --weights vgg16-397923af.pth --image cat.jpg ...
    semiring-lrp mask [--model two_digit_mlp] [--workers 2] ...
    semiring-lrp prune [--model mnist_cnn] [--criteria real,l1] ...
    semiring-lrp perturb [--limit 1000] ...

`explain` explains one image or a folder of images (by default the first
shipped MNIST digit, a 0, on the shipped MLP; or photos on a VGG with
weights the user gives), writes each heatmap (in the format --output's name
ends in) and prints a line of what it found; `mask` (cli_mask.py) combines the relevance of a whole dataset into
class masks; `prune` (cli_prune.py) and `perturb` (cli_perturb.py)
reproduce the paper's figures 3.4 and 3.5-3.6.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from . import __version__, cli_mask, cli_perturb, cli_prune, composites, images, models
from .apps.progress import progress_bar
from .cli_common import (INTERRUPTED, MALFORMED_FILE_ERRORS, PROG, RULE_SYNTAX, SEMIRINGS,
                         USER_ERRORS, VGG_MODELS, Parser, UserError, check_output,
                         check_threshold_options, dpi, rule_list, semiring_from_args,
                         thresholds, vgg_from_file)
from .images import aggregate_channels
from .io import _read_npy_file, load
from .layers import Linear
from .propagation import relevance
from .semiring_specs import BOOLEAN, COUNTING, REAL, SPECS, spec_named
from .viz import DEFAULT_DPI, FORMATS, heatmap, kind_of

__all__ = ["main"]

# the shipped networks by --model word; the VGG words are cli_common.VGG_MODELS
SHIPPED = {"mnist_mlp": models.mnist_mlp, "mnist_cnn": models.mnist_cnn,
           "two_digit_mlp": models.two_digit_mlp}
_VGG_IMAGES = (".jpg", ".jpeg", ".png")
_MNIST_IMAGES = (".npy", ".png", ".jpg", ".jpeg")
# how a conv net's relevance folds its colour channels: by default the
# semiring's (+), its spec's reduction (as aggregate_channels(r, semiring)
# does); --channels picks another
_CHANNELS = ("or", "and", "sum", "max")
# the built-in semirings by the heatmap kind they draw as
_SPEC_OF_KIND = {spec.kind: spec for spec in SPECS}
# the VGG variants the VGG-16 presets fit: 13 Conv2d then 3 Linear layers
_VGG16_LIKE = ("vgg16", "vgg16_bn")
# --composite NAME: the presets of composites.py, what each sets
COMPOSITES = {
    "epsilon_gamma_box": "zennit's EpsilonGammaBox: z^B on the first conv layer, gamma 0.25 "
                         "on the other convs, epsilon 1e-6 on the linear layers",
    "lrp_overview_vgg16": "the LRP overview's VGG-16 recipe (vgg16, vgg16_bn): z^B, gamma "
                          "0.25, epsilon 0.25 std, LRP-0 by block; max pooling as average",
    "paper_vgg16_boolean": "the paper's absolute boolean thresholds per layer (vgg16, "
                           "vgg16_bn); sets --semiring boolean",
}
_THRESHOLD_PRESET = "paper_vgg16_boolean"  # the composite that gives thresholds, not rules
_DEFAULT_OUTPUT = "explain.png"
_DEFAULT_FOLDER = "explain"


def _composite_help():
    return "; ".join(f"{name}: {text}" for name, text in COMPOSITES.items())


def _parser():
    parser = Parser(prog=PROG, description="Layer-wise Relevance Propagation in semirings.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    explain = commands.add_parser(
        "explain", help="explain one image, or a folder of images, and write heatmaps",
        description="Explain an image and write the input beside its relevance as a picture "
                    "(PNG, PDF, SVG, ...: the format --output's name ends in), then print one line: the target, its score and the share of relevant "
                    "pixels. Default: the shipped MNIST MLP on the first shipped digit.")
    explain.add_argument("--semiring", choices=tuple(SEMIRINGS),
                         help="default: real (boolean with --composite paper_vgg16_boolean)")
    explain.add_argument("--threshold", type=thresholds, metavar="T[,T...]",
                         help="boolean/counting threshold: one number, or one per weighted "
                              "layer (default 1e-9; write --threshold=-1,... for negatives)")
    explain.add_argument("--absolute", action="store_true",
                         help="boolean/counting: compare |d| with the threshold")
    explain.add_argument("--rule", type=rule_list, metavar="RULE[,RULE...]",
                         help=f"{RULE_SYNTAX} (z^B for inputs between LOW and HIGH, e.g. "
                              "zbox:0:1 for MNIST pixels), or one per weighted layer, e.g. "
                              "zbox:0:1,gamma:0.25,epsilon:1e-6,zero (default: zero; in the "
                              "real semiring on vgg16/vgg16_bn the LRP overview's recipe, on "
                              "the other VGGs epsilon_gamma_box); not with a rule --composite")
    explain.add_argument("--composite", choices=tuple(COMPOSITES), metavar="NAME",
                         help="a preset of semiring_lrp.composites: " + _composite_help()
                              + ". z^B takes the ImageNet-normalised range on a VGG, [0, 1] "
                              "otherwise. The rule presets replace --rule (giving both is "
                              "an error); paper_vgg16_boolean replaces --threshold and "
                              "--absolute and combines with --rule")
    explain.add_argument("--init", choices=("one", "activation"), default="one",
                         help="output relevance: the semiring's one (default) or, for real, "
                              "the target's score (classical LRP)")
    explain.add_argument("--target", type=int, metavar="N",
                         help="output neuron to explain (default: the predicted class)")
    source = explain.add_mutually_exclusive_group()
    source.add_argument("--digit", type=int, metavar="I",
                        help="index of the shipped digit (two per class, in class order; "
                             "default 0; on two_digit_mlp digit I above digit I+2 mod 20); "
                             "not with a VGG")
    source.add_argument("--image", metavar="FILE",
                        help="a .npy array (uint8 or floats in [0, 1]) or a .png, .jpg or "
                             ".jpeg image of the model's input size (RGB becomes grey); with "
                             "a VGG a .jpg, .jpeg or .png photo of any size (resized and "
                             "cropped to 224x224)")
    source.add_argument("--images", metavar="FOLDER",
                        help="every image of FOLDER that --image takes (sorted by name; "
                             "other files are skipped), each written as OUTPUT/<name>.png")
    explain.add_argument("--model", metavar="NAME|FILE",
                         help=f"{', '.join(SHIPPED)} (shipped; default mnist_mlp), a "
                              f"torchvision VGG ({', '.join(VGG_MODELS)}) with --weights, or "
                              "a network file readable by semiring_lrp.load (.npz or a "
                              "PyTorch MLP state_dict; write ./vgg16 for a file named like a "
                              "model)")
    explain.add_argument("--weights", metavar="FILE",
                         help="with a VGG --model: torchvision's state_dict of that variant "
                              "(e.g. vgg16-397923af.pth) or an .npz of the same names; a file "
                              "of another variant is refused before it is read")
    explain.add_argument("--maxpool", choices=("winner", "average"),
                         help="how max pooling passes relevance (default: the rule "
                              "composite's choice, else winner)")
    explain.add_argument("--channels", choices=_CHANNELS,
                         help="with a VGG: how the colour channels of the relevance fold into "
                              "one map (default: the semiring's: or for boolean, max for "
                              "viterbi, sum otherwise)")
    explain.add_argument("--output", metavar="FILE|FOLDER",
                         help=f"picture to write (default: {_DEFAULT_OUTPUT}), in the format "
                              f"its name ends in: {', '.join('.' + name for name in FORMATS)}; "
                              f"with --images the folder to write PNGs into (default: "
                              f"{_DEFAULT_FOLDER}/, made if missing)")
    explain.add_argument("--dpi", type=dpi, default=DEFAULT_DPI, metavar="N",
                         help=f"dots per inch of the pictures (default {DEFAULT_DPI})")
    explain.add_argument("--dtype", choices=("float32", "float64"),
                         help="compute in this precision (default: the model's)")
    explain.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                         help="no progress display on stderr (shown on a terminal for "
                              "reading VGG weights and for --images); results still print")
    cli_mask.add_parser(commands)
    cli_prune.add_parser(commands)
    cli_perturb.add_parser(commands)
    return parser


def _is_vgg(args):
    return args.model in VGG_MODELS


def _check_composite(args):
    """--composite against --rule, --threshold, --absolute and --semiring;
    sets the semiring a threshold preset implies."""
    if args.composite == _THRESHOLD_PRESET:
        for given, option in ((args.threshold is not None, "--threshold"),
                              (args.absolute, "--absolute")):
            if given:
                raise UserError(f"--composite {_THRESHOLD_PRESET} gives the thresholds (absolute); "
                                f"{option} cannot be combined with it")
        if args.semiring not in (None, BOOLEAN.name):
            raise UserError(f"--composite {_THRESHOLD_PRESET} is boolean, not --semiring "
                            f"{args.semiring}")
        args.semiring = BOOLEAN.name
    elif args.composite is not None and args.rule is not None:
        raise UserError(f"--composite {args.composite} gives every layer's rule; give "
                        "--rule or --composite, not both")
    if args.semiring is None:
        args.semiring = REAL.name


def _check_options(args):
    _check_composite(args)
    if args.images is None and args.output is not None:
        check_output(args)
    check_threshold_options(args)
    if args.init == "activation" and args.semiring != REAL.name:
        raise UserError(f"--init activation needs --semiring real, not {args.semiring}")
    if _is_vgg(args):
        photos = "/".join(_VGG_IMAGES)
        if args.weights is None:
            raise UserError(f"--model {args.model} needs --weights FILE (torchvision's "
                            f"{args.model} state_dict, or an .npz of it)")
        if args.digit is not None:
            raise UserError(f"--digit picks a shipped MNIST digit; --model {args.model} needs "
                            f"--image FILE or --images FOLDER ({photos})")
        if args.image is None and args.images is None:
            raise UserError(f"--model {args.model} needs --image FILE or --images FOLDER "
                            f"({photos})")
        if args.image is not None and not _has_extension(args.image, _VGG_IMAGES):
            raise UserError(f"{args.image}: --image for --model {args.model} must be a "
                            ".jpg, .jpeg or .png file")
    else:
        for given, option in ((args.weights is not None, "--weights"),
                              (args.channels is not None, "--channels")):
            if given:
                raise UserError(f"{option} applies to the VGG models only "
                                f"({', '.join(VGG_MODELS)})")


def _has_extension(path, extensions):
    return os.path.splitext(path)[1].lower() in extensions


# ---------------------------------------------------------------- inputs

def _read_npy(path, net):
    # the header's claim is checked against the file before anything is allocated
    return _read_npy_file(path)


def _read_picture(path, net):
    """The picture's pixels (H, W, 3) in [0, 1] (as images.read_image scales
    each mode); its size is checked from its header, before decoding."""
    _check_picture_size(path, net)
    return images.read_image(path)


def _check_picture_size(path, net):
    width, height = images.image_size(path)
    if width * height != net.n_features:
        raise ValueError(_size_mismatch(net, path, height, width))


_IMAGE_READERS = {".npy": _read_npy, ".png": _read_picture, ".jpg": _read_picture,
                  ".jpeg": _read_picture}


def _read_image(path, net):
    """A 2-D float image for `net` from a .npy array or a PNG/JPEG picture:
    uint8 pixels / 255, floats as they are (pictures give [0, 1]); RGB(A)
    becomes grey."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: --image is a folder, not a file (--images FOLDER "
                                "explains every image in a folder)")
    extension = os.path.splitext(path)[1].lower()
    if extension not in _IMAGE_READERS:
        raise ValueError(f"{path}: --image must be a .npy, .png, .jpg or .jpeg file")
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


def _mnist_network(args):
    """The network --model names (default: the shipped MLP), when it is no VGG."""
    if args.model is None:
        return models.mnist_mlp()
    build = SHIPPED.get(args.model)
    return build() if build is not None else load(args.model)


def _shipped_digit(args):
    """(uint8 image, name shown) of --digit: a shipped digit, or for
    two_digit_mlp digit I above digit I+2 mod 20 (the next class), labelled
    by the upper one, as the two-digit set is."""
    digit = 0 if args.digit is None else args.digit
    digits, labels = models.mnist_digits()
    if not 0 <= digit < len(digits):
        raise UserError(f"--digit must be between 0 and {len(digits) - 1}, not {digit}")
    if args.model == "two_digit_mlp":
        lower = (digit + 2) % len(digits)
        return (np.concatenate([digits[digit], digits[lower]]),
                f"shipped digits {digit} over {lower} (a {labels[digit]} over a {labels[lower]})")
    return digits[digit], f"shipped digit {digit} (a {labels[digit]})"


def _mnist_case(args):
    """(net, x, image shown, name shown) for a network file or a shipped MNIST
    network and one image (--image or --digit)."""
    net = _mnist_network(args)
    if args.image:
        image, what = _read_image(args.image, net), args.image
        shown_as = os.path.basename(args.image)
    else:
        pixels, what = _shipped_digit(args)
        image = models.mnist_input(pixels)
        shown_as = what
    return net, _model_input(net, image, what), image, shown_as


def _vgg_case(args, progress):
    """(net, x, crop shown, name shown) for a VGG: the photo is read first,
    then the weights, both cheap beside a pass."""
    x, crop = images.imagenet_input(args.image)
    net = vgg_from_file(args.model, args.weights, progress)
    return net, x, crop, f"{os.path.basename(args.image)} on {args.model}"


def _folder_images(folder, extensions):
    """The files of `folder` with one of `extensions` (any case), sorted by
    name (hidden files aside), and how many other files it holds."""
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise NotADirectoryError(f"{folder}: --images is a file, not a folder "
                                     "(--image FILE explains one file)")
        raise FileNotFoundError(f"no such folder: {folder}")
    names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
    files = [os.path.join(folder, name) for name in names]
    files = [path for path in files if os.path.isfile(path)]
    chosen = [path for path in files if _has_extension(path, extensions)]
    if not chosen:
        raise ValueError(f"{folder}: holds no {', '.join(extensions)} file to explain")
    return chosen, len(files) - len(chosen)


def _output_paths(files, folder):
    """OUTPUT/<stem>.png for each input; two inputs of one stem are refused."""
    outputs, seen = [], {}
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in seen:
            raise UserError(f"{seen[stem]} and {path} would both be written as "
                            f"{os.path.join(folder, stem)}.png; rename one")
        seen[stem] = path
        outputs.append(os.path.join(folder, stem + ".png"))
    return outputs


def _check_output_folder(folder):
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"{folder}: --output is a file; with --images it names the folder "
                        "to write the heatmaps into")


def _check_folder_inputs(files, net, vgg):
    """Every file's size (read from its header) fits the model, before any
    pass: a folder is refused at once, not after hundreds of images."""
    for path in files:
        if vgg:
            images.image_size(path)  # readable; any size is resized
        elif _has_extension(path, (".npy",)):
            _model_input(net, _read_image(path, net), path)  # a small array: read whole
        else:
            _check_picture_size(path, net)


def _folder_input(path, net, vgg):
    """(x, image shown) of one file of an --images folder."""
    if vgg:
        return images.imagenet_input(path)
    image = _read_image(path, net)
    return _model_input(net, image, path), image


# ---------------------------------------------------------------- semiring and rules

def _bounds(args):
    """z^B's input bounds: the ImageNet-normalised range for a VGG, else the
    [0, 1] of pixel / 255 the command feeds the MNIST models."""
    return composites.imagenet_bounds() if _is_vgg(args) else (0.0, 1.0)


def _preset(name, net, bounds):
    try:
        if name == "epsilon_gamma_box":
            return composites.epsilon_gamma_box(net, *bounds)
        if name == "lrp_overview_vgg16":
            return composites.lrp_overview_vgg16(net, *bounds)
        return composites.paper_vgg16_boolean(net)
    except ValueError as err:
        raise UserError(f"--composite {name}: {err}") from None


def _semiring_and_rule(args, net):
    """The semiring and the rule(s) of a pass: --composite, else --rule, else
    the model's default (the VGG presets in the real and boolean semirings)."""
    semiring, rule = None, args.rule
    if args.composite == _THRESHOLD_PRESET:
        semiring = _preset(args.composite, net, None)
    elif args.composite is not None:
        rule = _preset(args.composite, net, _bounds(args))
    elif rule is None and _is_vgg(args) and args.semiring == REAL.name:
        default = "lrp_overview_vgg16" if args.model in _VGG16_LIKE else "epsilon_gamma_box"
        rule = _preset(default, net, _bounds(args))
    if semiring is None:
        if (args.model in _VGG16_LIKE and args.semiring == BOOLEAN.name
                and args.threshold is None):
            semiring = composites.paper_vgg16_boolean(net)
        else:
            semiring = semiring_from_args(args)
    return semiring, rule


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


# ---------------------------------------------------------------- one pass and its summary

def _folded(r, semiring, how):
    """A conv net's (C, H, W) relevance folded to (H, W), and the heatmap kind
    to draw it: a truth value as boolean, a count of true channels as counting."""
    folded = aggregate_channels(r, how)
    kind = kind_of(semiring)
    if folded.dtype == np.bool_:
        return folded, BOOLEAN.kind
    return folded, (COUNTING.kind if kind == BOOLEAN.kind else kind)


class _Result:
    """One explained image: the map drawn, its kind, the target and scores."""

    def __init__(self, shown, kind, target, predicted, score, seconds):
        self.shown, self.kind, self.target = shown, kind, target
        self.predicted, self.score, self.seconds = predicted, score, seconds


def _explain_one(args, net, semiring, rule, x, image, shown_as, output):
    """One forward and relevance pass, its heatmap written to `output`."""
    scores = np.ravel(net.forward(x))
    predicted = int(np.argmax(scores))
    target = predicted if args.target is None else args.target
    start = time.perf_counter()
    r = relevance(net, x, target=target, semiring=semiring, rule=rule, init=args.init,
                  maxpool=args.maxpool)
    seconds = time.perf_counter() - start
    title = f"{shown_as}, {args.semiring} semiring"
    if _is_vgg(args):
        how = args.channels or spec_named(args.semiring).reduction
        shown, kind = _folded(r, semiring, how)
        title += f", {how} over channels"
    else:
        shown, kind = r.reshape(image.shape), kind_of(semiring)
    heatmap(image, shown, kind, path=output, target=target, title=title, dpi=args.dpi)
    return _Result(shown, kind, target, predicted, float(scores[target]), seconds)


def summary(name, result, semiring_name):
    """The line printed after an image is explained: the target and its
    score, the predicted class, the share of pixels with nonzero relevance
    and the map's extremes (the highest count for counting)."""
    shown = np.asarray(result.shown)
    nonzero, total = int(np.count_nonzero(shown)), shown.size
    spec = _SPEC_OF_KIND[result.kind]
    word = "relevant" if spec.thresholded else "nonzero"
    line = (f"{name}: target {result.target} (score {result.score:.4g}), predicted "
            f"{result.predicted}; {semiring_name}: {nonzero} of {total} pixels {word} "
            f"({100 * nonzero / total:.1f}%)")
    if spec.dtype == np.int64:
        line += f", max count {int(shown.max())}"
    elif spec.dtype is None:
        line += f", max {float(shown.max()):.4g}, min {float(shown.min()):.4g}"
    return line


def _empty_map_warning(name, result, semiring):
    """What to change when no pixel holds relevance, or None."""
    if np.count_nonzero(result.shown):
        return None
    threshold = getattr(semiring, "threshold", None)
    if threshold is not None:
        now = ",".join(f"{t:g}" for t in np.ravel(threshold))
        advice = f"lower --threshold (now {now})"
        if not semiring.absolute:
            advice += ", or add --absolute"
        return f"{PROG}: warning: {name}: no pixel is relevant: {advice}"
    return (f"{PROG}: warning: {name}: no pixel has nonzero relevance: try another --target "
            "or --rule")


def _report(name, result, semiring, args):
    semiring_name = args.semiring
    if _is_vgg(args):
        how = args.channels or spec_named(args.semiring).reduction
        semiring_name += f" ({how} over channels)"
    print(summary(name, result, semiring_name))
    warning = _empty_map_warning(name, result, semiring)
    if warning is not None:
        print(warning, file=sys.stderr)


# ---------------------------------------------------------------- the command

def _prepared(args, net):
    """The semiring and rule for `net`, checked against it (cheap)."""
    if args.dtype:
        net = net.astype(args.dtype)
    semiring, rule = _semiring_and_rule(args, net)
    _check_counts(net, semiring, rule)
    _check_target(net, args.target)
    return net, semiring, rule


def _explain_single(args, progress):
    vgg = _is_vgg(args)
    net, x, image, shown_as = _vgg_case(args, progress) if vgg else _mnist_case(args)
    net, semiring, rule = _prepared(args, net)
    output = args.output or _DEFAULT_OUTPUT
    # everything above is cheap; the forward and relevance passes follow
    result = _explain_one(args, net, semiring, rule, x, image, shown_as, output)
    print(f"wrote {output}")
    print(f"predicted class {result.predicted}, target {result.target}")
    _report(os.path.basename(args.image) if args.image else shown_as, result, semiring, args)
    print(f"relevance pass took {result.seconds:.2f} s")
    return 0


def _explain_folder(args, progress):
    vgg = _is_vgg(args)
    folder = args.output or _DEFAULT_FOLDER
    _check_output_folder(folder)
    files, skipped = _folder_images(args.images, _VGG_IMAGES if vgg else _MNIST_IMAGES)
    outputs = _output_paths(files, folder)
    net = vgg_from_file(args.model, args.weights, progress) if vgg else _mnist_network(args)
    net, semiring, rule = _prepared(args, net)
    _check_folder_inputs(files, net, vgg)
    others = f" ({skipped} other file{'s' * (skipped != 1)} skipped)" if skipped else ""
    print(f"{args.images}: {len(files)} image{'s' * (len(files) != 1)}{others}")
    os.makedirs(folder, exist_ok=True)
    seconds = 0.0
    with progress_bar(len(files), progress, desc="explaining", unit="img") as bar:
        for path, output in zip(files, outputs):
            x, image = _folder_input(path, net, vgg)
            name = os.path.basename(path)
            shown_as = f"{name} on {args.model}" if vgg else name
            result = _explain_one(args, net, semiring, rule, x, image, shown_as, output)
            seconds += result.seconds
            _report(name, result, semiring, args)
            bar.update()
    print(f"wrote {len(files)} heatmaps to {folder}")
    print(f"relevance passes took {seconds:.2f} s")
    return 0


def _explain(args):
    _check_options(args)
    progress = False if args.quiet else None
    return (_explain_folder if args.images else _explain_single)(args, progress)


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
