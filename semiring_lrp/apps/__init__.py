"""Applications of relevance over many images (paper, section 3).

    import semiring_lrp as sl
    masks = sl.apps.reduce_relevance(net, (x, labels), semiring=sl.Boolean(1e-9),
                                     reduce="or", by="label")

`reduce_relevance` streams a dataset through `relevance` and reduces the
results (or, and, sum, mean, mean_abs, max, the semiring's (+)) over all
images or per class, in flat memory, with results independent of the batch
size bit for bit, on this machine or a Dask cluster.

`class_mask` builds the paper's class masks (figures 3.1-3.3) on it;
`neuron_scores` and `pruning_curve` its pruning experiment (figure 3.4),
`occlusion_map` and `attack_curve` its perturbations (figures 3.5 and 3.6),
`pixel_flipping` the faithfulness curve and its AOPC; `figures` draws them.

Modules: `reduction` (the function and its checks), `reducers` (the
element-wise reductions), `chunks` (the fixed chunks and their
accumulation), `tree` (the fixed tree over chunks), `distributed` (Dask),
`progress` (the optional bar), `masks` (class masks), `pruning`,
`perturbation`, `faithfulness`, `figures`, and `_common` (what those four
share).
"""
from .faithfulness import pixel_flipping
from .figures import attack_figure, occlusion_figure, pruning_figure
from .masks import class_mask
from .perturbation import attack_curve, invert, occlusion_map
from .pruning import neuron_scores, pruning_curve
from .reduction import reduce_relevance
from .reducers import REDUCTIONS

__all__ = ["reduce_relevance", "REDUCTIONS", "class_mask", "neuron_scores", "pruning_curve",
           "occlusion_map", "attack_curve", "invert", "pixel_flipping", "pruning_figure",
           "occlusion_figure", "attack_figure"]
