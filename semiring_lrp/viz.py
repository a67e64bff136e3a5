"""Relevance maps as figures, in the style of the paper's figures 1.3,
2.1-2.3 and 4.1-4.3, ready for a paper:

    sl.viz.draw(r, image, mode="overlay", clip=99.5, title=True, target=3)
    sl.viz.heatmap(image, r, sl.Boolean(), path="digit.pdf", dpi=300)
    sl.viz.compare(net, digits[:4], semirings=[sl.Real(), sl.Boolean(), sl.Counting()])
    sl.viz.grid({"real": R, "boolean": B}, images=digits[:4])

`draw` shows one map alone, beside its input or blended over it; `heatmap`
is the input beside its map with a colour bar; `grid` puts samples in rows
and maps (semirings, rules, thresholds) in columns; `compare` computes those
columns with `relevance` and draws the grid; `class_masks` draws the class
masks of figures 3.1-3.3; `plot_paths` draws the paths `strongest_paths`
finds. Each draws into the matplotlib Axes given as
`ax=`, or else makes its own Figure on the Agg canvas (never a window, not
registered with pyplot, freed with its last reference). Given `path=`, the
figure is written in the format its file name ends in (`save`): .png, .pdf,
.svg, .eps, .ps, .jpg/.jpeg or .tif/.tiff, at `dpi=` (default 100).

How each kind of map is coloured:
    real      diverging "bwr" centred at 0 (white), limits +-max |R|, or
              +- the `clip`-th percentile of |R| with the values beyond it
              clipped; `sign=` shows only the positive or negative part or
              |R|, on a sequential map from 0.
    boolean   two colours, F black and T orange (or the two ends of `cmap`).
    counting  "hot" from 0 to the highest count (or its `clip`-th
              percentile), on a linear scale with integer ticks by default;
              `scale="log"` for counts spanning many orders of magnitude
              (a count of 0 takes the colour of the lowest count).
    viterbi   "hot" from 0 to 1 (path probabilities), or to the `clip`-th
              percentile.
A conv net's (C, H, W) relevance is drawn after `aggregate_channels` folds
it to (H, W); `compare` folds it itself.

matplotlib is optional (pip install "semiring_lrp[plot]") and imported only
when a picture is drawn or saved.
"""
from __future__ import annotations

import math
import numbers
import os
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np

from ._integers import is_int
from .generic import identity_dtype
from .images import aggregate_channels
from .inputs import from_tensor
from .semiring_specs import BOOLEAN, COUNTING, REAL, SPECS, VITERBI
from .composed import ComposedSemiring, FloatCounting, LogCounting
from .semirings import Boolean, Real, Semiring, _ThresholdSemiring, family_spec

__all__ = ["draw", "heatmap", "grid", "compare", "class_masks", "plot_paths", "save",
           "file_format", "describe", "kind_of", "FORMATS", "MODES"]

KINDS = tuple(spec.kind for spec in SPECS)
MODES = ("alone", "beside", "overlay")
SIGNS = ("all", "positive", "negative", "absolute")
SCALES = ("linear", "log")
# the file name endings `save` writes: the formats matplotlib's Agg canvas
# writes with no LaTeX and no package beyond matplotlib's own dependencies
FORMATS = ("png", "pdf", "svg", "eps", "ps", "jpg", "jpeg", "tif", "tiff")
DEFAULT_DPI = 100
_INSTALL = 'pip install "semiring_lrp[plot]"'
# how the relevance panel names each kind, after the paper's captions
_LABELS = {spec.kind: spec.label for spec in SPECS}
# the default colour map of real relevance by sign: diverging for both signs
# (0 is white), sequential from 0 for one part
_SIGN_CMAPS = {"all": "bwr", "positive": "Reds", "negative": "Blues", "absolute": "Greens"}
_BOOLEAN_COLOURS = ("black", "orange")


def _matplotlib():
    try:
        import matplotlib
        from matplotlib import cm, colors, lines, patches, ticker
        from matplotlib.axes import Axes
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(f"semiring_lrp.viz needs matplotlib: {_INSTALL}") from err
    return SimpleNamespace(colors=colors, ticker=ticker, Axes=Axes, Figure=Figure,
                           FigureCanvasAgg=FigureCanvasAgg, colormaps=matplotlib.colormaps,
                           cm=cm, lines=lines, patches=patches)


def _new_figure(mpl, size):
    # the Agg canvas directly rather than matplotlib.use("Agg"): never opens
    # a window and leaves the backend of the caller's pyplot session alone
    fig = mpl.Figure(figsize=size, layout="constrained")
    mpl.FigureCanvasAgg(fig)
    return fig


# ---------------------------------------------------------------- saving

def file_format(path):
    """The format `save` writes to `path`: the file name's ending in lower
    case ("fig.PDF" is "pdf"), one of `FORMATS`; "png" for a name without
    an ending or a file object. An ending not in `FORMATS` raises
    ValueError naming it and the supported ones; nothing is written."""
    if hasattr(path, "write"):
        return "png"
    if not isinstance(path, (str, os.PathLike)) or not isinstance(os.fspath(path), str):
        raise TypeError(f"path must be a file name (str or os.PathLike) or a file object, "
                        f"not {path!r}")
    ending = os.path.splitext(os.fspath(path))[1]
    if not ending:
        return "png"
    if ending[1:].lower() not in FORMATS:
        raise ValueError(f"path {os.fspath(path)!r} ends in {ending!r}, which is not a "
                         f"picture format this library writes: use one of "
                         f"{', '.join('.' + name for name in FORMATS)}")
    return ending[1:].lower()


