"""Faithfulness of relevance maps by pixel flipping (Bach et al. 2015;
AOPC, Samek et al. 2017): remove the features a map calls most relevant
first and watch the target's score fall.

    from semiring_lrp.apps.faithfulness import pixel_flipping
    result = pixel_flipping(net, (x, labels), sl.Viterbi(), features_in_step=16)
    result["aopc"]

How it maps onto Quantus's `PixelFlipping` (quantus 0.6.0), which users
compare with: PixelFlipping(features_in_step=k, perturb_baseline=v,
normalise=False, abs=False)(model, x, y, a_batch=R, softmax=False) returns,
per image, the target's output score after each of the ceil(n / k) steps;
that is pixel_flipping(net, (x, y), R, features_in_step=k, perturb=v,
order="most", measure="score", per_image=True)["per_image"][:, 1:] (our
column 0 is the unflipped image). softmax=True, Quantus's default,
corresponds to measure="probability". Quantus orders features by
np.argsort(-R) (its default sort leaves the order of equal relevance
unspecified; ours goes by feature index); normalise=True divides R by its
largest magnitude, which keeps the order; perturb_baseline="black" is each
image's smallest value, 0 for the shipped MNIST models' inputs.
"""
from __future__ import annotations

import math

import numpy as np

from .._integers import as_int
from ..rules import in_dtype, rounding_problem
from ._common import (_apply_perturb, _as_arrays, _batch_relevance, _batches,
                      _check_batch_size, _check_labels, _check_relevance_source, _check_target,
                      _needs_labels, _per_call, _relevance_target, _scores_of_variants,
                      _targets)

__all__ = ["pixel_flipping", "ORDERS", "MEASURES"]

#: which features go first: the most relevant, or the least
ORDERS = ("most", "least")
#: what is recorded after each step: the target's output score, its
#: softmax probability, or the accuracy
MEASURES = ("score", "probability", "accuracy")


def _check_steps(features_in_step, steps, n):
    """The number of features flipped at each recorded point, 0 first."""
    for name, value in (("features_in_step", features_in_step), ("steps", steps)):
        if value is None and name == "steps":
            continue
        as_int(value, name, 1)
    if features_in_step > n:
        raise ValueError(f"features_in_step={features_in_step} is more than the {n} features "
                         "of an image")
    most = math.ceil(n / features_in_step)
    if steps is None:
        steps = most
    if steps > most:
        raise ValueError(f"steps={steps} of {features_in_step} features go beyond the {n} "
                         f"features of an image (at most {most} steps)")
    return np.minimum(np.arange(steps + 1, dtype=np.int64) * features_in_step, n)


def _check_perturb(perturb):
    if callable(perturb):
        return perturb
    if isinstance(perturb, (bool, np.bool_)) or not isinstance(
            perturb, (int, float, np.integer, np.floating)) or not np.isfinite(perturb):
        raise TypeError(f"perturb must be a finite baseline value or a function of the "
                        f"flipped values, not {perturb!r}")
    return perturb


def _check_baseline_fits(perturb, net):
    """A baseline value must stay finite in the network's dtype."""
    if not callable(perturb) and not np.isfinite(in_dtype(perturb, net.dtype)):
        raise ValueError(f"perturb {perturb!r} {rounding_problem(perturb, net.dtype)}, the "
                         "network's dtype")


def _flip_order(r, order):
    """Feature indices (n, features) in flipping order; equal relevance goes
    by feature index."""
    key = r.reshape(len(r), -1)
    key = key.astype(np.int64) if key.dtype.kind in "bi" else key.astype(np.float64)
    return np.argsort(-key if order == "most" else key, axis=1, kind="stable")


def _flipped(x, flip_order, counts, perturb):
    """x, then x with more and more features replaced, one array per count."""
    n = len(x)
    flat = x.reshape(n, -1).copy()
    yield x
    for before, after in zip(counts[:-1], counts[1:]):
        where = flip_order[:, before:after]
        if callable(perturb):
            values = _apply_perturb(perturb, np.take_along_axis(flat, where, axis=1))
        else:
            values = perturb
        np.put_along_axis(flat, where, values, axis=1)
        yield flat.reshape(x.shape).copy()


