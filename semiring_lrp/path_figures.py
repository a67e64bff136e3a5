"""Pictures of strongest paths (`strongest_paths`), drawn by `viz.plot_paths`.

An MLP's paths are lines over the network's layers drawn as columns of
neurons; a conv net's paths are the receptive fields of their neurons,
rectangles over the input image. Every artist of a path carries a gid of
this module (`PATH_GID`, `FIELD_GID`, `LABEL_GID`), so that a figure's
paths can be found again.
"""
from __future__ import annotations

import numpy as np

from . import viz
from .inputs import from_tensor
from .layers import Conv2d, Flatten, Linear, ReLU
from .paths import Path
from .pooling import PoolLayer

#: gid of the line drawn for each path
PATH_GID = "semiring_lrp.path"
#: gid of each receptive field rectangle (conv nets)
FIELD_GID = "semiring_lrp.field"
#: gid of each neuron label
LABEL_GID = "semiring_lrp.label"
# the colour maps of path values and of depth (which layer a field belongs to)
_VALUE_CMAP, _DEPTH_CMAP = "viridis", "plasma"


def plot_paths(net, paths, x=None, ax=None, *, title=None, path=None, dpi=None):
    """Strongest paths (`strongest_paths`) of one sample as a picture.

    net    the `Network` the paths were found on.
    paths  a `Path` or a list of them, all of one sample (as
           `strongest_paths` returns them for one sample).
    x      the sample (optional). An MLP's input column is then shaded by
           its values; a conv net's paths are drawn over it (its channels
           averaged, in gray).
    ax     a matplotlib Axes to draw into; default: a new Figure.
    title  a string over the picture; default: the target and the number
           of paths.
    path, dpi
           write the figure (see `viz.save`).

    MLP (an input of one axis or a network without convolutions): one
    column per layer with edges (the input, then each Linear's outputs),
    every neuron a small gray dot; each path a line through its neurons,
    coloured by its value (colour bar), and the neurons on the paths
    labelled with their index. Conv net: each path's receptive fields over
    the input, one rectangle per step whose neuron has a position (c, y, x)
    (after a Flatten a neuron sees the whole image: no rectangle), coloured
    by the layer (legend), and a line from the input pixel through the
    fields' centres, coloured by the path's value; each input labelled
    with its (c, y, x).

    Returns the Figure it made; given ax=, that ax.
    """
    paths = _checked_paths(net, paths)
    viz._check_path(path, dpi)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, not {title!r}")
    mpl = viz._matplotlib()
    if ax is None:
        fig = viz._new_figure(mpl, (7.5, 4.8))
        axes = fig.subplots()
    else:
        if not isinstance(ax, mpl.Axes):
            raise TypeError(f"ax must be a matplotlib Axes, not {ax!r}")
        fig, axes = None, ax
    if _is_conv(net, paths[0]):
        _draw_fields(net, paths, x, axes, mpl)
    else:
        _draw_columns(net, paths, x, axes, mpl)
    axes.set_title(title if title is not None else
                   f"{len(paths)} strongest path{'s' * (len(paths) != 1)} to target "
                   f"{paths[0].target}")
    if path is not None:
        viz.save(fig if fig is not None else axes, path, dpi)
    return fig if fig is not None else ax


def _checked_paths(net, paths):
    """paths as a non-empty list of Paths of one sample that fit net."""
    if isinstance(paths, Path):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise TypeError(f"paths must be a Path or a non-empty list of them (what "
                        f"strongest_paths returns for one sample), not {paths!r}")
    for p in paths:
        if not isinstance(p, Path):
            raise TypeError(f"paths holds {p!r}, not a Path; for a batch, pass one "
                            "sample's list")
        for step in p.steps:
            if not (step.index < len(net.layers) and net.names[step.index] == step.layer):
                raise ValueError(f"a path steps through layer {step.layer!r} ({step.index}), "
                                 "which this network does not have: draw paths with the "
                                 "network they were found on")
    if len({(p.target, p.input_shape) for p in paths}) != 1:
        raise ValueError("the paths end at different targets or come from inputs of "
                         "different shapes: draw one sample's paths at a time")
    return list(paths)