def _check_dpi(dpi):
    if dpi is None:
        return DEFAULT_DPI
    if isinstance(dpi, (bool, np.bool_)) or not isinstance(dpi, numbers.Real):
        raise TypeError(f"dpi must be a positive number (dots per inch), not {dpi!r}")
    if not (math.isfinite(dpi) and dpi > 0):
        raise ValueError(f"dpi must be a positive number (dots per inch), not {dpi!r}")
    return float(dpi)


def save(fig, path, dpi=None):
    """Writes `fig` (a Figure, or an Axes: its whole figure) to `path` in
    the format its file name ends in (see `file_format`: x.pdf is a PDF,
    x.svg an SVG, ...), at `dpi` dots per inch (default 100; for .pdf, .svg
    and .eps it sets the resolution of the embedded pixel images, the
    vector parts have none). Returns path."""
    fmt = file_format(path)
    dpi = _check_dpi(dpi)
    figure = getattr(fig, "figure", None) if not hasattr(fig, "savefig") else fig
    while figure is not None and not hasattr(figure, "savefig"):
        figure = getattr(figure, "figure", None)  # a SubFigure's parent
    if figure is None:
        raise TypeError(f"fig must be a matplotlib Figure or Axes, not {fig!r}")
    figure.savefig(path, format=fmt, dpi=dpi)
    return path


def _check_path(path, dpi):
    """The path's format and the dpi, checked before anything is drawn."""
    if path is not None:
        file_format(path)
    _check_dpi(dpi)


# ---------------------------------------------------------------- kinds and arrays

def kind_of(semiring):
    """The heatmap kind of a semiring instance: its built-in family, else
    "real" when its values are floats (signed, like LRP scores) and
    "counting" when they are integers or booleans (non-negative amounts)."""
    if not isinstance(semiring, Semiring):
        raise TypeError(f"expected a semiring_lrp.Semiring instance, not {semiring!r}")
    spec = family_spec(semiring)
    if spec is not None:
        return spec.kind
    return REAL.kind if identity_dtype(semiring).kind == "f" else COUNTING.kind


def _check_kind(kind, relevance=None):
    """A kind name from a name, a semiring instance, or (None) the map's
    dtype: bool is boolean, integers counting, floats real."""
    if kind is None and relevance is not None:
        return {"b": BOOLEAN.kind, "i": COUNTING.kind, "u": COUNTING.kind}.get(
            relevance.dtype.kind, REAL.kind)
    if isinstance(kind, Semiring):
        return kind_of(kind)
    if not isinstance(kind, str):
        raise TypeError(f"kind must be one of {', '.join(KINDS)} or a Semiring instance, "
                        f"not {kind!r}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind


# the shapes each argument may take, and what to say when it has another
_SHAPES = {
    "image": ("a 2-D grayscale array (H, W) or an RGB array (H, W, 3)",
              lambda shape: len(shape) == 2 or (len(shape) == 3 and shape[2] == 3)),
    "relevance": ("a 2-D array (H, W); fold the channels of a (C, H, W) relevance "
                  "first with semiring_lrp.aggregate_channels",
                  lambda shape: len(shape) == 2),
}


def _check_array(value, name):
    arr = np.asarray(from_tensor(value, name))
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, not dtype {arr.dtype}")
    expected, fits = _SHAPES[name]
    if not fits(arr.shape):
        raise ValueError(f"{name} must be {expected}, not shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _check_pair(image, r):
    """The image checked against the relevance it goes with (None stays None)."""
    if image is None:
        return None
    image = _check_array(image, "image")
    if image.shape[:2] != r.shape:
        raise ValueError(f"image has shape {image.shape} but relevance has shape {r.shape}; "
                         "their height and width must match")
    _rgb_range(image)
    return image


# ---------------------------------------------------------------- options

class _Options(NamedTuple):
    """How maps are coloured, checked once (see `draw`)."""
    clip: float | None
    sign: str
    cmap: object
    scale: str
    alpha: float
    colorbar: bool


def _options(clip=None, sign="all", cmap=None, scale="linear", alpha=0.5, colorbar=True):
    if clip is not None:
        if isinstance(clip, (bool, np.bool_)) or not isinstance(clip, numbers.Real):
            raise TypeError(f"clip must be a percentile (a number in (0, 100]) or None, "
                            f"not {clip!r}")
        if not 0 < clip <= 100:
            raise ValueError(f"clip must be a percentile in (0, 100], e.g. 99.5, not {clip!r}")
    for value, name, allowed in ((sign, "sign", SIGNS), (scale, "scale", SCALES)):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}: use one of {', '.join(allowed)}")
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real) \
            or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1] (the opacity of the relevance "
                         f"over the input), not {alpha!r}")
    return _Options(None if clip is None else float(clip), sign, cmap, scale, float(alpha),
                    bool(colorbar))


def _check_mode(mode, image):
    """The mode: the given one (it must fit the image), else "overlay" with
    an image and "alone" without."""
    if mode is None:
        return "alone" if image is None else "overlay"
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if mode != "alone" and image is None:
        raise ValueError(f'mode "{mode}" draws the input too: give the image')
    return mode