def _measured(scores, targets, labels, measure):
    """One value per image: the target's score, its softmax probability
    (float64, stable), or 1.0 / 0.0 for a right / wrong prediction."""
    rows = np.arange(len(scores))
    if measure == "accuracy":
        labels = _check_labels(labels, scores.shape[1])
        return (np.argmax(scores, axis=1) == labels).astype(np.float64)
    z = scores.astype(np.float64)
    if measure == "score":
        return z[rows, targets]
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z[rows, targets]) / np.exp(z).sum(axis=1)


def pixel_flipping(net, data, relevance, features_in_step=1, steps=None, order="most",
                   perturb=0.0, measure="score", target="label", batch_size=256,
                   per_image=False):
    """Pixel flipping: replace the features of each image in the order of
    their relevance, features_in_step at a time, and record the measure
    after each step.

    data      a pair (x, labels) of model-ready images and int labels.
    relevance one relevance map per image, shaped like x; or a semiring
              instance, whose relevance is computed for each batch with
              `relevance(net, x, target=..., semiring=...)`. Every value of
              an image is a feature (all channels of a colour image).
    features_in_step
              features flipped per step (Quantus's name for it).
    steps     how many steps to take; default: until every feature is
              flipped, ceil(features / features_in_step).
    order     "most" (default): the most relevant first (highest value;
              True before False); "least": the least relevant first.
              Equal relevance goes by feature index (a stable sort).
    perturb   the value flipped features take (default 0.0; finite in the
              network's dtype), or a function of their values, array
              (n, k) for n images, such as `perturbation.invert`. Values
              whose forward pass overflows raise ValueError.
    measure   "score" (default): the target's output score;
              "probability": its softmax probability; "accuracy": 1 where
              the highest output is the label, else 0.
    target    "label" (default), "prediction" (the class each unflipped
              image is predicted as) or a class index: the score measured,
              and the class whose relevance a semiring computes.
    batch_size about how many images one forward pass takes.
    per_image also return "per_image", the measure of each image after each
              step, (N, steps + 1).

    Returns {"steps": the number of features flipped at each point (0, k,
    2k, ..., capped at the features of an image), "score": the measure
    averaged over images at each point, "aopc": the area over the
    perturbation curve of Samek et al. 2017,
        AOPC = 1 / (L + 1) * sum_{k=0}^{L} < f(x^(0)) - f(x^(k)) >,
    L the steps taken, f the measure, < > the mean over images (its k = 0
    term is 0 and counts in the 1 / (L + 1))}.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, not {measure!r}")
    _check_perturb(perturb)
    _check_baseline_fits(perturb, net)
    _check_target(target)
    batch_size = _check_batch_size(batch_size)
    data = _as_arrays(data)
    x0, _ = data.load(0, 1)
    counts = _check_steps(features_in_step, steps, int(np.prod(np.shape(x0)[1:])))
    source = _check_relevance_source(relevance, data)
    total, images, rows = np.zeros(len(counts)), 0, []
    for start, x, labels in _batches(data, batch_size):
        if measure == "accuracy":
            _needs_labels(labels, "measure='accuracy'")
        r = np.asarray(_batch_relevance(net, x, source, start, _relevance_target(target, labels)))
        if r.shape != x.shape:
            raise ValueError(f"relevance has shape {r.shape[1:]} per image; give it shaped "
                             f"like the images {x.shape[1:]}")
        if r.dtype.kind not in "biuf":
            raise TypeError(f"relevance must hold real numbers, not dtype {r.dtype}")
        variants = _flipped(x, _flip_order(r, order), counts, perturb)
        values, targets = [], None
        for scores in _scores_of_variants(net, variants, _per_call(len(x), batch_size)):
            if targets is None:
                targets = _targets(target, labels, scores)
            values.append(_measured(scores, targets, labels, measure))
        values = np.stack(values, axis=1)
        total += values.sum(axis=0)
        images += len(x)
        if per_image:
            rows.append(values)
    curve = total / images
    result = {"steps": counts, "score": curve, "aopc": float(np.mean(curve[0] - curve))}
    if per_image:
        result["per_image"] = np.concatenate(rows)
    return result
