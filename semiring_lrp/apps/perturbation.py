"""Image perturbation against relevance (paper section 3.3, figures 3.5 and 3.6).

`occlusion_map` perturbs one patch x patch region of every image at a time
and gives the accuracy drop per region (figure 3.5). `attack_curve`
perturbs more and more pixels drawn at random, with probabilities from the
relevance (eq. 3.3.1: the softmax of -R) or uniform, and gives the accuracy
after each count (figure 3.6).

Images are the last two axes of the model-ready input: (N, H, W) for the
MNIST MLP, (N, C, H, W) for a conv net, where a pixel is one position
(h, w) of every channel. The perturbation is `invert` by default, the
paper's x -> 255 - x on the [0, 255] scale written for the shipped models'
[0, 1] input; `perturb` may be any function of the perturbed values.

    from semiring_lrp.apps.perturbation import attack_curve, occlusion_map
    drop = occlusion_map(net, (x, labels), patch=4, by="label")     # (10, 7, 7)
    curve = attack_curve(net, (x, labels), sl.Real(), pixels=[0, 50, 200])
"""
from __future__ import annotations

import numpy as np

from .._integers import as_int, as_int_pair
from ._common import (_apply_perturb, _as_arrays, _batch_relevance, _batches,
                      _check_batch_size, _check_labels, _check_relevance_source, _check_target,
                      _increasing_counts, _needs_labels, _per_call, _relevance_target,
                      _scores_of_variants)

__all__ = ["invert", "occlusion_map", "attack_curve", "draw_order", "DISTRIBUTIONS"]

#: how attack_curve draws pixels: P(i) proportional to exp(-R_i / T),
#: exp(R_i / T), or 1
DISTRIBUTIONS = ("softmax(-R)", "softmax(R)", "uniform")


def invert(x):
    """1 - x: the paper's x -> 255 - x for inputs scaled to [0, 1]."""
    return 1 - x


def _check_perturb(perturb):
    if not callable(perturb):
        raise TypeError(f"perturb must be a function of the perturbed values (such as "
                        f"invert), not {perturb!r}")
    return perturb


def _image_size(data):
    """(H, W) of the images: the last two axes of x."""
    x, _ = data.load(0, 1)
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"the images x have shape {x.shape[1:]} each; perturbation needs "
                         "images (..., H, W) with a height and a width")
    return x.shape[-2:]


def _patch_size(patch, size):
    """(ph, pw): an int for square patches, or a pair."""
    pair = as_int_pair(patch, "patch", described="an int or a pair of ints (height, width)")
    if min(pair) < 1 or pair[0] > size[0] or pair[1] > size[1]:
        raise ValueError(f"patch {pair} must be at least 1 and at most the image size {size}")
    return pair


def _regions(size, patch):
    """Row-major (row slice, column slice) of the patch x patch regions
    tiling an image; the last row and column are smaller when the size is
    not a multiple of the patch."""
    rows = [slice(r, min(r + patch[0], size[0])) for r in range(0, size[0], patch[0])]
    cols = [slice(c, min(c + patch[1], size[1])) for c in range(0, size[1], patch[1])]
    return [(r, c) for r in rows for c in cols], (len(rows), len(cols))


def _occluded(x, regions, perturb):
    """x, then x with each region perturbed in every image."""
    yield x
    for rows, cols in regions:
        variant = x.copy()
        variant[..., rows, cols] = _apply_perturb(perturb, x[..., rows, cols])
        yield variant


def _class_sums(correct, labels, classes, by):
    """Correct predictions summed over all images, or per label."""
    if by is None:
        return np.asarray(correct.sum(dtype=np.int64))
    return np.bincount(labels, weights=correct, minlength=classes).astype(np.int64)