def _colormap(spec, default, mpl):
    """A Colormap from a name, a Colormap, or None (the default name)."""
    spec = default if spec is None else spec
    if isinstance(spec, mpl.colors.Colormap):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"cmap must be a colour map name or a matplotlib Colormap, not {spec!r}")
    try:
        return mpl.colormaps[spec]
    except KeyError:
        raise ValueError(f"unknown colour map {spec!r} (cmap): see matplotlib.colormaps"
                         ) from None


def _two_colours(spec, mpl):
    """A boolean map's F and T colours: the defaults, a pair of colours, or
    the two ends of a colour map."""
    if spec is None:
        return mpl.colors.ListedColormap(list(_BOOLEAN_COLOURS))
    if isinstance(spec, (list, tuple)):
        if len(spec) != 2:
            raise ValueError(f"cmap for a boolean map is a colour map or two colours (F, T), "
                             f"not {len(spec)} colours")
        return mpl.colors.ListedColormap(list(spec))
    cmap = _colormap(spec, None, mpl)
    return mpl.colors.ListedColormap([cmap(0.0), cmap(1.0)])


# ---------------------------------------------------------------- colour scales

class _Scale(NamedTuple):
    """How one map draws: the values shown, colour map and norm, and the
    colour bar's ticks (fixed ticks with labels, or integer ticks)."""
    values: np.ndarray
    cmap: object
    norm: object
    ticks: list | None = None
    labels: list | None = None
    integer_ticks: bool = False
    note: str = ""


def _limit(magnitudes, clip):
    """The top of a colour scale: the clip-th percentile of the magnitudes,
    or the largest without clip or when that percentile is 0 (most values
    0); 1 when every value is 0, so the scale keeps a width."""
    top = float(np.max(magnitudes)) if magnitudes.size else 0.0
    if clip is not None:
        top = float(np.percentile(magnitudes, clip)) or top
    return top or 1.0


def _real_scale(r, opts, mpl):
    r = r.astype(np.float64)
    part = {"all": r, "positive": np.maximum(r, 0.0), "negative": np.maximum(-r, 0.0),
            "absolute": np.abs(r)}[opts.sign]
    limit = _limit(np.abs(part), opts.clip)
    # symmetric limits put 0 at the middle of the diverging map
    low = -limit if opts.sign == "all" else 0.0
    return _Scale(np.clip(part, low, limit), _colormap(opts.cmap, _SIGN_CMAPS[opts.sign], mpl),
                  mpl.colors.Normalize(low, limit))


def _boolean_scale(r, opts, mpl):
    # limits at -0.5 and 1.5 centre F and T in the two halves of the bar
    return _Scale((r != 0).astype(np.float64), _two_colours(opts.cmap, mpl),
                  mpl.colors.Normalize(-0.5, 1.5), ticks=[0, 1], labels=["F", "T"])


def _counting_scale(r, opts, mpl):
    highest = r.max() if r.size else 0
    # int() on the integer array keeps counts past 2**53 exact in the title
    text = str(int(highest)) if r.dtype.kind in "biu" else f"{highest:g}"
    note = f"\nhighest relevance is {text}"
    values = r.astype(np.float64)
    top = max(_limit(values, opts.clip), 1.0)
    cmap = _colormap(opts.cmap, "hot", mpl)
    if opts.scale == "log":
        # a count of 0 has no logarithm: drawn in the colour of the lowest count
        cmap = cmap.with_extremes(bad=cmap(0.0), under=cmap(0.0))
        return _Scale(np.minimum(values, top), cmap, mpl.colors.LogNorm(1.0, max(top, 2.0)),
                      note=note)
    return _Scale(np.minimum(values, top), cmap, mpl.colors.Normalize(0.0, top),
                  integer_ticks=True, note=note)


def _viterbi_scale(r, opts, mpl):
    values = r.astype(np.float64)
    top = 1.0 if opts.clip is None else _limit(values, opts.clip)
    return _Scale(np.minimum(values, top), _colormap(opts.cmap, "hot", mpl),
                  mpl.colors.Normalize(0.0, top))


_SCALES = {REAL.kind: _real_scale, BOOLEAN.kind: _boolean_scale,
           COUNTING.kind: _counting_scale, VITERBI.kind: _viterbi_scale}


# ---------------------------------------------------------------- the input

def _gray_panel(image):
    # uint8 pixels span 0..255; scaled inputs 0..1; anything wider (a
    # normalised input) keeps its own range instead of saturating
    if image.dtype.kind in "biu":
        low, high = 0.0, max(255.0, float(image.max()))
    else:
        low, high = min(0.0, float(image.min())), max(1.0, float(image.max()))
    return image, {"cmap": "gray", "vmin": low, "vmax": high}


def _rgb_range(image):
    # colours have no limits to stretch: integers are 0..255, floats 0..1
    if image.ndim != 3:
        return
    top = 1.0 if image.dtype.kind == "f" else 255
    if image.min() < 0 or image.max() > top:
        raise ValueError(f"an RGB image must hold floats in [0, 1] or integers in 0..255, not "
                         f"values in [{image.min()}, {image.max()}] (show the cropped image, "
                         "e.g. the second value of images.imagenet_input, not the normalised "
                         "network input)")


def _rgb_panel(image):
    top = 1.0 if image.dtype.kind == "f" else 255
    return (image.astype(np.float64) if top == 1.0 else image.astype(np.uint8)), {}


# how the input panel draws an image, by its number of dimensions
_PANELS = {2: _gray_panel, 3: _rgb_panel}


