"""Composites: one rule per weighted layer, chosen by the layer's place.

Each function takes the `Network` it is for and returns a `Composite`, the
rule list `relevance(rule=...)` takes, carrying its max-pooling choice.

    epsilon_gamma_box     zennit's EpsilonGammaBox
    lrp_overview_vgg16    the LRP overview's VGG-16 recipe (Montavon et al. 2019)
    paper_vgg16_boolean   the paper's per-layer thresholds for boolean VGG-16
"""
from __future__ import annotations

import numpy as np

from .layers import Conv2d, Linear
from .rules import Epsilon, Gamma, Zero, ZBox
from .semirings import Boolean

__all__ = ["Composite", "epsilon_gamma_box", "lrp_overview_vgg16", "paper_vgg16_boolean",
           "imagenet_bounds", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


class Composite(list):
    """A list of rules, one per weighted layer, and how max pooling passes relevance.

    rules     the rules, one per weighted layer in forward order.
    maxpool   "winner" (default) or "average", as `relevance` takes it; a
              pass given this composite as its rule uses it unless its own
              maxpool= is given.
    """

    def __init__(self, rules, maxpool="winner"):
        super().__init__(rules)
        self.maxpool = maxpool

    def __repr__(self):
        return f"Composite({list.__repr__(self)}, maxpool={self.maxpool!r})"


def imagenet_bounds():
    """(low, high) of an image in [0, 1] after torchvision's ImageNet
    normalisation, shaped (3, 1, 1) to broadcast over (3, H, W)."""
    low = (0.0 - IMAGENET_MEAN) / IMAGENET_STD
    high = (1.0 - IMAGENET_MEAN) / IMAGENET_STD
    return low.reshape(3, 1, 1), high.reshape(3, 1, 1)


def _weighted(net):
    return [net.layers[i] for i in net.weighted_layers]


def epsilon_gamma_box(net, low, high, epsilon=1e-6, gamma=0.25, stabilizer=1e-6):
    """zennit's EpsilonGammaBox: z^B (with `stabilizer`) on the first Conv2d,
    LRP-gamma (with `stabilizer`) on every other Conv2d, LRP-eps on every
    Linear. Max pooling: winner-take-all (zennit passes its gradient).
    zennit also adds `stabilizer` to average-pooling denominators, which this
    library keeps at LRP-0: the two differ there by about stabilizer / |z|.

    net        the `Network`, whose weighted layers the list follows.
    low, high  z^B's input bounds: numbers or arrays broadcastable to the
               input (e.g. `imagenet_bounds()`).
    epsilon    LRP-eps's eps on the Linear layers; gamma LRP-gamma's gamma.

    Returns a `Composite` (max pooling "winner").
    """
    rules, first = [], True
    for layer in _weighted(net):
        if isinstance(layer, Conv2d) and first:
            rules.append(ZBox(low, high, eps=stabilizer))
            first = False
        elif isinstance(layer, Conv2d):
            rules.append(Gamma(gamma, eps=stabilizer))
        else:
            rules.append(Epsilon(epsilon))
    return Composite(rules, maxpool="winner")


def _check_vgg16(net):
    kinds = [type(layer) for layer in _weighted(net)]
    if kinds != [Conv2d] * 13 + [Linear] * 3:
        raise ValueError("this preset is for VGG-16: 13 Conv2d layers then 3 Linear layers, "
                         f"not {len(kinds)} weighted layers "
                         f"({sum(k is Conv2d for k in kinds)} Conv2d)")


def lrp_overview_vgg16(net, low=None, high=None):
    """The LRP overview's VGG-16 recipe (its tutorial code), by weighted layer:

        conv1_1             z^B with bounds low/high (default: imagenet_bounds())
        conv1_2 .. conv3_3  LRP-gamma, gamma = 0.25           (tutorial layers 2-16)
        conv4_1 .. conv5_3  LRP-eps, eps = 0.25 * sqrt(mean(z^2)) (tutorial layers 17-30)
        fc6 .. fc8          LRP-0                             (tutorial layers 31-37)

    and max pooling as average pooling. The tutorial also adds 1e-9 to every
    denominator; that is kept (z + 1e-9) on all but the eps layers, where it
    is negligible beside 0.25 * std.

    net must be a VGG-16 (13 Conv2d then 3 Linear layers; ValueError
    otherwise). Returns a `Composite` with maxpool="average".
    """
    _check_vgg16(net)
    if low is None or high is None:
        low, high = imagenet_bounds()
    rules = ([ZBox(low, high, eps=1e-9)] + [Gamma(0.25, eps=1e-9)] * 6
             + [Epsilon(0.25, variant="plus", relative=True)] * 6
             + [Epsilon(1e-9, variant="plus")] * 3)
    return Composite(rules, maxpool="average")


#: the paper's boolean VGG-16 thresholds (figure 4.3), one per weighted layer:
#: 0.05 on conv1_1 .. conv4_3, rising through conv5_1 and conv5_2 to a peak of
#: 0.3 at conv5_3 (the tutorial's layer 28), and 0.0145 on the three linear
#: layers. The paper gives the rise only as a plot; conv5_1 and conv5_2 take
#: the straight line between 0.05 and 0.3.
PAPER_VGG16_THRESHOLDS = ([0.05] * 10 + [0.05 + 0.25 / 3, 0.05 + 0.5 / 3, 0.3]
                          + [0.0145] * 3)


def paper_vgg16_boolean(net=None):
    """Boolean semiring with the paper's VGG-16 thresholds (absolute, as in
    its VGG-16 experiments); pooling layers keep the 1e-9 default.

    net, when given, is checked to be a VGG-16 (13 Conv2d then 3 Linear
    layers; ValueError otherwise). Returns a `Boolean` with one threshold
    per weighted layer."""
    if net is not None:
        _check_vgg16(net)
    return Boolean(list(PAPER_VGG16_THRESHOLDS), absolute=True)
