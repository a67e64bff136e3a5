"""The figures of the paper's section 3 from the applications' results:
pruning curves (figure 3.4), an occlusion map (figure 3.5) and attack
curves (figure 3.6).

    from semiring_lrp.apps.figures import pruning_figure
    pruning_figure({"real": real_curve, "l1": l1_curve}, path="pruning.png")

Each returns a matplotlib Figure drawn on the Agg canvas (never a window,
not registered with pyplot, so the caller's pyplot session is left alone)
and, given a path, writes it in the format the file name's extension names
(png, pdf, svg, eps, jpg, ...; PNG when there is none; see
`semiring_lrp.viz.save`) at `dpi` dots per inch (default 100); an unknown
extension raises ValueError before anything is drawn. matplotlib is optional
(pip install "semiring_lrp[plot]") and imported only when a figure is drawn.
"""
from __future__ import annotations

import numpy as np

from ..viz import _check_path, save

__all__ = ["pruning_figure", "occlusion_figure", "attack_figure"]


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError('semiring_lrp.apps.figures needs matplotlib: '
                          'pip install "semiring_lrp[plot]"') from err
    return FigureCanvasAgg, Figure


def _new_figure(size):
    FigureCanvasAgg, Figure = _matplotlib()
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path, dpi):
    if path is not None:
        save(fig, path, dpi)
    return fig


def _check_curves(curves, keys, what):
    """curves: a non-empty dict from a name to a result holding `keys`,
    arrays of one length each."""
    if not isinstance(curves, dict) or not curves:
        raise TypeError(f"curves must be a non-empty dict from a name to a result of {what}")
    checked = {}
    for name, curve in curves.items():
        try:
            arrays = {key: np.asarray(curve[key], dtype=np.float64) for key in keys}
        except (TypeError, KeyError, IndexError, ValueError):
            raise ValueError(f"curves[{name!r}] is not a result of {what}: it needs "
                             f"{' and '.join(map(repr, keys))}") from None
        lengths = {a.shape for a in arrays.values()}
        if len(lengths) != 1 or len(lengths.pop()) != 1:
            raise ValueError(f"curves[{name!r}] must hold {' and '.join(map(repr, keys))} as "
                             "1-D arrays of one length")
        checked[str(name)] = arrays
    return checked


def pruning_figure(curves, path=None, dpi=None):
    """Figure 3.4: accuracy (left) and loss (right) against the number of
    neurons pruned, one line per entry of curves, a dict from the selection
    method's name ("real", "l1", ...) to a `pruning.pruning_curve` result.
    path, dpi: see the module's docstring (the file written, its format
    named by its extension; dots per inch). Returns the matplotlib Figure."""
    curves = _check_curves(curves, ("pruned", "accuracy", "loss"), "pruning_curve")
    _check_path(path, dpi)
    fig = _new_figure((10, 4))
    ax_accuracy, ax_loss = fig.subplots(1, 2)
    for name, curve in curves.items():
        ax_accuracy.plot(curve["pruned"], curve["accuracy"], marker=".", label=name)
        ax_loss.plot(curve["pruned"], curve["loss"], marker=".", label=name)
    for ax, measure in ((ax_accuracy, "test accuracy"), (ax_loss, "test loss")):
        ax.set_xlabel("neurons pruned")
        ax.set_ylabel(measure)
        ax.grid(alpha=0.3)
    ax_accuracy.legend()
    return _save(fig, path, dpi)


def occlusion_figure(drop, path=None, dpi=None):
    """Figure 3.5: the accuracy drop of each perturbed region, darker for a
    larger drop, from `perturbation.occlusion_map`: one panel for a (rows,
    cols) map, one per class for a (classes, rows, cols) map (a class with
    no images, all NaN, is left blank). One colour scale and bar for all.
    path, dpi: see the module's docstring (the file written, its format
    named by its extension; dots per inch). Returns the matplotlib Figure."""
    drop = np.asarray(drop, dtype=np.float64)
    if drop.ndim not in (2, 3):
        raise ValueError(f"an occlusion map is (rows, cols) or (classes, rows, cols), not "
                         f"shape {drop.shape}")
    _check_path(path, dpi)
    maps = drop[None] if drop.ndim == 2 else drop
    finite = maps[np.isfinite(maps)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = max(float(finite.max()), low + 1e-12) if finite.size else 1.0
    columns = min(5, len(maps))
    rows = -(-len(maps) // columns)
    fig = _new_figure((2.2 * columns + 1, 2.2 * rows + 0.3))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(maps):
            ax.set_axis_off()
            continue
        shown = ax.imshow(maps[k], cmap="gray_r", vmin=low, vmax=high, interpolation="nearest")
        if drop.ndim == 3:
            ax.set_title(f"class {k}")
    fig.colorbar(shown, ax=list(axes[:len(maps)]), label="accuracy drop")
    return _save(fig, path, dpi)


def attack_figure(curves, baseline="uniform", path=None, dpi=None):
    """Figure 3.6: accuracy against the number of pixels perturbed, one line
    per entry of curves (a dict from a name to a `perturbation.attack_curve`
    result), and below it each curve minus the baseline's (the entry named
    `baseline`, the uniform draw; None leaves the second panel out).
    path, dpi: see the module's docstring (the file written, its format
    named by its extension; dots per inch). Returns the matplotlib Figure."""
    curves = _check_curves(curves, ("pixels", "accuracy"), "attack_curve")
    if baseline is not None and baseline not in curves:
        raise ValueError(f"baseline {baseline!r} is not one of the curves "
                         f"({', '.join(map(repr, curves))}); name it, or give baseline=None")
    _check_path(path, dpi)
    fig = _new_figure((7, 7 if baseline is not None else 4))
    if baseline is None:
        ax_accuracy, ax_difference = fig.subplots(1, 1), None
    else:
        ax_accuracy, ax_difference = fig.subplots(2, 1, sharex=True)
        reference = curves[baseline]
    for name, curve in curves.items():
        line, = ax_accuracy.plot(curve["pixels"], curve["accuracy"], marker=".", label=name)
        if ax_difference is None or name == baseline:
            continue
        if not np.array_equal(curve["pixels"], reference["pixels"]):
            raise ValueError(f"curves[{name!r}] and the baseline {baseline!r} perturb "
                             "different pixel counts; their difference needs the same")
        ax_difference.plot(curve["pixels"], curve["accuracy"] - reference["accuracy"],
                           marker=".", color=line.get_color(), label=name)
    ax_accuracy.set_ylabel("accuracy")
    ax_accuracy.legend()
    ax_accuracy.grid(alpha=0.3)
    if ax_difference is not None:
        ax_difference.axhline(0.0, color="black", linewidth=0.8)
        ax_difference.set_ylabel(f"accuracy - {baseline}")
        ax_difference.grid(alpha=0.3)
    (ax_difference or ax_accuracy).set_xlabel("pixels perturbed")
    return _save(fig, path, dpi)