def _as_gray(image):
    """An RGB image as gray in [0, 1] (the mean of its channels), so that the
    colours of a map blended over it stay readable; gray images as they are."""
    if image.ndim == 2:
        return image
    scaled = image.astype(np.float64)
    return scaled.mean(axis=-1) / (255.0 if image.dtype.kind != "f" else 1.0)


def _draw_input(ax, image):
    pixels, style = _PANELS[image.ndim](image)
    ax.imshow(pixels, interpolation="nearest", **style)
    _no_ticks(ax)


def _no_ticks(ax):
    ax.set_xticks([])
    ax.set_yticks([])


# ---------------------------------------------------------------- one map

def _draw_map(ax, r, kind, opts, mpl, under=None):
    """Draws the map r into ax, blended at opts.alpha over the image `under`
    (drawn gray) when given; returns (its AxesImage, its _Scale)."""
    if under is not None:
        pixels, style = _gray_panel(_as_gray(under))
        ax.imshow(pixels, interpolation="nearest", **style)
    scale = _SCALES[kind](r, opts, mpl)
    shown = ax.imshow(scale.values, cmap=scale.cmap, norm=scale.norm, interpolation="nearest",
                      alpha=None if under is None else opts.alpha)
    if opts.colorbar:
        _colorbar(ax, shown, scale, mpl)
    _no_ticks(ax)
    return shown, scale


def _colorbar(ax, shown, scale, mpl):
    bar = ax.figure.colorbar(shown, ax=ax)
    if scale.integer_ticks:
        bar.locator = mpl.ticker.MaxNLocator(integer=True)
        bar.update_ticks()
    if scale.ticks is not None:
        bar.set_ticks(scale.ticks)
        bar.set_ticklabels(scale.labels)
    return bar


def _threshold_text(semiring):
    """The thresholds of a boolean or counting semiring in a few words."""
    values = semiring.threshold
    values = list(values.values()) if isinstance(values, dict) else values
    which = "|d| threshold" if semiring.absolute else "threshold"
    if not isinstance(values, list):
        return f"{which} {values:g}"
    shown = (", ".join(f"{v:g}" for v in values) if len(values) <= 3 else
             f"{values[0]:g} ... {values[-1]:g}")
    return f"{which}s {shown} ({len(values)} layers)"


def _thresholded(semiring):
    """Whether `semiring` has thresholds per layer: Boolean, Counting, or a
    composed semiring whose annotation ends in threshold(...)."""
    return isinstance(semiring, _ThresholdSemiring) or (
        isinstance(semiring, ComposedSemiring) and semiring.thresholded)


def describe(kind, target=None):
    """A title for a map: the semiring (its class name; for a kind name, the
    paper's name of the map, e.g. "B-relevance"), its thresholds (boolean
    and counting) and the target, e.g. "Boolean, threshold 0.01, target 3"."""
    if isinstance(kind, Semiring):
        words = [type(kind).__name__]
        if _thresholded(kind):
            words.append(_threshold_text(kind))
    else:
        words = [_LABELS[_check_kind(kind)]]
    if target is not None:
        words.append(f"target {target}")
    return ", ".join(words)


def _title_text(title, kind, target):
    """The title asked for: None, True (see `describe`) or a string."""
    if title is None or title is False:
        return None
    if title is True:
        return describe(kind, target)
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, True (name the semiring, threshold and "
                        f"target) or None, not {title!r}")
    return title


def _given_axes(ax, count, mpl):
    """The Axes given as ax=: one Axes, or (for count 2) a pair."""
    if count == 1:
        if not isinstance(ax, mpl.Axes):
            raise TypeError(f"ax must be a matplotlib Axes, not {ax!r}")
        return [ax]
    axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != count or not all(isinstance(a, mpl.Axes) for a in axes):
        raise TypeError(f'mode "beside" draws two panels: ax must be a pair of matplotlib '
                        f"Axes (input, relevance), not {ax!r}")
    return axes


def _panels(ax, mode, mpl, size_one, size_two):
    """(the figure made, or None for ax given; the input Axes or None; the
    relevance Axes) for a mode."""
    count = 2 if mode == "beside" else 1
    if ax is not None:
        axes, fig = _given_axes(ax, count, mpl), None
    else:
        fig = _new_figure(mpl, size_two if count == 2 else size_one)
        axes = list(np.ravel(fig.subplots(1, count, squeeze=False)))
    return fig, (axes[0] if count == 2 else None), axes[-1]


