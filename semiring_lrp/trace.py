"""Which path of the C core ran each pass: `trace_tiers`.

A layer's pass can take one of several tiers, each giving the same values:
a dense layer over a batch of mostly zero inputs (MNIST pixels) reads only
the weights of nonzero inputs ("dense.forward.sparse_inputs"), a deep 3x3
convolution runs Winograd's products ("conv.real.winograd_fused"), and so
on. When a pass is slower than expected, the trace says which tier each
layer took:

    with sl.trace_tiers() as trace:
        sl.relevance(net, x)
    print(trace)                # index, name and tier of every C call
    trace.tiers("fc1")          # ['dense.forward.sparse_inputs', ...]

A tier is named "family.pass.tier": family dense, conv or pool; pass
forward, absmax, real, boolean, counting or viterbi (the semiring of a
relevance step); tier the path taken. A step of your own `Semiring` runs on
NumPy: it is recorded as "numpy" (after any C call it made). Calls made
outside a network's passes (a layer's own methods, say) are recorded with
index and name None.

A trace sees the calls of the thread that opened it, and only while it is
open: passes in other threads are not recorded (each thread may trace its
own). Nested traces all record what runs inside the innermost. When no
trace is open the passes pay one look-up per network pass.
"""
from __future__ import annotations

import threading

from . import _core

__all__ = ["trace_tiers", "TierTrace"]

# ._open: the traces this thread has open, innermost last
_local = threading.local()


def open_traces():
    """The traces this thread has open (a non-empty list), or None when it
    traces nothing: what a network pass asks once, before its layers."""
    return getattr(_local, "open", None) or None


def record(traces, index, name, numpy=False):
    """Files the tiers this thread's C calls noted since the last record
    under layer `index` (named `name`) in each of `traces`; numpy=True
    adds "numpy" for a step that ran on NumPy."""
    tiers = _core.trace_take()
    if numpy:
        tiers.append("numpy")
    for trace in traces:
        trace.records.extend((index, name, tier) for tier in tiers)


class TierTrace:
    """What `trace_tiers()` returns: a context manager whose `records` are
    (layer index, layer name, tier) for every C call of this thread while
    it is open, in call order."""

    def __init__(self):
        self.records = []

    def __enter__(self):
        traces = _local.__dict__.setdefault("open", [])
        if traces:
            record(traces, None, None)  # notes so far belong to the outer traces only
        else:
            _core.trace_start()
        traces.append(self)
        return self

    def __exit__(self, *exc_info):
        traces = getattr(_local, "open", [])
        if not any(trace is self for trace in traces):
            raise RuntimeError("a trace_tiers() context must end in the thread that entered it")
        try:
            record(traces, None, None)
        finally:  # closed even when the last notes raise (a warning made an error)
            traces[:] = [trace for trace in traces if trace is not self]
            if not traces:
                _core.trace_stop()
        return False

    def tiers(self, layer):
        """The tiers of one layer, given by its index (int) or its name
        (str), in call order."""
        if isinstance(layer, str):
            return [tier for _, name, tier in self.records if name == layer]
        if isinstance(layer, int) and not isinstance(layer, bool):
            return [tier for index, _, tier in self.records if index == layer]
        raise TypeError(f"layer must be a layer's index (int) or name (str), not {layer!r}")

    def __str__(self):
        if not self.records:
            return "no C calls traced"
        rows = [("index", "layer", "tier")]
        rows += [("-" if index is None else str(index), "-" if name is None else name, tier)
                 for index, name, tier in self.records]
        widths = [max(len(row[c]) for row in rows) for c in range(2)]
        return "\n".join(f"{i:>{widths[0]}}  {n:<{widths[1]}}  {t}" for i, n, t in rows)

    def __repr__(self):
        return f"<TierTrace of {len(self.records)} C calls>"


def trace_tiers():
    """A context manager recording which tier of the C core each pass of
    this thread takes while it is open:

        with sl.trace_tiers() as trace:
            sl.relevance(net, x, semiring=sl.Boolean(1e-9))
        trace.records     # [(layer index, layer name, tier), ...] per C call
        print(trace)      # the same as a table
        trace.tiers("fc1")

    Tiers are "family.pass.tier" strings, e.g. "dense.forward.sparse_inputs";
    "numpy" for a step of your own `Semiring`. Only this thread's calls are
    recorded (see the module's docstring)."""
    return TierTrace()
