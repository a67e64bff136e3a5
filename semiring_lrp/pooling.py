"""Pooling layers: average, adaptive average and max pooling.

A pool is a bias-free linear layer under LRP-0 (semantics.md section 4):
each output reads a rectangular window of its own channel, with weight
1/divisor (average) or, for max pooling's winner-take-all, weight 1 on the
window's first arg-max in row-major order and 0 elsewhere. Windows are
computed here, per input size, exactly as PyTorch computes them; the C core
takes them as a table.
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._integers import as_bool, as_int, as_int_pair
from .layers import MAX_EXTENT, Layer, _pair

__all__ = ["AvgPool2d", "AdaptiveAvgPool2d", "MaxPool2d", "MAXPOOL_MODES"]

#: how max pooling passes relevance: "winner" (winner-take-all, the default)
#: or "average" (as average pooling over the same windows, the LRP overview
#: tutorial's choice)
MAXPOOL_MODES = ("winner", "average")


def _pooled_length(size, kernel, stride, padding, ceil_mode):
    """PyTorch's output length of a pooling axis."""
    span = size + 2 * padding - kernel
    if span < 0:
        raise ValueError(f"a pooling window of {kernel} with padding {padding} does not fit "
                         f"an input of size {size}")
    length = (-(-span // stride) if ceil_mode else span // stride) + 1
    # the last window must start inside the input or its left padding
    if ceil_mode and (length - 1) * stride >= size + padding:
        length -= 1
    return length


def _axis_windows(size, kernel, stride, padding, ceil_mode):
    """(start, end, padded_count) of each window along one axis, clipped to
    the input; padded_count counts padding cells as PyTorch's divisor does."""
    length = _pooled_length(size, kernel, stride, padding, ceil_mode)
    start = np.arange(length) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    padded = end - start
    start, end = np.maximum(start, 0), np.minimum(end, size)
    if np.any(start >= end):
        raise ValueError("a pooling window lies entirely in the padding")
    return start.astype(np.int64), end.astype(np.int64), padded


def _distinct_inputs(j, k):
    """Splits a group of pairs so that no input appears twice in a part:
    clipped or adaptive windows can start at the same input."""
    order = np.argsort(j, kind="stable")
    sorted_j = j[order]
    run_start = np.r_[0, np.nonzero(np.diff(sorted_j))[0] + 1]
    run_length = np.diff(np.r_[run_start, len(j)])
    rank = np.empty(len(j), dtype=np.int64)
    rank[order] = np.arange(len(j)) - np.repeat(run_start, run_length)
    return [(j[rank == r], k[rank == r]) for r in range(int(rank.max()) + 1)]


def _pool_geometry(name, kernel_size, stride, padding, ceil_mode):
    """(kernel_size, stride, padding, ceil_mode) of a pooling layer, checked:
    kernel and stride from 1 to 2**30 (so a window's padded size, a product of
    two, fits int64), padding at most half the kernel as PyTorch requires, a
    real bool ceil_mode. Errors name the layer class and the argument."""
    kernel_size = _pair(kernel_size, f"{name} kernel_size", 1)
    stride = kernel_size if stride is None else _pair(stride, f"{name} stride", 1)
    padding = _pair(padding, f"{name} padding", 0)
    if any(2 * p > k for p, k in zip(padding, kernel_size)):
        raise ValueError(f"{name} padding {padding} must be at most half the kernel size "
                         f"{kernel_size} (as in PyTorch)")
    return kernel_size, stride, padding, as_bool(ceil_mode, f"{name} ceil_mode")


# input sizes whose windows a pooling layer keeps: more are made anew
_KEPT_TABLES = 8


class PoolLayer(Layer):
    """Shared passes of the pooling layers; subclasses define `_windows`."""

    pooling = True
    mode = _core.POOL_AVERAGE

    def _windows(self, height, width, dtype):
        """((row_start, row_end, col_start, col_end), weight (out_h, out_w) or None)."""
        raise NotImplementedError

    def _table(self, a):
        """`_windows` for a's size and dtype, kept per input size (read-only
        arrays): every pass through the layer takes them twice."""
        if a.ndim != 4:
            raise ValueError(f"{self!r} needs (N, C, H, W) input, got {a.shape[1:]} per sample")
        key = (a.shape[2], a.shape[3], a.dtype.str)
        tables = self.__dict__.setdefault("_tables", {})
        table = tables.get(key)
        if table is None:
            table = self._windows(a.shape[2], a.shape[3], a.dtype)
            windows, weight = table
            for array in (*windows, weight):
                if array is not None:
                    array.flags.writeable = False
            if len(tables) >= _KEPT_TABLES:
                tables.clear()
            tables[key] = table
        return table

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_tables", None)  # made again on first use
        return state

    def forward(self, a):
        windows, weight = self._table(a)
        return _core.pool_forward(a, self.mode, windows, weight)

    def relevance_table(self, a, maxpool):
        """(mode, windows, weight) the relevance pass uses."""
        windows, weight = self._table(a)
        return self.mode, windows, weight

    def kernel_relevance(self, step, a, r_out):
        """The relevance of the layer's input `a` (N, C, H, W) from that of
        its output `r_out`: one K-LRP step of the built-in semiring
        `step.spec` in the C core, LRP-0 over the windows `step.maxpool`
        gives, with the threshold `step.theta` (on |d| when `step.absolute`)."""
        mode, windows, weight = self.relevance_table(a, step.maxpool)
        return _core.pool_relevance(step.spec.core_id, a, r_out, mode, windows, weight,
                                    step.theta, step.absolute)

    def pair_groups(self, a, maxpool="winner"):
        """Pairs grouped by their offset inside the window: within a group
        every output has at most one input, so every input appears once.
        Yields (j, k, w) with w (N, G): the weights of one group's pairs."""
        mode, (rs, re, cs, ce), weight = self.relevance_table(a, maxpool)
        n, channels, height, width = a.shape
        out_h, out_w = len(rs), len(cs)
        flat = a.reshape(n, -1)
        offsets = [(dy, dx) for dy in range(int((re - rs).max()))
                   for dx in range(int((ce - cs).max()))]
        groups = []
        for dy, dx in offsets:
            oy, ox = np.nonzero(rs + dy < re)[0], np.nonzero(cs + dx < ce)[0]
            if not len(oy) or not len(ox):
                continue
            c = np.arange(channels)[:, None, None]
            j = ((c * height + (rs[oy] + dy)[None, :, None]) * width
                 + (cs[ox] + dx)[None, None, :]).ravel()
            k = ((c * out_h + oy[None, :, None]) * out_w + ox[None, None, :]).ravel()
            groups.extend(_distinct_inputs(j, k))
        if mode == _core.POOL_AVERAGE:
            for j, k in groups:
                yield j, k, np.broadcast_to(weight.ravel()[k % (out_h * out_w)], (n, len(k)))
            return
        # winner-take-all: row-major offsets visit each window in row-major order,
        # so a strictly greater value is the first arg-max so far
        best = np.full((n, channels * out_h * out_w), -np.inf, dtype=a.dtype)
        winner = np.zeros(best.shape, dtype=np.int64)
        for j, k in groups:
            value = flat[:, j]
            better = value > best[:, k]
            best[:, k] = np.where(better, value, best[:, k])
            winner[:, k] = np.where(better, j, winner[:, k])
        for j, k in groups:
            yield j, k, (winner[:, k] == j).astype(a.dtype)


class AvgPool2d(PoolLayer):
    """Average pooling as in PyTorch (kernel, stride, padding, ceil_mode,
    count_include_pad, divisor_override). kernel_size and stride are ints (or
    pairs) from 1 to 2**30, padding at most half the kernel, ceil_mode and
    count_include_pad bools, divisor_override None or an int from 1 to 2**60;
    NumPy integers are taken, bools and floats as sizes are not."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        self.kernel_size, self.stride, self.padding, self.ceil_mode = _pool_geometry(
            "AvgPool2d", kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = as_bool(count_include_pad, "AvgPool2d count_include_pad")
        # a divisor of at most 2**60, as the largest window has: 1 / divisor stays normal
        self.divisor_override = (None if divisor_override is None else
                                 as_int(divisor_override, "AvgPool2d divisor_override", 1,
                                        MAX_EXTENT ** 2))

    def _windows(self, height, width, dtype):
        axes = [_axis_windows(size, k, s, p, self.ceil_mode) for size, k, s, p in
                zip((height, width), self.kernel_size, self.stride, self.padding)]
        (rs, re, rpad), (cs, ce, cpad) = axes
        if self.divisor_override is not None:
            divisor = np.full((len(rs), len(cs)), float(self.divisor_override))
        elif self.count_include_pad:
            divisor = np.outer(rpad, cpad).astype(np.float64)
        else:
            divisor = np.outer(re - rs, ce - cs).astype(np.float64)
        weight = (1.0 / divisor).astype(dtype)
        return (rs, re, cs, ce), weight

    def config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "ceil_mode": self.ceil_mode,
                "count_include_pad": self.count_include_pad,
                "divisor_override": self.divisor_override}

    def __repr__(self):
        return f"AvgPool2d(kernel_size={self.kernel_size}, stride={self.stride})"


class AdaptiveAvgPool2d(PoolLayer):
    """Adaptive average pooling as in PyTorch: output (oy, ox) averages rows
    [floor(oy H / OH), ceil((oy + 1) H / OH)) and likewise columns.
    output_size (OH, OW) is an int, a pair of ints, or a pair with None
    for an axis that keeps the input's size."""

    def __init__(self, output_size):
        sizes = (output_size, output_size) if output_size is None else output_size
        name, described = ("AdaptiveAvgPool2d output_size",
                           "an int or a pair of them (None keeps the input size)")
        if isinstance(sizes, (list, tuple)) and len(sizes) == 2:
            self.output_size = tuple(None if s is None else as_int(s, name, 1, MAX_EXTENT)
                                     for s in sizes)
        else:
            self.output_size = as_int_pair(sizes, name, 1, MAX_EXTENT, described)

    def _windows(self, height, width, dtype):
        bounds = []
        for size, out in zip((height, width), self.output_size):
            out = size if out is None else out
            o = np.arange(out)
            bounds.append(((o * size) // out, -((-(o + 1) * size) // out)))
        (rs, re), (cs, ce) = bounds
        weight = (1.0 / np.outer(re - rs, ce - cs).astype(np.float64)).astype(dtype)
        return (rs.astype(np.int64), re.astype(np.int64), cs.astype(np.int64),
                ce.astype(np.int64)), weight

    def config(self):
        return {"output_size": list(self.output_size)}

    def __repr__(self):
        return f"AdaptiveAvgPool2d(output_size={self.output_size})"


class MaxPool2d(PoolLayer):
    """Max pooling as in PyTorch (dilation 1). Relevance passes winner-take-all
    by default, or "as average pooling" when `relevance(..., maxpool="average")`.
    kernel_size and stride (default: kernel_size) are ints or pairs,
    padding at most half the kernel, ceil_mode a bool, as for `AvgPool2d`."""

    mode = _core.POOL_MAX

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        self.kernel_size, self.stride, self.padding, self.ceil_mode = _pool_geometry(
            "MaxPool2d", kernel_size, stride, padding, ceil_mode)
        self._average = AvgPool2d(self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def _windows(self, height, width, dtype):
        windows, _ = self._average._windows(height, width, dtype)
        return windows, None

    def relevance_table(self, a, maxpool):
        if maxpool not in MAXPOOL_MODES:
            raise ValueError(f"maxpool must be one of {MAXPOOL_MODES}, not {maxpool!r}")
        if maxpool == "average":
            windows, weight = self._average._table(a)
            return _core.POOL_AVERAGE, windows, weight
        return super().relevance_table(a, maxpool)

    def config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "ceil_mode": self.ceil_mode}

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size}, stride={self.stride})"