def draw(relevance, image=None, kind=None, *, mode=None, ax=None, clip=None, sign="all",
         cmap=None, scale="linear", alpha=0.5, colorbar=True, title=None, target=None,
         path=None, dpi=None):
    """One relevance map, alone, beside its input, or blended over it.

    relevance  a 2-D map (H, W): an MNIST digit's relevance (reshaped to
               28x28), or a conv net's after `aggregate_channels`.
    image      the input (H, W) grayscale (floats in [0, 1], uint8, or a
               normalised input in its own range) or (H, W, 3) RGB (floats
               in [0, 1] or integers 0..255); needed by "beside" and
               "overlay".
    kind       "real", "boolean", "counting", "viterbi", or a semiring
               instance (see `kind_of`; with title=True it also names the
               thresholds); None: from the dtype, bool is boolean, integers
               counting, floats real (so a Viterbi map needs its kind).
    mode       "alone": the map only; "beside": the input left, the map
               right (ax= is then a pair of Axes); "overlay": the map
               blended at opacity `alpha` over the input drawn in gray.
               Default: "overlay" with an image, "alone" without.
    clip       a percentile, e.g. 99.5: a real map's colour limits are
               +- that percentile of |R| (the colour map centred at 0) and
               the values beyond are drawn at the limits; counting and
               Viterbi maps end at that percentile of their values. When
               the percentile is 0 (most of the map is 0) the largest value
               is the limit. Boolean maps ignore it. None: the largest |R|.
    sign       real maps: "all" (default), "positive" (R > 0), "negative"
               (-R where R < 0) or "absolute" (|R|); one part is drawn on a
               sequential map from 0.
    cmap       a colour map name or matplotlib Colormap (a boolean map uses
               its two ends, or takes a pair of colours (F, T)); default:
               see the module's docstring.
    scale      counting maps: "linear" (default) or "log".
    alpha      the map's opacity in "overlay" mode (default 0.5).
    colorbar   draw a colour bar beside the map (default True).
    title      None (no title), True (`describe`: the semiring, its
               thresholds and the target) or a string; over the map.
    target     the explained output neuron, named by title=True.
    path, dpi  write the figure (see `save`; given ax=, its whole figure).

    Returns the Figure it made; given ax=, that ax (the pair for "beside").
    """
    r = _check_array(relevance, "relevance")
    image = _check_pair(image, r)
    mode = _check_mode(mode, image)
    kind_name = _check_kind(kind, r)
    opts = _options(clip, sign, cmap, scale, alpha, colorbar)
    text = _title_text(title, kind if kind is not None else kind_name, target)
    _check_path(path, dpi)
    mpl = _matplotlib()
    fig, ax_input, ax_map = _panels(ax, mode, mpl, (4.4, 3.6), (8, 3.6))
    if ax_input is not None:
        _draw_input(ax_input, image)
    _draw_map(ax_map, r, kind_name, opts, mpl, under=image if mode == "overlay" else None)
    if text is not None:
        ax_map.set_title(text)
    if path is not None:
        save(fig if fig is not None else ax_map, path, dpi)
    return fig if fig is not None else ax


def heatmap(image, relevance, kind, path=None, title=None, target=None, *, mode="beside",
            ax=None, clip=None, sign="all", cmap=None, scale="linear", alpha=0.5,
            colorbar=True, dpi=None):
    """The input image beside its relevance map, with a colour bar, the
    relevance panel titled as in the paper ("B-relevance for output neuron
    3"; a counting map also names its highest count).

    image      2-D grayscale array (H, W): pixels in [0, 1], or uint8 0..255;
               or an RGB array (H, W, 3), floats in [0, 1] or integers
               0..255, drawn in colour.
    relevance  2-D array (H, W) of the image's height and width, e.g.
               `relevance(net, x, ...)` of an MNIST digit, or a conv net's
               relevance after `aggregate_channels`.
    kind       "real" (diverging, 0 is white), "boolean" (two colours, F/T),
               "counting" (0 to the highest count, named in the title),
               "viterbi" (0 to 1), or a semiring instance (see `kind_of`).
    path       where to write the figure, in the format its name ends in
               (see `save`; x.pdf is a PDF); None: only return the figure.
    title      a title over both panels (the figure's suptitle; given ax=,
               over the relevance panel); True: `describe`'s title.
    target     the explained output neuron, named in the relevance panel.
    mode, ax, clip, sign, cmap, scale, alpha, colorbar, dpi
               as in `draw`; mode "beside" (default) keeps the input panel
               titled "input image".

    Returns the matplotlib Figure (not registered with pyplot, so it needs
    no display and is freed with its last reference); given ax=, that ax.
    """
    kind_name = _check_kind(kind)
    image = _check_array(image, "image")
    r = _check_array(relevance, "relevance")
    image = _check_pair(image, r)
    mode = _check_mode(mode, image)
    opts = _options(clip, sign, cmap, scale, alpha, colorbar)
    text = _title_text(title, kind, target)
    _check_path(path, dpi)
    mpl = _matplotlib()
    fig, ax_input, ax_map = _panels(ax, mode, mpl, (4.4, 3.6), (8, 3.6))
    if ax_input is not None:
        _draw_input(ax_input, image)
        ax_input.set_title("input image")
    _, shown = _draw_map(ax_map, r, kind_name, opts, mpl,
                         under=image if mode == "overlay" else None)
    neuron = "" if target is None else f" for output neuron {target}"
    ax_map.set_title(f"{_LABELS[kind_name]}{neuron}{shown.note}")
    if text is not None:
        if fig is not None:
            fig.suptitle(text)
        else:
            ax_map.set_title(f"{text}\n{ax_map.get_title()}")
    if path is not None:
        save(fig if fig is not None else ax_map, path, dpi)
    return fig if fig is not None else ax


# ---------------------------------------------------------------- grids

def _axes_grid(ax, rows, cols, mpl, cell):
    """(the figure made, or None; a (rows, cols) array of Axes): the given
    ax= array, which must have that shape, or a new figure's."""
    if ax is None:
        fig = _new_figure(mpl, (cell[0] * cols + 0.6, cell[1] * rows + 0.6))
        return fig, np.asarray(fig.subplots(rows, cols, squeeze=False), dtype=object)
    axes = np.asarray(ax, dtype=object)
    if axes.size != rows * cols or not all(isinstance(a, mpl.Axes) for a in axes.flat):
        raise ValueError(f"ax must be {rows} x {cols} matplotlib Axes (rows x columns), e.g. "
                         f"plt.subplots({rows}, {cols})[1], not {ax!r}")
    return None, axes.reshape(rows, cols)