def _is_conv(net, path):
    return len(path.input_shape) == 3 and any(isinstance(layer, Conv2d) for layer in net.layers)


def _value_colours(paths, mpl):
    """(colour of each path, the ScalarMappable of the colour bar)."""
    top = max(p.value for p in paths) or 1.0
    norm = mpl.colors.Normalize(0.0, top)
    cmap = mpl.colormaps[_VALUE_CMAP]
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    return [cmap(norm(p.value)) for p in paths], mappable


def _share(path, paths):
    """The path's value as a share of the largest, in [0, 1]."""
    top = max(p.value for p in paths)
    return path.value / top if top > 0 else 0.0


def _width(path, paths):
    return 1.0 + 2.5 * _share(path, paths)


# ---------------------------------------------------------------- MLPs

def _column_sizes(net, paths):
    """Neurons per column: the input's, then each edge layer's outputs."""
    sizes = [int(np.prod(paths[0].input_shape))]
    for i, layer in enumerate(net.layers):
        if not (layer.weighted or layer.pooling):
            continue
        reached = [s.neuron + 1 for p in paths for s in p.steps if s.index == i]
        sizes.append(layer.out_features if isinstance(layer, Linear) else max(reached, default=1))
    return sizes


def _draw_columns(net, paths, x, ax, mpl):
    edge_layers = [i for i, layer in enumerate(net.layers) if layer.weighted or layer.pooling]
    column = {i: c + 1 for c, i in enumerate(edge_layers)}
    sizes = _column_sizes(net, paths)

    def height(c, neuron):
        return 1.0 - (neuron + 0.5) / sizes[c]

    shades = None
    if x is not None:
        values = np.asarray(from_tensor(x, "x"), dtype=np.float64).reshape(-1)
        if values.size != sizes[0]:
            raise ValueError(f"x has {values.size} values but the paths' inputs have "
                             f"{sizes[0]}")
        shades = values
    for c, size in enumerate(sizes):
        ys = height(c, np.arange(size))
        colours = "0.8" if c or shades is None else shades
        ax.scatter(np.full(size, c), ys, s=4 if size <= 1000 else 1, c=colours,
                   cmap="gray_r" if c == 0 and shades is not None else None, linewidths=0,
                   gid="semiring_lrp.neurons", zorder=1)
    colours, mappable = _value_colours(paths, mpl)
    labelled = set()
    for p, colour in zip(paths, colours):
        points = [(0, p.input)] + [(column[s.index], s.neuron) for s in p.steps]
        # the stronger path on top where paths share edges
        ax.plot([c for c, _ in points], [height(c, n) for c, n in points], color=colour,
                lw=_width(p, paths), marker="o", ms=4, gid=PATH_GID,
                zorder=2 + _share(p, paths))
        texts = [str(p.position if len(p.position) > 1 else p.input)] + \
            [str(s.neuron) for s in p.steps]
        for (c, n), text in zip(points, texts):
            if (c, n) in labelled:
                continue
            # a label beside others close by in its column moves away from them
            y = height(c, n)
            close = [height(c2, n2) for c2, n2 in labelled
                     if c2 == c and abs(y - height(c2, n2)) < 0.05]
            away = 1 if not close or y >= np.mean(close) else -1
            labelled.add((c, n))
            ax.annotate(text, (c, y), xytext=(4, 2 + away * 8 * len(close)),
                        textcoords="offset points", fontsize=7, gid=LABEL_GID, zorder=4)
    ax.set_xticks(range(len(sizes)), ["input"] + [net.names[i] for i in edge_layers])
    ax.set_yticks([])
    ax.set_xlim(-0.4, len(sizes) - 0.4)
    ax.set_ylim(0, 1)
    ax.figure.colorbar(mappable, ax=ax, label="path value")


# ---------------------------------------------------------------- conv nets