def occlusion_map(net, data, patch=4, perturb=invert, by=None, batch_size=256):
    """The accuracy drop when one region of the images is perturbed:
    accuracy(original) - accuracy(region perturbed in every image), for
    each non-overlapping patch x patch region of the last two axes (paper
    figure 3.5, 4 x 4 regions, x -> 255 - x).

    net        the `Network` classifying the images.
    data       a pair (x, labels) of model-ready images and int labels.
    patch      the region's size, an int or (height, width); regions at the
               bottom and right border are smaller when the image size is
               not a multiple of it.
    perturb    a function of the region's values, array (n, ..., h, w) for
               a batch of n images, returning new values of that shape;
               default `invert` (1 - x).
    by         None: accuracy over all images, result (rows, cols); "label":
               accuracy over the images of each label, result (classes, rows,
               cols), classes the network's outputs (NaN for a class with no
               images).
    batch_size about how many images one forward pass takes: blocks of
               batch_size images, with as many perturbed copies of a smaller
               block stacked into one pass as fit.

    Returns a float64 array; entry [i, j] belongs to rows i*ph:(i+1)*ph and
    columns j*pw:(j+1)*pw.
    """
    if by not in (None, "label"):
        raise ValueError(f"by must be None (all images) or 'label' (per class), not {by!r}")
    _check_perturb(perturb)
    batch_size = _check_batch_size(batch_size)
    data = _as_arrays(data)
    size = _image_size(data)
    regions, grid = _regions(size, _patch_size(patch, size))
    original, occluded, counts = 0, 0, 0
    for _, x, labels in _batches(data, batch_size):
        labels = _needs_labels(labels, "occlusion_map")
        sums = []
        variants = _occluded(x, regions, perturb)
        for scores in _scores_of_variants(net, variants, _per_call(len(x), batch_size)):
            classes = scores.shape[1]
            _check_labels(labels, classes)
            correct = (np.argmax(scores, axis=1) == labels).astype(np.float64)
            sums.append(_class_sums(correct, labels, classes, by))
        original = original + sums[0]
        occluded = occluded + np.stack(sums[1:], axis=-1)
        counts = counts + (len(x) if by is None else np.bincount(labels, minlength=classes))
    with np.errstate(invalid="ignore", divide="ignore"):
        drop = (original[..., None] - occluded) / np.asarray(counts, dtype=np.float64)[..., None]
    return drop.reshape(drop.shape[:-1] + grid)


def _check_pixels(pixels, count):
    return _increasing_counts(pixels, count, "pixels", "a sequence of pixel counts (ints)",
                              "the number of pixels of an image")


def _check_draw(distribution, temperature, seed):
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, not "
                         f"{distribution!r}")
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(
            temperature, (int, float, np.integer, np.floating)):
        raise TypeError(f"temperature must be a number, not {temperature!r}")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number above 0, not {temperature}")
    as_int(seed, "seed", 0)


def _pixel_relevance(r, x):
    """One relevance value per pixel (n, H, W) in float64: r shaped like x
    is summed over the channel axes; r may also be given per pixel."""
    r = np.asarray(r)
    if r.dtype.kind not in "biuf":
        raise TypeError(f"relevance must hold real numbers, not dtype {r.dtype}")
    n, size = len(x), x.shape[-2:]
    if r.shape == x.shape:
        r = r.reshape((n, -1) + size).astype(np.float64).sum(axis=1)
    elif r.shape == (n,) + size:
        r = r.astype(np.float64)
    else:
        raise ValueError(f"relevance has shape {r.shape[1:]} per image; give it shaped like "
                         f"the images {x.shape[1:]} or per pixel {size}")
    if not np.all(np.isfinite(r)):
        raise ValueError("relevance contains NaN or infinity")
    return r


def _log_weights(r, distribution, temperature):
    """log of the unnormalised P(i): -R_i / T, R_i / T or 0, in float64;
    ValueError when R / T overflows float64 (infinite weights would tie)."""
    if distribution == "uniform":
        return np.zeros_like(r)
    with np.errstate(over="ignore"):
        weights = (-r if distribution == "softmax(-R)" else r) / float(temperature)
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"temperature {temperature!r} makes R / T overflow float64 for "
                         f"relevance up to {float(np.max(np.abs(r))):.4g} in magnitude; "
                         "give a larger temperature")
    return weights