def _column_maps(maps):
    """{title: (N, H, W) array}, every column with the same N and H, W."""
    if not isinstance(maps, dict) or not maps:
        raise TypeError("maps must be a non-empty dict from a column title to that column's "
                        "maps, one (H, W) map per sample, e.g. {'real': R, 'boolean': B}")
    columns = {}
    for title, value in maps.items():
        arr = np.asarray(value)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"maps[{title!r}] must be (N, H, W), one 2-D map per sample, "
                             f"not shape {arr.shape}")
        columns[str(title)] = np.stack([_check_array(m, "relevance") for m in arr])
    shapes = {title: arr.shape for title, arr in columns.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"the columns of maps differ in shape: {shapes}")
    return columns


def _row_images(images, columns):
    """The N input images checked against the maps, or None."""
    if images is None:
        return None
    n, height, width = next(iter(columns.values())).shape
    arr = np.asarray(images)
    if arr.ndim in (2, 3) and arr.shape[:2] == (height, width) and n == 1:
        arr = arr[None]
    if len(arr) != n:
        raise ValueError(f"images holds {len(arr)} images but the maps have {n} rows")
    return [_check_pair(image, np.empty((height, width))) for image in arr]


def _column_kinds(kind, columns):
    """{title: kind name}: one kind for all, a dict by column, or None (each
    column's dtype)."""
    if isinstance(kind, dict):
        missing = [title for title in columns if title not in kind]
        if missing:
            raise ValueError(f"kind has no entry for the columns {missing}")
        return {title: _check_kind(kind[title], arr) for title, arr in columns.items()}
    return {title: _check_kind(kind, arr) for title, arr in columns.items()}


def grid(maps, images=None, kind=None, *, mode=None, row_titles=None, clip=None, sign="all",
         cmap=None, scale="linear", alpha=0.5, colorbar=False, title=None, ax=None, path=None,
         dpi=None):
    """Many maps in one figure: a row per sample, a column per entry of maps
    (semirings, rules, thresholds, ...), each column titled by its key.

    maps        a dict from column title to that column's maps: (N, H, W),
                an array or a list of N maps (one (H, W) map for N = 1).
    images      the N inputs, (N, H, W) grayscale or (N, H, W, 3) RGB (as
                `draw`'s image), or None.
    kind        one kind or semiring for every column, a dict from column
                title to kind, or None: each column's from its dtype.
    mode        "beside" (default with images): a first column "input"
                shows each input; "overlay": each map blended over its
                input; "alone" (default without images): the maps only.
    row_titles  a label left of each row (N strings), e.g. "target 3".
    clip, sign, cmap, scale, alpha
                as in `draw`, for every cell; each cell has its own colour
                limits (a real map's are symmetric about 0).
    colorbar    a colour bar beside every cell (default False).
    title       a string over the whole grid (the figure's suptitle; given
                ax=, not drawn).
    ax          an (N, columns) array of Axes to draw into, columns counting
                the input column of "beside".
    path, dpi   write the figure (see `save`).

    Returns the Figure it made; given ax=, the (N, columns) array of Axes.
    """
    columns = _column_maps(maps)
    rows = _row_images(images, columns)
    mode = _check_mode(mode if mode is not None or rows is None else "beside", rows)
    kinds = _column_kinds(kind, columns)
    opts = _options(clip, sign, cmap, scale, alpha, colorbar)
    n = len(next(iter(columns.values())))
    if row_titles is not None and len(row_titles) != n:
        raise ValueError(f"row_titles holds {len(row_titles)} titles but the maps have {n} rows")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, not {title!r}")
    _check_path(path, dpi)
    mpl = _matplotlib()
    first = 1 if mode == "beside" else 0
    fig, axes = _axes_grid(ax, n, first + len(columns), mpl, (2.9 if colorbar else 2.3, 2.2))
    for i in range(n):
        if first:
            _draw_input(axes[i, 0], rows[i])
        for j, (name, column) in enumerate(columns.items(), start=first):
            _draw_map(axes[i, j], column[i], kinds[name], opts, mpl,
                      under=rows[i] if mode == "overlay" else None)
    for j, name in enumerate(["input"] * first + list(columns)):
        axes[0, j].set_title(name, fontsize="medium")
    for i, text in enumerate(row_titles or []):
        axes[i, 0].set_ylabel(str(text))
    if title is not None and fig is not None:
        fig.suptitle(title)
    if path is not None:
        save(fig if fig is not None else axes[0, 0], path, dpi)
    return fig if fig is not None else axes


def _columns_asked(semirings, rules, thresholds):
    """(which, {title: value}) for the one of semirings, rules, thresholds given."""
    given = {name: value for name, value in (("semirings", semirings), ("rules", rules),
                                             ("thresholds", thresholds)) if value is not None}
    if len(given) != 1:
        raise ValueError("give exactly one of semirings=, rules= or thresholds= (the "
                         f"columns of the grid), not {len(given)}")
    (which, value), = given.items()
    if isinstance(value, dict):
        items = [(str(key), v) for key, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(None, v) for v in value]
    else:
        raise TypeError(f"{which} must be a list or a dict from column title to value, "
                        f"not {value!r}")
    if not items:
        raise ValueError(f"{which} is empty: give at least one column")
    return which, items


