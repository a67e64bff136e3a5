"""Heatmaps in the style of the paper's figures 1.3, 2.1-2.3, 4.1 and 4.2:
the input image (grayscale, or RGB for a conv net) beside its relevance map,
with a colour bar. A conv net's (C, H, W) relevance is shown after
`aggregate_channels` folds it to (H, W).

matplotlib is optional (pip install "semiring_lrp[plot]") and imported only
when a picture is drawn.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._integers import is_int
from .generic import identity_dtype
from .inputs import from_tensor
from .semirings import Boolean, Counting, Real, Semiring, Viterbi

__all__ = ["heatmap", "kind_of", "class_masks"]

KINDS = ("real", "boolean", "counting", "viterbi")
_KIND_OF_CLASS = ((Real, "real"), (Boolean, "boolean"), (Counting, "counting"),
                  (Viterbi, "viterbi"))
# how the relevance panel names each semiring, after the paper's captions
_LABELS = {"real": "relevance", "boolean": "B-relevance", "counting": "N-relevance",
           "viterbi": "[0, 1]-relevance"}


def _matplotlib():
    try:
        from matplotlib import colors, ticker
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError('semiring_lrp.viz needs matplotlib: pip install "semiring_lrp[plot]"'
                          ) from err
    return colors, ticker, FigureCanvasAgg, Figure


def kind_of(semiring):
    """The heatmap kind of a semiring instance: its built-in family, else
    "real" when its values are floats (signed, like LRP scores) and
    "counting" when they are integers or booleans (non-negative amounts)."""
    if not isinstance(semiring, Semiring):
        raise TypeError(f"expected a semiring_lrp.Semiring instance, not {semiring!r}")
    for cls, kind in _KIND_OF_CLASS:
        if isinstance(semiring, cls):
            return kind
    return "real" if identity_dtype(semiring).kind == "f" else "counting"


def _check_kind(kind):
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


class _Scale(NamedTuple):
    """How one kind draws: the values shown, colour map, limits, and the
    colour bar's ticks (fixed ticks with labels, or integer ticks)."""
    values: np.ndarray
    cmap: object
    vmin: float
    vmax: float
    ticks: list | None = None
    labels: list | None = None
    integer_ticks: bool = False
    note: str = ""


def _real_scale(r, colors):
    # symmetric limits put 0 at the middle of "bwr", which is white
    limit = float(np.max(np.abs(r))) or 1.0
    return _Scale(r.astype(np.float64), "bwr", -limit, limit)


def _boolean_scale(r, colors):
    # limits at -0.5 and 1.5 centre F and T in the two halves of the bar
    cmap = colors.ListedColormap(["black", "orange"])
    return _Scale((r != 0).astype(np.float64), cmap, -0.5, 1.5, ticks=[0, 1],
                  labels=["F", "T"])


def _counting_scale(r, colors):
    highest = r.max()
    # int() on the integer array keeps counts past 2**53 exact in the title
    text = str(int(highest)) if r.dtype.kind in "biu" else f"{highest:g}"
    return _Scale(r.astype(np.float64), "hot", 0.0, max(float(highest), 1.0),
                  integer_ticks=True, note=f"\nhighest relevance is {text}")


def _viterbi_scale(r, colors):
    return _Scale(r.astype(np.float64), "hot", 0.0, 1.0)


_SCALES = {"real": _real_scale, "boolean": _boolean_scale, "counting": _counting_scale,
           "viterbi": _viterbi_scale}


def _gray_panel(image):
    # uint8 pixels span 0..255; scaled inputs 0..1; anything wider (a
    # normalised input) keeps its own range instead of saturating
    if image.dtype.kind in "biu":
        low, high = 0.0, max(255.0, float(image.max()))
    else:
        low, high = min(0.0, float(image.min())), max(1.0, float(image.max()))
    return image, {"cmap": "gray", "vmin": low, "vmax": high}


def _rgb_panel(image):
    # colours have no limits to stretch: integers are 0..255, floats 0..1
    top = 1.0 if image.dtype.kind == "f" else 255
    if image.min() < 0 or image.max() > top:
        raise ValueError(f"an RGB image must hold floats in [0, 1] or integers in 0..255, not "
                         f"values in [{image.min()}, {image.max()}] (show the cropped image, "
                         "e.g. the second value of images.imagenet_input, not the normalised "
                         "network input)")
    return (image.astype(np.float64) if top == 1.0 else image.astype(np.uint8)), {}


