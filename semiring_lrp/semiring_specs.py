"""What the library knows of each built-in semiring, as data: one
`SemiringSpec` per semiring, read by the propagation, the layers, the
pictures and the command line instead of comparing names.

`semirings.kernel_spec(semiring)` says whether a semiring runs on the C
kernels (and as which of these); `semirings.family_spec(semiring)` which
built-in it derives from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _core

__all__ = ["SemiringSpec", "REAL", "BOOLEAN", "COUNTING", "VITERBI", "SPECS", "spec_named",
           "is_built_in"]


@dataclass(frozen=True)
class SemiringSpec:
    """One built-in semiring as the library treats it.

    name        its word: the command line's --semiring value
    core_id     the C core's id of its kernels (`_core.SEMIRING_*`), or a
                composed semiring's `core_descriptor` tuple
    dtype       its relevance's dtype; None: the network's float dtype
    thresholded whether it takes a threshold per weighted layer and per
                pooling layer (`theta(layer)`, `pool_theta(pool)`, `absolute`)
    strongest   whether its kernels divide by the strongest contribution m_k
                (`absmax`) rather than by the stabilised z_k
    reduction   its (+) as a reduction ("sum", "or", "max"; composed
                semirings also "and", "min", "logaddexp"): how pictures
                fold colour channels and reduce="semiring" folds samples
    kind        its picture style, a `viz.KINDS` entry
    label       what a picture calls its relevance, after the paper
    """

    name: str
    core_id: int | tuple | None
    dtype: np.dtype | None
    thresholded: bool
    strongest: bool
    reduction: str
    kind: str
    label: str

    def relevance_dtype(self, net_dtype):
        """The dtype of its relevance on a network of dtype `net_dtype`."""
        return np.dtype(net_dtype if self.dtype is None else self.dtype)


REAL = SemiringSpec("real", _core.SEMIRING_REAL, None, thresholded=False, strongest=False,
                    reduction="sum", kind="real", label="relevance")
BOOLEAN = SemiringSpec("boolean", _core.SEMIRING_BOOLEAN, np.dtype(np.bool_), thresholded=True,
                       strongest=False, reduction="or", kind="boolean", label="B-relevance")
COUNTING = SemiringSpec("counting", _core.SEMIRING_COUNTING, np.dtype(np.int64),
                        thresholded=True, strongest=False, reduction="sum", kind="counting",
                        label="N-relevance")
VITERBI = SemiringSpec("viterbi", _core.SEMIRING_VITERBI, None, thresholded=False,
                       strongest=True, reduction="max", kind="viterbi",
                       label="[0, 1]-relevance")

#: every built-in semiring's spec, in the order the library lists them
SPECS = (REAL, BOOLEAN, COUNTING, VITERBI)


def is_built_in(spec):
    """Whether `spec` is one of the built-in semirings' (whose 0 is a plain
    0 and whose (+) is a named reduction), not a composed semiring's."""
    return any(spec is built_in for built_in in SPECS)


def spec_named(name):
    """The spec whose `name` is `name` (a command-line word); KeyError otherwise."""
    for spec in SPECS:
        if spec.name == name:
            return spec
    raise KeyError(name)