def _column_semirings(which, items, semiring, rule):
    """[(title, semiring, rule)] for each column."""
    columns = []
    for title, value in items:
        if which == "semirings":
            if not isinstance(value, Semiring):
                raise TypeError(f"semirings holds {value!r}, not a Semiring instance")
            s, r, auto = value, rule, describe(value)
        elif which == "rules":
            s, r, auto = semiring or Real(), value, repr(value)
        else:
            base = semiring if semiring is not None else Boolean()
            if not isinstance(base, (_ThresholdSemiring, FloatCounting, LogCounting)):
                raise TypeError(f"thresholds= needs a Boolean or Counting semiring= (or a "
                                f"FloatCounting or LogCounting), not {base!r}")
            s = type(base)(threshold=value, absolute=base.absolute,
                           pool_threshold=base.pool_threshold)
            r, auto = rule, _threshold_text(s)
        columns.append((title or auto, s, r))
    return columns


def _network_maps(r, batch_shape):
    """A pass's relevance (N, ...) as (N, H, W) maps: channels folded by
    the caller, a flat input made square."""
    if r.ndim == 3:
        return r
    if r.ndim == 2:
        side = math.isqrt(r.shape[1])
        if side * side != r.shape[1]:
            raise ValueError(f"the network's input of {r.shape[1]} values is not a square "
                             "image: draw its relevance with grid(maps) in the shape it has")
        return r.reshape(len(r), side, side)
    raise ValueError(f"cannot draw relevance of shape {batch_shape} per batch as images")


def _fold(r, semiring):
    """(N, H, W) maps and their kind from a pass's (N, ...) relevance: the
    channels of (N, C, H, W) folded as aggregate_channels does for the
    semiring (a custom one by sum); a fold to bool is boolean."""
    if r.ndim == 4:
        spec = family_spec(semiring)
        r = aggregate_channels(r, "sum" if spec is None else spec.reduction)
    maps = _network_maps(r, r.shape)
    if isinstance(semiring, ComposedSemiring):
        maps = _finite_maps(maps, semiring)
    return maps, (BOOLEAN.kind if maps.dtype == np.bool_ else kind_of(semiring))


def _finite_maps(maps, semiring):
    """A composed semiring's maps with its infinite zero (MaxPlus's and
    LogCounting's -inf: no path) drawn as the lowest finite value of the
    maps (0 when there is none); ValueError for any other infinity."""
    if maps.dtype.kind != "f" or np.all(np.isfinite(maps)):
        return maps
    zero = float(semiring.zero())
    empty = maps == zero
    if math.isinf(zero) and np.all(np.isfinite(maps[~empty])):
        finite = maps[~empty]
        floor = (finite.min() if zero < 0 else finite.max()) if finite.size else 0.0
        return np.where(empty, floor, maps)
    raise ValueError(f"the relevance of {semiring!r} holds infinite values that are not its "
                     "zero: pictures draw finite values")


def _display_images(batch, shape):
    """The network's inputs as pictures of the maps' (H, W): one channel
    as gray, three as RGB rescaled to [0, 1] per image (a normalised input
    has no fixed range)."""
    if batch.ndim == 4 and batch.shape[1] == 3:
        rgb = np.moveaxis(batch, 1, -1).astype(np.float64)
        low = rgb.min(axis=(1, 2, 3), keepdims=True)
        span = np.ptp(rgb, axis=(1, 2, 3), keepdims=True)
        return (rgb - low) / np.where(span > 0, span, 1.0)
    if batch.ndim == 4:
        batch = batch.mean(axis=1)
    return batch.reshape((len(batch),) + shape)


def compare(net, x, targets=None, *, semirings=None, rules=None, thresholds=None,
            semiring=None, rule=None, init="one", maxpool=None, images=None, **options):
    """The grid of samples x semirings (or x rules, or x thresholds) in one
    call: computes each column with `relevance` and draws it with `grid`.

    net, x      a Network and one sample or a batch, as for `relevance`.
    targets     None (each sample's predicted class), one int for all, or
                one per sample; each row is labelled "target t".
    semirings   the columns: a list of semirings (titled by `describe`) or
                a dict from column title to semiring; rule= for all.
    rules       or a list (titled by repr) or dict of rules (or per-layer
                rule lists, composites); semiring= for all (default Real()).
    thresholds  or a list or dict of thresholds (a number or one per
                weighted layer) for semiring= (a Boolean, Counting,
                FloatCounting or LogCounting, default Boolean(); its
                absolute and pool_threshold kept).
    init, maxpool
                as for `relevance`.
    images      the inputs to show (e.g. the crops of images.imagenet_input);
                default: x itself, an RGB input rescaled to [0, 1] per image.
    options     `grid`'s: mode (default "beside"), clip, sign, cmap, scale,
                alpha, colorbar, title, ax, path, dpi.

    A conv net's (C, H, W) relevance is folded as `aggregate_channels` does
    for the column's semiring (sum for your own semirings); a flat input
    of a square number of values (784) is drawn square.
    Returns what `grid` returns.
    """
    from .inputs import as_batch
    from .propagation import relevance

    which, items = _columns_asked(semirings, rules, thresholds)
    columns = _column_semirings(which, items, semiring, rule)
    batch, _, _ = as_batch(net, x)
    targets = _row_targets(net, batch, targets)
    path, dpi = options.get("path"), options.get("dpi")
    _check_path(path, dpi)
    maps, kinds = {}, {}
    for title, s, r in columns:
        if title in maps:
            raise ValueError(f"two columns are titled {title!r}: give a dict of titles")
        r_all = relevance(net, batch, target=targets, semiring=s, rule=r, init=init,
                          maxpool=maxpool)
        maps[title], kinds[title] = _fold(np.asarray(r_all), s)
    shape = next(iter(maps.values())).shape[1:]
    shown = _display_images(batch, shape) if images is None else images
    options.setdefault("row_titles", [f"target {t}" for t in targets])
    return grid(maps, shown, kinds, **options)


