"""Class masks (the paper's section 3.1, figures 3.1-3.3): the inputs, or a
hidden layer's neurons, that boolean relevance reaches in any (OR) or in
every (AND) image of a class, or of the whole dataset.
"""
from __future__ import annotations

from ..semirings import Boolean, Semiring
from .reduction import reduce_relevance

__all__ = ["class_mask", "COMBINES", "GROUPS"]

#: how the images' relevance is combined: in any image (or), in every one (and)
COMBINES = ("or", "and")
#: what groups images into classes; None: one mask over all images
GROUPS = ("label", "prediction", None)


def class_mask(net, data, target=None, semiring=None, combine="or", by="label",
               layer="input", rule=None, batch_size=256, progress=None, client=None,
               return_counts=False):
    """Where relevance lies in any or every image of each class.

    net       a `Network`.
    data      what `sl.datasets.as_dataset` takes: a dataset object (MNIST,
              two-digit MNIST, an image folder), a pair (images, labels), or
              the images alone (then `by` must not be "label").
    target    the output relevance starts from: None (default) explains each
              image for its own group's class: its label with by="label",
              its predicted class otherwise; "label", or an int class.
    semiring  default `Boolean()` (threshold 1e-9); any semiring works: a
              value counts as relevant where it is nonzero.
    combine   "or": relevant in at least one image; "and": in every image;
              or a tuple of both, which returns a dict {"or": ..., "and": ...}
              from a single pass over the data.
    by        "label" or "prediction": one mask per class of the network's
              output, shaped (classes, *shape); None: one mask over all
              images, shaped like one image's relevance.
    layer     "input" (default), or a layer's name or index: the mask of the
              neurons entering that layer.
    rule, batch_size, progress, client
              as `reduce_relevance` takes them (a Dask client spreads the
              images over its workers; the masks are the same).

    return_counts
              also return the number of images of each class (an int64 array;
              an int with by=None).

    Returns a bool array (or a dict of them, by combine), or (masks, counts)
    with return_counts. A class with no image has an all-False OR mask and an
    all-True AND mask (nothing was seen, every image agrees), as the
    reductions' identities are.
    """
    combines = (combine,) if isinstance(combine, str) else tuple(combine)
    if not combines or any(c not in COMBINES for c in combines):
        raise ValueError(f"combine must be 'or', 'and' or a tuple of them, not {combine!r}")
    if by not in GROUPS:
        raise ValueError(f"by must be 'label', 'prediction' or None, not {by!r}")
    semiring = Boolean() if semiring is None else semiring
    if not isinstance(semiring, Semiring):
        raise TypeError(f"semiring must be a semiring_lrp Semiring instance, not {semiring!r}")
    if target is None:
        target = "label" if by == "label" else None
    masks, counts = reduce_relevance(net, data, semiring=semiring, rule=rule, target=target,
                                     layer=layer, reduce=combines, by=by,
                                     batch_size=batch_size, progress=progress, client=client,
                                     return_counts=True)
    if isinstance(combine, str):
        masks = masks[combine]
    return (masks, counts) if return_counts else masks