# how the input panel draws an image, by its number of dimensions
_PANELS = {2: _gray_panel, 3: _rgb_panel}


def heatmap(image, relevance, kind, path=None, title=None, target=None):
    """The input image beside its relevance map, with a colour bar.

    image      2-D grayscale array (H, W): pixels in [0, 1], or uint8 0..255;
               or an RGB array (H, W, 3), floats in [0, 1] or integers
               0..255, drawn in colour.
    relevance  2-D array (H, W) of the image's height and width, e.g.
               `relevance(net, x, ...)` of an MNIST digit, or a conv net's
               relevance after `aggregate_channels`.
    kind       "real" (diverging, 0 is white), "boolean" (two colours, F/T),
               "counting" (0 to the highest count, named in the title),
               "viterbi" (0 to 1), or a semiring instance (see `kind_of`).
    path       where to write a PNG; None: only return the figure.
    title      a title over both panels.
    target     the explained output neuron, named in the relevance panel.

    Returns the matplotlib Figure (not registered with pyplot, so it needs
    no display and is freed with its last reference).
    """
    kind = _check_kind(kind)
    image = _check_array(image, "image")
    r = _check_array(relevance, "relevance")
    if image.shape[:2] != r.shape:
        raise ValueError(f"image has shape {image.shape} but relevance has shape {r.shape}; "
                         "their height and width must match")
    pixels, style = _PANELS[image.ndim](image)
    colors, ticker, FigureCanvasAgg, Figure = _matplotlib()

    # the Agg canvas directly rather than matplotlib.use("Agg"): never opens
    # a window and leaves the backend of the caller's pyplot session alone
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax_image, ax_r = fig.subplots(1, 2)

    ax_image.imshow(pixels, interpolation="nearest", **style)
    ax_image.set_title("input image")

    scale = _SCALES[kind](r, colors)
    shown = ax_r.imshow(scale.values, cmap=scale.cmap, vmin=scale.vmin, vmax=scale.vmax,
                        interpolation="nearest")
    neuron = "" if target is None else f" for output neuron {target}"
    ax_r.set_title(f"{_LABELS[kind]}{neuron}{scale.note}")
    bar = fig.colorbar(shown, ax=ax_r)
    if scale.integer_ticks:
        bar.locator = ticker.MaxNLocator(integer=True)
        bar.update_ticks()
    if scale.ticks is not None:
        bar.set_ticks(scale.ticks)
        bar.set_ticklabels(scale.labels)

    for ax in (ax_image, ax_r):
        ax.set_xticks([])
        ax.set_yticks([])
    if title is not None:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


# a mask's True is drawn as the boolean heatmaps draw T
_MASK_COLOURS = ("black", "orange")
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


def class_masks(masks, path=None, classes=None, title=None, per_class=True):
    """The paper's figures 3.1-3.3: one panel per class, one row per way of
    combining (OR and AND side by side), True drawn orange on black.

    masks      what `apps.class_mask` returns: a bool array, or a dict from
               "or"/"and" (any names) to arrays. Per class (per_class=True,
               the default) each array is (classes, *shape); otherwise one
               mask per array, shaped like one image's relevance.
    classes    which classes to draw (default: all), as indices.
    path       where to write the picture (its format from the file name's
               ending, e.g. .png or .pdf); None: only return the figure.
    title      a title over all panels.

    Returns the matplotlib Figure (not registered with pyplot).
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
    colors, _, FigureCanvasAgg, Figure = _matplotlib()
    cmap = colors.ListedColormap(_MASK_COLOURS).with_extremes(bad="white")
    # per class: a row per combine, a column per class; one mask each: side by side
    grid = (len(arrays), len(shown)) if per_class else (1, len(arrays))
    fig = Figure(figsize=(1.3 * grid[1] + 0.8, 1.5 * grid[0] + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.asarray(fig.subplots(*grid, squeeze=False))
    for row, (name, value) in enumerate(arrays.items()):
        label = name.upper() if name.lower() in COMBINE_NAMES else name
        for col, k in enumerate(shown):
            ax = axes[row, col] if per_class else axes[0, row]
            ax.imshow(_mask_panel(value[k], name.lower()), cmap=cmap, vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if not per_class:
                ax.set_title(label)
                continue
            if row == 0:
                ax.set_title(f"class {k}")
            if col == 0:
                ax.set_ylabel(label)
    if title is not None:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
