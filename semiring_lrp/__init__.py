"""semiring_lrp: Layer-wise Relevance Propagation in semirings, with a C core.

    import semiring_lrp as sl
    net = sl.models.mnist_mlp()
    R = sl.relevance(net, x, semiring=sl.Boolean(threshold=1e-9))
"""
from . import composites, models, rules
from .images import aggregate_channels
from .io import load
from .network import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d,
                      Network, ReLU)
from .propagation import relevance
from .semirings import Boolean, Contributions, Counting, Real, Semiring, Viterbi
from .torch_import import from_torch

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "aggregate_channels", "Conv2d", "MaxPool2d", "Boolean", "Contributions", "Counting", "Flatten", "Linear", "Network", "ReLU", "Real",
    "Semiring", "Viterbi", "composites", "from_torch", "load", "models", "relevance", "rules",
]
__version__ = "0.1.0"