def _row_targets(net, batch, targets):
    """One int target per sample: the predicted classes for None."""
    n = len(batch)
    if targets is None:
        return [int(t) for t in np.argmax(net.forward(batch), axis=-1)]
    if isinstance(targets, (numbers.Integral, np.integer)) and not isinstance(targets, bool):
        return [int(targets)] * n
    listed = list(np.ravel(targets))
    if len(listed) != n:
        raise ValueError(f"targets holds {len(listed)} targets but x has {n} samples")
    return [int(t) for t in listed]


# ---------------------------------------------------------------- class masks

# a mask's True is drawn as the boolean heatmaps draw T
_MASK_COLOURS = _BOOLEAN_COLOURS
COMBINE_NAMES = ("or", "and")


def _mask_panel(mask, combine):
    """One mask as a 2-D picture: (H, W) as it is; (C, H, W) folded over the
    channels with the row's own combine (any channel for OR, every channel
    for AND); a 1-D layer of n neurons as rows of ceil(sqrt(n)), the unused
    end left blank (NaN)."""
    mask = np.asarray(mask)
    if mask.ndim == 2:
        return mask.astype(np.float64)
    if mask.ndim == 3:
        folded = np.all(mask, axis=0) if combine == "and" else np.any(mask, axis=0)
        return folded.astype(np.float64)
    if mask.ndim == 1:
        cols = int(np.ceil(np.sqrt(mask.size)))
        rows = -(-mask.size // cols)
        grid = np.full(rows * cols, np.nan)
        grid[:mask.size] = mask
        return grid.reshape(rows, cols)
    raise ValueError(f"a mask must be 1-D (neurons), 2-D (H, W) or 3-D (C, H, W) per class, "
                     f"not {mask.ndim}-D")


def class_masks(masks, path=None, classes=None, title=None, per_class=True, *, ax=None,
                dpi=None):
    """The paper's figures 3.1-3.3: one panel per class, one row per way of
    combining (OR and AND side by side), True drawn orange on black.

    masks      what `apps.class_mask` returns: a bool array, or a dict from
               "or"/"and" (any names) to arrays. Per class (per_class=True,
               the default) each array is (classes, *shape); otherwise one
               mask per array, shaped like one image's relevance.
    classes    which classes to draw (default: all), as indices.
    path       where to write the picture, in the format its file name ends
               in (see `save`: .png, .pdf, .svg, ...); None: only return the
               figure.
    title      a title over all panels (not drawn given ax=).
    ax         Axes to draw into: (rows, classes) per class, rows the
               number of masks; (1, masks) with per_class=False.
    dpi        dots per inch of the written file (default 100).

    Returns the matplotlib Figure (not registered with pyplot); given ax=,
    the array of Axes.
    """
    rows = dict(masks) if isinstance(masks, dict) else {"mask": masks}
    if not rows:
        raise ValueError("masks is empty")
    arrays = {name: np.asarray(from_tensor(value, f"mask {name!r}"))
              for name, value in rows.items()}
    for name, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise TypeError(f"mask {name!r} must hold booleans or numbers, not {value.dtype}")
        if not per_class:
            arrays[name] = value[None]
    counts = {value.shape[0] for value in arrays.values()}
    if len(counts) != 1:
        raise ValueError(f"the masks hold different numbers of classes: {sorted(counts)}")
    available = counts.pop()
    shown = list(range(available)) if classes is None or not per_class else list(classes)
    for k in shown:
        if not is_int(k) or not 0 <= k < available:
            raise ValueError(f"class {k!r} is out of range: the masks have {available} classes")
    if not shown:
        raise ValueError("classes is empty: nothing to draw")
    _check_path(path, dpi)
    mpl = _matplotlib()
    cmap = mpl.colors.ListedColormap(list(_MASK_COLOURS)).with_extremes(bad="white")
    # per class: a row per combine, a column per class; one mask each: side by side
    shape = (len(arrays), len(shown)) if per_class else (1, len(arrays))
    fig, axes = _axes_grid(ax, *shape, mpl, (1.3, 1.5))
    for row, (name, value) in enumerate(arrays.items()):
        label = name.upper() if name.lower() in COMBINE_NAMES else name
        for col, k in enumerate(shown):
            cell = axes[row, col] if per_class else axes[0, row]
            cell.imshow(_mask_panel(value[k], name.lower()), cmap=cmap, vmin=0, vmax=1,
                        interpolation="nearest")
            _no_ticks(cell)
            if not per_class:
                cell.set_title(label)
                continue
            if row == 0:
                cell.set_title(f"class {k}")
            if col == 0:
                cell.set_ylabel(label)
    if title is not None and fig is not None:
        fig.suptitle(title)
    if path is not None:
        save(fig if fig is not None else axes[0, 0], path, dpi)
    return fig if fig is not None else axes


# strongest paths (path_figures.py); imported last, as it reads this module's helpers
from .path_figures import plot_paths  # noqa: E402
