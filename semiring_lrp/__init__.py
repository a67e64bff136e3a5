"""semiring_lrp: Layer-wise Relevance Propagation in semirings, with a C core.

    import semiring_lrp as sl
    net = sl.models.mnist_mlp()
    R = sl.relevance(net, x, semiring=sl.Boolean(threshold=1e-9))
"""
from . import annotations, apps, composites, datasets, images, memory, models, rules, viz
from .composed import ComposedSemiring, FloatCounting, LogCounting, MaxPlus, MinMax
from .config import config, show_config
from .calibration import CalibratedThresholds, CalibrationWarning, calibrate_thresholds
from .diagnostics import InputRangeWarning, RelevanceWarning
from .images import aggregate_channels
from .io import load
from .parallel import get_num_threads, instruction_set, set_num_threads
from .paths import Path, Step, strongest_paths
from .network import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d,
                      Network, ReLU)
from .propagation import LayerDensity, LayerRelevance, relevance
from .semirings import Boolean, Contributions, Counting, Real, Semiring, Viterbi
from .torch import to_torch
from .torch_import import from_torch
from .trace import trace_tiers

__all__ = [
    # networks and layers
    "Network", "Linear", "Conv2d", "ReLU", "Flatten", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "from_torch", "to_torch", "load", "models",
    # data
    "datasets",
    # semirings, rules, propagation
    "Semiring", "Contributions", "Real", "Boolean", "Counting", "Viterbi", "rules",
    "ComposedSemiring", "annotations", "MaxPlus", "MinMax", "FloatCounting", "LogCounting",
    "composites", "relevance", "LayerRelevance", "LayerDensity",
    # the chains of neurons behind a Viterbi relevance
    "strongest_paths", "Path", "Step",
    # thresholds and what a pass tells about itself
    "calibrate_thresholds", "CalibratedThresholds", "RelevanceWarning", "InputRangeWarning",
    "CalibrationWarning",
    # images and pictures
    "aggregate_channels", "images", "viz",
    # applications over datasets
    "apps",
    # threads and kernels
    "set_num_threads", "get_num_threads", "instruction_set", "trace_tiers", "config",
    "show_config",
]
__version__ = "0.1.0"