def _spatial_tables(net, height, width):
    """For each layer index while activations are images: (its input (H, W),
    a function from an output interval (lo, hi) per axis to the input
    interval it reads, clipped to the input)."""
    tables = {}
    size = (height, width)
    for i, layer in enumerate(net.layers):
        if isinstance(layer, (Flatten, Linear)):
            break
        if isinstance(layer, ReLU):
            tables[i] = (size, None)
            continue
        if isinstance(layer, Conv2d):
            tables[i] = (size, ("conv", layer))
            size = layer.output_size(*size)
        elif isinstance(layer, PoolLayer):
            (rs, re, cs, ce), _ = layer._windows(size[0], size[1], net.dtype)
            tables[i] = (size, ("pool", (rs, re, cs, ce)))
            size = (len(rs), len(cs))
    return tables


def _field(tables, index, y, x):
    """The input rows and columns [(y0, y1), (x0, x1)] (inclusive) that the
    neuron at (y, x) of layer `index`'s output reads."""
    bounds = [(y, y), (x, x)]
    for i in sorted((i for i in tables if i <= index), reverse=True):
        size, how = tables[i]
        if how is None:
            continue
        kind, detail = how
        for axis in range(2):
            lo, hi = bounds[axis]
            if kind == "conv":
                s, p, d, k = (detail.stride[axis], detail.padding[axis],
                              detail.dilation[axis], detail.kernel_size[axis])
                lo, hi = lo * s - p, hi * s - p + d * (k - 1)
            else:
                start, end = detail[2 * axis], detail[2 * axis + 1]
                lo, hi = int(start[lo]), int(end[hi]) - 1
            bounds[axis] = (max(lo, 0), min(hi, size[axis] - 1))
    return bounds


def _background(x, shape, ax):
    """The sample (C, H, W) or (H, W) in gray, or a blank of the input's size."""
    channels, height, width = shape
    if x is None:
        ax.imshow(np.ones((height, width)), cmap="gray", vmin=0, vmax=1)
        return
    image = np.asarray(from_tensor(x, "x"), dtype=np.float64)
    if image.size != channels * height * width:
        raise ValueError(f"x has shape {image.shape}, but the paths' inputs are {shape}")
    gray = image.reshape(shape).mean(axis=0)
    pixels, style = viz._gray_panel(gray)
    ax.imshow(pixels, interpolation="nearest", **style)


def _draw_fields(net, paths, x, ax, mpl):
    shape = paths[0].input_shape
    _background(x, shape, ax)
    tables = _spatial_tables(net, shape[1], shape[2])
    spatial = sorted({s.index for p in paths for s in p.steps if len(s.position) == 3})
    depth_cmap = mpl.colormaps[_DEPTH_CMAP]
    depth_colour = {i: depth_cmap(d / max(len(spatial) - 1, 1) * 0.85)
                    for d, i in enumerate(spatial)}
    colours, mappable = _value_colours(paths, mpl)
    labelled = set()
    for p, colour in zip(paths, colours):
        _, py, px = p.position
        centres = [(px, py)]
        for s in p.steps:
            if len(s.position) != 3:
                continue
            (y0, y1), (x0, x1) = _field(tables, s.index, s.position[1], s.position[2])
            ax.add_patch(mpl.patches.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1,
                                               fill=False, lw=1.2,
                                               edgecolor=depth_colour[s.index], gid=FIELD_GID))
            centres.append(((x0 + x1) / 2, (y0 + y1) / 2))
        ax.plot([c[0] for c in centres], [c[1] for c in centres], color=colour,
                lw=_width(p, paths), marker="o", ms=3, markevery=[0], gid=PATH_GID,
                zorder=2 + _share(p, paths))
        if p.position not in labelled:
            labelled.add(p.position)
            ax.annotate(str(p.position), (px, py), xytext=(3, 3), textcoords="offset points",
                        fontsize=7, color="tab:red", gid=LABEL_GID)
    handles = [mpl.lines.Line2D([], [], color=depth_colour[i], lw=1.5, label=net.names[i])
               for i in spatial]
    if handles:
        ax.legend(handles=handles, title="receptive field of", fontsize=7, title_fontsize=7,
                  loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    viz._no_ticks(ax)
    ax.set_xlim(-0.5, shape[2] - 0.5)
    ax.set_ylim(shape[1] - 0.5, -0.5)
    ax.figure.colorbar(mappable, ax=ax, label="path value", location="left", shrink=0.8)