def draw_order(log_weights, rng, count):
    """The first `count` pixels of one draw without replacement with
    P(i) proportional to exp(log_weights[i]), in drawing order.

    Each pixel's exponential clock E_i / P(i), E_i ~ Exp(1) from `rng`
    (rng.standard_exponential(n), one per pixel), rings in turn, so the
    first is pixel i with probability P(i) and each next one is drawn in
    proportion to P among those left (the Gumbel-top-k trick, in log form:
    sort log E_i - log_weights[i]). Working with logarithms in float64 needs
    no normalisation: weights that underflow exp still draw in order.
    """
    keys = np.log(rng.standard_exponential(log_weights.size)) - log_weights.ravel()
    return np.argsort(keys, kind="stable")[:count]


def _attacked(x, order, counts, perturb):
    """x with the first c drawn pixels of each image perturbed, for each c."""
    n, size = len(x), x.shape[-2:]
    flat = x.reshape((n, -1, size[0] * size[1]))
    for count in counts:
        if count == 0:
            yield x
            continue
        where = order[:, None, :count]
        values = np.take_along_axis(flat, np.broadcast_to(where, (n, flat.shape[1], count)),
                                    axis=2)
        variant = flat.copy()
        np.put_along_axis(variant, np.broadcast_to(where, values.shape),
                          _apply_perturb(perturb, values), axis=2)
        yield variant.reshape(x.shape)


def attack_curve(net, data, relevance, pixels=(0, 10, 25, 50, 100, 150, 200, 250, 300),
                 distribution="softmax(-R)", temperature=1.0, seed=0, perturb=invert,
                 target="label", batch_size=256):
    """Accuracy as more pixels of every image are perturbed, pixels drawn at
    random without replacement (paper figure 3.6).

    data         a pair (x, labels) of model-ready images and int labels.
    relevance    one relevance map per image, an array shaped like x (summed
                 over channels) or (N, H, W); or a semiring instance, whose
                 relevance is computed for each batch with
                 `relevance(net, x, target=..., semiring=...)`.
    pixels       increasing pixel counts, at most H * W.
    distribution "softmax(-R)": P(i) = exp(-R_i / T) / sum_j exp(-R_j / T),
                 the paper's eq. 3.3.1 at T = 1 (relevant pixels are spared);
                 "softmax(R)": exp(R_i / T) (relevant pixels first);
                 "uniform": every pixel alike, whatever the relevance.
    temperature  T > 0, large enough that R / T is finite in float64
                 (ValueError otherwise).
    seed         each image draws from np.random.default_rng([seed, index]),
                 index its position in data, so results do not depend on
                 batch_size. One draw per image gives the whole curve: the
                 pixels perturbed at a count are the first ones drawn, and
                 contain those of every smaller count (see `draw_order`).
    perturb      a function of the drawn pixels' values, array (n, C, count)
                 (C channels, 1 for (N, H, W) images); default `invert`.
    target       whose relevance a semiring computes: "label" (default),
                 "prediction" or a class index.
    batch_size   about how many images one forward pass takes.

    Returns {"pixels": the counts, "accuracy": the share of images whose
    highest output is their label, after perturbing that many pixels}.
    """
    _check_draw(distribution, temperature, seed)
    _check_perturb(perturb)
    _check_target(target)
    batch_size = _check_batch_size(batch_size)
    data = _as_arrays(data)
    size = _image_size(data)
    counts = _check_pixels(pixels, size[0] * size[1])
    source = _check_relevance_source(relevance, data)
    correct, total = np.zeros(len(counts), dtype=np.int64), 0
    for start, x, labels in _batches(data, batch_size):
        labels = _needs_labels(labels, "attack_curve")
        r = _batch_relevance(net, x, source, start, _relevance_target(target, labels))
        weights = _log_weights(_pixel_relevance(r, x), distribution, temperature)
        order = np.stack([draw_order(weights[i], np.random.default_rng([seed, start + i]),
                                     counts[-1]) for i in range(len(x))])
        variants = _attacked(x, order, counts, perturb)
        for step, scores in enumerate(_scores_of_variants(net, variants,
                                                          _per_call(len(x), batch_size))):
            _check_labels(labels, scores.shape[1])
            correct[step] += int((np.argmax(scores, axis=1) == labels).sum())
        total += len(x)
    return {"pixels": counts, "accuracy": correct / total}
